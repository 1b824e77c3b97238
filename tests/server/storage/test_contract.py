"""The storage contract: every ServerStore passes these, SQLite and PostgreSQL alike.

The races run for real: two stores (two workers) on one database, their calls in threads at
the same time, a third one paging the change log while they push.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.auth import Principal
from server.config import ServerConfig
from server.service import SyncService
from server.storage import (
    DeviceRow,
    LoggedConflict,
    NewerDatabaseError,
    RevokedToken,
    ServerStore,
    ServerTx,
    StoredRecord,
    open_store,
)
from sync.changes import AnyChange, Change, ChangeBatch, Tombstone
from sync.clock import Hlc
from sync.merge import Conflict, EntityState, FieldValue
from tests.factories import NOW_MS
from tests.services import execute

TEAM = "team-a"


def hlc(device: str, ms: int = NOW_MS, counter: int = 0) -> str:
    return Hlc(ms, counter, device).encode()


def lead_change(
    i: int, *, team: str = TEAM, device: str = "phone-a", seq: int = 1, ms: int = NOW_MS, **kw
) -> Change:
    fields = {"agent_id": "agent-01", "team_id": team, "name": f"Lead {i}", **kw}
    return Change(
        entity="lead",
        entity_id=f"lead-{i:06d}",
        fields=fields,
        hlc=hlc(device, ms),
        device_id=device,
        seq=seq,
    )


def record(entity: str, entity_id: str, lead_id: str | None = None, **values) -> StoredRecord:
    state = EntityState(fields={k: FieldValue(v, hlc("phone-a")) for k, v in values.items()})
    return StoredRecord(entity=entity, entity_id=entity_id, lead_id=lead_id, state=state)


def conflict(entity_id: str, seq: int, entity: str = "lead") -> LoggedConflict:
    return LoggedConflict(
        conflict=Conflict(
            entity=entity,
            entity_id=entity_id,
            field="name",
            loser_value="old",
            loser_hlc=hlc("phone-b"),
            winner_value="new",
            winner_hlc=hlc("phone-a", NOW_MS + 1),
        ),
        device_id="phone-b",
        seq=seq,
        logged_at=NOW_MS,
    )


def worker(store: ServerStore, clock_ms: int = NOW_MS) -> SyncService:
    """What one server process runs over the shared database."""
    return SyncService(store, ServerConfig(clock=lambda: clock_ms))


def agent(team: str = TEAM) -> Principal:
    return Principal(agent="agent-01", team=team, iat=0, exp=0, jti="t")


# --- the store on its own -----------------------------------------------------------


async def test_a_new_database_is_empty(store):
    assert await store.last_seq(TEAM) == 0
    assert await store.pull(TEAM, 0, 10) == []
    assert await store.record(TEAM, ("lead", "lead-000001")) is None
    assert await store.device("phone-a") is None
    assert await store.conflicts(TEAM, 0, 10) == []
    assert await store.team_records(None, "lead") == []
    assert await store.setting("nothing") is None
    assert await store.partition_clock(TEAM) == ""


async def test_the_log_numbers_each_team_from_one_and_pages_in_order(store):
    a = [lead_change(i, seq=i) for i in range(1, 6)]
    b = [lead_change(i, team="team-b", device="phone-b", seq=i) for i in range(1, 3)]
    assert await store.write(lambda tx: tx.append_log(TEAM, a[:3])) == 3
    assert await store.write(lambda tx: (tx.append_log(TEAM, a[3:]), tx.append_log("team-b", b)))
    assert await store.last_seq(TEAM) == 5 and await store.last_seq("team-b") == 2
    assert await store.pull(TEAM, 0, 2) == [(1, a[0]), (2, a[1])]
    assert await store.pull(TEAM, 2, 10) == [(3, a[2]), (4, a[3]), (5, a[4])]
    assert await store.pull(TEAM, 5, 10) == []
    assert await store.pull("team-b", 0, 10) == [(1, b[0]), (2, b[1])]


async def test_a_write_that_raises_leaves_nothing_behind(store):
    def half_done(tx: ServerTx) -> None:
        tx.lock_partition(TEAM)
        tx.save_records(TEAM, [record("lead", "lead-000001", name="Ana")])
        tx.append_log(TEAM, [lead_change(1)])
        tx.set_partition_clock(TEAM, hlc("server"))
        tx.set_setting("mode", "half")
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        await store.write(half_done)
    assert await store.record(TEAM, ("lead", "lead-000001")) is None
    assert await store.last_seq(TEAM) == 0 and await store.pull(TEAM, 0, 10) == []
    assert await store.partition_clock(TEAM) == "" and await store.setting("mode") is None


async def test_records_round_trip_and_an_upsert_replaces_them(store):
    lead = record("lead", "lead-000001", name="Ana", budget_max=500_000)
    events = [record("event", f"ev-{i}", "lead-000001", type="call") for i in range(3)]
    other = record("lead", "lead-000001", name="Other team")
    await store.write(lambda tx: tx.save_records(TEAM, [lead, *events]))
    await store.write(lambda tx: tx.save_records("team-b", [other]))
    assert await store.record(TEAM, ("lead", "lead-000001")) == lead
    assert await store.record("team-b", ("lead", "lead-000001")) == other
    renamed = record("lead", "lead-000001", name="Ana María")
    await store.write(lambda tx: tx.save_records(TEAM, [renamed]))
    assert await store.record(TEAM, ("lead", "lead-000001")) == renamed

    def read(tx: ServerTx):
        keys = [("lead", "lead-000001"), ("event", "ev-2"), ("event", "missing")]
        return tx.records(TEAM, keys), tx.records_of_lead(TEAM, "lead-000001")

    found, of_lead = await store.write(read)
    assert found == {("lead", "lead-000001"): renamed, ("event", "ev-2"): events[2]}
    assert sorted(r.entity_id for r in of_lead) == ["ev-0", "ev-1", "ev-2"]
    assert sorted(await store.team_records(None, "lead"), key=lambda tr: tr[0]) == [
        (TEAM, renamed),
        ("team-b", other),
    ]
    assert await store.team_records("team-b", "lead") == [("team-b", other)]
    assert await store.team_records(TEAM, "listing") == []


async def test_many_keys_are_read_in_one_call(store):
    many = [record("event", f"ev-{i:05d}", "lead-000001", type="call") for i in range(1000)]
    await store.write(lambda tx: tx.save_records(TEAM, many))
    found = await store.write(lambda tx: tx.records(TEAM, [("event", r.entity_id) for r in many]))
    assert len(found) == 1000 and found[("event", "ev-00999")] == many[-1]


async def test_a_device_row_keeps_its_owner_and_first_sight(store):
    first = DeviceRow(
        device_id="phone-a",
        agent_id="agent-01",
        team_id=TEAM,
        acked_through=3,
        changes=3,
        first_seen=10,
        last_seen=10,
    )
    await store.write(lambda tx: tx.save_device(first))
    later = DeviceRow(
        device_id="phone-a",
        agent_id="someone",
        team_id="team-b",
        acked_through=9,
        changes=8,
        first_seen=99,
        last_seen=20,
    )
    await store.write(lambda tx: tx.save_device(later))
    expected = DeviceRow(
        device_id="phone-a",
        agent_id="agent-01",
        team_id=TEAM,
        acked_through=9,
        changes=8,
        first_seen=10,
        last_seen=20,
    )
    assert await store.device("phone-a") == expected
    assert await store.write(lambda tx: tx.device("phone-a")) == expected
    assert await store.write(lambda tx: tx.device("phone-z")) is None


async def test_seen_sequences_are_per_device_and_marking_twice_is_harmless(store):
    await store.write(lambda tx: tx.mark_seen(TEAM, "phone-a", list(range(1, 901))))
    await store.write(lambda tx: tx.mark_seen(TEAM, "phone-a", [900, 901]))
    seen = await store.write(lambda tx: tx.seen("phone-a", [0, 1, 450, 901, 902]))
    assert seen == {1, 450, 901}
    assert await store.write(lambda tx: tx.seen("phone-b", [1, 2])) == set()


async def test_conflicts_page_by_id_filter_by_record_and_count_by_change(store):
    logged = [conflict("lead-000001", 1), conflict("lead-000002", 2), conflict("lead-000001", 3)]
    await store.write(lambda tx: tx.add_conflicts(TEAM, logged))
    await store.write(lambda tx: tx.add_conflicts("team-b", [conflict("lead-000001", 4)]))
    page = await store.conflicts(TEAM, 0, 2)
    assert [(c.conflict.entity_id, c.seq) for c in page] == [("lead-000001", 1), ("lead-000002", 2)]
    assert page[0].id < page[1].id and page[0].conflict == logged[0].conflict
    rest = await store.conflicts(TEAM, page[-1].id, 10)
    assert [c.seq for c in rest] == [3] and rest[0].logged_at == NOW_MS
    assert [c.seq for c in await store.conflicts(TEAM, 0, 10, "lead-000001")] == [1, 3]
    assert await store.write(lambda tx: tx.count_conflicts("phone-b", [1, 3, 4, 7])) == 3


async def test_forgetting_records_drops_their_log_and_conflicts_only(store):
    changes = [lead_change(1, seq=1), lead_change(2, seq=2), lead_change(1, seq=3)]
    await store.write(lambda tx: tx.append_log(TEAM, changes))
    await store.write(
        lambda tx: tx.add_conflicts(TEAM, [conflict("lead-000001", 1), conflict("lead-000002", 2)])
    )
    await store.write(lambda tx: tx.forget(TEAM, [("lead", "lead-000001")]))
    assert await store.pull(TEAM, 0, 10) == [(2, changes[1])]
    assert [c.conflict.entity_id for c in await store.conflicts(TEAM, 0, 10)] == ["lead-000002"]
    assert await store.last_seq(TEAM) == 3  # positions are never reused


async def test_a_lead_history_holds_its_records_changes_and_conflicts(store):
    lead, ev = record("lead", "lead-000001", name="Ana"), record("event", "ev-1", "lead-000001")
    other = record("lead", "lead-000002", name="Bo")
    change_ev = Change(
        entity="event",
        entity_id="ev-1",
        fields={"lead_id": "lead-000001"},
        hlc=hlc("phone-a"),
        device_id="phone-a",
        seq=2,
    )
    changes = [lead_change(1, seq=1), change_ev, lead_change(2, seq=3)]

    def write(tx: ServerTx) -> None:
        tx.save_records(TEAM, [lead, ev, other])
        tx.append_log(TEAM, changes)
        tx.add_conflicts(TEAM, [conflict("lead-000001", 1), conflict("lead-000002", 3)])

    await store.write(write)
    records, logged, conflicts = await store.lead_history(TEAM, "lead-000001")
    assert sorted(r.entity_id for r in records) == ["ev-1", "lead-000001"]
    assert sorted(c.seq for c in logged) == [1, 2]
    assert [c.conflict.entity_id for c in conflicts] == ["lead-000001"]
    assert await store.lead_history("team-b", "lead-000001") == ([], [], [])


async def test_settings_are_upserted(store):
    await store.write(lambda tx: tx.set_setting("mode", "one"))
    await store.write(lambda tx: tx.set_setting("mode", "two"))
    assert await store.setting("mode") == "two"


async def test_a_webhook_delivery_is_new_once_and_a_rolled_back_one_is_not_kept(store):
    assert await store.write(lambda tx: tx.record_delivery("highlevel", "wh-1", TEAM, NOW_MS))
    again = await store.write(lambda tx: tx.record_delivery("highlevel", "wh-1", TEAM, NOW_MS))
    assert again is False
    # the same id from another source is another delivery
    assert await store.write(lambda tx: tx.record_delivery("other", "wh-1", TEAM, NOW_MS))

    def fails(tx: ServerTx) -> None:
        assert tx.record_delivery("highlevel", "wh-2", TEAM, NOW_MS)
        raise RuntimeError("the write after it failed")

    with pytest.raises(RuntimeError):
        await store.write(fails)
    assert await store.write(lambda tx: tx.record_delivery("highlevel", "wh-2", TEAM, NOW_MS))


async def test_a_revocation_is_kept_once_and_pruned_after_its_token_expires(store):
    assert await store.revocation("jti-1") is None and await store.revocations() == []
    first = RevokedToken(
        jti="jti-1", revoked_at=100, expires_at=500, agent_id="a", team_id=TEAM, reason="lost"
    )
    assert await store.write(lambda tx: tx.revoke_token(first)) == first
    later = RevokedToken(jti="jti-1", revoked_at=200, expires_at=900, reason="again")
    assert await store.write(lambda tx: tx.revoke_token(later)) == first  # the first entry stays
    by_id = RevokedToken(jti="jti-2", revoked_at=300)  # only the id known: kept for good
    await store.write(lambda tx: tx.revoke_token(by_id))
    assert await store.revocation("jti-1") == first
    assert [r.jti for r in await store.revocations()] == ["jti-1", "jti-2"]
    assert await store.write(lambda tx: tx.prune_revocations(499)) == 0
    assert await store.write(lambda tx: tx.prune_revocations(500)) == 1
    assert await store.revocations() == [by_id]


async def test_a_revocation_by_one_worker_is_seen_by_another(database_url):
    async with (
        open_store(database_url, pool_size=2) as one,
        open_store(database_url, pool_size=2) as two,
    ):
        assert await two.revocation("jti-9") is None
        entry = RevokedToken(jti="jti-9", revoked_at=1, expires_at=2**50)
        await one.write(lambda tx: tx.revoke_token(entry))
        assert await two.revocation("jti-9") == entry


async def test_each_team_keeps_its_own_clock_mark(store):
    def mark(tx: ServerTx, team: str, value: str) -> tuple[str, str]:
        before = tx.partition_clock(team)
        tx.set_partition_clock(team, value)
        return before, tx.partition_clock(team)

    assert await store.write(lambda tx: mark(tx, TEAM, hlc("server"))) == ("", hlc("server"))
    later = hlc("server", NOW_MS + 1)
    assert await store.write(lambda tx: mark(tx, TEAM, later)) == (hlc("server"), later)
    await store.write(lambda tx: tx.append_log(TEAM, [lead_change(1)]))  # keeps the mark
    assert await store.partition_clock(TEAM) == later and await store.last_seq(TEAM) == 1
    assert await store.partition_clock("team-b") == ""


async def test_a_tombstone_round_trips_through_the_log(store):
    gone = Tombstone(
        entity="lead",
        entity_id="lead-000001",
        hlc=hlc("phone-a"),
        device_id="phone-a",
        seq=1,
        hard_erase=True,
    )
    await store.write(lambda tx: tx.append_log(TEAM, [gone]))
    assert await store.pull(TEAM, 0, 1) == [(1, gone)]


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    appends=st.lists(st.tuples(st.sampled_from("xy"), st.integers(1, 6)), min_size=1, max_size=8),
    page=st.integers(1, 7),
)
async def test_paging_returns_each_teams_changes_once_in_the_order_logged(store, appends, page):
    run = f"{time.monotonic_ns()}"  # every example writes to teams of its own
    logged: dict[str, list[AnyChange]] = {"x": [], "y": []}
    for team, size in appends:
        batch = [
            lead_change(len(logged[team]) + i, team=f"{team}{run}", seq=len(logged[team]) + i)
            for i in range(1, size + 1)
        ]
        logged[team] += batch
        await store.write(lambda tx, t=f"{team}{run}", b=batch: tx.append_log(t, b))
    for team, expected in logged.items():
        got: list[tuple[int, AnyChange]] = []
        after = 0
        while rows := await store.pull(f"{team}{run}", after, page):
            assert len(rows) <= page and rows[0][0] > after
            got += rows
            after = rows[-1][0]
        assert [c for _, c in got] == expected
        assert [s for s, _ in got] == list(range(1, len(expected) + 1))


# --- opening, migrations, the signing key -------------------------------------------


async def test_reopening_keeps_the_data_and_the_signing_key(database_url):
    async with open_store(database_url) as first:
        key = await first.signing_key()
        await first.write(lambda tx: tx.append_log(TEAM, [lead_change(1)]))
        assert await first.signing_key() == key and len(key) == 32
    async with open_store(database_url) as again:
        assert await again.signing_key() == key
        assert await again.last_seq(TEAM) == 1


async def test_two_workers_starting_together_create_one_signing_key(database_url):
    one, two = open_store(database_url, pool_size=2), open_store(database_url, pool_size=2)
    await asyncio.gather(one.open(), two.open())
    try:
        keys = await asyncio.gather(*(s.signing_key() for s in (one, two, one, two)))
    finally:
        await asyncio.gather(one.close(), two.close())
    assert len(set(keys)) == 1


async def test_a_database_from_a_newer_version_is_refused(database_url):
    async with open_store(database_url):
        pass
    execute(database_url, "INSERT INTO schema_migrations (name) VALUES ('9999_from_the_future')")
    with pytest.raises(NewerDatabaseError, match="'9999_from_the_future'"):
        await open_store(database_url).open()


# --- several workers on one database ----------------------------------------------------


async def test_the_same_batch_pushed_to_two_workers_at_once_is_applied_once(database_url):
    async with open_store(database_url) as one, open_store(database_url) as two:
        a, b = worker(one), worker(two)
        await a.start()
        await b.start()
        # A later name is already on the server: each batch also logs one conflict.
        later = lead_change(0, device="phone-z", ms=NOW_MS + 5, name="Later")
        await a.push(agent(), ChangeBatch(device_id="phone-z", changes=[later]))
        for round_ in range(4):
            seqs = range(round_ * 20 + 1, round_ * 20 + 21)
            changes = [lead_change(s, seq=s) for s in seqs]
            changes[0] = lead_change(0, seq=seqs[0], name="Earlier")
            batch = ChangeBatch(device_id="phone-a", changes=changes)
            first, second = await asyncio.gather(a.push(agent(), batch), b.push(agent(), batch))
            assert first == second and first.conflicts == 1 and first.acked_through == seqs[-1]
        logged = await one.pull(TEAM, 0, 1000)
        assert [s for s, _ in logged] == list(range(1, 82))
        assert sorted(c.seq for _, c in logged if c.device_id == "phone-a") == list(range(1, 81))
        device = await two.device("phone-a")
        assert device is not None and (device.changes, device.acked_through) == (80, 80)
        assert len(await one.conflicts(TEAM, 0, 100)) == 4


async def test_a_puller_paging_while_two_workers_push_sees_every_change_once(database_url):
    async with (
        open_store(database_url) as one,
        open_store(database_url) as two,
        open_store(database_url) as reader,
    ):
        a, b = worker(one), worker(two)
        batches, size = 15, 8

        async def push_all(service: SyncService, device: str, offset: int) -> None:
            for k in range(batches):
                changes = [
                    lead_change(offset + k * size + i, device=device, seq=k * size + i)
                    for i in range(1, size + 1)
                ]
                await service.push(agent(), ChangeBatch(device_id=device, changes=changes))

        async def pull_all(total: int) -> list[tuple[str, int]]:
            seen: list[tuple[str, int]] = []
            after, deadline = 0, time.monotonic() + 60
            while len(seen) < total and time.monotonic() < deadline:
                rows = await reader.pull(TEAM, after, 5)
                seen += [(c.device_id, c.seq) for _, c in rows]
                after = rows[-1][0] if rows else after
                await asyncio.sleep(0 if rows else 0.001)
            return seen

        total = 2 * batches * size
        _, _, seen = await asyncio.gather(
            push_all(a, "phone-a", 0), push_all(b, "phone-b", 10_000), pull_all(total)
        )
        expected = {(d, s) for d in ("phone-a", "phone-b") for s in range(1, batches * size + 1)}
        assert len(seen) == total and set(seen) == expected
        assert await reader.last_seq(TEAM) == total


async def test_the_clock_stays_monotonic_across_workers(database_url):
    async with open_store(database_url) as one, open_store(database_url) as two:
        ahead, behind = worker(one, NOW_MS + 60_000), worker(two, NOW_MS)
        await ahead.start()
        await behind.start()
        marks: list[Hlc] = []
        for i, service in enumerate([ahead, behind, behind, ahead, behind], 1):
            batch = ChangeBatch(device_id="phone-a", changes=[lead_change(i, seq=i)])
            await service.push(agent(), batch)
            marks.append(Hlc.decode(await one.partition_clock(TEAM)))
            assert marks[-1] == service.clock  # what this worker wrote is the mark
        assert marks == sorted(marks) and len(set(marks)) == len(marks)
        assert marks[1].wall_ms == NOW_MS + 60_000  # the stale worker moved past, not back
        page = await behind.pull(agent(), 0, 10)
        assert Hlc.decode(page.server_hlc) == marks[-1]

        # Both at once, a frozen physical clock: the team's pushes take turns, so each stores
        # a later mark than the last and the two workers never end on the same value.
        async def push_many(service: SyncService, device: str) -> None:
            for seq in range(1, 11):
                change = lead_change(seq, device=device, seq=seq)
                await service.push(agent(), ChangeBatch(device_id=device, changes=[change]))

        await asyncio.gather(push_many(ahead, "phone-x"), push_many(behind, "phone-y"))
        final = Hlc.decode(await two.partition_clock(TEAM))
        assert final == max(ahead.clock, behind.clock) and ahead.clock != behind.clock
        assert final > marks[-1]
        # Another team's mark is its own: a worker that never served it starts from it.
        other = worker(two, NOW_MS)
        change = lead_change(1, team="team-b", device="phone-b")
        await other.push(agent("team-b"), ChangeBatch(device_id="phone-b", changes=[change]))
        assert await one.partition_clock("team-b") == other.clock.encode()
