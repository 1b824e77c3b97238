"""A lead's events straight from SQLite into ``EventColumns``: the device's fast path.

One indexed query (events LEFT JOIN listings, ``events_lead_ts``) returns every column the
feature spec needs, in ``models.features.EVENT_ROW_FIELDS`` order, plus the event's text and the
listing's city, so feature extraction, the profile and the vertical read the database once.

:class:`StoreReader` runs these small indexed reads on a second, query-only connection with
its own thread (:class:`~edge.db_thread.DbThread`), so the event loop never waits on SQLite.
Writes stay on the store's one writer connection; in WAL mode a reader sees every committed
transaction and never blocks the writer. A lead's snapshot is one hop to the reader's thread.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, overload

from numpy.typing import NDArray

from edge import queries
from edge.db_thread import DbThread
from edge.errors import NotFoundError
from edge.rows import TABLES, R, kind_of_class, record_from_row
from edge.store import EdgeStore, StoreReads
from models.features import (
    EVENT_ROW_FIELDS,
    EventColumns,
    columns_from_records,
    columns_from_rows,
    extract,
)
from sync.records import AnyRecord, Event, EventType, Lead, Listing, Record

T = TypeVar("T")
_N = len(EVENT_ROW_FIELDS)
#: Events whose text is the agent's, not the lead's.
_OUTBOUND = frozenset({EventType.MESSAGE_OUT.value, EventType.CALL_OUT.value})
#: The one query: feature columns, then the event's text, the listing's city and the event's
#: updated_at (whose maximum, with the count, stamps the lead's event history for caches).
LEAD_EVENTS_SQL = queries.lead_events(EVENT_ROW_FIELDS)


@dataclass(slots=True)
class LeadSnapshot:
    """What the device knows about one lead at ``now_ms``, read in one query."""

    lead: Lead
    now_ms: int
    cols: EventColumns
    texts: list[str]  # inbound/outbound texts, oldest first
    listing_ids: list[str | None]  # per event, aligned with ``cols``
    cities: list[str | None]  # per event: the listing's city
    stamp: tuple[int, int, int]  # (events, max updated_at, max ts)
    _features: NDArray[Any] | None = field(default=None, repr=False)
    #: What the lead said (texts of every event but the agent's outbound ones), oldest first.
    said: list[str] = field(default_factory=list)

    @property
    def features(self) -> NDArray[Any]:
        """The behavioural feature vector (float32), computed once."""
        if self._features is None:
            self._features = extract(self.lead, self.cols, self.now_ms)
        return self._features


def connect_reader(path: Path) -> sqlite3.Connection:
    """A query-only connection to the device database at ``path``."""
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.row_factory = sqlite3.Row
    for pragma in queries.READER_PRAGMAS:
        conn.execute(pragma)
    return conn


def first(conn: sqlite3.Connection, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
    """The first row of ``sql``; the statement is then ended, so no read transaction stays
    open."""
    cur = conn.execute(sql, params)
    try:
        row: sqlite3.Row | None = cur.fetchone()
        return row
    finally:
        cur.close()


def tuples(conn: sqlite3.Connection, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Rows as plain tuples (no ``sqlite3.Row``): for queries of many rows."""
    cur = conn.cursor()
    cur.row_factory = None
    return cur.execute(sql, params).fetchall()


class StoreReader(StoreReads):
    """Reads of the device database on a query-only connection with its own thread.

    The read half of :class:`EdgeStore` (:class:`~edge.store.StoreReads`: ``fetchall``,
    ``fetchone``, ``get``, ``now_ms``), plus :meth:`run` for several reads in one hop.
    """

    def __init__(self, store: EdgeStore):
        path = store.path
        self._db = DbThread(lambda: connect_reader(path), name=f"edge-reader {path.name}")
        self.path: Path = path
        self.now_ms = store.now_ms

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn(connection)`` on the reader's thread (reads only: the connection is
        query-only)."""
        return await self._db.run(fn)

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return await self._db.fetchall(sql, params)

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        return await self._db.run(lambda conn: first(conn, sql, params))

    async def tuples(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows as plain tuples (no ``sqlite3.Row``): for queries of many rows."""
        return await self._db.run(lambda conn: tuples(conn, sql, params))

    @overload
    async def get(self, kind: type[R], record_id: str) -> R: ...

    @overload
    async def get(self, kind: str, record_id: str) -> AnyRecord: ...

    async def get(self, kind: type[Record] | str, record_id: str) -> Record:
        """The stored record (NotFoundError naming it), as :meth:`EdgeStore.get`."""
        tag = kind if isinstance(kind, str) else kind_of_class(kind)
        row = await self.fetchone(queries.data_by_id(TABLES[tag]), (record_id,))
        if row is None:
            raise NotFoundError(f"no {tag} {record_id!r} on this device")
        return record_from_row(kind, row)

    def close(self) -> None:
        """Stop taking reads; the reads already asked for still run, then the connection
        closes."""
        self._db.close_nowait()


#: What reading code needs of the device database: the store or the analyst's reader.
Reads = StoreReads


async def load_snapshot(
    reader: StoreReader, lead_id: str, now_ms: int | None = None
) -> LeadSnapshot:
    """The lead (NotFoundError for an unknown id) and its events as columns."""
    found, rows = await reader.run(
        lambda conn: (
            first(conn, queries.data_by_id("leads"), (lead_id,)),
            tuples(conn, LEAD_EVENTS_SQL, (lead_id,)),
        )
    )
    if found is None:
        raise NotFoundError(f"no lead {lead_id!r} on this device")
    lead = record_from_row(Lead, found)
    now = reader.now_ms() if now_ms is None else now_ms
    cols = columns_from_rows([r[:_N] for r in rows])
    texts = [r[_N] for r in rows if r[_N]]
    said = [r[_N] for r in rows if r[_N] and r[1] not in _OUTBOUND]
    stamp = (
        len(rows),
        max((int(r[_N + 2]) for r in rows), default=0),
        int(rows[-1][0]) if rows else 0,
    )
    return LeadSnapshot(
        lead=lead,
        now_ms=now,
        cols=cols,
        texts=texts,
        listing_ids=[r[7] for r in rows],
        cities=[r[_N + 1] for r in rows],
        stamp=stamp,
        said=said,
    )


async def events_snapshot(
    reader: StoreReader, snap: LeadSnapshot, events: Sequence[Event]
) -> LeadSnapshot:
    """``snap`` with its events replaced by ``events`` (their listings read from the store)."""
    ids = sorted({e.listing_id for e in events if e.listing_id})
    listings: dict[str, Listing] = {}

    def read(conn: sqlite3.Connection) -> list[sqlite3.Row]:
        rows: list[sqlite3.Row] = []
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows += conn.execute(queries.listings_in(len(chunk)), chunk).fetchall()
        return rows

    for r in await reader.run(read):
        li = record_from_row(Listing, r)
        listings[li.id] = li
    ordered = sorted(events, key=lambda e: e.ts)
    cols = columns_from_records(ordered, listings)
    return LeadSnapshot(
        lead=snap.lead,
        now_ms=snap.now_ms,
        cols=cols,
        texts=[e.text for e in ordered if e.text] or snap.texts,
        said=[e.text for e in ordered if e.text and e.type not in _OUTBOUND] or snap.said,
        listing_ids=[e.listing_id for e in ordered],
        cities=[
            listings[e.listing_id].location.city if e.listing_id in listings else None
            for e in ordered
        ],
        stamp=snap.stamp,
    )
