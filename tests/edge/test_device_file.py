"""A file that is not a device database is refused and never written (issue 17, item 4)."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest

from edge.errors import NotADeviceDatabaseError
from edge.migrations import APPLICATION_ID
from edge.store import EdgeStore


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def server_like(path) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "CREATE TABLE change_log (team_id TEXT, server_seq INTEGER, payload BLOB);"
        "INSERT INTO settings VALUES ('hlc', 'x');"
    )
    conn.close()


async def test_a_new_device_database_carries_the_application_id(tmp_path):
    store = await EdgeStore.open(tmp_path / "d.db")
    await store.close()
    conn = sqlite3.connect(tmp_path / "d.db")
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    conn.close()


@pytest.mark.parametrize("create", [True, False])
async def test_another_sqlite_database_is_refused_untouched(tmp_path, create):
    path = tmp_path / "server.db"
    server_like(path)
    before = digest(path)
    with pytest.raises(NotADeviceDatabaseError, match=r"server.db is not a realty-edge device"):
        await EdgeStore.open(path, create=create)
    assert digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["server.db"]


async def test_a_file_that_is_not_sqlite_is_refused(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello, this is not a database at all" * 10)
    with pytest.raises(NotADeviceDatabaseError, match=r"cannot open .*notes.txt as a realty-edge"):
        await EdgeStore.open(path)
    assert path.read_text().startswith("hello")


async def test_a_device_database_from_before_the_application_id_is_accepted(tmp_path):
    path = tmp_path / "old.db"
    store = await EdgeStore.open(path)
    device_id = store.device_id
    await store.close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA application_id = 0")
    conn.close()
    store = await EdgeStore.open(path, create=False)
    assert store.device_id == device_id
    await store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    conn.close()


async def test_an_empty_file_becomes_a_device_database(tmp_path):
    path = tmp_path / "empty.db"
    path.touch()
    store = await EdgeStore.open(path)
    await store.close()


async def test_a_sqlite_file_without_tables_becomes_a_device_database(tmp_path):
    path = tmp_path / "blank.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 3")
    conn.close()
    assert path.stat().st_size > 0
    store = await EdgeStore.open(path)
    await store.close()
