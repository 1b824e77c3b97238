"""The outreach rules, in one function that every path calls: firing, executing, sending.

:func:`check_step` answers whether one step may reach its lead now, and if not, why, as a
:class:`Refusal` with a stable ``reason`` code. It reuses the planner's channel rules
(:func:`edge.planner.channel_blocks`: consent, address, opt-out), the contact hours and
holidays of :mod:`edge.culture.contact`, and the planner's frequency caps (``MIN_GAP_H``,
``WEEKLY_CAP``), so a plan and a send can never disagree. Pure: no I/O, time is a parameter.
"""

from __future__ import annotations

from collections.abc import Collection
from enum import StrEnum

import msgspec
import numpy as np

from edge.culture.contact import (
    CONTACT_END_HOUR,
    CONTACT_START_HOUR,
    INTRUSIVE_CHANNELS,
    holiday_name,
)
from edge.culture.formatter import local_datetime, time_zone
from edge.planner import DAY_MS, HOUR_MS, MIN_GAP_H, WEEKLY_CAP, channel_blocks
from models.features import EventColumns
from models.features.columns import TYPE_CODE
from sync.records import (
    EventType,
    InterventionPlan,
    InterventionStep,
    Lead,
    LeadStatus,
    PlanStatus,
    StepStatus,
)

_OUT = np.array([TYPE_CODE[EventType.MESSAGE_OUT], TYPE_CODE[EventType.CALL_OUT]])

#: Statuses from which a step may be sent or recorded as done.
OPEN_STATUSES: frozenset[StepStatus] = frozenset({StepStatus.PENDING, StepStatus.DUE})


class Reason(StrEnum):
    """Why a step may not reach its lead now (the ``reason`` of a 409 ``rejected`` body)."""

    NOT_PENDING = "not_pending"  # the step or its plan is no longer open
    OTHER_EXECUTOR = "other_executor"  # another party sends this plan's steps
    OPTED_OUT = "opted_out"
    NO_CONSENT = "no_consent"
    NO_ADDRESS = "no_address"
    QUIET_HOURS = "quiet_hours"
    HOLIDAY = "holiday"
    CAP = "cap"


class Refusal(msgspec.Struct, frozen=True, kw_only=True):
    """A refused step: the reason code, a sentence naming the value, and when it may go."""

    reason: Reason
    detail: str
    #: For quiet hours, holidays and caps: the earliest time (UTC ms) this rule lets it go.
    retry_at: int | None = None


def check_step(
    lead: Lead,
    step: InterventionStep,
    plan: InterventionPlan,
    cols: EventColumns,
    now_ms: int,
    *,
    statuses: Collection[StepStatus] = OPEN_STATUSES,
    party: str | None = None,
    winner: str | None = None,
) -> Refusal | None:
    """None when ``step`` may reach ``lead`` at ``now_ms``; else the first rule it breaks.

    ``cols`` holds the lead's ``opt_out`` events and its outreach already on record
    (``message_out``, ``call_out``). ``party`` is who asks to send (a device id; None: not
    checked); ``winner`` is the id of the lead's one active plan after sync (None: not checked).
    """
    if step.status not in statuses:
        return Refusal(reason=Reason.NOT_PENDING, detail=f"step {step.id!r} is {step.status}")
    if plan.status is not PlanStatus.ACTIVE:
        return Refusal(
            reason=Reason.NOT_PENDING,
            detail=f"plan {plan.id!r} of step {step.id!r} is {plan.status}",
        )
    if winner is not None and winner != plan.id:
        return Refusal(
            reason=Reason.NOT_PENDING,
            detail=f"plan {plan.id!r} is superseded by plan {winner!r} of the same lead",
        )
    if lead.status in (LeadStatus.CONVERTED, LeadStatus.LOST):
        return Refusal(reason=Reason.NOT_PENDING, detail=f"lead {lead.id!r} is {lead.status}")
    if party is not None and plan.executor and plan.executor != party:
        return Refusal(
            reason=Reason.OTHER_EXECUTOR,
            detail=f"plan {plan.id!r} is sent by {plan.executor!r}, not {party!r}",
        )
    blocked = channel_blocks(lead, cols).get(step.channel)
    if blocked is not None:
        code, words = blocked
        return Refusal(reason=Reason(code), detail=f"{step.channel} to lead {lead.id!r}: {words}")
    return contact_refusal(lead, step, cols, now_ms)


def contact_refusal(
    lead: Lead, step: InterventionStep, cols: EventColumns, now_ms: int
) -> Refusal | None:
    """Holidays, quiet hours (intrusive channels, lead's time zone) and the frequency caps."""
    channel = step.channel
    if channel in INTRUSIVE_CHANNELS:
        local = local_datetime(now_ms, time_zone(lead.timezone))
        name = holiday_name(lead.country, local.date())
        if name is not None:
            return Refusal(
                reason=Reason.HOLIDAY,
                detail=f"{local.date()} is {name} in {lead.country} (lead {lead.id!r})",
                retry_at=_next_day_ms(now_ms, local.hour, local.minute),
            )
        if not CONTACT_START_HOUR <= local.hour < CONTACT_END_HOUR:
            return Refusal(
                reason=Reason.QUIET_HOURS,
                detail=f"{local:%H:%M} in {lead.timezone} is outside "
                f"{CONTACT_START_HOUR:02d}:00-{CONTACT_END_HOUR:02d}:00 (lead {lead.id!r})",
                retry_at=_hour_start_ms(now_ms, local.hour, local.minute),
            )
    done = np.sort(cols.ts[np.isin(cols.type, _OUT) & (cols.ts <= now_ms)])
    gap = MIN_GAP_H * HOUR_MS
    if len(done) and now_ms - int(done[-1]) < gap:
        return Refusal(
            reason=Reason.CAP,
            detail=f"lead {lead.id!r} was contacted {(now_ms - int(done[-1])) // 60_000} min "
            f"ago (at most one outreach per {MIN_GAP_H} h)",
            retry_at=int(done[-1]) + gap,
        )
    week = done[done > now_ms - 7 * DAY_MS]
    if len(week) >= WEEKLY_CAP:
        return Refusal(
            reason=Reason.CAP,
            detail=f"lead {lead.id!r} had {len(week)} outreaches in the last 7 days "
            f"(at most {WEEKLY_CAP})",
            retry_at=int(week[len(week) - WEEKLY_CAP]) + 7 * DAY_MS + 1,
        )
    return None


def _next_day_ms(now_ms: int, hour: int, minute: int) -> int:
    """Roughly the next local midnight (the firing path moves the step exactly)."""
    return now_ms + ((24 - hour) * 60 - minute) * 60_000


def _hour_start_ms(now_ms: int, hour: int, minute: int) -> int:
    """Roughly the next local contact start (the firing path moves the step exactly)."""
    hours = (CONTACT_START_HOUR - hour) % 24
    return now_ms + (hours * 60 - minute) * 60_000


def winning_plan(plans: Collection[InterventionPlan]) -> InterventionPlan | None:
    """The one active plan a lead keeps when devices planned it apart (e.g. offline).

    The deterministic rule: among the lead's active plans, the latest ``created_at`` wins,
    ties broken by the greater id. Every party computes the same winner from the same set,
    whatever order the plans arrived in, and cancels the others.
    """
    active = [p for p in plans if p.status is PlanStatus.ACTIVE]
    return max(active, key=lambda p: (p.created_at, p.id)) if active else None
