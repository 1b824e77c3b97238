"""Real devices (EdgeRuntime, own SQLite files) syncing through a real server on a socket."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from edge.errors import NotFoundError
from edge.runtime import EdgeRuntime
from server.storage import sqlite_path
from sync.clock import wall_clock_ms
from sync.codec import Format, encode_batch
from sync.version import SCHEMA_VERSION
from tests.device_db import device_rows, device_value
from tests.factories import small_world
from tests.live_server import ENGINES

#: On the tests marked with it, the server runs on each storage engine in turn.
both_engines = pytest.mark.parametrize("server_engine", ENGINES)

DAY_MS = 24 * 3_600_000
ROOT = Path(__file__).resolve().parents[2]


async def phone(tmp_path: Path, name: str, clock=wall_clock_ms) -> EdgeRuntime:
    return await EdgeRuntime.open(tmp_path / f"{name}.db", clock=clock)


def server_state(server, token: str, kind: str, rid: str) -> dict:
    with httpx.Client(base_url=server.url, headers={"authorization": f"Bearer {token}"}) as h:
        return h.get(f"/api/v1/sync/records/{kind}/{rid}").json()


def server_conflicts(server, token: str) -> list[dict]:
    with httpx.Client(base_url=server.url, headers={"authorization": f"Bearer {token}"}) as h:
        return h.get("/api/v1/sync/conflicts").json()["conflicts"]


def server_log(server, token: str) -> list[dict]:
    with httpx.Client(base_url=server.url, headers={"authorization": f"Bearer {token}"}) as h:
        return h.get("/api/v1/sync/pull", params={"limit": 5000}).json()["changes"]


async def seeded_pair(tmp_path, server, token):
    """Two phones of one agent holding the same world, fully synced."""
    a, b = await phone(tmp_path, "a"), await phone(tmp_path, "b")
    await a.ingest(encode_batch(small_world(2, 3), Format.MSGPACK))
    assert (await a.sync(server.url, token)).status == "ok"
    assert (await b.sync(server.url, token)).status == "ok"
    return a, b


@both_engines
@pytest.mark.parametrize("first", ["a", "b"])
async def test_two_phones_editing_one_lead_offline_converge(tmp_path, server, first):
    token = server.token()
    a, b = await seeded_pair(tmp_path, server, token)
    try:
        assert (await b.counts()).events == 6
        # Offline: both edit the name; A also edits the email, B the status.
        await a.update("lead", "lead-000001", name="Ana (A)", email="ana@example.com")
        # B's edit must be later by the clock, not just by the statement order: two edits in
        # one millisecond tie, and the tie goes to the larger device id (random here).
        await asyncio.sleep(0.005)
        await b.update("lead", "lead-000001", name="Ana (B)", status="active")
        order = [a, b] if first == "a" else [b, a]
        for device in [*order, *order]:
            assert (await device.sync(server.url, token)).status == "ok"
        lead_a, lead_b = await a.get("lead", "lead-000001"), await b.get("lead", "lead-000001")
        assert lead_a == lead_b
        # Per field: both non-conflicting edits survive; the later name wins.
        assert (lead_a.email, lead_a.status) == ("ana@example.com", "active")
        assert lead_a.name == "Ana (B)"
        state = server_state(server, token, "lead", "lead-000001")
        assert state["fields"]["name"] == "Ana (B)"
        names = [
            (c["loser_value"], c["winner_value"])
            for c in server_conflicts(server, token)
            if c["field"] == "name"
        ]
        # The concurrent edit lost and is logged. (A device overwriting a value it had already
        # pulled is logged too: the log over-reports rather than miss a lost value.)
        assert ("Ana (A)", "Ana (B)") in names
        assert (await a.counts()).outbox_pending == (await b.counts()).outbox_pending == 0
    finally:
        await a.close()
        await b.close()


class DropFirstPushAnswer(httpx.AsyncBaseTransport):
    """Delivers requests to the real server but loses the answer to the first push."""

    def __init__(self):
        self.inner = httpx.AsyncHTTPTransport()
        self.dropped = 0
        self.pulls = 0
        self.fail_pull_at: int | None = None

    async def handle_async_request(self, request):
        if request.url.path.endswith("/pull"):
            self.pulls += 1
            if self.pulls == self.fail_pull_at:
                raise httpx.ReadError("connection reset mid-page", request=request)
        response = await self.inner.handle_async_request(request)
        if request.url.path.endswith("/push") and not self.dropped:
            await response.aread()
            await response.aclose()
            self.dropped += 1
            raise httpx.ReadTimeout("answer lost", request=request)
        return response

    async def aclose(self):
        await self.inner.aclose()


@both_engines
async def test_a_push_retried_after_a_lost_answer_changes_nothing(tmp_path, server):
    token = server.token()
    a = await phone(tmp_path, "a")
    transport = DropFirstPushAnswer()
    try:
        await a.ingest(encode_batch(small_world(2, 3), Format.MSGPACK))
        report = await a.sync(server.url, token, transport=transport, base_s=0.01)
        assert transport.dropped == 1
        assert (report.status, report.pushed) == ("ok", 11)
        log = server_log(server, token)
        assert sorted(c["seq"] for c in log) == list(range(1, 12))
        assert (await a.counts()).outbox_pending == 0
        again = await a.sync(server.url, token)
        assert (again.pushed, len(server_log(server, token))) == (0, 11)
    finally:
        await transport.aclose()
        await a.close()


async def test_a_pull_interrupted_mid_way_resumes_from_its_checkpoint(tmp_path, server):
    token = server.token()
    a, b = await phone(tmp_path, "a"), await phone(tmp_path, "b")
    transport = DropFirstPushAnswer()
    transport.dropped = 1  # only the pull fails here
    transport.fail_pull_at = 3
    try:
        await a.ingest(encode_batch(small_world(3, 4), Format.MSGPACK))
        await a.sync(server.url, token)
        report = await b.sync(server.url, token, transport=transport, page_size=4, attempts=1)
        assert report.status == "unavailable"
        assert await b.sync_checkpoint() == 8  # two pages of four were applied
        done = await b.sync(server.url, token, page_size=4)
        assert (done.status, done.pulled, done.checkpoint) == ("ok", 10, 18)
        assert (await b.counts()).events == (await a.counts()).events == 12
    finally:
        await transport.aclose()
        await a.close()
        await b.close()


async def test_a_device_a_day_behind_still_orders_its_edits_after_what_it_saw(tmp_path, server):
    token = server.token()
    a, b = await seeded_pair(tmp_path, server, token)
    await b.close()
    late = await EdgeRuntime.open(tmp_path / "b.db", clock=lambda: wall_clock_ms() - DAY_MS)
    try:
        await a.update("lead", "lead-000001", name="seen by the late phone")
        await a.sync(server.url, token)
        await late.sync(server.url, token)
        assert (await late.get("lead", "lead-000001")).name == "seen by the late phone"
        await late.update("lead", "lead-000001", name="edited after, with a slow clock")
        assert (await late.sync(server.url, token)).status == "ok"
        await a.sync(server.url, token)
        for device in (a, late):
            assert (await device.get("lead", "lead-000001")).name == (
                "edited after, with a slow clock"
            )
    finally:
        await a.close()
        await late.close()


async def test_a_device_a_day_ahead_is_refused_and_keeps_its_changes(tmp_path, server):
    token = server.token()
    ahead = await phone(tmp_path, "ahead", clock=lambda: wall_clock_ms() + DAY_MS)
    try:
        await ahead.ingest(encode_batch(small_world(1, 1), Format.MSGPACK))
        report = await ahead.sync(server.url, token)
        assert (report.status, report.code) == ("refused", "clock_ahead")
        assert (await ahead.counts()).outbox_pending == 5
        assert server_log(server, token) == []
    finally:
        await ahead.close()


async def test_a_batch_with_a_newer_schema_is_refused_and_kept(tmp_path, server):
    token = server.token()
    a = await phone(tmp_path, "a")
    try:
        await a.ingest(encode_batch(small_world(1, 2), Format.MSGPACK))
        report = await a.sync(server.url, token, schema_version=SCHEMA_VERSION + 1)
        assert (report.status, report.code, report.quarantined) == (
            "refused",
            "schema_version_unsupported",
            6,
        )
        assert await a.quarantined() == 6
        assert (await a.counts()).leads == 1  # nothing reset
        assert server_log(server, token) == []
        # After an upgrade, the kept changes go through.
        assert await a.release_quarantine() == 6
        assert (await a.sync(server.url, token)).pushed == 6
    finally:
        await a.close()


@both_engines
async def test_deletes_and_hard_erase_reach_the_other_phone(tmp_path, server):
    token = server.token()
    a, b = await seeded_pair(tmp_path, server, token)
    try:
        await a.delete("lead", "lead-000002", hard_erase=True)
        await a.sync(server.url, token)
        await b.sync(server.url, token)
        counts = await b.counts()
        assert (counts.leads, counts.events) == (1, 3)
    finally:
        await a.close()
        await b.close()


# --- SIGKILL ---------------------------------------------------------------------------

SYNC = """
import asyncio, sys
from edge.errors import NotFoundError
from edge.runtime import EdgeRuntime
async def main():
    async with await EdgeRuntime.open(sys.argv[1]) as rt:
        print("ready", flush=True)
        report = await rt.sync(sys.argv[2], sys.argv[3], batch_size=int(sys.argv[4]),
                               page_size=int(sys.argv[4]))
        print(report.status, flush=True)
