from __future__ import annotations

from edge.analysis import Analysis
from sync.records import Channel, EventType, PlanStatus, Vertical
from tests.edge.intel import open_device
from tests.factories import HOUR_MS, NOW_MS, event


async def test_analysis_has_every_part(device):
    a = await device.analyze("lead-000003")
    assert isinstance(a, Analysis)
    assert a.language == "en" and a.name == "Lead 3"
    assert a.vertical.vertical is Vertical.COMMERCIAL
    assert a.profile.vertical is Vertical.COMMERCIAL
    assert a.recommendations and a.recommendations[0].vertical is Vertical.COMMERCIAL
    assert a.plan.lead_id == "lead-000003" and not a.plan_stored
    assert 0 <= a.behaviour.p_convert <= 1
    # A proposal is not stored; the profile is (once).
    assert await device.plan("lead-000003") is None
    assert (await device.get("profile", a.profile.id)) == a.profile


async def test_cache_hits_until_a_new_event_for_that_lead(device):
    first = await device.analyze("lead-000001")
    other = await device.analyze("lead-000003")
    assert await device.analyze("lead-000001") is first
    assert device.cache_stats().hits == 1 and device.cache_stats().misses == 2
    await device.put(
        [
            event(
                950,
                lead_id="lead-000001",
                type=EventType.SHOWING_BOOKED,
                listing_id="lst-000004",
                dwell_s=None,
                ts=NOW_MS - HOUR_MS,
            )
        ]
    )
    again = await device.analyze("lead-000001")
    assert again is not first and again.behaviour.events == first.behaviour.events + 1
    assert await device.analyze("lead-000003") is other  # other leads stay cached
    stats = device.cache_stats()
    assert (stats.hits, stats.misses, stats.hit_rate) == (2, 3, 0.4)


async def test_a_cached_analysis_older_than_its_max_age_is_computed_again(tmp_path):
    from edge.analysis import MAX_AGE_MS

    now = [NOW_MS]
    rt = await open_device(tmp_path / "aged.db", clock=lambda: now[0])
    try:
        first = await rt.analyze("lead-000001")
        now[0] += MAX_AGE_MS - 1
        assert await rt.analyze("lead-000001") is first  # nothing changed, still fresh
        now[0] += 1
        later = await rt.analyze("lead-000001")
        assert later is not first and later.computed_at == NOW_MS + MAX_AGE_MS
        assert rt.cache_stats().hits == 1
    finally:
        await rt.close()


async def test_a_stored_plan_is_the_one_analysis_shows(device):
    plan = await device.plan_interventions("lead-000002")
    a = await device.analyze("lead-000002")
    assert a.plan_stored and a.plan.id == plan.id and a.plan.status is PlanStatus.ACTIVE
    assert a.behaviour.events == 0 and a.recommendations  # no events, still suggestions


async def test_profile_is_rewritten_only_when_it_changes(device):
    await device.analyze("lead-000001")
    n = len(await device._store.pending_outbox())
    device._analyst.invalidate()
    await device.analyze("lead-000001")
    assert len(await device._store.pending_outbox()) == n
    await device.put(
        [
            event(
                951,
                lead_id="lead-000001",
                type=EventType.MESSAGE_IN,
                channel=Channel.SMS,
                listing_id=None,
                dwell_s=None,
                ts=NOW_MS - HOUR_MS,
                text="Necesito un garage",
            )
        ]
    )
    a = await device.analyze("lead-000001")
    assert "garage" in a.profile.must_haves
    profiles = [c for c in await device._store.pending_outbox() if c.entity == "profile"]
    assert len(profiles) == 2
