"""The default :class:`~server.storage.port.ServerStore`: SQLite, embedded, no set-up.

One writer connection in its own thread (each write is one function run whole inside
``BEGIN IMMEDIATE … COMMIT``) and one reader connection in another, so that a pull never sees
a push that is not committed (WAL).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Self, TypeVar

from edge.erasure import checkpoint
from server.auth import new_signing_key
from server.storage.common import CommonReads, CommonTx, lead_history_rows
from server.storage.migrations import migrate_sqlite
from server.storage.port import (
    Key,
    LoggedConflict,
    StoredRecord,
)
from server.storage.rows import (
    encoder,
    record_from_row,
)
from sync.changes import AnyChange

_CHUNK = 400
T = TypeVar("T")


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    db.row_factory = sqlite3.Row
    # secure_delete: the bytes of a deleted row, or of a row's old image, are zeroed, so an
    # erased lead leaves no copy in the file's free space (and a checkpoint follows erasures).
    for pragma in (
        "journal_mode = WAL",
        "synchronous = NORMAL",
        "busy_timeout = 5000",
        "secure_delete = ON",
    ):
        db.execute(f"PRAGMA {pragma}")
    return db


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


class SqliteTx(CommonTx):
    """A write transaction on the writer connection (runs in the writer thread)."""

    def __init__(self, db: sqlite3.Connection):
        self._db = db
        #: Whether this transaction erased records (the WAL is checkpointed after it commits).
        self.erased = False

    def _run(self, statement: str, params: Sequence[Any] = ()) -> Any:
        return self._db.execute(statement, params)

    def _run_many(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        self._db.executemany(statement, rows)

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return self._db.execute(sql, params).fetchall()

    def lock_partition(self, team: str) -> None:
        """Nothing to do: this transaction holds SQLite's one write lock already."""

    def seen(self, device_id: str, seqs: Sequence[int]) -> set[int]:
        found: set[int] = set()
        for chunk in _chunks(list(seqs)):
            rows = self._all(
                f"SELECT seq FROM applied WHERE device_id = ? "
                f"AND seq IN ({', '.join('?' * len(chunk))})",
                (device_id, *chunk),
            )
            found.update(r[0] for r in rows)
        return found

    def records(self, team: str, keys: Sequence[Key]) -> dict[Key, StoredRecord]:
        """The stored records of ``keys``: primary-key lookups, one query per kind and chunk.

        (A row-value ``(entity, entity_id) IN (VALUES ...)`` would scan the whole partition.)
        """
        by_kind: dict[str, list[str]] = {}
        for entity, entity_id in keys:
            by_kind.setdefault(entity, []).append(entity_id)
        out: dict[Key, StoredRecord] = {}
        for entity, ids in by_kind.items():
            for chunk in _chunks(ids):
                rows = self._all(
                    "SELECT entity, entity_id, lead_id, state FROM records WHERE team_id = ? "
                    f"AND entity = ? AND entity_id IN ({', '.join('?' * len(chunk))})",
                    (team, entity, *chunk),
                )
                for r in rows:
                    out[(r[0], r[1])] = record_from_row(r)
        return out

    def records_of_lead(self, team: str, lead_id: str) -> list[StoredRecord]:
        rows = self._all(
            "SELECT entity, entity_id, lead_id, state FROM records "
            "WHERE team_id = ? AND lead_id = ?",
            (team, lead_id),
        )
        return [record_from_row(r) for r in rows]

    def save_records(self, team: str, records: Sequence[StoredRecord]) -> None:
        self._db.executemany(
            "INSERT INTO records (team_id, entity, entity_id, lead_id, state) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT(team_id, entity, entity_id) DO UPDATE "
            "SET lead_id = excluded.lead_id, state = excluded.state",
            [(team, r.entity, r.entity_id, r.lead_id, encoder.encode(r.state)) for r in records],
        )

    def append_log(self, team: str, changes: Sequence[AnyChange]) -> int:
        row = self._all("SELECT last_seq FROM partitions WHERE team_id = ?", (team,))
        last = int(row[0][0]) if row else 0
        self._db.executemany(
            "INSERT INTO change_log (team_id, server_seq, entity, entity_id, payload) "
            "VALUES (?, ?, ?, ?, ?)",
            [
                (team, last + i, c.entity, c.entity_id, encoder.encode(c))
                for i, c in enumerate(changes, 1)
            ],
        )
        last += len(changes)
        self._db.execute(
            "INSERT INTO partitions (team_id, last_seq) VALUES (?, ?) "
            "ON CONFLICT(team_id) DO UPDATE SET last_seq = excluded.last_seq",
            (team, last),
        )
        return last

    def forget(self, team: str, keys: Sequence[Key]) -> None:
        self.erased = True
        for entity, entity_id in keys:
            params = (team, entity, entity_id)
            self._db.execute(
                "DELETE FROM change_log WHERE team_id = ? AND entity = ? AND entity_id = ?",
                params,
            )
            self._db.execute(
                "DELETE FROM conflicts WHERE team_id = ? AND entity = ? AND entity_id = ?",
                params,
            )

    def count_conflicts(self, device_id: str, seqs: Sequence[int]) -> int:
        total = 0
        for chunk in _chunks(list(seqs)):
            rows = self._all(
                f"SELECT count(*) FROM conflicts WHERE device_id = ? "
                f"AND seq IN ({', '.join('?' * len(chunk))})",
                (device_id, *chunk),
            )
            total += int(rows[0][0])
        return total

    def partition_clock(self, team: str) -> str:
        row = self._db.execute("SELECT hlc FROM partitions WHERE team_id = ?", (team,)).fetchone()
        return "" if row is None else str(row[0])

    def set_partition_clock(self, team: str, hlc: str) -> None:
        self._db.execute(
            "INSERT INTO partitions (team_id, last_seq, hlc) VALUES (?, 0, ?) "
            "ON CONFLICT(team_id) DO UPDATE SET hlc = excluded.hlc",
            (team, hlc),
        )


