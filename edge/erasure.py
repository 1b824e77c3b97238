"""A privacy erasure on the device: the record, and for a lead every record of it, gone.

A hard-erase tombstone (written here, or pulled from the server) removes more than the rows:

* the rows of the lead and of its events, profile, plans and steps (drafted messages);
* their merge state in ``sync_entities``, replaced by a bare erase marker (kind, id and the
  erase's clock, no field), so that a late write to them is refused by the merge rules;
* every outbox entry of those records, sent or not, quarantined or not, except the erase
  itself while the server has not acknowledged it (it must still travel);
* their rows in the local conflict log.

Children are found wherever they can be: rows naming the lead, merge states and outbox
payloads whose ``lead_id`` is the lead (a soft-deleted or not yet materialized child has no
row). Payloads are prefiltered in SQLite with ``instr`` on the lead id's bytes, then decoded.

What is left on the device is the erased records' ids (opaque, carrying nothing of the lead)
in the erase markers. The connection runs with ``PRAGMA secure_delete = ON`` (see
:func:`edge.store.open_sync`), so the freed bytes are zeroed; after the erasure commits, the
store rebuilds the file and checkpoints and truncates the WAL (:func:`checkpoint`), so no older
image of the lead is left in a page's free space or in the write-ahead log.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterable, Sequence
from typing import TypeVar

import msgspec

from edge import queries
from edge.rows import TABLES, change_from_row
from sync.changes import Change, Tombstone
from sync.merge import EntityState

Key = tuple[str, str]
log_ = logging.getLogger(__name__)

#: The kinds of record that belong to a lead (they carry its ``lead_id``).
CHILD_KINDS = ("event", "profile", "intervention_plan", "intervention_step")
#: Run after the erasing transaction commits: the WAL's frames (old page images) folded into
#: the database file, whose freed bytes ``secure_delete`` zeroed, and the WAL cut to 0 bytes.
CHECKPOINT = queries.WAL_CHECKPOINT_TRUNCATE


def checkpoint(conn: sqlite3.Connection, tries: int = 50, wait_s: float = 0.02) -> bool:
    """Rebuild the file (``VACUUM``), then run :data:`CHECKPOINT` until it completes; False if
    it never did. Run after the erasing transaction commits, outside any transaction.

    ``secure_delete`` zeroes a deleted cell, but a page rebuilt by a b-tree balance can keep an
    older cell's bytes in its unallocated gap (seen in a test: part of a drafted message in an
    outbox page); ``VACUUM`` writes every page anew, so no such residue survives. A reader on
    an older snapshot makes a checkpoint partial, so it is retried (at most ``tries * wait_s``
    beyond SQLite's busy wait).
    """
    try:
        conn.execute(queries.VACUUM)
    except sqlite3.OperationalError as exc:  # busy: the checkpoint still runs
        log_.warning("the VACUUM after an erasure failed: %s", exc)
    for _ in range(tries):
        busy, log, done = conn.execute(CHECKPOINT).fetchone()
        if not busy and log == done:
            return True
        time.sleep(wait_s)
    log_.warning("the WAL could not be checkpointed after an erasure")
    return False


_enc = msgspec.msgpack.Encoder()
_state_dec = msgspec.msgpack.Decoder(EntityState)
_CHUNK = 400
T = TypeVar("T")


def _chunks(items: Sequence[T]) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def records_of_lead(conn: sqlite3.Connection, lead_id: str) -> set[Key]:
    """The lead's key and every child record's key this device knows of, in any table."""
    keys: set[Key] = {("lead", lead_id)}
    for kind in CHILD_KINDS:
        rows = conn.execute(queries.children_of_lead(TABLES[kind]), (lead_id,))
        keys.update((kind, r[0]) for r in rows)
    needle = lead_id.encode()
    for entity, entity_id, blob in conn.execute(
        queries.synced_states_naming(len(CHILD_KINDS)), (*CHILD_KINDS, needle)
    ):
        named = _state_dec.decode(blob).fields.get("lead_id")
        if named is not None and named.value == lead_id:
            keys.add((entity, entity_id))
    for row in conn.execute(queries.outbox_naming(len(CHILD_KINDS)), (*CHILD_KINDS, needle)):
        change = change_from_row(row)
        if isinstance(change, Change) and change.fields.get("lead_id") == lead_id:
            keys.add((row["entity"], row["entity_id"]))
    return keys


def purge(conn: sqlite3.Connection, keys: Iterable[Key], hlc: str) -> None:
    """Leave only erase markers (stamped ``hlc`` or later) of ``keys``, inside the caller's
    transaction: rows, merge state, outbox entries (but an unsent erase) and conflicts."""
    by_kind: dict[str, list[str]] = {}
    for kind, entity_id in keys:
        by_kind.setdefault(kind, []).append(entity_id)
    # Children before the lead, so no foreign key is left dangling on the way.
    for kind in (*reversed(CHILD_KINDS), "lead"):
        for chunk in _chunks(by_kind.get(kind, [])):
            conn.execute(queries.delete_ids_in(TABLES[kind], len(chunk)), chunk)
    for kind, ids in by_kind.items():
        for chunk in _chunks(ids):
            previous = {
                r[0]: _state_dec.decode(r[1]).deleted_hlc
                for r in conn.execute(queries.synced_states(len(chunk)), (kind, *chunk))
            }
            conn.executemany(
                queries.ERASE_MARKER,
                [
                    (
                        kind,
                        i,
                        _enc.encode(
                            EntityState(deleted_hlc=max(hlc, previous.get(i, "")), erased=True)
                        ),
                    )
                    for i in chunk
                ],
            )
            drop = [
                r["seq"]
                for r in conn.execute(queries.outbox_entries_of(len(chunk)), (kind, *chunk))
                if not _unsent_erase(r)
            ]
            for seqs in _chunks(drop):
                conn.execute(queries.delete_outbox_seqs(len(seqs)), seqs)
            conn.execute(queries.delete_conflicts_of(len(chunk)), (kind, *chunk))


def _unsent_erase(row: sqlite3.Row) -> bool:
    if row["sent_at"] is not None:
        return False
    change = change_from_row(row)
    return isinstance(change, Tombstone) and change.hard_erase


def erase(conn: sqlite3.Connection, kind: str, entity_id: str, hlc: str) -> set[Key]:
    """Purge a hard-erased record (for a lead: with every record of it); the keys purged."""
    keys = records_of_lead(conn, entity_id) if kind == "lead" else {(kind, entity_id)}
    purge(conn, keys, hlc)
    return keys
