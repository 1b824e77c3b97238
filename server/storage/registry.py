"""The model registry's tables, one copy of the SQL for both engines.

The statements use ``?`` placeholders; a PostgreSQL connection gets them as ``%s``. Writes are
the methods of :class:`RegistryTx` (mixed into each engine's transaction, which supplies
``_run``); reads are the functions below, given a connection and whether it is PostgreSQL.
Rows become :mod:`server.storage.port` records here and nowhere else.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import msgspec

from server.storage.port import DriftCheckRow, ModelFamilyRow, ModelVersionRow, RetrainRunRow

T = TypeVar("T")

_names = msgspec.json.Decoder(list[str])

VERSION_COLUMNS = "scope, family, version, manifest, sha256, created_at, reference"
FAMILY_COLUMNS = "scope, family, stable, latest, percent, rolled_back"
RUN_COLUMNS = "id, scope, family, started_at, finished_at, outcome, record"
DRIFT_COLUMNS = "scope, family, version, checked_at, record"


def sql(statement: str, pg: bool) -> str:
    """``statement`` with the engine's placeholders."""
    return statement.replace("?", "%s") if pg else statement


def _family(row: Sequence[Any], versions: list[str]) -> ModelFamilyRow:
    return ModelFamilyRow(
        scope=row[0],
        family=row[1],
        stable=row[2],
        latest=row[3],
        percent=int(row[4]),
        rolled_back=_names.decode(row[5]),
        versions=versions,
    )


def _version(row: Sequence[Any], blob: bytes | None = None) -> ModelVersionRow:
    return ModelVersionRow(
        scope=row[0],
        family=row[1],
        version=row[2],
        manifest=bytes(row[3]),
        sha256=row[4],
        created_at=int(row[5]),
        reference=None if row[6] is None else bytes(row[6]),
        blob=blob,
    )


def _run(row: Sequence[Any]) -> RetrainRunRow:
    return RetrainRunRow(
        id=row[0],
        scope=row[1],
        family=row[2],
        started_at=int(row[3]),
        finished_at=int(row[4]),
        outcome=row[5],
        record=bytes(row[6]),
    )


def _drift(row: Sequence[Any]) -> DriftCheckRow:
    return DriftCheckRow(
        scope=row[0], family=row[1], version=row[2], checked_at=int(row[3]), record=bytes(row[4])
    )


def _versions(conn: Any, pg: bool, scope: str, family: str | None = None) -> dict[str, list[str]]:
    where, params = "scope = ?", [scope]
    if family is not None:
        where, params = where + " AND family = ?", [scope, family]
    out: dict[str, list[str]] = {}
    for fam, version in conn.execute(
        sql(f"SELECT family, version FROM model_versions WHERE {where} ORDER BY seq", pg), params
    ).fetchall():
        out.setdefault(fam, []).append(version)
    return out


class RegistryTx:
    """The registry's writes inside one transaction of either engine."""

    _pg = False

    def _run(self, statement: str, params: Sequence[Any] = ()) -> Any:
        raise NotImplementedError

    def _exec(self, statement: str, params: Sequence[Any] = ()) -> Any:
        return self._run(sql(statement, self._pg), params)

    def lock_registry(self) -> int:
        row = self._exec(
            "UPDATE registry_changes SET changes = changes + 1 WHERE id = 1 RETURNING changes"
        ).fetchone()
        return int(row[0])

    def model_family(self, scope: str, family: str) -> ModelFamilyRow | None:
        row = self._exec(
            f"SELECT {FAMILY_COLUMNS} FROM model_families WHERE scope = ? AND family = ?",
            (scope, family),
        ).fetchone()
        if row is None:
            return None
        versions = self._exec(
            "SELECT version FROM model_versions WHERE scope = ? AND family = ? ORDER BY seq",
            (scope, family),
        ).fetchall()
        return _family(row, [v[0] for v in versions])

    def save_model_family(self, row: ModelFamilyRow) -> None:
        self._exec(
            f"INSERT INTO model_families ({FAMILY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (scope, family) DO UPDATE SET stable = excluded.stable, "
            "latest = excluded.latest, percent = excluded.percent, "
            "rolled_back = excluded.rolled_back",
            (
                row.scope,
                row.family,
                row.stable,
                row.latest,
                row.percent,
                msgspec.json.encode(row.rolled_back).decode(),
            ),
        )

    def add_model_version(self, row: ModelVersionRow) -> None:
        assert row.blob is not None, "a version is stored with its blob"
        self._exec(
            "INSERT INTO model_versions (scope, family, version, seq, manifest, sha256, blob, "
            "reference, created_at) VALUES (?, ?, ?, (SELECT coalesce(max(seq), 0) + 1 FROM "
            "model_versions WHERE scope = ? AND family = ?), ?, ?, ?, ?, ?) "
            "ON CONFLICT (scope, family, version) DO UPDATE SET manifest = excluded.manifest, "
            "sha256 = excluded.sha256, blob = excluded.blob, reference = excluded.reference",
            (
                row.scope,
                row.family,
                row.version,
                row.scope,
                row.family,
                row.manifest,
                row.sha256,
                row.blob,
                row.reference,
                row.created_at,
            ),
        )

    def report_model(self, device_id: str, family: str, version: str, now_ms: int) -> None:
        self._exec(
            "INSERT INTO device_models (device_id, family, version, reported_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (device_id, family) DO UPDATE "
            "SET version = excluded.version, reported_at = excluded.reported_at "
            "WHERE device_models.reported_at <= excluded.reported_at",
            (device_id, family, version, now_ms),
        )

    def add_retrain_run(self, row: RetrainRunRow) -> None:
        self._exec(
            f"INSERT INTO retrain_runs ({RUN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (id) DO NOTHING",
            (
                row.id,
                row.scope,
                row.family,
                row.started_at,
                row.finished_at,
                row.outcome,
                row.record,
            ),
        )

    def save_drift_check(self, row: DriftCheckRow) -> None:
        self._exec(
            f"INSERT INTO drift_checks ({DRIFT_COLUMNS}) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (scope, family) DO UPDATE SET version = excluded.version, "
            "checked_at = excluded.checked_at, record = excluded.record "
            "WHERE drift_checks.checked_at <= excluded.checked_at",
            (row.scope, row.family, row.version, row.checked_at, row.record),
        )

    def named_key(self, name: str, initial: bytes, now_ms: int) -> bytes:
        self._exec(
            "INSERT INTO server_keys (name, key, created_at) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO NOTHING",
            (name, initial, now_ms),
        )
        row = self._exec("SELECT key FROM server_keys WHERE name = ?", (name,)).fetchone()
        return bytes(row[0])


