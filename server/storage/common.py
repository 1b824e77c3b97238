"""The reads and writes whose SQL is the same on both engines, written once.

:class:`CommonTx` is mixed into each engine's transaction (``SqliteTx``, ``PostgresTx``), which
supplies ``_run`` (one statement) and ``_run_many`` (one statement, many rows);
:class:`CommonReads` into each engine's store, which supplies ``_read``. Statements use ``?``
placeholders, rewritten to ``%s`` for PostgreSQL (:func:`server.storage.registry.sql`).
What differs between the engines (partition locks, sequence numbers, ``IN`` lists against
``= ANY``) stays in each engine's module.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from server.storage.port import DeviceRow, Key, LoggedConflict, RevokedToken, StoredRecord
from server.storage.registry import RegistryReads, RegistryTx, sql
from server.storage.rows import (
    CONFLICT_COLUMNS,
    DEVICE_COLUMNS,
    REVOCATION_COLUMNS,
    change_decoder,
    conflict_from_row,
    device_from_row,
    device_to_row,
    encoder,
    record_from_row,
    revocation_from_row,
    revocation_to_row,
)
from sync.changes import AnyChange

RECORD_SELECT = "SELECT entity, entity_id, lead_id, state FROM records"
CONFLICT_SELECT = f"SELECT {CONFLICT_COLUMNS} FROM conflicts"


def lead_history_rows(
    conn: Any, pg: bool, team: str, lead_id: str
) -> tuple[list[StoredRecord], list[AnyChange], list[LoggedConflict]]:
    """Every record of a lead (the lead too), the logged changes and conflicts of them, read on
    ``conn`` (the caller chooses the transaction)."""
    rows = conn.execute(
        sql(
            f"{RECORD_SELECT} WHERE team_id = ? "
            "AND (lead_id = ? OR (entity = 'lead' AND entity_id = ?))",
            pg,
        ),
        (team, lead_id, lead_id),
    ).fetchall()
    records = [record_from_row(r) for r in rows]
    changes: list[AnyChange] = []
    conflicts: list[LoggedConflict] = []
    where = "WHERE team_id = ? AND entity = ? AND entity_id = ?"
    for r in records:
        key = (team, r.entity, r.entity_id)
        changes += [
            change_decoder.decode(c[0])
            for c in conn.execute(
                sql(f"SELECT payload FROM change_log {where} ORDER BY server_seq", pg), key
            )
        ]
        conflicts += [
            conflict_from_row(c)
            for c in conn.execute(sql(f"{CONFLICT_SELECT} {where} ORDER BY id", pg), key)
        ]
    return records, changes, conflicts


class CommonTx(RegistryTx):
    """Devices, settings, conflicts, webhook deliveries, leases and token revocations."""

    def _run_many(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        raise NotImplementedError

    def _exec_many(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        self._run_many(sql(statement, self._pg), rows)

    def device(self, device_id: str) -> DeviceRow | None:
        row = self._exec(
            f"SELECT {DEVICE_COLUMNS} FROM devices WHERE device_id = ?", (device_id,)
        ).fetchone()
        return None if row is None else device_from_row(row)

    def save_device(self, row: DeviceRow) -> None:
        self._exec(
            "INSERT INTO devices VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (device_id) "
            "DO UPDATE SET acked_through = excluded.acked_through, changes = excluded.changes, "
            "last_seen = excluded.last_seen",
            device_to_row(row),
        )

    def mark_seen(self, team: str, device_id: str, seqs: Sequence[int]) -> None:
        self._exec_many(
            "INSERT INTO applied (device_id, seq, team_id) VALUES (?, ?, ?) "
            "ON CONFLICT (device_id, seq) DO NOTHING",
            [(device_id, s, team) for s in seqs],
        )

    def add_conflicts(self, team: str, conflicts: Sequence[LoggedConflict]) -> None:
        self._exec_many(
            "INSERT INTO conflicts (team_id, entity, entity_id, field, data, device_id, seq, "
            "logged_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    team,
                    c.conflict.entity,
                    c.conflict.entity_id,
                    c.conflict.field,
                    encoder.encode(c.conflict),
                    c.device_id,
                    c.seq,
                    c.logged_at,
                )
                for c in conflicts
            ],
        )

    def set_setting(self, key: str, value: str) -> None:
        self._exec(
            "INSERT INTO settings (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def record_delivery(self, source: str, delivery_id: str, team: str, now_ms: int) -> bool:
        cursor = self._exec(
            "INSERT INTO webhook_deliveries (source, delivery_id, team_id, received_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (source, delivery_id) DO NOTHING",
            (source, delivery_id, team, now_ms),
        )
        return bool(cursor.rowcount == 1)

    def take_lease(self, name: str, holder: str, now_ms: int, ttl_ms: int) -> bool:
        self._exec(
            "INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, "
            "expires_at = excluded.expires_at "
            "WHERE leases.expires_at <= ? OR leases.holder = excluded.holder",
            (name, holder, now_ms + ttl_ms, now_ms),
        )
        row = self._exec("SELECT holder FROM leases WHERE name = ?", (name,)).fetchone()
        return row is not None and row[0] == holder

    def revoke_token(self, entry: RevokedToken) -> RevokedToken:
        self._exec(
            f"INSERT INTO token_revocations ({REVOCATION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (jti) DO NOTHING",
            revocation_to_row(entry),
        )
        row = self._exec(
            f"SELECT {REVOCATION_COLUMNS} FROM token_revocations WHERE jti = ?", (entry.jti,)
        ).fetchone()
        assert row is not None, "inserted or already there"
        return revocation_from_row(row)

    def prune_revocations(self, now_ms: int) -> int:
        cursor = self._exec(
            "DELETE FROM token_revocations WHERE expires_at IS NOT NULL AND expires_at <= ?",
            (now_ms,),
        )
        return int(cursor.rowcount)


class CommonReads(RegistryReads):
    """Settings, partitions, devices, records by kind and token revocations."""

    async def _rows(self, statement: str, params: Sequence[Any] = ()) -> list[Any]:
        query = sql(statement, self._pg)
        rows: list[Any] = await self._read(lambda conn: conn.execute(query, params).fetchall())
        return rows

    async def setting(self, key: str) -> str | None:
        rows = await self._rows("SELECT value FROM settings WHERE key = ?", (key,))
        return str(rows[0][0]) if rows else None

    async def last_seq(self, team: str) -> int:
        rows = await self._rows("SELECT last_seq FROM partitions WHERE team_id = ?", (team,))
        return int(rows[0][0]) if rows else 0

    async def partition_clock(self, team: str) -> str:
        rows = await self._rows("SELECT hlc FROM partitions WHERE team_id = ?", (team,))
        return str(rows[0][0]) if rows else ""

    async def device(self, device_id: str) -> DeviceRow | None:
        rows = await self._rows(
            f"SELECT {DEVICE_COLUMNS} FROM devices WHERE device_id = ?", (device_id,)
        )
        return device_from_row(rows[0]) if rows else None

    async def team_records(self, team: str | None, entity: str) -> list[tuple[str, StoredRecord]]:
        """(team, record) of one kind, of one team or of all (for training exports)."""
        statement = (
            "SELECT team_id, entity, entity_id, lead_id, state FROM records WHERE entity = ?"
        )
        params: list[Any] = [entity]
        if team is not None:
            statement += " AND team_id = ?"
            params.append(team)
        return [(r[0], record_from_row(r[1:])) for r in await self._rows(statement, params)]

    async def revocation(self, jti: str) -> RevokedToken | None:
        rows = await self._rows(
            f"SELECT {REVOCATION_COLUMNS} FROM token_revocations WHERE jti = ?", (jti,)
        )
        return revocation_from_row(rows[0]) if rows else None

    async def revocations(self) -> list[RevokedToken]:
        rows = await self._rows(
            f"SELECT {REVOCATION_COLUMNS} FROM token_revocations ORDER BY revoked_at, jti"
        )
        return [revocation_from_row(r) for r in rows]

    async def pull(self, team: str, after: int, limit: int) -> list[tuple[int, AnyChange]]:
        rows = await self._rows(
            "SELECT server_seq, payload FROM change_log WHERE team_id = ? AND server_seq > ? "
            "ORDER BY server_seq LIMIT ?",
            (team, after, limit),
        )
        return [(int(r[0]), change_decoder.decode(r[1])) for r in rows]

    async def record(self, team: str, key: Key) -> StoredRecord | None:
        rows = await self._rows(
            f"{RECORD_SELECT} WHERE team_id = ? AND entity = ? AND entity_id = ?", (team, *key)
        )
        return record_from_row(rows[0]) if rows else None

    async def conflicts(
        self, team: str, after: int, limit: int, entity_id: str | None = None
    ) -> list[LoggedConflict]:
        statement = f"{CONFLICT_SELECT} WHERE team_id = ? "
        params: list[Any] = [team]
        if entity_id is not None:
            statement += "AND entity_id = ? "
            params.append(entity_id)
        statement += "AND id > ? ORDER BY id LIMIT ?"
        params += [after, limit]
        return [conflict_from_row(r) for r in await self._rows(statement, params)]
