"""``realty-edge bench chaos``: seeded crash campaign of three devices syncing through one server.

Each run is its own team (its own partition) on one long-lived server, so runs are cheap and
independent. In a run three devices (real :class:`EdgeRuntime` on real SQLite files, each with
its clock skewed by up to a day, either way) create leads, record and delete events and edit
lead fields, and sync concurrently through the real server on loopback, over a network that
misbehaves on purpose:

* **duplicates**: a push delivered twice, or its answer lost after the server committed it (the
  device resends), or an old batch of the device replayed later;
* **reorders**: the later half of a batch delivered alone before the whole batch, and the late
  replays above (an old batch arriving after newer ones);
* **device kills**: the device's round (open, writes, sync) runs in a child process that is
  SIGKILLed at a random step (1st to 6th of: opened, each write committed, each request about
  to go out, synced), so with writes, pushes or pulls in flight; the device file is then
  reopened as the killed process left it. This is a real process kill, not an abandoned object;
* **server kills**: the server is a child process (``create_app`` under uvicorn, as ``realty-edge
  serve`` runs it, on an SQLite file) SIGKILLed when the devices' traffic reaches a random
  request, and started again on the same file and port while the devices retry.

The server accepts clocks up to :data:`DAY_MS` + 1 h ahead in the campaign (its default refuses
more than an hour ahead, which would only prove the refusal). After the chaos every device syncs
cleanly, twice, and the run is checked against the server's database: every change in every
device's outbox and every event the campaign saw written is in the server's change log exactly
once (``lost``, ``doubled``), and every device's merged state (``sync_entities`` joined with its
own changes, HLCs included) and record tables equal the server's records (``converged``).

Runs go three at a time (:attr:`ChaosOptions.concurrency`). Children are forked from one
``multiprocessing`` forkserver that has imported the server and the edge runtime once, so a kill
and restart costs a fork, not a fresh interpreter (~3 s of imports here); as with any
forkserver, a script calling :func:`run` needs an ``if __name__ == "__main__":`` guard.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import multiprocessing
import multiprocessing.connection
import os
import random
import shutil
import socket
import tempfile
import time
import uuid
import weakref
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import msgspec

from sync.changes import ChangeBatch
from sync.merge import EntityState, is_visible

if TYPE_CHECKING:
    from edge.runtime import EdgeRuntime

DAY_MS = 24 * 3_600_000
HOUR_MS = 3_600_000
PUSH_PATH = "/api/v1/sync/push"
HEALTH_PATH = "/api/v1/advanced/health"
KINDS = ("lead", "event")
AGENT = "agent-01"
EVENT_TYPES = ("email_open", "property_view", "inquiry", "call_in", "showing_booked")
LEAD_FIELDS = ("budget_max", "budget_min", "source", "status")
STATUSES = ("new", "active", "converted", "lost")

_batch_dec = msgspec.msgpack.Decoder(ChangeBatch)
_batch_enc = msgspec.msgpack.Encoder()
_state_dec = msgspec.msgpack.Decoder(EntityState)

Tell = Callable[[str, str], None]


class ChaosError(Exception):
    """The campaign could not run (the server would not start, a device did not finish)."""


@dataclass(frozen=True)
class ChaosOptions:
    """What a campaign does; probabilities are per run (kills) or per push (network faults)."""

    runs: int = 100
    seed: int = 0
    leads: int = 2
    rounds: int = 2
    ops: int = 3  # writes per device per round (0..ops)
    p_server_kill: float = 0.04
    p_device_kill: float = 0.1
    p_duplicate: float = 0.25
    p_lost_answer: float = 0.1
    p_reorder: float = 0.25
    p_replay: float = 0.15
    max_skew_ms: int = DAY_MS
    #: The first run kills the server and a device (early), so that a short campaign has both.
    kill_in_first_run: bool = True
    #: Keep each run's device files (in ``folder``) for :func:`recheck`.
    keep: bool = False
    #: Runs at a time (each its own team and devices; a server kill hits them all).
    concurrency: int = 3


class ChaosCounts(msgspec.Struct, kw_only=True):
    """What a campaign did and found."""

    seed: int
    runs: int = 0
    server_kills: int = 0
    device_kills: int = 0
    kills: int = 0  # both kinds
    duplicates: int = 0
    reorders: int = 0
    writes: int = 0
    changes: int = 0  # changes in the server's change logs, all runs
    converged: int = 0
    lost: int = 0
    doubled: int = 0
    max_skew_ms: int = 0
    seconds: float = 0.0
    cpu_s: float = 0.0  # CPU seconds of this process (the devices, in-process ones)
    server_cpu_s: float = 0.0  # CPU seconds of the server processes
    failures: list[str] = msgspec.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.converged == self.runs and self.lost == 0 and self.doubled == 0


# --- the network that misbehaves --------------------------------------------------------


class ChaosTransport(httpx.AsyncBaseTransport):
    """Real HTTP to the real server, with pushes duplicated, replayed late and reordered.

    Every fault is told through ``tell`` before it is attempted (a fault sent while the server
    is down is counted, and the device's retry goes on). ``history`` (the device's earlier
    push bodies) outlives one sync, so a replay can bring back a batch of an earlier sync.
    """

    def __init__(
        self, rng: random.Random, opts: ChaosOptions | None, tell: Tell, history: list[bytes]
    ) -> None:
        self.inner = _shared_transport()
        self.rng = rng
        self.opts = opts
        self.tell = tell
        self.history = history

    async def _send(self, request: httpx.Request, content: bytes) -> httpx.Response:
        headers = [(k, v) for k, v in request.headers.raw if k.lower() != b"content-length"]
        copy = httpx.Request(request.method, request.url, headers=headers, content=content)
        self.tell("request", request.url.path)
        response = await self.inner.handle_async_request(copy)
        await response.aread()
        return response

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path != PUSH_PATH:
            return await self._send(request, await request.aread())
        body = await request.aread()
        rng, opts = self.rng, self.opts
        if opts is None:  # a clean sync
            return await self._send(request, body)
        if self.history and rng.random() < opts.p_replay:
            self.tell("duplicate", "replay")
            self.tell("reorder", "replay")
            await self._send(request, rng.choice(self.history))
        batch = _batch_dec.decode(gzip.decompress(body))
        if len(batch.changes) > 1 and rng.random() < opts.p_reorder:
            later = msgspec.structs.replace(batch, changes=batch.changes[len(batch.changes) // 2 :])
            self.tell("reorder", "later half first")
            await self._send(request, gzip.compress(_batch_enc.encode(later), mtime=0))
        self.history.append(body)
        response = await self._send(request, body)
        if rng.random() < opts.p_duplicate:
            self.tell("duplicate", "twice")
            await self._send(request, body)
        if response.status_code == 200 and rng.random() < opts.p_lost_answer:
            self.tell("duplicate", "answer lost")
            raise httpx.ReadError("the answer was lost (chaos)", request=request)
        return response

    async def aclose(self) -> None:
        """The shared connection pool stays open for the next sync of this process."""


_TRANSPORTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncHTTPTransport] = (
    weakref.WeakKeyDictionary()
)


def _shared_transport() -> httpx.AsyncHTTPTransport:
    """One connection pool per event loop: a new ``httpx`` transport loads the CA bundle
    (~0.2 s of CPU here) even for plain HTTP, which would dominate a cheap run."""
    loop = asyncio.get_running_loop()
    transport = _TRANSPORTS.get(loop)
    if transport is None:
        transport = _TRANSPORTS[loop] = httpx.AsyncHTTPTransport(verify=False)
    return transport


# --- one device's round -----------------------------------------------------------------


@dataclass
class DevicePlan:
    """What one device does in one round (drawn by the parent, so a run repeats from its seed)."""

    path: str
    url: str
    token: str
    skew_ms: int
    seed: int
    ops: list[str]
    opts: ChaosOptions
    create_leads: list[str] = field(default_factory=list)
    team: str = ""
    chaos: bool = True


async def open_device(plan: DevicePlan, template: Path | None = None) -> EdgeRuntime:
    """The device's runtime on its file, with its clock ``skew_ms`` off the true time.

    A new device file may start as a copy of ``template`` (a device created and migrated once
    and never written) given its own device id: the same file that creating it would give,
    without running the migrations again for every device of every run.
    """
    import sqlite3

    from edge.runtime import EdgeRuntime

    if template is not None and not Path(plan.path).exists():
        shutil.copyfile(template, plan.path)
        with contextlib.closing(sqlite3.connect(plan.path)) as conn, conn:
            conn.execute(
                "UPDATE settings SET value = ? WHERE key = 'device_id'",
                (f"dev-{uuid.uuid4().hex[:12]}",),  # as EdgeStore.open names a new device
            )

    skew = plan.skew_ms

    def clock() -> int:
        return int(time.time() * 1000) + skew

    return await EdgeRuntime.open(plan.path, clock=clock)


async def device_round(runtime: EdgeRuntime, plan: DevicePlan, tell: Tell) -> None:
    """Write what the plan says, then sync (retrying through server restarts)."""
    from sync.records import Lead

    rng = random.Random(plan.seed)
    if plan.create_leads:
        me = runtime.device_id
        await runtime.put(
            Lead(id=lead_id, agent_id=AGENT, team_id=plan.team, name=f"{lead_id} on {me}")
            for lead_id in plan.create_leads
        )
        tell("wrote", "leads")
    leads = await runtime.record_ids("lead")
    for op in plan.ops:
        if not leads:
            break
        lead_id = rng.choice(leads)
        if op == "event":
            event = await runtime.record_event(lead_id, rng.choice(EVENT_TYPES))
            tell("wrote", f"event:{event.id}")
        elif op == "update":
            name = rng.choice(LEAD_FIELDS)
            value: Any = (
                rng.choice(STATUSES)
                if name == "status"
                else f"src-{rng.randrange(1000)}"
                if name == "source"
                else float(rng.randrange(100, 900) * 1000)
            )
            await runtime.update("lead", lead_id, **{name: value})
            tell("wrote", f"update:{lead_id}")
        elif op == "delete":
            events = await runtime.record_ids("event")
            if events:
                await runtime.delete("event", rng.choice(events))
                tell("wrote", "delete")
    options: dict[str, Any] = {"attempts": 60, "base_s": 0.05, "cap_s": 0.4}
    options["batch_size"] = rng.choice((4, 500))
    options["transport"] = ChaosTransport(
        rng, plan.opts if plan.chaos else None, tell, _histories(plan.path)
    )
    report = await runtime.sync(plan.url, plan.token, deadline_s=120, **options)
    if report.status != "ok":
        raise ChaosError(f"{plan.path}: sync ended {report.status}: {report.detail}")
    tell("synced", str(report.pushed))


async def _child_round(plan: DevicePlan, tell: Tell) -> None:
    runtime = await open_device(plan)
    try:
        tell("opened", plan.path)
        await device_round(runtime, plan, tell)
    finally:
        await runtime.close()


_HISTORIES: dict[str, list[bytes]] = {}


def _histories(path: str) -> list[bytes]:
    """The push bodies a device sent earlier in this process (for late replays)."""
    return _HISTORIES.setdefault(path, [])


def _device_child(plan: DevicePlan, conn: multiprocessing.connection.Connection) -> None:
    """A device round in a child process, telling the parent each step (it may be killed)."""

    def tell(kind: str, what: str) -> None:
        conn.send((kind, what))

    try:
        asyncio.run(_child_round(plan, tell))
        conn.send(("done", ""))
    except BaseException as exc:  # reported to the parent, which fails the run
        conn.send(("error", f"{type(exc).__name__}: {exc}"))


# --- the server as a killable process ---------------------------------------------------


def _server_child(database: str, port: int) -> None:
    """Serve the app on ``port`` until killed (what ``realty-edge serve`` runs, one worker)."""
    import uvicorn

    from server import logs
    from server.app import create_app
    from server.config import ServerConfig

    logs.configure("WARNING")

    config = ServerConfig(
        database_url=database,
        max_clock_ahead_ms=DAY_MS + HOUR_MS,
        rate_per_s=1_000_000.0,
        rate_burst=1_000_000,
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    server = uvicorn.Server(
        uvicorn.Config(create_app(config), log_level="warning", access_log=False, log_config=None)
    )
    asyncio.run(server.serve(sockets=[sock]))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """The server in a child process on a fixed port: start, SIGKILL, start again."""

    def __init__(self, ctx: Any, database: Path):
        self.ctx = ctx
        self.database = database
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: BaseProcess | None = None
        self.starts = 0
        self._restarting = False
        self.cpu_s = 0.0  # CPU seconds of the server processes, summed over restarts

    def start(self, timeout_s: float = 120) -> None:
        self.proc = self.ctx.Process(
            target=_server_child, args=(str(self.database), self.port), daemon=True
        )
        self.proc.start()
        self.starts += 1
        deadline = time.monotonic() + timeout_s
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + HEALTH_PATH, timeout=2).status_code == 200:
                    return
            if not self.proc.is_alive() or time.monotonic() > deadline:
                raise ChaosError(f"the server did not start on {self.url}")
            time.sleep(0.02)

    async def kill_and_restart(self) -> bool:
        """SIGKILL the server and start it again; False (nothing done) while another run's
        kill is still restarting it."""
        if self._restarting:
            return False
        self._restarting = True
        try:
            self.kill()
            await asyncio.to_thread(self.start)
        finally:
            self._restarting = False
        return True

    def _account(self) -> None:
        """Add the CPU time of the running server process (Linux ``/proc``; else nothing)."""
        if self.proc is None or self.proc.pid is None:
            return
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            self.cpu_s += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def kill(self) -> None:
        if self.proc is not None and self.proc.is_alive():
            self._account()
            self.proc.kill()  # SIGKILL
            self.proc.join(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.is_alive():
            self._account()
            self.proc.terminate()
            self.proc.join(30)
            if self.proc.is_alive():
                self.kill()


@contextmanager
def forkserver() -> Iterator[Any]:
    """A multiprocessing context whose children fork from a process that imported us once."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["tools.bench_chaos", "server.app", "edge.runtime", "uvicorn"])
    yield ctx


