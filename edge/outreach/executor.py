"""One executor per step, never twice: the send path, the agent's own outreach, recovery.

:func:`execute_step` checks :func:`edge.outreach.rules.check_step` and moves the step from
``pending`` (or ``due``) to ``sending`` in one transaction (the check and the move under the
store's write lock, so two callers cannot both pass), commits, hands the message to the
channel, then records ``sent`` (with the outreach event), ``failed``, ``unknown`` or, when the
channel could only prepare it, ``due`` (a task for the agent, the detail says why). A step is
never moved back to ``pending``: a send is attempted at most once.

:func:`recover_sending`, run when a device opens, turns the steps this device left in
``sending`` (a crash between the channel's acceptance and the commit) into ``unknown``: the
lead may have the message, so it is shown to the agent and never sent again by itself.

:func:`skip_step` and :func:`snooze_step` are the agent putting a step aside (dropped, or later);
only a closed step (``not_pending``) refuses them.

:func:`record_inbound` is the lead's answer: a reply pauses the lead's active plan at once; an
opt-out keyword (:mod:`edge.outreach.keywords`) also revokes that channel's consent, in the same
transaction, as a synced change.
"""

from __future__ import annotations

from typing import TypeVar

import msgspec

from edge import queries
from edge.channels.base import Delivery, DeliveryStatus, OutboundMessage, Sender
from edge.errors import NotFoundError, OutreachRefusedError
from edge.outreach.keywords import is_opt_out
from edge.outreach.rules import OPEN_STATUSES, Reason, Refusal, check_step, winning_plan
from edge.rows import record_from_row
from edge.store import EdgeStore, Writer
from models.features import EventColumns, columns_from_rows
from sync.records import (
    Channel,
    Event,
    EventType,
    InterventionPlan,
    InterventionStep,
    Lead,
    PlanStatus,
    StepStatus,
)

#: What :func:`_set` patches: a step or a plan, returned as the same type.
StepOrPlan = TypeVar("StepOrPlan", InterventionStep, InterventionPlan)

_AFTER_SEND = {
    DeliveryStatus.SENT: StepStatus.SENT,
    DeliveryStatus.FAILED: StepStatus.FAILED,
    DeliveryStatus.UNKNOWN: StepStatus.UNKNOWN,
    DeliveryStatus.MANUAL: StepStatus.DUE,
}


class Execution(msgspec.Struct, frozen=True, kw_only=True):
    """What became of one step: its new status, what the channel said, the outreach event."""

    step_id: str
    status: StepStatus
    delivery: Delivery | None = None
    event: Event | None = None


class Inbound(msgspec.Struct, frozen=True, kw_only=True):
    """An inbound message recorded: its event, whether it opted out, the plans it paused."""

    lead_id: str
    event_id: str
    opted_out: bool
    paused_plans: list[str] = []


class RuleInputs(msgspec.Struct, frozen=True, kw_only=True):
    step: InterventionStep
    plan: InterventionPlan
    lead: Lead
    cols: EventColumns
    winner: str | None


async def rule_inputs(store: EdgeStore, step_id: str) -> RuleInputs:
    """What :func:`check_step` reads about one step, from the store."""
    step = await store.get(InterventionStep, step_id)
    plan = await store.get(InterventionPlan, step.plan_id)
    lead = await store.get_lead(step.lead_id)
    rows = await store.fetchall(queries.RULE_EVENTS, (lead.id,))
    winner = winning_plan(await lead_plans(store, lead.id))
    return RuleInputs(
        step=step,
        plan=plan,
        lead=lead,
        winner=winner.id if winner else None,
        cols=columns_from_rows([tuple(r) for r in rows]),
    )


async def lead_plans(store: EdgeStore, lead_id: str) -> list[InterventionPlan]:
    rows = await store.fetchall(queries.ACTIVE_PLANS_OF_LEAD, (lead_id,))
    return [record_from_row(InterventionPlan, r) for r in rows]


def refused(refusal: Refusal) -> OutreachRefusedError:
    return OutreachRefusedError(refusal.reason.value, refusal.detail, refusal.retry_at)


