"""Ingest a batch of records (JSON lines or MessagePack, a UTF-8 byte-order mark allowed).

The whole batch is validated first, then written in one transaction: all of it or nothing.
Every bad record is reported (up to :data:`MAX_REPORTED`, with the count of the rest).

Ingest is idempotent: a record equal to the stored one writes nothing and queues nothing in the
outbox, and a record whose ``updated_at`` is older than the stored copy's is skipped (reported,
never written), so re-ingesting an older export cannot undo newer edits. So is a record with the
stored copy's ``updated_at`` but other content: the copy was edited on a device since (edits
and pulled changes keep ``updated_at``), and the export knows nothing newer. Records without a
version (``updated_at`` 0 on both sides) are written when they differ. A changed record is
written with an outbox change that carries only its changed fields.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import msgspec

from edge.errors import BatchProblem, IngestError
from edge.rows import kind_of, record_fields
from edge.store import EdgeStore
from sync.codec import iter_batch_results
from sync.errors import BatchRecordError, DecodeError
from sync.records import Agent, Event, IngestRecord, Lead, Listing, Record

#: How far in the future (device clock) a timestamp may be: clocks drift.
FUTURE_TOLERANCE_MS = 5 * 60 * 1000
#: Bad (or skipped) records listed one by one; the rest are counted.
MAX_REPORTED = 50


class SkippedRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A record not written: the device's copy is newer, or the same version edited since."""

    record: int
    kind: str
    id: str
    updated_at: int
    stored_updated_at: int
    reason: str = "older"  # or "same_version"


class IngestReport(msgspec.Struct, frozen=True, kw_only=True):
    """What one ingest did: ``records`` = written + unchanged + skipped_older + skipped_edited."""

    records: int
    by_kind: dict[str, int]
    outbox_entries: int
    written: int = 0
    unchanged: int = 0
    #: Records older (by ``updated_at``) than the device's copy.
    skipped_older: int = 0
    #: Records with the device's ``updated_at`` but other content: the device's edits are kept.
    skipped_edited: int = 0
    #: The first :data:`MAX_REPORTED` skipped records.
    skipped: list[SkippedRecord] = []


def refuse(problems: list[BatchProblem]) -> IngestError:
    """One IngestError listing ``problems`` (up to MAX_REPORTED, then the count of the rest)."""
    shown, more = problems[:MAX_REPORTED], max(0, len(problems) - MAX_REPORTED)
    if len(problems) == 1:
        message = f"batch refused, nothing written: {problems[0].message}"
    else:
        lines = [f"batch refused, nothing written: {len(problems)} bad records"]
        lines += [f"  {p.message}" for p in shown]
        if more:
            lines.append(f"  ... and {more} more")
        message = "\n".join(lines)
    first = problems[0]
    return IngestError(message, record=first.record, field=first.field, problems=shown, more=more)


def parse_batch(data: bytes) -> list[Record]:
    """Decode every record; raise IngestError naming every bad record and field."""
    records: list[Record] = []
    problems: list[BatchProblem] = []
    try:
        for item in iter_batch_results(data, IngestRecord):
            if isinstance(item, BatchRecordError):
                msg = str(item)
                problems.append(BatchProblem(record=item.record, field=_path_of(msg), message=msg))
            elif isinstance(item, Record):
                records.append(item)
    except DecodeError as exc:
        raise IngestError(f"batch refused, nothing written: {exc}") from exc
    if problems:
        raise refuse(problems)
    return records


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
    problems: list[BatchProblem] = []
    for n, rec in enumerate(records, 1):
        kind = kind_of(rec)
        where = f"record {n} ({kind} {rec.id!r})"

        def bad(what: str, field: str, n: int = n, where: str = where) -> None:
            problems.append(BatchProblem(record=n, field=field, message=f"{where}: {what}"))

        if (kind, rec.id) in seen:
            bad("duplicate id in the batch", "$.id")
            continue
        seen.add((kind, rec.id))
        match rec:
            case Lead() if rec.agent_id not in known["agent"]:
                bad(f"agent_id {rec.agent_id!r} is not a known agent", "$.agent_id")
            case Lead() if rec.created_at > limit:
                bad(f"created_at {rec.created_at} is in the future", "$.created_at")
            case Event() if rec.lead_id not in known["lead"]:
                bad(f"lead_id {rec.lead_id!r} is not a known lead", "$.lead_id")
            case Event() if rec.listing_id is not None and rec.listing_id not in known["listing"]:
                bad(f"listing_id {rec.listing_id!r} is not a known listing", "$.listing_id")
            case Event() if rec.ts > limit:
                bad(
                    f"ts {rec.ts} is {(rec.ts - now_ms) // 1000} s in the future "
                    f"(tolerance {FUTURE_TOLERANCE_MS // 1000} s)",
                    "$.ts",
                )
            case Agent() | Listing() | Lead() | Event():
                pass
    if problems:
        raise refuse(problems)


async def ingest(store: EdgeStore, data: bytes) -> IngestReport:
    """Validate the whole batch, then write what changed (with its outbox changes) at once."""
    records = parse_batch(data)
    if not records:
        raise IngestError("batch refused: it holds no records")
    now_ms = store.now_ms()
    await validate(store, records, now_ms)
    by_kind: dict[str, list[Record]] = defaultdict(list)
    for rec in records:
        by_kind[kind_of(rec)].append(rec)
    stored: dict[tuple[str, str], Record] = {}
    for kind, recs in by_kind.items():
        found = await store.stored(kind, (r.id for r in recs))
        stored.update(((kind, i), r) for i, r in found.items())

    unchanged = 0
    skipped: list[SkippedRecord] = []
    writes: list[tuple[Record, dict[str, object] | None]] = []  # None: a new record
    for n, rec in enumerate(records, 1):
        kind = kind_of(rec)
        old = stored.get((kind, rec.id))
        if old is None:
            writes.append((rec, None))
        elif rec == old:
            unchanged += 1
        elif rec.updated_at < old.updated_at or rec.updated_at == old.updated_at != 0:
            reason = "older" if rec.updated_at < old.updated_at else "same_version"
            skipped.append(
                SkippedRecord(
                    record=n,
                    kind=kind,
                    id=rec.id,
                    reason=reason,
                    updated_at=rec.updated_at,
                    stored_updated_at=old.updated_at,
                )
            )
        else:
            before, after = record_fields(old), record_fields(rec)
            writes.append((rec, {k: v for k, v in after.items() if before.get(k) != v}))
    if writes:
        async with store.transaction(now_ms) as tx:
            for rec, changed in writes:
                if changed is None:
                    tx.put(rec)
                else:
                    tx.patch(rec, changed)
    return IngestReport(
        records=len(records),
        by_kind=dict(Counter(kind_of(r) for r in records)),
        outbox_entries=len(writes),
        written=len(writes),
        unchanged=unchanged,
        skipped_older=sum(s.reason == "older" for s in skipped),
        skipped_edited=sum(s.reason == "same_version" for s in skipped),
        skipped=skipped[:MAX_REPORTED],
    )