class SqliteServerStore(CommonReads):
    """The server database in one SQLite file (created with its schema on first open).

    Writes run whole in one writer thread (``write(fn)``: one hop, one transaction), as
    datasette's ``execute_write_fn`` does; reads run in a reader thread on their own
    connection, so they see only committed data and never wait for a write to finish.
    """

    def __init__(self, path: str | Path, *, checkpoint_interval_s: float = 1.0):
        self.path = Path(path)
        self.checkpoint_interval_s = checkpoint_interval_s
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._write_pool: ThreadPoolExecutor | None = None
        self._read_pool: ThreadPoolExecutor | None = None
        self._checkpointer: asyncio.Task[None] | None = None

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._write_pool = ThreadPoolExecutor(1, thread_name_prefix="server-db-writer")
        self._read_pool = ThreadPoolExecutor(1, thread_name_prefix="server-db-reader")
        try:
            self._writer = await self._in(self._write_pool, _connect, self.path)
            await self._in(self._write_pool, migrate_sqlite, self._writer)
            # Commits never checkpoint (that would fsync inside a push); a task does, off the
            # writer thread, on the reader's connection.
            await self._in(self._write_pool, self._writer.execute, "PRAGMA wal_autocheckpoint = 0")
            self._reader = await self._in(self._read_pool, _connect, self.path)
        except BaseException:
            await self.close()
            raise
        self._checkpointer = asyncio.get_running_loop().create_task(self._checkpoint_loop())

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _checkpoint_loop(self) -> None:
        while True:
            await asyncio.sleep(self.checkpoint_interval_s)
            await self._read(lambda db: db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone())

    async def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checkpointer
            self._checkpointer = None
        for db, pool in ((self._writer, self._write_pool), (self._reader, self._read_pool)):
            if db is not None and pool is not None:
                await self._in(pool, db.close)
            if pool is not None:
                pool.shutdown(wait=True)
        self._writer = self._reader = None
        self._write_pool = self._read_pool = None

    @staticmethod
    async def _in(pool: ThreadPoolExecutor, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)

    async def write(self, fn: Callable[[SqliteTx], T]) -> T:
        """Run ``fn`` in one ``BEGIN IMMEDIATE … COMMIT`` on the writer; roll back on error."""
        assert self._writer is not None and self._write_pool is not None, "store is not open"
        db = self._writer

        def run() -> T:
            db.execute("BEGIN IMMEDIATE")
            tx = SqliteTx(db)
            try:
                result = fn(tx)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            if tx.erased:  # no older image of an erased record stays in the WAL either
                checkpoint(db)
            return result

        return await self._in(self._write_pool, run)

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        assert self._reader is not None and self._read_pool is not None, "store is not open"
        return await self._in(self._read_pool, fn, self._reader)

    async def _one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        return await self._read(lambda db: db.execute(sql, params).fetchone())

    async def signing_key(self) -> bytes:
        def get_or_create(tx: SqliteTx) -> bytes:
            # A fixed id: the first key is the key, however many processes create one.
            tx._db.execute(
                "INSERT INTO signing_keys (id, key, created_at) "
                "VALUES (1, ?, CAST(strftime('%s', 'now') AS INTEGER)) "
                "ON CONFLICT (id) DO NOTHING",
                (new_signing_key(),),
            )
            row = tx._db.execute("SELECT key FROM signing_keys ORDER BY id LIMIT 1").fetchone()
            return bytes(row[0])

        return await self.write(get_or_create)

    async def lead_history(
        self, team: str, lead_id: str
    ) -> tuple[list[StoredRecord], list[AnyChange], list[LoggedConflict]]:
        """Every record of a lead (the lead too), the logged changes and conflicts of them."""

        return await self._read(lambda db: lead_history_rows(db, False, team, lead_id))
