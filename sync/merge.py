"""Pure merge rules: per-field last-writer-wins by hybrid logical clock, with tombstones.

No I/O and no clock reads: a state and a change go in, a state and the conflicts come out.

The state of one record is a map ``field -> (value, hlc)`` plus the clock of its latest
tombstone and a sticky ``erased`` flag. Merging is a join of that semilattice:

* a field keeps the value with the greatest HLC (``Hlc.encode()`` strings compare in clock
  order, and the node id inside them breaks ties between devices, so two different writes
  never compare equal);
* a tombstone keeps the greatest tombstone clock; the record is visible while some field was
  written after it (a write after the delete brings the whole record back, with each field's
  latest value; values stay in the state, hidden, while the record is deleted);
* a hard erase (privacy) drops every value for good, including later writes, and keeps no
  losing value anywhere.

So the final state does not depend on the order of delivery, on duplicates, or on how two
streams are interleaved (``tests/sync/test_merge.py`` checks this with hypothesis).

A write that loses to a write *from another device* is returned as a :class:`Conflict` (the
losing value is never silently dropped). Overwriting one's own earlier write is not a conflict;
a write that loses to a hard erase is not logged, since the erase asks for the value to go.
"""

from __future__ import annotations

from typing import Any

import msgspec

from sync.changes import AnyChange, Change, Tombstone

#: Length of the fixed-width ``wall-counter-`` prefix of an encoded HLC (15 + 1 + 6 + 1).
_NODE_OFFSET = 23


class FieldValue(msgspec.Struct, frozen=True, array_like=True):
    """One field's current value and the clock of the write that set it."""

    value: Any
    hlc: str


class EntityState(msgspec.Struct, frozen=True, kw_only=True):
    """The merged state of one record."""

    fields: dict[str, FieldValue] = {}
    deleted_hlc: str = ""
    erased: bool = False


class Conflict(msgspec.Struct, frozen=True, kw_only=True):
    """A losing value, and what beat it (a value, or a tombstone when ``winner_op`` says so)."""

    entity: str
    entity_id: str
    field: str
    loser_value: Any
    loser_hlc: str
    winner_value: Any
    winner_hlc: str
    winner_op: str = "change"


EMPTY = EntityState()


def node_of(hlc: str) -> str:
    """The device (node) id inside an encoded HLC."""
    return hlc[_NODE_OFFSET:]


def _is_conflict(loser: str, winner: str, loser_value: Any, winner_value: Any) -> bool:
    return node_of(loser) != node_of(winner) and loser_value != winner_value


def apply_change(
    state: EntityState | None, change: AnyChange
) -> tuple[EntityState, list[Conflict]]:
    """``state`` after ``change``, and the values that lost on the way."""
    state = state or EMPTY
    if isinstance(change, Tombstone):
        return _apply_tombstone(state, change)
    return _apply_fields(state, change)


def _apply_fields(state: EntityState, change: Change) -> tuple[EntityState, list[Conflict]]:
    if state.erased:
        return state, []
    hlc = change.hlc
    conflicts: list[Conflict] = []
    hidden = bool(state.deleted_hlc) and hlc <= state.deleted_hlc
    fields = dict(state.fields)
    changed = False
    for name, value in change.fields.items():
        current = fields.get(name)
        if current is not None and hlc <= current.hlc:
            if hlc < current.hlc and _is_conflict(hlc, current.hlc, value, current.value):
                conflicts.append(
                    _conflict(change, name, value, hlc, current.value, current.hlc, "change")
                )
            continue
        if current is not None and _is_conflict(current.hlc, hlc, current.value, value):
            conflicts.append(
                _conflict(change, name, current.value, current.hlc, value, hlc, "change")
            )
        fields[name] = FieldValue(value, hlc)
        changed = True
        if hidden and node_of(hlc) != node_of(state.deleted_hlc):
            # Written before a delete from another device: kept, but not shown.
            conflicts.append(
                _conflict(change, name, value, hlc, None, state.deleted_hlc, "tombstone")
            )
    if not changed:
        return state, conflicts
    return EntityState(fields=fields, deleted_hlc=state.deleted_hlc), conflicts


def _apply_tombstone(state: EntityState, stone: Tombstone) -> tuple[EntityState, list[Conflict]]:
    if state.erased:
        if stone.hlc <= state.deleted_hlc:
            return state, []
        return EntityState(deleted_hlc=stone.hlc, erased=True), []
    if stone.hard_erase:
        return EntityState(deleted_hlc=max(state.deleted_hlc, stone.hlc), erased=True), []
    if stone.hlc <= state.deleted_hlc:
        return state, []
    conflicts = [
        _conflict(stone, name, fv.value, fv.hlc, None, stone.hlc, "tombstone")
        for name, fv in state.fields.items()
        if state.deleted_hlc < fv.hlc < stone.hlc and node_of(fv.hlc) != node_of(stone.hlc)
    ]
    return EntityState(fields=state.fields, deleted_hlc=stone.hlc), conflicts


def _conflict(
    change: AnyChange,
    name: str,
    loser_value: Any,
    loser_hlc: str,
    winner_value: Any,
    winner_hlc: str,
    winner_op: str,
) -> Conflict:
    return Conflict(
        entity=change.entity,
        entity_id=change.entity_id,
        field=name,
        loser_value=loser_value,
        loser_hlc=loser_hlc,
        winner_value=winner_value,
        winner_hlc=winner_hlc,
        winner_op=winner_op,
    )


def apply_all(
    state: EntityState | None, changes: list[AnyChange]
) -> tuple[EntityState, list[Conflict]]:
    """Fold :func:`apply_change` over ``changes``."""
    state = state or EMPTY
    conflicts: list[Conflict] = []
    for change in changes:
        state, found = apply_change(state, change)
        conflicts.extend(found)
    return state, conflicts


def join(a: EntityState, b: EntityState) -> EntityState:
    """The least state that both ``a`` and ``b`` lead to: the semilattice join (no conflicts)."""
    if a.erased or b.erased:
        return EntityState(deleted_hlc=max(a.deleted_hlc, b.deleted_hlc), erased=True)
    fields: dict[str, FieldValue] = {}
    for name in a.fields.keys() | b.fields.keys():
        x, y = a.fields.get(name), b.fields.get(name)
        best = x if y is None else y if x is None else (x if x.hlc >= y.hlc else y)
        assert best is not None
        fields[name] = best
    return EntityState(fields=fields, deleted_hlc=max(a.deleted_hlc, b.deleted_hlc))


def is_visible(state: EntityState) -> bool:
    """Whether the record exists: not erased, and some field was written after any delete."""
    if state.erased:
        return False
    return any(fv.hlc > state.deleted_hlc for fv in state.fields.values())


def values(state: EntityState) -> dict[str, Any]:
    """The current field values (empty for a deleted or erased record).

    A write after a delete brings the record back with every field's latest value, so an edit
    of one field made concurrently with a delete revives a whole record, never half of one.
    """
    if not is_visible(state):
        return {}
    return {name: fv.value for name, fv in state.fields.items()}
