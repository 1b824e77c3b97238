"""The device store: migrations, single-transaction writes, the outbox beside every change."""

from __future__ import annotations

import sqlite3

import pytest

from edge import migrations
from edge.errors import NotFoundError, SchemaVersionError, StoreError
from edge.store import EdgeStore, open_sync
from sync.changes import Change, Tombstone
from sync.clock import Hlc
from tests.factories import NOW_MS, event, every_record_type, lead, small_world


def tables(path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        conn.close()


async def test_open_creates_every_table_with_wal_and_foreign_keys(tmp_path):
    path = tmp_path / "d.db"
    store = await EdgeStore.open(path)
    try:
        assert (await store.fetchone("PRAGMA journal_mode"))[0] == "wal"
        assert (await store.fetchone("PRAGMA foreign_keys"))[0] == 1
    finally:
        await store.close()
    expected = {
        "settings",
        "agents",
        "leads",
        "listings",
        "events",
        "profiles",
        "intervention_plans",
        "intervention_steps",
        "outbox",
        "_sqlite_migrations",
    }
    assert expected <= tables(path)
    assert not {"messages", "model_versions"} & tables(path)  # dropped by m006: never written


async def test_device_id_is_created_once_and_kept(tmp_path):
    path = tmp_path / "d.db"
    async with await EdgeStore.open(path) as a:
        first = a.device_id
    async with await EdgeStore.open(path) as b:
        assert b.device_id == first
    assert first.startswith("dev-")


async def test_open_without_create_refuses_a_missing_database(tmp_path):
    with pytest.raises(StoreError, match="device init"):
        await EdgeStore.open(tmp_path / "nope.db", create=False)


def test_pending_reads_without_writing(tmp_path):
    path = tmp_path / "d.db"
    conn = open_sync(path)
    assert migrations.pending(conn) == migrations.known_names()
    assert migrations.pending(conn) == migrations.known_names()
    conn.close()
    assert tables(path) == set()


def test_a_migration_that_fails_halfway_leaves_nothing_and_stays_pending(tmp_path, monkeypatch):
    path = tmp_path / "d.db"
    conn = open_sync(path)
    migrations.migrate(conn, stop_before="m006_drop_unused_tables")
    broken = migrations.Migration(
        name="m006_drop_unused_tables",
        sql="DROP TABLE messages; CREATE TABLE half (x); SELECT * FROM no_such_table;",
    )
    monkeypatch.setattr(migrations, "MIGRATIONS", (*migrations.MIGRATIONS[:-1], broken))
    with pytest.raises(sqlite3.OperationalError, match="no_such_table"):
        migrations.migrate(conn)
    conn.close()
    assert "half" not in tables(path) and "messages" in tables(path)  # rolled back whole
    conn = open_sync(path)
    assert migrations.pending(conn) == ["m006_drop_unused_tables"]
    monkeypatch.undo()
    assert migrations.migrate(conn) == ["m006_drop_unused_tables"]
    assert "messages" not in tables(path)
    conn.close()


async def test_an_older_database_is_migrated(tmp_path):
    path = tmp_path / "old.db"
    conn = open_sync(path)
    applied = migrations.migrate(conn, stop_before="m002_messages_and_models")
    assert applied == ["m001_core_tables"]
    conn.close()
    assert "messages" not in tables(path)
    conn = open_sync(path)
    migrations.migrate(conn, stop_before="m006_drop_unused_tables")
    conn.close()
    assert {"messages", "model_versions"} <= tables(path)
    async with await EdgeStore.open(path) as store:
        assert (await store.counts()).leads == 0
    assert not {"messages", "model_versions"} & tables(path)
    conn = open_sync(path)
    assert migrations.pending(conn) == []
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(migrations.known_names())
    conn.close()


async def test_a_newer_database_is_refused_clearly(tmp_path):
    path = tmp_path / "new.db"
    await (await EdgeStore.open(path)).close()
    conn = sqlite3.connect(path)
    conn.execute(
        "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) VALUES (?, ?, ?)",
        (migrations.MIGRATION_SET, "m999_from_the_future", "2030-01-01"),
    )
    conn.commit()
    conn.close()
    with pytest.raises(SchemaVersionError, match=r"newer realty-edge.*m999_from_the_future"):
        await EdgeStore.open(path)


async def test_a_file_that_is_not_sqlite_is_a_store_error(tmp_path):
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="cannot open"):
        await EdgeStore.open(path)


