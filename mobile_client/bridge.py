"""EdgeRuntime on an asyncio loop in a background thread; results come back on Kivy's clock.

The UI never blocks on the runtime: :meth:`RuntimeBridge.submit` schedules a coroutine on the
loop and delivers its result (or its error) to a callback on the main thread through
``Clock.schedule_once``. Every call is timed under an operation name for the Performance screen.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from kivy.clock import Clock

from edge.latency import percentile
from edge.runtime import EdgeRuntime

T = TypeVar("T")


class RuntimeBridge:
    """One device's runtime, its loop thread, and the latencies of what the session ran."""

    def __init__(self, device: str | Path, *, create: bool = False):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="edge-loop", daemon=True)
        self.thread.start()
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.pending = 0
        self.errors: list[str] = []
        self.started = time.monotonic()
        self.runtime: EdgeRuntime = self.wait(EdgeRuntime.open(device, create=create))

    async def timed(self, operation: str, awaitable: Awaitable[T]) -> T:
        """Await ``awaitable`` and record its wall time under ``operation``."""
        t0 = time.perf_counter()
        try:
            return await awaitable
        finally:
            self.latencies[operation].append((time.perf_counter() - t0) * 1000)

    def record(self, operation: str, ms: float) -> None:
        """Record a time measured elsewhere (once) under ``operation``."""
        self.latencies[operation].append(ms)

    def wait(self, coro: Coroutine[Any, Any, T], timeout: float = 120) -> T:
        """Run ``coro`` on the loop and block for it (start-up and shut-down only)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def submit(
        self,
        operation: str,
        coro: Coroutine[Any, Any, T],
        on_done: Callable[[T], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> Future:
        """Run ``coro`` in the background; ``on_done``/``on_error`` run on the main thread."""
        self.pending += 1
        future = asyncio.run_coroutine_threadsafe(self.timed(operation, coro), self.loop)

        def deliver(_dt: float) -> None:
            self.pending -= 1
            error = future.exception()
            if error is not None:
                self.errors.append(f"{operation}: {error}")
                if on_error is not None:
                    on_error(error)
            elif on_done is not None:
                on_done(future.result())

        future.add_done_callback(lambda _f: Clock.schedule_once(deliver))
        return future

    @property
    def idle(self) -> bool:
        return self.pending == 0

    def stats(self) -> list[tuple[str, int, float, float]]:
        """(operation, count, p50 ms, p95 ms) for each operation run this session."""
        return [
            (op, len(v), percentile(v, 0.5), percentile(v, 0.95))
            for op, v in sorted(self.latencies.items())
        ]

    def close(self) -> None:
        if self.loop.is_running():
            self.wait(self.runtime.close())
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)
        self.loop.close()
