"""One server-side device per team: the edge services computing on the team's synced data.

The advanced API answers with the SAME code the phones run (:class:`edge.runtime.EdgeRuntime`).
Each team gets a replica: an ordinary device database under ``<db>.replicas/`` that is a
member of the team's partition. Before it answers, a replica pulls the team's change log
after its checkpoint straight from the :class:`~server.store.ServerStore` (no HTTP), merged
with the same :mod:`edge.replica` rules a phone uses; what it writes (a profile, a plan, a
lead created by the API, an erasure) goes to its outbox and is pushed through
:meth:`server.service.SyncService.push` like any device's batch, so the log, conflicts and the
other devices see it. The replica is a cache: deleting its folder loses nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from edge.runtime import EdgeRuntime
from server.auth import Principal
from server.service import SyncService
from sync.changes import ChangeBatch
from sync.version import SCHEMA_VERSION

T = TypeVar("T")
#: The agent id the replicas push as (a device row of the team registered to this agent).
REPLICA_AGENT = "server-replica"
_PAGE = 2000


def replica_dir(db_path: Path) -> Path:
    return Path(f"{db_path}.replicas")


class TeamReplicas:
    """Opens, catches up and closes the per-team replica runtimes; one lock per team."""

    def __init__(self, directory: Path, service: SyncService):
        self.directory = directory
        self.service = service
        self._runtimes: dict[str, EdgeRuntime] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def _lock(self, team: str) -> asyncio.Lock:
        return self._locks.setdefault(team, asyncio.Lock())

    async def _runtime(self, team: str) -> EdgeRuntime:
        runtime = self._runtimes.get(team)
        if runtime is None:
            name = hashlib.sha256(team.encode()).hexdigest()[:24]
            runtime = await EdgeRuntime.open(
                self.directory / f"{name}.db", clock=self.service.config.clock
            )
            self._runtimes[team] = runtime
        return runtime

    async def catch_up(self, team: str, runtime: EdgeRuntime) -> int:
        """Apply the team's changes after the replica's checkpoint; how many were applied."""
        store = self.service.store
        applied = 0
        while True:
            after = await runtime.store.sync_checkpoint()
            if await store.last_seq(team) <= after:
                return applied
            rows = await store.pull(team, after, _PAGE)
            if not rows:
                return applied
            await runtime.store.apply_remote([c for _, c in rows], rows[-1][0])
            applied += len(rows)

    async def push(self, team: str, runtime: EdgeRuntime) -> int:
        """Push the replica's outbox into the server store (as a device of the team)."""
        who = Principal(agent=REPLICA_AGENT, team=team, iat=0, exp=0, jti="replica")
        pushed = 0
        while changes := await runtime.store.outbox_to_push(500):
            batch = ChangeBatch(
                device_id=runtime.device_id, changes=changes, schema_version=SCHEMA_VERSION
            )
            await self.service.push(who, batch)
            await runtime.store.mark_sent([c.seq for c in changes])
            pushed += len(changes)
        return pushed

    async def run(self, team: str, fn: Callable[[EdgeRuntime], Awaitable[T]]) -> T:
        """``fn`` on the team's caught-up replica; its writes pushed before the answer."""
        async with self._lock(team):
            runtime = await self._runtime(team)
            await self.catch_up(team, runtime)
            try:
                return await fn(runtime)
            finally:
                if await runtime.store.outbox_to_push(1):
                    await self.push(team, runtime)
                    await self.catch_up(team, runtime)

    async def close(self) -> None:
        for runtime in self._runtimes.values():
            await runtime.close()
        self._runtimes.clear()
