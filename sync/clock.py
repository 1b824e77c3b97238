"""Hybrid logical clock (Kulkarni et al., 2014).

A timestamp is ``(wall_ms, counter, node)``. It stays close to physical time, never goes
backwards on one node, and orders causally related events across nodes even when their wall
clocks disagree. Ties between nodes are broken by the node id, so every pair of timestamps is
ordered. Functions here are pure: the physical time is always a parameter, and
:func:`wall_clock_ms` is the one place that reads it (the default clock of devices and server).
"""

from __future__ import annotations

import time
from typing import Annotated

import msgspec
from msgspec import Meta

from sync.errors import ClockError

#: A remote clock more than this far ahead of our physical clock is refused.
MAX_DRIFT_MS = 24 * 3600 * 1000 * 7

_WALL_DIGITS = 15
_COUNTER_DIGITS = 6
_MAX_COUNTER = 10**_COUNTER_DIGITS - 1


def wall_clock_ms() -> int:
    """Milliseconds since the epoch by this machine's clock."""
    return int(time.time() * 1000)


NodeId = Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")]


class Hlc(msgspec.Struct, frozen=True, order=True, array_like=True):
    """One hybrid logical clock value; compares in (wall_ms, counter, node) order."""

    wall_ms: Annotated[int, Meta(ge=0, lt=10**_WALL_DIGITS)]
    counter: Annotated[int, Meta(ge=0, le=_MAX_COUNTER)]
    node: NodeId

    def encode(self) -> str:
        """Fixed-width text whose lexicographic order is the clock order."""
        return f"{self.wall_ms:0{_WALL_DIGITS}d}-{self.counter:0{_COUNTER_DIGITS}d}-{self.node}"

    @classmethod
    def decode(cls, text: str) -> Hlc:
        """Parse the text written by :meth:`encode`."""
        try:
            wall, counter, node = text.split("-", 2)
            return msgspec.convert([int(wall), int(counter), node], cls)
        except (ValueError, msgspec.ValidationError) as exc:
            raise ClockError(f"not a clock value: {text!r}") from exc


def zero(node: str) -> Hlc:
    """The clock of a node that has seen nothing."""
    return Hlc(0, 0, node)


def tick(clock: Hlc, now_ms: int) -> Hlc:
    """The timestamp of a local event at physical time ``now_ms``."""
    if now_ms > clock.wall_ms:
        return Hlc(now_ms, 0, clock.node)
    return _bump(clock.wall_ms, clock.counter, clock.node)


def receive(clock: Hlc, remote: Hlc, now_ms: int, max_drift_ms: int = MAX_DRIFT_MS) -> Hlc:
    """Our clock after receiving ``remote``: later than both, and than ``now_ms``.

    Raises :class:`ClockError` when ``remote`` is further ahead of ``now_ms`` than
    ``max_drift_ms``, so that one peer with a broken clock cannot drag everyone's clock forward.
    """
    if remote.wall_ms - now_ms > max_drift_ms:
        raise ClockError(
            f"remote clock {remote.encode()} is {remote.wall_ms - now_ms} ms ahead of now"
        )
    wall = max(clock.wall_ms, remote.wall_ms, now_ms)
    if wall == clock.wall_ms == remote.wall_ms:
        return _bump(wall, max(clock.counter, remote.counter), clock.node)
    if wall == clock.wall_ms:
        return _bump(wall, clock.counter, clock.node)
    if wall == remote.wall_ms:
        return _bump(wall, remote.counter, clock.node)
    return Hlc(wall, 0, clock.node)


def _bump(wall: int, counter: int, node: str) -> Hlc:
    if counter >= _MAX_COUNTER:
        # Counter overflow: borrow one millisecond rather than wrap.
        return Hlc(wall + 1, 0, node)
    return Hlc(wall, counter + 1, node)
