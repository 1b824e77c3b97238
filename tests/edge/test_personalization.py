from __future__ import annotations

import sqlite3

import pytest

import edge.store
from edge.culture import Intent
from edge.errors import StoreError
from edge.personalization import RecommendContext, StyleContext, adapt_style
from sync.records import (
    Channel,
    Consent,
    Formality,
    MessageLength,
    Profile,
    PropertyType,
    Vertical,
)
from tests.edge.intel import open_device, records


async def test_profile_is_learned_from_behaviour_and_stored_with_its_outbox_change(device):
    p = await device.create_profile("lead-000001")
    # Viewed 410k-480k, saved 440k and 480k.
    assert p.price_min is not None and p.price_max is not None
    assert p.price_min <= 440_000 and p.price_max >= 480_000 and p.price_max < 700_000
    assert p.property_types == [PropertyType.HOUSE]
    assert p.vertical is Vertical.RESIDENTIAL
    assert p.language == "es"
    assert "pool" in p.must_haves  # both saved listings have one
    assert p.preferred_channel is not Channel.CALL  # no call consent
    assert set(p.areas) <= {"Fremont", "Ballard", "Wallingford", "Capitol Hill", "Queen Anne"}
    stored = await device.get("profile", p.id)
    assert stored == p
    pending = [c for c in await device._store.pending_outbox() if c.entity == "profile"]
    assert [c.entity_id for c in pending] == [p.id]


async def test_conversation_history_adds_must_haves(device):
    p = await device.create_profile("lead-000002", conversation_history=["We need a garage"])
    assert p.must_haves == ["garage"]
    assert p.price_min is None  # no behaviour to learn a band from


async def test_recommendations_skip_seen_sold_and_off_market_and_explain(device):
    p = await device.create_profile("lead-000001")
    recs = await device.recommend(p, k=10)
    ids = [r.listing_id for r in recs]
    assert len(ids) == 10 == len(set(ids))
    seen = {f"lst-{i:06d}" for i in range(1, 9)}
    assert not seen & set(ids)
    assert "lst-000038" not in ids and "lst-000039" not in ids  # sold, off-market
    assert [r.rank for r in recs] == list(range(1, 11))
    assert all(r.reasons for r in recs)
    assert len({r.area for r in recs[:5]}) >= 3  # diversity across areas
    everything = {r.listing_id for r in await device.recommend(p, k=100)}
    assert len(everything) == 39 - 8 - 2  # every listing but the seen, sold and off-market
    assert not everything & (seen | {"lst-000038", "lst-000039"})
    with_seen = await device.recommend(p, RecommendContext(include_seen=True), k=40)
    assert seen & {r.listing_id for r in with_seen}
    cheap = await device.recommend(p, RecommendContext(max_price=450_000), k=5)
    assert all(r.price <= 450_000 for r in cheap)


async def test_commercial_recommendations_name_cap_rate_noi_and_zoning(device):
    p = await device.create_profile("lead-000003")
    assert p.vertical is Vertical.COMMERCIAL
    recs = await device.recommend(p, k=2)
    assert recs[0].vertical is Vertical.COMMERCIAL
    assert any("cap rate 6.0%" in r and "zoned C-2" in r for r in recs[0].reasons)


async def test_an_empty_listing_table_gives_no_recommendations(tmp_path):
    recs = [r for r in records() if r.__struct_config__.tag != "event"]
    recs = [r for r in recs if r.__struct_config__.tag != "listing"]
    rt = await open_device(tmp_path / "empty.db", recs)
    try:
        p = await rt.create_profile("lead-000001")
        assert await rt.recommend(p, k=10) == []
        assert (await rt.analyze("lead-000001")).recommendations == []
    finally:
        await rt.close()


def test_style_follows_the_profile_consent_and_intent():
    p = Profile(
        id="p1",
        lead_id="l1",
        language="es",
        formality=Formality.CASUAL,
        message_length=MessageLength.LONG,
        preferred_channel=Channel.CALL,
    )
    plain = adapt_style(p)
    assert (plain.formality, plain.length, plain.channel, plain.language) == (
        Formality.CASUAL,
        MessageLength.LONG,
        Channel.CALL,
        "es",
    )
    no_call = adapt_style(
        p, StyleContext(consent=Consent(call=False, sms=True, email=True, whatsapp=True))
    )
    assert no_call.channel is Channel.SMS and "no consent for call" in no_call.reason
    first = adapt_style(p, StyleContext(intent=Intent.FIRST_CONTACT))
    assert first.formality is Formality.FORMAL  # Spanish: usted at first contact
    reminder = adapt_style(p, StyleContext(intent=Intent.SHOWING_REMINDER))
    assert reminder.length is MessageLength.SHORT
    nothing = adapt_style(
        p, StyleContext(consent=Consent(call=False, sms=False, email=False, whatsapp=False))
    )
    assert nothing.channel is Channel.IN_PERSON
    unknown = adapt_style(p, StyleContext(consent=Consent()))  # opt-in: unknown is not granted
    assert unknown.channel is Channel.IN_PERSON and "no consent for call" in unknown.reason


async def test_a_full_disk_is_a_store_error_and_loses_nothing(device, monkeypatch):
    before = (await device._store.fetchone("SELECT count(*) FROM outbox"))[0]

    def write_then_disk_full(conn, statements, erasures=()):
        for sql, rows in statements:  # the rows are written inside the transaction...
            conn.executemany(sql, rows)
        raise sqlite3.OperationalError("database or disk is full")  # ...then the disk fills

    monkeypatch.setattr(edge.store, "_write_and_commit", write_then_disk_full)
    with pytest.raises(StoreError, match="nothing was written: database or disk is full"):
        await device.create_profile("lead-000001")
    monkeypatch.undo()
    assert (await device._store.fetchone("SELECT count(*) FROM outbox"))[0] == before
    assert await device._store.fetchone("SELECT 1 FROM profiles") is None
    assert (await device.predict_behaviour("lead-000001")).events == 12  # nothing lost
    assert (await device.create_profile("lead-000001")).lead_id == "lead-000001"


async def test_explicit_property_interactions_replace_the_stored_history(device):
    from sync.records import EventType
    from tests.factories import NOW_MS, event

    commercial = [
        event(
            990 + i,
            lead_id="lead-000002",
            type=EventType.PROPERTY_SAVE,
            listing_id=f"lst-{30 + i:06d}",
            ts=NOW_MS - (i + 1) * 3_600_000,
        )
        for i in range(4)
    ]
    p = await device.create_profile("lead-000002", property_interactions=commercial)
    assert p.vertical is Vertical.COMMERCIAL
    assert p.property_types == [PropertyType.OFFICE]
    assert p.must_haves == ["parking"]
    assert p.price_min is not None and p.price_min >= 1_000_000
