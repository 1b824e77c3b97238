"""One server-side device per team: the edge services computing on the team's synced data.

The advanced API answers with the SAME code the phones run (:class:`edge.runtime.EdgeRuntime`).
Each team gets a replica: an ordinary device database under ``<db>.replicas/`` that is a
member of the team's partition. Before it answers, a replica pulls the team's change log
after its checkpoint straight from the :class:`~server.storage.ServerStore` (no HTTP), merged
with the same :mod:`edge.remote_changes` rules a phone uses; what it writes (a profile, a plan, a
lead created by the API, an erasure) goes to its outbox and is pushed through
:meth:`server.service.SyncService.push` like any device's batch, so the log, conflicts and the
other devices see it. The replica is a cache: deleting its folder loses nothing.

Answers that only read (an analysis, a draft's inputs, recommendations) are cached per team,
keyed by the team's change-log position (``last_seq``): any committed push of the team, from a
phone or from the API itself, moves it and so invalidates every answer computed before. A hit
takes no lock and touches no replica, so reads never wait behind a writer; concurrent misses
of one key share one computation.

One version everywhere: before it answers, a replica runs the model versions the registry
serves the team (:meth:`server.distribution.ModelDistribution.serving`: the team's stable
version, else the pooled one, else the shipped model), installing or dropping a version the
moment a promotion or a rollback changes them; the versions are part of every cache key, so
no answer of the old model outlives the change. The key is bounded by a maximum age
(``max_age_s``, 15 minutes): an answer also depends on the time (recency features, a plan's
next hours), so one computed long ago is computed again even when the team did not change.

The replicas' work (feature extraction, model invocations, index building) runs off the
server's event loop, on :class:`server.lanes.Lanes`: each team's runtime lives on one lane
thread with its own loop; what the lane needs of the server store (the change log, a push)
is awaited back on the server's loop. The per-team lock and the read cache stay on the
server's loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import shutil
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from edge.runtime import EdgeRuntime
from server.auth import Principal
from server.distribution import ModelDistribution
from server.lanes import Lanes, on_loop
from server.service import SyncService
from sync.changes import ChangeBatch
from sync.version import SCHEMA_VERSION

log = logging.getLogger("realty_edge.server")

T = TypeVar("T")
#: The agent id the replicas push as (a device row of the team registered to this agent).
REPLICA_AGENT = "server-replica"
_PAGE = 2000
#: The models a replica takes from the registry (the retrained families' artifacts).
SERVED = ("behaviour", "intervention", "personalization_lead", "personalization_listing")
#: What a team is served: (name, version or None for the shipped model) per served model.
Stamp = tuple[tuple[str, str | None], ...]


class CacheStats(msgspec.Struct, frozen=True, kw_only=True):
    """How the read cache has done since the server started."""

    hits: int
    shared: int  # misses that waited for a computation already running
    misses: int
    entries: int


class TeamReplicas:
    """Opens, catches up and closes the per-team replica runtimes; one lock per team."""

    def __init__(
        self,
        directory: Path,
        service: SyncService,
        cache_size: int = 1024,
        max_age_s: float = 900.0,
        monotonic: Callable[[], float] = time.monotonic,
        distribution: ModelDistribution | None = None,
        lanes: Lanes | None = None,
    ):
        self.directory = directory
        #: Where the team's model versions come from (``None``: the shipped models only).
        self.distribution = distribution
        self._aligned: dict[str, Stamp] = {}
        self.service = service
        self.cache_size = cache_size
        self.max_age_s = max_age_s
        self._monotonic = monotonic
        self._runtimes: dict[str, EdgeRuntime] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        #: (team, key) -> (change-log position the answer is valid at, monotonic time, answer)
        self._answers: OrderedDict[tuple[str, Hashable], tuple[int, float, Any]] = OrderedDict()
        self._flights: dict[tuple[str, Hashable], tuple[int, asyncio.Future[Any]]] = {}
        self.hits = self.shared = self.misses = 0
        #: Where the replicas compute (one lane per core unless given).
        self.lanes = lanes or Lanes()
        self._server_loop: asyncio.AbstractEventLoop | None = None

    def _lock(self, team: str) -> asyncio.Lock:
        return self._locks.setdefault(team, asyncio.Lock())

    async def _runtime(self, team: str) -> EdgeRuntime:
        runtime = self._runtimes.get(team)
        if runtime is None:
            name = hashlib.sha256(team.encode()).hexdigest()[:24]
            self.directory.mkdir(parents=True, exist_ok=True)
            # Whose replica this is, for a later start that finds the folder of a dead worker
            # with writes it had not pushed (recover_stale_replica_folders).
            (self.directory / f"{name}.team").write_text(team)
            runtime = await EdgeRuntime.open(
                self.directory / f"{name}.db", clock=self.service.config.clock
            )
            self._runtimes[team] = runtime
        return runtime

    async def serving(self, team: str) -> Stamp:
        """The version of each served model the registry gives ``team`` now.

        Read from the registry's per-process cache of the families, which one small read of
        the store's change counter validates: a promotion or rollback by any worker (or the
        CLI) is seen at the next call, and no registry rows are read per request otherwise.
        """
        if self.distribution is None:
            return ()
        served = await self.distribution.served(team, SERVED)
        return tuple((name, s[1] if s else None) for name, s in served.items())

    async def align_models(
        self, team: str, runtime: EdgeRuntime, stamp: Stamp | None = None
    ) -> Stamp:
        """Make the replica run the versions the team is served (``stamp``, when the caller
        has just read it; install or drop to shipped); called on the team's lane, so the
        install runs off the server's loop."""
        if stamp is None:
            stamp = await self._on_server(lambda: self.serving(team))
        if self.distribution is not None and self._aligned.get(team) != stamp:
            await self._install(team, runtime, stamp)
            runtime.reload_models()
            self._aligned[team] = stamp
        return stamp

    async def _install(self, team: str, runtime: EdgeRuntime, stamp: Stamp) -> None:
        distribution = self.distribution
        assert distribution is not None
        for name, version in stamp:
            running = runtime.model_manifest(name).version
            if version is None:
                runtime.use_shipped_model(name)
            elif running != version:

                async def fetch(name: str = name, version: str = version):
                    scope = await distribution.holding(team, name, version)
                    return await scope.blob(name, version), await scope.manifest(name, version)

                blob, manifest = await self._on_server(fetch)
                runtime.install_model(blob, manifest)

    async def _on_server(self, make: Callable[[], Awaitable[T]]) -> T:
        """``make()`` on the server's loop (the store and notifier live there)."""
        return await on_loop(self._server_loop or asyncio.get_running_loop(), make)

    async def catch_up(self, team: str, runtime: EdgeRuntime) -> int:
        """Apply the team's changes after the replica's checkpoint; how many were applied.

        One query when the replica is current or a page behind: a short page is the end of
        the log (positions are taken in commit order), so no ``last_seq`` round trip."""
        store = self.service.store
        applied = 0
        while True:
            after = await runtime.sync_checkpoint()
            rows = await self._on_server(lambda: store.pull(team, after, _PAGE))  # noqa: B023
            if rows:
                await runtime.apply_pulled([c for _, c in rows], rows[-1][0])
                applied += len(rows)
                if runtime.forget_erased():  # an erasure: no cached answer survives it
                    self.drop_answers(team)
            if len(rows) < _PAGE:
                return applied

    async def push(self, team: str, runtime: EdgeRuntime) -> int:
        """Push the replica's outbox into the server store (as a device of the team)."""
        who = Principal(agent=REPLICA_AGENT, team=team, iat=0, exp=0, jti="replica")
        pushed = 0
        while changes := await runtime.pending_changes(500):
            batch = ChangeBatch(
                device_id=runtime.device_id, changes=changes, schema_version=SCHEMA_VERSION
            )
            await self._on_server(lambda: self.service.push(who, batch))  # noqa: B023
            await runtime.mark_sent([c.seq for c in changes])
            pushed += len(changes)
        if pushed:  # the store holds them now: the replica keeps no copy (retention 0)
            await runtime.prune_outbox(0)
        return pushed

    async def run(self, team: str, fn: Callable[[EdgeRuntime], Awaitable[T]]) -> T:
        """``fn`` on the team's caught-up replica; its writes pushed before the answer."""
        return (await self._run(team, fn))[0]

    async def _run(
        self, team: str, fn: Callable[[EdgeRuntime], Awaitable[T]], stamp: Stamp | None = None
    ) -> tuple[T, int | None]:
        """``run``, and the log position its answer holds at (None: other changes came in);
        ``stamp``: the served versions, when the caller has just read them."""
        self._server_loop = self._server_loop or asyncio.get_running_loop()
        async with self._lock(team):
            return await self.lanes.run(team, lambda: self._on_lane(team, fn, stamp))

    async def _on_lane(
        self, team: str, fn: Callable[[EdgeRuntime], Awaitable[T]], stamp: Stamp | None
    ) -> tuple[T, int | None]:
        runtime = await self._runtime(team)
        await self.align_models(team, runtime, stamp)
        await self.catch_up(team, runtime)
        before = await runtime.sync_checkpoint()
        pushed = 0
        try:
            value = await fn(runtime)
        finally:
            if await runtime.pending_changes(1):
                pushed = await self.push(team, runtime)
                await self.catch_up(team, runtime)
        after = await runtime.sync_checkpoint()
        # The answer saw the log up to ``before`` plus its own writes; it holds at ``after``
        # only when nothing else was logged in between.
        return value, after if after == before + pushed else None

    async def read(self, team: str, key: Hashable, fn: Callable[[EdgeRuntime], Awaitable[T]]) -> T:
        """``run`` for an answer that depends only on the team's data and ``key``, cached.

        ``fn`` may write (e.g. a profile created on first use); the answer is cached at the
        position after its own writes.
        """
        stamp = await self.serving(team)
        slot = (team, (key, stamp))  # an answer is of its models too
        position = await self.service.store.last_seq(team)
        cached = self._answers.get(slot)
        fresh = cached is not None and self._monotonic() - cached[1] < self.max_age_s
        if cached is not None and cached[0] == position and fresh:
            self.hits += 1
            self._answers.move_to_end(slot)
            return cached[2]
        flight = self._flights.get(slot)
        if flight is not None and flight[0] == position:
            self.shared += 1
        else:
            self.misses += 1
            # A task of its own: a caller that goes away does not cancel the others' answer.
            task = asyncio.ensure_future(self._fill(slot, team, fn, stamp))
            flight = self._flights[slot] = (position, task)
            task.add_done_callback(lambda t: self._landed(slot, t))
        return await asyncio.shield(flight[1])

    async def _fill(
        self,
        slot: tuple[str, Hashable],
        team: str,
        fn: Callable[[EdgeRuntime], Awaitable[T]],
        stamp: Stamp,
    ) -> T:
        started = self._monotonic()
        # The replica computes with the versions the cache slot names (read just now).
        value, valid_at = await self._run(team, fn, stamp)
        if valid_at is not None:
            self._answers[slot] = (valid_at, started, value)
            self._answers.move_to_end(slot)
            while len(self._answers) > self.cache_size:
                self._answers.popitem(last=False)
        return value

    def _landed(self, slot: tuple[str, Hashable], task: asyncio.Future[Any]) -> None:
        if self._flights.get(slot, (0, None))[1] is task:
            del self._flights[slot]
        if not task.cancelled():
            task.exception()  # retrieved: no "never retrieved" log when every caller left

    def drop_answers(self, team: str) -> int:
        """Forget every cached answer of ``team`` (after an erasure); how many."""
        slots = [s for s in self._answers if s[0] == team]
        for slot in slots:
            del self._answers[slot]
        return len(slots)

    def cache_stats(self) -> CacheStats:
        return CacheStats(
            hits=self.hits, shared=self.shared, misses=self.misses, entries=len(self._answers)
        )

    async def close(self) -> None:
        """Push what any replica still holds (the store is open until after this), then close."""
        for team, runtime in list(self._runtimes.items()):

            async def closing(team: str = team, runtime: EdgeRuntime = runtime) -> None:
                try:
                    if await runtime.pending_changes(1):
                        await self.push(team, runtime)
                finally:
                    await runtime.close()

            await self.lanes.run(team, closing)
        self._runtimes.clear()
        self._aligned.clear()
        self._answers.clear()
        self.lanes.stop()


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale_replica_folders(base: Path, host: str, alive: Callable[[int], bool]) -> list[Path]:
    """The ``<host>-<pid>`` replica folders of this host's workers that are gone (a worker
    killed before its shutdown leaves its folder behind); other hosts' folders (a shared data
    folder) are not this host's to judge."""
    if not base.is_dir():
        return []
    found: list[Path] = []
    for folder in sorted(base.iterdir()):
        name, _, pid = folder.name.rpartition("-")
        if folder.is_dir() and name == host and pid.isdigit() and not alive(int(pid)):
            found.append(folder)
    return found


async def recover_stale_replica_folders(
    base: Path, host: str, alive: Callable[[int], bool], replicas: TeamReplicas
) -> list[Path]:
    """Push the writes a dead worker's replicas still held into the store, then delete their
    folders; the folders removed. A folder whose writes cannot be pushed is kept (logged), so
    nothing is lost: the next start tries again."""
    removed: list[Path] = []
    for folder in stale_replica_folders(base, host, alive):
        try:
            for label in sorted(folder.glob("*.team")):
                database = label.with_suffix(".db")
                if not database.exists():
                    continue
                runtime = await EdgeRuntime.open(database, clock=replicas.service.config.clock)
                try:
                    pushed = await replicas.push(label.read_text(), runtime)
                finally:
                    await runtime.close()
                if pushed:
                    log.warning("pushed %d unsent replica change(s) from %s", pushed, folder)
        except Exception:
            log.exception("kept the stale replica folder %s: its writes were not pushed", folder)
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed
