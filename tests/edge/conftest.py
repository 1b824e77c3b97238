"""Fixtures shared by the edge tests."""

from __future__ import annotations

import pytest

from tests.edge.intel import OPEN_MS, open_device


@pytest.fixture
async def device(tmp_path):
    """A device runtime holding the small intelligence world of ``tests.edge.intel``."""
    rt = await open_device(tmp_path / "d.db")
    yield rt
    await rt.close()


@pytest.fixture
async def phone(tmp_path):
    """A device at 10:00 in Los Angeles (contact hours) whose clock the test moves
    (``phone.now["t"]``)."""
    now = {"t": OPEN_MS}
    rt = await open_device(tmp_path / "d.db", clock=lambda: now["t"])
    rt.now = now  # a test's handle on the clock
    yield rt
    await rt.close()