# --- one run ----------------------------------------------------------------------------


class RunState:
    """Counters and the campaign's own ledger of what devices wrote."""

    def __init__(self, counts: ChaosCounts, server: ServerProcess, kill_at: int | None):
        self.counts = counts
        self.server = server
        self.requests = 0
        self.kill_at = kill_at  # the server dies at this request of the round, if set
        self.killing: asyncio.Task[None] | None = None
        self.written: set[str] = set()  # "event:<id>" the devices reported done

    def tell(self, kind: str, what: str) -> None:
        if kind == "duplicate":
            self.counts.duplicates += 1
        elif kind == "reorder":
            self.counts.reorders += 1
        elif kind == "wrote":
            self.counts.writes += 1
            if what.startswith("event:"):
                self.written.add(what[6:])
        elif kind == "request":
            self.requests += 1
            if self.kill_at is not None and self.requests >= self.kill_at:
                self.kill_at = None
                self.killing = asyncio.get_running_loop().create_task(self._kill_server())

    async def _kill_server(self) -> None:
        if await self.server.kill_and_restart():
            self.counts.server_kills += 1


async def run_in_child(ctx: Any, plan: DevicePlan, state: RunState, kill_after: int) -> None:
    """The round in a child process, SIGKILLed at its ``kill_after``-th step (if it gets there)."""
    receiver, sender = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_device_child, args=(plan, sender), daemon=True)
    proc.start()
    sender.close()
    steps, killed = 0, False
    try:
        while True:
            if not await asyncio.to_thread(receiver.poll, 60):
                raise ChaosError(f"{plan.path}: the device child went silent")
            try:
                kind, what = receiver.recv()
            except EOFError:
                raise ChaosError(f"{plan.path}: the device child died unasked") from None
            if kind == "done":
                break
            if kind == "error":
                raise ChaosError(f"{plan.path}: {what}")
            steps += 1
            if steps >= kill_after:
                proc.kill()
                killed = True
                # A write told here was committed; one cut short was not: both are honest.
                state.tell(kind, what)
                break
            state.tell(kind, what)
    finally:
        if proc.is_alive() and not killed:
            proc.kill()
        await asyncio.to_thread(proc.join, 30)
        receiver.close()
    if killed:
        state.counts.device_kills += 1


