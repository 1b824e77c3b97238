"""A process killed (SIGKILL) in the middle of an ingest leaves a consistent database."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sync.codec import Format, encode_batch
from tests.factories import small_world

LEADS, EVENTS_PER_LEAD = 150, 300
TOTAL_EVENTS = LEADS * EVENTS_PER_LEAD

INGEST = """
import asyncio, sys
from edge.runtime import EdgeRuntime
async def main():
    async with await EdgeRuntime.open(sys.argv[1]) as rt:
        print("ready", flush=True)
        await rt.ingest(open(sys.argv[2], "rb").read())
        print("done", flush=True)
asyncio.run(main())
"""


@pytest.fixture(scope="module")
def big_batch(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("batch") / "big.msgpack"
    path.write_bytes(encode_batch(small_world(LEADS, EVENTS_PER_LEAD), Format.MSGPACK))
    return path


def _kill_when(db: Path, batch: Path, trigger) -> bool:
    """Start an ingest, SIGKILL it when ``trigger(db)`` holds; True if it was killed before done."""
    with subprocess.Popen(
        [sys.executable, "-c", INGEST, str(db), str(batch)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    ) as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            if trigger(db):
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.002)
        proc.wait(timeout=30)
    return proc.returncode == -signal.SIGKILL


def _state(db: Path) -> tuple[str, int, int, int]:
    conn = sqlite3.connect(db)
    try:
        ok = conn.execute("PRAGMA integrity_check").fetchone()[0]
        events = conn.execute("SELECT count(*) FROM events").fetchone()[0]
        leads = conn.execute("SELECT count(*) FROM leads").fetchone()[0]
        outbox = conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
        return ok, leads, events, outbox
    finally:
        conn.close()


def _wal_bigger_than(limit: int):
    def check(db: Path) -> bool:
        wal = db.with_name(db.name + "-wal")
        return wal.exists() and wal.stat().st_size > limit

    return check


@pytest.mark.parametrize("wal_bytes", [64 * 1024, 2 * 1024 * 1024, 6 * 1024 * 1024])
def test_sigkill_during_ingest_leaves_all_or_nothing(tmp_path, big_batch, wal_bytes):
    db = tmp_path / "device.db"
    killed = _kill_when(db, big_batch, _wal_bigger_than(wal_bytes))
    ok, leads, events, outbox = _state(db)
    assert ok == "ok"
    total = 3 + LEADS + TOTAL_EVENTS
    assert (leads, events, outbox) in {(0, 0, 0), (LEADS, TOTAL_EVENTS, total)}
    if killed:
        # Usually mid-write; the batch must then be absent, never partial.
        assert (leads, events, outbox) == (0, 0, 0) or outbox == total


def test_after_a_kill_the_same_batch_ingests_cleanly(tmp_path, big_batch):
    db = tmp_path / "device.db"
    _kill_when(db, big_batch, _wal_bigger_than(256 * 1024))
    done = subprocess.run(
        [sys.executable, "-c", INGEST, str(db), str(big_batch)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    ok, leads, events, _ = _state(db)
    assert (ok, leads, events) == ("ok", LEADS, TOTAL_EVENTS)
    conn = sqlite3.connect(db)
    seqs = [r[0] for r in conn.execute("SELECT seq FROM outbox ORDER BY seq")]
    conn.close()
    assert seqs == list(range(1, len(seqs) + 1))
