from __future__ import annotations

import contextlib
import sqlite3

import psycopg
import pytest

from server.storage import open_store, sqlite_path

ENGINES = ["sqlite", "postgresql"]


@pytest.fixture(params=ENGINES)
def database_url(request, tmp_path) -> str:
    """An empty database of each engine: an SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        return str(tmp_path / "server.db")
    return request.getfixturevalue("postgres_url")


@pytest.fixture
async def store(database_url):
    """An open store on that database."""
    async with open_store(database_url, pool_size=4) as opened:
        yield opened


def execute(database_url: str, sql: str) -> None:
    """Run one statement on the database behind the store's back (to stage odd states)."""
    path = sqlite_path(database_url)
    if path is None:
        with psycopg.connect(database_url) as conn:
            conn.execute(sql)
        return
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute(sql)