def team_of(seed: int, index: int) -> str:
    return f"chaos-{seed}-{index}"


def device_paths(folder: Path, index: int) -> list[str]:
    return [str(folder / f"run-{index}-device-{d}.db") for d in range(3)]


def _ops(rng: random.Random, n: int) -> list[str]:
    return [rng.choice(("event", "event", "update", "update", "delete")) for _ in range(n)]


async def one_run(
    index: int,
    opts: ChaosOptions,
    ctx: Any,
    server: ServerProcess,
    key: bytes,
    folder: Path,
    counts: ChaosCounts,
    store: Any,
    template: Path | None = None,
) -> None:
    """Chaos rounds, then clean syncs, then the checks against the server's database."""
    from server.auth import issue_token

    rng = random.Random(f"{opts.seed}:{index}")
    team = team_of(opts.seed, index)
    now = int(time.time() * 1000)
    token = issue_token(key, agent=AGENT, team=team, now_ms=now, ttl_ms=DAY_MS)
    paths = device_paths(folder, index)
    skews = [rng.randint(-opts.max_skew_ms, opts.max_skew_ms) for _ in paths]
    counts.max_skew_ms = max(counts.max_skew_ms, *(abs(s) for s in skews))
    leads = [f"lead-{index}-{i}" for i in range(opts.leads)]
    first = index == 0 and opts.kill_in_first_run
    server_round = rng.randrange(opts.rounds) if first or rng.random() < opts.p_server_kill else -1
    child_device = rng.randrange(3) if first or rng.random() < opts.p_device_kill else -1
    child_round = rng.randrange(opts.rounds)
    written: set[str] = set()

    def plan(d: int, r: int, chaos: bool = True) -> DevicePlan:
        ops = _ops(rng, rng.randint(0, opts.ops)) if chaos else []
        return DevicePlan(
            path=paths[d],
            url=server.url,
            token=token,
            skew_ms=skews[d],
            seed=rng.randrange(2**32),
            ops=ops,
            opts=opts,
            team=team,
            chaos=chaos,
            create_leads=leads if r == 0 and chaos else [],
        )

    plans = [plan(d, 0, chaos=False) for d in range(3)]
    runtimes = [await open_device(p, template) for p in plans]

    async def in_child(d: int, p: DevicePlan, state: RunState, kill_after: int) -> None:
        await runtimes[d].close()
        await run_in_child(ctx, p, state, kill_after)
        runtimes[d] = await open_device(p)  # the file as the killed process left it

    try:
        for r in range(opts.rounds):
            state = RunState(
                counts, server, rng.randint(1, 4 if first else 12) if r == server_round else None
            )
            tasks = []
            for d in range(3):
                p = plan(d, r)
                if r == child_round and d == child_device:
                    tasks.append(in_child(d, p, state, kill_after=rng.randint(1, 6)))
                else:
                    tasks.append(device_round(runtimes[d], p, state.tell))
            await asyncio.gather(*tasks)
            if state.killing is not None:
                await state.killing
            written |= state.written
        quiet = RunState(counts, server, None)
        for _ in range(2):  # clean syncs: everything pushed, then everything pulled
            await asyncio.gather(
                *(device_round(runtimes[d], plan(d, 1, chaos=False), quiet.tell) for d in range(3))
            )
    finally:
        for runtime in runtimes:
            await runtime.close()
    await check_run(team, paths, written, store, counts)
    counts.runs += 1


