"""Fixtures shared by the edge tests."""

from __future__ import annotations

import pytest

from tests.edge.intel import open_device


@pytest.fixture
async def device(tmp_path):
    """A device runtime holding the small intelligence world of ``tests.edge.intel``."""
    rt = await open_device(tmp_path / "d.db")
    yield rt
    await rt.close()
