"""A team's change log moved: told to every worker's sockets through Litestar channels.

One process uses the in-memory backend; with Redis configured the notice crosses workers and
hosts (Redis pub/sub). A notice says only "team T changed": a socket then reads the log after
its own position, so a lost notice delays an answer (until the socket's next periodic look)
but never changes it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar.channels import ChannelsPlugin
from litestar.channels.backends.base import ChannelsBackend
from litestar.channels.backends.memory import MemoryChannelsBackend

log = logging.getLogger("realty_edge.server")


def team_channel(team: str) -> str:
    return f"team:{team}"


class TeamNotifier:
    """Publishes "this team's log moved" and lets a socket wait for it."""

    def __init__(self, redis_url: str | None):
        backend: ChannelsBackend
        self._redis: Any = None
        if redis_url:
            from redis.asyncio import Redis

            self._redis = Redis.from_url(redis_url)
            backend = _redis_backend(self._redis)
        else:
            backend = MemoryChannelsBackend()
        self.plugin = ChannelsPlugin(backend=backend, arbitrary_channels_allowed=True)

    async def close(self) -> None:
        """Close the Redis connection (after the plugin's own shutdown)."""
        if self._redis is not None:
            await self._redis.aclose()

    def changed(self, team: str) -> None:
        """Tell every subscriber of ``team`` (in any worker) that its log moved."""
        self.plugin.publish(b"", channels=[team_channel(team)])

    @asynccontextmanager
    async def watch(self, team: str) -> AsyncIterator[asyncio.Event]:
        """An event set whenever ``team``'s log moves, while the block runs."""
        moved = asyncio.Event()

        async def on_notice(_data: bytes) -> None:
            moved.set()

        try:
            subscriber = await self.plugin.subscribe([team_channel(team)])
        except Exception as exc:  # Redis down: the socket still looks at the log on its own
            log.warning("change notices unavailable for team %s (%s)", team, exc)
            yield moved
            return
        try:
            async with subscriber.run_in_background(on_notice):
                yield moved
        finally:
            await self.plugin.unsubscribe(subscriber)


def _redis_backend(redis: Any) -> ChannelsBackend:
    """Litestar's Redis pub/sub backend, whose publish survives a Redis that is down.

    The plugin publishes from one background task that stops at its first exception, and
    its shutdown then waits for a queue nobody drains: a failed notice is logged instead.
    """
    from litestar.channels.backends.redis import RedisChannelsPubSubBackend
    from redis.exceptions import RedisError

    class Backend(RedisChannelsPubSubBackend):
        async def publish(self, data: bytes, channels: Any) -> None:
            try:
                await super().publish(data, channels)
            except (RedisError, OSError) as exc:
                log.warning("change notice not sent: Redis unavailable (%s)", exc)

    return Backend(redis=redis)
