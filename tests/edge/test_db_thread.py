"""The database thread: one thread owns the connection, calls run in order, errors come back,
close drains; and no read of the store or the analyst's reader blocks the event loop."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time

import pytest

from edge.db_thread import DbThread, DbThreadClosedError
from edge.errors import StoreError
from edge.features_sql import StoreReader
from edge.store import EdgeStore

#: A read that keeps SQLite busy for a while (about 0.1-0.5 s, more on a loaded machine).
SLOW_READ = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?) "
    "SELECT count(*) FROM c"
)
ROWS = 400_000


def memory() -> sqlite3.Connection:
    return sqlite3.connect(":memory:", isolation_level=None)


@pytest.fixture
async def db():
    thread = DbThread(memory, name="test-db")
    yield thread
    await thread.close()


async def test_calls_run_on_one_thread_that_is_not_the_loops(db):
    idents = await asyncio.gather(*(db.run(lambda conn: threading.get_ident()) for _ in range(5)))
    assert len(set(idents)) == 1
    assert idents[0] != threading.get_ident()


async def test_calls_run_one_at_a_time_in_the_order_they_came(db):
    await db.execute("CREATE TABLE t (i INTEGER)")
    await asyncio.gather(*(db.execute("INSERT INTO t VALUES (?)", (i,)) for i in range(50)))
    rows = await db.fetchall("SELECT i FROM t ORDER BY rowid")
    assert [r[0] for r in rows] == list(range(50))


async def test_a_function_of_several_statements_is_one_call_with_the_connection(db):
    def write(conn: sqlite3.Connection) -> int:
        conn.execute("CREATE TABLE t (i INTEGER)")
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(10)])
        conn.execute("COMMIT")
        return conn.execute("SELECT sum(i) FROM t").fetchone()[0]

    assert await db.run(write) == 45


async def test_errors_come_back_to_the_caller_with_their_type(db):
    with pytest.raises(sqlite3.OperationalError, match="no such table: nowhere"):
        await db.fetchall("SELECT * FROM nowhere")

    def fail(conn: sqlite3.Connection) -> None:
        raise ValueError("bad value 42")

    with pytest.raises(ValueError, match="bad value 42"):
        await db.run(fail)

    def stop(conn: sqlite3.Connection) -> None:
        raise StopIteration  # a future cannot hold one: it comes back as a RuntimeError

    with pytest.raises(RuntimeError, match="StopIteration"):
        await db.run(stop)
    assert await db.run(lambda conn: conn.execute("SELECT 7").fetchone()[0]) == 7


async def test_a_connection_that_cannot_open_fails_every_call(tmp_path):
    def connect() -> sqlite3.Connection:
        raise sqlite3.OperationalError("unable to open database file")

    thread = DbThread(connect, name="broken")
    try:
        for _ in range(2):
            with pytest.raises(StoreError, match="broken: no connection: unable to open"):
                await thread.run(lambda conn: 1)
    finally:
        await thread.close()


async def test_close_runs_every_queued_call_then_closes_the_connection():
    thread = DbThread(memory, name="draining")
    conns: list[sqlite3.Connection] = []

    def slow(conn: sqlite3.Connection, i: int) -> int:
        conns.append(conn)
        time.sleep(0.01)
        return i

    pending = [asyncio.ensure_future(thread.run(lambda conn, i=i: slow(conn, i))) for i in range(5)]
    await asyncio.sleep(0)  # queued, not done
    assert not all(f.done() for f in pending)
    await thread.close()
    assert [f.result() for f in pending] == [0, 1, 2, 3, 4]
    assert not thread._thread.is_alive()
    with pytest.raises(sqlite3.ProgrammingError, match="closed database"):
        conns[0].total_changes  # noqa: B018 (a closed connection refuses even this)
    with pytest.raises(DbThreadClosedError, match="draining is closed"):
        await thread.run(lambda conn: 1)
    await thread.close()  # twice is fine


async def test_a_cancelled_caller_leaves_the_thread_working(db):
    task = asyncio.ensure_future(db.run(lambda conn: time.sleep(0.05)))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await db.run(lambda conn: conn.execute("SELECT 3").fetchone()[0]) == 3


# --- the loop keeps running while SQLite works -----------------------------------------


async def ticks_while(read) -> tuple[int, object]:
    """How often a task that sleeps 1 ms got to run while ``read()`` was awaited."""
    ticks = 0
    done = False

    async def ticker() -> None:
        nonlocal ticks
        while not done:
            ticks += 1
            await asyncio.sleep(0.001)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)  # the ticker's first tick
    started = ticks
    result = await read()
    done = True
    await task
    return ticks - started, result


async def test_a_slow_read_of_the_store_does_not_block_the_loop(fresh_store):
    ticks, row = await ticks_while(lambda: fresh_store.fetchone(SLOW_READ, (ROWS,)))
    assert row[0] == ROWS
    assert ticks >= 5, f"the loop ran {ticks} times during a slow read of the store"


async def test_a_slow_read_of_the_analysts_reader_does_not_block_the_loop(fresh_store):
    reader = StoreReader(fresh_store)
    try:
        ticks, row = await ticks_while(lambda: reader.fetchone(SLOW_READ, (ROWS,)))
    finally:
        reader.close()
    assert row[0] == ROWS
    assert ticks >= 5, f"the loop ran {ticks} times during a slow read of the reader"


async def test_the_tick_count_sees_a_read_that_blocks_the_loop(fresh_store):
    """The control: the same read on a connection called from the loop (as the reader did
    before) lets the ticker run at most once, so the checks above can fail."""
    conn = sqlite3.connect(fresh_store.path)

    async def blocking() -> tuple:
        return conn.execute(SLOW_READ, (ROWS,)).fetchone()

    try:
        ticks, row = await ticks_while(blocking)
    finally:
        conn.close()
    assert row[0] == ROWS
    assert ticks <= 1


async def test_a_store_that_is_closed_refuses_reads(tmp_path):
    store = await EdgeStore.open(tmp_path / "d.db")
    await store.close()
    with pytest.raises(DbThreadClosedError):
        await store.counts()
