"""A privacy erasure leaves nothing: every table and every byte of every data file is searched.

The world: two leads with names, e-mails, phones, messages and voice-note transcripts, on two
phones (real :class:`EdgeRuntime` files) synced through a real server on loopback (SQLite, then
PostgreSQL), whose team replica has analysed both. The phones hold a conflict about the erased
lead (its two phone numbers), a plan with drafted messages, a quarantined change and
acknowledged outbox entries. One phone erases the lead and syncs; the other phone, before it
syncs, dictates one more note about the lead (pushed before the erasure is pulled: the server
must erase it as it arrives); then it syncs and the server's replica catches up.

Then every table of every SQLite file, every table of the server's PostgreSQL schema, and the
raw bytes of every file under the data folders (databases, WALs, replicas, registry) are
searched: not one identifier or text of the erased lead is left, and every one of the other
lead's is still found, so the search is shown able to fail.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import psycopg
import pytest

from edge.runtime import EdgeRuntime
from server.retrain import training_set
from server.storage import open_store
from sync.codec import Format, encode_batch
from sync.records import Channel, Event, EventType
from tests.factories import HOUR_MS, NOW_MS, agent, lead, listing
from tests.live_server import ENGINES

A = "/api/v1/advanced"
GONE = "lead-gone"
KEPT = "lead-kept"

#: What identifies the lead to erase, or is its text: none of it may survive.
ERASED = {
    "name": "Zephyrine Quuxworth",
    "first name": "Zephyrine",
    "email": "zephyrine.q@erasure-test.example",
    "phone": "+1 415 555 0199",
    "phone (edited on phone a)": "+1 415 555 0177",
    "phone (edited on phone b)": "+1 415 555 0188",
    "message": "Quuxworth-message: we want the loft with the blue door",
    "voice note": "Quuxworth-voice: call back after six about the blue loft",
    "voice note on phone b": "Quuxworth-voice-b: she asked about schools in Ballard",
    "quarantined edit": "zq-quarantined@erasure-test.example",
    "written offline after the erasure": "Quuxworth-late: dictated on phone b before it synced",
}
#: The other lead's: all of it must still be found.
KEPT_TEXTS = {
    "name": "Barnaby Keepwell",
    "email": "barnaby.k@keep-test.example",
    "phone": "+1 206 555 0142",
    "message": "Keepwell-message: is the garden house still available",
    "voice note": "Keepwell-voice: prefers mornings, pre-approved",
}


def world() -> list:
    records: list = [agent(1), listing(1), listing(2)]
    for lead_id, texts, n in ((GONE, ERASED, 1), (KEPT, KEPT_TEXTS, 2)):
        records.append(
            lead(
                n,
                id=lead_id,
                name=texts["name"],
                email=texts["email"],
                phone=texts["phone"],
                language="en",
                locale="en_US",
                timezone="America/Los_Angeles",
                country="US",
            )
        )
        for i in range(4):
            records.append(
                Event(
                    id=f"ev-{lead_id}-view-{i}",
                    lead_id=lead_id,
                    type=EventType.PROPERTY_VIEW,
                    ts=NOW_MS - (i + 5) * HOUR_MS,
                    listing_id="lst-000001",
                    dwell_s=40.0,
                )
            )
        records.append(
            Event(
                id=f"ev-{lead_id}-msg",
                lead_id=lead_id,
                type=EventType.MESSAGE_IN,
                ts=NOW_MS - 2 * HOUR_MS,
                channel=Channel.SMS,
                text=texts["message"],
                language="en",
            )
        )
        records.append(
            Event(
                id=f"ev-{lead_id}-voice",
                lead_id=lead_id,
                type=EventType.VOICE_NOTE,
                ts=NOW_MS - HOUR_MS,
                text=texts["voice note"],
                language="en",
                duration_s=12.0,
            )
        )
    return records


def sqlite_values(path: Path) -> list[bytes]:
    """Every value of every table of an SQLite file, as bytes (read through SQL)."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        out = []
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                out += [v if isinstance(v, bytes) else str(v).encode() for v in row]
        return out
    finally:
        conn.close()


def postgres_values(url: str) -> list[bytes]:
    """Every value of every table of the server's PostgreSQL schema, as bytes."""
    out: list[bytes] = []
    with psycopg.connect(url) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
            )
        ]
        assert "records" in tables and "change_log" in tables
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                out += [
                    bytes(v) if isinstance(v, bytes | memoryview) else str(v).encode() for v in row
                ]
    return out


def found(texts: dict[str, str], haystacks: list[bytes]) -> dict[str, str]:
    return {k: v for k, v in texts.items() if any(v.encode() in h for h in haystacks)}


async def edit_offline(rt: EdgeRuntime, phone_number: str) -> None:
    await rt.update("lead", GONE, phone=phone_number)


