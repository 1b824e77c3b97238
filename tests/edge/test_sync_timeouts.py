"""A server that accepts the connection and never answers is given up on fast (issue 17, 5)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from edge.sync_client import DEFAULT_DEADLINE_S, DEFAULT_TIMEOUT_S, SyncProgress, sync


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A socket that accepts connections (the kernel does) and never says a word."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


def test_the_defaults_are_short():
    assert DEFAULT_TIMEOUT_S <= 10 and DEFAULT_DEADLINE_S <= 30


async def test_a_silent_server_times_out_each_request_and_the_retries_are_told(
    fresh_store, silent_server
):
    told: list[SyncProgress] = []
    started = time.monotonic()
    report = await sync(
        fresh_store,
        silent_server,
        "t",
        timeout_s=0.2,
        attempts=2,
        base_s=0.01,
        progress=told.append,
    )
    assert time.monotonic() - started < 3
    assert report.status == "unavailable"
    assert "no answer from the server within 0.2 s" in (report.detail or "")
    assert [p.attempt for p in told] == [2] and "attempt 2 of 2" in (told[0].retry or "")


async def test_the_deadline_ends_the_whole_sync(fresh_store, silent_server):
    started = time.monotonic()
    report = await sync(fresh_store, silent_server, "t", timeout_s=5, deadline_s=0.3)
    assert time.monotonic() - started < 2
    assert (report.status, report.code) == ("unavailable", "deadline")
    assert "deadline of 0.3 s" in (report.detail or "")
