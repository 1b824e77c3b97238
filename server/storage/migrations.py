"""Named schema migrations for both engines, recorded in the ``schema_migrations`` table.

Each :class:`Migration` has a name (applied in the order of :data:`MIGRATIONS`, never renamed
or edited once released) and its statements for SQLite and for PostgreSQL. :func:`pending`
reads nothing and writes nothing; :func:`migrate_sqlite` and :func:`migrate_postgres` apply
what is pending in one transaction, under a lock, so two workers starting together apply each
migration once. A database that records a migration this code does not know was written by a
newer version and is refused (:class:`~server.storage.port.NewerDatabaseError`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from enum import StrEnum
from typing import Any

import msgspec

from server.storage.port import NewerDatabaseError

TABLE = "schema_migrations"


class Engine(StrEnum):
    SQLITE = "sqlite"
    POSTGRES = "postgresql"


class Migration(msgspec.Struct, frozen=True, kw_only=True):
    """One named schema step: its statements for each engine."""

    name: str
    sqlite: tuple[str, ...]
    postgres: tuple[str, ...]

    def statements(self, engine: Engine) -> tuple[str, ...]:
        return self.sqlite if engine is Engine.SQLITE else self.postgres


def _split(script: str) -> tuple[str, ...]:
    """The statements of a script (ours: no ``;`` inside literals)."""
    return tuple(s.strip() for s in script.split(";") if s.strip())


# The tables the SQLite server created before migrations were recorded: ``IF NOT EXISTS``
# makes 0001 adopt such a database as it is.
_INITIAL_SQLITE = """
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS signing_keys (
    id INTEGER PRIMARY KEY, key BLOB NOT NULL, created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS partitions (team_id TEXT PRIMARY KEY, last_seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    team_id TEXT NOT NULL,
    entity TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    lead_id TEXT,
    state BLOB NOT NULL,
    PRIMARY KEY (team_id, entity, entity_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS records_lead ON records(team_id, lead_id);
CREATE TABLE IF NOT EXISTS change_log (
    team_id TEXT NOT NULL,
    server_seq INTEGER NOT NULL,
    entity TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    payload BLOB NOT NULL,
    PRIMARY KEY (team_id, server_seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS change_log_entity ON change_log(team_id, entity, entity_id);
CREATE TABLE IF NOT EXISTS applied (
    device_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    team_id TEXT NOT NULL,
    PRIMARY KEY (device_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS conflicts (
    id INTEGER PRIMARY KEY,
    team_id TEXT NOT NULL,
    entity TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    field TEXT NOT NULL,
    data BLOB NOT NULL,
    device_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    logged_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS conflicts_team ON conflicts(team_id, id);
CREATE INDEX IF NOT EXISTS conflicts_change ON conflicts(device_id, seq);
CREATE INDEX IF NOT EXISTS conflicts_entity ON conflicts(team_id, entity, entity_id);
CREATE TABLE IF NOT EXISTS devices (
    device_id TEXT PRIMARY KEY,
    agent_id TEXT NOT NULL,
    team_id TEXT NOT NULL,
    acked_through INTEGER NOT NULL,
    changes INTEGER NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL
)
"""

_INITIAL_POSTGRES = """
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE signing_keys (id BIGINT PRIMARY KEY, key BYTEA NOT NULL, created_at BIGINT NOT NULL);
CREATE TABLE partitions (team_id TEXT PRIMARY KEY, last_seq BIGINT NOT NULL);
CREATE TABLE records (
    team_id TEXT NOT NULL,
    entity TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    lead_id TEXT,
    state BYTEA NOT NULL,
    PRIMARY KEY (team_id, entity, entity_id)
);
CREATE INDEX records_lead ON records(team_id, lead_id);
CREATE TABLE change_log (
    team_id TEXT NOT NULL,
    server_seq BIGINT NOT NULL,
    entity TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    payload BYTEA NOT NULL,
    PRIMARY KEY (team_id, server_seq)
);
CREATE INDEX change_log_entity ON change_log(team_id, entity, entity_id);
CREATE TABLE applied (
    device_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    team_id TEXT NOT NULL,
    PRIMARY KEY (device_id, seq)
);
CREATE TABLE conflicts (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    team_id TEXT NOT NULL,
    entity TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    field TEXT NOT NULL,
    data BYTEA NOT NULL,
    device_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    logged_at BIGINT NOT NULL
);
CREATE INDEX conflicts_team ON conflicts(team_id, id);
CREATE INDEX conflicts_change ON conflicts(device_id, seq);
CREATE INDEX conflicts_entity ON conflicts(team_id, entity, entity_id);
CREATE TABLE devices (
    device_id TEXT PRIMARY KEY,
    agent_id TEXT NOT NULL,
    team_id TEXT NOT NULL,
    acked_through BIGINT NOT NULL,
    changes BIGINT NOT NULL,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL
)
"""

# The clock's high-water mark moves to each team's partition row, which a push holds locked
# anyway: workers pushing to different teams then never wait for each other's commits. A
# database of the single-process server starts every team from its one stored mark.
_PARTITION_CLOCK = (
    "ALTER TABLE partitions ADD COLUMN hlc TEXT NOT NULL DEFAULT ''",
    "UPDATE partitions SET hlc = coalesce((SELECT value FROM settings WHERE key = 'hlc'), '')",
)

# Leases: a job that must run once per cluster (retraining) takes its lease in the store.
_LEASES = (
    "CREATE TABLE leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at BIGINT NOT NULL)",
)

# Token revocations: every worker reads the list from the store, so a revoked token is refused
# by all of them. An entry can go once its token has expired (``expires_at``).
_TOKEN_REVOCATIONS = (
    "CREATE TABLE token_revocations (jti TEXT PRIMARY KEY, revoked_at BIGINT NOT NULL, "
    "expires_at BIGINT, agent_id TEXT, team_id TEXT, reason TEXT NOT NULL DEFAULT '')",
    "CREATE INDEX token_revocations_expiry ON token_revocations(expires_at)",
)

# Deliveries of an integration's webhooks (HighLevel...), by the sender's delivery id: a
# redelivery is found here in the same transaction that would write it again, and changes nothing.
_WEBHOOK_DELIVERIES = (
    "CREATE TABLE webhook_deliveries (source TEXT NOT NULL, delivery_id TEXT NOT NULL, "
    "team_id TEXT NOT NULL, received_at BIGINT NOT NULL, PRIMARY KEY (source, delivery_id))",
)

# The model registry (issue 13): versions with their blobs and signed manifests, what each
# scope offers of each model, what devices run, retraining runs and drift checks, and the
# server's other secrets (model-signing key, pseudonym key). Every host reads the same
# registry; ``registry_changes`` is one row that each registry change moves on (and locks,
# so changes apply one after the other) and that a worker's cache of the registry checks.
_MODEL_REGISTRY = """
CREATE TABLE model_versions (
    scope TEXT NOT NULL,
    family TEXT NOT NULL,
    version TEXT NOT NULL,
    seq BIGINT NOT NULL,
    manifest {blob} NOT NULL,
    sha256 TEXT NOT NULL,
    blob {blob} NOT NULL,
    reference {blob},
    created_at BIGINT NOT NULL,
    PRIMARY KEY (scope, family, version)
);
CREATE TABLE model_families (
    scope TEXT NOT NULL,
    family TEXT NOT NULL,
    stable TEXT,
    latest TEXT,
    percent INTEGER NOT NULL DEFAULT 0,
    rolled_back TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (scope, family)
);
CREATE TABLE device_models (
    device_id TEXT NOT NULL,
    family TEXT NOT NULL,
    version TEXT NOT NULL,
    reported_at BIGINT NOT NULL,
    PRIMARY KEY (device_id, family)
);
CREATE TABLE retrain_runs (
    id TEXT PRIMARY KEY,
    scope TEXT NOT NULL,
    family TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    finished_at BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    record {blob} NOT NULL
);
CREATE INDEX retrain_runs_scope ON retrain_runs(scope, finished_at);
CREATE TABLE drift_checks (
    scope TEXT NOT NULL,
    family TEXT NOT NULL,
    version TEXT NOT NULL,
    checked_at BIGINT NOT NULL,
    record {blob} NOT NULL,
    PRIMARY KEY (scope, family)
);
CREATE TABLE server_keys (name TEXT PRIMARY KEY, key {blob} NOT NULL, created_at BIGINT NOT NULL);
CREATE TABLE registry_changes (id INTEGER PRIMARY KEY, changes BIGINT NOT NULL);
INSERT INTO registry_changes (id, changes) VALUES (1, 0)
"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        name="0001_initial",
        sqlite=_split(_INITIAL_SQLITE),
        postgres=_split(_INITIAL_POSTGRES),
    ),
    Migration(name="0002_partition_clock", sqlite=_PARTITION_CLOCK, postgres=_PARTITION_CLOCK),
    Migration(name="0003_leases", sqlite=_LEASES, postgres=_LEASES),
    Migration(
        name="0004_token_revocations", sqlite=_TOKEN_REVOCATIONS, postgres=_TOKEN_REVOCATIONS
    ),
    Migration(
        name="0007_webhook_deliveries", sqlite=_WEBHOOK_DELIVERIES, postgres=_WEBHOOK_DELIVERIES
    ),
    Migration(
        name="0008_model_registry",
        sqlite=_split(_MODEL_REGISTRY.format(blob="BLOB")),
        postgres=_split(_MODEL_REGISTRY.format(blob="BYTEA")),
    ),
)


def pending(applied: Iterable[str], known: tuple[Migration, ...] = MIGRATIONS) -> list[Migration]:
    """The migrations of ``known`` not in ``applied``, in order; reads and writes nothing.

    Raises :class:`NewerDatabaseError` when ``applied`` names a migration not in ``known``.
    """
    done = set(applied)
    names = {m.name for m in known}
    unknown = sorted(done - names)
    if unknown:
        raise NewerDatabaseError(
            f"the database has migration(s) {', '.join(repr(n) for n in unknown)} that this "
            f"server does not know (it knows {', '.join(sorted(names))}): it was written by a "
            "newer version of realty-edge. Upgrade the server, or point it at another database"
        )
    return [m for m in known if m.name not in done]


def applied_sqlite(db: sqlite3.Connection) -> list[str]:
    """The migrations recorded in a SQLite database (none when it has no table yet)."""
    exists = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (TABLE,)
    ).fetchone()
    if exists is None:
        return []
    return [r[0] for r in db.execute(f"SELECT name FROM {TABLE} ORDER BY name")]


def migrate_sqlite(db: sqlite3.Connection, known: tuple[Migration, ...] = MIGRATIONS) -> list[str]:
    """Apply what is pending in one ``BEGIN IMMEDIATE`` transaction; the names applied now.

    ``db`` is in autocommit mode (``isolation_level=None``).
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        todo = pending(applied_sqlite(db), known)
        _apply(db, Engine.SQLITE, todo, "?")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return [m.name for m in todo]


#: Key of the advisory lock two PostgreSQL workers take to migrate one after the other.
_PG_LOCK = "SELECT pg_advisory_xact_lock(hashtext('realty-edge migrations ' || current_schema()))"


def applied_postgres(conn: Any) -> list[str]:
    """The migrations recorded in the current schema (none when it has no table yet)."""
    row = conn.execute("SELECT to_regclass(%s)", (TABLE,)).fetchone()
    if row is None or row[0] is None:
        return []
    return [r[0] for r in conn.execute(f"SELECT name FROM {TABLE} ORDER BY name")]


def migrate_postgres(conn: Any, known: tuple[Migration, ...] = MIGRATIONS) -> list[str]:
    """Apply what is pending in one transaction under an advisory lock; the names applied now.

    ``conn`` is a psycopg connection outside any transaction; DDL is transactional there, so
    a failed migration leaves nothing behind.
    """
    with conn.transaction():
        conn.execute(_PG_LOCK)
        todo = pending(applied_postgres(conn), known)
        _apply(conn, Engine.POSTGRES, todo, "%s")
    return [m.name for m in todo]


def _apply(conn: Any, engine: Engine, todo: list[Migration], mark: str) -> None:
    if not todo:
        return
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {TABLE} "
        "(name TEXT PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"
    )
    for migration in todo:
        for statement in migration.statements(engine):
            conn.execute(statement)
        conn.execute(f"INSERT INTO {TABLE} (name) VALUES ({mark})", (migration.name,))
