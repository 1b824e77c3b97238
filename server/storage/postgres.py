"""The scaled :class:`~server.storage.port.ServerStore`: PostgreSQL, shared by many workers.

psycopg 3 with a connection pool; every database call runs in a thread of the store's own
executor (one per pooled connection), so the event loop never waits on the network.

Several workers write at once, so a write transaction takes the locks the single SQLite writer
gets for free, always in the same order (no deadlocks):

1. the team's row in ``partitions`` (``lock_partition``, first thing in a push), held to
   commit: one team's pushes merge one after the other, and change-log positions are taken in
   commit order, so a puller that has seen position *n* has seen every committed position
   below it, and the same (device, seq) pushed to two workers at once is applied by the first
   and found in ``applied`` by the second, which answers the same;
   The same row holds the team's clock high-water mark (``partition_clock``), so a worker's
   clock moves past what any other worker gave that team before it, without a cluster-wide
   lock: pushes to different teams commit in parallel.
2. ``signing_keys`` row 1, only when the first key is created (``ON CONFLICT DO NOTHING``).
"""

from __future__ import annotations

import asyncio
import select
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Self, TypeVar

import psycopg
from psycopg_pool import ConnectionPool

from server.auth import new_signing_key
from server.storage.common import (
    RECORD_SELECT,
    CommonReads,
    CommonTx,
    lead_history_rows,
)
from server.storage.migrations import migrate_postgres
from server.storage.port import (
    Key,
    LoggedConflict,
    StorageError,
    StoredRecord,
    redact,
)
from server.storage.rows import (
    encoder,
    record_from_row,
)
from sync.changes import AnyChange

T = TypeVar("T")


def _alive(conn: psycopg.Connection[Any]) -> None:
    """The pool's check on checkout, without a round trip when the connection is quiet.

    An idle connection has nothing to read; a backend that was terminated (restart,
    failover, ``pg_terminate_backend``) has sent its error and closed, so its socket is
    readable: only then is the connection probed with a query (which raises, and the pool
    hands out another). A round trip per checkout doubled the cost of every short query.
    """
    if conn.closed or conn.broken:
        raise psycopg.OperationalError("the connection is closed")
    readable, _, _ = select.select([conn.fileno()], [], [], 0)
    if readable:
        ConnectionPool.check_connection(conn)


