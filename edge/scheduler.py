"""Intervention steps: stored in the device database, fired by APScheduler, after restarts too.

The ``intervention_steps`` table is the source of truth (status, due_at); APScheduler 3's
persistent job stores need SQLAlchemy, which the device does not ship, so :class:`StepScheduler`
keeps its date-triggered jobs in memory and rebuilds them from the table every time it starts.

The rule for a step missed while the phone was off (or the app was killed): when it is found
overdue by less than ``MISSED_GRACE_MS`` (2 h) and the outreach rules allow it now
(:func:`edge.outreach.rules.check_step`: consent, address, opt-out, quiet hours, holidays,
caps), it runs now; a step that no later time can allow (opted out, no consent, no address) is
skipped; otherwise it moves to the next allowed hour for its channel. A
plan whose lead has replied or booked a showing since it was made pauses instead, and its
remaining steps are cancelled. Firing a step makes it ``due``: a task for the agent (call, text
or email draft, with the drafted message) and, like every write, an outbox change. The agent
completes it with :func:`complete_step`, which records the outreach as an event that the next
plan's features read.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from edge import queries
from edge.features_sql import Reads
from edge.outreach import executor
from edge.outreach.executor import rule_inputs, settle_plans
from edge.outreach.rules import Reason, check_step
from edge.planner import MISSED_GRACE_MS, next_allowed
from edge.rows import record_from_row
from edge.store import EdgeStore
from sync.records import (
    Channel,
    Event,
    InterventionPlan,
    InterventionStep,
    Lead,
    PlanStatus,
    StepStatus,
)

log = logging.getLogger(__name__)

TASK_KIND = {
    Channel.CALL: "call",
    Channel.SMS: "text",
    Channel.WHATSAPP: "whatsapp message",
    Channel.EMAIL: "email draft",
}


class AgentTask(msgspec.Struct, frozen=True, kw_only=True):
    """A due step as the agent sees it."""

    step_id: str
    plan_id: str
    lead_id: str
    lead_name: str
    kind: str  # call, text, whatsapp message, email draft
    channel: Channel
    due_at: int
    language: str
    message: str
    #: ``due`` (do it), or ``unknown``: a send cut short, which the lead may have received;
    #: check, then settle it (never sent again by itself).
    status: StepStatus = StepStatus.DUE
    #: What the channel said (why it is a task, or what is unknown about it).
    outcome: str = ""


class RunDueReport(msgspec.Struct, frozen=True, kw_only=True):
    fired: list[AgentTask]
    rescheduled: int = 0
    cancelled: int = 0
    paused_plans: list[str] = []


async def store_plan(store: EdgeStore, plan: InterventionPlan) -> None:
    """Write a plan and its steps; the lead's earlier active plans are superseded."""
    rows = await store.fetchall(queries.OTHER_ACTIVE_PLANS, (plan.lead_id, plan.id))
    old = [record_from_row(InterventionPlan, r) for r in rows]
    steps = await _pending_steps(store, [p.id for p in old])
    async with store.transaction(plan.created_at) as tx:
        for p in old:
            tx.patch(
                msgspec.structs.replace(p, status=PlanStatus.CANCELLED, updated_at=plan.created_at),
                {"status": PlanStatus.CANCELLED.value},
            )
        for s in steps:
            tx.patch(
                msgspec.structs.replace(s, status=StepStatus.CANCELLED, updated_at=plan.created_at),
                {"status": StepStatus.CANCELLED.value},
            )
        tx.put(plan)
        for s in plan.steps:
            tx.put(s)


async def _pending_steps(store: EdgeStore, plan_ids: list[str]) -> list[InterventionStep]:
    if not plan_ids:
        return []
    rows = await store.fetchall(queries.pending_steps_of_plans(len(plan_ids)), plan_ids)
    return [record_from_row(InterventionStep, r) for r in rows]


async def load_plan(store: Reads, plan_id: str) -> InterventionPlan:
    plan = await store.get(InterventionPlan, plan_id)
    rows = await store.fetchall(queries.STEPS_OF_PLAN, (plan_id,))
    return msgspec.structs.replace(plan, steps=[record_from_row(InterventionStep, r) for r in rows])


async def active_plan(store: Reads, lead_id: str) -> InterventionPlan | None:
    rows = await store.fetchall(queries.ACTIVE_PLAN_ID, (lead_id,))
    row = rows[0] if rows else None
    return await load_plan(store, row[0]) if row else None


#: Refusals that no later time will lift: the step is cancelled or skipped, not moved.
_NEVER = frozenset({Reason.NOT_PENDING, Reason.OPTED_OUT, Reason.NO_CONSENT, Reason.NO_ADDRESS})


def _task(step: InterventionStep, lead: Lead) -> AgentTask:
    return AgentTask(
        step_id=step.id,
        plan_id=step.plan_id,
        lead_id=step.lead_id,
        lead_name=lead.name,
        kind=TASK_KIND.get(step.channel, step.channel.value),
        channel=step.channel,
        due_at=step.due_at,
        language=step.language,
        message=step.message,
        status=step.status,
        outcome=step.outcome,
    )


