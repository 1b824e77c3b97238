"""The loopback server for tests lives in the library (the demo uses it too).

:func:`engine_server` runs it on either storage engine: the tests' ``server`` fixtures use the
engine named by ``REALTY_EDGE_TEST_SERVER_ENGINE`` (``sqlite`` by default, or ``postgresql``),
and a test parametrized over ``server_engine`` runs on both.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import pytest

from server.distribution import ModelDistribution
from server.local import HOUR_MS, LiveServer, run_server
from server.storage import open_store

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


@asynccontextmanager
async def registry_of(live: LiveServer) -> AsyncIterator[ModelDistribution]:
    """The model registry of ``live``'s database, on a store of the caller's own (as another
    worker, or the CLI, would open it), for the block."""
    async with open_store(live.config.database_url, pool_size=2) as store:
        yield ModelDistribution(store, live.config.registry_dir)


async def spoil_version(
    registry: ModelDistribution,
    name: str,
    version: str,
    *,
    blob: bytes | None = None,
    manifest: bytes | None = None,
) -> None:
    """Overwrite a stored version's blob or manifest in the database (an attacker's write)."""
    from server.storage.registry import RegistryTx

    def spoil(tx: RegistryTx) -> None:
        for column, value in (("blob", blob), ("manifest", manifest)):
            if value is not None:
                tx._exec(
                    f"UPDATE model_versions SET {column} = ? "
                    "WHERE scope = ? AND family = ? AND version = ?",
                    (value, registry.scope, name, version),
                )

    await registry.store.write(spoil)


__all__ = [
    "ENGINES",
    "HOUR_MS",
    "LiveServer",
    "default_engine",
    "engine_server",
    "registry_of",
    "run_server",
    "spoil_version",
]
