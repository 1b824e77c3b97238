"""Two servers on one PostgreSQL and one Redis behind nginx: a host dies, nothing is lost.

Two `realty-edge serve` processes (two "hosts": their own data folders) share one database
and one Redis; nginx balances between them on a third port. Three phones sync through nginx
while one server is killed with SIGKILL in the middle of their pushes; the phones retry and
everything converges with every change applied exactly once. Before that, an intervention
WebSocket held by one server hears an event that was pushed to the other.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import websockets

from edge.runtime import EdgeRuntime
from server.admin import mint_token
from server.storage import open_store
from sync.codec import Format, encode_batch
from tests.device_db import device_rows, device_value
from tests.factories import small_world
from tests.server.test_cli import CLI
from tests.services import free_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
TEAM = "team-a"
LEADS = 12


def nginx_conf(folder: Path, port: int, upstreams: list[int]) -> Path:
    servers = "\n".join(
        f"    server 127.0.0.1:{p} max_fails=1 fail_timeout=30s;" for p in upstreams
    )
    temp = " ".join(f"{kind}_temp_path {folder / kind};" for kind in ("proxy", "fastcgi", "uwsgi"))
    conf = folder / "nginx.conf"
    conf.write_text(f"""
daemon off;
user root;
worker_processes 1;
pid {folder / "nginx.pid"};
error_log {folder / "error.log"} warn;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {folder / "body"};
  scgi_temp_path {folder / "scgi"};
  {temp}
  client_max_body_size 16m;
  map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
  upstream realty {{
{servers}
  }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://realty;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_next_upstream error timeout;
      proxy_connect_timeout 2s;
      proxy_read_timeout 30s;
    }}
  }}
}}
""")
    return conf


def wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(f"{url}/api/v1/advanced/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        alive = proc.poll() is None and time.monotonic() < deadline
        assert alive, log.read_text() if log.exists() else "no log"
        time.sleep(0.2)


class Cluster:
    """Two servers and nginx, each a real process; stopped at exit whatever happened."""

    def __init__(self, folder: Path, database_url: str, redis_url: str):
        self.folder = folder
        self.env = {
            **os.environ,
            "REALTY_EDGE_DATABASE_URL": database_url,
            "REALTY_EDGE_REDIS_URL": redis_url,
            "REALTY_EDGE_RATE_PER_S": "100000",
            "REALTY_EDGE_RATE_BURST": "100000",
        }
        self.ports = [free_port(), free_port()]
        self.lb_port = free_port()
        self.procs: list[subprocess.Popen] = []
        self.logs: list = []

    def url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.ports[i]}"

    @property
    def lb(self) -> str:
        return f"http://127.0.0.1:{self.lb_port}"

    def start(self) -> None:
        for i, port in enumerate(self.ports):
            host = self.folder / f"host-{i}"
            host.mkdir()
            log = (host / "serve.log").open("wb")
            self.logs.append(log)
            env = {**self.env, "REALTY_EDGE_DATA_DIR": str(host)}
            args = [CLI, "serve", "--port", str(port), "--log-level", "warning"]
            self.procs.append(subprocess.Popen(args, env=env, stdout=log, stderr=log))
        for i, proc in enumerate(self.procs):
            wait_healthy(self.url(i), proc, self.folder / f"host-{i}" / "serve.log")
        lb = self.folder / "lb"
        lb.mkdir()
        conf = nginx_conf(lb, self.lb_port, self.ports)
        log = (lb / "stderr.log").open("wb")
        self.logs.append(log)
        nginx = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(lb)], stdout=log, stderr=log)
        self.procs.append(nginx)
        wait_healthy(self.lb, nginx, lb / "error.log")

    def kill(self, i: int) -> None:
        self.procs[i].send_signal(signal.SIGKILL)
        self.procs[i].wait(timeout=30)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        for log in self.logs:
            log.close()


async def sync_until_done(phone: EdgeRuntime, url: str, token: str, tries: int = 6) -> None:
    for _ in range(tries):
        report = await phone.sync(url, token, batch_size=20, deadline_s=60)
        if report.status == "ok" and (await phone.counts()).outbox_pending == 0:
            return
    raise AssertionError(f"{phone.device_id} did not finish syncing: {report}")


async def leads_of(phone: EdgeRuntime) -> list[tuple]:
    return device_rows(phone, "SELECT id, data FROM leads ORDER BY id")


@pytest.mark.skipif(not Path(NGINX).exists(), reason="make test installs nginx (Debian)")
async def test_two_servers_behind_nginx_converge_through_a_sigkill(
    tmp_path, postgres_url, redis_url
):
    token = await mint_token(postgres_url, agent="agent-01", team=TEAM, ttl_hours=1)
    cluster = Cluster(tmp_path, postgres_url, redis_url)
    phones = [await EdgeRuntime.open(tmp_path / f"phone-{i}.db") for i in range(3)]
    try:
        cluster.start()
        first, second, third = phones
        await first.ingest(encode_batch(small_world(LEADS, 4), Format.MSGPACK))
        await sync_until_done(first, cluster.url(1), token)
        await sync_until_done(second, cluster.url(1), token)

        # A socket held by server 0 hears an event pushed to server 1.
        ws_url = cluster.url(0).replace("http", "ws")
        path = f"/ws/advanced/realtime/intervention/lead-000001?token={token}"
        async with websockets.connect(ws_url + path, max_size=None) as ws:
            plan = json.loads(await asyncio.wait_for(ws.recv(), 60))
            assert plan["type"] == "plan"
            await second.record_event("lead-000001", "email_open")
            await sync_until_done(second, cluster.url(1), token)
            heard = json.loads(await asyncio.wait_for(ws.recv(), 60))
            assert heard["type"] == "plan"

        # Three phones push through nginx; server 0 dies in the middle of it.
        await sync_until_done(third, cluster.lb, token)
        for n, phone in enumerate(phones):
            for i in range(1, LEADS + 1):
                lead = f"lead-{i:06d}"
                await phone.update("lead", lead, budget_max=500_000.0 + 1_000 * i + n)
                for _ in range(3):
                    await phone.record_event(lead, "email_open")
        async with open_store(postgres_url) as store:
            before = await store.last_seq(TEAM)
            pushes = [
                asyncio.ensure_future(phone.sync(cluster.lb, token, batch_size=10, deadline_s=60))
                for phone in phones
            ]
            deadline = time.monotonic() + 60
            while await store.last_seq(TEAM) == before:  # the first batches have landed
                assert time.monotonic() < deadline, "no push reached the servers"
                await asyncio.sleep(0.02)
            cluster.kill(0)
            await asyncio.gather(*pushes, return_exceptions=True)
            for phone in phones:  # retry until every change is acknowledged
                await sync_until_done(phone, cluster.lb, token)
            for phone in phones:  # and once more, so each has pulled the others' last pushes
                await sync_until_done(phone, cluster.lb, token)
            pushed = 0
            for phone in phones:
                pushed += device_value(phone, "SELECT count(*) FROM outbox")
            assert await store.last_seq(TEAM) == pushed  # every change once: none lost, none twice
        states = [await leads_of(phone) for phone in phones]
        assert len(states[0]) == LEADS and states[0] == states[1] == states[2]
        events = [(await phone.counts()).events for phone in phones]
        assert events[0] == events[1] == events[2] == LEADS * 4 + 1 + 3 * 3 * LEADS
    finally:
        for phone in phones:
            await phone.close()
        cluster.stop()