class PostgresTx(CommonTx):
    """A write transaction on one pooled connection (runs in one of the store's threads)."""

    _pg = True

    def __init__(self, conn: psycopg.Connection[Any]):
        self._conn = conn
        self._last: dict[str, int] = {}
        self._clock: dict[str, str] = {}

    def _run(self, statement: str, params: Sequence[Any] = ()) -> Any:
        return self._conn.execute(statement, params)

    def _run_many(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        self._conn.cursor().executemany(statement, rows)

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self._conn.execute(sql, params).fetchall()

    def lock_partition(self, team: str) -> None:
        """Lock (creating it if new) the team's ``partitions`` row until commit."""
        if team in self._last:
            return
        row = self._conn.execute(
            "INSERT INTO partitions (team_id, last_seq) VALUES (%s, 0) ON CONFLICT (team_id) "
            "DO UPDATE SET last_seq = partitions.last_seq RETURNING last_seq, hlc",
            (team,),
        ).fetchone()
        assert row is not None
        self._last[team], self._clock[team] = int(row[0]), str(row[1])

    def seen(self, device_id: str, seqs: Sequence[int]) -> set[int]:
        rows = self._all(
            "SELECT seq FROM applied WHERE device_id = %s AND seq = ANY(%s)",
            (device_id, list(seqs)),
        )
        return {int(r[0]) for r in rows}

    def records(self, team: str, keys: Sequence[Key]) -> dict[Key, StoredRecord]:
        by_kind: dict[str, list[str]] = {}
        for entity, entity_id in keys:
            by_kind.setdefault(entity, []).append(entity_id)
        out: dict[Key, StoredRecord] = {}
        for entity, ids in by_kind.items():
            rows = self._all(
                f"{RECORD_SELECT} WHERE team_id = %s AND entity = %s AND entity_id = ANY(%s)",
                (team, entity, ids),
            )
            for r in rows:
                out[(r[0], r[1])] = record_from_row(r)
        return out

    def records_of_lead(self, team: str, lead_id: str) -> list[StoredRecord]:
        rows = self._all(f"{RECORD_SELECT} WHERE team_id = %s AND lead_id = %s", (team, lead_id))
        return [record_from_row(r) for r in rows]

    def save_records(self, team: str, records: Sequence[StoredRecord]) -> None:
        self._conn.cursor().executemany(
            "INSERT INTO records (team_id, entity, entity_id, lead_id, state) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (team_id, entity, entity_id) DO UPDATE "
            "SET lead_id = excluded.lead_id, state = excluded.state",
            [(team, r.entity, r.entity_id, r.lead_id, encoder.encode(r.state)) for r in records],
        )

    def append_log(self, team: str, changes: Sequence[AnyChange]) -> int:
        self.lock_partition(team)
        last = self._last[team]
        self._conn.cursor().executemany(
            "INSERT INTO change_log (team_id, server_seq, entity, entity_id, payload) "
            "VALUES (%s, %s, %s, %s, %s)",
            [
                (team, last + i, c.entity, c.entity_id, encoder.encode(c))
                for i, c in enumerate(changes, 1)
            ],
        )
        last += len(changes)
        self._conn.execute("UPDATE partitions SET last_seq = %s WHERE team_id = %s", (last, team))
        self._last[team] = last
        return last

    def forget(self, team: str, keys: Sequence[Key]) -> None:
        params = [(team, entity, entity_id) for entity, entity_id in keys]
        cur = self._conn.cursor()
        for table in ("change_log", "conflicts"):
            cur.executemany(
                f"DELETE FROM {table} WHERE team_id = %s AND entity = %s AND entity_id = %s",
                params,
            )

    def count_conflicts(self, device_id: str, seqs: Sequence[int]) -> int:
        rows = self._all(
            "SELECT count(*) FROM conflicts WHERE device_id = %s AND seq = ANY(%s)",
            (device_id, list(seqs)),
        )
        return int(rows[0][0])

    def partition_clock(self, team: str) -> str:
        self.lock_partition(team)
        return self._clock[team]

    def set_partition_clock(self, team: str, hlc: str) -> None:
        self.lock_partition(team)
        self._conn.execute("UPDATE partitions SET hlc = %s WHERE team_id = %s", (hlc, team))
        self._clock[team] = hlc


class PostgresServerStore(CommonReads):
    """The server database in PostgreSQL (schema migrated on open, under an advisory lock).

    ``url`` is a libpq URL (``postgresql://user:password@host:5432/db``); its query may set
    libpq options such as ``options=-csearch_path%3Dmyschema``.
    """

    _pg = True

    def __init__(self, url: str, *, pool_size: int = 8, connect_timeout_s: int = 10):
        if pool_size < 1:
            raise StorageError(f"pool size {pool_size}: it must be at least 1")
        self.url = url
        self.pool_size = pool_size
        self.connect_timeout_s = connect_timeout_s
        self._pool: ConnectionPool[Any] | None = None
        self._threads: ThreadPoolExecutor | None = None

    def __repr__(self) -> str:
        return f"PostgresServerStore({redact(self.url)!r})"

    async def open(self) -> None:
        self._threads = ThreadPoolExecutor(self.pool_size, thread_name_prefix="server-pg")
        try:
            await self._in(self._open)
        except BaseException:
            await self.close()
            raise

    def _open(self) -> None:
        try:
            with psycopg.connect(
                self.url, autocommit=True, connect_timeout=self.connect_timeout_s
            ) as conn:
                migrate_postgres(conn)
        except psycopg.OperationalError as exc:
            raise StorageError(
                f"cannot open the PostgreSQL database {redact(self.url)}: {exc}"
            ) from exc
        self._pool = ConnectionPool(
            self.url,
            min_size=1,
            max_size=self.pool_size,
            kwargs={"autocommit": True},
            # A connection the database dropped (restart, failover) is replaced, not handed out.
            check=_alive,
            open=False,
            name="realty-edge-server",
        )
        self._pool.open(wait=True, timeout=self.connect_timeout_s)

    async def close(self) -> None:
        if self._pool is not None:
            await self._in(self._pool.close)
            self._pool = None
        if self._threads is not None:
            self._threads.shutdown(wait=True)
            self._threads = None

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _in(self, fn: Callable[..., T], *args: Any) -> T:
        assert self._threads is not None, "store is not open"
        return await asyncio.get_running_loop().run_in_executor(self._threads, fn, *args)

    async def write(self, fn: Callable[[PostgresTx], T]) -> T:
        """Run ``fn`` in one transaction on a pooled connection; roll back if it raises."""

        def run() -> T:
            assert self._pool is not None, "store is not open"
            with self._pool.connection() as conn, conn.transaction():
                return fn(PostgresTx(conn))

        return await self._in(run)

    async def _read(self, fn: Callable[[psycopg.Connection[Any]], T]) -> T:
        """``fn`` on a pooled connection in autocommit: each statement sees what is committed.
        A read on a connection that broke under it (the database dropped it between the
        checkout's check and the query) runs once more on another."""

        def run() -> T:
            assert self._pool is not None, "store is not open"
            for attempt in (1, 2):
                with self._pool.connection() as conn:
                    try:
                        return fn(conn)
                    except psycopg.OperationalError:
                        if attempt == 2 or not conn.broken:
                            raise
            raise AssertionError("unreachable")

        return await self._in(run)

    async def signing_key(self) -> bytes:
        def get_or_create(tx: PostgresTx) -> bytes:
            # A fixed id: two workers starting at once insert one key; the second waits for
            # the first to commit, inserts nothing and reads the first's key.
            tx._conn.execute(
                "INSERT INTO signing_keys (id, key, created_at) VALUES (1, %s, %s) "
                "ON CONFLICT (id) DO NOTHING",
                (new_signing_key(), int(time.time())),
            )
            row = tx._conn.execute("SELECT key FROM signing_keys ORDER BY id LIMIT 1").fetchone()
            assert row is not None
            return bytes(row[0])

        return await self.write(get_or_create)

    async def lead_history(
        self, team: str, lead_id: str
    ) -> tuple[list[StoredRecord], list[AnyChange], list[LoggedConflict]]:
        """Every record of a lead (the lead too), the logged changes and conflicts of them."""

        def read(conn: psycopg.Connection[Any]):
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                return lead_history_rows(conn, True, team, lead_id)

        return await self._read(read)
