"""Ingest takes a whole batch or nothing, and says which record and field is wrong."""

from __future__ import annotations

import msgspec
import pytest

from edge.errors import IngestError
from edge.ingest import FUTURE_TOLERANCE_MS, MAX_REPORTED, SkippedRecord, ingest
from sync.codec import UTF8_BOM, Format, encode, encode_batch
from tests.factories import NOW_MS, agent, event, lead, listing, small_world


@pytest.mark.parametrize("fmt", list(Format))
async def test_a_good_batch_is_written_with_an_outbox_entry_per_record(fresh_store, fmt):
    records = small_world(leads=3, events_per_lead=4)
    report = await ingest(fresh_store, encode_batch(records, fmt))
    assert report.records == len(records) == 18
    assert report.by_kind == {"agent": 1, "listing": 2, "lead": 3, "event": 12}
    counts = await fresh_store.counts()
    assert (counts.agents, counts.listings, counts.leads, counts.events) == (1, 2, 3, 12)
    assert counts.outbox_pending == 18


async def test_events_may_come_before_their_lead_in_the_batch(fresh_store):
    records = [agent(1), listing(1), event(1), lead(1)]
    await ingest(fresh_store, encode_batch(records, Format.JSON))
    assert (await fresh_store.counts()).events == 1


async def test_a_batch_may_reference_what_the_device_already_holds(fresh_store):
    await ingest(fresh_store, encode_batch(small_world(1, 1), Format.JSON))
    await ingest(fresh_store, encode_batch([event(50), event(51)], Format.JSON))
    assert (await fresh_store.counts()).events == 3


def _line(obj: dict) -> bytes:
    return msgspec.json.encode(obj) + b"\n"


def _good_lines() -> bytes:
    return encode_batch(small_world(1, 2), Format.JSON)


BAD_RECORDS = {
    "wrong type": (
        {
            "kind": "event",
            "id": "ev-x",
            "lead_id": "lead-000001",
            "type": "property_view",
            "ts": "yesterday",
        },
        r"record 7 \(line 7\).*Expected `int`.*\$\.ts",
    ),
    "missing field": (
        {"kind": "event", "id": "ev-x", "lead_id": "lead-000001", "ts": NOW_MS},
        r"record 7.*missing required field `type`",
    ),
    "unknown event type": (
        {"kind": "event", "id": "ev-x", "lead_id": "lead-000001", "type": "teleport", "ts": NOW_MS},
        r"record 7.*\$\.type",
    ),
    "unknown kind": ({"kind": "spaceship", "id": "x"}, r"record 7.*spaceship"),
    "bad id": (
        {"kind": "lead", "id": "has space", "agent_id": "agent-01", "team_id": "t", "name": "n"},
        r"record 7.*\$\.id",
    ),
}


@pytest.mark.parametrize("bad,pattern", BAD_RECORDS.values(), ids=list(BAD_RECORDS))
async def test_a_malformed_record_refuses_the_whole_batch(fresh_store, bad, pattern):
    data = _good_lines() + _line(bad) + encode(lead(9), Format.JSON) + b"\n"
    with pytest.raises(IngestError, match=pattern):
        await ingest(fresh_store, data)
    counts = await fresh_store.counts()
    assert counts.leads == counts.events == counts.outbox_pending == 0


SEMANTIC = {
    "future timestamp": (
        [event(3, ts=NOW_MS + FUTURE_TOLERANCE_MS + 1000)],
        r"record 7 \(event 'ev-0000003'\): ts .* in the future",
        "$.ts",
    ),
    "unknown lead": (
        [event(3, lead_id="lead-999999")],
        r"record 7 .*lead_id 'lead-999999' is not a known lead",
        "$.lead_id",
    ),
    "unknown listing": (
        [event(3, listing_id="lst-424242")],
        r"listing_id 'lst-424242' is not a known listing",
        "$.listing_id",
    ),
    "unknown agent": (
        [lead(2, agent_id="agent-77")],
        r"record 7 \(lead 'lead-000002'\): agent_id 'agent-77'",
        "$.agent_id",
    ),
    "duplicate id": ([event(1)], r"record 7 .*duplicate id", "$.id"),
    "lead created in the future": (
        [lead(2, created_at=NOW_MS + FUTURE_TOLERANCE_MS * 3)],
        r"created_at .* future",
        "$.created_at",
    ),
}


@pytest.mark.parametrize("extra,pattern,field", SEMANTIC.values(), ids=list(SEMANTIC))
async def test_a_batch_that_contradicts_itself_or_the_store_is_refused(
    fresh_store, extra, pattern, field
):
    data = encode_batch(small_world(1, 2) + extra, Format.MSGPACK)
    with pytest.raises(IngestError, match=pattern) as info:
        await ingest(fresh_store, data)
    assert info.value.field == field
    assert info.value.record == 7
    assert (await fresh_store.counts()).outbox_pending == 0


async def test_a_timestamp_within_the_tolerance_is_accepted(fresh_store):
    records = [*small_world(1, 1), event(7, ts=NOW_MS + FUTURE_TOLERANCE_MS - 1)]
    await ingest(fresh_store, encode_batch(records, Format.JSON))
    assert (await fresh_store.counts()).events == 2


@pytest.mark.parametrize("data", [b"", b"\n\n  \n"])
async def test_an_empty_batch_is_refused(fresh_store, data):
    with pytest.raises(IngestError, match="no records"):
        await ingest(fresh_store, data)


