"""The Today screen driven through its real buttons under Xvfb (issue 14, item 7): the due steps
by lead name, channel, the lead's time and why; Send goes through the phone's channel (on this
desktop plyer has no SMS facade, so the step becomes a task and the screen says so), Done, Skip,
Snooze, and every refusal said in words with nothing sent.

The steps are made with the real planner on leads of the session's generated device, each lead
put in a time zone where it is now day (or night, for quiet hours) so the test holds at any hour.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest

from edge.channels.base import Delivery, DeliveryStatus
from edge.culture.contact import holiday_name
from sync.records import Consent, InterventionStep, StepStatus
from tests.device_db import device_rows, device_value
from tests.mobile_client.conftest import pump
from tests.mobile_client.test_client import idle, tap, visible_text

pytestmark = pytest.mark.timeout(180)

#: Zones across the day, with a country each (for its holidays).
ZONES = (
    ("Pacific/Honolulu", "US"),
    ("America/Los_Angeles", "US"),
    ("America/Chicago", "US"),
    ("America/New_York", "US"),
    ("America/Sao_Paulo", "BR"),
    ("Europe/London", "GB"),
    ("Europe/Paris", "FR"),
    ("Europe/Athens", "GR"),
    ("Asia/Dubai", "AE"),
    ("Asia/Kolkata", "IN"),
    ("Asia/Bangkok", "TH"),
    ("Asia/Shanghai", "CN"),
    ("Asia/Tokyo", "JP"),
    ("Australia/Sydney", "AU"),
    ("Pacific/Auckland", "NZ"),
)
DAY = range(10, 18)  # local hours well inside 08:00-21:00
NIGHT = range(1, 6)


def zone_where(hours: range) -> tuple[str, str]:
    """A zone where the local hour is now in ``hours`` and today is no public holiday."""
    now = dt.datetime.now(dt.UTC)
    for zone, country in ZONES:
        local = now.astimezone(ZoneInfo(zone))
        if local.hour in hours and holiday_name(country, local.date()) is None:
            return zone, country
    raise AssertionError(f"no zone in {ZONES} is at {hours} now ({now})")


def leads_free_to_contact(client) -> list[str]:
    """Leads (not the one the other tests use) without an opt-out and not contacted in the
    last 25 hours, so no cap applies before the test's own outreach (no generated lead has
    the weekly cap's three outreaches in a week)."""
    rt = client.bridge.runtime
    since = rt.now_ms() - 25 * 3_600_000
    rows = device_rows(
        rt,
        "SELECT id FROM leads WHERE id NOT IN (SELECT lead_id FROM events "
        "WHERE type = 'opt_out' OR (type IN ('message_out', 'call_out') AND ts > ?)) "
        "ORDER BY id",
        (since,),
    )
    return [r[0] for r in rows if r[0] != client.current_lead]


def due_step(
    client, lead_id: str, hours: range = DAY, *, fire: bool = True, channel: str = "sms"
) -> tuple[str, str]:
    """Plan ``lead_id`` with the real planner, the lead somewhere it is now ``hours``, with
    consent; its first step on ``channel``. With ``fire`` the step was due 5 minutes ago and
    the scheduler's run has made it a task (``due``), as after its hour on the phone; else it
    is ``pending``, due in 2 minutes (no job fires it during the test). (step id, name)"""
    rt = client.bridge.runtime
    zone, country = zone_where(hours)

    async def make() -> tuple[str, str]:
        lead = await rt.update(
            "lead",
            lead_id,
            timezone=zone,
            country=country,
            consent=Consent.granted(),
            status="active",
        )
        plan = await rt.plan_interventions(lead_id)
        assert plan.steps, plan.reason
        step = plan.steps[0]
        due = rt.now_ms() + (-5 if fire else 2) * 60_000
        await rt.update("intervention_step", step.id, channel=channel, due_at=due)
        if fire:
            await rt.run_due()
            fired = await rt.get(InterventionStep, step.id)
            assert fired.status is StepStatus.DUE, fired
        return step.id, lead.name

    return client.bridge.wait(make())


def open_today(client):
    screen = client.screens["today"]
    tap(screen.reload if client.manager.current == "today" else client.tabs["today"])
    idle(client)
    pump(lambda: True)
    return screen


def stored(client, step_id: str):
    rt = client.bridge.runtime
    return client.bridge.wait(rt.get("intervention_step", step_id))


def outreach_events(client, step_id: str) -> int:
    rt = client.bridge.runtime
    event_id = f"ev-{step_id}"[:64]
    return int(device_value(rt, "SELECT count(*) FROM events WHERE id = ?", (event_id,)))


@pytest.fixture(scope="module")
def leads(client) -> list[str]:
    free = leads_free_to_contact(client)
    assert len(free) >= 6, free
    return free


def test_today_lists_steps_by_name_channel_the_leads_time_and_why(client, leads):
    step_id, name = due_step(client, leads[0])
    screen = open_today(client)
    assert step_id in [s.step_id for s in screen.steps]
    step = next(s for s in screen.steps if s.step_id == step_id)
    card = screen.card(step_id)
    theirs = step.lead_time.split(" ")[0]
    city = step.lead_zone.rsplit("/", 1)[-1].replace("_", " ")
    assert card.title.plain.startswith(f"{name} · SMS · due {theirs} {city} time"), card.title.plain
    assert card.about.plain.startswith(f"Why: {step.why} · ")
    assert [b.label for b in card.buttons.values()] == ["Send", "Done", "Skip", "Snooze"]
    text = visible_text(screen)
    assert not re.search(r"\blead-\d+|\bplan-[0-9a-f]+", text), "an id is shown"
    assert not re.search(r"\b[a-z]+_[a-z_]+\b", text), re.findall(r"\b[a-z]+_[a-z_]+\b", text)
    assert screen.summary.plain.startswith(f"{len(screen.steps)} steps today · ")


