"""A read that writes is a bug the advanced service refuses loudly (reads never write)."""

from __future__ import annotations

import pytest
from litestar.testing import AsyncTestClient

from edge.runtime import EdgeRuntime
from server.advanced_service import ReadWroteError, _zone
from server.app import create_app
from server.auth import Principal
from server.config import ServerConfig
from tests.factories import lead


async def test_a_read_that_writes_is_refused(tmp_path):
    app = create_app(ServerConfig(database_url=str(tmp_path / "server.db")))
    who = Principal(agent="agent-01", team="team-a", iat=0, exp=0, jti="test")

    async def writes(rt: EdgeRuntime) -> None:
        await rt.put([lead(1)])

    async def reads(rt: EdgeRuntime) -> int:
        return (await rt.counts()).leads

    async with AsyncTestClient(app):
        advanced = app.state.advanced
        assert await advanced._read(who, reads) == 0
        with pytest.raises(ReadWroteError, match="wrote"):
            await advanced._read(who, writes)


def test_an_unknown_time_zone_reads_no_zone():
    assert _zone("America/Mexico_City") is not None
    assert _zone("Not/A_Zone") is None
