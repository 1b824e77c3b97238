"""The team replicas' read cache: keyed by the team's change-log position, never stale."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from edge.errors import NotFoundError
from edge.runtime import EdgeRuntime
from server.auth import Principal
from server.config import ServerConfig
from server.service import SyncService
from server.storage import open_store
from server.team_replicas import TeamReplicas
from sync.changes import ChangeBatch
from sync.codec import Format, encode_batch
from sync.version import SCHEMA_VERSION
from tests.factories import event, lead, small_world

TEAM = "team-a"
PHONE = Principal(agent="agent-001", team=TEAM, iat=0, exp=0, jti="phone")


async def push_outbox(service: SyncService, phone: EdgeRuntime) -> None:
    """What a phone's sync push does, without HTTP."""
    while changes := await phone.pending_changes(500):
        batch = ChangeBatch(
            device_id=phone.device_id, changes=changes, schema_version=SCHEMA_VERSION
        )
        await service.push(PHONE, batch)
        await phone.mark_sent([c.seq for c in changes])


@pytest.fixture
async def team(tmp_path: Path):
    """(replicas, service, phone): a team whose phone has pushed two leads and their events."""
    store = open_store(tmp_path / "server.db")
    await store.open()
    service = SyncService(store, ServerConfig(database_url=str(tmp_path / "server.db")))
    await service.start()
    replicas = TeamReplicas(tmp_path / "replicas", service)
    phone = await EdgeRuntime.open(tmp_path / "phone.db")
    await phone.ingest(encode_batch(small_world(2, 3), Format.MSGPACK))
    await push_outbox(service, phone)
    try:
        yield replicas, service, phone
    finally:
        await phone.close()
        await replicas.close()
        await store.close()


