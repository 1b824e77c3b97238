"""The device's SQLite store: one writer connection, explicit transactions, outbox per change.

Every record written through :class:`Writer` appends a :class:`~sync.changes.Change` to the
outbox in the same transaction, stamped with the device's hybrid logical clock and the next
device sequence number, so a crash loses either both or neither.

The connection belongs to one thread (:class:`~edge.db_thread.DbThread`): the event loop only
awaits it, so no read or write blocks the loop. Its SQL is in :mod:`edge.queries`; the read
half of the store is :class:`StoreReads`, the write half :class:`StoreWrites`.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, Protocol, overload

import msgspec

from edge import erasure, migrations, queries
from edge.db_thread import DbThread
from edge.errors import InvalidRecordError, NotFoundError, StoreError
from edge.remote_changes import ApplyReport, apply_changes
from edge.rows import (
    EVENT_COLUMNS,
    TABLES,
    R,
    change_from_row,
    change_to_row,
    event_from_row,
    kind_of,
    kind_of_class,
    record_fields,
    record_from_row,
    record_to_row,
)
from sync.changes import AnyChange, Change, Tombstone
from sync.clock import Hlc, receive, tick, wall_clock_ms, zero
from sync.errors import ClockError
from sync.merge import EntityState, apply_all, join
from sync.records import AnyRecord, Event, Lead, Listing, Record

Clock = Callable[[], int]


class StoreCounts(msgspec.Struct, frozen=True, kw_only=True):
    """How much a device holds."""

    agents: int
    leads: int
    listings: int
    events: int
    profiles: int
    plans: int
    steps: int
    outbox_pending: int


class StoreReads(Protocol):
    """The read half of the device database: what reading code needs (an :class:`EdgeStore`,
    or the analyst's query-only :class:`~edge.features_sql.StoreReader`). Every read runs on
    the connection's own thread; the caller's loop only awaits it."""

    now_ms: Clock

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Every row of ``sql`` (a statement of :mod:`edge.queries`)."""
        ...

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        """The first row of ``sql``, or None."""
        ...

    @overload
    async def get(self, kind: type[R], record_id: str) -> R: ...

    @overload
    async def get(self, kind: str, record_id: str) -> AnyRecord: ...

    async def get(self, kind: type[Record] | str, record_id: str) -> Record:
        """The stored record, by class or ``kind`` tag (:class:`~edge.errors.NotFoundError`
        naming it)."""
        ...


class StoreWrites(Protocol):
    """The write half of the device database: every write is one transaction that also
    appends its changes to the outbox (or, for sync, applies pulled changes without one)."""

    def transaction(self, now_ms: int | None = None) -> AbstractAsyncContextManager[Writer]:
        """A write transaction: records put through the :class:`Writer`, committed together."""
        ...

    async def put(self, records: Iterable[Record]) -> int: ...

    async def update(self, kind: str, record_id: str, fields: dict[str, Any]) -> Record: ...

    async def mark_sent(self, seqs: Sequence[int], now_ms: int | None = None) -> None: ...

    async def quarantine(self, seqs: Sequence[int], reason: str) -> None: ...

    async def release_quarantine(self) -> int: ...

    async def apply_remote(self, changes: Sequence[AnyChange], checkpoint: int) -> ApplyReport: ...

    async def prune_outbox(self, retention_ms: int = ..., now_ms: int | None = None) -> int: ...


#: The pragmas of every writing connection (:data:`edge.queries.PRAGMAS`).
PRAGMAS = queries.PRAGMAS

#: How long the outbox keeps a change after the server acknowledged it (24 h), for a look at
#: what the phone sent; :meth:`EdgeStore.prune_outbox` then folds it into the synced state and
#: deletes it. An erasure deletes its records' entries at once, whatever their age.
OUTBOX_RETENTION_MS = 24 * 3_600_000


def open_sync(path: str | Path) -> sqlite3.Connection:
    """A plain connection with the device's pragmas, after migrating the schema."""
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.row_factory = sqlite3.Row
    for pragma in PRAGMAS:
        conn.execute(pragma)
    return conn


class Writer:
    """Writes records inside one transaction, each with its outbox change."""

    def __init__(self, store: EdgeStore, now_ms: int):
        self._store = store
        self.now_ms = now_ms
        self._rows: dict[str, list[dict[str, Any]]] = {}
        self._outbox: list[dict[str, Any]] = []
        self._settings: dict[str, str] = {}
        #: Hard erasures of this transaction: (kind, id, clock), purged before it commits.
        self.erasures: list[tuple[str, str, str]] = []

    def put(self, record: Record) -> Change:
        """Upsert ``record`` (all of its fields) and record the change."""
        kind = kind_of(record)
        self._rows.setdefault(TABLES[kind], []).append(record_to_row(record))
        return self._append(kind, record.id, record_fields(record))

    def patch(self, record: Record, fields: dict[str, Any]) -> Change:
        """Write ``record`` (already updated) and record only ``fields`` in the outbox change."""
        kind = kind_of(record)
        self._rows.setdefault(TABLES[kind], []).append(record_to_row(record))
        return self._append(kind, record.id, fields)

    def put_many(self, records: Iterable[Record]) -> int:
        n = 0
        for record in records:
            self.put(record)
            n += 1
        return n

    def set_setting(self, key: str, value: str) -> None:
        """Store a device setting (no outbox change: settings never travel)."""
        self._settings[key] = value

    def _append(self, kind: str, entity_id: str, fields: dict[str, Any]) -> Change:
        store = self._store
        store._clock = tick(store._clock, self.now_ms)
        store._seq += 1
        change = Change(
            entity=kind,
            entity_id=entity_id,
            fields=fields,
            hlc=store._clock.encode(),
            device_id=store.device_id,
            seq=store._seq,
        )
        self._outbox.append(change_to_row(change, self.now_ms))
        return change

    def tombstone(self, kind: str, entity_id: str, *, hard_erase: bool = False) -> Tombstone:
        store = self._store
        store._clock = tick(store._clock, self.now_ms)
        store._seq += 1
        stone = Tombstone(
            entity=kind,
            entity_id=entity_id,
            hlc=store._clock.encode(),
            device_id=store.device_id,
            seq=store._seq,
            hard_erase=hard_erase,
        )
        self._outbox.append(change_to_row(stone, self.now_ms))
        self._rows.setdefault(f"-{TABLES[kind]}", []).append({"id": entity_id})
        if hard_erase:
            self.erasures.append((kind, entity_id, stone.hlc))
        return stone

    def _statements(self) -> list[tuple[str, list[tuple[Any, ...]]]]:
        """The transaction's writes as (sql, rows) pairs, in an order foreign keys accept."""
        # Parents before children, so foreign keys hold at every statement.
        order = [
            "agents",
            "listings",
            "leads",
            "events",
            "profiles",
            "intervention_plans",
            "intervention_steps",
        ]
        out: list[tuple[str, list[tuple[Any, ...]]]] = []
        for table in order:
            rows = self._rows.get(table)
            if rows:
                columns = list(rows[0])
                out.append(
                    (queries.upsert(table, columns), [tuple(r[c] for c in columns) for r in rows])
                )
        for key, rows in self._rows.items():
            if key.startswith("-"):
                out.append((queries.delete_by_id(key[1:]), [(r["id"],) for r in rows]))
        if self._outbox:
            columns = list(self._outbox[0])
            out.append(
                (
                    queries.insert("outbox", columns),
                    [tuple(r[c] for c in columns) for r in self._outbox],
                )
            )
        settings = {
            **self._settings,
            "hlc": self._store._clock.encode(),
            "seq": str(self._store._seq),
        }
        out.append((queries.SET_SETTING, list(settings.items())))
        self._rows.clear()
        self._outbox.clear()
        self._settings.clear()
        return out


def _write_and_commit(
    conn: sqlite3.Connection,
    statements: Sequence[tuple[str, Sequence[tuple[Any, ...]]]],
    erasures: Sequence[tuple[str, str, str]] = (),
) -> set[str]:
    """Run ``statements`` and purge ``erasures`` in the open transaction, then COMMIT (the
    caller rolls back); after an erasure, checkpoint and truncate the WAL. The leads erased."""
    for sql, rows in statements:
        conn.executemany(sql, rows)
    for kind, entity_id, hlc in erasures:
        erasure.erase(conn, kind, entity_id, hlc)
    conn.execute(queries.COMMIT)
    if erasures:
        erasure.checkpoint(conn)
    return {entity_id for kind, entity_id, _ in erasures if kind == "lead"}


_state_enc = msgspec.msgpack.Encoder()
_state_dec = msgspec.msgpack.Decoder(EntityState)


def _prune(conn: sqlite3.Connection, cutoff: int) -> int:
    """Fold acknowledged outbox entries sent at or before ``cutoff`` into ``sync_entities``
    and delete them, in one transaction."""
    conn.execute(queries.BEGIN_IMMEDIATE)
    try:
        rows = conn.execute(queries.ACKED_OUTBOX, (cutoff,)).fetchall()
        mine: dict[tuple[str, str], list[AnyChange]] = {}
        for row in rows:
            mine.setdefault((row["entity"], row["entity_id"]), []).append(change_from_row(row))
        by_kind: dict[str, list[str]] = {}
        for entity, entity_id in mine:
            by_kind.setdefault(entity, []).append(entity_id)
        synced: dict[tuple[str, str], EntityState] = {}
        for entity, ids in by_kind.items():
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                for r in conn.execute(queries.synced_states(len(chunk)), (entity, *chunk)):
                    synced[(entity, r[0])] = _state_dec.decode(r[1])
        conn.executemany(
            queries.FOLD_STATE,
            [
                (
                    key[0],
                    key[1],
                    _state_enc.encode(
                        join(synced.get(key, EntityState()), apply_all(None, changes)[0])
                    ),
                )
                for key, changes in mine.items()
            ],
        )
        seqs = [row["seq"] for row in rows]
        for start in range(0, len(seqs), 500):
            chunk = seqs[start : start + 500]
            conn.execute(queries.delete_outbox_seqs(len(chunk)), chunk)
        conn.execute(queries.COMMIT)
    except BaseException:
        rollback(conn)
        raise
    return len(seqs)


def rollback(conn: sqlite3.Connection) -> None:
    """Roll back the open transaction, if there is one."""
    if conn.in_transaction:
        conn.execute(queries.ROLLBACK)


def _update_outbox(
    conn: sqlite3.Connection, sql: str, params: Sequence[Any], seqs: Sequence[int]
) -> None:
    """Run the outbox update ``sql`` (of :mod:`edge.queries`) on ``seqs``, in one transaction."""
    conn.execute(queries.BEGIN_IMMEDIATE)
    try:
        for start in range(0, len(seqs), 500):
            chunk = list(seqs[start : start + 500])
            conn.execute(queries.where_seq_in(sql, len(chunk)), (*params, *chunk))
        conn.execute(queries.COMMIT)
    except BaseException:
        rollback(conn)
        raise


def _apply_remote(
    conn: sqlite3.Connection,
    device_id: str,
    changes: Sequence[AnyChange],
    checkpoint: int,
    clock: Hlc,
    now: int,
) -> tuple[int, int, int, int, set[tuple[str, str]]]:
    """Merge a pulled page and store ``checkpoint`` and ``clock``, in one transaction; after a
    pulled erasure, checkpoint and truncate the WAL. (applied, own, missing, conflicts, erased)"""
    conn.execute(queries.BEGIN_IMMEDIATE)
    try:
        applied, own, missing, conflicts, erased = apply_changes(conn, device_id, changes, now)
        conn.executemany(
            queries.SET_SETTING,
            [("sync_checkpoint", str(checkpoint)), ("hlc", clock.encode())],
        )
        conn.execute(queries.COMMIT)
    except BaseException:
        rollback(conn)
        raise
    if erased:
        erasure.checkpoint(conn)
    return applied, own, missing, len(conflicts), erased


class EdgeStore(StoreReads, StoreWrites):
    """The device database. Open with :meth:`open`; all writes go through :meth:`transaction`."""

    def __init__(self, db: DbThread, path: Path, device_id: str, clock: Clock):
        self._db = db
        self.path = path
        self.device_id = device_id
        self.now_ms = clock
        self._clock: Hlc = zero(device_id)
        self._seq = 0
        # One write transaction at a time on the one connection (app writes and sync applies).
        self._write_lock = asyncio.Lock()
        #: Leads erased (here or by a pull) whose in-memory traces the runtime has not yet
        #: dropped; see :meth:`take_erased`.
        self.erased_leads: set[str] = set()

    @classmethod
    async def open(
        cls, path: str | Path, *, create: bool = True, clock: Clock = wall_clock_ms
    ) -> EdgeStore:
        """Open (creating and migrating when needed) the device database at ``path``."""
        path = Path(path)
        if not create and not path.exists():
            raise StoreError(f"no device database at {path}; run `realty-edge device init {path}`")
        migrations.check_device_file(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = open_sync(path)
            try:
                migrations.migrate(conn)
                row = conn.execute(queries.DEVICE_ID).fetchone()
                if row is None:
                    device_id = f"dev-{uuid.uuid4().hex[:12]}"
                    conn.execute(queries.INSERT_DEVICE_ID, (device_id,))
                else:
                    device_id = row[0]
            finally:
                conn.close()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open device database {path}: {exc}") from exc
        db = DbThread(lambda: open_sync(path), name=f"edge-db {path.name}")
        store = cls(db, path, device_id, clock)
        try:
            settings = await store.settings()
        except BaseException:
            await db.close()
            raise
        if "hlc" in settings:
            store._clock = Hlc.decode(settings["hlc"])
        store._seq = int(settings.get("seq", "0"))
        return store

    async def close(self) -> None:
        await self._db.close()

    async def __aenter__(self) -> EdgeStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @asynccontextmanager
    async def transaction(self, now_ms: int | None = None) -> AsyncIterator[Writer]:
        """One write transaction (BEGIN IMMEDIATE … COMMIT); rolled back on any error."""
        await self._write_lock.acquire()
        writer = Writer(self, self.now_ms() if now_ms is None else now_ms)
        saved = (self._clock, self._seq)
        try:
            await self._db.execute(queries.BEGIN_IMMEDIATE)
            yield writer
            statements, erasures = writer._statements(), list(writer.erasures)
            erased = await self._db.run(lambda conn: _write_and_commit(conn, statements, erasures))
            self.erased_leads |= erased
        except BaseException as exc:
            self._clock, self._seq = saved
            await self._db.run(rollback)
            if isinstance(exc, sqlite3.OperationalError):
                raise StoreError(
                    f"write to {self.path} failed, nothing was written: {exc}"
                ) from exc
            raise
        finally:
            self._write_lock.release()

    async def put(self, records: Iterable[Record]) -> int:
        """Write ``records`` (and their outbox changes) in one transaction."""
        async with self.transaction() as tx:
            return tx.put_many(records)

    # --- reads -------------------------------------------------------------------------

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        # One hop to the connection's thread (execute + fetch together).
        return await self._db.fetchall(sql, params)

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        """The first row; for queries of one row (or LIMIT 1): every row is fetched."""
        rows = await self._db.fetchall(sql, params)
        return next(iter(rows), None)

    async def settings(self) -> dict[str, str]:
        return {r["key"]: r["value"] for r in await self.fetchall(queries.SETTINGS)}

    async def counts(self) -> StoreCounts:
        def count(conn: sqlite3.Connection) -> dict[str, int]:
            return {
                name: int(conn.execute(sql).fetchone()[0]) for name, sql in queries.COUNTS.items()
            }

        return StoreCounts(**await self._db.run(count))

    async def existing_ids(self, kind: str, ids: Iterable[str]) -> set[str]:
        """Which of ``ids`` are stored as ``kind``."""
        table = TABLES[kind]
        ids = list(ids)
        found: set[str] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = await self.fetchall(queries.ids_in(table, len(chunk)), chunk)
            found.update(r[0] for r in rows)
        return found

    async def stored(self, kind: str, ids: Iterable[str]) -> dict[str, Record]:
        """The records of ``kind`` stored under any of ``ids``, by id."""
        table = TABLES[kind]
        columns = ", ".join(EVENT_COLUMNS) if kind == "event" else "*"
        ids = list(ids)
        found: dict[str, Record] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = await self.fetchall(queries.rows_in(table, columns, len(chunk)), chunk)
            found.update((r["id"], record_from_row(kind, r)) for r in rows)
        return found

    @overload
    async def get(self, kind: type[R], record_id: str) -> R: ...

    @overload
    async def get(self, kind: str, record_id: str) -> AnyRecord: ...

    async def get(self, kind: type[Record] | str, record_id: str) -> Record:
        """The record ``record_id``: ``get(Lead, id) -> Lead``, or by its ``kind`` tag where
        the kind is data (then any record type); :class:`NotFoundError` if absent."""
        tag = kind if isinstance(kind, str) else kind_of_class(kind)
        table = TABLES[tag]
        row = await self.fetchone(queries.row_by_id(table), (record_id,))
        if row is None:
            raise NotFoundError(f"no {tag} {record_id!r} on this device")
        return record_from_row(kind, row)

    async def get_lead(self, lead_id: str) -> Lead:
        return await self.get(Lead, lead_id)

    async def recent_events(self, lead_id: str, limit: int = 20) -> list[Event]:
        rows = await self.fetchall(queries.RECENT_EVENTS, (lead_id, limit))
        return [event_from_row(r) for r in rows]

    async def languages(self) -> dict[str, int]:
        rows = await self.fetchall(queries.LANGUAGES)
        return {r[0]: int(r[1]) for r in rows}

    async def pending_outbox(self, limit: int = 1000) -> list[AnyChange]:
        rows = await self.fetchall(queries.PENDING_OUTBOX, (limit,))
        return [change_from_row(r) for r in rows]

    async def update(self, kind: str, record_id: str, fields: dict[str, Any]) -> Record:
        """Change some fields of a stored record; the outbox change carries only those."""
        current = await self.get(kind, record_id)
        before = record_fields(current)
        unknown = sorted(set(fields) - set(before))
        if unknown:
            raise InvalidRecordError(f"{kind} has no field {unknown[0]!r}")
        try:
            record = msgspec.convert(
                {**msgspec.to_builtins(current), **msgspec.to_builtins(fields)}, type(current)
            )
        except msgspec.ValidationError as exc:
            raise InvalidRecordError(f"{kind} {record_id!r}: {exc}") from exc
        after = record_fields(record)
        changed = {k: after[k] for k in fields if before.get(k) != after[k]}
        if not changed:
            return current
        async with self.transaction() as tx:
            tx.patch(record, changed)
        return record

    # --- sync ----------------------------------------------------------------------------

    async def outbox_to_push(self, limit: int = 500) -> list[AnyChange]:
        """Unsent changes that are not quarantined, in sequence order."""
        rows = await self.fetchall(queries.OUTBOX_TO_PUSH, (limit,))
        return [change_from_row(r) for r in rows]

    async def _update_outbox(self, sql: str, params: Sequence[Any], seqs: Sequence[int]) -> None:
        async with self._write_lock:
            await self._db.run(lambda conn: _update_outbox(conn, sql, params, seqs))

    async def mark_sent(self, seqs: Sequence[int], now_ms: int | None = None) -> None:
        """Record the server's acknowledgement of these outbox entries."""
        now = self.now_ms() if now_ms is None else now_ms
        await self._update_outbox(queries.MARK_SENT, (now,), seqs)

    async def quarantine(self, seqs: Sequence[int], reason: str) -> None:
        """Set changes aside (kept, never deleted) after the server refused them."""
        await self._update_outbox(queries.QUARANTINE, (self.now_ms(), reason), seqs)

    async def quarantined(self) -> list[tuple[AnyChange, str]]:
        rows = await self.fetchall(queries.QUARANTINED)
        return [(change_from_row(r), r["quarantine_reason"]) for r in rows]

    async def release_quarantine(self) -> int:
        """Put quarantined changes back in line (after an upgrade); returns how many."""
        rows = await self.fetchall(queries.QUARANTINED_SEQS)
        seqs = [r[0] for r in rows]
        await self._update_outbox(queries.RELEASE_QUARANTINE, (), seqs)
        return len(seqs)

    async def sync_checkpoint(self) -> int:
        row = await self.fetchone(queries.SYNC_CHECKPOINT)
        return int(row[0]) if row else 0

    async def apply_remote(self, changes: Sequence[AnyChange], checkpoint: int) -> ApplyReport:
        """Merge a pulled page and store ``checkpoint``, in one transaction; no outbox entry.

        The device's clock receives every pulled clock, so its next write is ordered after
        everything it has seen, even when its wall clock is behind.
        """
        async with self._write_lock:
            return await self._apply_remote_locked(changes, checkpoint)

    async def _apply_remote_locked(
        self, changes: Sequence[AnyChange], checkpoint: int
    ) -> ApplyReport:
        now = self.now_ms()
        clock = self._clock
        for change in changes:
            try:
                clock = receive(clock, Hlc.decode(change.hlc), now)
            except ClockError:
                continue  # vetted by the server; never let one value drag our clock forward
        applied, own, missing, conflicts, erased = await self._db.run(
            lambda conn: _apply_remote(conn, self.device_id, changes, checkpoint, clock, now)
        )
        self._clock = clock
        self.erased_leads |= {i for kind, i in erased if kind == "lead"}
        return ApplyReport(
            received=len(changes),
            applied=applied,
            own=own,
            conflicts=conflicts,
            not_materialized=missing,
            checkpoint=checkpoint,
        )

    def take_erased(self) -> set[str]:
        """The leads erased since the last call (for the runtime to drop its caches of them)."""
        erased, self.erased_leads = self.erased_leads, set()
        return erased

    async def prune_outbox(
        self, retention_ms: int = OUTBOX_RETENTION_MS, now_ms: int | None = None
    ) -> int:
        """Delete outbox entries the server acknowledged at least ``retention_ms`` ago.

        An acknowledged change still counts in the record's merge state (the device never
        pulls its own changes back), so each one is first folded into ``sync_entities``;
        merging with the state it joins gives the same result as before. Unsent and
        quarantined entries are never pruned. Returns how many entries were deleted.
        """
        cutoff = (self.now_ms() if now_ms is None else now_ms) - retention_ms
        async with self._write_lock:
            return await self._db.run(lambda conn: _prune(conn, cutoff))

    async def integrity_check(self) -> str:
        row = await self.fetchone(queries.INTEGRITY_CHECK)
        return str(row[0]) if row else "no answer"

    # --- queries used by the runtime facade (EdgeRuntime) ----------------------------------

    async def latest_engaged_listing(self, lead_id: str) -> Listing | None:
        """The listing the lead engaged with most recently (saved, asked, viewed, booked)."""
        row = await self.fetchone(queries.LATEST_ENGAGED_LISTING, (lead_id,))
        return record_from_row(Listing, row) if row is not None else None

    async def latest_showing_at(self, lead_id: str) -> int | None:
        """When the lead's latest showing was booked for (ms), if any."""
        row = await self.fetchone(queries.LATEST_SHOWING, (lead_id,))
        return int(row[0]) if row is not None and row[0] is not None else None

    async def leads_by_name(self) -> list[Lead]:
        """Every lead, by name (then id)."""
        rows = await self.fetchall(queries.LEADS_BY_NAME)
        return [record_from_row(Lead, r) for r in rows]

    async def lead_events(self, lead_id: str) -> list[Event]:
        """Every stored event of the lead, in no particular order."""
        rows = await self.fetchall(queries.EVENTS_OF_LEAD, (lead_id,))
        return [event_from_row(r) for r in rows]

    async def record_ids(self, kind: str) -> list[str]:
        """The ids of every stored record of ``kind``, sorted."""
        if kind not in TABLES:
            raise InvalidRecordError(f"unknown record kind {kind!r}")
        rows = await self.fetchall(queries.all_ids(TABLES[kind]))
        return [str(r[0]) for r in rows]

    async def event_texts(self, limit: int) -> list[str]:
        """Up to ``limit`` event texts (messages, notes), in storage order."""
        rows = await self.fetchall(queries.EVENT_TEXTS, (limit,))
        return [str(r[0]) for r in rows]

    async def incoming_text_per_language(self, limit: int) -> list[str]:
        """One incoming message text per stated language, by language (at most ``limit``)."""
        rows = await self.fetchall(queries.INCOMING_TEXT_PER_LANGUAGE, (limit,))
        return [str(r[0]) for r in rows]

    async def conflict_count(self) -> int:
        """How many field conflicts sync has logged."""
        row = await self.fetchone(queries.CONFLICT_COUNT)
        return int(row[0]) if row else 0

    async def outbox_head(self) -> int:
        """The highest outbox sequence number written so far (0: none)."""
        row = await self.fetchone(queries.OUTBOX_HEAD)
        return int(row[0]) if row else 0

    async def unsent_outbox_bytes(self) -> int:
        """The payload bytes of the changes not yet sent."""
        row = await self.fetchone(queries.UNSENT_OUTBOX_BYTES)
        return int(row[0]) if row else 0
