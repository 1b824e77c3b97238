"""The sync service: push (validate, deduplicate, merge, log), pull, conflicts, records.

Handlers call one method here; the merge itself is :mod:`sync.merge` (pure). Every read and
write is scoped to the caller's team (its partition); an id from another team is simply not
there, and is answered 404.
"""

from __future__ import annotations

import logging
import sys
import time
import zlib
from collections.abc import Callable
from typing import Any

import msgspec

from server import metrics
from server.auth import Principal
from server.config import ServerConfig
from server.errors import (
    BodyTooLargeError,
    ClockAheadError,
    InvalidRequestError,
    MalformedBodyError,
    NotFoundError,
    SchemaVersionUnsupportedError,
    UnsupportedEncodingError,
    path_in,
)
from server.storage import DeviceRow, Key, LoggedConflict, ServerStore, ServerTx, StoredRecord
from sync.changes import AnyChange, Change, ChangeBatch, Tombstone
from sync.clock import Hlc, receive, zero
from sync.errors import ClockError
from sync.merge import EntityState, apply_change, is_visible, values
from sync.protocol import (
    ConflictEntry,
    ConflictPage,
    DeviceInfo,
    PullPage,
    PushResult,
    RecordState,
    validate_fields,
)
from sync.records import RECORD_TYPES
from sync.version import PROTOCOL_VERSION, SCHEMA_VERSION

log = logging.getLogger("realty_edge.server")

MSGPACK_TYPES = {"application/msgpack", "application/x-msgpack", "application/vnd.msgpack"}
_batch_json = msgspec.json.Decoder(ChangeBatch)
_batch_msgpack = msgspec.msgpack.Decoder(ChangeBatch)
SERVER_NODE = "server"
#: Records whose ``team_id`` field names their partition.
_TEAM_FIELD = {"lead", "agent"}


def decode_body(
    body: bytes, content_type: str, content_encoding: str, config: ServerConfig
) -> ChangeBatch:
    """A push body (JSON or MessagePack, identity or gzip) as a batch; errors name the path."""
    if len(body) > config.max_body_bytes:
        raise BodyTooLargeError(f"body of {len(body)} bytes; the limit is {config.max_body_bytes}")
    encoding = content_encoding.strip().lower()
    if encoding in ("gzip", "x-gzip"):
        try:
            inflater = zlib.decompressobj(wbits=31)
            body = inflater.decompress(body, config.max_decoded_bytes + 1)
        except zlib.error as exc:
            raise MalformedBodyError(
                f"Content-Encoding gzip but the body is not gzip: {exc}"
            ) from exc
        if len(body) > config.max_decoded_bytes or inflater.unconsumed_tail:
            raise BodyTooLargeError(
                f"body inflates past the limit of {config.max_decoded_bytes} bytes"
            )
    elif encoding not in ("", "identity"):
        raise UnsupportedEncodingError(
            f"Content-Encoding {content_encoding!r} is not supported; use gzip or none"
        )
    mime = content_type.split(";", 1)[0].strip().lower()
    if mime in MSGPACK_TYPES:
        decoder: Any = _batch_msgpack
    elif mime in ("application/json", ""):
        decoder = _batch_json
    else:
        raise UnsupportedEncodingError(
            f"Content-Type {content_type!r} is not supported; use application/json or "
            "application/msgpack"
        )
    if not body.strip():
        raise InvalidRequestError("empty body; expected a ChangeBatch", path="$")
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise InvalidRequestError(f"batch refused: {exc}", path=path_in(str(exc))) from exc
    except msgspec.DecodeError as exc:
        raise MalformedBodyError(f"body is not valid {mime or 'JSON'}: {exc}") from exc


def _lead_of(change: AnyChange, stored: StoredRecord | None) -> str | None:
    if change.entity == "lead":
        return change.entity_id
    if isinstance(change, Change) and isinstance(change.fields.get("lead_id"), str):
        return change.fields["lead_id"]
    return stored.lead_id if stored else None


