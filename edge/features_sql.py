"""A lead's events straight from SQLite into ``EventColumns``: the device's fast path.

One indexed query (events LEFT JOIN listings, ``events_lead_ts``) returns every column the
feature spec needs, in ``models.features.EVENT_ROW_FIELDS`` order, plus the event's text and the
listing's city, so feature extraction, the profile and the vertical read the database once.

:class:`StoreReader` runs these small indexed reads on a second, query-only connection in the
caller's thread. Writes stay on the store's one writer connection; in WAL mode a reader sees
every committed transaction and never blocks the writer. A read of one lead takes tens to
hundreds of microseconds, less than the two thread switches of a hop to aiosqlite's thread,
which on a busy CPU can each wait a scheduler time slice.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

from numpy.typing import NDArray

from edge.errors import NotFoundError
from edge.rows import TABLES, R, kind_of_class, record_from_row
from edge.store import EdgeStore
from models.features import (
    EVENT_ROW_FIELDS,
    EventColumns,
    columns_from_records,
    columns_from_rows,
    extract,
)
from sync.records import AnyRecord, Event, EventType, Lead, Listing, Record

_SELECT = {
    "ts": "e.ts",
    "type": "e.type",
    "channel": "e.channel",
    "dwell_s": "e.dwell_s",
    "duration_s": "e.duration_s",
    "amount": "e.amount",
    "language": "e.language",
    "listing_id": "e.listing_id",
    "price": "l.price",
    "beds": "l.beds",
    "baths": "l.baths",
    "sqft": "l.sqft",
    "property_type": "l.property_type",
    "vertical": "l.vertical",
    "lat": "l.lat",
    "lon": "l.lon",
}
_N = len(EVENT_ROW_FIELDS)
#: Events whose text is the agent's, not the lead's.
_OUTBOUND = frozenset({EventType.MESSAGE_OUT.value, EventType.CALL_OUT.value})
#: The one query: feature columns, then the event's text, the listing's city and the event's
#: updated_at (whose maximum, with the count, stamps the lead's event history for caches).
LEAD_EVENTS_SQL = (
    f"SELECT {', '.join(_SELECT[f] for f in EVENT_ROW_FIELDS)}, e.text, l.city, e.updated_at "
    "FROM events e LEFT JOIN listings l ON l.id = e.listing_id "
    "WHERE e.lead_id = ? ORDER BY e.ts"
)


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


class StoreReader:
    """Reads of the device database on a query-only connection, in the caller's thread.

    Offers the read half of :class:`EdgeStore` (``fetchall``, ``fetchone``, ``get``, ``now_ms``)
    for code written against the store, plus the synchronous :meth:`all` and :meth:`one`.
    """

    def __init__(self, store: EdgeStore):
        conn = sqlite3.connect(str(store.path), isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA query_only = ON")
        conn.execute("PRAGMA busy_timeout = 5000")
        self._conn = conn
        self.path: Path = store.path
        self.now_ms = store.now_ms

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return self._conn.execute(sql, params).fetchall()

    def one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        cur = self._conn.execute(sql, params)
        try:
            row: sqlite3.Row | None = cur.fetchone()
            return row
        finally:
            cur.close()  # ends the statement, so no read transaction stays open

    def tuples(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows as plain tuples (no ``sqlite3.Row``): for queries of many rows."""
        cur = self._conn.cursor()
        cur.row_factory = None
        return cur.execute(sql, params).fetchall()

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return self.all(sql, params)

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        return self.one(sql, params)

    @overload
    async def get(self, kind: type[R], record_id: str) -> R: ...

    @overload
    async def get(self, kind: str, record_id: str) -> AnyRecord: ...

    async def get(self, kind: type[Record] | str, record_id: str) -> Record:
        """The stored record (NotFoundError naming it), as :meth:`EdgeStore.get`."""
        tag = kind if isinstance(kind, str) else kind_of_class(kind)
        row = self.one(f"SELECT data FROM {TABLES[tag]} WHERE id = ?", (record_id,))
        if row is None:
            raise NotFoundError(f"no {tag} {record_id!r} on this device")
        return record_from_row(kind, row)

    def close(self) -> None:
        self._conn.close()


Reads = EdgeStore | StoreReader


async def load_snapshot(
    reader: StoreReader, lead_id: str, now_ms: int | None = None
) -> LeadSnapshot:
    """The lead (NotFoundError for an unknown id) and its events as columns."""
    found = reader.one("SELECT data FROM leads WHERE id = ?", (lead_id,))
    if found is None:
        raise NotFoundError(f"no lead {lead_id!r} on this device")
    lead = record_from_row(Lead, found)
    rows = reader.tuples(LEAD_EVENTS_SQL, (lead_id,))
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
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = reader.all(
            f"SELECT data FROM listings WHERE id IN ({', '.join('?' * len(chunk))})", chunk
        )
        for r in rows:
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