async def check(store: EdgeStore, step_id: str, now_ms: int, party: str | None) -> RuleInputs:
    """The rule inputs of ``step_id``; raises :class:`OutreachRefusedError` when refused."""
    ins = await rule_inputs(store, step_id)
    refusal = check_step(
        ins.lead, ins.step, ins.plan, ins.cols, now_ms, party=party, winner=ins.winner
    )
    if refusal is not None:
        raise refused(refusal)
    return ins


def outbound_message(step: InterventionStep, lead: Lead) -> OutboundMessage:
    subject = "" if step.channel is not Channel.EMAIL else step.message.split("\n", 1)[0][:78]
    return OutboundMessage(
        step_id=step.id,
        lead_id=lead.id,
        lead_name=lead.name,
        channel=step.channel,
        to=lead.address(step.channel),
        text=step.message,
        language=step.language,
        subject=subject,
    )


def _outreach_event(step: InterventionStep, now: int) -> Event:
    etype = EventType.CALL_OUT if step.channel is Channel.CALL else EventType.MESSAGE_OUT
    return Event(
        id=f"ev-{step.id}"[:64],
        updated_at=now,
        lead_id=step.lead_id,
        type=etype,
        ts=now,
        channel=step.channel,
        text=step.message or None,
        language=step.language,
    )


def _set(tx: Writer, step: StepOrPlan, now: int, **fields: object) -> StepOrPlan:
    new = msgspec.structs.replace(step, updated_at=now, **fields)
    tx.patch(new, {k: getattr(v, "value", v) for k, v in fields.items()})
    return new


async def begin_send(store: EdgeStore, step_id: str, now_ms: int | None = None) -> RuleInputs:
    """Check the rules and move the step to ``sending``, atomically; committed on return."""
    now = store.now_ms() if now_ms is None else now_ms
    async with store.transaction(now) as tx:
        ins = await check(store, step_id, now, store.device_id)
        step = _set(
            tx,
            ins.step,
            now,
            status=StepStatus.SENDING,
            sent_by=store.device_id,
            outcome=f"sending since {now} by {store.device_id}",
        )
    return msgspec.structs.replace(ins, step=step)


async def finish_send(
    store: EdgeStore, step: InterventionStep, delivery: Delivery, now_ms: int | None = None
) -> Execution:
    """Record what the channel did with a step that :func:`begin_send` moved to ``sending``.

    A provider's callback may have settled the step while the send was finishing (a failure
    right after acceptance): then its status and outcome stand, and only the outreach itself
    (the message did leave) is recorded."""
    now = store.now_ms() if now_ms is None else now_ms
    status = _AFTER_SEND[delivery.status]
    event = _outreach_event(step, now) if status is StepStatus.SENT else None
    async with store.transaction(now) as tx:
        current = await store.get(InterventionStep, step.id)
        if current.status is StepStatus.SENDING:
            _set(tx, current, now, status=status, outcome=delivery.detail[:20_000])
        else:
            status = current.status
        if event is not None:
            tx.put(event)
    return Execution(step_id=step.id, status=status, delivery=delivery, event=event)


async def deliver(sender: Sender, ins: RuleInputs) -> Delivery:
    """Hand a step (moved to ``sending``) to its channel; a channel that raises may have sent
    the request already, so that is ``unknown``, never retried."""
    try:
        return await sender.send(ins.step, outbound_message(ins.step, ins.lead))
    except Exception as exc:
        return Delivery(
            status=DeliveryStatus.UNKNOWN,
            channel=ins.step.channel,
            detail=f"the channel failed mid-send: {exc!r}",
        )


async def execute_step(
    store: EdgeStore, step_id: str, sender: Sender, now_ms: int | None = None
) -> Execution:
    """Send one step through ``sender`` at most once (see the module docstring)."""
    ins = await begin_send(store, step_id, now_ms)
    return await finish_send(store, ins.step, await deliver(sender, ins))


