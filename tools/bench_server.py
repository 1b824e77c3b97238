"""``realty-edge bench server``: an open-loop brokerage load against the real server.

The load is shaped like a brokerage of 1,000 agents in teams of eight. Per second (factor 1):
17 device pushes of 20 changes and 17 pulls, 10 analyses, 5 intervention predictions,
3 profile creations, 10 recommendation reads, 5 language detections and 5 cultural
adaptations (:data:`LOAD`), spread over a seeded world of ``teams`` teams of eight agents with
``leads`` leads each.

* **Open loop.** Arrivals are a seeded Poisson process per route, fixed in advance; a request
  is sent at its intended time whether or not earlier ones have answered, and its latency is
  measured from that *intended* time, so a server (or a generator) that falls behind shows
  up as latency instead of silently sending less (no coordinated omission). The generator
  reports its own lag (actual minus intended send time) and CPU time.
* **Its own process.** The generator runs in a child process on asyncio streams (raw
  HTTP/1.1 keep-alive connections, a new one opened whenever none is idle), so its CPU is
  not the server's and its event loop is not the one measured.
* **Capacity factor.** The largest multiple of the load at which every route's p95 stays
  <= 100 ms with no failed request: factors double from 1 until a step fails, then bisect
  between the last passing and the first failing factor; each step lasts ``duration`` s.
* **Configs.** ``sqlite-1`` (one worker on an SQLite file), ``postgres-1`` and
  ``postgres-2`` (``serve --workers 2`` with Redis), each on a fresh copy of the seeded
  world: a copied SQLite file, or a PostgreSQL database created from a template database.
  The world is seeded once (a bulk push through :class:`server.service.SyncService`, no
  HTTP) and cached by its parameters, so later runs start in seconds.
* **Memory.** Each server process's peak RSS (``VmHWM``) at the end of its config.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec

ROOT = Path(__file__).resolve().parents[1]
A = "/api/v1/advanced"
#: Requests per second of each route at factor 1 (a brokerage of 1,000 agents).
LOAD: dict[str, float] = {
    "push": 17,
    "pull": 17,
    "analyze": 10,
    "predict": 5,
    "profile_create": 3,
    "recommendations": 10,
    "detect": 5,
    "adapt": 5,
}
CONFIGS = ("sqlite-1", "postgres-1", "postgres-2")
TARGET_P95_MS = 100.0
PUSH_CHANGES = 20
AGENTS_PER_TEAM = 8
LISTINGS = 300
TEXTS = [
    "¿Todavía está disponible la casa de tres recámaras?",
    "Is the condo on Pine Street still available for a showing on Saturday?",
    "我们想看一下市中心的两居室公寓",
    "Bonjour, la maison est-elle toujours à vendre ?",
    "안녕하세요, 이번 주말에 집을 볼 수 있을까요?",
    "Xin chào, căn nhà này còn bán không?",
]
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
#: Seconds a keep-alive connection may sit idle before the generator drops it: under uvicorn's
#: 5 s keep-alive, so a request never races the server closing its connection.
IDLE_S = 4.0
#: The database each PostgreSQL config runs on (a copy of the world's template).
RUN_DB = "realty_edge_bench_run"


class World(msgspec.Struct, frozen=True, kw_only=True):
    """What is seeded: ``teams`` teams of eight agents, ``leads`` leads each, each lead with
    its most recent ``events_per_lead`` synthetic events."""

    teams: int = 20
    leads: int = 2000
    events_per_lead: int = 10
    seed: int = 5

    @property
    def key(self) -> str:
        raw = msgspec.json.encode(self) + b"v1"
        return hashlib.sha256(raw).hexdigest()[:12]

    def team(self, t: int) -> str:
        return f"team-{t:03d}"


def _pct(values: list[float], q: float) -> float | None:
    """The ``q`` quantile (nearest rank), rounded to 0.01; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


# --- seeding ------------------------------------------------------------------------------


