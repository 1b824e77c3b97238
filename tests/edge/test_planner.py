from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import msgspec

from edge.planner import MIN_GAP_H
from sync.records import (
    Channel,
    Consent,
    EventType,
    PlanStatus,
    StepStatus,
)
from tests.edge.intel import open_device
from tests.factories import HOUR_MS, NOW_MS, event

INTRUSIVE = {Channel.CALL, Channel.SMS, Channel.WHATSAPP}


def local(ts: int, zone: str) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts / 1000, ZoneInfo(zone))


async def test_plan_respects_consent_quiet_hours_holidays_and_caps(device):
    plan = await device.plan_interventions("lead-000002")  # US lead, all channels, LA time
    assert plan.status is PlanStatus.ACTIVE
    assert 1 <= len(plan.steps) <= 3
    dues = [s.due_at for s in plan.steps]
    assert dues == sorted(dues) and all(d > NOW_MS for d in dues)
    assert all(b - a >= MIN_GAP_H * HOUR_MS for a, b in itertools.pairwise(dues))
    for s in plan.steps:
        when = local(s.due_at, "America/Los_Angeles")
        assert 8 <= when.hour < 21, when
        if s.channel in INTRUSIVE:
            assert when.date() != dt.date(2025, 11, 27), "Thanksgiving is a quiet day"
        assert s.message and s.language == "en" and 0 < s.p_response < 1
        assert s.intent == "first_contact" if s.seq == 0 else True
    stored = await device.plan("lead-000002")
    assert stored == plan
    outbox = {c.entity for c in await device._store.pending_outbox()}
    assert {"intervention_plan", "intervention_step"} <= outbox

    es = await device.plan_interventions("lead-000001")  # no call consent, Mexico City
    assert es.steps and all(s.channel is not Channel.CALL for s in es.steps)
    assert all(s.language == "es" for s in es.steps)
    assert "call (no consent)" in es.reason


async def test_every_channel_opted_out_gives_an_empty_plan_with_the_reason(device):
    await device.update(
        "lead", "lead-000002", consent=Consent(call=False, sms=False, email=False, whatsapp=False)
    )
    plan = await device.plan_interventions("lead-000002")
    assert plan.steps == [] and plan.status is PlanStatus.CANCELLED
    assert plan.reason.startswith("every channel is blocked")
    assert "sms: no consent" in plan.reason
    assert await device.plan("lead-000002") is None  # an empty plan is never active


async def test_an_opt_out_event_blocks_contact(device):
    await device.put(
        [
            event(
                900,
                lead_id="lead-000003",
                type=EventType.OPT_OUT,
                listing_id=None,
                dwell_s=None,
                ts=NOW_MS - HOUR_MS,
            )
        ]
    )
    plan = await device.plan_interventions("lead-000003")
    assert plan.steps == [] and "opted out of all contact" in plan.reason


async def test_a_new_plan_supersedes_the_active_one(device):
    first = await device.plan_interventions("lead-000002")
    second = await device.plan_interventions("lead-000002")
    old = await device.get("intervention_plan", first.id)
    assert old.status is PlanStatus.CANCELLED
    for s in first.steps:
        assert (await device.get("intervention_step", s.id)).status is StepStatus.CANCELLED
    assert (await device.plan("lead-000002")).id == second.id