async def complete_step(store: EdgeStore, step_id: str, now_ms: int | None = None) -> Event:
    """The agent reached the lead by hand: the rules are checked, the outreach recorded."""
    now = store.now_ms() if now_ms is None else now_ms
    async with store.transaction(now) as tx:
        ins = await check(store, step_id, now, None)
        event = _outreach_event(ins.step, now)
        _set(tx, ins.step, now, status=StepStatus.DONE)
        tx.put(event)
    return event


async def _open_step(store: EdgeStore, step_id: str, now: int) -> InterventionStep:
    """The step, if it is still open (its status, its plan, its lead); else ``not_pending``.

    Only the rules that close a step apply: quiet hours, caps and consent do not stop the agent
    from putting a step off or dropping it.
    """
    ins = await rule_inputs(store, step_id)
    refusal = check_step(ins.lead, ins.step, ins.plan, ins.cols, now, winner=ins.winner)
    if refusal is not None and refusal.reason is Reason.NOT_PENDING:
        raise refused(refusal)
    return ins.step


async def skip_step(store: EdgeStore, step_id: str, now_ms: int | None = None) -> InterventionStep:
    """The agent drops an open step (``pending`` or ``due``): it becomes ``skipped``, unsent."""
    now = store.now_ms() if now_ms is None else now_ms
    async with store.transaction(now) as tx:
        step = await _open_step(store, step_id, now)
        return _set(tx, step, now, status=StepStatus.SKIPPED, outcome="skipped by the agent")


async def snooze_step(
    store: EdgeStore, step_id: str, until_ms: int, now_ms: int | None = None
) -> InterventionStep:
    """The agent puts an open step off until ``until_ms`` (later than now); its status stays:
    a ``pending`` step fires then (by the rules then), a ``due`` task comes back then."""
    now = store.now_ms() if now_ms is None else now_ms
    if until_ms <= now:
        raise ValueError(f"until_ms={until_ms} is not after now ({now})")
    async with store.transaction(now) as tx:
        step = await _open_step(store, step_id, now)
        outcome = f"snoozed by the agent until {until_ms}"
        return _set(tx, step, now, due_at=until_ms, outcome=outcome)


async def resolve_unknown(
    store: EdgeStore, step_id: str, reached: bool, now_ms: int | None = None
) -> InterventionStep:
    """The agent (or a delivery callback) settles an ``unknown`` step: sent or failed."""
    now = store.now_ms() if now_ms is None else now_ms
    async with store.transaction(now) as tx:
        step = await store.get(InterventionStep, step_id)
        if step.status is not StepStatus.UNKNOWN:
            raise OutreachRefusedError("not_pending", f"step {step_id!r} is {step.status}")
        if reached:
            tx.put(_outreach_event(step, now))
        status = StepStatus.SENT if reached else StepStatus.FAILED
        return _set(tx, step, now, status=status, outcome=f"{step.outcome}; settled: {status}")


async def delivery_update(
    store: EdgeStore, step_id: str, delivered: bool, detail: str, now_ms: int | None = None
) -> InterventionStep:
    """A provider's delivery callback: a failure after acceptance marks the step ``failed``;
    a delivery settles an ``unknown`` step as ``sent``. Other steps keep their status."""
    now = store.now_ms() if now_ms is None else now_ms
    step = await store.get(InterventionStep, step_id)
    if step.status is StepStatus.UNKNOWN:
        return await resolve_unknown(store, step_id, delivered, now)
    if step.status in (StepStatus.SENT, StepStatus.SENDING) and not delivered:
        async with store.transaction(now) as tx:
            return _set(tx, step, now, status=StepStatus.FAILED, outcome=detail[:20_000])
    if step.status is StepStatus.SENT:
        async with store.transaction(now) as tx:
            return _set(tx, step, now, outcome=detail[:20_000])
    return step


async def recover_sending(store: EdgeStore, now_ms: int | None = None) -> list[str]:
    """Steps this device left in ``sending`` become ``unknown`` (see the module docstring)."""
    rows = await store.fetchall(queries.SENDING_STEPS)
    steps = [record_from_row(InterventionStep, r) for r in rows]
    mine: list[InterventionStep] = [s for s in steps if s.sent_by == store.device_id]
    if not mine:
        return []
    now = store.now_ms() if now_ms is None else now_ms
    async with store.transaction(now) as tx:
        for s in mine:
            _set(
                tx,
                s,
                now,
                status=StepStatus.UNKNOWN,
                outcome=f"{s.outcome}; the sender stopped before recording the result: the "
                "lead may have the message. Check, then settle it; it is not sent again",
            )
    return [s.id for s in mine]


