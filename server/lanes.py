"""A worker pool for the advanced API's CPU work: threads that each run an event loop.

Feature extraction, TFLite invocations and index building run inside the edge runtime's
coroutines, so they cannot simply go to a plain thread pool: a team's
:class:`~edge.runtime.EdgeRuntime` (its database threads, its interpreters) belongs to the
loop it was opened on. Each *lane* is a daemon thread with its own loop, and a key (a team)
always runs on the same lane: a runtime is only ever used by one thread, so its TFLite
interpreters need no lock, and the server's event loop only waits for an answer.

Python threads share the GIL: a lane's pure-Python work still takes turns with the server's
loop, which gets the interpreter back at every switch interval (5 ms), so a request on the
loop waits milliseconds, not a whole analysis; numpy and TFLite release the GIL while they
compute. There is one lane per core by default.

The lanes are the parallelism: numpy's OpenBLAS is set to one thread when they start
(:func:`single_threaded_blas`). Its default, one thread per core, woke a helper thread on every
small matrix product that then spun waiting for the next one: more than half the API worker's
CPU on a 2-core host (the ``bench server`` sqlite-1 step: 15.1 ms of CPU per request, 5.3 ms
with one BLAS thread), a core taken from the lanes and everything else on the host.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import threading
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


class Lanes:
    """``size`` threads, each running an event loop; :meth:`run` a coroutine on a key's lane."""

    def __init__(self, size: int | None = None, name: str = "realty-edge-lane"):
        self.size = max(1, size or os.cpu_count() or 1)
        self.name = name
        self._loops: list[asyncio.AbstractEventLoop] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def _start(self) -> list[asyncio.AbstractEventLoop]:
        with self._lock:
            if not self._loops:
                single_threaded_blas()
                for i in range(self.size):
                    loop = asyncio.new_event_loop()
                    thread = threading.Thread(
                        target=_serve, args=(loop,), name=f"{self.name}-{i}", daemon=True
                    )
                    thread.start()
                    self._loops.append(loop)
                    self._threads.append(thread)
            return self._loops

    def loop_of(self, key: str) -> asyncio.AbstractEventLoop:
        """The loop ``key`` always runs on (a stable hash, not Python's salted one)."""
        loops = self._start()
        return loops[zlib.crc32(key.encode()) % len(loops)]

    async def run(self, key: str, make: Callable[[], Awaitable[T]]) -> T:
        """``make()`` awaited on ``key``'s lane. A caller cancelled meanwhile still waits for
        the lane to finish (a runtime is never used by two calls at once), then re-raises."""
        loop = self.loop_of(key)

        async def body() -> T:
            return await make()

        done = asyncio.wrap_future(asyncio.run_coroutine_threadsafe(body(), loop))
        try:
            return await asyncio.shield(done)
        except asyncio.CancelledError:
            with contextlib.suppress(BaseException):
                await done
            raise

    def stop(self) -> None:
        """Stop every lane's loop and join its thread (idempotent)."""
        with self._lock:
            for loop in self._loops:
                loop.call_soon_threadsafe(loop.stop)
            for thread in self._threads:
                thread.join(timeout=10)
            for loop in self._loops:
                if not loop.is_running():
                    loop.close()
            self._loops.clear()
            self._threads.clear()


#: OpenBLAS's thread-count setters: plain, the ILP64 build numpy wheels ship, SciPy's.
_BLAS_SETTERS = (
    "openblas_set_num_threads",
    "openblas_set_num_threads64_",
    "scipy_openblas_set_num_threads64_",
)


def single_threaded_blas() -> int:
    """Make every OpenBLAS loaded in this process run on the caller's thread only; how many
    libraries were set. Numpy is imported long before a server starts, so its environment
    variable (``OPENBLAS_NUM_THREADS``) would come too late: the library is told directly,
    as threadpoolctl does. Hosts without ``/proc`` or OpenBLAS are left as they are."""
    import numpy  # noqa: F401 - loads OpenBLAS (long since imported in a server)

    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return 0
    paths = {line.split()[-1] for line in maps.splitlines() if "openblas" in line.lower()}
    done = 0
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in _BLAS_SETTERS:
            setter = getattr(lib, name, None)
            if setter is not None:
                setter(1)
                done += 1
                break
    return done


def _serve(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    loop.run_forever()


async def on_loop(loop: asyncio.AbstractEventLoop, make: Callable[[], Awaitable[T]]) -> T:
    """``make()`` awaited on ``loop`` (the server's), from any loop; directly when already
    there. For objects bound to the server's loop (the store's pool, the notifier)."""
    if asyncio.get_running_loop() is loop:
        return await make()

    async def body() -> T:
        return await make()

    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(body(), loop))
