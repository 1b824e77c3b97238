"""Choosing and opening a store from a URL; migrations; the settings that depend on the URL."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

import psycopg
import pytest

from server.config import ServerConfig, ServerConfigError, process_folder
from server.storage import (
    NewerDatabaseError,
    StorageError,
    UnsupportedDatabaseUrlError,
    open_store,
    redact,
    sqlite_path,
)
from server.storage.migrations import (
    MIGRATIONS,
    applied_postgres,
    applied_sqlite,
    migrate_sqlite,
    pending,
)
from server.storage.postgres import PostgresServerStore
from server.storage.sqlite import SqliteServerStore
from tests.services import (
    ServiceError,
    free_port,
    fresh_schema,
    postgres_answers,
    throwaway_postgres,
)

NAMES = [m.name for m in MIGRATIONS]


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("server.db", Path("server.db")),
        ("/var/lib/re/server.db", Path("/var/lib/re/server.db")),
        ("sqlite:///server.db", Path("server.db")),
        ("sqlite:////var/lib/re/server.db", Path("/var/lib/re/server.db")),
        ("postgresql://re:secret@db:5432/re", None),
        ("postgres://db/re", None),
    ],
)
def test_the_url_picks_the_engine(url, path):
    assert sqlite_path(url) == path
    store = open_store(url)
    assert isinstance(store, SqliteServerStore if path else PostgresServerStore)


@pytest.mark.parametrize("url", ["mysql://re:secret@db/re", "sqlite:relative.db", ""])
def test_an_unsupported_url_is_refused_naming_it_without_its_password(url):
    with pytest.raises(UnsupportedDatabaseUrlError) as refused:
        open_store(url)
    assert "secret" not in refused.value.detail
    assert (url.replace(":secret@", ":***@") in refused.value.detail) or url == ""
    with pytest.raises(UnsupportedDatabaseUrlError):
        ServerConfig(database_url=url)


def test_redact_hides_only_the_password():
    assert redact("postgresql://re:s3cr:et@db:5432/re") == "postgresql://re:***@db:5432/re"
    assert redact("postgresql://re@db/re") == "postgresql://re@db/re"
    assert repr(PostgresServerStore("postgresql://u:pw@h/d")) == (
        "PostgresServerStore('postgresql://u:***@h/d')"
    )


def test_files_live_beside_an_sqlite_file_or_in_the_data_dir(tmp_path):
    beside = ServerConfig(database_url=str(tmp_path / "s.db"))
    assert beside.replica_dir == tmp_path / "s.db.replicas"
    assert beside.registry_dir == tmp_path / "s.db.registry"
    pg = ServerConfig(database_url="postgresql://db/re", data_dir=tmp_path / "data")
    assert (pg.replica_dir, pg.registry_dir) == (
        tmp_path / "data/replicas" / process_folder(),  # another host may share PostgreSQL
        tmp_path / "data/registry",
    )
    with pytest.raises(ServerConfigError, match="needs a data_dir"):
        _ = ServerConfig(database_url="postgresql://db/re").registry_dir


async def test_an_unreachable_postgres_is_a_storage_error_naming_it():
    url = f"postgresql://re:secret@127.0.0.1:{free_port()}/re"
    store = PostgresServerStore(url, pool_size=1, connect_timeout_s=2)
    with pytest.raises(StorageError, match=r"cannot open .*re:\*\*\*@127\.0\.0\.1") as refused:
        await store.open()
    assert "secret" not in str(refused.value)
    await store.close()  # closing a store that never opened is harmless


async def test_a_store_replaces_connections_the_database_dropped(postgres_url):
    async with open_store(postgres_url, pool_size=2) as store:
        await store.write(lambda tx: tx.set_setting("k", "v"))
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            dropped = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = current_setting('application_name') "
                "AND pid <> pg_backend_pid()"
            ).fetchone()
        assert dropped is not None and dropped[0] >= 1
        assert await store.setting("k") == "v"


def test_a_pool_needs_a_connection():
    with pytest.raises(StorageError, match="pool size 0"):
        PostgresServerStore("postgresql://db/re", pool_size=0)


def test_pending_lists_unknown_migrations_and_refuses_a_newer_database():
    assert pending([]) == list(MIGRATIONS)
    assert pending(NAMES[:1]) == list(MIGRATIONS[1:])
    assert pending(NAMES) == []
    with pytest.raises(NewerDatabaseError, match=r"'0099_later'.*newer version"):
        pending([*NAMES, "0099_later"])


def test_reading_what_is_pending_writes_nothing_to_sqlite(tmp_path):
    with contextlib.closing(sqlite3.connect(tmp_path / "s.db", isolation_level=None)) as db:
        assert pending(applied_sqlite(db)) == list(MIGRATIONS)
        assert db.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)
        assert migrate_sqlite(db) == NAMES
        assert migrate_sqlite(db) == []
        assert applied_sqlite(db) == sorted(NAMES)


def test_a_database_made_before_migrations_were_recorded_is_adopted(tmp_path):
    path = tmp_path / "old.db"
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.executescript(
            "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
            "INSERT INTO settings VALUES ('hlc', '001764000000000-000003-server');"
            "CREATE TABLE partitions (team_id TEXT PRIMARY KEY, last_seq INTEGER NOT NULL);"
            "INSERT INTO partitions VALUES ('team-a', 7);"
        )
        assert migrate_sqlite(db) == NAMES
        # The one mark of the single-process server becomes every existing team's mark.
        assert db.execute("SELECT * FROM partitions").fetchall() == [
            ("team-a", 7, "001764000000000-000003-server")
        ]


def test_reading_what_is_pending_writes_nothing_to_postgres(postgres_url):
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        assert pending(applied_postgres(conn)) == list(MIGRATIONS)
        tables = "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()"
        assert conn.execute(tables).fetchone() == (0,)


async def test_a_failed_migration_leaves_the_sqlite_database_as_it_was(tmp_path):
    path = tmp_path / "s.db"
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute("CREATE TABLE change_log (x TEXT)")  # in the way of 0001's index
        with pytest.raises(sqlite3.OperationalError):
            migrate_sqlite(db)
        assert applied_sqlite(db) == []
    with pytest.raises(sqlite3.OperationalError):
        await open_store(path).open()


async def test_the_sqlite_store_checkpoints_its_log_in_the_background(tmp_path):
    async with SqliteServerStore(tmp_path / "s.db", checkpoint_interval_s=0.01) as store:
        await store.write(lambda tx: tx.set_setting("k", "v"))
        await asyncio.sleep(0.05)
        assert await store.setting("k") == "v"


def test_a_throwaway_postgres_runs_for_the_block_only():
    with throwaway_postgres() as url:
        assert postgres_answers(url)
        with fresh_schema(url) as schema_url, psycopg.connect(schema_url) as conn:
            assert conn.execute("SELECT current_schema()").fetchone()[0].startswith("test_")
    assert not postgres_answers(url, timeout_s=1)


def test_no_server_and_no_binaries_says_what_to_install(monkeypatch):
    monkeypatch.setattr("glob.glob", lambda pattern: [])
    with (
        pytest.raises(ServiceError, match="install the Debian package postgresql"),
        throwaway_postgres(),
    ):
        pass
