"""The server's scheduled jobs (APScheduler), thin shells over :mod:`server.retrain`."""

from __future__ import annotations

import logging

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from server.config import ServerConfig
from server.registry import ModelDistribution
from server.retrain import RetrainRun, retrain_once
from server.storage import ServerStore

log = logging.getLogger("realty_edge.server")


class RetrainJob:
    """Runs one retraining every ``config.retrain_interval_s`` (never two at once)."""

    def __init__(self, store: ServerStore, registry: ModelDistribution, config: ServerConfig):
        self.store = store
        self.registry = registry
        self.config = config
        self._scheduler: AsyncIOScheduler | None = None

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
            self.run,
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
