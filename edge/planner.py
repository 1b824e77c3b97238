"""Intervention plans: which channel, at which hour, in which language, with which message.

The intervention model scores the lead's candidates (channel, local hour-of-week) in one invoke:
every allowed channel at every contact hour of the next week that the frequency caps leave open
(at most 4 x 91 candidates). The model is factored: the lead's part runs once per invoke and
only a small slot part runs per candidate (``models.intervention.candidate.score_slots``).
The planner then walks the next ``HORIZON_H`` hours and picks up to ``MAX_STEPS`` steps, best
expected response first, under these rules:

- consent and address: a channel is used only when the lead's consent for it is recorded as
  granted (opt-in) and the lead has an address for it (a phone for calls, texts and WhatsApp,
  an e-mail for e-mail); one the lead opted out of (an ``opt_out`` event on that channel, or on
  none = every channel) is never used; with no channel left the plan is empty and says why;
- quiet hours and holidays: calls, texts and WhatsApp only from 08:00 to 21:00 in the lead's
  time zone and never on a public holiday of the lead's country (``edge.culture``);
- frequency caps: at most one outreach per ``MIN_GAP_H`` hours and ``WEEKLY_CAP`` per sliding
  7 days, counting the agent's own outreach already on record;
- auto-pause: a plan pauses (remaining steps cancelled) when the lead replies or books a showing
  after the plan was made (see :func:`pause_reason`); a converted or lost lead gets no plan.

Pure functions: no I/O, time is a parameter.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np
from numpy.typing import NDArray

from edge.culture import DraftMessage, Intent, MessageContext, adapt_message
from edge.culture.contact import CONTACT_END_HOUR, CONTACT_START_HOUR, holiday_name
from edge.culture.formatter import time_zone
from models.features import EventColumns
from models.features.columns import CHANNEL_CODE, TYPE_CODE
from models.features.extract import utc_offset_ms
from models.intervention.candidate import lead_history, score_slots
from models.tflite import TFLiteModel
from sync.records import (
    OUTREACH_CHANNELS,
    Channel,
    EventType,
    Formality,
    InterventionPlan,
    InterventionStep,
    Lead,
    LeadStatus,
    Listing,
    MessageLength,
    PlanStatus,
    Profile,
)

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
MAX_STEPS = 3
HORIZON_H = 7 * 24
MIN_GAP_H = 24
WEEKLY_CAP = 3
#: A step found overdue by less than this still runs; older ones move to the next allowed slot.
MISSED_GRACE_MS = 2 * HOUR_MS
#: Each day of delay multiplies a candidate's rank (not its score) by this: sooner wins ties.
DAY_DISCOUNT = 0.97
INTRUSIVE = (Channel.CALL, Channel.SMS, Channel.WHATSAPP)
_OUT = np.array([TYPE_CODE[EventType.MESSAGE_OUT], TYPE_CODE[EventType.CALL_OUT]])
_IN = np.array([TYPE_CODE[EventType.MESSAGE_IN], TYPE_CODE[EventType.CALL_IN]])
_OPT_OUT = TYPE_CODE[EventType.OPT_OUT]
_SHOWING = TYPE_CODE[EventType.SHOWING_BOOKED]
_CODE_CHANNEL = {code: Channel(name) for name, code in CHANNEL_CODE.items()}


@dataclass(frozen=True, slots=True)
class PlanInputs:
    """Everything a plan needs, read by the runtime."""

    lead: Lead
    cols: EventColumns
    features: NDArray[Any]
    now_ms: int
    profile: Profile | None
    context: MessageContext  # agent name, recent listing, showing
    listings: Sequence[Listing] = ()  # recommendations, for new-listing messages


def channel_blocks(lead: Lead, cols: EventColumns) -> dict[Channel, tuple[str, str]]:
    """Outreach channels that may not reach ``lead``: ``(reason code, words)`` for each.

    Codes: ``opted_out`` (an ``opt_out`` event on the channel, or on none = every channel),
    ``no_consent`` (consent not recorded as granted: opt-in), ``no_address`` (no phone for
    calls, texts and WhatsApp; no e-mail for e-mail). An opt-out wins over the others.
    """
    out: dict[Channel, tuple[str, str]] = {}
    for c in OUTREACH_CHANNELS:
        if not lead.address(c):
            out[c] = ("no_address", "no e-mail address" if c is Channel.EMAIL else "no phone")
        elif not lead.consent.allows(c):
            unknown = lead.consent.state(c) == "unknown"
            out[c] = ("no_consent", "consent unknown" if unknown else "no consent")
    for code in cols.channel[cols.type == _OPT_OUT].tolist():
        if code < 0:
            return {c: ("opted_out", "opted out of all contact") for c in OUTREACH_CHANNELS}
        ch = _CODE_CHANNEL[int(code)]
        if ch in OUTREACH_CHANNELS:
            out[ch] = ("opted_out", "opted out")
    return out


def blocked_channels(lead: Lead, cols: EventColumns) -> dict[Channel, str]:
    """Outreach channels the planner may not use, with the reason in words."""
    return {c: words for c, (_code, words) in channel_blocks(lead, cols).items()}


def pause_reason(cols: EventColumns, since_ms: int) -> str | None:
    """Why a plan made at ``since_ms`` should pause: a reply or a showing booked after it."""
    later = cols.ts > since_ms
    if np.any(later & (cols.type == _SHOWING)):
        return "the lead booked a showing"
    if np.any(later & np.isin(cols.type, _IN)):
        return "the lead replied"
    return None


#: Local hours of week the model scores: contact hours (08:00-20:00 starts) on every day. Emails
#: are planned in the same hours, when they are read soonest; 4 x 91 rows, always the same batch.
SCORED_HOURS = np.array(
    [d * 24 + h for d in range(7) for h in range(CONTACT_START_HOUR, CONTACT_END_HOUR)]
)


def score_grid(
    model: TFLiteModel,
    features: NDArray[Any],
    channels: Sequence[int] = range(len(OUTREACH_CHANNELS)),
    history: NDArray[Any] | None = None,
) -> NDArray[Any]:
    """P(response) for (4 channels, 168 local hours of week), one invoke; 0 outside
    :data:`SCORED_HOURS` and for channels not in ``channels`` (positions in OUTREACH_CHANNELS),
    which are not scored at all (a blocked channel costs nothing)."""
    chosen = [OUTREACH_CHANNELS[i] for i in channels]
    grid = np.zeros((len(OUTREACH_CHANNELS), 168), dtype=np.float32)
    if not chosen:
        return grid
    rows = np.asarray(channels, dtype=np.intp)
    y = score_slots(
        model,
        features,
        np.repeat(rows, len(SCORED_HOURS)),
        np.tile(SCORED_HOURS, len(rows)),
        history,
    )
    grid[np.ix_(rows, SCORED_HOURS)] = y.reshape(len(chosen), len(SCORED_HOURS))
    return grid


def score_candidates(
    model: TFLiteModel,
    features: NDArray[Any],
    channels: NDArray[Any],
    hours: NDArray[Any],
    history: NDArray[Any] | None = None,
) -> NDArray[Any]:
    """P(response) of each (channel position in OUTREACH_CHANNELS, local hour of week) pair,
    in one invoke: each row is scored on its own, so its value is the one :func:`score_grid`
    gives that cell."""
    if not len(channels):
        return np.zeros(0, dtype=np.float32)
    return score_slots(model, features, np.asarray(channels), np.asarray(hours), history)


def plan_history(inputs: PlanInputs) -> NDArray[Any]:
    """The lead's own history for the intervention model (at the offset the features use)."""
    return lead_history(
        inputs.cols,
        utc_offset_ms(inputs.lead.timezone, inputs.now_ms),
        country=inputs.lead.country,
    )