def _team_records(world: World, t: int) -> list[Any]:
    """One team's records: a synthetic world re-homed to the team, events capped per lead."""
    from models.synthetic import generate_world
    from sync.records import Agent, Event, Lead

    team = world.team(t)
    made = generate_world(
        agents=AGENTS_PER_TEAM, leads=world.leads, listings=LISTINGS, seed=world.seed + t
    )
    by_lead: dict[str, list[Event]] = {}
    for e in made.events:
        by_lead.setdefault(e.lead_id, []).append(e)
    events = [
        e
        for evs in by_lead.values()
        for e in sorted(evs, key=lambda e: -e.ts)[: world.events_per_lead]
    ]
    agents = [msgspec.structs.replace(a, team_id=team) for a in made.agents if isinstance(a, Agent)]
    leads = [msgspec.structs.replace(x, team_id=team) for x in made.leads if isinstance(x, Lead)]
    return [*agents, *made.listings, *leads, *sorted(events, key=lambda e: e.ts)]


async def seed(
    database_url: str, world: World, scratch: Path, progress: Callable[[str], None]
) -> dict[str, int]:
    """Push every team's records into the server store in 5,000-change batches, as a phone
    of the team would; the team -> change-log head after seeding."""
    from edge.runtime import EdgeRuntime
    from server.auth import Principal
    from server.config import ServerConfig
    from server.service import SyncService
    from server.storage import open_store
    from sync.changes import ChangeBatch
    from sync.codec import Format, encode_batch
    from sync.version import SCHEMA_VERSION

    heads: dict[str, int] = {}
    async with open_store(database_url, pool_size=2) as store:
        service = SyncService(store, ServerConfig(database_url=database_url))
        for t in range(world.teams):
            team = world.team(t)
            started = time.perf_counter()
            records = await asyncio.to_thread(_team_records, world, t)
            who = Principal(agent="bench-seed", team=team, iat=0, exp=0, jti="seed")
            async with await EdgeRuntime.open(scratch / f"seed-{t}.db") as phone:
                await phone.ingest(encode_batch(records, Format.MSGPACK))
                while changes := await phone.pending_changes(5000):
                    batch = ChangeBatch(
                        device_id=phone.device_id, changes=changes, schema_version=SCHEMA_VERSION
                    )
                    await service.push(who, batch)
                    await phone.mark_sent([c.seq for c in changes])
            (scratch / f"seed-{t}.db").unlink(missing_ok=True)
            heads[team] = await store.last_seq(team)
            progress(
                f"seeded {team}: {len(records):,} records in {time.perf_counter() - started:.1f} s"
            )
    return heads


