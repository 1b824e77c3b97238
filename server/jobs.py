"""The server's scheduled jobs (APScheduler), thin shells over :mod:`server.retrain`."""

from __future__ import annotations

import logging

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from server.config import ServerConfig, process_folder
from server.registry import ModelDistribution
from server.retrain import RetrainRun, retrain_once
from server.storage import ServerStore

log = logging.getLogger("realty_edge.server")


#: The lease that makes scheduled retraining run once per cluster, not once per worker.
RETRAIN_LEASE = "retrain"


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
