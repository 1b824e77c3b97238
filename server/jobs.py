"""The server's scheduled jobs (APScheduler), thin shells over :mod:`server.retrain`."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import msgspec
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from server.config import ServerConfig, process_folder
from server.registry import ModelDistribution
from server.retrain import RetrainRun, retrain_once
from server.storage import ServerStore

log = logging.getLogger("realty_edge.server")


#: The lease that makes scheduled retraining run once per cluster, not once per worker.
RETRAIN_LEASE = "retrain"
#: How long a run asked for over HTTP holds the lease (longer than a run's training timeout).
REQUESTED_LEASE_MS = 15 * 60 * 1000


class RetrainRequested(msgspec.Struct, frozen=True, kw_only=True):
    """The answer to ``POST /models/retrain``: whether a run started here, and why not."""

    started: bool
    detail: str


class RetrainJob:
    """Runs one retraining every ``config.retrain_interval_s`` (never two at once).

    Every worker of every host schedules the job; at each tick the first to take the
    store's ``retrain`` lease (held for 90 % of the interval) runs it, the others skip.
    """

    def __init__(self, store: ServerStore, registry: ModelDistribution, config: ServerConfig):
        self.store = store
        self.registry = registry
        self.config = config
        #: This process's name in the lease (``<host>-<pid>``).
        self.holder = process_folder()
        self._scheduler: AsyncIOScheduler | None = None
        self._requested: asyncio.Task[RetrainRun] | None = None

    async def request_run(self) -> RetrainRequested:
        """Start one run in the background (its training in its own process) if no run is
        going on in the cluster: the run takes the store's lease as a scheduled one does."""
        if self._requested is not None and not self._requested.done():
            return RetrainRequested(started=False, detail="a run is already going on here")
        holder, now = self.holder, self.config.clock()
        held = await self.store.write(
            lambda tx: tx.take_lease(RETRAIN_LEASE, holder, now, REQUESTED_LEASE_MS)
        )
        if not held:
            return RetrainRequested(
                started=False, detail=f"another worker holds the {RETRAIN_LEASE!r} lease"
            )
        self._requested = asyncio.ensure_future(self._run_and_release())
        return RetrainRequested(
            started=True, detail="started; its record appears in GET /models/retrain-runs"
        )

    async def _run_and_release(self) -> RetrainRun:
        try:
            return await self.run()
        finally:  # a lease of no time left: the next tick, here or elsewhere, may run
            holder, now = self.holder, self.config.clock()
            await self.store.write(lambda tx: tx.take_lease(RETRAIN_LEASE, holder, now, 0))

    async def cancel_requested(self) -> None:
        """Stop a requested run that is still going (server shutdown)."""
        task, self._requested = self._requested, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task

    async def tick(self) -> RetrainRun | None:
        """The scheduled run: retrain if this process takes the cluster's lease, else skip."""
        interval_ms = int(1000 * (self.config.retrain_interval_s or 0))
        holder, now = self.holder, self.config.clock()
        held = await self.store.write(
            lambda tx: tx.take_lease(RETRAIN_LEASE, holder, now, max(1, interval_ms * 9 // 10))
        )
        if not held:
            log.info("retrain skipped: another worker holds the %r lease", RETRAIN_LEASE)
            return None
        return await self.run()

    async def run(self) -> RetrainRun:
        run = await retrain_once(
            self.store,
            self.registry,
            now_ms=self.config.clock(),
            min_rows=self.config.retrain_min_rows,
            epochs=self.config.retrain_epochs,
            rollout_percent=self.config.rollout_percent,
        )
        log.info("retrain %s: %s (%s)", run.id, run.decision, run.reason)
        return run

    def start(self) -> None:
        if self.config.retrain_interval_s is None or self._scheduler is not None:
            return
        self._scheduler = AsyncIOScheduler()
        self._scheduler.add_job(
            self.tick,
            IntervalTrigger(seconds=self.config.retrain_interval_s),
            id="retrain",
            max_instances=1,
            coalesce=True,
        )
        self._scheduler.start()

    def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
