from __future__ import annotations

import asyncio

import pytest

from tests.edge.intel import open_device


@pytest.fixture
def device_db(tmp_path):
    """A device database holding the intelligence tests' small world, closed again."""
    path = tmp_path / "device.db"

    async def build() -> None:
        rt = await open_device(path)
        await rt.close()

    asyncio.run(build())
    return path
