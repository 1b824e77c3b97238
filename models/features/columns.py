"""A lead's events as columns of NumPy arrays, the one input of feature extraction.

Extraction never loops over events in Python: it works on these arrays with masks,
``np.bincount`` and matrix products. Two ways in, one shape out:

- ``columns_from_records(events, listings_by_id)`` for training and tests (msgspec records);
- ``columns_from_rows(rows)`` for the device store, which reads the same columns straight from
  one SQL query (events LEFT JOIN listings), in ``EVENT_ROW_FIELDS`` order.

Pure NumPy; no TensorFlow. Safe on the device path.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from sync.records import Channel, Event, EventType, Listing, PropertyType, Vertical

#: Codes are positions in these tuples. They are part of the feature spec (and of its hash).
EVENT_TYPES: tuple[EventType, ...] = tuple(EventType)
CHANNELS: tuple[Channel, ...] = tuple(Channel)
PROPERTY_TYPES: tuple[PropertyType, ...] = tuple(PropertyType)
VERTICALS: tuple[Vertical, ...] = tuple(Vertical)
#: Languages with their own feature; every other language maps to code ``len(LANGUAGES)``.
#: Their list and order are frozen by the feature spec (not ``sync.languages``: 14, in this order).
LANGUAGES: tuple[str, ...] = tuple("en es zh vi ko tl ar fr pt ru hi ja th de".split())  # noqa: SIM905 (a line, not sixteen)

TYPE_CODE: dict[str, int] = {t.value: i for i, t in enumerate(EVENT_TYPES)}
CHANNEL_CODE: dict[str, int] = {c.value: i for i, c in enumerate(CHANNELS)}
PROPERTY_TYPE_CODE: dict[str, int] = {p.value: i for i, p in enumerate(PROPERTY_TYPES)}
VERTICAL_CODE: dict[str, int] = {v.value: i for i, v in enumerate(VERTICALS)}
LANGUAGE_CODE: dict[str, int] = {code: i for i, code in enumerate(LANGUAGES)}
OTHER_LANGUAGE = len(LANGUAGES)

#: Column order of ``columns_from_rows``: what the device's SQL query selects, per event.
EVENT_ROW_FIELDS: tuple[str, ...] = (
    "ts",  # events.ts (epoch ms)
    "type",  # events.type (EventType value)
    "channel",  # events.channel or NULL
    "dwell_s",  # events.dwell_s or NULL
    "duration_s",  # events.duration_s or NULL
    "amount",  # events.amount or NULL
    "language",  # events.language or NULL
    "listing_id",  # events.listing_id or NULL
    "price",  # listings.* below: NULL when the event has no (known) listing
    "beds",
    "baths",
    "sqft",
    "property_type",
    "vertical",
    "lat",
    "lon",
)


def language_code(code: str | None) -> int:
    """Code of an ISO 639-1 language; -1 for none, ``OTHER_LANGUAGE`` for unlisted ones."""
    if not code:
        return -1
    return LANGUAGE_CODE.get(code, OTHER_LANGUAGE)


def listing_key(listing_id: str | None) -> int:
    """A stable non-negative integer for a listing id (crc32), -1 for none."""
    if not listing_id:
        return -1
    return zlib.crc32(listing_id.encode())


@dataclass(frozen=True, slots=True)
class EventColumns:
    """One lead's events, sorted by ``ts`` ascending, one array per attribute.

    Missing numbers are NaN, missing codes are -1. Listing attributes are those of the event's
    listing (NaN / -1 when the event has none or the listing is unknown).
    """

    ts: np.ndarray  # int64 epoch ms
    type: np.ndarray  # int8 code into EVENT_TYPES
    channel: np.ndarray  # int8 code into CHANNELS, -1 none
    dwell_s: np.ndarray  # float64
    duration_s: np.ndarray  # float64
    amount: np.ndarray  # float64
    language: np.ndarray  # int8 code into LANGUAGES, OTHER_LANGUAGE, -1 none
    listing: np.ndarray  # int64 listing_key, -1 none
    price: np.ndarray  # float64
    beds: np.ndarray  # float64
    baths: np.ndarray  # float64
    sqft: np.ndarray  # float64
    property_type: np.ndarray  # int8 code into PROPERTY_TYPES, -1 none
    vertical: np.ndarray  # int8 code into VERTICALS, -1 none
    lat: np.ndarray  # float64 degrees
    lon: np.ndarray  # float64 degrees

    def __len__(self) -> int:
        return len(self.ts)

    def before(self, now_ms: int) -> EventColumns:
        """The events at or before ``now_ms`` (views, no copy)."""
        n = int(np.searchsorted(self.ts, now_ms, side="right"))
        if n == len(self.ts):
            return self
        return EventColumns(*(getattr(self, f)[:n] for f in _FIELDS))


_FIELDS = EventColumns.__slots__
_INT8 = {"type", "channel", "language", "property_type", "vertical"}
_DTYPES = {
    f: (np.int64 if f in ("ts", "listing") else np.int8 if f in _INT8 else np.float64)
    for f in _FIELDS
}


def empty_columns() -> EventColumns:
    return EventColumns(*(np.zeros(0, dtype=_DTYPES[f]) for f in _FIELDS))


def _finish(arrays: dict[str, np.ndarray]) -> EventColumns:
    ts = arrays["ts"]
    if len(ts) > 1 and np.any(ts[1:] < ts[:-1]):
        order = np.argsort(ts, kind="stable")
        arrays = {k: v[order] for k, v in arrays.items()}
    return EventColumns(**arrays)


def _num(x: float | None) -> float:
    return np.nan if x is None else float(x)


def columns_from_records(
    events: Iterable[Event], listings_by_id: Mapping[str, Listing]
) -> EventColumns:
    """Columns of ``events`` (any order), with each event's listing looked up by id."""
    rows = []
    for e in events:
        listing = listings_by_id.get(e.listing_id) if e.listing_id else None
        rows.append(
            (
                e.ts,
                TYPE_CODE[e.type],
                CHANNEL_CODE[e.channel] if e.channel is not None else -1,
                _num(e.dwell_s),
                _num(e.duration_s),
                _num(e.amount),
                language_code(e.language),
                listing_key(e.listing_id),
                *_listing_values(listing),
            )
        )
    return _from_tuples(rows)


