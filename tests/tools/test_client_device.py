"""The client's generated device: its present lies right after its events, so scores spread."""

from __future__ import annotations

from sync.records import Event, Lead, LeadStatus, Listing
from tools.client_device import generate_device, world_as_of

PRESENT = 1_780_000_000_000  # 2026-05-28T20:26:40Z


def test_the_world_stops_at_the_present_with_leads_active_days_ago():
    records = world_as_of(PRESENT, leads=30, listings=300, seed=7)
    leads = [r for r in records if isinstance(r, Lead)]
    events = [r for r in records if isinstance(r, Event)]
    assert len(leads) == 30
    assert all(e.ts <= PRESENT for e in events)
    assert all(r.created_at <= PRESENT and r.updated_at <= PRESENT for r in leads)
    assert all(li.updated_at <= PRESENT for r in records if isinstance(li := r, Listing))
    last = sorted(
        max(e.ts for e in events if e.lead_id == lead.id)
        for lead in leads
        if any(e.lead_id == lead.id for e in events)
    )
    median_days = (PRESENT - last[len(last) // 2]) / 86_400_000
    assert median_days < 5, f"the median lead was last seen {median_days:.1f} days ago"
    closed = {e.lead_id for e in events if e.type == "deal_closed"}
    for lead in leads:
        assert (lead.status is LeadStatus.CONVERTED) == (lead.id in closed)


async def test_the_generated_device_scores_leads_across_a_spread(tmp_path):
    from edge.runtime import EdgeRuntime

    path = tmp_path / "device.db"
    assert await generate_device(path, leads=30, listings=300, seed=7) == 30
    async with await EdgeRuntime.open(path) as rt:
        scores = [(await rt.predict_behaviour(lead.id)).p_convert for lead in await rt.leads()]
    scores.sort()
    under_one = sum(p < 0.01 for p in scores)
    assert under_one <= 15, f"{under_one} of 30 leads under 1 %: {scores}"
    assert scores[-5] >= 0.05, f"fewer than 5 leads at 5 % or more: {scores}"
    assert len({round(p, 2) for p in scores}) >= 8, scores