def _open(valid: NDArray[Any], ts: NDArray[Any], taken: Sequence[int]) -> NDArray[Any]:
    """``valid`` less the slots that the frequency caps close, given outreach at ``taken``."""
    ok = valid.copy()
    done = np.sort(np.asarray(taken, dtype=np.int64))
    if len(done):
        near = np.abs(ts[:, None] - done[None, :]) < MIN_GAP_H * HOUR_MS
        ok[:, near.any(axis=1)] = False
        # outreaches in the sliding week (s - 7 days, s] before each slot s
        in_week = np.searchsorted(done, ts, side="right") - np.searchsorted(
            done, ts - 7 * DAY_MS, side="right"
        )
        ok[:, in_week >= WEEKLY_CAP] = False
    return ok


def _utc_offset(ts_ms: int, zone: dt.tzinfo) -> dt.timedelta:
    """The zone's offset from UTC at ``ts_ms`` (an IANA zone always has one)."""
    return dt.datetime.fromtimestamp(ts_ms / 1000, zone).utcoffset() or dt.timedelta(0)


def _slots(lead: Lead, start_ms: int) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any]]:
    """Absolute hour starts, their local hour-of-week and whether intrusive contact is quiet."""
    zone = time_zone(lead.timezone)
    ts = start_ms + HOUR_MS * np.arange(HORIZON_H, dtype=np.int64)
    # Offsets change at most a few times a week: look one up per 6 h, at the first hour of each.
    _keys, first, which = np.unique(ts // (6 * HOUR_MS), return_index=True, return_inverse=True)
    offsets = np.array(
        [int(_utc_offset(t, zone).total_seconds() * 1000) for t in ts[first].tolist()],
        dtype=np.int64,
    )
    local_ms = ts + offsets[which]
    hour = (local_ms // HOUR_MS) % 24
    how = (local_ms // DAY_MS + 3) % 7 * 24 + hour
    quiet = (hour < CONTACT_START_HOUR) | (hour >= CONTACT_END_HOUR)
    days = local_ms // DAY_MS
    for d in np.unique(days).tolist():
        if holiday_name(lead.country, dt.date(1970, 1, 1) + dt.timedelta(days=int(d))):
            quiet[days == d] = True
    return ts, how, quiet


def _intent(inputs: PlanInputs, step: int) -> tuple[Intent, Listing | None]:
    cols, now = inputs.cols, inputs.now_ms
    outbound = np.isin(cols.type, _OUT)
    inbound = np.isin(cols.type, _IN)
    if step == 0 and not outbound.any():
        return Intent.FIRST_CONTACT, None
    last_in = int(cols.ts[inbound].max()) if inbound.any() else 0
    if step == 0 and now - last_in > 14 * DAY_MS:
        return Intent.FOLLOW_UP_AFTER_SILENCE, None
    if step < len(inputs.listings):
        return Intent.NEW_LISTING_MATCH, inputs.listings[step]
    return Intent.FOLLOW_UP_AFTER_SILENCE, None


def empty_plan(
    lead: Lead,
    plan_id: str,
    now_ms: int,
    reason: str,
    version: str,
    status: PlanStatus = PlanStatus.CANCELLED,
) -> InterventionPlan:
    return InterventionPlan(
        id=plan_id,
        updated_at=now_ms,
        lead_id=lead.id,
        created_at=now_ms,
        status=status,
        model_version=version,
        reason=reason,
    )


def make_plan(inputs: PlanInputs, model: TFLiteModel, plan_id: str) -> InterventionPlan:
    """The plan for ``inputs.lead`` (not stored): steps sorted by time, or a reason for none."""
    lead, now = inputs.lead, inputs.now_ms
    version = model.manifest.version
    if lead.status in (LeadStatus.CONVERTED, LeadStatus.LOST):
        return empty_plan(lead, plan_id, now, f"lead is {lead.status.value}: no outreach", version)
    blocked = blocked_channels(lead, inputs.cols)
    allowed = [i for i, c in enumerate(OUTREACH_CHANNELS) if c not in blocked]
    if not allowed:
        why = "; ".join(f"{c.value}: {r}" for c, r in blocked.items())
        return empty_plan(lead, plan_id, now, f"every channel is blocked ({why})", version)
    start = (now // HOUR_MS + 1) * HOUR_MS
    ts, how, quiet = _slots(lead, start)
    valid = np.zeros((len(OUTREACH_CHANNELS), HORIZON_H), dtype=bool)
    scored = np.isin(how, SCORED_HOURS)
    for i in allowed:
        valid[i] = (~quiet if OUTREACH_CHANNELS[i] in INTRUSIVE else True) & scored
    taken = [
        int(t)
        for t in inputs.cols.ts[np.isin(inputs.cols.type, _OUT)].tolist()
        if t > now - 7 * DAY_MS
    ]
    # Caps only close slots as steps are added, so a slot closed now is never picked: only
    # the open ones are scored (the same values as the full grid's, for fewer rows).
    rows, cols = np.nonzero(_open(valid, ts, taken))
    p = np.zeros(valid.shape, dtype=np.float32)  # (4, HORIZON_H)
    history = plan_history(inputs)
    p[rows, cols] = score_candidates(model, inputs.features, rows, how[cols], history)
    rank = p * DAY_DISCOUNT ** ((ts - start) / DAY_MS)[None, :]
    chosen: list[tuple[int, int]] = []
    for _ in range(MAX_STEPS):
        ok = _open(valid, ts, taken)
        if not ok.any():
            break
        best_c, best_j = np.unravel_index(int(np.argmax(np.where(ok, rank, -1.0))), ok.shape)
        chosen.append((int(best_c), int(best_j)))
        taken.append(int(ts[best_j]))
        rank[best_c] *= 0.9  # prefer a mix of channels across steps
    if not chosen:
        return empty_plan(
            lead,
            plan_id,
            now,
            f"frequency cap: {len(taken)} outreaches in the last 7 days (at most {WEEKLY_CAP})",
            version,
            PlanStatus.PAUSED,
        )
    chosen.sort(key=lambda cj: cj[1])
    profile = inputs.profile
    formality: Formality | None = profile.formality if profile else None
    length: MessageLength | None = profile.message_length if profile else None
    steps = []
    for seq, (c, j) in enumerate(chosen):
        channel = OUTREACH_CHANNELS[c]
        intent, listing = _intent(inputs, seq)
        ctx = msgspec.structs.replace(inputs.context, listing=listing or inputs.context.listing)
        if intent is not Intent.FIRST_CONTACT and listing is None and ctx.listing is None:
            intent = Intent.FOLLOW_UP_AFTER_SILENCE
        draft: DraftMessage = adapt_message(
            lead,
            intent,
            ctx,
            now_ms=int(ts[j]),
            formality=formality,
            length=length,
            channel=channel,
        )
        steps.append(
            InterventionStep(
                id=f"{plan_id}-s{seq}",
                updated_at=now,
                plan_id=plan_id,
                lead_id=lead.id,
                seq=seq,
                channel=channel,
                due_at=draft.send_at,
                hour_of_week=int(how[j]),
                language=draft.language,
                intent=intent.value,
                message=draft.text,
                p_response=round(float(p[c, j]), 4),
            )
        )
    mean_p = float(np.mean([s.p_response for s in steps]))
    skipped = ", ".join(f"{c.value} ({r})" for c, r in blocked.items())
    reason = (
        f"{len(steps)} steps at the lead's best hours among {len(allowed)} channels x 168 "
        f"hours (mean P(response) {mean_p:.2f})" + (f"; not using {skipped}" if skipped else "")
    )
    return InterventionPlan(
        id=plan_id,
        updated_at=now,
        lead_id=lead.id,
        created_at=now,
        status=PlanStatus.ACTIVE,
        model_version=version,
        reason=reason,
        steps=steps,
    )


def next_allowed(
    lead: Lead, channel: Channel, after_ms: int, model_grid: NDArray[Any] | None = None
) -> int:
    """The first hour start at or after ``after_ms`` when ``channel`` may reach ``lead``."""
    start = (after_ms + HOUR_MS - 1) // HOUR_MS * HOUR_MS
    ts, _how, quiet = _slots(lead, start)
    if channel not in INTRUSIVE:
        return int(ts[0])
    ok = np.flatnonzero(~quiet)
    return int(ts[ok[0]]) if len(ok) else int(ts[-1])
