"""A device as a long-lived process: the scheduler runs, and steps pulled by sync get jobs."""

from __future__ import annotations

import asyncio
import time

import pytest

from edge.device_run import DeviceRun, run_device
from edge.runtime import EdgeRuntime
from edge.scheduler import store_plan
from sync.clock import wall_clock_ms
from sync.records import Channel, InterventionPlan, InterventionStep, StepStatus
from tests.factories import small_world
from tests.live_server import run_server


async def wait_for(condition, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_steps_pulled_by_sync_get_jobs_at_once(tmp_path):
    with run_server(tmp_path / "server.db") as server:
        token = server.token()
        phone = await EdgeRuntime.open(tmp_path / "phone.db")
        await phone.put(small_world(3, 4))
        assert (await phone.sync(server.url, token)).status == "ok"
        await (await EdgeRuntime.open(tmp_path / "tablet.db")).close()
        started: asyncio.Future[DeviceRun] = asyncio.get_running_loop().create_future()
        task = asyncio.ensure_future(
            run_device(tmp_path / "tablet.db", server.url, token, interval_s=0.2, started=started)
        )
        try:
            run = await asyncio.wait_for(started, 30)
            plan = await phone.plan_interventions("lead-000002")
            assert plan.steps
            assert (await phone.sync(server.url, token)).status == "ok"

            async def scheduled() -> bool:
                return sorted(run.runtime.__dict__["_scheduler"].jobs()) == sorted(
                    s.id for s in plan.steps
                )

            await wait_for(scheduled)  # pulled by the background sync, scheduled there
            assert run.status().syncs >= 1 and run.status().sync_status == "running"
        finally:
            if started.done():
                started.result().stop()
            status = await asyncio.wait_for(task, 30)
            await phone.close()
        assert status.jobs == len(plan.steps)


async def test_a_fired_job_makes_a_task_and_the_rest_keep_their_jobs(tmp_path):
    rt = await EdgeRuntime.open(tmp_path / "d.db")
    await rt.put(small_world(1, 2))
    now = wall_clock_ms()
    steps = [
        InterventionStep(
            id=f"p-s{i}",
            plan_id="p",
            lead_id="lead-000001",
            seq=i,
            channel=Channel.EMAIL,
            due_at=due,
            hour_of_week=0,
            message="Hola",
        )
        for i, due in enumerate((now + 700, now + 30 * 86_400_000))
    ]
    await store_plan(
        rt._store,
        InterventionPlan(
            id="p", lead_id="lead-000001", created_at=now, steps=steps, executor=rt.device_id
        ),
    )
    run = DeviceRun(rt)
    await run.start()
    try:
        assert sorted(rt.__dict__["_scheduler"].jobs()) == ["p-s0", "p-s1"]

        async def fired() -> bool:
            return (await rt.get("intervention_step", "p-s0")).status is StepStatus.DUE

        await wait_for(fired)
        assert [t.step_id for t in await rt.due_tasks()] == ["p-s0"]
        assert rt.__dict__["_scheduler"].jobs() == ["p-s1"]
        assert run.status().sync_status == "idle"
    finally:
        await run.close()
        await rt.close()
    with pytest.raises(ValueError, match="both"):
        DeviceRun(rt, server_url="http://127.0.0.1:9")


def test_realty_edge_device_run_runs_until_sigterm(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    async def make() -> None:
        rt = await EdgeRuntime.open(tmp_path / "d.db")
        await rt.put(small_world(1, 1))
        await rt.close()

    asyncio.run(make())
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    cli = [sys.executable, "-c", "from tools.cli import app; app()", "device", "run"]
    proc = subprocess.Popen(
        [*cli, str(tmp_path / "d.db")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("running "), line + proc.stderr.read()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "stopped: 0 steps scheduled, 0 syncs" in out
    from typer.testing import CliRunner

    from tools.cli import app

    missing = CliRunner().invoke(app, ["device", "run", str(tmp_path / "nope.db")])
    assert missing.exit_code == 1 and "nope.db" in missing.output
