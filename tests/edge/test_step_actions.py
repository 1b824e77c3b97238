"""What the agent does with a step on the Today screen, through ``EdgeRuntime``: send it through
the phone's channel, skip it, snooze it, settle an unknown send (issue 14, item 7)."""

from __future__ import annotations

import pytest

from edge.channels.base import DeliveryStatus
from edge.channels.phone import PhoneChannel
from edge.errors import OutreachRefusedError
from sync.records import Channel, EventType, StepStatus
from tests.edge.test_outreach import OPEN_MS, Recorder, a_step, refused
from tests.factories import HOUR_MS


async def test_the_default_channel_on_a_desktop_is_a_task_said_so_never_a_success(phone):
    step = await a_step(phone, Channel.SMS)
    done = await phone.execute_step(step.id)  # the phone's own apps: none here
    assert done.status is StepStatus.DUE
    assert done.delivery.status == "manual" and "by hand" in done.delivery.detail
    assert done.event is None
    today = await phone.today("UTC")
    assert [(s.step_id, s.status) for s in today] == [(step.id, "due")]
    assert "no sms facade" in today[0].outcome
    assert (await phone.complete_step(step.id)).type is EventType.MESSAGE_OUT


async def test_an_email_composer_that_cannot_open_is_a_task_not_unknown(phone):
    class NoOpener:
        def send(self, **kw):
            raise FileNotFoundError(2, "No such file or directory", "xdg-open")

    step = await a_step(phone, Channel.EMAIL)
    done = await phone.execute_step(step.id, PhoneChannel({"email": NoOpener()}))
    assert done.status is StepStatus.DUE
    assert "could not open an e-mail composer" in done.delivery.detail


async def test_skip_closes_an_open_step_unsent_and_refuses_a_closed_one(phone):
    step = await a_step(phone)
    skipped = await phone.skip_step(step.id)
    assert skipped.status is StepStatus.SKIPPED and skipped.outcome == "skipped by the agent"
    assert await phone.today("UTC") == []
    assert (await refused(phone.skip_step(step.id))).reason == "not_pending"
    assert (await refused(phone.execute_step(step.id, Recorder()))).reason == "not_pending"
    assert (await refused(phone.snooze_step(step.id))).reason == "not_pending"


async def test_snooze_moves_the_step_later_keeps_its_status_and_the_scheduler_follows(phone):
    step = await a_step(phone)
    scheduler = await phone.start_scheduler()
    phone.now["t"] = OPEN_MS + 60_000  # the step is overdue: it fired and waits as a task
    await scheduler._tick()
    assert (await phone.get("intervention_step", step.id)).status is StepStatus.DUE
    snoozed = await phone.snooze_step(step.id, 90)
    assert snoozed.status is StepStatus.DUE and snoozed.due_at == OPEN_MS + 60_000 + 90 * 60_000
    [today] = await phone.today("UTC")
    assert not today.overdue
    other = await a_step(phone, plan_id="plan-u", lead_id="lead-000001")
    pending = await phone.snooze_step(other.id, 30)
    assert pending.status is StepStatus.PENDING and other.id in scheduler.jobs()
    with pytest.raises(ValueError, match="at least one minute"):
        await phone.snooze_step(other.id, 0)


async def test_snooze_and_skip_ignore_quiet_hours_but_send_does_not(phone):
    step = await a_step(phone)
    phone.now["t"] = OPEN_MS + 12 * HOUR_MS  # 22:00 in Los Angeles
    assert (await refused(phone.execute_step(step.id, Recorder()))).reason == "quiet_hours"
    assert (await phone.snooze_step(step.id, 60)).status is StepStatus.PENDING


async def test_an_unknown_send_is_listed_and_settled_by_the_agent(phone):
    step = await a_step(phone)
    done = await phone.execute_step(step.id, Recorder(DeliveryStatus.UNKNOWN))
    assert done.status is StepStatus.UNKNOWN
    phone.now["t"] = OPEN_MS + 3 * 24 * HOUR_MS  # days later it is still shown
    [today] = await phone.today("UTC")
    assert today.status == "unknown" and today.text.startswith("Check whether Lead 2 got")
    settled = await phone.resolve_step(step.id, reached=True)
    assert settled.status is StepStatus.SENT
    assert await phone.today("UTC") == []
    with pytest.raises(OutreachRefusedError):
        await phone.resolve_step(step.id, reached=False)
