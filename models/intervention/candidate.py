"""The intervention model's input: the lead's feature vector plus one outreach candidate.

A candidate is an outreach channel and an hour-of-week slot in the lead's LOCAL time
(0 = Monday 00:00 ... 167 = Sunday 23:00). ``candidate_matrix(lead_features, channels, hours)``
builds every (channel, hour) row at once, so the device scores the whole 4 x 168 grid with one
batched interpreter call. Pure NumPy: safe on the device path.

Candidate encoding (``CANDIDATE_NAMES``, version ``CANDIDATE_VERSION``), appended after the
behavioural features (``models.features.FEATURE_NAMES``):

- ``channel_<c>``: one-hot over ``OUTREACH_CHANNELS`` (call, sms, email, whatsapp);
- ``hour_sin`` / ``hour_cos``: the hour of day h as the angle 2 pi h / 24;
- ``dow_sin`` / ``dow_cos``: the day of week d (0 = Monday) as the angle 2 pi d / 7;
- ``weekend`` (Saturday or Sunday) and ``night`` (local hour < 7 or >= 23);
- lead x candidate interactions, read from the lead's own features so the network need not
  discover them: ``activity_at_hour`` (the lead's share of activity in hour h, times 24, so
  1 = uniform), ``activity_near_hour`` (the same, smoothed with a circular Gaussian of
  ``SMOOTH_HOURS``), ``activity_alignment`` (the lead's mean-activity-hour vector dotted with the
  candidate hour's), ``activity_on_day`` (share of activity on day d, times 7);
- the lead's history on the candidate channel: ``ch_reply_rate``, ``ch_log1p_outreach``,
  ``ch_log1p_replied``, ``ch_log1p_inbound_90d``, ``ch_consent``.

Every value lies within about [-1, 10], like the behavioural features, so one int8 input scale
fits the whole row.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from models.features import FEATURE_INDEX, FEATURE_SPEC_HASH, N_FEATURES
from sync.records import OUTREACH_CHANNELS, Channel

CANDIDATE_VERSION = "intervention-candidate/1"
HOURS_PER_WEEK = 168
#: Width (hours, standard deviation) of the circular smoothing of the hour-of-day profile.
SMOOTH_HOURS = 1.5
NIGHT_START, NIGHT_END = 23, 7

CHANNEL_NAMES: tuple[str, ...] = tuple(c.value for c in OUTREACH_CHANNELS)
CANDIDATE_NAMES: tuple[str, ...] = (
    *(f"channel_{c}" for c in CHANNEL_NAMES),
    "hour_sin", "hour_cos", "dow_sin", "dow_cos", "weekend", "night",
    "activity_at_hour", "activity_near_hour", "activity_alignment", "activity_on_day",
    "ch_reply_rate", "ch_log1p_outreach", "ch_log1p_replied", "ch_log1p_inbound_90d", "ch_consent",
)  # fmt: skip
N_CANDIDATE = len(CANDIDATE_NAMES)
N_INPUT = N_FEATURES + N_CANDIDATE
#: Feature-spec hash of the intervention model's input: behaviour spec + candidate encoding.
INTERVENTION_SPEC_HASH = hashlib.sha256(
    f"{FEATURE_SPEC_HASH}|{CANDIDATE_VERSION}|{','.join(CANDIDATE_NAMES)}|{SMOOTH_HOURS}".encode()
).hexdigest()


class CandidateError(ValueError):
    """A candidate channel or hour that the intervention model cannot score."""


_HOUR_IDX = np.array([FEATURE_INDEX[f"activity_frac_hour_{h:02d}"] for h in range(24)])
_DAY_IDX = np.array(
    [FEATURE_INDEX[f"activity_frac_{d}"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")]
)
_SIN_IDX, _COS_IDX = FEATURE_INDEX["activity_hour_sin"], FEATURE_INDEX["activity_hour_cos"]
_CH_IDX = np.array(
    [
        [
            FEATURE_INDEX[f"reply_rate_{c}"],
            FEATURE_INDEX[f"log1p_outreach_{c}"],
            FEATURE_INDEX[f"log1p_replied_{c}"],
            FEATURE_INDEX[f"log1p_inbound_{c}_90d"],
            FEATURE_INDEX[f"consent_{c}"],
        ]
        for c in CHANNEL_NAMES
    ]
)
_d = np.arange(24)[:, None] - np.arange(24)[None, :]
_d = np.minimum(np.abs(_d) % 24, 24 - np.abs(_d) % 24)
_KERNEL = np.exp(-0.5 * (_d / SMOOTH_HOURS) ** 2)
_KERNEL /= _KERNEL.sum(axis=1, keepdims=True)  # row h: weights of each hour around h


def channel_codes(channels: Sequence[Channel | str] | np.ndarray) -> np.ndarray:
    """Positions in ``OUTREACH_CHANNELS`` of ``channels`` (names or codes)."""
    arr = np.asarray(channels)
    if arr.dtype.kind in "iu":
        codes = arr.astype(np.int64)
        if np.any((codes < 0) | (codes >= len(CHANNEL_NAMES))):
            raise CandidateError(f"channel codes must be 0..3, got {np.unique(codes).tolist()}")
        return codes
    out = []
    for c in arr.reshape(-1).tolist():
        name = c.value if isinstance(c, Channel) else str(c)
        if name not in CHANNEL_NAMES:
            raise CandidateError(f"not an outreach channel: {name!r} (one of {CHANNEL_NAMES})")
        out.append(CHANNEL_NAMES.index(name))
    return np.asarray(out, dtype=np.int64)


def candidate_features(
    lead_features: np.ndarray, channels: np.ndarray, hours: np.ndarray
) -> np.ndarray:
    """Candidate encodings (n, N_CANDIDATE) for rows of lead features and candidates.

    ``lead_features`` is (n, N_FEATURES) or one (N_FEATURES,) vector shared by all rows;
    ``channels`` are codes into ``OUTREACH_CHANNELS`` and ``hours`` local hours-of-week, (n,).
    """
    ch = channel_codes(channels)
    how = np.asarray(hours, dtype=np.int64).reshape(-1)
    if len(ch) != len(how):
        raise CandidateError(f"{len(ch)} channels but {len(how)} hours")
    if np.any((how < 0) | (how >= HOURS_PER_WEEK)):
        raise CandidateError(f"hours of week must be 0..167, got {how.min()}..{how.max()}")
    x = np.asarray(lead_features, dtype=np.float64)
    if x.shape[-1] != N_FEATURES:
        raise CandidateError(f"lead features must have {N_FEATURES} columns, got {x.shape}")
    x2 = np.broadcast_to(x.reshape(-1, N_FEATURES), (len(ch), N_FEATURES)) if x.ndim == 1 else x
    if len(x2) != len(ch):
        raise CandidateError(f"{len(x2)} feature rows but {len(ch)} candidates")
    n = len(ch)
    hour, dow = how % 24, how // 24
    hfrac = x2[:, _HOUR_IDX]  # (n, 24)
    rows = np.arange(n)
    out = np.zeros((n, N_CANDIDATE), dtype=np.float64)
    out[rows, ch] = 1.0
    a_h, a_d = 2 * np.pi * hour / 24.0, 2 * np.pi * dow / 7.0
    out[:, 4], out[:, 5] = np.sin(a_h), np.cos(a_h)
    out[:, 6], out[:, 7] = np.sin(a_d), np.cos(a_d)
    out[:, 8] = dow >= 5
    out[:, 9] = (hour < NIGHT_END) | (hour >= NIGHT_START)
    out[:, 10] = 24.0 * hfrac[rows, hour]
    out[:, 11] = 24.0 * np.einsum("nk,nk->n", hfrac, _KERNEL[hour])
    out[:, 12] = x2[:, _SIN_IDX] * out[:, 4] + x2[:, _COS_IDX] * out[:, 5]
    out[:, 13] = 7.0 * x2[rows[:, None], _DAY_IDX[None, :]][rows, dow]
    out[:, 14:19] = x2[rows[:, None], _CH_IDX[ch]]
    return out.astype(np.float32)


def model_input(lead_features: np.ndarray, channels: np.ndarray, hours: np.ndarray) -> np.ndarray:
    """Rows (n, N_INPUT): each row's lead features followed by its candidate encoding."""
    ch = channel_codes(channels)
    x = np.asarray(lead_features, dtype=np.float32)
    if x.shape[-1] != N_FEATURES or x.ndim > 2:
        raise CandidateError(f"lead features must have {N_FEATURES} columns, got {x.shape}")
    x2 = np.broadcast_to(x, (len(ch), N_FEATURES)) if x.ndim == 1 else x
    return np.concatenate([x2, candidate_features(x2, ch, hours)], axis=1).astype(np.float32)


