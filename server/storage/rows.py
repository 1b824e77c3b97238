"""Rows of the server's tables to stored records and back, for both engines (one place).

A row is any sequence of column values in the order of the ``*_COLUMNS`` strings (an
``sqlite3.Row`` or a psycopg tuple alike).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from server.storage.port import DeviceRow, LoggedConflict, RevokedToken, StoredRecord
from sync.changes import AnyChange
from sync.merge import Conflict, EntityState

encoder = msgspec.msgpack.Encoder()
state_decoder = msgspec.msgpack.Decoder(EntityState)
change_decoder = msgspec.msgpack.Decoder(AnyChange)
conflict_decoder = msgspec.msgpack.Decoder(Conflict)

RECORD_COLUMNS = "entity, entity_id, lead_id, state"
CONFLICT_COLUMNS = "id, data, device_id, seq, logged_at"
DEVICE_COLUMNS = "device_id, agent_id, team_id, acked_through, changes, first_seen, last_seen"
REVOCATION_COLUMNS = "jti, revoked_at, expires_at, agent_id, team_id, reason"


def record_from_row(row: Sequence[Any]) -> StoredRecord:
    return StoredRecord(
        entity=row[0], entity_id=row[1], lead_id=row[2], state=state_decoder.decode(row[3])
    )


def conflict_from_row(row: Sequence[Any]) -> LoggedConflict:
    return LoggedConflict(
        id=row[0],
        conflict=conflict_decoder.decode(row[1]),
        device_id=row[2],
        seq=row[3],
        logged_at=row[4],
    )


def device_from_row(row: Sequence[Any]) -> DeviceRow:
    return DeviceRow(
        device_id=row[0],
        agent_id=row[1],
        team_id=row[2],
        acked_through=row[3],
        changes=row[4],
        first_seen=row[5],
        last_seen=row[6],
    )


def device_to_row(row: DeviceRow) -> tuple[Any, ...]:
    """The values of ``DEVICE_COLUMNS`` (an upsert's parameters)."""
    return (
        row.device_id,
        row.agent_id,
        row.team_id,
        row.acked_through,
        row.changes,
        row.first_seen,
        row.last_seen,
    )


def revocation_from_row(row: Sequence[Any]) -> RevokedToken:
    return RevokedToken(
        jti=row[0],
        revoked_at=row[1],
        expires_at=row[2],
        agent_id=row[3],
        team_id=row[4],
        reason=row[5],
    )


def revocation_to_row(entry: RevokedToken) -> tuple[Any, ...]:
    """The values of ``REVOCATION_COLUMNS`` (an insert's parameters)."""
    return (
        entry.jti,
        entry.revoked_at,
        entry.expires_at,
        entry.agent_id,
        entry.team_id,
        entry.reason,
    )