# --- the checks -------------------------------------------------------------------------


async def _device_view(
    path: str,
) -> tuple[list[tuple[str, int]], dict[tuple[str, str], EntityState], dict[str, set[str]]]:
    """A device's outbox keys, merged states (as the device itself computes them: synced state
    joined with its own changes) and visible record ids, read from its file (off the loop)."""
    return await asyncio.to_thread(_read_device_view, path)


def _read_device_view(
    path: str,
) -> tuple[list[tuple[str, int]], dict[tuple[str, str], EntityState], dict[str, set[str]]]:
    import sqlite3

    from edge.remote_changes import local_states

    db = sqlite3.connect(path)
    try:
        db.row_factory = sqlite3.Row

        def rows(sql: str) -> list[sqlite3.Row]:
            return db.execute(sql).fetchall()

        device = rows("SELECT value FROM settings WHERE key = 'device_id'")[0][0]
        pending = rows("SELECT count(*) FROM outbox WHERE sent_at IS NULL")[0][0]
        if pending:
            raise ChaosError(f"{path}: {pending} changes never acknowledged after clean syncs")
        outbox = [(device, int(r[0])) for r in rows("SELECT seq FROM outbox")]
        keys = {
            (r[0], r[1])
            for sql in (
                "SELECT entity, entity_id FROM sync_entities",
                "SELECT entity, entity_id FROM outbox",
            )
            for r in rows(sql)
        }
        states = local_states(db, sorted(keys))
        visible = {
            "lead": {r[0] for r in rows("SELECT id FROM leads")},
            "event": {r[0] for r in rows("SELECT id FROM events")},
        }
        return outbox, states, visible
    finally:
        db.close()


