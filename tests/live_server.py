"""The loopback server for tests lives in the library (the demo uses it too).

:func:`engine_server` runs it on either storage engine: the tests' ``server`` fixtures use the
engine named by ``REALTY_EDGE_TEST_SERVER_ENGINE`` (``sqlite`` by default, or ``postgresql``),
and a test parametrized over ``server_engine`` runs on both.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from server.local import HOUR_MS, LiveServer, run_server

ENGINE_ENV = "REALTY_EDGE_TEST_SERVER_ENGINE"
ENGINES = ("sqlite", "postgresql")


def default_engine() -> str:
    engine = os.environ.get(ENGINE_ENV, "sqlite")
    if engine not in ENGINES:
        raise ValueError(f"{ENGINE_ENV}={engine!r}: expected one of {', '.join(ENGINES)}")
    return engine


@contextmanager
def engine_server(
    request: pytest.FixtureRequest, tmp_path: Path, engine: str, **options
) -> Iterator[LiveServer]:
    """A live server on ``engine``: an SQLite file in ``tmp_path`` or a fresh PostgreSQL schema."""
    if engine == "postgresql":
        url: str | Path = request.getfixturevalue("postgres_url")
        options.setdefault("data_dir", tmp_path / "server-data")
        options.setdefault("database_pool_size", 4)
    else:
        url = tmp_path / "server.db"
    with run_server(url, **options) as live:
        yield live


__all__ = ["ENGINES", "HOUR_MS", "LiveServer", "default_engine", "engine_server", "run_server"]
