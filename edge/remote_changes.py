"""Applying the server's changes to the device: merge rules against local state, no outbox.

The device's record rows are a view of merged state. For every record touched by a pulled
page, the local state is the join of what was merged before (``sync_entities``) and every
local change in the outbox for that record; the remote changes are merged into it with
:mod:`sync.merge`, and the row is written (or deleted) from the result. Nothing is appended
to the outbox, so a pulled change never travels back.

Everything here is synchronous, on the caller's connection, inside the caller's transaction:
the store runs a pulled page as one call on its database thread.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import msgspec

from edge import erasure, queries
from edge.rows import TABLES, change_from_row, record_to_row
from sync.changes import AnyChange, Tombstone
from sync.merge import Conflict, EntityState, apply_all, apply_change, is_visible, join, values
from sync.records import RECORD_TYPES

_enc = msgspec.msgpack.Encoder()
_state_dec = msgspec.msgpack.Decoder(EntityState)

#: Parents before children, so that foreign keys hold at every statement.
KIND_ORDER = (
    "agent",
    "listing",
    "lead",
    "event",
    "profile",
    "intervention_plan",
    "intervention_step",
)

Key = tuple[str, str]


class ApplyReport(msgspec.Struct, frozen=True, kw_only=True):
    """What one pulled page did to the device."""

    received: int
    applied: int
    own: int
    conflicts: int
    not_materialized: int
    checkpoint: int


#: Keys per ``IN (...)`` list (well under SQLite's 999 host parameters).
_CHUNK = 400


def local_states(db: sqlite3.Connection, keys: Sequence[Key]) -> dict[Key, EntityState]:
    """The merged state of each record on this device (synced state joined with its outbox),
    two queries per kind and chunk of keys, not per record."""
    by_kind: dict[str, list[str]] = {}
    for kind, entity_id in keys:
        by_kind.setdefault(kind, []).append(entity_id)
    synced: dict[Key, EntityState] = {}
    mine: dict[Key, list[AnyChange]] = {}
    for kind, ids in by_kind.items():
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            for row in db.execute(queries.synced_states(len(chunk)), (kind, *chunk)):
                synced[(kind, row[0])] = _state_dec.decode(row[1])
            for row in db.execute(queries.outbox_of(len(chunk)), (kind, *chunk)):
                mine.setdefault((kind, row[0]), []).append(change_from_row(row))
    out: dict[Key, EntityState] = {}
    for key in keys:
        local, _ = apply_all(None, mine.get(key, []))
        out[key] = join(synced.get(key, EntityState()), local)
    return out


def _row_of(key: Key, state: EntityState) -> dict[str, Any] | None:
    """The table row of a visible state; None when it cannot be built yet."""
    kind, entity_id = key
    try:
        record = msgspec.convert({**values(state), "id": entity_id}, RECORD_TYPES[kind])
    except msgspec.ValidationError:
        return None  # an update of a record whose creation has not arrived yet
    return record_to_row(record)


def materialize(db: sqlite3.Connection, key: Key, state: EntityState) -> bool:
    """Write the record row for ``state`` (or delete it); False when it cannot be built yet."""
    kind, entity_id = key
    table = TABLES[kind]
    if not is_visible(state):
        db.execute(queries.delete_by_id(table), (entity_id,))
        return True
    row = _row_of(key, state)
    if row is None:
        return False
    try:
        db.execute(queries.upsert(table, list(row)), tuple(row.values()))
    except sqlite3.IntegrityError:
        return False  # its lead or listing has not arrived yet
    return True


def _materialize_many(
    db: sqlite3.Connection, keys: Sequence[Key], states: dict[Key, EntityState]
) -> dict[Key, bool]:
    """:func:`materialize` of visible records, one statement per table and column set.

    ``keys`` come parents first. A group whose statement hits a foreign key (a parent not
    here yet) is rolled back to its savepoint and written row by row, so that exactly the
    rows :func:`materialize` would refuse are the ones left pending.
    """
    written: dict[Key, bool] = {}
    groups: list[tuple[str, tuple[str, ...], list[tuple[Key, tuple[Any, ...]]]]] = []
    for key in keys:
        row = _row_of(key, states[key])
        if row is None:
            written[key] = False
            continue
        table, columns = TABLES[key[0]], tuple(row)
        if not groups or groups[-1][:2] != (table, columns):
            groups.append((table, columns, []))
        groups[-1][2].append((key, tuple(row.values())))
    for table, columns, rows in groups:
        sql = queries.upsert(table, columns)
        db.execute(queries.SAVEPOINT_MATERIALIZE)
        try:
            db.executemany(sql, [params for _, params in rows])
        except sqlite3.IntegrityError:
            db.execute(queries.ROLLBACK_TO_MATERIALIZE)
            db.execute(queries.RELEASE_MATERIALIZE)
            for key, params in rows:
                try:
                    db.execute(sql, params)
                    written[key] = True
                except sqlite3.IntegrityError:
                    written[key] = False  # its lead or listing has not arrived yet
            continue
        db.execute(queries.RELEASE_MATERIALIZE)
        written.update((key, True) for key, _ in rows)
    return written


def retry_pending(db: sqlite3.Connection, exclude: set[Key], limit: int = 1000) -> int:
    """Show records held back because their parent had not arrived; returns how many still wait.

    A child can come before its parent when they were written on different devices.
    """
    rows = db.execute(queries.PENDING_STATES, (limit,)).fetchall()
    order = {kind: i for i, kind in enumerate(KIND_ORDER)}
    waiting = 0
    for row in sorted(rows, key=lambda r: order.get(r[0], 99)):
        key = (row[0], row[1])
        if key in exclude:
            waiting += 1
            continue
        if materialize(db, key, _state_dec.decode(row[2])):
            db.execute(queries.CLEAR_PENDING, key)
        else:
            waiting += 1
    return waiting


def apply_changes(
    db: sqlite3.Connection, device_id: str, changes: Sequence[AnyChange], now_ms: int
) -> tuple[int, int, int, list[Conflict], set[Key]]:
    """Merge ``changes`` into the device inside the caller's transaction.

    Returns (applied, own, not materialized, conflicts, keys purged by a hard erase). Changes
    this device made itself are already here and skipped. A hard erase purges the record (a
    lead: with every record of it) as :mod:`edge.erasure` says.
    """
    by_key: dict[Key, list[AnyChange]] = {}
    own = 0
    for c in changes:
        if c.device_id == device_id:
            own += 1
            continue
        by_key.setdefault((c.entity, c.entity_id), []).append(c)
    conflicts: list[Conflict] = []
    states = local_states(db, list(by_key))
    for key, items in by_key.items():
        state = states[key]
        for c in items:
            state, found = apply_change(state, c)
            conflicts.extend(found)
        states[key] = state
    order = {kind: i for i, kind in enumerate(KIND_ORDER)}
    keys = sorted(states, key=lambda k: order.get(k[0], 99))
    visible = [k for k in keys if is_visible(states[k])]
    pending = {k: not ok for k, ok in _materialize_many(db, visible, states).items()}
    gone = list(reversed([k for k in keys if not is_visible(states[k])]))
    for start in range(0, len(gone), _CHUNK):
        chunk = gone[start : start + _CHUNK]
        kinds = list(dict.fromkeys(k[0] for k in chunk))  # children first, as sorted
        for kind in kinds:
            ids = [k[1] for k in chunk if k[0] == kind]
            db.execute(queries.delete_ids_in(TABLES[kind], len(ids)), ids)
        pending.update((k, False) for k in chunk)
    db.executemany(
        queries.MERGE_STATE,
        [(k[0], k[1], _enc.encode(s), int(pending[k])) for k, s in states.items()],
    )
    purged: set[Key] = set()
    for key in {(c.entity, c.entity_id) for c in changes if _hard_erase(c, device_id)}:
        purged |= erasure.erase(db, key[0], key[1], states[key].deleted_hlc)
    if purged:
        conflicts = [c for c in conflicts if (c.entity, c.entity_id) not in purged]
    missing = retry_pending(db, exclude=set(states))
    if conflicts:
        db.executemany(
            queries.LOG_CONFLICT,
            [(c.entity, c.entity_id, c.field, _enc.encode(c), now_ms) for c in conflicts],
        )
    return len(changes) - own, own, missing, conflicts, purged


def _hard_erase(change: AnyChange, device_id: str) -> bool:
    return isinstance(change, Tombstone) and change.hard_erase and change.device_id != device_id
