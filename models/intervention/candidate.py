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
  ``ch_log1p_replied``, ``ch_log1p_inbound_90d``, ``ch_consent``;
- from the lead's own history (:func:`lead_history`, all of it, not only 90 days): the smoothed
  share of the lead's OWN actions (views, saves, shares, inquiries: never the agent's outreach
  or the replies it prompts, whose hours are the agent's) at the candidate hour on the same
  kind of day (``own_at_hour``: weekday or weekend profile, times 24) and on weekdays
  (``own_at_hour_weekday``), how many such actions the profile rests on
  (``own_log1p_actions_daytype``), and the lead's inbound messages or calls on the candidate
  channel over all time (``ch_log1p_inbound_all``);
- version 3, what a per-candidate row cannot see by itself: where the candidate hour stands in
  the lead's own profile of that kind of day, smoothed wider (``WIDE_HOURS``: the generator's
  active-hour widths are 1.5-3.5 h): its share relative to the profile's best hour
  (``own_rel_peak``) and its circular distance in hours to that hour, / 6 (``own_peak_dist``);
  the candidate channel's share of the agent's outreach (``ch_outreach_share``: agents favour
  what they know works), of the lead's inbound (``ch_inbound_share``), a reply rate shrunk
  toward the base rate (``ch_reply_shrunk``: (replied + 1) / (outreach + 3)), and the channel
  one-hot for a lead whose country is not the market's (``abroad_<c>``: WhatsApp and calls do
  not reach abroad as they do at home).

Every value lies within about [-1, 10], like the behavioural features, so one int8 input scale
fits the whole row.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from models.features import FEATURE_INDEX, FEATURE_SPEC_HASH, N_FEATURES, EventColumns
from models.features.columns import CHANNEL_CODE, TYPE_CODE
from sync.records import OUTREACH_CHANNELS, Channel, EventType

#: 2: the model takes two inputs, ``lead`` (N_FEATURES) and ``slots`` (N_CANDIDATE), see
#: :func:`score_slots`; a runtime that feeds one concatenated row refuses it by this hash.
#: 3: adds where the hour stands in the lead's own profile, channel shares and home/abroad.
CANDIDATE_VERSION = "intervention-candidate/3"
HOURS_PER_WEEK = 168
#: Width (hours, standard deviation) of the circular smoothing of the hour-of-day profile.
SMOOTH_HOURS = 1.5
#: Extra smoothing (hours) on top of SMOOTH_HOURS for locating the profile's peak (about 2.5 h).
WIDE_HOURS = 2.0
#: The market's country: a lead elsewhere is ``abroad`` (see ``lead_history``).
HOME_COUNTRY = "US"
NIGHT_START, NIGHT_END = 23, 7