async def test_bytes_that_are_no_batch_are_refused(fresh_store):
    with pytest.raises(IngestError, match="neither JSON lines nor a MessagePack array"):
        await ingest(fresh_store, b"\x00\x01garbage")


# --- idempotence, older copies, every bad record, byte-order mark (issue 17, items 3 and 4) ---


async def test_re_ingesting_the_same_batch_writes_nothing_and_queues_nothing(fresh_store):
    data = encode_batch(small_world(3, 4), Format.JSON)
    first = await ingest(fresh_store, data)
    assert (first.written, first.unchanged, first.outbox_entries) == (18, 0, 18)
    again = await ingest(fresh_store, data)
    assert (again.written, again.unchanged, again.skipped_older) == (0, 18, 0)
    assert again.outbox_entries == 0
    assert (await fresh_store.counts()).outbox_pending == 18


async def test_an_older_copy_never_overwrites_a_newer_one_and_is_reported(fresh_store):
    await ingest(fresh_store, encode_batch([*small_world(1, 0), lead(2)], Format.JSON))
    newer = [lead(1, name="Ana Newer", updated_at=NOW_MS), lead(2, name="Bo", updated_at=NOW_MS)]
    await ingest(fresh_store, encode_batch(newer, Format.JSON))
    older = [lead(1, name="Ana Older", updated_at=NOW_MS - 1), lead(2, name="Bo")]
    report = await ingest(fresh_store, encode_batch(older, Format.JSON))
    assert (report.written, report.skipped_older, report.outbox_entries) == (0, 2, 0)
    assert report.skipped[0] == SkippedRecord(
        record=1,
        kind="lead",
        id="lead-000001",
        updated_at=NOW_MS - 1,
        stored_updated_at=NOW_MS,
    )
    assert (await fresh_store.get_lead("lead-000001")).name == "Ana Newer"


async def test_a_changed_record_queues_only_its_changed_fields(fresh_store):
    await ingest(fresh_store, encode_batch(small_world(1, 0), Format.JSON))
    before = (await fresh_store.counts()).outbox_pending
    renamed = lead(1, name="Renamed", updated_at=NOW_MS)
    report = await ingest(fresh_store, encode_batch([renamed], Format.JSON))
    assert (report.written, report.unchanged) == (1, 0)
    pending = await fresh_store.pending_outbox()
    assert len(pending) == before + 1
    assert pending[-1].fields == {"name": "Renamed", "updated_at": NOW_MS}


async def test_an_export_does_not_undo_an_edit_made_on_the_device_since(fresh_store):
    world = [lead(i, updated_at=NOW_MS - 1) if i else agent(1) for i in range(3)]
    await ingest(fresh_store, encode_batch(world, Format.JSON))
    await fresh_store.update("lead", "lead-000001", {"name": "Edited on the phone"})
    report = await ingest(fresh_store, encode_batch(world, Format.JSON))
    assert (report.written, report.unchanged, report.skipped_edited) == (0, 2, 1)
    assert report.skipped[0].reason == "same_version"
    assert (await fresh_store.get_lead("lead-000001")).name == "Edited on the phone"


async def test_records_without_a_version_are_written_when_they_differ(fresh_store):
    await ingest(fresh_store, encode_batch(small_world(1, 0), Format.JSON))
    report = await ingest(fresh_store, encode_batch([lead(1, name="Renamed")], Format.JSON))
    assert (report.written, report.skipped_edited) == (1, 0)


async def test_every_bad_record_is_reported_with_its_number_and_field(fresh_store):
    bad = {"kind": "event", "id": "ev-x", "lead_id": "lead-000001", "type": "x", "ts": NOW_MS}
    data = _good_lines() + b"".join(_line({**bad, "id": f"ev-{i}"}) for i in range(60))
    with pytest.raises(IngestError) as info:
        await ingest(fresh_store, data)
    err = info.value
    assert len(err.problems) == MAX_REPORTED and err.more == 10
    assert [p.record for p in err.problems[:2]] == [7, 8]
    assert {p.field for p in err.problems} == {"$.type"}
    assert "60 bad records" in str(err) and "and 10 more" in str(err)
    assert (await fresh_store.counts()).outbox_pending == 0


async def test_semantic_problems_are_all_reported(fresh_store):
    extra = [event(3, lead_id="lead-999999"), lead(2, agent_id="agent-77")]
    with pytest.raises(IngestError) as info:
        await ingest(fresh_store, encode_batch(small_world(1, 2) + extra, Format.JSON))
    assert [(p.record, p.field) for p in info.value.problems] == [
        (7, "$.lead_id"),
        (8, "$.agent_id"),
    ]


async def test_a_utf8_byte_order_mark_is_accepted(fresh_store):
    data = UTF8_BOM + encode_batch(small_world(1, 2), Format.JSON)
    assert (await ingest(fresh_store, data)).written == 6


async def test_every_bad_record_of_a_messagepack_batch_is_reported(fresh_store):
    good = msgspec.to_builtins(small_world(1, 0))
    bad = {"kind": "lead", "id": "has space", "agent_id": "agent-01", "team_id": "t", "name": "n"}
    data = msgspec.msgpack.encode([*good, bad, {**bad, "id": "also bad"}])
    with pytest.raises(IngestError) as info:
        await ingest(fresh_store, data)
    assert [(p.record, p.field) for p in info.value.problems] == [(5, "$.id"), (6, "$.id")]
