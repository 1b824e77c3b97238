"""A device as a long-lived process: the step scheduler, and sync on a timer and on reconnect.

``realty-edge device run PATH`` runs :func:`run_device`. The scheduler fires steps at their
hour (and, on start, by the missed-step rule); every sync that pulls changes settles plans made
apart and gives the steps it brought a job at once (:meth:`EdgeRuntime.after_pull`). It stops
on :meth:`DeviceRun.stop` (the CLI: Ctrl-C or SIGTERM) and closes the database cleanly.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from edge.runtime import EdgeRuntime
from edge.store import Clock
from sync.clock import wall_clock_ms

if TYPE_CHECKING:
    from edge.sync_client import SyncLoop


class DeviceRunStatus(msgspec.Struct, frozen=True, kw_only=True):
    """What a running device is doing."""

    jobs: int
    syncs: int
    sync_status: str  # idle (no server), running, stopped (refused), or the last failure


class DeviceRun:
    """Scheduler plus (with a server) a background sync, on one open runtime."""

    def __init__(
        self,
        runtime: EdgeRuntime,
        server_url: str | None = None,
        token: str | None = None,
        interval_s: float = 60.0,
    ):
        if (server_url is None) != (token is None):
            raise ValueError("give both server_url and token, or neither")
        self.runtime = runtime
        self.server_url = server_url
        self.token = token
        self.interval_s = interval_s
        self.loop: SyncLoop | None = None
        self._stopped = asyncio.Event()

    async def start(self) -> None:
        await self.runtime.start_scheduler()
        if self.server_url is not None and self.token is not None:
            loop = self.runtime.sync_loop(self.server_url, self.token, interval_s=self.interval_s)
            loop.start()
            self.loop = loop

    def status(self) -> DeviceRunStatus:
        scheduler = self.runtime.__dict__.get("_scheduler")
        loop = self.loop
        return DeviceRunStatus(
            jobs=len(scheduler.jobs()) if scheduler else 0,
            syncs=loop.syncs if loop else 0,
            sync_status=loop.status if loop else "idle",
        )

    def stop(self) -> None:
        self._stopped.set()

    async def wait(self) -> None:
        await self._stopped.wait()

    async def close(self) -> None:
        if self.loop is not None:
            await self.loop.stop()
        await self.runtime.stop_scheduler()


async def run_device(
    path: str | Path,
    server_url: str | None = None,
    token: str | None = None,
    *,
    interval_s: float = 60.0,
    clock: Clock = wall_clock_ms,
    started: asyncio.Future[DeviceRun] | None = None,
) -> DeviceRunStatus:
    """Run the device at ``path`` until stopped; what it was doing when it stopped."""
    async with await EdgeRuntime.open(path, create=False, clock=clock) as runtime:
        run = DeviceRun(runtime, server_url, token, interval_s)
        await run.start()
        if started is not None:
            started.set_result(run)
        try:
            await run.wait()
        finally:
            status = run.status()
            await run.close()
    return status
