from __future__ import annotations

import pytest

from server.storage import open_store
from tests.live_server import ENGINES


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
