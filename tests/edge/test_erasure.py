"""A hard erase on the device purges every trace of the lead; acknowledged changes are pruned."""

from __future__ import annotations

import msgspec
import pytest

from edge.rows import record_fields
from edge.store import OUTBOX_RETENTION_MS, EdgeStore
from sync.changes import Change, Tombstone
from sync.merge import EntityState
from sync.records import Event, EventType
from tests.factories import NOW_MS, agent, event, lead, listing

OTHER = "dev-other"
SECRET = "Ottoline Vexbridge said the basement floods"


def hlc(wall: int, counter: int = 0, node: str = OTHER) -> str:
    return f"{wall:015d}-{counter:06d}-{node}"


def change(record, wall: int, seq: int, **only) -> Change:
    """A change from another phone writing ``record`` (or only the fields ``only``)."""
    return Change(
        entity=record.__struct_config__.tag,
        entity_id=record.id,
        fields=only or record_fields(record),
        hlc=hlc(wall, seq),
        device_id=OTHER,
        seq=seq,
    )


async def file_bytes(store: EdgeStore) -> bytes:
    return b"".join(
        p.read_bytes() for p in store.path.parent.iterdir() if p.name.startswith(store.path.name)
    )


@pytest.mark.parametrize("erase", [True, False])
async def test_an_erased_lead_leaves_no_byte_in_the_file(tmp_path, erase):
    """The control deletes the same rows with SQLite's defaults (no secure_delete, no VACUUM):
    the byte search then finds the name, so it can fail."""
    store = await EdgeStore.open(tmp_path / "d.db")
    try:
        text = SECRET * 20
        await store.put([agent(1), listing(1), lead(1, name="Ottoline Vexbridge"), lead(2)])
        await store.put([event(i, text=text, type=EventType.MESSAGE_IN) for i in range(1, 40)])
        if erase:
            async with store.transaction() as tx:
                tx.tombstone("lead", "lead-000001", hard_erase=True)
        else:
            await store._db.execute("PRAGMA secure_delete = OFF")
            await store._db.execute("DELETE FROM leads WHERE id = 'lead-000001'")
            await store._db.fetchall("PRAGMA wal_checkpoint(TRUNCATE)")
        assert not await store.fetchall("SELECT id FROM events WHERE lead_id = 'lead-000001'")
        found = b"Ottoline Vexbridge" in await file_bytes(store)
        assert found is not erase
        assert b"lead2@example.com" in await file_bytes(store)  # the other lead is still there
    finally:
        await store.close()


async def test_a_pulled_erase_purges_every_form_a_child_takes_on_the_device(tmp_path):
    store = await EdgeStore.open(tmp_path / "d.db")
    try:
        await store.put([agent(1), listing(1)])
        gone, kept = lead(1, name="Ottoline Vexbridge"), lead(2)
        shown = event(1, text=SECRET)
        deleted = event(2, text=SECRET + " (deleted)")
        remote = [
            change(gone, NOW_MS, 1),
            change(kept, NOW_MS, 2),
            change(shown, NOW_MS, 3),
            change(deleted, NOW_MS, 4),
        ]
        remote.append(
            Tombstone(
                entity="event", entity_id=deleted.id, hlc=hlc(NOW_MS, 5), device_id=OTHER, seq=5
            )
        )
        await store.apply_remote(remote, 5)
        # Local writes: one acknowledged and folded into sync_entities, one still unsent.
        mine = Event(
            id="ev-local-1",
            lead_id=gone.id,
            type=EventType.VOICE_NOTE,
            ts=NOW_MS,
            text=SECRET + " (local, pruned)",
        )
        await store.put([mine])
        sent = [c.seq for c in await store.outbox_to_push()]
        await store.mark_sent(sent)
        assert await store.prune_outbox(0) == len(sent)
        await store.put(
            [
                Event(
                    id="ev-local-2",
                    lead_id=gone.id,
                    type=EventType.VOICE_NOTE,
                    ts=NOW_MS,
                    text=SECRET + " (local, unsent)",
                )
            ]
        )
        # A conflict about the lead: a local edit, and an older remote one from another phone.
        await store.update("lead", gone.id, {"phone": "+1 555 0100"})
        await store.apply_remote([change(gone, NOW_MS + 1, 6, phone="+1 555 0199")], 6)
        assert (await store.fetchone("SELECT count(*) FROM sync_conflicts"))[0] == 1

        stone = Tombstone(
            entity="lead",
            entity_id=gone.id,
            hlc=hlc(NOW_MS + 2, 7),
            device_id=OTHER,
            seq=7,
            hard_erase=True,
        )
        await store.apply_remote([stone], 7)

        assert store.take_erased() == {gone.id}
        keys = {
            ("lead", gone.id),
            ("event", shown.id),
            ("event", deleted.id),
            ("event", "ev-local-1"),
            ("event", "ev-local-2"),
        }
        rows = await store.fetchall("SELECT entity, entity_id, state, pending FROM sync_entities")
        states = {(r[0], r[1]): msgspec.msgpack.decode(r[2], type=EntityState) for r in rows}
        for key in keys:
            assert states[key] == EntityState(deleted_hlc=stone.hlc, erased=True), key
        assert states[("lead", kept.id)].fields  # the other lead's state is untouched
        outbox = await store.fetchall("SELECT entity_id FROM outbox")
        assert {r[0] for r in outbox} & {k[1] for k in keys} == set()
        assert (await store.fetchone("SELECT count(*) FROM sync_conflicts"))[0] == 0
        assert (await store.fetchone("SELECT count(*) FROM events"))[0] == 0
        assert SECRET.encode() not in await file_bytes(store)
        assert b"Ottoline" not in await file_bytes(store)
        # A late write to an erased child changes nothing.
        await store.apply_remote([change(shown, NOW_MS + 3, 8)], 8)
        assert (await store.fetchone("SELECT count(*) FROM events"))[0] == 0
    finally:
        await store.close()


