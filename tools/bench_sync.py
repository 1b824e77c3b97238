"""``realty-edge bench sync``: the sync server on loopback under simulated devices.

* **merge throughput**: 1,000-change batches of profile field updates, (a) through the pure
  merge functions in this process, (b) pushed over HTTP (MessagePack + gzip) into the real
  server, merged and committed (changes/s = 1,000 / time to the acknowledgement);
* **latency at N devices**: N simulated devices (asyncio tasks spread over several processes,
  each with its own token; teams of 8) push a batch of 20 field updates then pull a page,
  for a number of rounds with a random think time (uniform 0..2x the mean, also before the
  first round, so devices are not in lockstep); p50/p95/p99 of push and of pull;
* **server peak RSS** (``VmHWM`` of the server process, which runs on its own);
* **bytes on the wire per change** for a typical profile field update in a compressed batch.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from edge.latency import percentiles
from server.admin import mint_token
from sync.changes import AnyChange, Change, ChangeBatch
from sync.clock import Hlc
from sync.merge import apply_change

ROOT = Path(__file__).resolve().parents[1]
SERVER = """
import logging, socket, sys
from pathlib import Path
logging.getLogger("realty_edge.server").setLevel(logging.WARNING)
import uvicorn
from server.app import create_app
from server.config import ServerConfig
sock = socket.socket()
sock.bind(("127.0.0.1", 0))
port = sock.getsockname()[1]
sock.close()
print(port, flush=True)
config = ServerConfig(database_url=sys.argv[1], rate_per_s=1e6, rate_burst=10**6,
                      scoring_rate_per_s=1e6, scoring_burst=10**6)
uvicorn.run(create_app(config), host="127.0.0.1", port=port, log_level="warning",
            access_log=False)
