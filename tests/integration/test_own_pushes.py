"""A device never downloads its own pushes back; its checkpoint still passes them (issue 17)."""

from __future__ import annotations

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
        assert await a.store.sync_checkpoint() == 18
        # Another phone of the team still gets all of it, and a's next pull is empty.
        other = await b.sync(server.url, token)
        assert (other.pulled, other.checkpoint) == (18, 18)
        assert (await b.counts()).events == 12
        await b.update("lead", "lead-000001", name="Ana from b")
        await b.sync(server.url, token)
        again = await a.sync(server.url, token)
        assert (again.pulled, again.checkpoint) == (1, 19)
        assert (await a.store.get_lead("lead-000001")).name == "Ana from b"
    finally:
        await a.close()
        await b.close()