asyncio.run(main())
"""


def sync_process(db: Path, server, token: str, size: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", SYNC, str(db), server.url, token, str(size)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def kill_when(proc: subprocess.Popen, trigger) -> bool:
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    deadline = time.monotonic() + 60
    killed = False
    while proc.poll() is None and time.monotonic() < deadline:
        if trigger():
            proc.send_signal(signal.SIGKILL)
            killed = True
            break
        time.sleep(0.002)
    proc.wait(timeout=30)
    proc.stdout.close()
    return killed


def server_query(server, sql: str) -> list[tuple]:
    """``sql`` on the server's database, whichever engine it runs on."""
    path = sqlite_path(server.config.database_url)
    if path is not None:
        return query(path, sql)
    with psycopg.connect(server.config.database_url) as conn:
        return conn.execute(sql).fetchall()


def query(db: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return conn.execute(sql).fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()


async def test_sigkill_during_push_then_restart_loses_nothing_and_doubles_nothing(tmp_path, server):
    token = server.token()
    db = tmp_path / "a.db"
    async with await EdgeRuntime.open(db) as a:
        await a.ingest(encode_batch(small_world(20, 20), Format.MSGPACK))
        total = (await a.counts()).outbox_pending
    killed = kill_when(
        sync_process(db, server, token, 40),
        lambda: (server_query(server, "SELECT count(*) FROM applied") or [(0,)])[0][0] >= 80,
    )
    assert killed
    done = sync_process(db, server, token, 40)
    assert done.stdout is not None
    assert done.stdout.readline().strip() == "ready"
    assert done.stdout.readline().strip() == "ok"
    done.wait(timeout=60)
    done.stdout.close()
    seqs = [r[0] for r in server_query(server, "SELECT seq FROM applied ORDER BY seq")]
    assert seqs == list(range(1, total + 1))
    assert server_query(server, "SELECT count(*) FROM change_log")[0][0] == total
    assert query(db, "SELECT count(*) FROM outbox WHERE sent_at IS NULL")[0][0] == 0


async def test_sigkill_during_the_apply_of_a_pull_then_restart(tmp_path, server):
    token = server.token()
    async with await EdgeRuntime.open(tmp_path / "a.db") as a:
        await a.ingest(encode_batch(small_world(20, 20), Format.MSGPACK))
        assert (await a.sync(server.url, token)).status == "ok"
        expected = await a.counts()
    db = tmp_path / "b.db"
    async with await EdgeRuntime.open(db):
        pass
    killed = kill_when(
        sync_process(db, server, token, 25),
        lambda: (
            int(
                (query(db, "SELECT value FROM settings WHERE key = 'sync_checkpoint'") or [(0,)])[
                    0
                ][0]
            )
            >= 100
        ),
    )
    assert killed
    assert query(db, "PRAGMA integrity_check") == [("ok",)]
    async with await EdgeRuntime.open(db) as b:
        report = await b.sync(server.url, token, page_size=25)
        assert report.status == "ok"
        got = await b.counts()
        assert (got.leads, got.events, got.listings) == (
            expected.leads,
            expected.events,
            expected.listings,
        )
        assert got.outbox_pending == 0
        assert report.checkpoint == len(server_log(server, token))


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
async def test_three_phones_with_random_offline_edits_converge(tmp_path, server, seed):
    """Random edits and deletes on three phones, synced in random orders, end identical."""
    import random

    rng = random.Random(seed)
    print("seed", seed)
    token = server.token()
    a, b = await seeded_pair(tmp_path, server, token)
    c = await phone(tmp_path, "c")
    phones = [a, b, c]
    try:
        await c.sync(server.url, token)
        for _ in range(3):
            for device in phones:
                for _ in range(rng.randrange(1, 4)):
                    lead_id = f"lead-{rng.randrange(1, 3):06d}"
                    try:
                        if rng.random() < 0.1:
                            await device.delete("lead", lead_id)
                            continue
                        field, value = rng.choice(
                            [
                                ("name", f"n{rng.randrange(100)}"),
                                ("email", f"e{rng.randrange(100)}@x.org"),
                                ("status", rng.choice(["new", "active", "lost"])),
                            ]
                        )
                        await device.update("lead", lead_id, **{field: value})
                    except NotFoundError:
                        pass  # deleted on this phone
            for device in rng.sample(phones, 3):
                assert (await device.sync(server.url, token)).status == "ok"
        for device in phones:
            assert (await device.sync(server.url, token)).status == "ok"
        views = []
        for device in phones:
            rows = device_rows(device, "SELECT id, data FROM leads ORDER BY id")
            views.append([(r[0], bytes(r[1])) for r in rows])
        assert views[0] == views[1] == views[2]
        shown = {lead_id for lead_id, _ in views[0]}
        for lead_id in ("lead-000001", "lead-000002"):
            state = server_state(server, token, "lead", lead_id)
            assert state["exists"] == (lead_id in shown)
            if state["exists"]:
                assert (await a.get("lead", lead_id)).name == state["fields"]["name"]
    finally:
        for device in phones:
            await device.close()


async def test_the_sync_loop_catches_up_while_the_agent_keeps_writing(tmp_path, server):
    token = server.token()
    a, b = await seeded_pair(tmp_path, server, token)
    loop = a.sync_loop(server.url, token, interval_s=0.05, base_s=0.01, cap_s=0.05)
    loop.start()
    try:
        for i in range(20):
            await a.update("lead", "lead-000001", name=f"edit {i}")
            if i % 5 == 0:
                loop.notify_online()
            await asyncio.sleep(0.01)
        for _ in range(300):
            if (await a.counts()).outbox_pending == 0:
                break
            await asyncio.sleep(0.02)
        assert (await a.counts()).outbox_pending == 0
        assert loop.status == "running"
        await b.sync(server.url, token)
        assert (await b.get("lead", "lead-000001")).name == "edit 19"
    finally:
        await loop.stop()
        await a.close()
        await b.close()


class CutPullPage(httpx.AsyncBaseTransport):
    """Delivers the real server's answers, but cuts the body of one pull page in half."""

    def __init__(self, cut_at: int):
        self.inner = httpx.AsyncHTTPTransport()
        self.pulls = 0
        self.cut_at = cut_at

    async def handle_async_request(self, request):
        response = await self.inner.handle_async_request(request)
        if not request.url.path.endswith("/pull"):
            return response
        self.pulls += 1
        body = await response.aread()
        await response.aclose()
        if self.pulls == self.cut_at:
            body = body[: len(body) // 2]
        headers = [(k, v) for k, v in response.headers.items() if k.lower() != "content-length"]
        headers = [(k, v) for k, v in headers if k.lower() != "content-encoding"]
        return httpx.Response(response.status_code, headers=headers, content=body)

    async def aclose(self):
        await self.inner.aclose()


async def test_a_pull_page_cut_mid_body_is_not_applied_and_is_fetched_again(tmp_path, server):
    token = server.token()
    a, b = await phone(tmp_path, "a"), await phone(tmp_path, "b")
    transport = CutPullPage(cut_at=2)
    try:
        await a.ingest(encode_batch(small_world(3, 4), Format.MSGPACK))
        await a.sync(server.url, token)
        report = await b.sync(
            server.url, token, transport=transport, page_size=5, attempts=3, base_s=0.01
        )
        assert report.status == "ok" and transport.pulls >= 5
        assert report.checkpoint == 18
        assert device_value(b, "SELECT count(*) FROM sync_entities") == 18
        assert (await b.counts()).events == 12
    finally:
        await transport.aclose()
        await a.close()
        await b.close()