def _listing_values(listing: Listing | None) -> tuple:
    if listing is None:
        return (np.nan, np.nan, np.nan, np.nan, -1, -1, np.nan, np.nan)
    return (
        float(listing.price),
        float(listing.beds),
        float(listing.baths),
        float(listing.sqft),
        PROPERTY_TYPE_CODE[listing.property_type],
        VERTICAL_CODE[listing.vertical],
        float(listing.location.lat),
        float(listing.location.lon),
    )


def _from_tuples(rows: Sequence[tuple]) -> EventColumns:
    if not rows:
        return empty_columns()
    cols = list(zip(*rows, strict=True))
    return _finish({f: np.asarray(c, dtype=_DTYPES[f]) for f, c in zip(_FIELDS, cols, strict=True)})


def columns_from_rows(rows: Sequence[Sequence]) -> EventColumns:
    """Columns from SQL rows in ``EVENT_ROW_FIELDS`` order (NULL as None, enums as strings)."""
    if not rows:
        return empty_columns()
    cols = list(zip(*rows, strict=True))
    ts, typ, ch, dwell, dur, amount, lang, lid, price, beds, baths, sqft, ptype, vert, lat, lon = (
        cols
    )

    def floats(c) -> np.ndarray:
        return np.array(c, dtype=np.float64)  # None -> NaN

    def codes(c, table: Mapping[str, int]) -> np.ndarray:
        return np.array([-1 if v is None else table[v] for v in c], dtype=np.int8)

    arrays = {
        "ts": np.asarray(ts, dtype=np.int64),
        "type": codes(typ, TYPE_CODE),
        "channel": codes(ch, CHANNEL_CODE),
        "dwell_s": floats(dwell),
        "duration_s": floats(dur),
        "amount": floats(amount),
        "language": np.array([language_code(v) for v in lang], dtype=np.int8),
        "listing": np.array([listing_key(v) for v in lid], dtype=np.int64),
        "price": floats(price),
        "beds": floats(beds),
        "baths": floats(baths),
        "sqft": floats(sqft),
        "property_type": codes(ptype, PROPERTY_TYPE_CODE),
        "vertical": codes(vert, VERTICAL_CODE),
        "lat": floats(lat),
        "lon": floats(lon),
    }
    return _finish(arrays)
