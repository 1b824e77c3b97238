"""Ingest a batch of records (JSON lines or MessagePack).

The whole batch is validated first, then written in one transaction: all of it or nothing.
"""

from __future__ import annotations

from collections import Counter

import msgspec

from edge.errors import IngestError
from edge.rows import kind_of
from edge.store import EdgeStore
from sync.codec import iter_batch
from sync.errors import DecodeError
from sync.records import Agent, Event, IngestRecord, Lead, Listing, Record

#: How far in the future (device clock) a timestamp may be: clocks drift.
FUTURE_TOLERANCE_MS = 5 * 60 * 1000


class IngestReport(msgspec.Struct, frozen=True, kw_only=True):
    """What one ingest wrote."""

    records: int
    by_kind: dict[str, int]
    outbox_entries: int


def parse_batch(data: bytes) -> list[Record]:
    """Decode every record; the first bad one raises IngestError naming record and field."""
    try:
        return list(iter_batch(data, IngestRecord))
    except DecodeError as exc:
        raise IngestError(
            f"batch refused, nothing written: {exc}", field=_path_of(str(exc))
        ) from exc


def _path_of(message: str) -> str | None:
    marker = "at `"
    if marker in message:
        return message.split(marker, 1)[1].split("`", 1)[0]
    return None


async def validate(store: EdgeStore, records: list[Record], now_ms: int) -> None:
    """References, duplicates and clock sanity across the batch and what the store holds."""
    seen: set[tuple[str, str]] = set()
    in_batch: dict[str, set[str]] = {"agent": set(), "lead": set(), "listing": set()}
    for rec in records:
        kind = kind_of(rec)
        if kind in in_batch:
            in_batch[kind].add(rec.id)

    wanted: dict[str, set[str]] = {"agent": set(), "lead": set(), "listing": set()}
    for rec in records:
        match rec:
            case Lead():
                wanted["agent"].add(rec.agent_id)
            case Event():
                wanted["lead"].add(rec.lead_id)
                if rec.listing_id is not None:
                    wanted["listing"].add(rec.listing_id)
    known = {
        kind: in_batch[kind] | await store.existing_ids(kind, ids - in_batch[kind])
        for kind, ids in wanted.items()
    }

    limit = now_ms + FUTURE_TOLERANCE_MS
    for n, rec in enumerate(records, 1):
        kind = kind_of(rec)
        where = f"record {n} ({kind} {rec.id!r})"
        if (kind, rec.id) in seen:
            raise IngestError(f"{where}: duplicate id in the batch", record=n, field="$.id")
        seen.add((kind, rec.id))
        match rec:
            case Lead() if rec.agent_id not in known["agent"]:
                raise IngestError(
                    f"{where}: agent_id {rec.agent_id!r} is not a known agent",
                    record=n,
                    field="$.agent_id",
                )
            case Lead() if rec.created_at > limit:
                raise IngestError(
                    f"{where}: created_at {rec.created_at} is in the future",
                    record=n,
                    field="$.created_at",
                )
            case Event() if rec.lead_id not in known["lead"]:
                raise IngestError(
                    f"{where}: lead_id {rec.lead_id!r} is not a known lead",
                    record=n,
                    field="$.lead_id",
                )
            case Event() if rec.listing_id is not None and rec.listing_id not in known["listing"]:
                raise IngestError(
                    f"{where}: listing_id {rec.listing_id!r} is not a known listing",
                    record=n,
                    field="$.listing_id",
                )
            case Event() if rec.ts > limit:
                raise IngestError(
                    f"{where}: ts {rec.ts} is {(rec.ts - now_ms) // 1000} s in the future "
                    f"(tolerance {FUTURE_TOLERANCE_MS // 1000} s)",
                    record=n,
                    field="$.ts",
                )
            case Agent() | Listing() | Lead() | Event():
                pass


async def ingest(store: EdgeStore, data: bytes) -> IngestReport:
    """Validate the whole batch, then write it (with its outbox changes) in one transaction."""
    records = parse_batch(data)
    if not records:
        raise IngestError("batch refused: it holds no records")
    now_ms = store.now_ms()
    await validate(store, records, now_ms)
    async with store.transaction(now_ms) as tx:
        tx.put_many(records)
    kinds = Counter(kind_of(r) for r in records)
    return IngestReport(records=len(records), by_kind=dict(kinds), outbox_entries=len(records))
