"""The device's sync client without a server: backoff, the loop, stopping on a 4xx."""

from __future__ import annotations

import asyncio
import gzip
import random

import httpx
import msgspec

from edge.errors import SyncUnavailableError
from edge.rows import record_fields
from edge.sync_client import SyncLoop, backoff_delay, sync, with_backoff
from sync.changes import Change
from sync.clock import Hlc
from sync.protocol import PullPage, PushResult, Rejected
from tests.factories import NOW_MS, event, lead, listing

EMPTY_PAGE = PullPage(changes=[], checkpoint=0, has_more=False, server_hlc="", schema_version=1)


def msgpack(obj, status: int = 200) -> httpx.Response:
    return httpx.Response(
        status, content=msgspec.msgpack.encode(obj), headers={"content-type": "application/msgpack"}
    )


def test_full_jitter_stays_under_the_exponential_cap():
    rng = random.Random(7)
    for attempt in range(12):
        for _ in range(50):
            assert 0 <= backoff_delay(attempt, 0.5, 30.0, rng) <= min(30.0, 0.5 * 2**attempt)


async def test_with_backoff_retries_unavailable_then_succeeds():
    calls, sleeps = [], []

    async def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise SyncUnavailableError("down")
        return "ok"

    async def fake_sleep(s):
        sleeps.append(s)

    assert await with_backoff(flaky, attempts=4, rng=random.Random(1), sleep=fake_sleep) == "ok"
    assert len(calls) == 3 and len(sleeps) == 2


async def test_push_marks_sent_only_after_the_ack(fresh_store):
    await fresh_store.put([lead(1)])
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if request.url.path.endswith("/push"):
            return httpx.Response(503)
        return msgpack(EMPTY_PAGE)

    report = await sync(
        fresh_store,
        "http://sync.test",
        "t",
        transport=httpx.MockTransport(handler),
        attempts=2,
        base_s=0.001,
    )
    assert report.status == "unavailable"
    assert seen == ["/api/v1/sync/push", "/api/v1/sync/push"]
    assert (await fresh_store.counts()).outbox_pending == 1


async def test_a_4xx_stops_without_retrying(fresh_store):
    await fresh_store.put([lead(1)])
    seen = []

    def handler(request):
        seen.append(request.url.path)
        return msgpack(Rejected(code="unauthorized", detail="token expired"), 401)

    report = await sync(
        fresh_store, "http://sync.test", "t", transport=httpx.MockTransport(handler), attempts=5
    )
    assert (report.status, report.code, len(seen)) == ("refused", "unauthorized", 1)
    assert (await fresh_store.counts()).outbox_pending == 1


async def test_the_loop_retries_on_a_timer_and_at_once_when_back_online(fresh_store):
    await fresh_store.put([lead(1)])
    online = False
    pushes = []

    def handler(request):
        if not online:
            raise httpx.ConnectError("no signal", request=request)
        if request.url.path.endswith("/push"):
            batch = msgspec.msgpack.decode(gzip.decompress(request.content))
            pushes.append(len(batch["changes"]))
            return msgpack(
                PushResult(
                    device_id=batch["device_id"],
                    accepted=len(batch["changes"]),
                    acked_through=batch["changes"][-1]["seq"],
                    conflicts=0,
                    schema_version=1,
                )
            )
        return msgpack(EMPTY_PAGE)

    loop = SyncLoop(
        fresh_store,
        "http://sync.test",
        "t",
        transport=httpx.MockTransport(handler),
        interval_s=60,
        base_s=0.01,
        cap_s=0.05,
        rng=random.Random(3),
    )
    loop.start()
    try:
        for _ in range(200):
            if loop.failures >= 3:
                break
            await asyncio.sleep(0.01)
        assert loop.failures >= 3 and loop.last.status == "unavailable"  # retried on a timer
        online = True
        loop.notify_online()
        for _ in range(200):
            if loop.syncs:
                break
            await asyncio.sleep(0.01)
        assert pushes == [1] and loop.status == "running"
        assert (await fresh_store.counts()).outbox_pending == 0
    finally:
        await loop.stop()


async def test_the_loop_stops_on_a_4xx_with_a_clear_status(fresh_store):
    def handler(request):
        return msgpack(Rejected(code="schema_version_unsupported", detail="too new"), 409)

    await fresh_store.put([lead(1)])
    loop = SyncLoop(fresh_store, "http://sync.test", "t", transport=httpx.MockTransport(handler))
    loop.start()
    try:
        for _ in range(200):
            if loop.status == "stopped":
                break
            await asyncio.sleep(0.01)
        assert loop.status == "stopped" and loop.last.code == "schema_version_unsupported"
        assert len(await fresh_store.quarantined()) == 1
    finally:
        await loop.stop()


def _remote(record, seq: int, wall: int) -> Change:
    fields = record_fields(record)
    return Change(
        entity=record.__struct_config__.tag,
        entity_id=record.id,
        fields=fields,
        hlc=Hlc(wall, 0, "dev-other").encode(),
        device_id="dev-other",
        seq=seq,
    )


async def test_a_pulled_child_waits_for_its_parent_then_shows(fresh_store):
    """An event that arrives before its listing is held back, then shown when it arrives."""
    await fresh_store.put([lead(1)])
    ev = event(1, lead_id="lead-000001", listing_id="lst-000009")
    first = await fresh_store.apply_remote([_remote(ev, 1, NOW_MS)], checkpoint=1)
    assert first.not_materialized == 1
    assert (await fresh_store.counts()).events == 0
    second = await fresh_store.apply_remote([_remote(listing(9), 2, NOW_MS + 1)], checkpoint=2)
    assert second.not_materialized == 0
    assert (await fresh_store.get("event", ev.id)) == ev
    assert await fresh_store.sync_checkpoint() == 2
    assert (await fresh_store.counts()).outbox_pending == 1  # pulled changes never re-queued
