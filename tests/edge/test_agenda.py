"""The lead list, today's outreach in words, and the names an agent types (issue 17, item 6)."""

from __future__ import annotations

import datetime as dt

import pytest

from edge.agenda import end_of_day_ms, local_zone, parse_channel, parse_intent
from edge.culture import Intent
from edge.errors import CultureError
from sync.records import Channel
from tests.factories import NOW_MS


async def test_leads_are_listed_most_recently_active_first(device):
    leads = await device.lead_list()
    assert [x.id for x in leads] == ["lead-000003", "lead-000001", "lead-000002"]
    assert leads[0].last_activity == NOW_MS - 10 * 3_600_000 and leads[0].events > 0
    assert (leads[2].last_activity, leads[2].last_activity_type, leads[2].events) == (None, None, 0)
    assert all(x.p_convert is None for x in leads)
    scored = await device.lead_list(scores=True)
    assert all(0.0 <= (x.p_convert or 0.0) <= 1.0 for x in scored)
    assert {x.p_convert for x in scored} != {None}


async def test_today_says_who_which_channel_when_and_why(device):
    plan = await device.plan_interventions("lead-000002")
    first = plan.steps[0]
    await device.update("intervention_step", first.id, channel="email", due_at=NOW_MS - 300_000)
    await device.update("intervention_step", plan.steps[1].id, due_at=NOW_MS + 86_400_000 * 3)
    steps = await device.today("America/New_York")
    assert [s.step_id for s in steps] == [first.id]
    step = steps[0]
    assert step.overdue and step.at == "10:55" and step.lead_time.startswith("07:55 America/")
    assert step.text.startswith("Email Lead 2 now (due 10:55) (07:55 America/Los_Angeles their")
    assert step.why in step.text and "chance of a reply" in step.text
    assert "_" not in step.why


async def test_nothing_is_due_on_a_device_without_plans(device):
    assert await device.today("UTC") == []


def test_the_end_of_the_day_is_the_agents_midnight():
    zone = local_zone("Asia/Tokyo")
    end = dt.datetime.fromtimestamp(end_of_day_ms(NOW_MS, zone) / 1000, zone)
    assert (end.day, end.hour, end.minute) == (26, 0, 0)  # NOW_MS is 01:00 on the 25th there
    assert isinstance(local_zone(None), dt.tzinfo)


def test_intents_and_channels_are_parsed_or_refused_with_the_valid_values():
    assert parse_intent("price_change") is Intent.PRICE_CHANGE
    assert parse_channel("whatsapp") is Channel.WHATSAPP
    with pytest.raises(CultureError, match="unknown intent 'hello'; one of: first_contact, "):
        parse_intent("hello")
    with pytest.raises(CultureError, match="unknown channel 'fax'; one of: call, sms, email, wh"):
        parse_channel("fax")
    with pytest.raises(CultureError, match="'web' cannot carry outreach; one of: call, sms"):
        parse_channel("web")
    with pytest.raises(CultureError, match="unknown time zone 'Mars/Olympus'"):
        local_zone("Mars/Olympus")
