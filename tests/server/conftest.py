from __future__ import annotations

import pytest

from tests.live_server import run_server


@pytest.fixture
def server(tmp_path):
    """A real server on a free loopback port, with its own database."""
    with run_server(tmp_path / "server.db") as live:
        yield live
