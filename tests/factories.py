"""Small hand-built records for tests (the synthetic world generator is tested on its own)."""

from __future__ import annotations

from sync.records import (
    Agent,
    Channel,
    Consent,
    Event,
    EventType,
    InterventionPlan,
    InterventionStep,
    Lead,
    Listing,
    Location,
    Profile,
    PropertyType,
    Vertical,
)

NOW_MS = 1_764_000_000_000  # 2025-11-24T16:00:00Z
HOUR_MS = 3_600_000


def agent(i: int = 1) -> Agent:
    return Agent(id=f"agent-{i:02d}", team_id="team-a", name=f"Agent {i}", languages=["en", "es"])


def listing(i: int = 1, **kw) -> Listing:
    fields = dict(
        id=f"lst-{i:06d}",
        price=450_000.0 + 1000 * i,
        beds=3,
        baths=2.0,
        sqft=1500.0,
        property_type=PropertyType.HOUSE,
        vertical=Vertical.RESIDENTIAL,
        location=Location(city="Seattle", zipcode="98103", lat=47.66, lon=-122.34),
        features=["garden"],
    )
    fields.update(kw)
    return Listing(**fields)


def lead(i: int = 1, **kw) -> Lead:
    fields = dict(
        id=f"lead-{i:06d}",
        agent_id="agent-01",
        team_id="team-a",
        name=f"Lead {i}",
        language="es",
        locale="es_MX",
        timezone="America/Mexico_City",
        country="MX",
        email=f"lead{i}@example.com",
        phone=f"+52 55 1234 {i:04d}",
        consent=Consent(call=False, sms=True, email=True, whatsapp=True),
        created_at=NOW_MS - 90 * 24 * HOUR_MS,
    )
    fields.update(kw)
    return Lead(**fields)


def event(i: int, lead_id: str = "lead-000001", **kw) -> Event:
    fields = dict(
        id=f"ev-{i:07d}",
        lead_id=lead_id,
        type=EventType.PROPERTY_VIEW,
        ts=NOW_MS - i * HOUR_MS,
        listing_id="lst-000001",
        dwell_s=42.5,
    )
    fields.update(kw)
    return Event(**fields)


def small_world(leads: int = 3, events_per_lead: int = 5) -> list:
    """An agent, two listings, leads and their events, in an order an ingest accepts."""
    records: list = [agent(1), listing(1), listing(2)]
    n = 0
    for i in range(1, leads + 1):
        records.append(lead(i))
        for _ in range(events_per_lead):
            n += 1
            records.append(event(n, lead_id=f"lead-{i:06d}"))
    return records


def every_record_type() -> list:
    step = InterventionStep(
        id="step-1",
        plan_id="plan-1",
        lead_id="lead-000001",
        seq=0,
        channel=Channel.SMS,
        due_at=NOW_MS + HOUR_MS,
        hour_of_week=58,
        language="es",
        intent="follow_up",
        message="Hola, ¿sigue buscando casa?",
        p_response=0.31,
    )
    return [
        agent(1),
        listing(1),
        listing(
            2,
            vertical=Vertical.COMMERCIAL,
            property_type=PropertyType.OFFICE,
            cap_rate=0.065,
            noi=120_000.0,
            zoning="C-2",
        ),
        lead(1),
        event(1),
        event(
            2,
            type=EventType.MESSAGE_IN,
            channel=Channel.WHATSAPP,
            text="¿Está disponible?",
            language="es",
            listing_id=None,
            dwell_s=None,
        ),
        Profile(
            id="prof-1",
            lead_id="lead-000001",
            language="es",
            price_min=300_000.0,
            price_max=600_000.0,
            areas=["Fremont"],
            property_types=[PropertyType.CONDO],
        ),
        InterventionPlan(id="plan-1", lead_id="lead-000001", created_at=NOW_MS, steps=[step]),
        step,
    ]
