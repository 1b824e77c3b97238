"""The device database schema, as named migrations recorded in the database.

Each migration is one SQL script, applied in order when the store opens, **in one transaction
with the record of it** (``_sqlite_migrations``: the table and rows sqlite-utils' ``Migrations``
wrote, so databases it migrated carry on): a crash mid-migration leaves the migration pending,
never half applied. ``pending()`` has no side effects. A database that has applied a migration
this code does not know was written by a newer runtime and is refused rather than guessed at.

Our own dozen lines rather than sqlite-utils: its module imports pandas when pandas is
installed (28 MB in every server worker and replica, for nothing), its ``Migrations`` has no
public list of what is registered, and its transaction ends at the first ``executescript``.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from edge.errors import NotADeviceDatabaseError, SchemaVersionError

MIGRATION_SET = "realty_edge_device"
#: Where applied migrations are recorded (sqlite-utils' table and columns).
MIGRATIONS_TABLE = "_sqlite_migrations"
#: SQLite's ``application_id`` of a device database ("REDG"): `file` and tools can tell it.
APPLICATION_ID = 0x52454447


class Migration(msgspec.Struct, frozen=True, kw_only=True):
    """One named step of the schema: an SQL script."""

    name: str
    sql: str


#: Every migration, in the order it applies (names are recorded; never rename or reorder).
MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        name="m001_core_tables",
        sql="""
        CREATE TABLE settings (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        CREATE TABLE agents (
            id TEXT PRIMARY KEY,
            team_id TEXT NOT NULL,
            updated_at INTEGER NOT NULL,
            data BLOB NOT NULL
        );
        CREATE TABLE leads (
            id TEXT PRIMARY KEY,
            agent_id TEXT NOT NULL,
            team_id TEXT NOT NULL,
            name TEXT NOT NULL,
            language TEXT NOT NULL,
            status TEXT NOT NULL,
            updated_at INTEGER NOT NULL,
            data BLOB NOT NULL
        );
        CREATE INDEX leads_agent ON leads(agent_id);
        CREATE TABLE listings (
            id TEXT PRIMARY KEY,
            price REAL NOT NULL,
            beds INTEGER NOT NULL,
            baths REAL NOT NULL,
            sqft REAL NOT NULL,
            property_type TEXT NOT NULL,
            vertical TEXT NOT NULL,
            status TEXT NOT NULL,
            city TEXT NOT NULL,
            lat REAL NOT NULL,
            lon REAL NOT NULL,
            updated_at INTEGER NOT NULL,
            data BLOB NOT NULL
        );
        CREATE INDEX listings_status ON listings(status, vertical);
        CREATE TABLE events (
            id TEXT PRIMARY KEY,
            lead_id TEXT NOT NULL REFERENCES leads(id) ON DELETE CASCADE,
            type TEXT NOT NULL,
            ts INTEGER NOT NULL,
            channel TEXT,
            listing_id TEXT REFERENCES listings(id),
            dwell_s REAL,
            duration_s REAL,
            amount REAL,
            language TEXT,
            text TEXT,
            updated_at INTEGER NOT NULL
        );
        CREATE INDEX events_lead_ts ON events(lead_id, ts);
        CREATE TABLE profiles (
            id TEXT PRIMARY KEY,
            lead_id TEXT NOT NULL UNIQUE REFERENCES leads(id) ON DELETE CASCADE,
            updated_at INTEGER NOT NULL,
            data BLOB NOT NULL
        );
        CREATE TABLE intervention_plans (
            id TEXT PRIMARY KEY,
            lead_id TEXT NOT NULL REFERENCES leads(id) ON DELETE CASCADE,
            status TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            data BLOB NOT NULL
        );
        CREATE INDEX plans_lead ON intervention_plans(lead_id, created_at);
        CREATE TABLE intervention_steps (
            id TEXT PRIMARY KEY,
            plan_id TEXT NOT NULL REFERENCES intervention_plans(id) ON DELETE CASCADE,
            lead_id TEXT NOT NULL REFERENCES leads(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            channel TEXT NOT NULL,
            due_at INTEGER NOT NULL,
            status TEXT NOT NULL,
            updated_at INTEGER NOT NULL,
            data BLOB NOT NULL
        );
        CREATE INDEX steps_due ON intervention_steps(status, due_at);
        CREATE TABLE outbox (
            seq INTEGER PRIMARY KEY,
            entity TEXT NOT NULL,
            entity_id TEXT NOT NULL,
            op TEXT NOT NULL,
            hlc TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            sent_at INTEGER,
            payload BLOB NOT NULL
        );
        CREATE INDEX outbox_pending ON outbox(sent_at, seq);
        """,
    ),
    Migration(
        name="m002_messages_and_models",
        sql="""
        CREATE TABLE messages (
            id TEXT PRIMARY KEY,
            lead_id TEXT NOT NULL REFERENCES leads(id) ON DELETE CASCADE,
            channel TEXT NOT NULL,
            language TEXT NOT NULL,
            intent TEXT NOT NULL,
            status TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            text TEXT NOT NULL
        );
        CREATE INDEX messages_lead ON messages(lead_id, created_at);
        CREATE TABLE model_versions (
            name TEXT NOT NULL,
            version TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            path TEXT NOT NULL,
            active INTEGER NOT NULL DEFAULT 0,
            installed_at INTEGER NOT NULL,
            manifest BLOB NOT NULL,
            PRIMARY KEY (name, version)
        );
        """,
    ),
    # Merge state of synced records, the quarantine of refused changes, a local conflict log.
    Migration(
        name="m003_sync_state",
        sql="""
        CREATE TABLE sync_entities (
            entity TEXT NOT NULL,
            entity_id TEXT NOT NULL,
            state BLOB NOT NULL,
            pending INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (entity, entity_id)
        ) WITHOUT ROWID;
        CREATE INDEX sync_entities_pending ON sync_entities(pending) WHERE pending = 1;
        ALTER TABLE outbox ADD COLUMN quarantined_at INTEGER;
        ALTER TABLE outbox ADD COLUMN quarantine_reason TEXT;
        CREATE INDEX outbox_entity ON outbox(entity, entity_id);
        CREATE TABLE sync_conflicts (
            id INTEGER PRIMARY KEY,
            entity TEXT NOT NULL,
            entity_id TEXT NOT NULL,
            field TEXT NOT NULL,
            data BLOB NOT NULL,
            logged_at INTEGER NOT NULL
        );
        """,
    ),
    # Cheap listings version (count, latest change) for the embedding cache; steps per plan.
    Migration(
        name="m004_listing_and_step_indexes",
        sql="""
        CREATE INDEX listings_updated ON listings(updated_at);
        CREATE INDEX steps_plan ON intervention_steps(plan_id, seq);
        """,
    ),
    # `messages` and `model_versions` were created by m002 but never written: drafts live in
    # events and installed models in the model folder's manifests.
    Migration(
        name="m006_drop_unused_tables",
        sql="""
        DROP TABLE IF EXISTS messages;
        DROP TABLE IF EXISTS model_versions;
        """,
    ),
)


def check_device_file(path: Path) -> None:
    """Refuse, reading only, a file that is not a device database; a new or empty one passes.

    A device database carries :data:`APPLICATION_ID`; one created before it was set is known by
    the device's migrations recorded in ``_sqlite_migrations``.
    """
    if not path.exists() or path.stat().st_size == 0:
        return
    refused = f"{path} is not a realty-edge device database; nothing was written to it"
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            if app_id == APPLICATION_ID:
                return
            tables = [
                r[0]
                for r in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
                )
            ]
            if app_id == 0 and not tables:
                return
            if app_id == 0 and "_sqlite_migrations" in tables:
                row = conn.execute(
                    "SELECT count(*) FROM _sqlite_migrations WHERE migration_set = ?",
                    (MIGRATION_SET,),
                ).fetchone()
                if row[0]:
                    return
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise NotADeviceDatabaseError(
            f"cannot open {path} as a realty-edge device database ({exc}); nothing was written"
        ) from exc
    shown = ", ".join(tables[:6]) + (", ..." if len(tables) > 6 else "")
    raise NotADeviceDatabaseError(
        f"{refused} (SQLite application_id {app_id:#x}, tables: {shown or 'none'})"
    )


def known_names() -> list[str]:
    return [m.name for m in MIGRATIONS]


def applied(conn: sqlite3.Connection) -> list[str]:
    """Names of the migrations recorded in the database, in the order they applied; reads only."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (MIGRATIONS_TABLE,)
    ).fetchone()
    if not exists:
        return []
    rows = conn.execute(
        f"SELECT name FROM {MIGRATIONS_TABLE} WHERE migration_set = ? ORDER BY rowid",
        (MIGRATION_SET,),
    ).fetchall()
    return [str(r[0]) for r in rows]


def pending(conn: sqlite3.Connection) -> list[str]:
    """Names of migrations not yet applied; reads only."""
    done = set(applied(conn))
    return [name for name in known_names() if name not in done]


def migrate(conn: sqlite3.Connection, stop_before: str | None = None) -> list[str]:
    """Refuse a newer database, then apply what is pending (each in one transaction with its
    record; ``stop_before``: stop at that migration); return the names applied."""
    before = applied(conn)
    unknown = [name for name in before if name not in known_names()]
    if unknown:
        raise SchemaVersionError(
            f"this database was written by a newer realty-edge (it has migration "
            f"{unknown[-1]!r}, unknown here); upgrade realty-edge to open it"
        )
    conn.executescript(
        f"CREATE TABLE IF NOT EXISTS [{MIGRATIONS_TABLE}] ([id] INTEGER PRIMARY KEY, "
        "[migration_set] TEXT, [name] TEXT, [applied_at] TEXT);\n"
        f"CREATE UNIQUE INDEX IF NOT EXISTS [idx_{MIGRATIONS_TABLE}_migration_set_name] "
        f"ON [{MIGRATIONS_TABLE}] ([migration_set], [name]);"
    )
    done: list[str] = []
    for migration in MIGRATIONS:
        if migration.name == stop_before:
            break
        if migration.name in before:
            continue
        record = (
            f"INSERT INTO {MIGRATIONS_TABLE} (migration_set, name, applied_at) VALUES "
            f"('{MIGRATION_SET}', '{migration.name}', '{datetime.now(UTC)}');"
        )
        try:
            conn.executescript(f"BEGIN;\n{migration.sql}\n{record}\nCOMMIT;")
        except sqlite3.Error:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        done.append(migration.name)
    conn.execute(f"PRAGMA user_version = {len(before) + len(done)}")
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    return done
