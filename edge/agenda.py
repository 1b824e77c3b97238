"""What an agent looks at first: the leads on the device, and today's outreach in words.

Also the names an agent types (intents, channels), refused with the list of valid ones.
"""

from __future__ import annotations

import datetime as dt
from datetime import tzinfo

import msgspec

from edge import queries
from edge.culture.formatter import time_zone
from edge.culture.message import Intent
from edge.errors import CultureError
from edge.rows import record_from_row
from edge.store import EdgeStore
from sync.records import OUTREACH_CHANNELS, Channel, InterventionStep, Lead

#: Why a step reaches out, said to the agent.
INTENT_WHY: dict[str, str] = {
    Intent.FIRST_CONTACT: "first contact: introduce yourself",
    Intent.SHOWING_REMINDER: "remind them of their showing",
    Intent.NEW_LISTING_MATCH: "a new listing matches what they look for",
    Intent.PRICE_CHANGE: "a listing they looked at changed price",
    Intent.FOLLOW_UP_AFTER_SILENCE: "they have gone quiet: follow up",
    Intent.OFFER_UPDATE: "news about their offer",
    "follow_up": "follow up",
}
#: What the agent does on each channel.
CHANNEL_ACTION: dict[Channel, str] = {
    Channel.CALL: "Call",
    Channel.SMS: "Text",
    Channel.EMAIL: "Email",
    Channel.WHATSAPP: "WhatsApp",
}


def parse_intent(value: str) -> Intent:
    """The intent named ``value``; an unknown name is refused with the valid ones."""
    try:
        return Intent(value)
    except ValueError:
        valid = ", ".join(i.value for i in Intent)
        raise CultureError(f"unknown intent {value!r}; one of: {valid}") from None


def parse_channel(value: str) -> Channel:
    """The outreach channel named ``value``; anything else is refused with the valid ones."""
    valid = ", ".join(c.value for c in OUTREACH_CHANNELS)
    try:
        channel = Channel(value)
    except ValueError:
        raise CultureError(f"unknown channel {value!r}; one of: {valid}") from None
    if channel not in OUTREACH_CHANNELS:
        raise CultureError(f"channel {value!r} cannot carry outreach; one of: {valid}")
    return channel


class LeadSummary(msgspec.Struct, frozen=True, kw_only=True):
    """One line of the lead list. Times are UTC epoch ms; ``p_convert`` only when scored."""

    id: str
    name: str
    language: str
    status: str
    events: int
    last_activity: int | None
    last_activity_type: str | None
    timezone: str
    p_convert: float | None = None


async def lead_summaries(store: EdgeStore) -> list[LeadSummary]:
    """Every lead, most recently active first."""
    out = []
    for row in await store.fetchall(queries.LEAD_SUMMARIES):
        lead = record_from_row(Lead, row)
        out.append(
            LeadSummary(
                id=lead.id,
                name=lead.name,
                language=lead.language,
                status=lead.status.value,
                events=int(row["n"]),
                last_activity=row["last"],
                last_activity_type=row["kind"],
                timezone=lead.timezone,
            )
        )
    return out


class TodayStep(msgspec.Struct, frozen=True, kw_only=True):
    """A step the agent should take today: who, which channel, when, why, in words."""

    step_id: str
    lead_id: str
    lead_name: str
    channel: str
    intent: str
    due_at: int  # UTC epoch ms
    at: str  # HH:MM in the agent's zone
    lead_time: str  # HH:MM in the lead's zone, with the zone
    overdue: bool
    p_response: float
    why: str
    text: str  # the whole sentence
    #: ``pending`` (planned), ``due`` (a task waiting for the agent: fired, or a send the
    #: platform could not make), or ``unknown`` (a send cut short: check, then settle it).
    status: str = "pending"
    #: What the channel or the agent last said about the step ("" when nothing yet).
    outcome: str = ""
    #: The lead's IANA time zone (``lead_time`` is said in it).
    lead_zone: str = "UTC"


def local_zone(name: str | None) -> tzinfo:
    """The zone ``name``, or this machine's."""
    if name is not None:
        return time_zone(name)
    zone = dt.datetime.now().astimezone().tzinfo
    return zone if zone is not None else dt.UTC


def end_of_day_ms(now_ms: int, zone: tzinfo) -> int:
    """The first millisecond of tomorrow in ``zone``."""
    now = dt.datetime.fromtimestamp(now_ms / 1000, zone)
    tomorrow = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), zone)
    return int(tomorrow.timestamp() * 1000)


async def steps_today(store: EdgeStore, now_ms: int, zone: tzinfo) -> list[TodayStep]:
    """Steps due before the end of today in ``zone`` (overdue ones first), said in words, and
    every step whose send outcome is ``unknown`` whenever it was due."""
    out = []
    for row in await store.fetchall(queries.STEPS_TODAY, (end_of_day_ms(now_ms, zone),)):
        step = record_from_row(InterventionStep, row)
        lead = record_from_row(Lead, {"data": row["lead"]})
        out.append(_today(step, lead, now_ms, zone))
    return out


def _today(step: InterventionStep, lead: Lead, now_ms: int, zone: tzinfo) -> TodayStep:
    when = dt.datetime.fromtimestamp(step.due_at / 1000, zone)
    theirs = dt.datetime.fromtimestamp(step.due_at / 1000, time_zone(lead.timezone))
    at, lead_time = when.strftime("%H:%M"), f"{theirs:%H:%M} {lead.timezone}"
    overdue = step.due_at <= now_ms
    why = INTENT_WHY.get(step.intent, step.intent.replace("_", " "))
    action = CHANNEL_ACTION.get(step.channel, step.channel.value.title())
    timing = f"now (due {at})" if overdue else f"at {at}"
    if theirs.utcoffset() != when.utcoffset():
        timing += f" ({lead_time} their time)"
    text = (
        f"{action} {lead.name} {timing}: {why}. "
        f"{step.p_response:.0%} chance of a reply at this hour on {step.channel.value}."
    )
    if step.status == "unknown":
        text = (
            f"Check whether {lead.name} got the {step.channel.value} due {at}: the send was "
            f"cut short, so it may have gone; it is never sent again by itself."
        )
    return TodayStep(
        step_id=step.id,
        lead_id=lead.id,
        lead_name=lead.name,
        channel=step.channel.value,
        intent=step.intent,
        due_at=step.due_at,
        at=at,
        lead_time=lead_time,
        overdue=overdue,
        p_response=step.p_response,
        why=why,
        text=text,
        status=step.status.value,
        outcome=step.outcome,
        lead_zone=lead.timezone,
    )