def candidate_matrix(
    lead_features: np.ndarray,
    channels: Sequence[Channel | str] = OUTREACH_CHANNELS,
    hours: Sequence[int] | np.ndarray = range(HOURS_PER_WEEK),
) -> np.ndarray:
    """Model input for every (channel, hour) of one lead: (len(channels) * len(hours), N_INPUT).

    Rows are channel-major: row ``i * len(hours) + j`` is ``(channels[i], hours[j])``, so
    ``scores.reshape(len(channels), len(hours))`` gives the grid back.
    """
    ch = channel_codes(list(channels))
    how = np.asarray(list(hours), dtype=np.int64)
    x = np.asarray(lead_features, dtype=np.float32).reshape(-1)
    return model_input(x, np.repeat(ch, len(how)), np.tile(how, len(ch)))


def local_hour_of_week(ts_ms: np.ndarray | int, utc_offset_ms: np.ndarray | int) -> np.ndarray:
    """Local hour-of-week (0 = Monday 00:00) of UTC epoch-ms times at the given UTC offsets."""
    local = np.asarray(ts_ms, dtype=np.int64) + np.asarray(utc_offset_ms, dtype=np.int64)
    hour = (local // 3_600_000) % 24
    dow = (local // 86_400_000 + 3) % 7  # 1970-01-01 was a Thursday
    return (dow * 24 + hour).astype(np.int64)
