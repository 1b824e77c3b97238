"""The hybrid logical clock: monotonic, ahead of every clock it has seen, totally ordered."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.clock import MAX_DRIFT_MS, Hlc, receive, tick, zero
from sync.errors import ClockError

walls = st.integers(0, 2_000_000_000_000)
nodes = st.sampled_from(["dev-a", "dev-b", "dev-c", "server"])
clocks = st.builds(Hlc, wall_ms=walls, counter=st.integers(0, 999_999), node=nodes)


@given(start=clocks, nows=st.lists(walls, min_size=1, max_size=50))
def test_tick_is_strictly_monotonic_even_when_the_wall_clock_goes_back(start, nows):
    clock = start
    for now in nows:
        nxt = tick(clock, now)
        assert nxt > clock
        assert nxt.wall_ms >= now
        clock = nxt


@given(local=clocks, remote=clocks, now=walls)
def test_receive_is_later_than_local_remote_and_now(local, remote, now):
    if remote.wall_ms - now > MAX_DRIFT_MS:
        with pytest.raises(ClockError):
            receive(local, remote, now)
        return
    merged = receive(local, remote, now)
    assert merged.node == local.node
    assert (merged.wall_ms, merged.counter) > (local.wall_ms, local.counter)
    assert (merged.wall_ms, merged.counter) > (remote.wall_ms, remote.counter)
    assert merged.wall_ms >= now


@given(a=clocks, b=clocks)
def test_encoded_text_sorts_like_the_clock(a, b):
    assert (a.encode() < b.encode()) == (a < b)
    assert Hlc.decode(a.encode()) == a


def test_counter_overflow_borrows_a_millisecond():
    full = Hlc(1000, 999_999, "dev-a")
    assert tick(full, 500) == Hlc(1001, 0, "dev-a")


def test_remote_too_far_ahead_is_refused():
    with pytest.raises(ClockError, match="ahead of now"):
        receive(zero("dev-a"), Hlc(10 * MAX_DRIFT_MS, 0, "dev-b"), now_ms=0)


def test_a_day_of_skew_is_absorbed():
    ahead = Hlc(86_400_000 + 5, 2, "dev-b")
    merged = receive(Hlc(10, 0, "dev-a"), ahead, now_ms=10)
    assert merged == Hlc(86_400_000 + 5, 3, "dev-a")
    assert tick(merged, 20) > merged


@pytest.mark.parametrize("text", ["", "garbage", "12-ab-dev", "000000000000001-000000-bad node"])
def test_decode_refuses_what_encode_cannot_write(text):
    with pytest.raises(ClockError):
        Hlc.decode(text)
