from __future__ import annotations

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