"""

WORKER = """
import asyncio, json, sys
from tools.bench_sync import run_devices
spec = json.loads(sys.argv[1])
print(json.dumps(asyncio.run(run_devices(**spec))), flush=True)
"""

_enc = msgspec.msgpack.Encoder()
FORMALITY = ["formal", "neutral", "casual"]
CHANNELS = ["email", "sms", "whatsapp", "call"]


def now_ms() -> int:
    return int(time.time() * 1000)


def profile_update(device: str, seq: int, entity_id: str, rng: random.Random) -> Change:
    """A typical profile edit on a phone: one field."""
    name, value = rng.choice(
        [
            ("formality", rng.choice(FORMALITY)),
            ("preferred_channel", rng.choice(CHANNELS)),
            ("price_max", float(rng.randrange(300, 900) * 1000)),
            ("beds_min", rng.randrange(1, 5)),
        ]
    )
    return Change(
        entity="profile",
        entity_id=entity_id,
        fields={name: value},
        hlc=Hlc(now_ms(), seq % 1000, device).encode(),
        device_id=device,
        seq=seq,
    )


def setup_changes(device: str, team: str, lead_id: str, profile_id: str) -> list[Change]:
    hlc = Hlc(now_ms(), 0, device).encode()
    lead = {
        "agent_id": "agent-" + device,
        "team_id": team,
        "name": "Lead " + lead_id,
        "updated_at": 0,
    }
    profile = {"lead_id": lead_id, "language": "es", "updated_at": 0}
    return [
        Change(entity="lead", entity_id=lead_id, fields=lead, hlc=hlc, device_id=device, seq=1),
        Change(
            entity="profile",
            entity_id=profile_id,
            fields=profile,
            hlc=Hlc(now_ms(), 1, device).encode(),
            device_id=device,
            seq=2,
        ),
    ]


def body_of(device: str, changes: list[Change]) -> bytes:
    raw = _enc.encode(ChangeBatch(device_id=device, changes=list[AnyChange](changes)))
    return gzip.compress(raw, compresslevel=6, mtime=0)


HEADERS = {"content-type": "application/msgpack", "content-encoding": "gzip"}


async def run_devices(
    url: str,
    devices: list[dict[str, str]],
    rounds: int,
    start_at: float,
    think_s: float,
    batch: int,
    seed: int,
) -> dict[str, list[float]]:
    """Simulated devices in this process; latencies in ms."""
    import httpx

    push_ms: list[float] = []
    pull_ms: list[float] = []
    limits = httpx.Limits(max_connections=len(devices) + 4)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:

        async def one(spec: dict[str, str], k: int) -> None:
            rng = random.Random(seed * 1000 + k)
            dev, auth = spec["device"], {"authorization": f"Bearer {spec['token']}"}
            lead_id, profile_id = f"lead-{dev}", f"prof-{dev}"
            r = await http.post(
                "/api/v1/sync/push",
                content=body_of(dev, setup_changes(dev, spec["team"], lead_id, profile_id)),
                headers={**HEADERS, **auth},
            )
            r.raise_for_status()
            seq, checkpoint = 2, 0
            # Phones are not in lockstep: each starts at a random point of its first pause.
            await asyncio.sleep(max(0.0, start_at - time.time()) + rng.uniform(0, 2 * think_s))
            for _ in range(rounds):
                changes = []
                for _ in range(batch):
                    seq += 1
                    changes.append(profile_update(dev, seq, profile_id, rng))
                body = body_of(dev, changes)
                t0 = time.perf_counter()
                r = await http.post("/api/v1/sync/push", content=body, headers={**HEADERS, **auth})
                push_ms.append((time.perf_counter() - t0) * 1000)
                r.raise_for_status()
                t0 = time.perf_counter()
                r = await http.get(
                    "/api/v1/sync/pull",
                    params={"after": checkpoint, "limit": 500},
                    headers={"accept": "application/msgpack", **auth},
                )
                pull_ms.append((time.perf_counter() - t0) * 1000)
                r.raise_for_status()
                checkpoint = msgspec.msgpack.decode(r.content)["checkpoint"]
                await asyncio.sleep(rng.uniform(0, 2 * think_s))

        await asyncio.gather(*(one(spec, k) for k, spec in enumerate(devices)))
    return {"push_ms": push_ms, "pull_ms": pull_ms}


def merge_throughput(batches: int = 20, size: int = 1000) -> dict[str, float]:
    """Pure merge of 1,000-change batches into 100 profiles (no I/O)."""
    rng = random.Random(1)
    states: dict[str, Any] = {}
    per_batch: list[float] = []
    seq = 0
    for _ in range(batches):
        changes = []
        for _ in range(size):
            seq += 1
            changes.append(profile_update("dev-bench", seq, f"prof-{rng.randrange(100)}", rng))
        t0 = time.perf_counter()
        for c in changes:
            states[c.entity_id], _ = apply_change(states.get(c.entity_id), c)
        per_batch.append(time.perf_counter() - t0)
    return {"changes_per_s": size / statistics.median(per_batch)}


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run(
    *,
    devices: int = 64,
    rounds: int = 20,
    processes: int = 4,
    think_s: float = 1.0,
    batch: int = 20,
    seed: int = 7,
    progress: Callable[[str], None] = lambda m: None,
) -> dict[str, Any]:
    import httpx

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench-server.db"
        teams = [f"team-{i % max(1, devices // 8)}" for i in range(devices)]
        specs = [
            {
                "device": f"dev-{i:03d}",
                "team": teams[i],
                "token": asyncio.run(
                    mint_token(db, agent=f"agent-{i:03d}", team=teams[i], ttl_hours=2)
                ),
            }
            for i in range(devices)
        ]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        progress(f"starting the server (db {db})")
        server = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(db)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=env,
        )
        try:
            assert server.stdout is not None
            url = f"http://127.0.0.1:{int(server.stdout.readline())}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(url + "/api/v1/advanced/health", timeout=1).raise_for_status()
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            progress(f"{devices} devices in {processes} processes, {rounds} rounds each")
            start_at = time.time() + 3.0
            groups = [specs[i::processes] for i in range(processes)]
            workers = [
                subprocess.Popen(
                    [
                        sys.executable,
                        "-c",
                        WORKER,
                        json.dumps(
                            {
                                "url": url,
                                "devices": group,
                                "rounds": rounds,
                                "start_at": start_at,
                                "think_s": think_s,
                                "batch": batch,
                                "seed": seed + n,
                            }
                        ),
                    ],
                    stdout=subprocess.PIPE,
                    text=True,
                    cwd=ROOT,
                    env=env,
                )
                for n, group in enumerate(groups)
                if group
            ]
            push_ms: list[float] = []
            pull_ms: list[float] = []
            for w in workers:
                out, _ = w.communicate(timeout=600)
                if w.returncode != 0:
                    raise RuntimeError(f"a device process failed with {w.returncode}")
                res = json.loads(out.strip().splitlines()[-1])
                push_ms += res["push_ms"]
                pull_ms += res["pull_ms"]

            progress("1,000-change batches through the server")
            rng = random.Random(seed)
            token = specs[0]["token"]
            server_batch_s: list[float] = []
            with httpx.Client(base_url=url, headers={"authorization": f"Bearer {token}"}) as h:
                seq = 10_000_000
                dev = specs[0]["device"]
                for _ in range(10):
                    changes = []
                    for _ in range(1000):
                        seq += 1
                        changes.append(profile_update(dev, seq, f"prof-{dev}", rng))
                    body = body_of(dev, changes)
                    t0 = time.perf_counter()
                    h.post("/api/v1/sync/push", content=body, headers=HEADERS).raise_for_status()
                    server_batch_s.append(time.perf_counter() - t0)
            rss = peak_rss_mb(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=30)
            if server.stdout:
                server.stdout.close()

    rng = random.Random(seed)
    wire: dict[str, float] = {}
    for size in (20, 100, 1000):
        changes = [
            profile_update("dev-a1b2c3d4e5f6", i + 1, "prof-000123", rng) for i in range(size)
        ]
        wire[f"batch_{size}"] = len(body_of("dev-a1b2c3d4e5f6", changes)) / size
    pure = merge_throughput()
    server_cps = 1000 / statistics.median(server_batch_s)
    push, pull = percentiles(push_ms), percentiles(pull_ms)
    return {
        "devices": devices,
        "rounds": rounds,
        "processes": processes,
        "think_s": think_s,
        "batch": batch,
        "cpus": os.cpu_count(),
        "merge_changes_per_s_pure": pure["changes_per_s"],
        "merge_changes_per_s_server": server_cps,
        "push_ms": push,
        "pull_ms": pull,
        "server_peak_rss_mb": rss,
        "bytes_per_change": wire,
        "table": [
            (
                "merge, pure (1,000-change batches)",
                f"{pure['changes_per_s']:,.0f} changes/s",
                ">= 20,000",
            ),
            ("merge + commit via HTTP push (1,000)", f"{server_cps:,.0f} changes/s", ">= 20,000"),
            (
                f"push p50/p95/p99 ({devices} devices)",
                "/".join(f"{push[p]:.1f}" for p in ("p50", "p95", "p99")) + " ms",
                "p95 <= 20 ms",
            ),
            (
                f"pull page p50/p95/p99 ({devices} devices)",
                "/".join(f"{pull[p]:.1f}" for p in ("p50", "p95", "p99")) + " ms",
                "p95 <= 20 ms",
            ),
            ("server peak RSS", f"{rss:.0f} MB", "<= 150 MB"),
            (
                "bytes/change, gzip batch of 20/100/1000",
                " / ".join(f"{wire[k]:.0f}" for k in ("batch_20", "batch_100", "batch_1000")),
                "<= 120",
            ),
        ],
    }
