"""Token buckets per bearer token: in this process, or in Redis so every worker shares them.

Litestar's own ``RateLimitMiddleware`` keeps a fixed window per client and updates it with a
``get`` then a ``set`` on its store: two workers that read the same window both count one
request, so with several workers a client gets up to N times its limit. A bucket here is
updated in one atomic step (a Lua script in Redis), which holds with any number of workers.
"""

from __future__ import annotations

import logging
from typing import Protocol

log = logging.getLogger("realty_edge.server")

#: One atomic take from the bucket at KEYS[1]: ARGV = rate/s, burst, now (s). Returns the
#: seconds to wait (0: allowed). The bucket expires once it would be full again.
TAKE_SCRIPT = """
local rate, burst, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
return tostring(wait)
"""


class RateLimiter(Protocol):
    """Requests per second and burst per key (a token's id)."""

    async def take(self, key: str, now_s: float) -> float:
        """0 when allowed; otherwise the seconds until one request would be."""
        ...

    async def close(self) -> None: ...


class TokenBucket:
    """Per-key token buckets in this process's memory (one worker, no Redis)."""

    def __init__(self, rate: float, burst: int):
        self.rate = rate
        self.burst = burst
        self._state: dict[str, tuple[float, float]] = {}

    async def take(self, key: str, now_s: float) -> float:
        tokens, last = self._state.get(key, (float(self.burst), now_s))
        tokens = min(float(self.burst), tokens + (now_s - last) * self.rate)
        if tokens >= 1.0:
            self._state[key] = (tokens - 1.0, now_s)
            return 0.0
        self._state[key] = (tokens, now_s)
        return (1.0 - tokens) / self.rate

    async def close(self) -> None:
        self._state.clear()


class RedisTokenBucket:
    """The same buckets in Redis, shared by every worker and host that uses this Redis.

    If Redis cannot be reached the request is let through and a warning logged: a cache
    server that is down must not take the API down with it.
    """

    def __init__(self, url: str, rate: float, burst: int, *, prefix: str = "realty-edge:rl:"):
        from redis.asyncio import Redis

        self.rate = rate
        self.burst = burst
        self.prefix = prefix
        self._redis = Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self._take = self._redis.register_script(TAKE_SCRIPT)

    async def take(self, key: str, now_s: float) -> float:
        from redis.exceptions import RedisError

        try:
            wait = await self._take(keys=[self.prefix + key], args=[self.rate, self.burst, now_s])
        except (RedisError, OSError) as exc:
            log.warning("rate limit not applied: Redis unavailable (%s)", exc)
            return 0.0
        return float(wait)

    async def close(self) -> None:
        await self._redis.aclose()


def rate_limiter(rate: float, burst: int, redis_url: str | None) -> RateLimiter:
    """Redis buckets when a Redis URL is configured, else this process's own."""
    if redis_url:
        return RedisTokenBucket(redis_url, rate, burst)
    return TokenBucket(rate, burst)