async def check_run(
    team: str, paths: list[str], written: set[str], store: Any, counts: ChaosCounts
) -> None:
    """Every outbox change and written event on the server once; every device equal to it."""
    log = await store.pull(team, 0, 1_000_000)
    keys = Counter((c.device_id, c.seq) for _, c in log)
    counts.changes += len(log)
    doubled = sum(n - 1 for n in keys.values() if n > 1)
    server_states: dict[tuple[str, str], EntityState] = {}
    for kind in KINDS:
        for _, rec in await store.team_records(team, kind):
            server_states[(rec.entity, rec.entity_id)] = rec.state
    lost = sum(1 for e in written if ("event", e) not in server_states)
    problems: list[str] = []
    converged = True
    for path in paths:
        outbox, states, visible = await _device_view(path)
        lost += sum(1 for k in outbox if k not in keys)
        mine = {k: s for k, s in states.items() if k[0] in KINDS}
        if mine != server_states:
            converged = False
            differ = sorted(
                k for k in mine.keys() | server_states.keys() if mine.get(k) != server_states.get(k)
            )
            first = differ[0]
            problems.append(
                f"{Path(path).name}: {len(differ)} records differ from the server, first "
                f"{first}: device {mine.get(first)} server {server_states.get(first)}"
            )
        for kind in KINDS:
            want = {k[1] for k, s in server_states.items() if k[0] == kind and is_visible(s)}
            if visible[kind] != want:
                converged = False
                problems.append(f"{Path(path).name}: {kind} rows {visible[kind] ^ want}")
    counts.lost += lost
    counts.doubled += doubled
    counts.converged += converged
    if lost or doubled or not converged:
        counts.failures.append(f"{team}: lost {lost}, doubled {doubled}; " + "; ".join(problems))