def test_send_on_a_desktop_becomes_a_task_said_on_screen_then_done_by_hand(client, leads):
    step_id, name = due_step(client, leads[0])
    screen = open_today(client)
    tap(screen.card(step_id).buttons["send"])
    idle(client)
    said = screen.message.plain
    assert said.startswith("Not sent: this platform has no sms facade"), said
    assert "by hand, then tap Done" in said and "Sent" not in said
    assert stored(client, step_id).status is StepStatus.DUE  # a task, not a success
    assert outreach_events(client, step_id) == 0
    pump(lambda: True)
    card = screen.card(step_id)  # still listed, saying why it waits
    assert "Waiting for you: this platform has no sms facade" in card.about.plain
    tap(card.buttons["done"])
    idle(client)
    assert screen.message.plain == f"Recorded: you reached {name} by SMS."
    assert stored(client, step_id).status is StepStatus.DONE
    assert outreach_events(client, step_id) == 1
    assert step_id not in [s.step_id for s in screen.steps]


def test_a_lead_contacted_today_is_refused_by_the_cap_in_words(client, leads):
    step_id, name = due_step(client, leads[0], fire=False)  # reached by hand above
    screen = open_today(client)
    tap(screen.card(step_id).buttons["send"])
    idle(client)
    said = screen.message.plain
    assert said.startswith(f"{name}: Not sent: {name} was contacted too recently"), said
    assert " It may go from " in said
    assert stored(client, step_id).status is StepStatus.PENDING
    client.bridge.wait(client.bridge.runtime.skip_step(step_id))  # no job fires it later
    assert outreach_events(client, step_id) == 0


def test_an_opted_out_lead_is_refused_in_words_and_nothing_is_sent(client, leads):
    rt = client.bridge.runtime
    step_id, name = due_step(client, leads[1])
    client.bridge.wait(rt.record_event(leads[1], "opt_out", channel="sms", text="STOP"))
    screen = open_today(client)
    tap(screen.card(step_id).buttons["send"])
    idle(client)
    assert screen.message.plain == f"{name}: Not sent: {name} opted out of SMS."
    assert stored(client, step_id).status is StepStatus.DUE
    assert outreach_events(client, step_id) == 0


def test_quiet_hours_in_the_leads_zone_are_refused_in_words(client, leads):
    step_id, name = due_step(client, leads[2], hours=NIGHT, fire=False)
    screen = open_today(client)
    card = screen.card(step_id)
    assert re.search(r" · 0\d:\d\d ", card.title.plain), card.title.plain  # their night
    tap(card.buttons["send"])
    idle(client)
    said = screen.message.plain
    assert said.startswith(f"{name}: Not sent: it is outside {name}'s contact hours "), said
    assert re.search(r"It may go from \w{3} \d\d \w{3} 0[78]:\d\d [\w ]+ time\.$", said), said
    assert outreach_events(client, step_id) == 0
    client.bridge.wait(client.bridge.runtime.skip_step(step_id))


def test_a_step_closed_elsewhere_meanwhile_is_refused_as_no_longer_open(client, leads):
    rt = client.bridge.runtime
    step_id, name = due_step(client, leads[3])
    screen = open_today(client)
    card = screen.card(step_id)
    client.bridge.wait(rt.skip_step(step_id))  # another tap, another screen: it is closed
    tap(card.buttons["send"])
    idle(client)
    assert screen.message.plain.startswith(f"{name}: Not sent: this step is no longer open")
    assert stored(client, step_id).status is StepStatus.SKIPPED


def test_skip_and_snooze_by_tap(client, leads):
    rt = client.bridge.runtime
    step_id, name = due_step(client, leads[4])
    screen = open_today(client)
    tap(screen.card(step_id).buttons["snooze"])
    idle(client)
    snoozed = stored(client, step_id)
    now = rt.now_ms()
    assert now + 55 * 60_000 < snoozed.due_at <= now + 60 * 60_000
    assert screen.message.plain.startswith(f"Snoozed: {name} comes back at ")
    assert snoozed.status is StepStatus.DUE  # still a task, an hour later
    if step_id in [s.step_id for s in screen.steps]:  # still today (not near midnight)
        assert not next(s for s in screen.steps if s.step_id == step_id).overdue
    tap(screen.card(step_id).buttons["skip"])
    idle(client)
    assert screen.message.plain == f"Skipped: nothing goes to {name} for this step."
    assert stored(client, step_id).status is StepStatus.SKIPPED
    assert step_id not in [s.step_id for s in screen.steps]
    assert outreach_events(client, step_id) == 0


class CutShort:
    """A channel whose answer never came back (a stand-in for a provider, not ours)."""

    async def send(self, step, message) -> Delivery:
        return Delivery(
            status=DeliveryStatus.UNKNOWN,
            channel=step.channel,
            detail="the connection dropped after the request went out",
        )


def test_an_unknown_send_is_shown_to_check_and_settled_by_tap(client, leads):
    rt = client.bridge.runtime
    step_id, name = due_step(client, leads[5])
    assert client.bridge.wait(rt.execute_step(step_id, CutShort())).status is StepStatus.UNKNOWN
    screen = open_today(client)
    card = screen.card(step_id)
    assert card.about.plain.startswith(f"Check whether {name} got it")
    assert card.title.plain.startswith(f"{name} · SMS · was due ")
    assert list(card.buttons) == ["reached", "not_reached"]
    assert "1 to check" in screen.summary.plain
    tap(card.buttons["reached"])
    idle(client)
    assert screen.message.plain == f"Settled: {name} got it."
    assert stored(client, step_id).status is StepStatus.SENT
    assert outreach_events(client, step_id) == 1
