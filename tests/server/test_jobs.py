"""The scheduled retraining job: a thin shell over ``server.retrain.retrain_once``."""

from __future__ import annotations

import asyncio
import json
import logging

import server.jobs as jobs
from server.config import ServerConfig
from server.distribution import ModelDistribution
from server.jobs import RetrainJob
from server.retrain import RetrainRun


def _run(n: int = 0) -> RetrainRun:
    return RetrainRun(
        id=f"run-{n}",
        family="behaviour",
        started_at=n,
        finished_at=n + 1,
        decision="refused",
        reason="need at least 50 labelled rows",
    )


async def test_run_passes_the_configuration_and_logs_the_decision(monkeypatch, caplog):
    seen = []

    async def fake_retrain_once(store, registry, **kwargs):
        seen.append((store, registry, kwargs))
        return _run()

    monkeypatch.setattr(jobs, "retrain_once", fake_retrain_once)
    config = ServerConfig(
        clock=lambda: 1234,
        retrain_min_rows=7,
        retrain_epochs=3,
        rollout_percent=25,
        retrain_pooled=True,
        retrain_families=("behaviour",),
    )
    store, registry = object(), object()
    with caplog.at_level(logging.INFO, logger="realty_edge.server"):
        runs = await RetrainJob(store, registry, config).run()
    assert runs == [_run()]
    assert seen == [
        (
            store,
            registry,
            {
                "now_ms": 1234,
                "family": "behaviour",
                "team": None,
                "min_rows": 7,
                "epochs": 3,
                "rollout_percent": 25,
            },
        )
    ]
    assert "retrain run-0 behaviour pooled: refused (need at least 50 labelled rows)" in (
        caplog.messages
    )


async def test_without_an_interval_nothing_is_scheduled():
    job = RetrainJob(object(), object(), ServerConfig(retrain_interval_s=None))
    job.start()
    assert job._scheduler is None
    job.stop()  # stopping a job that never started is fine


async def test_scheduled_runs_repeat_never_overlap_and_stop(monkeypatch, tmp_path):
    running = 0
    overlap = 0
    done: list[int] = []

    async def slow_retrain_once(store, registry, **kwargs):
        nonlocal running, overlap
        running += 1
        overlap = max(overlap, running)
        await asyncio.sleep(0.15)  # longer than the interval
        running -= 1
        done.append(len(done))
        return _run(len(done))

    monkeypatch.setattr(jobs, "retrain_once", slow_retrain_once)
    from server.storage import open_store

    store = open_store(tmp_path / "server.db")  # the ticks take the store's retrain lease
    await store.open()
    config = ServerConfig(
        retrain_interval_s=0.05, retrain_pooled=True, retrain_families=("behaviour",)
    )
    job = RetrainJob(store, object(), config)
    job.start()
    scheduler = job._scheduler
    job.start()  # a second start keeps the one scheduler
    assert job._scheduler is scheduler and len(scheduler.get_jobs()) == 1
    for _ in range(100):
        if len(done) >= 2:
            break
        await asyncio.sleep(0.05)
    job.stop()
    assert len(done) >= 2 and overlap == 1
    assert job._scheduler is None
    await asyncio.sleep(0.3)  # a run in flight may finish, but no new one starts
    after = len(done)
    await asyncio.sleep(0.3)
    assert len(done) == after
    await store.close()


async def test_a_real_run_on_an_empty_server_is_refused_and_recorded(tmp_path):
    from server.storage import open_store

    store = open_store(tmp_path / "server.db")
    await store.open()
    registry = ModelDistribution(store, tmp_path / "registry")
    try:
        config = ServerConfig(
            clock=lambda: 1_700_000_000_000, retrain_pooled=True, retrain_families=("behaviour",)
        )
        [run] = await RetrainJob(store, registry, config).run()
        recorded = await store.retrain_runs()
        assert await registry.families() == []  # nothing was published
    finally:
        await store.close()
    assert run.decision == "refused" and "need at least 50" in run.reason
    assert run.started_at == 1_700_000_000_000 and run.family == "behaviour"
    assert [(r.id, r.outcome) for r in recorded] == [(run.id, "refused")]
    assert json.loads(recorded[0].record)["reason"] == run.reason


async def test_a_run_longer_than_its_lease_keeps_it_so_no_other_worker_starts_one(tmp_path):
    """The lease is renewed while the run lasts; without renewal, a second worker would take it
    (the control below) and train the same scope at the same time."""
    from server.storage import open_store

    config = ServerConfig(retrain_interval_s=0.3, retrain_families=("behaviour",))
    async with open_store(tmp_path / "server.db") as store:
        first, second = RetrainJob(store, None, config), RetrainJob(store, None, config)
        first.holder, second.holder = "host-a-1", "host-b-2"
        started = asyncio.Event()

        async def slow_run():
            started.set()
            await asyncio.sleep(1.0)  # more than three lease lengths (270 ms each)
            return [_run()]

        first.run = slow_run
        running = asyncio.ensure_future(first.tick())
        await started.wait()
        await asyncio.sleep(0.6)
        assert await second.tick() is None  # refused: the lease is still held
        assert await running == [_run()]

        # The control: a holder that stops renewing loses the lease once it expires.
        await asyncio.sleep(0.3)
        ran = []

        async def quick_run():
            ran.append(True)
            return []

        second.run = quick_run
        assert await second.tick() == [] and ran == [True]