# --- the campaign -----------------------------------------------------------------------


async def _template(folder: Path) -> Path:
    """A device file created and migrated once, never written (see :func:`open_device`)."""
    from edge.runtime import EdgeRuntime

    path = folder / "template-device.db"
    runtime = await EdgeRuntime.open(path)
    await runtime.close()
    return path


def _forget(folder: Path, index: int, *, keep: bool) -> None:
    """Remove run ``index``'s device files (unless kept) and its push histories."""
    for path in device_paths(folder, index):
        _HISTORIES.pop(path, None)
    if keep:
        return
    for stale in folder.glob(f"run-{index}-*"):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)


async def _campaign(
    opts: ChaosOptions, folder: Path, progress: Callable[[str], None] | None
) -> ChaosCounts:
    from server.storage import open_store

    counts = ChaosCounts(seed=opts.seed)
    if progress is not None:
        progress(f"chaos campaign: seed {opts.seed}, {opts.runs} runs")
    start, cpu = time.perf_counter(), time.process_time()
    database = folder / "server.db"
    with forkserver() as ctx:
        server = ServerProcess(ctx, database)
        await asyncio.to_thread(server.start)
        if progress is not None:
            progress(f"server up on {server.url} in {time.perf_counter() - start:.1f} s")
        try:
            async with open_store(str(database), pool_size=1) as store:
                key = await store.signing_key()
                template = await _template(folder)
                indices = iter(range(opts.runs))

                async def worker() -> None:
                    for i in indices:
                        await one_run(i, opts, ctx, server, key, folder, counts, store, template)
                        _forget(folder, i, keep=opts.keep)
                        if progress is not None and (counts.runs % 50 == 0):
                            kills = counts.server_kills + counts.device_kills
                            progress(
                                f"{counts.runs} runs, {kills} kills, "
                                f"{len(counts.failures)} failed, "
                                f"{time.perf_counter() - start:.0f} s"
                            )

                await asyncio.gather(*(worker() for _ in range(max(1, opts.concurrency))))
        finally:
            server.stop()
            counts.server_cpu_s = round(server.cpu_s, 1)
    counts.seconds = round(time.perf_counter() - start, 1)
    counts.cpu_s = round(time.process_time() - cpu, 1)
    counts.kills = counts.server_kills + counts.device_kills
    return counts


def run(
    runs: int = 100,
    seed: int | None = None,
    *,
    folder: Path | None = None,
    progress: Callable[[str], None] | None = None,
    **options: Any,
) -> ChaosCounts:
    """Run the campaign (``seed`` None: a fresh one, reported in the counts)."""
    seed = random.SystemRandom().randrange(2**31) if seed is None else seed
    opts = ChaosOptions(runs=runs, seed=seed, **options)
    if folder is not None:
        return asyncio.run(_campaign(opts, folder, progress))
    with tempfile.TemporaryDirectory(prefix="realty-chaos-") as tmp:
        return asyncio.run(_campaign(opts, Path(tmp), progress))


def recheck(folder: Path, seed: int, index: int = 0) -> ChaosCounts:
    """Check run ``index`` of a campaign kept in ``folder`` again, its files as they are now
    (the server stopped); the event ledger is not kept, so only the database checks run."""
    from server.storage import open_store

    async def check() -> ChaosCounts:
        counts = ChaosCounts(seed=seed, runs=1)
        async with open_store(str(folder / "server.db"), pool_size=1) as store:
            await check_run(team_of(seed, index), device_paths(folder, index), set(), store, counts)
        return counts

    return asyncio.run(check())
