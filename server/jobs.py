"""The server's scheduled jobs (APScheduler), thin shells over :mod:`server.retrain`.

Retraining: every family of ``config.retrain_families`` for every team (or once, pooled, with
``config.retrain_pooled``). Drift check: the same scopes, each family's served version scored
on the current data and compared with its training scores (``config.drift_threshold``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from server.config import ServerConfig, process_folder
from server.distribution import ModelDistribution
from server.retrain import DriftCheck, RetrainRun, drift_once, retrain_once, teams
from server.storage import ServerStore

log = logging.getLogger("realty_edge.server")


#: The lease that makes scheduled retraining run once per cluster, not once per worker.
RETRAIN_LEASE = "retrain"
#: The lease of the scheduled drift check.
DRIFT_LEASE = "drift"
#: How long a run asked for over HTTP holds the lease (longer than a run's training timeout).
REQUESTED_LEASE_MS = 15 * 60 * 1000


class RetrainRequested(msgspec.Struct, frozen=True, kw_only=True):
    """The answer to ``POST /models/retrain``: whether a run started here, and why not."""

    started: bool
    detail: str


class RetrainJob:
    """Runs the retraining every ``config.retrain_interval_s`` and the drift check every
    ``config.drift_interval_s`` (never two of one kind at once).

    Every worker of every host schedules the jobs; at each tick the first to take the
    store's lease (held for 90 % of the interval, renewed while the run lasts) runs it, the
    others skip.
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
        self._requested: asyncio.Task[list[RetrainRun]] | None = None

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

    async def _run_and_release(self) -> list[RetrainRun]:
        try:
            async with self._renewing(RETRAIN_LEASE, REQUESTED_LEASE_MS):
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

    async def _hold(self, lease: str, ttl_ms: int) -> bool:
        """Take ``lease`` for ``ttl_ms``, or renew it when this process holds it already."""
        holder, now = self.holder, self.config.clock()
        held = await self.store.write(lambda tx: tx.take_lease(lease, holder, now, ttl_ms))
        return bool(held)

    @staticmethod
    def _ttl_ms(interval_s: float | None) -> int:
        return max(1, int(1000 * (interval_s or 0)) * 9 // 10)

    async def _take(self, lease: str, interval_s: float | None) -> bool:
        held = await self._hold(lease, self._ttl_ms(interval_s))
        if not held:
            log.info("%s skipped: another worker holds the lease", lease)
        return held

    @contextlib.asynccontextmanager
    async def _renewing(self, lease: str, ttl_ms: int) -> AsyncIterator[None]:
        """Keep holding ``lease`` (renewed every third of ``ttl_ms``) while the block runs, so
        a run longer than its lease is not started a second time elsewhere."""

        async def renew() -> None:
            while True:
                await asyncio.sleep(ttl_ms / 3000)
                if not await self._hold(lease, ttl_ms):
                    log.warning("%s: the lease was taken by another worker during a run", lease)
                    return

        task = asyncio.ensure_future(renew())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def tick(self) -> list[RetrainRun] | None:
        """The scheduled run: retrain if this process takes the cluster's lease, else skip."""
        if not await self._take(RETRAIN_LEASE, self.config.retrain_interval_s):
            return None
        async with self._renewing(RETRAIN_LEASE, self._ttl_ms(self.config.retrain_interval_s)):
            return await self.run()

    async def drift_tick(self) -> list[DriftCheck] | None:
        """The scheduled drift check, under its own lease."""
        if not await self._take(DRIFT_LEASE, self.config.drift_interval_s):
            return None
        async with self._renewing(DRIFT_LEASE, self._ttl_ms(self.config.drift_interval_s)):
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
                log.info(
                    "retrain %s %s %s: %s (%s)",
                    run.id,
                    run.family,
                    run.scope,
                    run.decision,
                    run.reason,
                )
                runs.append(run)
        return runs

    async def check_drift(self) -> list[DriftCheck]:
        """Every served retrained family of every scope checked for drift."""
        checks: list[DriftCheck] = []
        for team in await self.scopes():
            for family in self.config.retrain_families:
                try:
                    check = await drift_once(
                        self.store,
                        self.registry,
                        now_ms=self.config.clock(),
                        family=family,
                        team=team,
                        threshold=self.config.drift_threshold,
                    )
                except RuntimeError as exc:
                    log.warning("drift check of %s failed: %s", family, exc)
                    continue
                if check is not None:
                    log.info(
                        "drift %s %s: PSI %s, %s", family, check.scope, check.psi, check.status
                    )
                    checks.append(check)
        return checks

    def start(self) -> None:
        if self._scheduler is not None:
            return
        jobs = [
            (self.tick, self.config.retrain_interval_s, "retrain"),
            (self.drift_tick, self.config.drift_interval_s, "drift"),
        ]
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
