from __future__ import annotations

import pytest

from tests.live_server import default_engine, engine_server


@pytest.fixture
def server_engine() -> str:
    """The storage engine of the ``server`` fixture (parametrize it to run on both)."""
    return default_engine()


@pytest.fixture
def server(request, tmp_path, server_engine):
    """A real server on a free loopback port, with its own database."""
    with engine_server(request, tmp_path, server_engine) as live:
        yield live