async def test_a_local_erase_keeps_only_the_erase_until_the_server_has_it(tmp_path):
    store = await EdgeStore.open(tmp_path / "d.db")
    try:
        await store.put([agent(1), listing(1), lead(1), event(1, text=SECRET)])
        async with store.transaction() as tx:
            tx.tombstone("lead", "lead-000001", hard_erase=True)
        left = [c for c in await store.outbox_to_push() if c.entity in ("lead", "event")]
        assert [(type(c), c.entity_id) for c in left] == [(Tombstone, "lead-000001")]
        assert left[0].hard_erase
    finally:
        await store.close()


class Clock:
    def __init__(self, now: int):
        self.now = now

    def __call__(self) -> int:
        return self.now


async def test_acknowledged_changes_are_pruned_after_the_retention_and_not_before(tmp_path):
    clock = Clock(NOW_MS)
    store = await EdgeStore.open(tmp_path / "d.db", clock=clock)
    try:
        await store.put([agent(1), listing(1), lead(1)])
        acked = [c.seq for c in await store.outbox_to_push()]
        await store.mark_sent(acked)  # at NOW_MS
        await store.put([lead(2)])
        await store.put([lead(3)])
        refused = [c.seq for c in await store.outbox_to_push()][-1:]
        await store.quarantine(refused, "schema_version: refused")
        clock.now = NOW_MS + OUTBOX_RETENTION_MS - 1
        assert await store.prune_outbox() == 0
        clock.now = NOW_MS + OUTBOX_RETENTION_MS
        assert await store.prune_outbox() == len(acked)
        left = await store.fetchall("SELECT entity_id, sent_at, quarantined_at FROM outbox")
        assert [tuple(r) for r in left] == [
            ("lead-000002", None, None),
            ("lead-000003", None, NOW_MS),
        ]  # unsent and quarantined entries are never pruned
        assert await store.prune_outbox(0) == 0
    finally:
        await store.close()


@pytest.mark.parametrize("fold", [True, False])
async def test_pruning_keeps_what_the_pruned_changes_said(tmp_path, fold):
    """A pruned change still counts when a later remote change is merged (its fields kept);
    deleting the entries without folding them (the control) loses the record's fields."""
    store = await EdgeStore.open(tmp_path / "d.db")
    try:
        mine = lead(1, name="Local Name")
        await store.put([agent(1), listing(1), mine])
        await store.mark_sent([c.seq for c in await store.outbox_to_push()])
        if fold:
            await store.prune_outbox(0)
        else:
            await store._update_outbox("DELETE FROM outbox", (), [1, 2, 3])
        later = store.now_ms() + 1000
        await store.apply_remote([change(mine, later, 1, status="active")], 1)
        row = await store.fetchone("SELECT name, status FROM leads WHERE id = ?", (mine.id,))
        if fold:
            assert tuple(row) == ("Local Name", "active")
        else:
            assert tuple(row) != ("Local Name", "active")
    finally:
        await store.close()
