"""A small hand-built device for the behaviour, personalization, plan and analysis tests."""

from __future__ import annotations

from edge.runtime import EdgeRuntime
from sync.records import (
    Channel,
    Consent,
    EventType,
    ListingStatus,
    Location,
    PropertyType,
    Vertical,
)
from tests.factories import HOUR_MS, NOW_MS, agent, event, lead, listing

#: 10:00 on Monday 2025-11-24 in Los Angeles (lead-000002's zone): contact hours.
OPEN_MS = NOW_MS + 2 * HOUR_MS

AREAS = ("Fremont", "Ballard", "Wallingford", "Capitol Hill", "Queen Anne")


def residential(i: int, **kw):
    area = AREAS[i % len(AREAS)]
    fields = dict(
        price=400_000.0 + 10_000 * i,
        beds=2 + i % 3,
        baths=1.0 + (i % 2),
        location=Location(
            city="Seattle", neighborhood=area, lat=47.6 + i * 0.002, lon=-122.35 + i * 0.001
        ),
        features=["garden", "pool"] if i % 4 == 0 else ["garage"],
    )
    fields.update(kw)
    return listing(i, **fields)


def records() -> list:
    """Agent, 40 listings (sold 38, off-market 39, commercial 30-37), three leads.

    lead-000001 (es, no call consent): views listings 1-8 and saves 4 and 8, two replies.
    lead-000002 (en): no events. lead-000003 (en): views commercial listings, asks a cap rate.
    """
    out: list = [agent(1)]
    for i in range(1, 30):
        out.append(residential(i))
    for i in range(30, 38):
        out.append(
            listing(
                i,
                price=1_500_000.0 + 1000 * i,
                beds=0,
                baths=1.0,
                sqft=5000.0,
                property_type=PropertyType.OFFICE,
                vertical=Vertical.COMMERCIAL,
                cap_rate=0.06,
                noi=90_000.0,
                zoning="C-2",
                features=["parking"],
                location=Location(city="Seattle", neighborhood="SoDo", lat=47.58, lon=-122.33),
            )
        )
    out.append(residential(38, status=ListingStatus.SOLD))
    out.append(residential(39, status=ListingStatus.OFF_MARKET))
    out.append(lead(1))
    out.append(
        lead(
            2,
            language="en",
            locale="en_US",
            timezone="America/Los_Angeles",
            country="US",
            consent=Consent.granted(),
        )
    )
    out.append(lead(3, language="en", locale="en_US", timezone="America/Los_Angeles", country="US"))
    n = 0

    def ev(lead_id: str, **kw) -> None:
        nonlocal n
        n += 1
        out.append(event(n, lead_id=lead_id, **kw))

    for i in range(1, 9):
        ev("lead-000001", listing_id=f"lst-{i:06d}", ts=NOW_MS - (40 - i) * 6 * HOUR_MS)
    for i in (4, 8):
        ev(
            "lead-000001",
            type=EventType.PROPERTY_SAVE,
            listing_id=f"lst-{i:06d}",
            ts=NOW_MS - (30 - i) * 5 * HOUR_MS,
            dwell_s=None,
        )
    ev(
        "lead-000001",
        type=EventType.MESSAGE_OUT,
        channel=Channel.SMS,
        listing_id=None,
        dwell_s=None,
        ts=NOW_MS - 80 * HOUR_MS,
        text="¿Le gustaría ver la casa?",
    )
    ev(
        "lead-000001",
        type=EventType.MESSAGE_IN,
        channel=Channel.SMS,
        listing_id=None,
        dwell_s=None,
        ts=NOW_MS - 79 * HOUR_MS,
        text="Sí, me interesa mucho, con piscina",
    )
    for i in range(30, 36):
        ev("lead-000003", listing_id=f"lst-{i:06d}", ts=NOW_MS - (50 - i) * 3 * HOUR_MS)
    ev(
        "lead-000003",
        type=EventType.INQUIRY,
        listing_id="lst-000031",
        dwell_s=None,
        ts=NOW_MS - 10 * HOUR_MS,
        text="What is the cap rate and the zoning?",
    )
    return out


async def open_device(path, recs: list | None = None, clock=lambda: NOW_MS) -> EdgeRuntime:
    rt = await EdgeRuntime.open(path, clock=clock)
    await rt.put(records() if recs is None else recs)
    return rt