def cache_dir() -> Path:
    env = os.environ.get("REALTY_EDGE_BENCH_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "realty-edge" / "bench-server"


def sqlite_world(world: World, progress: Callable[[str], None]) -> tuple[Path, dict[str, int]]:
    """The seeded SQLite file of ``world`` (made once, cached) and its team heads."""
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    db, meta = folder / f"world-{world.key}.db", folder / f"world-{world.key}.json"
    if db.is_file() and meta.is_file():
        return db, json.loads(meta.read_text())
    progress(f"seeding the SQLite world {world} (once; cached in {folder})")
    with tempfile.TemporaryDirectory(prefix="realty-edge-seed-") as tmp:
        target = Path(tmp) / "server.db"
        heads = asyncio.run(seed(str(target), world, Path(tmp), progress))
        shutil.copyfile(target, db.with_suffix(".partial"))
    db.with_suffix(".partial").rename(db)
    meta.write_text(json.dumps(heads))
    return db, heads


def _pg_admin(url: str) -> Any:
    import psycopg

    return psycopg.connect(url, autocommit=True)


def _pg_url(url: str, database: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{database}"


def postgres_world(
    admin_url: str, world: World, progress: Callable[[str], None]
) -> tuple[str, dict[str, int]]:
    """The name of the template database holding ``world`` (made once) and its team heads."""
    name = f"realty_edge_bench_world_{world.key}"
    meta = cache_dir() / f"world-{world.key}-postgres.json"
    with _pg_admin(admin_url) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    if exists and meta.is_file():
        return name, json.loads(meta.read_text())
    progress(f"seeding the PostgreSQL world {world} (once; template database {name})")
    partial = name + "_partial"
    with _pg_admin(admin_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'DROP DATABASE IF EXISTS "{partial}"')
        conn.execute(f'CREATE DATABASE "{partial}"')
    with tempfile.TemporaryDirectory(prefix="realty-edge-seed-") as tmp:
        heads = asyncio.run(seed(_pg_url(admin_url, partial), world, Path(tmp), progress))
    with _pg_admin(admin_url) as conn:
        conn.execute(f'ALTER DATABASE "{partial}" RENAME TO "{name}"')
    meta.parent.mkdir(parents=True, exist_ok=True)
    meta.write_text(json.dumps(heads))
    return name, heads


def fresh_postgres(admin_url: str, template: str) -> str:
    """A new database copied from ``template``; its URL."""
    name = RUN_DB
    with _pg_admin(admin_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return _pg_url(admin_url, name)


async def _tokens(database_url: str, world: World) -> dict[str, list[str]]:
    from server.auth import issue_token
    from server.config import wall_clock_ms
    from server.storage import open_store

    async with open_store(database_url, pool_size=1) as store:
        key = await store.signing_key()
    now = wall_clock_ms()
    return {
        world.team(t): [
            issue_token(
                key,
                agent=f"agent-{t:03d}-{a}",
                team=world.team(t),
                now_ms=now,
                ttl_ms=6 * 3_600_000,
            )
            for a in range(AGENTS_PER_TEAM)
        ]
        for t in range(world.teams)
    }


# --- the server under test --------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(sorted(children.get(p, [])))
    return found


def _status(pid: int, field: str) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return float("nan")


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def peak_rss(root: int, workers: int) -> dict[str, float]:
    """Peak RSS (MB) of the server's processes. One worker: ``worker-1`` is the process
    started, its children (the speech process) ``worker-1.child-1``. Several: ``supervisor``
    (uvicorn's), ``worker-1`` ... and their children."""
    found: dict[str, float] = {}
    if workers == 1:
        tops = [root]
    else:
        found["supervisor"] = _status(root, "VmHWM")
        tops = [p for p in _descendants(root)[1:] if _parent(p) == root]
        tops = [p for p in tops if "resource_tracker" not in _cmdline(p)]
    for i, w in enumerate(tops, 1):
        found[f"worker-{i}"] = _status(w, "VmHWM")
        for j, h in enumerate(_descendants(w)[1:], 1):
            found[f"worker-{i}.child-{j}"] = _status(h, "VmHWM")
    return found


def _cpu_s(pids: list[int]) -> dict[int, float]:
    """User plus system CPU seconds of each of ``pids`` so far (those gone are left out)."""
    tick = os.sysconf("SC_CLK_TCK")
    found = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        found[pid] = (int(fields[11]) + int(fields[12])) / tick
    return found


def _cpu_since(before: dict[int, float], pids: list[int]) -> float:
    """CPU seconds ``pids`` used since ``before`` (a process started since: all of its)."""
    return sum(t - before.get(pid, 0.0) for pid, t in _cpu_s(pids).items())


def _pg_backends(admin_url: str, database: str) -> list[int]:
    """The process ids of the PostgreSQL backends serving ``database`` (empty if the
    database is not on this host or cannot be asked)."""
    try:
        with _pg_admin(admin_url) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s", (database,)
            ).fetchall()
    except Exception:  # a figure that cannot be taken is left out, not fatal
        return []
    return [int(r[0]) for r in rows if Path(f"/proc/{r[0]}").exists()]


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


@contextmanager
def server(
    database_url: str, data_dir: Path, workers: int, redis_url: str | None
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``realty-edge serve`` in its own process group (rate limits lifted); its URL."""
    import httpx

    port = _free_port()
    args = [
        sys.executable,
        "-c",
        "from tools.cli import app; app()",
        "serve",
        "--port",
        str(port),
        "--database-url",
        database_url,
        "--data-dir",
        str(data_dir),
        "--workers",
        str(workers),
        "--rate-per-s",
        "1000000",
        "--rate-burst",
        "1000000",
        "--log-level",
        "warning",
    ]
    if redis_url:
        args += ["--redis-url", redis_url]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for name in ("REALTY_EDGE_DATABASE_URL", "REALTY_EDGE_REDIS_URL", "REALTY_EDGE_WORKERS"):
        env.pop(name, None)
    log = data_dir.parent / "server.log"
    with log.open("w") as err:
        proc = subprocess.Popen(
            args,
            cwd=str(ROOT),
            env=env,
            text=True,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}{A}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield url, proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


# --- the load generator (runs in its own process) ----------------------------------------


class Http:
    """One keep-alive HTTP/1.1 connection on asyncio streams; lean on the client's CPU."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def request(
        self, method: str, target: str, headers: dict[str, str], body: bytes | None
    ) -> tuple[int, bytes, dict[bytes, bytes]]:
        if self.streams is None:
            self.streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self.streams
        head = f"{method} {target} HTTP/1.1\r\nhost: {self.host}:{self.port}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        if body is not None:
            head += f"content-length: {len(body)}\r\n"
        try:
            writer.write(head.encode() + b"\r\n" + (body or b""))
            lines = (await reader.readuntil(b"\r\n\r\n")).split(b"\r\n")
            status = int(lines[0].split()[1])
            got = {
                k.strip().lower(): v.strip()
                for k, _, v in (x.partition(b":") for x in lines[1:] if x)
            }
            if got.get(b"transfer-encoding", b"").lower() == b"chunked":
                parts = []
                while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
                    parts.append((await reader.readexactly(size + 2))[:-2])
                await reader.readuntil(b"\r\n")
                data = b"".join(parts)
            else:
                data = await reader.readexactly(int(got.get(b"content-length", b"0")))
            if got.get(b"connection", b"").lower() == b"close":
                self.close()
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
            self.close()
            raise ConnectionError(f"{method} {target}: the connection failed") from None
        return status, data, got

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


class Device:
    """A phone of the load: its token, device id, next sequence number and checkpoint."""

    def __init__(self, team: str, token: str, device_id: str, checkpoint: int):
        self.team, self.token, self.device_id = team, token, device_id
        self.seq = 0
        self.checkpoint = checkpoint


class Generator:
    """Fires requests at intended times over a pool of connections; latencies from intent."""

    def __init__(self, spec: dict[str, Any]):
        host, port = spec["url"].removeprefix("http://").split(":")
        self.host, self.port = host, int(port)
        self.rates: dict[str, float] = spec["rates"]
        self.leads: int = spec["leads"]
        self.rng = random.Random(spec.get("seed", 1))
        self.devices = [
            Device(team, token, f"bench-{team}-{a}", spec["heads"].get(team, 0))
            for team, tokens in spec["tokens"].items()
            for a, token in enumerate(tokens)
        ]
        self.idle: list[tuple[Http, float]] = []  # (connection, monotonic time it went idle)
        self.max_connections = spec.get("max_connections", 1000)
        self.open_connections = 0
        self.timeout_s = spec.get("timeout_s", 30.0)
        self.extra_routes: dict[str, tuple[str, str]] = spec.get("extra_routes", {})

    # --- requests of each route ---

    def _lead(self) -> str:
        return f"lead-{self.rng.randrange(self.leads) + 1:06d}"

    def build(self, route: str) -> tuple[str, str, dict[str, str], bytes | None, Device]:
        from sync.changes import AnyChange, Change, ChangeBatch
        from sync.clock import Hlc

        dev = self.rng.choice(self.devices)
        auth = {"authorization": f"Bearer {dev.token}"}
        js = {**auth, "content-type": "application/json"}
        enc = msgspec.json.encode
        if route == "push":
            now = int(time.time() * 1000)
            changes = []
            for _ in range(PUSH_CHANGES):
                dev.seq += 1
                fields = {
                    "lead_id": self._lead(),
                    "type": "property_view",
                    "ts": now,
                    "listing_id": f"lst-{self.rng.randrange(LISTINGS) + 1:06d}",
                    "dwell_s": float(self.rng.randrange(5, 300)),
                    "updated_at": now,
                }
                changes.append(
                    Change(
                        entity="event",
                        entity_id=f"ev-{dev.device_id}-{dev.seq}",
                        fields=fields,
                        hlc=Hlc(now, dev.seq % 60_000, dev.device_id).encode(),
                        device_id=dev.device_id,
                        seq=dev.seq,
                    )
                )
            raw = msgspec.msgpack.encode(
                ChangeBatch(device_id=dev.device_id, changes=list[AnyChange](changes))
            )
            headers = {**auth, "content-type": "application/msgpack", "content-encoding": "gzip"}
            body = gzip.compress(raw, compresslevel=6, mtime=0)
            return "POST", "/api/v1/sync/push", headers, body, dev
        if route == "pull":
            target = f"/api/v1/sync/pull?after={dev.checkpoint}&limit=500"
            return "GET", target, {**auth, "accept": "application/msgpack"}, None, dev
        if route == "analyze":
            return "POST", f"{A}/analyze/comprehensive", js, enc({"lead_id": self._lead()}), dev
        if route == "predict":
            return "POST", f"{A}/intervention/predict", js, enc({"lead_id": self._lead()}), dev
        if route == "profile_create":
            target = f"{A}/personalization/profile/create"
            return "POST", target, js, enc({"lead_id": self._lead()}), dev
        if route == "recommendations":
            return "GET", f"{A}/personalization/recommendations/{self._lead()}", auth, None, dev
        if route == "detect":
            body = enc({"text": self.rng.choice(TEXTS)})
            return "POST", f"{A}/multi-language/detect", js, body, dev
        if route == "adapt":
            body = enc({"lead_id": self._lead(), "intent": "follow_up_after_silence"})
            return "POST", f"{A}/multi-language/cultural/adapt", js, body, dev
        method, target = self.extra_routes[route]
        return method, target, auth, None, dev

    # --- connections ---

    async def send(
        self, method: str, target: str, headers: dict[str, str], body: bytes | None
    ) -> tuple[int, bytes]:
        now = time.monotonic()
        conn = None
        while self.idle:  # a connection idle for longer than the server keeps one is stale
            conn, since = self.idle.pop()
            if now - since < IDLE_S:
                break
            conn.close()
            conn = None
        conn = conn or Http(self.host, self.port)
        try:
            status, data, got = await asyncio.wait_for(
                conn.request(method, target, headers, body), self.timeout_s
            )
        except BaseException:
            conn.close()
            raise
        if conn.streams is not None:
            self.idle.append((conn, time.monotonic()))
        if got.get(b"content-encoding") == b"gzip":
            data = gzip.decompress(data)
        return status, data

    def close(self) -> None:
        for conn, _ in self.idle:
            conn.close()
        self.idle.clear()

    # --- a step ---

    def schedule(self, factor: float, duration: float) -> list[tuple[float, str]]:
        """Poisson arrivals of every route (seconds after the start), in order."""
        arrivals: list[tuple[float, str]] = []
        for route, rate in self.rates.items():
            lam = rate * factor
            if lam <= 0:
                continue
            t = self.rng.expovariate(lam)
            while t < duration:
                arrivals.append((t, route))
                t += self.rng.expovariate(lam)
        arrivals.sort()
        return arrivals

    async def step(self, factor: float, duration: float, drain_s: float) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        latencies: dict[str, list[float]] = {r: [] for r in self.rates}
        errors: dict[str, int] = dict.fromkeys(self.rates, 0)
        statuses: dict[str, dict[str, int]] = {r: {} for r in self.rates}
        lags: list[float] = []
        tasks: set[asyncio.Task[None]] = set()

        async def fire(route: str, intended: float) -> None:
            method, target, headers, body, dev = self.build(route)
            try:
                status, data = await self.send(method, target, headers, body)
            except (ConnectionError, TimeoutError, OSError) as exc:
                errors[route] += 1
                latencies[route].append((loop.time() - intended) * 1000)
                key = type(exc).__name__
                statuses[route][key] = statuses[route].get(key, 0) + 1
                return
            latencies[route].append((loop.time() - intended) * 1000)
            key = str(status)
            statuses[route][key] = statuses[route].get(key, 0) + 1
            if status >= 400:
                errors[route] += 1
            elif route == "pull":
                with contextlib.suppress(msgspec.MsgspecError, KeyError, TypeError, ValueError):
                    dev.checkpoint = int(msgspec.msgpack.decode(data)["checkpoint"])

        arrivals = self.schedule(factor, duration)
        cpu0 = time.process_time()
        start = loop.time() + 0.05
        for offset, route in arrivals:
            intended = start + offset
            delay = intended - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            lags.append(max(0.0, loop.time() - intended) * 1000)
            task = asyncio.ensure_future(fire(route, intended))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        sent_by = loop.time()
        if tasks:
            await asyncio.wait(set(tasks), timeout=drain_s)
        unfinished = len(tasks)
        for task in list(tasks):  # still waiting after the drain: counted at their wait so far
            task.cancel()
        if tasks:
            await asyncio.wait(set(tasks))
        cpu = time.process_time() - cpu0
        routes = {}
        for route in self.rates:
            lat = latencies[route]
            routes[route] = {
                "requests": len(lat),
                "p50_ms": _pct(lat, 0.50),
                "p95_ms": _pct(lat, 0.95),
                "p99_ms": _pct(lat, 0.99),
                "max_ms": round(max(lat), 2) if lat else None,
                "errors": errors[route],
                "statuses": statuses[route],
            }
        return {
            "factor": factor,
            "duration_s": duration,
            "arrivals": len(arrivals),
            "unfinished": unfinished,
            "routes": routes,
            "generator": {
                "lag_p50_ms": _pct(lags, 0.50),
                "lag_p99_ms": _pct(lags, 0.99),
                "lag_max_ms": round(max(lags), 2) if lags else 0.0,
                "send_overrun_ms": round((sent_by - start - duration) * 1000, 1),
                "cpu_s": round(cpu, 2),
                "cpu_share": round(cpu / max(1e-9, loop.time() - start), 3),
                "connections": len(self.idle),
            },
        }

    async def warm(self, rounds: int) -> dict[str, Any]:
        """Catch up every team's replica in every worker: ``rounds`` analyses per team, each on
        a new connection (so the kernel spreads them over the workers)."""
        started = time.perf_counter()
        failed = 0
        sem = asyncio.Semaphore(4)
        teams = sorted({d.team for d in self.devices})

        async def one(team: str) -> None:
            nonlocal failed
            dev = next(d for d in self.devices if d.team == team)
            conn = Http(self.host, self.port)
            headers = {
                "authorization": f"Bearer {dev.token}",
                "content-type": "application/json",
                "connection": "close",
            }
            body = msgspec.json.encode({"lead_id": self._lead()})
            async with sem:
                try:
                    status, _, _ = await asyncio.wait_for(
                        conn.request("POST", f"{A}/analyze/comprehensive", headers, body), 600
                    )
                    failed += status >= 400
                except (ConnectionError, TimeoutError, OSError):
                    failed += 1
                finally:
                    conn.close()

        await asyncio.gather(*(one(t) for t in teams for _ in range(rounds)))
        return {"warm_s": round(time.perf_counter() - started, 1), "failed": failed}


def client_main() -> None:
    """The generator process: a spec on the first stdin line, then one command per line
    (``{"warm": n}`` or ``{"factor": f, "duration": s}``), one JSON answer per line."""
    spec = json.loads(sys.stdin.readline())

    async def main() -> None:
        gen = Generator(spec)
        loop = asyncio.get_running_loop()
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            cmd = json.loads(line)
            if "warm" in cmd:
                answer = await gen.warm(int(cmd["warm"]))
            else:
                answer = await gen.step(
                    float(cmd["factor"]), float(cmd["duration"]), float(cmd.get("drain", 10.0))
                )
            sys.stdout.write(json.dumps(answer) + "\n")
            sys.stdout.flush()

    asyncio.run(main())


class Client:
    """The generator process, driven from here."""

    def __init__(self, spec: dict[str, Any]):
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from tools.bench_server import client_main; client_main()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=str(ROOT),
            env=env,
        )
        self._send(spec)

    def _send(self, obj: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(obj) + "\n")
        self.proc.stdin.flush()

    def ask(self, cmd: dict[str, Any]) -> dict[str, Any]:
        self._send(cmd)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the load generator exited ({self.proc.wait()})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()


def _clip() -> Path | None:
    env = os.environ.get("REALTY_EDGE_DATA_DIR")
    base = Path(env) if env else ROOT.parent / "shared" / "data"
    for folder in (base / "korean-speech", base):
        if (folder / "etts_avb00003.wav").is_file():
            return folder / "etts_avb00003.wav"
    return None


async def _ws_final_ms(url: str, token: str, runs: int = 1) -> float | None:
    """Median ms from the last PCM chunk of a Korean clip (streamed in real time over the
    WebSocket) to its final transcript; None without the clip or the Korean model."""
    import websockets

    from edge.voice import VoskModels, read_wav

    clip = _clip()
    if clip is None or "ko" not in VoskModels().languages():
        return None
    pcm = read_wav(clip).to_bytes()
    chunk = 16_000 // 5 * 2
    ws_url = url.replace("http://", "ws://") + "/ws/advanced/realtime/multi-language/bench"
    times: list[float] = []
    for _ in range(runs):
        async with websockets.connect(f"{ws_url}?token={token}", max_size=None) as ws:
            await ws.send(json.dumps({"type": "start", "language": "ko"}))
            for i in range(0, len(pcm), chunk):
                await ws.send(pcm[i : i + chunk])
                await asyncio.sleep(0.2)  # real time: the server keeps up while audio arrives
            started = time.perf_counter()
            await ws.send(json.dumps({"type": "end"}))
            while json.loads(await ws.recv())["type"] != "final":
                pass
            times.append((time.perf_counter() - started) * 1000)
    return round(sorted(times)[len(times) // 2], 1)


# --- the capacity search --------------------------------------------------------------------


def passes(step: dict[str, Any], target_ms: float = TARGET_P95_MS) -> bool:
    """Every route's p95 within ``target_ms`` and not one failed request."""
    return (
        all(
            r["requests"] > 0 and r["p95_ms"] <= target_ms and r["errors"] == 0
            for r in step["routes"].values()
        )
        and not step["unfinished"]
    )


def search(
    measure: Callable[[float], dict[str, Any]],
    *,
    max_factor: float = 64.0,
    bisections: int = 3,
) -> tuple[float, list[dict[str, Any]]]:
    """The largest passing factor: 1, 2, 4 ... until a step fails (or ``max_factor``), then
    ``bisections`` halvings of the gap; below 1 when factor 1 already fails."""
    steps: list[dict[str, Any]] = []

    def ok(f: float) -> bool:
        step = measure(f)
        step["passed"] = passes(step)
        steps.append(step)
        return bool(step["passed"])

    lo, hi = 0.0, None
    f = 1.0
    while f <= max_factor:
        if ok(f):
            lo = f
            f *= 2
        else:
            hi = f
            break
    if hi is not None:
        for _ in range(bisections):
            mid = round((lo + hi) / 2, 3)
            if ok(mid):
                lo = mid
            else:
                hi = mid
    return lo, steps


# --- one config -------------------------------------------------------------------------------


def run_config(
    name: str,
    world: World,
    *,
    duration: float,
    postgres_url: str,
    redis_url: str,
    max_factor: float,
    bisections: int,
    warm_s: float,
    voice: bool = True,
    rates: dict[str, float] | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    engine, workers = name.rsplit("-", 1)
    n_workers = int(workers)
    with tempfile.TemporaryDirectory(prefix=f"realty-edge-bench-{name}-") as tmp:
        directory = Path(tmp)
        if engine == "sqlite":
            cached, heads = sqlite_world(world, progress)
            db = directory / "server.db"
            shutil.copyfile(cached, db)
            url = str(db)
        elif engine == "postgres":
            template, heads = postgres_world(postgres_url, world, progress)
            url = fresh_postgres(postgres_url, template)
        else:
            raise ValueError(f"unknown config {name!r}: one of {', '.join(CONFIGS)}")
        tokens = asyncio.run(_tokens(url, world))
        redis = redis_url if n_workers > 1 else None
        with server(url, directory / "data", n_workers, redis) as (base, proc):
            progress(f"{name}: server on {base} (pid {proc.pid})")
            spec = {
                "url": base,
                "rates": rates or LOAD,
                "leads": world.leads,
                "tokens": tokens,
                "heads": heads,
                "seed": world.seed,
            }
            client = Client(spec)
            try:
                warm = client.ask({"warm": 2 * n_workers})
                progress(f"{name}: replicas caught up in {warm['warm_s']} s")
                if warm_s > 0:
                    client.ask({"factor": 1.0, "duration": warm_s})

                def measure(f: float) -> dict[str, Any]:
                    def backends() -> list[int]:
                        return _pg_backends(postgres_url, RUN_DB) if engine == "postgres" else []

                    cpu0 = _cpu_s(_descendants(proc.pid))
                    db0 = _cpu_s(backends())
                    step = client.ask({"factor": f, "duration": duration})
                    served = sum(r["requests"] for r in step["routes"].values())
                    step["server_cpu_s"] = round(_cpu_since(cpu0, _descendants(proc.pid)), 2)
                    step["database_cpu_s"] = round(_cpu_since(db0, backends()), 2)
                    step["cpu_ms_per_request"] = round(
                        (step["server_cpu_s"] + step["database_cpu_s"]) * 1000 / max(1, served), 2
                    )
                    worst = max(step["routes"].items(), key=lambda kv: kv[1]["p95_ms"] or 0.0)
                    progress(
                        f"{name}: factor {f:g}: worst p95 {worst[1]['p95_ms']} ms ({worst[0]}), "
                        f"errors {sum(r['errors'] for r in step['routes'].values())}, "
                        f"generator lag p99 {step['generator']['lag_p99_ms']} ms"
                    )
                    return step

                capacity, steps = search(measure, max_factor=max_factor, bisections=bisections)
                ws_final = None
                if voice:  # after the load: the worker's peak RSS then includes speech
                    progress(f"{name}: WebSocket transcription of a Korean clip")
                    ws_final = asyncio.run(_ws_final_ms(base, next(iter(tokens.values()))[0]))
            finally:
                client.close()
            rss = peak_rss(proc.pid, n_workers)
        log = (directory / "server.log").read_text(errors="replace").splitlines()
        server_errors = sorted({line[:300] for line in log if "error" in line.lower()})[:10]
        if engine == "postgres":
            with _pg_admin(postgres_url) as conn:
                conn.execute('DROP DATABASE IF EXISTS "realty_edge_bench_run" WITH (FORCE)')
    at_one = next((s for s in steps if s["factor"] == 1.0), steps[0])
    return {
        "capacity_factor": capacity,
        "routes": {
            r: {k: v[k] for k in ("p50_ms", "p95_ms", "p99_ms", "requests", "errors")}
            for r, v in at_one["routes"].items()
        },
        "rss_mb": rss,
        "ws_final_ms": ws_final,
        "server_errors": server_errors,
        "generator": at_one["generator"],
        "steps": [
            {
                "factor": s["factor"],
                "passed": s["passed"],
                "unfinished": s["unfinished"],
                "p95_ms": {r: v["p95_ms"] for r, v in s["routes"].items()},
                "errors": {r: v["statuses"] for r, v in s["routes"].items() if v["errors"]},
                "server_cpu_s": s["server_cpu_s"],
                "database_cpu_s": s["database_cpu_s"],
                "cpu_ms_per_request": s["cpu_ms_per_request"],
                "generator_lag_p99_ms": s["generator"]["lag_p99_ms"],
                "generator_cpu_share": s["generator"]["cpu_share"],
            }
            for s in steps
        ],
        "workers": n_workers,
    }


def run(
    configs: tuple[str, ...] = CONFIGS,
    *,
    teams: int = 20,
    leads: int = 2000,
    events_per_lead: int = 10,
    duration: float = 15.0,
    max_factor: float = 64.0,
    bisections: int = 3,
    warm_s: float = 5.0,
    postgres_url: str = DEFAULT_POSTGRES,
    redis_url: str = DEFAULT_REDIS,
    seed_value: int = 5,
    voice: bool = True,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Every config of ``configs``: capacity factor, per-route latency at factor 1, RSS."""
    for name in configs:
        if name not in CONFIGS:
            raise ValueError(f"unknown config {name!r}: one of {', '.join(CONFIGS)}")
    world = World(teams=teams, leads=leads, events_per_lead=events_per_lead, seed=seed_value)
    before = os.getloadavg()
    results = {
        name: run_config(
            name,
            world,
            duration=duration,
            postgres_url=postgres_url,
            redis_url=redis_url,
            max_factor=max_factor,
            bisections=bisections,
            warm_s=warm_s,
            voice=voice,
            progress=progress,
        )
        for name in configs
    }
    return {
        "configs": results,
        "load_per_s": LOAD,
        "world": msgspec.to_builtins(world),
        "duration_s": duration,
        "target_p95_ms": TARGET_P95_MS,
        "cpus": os.cpu_count(),
        "loadavg_before_after": [list(before), list(os.getloadavg())],
    }
