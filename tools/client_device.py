"""A generated device for the Kivy client (``realty-edge app`` without ``--device``).

The client imports only ``EdgeRuntime``; the synthetic world is made here, in the tools.

The device's present lies right after its events, as a training row's cutoff does: the world is
generated :data:`LOOKAHEAD_DAYS` past this hour and the device gets only what had happened by
this hour (leads created by then, their events until then, their status as of then). A world
that simply ends now leaves most leads quiet for weeks (their histories wind down before the
world's end), and the behaviour model then scores nearly all of them under 1 %.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from edge.runtime import EdgeRuntime
from models.synthetic import generate_world, this_hour_ms
from sync.codec import Format, encode_batch
from sync.records import EventType, Lead, LeadStatus, Listing, ListingStatus, Record

DAY_MS = 86_400_000
#: How far the generated world runs past the device's present (the training cutoffs' horizon).
LOOKAHEAD_DAYS = 45
#: Leads quiet this long at the present are lost (the generator's own rule).
LOST_AFTER_DAYS = 45


def world_as_of(present_ms: int, *, leads: int, listings: int, seed: int) -> list[Record]:
    """Agents, listings, ``leads`` leads and their events as they stood at ``present_ms``."""
    world = generate_world(
        agents=1,
        leads=2 * leads + 10,
        listings=listings,
        seed=seed,
        now_ms=present_ms + LOOKAHEAD_DAYS * DAY_MS,
    )
    kept = [lead for lead in world.leads if lead.created_at <= present_ms][:leads]
    ids = {lead.id for lead in kept}
    events = [e for e in world.events if e.lead_id in ids and e.ts <= present_ms]
    last: dict[str, int] = {}
    closed: set[str] = set()
    for e in events:
        last[e.lead_id] = max(last.get(e.lead_id, 0), e.ts)
        if e.type == EventType.DEAL_CLOSED:
            closed.add(e.lead_id)
    leads_now = [
        _lead_as_of(lead, last.get(lead.id), lead.id in closed, present_ms) for lead in kept
    ]
    listings_now = [
        _listing_as_of(li, present_ms) for li in world.listings if li.listed_at <= present_ms
    ]
    return [*world.agents, *listings_now, *leads_now, *events]


def _lead_as_of(lead: Lead, last: int | None, closed: bool, present_ms: int) -> Lead:
    if closed:
        status = LeadStatus.CONVERTED
    elif last is None:
        status = LeadStatus.NEW
    elif last < present_ms - LOST_AFTER_DAYS * DAY_MS:
        status = LeadStatus.LOST
    else:
        status = LeadStatus.ACTIVE
    return msgspec.structs.replace(lead, status=status, updated_at=max(lead.created_at, last or 0))


def _listing_as_of(listing: Listing, present_ms: int) -> Listing:
    if listing.updated_at <= present_ms:
        return listing
    status = ListingStatus.ACTIVE if listing.status == ListingStatus.SOLD else listing.status
    return msgspec.structs.replace(listing, status=status, updated_at=listing.listed_at)


async def generate_device(
    path: Path, *, leads: int, listings: int, seed: int, plan: bool = False
) -> int:
    """Create a device database at ``path`` holding one agent's generated world as of this
    hour; leads ingested. With ``plan``, outreach is planned for every lead (the Today screen
    then has steps; closed leads get empty plans)."""
    batch = encode_batch(
        world_as_of(this_hour_ms(), leads=leads, listings=listings, seed=seed), Format.MSGPACK
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    async with await EdgeRuntime.open(path) as rt:
        await rt.ingest(batch)
        if plan:
            for lead in await rt.leads():
                await rt.plan_interventions(lead.id)
        return (await rt.counts()).leads
