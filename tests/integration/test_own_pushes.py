"""A device never downloads its own pushes back; its checkpoint still passes them (issue 17)."""

from __future__ import annotations

import httpx

from edge.runtime import EdgeRuntime
from sync.codec import Format, encode_batch
from tests.factories import small_world


async def test_a_first_sync_does_not_pull_back_what_it_pushed(tmp_path, server):
    token = server.token()
    a = await EdgeRuntime.open(tmp_path / "a.db")
    b = await EdgeRuntime.open(tmp_path / "b.db")
    try:
        await a.ingest(encode_batch(small_world(3, 4), Format.MSGPACK))
        first = await a.sync(server.url, token)
        assert (first.status, first.pushed, first.pulled, first.checkpoint) == ("ok", 18, 0, 18)
        assert first.bytes_received < first.bytes_sent
        assert await a.sync_checkpoint() == 18
        # Another phone of the team still gets all of it, and a's next pull is empty.
        other = await b.sync(server.url, token)
        assert (other.pulled, other.checkpoint) == (18, 18)
        assert (await b.counts()).events == 12
        await b.update("lead", "lead-000001", name="Ana from b")
        await b.sync(server.url, token)
        again = await a.sync(server.url, token)
        assert (again.pulled, again.checkpoint) == (1, 19)
        assert (await a.get_lead("lead-000001")).name == "Ana from b"
    finally:
        await a.close()
        await b.close()


async def test_a_long_sync_tells_its_progress_page_by_page(tmp_path, server):
    token = server.token()
    a = await EdgeRuntime.open(tmp_path / "a.db")
    b = await EdgeRuntime.open(tmp_path / "b.db")
    try:
        await a.ingest(encode_batch(small_world(3, 4), Format.MSGPACK))
        told: list = []
        pushed = await a.sync(server.url, token, batch_size=5, progress=told.append)
        assert [p.pushed for p in told if p.pages == 0] == [5, 10, 15, 18]
        told.clear()
        pulled = await b.sync(server.url, token, page_size=5, progress=told.append)
        assert [(p.pulled, p.pages) for p in told] == [(5, 1), (10, 2), (15, 3), (18, 4)]
        assert (pushed.status, pulled.status, pulled.pages) == ("ok", "ok", 4)
    finally:
        await a.close()
        await b.close()


async def test_the_pull_body_names_the_device_too(tmp_path, server):
    token = server.token()
    a = await EdgeRuntime.open(tmp_path / "a.db")
    try:
        await a.ingest(encode_batch(small_world(1, 1), Format.MSGPACK))
        await a.sync(server.url, token)
        async with httpx.AsyncClient(
            base_url=server.url, headers={"authorization": f"Bearer {token}"}
        ) as http:
            body = {"type": "pull_request", "after": 0}
            everyone = (await http.post("/api/v1/sync/pull", json=body)).json()
            body["device_id"] = a.device_id
            mine = (await http.post("/api/v1/sync/pull", json=body)).json()
        assert (len(everyone["changes"]), everyone["checkpoint"]) == (5, 5)
        assert (mine["changes"], mine["checkpoint"], mine["has_more"]) == ([], 5, False)
    finally:
        await a.close()