@pytest.mark.parametrize("server_engine", ENGINES)
async def test_an_erased_lead_leaves_nothing_anywhere(tmp_path, server, server_engine, request):
    token = server.token(role="team_admin")  # the export below needs a team admin
    devices = tmp_path / "devices"
    a = await EdgeRuntime.open(devices / "a.db")
    b = await EdgeRuntime.open(devices / "b.db")
    headers = {"authorization": f"Bearer {token}"}
    try:
        await a.ingest(encode_batch(world(), Format.MSGPACK))
        assert (await a.sync(server.url, token)).status == "ok"
        assert (await b.sync(server.url, token)).status == "ok"
        # Both phones edit the lead's phone offline: a conflict, logged on server and phone.
        await edit_offline(a, ERASED["phone (edited on phone a)"])
        await edit_offline(b, ERASED["phone (edited on phone b)"])
        await b.record_event(GONE, "voice_note", text=ERASED["voice note on phone b"])
        await b.record_event(KEPT, "voice_note", text=KEPT_TEXTS["voice note"] + " (b)")
        for rt in (a, b):
            await rt.profile(GONE)
            await rt.profile(KEPT)
        await b.plan_interventions(GONE)  # steps with drafted messages that name the lead
        await b.plan_interventions(KEPT)
        await a.analyze(GONE)  # an analysis cached in memory
        for rt in (a, b, a):
            assert (await rt.sync(server.url, token)).status == "ok"
        assert await b.conflicts() + await a.conflicts() > 0
        # A change the server refused, kept aside on phone b (quarantine).
        await b.update("lead", GONE, email=ERASED["quarantined edit"])
        pending = await b.pending_changes(10)
        await b.quarantine([c.seq for c in pending], "schema_version: refused")
        assert await b.quarantined() == 1
        # The team's replica on the server analyses both leads.
        async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=60) as http:
            for lead_id in (GONE, KEPT):
                answer = await http.post(f"{A}/analyze/comprehensive", json={"lead_id": lead_id})
                assert answer.status_code == 200, answer.text
            export = (await http.get(f"{A}/privacy/leads/{GONE}/export")).json()
            assert export["lead"]["name"] == ERASED["name"]

        # The erasure, on phone a; then a syncs, b syncs, the replica catches up.
        await a.delete("lead", GONE, hard_erase=True)
        assert a.cache_stats().entries == 0
        assert (await a.sync(server.url, token)).status == "ok"
        # Phone b, not synced yet, dictates one more note about the lead: its sync pushes it
        # (the server erases it as it arrives) before it pulls the erasure.
        await b.record_event(GONE, "voice_note", text=ERASED["written offline after the erasure"])
        assert (await b.sync(server.url, token)).status == "ok"
        assert (await b.sync(server.url, token)).status == "ok"
        async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=60) as http:
            gone = await http.post(f"{A}/analyze/comprehensive", json={"lead_id": GONE})
            assert gone.status_code == 404
            kept = await http.post(f"{A}/analyze/comprehensive", json={"lead_id": KEPT})
            assert kept.status_code == 200
            assert (await http.get(f"{A}/privacy/leads/{GONE}/export")).status_code == 404

        # The search, while every database is still open (WAL files and all).
        values: list[bytes] = []
        files = [p for p in tmp_path.rglob("*") if p.is_file()]
        for path in files:
            if path.read_bytes()[:16] == b"SQLite format 3\x00":
                values += sqlite_values(path)
        if server_engine == "postgresql":
            values += postgres_values(request.getfixturevalue("postgres_url"))
            async with open_store(request.getfixturevalue("postgres_url")) as store:
                data = await training_set(store, b"k" * 32, NOW_MS)
        else:
            async with open_store(tmp_path / "server.db") as store:
                data = await training_set(store, b"k" * 32, NOW_MS)
        replicas = [p for p in files if "replicas" in str(p.parent) and p.suffix == ".db"]
        assert replicas, "the server's team replica has a database"
        raw = [path.read_bytes() for path in files]
        assert found(ERASED, values) == {}, "left in a table"
        left = {
            str(path.relative_to(tmp_path)): sorted(found(ERASED, [data]))
            for path, data in zip(files, raw, strict=True)
            if found(ERASED, [data])
        }
        assert left == {}, "left in the bytes of a file"
        assert found(KEPT_TEXTS, values) == KEPT_TEXTS  # the search can find what is there
        assert found(KEPT_TEXTS, raw) == KEPT_TEXTS
        # and the next training set has the kept lead alone, with its events
        assert len(data.leads) == 1 and data.events
        assert {e.lead_id for e in data.events} == {data.leads[0].id}
    finally:
        await a.close()
        await b.close()