class Counting:
    """A read that counts how often it really ran: the number of leads on the replica."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, rt: EdgeRuntime) -> int:
        self.calls += 1
        return len(await rt.leads())


async def test_a_read_is_computed_once_while_the_team_does_not_change(team):
    replicas, _, _ = team
    leads = Counting()
    assert await replicas.read(TEAM, "leads", leads) == 2
    assert await replicas.read(TEAM, "leads", leads) == 2
    assert leads.calls == 1
    assert replicas.cache_stats().hits == 1


async def test_an_answer_older_than_the_max_age_is_computed_again(team):
    replicas, _, _ = team
    clock = [1000.0]
    replicas._monotonic = lambda: clock[0]
    leads = Counting()
    await replicas.read(TEAM, "leads", leads)
    clock[0] += replicas.max_age_s - 1
    await replicas.read(TEAM, "leads", leads)
    assert leads.calls == 1  # the team did not change and the answer is young
    clock[0] += 1
    assert await replicas.read(TEAM, "leads", leads) == 2
    assert leads.calls == 2


async def test_a_phones_push_invalidates_the_cached_answer(team):
    replicas, service, phone = team
    leads = Counting()
    assert await replicas.read(TEAM, "leads", leads) == 2
    await phone.put([lead(3)])
    await push_outbox(service, phone)
    assert await replicas.read(TEAM, "leads", leads) == 3
    assert leads.calls == 2


async def test_a_write_through_the_api_invalidates_the_cached_answer(team):
    replicas, _, _ = team
    events = Counting()

    async def count_events(rt: EdgeRuntime) -> int:
        events.calls += 1
        return len((await rt.lead_detail("lead-000001", 100)).recent_events)

    assert await replicas.read(TEAM, "events", count_events) == 3
    await replicas.run(TEAM, lambda rt: rt.put([event(99, lead_id="lead-000001")]))
    assert await replicas.read(TEAM, "events", count_events) == 4
    assert events.calls == 2


async def test_an_answer_that_writes_is_cached_after_its_own_writes(team):
    replicas, _, _ = team
    calls = 0

    async def add_lead_once(rt: EdgeRuntime) -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            await rt.put([lead(7)])
        return len(await rt.leads())

    assert await replicas.read(TEAM, "k", add_lead_once) == 3
    assert await replicas.read(TEAM, "k", add_lead_once) == 3
    assert calls == 1


async def test_an_answer_overtaken_by_another_devices_push_is_not_cached(team):
    replicas, service, phone = team
    calls = 0

    async def racing(rt: EdgeRuntime) -> int:
        nonlocal calls
        calls += 1
        if calls == 1:  # the API writes while a phone's push lands
            await rt.put([lead(8)])
            await phone.put([lead(4)])
            await push_outbox(service, phone)
        return len(await rt.leads())

    assert await replicas.read(TEAM, "k", racing) == 3  # its own lead, not the phone's
    assert await replicas.read(TEAM, "k", racing) == 4
    assert calls == 2


async def test_a_stale_answer_is_never_served(team):
    replicas, service, phone = team
    for n in range(3, 6):
        await phone.put([lead(n)])
        await push_outbox(service, phone)
        assert await replicas.read(TEAM, "leads", Counting()) == n


async def test_concurrent_misses_share_one_computation(team):
    replicas, _, _ = team
    leads = Counting()
    answers = await asyncio.gather(*(replicas.read(TEAM, "leads", leads) for _ in range(10)))
    assert answers == [2] * 10
    assert leads.calls == 1


async def test_a_cached_read_does_not_wait_behind_a_writer(team):
    replicas, _, _ = team
    leads = Counting()
    await replicas.read(TEAM, "leads", leads)
    # The writer runs on the team's lane thread, not this loop: threading events.
    holding, release = threading.Event(), threading.Event()

    async def slow_writer(rt: EdgeRuntime) -> None:
        holding.set()
        await asyncio.to_thread(release.wait, 30)

    writer = asyncio.ensure_future(replicas.run(TEAM, slow_writer))
    assert await asyncio.to_thread(holding.wait, 30)
    try:
        assert await asyncio.wait_for(replicas.read(TEAM, "leads", leads), timeout=5) == 2
    finally:
        release.set()
        await writer


async def test_a_refusal_reaches_every_caller_and_is_not_cached(team):
    replicas, _, _ = team
    calls = 0

    async def missing(rt: EdgeRuntime) -> None:
        nonlocal calls
        calls += 1
        await rt.get_lead("lead-nope")

    results = await asyncio.gather(
        *(replicas.read(TEAM, "nope", missing) for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, NotFoundError) for r in results)
    with pytest.raises(NotFoundError):
        await replicas.read(TEAM, "nope", missing)
    assert calls == 2


async def test_teams_do_not_share_answers(team):
    replicas, _, _ = team
    leads = Counting()
    assert await replicas.read(TEAM, "leads", leads) == 2
    assert await replicas.read("team-b", "leads", leads) == 0
    assert leads.calls == 2


async def test_a_dead_workers_unsent_replica_writes_reach_the_store_before_its_folder_goes(
    tmp_path: Path,
):
    """A worker killed between a replica's write and its push: the next start on the host
    pushes what the replica held, then removes the folder; a folder it cannot read stays."""
    from server.team_replicas import recover_stale_replica_folders

    store = open_store(tmp_path / "server.db")
    await store.open()
    service = SyncService(store, ServerConfig(database_url=str(tmp_path / "server.db")))
    await service.start()
    base = tmp_path / "replicas"
    dead, broken = base / "web1-100", base / "web1-101"
    for folder in (dead, broken):
        folder.mkdir(parents=True)
    replica = await EdgeRuntime.open(dead / "abc.db")
    written = lead(0, agent_id="agent-001")
    await replica.put([written])  # written on the replica, never pushed: the worker died
    await replica.close()
    (dead / "abc.team").write_text("team-a")
    (broken / "xyz.db").write_bytes(b"not a database at all")
    (broken / "xyz.team").write_text("team-a")
    live = TeamReplicas(base / "web1-200", service)
    try:
        assert await store.record("team-a", ("lead", written.id)) is None
        removed = await recover_stale_replica_folders(
            base, "web1", alive=lambda pid: pid == 200, replicas=live
        )
        assert removed == [dead] and not dead.exists() and broken.exists()
        stored = await store.record("team-a", ("lead", written.id))
        assert stored is not None  # nothing the dead worker wrote was lost
    finally:
        await live.close()
        await store.close()
