"""A lead's events straight from SQLite into ``EventColumns``: the device's fast path.

One indexed query (events LEFT JOIN listings, ``events_lead_ts``) returns every column the
feature spec needs, in ``models.features.EVENT_ROW_FIELDS`` order, plus the event's text and the
listing's city, so feature extraction, the profile and the vertical read the database once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge.errors import NotFoundError
from edge.rows import record_from_row
from edge.store import EdgeStore
from models.features import (
    EVENT_ROW_FIELDS,
    EventColumns,
    columns_from_records,
    columns_from_rows,
    extract,
)
from sync.records import Event, Lead, Listing

_SELECT = {
    "ts": "e.ts", "type": "e.type", "channel": "e.channel", "dwell_s": "e.dwell_s",
    "duration_s": "e.duration_s", "amount": "e.amount", "language": "e.language",
    "listing_id": "e.listing_id", "price": "l.price", "beds": "l.beds", "baths": "l.baths",
    "sqft": "l.sqft", "property_type": "l.property_type", "vertical": "l.vertical",
    "lat": "l.lat", "lon": "l.lon",
}  # fmt: skip
_N = len(EVENT_ROW_FIELDS)
#: The one query: feature columns, then the event's text, the listing's city and the event's
#: updated_at (whose maximum, with the count, stamps the lead's event history for caches).
LEAD_EVENTS_SQL = (
    f"SELECT {', '.join(_SELECT[f] for f in EVENT_ROW_FIELDS)}, e.text, l.city, e.updated_at "
    "FROM events e LEFT JOIN listings l ON l.id = e.listing_id "
    "WHERE e.lead_id = ? ORDER BY e.ts"
)
#: The cheap stamp of a lead's events: changes whenever an event is added or changed.
EVENT_STAMP_SQL = "SELECT count(*), max(updated_at), max(ts) FROM events WHERE lead_id = ?"


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
    _features: np.ndarray | None = field(default=None, repr=False)

    @property
    def features(self) -> np.ndarray:
        """The behavioural feature vector (float32), computed once."""
        if self._features is None:
            self._features = extract(self.lead, self.cols, self.now_ms)
        return self._features


async def first_row(store: EdgeStore, sql: str, params: Sequence = ()) -> Any | None:
    """The first row of a query known to return at most a few rows (one thread hop)."""
    rows = await store.fetchall(sql, params)
    return rows[0] if rows else None


async def event_stamp(store: EdgeStore, lead_id: str) -> tuple[int, int, int]:
    row = await first_row(store, EVENT_STAMP_SQL, (lead_id,))
    if row is None:
        return (0, 0, 0)
    return (int(row[0]), int(row[1] or 0), int(row[2] or 0))


async def load_snapshot(store: EdgeStore, lead_id: str, now_ms: int | None = None) -> LeadSnapshot:
    """The lead (NotFoundError for an unknown id) and its events as columns."""
    found = await store.fetchall("SELECT data FROM leads WHERE id = ?", (lead_id,))
    if not found:
        raise NotFoundError(f"no lead {lead_id!r} on this device")
    lead: Lead = record_from_row("lead", found[0])  # type: ignore[assignment]
    rows = await store.fetchall(LEAD_EVENTS_SQL, (lead_id,))
    now = store.now_ms() if now_ms is None else now_ms
    cols = columns_from_rows([tuple(r)[:_N] for r in rows])
    texts = [r[_N] for r in rows if r[_N]]
    stamp = (len(rows), max((int(r[_N + 2]) for r in rows), default=0),
             int(rows[-1][0]) if rows else 0)  # fmt: skip
    return LeadSnapshot(
        lead=lead, now_ms=now, cols=cols, texts=texts,
        listing_ids=[r[7] for r in rows], cities=[r[_N + 1] for r in rows], stamp=stamp,
    )  # fmt: skip


async def events_snapshot(store: EdgeStore, snap: LeadSnapshot, events: Sequence[Event]
                          ) -> LeadSnapshot:  # fmt: skip
    """``snap`` with its events replaced by ``events`` (their listings read from the store)."""
    ids = sorted({e.listing_id for e in events if e.listing_id})
    listings: dict[str, Listing] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = await store.fetchall(
            f"SELECT data FROM listings WHERE id IN ({', '.join('?' * len(chunk))})", chunk
        )
        for r in rows:
            li = record_from_row("listing", r)
            listings[li.id] = li  # type: ignore[assignment]
    ordered = sorted(events, key=lambda e: e.ts)
    cols = columns_from_records(ordered, listings)
    return LeadSnapshot(
        lead=snap.lead, now_ms=snap.now_ms, cols=cols,
        texts=[e.text for e in ordered if e.text] or snap.texts,
        listing_ids=[e.listing_id for e in ordered],
        cities=[listings[e.listing_id].location.city if e.listing_id in listings else None
                for e in ordered],
        stamp=snap.stamp,
    )  # fmt: skip