async def test_run_due_fires_a_task_reschedules_missed_and_pauses_on_reply(tmp_path):
    now = {"t": NOW_MS}
    rt = await open_device(tmp_path / "d.db", clock=lambda: now["t"])
    try:
        plan = await rt.plan_interventions("lead-000002")
        first = plan.steps[0]
        now["t"] = first.due_at + 10 * 60_000  # ten minutes late: still runs
        report = await rt.run_due()
        assert [t.step_id for t in report.fired] == [first.id]
        task = report.fired[0]
        assert task.kind in ("call", "text", "whatsapp message", "email draft")
        assert task.message == first.message and task.lead_name == "Lead 2"
        assert (await rt.get("intervention_step", first.id)).status is StepStatus.DUE
        assert [t.step_id for t in await rt.due_tasks()] == [first.id]
        outreach = await rt.complete_step(first.id)
        assert outreach.type in (EventType.CALL_OUT, EventType.MESSAGE_OUT)
        assert (await rt.get("intervention_step", first.id)).status is StepStatus.DONE

        second = plan.steps[1]
        now["t"] = second.due_at + 3 * HOUR_MS  # missed by 3 h: moves to the next allowed hour
        report = await rt.run_due()
        assert report.fired == [] and report.rescheduled == 1
        moved = await rt.get("intervention_step", second.id)
        assert moved.due_at >= now["t"] and moved.status is StepStatus.PENDING
        if moved.channel in INTRUSIVE:
            assert 8 <= local(moved.due_at, "America/Los_Angeles").hour < 21

        await rt.put(
            [
                event(
                    901,
                    lead_id="lead-000002",
                    type=EventType.MESSAGE_IN,
                    channel=Channel.SMS,
                    listing_id=None,
                    dwell_s=None,
                    ts=now["t"] - 60_000,
                    text="Yes, call me",
                )
            ]
        )
        now["t"] = max(s.due_at for s in plan.steps) + 3 * HOUR_MS
        report = await rt.run_due()
        assert report.paused_plans == [plan.id] and report.fired == []
        assert (await rt.get("intervention_plan", plan.id)).status is PlanStatus.PAUSED
        assert await rt.plan("lead-000002") is None
    finally:
        await rt.close()


async def test_steps_survive_a_restart_and_the_scheduler_rebuilds_its_jobs(tmp_path):
    rt = await open_device(tmp_path / "d.db")
    plan = await rt.plan_interventions("lead-000002")
    await rt.close()  # the process is killed with steps pending

    rt = await open_device(tmp_path / "d.db", recs=[])
    try:
        scheduler = await rt.start_scheduler()
        assert sorted(scheduler.jobs()) == sorted(s.id for s in plan.steps)
        again = await rt.plan_interventions("lead-000002")  # rescheduled with the new plan
        assert sorted(scheduler.jobs()) == sorted(s.id for s in again.steps)
    finally:
        await rt.close()  # shuts the scheduler down


async def test_the_outcome_of_a_step_feeds_the_next_plan(tmp_path):
    now = {"t": NOW_MS}
    rt = await open_device(tmp_path / "d.db", clock=lambda: now["t"])
    try:
        plan = await rt.plan_interventions("lead-000002")
        now["t"] = plan.steps[0].due_at
        await rt.run_due()
        done = await rt.complete_step(plan.steps[0].id)
        nxt = await rt.plan_interventions("lead-000002")
        assert nxt.steps[0].intent != "first_contact"  # the lead has been contacted now
        assert all(s.due_at - done.ts >= MIN_GAP_H * HOUR_MS for s in nxt.steps)
        features = (await rt._analyst.snapshot("lead-000002")).cols
        assert len(features) == 1
    finally:
        await rt.close()


def test_plan_records_round_trip():
    from sync.records import InterventionPlan

    plan = InterventionPlan(id="p", lead_id="l", created_at=1)
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(plan), type=InterventionPlan) == plan


def test_next_allowed_moves_intrusive_channels_out_of_quiet_hours_and_holidays():
    from edge.planner import next_allowed
    from tests.factories import lead

    la = lead(9, timezone="America/Los_Angeles", country="US")
    late = int(
        dt.datetime(2025, 11, 24, 23, 30, tzinfo=ZoneInfo("America/Los_Angeles")).timestamp() * 1000
    )
    sms = local(next_allowed(la, Channel.SMS, late), "America/Los_Angeles")
    assert (sms.date(), sms.hour) == (dt.date(2025, 11, 25), 8)
    assert local(next_allowed(la, Channel.EMAIL, late), "America/Los_Angeles").hour == 0
    eve = int(
        dt.datetime(2025, 11, 26, 22, 0, tzinfo=ZoneInfo("America/Los_Angeles")).timestamp() * 1000
    )
    call = local(next_allowed(la, Channel.CALL, eve), "America/Los_Angeles")
    assert (call.date(), call.hour) == (dt.date(2025, 11, 28), 8)  # Thanksgiving skipped
