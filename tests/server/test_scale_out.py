"""Several workers: settings from the environment, shared rate limits, one retrain a cluster."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest

import server.jobs as jobs
from server.config import ServerConfig, ServerConfigError, config_from_env, process_folder
from server.jobs import RETRAIN_LEASE, RetrainJob
from server.ratelimit import RedisTokenBucket, TokenBucket, rate_limiter
from server.retrain import RetrainRun
from server.storage import open_store
from server.team_replicas import pid_alive, stale_replica_folders
from tests.server.test_cli import CLI, free_port, run

# --- settings from the environment ---------------------------------------------------------


def test_settings_come_from_the_environment_and_flags_override_them(tmp_path):
    env = {
        "REALTY_EDGE_DATABASE_URL": "postgresql://db.internal/re",
        "REALTY_EDGE_DATA_DIR": str(tmp_path),
        "REALTY_EDGE_WORKERS": "4",
        "REALTY_EDGE_REDIS_URL": "redis://cache:6379/0",
        "REALTY_EDGE_RATE_PER_S": "12.5",
        "REALTY_EDGE_RATE_BURST": "30",
        "REALTY_EDGE_RETRAIN_INTERVAL_S": "3600",
        "REALTY_EDGE_ROLLOUT_PERCENT": "0",
        "REALTY_EDGE_TOKEN_TTL_HOURS": "",  # empty: unset, the default stays
    }
    config = config_from_env(env, rate_burst=99, unknown_flag=1)
    assert (config.database_url, config.data_dir, config.workers) == (
        "postgresql://db.internal/re",
        tmp_path,
        4,
    )
    assert (config.redis_url, config.rate_per_s, config.rate_burst) == (
        "redis://cache:6379/0",
        12.5,
        99,
    )
    assert (config.retrain_interval_s, config.rollout_percent, config.token_ttl_hours) == (
        3600.0,
        0,
        ServerConfig().token_ttl_hours,
    )
    assert config_from_env({}) == ServerConfig(clock=config_from_env({}).clock)


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("REALTY_EDGE_WORKERS", "two", "REALTY_EDGE_WORKERS='two' is not a valid int"),
        ("REALTY_EDGE_WORKERS", "0", "REALTY_EDGE_WORKERS='0' must be greater than 0"),
        ("REALTY_EDGE_WORKERS", "65", "REALTY_EDGE_WORKERS='65' is out of range"),
        ("REALTY_EDGE_RATE_PER_S", "-1", "REALTY_EDGE_RATE_PER_S='-1' is out of range"),
        ("REALTY_EDGE_RATE_PER_S", "nan", "REALTY_EDGE_RATE_PER_S='nan' is out of range"),
        ("REALTY_EDGE_RETRAIN_INTERVAL_S", "inf", "REALTY_EDGE_RETRAIN_INTERVAL_S='inf' is out"),
        ("REALTY_EDGE_ROLLOUT_PERCENT", "101", "REALTY_EDGE_ROLLOUT_PERCENT='101' is out"),
    ],
)
def test_a_bad_setting_is_refused_naming_its_variable(name, value, says):
    with pytest.raises(ServerConfigError, match=says.replace("(", r"\(")):
        config_from_env({name: value})


def test_several_workers_keep_their_replicas_apart_and_one_process_keeps_the_folder(tmp_path):
    db = tmp_path / "s.db"
    assert ServerConfig(database_url=str(db)).replica_dir == Path(f"{db}.replicas")
    two = ServerConfig(database_url=str(db), workers=2)
    assert two.replica_dir == Path(f"{db}.replicas") / process_folder()
    pg = ServerConfig(database_url="postgresql://h/db", data_dir=tmp_path)
    assert pg.replica_dir == tmp_path / "replicas" / process_folder()
    assert process_folder().endswith(f"-{os.getpid()}")


def test_only_this_hosts_dead_workers_replicas_are_stale(tmp_path):
    for name in ("web1-100", "web1-200", "web2-100", "web1-notes"):
        (tmp_path / name).mkdir()
    (tmp_path / "web1-300").write_text("a file, not a worker's folder")
    stale = stale_replica_folders(tmp_path, "web1", alive=lambda pid: pid == 200)
    assert [p.name for p in stale] == ["web1-100"]
    assert stale_replica_folders(tmp_path / "none", "web1", pid_alive) == []
    assert pid_alive(os.getpid()) and not pid_alive(2**22 + 1)


# --- rate limits ---------------------------------------------------------------------------


async def test_the_memory_bucket_refuses_past_the_burst_and_refills_at_the_rate():
    bucket = rate_limiter(rate=2.0, burst=3, redis_url=None)
    assert isinstance(bucket, TokenBucket)
    assert [await bucket.take("t", 100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert await bucket.take("t", 100.0) == pytest.approx(0.5)
    assert await bucket.take("other", 100.0) == 0.0  # buckets are per key
    assert await bucket.take("t", 100.5) == 0.0  # half a second at 2/s: one more
    await bucket.close()


async def test_two_workers_share_one_bucket_through_redis(redis_url):
    prefix = f"test:{uuid.uuid4().hex}:"
    one = RedisTokenBucket(redis_url, rate=1.0, burst=4, prefix=prefix)
    two = RedisTokenBucket(redis_url, rate=1.0, burst=4, prefix=prefix)
    waits = [await (one if i % 2 else two).take("token", 50.0) for i in range(6)]
    assert waits[:4] == [0.0] * 4  # four between them, not four each
    assert waits[4] == pytest.approx(1.0) and waits[5] == pytest.approx(1.0)
    assert await one.take("token", 51.0) == 0.0  # a second later: one more, for either
    assert await two.take("token", 51.0) == pytest.approx(1.0)
    assert isinstance(rate_limiter(1.0, 4, redis_url), RedisTokenBucket)
    for bucket in (one, two):
        await bucket.close()


async def test_an_unreachable_redis_lets_requests_through_and_says_so(caplog):
    bucket = RedisTokenBucket(f"redis://127.0.0.1:{free_port()}/0", rate=1.0, burst=1)
    with caplog.at_level(logging.WARNING, logger="realty_edge.server"):
        assert [await bucket.take("t", 1.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert "rate limit not applied: Redis unavailable" in caplog.text
    await bucket.close()


# --- once per cluster ----------------------------------------------------------------------


async def test_leases_are_held_by_one_holder_until_they_expire(tmp_path, postgres_url):
    for url in (str(tmp_path / "s.db"), postgres_url):
        async with open_store(url) as store:

            async def take(holder: str, now: int, store=store) -> bool:
                return await store.write(lambda tx: tx.take_lease("job", holder, now, 1_000))

            assert await take("a", 0)
            assert not await take("b", 500)  # a's lease runs until 1,000
            assert await take("a", 900)  # the holder renews: now until 1,900
            assert not await take("b", 1_500)
            assert await take("b", 1_900)  # expired: b takes it
            assert not await take("a", 2_000)


async def test_scheduled_retraining_runs_once_per_cluster(tmp_path, monkeypatch):
    runs: list[str] = []

    async def fake_retrain_once(store, registry, **kwargs):
        runs.append("ran")
        return RetrainRun(
            id="r",
            family="behaviour",
            started_at=0,
            finished_at=1,
            decision="refused",
            reason="too few rows",
        )

    monkeypatch.setattr(jobs, "retrain_once", fake_retrain_once)
    now = [1_000_000]
    config = ServerConfig(
        retrain_interval_s=60,
        clock=lambda: now[0],
        retrain_pooled=True,
        retrain_families=("behaviour",),
    )
    async with open_store(str(tmp_path / "s.db")) as store:
        web1, web2 = RetrainJob(store, None, config), RetrainJob(store, None, config)
        web1.holder, web2.holder = "web1-1", "web2-1"
        assert (await web1.tick()) is not None
        assert await web2.tick() is None  # the same tick on another worker: skipped
        now[0] += 54_000  # 90 % of the interval: the lease has run out
        assert (await web2.tick()) is not None
        assert await web1.tick() is None
        assert runs == ["ran", "ran"]
        assert await store.write(lambda tx: tx.take_lease(RETRAIN_LEASE, "web2-1", now[0], 1))


# --- serve --workers ------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found += [int(c) for c in text]
    return found


def test_serve_with_two_workers_on_one_port_shares_rate_limits_through_redis(
    tmp_path, postgres_url, redis_url
):
    env = {"REALTY_EDGE_DATABASE_URL": postgres_url, "REALTY_EDGE_DATA_DIR": str(tmp_path)}
    token = run("server", "token", "--agent", "a", "--team", "t", env=env).stdout.split()[-1]
    port = free_port()
    args = [
        "serve",
        "--workers",
        "2",
        "--port",
        str(port),
        "--redis-url",
        redis_url,
        "--rate-per-s",
        "0.001",
        "--rate-burst",
        "5",
        "--log-level",
        "warning",
    ]
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen([CLI, *args], env={**os.environ, **env}, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{url}/api/v1/advanced/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            alive = proc.poll() is None and time.monotonic() < deadline
            assert alive, (tmp_path / "serve.log").read_text()
            time.sleep(0.2)
        while len(_children(proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(_children(proc.pid)) >= 2  # uvicorn's supervisor and its two workers
        statuses = []
        for _ in range(12):  # a new connection each: the kernel spreads them over the workers
            with httpx.Client(base_url=url, timeout=10) as http:
                auth = {"authorization": f"Bearer {token}"}
                statuses.append(http.get("/api/v1/sync/pull", headers=auth).status_code)
        assert statuses.count(200) == 5 and statuses.count(429) == 7, statuses
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


# --- change notices across workers -----------------------------------------------------------


@pytest.mark.parametrize("through_redis", [False, True])
async def test_a_change_notice_reaches_the_teams_sockets_in_every_worker(through_redis, request):
    from server.notify import TeamNotifier

    url = request.getfixturevalue("redis_url") if through_redis else None
    one = TeamNotifier(url)
    two = TeamNotifier(url) if through_redis else one  # another worker, or the same process
    plugins = list({id(n.plugin): n.plugin for n in (one, two)}.values())
    for plugin in plugins:  # what the app's startup does for its plugin
        await plugin._on_startup()
    try:
        async with two.watch("team-a") as moved, two.watch("team-b") as other:
            await asyncio.sleep(0.3)  # the subscriptions are in place
            one.changed("team-a")
            await asyncio.wait_for(moved.wait(), 10)
            await asyncio.sleep(0.2)
            assert not other.is_set()  # another team's sockets are not woken
    finally:
        for plugin in plugins:
            await plugin._on_shutdown()
        for notifier in {id(n): n for n in (one, two)}.values():
            await notifier.close()


def test_several_workers_on_sqlite_are_refused_saying_why(tmp_path):
    db = tmp_path / "s.db"
    proc = run("serve", "--workers", "2", "--database-url", str(db), ok=False)
    assert proc.returncode == 2 and "several workers need PostgreSQL" in proc.stderr
    assert not db.exists()  # refused before anything was created


async def test_a_redis_that_is_down_costs_notices_not_the_server(caplog):
    from server.notify import TeamNotifier

    notifier = TeamNotifier(f"redis://127.0.0.1:{free_port()}/0")
    await notifier.plugin._on_startup()  # what the app's startup does for its plugin
    try:
        with caplog.at_level(logging.WARNING, logger="realty_edge.server"):
            async with notifier.watch("team-a") as moved:  # falls back to the socket's own looks
                notifier.changed("team-a")
                notifier.changed("team-a")
                await asyncio.sleep(0.5)
                assert not moved.is_set()
        assert "change notice" in caplog.text
    finally:  # and shutdown still finishes (the publishing task did not die)
        await asyncio.wait_for(notifier.plugin._on_shutdown(), 10)
        await notifier.close()


async def test_one_worker_of_all_claims_a_step_before_sending_it(tmp_path):
    from server.outreach.config import OutreachConfig
    from server.outreach.service import OutreachRejectedError, OutreachService
    from server.service import SyncService
    from server.team_replicas import TeamReplicas

    config = ServerConfig(database_url=str(tmp_path / "s.db"))
    async with open_store(config.database_url) as store:
        service = SyncService(store, config)
        worker_a = OutreachService(OutreachConfig(), TeamReplicas(tmp_path / "a", service))
        worker_b = OutreachService(OutreachConfig(), TeamReplicas(tmp_path / "b", service))
        await worker_a._claim("team-a", "step-1")
        with pytest.raises(OutreachRejectedError, match="being sent by another worker") as refused:
            await worker_b._claim("team-a", "step-1")  # a retry that landed on another worker
        assert refused.value.reason == "not_pending"
        await worker_b._claim("team-a", "step-2")  # other steps are free
        await worker_b._claim("team-b", "step-1")  # and other teams' steps of the same id


def test_the_provider_signature_check_refuses_what_it_cannot_compare():
    from server.outreach.provider import sign, verify

    body = b'{"type": "inbound"}'
    t = {"team": "team-a"}
    assert verify("s3cret", body, sign("s3cret", body, **t), **t)
    odd = ("é", "sha256=é", "t=é,v1=00", "t=,v1=", "v1=00", None, "", sign("other", body, **t))
    for header in odd:
        assert not verify("s3cret", body, header, **t)  # never a TypeError (a 500) on odd bytes
    assert not verify("", body, sign("", body, **t), **t)  # no secret: nothing is accepted


def test_a_captured_webhook_cannot_be_replayed_later_or_to_another_team():
    from server.outreach.provider import SIGNATURE_TOLERANCE_S, sign, verify

    body = b'{"type": "inbound", "message_id": "IN1"}'
    header = sign("s3cret", body, team="team-a", at_s=1_000_000)
    assert verify("s3cret", body, header, team="team-a", now_s=1_000_000 + SIGNATURE_TOLERANCE_S)
    late = 1_000_000 + SIGNATURE_TOLERANCE_S + 1
    assert not verify("s3cret", body, header, team="team-a", now_s=late)
    assert not verify("s3cret", body, header, team="team-b", now_s=1_000_000)
    assert not verify("s3cret", body + b" ", header, team="team-a", now_s=1_000_000)