async def test_every_write_appends_its_change_in_sequence(fresh_store):
    records = every_record_type()
    await fresh_store.put(records)
    changes = await fresh_store.pending_outbox()
    assert [c.seq for c in changes] == list(range(1, len(records) + 1))
    assert [c.entity_id for c in changes] == [r.id for r in records]
    assert all(isinstance(c, Change) and c.device_id == fresh_store.device_id for c in changes)
    clocks = [Hlc.decode(c.hlc) for c in changes]
    assert clocks == sorted(clocks) and len(set(clocks)) == len(clocks)
    assert changes[3].fields["language"] == "es"
    assert "id" not in changes[3].fields


async def test_records_read_back_equal_what_was_written(fresh_store):
    records = every_record_type()
    await fresh_store.put(records)
    for record in records:
        kind = record.__struct_config__.tag
        stored = await fresh_store.get(kind, record.id)
        if kind == "intervention_plan":
            assert stored == type(record)(
                **{**{f: getattr(record, f) for f in record.__struct_fields__}, "steps": []}
            )
        else:
            assert stored == record


async def test_a_failed_transaction_writes_nothing_and_keeps_the_clock(fresh_store):
    await fresh_store.put(small_world(1, 1))
    before = await fresh_store.counts()
    seq_before = fresh_store._seq
    with pytest.raises(RuntimeError):
        async with fresh_store.transaction() as tx:
            tx.put(lead(2))
            raise RuntimeError("boom")
    assert await fresh_store.counts() == before
    assert fresh_store._seq == seq_before
    await fresh_store.put([lead(3)])
    assert (await fresh_store.pending_outbox())[-1].seq == seq_before + 1


async def test_a_foreign_key_violation_rolls_back_everything(fresh_store):
    await fresh_store.put(small_world(1, 1))
    before = await fresh_store.counts()
    with pytest.raises(sqlite3.IntegrityError):
        await fresh_store.put([lead(2), event(99, lead_id="lead-404404")])
    assert await fresh_store.counts() == before


async def test_upserting_a_lead_keeps_its_events(fresh_store):
    await fresh_store.put(small_world(1, 4))
    await fresh_store.put([lead(1, name="Renamed")])
    assert (await fresh_store.get_lead("lead-000001")).name == "Renamed"
    assert (await fresh_store.counts()).events == 4


async def test_sequence_and_clock_survive_reopening(tmp_path):
    path = tmp_path / "d.db"
    async with await EdgeStore.open(path, clock=lambda: NOW_MS) as store:
        await store.put(small_world(1, 2))
        last = (await store.pending_outbox())[-1]
    async with await EdgeStore.open(path, clock=lambda: NOW_MS - 60_000) as store:
        await store.put([lead(2)])
        newest = (await store.pending_outbox())[-1]
    assert newest.seq == last.seq + 1
    assert Hlc.decode(newest.hlc) > Hlc.decode(last.hlc)


async def test_tombstone_deletes_and_is_queued(fresh_store):
    await fresh_store.put(small_world(1, 2))
    async with fresh_store.transaction() as tx:
        tx.tombstone("lead", "lead-000001", hard_erase=True)
    with pytest.raises(NotFoundError, match="lead-000001"):
        await fresh_store.get_lead("lead-000001")
    assert (await fresh_store.counts()).events == 0
    stone = (await fresh_store.pending_outbox())[-1]
    assert isinstance(stone, Tombstone) and stone.hard_erase


async def test_recent_events_are_newest_first_and_limited(fresh_store):
    await fresh_store.put(small_world(1, 6))
    events = await fresh_store.recent_events("lead-000001", limit=3)
    assert [e.ts for e in events] == sorted((e.ts for e in events), reverse=True)
    assert len(events) == 3
    assert events[0].dwell_s == 42.5


async def test_integrity_check_is_ok(fresh_store):
    await fresh_store.put(small_world(2, 3))
    assert await fresh_store.integrity_check() == "ok"


async def test_a_write_transaction_is_two_hops_to_the_database_thread(fresh_store, monkeypatch):
    """BEGIN, then every statement and COMMIT in one function: not one hop per statement."""
    db = fresh_store._db
    hops = []
    real = db.run

    async def counted(fn):
        hops.append(fn)
        return await real(fn)

    monkeypatch.setattr(db, "run", counted)
    await fresh_store.put(small_world(leads=3, events_per_lead=4))
    assert len(hops) == 2
    monkeypatch.undo()
    counts = await fresh_store.counts()
    assert (counts.agents, counts.listings, counts.leads, counts.events) == (1, 2, 3, 12)
    assert len(await fresh_store.pending_outbox()) == 1 + 2 + 3 + 12