async def settle_plans(store: EdgeStore, now_ms: int | None = None) -> list[str]:
    """Cancel the active plans that lose to another of the same lead (see
    :func:`edge.outreach.rules.winning_plan`), with their open steps; the ids cancelled."""
    rows = await store.fetchall(queries.LEADS_WITH_RIVAL_PLANS)
    losers: list[InterventionPlan] = []
    for (lead_id,) in rows:
        plans = await lead_plans(store, lead_id)
        winner = winning_plan(plans)
        losers += [p for p in plans if winner is not None and p.id != winner.id]
    if not losers:
        return []
    now = store.now_ms() if now_ms is None else now_ms
    async with store.transaction(now) as tx:
        for plan in losers:
            _set(tx, plan, now, status=PlanStatus.CANCELLED)
            await _close_steps(store, tx, plan.id, now)
    return [p.id for p in losers]


async def _close_steps(store: EdgeStore, tx: Writer, plan_id: str, now: int) -> None:
    rows = await store.fetchall(queries.OPEN_STEPS_OF_PLAN, (plan_id,))
    for r in rows:
        _set(tx, record_from_row(InterventionStep, r), now, status=StepStatus.CANCELLED)


async def find_lead(store: EdgeStore, channel: Channel, address: str) -> Lead:
    """The lead whose address for ``channel`` is ``address`` (phones compared by digits)."""
    want = _address_key(channel, address)
    if want:
        for r in await store.fetchall(queries.ALL_LEADS):
            lead = record_from_row(Lead, r)
            if _address_key(channel, lead.address(channel)) == want:
                return lead
    raise NotFoundError(f"no lead with {channel} address {address!r} on this device")


def _address_key(channel: Channel, address: str) -> str:
    if channel is Channel.EMAIL:
        return address.strip().casefold()
    return "".join(ch for ch in address if ch.isdigit())


async def record_inbound(
    store: EdgeStore,
    lead_id: str,
    channel: Channel,
    text: str,
    now_ms: int | None = None,
    message_id: str = "",
) -> Inbound:
    """Record an inbound message; pause the lead's plans; an opt-out revokes the channel."""
    now = store.now_ms() if now_ms is None else now_ms
    lead = await store.get_lead(lead_id)
    stop = is_opt_out(text)
    key = message_id or str(now)
    etype = EventType.CALL_IN if channel is Channel.CALL else EventType.MESSAGE_IN
    reply = Event(
        id=f"in-{lead_id}-{key}"[:64],
        updated_at=now,
        lead_id=lead_id,
        type=etype,
        ts=now,
        channel=channel,
        text=text[:20_000] or None,
    )
    plans = await lead_plans(store, lead_id)
    async with store.transaction(now) as tx:
        tx.put(reply)
        if stop:
            tx.put(
                Event(
                    id=f"optout-{lead_id}-{key}"[:64],
                    updated_at=now,
                    lead_id=lead_id,
                    type=EventType.OPT_OUT,
                    ts=now,
                    channel=channel,
                    text=text[:200],
                )
            )
            revoked = msgspec.structs.replace(
                lead, consent=lead.consent.revoke(channel), updated_at=now
            )
            tx.patch(revoked, {"consent": msgspec.to_builtins(revoked.consent)})
        for plan in plans:
            why = "opted out" if stop else "the lead replied"
            _set(tx, plan, now, status=PlanStatus.PAUSED, reason=f"paused: {why} on {channel}")
            await _close_steps(store, tx, plan.id, now)
    return Inbound(
        lead_id=lead_id, event_id=reply.id, opted_out=stop, paused_plans=[p.id for p in plans]
    )


__all__ = [
    "OPEN_STATUSES",
    "Execution",
    "Inbound",
    "complete_step",
    "execute_step",
    "skip_step",
    "snooze_step",
]