async def run_due(store: EdgeStore, now_ms: int | None = None) -> RunDueReport:
    """Fire every pending step due by ``now_ms`` (see the module docstring for the rules)."""
    now = store.now_ms() if now_ms is None else now_ms
    await settle_plans(store, now)  # plans made apart (offline) converge to one per lead
    rows = await store.fetchall(queries.DUE_STEPS, (now,))
    steps: list[InterventionStep] = [record_from_row(InterventionStep, r) for r in rows]
    fired: list[AgentTask] = []
    writes: list[tuple[InterventionStep | InterventionPlan, dict[str, Any]]] = []
    paused: list[str] = []
    rescheduled = cancelled = 0
    plans: dict[str, InterventionPlan] = {}
    leads: dict[str, Lead] = {}
    for step in steps:
        if step.plan_id not in plans:
            plans[step.plan_id] = await store.get(InterventionPlan, step.plan_id)
        plan = plans[step.plan_id]
        if step.lead_id not in leads:
            leads[step.lead_id] = await store.get_lead(step.lead_id)
        lead = leads[step.lead_id]
        if plan.status is PlanStatus.ACTIVE:
            why = await store.fetchone(queries.PAUSE_REASON, (lead.id, plan.created_at))
            if why is not None:
                reason = (
                    "the lead booked a showing"
                    if why[0] == "showing_booked"
                    else "the lead replied"
                )
                plan = msgspec.structs.replace(
                    plan, status=PlanStatus.PAUSED, updated_at=now, reason=f"paused: {reason}"
                )
                plans[plan.id] = plan
                writes.append((plan, {"status": plan.status.value, "reason": plan.reason}))
                paused.append(plan.id)
        if plan.status is not PlanStatus.ACTIVE:
            cancelled += 1
            writes.append(
                (
                    msgspec.structs.replace(step, status=StepStatus.CANCELLED, updated_at=now),
                    {"status": "cancelled"},
                )
            )
            continue
        ins = await rule_inputs(store, step.id)
        refusal = check_step(
            lead, step, plan, ins.cols, now, statuses=(StepStatus.PENDING,), winner=ins.winner
        )
        if refusal is not None and refusal.reason in _NEVER:
            cancelled += 1
            status = (
                StepStatus.CANCELLED
                if refusal.reason is Reason.NOT_PENDING
                else (StepStatus.SKIPPED)
            )
            writes.append(
                (
                    msgspec.structs.replace(
                        step, status=status, updated_at=now, outcome=refusal.detail
                    ),
                    {"status": status.value, "outcome": refusal.detail},
                )
            )
            continue
        if now - step.due_at > MISSED_GRACE_MS or refusal is not None:
            after = max(now, refusal.retry_at or now) if refusal is not None else now
            due = next_allowed(lead, step.channel, after)
            rescheduled += 1
            writes.append(
                (msgspec.structs.replace(step, due_at=due, updated_at=now), {"due_at": due})
            )
            continue
        done = msgspec.structs.replace(step, status=StepStatus.DUE, updated_at=now)
        writes.append((done, {"status": "due"}))
        fired.append(_task(done, lead))
    if writes:
        async with store.transaction(now) as tx:
            for record, fields in writes:
                tx.patch(record, fields)
    return RunDueReport(
        fired=fired, rescheduled=rescheduled, cancelled=cancelled, paused_plans=paused
    )


async def due_tasks(store: EdgeStore) -> list[AgentTask]:
    """Steps waiting for the agent, oldest first: tasks (``due``) and sends whose outcome is
    ``unknown`` (shown so that a person checks them; they are never sent again by themselves)."""
    rows = await store.fetchall(queries.AGENT_TASKS)
    out = []
    for r in rows:
        step = record_from_row(InterventionStep, r)
        lead = record_from_row(Lead, {"data": r["lead"]})
        out.append(_task(step, lead))
    return out


async def complete_step(store: EdgeStore, step_id: str, now_ms: int | None = None) -> Event:
    """The agent did the task by hand: the outreach rules are checked (a refused step raises
    :class:`~edge.errors.OutreachRefusedError`), then the outreach becomes an event."""
    return await executor.complete_step(store, step_id, now_ms)


class StepScheduler:
    """APScheduler date jobs for pending steps, rebuilt from the table on :meth:`start`."""

    def __init__(self, store: EdgeStore, fire: Callable[[], Awaitable[object]]):
        self.store = store
        self._fire = fire
        self._scheduler = None

    async def start(self) -> int:
        """Start, fire what is overdue by the missed-step rule, schedule the rest; jobs added."""
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        scheduler = AsyncIOScheduler(timezone=dt.UTC, event_loop=asyncio.get_running_loop())
        self._scheduler = scheduler
        scheduler.start()
        await self._fire()  # overdue steps: run or move (the missed-step rule)
        return await self.reschedule()

    async def _tick(self) -> None:
        """A job fired: run what is due, then give every pending step (moved ones too) a job."""
        await self._fire()
        await self.reschedule()

    async def reschedule(self) -> int:
        """(Re)add one date job per pending step; returns how many."""
        assert self._scheduler is not None, "start() first"
        rows = await self.store.fetchall(queries.PENDING_STEP_TIMES)
        for job in self._scheduler.get_jobs():
            job.remove()
        for step_id, due in rows:
            self._scheduler.add_job(
                self._tick,
                "date",
                id=step_id,
                replace_existing=True,
                coalesce=True,
                run_date=dt.datetime.fromtimestamp(due / 1000, dt.UTC),
                misfire_grace_time=int(MISSED_GRACE_MS / 1000),
            )
        return len(rows)

    def jobs(self) -> list[str]:
        return [j.id for j in self._scheduler.get_jobs()] if self._scheduler else []

    async def shutdown(self) -> None:
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
            await asyncio.sleep(0)  # the shutdown runs on the loop
        self._scheduler = None