CHANNEL_NAMES: tuple[str, ...] = tuple(c.value for c in OUTREACH_CHANNELS)
CANDIDATE_NAMES: tuple[str, ...] = (
    *(f"channel_{c}" for c in CHANNEL_NAMES),
    "hour_sin",
    "hour_cos",
    "dow_sin",
    "dow_cos",
    "weekend",
    "night",
    "activity_at_hour",
    "activity_near_hour",
    "activity_alignment",
    "activity_on_day",
    "ch_reply_rate",
    "ch_log1p_outreach",
    "ch_log1p_replied",
    "ch_log1p_inbound_90d",
    "ch_consent",
    "own_at_hour",
    "own_at_hour_weekday",
    "own_log1p_actions_daytype",
    "ch_log1p_inbound_all",
    "own_rel_peak",
    "own_peak_dist",
    "ch_outreach_share",
    "ch_inbound_share",
    "ch_reply_shrunk",
    *(f"abroad_{c}" for c in CHANNEL_NAMES),
)
N_CANDIDATE = len(CANDIDATE_NAMES)
#: The lead's own history (:func:`lead_history`): weekday and weekend hour profiles of its own
#: actions (smoothed shares), their counts (log1p), inbound per outreach channel (log1p), and
#: whether the lead's country is not the market's (1) or is / is unknown (0).
N_HISTORY = 24 + 24 + 2 + 4 + 1
N_INPUT = N_FEATURES + N_CANDIDATE
#: Feature-spec hash of the intervention model's input: behaviour spec + candidate encoding.
INTERVENTION_SPEC_HASH = hashlib.sha256(
    f"{FEATURE_SPEC_HASH}|{CANDIDATE_VERSION}|{','.join(CANDIDATE_NAMES)}|{SMOOTH_HOURS}"
    f"|{WIDE_HOURS}|{HOME_COUNTRY}".encode()
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
_A_H, _A_D = 2 * np.pi * np.arange(24) / 24.0, 2 * np.pi * np.arange(7) / 7.0
_HOUR_SIN, _HOUR_COS, _DAY_SIN, _DAY_COS = np.sin(_A_H), np.cos(_A_H), np.sin(_A_D), np.cos(_A_D)
_WIDE = np.exp(-0.5 * (_d / WIDE_HOURS) ** 2)
_WIDE /= _WIDE.sum(axis=1, keepdims=True)
_CIRC = _d.astype(np.float64)  # circular distance in hours between hours of day
_LOG1P_OUT = np.array([FEATURE_INDEX[f"log1p_outreach_{c}"] for c in CHANNEL_NAMES])
_LOG1P_REPLIED = np.array([FEATURE_INDEX[f"log1p_replied_{c}"] for c in CHANNEL_NAMES])


#: The lead's own actions: their hours are the lead's, not set by the agent's outreach.
_OWN = (
    EventType.PROPERTY_VIEW,
    EventType.PROPERTY_SAVE,
    EventType.PROPERTY_SHARE,
    EventType.INQUIRY,
)
OWN_ACTIONS = np.array([TYPE_CODE[t] for t in _OWN])
_INBOUND = {  # per outreach channel: (event type code, channel code) of the lead's inbound
    c: (TYPE_CODE[EventType.CALL_IN if c == "call" else EventType.MESSAGE_IN], CHANNEL_CODE[c])
    for c in CHANNEL_NAMES
}
HOUR_MS = 3_600_000


def lead_history(
    cols: EventColumns,
    utc_offset_ms: int,
    before_ms: int | None = None,
    *,
    country: str | None = None,
) -> np.ndarray:
    """The lead's own history (N_HISTORY,) from its events (those before ``before_ms``).

    Local hours use one UTC offset (the one the behavioural features use, at the time of
    scoring). Profiles are shares of the lead's own actions per local hour, smoothed with the
    circular Gaussian of ``SMOOTH_HOURS``, weekday (Monday-Friday) and weekend apart.
    ``country`` is the lead's (``Lead.country``): the last value is 1 when it is known and not
    ``HOME_COUNTRY``.
    """
    ts, typ, ch = cols.ts, cols.type, cols.channel
    if before_ms is not None:
        keep = ts < before_ms
        ts, typ, ch = ts[keep], typ[keep], ch[keep]
    out = np.zeros(N_HISTORY, dtype=np.float64)
    own = np.isin(typ, OWN_ACTIONS)
    how = ((ts[own] + utc_offset_ms) // HOUR_MS + 72) % HOURS_PER_WEEK  # 0 = Monday 00:00
    weekend = how >= 5 * 24
    for k, part in enumerate((how[~weekend] % 24, how[weekend] % 24)):
        counts = np.bincount(part, minlength=24).astype(np.float64)
        if len(part):
            out[24 * k : 24 * k + 24] = _KERNEL @ counts / len(part)
        out[48 + k] = np.log1p(len(part))
    for i, c in enumerate(CHANNEL_NAMES):
        t_code, c_code = _INBOUND[c]
        out[50 + i] = np.log1p(np.count_nonzero((typ == t_code) & (ch == c_code)))
    out[54] = float(country is not None and country != "" and country.upper() != HOME_COUNTRY)
    return out.astype(np.float32)


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
    lead_features: np.ndarray,
    channels: np.ndarray,
    hours: np.ndarray,
    history: np.ndarray | None = None,
) -> np.ndarray:
    """Candidate encodings (n, N_CANDIDATE) for rows of lead features and candidates.

    ``lead_features`` is (n, N_FEATURES) or one (N_FEATURES,) vector shared by all rows;
    ``channels`` are codes into ``OUTREACH_CHANNELS`` and ``hours`` local hours-of-week, (n,);
    ``history`` (:func:`lead_history`) is (n, N_HISTORY) or one vector shared by all rows,
    ``None`` for a lead with no history (every history column 0).
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
    # one row per lead: a shared vector is read once, its values picked per candidate by ``at_x``
    xl = x.reshape(1, N_FEATURES) if x.ndim == 1 else x
    if x.ndim != 1 and len(xl) != len(ch):
        raise CandidateError(f"{len(xl)} feature rows but {len(ch)} candidates")
    n = len(ch)
    hour, dow = how % 24, how // 24
    at_x = np.zeros(n, dtype=np.int64) if x.ndim == 1 else np.arange(n)
    hfrac = xl[:, _HOUR_IDX]  # (leads, 24)
    rows = np.arange(n)
    out = np.zeros((n, N_CANDIDATE), dtype=np.float64)
    out[rows, ch] = 1.0
    out[:, 4], out[:, 5] = _HOUR_SIN[hour], _HOUR_COS[hour]
    out[:, 6], out[:, 7] = _DAY_SIN[dow], _DAY_COS[dow]
    out[:, 8] = dow >= 5
    out[:, 9] = (hour < NIGHT_END) | (hour >= NIGHT_START)
    out[:, 10] = 24.0 * hfrac[at_x, hour]
    out[:, 11] = 24.0 * (hfrac @ _KERNEL.T)[at_x, hour]
    out[:, 12] = xl[at_x, _SIN_IDX] * out[:, 4] + xl[at_x, _COS_IDX] * out[:, 5]
    out[:, 13] = 7.0 * xl[:, _DAY_IDX][at_x, dow]
    out[:, 14:19] = xl[:, _CH_IDX][at_x, ch]
    # a lead with no history (None) is one whose history is all 0 (no events yet)
    hist = np.zeros(N_HISTORY) if history is None else np.asarray(history, dtype=np.float64)
    if hist.shape[-1] != N_HISTORY:
        raise CandidateError(f"history must have {N_HISTORY} columns, got {hist.shape}")
    h2 = np.broadcast_to(hist.reshape(-1, N_HISTORY), (n, N_HISTORY))
    hl = hist.reshape(1, N_HISTORY) if hist.ndim == 1 else h2  # one row per lead
    at_h = np.zeros(n, dtype=np.int64) if hist.ndim == 1 else rows
    weekend = (dow >= 5).astype(np.int64)
    out[:, 19] = 24.0 * hl[at_h, 24 * weekend + hour]
    out[:, 20] = 24.0 * hl[at_h, hour]
    out[:, 21] = hl[at_h, 48 + weekend]
    out[:, 22] = hl[at_h, 50 + ch]
    # where the hour stands in the (wider smoothed) profile of its kind of day; one
    # lead's history (the device's case) is smoothed once, not once per candidate
    if hist.ndim == 1:
        prof = hist[:48].reshape(2, 24) @ _WIDE.T  # (2, 24): weekday, weekend
        at, top, arg = prof[weekend, hour], prof.max(axis=1)[weekend], prof.argmax(axis=1)
        arg = arg[weekend]
    else:
        prof = h2[:, :48].reshape(n, 2, 24) @ _WIDE.T  # (n, 2, 24)
        day_prof = prof[rows, weekend]  # (n, 24)
        at, top, arg = day_prof[rows, hour], day_prof.max(axis=1), day_prof.argmax(axis=1)
    has = top > 0
    out[:, 23] = np.where(has, at / np.where(has, top, 1.0), 0.0)
    out[:, 24] = np.where(has, _CIRC[hour, arg] / 6.0, 1.0)
    out[:, 26] = _shares(np.expm1(hl[:, 50:54]))[at_h, ch]
    out[rows, 28 + ch] = hl[at_h, 54]
    # per-channel values once per lead, then picked per candidate
    sent = np.expm1(xl[:, _LOG1P_OUT])  # (leads, 4) outreach per channel
    out[:, 25] = _shares(sent)[at_x, ch]
    out[:, 27] = ((np.expm1(xl[:, _LOG1P_REPLIED]) + 1.0) / (sent + 3.0))[at_x, ch]
    return out.astype(np.float32)


def _shares(counts: np.ndarray) -> np.ndarray:
    """Each channel's share of a lead's counts (leads, 4); a quarter each when there are none."""
    tot = counts.sum(axis=1, keepdims=True)
    return np.where(tot > 0, counts / np.maximum(tot, 1.0), 0.25)


def model_input(
    lead_features: np.ndarray,
    channels: np.ndarray,
    hours: np.ndarray,
    history: np.ndarray | None = None,
) -> np.ndarray:
    """Rows (n, N_INPUT): each row's lead features followed by its candidate encoding."""
    ch = channel_codes(channels)
    x = np.asarray(lead_features, dtype=np.float32)
    if x.shape[-1] != N_FEATURES or x.ndim > 2:
        raise CandidateError(f"lead features must have {N_FEATURES} columns, got {x.shape}")
    x2 = np.broadcast_to(x, (len(ch), N_FEATURES)) if x.ndim == 1 else x
    slots = candidate_features(x2, ch, hours, history)
    return np.concatenate([x2, slots], axis=1).astype(np.float32)


def candidate_matrix(
    lead_features: np.ndarray,
    channels: Sequence[Channel | str] = OUTREACH_CHANNELS,
    hours: Sequence[int] | np.ndarray = range(HOURS_PER_WEEK),
    history: np.ndarray | None = None,
) -> np.ndarray:
    """Model input for every (channel, hour) of one lead: (len(channels) * len(hours), N_INPUT).

    Rows are channel-major: row ``i * len(hours) + j`` is ``(channels[i], hours[j])``, so
    ``scores.reshape(len(channels), len(hours))`` gives the grid back.
    """
    ch = channel_codes(list(channels))
    how = np.asarray(list(hours), dtype=np.int64)
    x = np.asarray(lead_features, dtype=np.float32).reshape(-1)
    return model_input(x, np.repeat(ch, len(how)), np.tile(how, len(ch)), history)


def local_hour_of_week(ts_ms: np.ndarray | int, utc_offset_ms: np.ndarray | int) -> np.ndarray:
    """Local hour-of-week (0 = Monday 00:00) of UTC epoch-ms times at the given UTC offsets."""
    local = np.asarray(ts_ms, dtype=np.int64) + np.asarray(utc_offset_ms, dtype=np.int64)
    hour = (local // 3_600_000) % 24
    dow = (local // 86_400_000 + 3) % 7  # 1970-01-01 was a Thursday
    return (dow * 24 + hour).astype(np.int64)


class SlotModel(Protocol):
    """What scoring needs of a loaded model (``models.tflite.TFLiteModel``)."""

    @property
    def input_names(self) -> tuple[str, ...]: ...

    def predict(self, *xs: np.ndarray) -> list[np.ndarray]: ...


def _ordered(model: SlotModel, lead: np.ndarray, slots: np.ndarray) -> list[np.ndarray]:
    """The two inputs in the interpreter's order (found by their names, ``lead`` / ``slots``)."""
    names = model.input_names
    if len(names) != 2:
        raise CandidateError(
            f"the intervention model must take two inputs (lead, slots), it takes {len(names)}"
        )
    return [slots, lead] if "slot" in names[0] else [lead, slots]


def score_slots(
    model: SlotModel,
    lead_features: np.ndarray,
    channels: np.ndarray,
    hours: np.ndarray,
    history: np.ndarray | None,
) -> np.ndarray:
    """P(response) (n,) of one lead at n (channel code, local hour-of-week) candidates, in one
    invoke: the lead's part of the model runs once, only the slot part runs per candidate.
    ``history``: the lead's :func:`lead_history` (``None``: a lead with no events)."""
    x = np.asarray(lead_features, dtype=np.float32).reshape(1, -1)
    slots = candidate_features(x[0], channels, hours, history)
    if not len(slots):
        return np.zeros(0, dtype=np.float32)
    inputs = _ordered(model, x, slots)
    return model.predict(*inputs)[0].reshape(-1)


def score_rows(model: SlotModel, rows: np.ndarray, batch: int = 4096) -> np.ndarray:
    """P(response) (n,) of rows ``[lead features, candidate encoding]`` (``model_input``), each
    with its own lead: for training and evaluation, where rows come from many leads."""
    x = np.asarray(rows, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] != N_INPUT:
        raise CandidateError(f"rows must have {N_INPUT} columns, got {x.shape}")
    out = []
    for s in range(0, len(x), batch):
        part = x[s : s + batch]
        out.append(model.predict(*_ordered(model, part[:, :N_FEATURES], part[:, N_FEATURES:]))[0])
    return np.concatenate(out).reshape(-1) if out else np.zeros(0, dtype=np.float32)


def golden_input(model: SlotModel, row: np.ndarray) -> list[float]:
    """A golden case's flat input for one row: its parts in the interpreter's input order."""
    x = np.asarray(row, dtype=np.float32).reshape(-1)
    return np.concatenate(_ordered(model, x[:N_FEATURES], x[N_FEATURES:])).tolist()