# --- reads (on a connection that sees only committed data) ---------------------------------


def registry_changes(conn: Any, pg: bool) -> int:
    row = conn.execute("SELECT changes FROM registry_changes WHERE id = 1").fetchone()
    return int(row[0]) if row is not None else 0


def model_families(conn: Any, pg: bool, scope: str) -> list[ModelFamilyRow]:
    rows = conn.execute(
        sql(f"SELECT {FAMILY_COLUMNS} FROM model_families WHERE scope = ? ORDER BY family", pg),
        (scope,),
    ).fetchall()
    versions = _versions(conn, pg, scope)
    return [_family(r, versions.get(r[1], [])) for r in rows]


def model_version(
    conn: Any, pg: bool, scope: str, family: str, version: str, blob: bool
) -> ModelVersionRow | None:
    columns = VERSION_COLUMNS + (", blob" if blob else "")
    row = conn.execute(
        sql(
            f"SELECT {columns} FROM model_versions WHERE scope = ? AND family = ? AND version = ?",
            pg,
        ),
        (scope, family, version),
    ).fetchone()
    if row is None:
        return None
    return _version(row, bytes(row[7]) if blob else None)


def device_models(conn: Any, pg: bool, device_id: str) -> dict[str, str]:
    rows = conn.execute(
        sql("SELECT family, version FROM device_models WHERE device_id = ?", pg), (device_id,)
    ).fetchall()
    return {r[0]: r[1] for r in rows}


def retrain_runs(conn: Any, pg: bool, scopes: Sequence[str] | None) -> list[RetrainRunRow]:
    statement = f"SELECT {RUN_COLUMNS} FROM retrain_runs"
    params: list[Any] = []
    if scopes is not None:
        if not scopes:
            return []
        statement += f" WHERE scope IN ({', '.join('?' * len(scopes))})"
        params = list(scopes)
    statement += " ORDER BY finished_at, started_at, id"
    return [_run(r) for r in conn.execute(sql(statement, pg), params).fetchall()]


def drift_checks(conn: Any, pg: bool, scope: str) -> list[DriftCheckRow]:
    rows = conn.execute(
        sql(f"SELECT {DRIFT_COLUMNS} FROM drift_checks WHERE scope = ? ORDER BY family", pg),
        (scope,),
    ).fetchall()
    return [_drift(r) for r in rows]


class RegistryReads:
    """The registry's reads on a store of either engine, which supplies ``_read`` (a function
    of a read connection, run off the event loop) and ``write``."""

    _pg = False

    async def _read(self, fn: Callable[[Any], T]) -> T:
        raise NotImplementedError

    async def write(self, fn: Callable[[Any], T]) -> T:
        raise NotImplementedError

    async def named_key(self, name: str, initial: bytes) -> bytes:
        now = int(time.time() * 1000)
        key: bytes = await self.write(lambda tx: tx.named_key(name, initial, now))
        return key

    async def registry_changes(self) -> int:
        return await self._read(lambda conn: registry_changes(conn, self._pg))

    async def model_families(self, scope: str) -> list[ModelFamilyRow]:
        return await self._read(lambda conn: model_families(conn, self._pg, scope))

    async def model_version(
        self, scope: str, family: str, version: str, *, blob: bool = False
    ) -> ModelVersionRow | None:
        return await self._read(
            lambda conn: model_version(conn, self._pg, scope, family, version, blob)
        )

    async def device_models(self, device_id: str) -> dict[str, str]:
        return await self._read(lambda conn: device_models(conn, self._pg, device_id))

    async def retrain_runs(self, scopes: Sequence[str] | None = None) -> list[RetrainRunRow]:
        return await self._read(lambda conn: retrain_runs(conn, self._pg, scopes))

    async def drift_checks(self, scope: str) -> list[DriftCheckRow]:
        return await self._read(lambda conn: drift_checks(conn, self._pg, scope))
