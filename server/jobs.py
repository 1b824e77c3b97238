"""The server's scheduled jobs (APScheduler), thin shells over :mod:`server.retrain`.

Retraining: every family of ``config.retrain_families`` for every team (or once, pooled, with
``config.retrain_pooled``). Drift check: the same scopes, each family's served version scored
on the current data and compared with its training scores (``config.drift_threshold``).
"""

from __future__ import annotations

import logging
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from server.config import ServerConfig, process_folder
from server.registry import ModelDistribution
from server.retrain import DriftCheck, RetrainRun, drift_once, retrain_once, teams
from server.storage import ServerStore

log = logging.getLogger("realty_edge.server")


#: The lease that makes scheduled retraining run once per cluster, not once per worker.
RETRAIN_LEASE = "retrain"
#: The lease of the scheduled drift check.
DRIFT_LEASE = "drift"


class RetrainJob:
    """Runs the retraining every ``config.retrain_interval_s`` and the drift check every
    ``config.drift_interval_s`` (never two of one kind at once).

    Every worker of every host schedules the jobs; at each tick the first to take the
    store's lease (held for 90 % of the interval) runs it, the others skip.
    """

    def __init__(
        self,
        store: ServerStore,
        registry: ModelDistribution,
        config: ServerConfig,
        **retrain_options: Any,
    ):
        self.store = store
        self.registry = registry
        self.config = config
        #: Further arguments of every :func:`retrain_once` (e.g. a smaller base corpus); they
        #: override the configuration's.
        self.retrain_options = retrain_options
        #: This process's name in the lease (``<host>-<pid>``).
        self.holder = process_folder()
        self._scheduler: AsyncIOScheduler | None = None

    async def _take(self, lease: str, interval_s: float | None) -> bool:
        interval_ms = int(1000 * (interval_s or 0))
        holder, now = self.holder, self.config.clock()
        held = await self.store.write(
            lambda tx: tx.take_lease(lease, holder, now, max(1, interval_ms * 9 // 10))
        )
        if not held:
            log.info("%s skipped: another worker holds the lease", lease)
        return bool(held)

    async def tick(self) -> list[RetrainRun] | None:
        """The scheduled run: retrain if this process takes the cluster's lease, else skip."""
        if not await self._take(RETRAIN_LEASE, self.config.retrain_interval_s):
            return None
        return await self.run()

    async def drift_tick(self) -> list[DriftCheck] | None:
        """The scheduled drift check, under its own lease."""
        if not await self._take(DRIFT_LEASE, self.config.drift_interval_s):
            return None
        return await self.check_drift()

    async def scopes(self) -> list[str | None]:
        """The teams trained for (``[None]``: pooled)."""
        return [None] if self.config.retrain_pooled else list(await teams(self.store))

    async def run(self) -> list[RetrainRun]:
        """One run of every family for every scope, one after the other."""
        runs: list[RetrainRun] = []
        for team in await self.scopes():
            for family in self.config.retrain_families:
                options = {
                    "now_ms": self.config.clock(),
                    "family": family,
                    "team": team,
                    "min_rows": self.config.retrain_min_rows,
                    "epochs": self.config.retrain_epochs,
                    "rollout_percent": self.config.rollout_percent,
                    **self.retrain_options,
                }
                run = await retrain_once(self.store, self.registry, **options)
                log.info("retrain %s %s %s: %s (%s)", run.id, run.family, run.scope,
                         run.decision, run.reason)  # fmt: skip
                runs.append(run)
        return runs

    async def check_drift(self) -> list[DriftCheck]:
        """Every served retrained family of every scope checked for drift."""
        checks: list[DriftCheck] = []
        for team in await self.scopes():
            for family in self.config.retrain_families:
                try:
                    check = await drift_once(
                        self.store, self.registry, now_ms=self.config.clock(), family=family,
                        team=team, threshold=self.config.drift_threshold,
                    )  # fmt: skip
                except RuntimeError as exc:
                    log.warning("drift check of %s failed: %s", family, exc)
                    continue
                if check is not None:
                    log.info("drift %s %s: PSI %s, %s", family, check.scope, check.psi,
                             check.status)  # fmt: skip
                    checks.append(check)
        return checks

    def start(self) -> None:
        if self._scheduler is not None:
            return
        jobs = [(self.tick, self.config.retrain_interval_s, "retrain"),
                (self.drift_tick, self.config.drift_interval_s, "drift")]  # fmt: skip
        if all(interval is None for _, interval, _ in jobs):
            return
        self._scheduler = AsyncIOScheduler()
        for fn, interval, name in jobs:
            if interval is not None:
                self._scheduler.add_job(
                    fn, IntervalTrigger(seconds=interval), id=name, max_instances=1, coalesce=True
                )
        self._scheduler.start()

    def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