class SyncService:
    """Push, pull and the conflict log over a :class:`~server.storage.ServerStore`."""

    def __init__(self, store: ServerStore, config: ServerConfig):
        self.store = store
        self.config = config
        self.clock = zero(SERVER_NODE)
        #: Called with the team after a push added changes to its log (e.g. to wake sockets).
        self.on_change: list[Callable[[str], None]] = []

    async def start(self) -> None:
        """Nothing to load: the clock catches up with a team's stored mark at each push and pull."""

    # --- push ----------------------------------------------------------------------

    def check(self, who: Principal, batch: ChangeBatch) -> None:
        """Everything about a batch that needs no database: versions, ids, field values."""
        if batch.protocol != PROTOCOL_VERSION:
            raise SchemaVersionUnsupportedError(
                f"protocol {batch.protocol} is not supported; this server speaks "
                f"{PROTOCOL_VERSION}",
                path="$.protocol",
            )
        if not 1 <= batch.schema_version <= SCHEMA_VERSION:
            raise SchemaVersionUnsupportedError(
                f"schema version {batch.schema_version} is not supported; this server reads "
                f"1 to {SCHEMA_VERSION}. Keep the changes and upgrade the server",
                path="$.schema_version",
            )
        for i, c in enumerate(batch.changes):
            at = f"$.changes[{i}]"
            if c.device_id != batch.device_id:
                raise InvalidRequestError(
                    f"change from device {c.device_id!r} in a batch of {batch.device_id!r}",
                    path=f"{at}.device_id",
                )
            if c.entity not in RECORD_TYPES:
                raise InvalidRequestError(f"unknown record kind {c.entity!r}", path=f"{at}.entity")
            try:
                stamp = Hlc.decode(c.hlc)
            except ClockError as exc:
                raise InvalidRequestError(str(exc), path=f"{at}.hlc") from exc
            if stamp.node != c.device_id:
                raise InvalidRequestError(
                    f"clock {c.hlc!r} was not stamped by device {c.device_id!r}",
                    path=f"{at}.hlc",
                )
            if isinstance(c, Change):
                problem = validate_fields(c.entity, c.fields)
                if problem is not None:
                    raise InvalidRequestError(
                        f"{c.entity} {c.entity_id!r}: {problem}",
                        path=path_in(problem, f"{at}.fields"),
                    )
                team = c.fields.get("team_id")
                if c.entity in _TEAM_FIELD and team is not None and team != who.team:
                    raise NotFoundError(
                        f"{c.entity} {c.entity_id!r} belongs to no partition of yours",
                        path=f"{at}.fields.team_id",
                    )

    async def push(self, who: Principal, batch: ChangeBatch) -> PushResult:
        """Merge a batch; a batch (or part of one) seen before changes nothing."""
        started = time.perf_counter()
        try:
            self.check(who, batch)
            result = await self._push(who, batch)
        except Exception as exc:
            metrics.REFUSED.labels(getattr(exc, "code", "internal_error")).inc()
            raise
        metrics.PUSH_SECONDS.observe(time.perf_counter() - started)
        return result

    async def _push(self, who: Principal, batch: ChangeBatch) -> PushResult:
        now = self.config.clock()
        outcome = await self.store.write(lambda tx: self._merge(tx, who, batch, now))
        fresh, conflicts, n_conflicts = outcome
        if fresh:
            for listener in self.on_change:
                listener(who.team)
        metrics.CHANGES.labels("new").inc(len(fresh))
        metrics.CHANGES.labels("duplicate").inc(len(batch.changes) - len(fresh))
        metrics.CONFLICTS.inc(len(conflicts))
        log.info(
            "push",
            extra={
                "event": "push",
                "team": who.team,
                "agent": who.agent,
                "device": batch.device_id,
                "changes": len(batch.changes),
                "new": len(fresh),
                "conflicts": len(conflicts),
            },
        )
        return PushResult(
            device_id=batch.device_id,
            accepted=len(batch.changes),
            acked_through=max((c.seq for c in batch.changes), default=0),
            conflicts=n_conflicts,
            schema_version=SCHEMA_VERSION,
        )

    def merge_in(
        self, tx: ServerTx, who: Principal, batch: ChangeBatch, now: int
    ) -> list[tuple[int, AnyChange]]:
        """:meth:`push`'s checks and merge inside a caller's transaction; the fresh changes.

        For a writer that must commit more with the batch (an integration noting the webhook
        delivery it came from); it calls :meth:`changed` after the commit.
        """
        self.check(who, batch)
        return self._merge(tx, who, batch, now)[0]

    def changed(self, team: str) -> None:
        """Tell the listeners (sockets, caches) that ``team``'s log grew."""
        for listener in self.on_change:
            listener(team)

    def _merge(
        self, tx: ServerTx, who: Principal, batch: ChangeBatch, now: int
    ) -> tuple[list[tuple[int, AnyChange]], list[LoggedConflict], int]:
        """The whole push inside one transaction: deduplicate, check, merge, log.

        Runs in a store thread; the team's pushes run one at a time (``lock_partition``),
        whichever worker takes them. The merge is pure.
        """
        team = who.team
        tx.lock_partition(team)
        seqs = [c.seq for c in batch.changes]
        device = tx.device(batch.device_id)
        if device is not None and (device.team_id, device.agent_id) != (team, who.agent):
            raise NotFoundError(
                f"device {batch.device_id!r} is registered to another agent", path="$.device_id"
            )
        seen = tx.seen(batch.device_id, seqs)
        fresh: list[tuple[int, AnyChange]] = []
        for i, c in enumerate(batch.changes):
            if c.seq not in seen:
                seen.add(c.seq)
                fresh.append((i, c))
        clock = self.clock
        for i, c in fresh:
            try:
                clock = receive(
                    clock, Hlc.decode(c.hlc), now, max_drift_ms=self.config.max_clock_ahead_ms
                )
            except ClockError as exc:
                raise ClockAheadError(
                    f"{exc}; the limit is {self.config.max_clock_ahead_ms} ms. Fix the "
                    "device clock; its changes stay on the device",
                    path=f"$.changes[{i}].hlc",
                ) from exc
        keys: set[Key] = set()
        for _, c in fresh:
            keys.add((c.entity, c.entity_id))
            lead = _lead_of(c, None)
            if lead is not None:
                keys.add(("lead", lead))
        stored = tx.records(team, sorted(keys))
        dirty: dict[Key, StoredRecord] = {}
        conflicts: list[LoggedConflict] = []
        erased: list[Key] = []
        log_entries: list[AnyChange] = []
        for i, c in fresh:
            key = (c.entity, c.entity_id)
            current = stored.get(key)
            lead = _lead_of(c, current)
            named = isinstance(c, Change) and "lead_id" in c.fields
            if c.entity != "lead" and named and ("lead", lead) not in stored:
                raise NotFoundError(
                    f"lead {lead!r} of {c.entity} {c.entity_id!r} is not in your partition",
                    path=f"$.changes[{i}].fields.lead_id",
                )
            state, found = apply_change(current.state if current else None, c)
            parent = stored.get(("lead", lead)) if lead and c.entity != "lead" else None
            if parent is not None and parent.state.erased and not state.erased:
                # Written (offline) for a lead erased since: erased as it arrives.
                state, found = EntityState(deleted_hlc=parent.state.deleted_hlc, erased=True), []
                erased.append(key)
            record = StoredRecord(entity=c.entity, entity_id=c.entity_id, lead_id=lead, state=state)
            stored[key] = dirty[key] = record
            conflicts += [
                LoggedConflict(conflict=f, device_id=c.device_id, seq=c.seq, logged_at=now)
                for f in found
            ]
            hard_erase = isinstance(c, Tombstone) and c.hard_erase
            if hard_erase or not state.erased:
                log_entries.append(c)  # a write to an erased record never enters the log
            if hard_erase:
                erased.append(key)
                if c.entity == "lead":
                    children = {
                        (r.entity, r.entity_id): r for r in tx.records_of_lead(team, c.entity_id)
                    }
                    # and the records of this batch not saved yet
                    children.update((k, r) for k, r in dirty.items() if r.lead_id == c.entity_id)
                    for child in children.values():
                        ck = (child.entity, child.entity_id)
                        if ck == key:
                            continue
                        child_state, _ = apply_change(
                            child.state,
                            msgspec.structs.replace(
                                c, entity=child.entity, entity_id=child.entity_id
                            ),
                        )
                        stored[ck] = dirty[ck] = StoredRecord(
                            entity=child.entity,
                            entity_id=child.entity_id,
                            lead_id=child.lead_id,
                            state=child_state,
                        )
                        erased.append(ck)
        if erased:
            tx.forget(team, erased)
            gone = set(erased)
            conflicts = [
                x for x in conflicts if (x.conflict.entity, x.conflict.entity_id) not in gone
            ]
            log_entries = [
                c
                for c in log_entries
                if (c.entity, c.entity_id) not in gone
                or (isinstance(c, Tombstone) and c.hard_erase)
            ]
        tx.save_records(team, list(dirty.values()))
        if log_entries:
            tx.append_log(team, log_entries)
        if fresh:
            tx.mark_seen(team, batch.device_id, [c.seq for _, c in fresh])
        if conflicts:
            tx.add_conflicts(team, conflicts)
        acked = max([device.acked_through if device else 0, *seqs])
        tx.save_device(
            DeviceRow(
                device_id=batch.device_id,
                agent_id=who.agent,
                team_id=team,
                acked_through=acked,
                changes=(device.changes if device else 0) + len(fresh),
                first_seen=device.first_seen if device else now,
                last_seen=now,
            )
        )
        if fresh:
            clock = self._high_water(tx, team, clock, now)
        n_conflicts = tx.count_conflicts(batch.device_id, seqs)
        self.clock = max(self.clock, clock)
        return fresh, conflicts, n_conflicts

    @staticmethod
    def _high_water(tx: ServerTx, team: str, clock: Hlc, now: int) -> Hlc:
        """``clock`` moved past the team's stored high-water mark (maybe another worker's).

        The mark is read and written under the team's partition lock, so each push to the team
        stores a later mark than the one before, whichever worker ran it.
        """
        saved = tx.partition_clock(team)
        if saved:
            stored = Hlc.decode(saved)
            if stored >= clock:
                clock = receive(clock, stored, now, max_drift_ms=sys.maxsize)
        tx.set_partition_clock(team, clock.encode())
        return clock

    async def server_clock(self, team: str) -> Hlc:
        """This worker's clock, caught up with what any worker has stored for ``team``."""
        saved = await self.store.partition_clock(team)
        if saved:
            self.clock = max(self.clock, Hlc.decode(saved))
        return self.clock

    # --- reads ---------------------------------------------------------------------

    def _limit(self, limit: int | None) -> int:
        limit = self.config.default_page if limit is None else limit
        if not 1 <= limit <= self.config.max_page:
            raise InvalidRequestError(
                f"limit {limit} is out of range 1..{self.config.max_page}", path="query.limit"
            )
        return limit

    async def pull(
        self, who: Principal, after: int, limit: int | None, device_id: str | None = None
    ) -> PullPage:
        """The team's changes after checkpoint ``after``, in server order.

        Changes that ``device_id`` pushed itself are left out (the checkpoint still passes
        them): a device never downloads its own pushes back.
        """
        started = time.perf_counter()
        if after < 0:
            raise InvalidRequestError(f"after {after} is negative", path="query.after")
        limit = self._limit(limit)
        if device_id is not None:
            known = await self.store.device(device_id)
            if known is not None and known.team_id != who.team:  # ids of others do not leak
                raise NotFoundError(
                    f"no device {device_id!r} in your partition", path="query.device_id"
                )
        rows = await self.store.pull(who.team, after, limit + 1)
        has_more = len(rows) > limit
        rows = rows[:limit]
        changes = [c for _, c in rows if device_id is None or c.device_id != device_id]
        last = rows[-1][0] if rows else after
        metrics.PULL_SECONDS.observe(time.perf_counter() - started)
        return PullPage(
            changes=changes,
            checkpoint=last,
            has_more=has_more,
            server_hlc=(await self.server_clock(who.team)).encode(),
            schema_version=SCHEMA_VERSION,
        )

    async def conflicts(
        self, who: Principal, after: int, limit: int | None, entity_id: str | None
    ) -> ConflictPage:
        limit = self._limit(limit)
        rows = await self.store.conflicts(who.team, after, limit + 1, entity_id)
        if entity_id is not None and not rows and after == 0:
            found = [await self.store.record(who.team, (kind, entity_id)) for kind in RECORD_TYPES]
            if not any(found):
                raise NotFoundError(
                    f"no record {entity_id!r} in your partition", path="query.entity_id"
                )
        more = len(rows) > limit
        rows = rows[:limit]
        return ConflictPage(
            conflicts=[
                ConflictEntry(
                    id=r.id,
                    entity=r.conflict.entity,
                    entity_id=r.conflict.entity_id,
                    field=r.conflict.field,
                    loser_value=r.conflict.loser_value,
                    loser_hlc=r.conflict.loser_hlc,
                    winner_value=r.conflict.winner_value,
                    winner_hlc=r.conflict.winner_hlc,
                    winner_op=r.conflict.winner_op,
                    device_id=r.device_id,
                    seq=r.seq,
                    logged_at=r.logged_at,
                )
                for r in rows
            ],
            next_after=rows[-1].id if rows else after,
            has_more=more,
        )

    async def record(self, who: Principal, entity: str, entity_id: str) -> RecordState:
        stored = await self.store.record(who.team, (entity, entity_id))
        if stored is None:
            raise NotFoundError(
                f"no {entity} {entity_id!r} in your partition", path="path.entity_id"
            )
        state = stored.state
        return RecordState(
            entity=entity,
            entity_id=entity_id,
            exists=is_visible(state),
            erased=state.erased,
            fields=values(state),
            field_hlcs={name: fv.hlc for name, fv in state.fields.items()},
            deleted_hlc=state.deleted_hlc,
        )

    async def device(self, who: Principal, device_id: str) -> DeviceInfo:
        row = await self.store.device(device_id)
        if row is None or row.team_id != who.team:
            raise NotFoundError(f"no device {device_id!r} in your partition", path="path.device_id")
        return DeviceInfo(
            device_id=row.device_id,
            agent_id=row.agent_id,
            team_id=row.team_id,
            acked_through=row.acked_through,
            changes=row.changes,
            first_seen=row.first_seen,
            last_seen=row.last_seen,
        )
