"""One thread that owns a sqlite3 connection; the event loop awaits what it runs.

The device store's writer (and the analyst's query-only reader) each have one: a thread
that opens the connection, then runs the callables queued to it, one at a time in the order
they came, each with the connection. The caller awaits a future that the thread settles
through the caller's loop, with the callable's result or its exception. A function of several
statements (and COMMIT) is one hop to the thread, not one per statement, which on a busy phone
CPU is the difference between one scheduler wait and five.

:meth:`DbThread.close` lets every call already queued run, then closes the connection; a call
queued after it fails with :class:`DbThreadClosedError`. A connection that cannot be opened
fails every call with the error that :func:`connect` raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from edge.errors import StoreError

T = TypeVar("T")

_Job = tuple[Callable[[], Any], asyncio.AbstractEventLoop, "asyncio.Future[Any]"]


class DbThreadClosedError(StoreError):
    """A call to a database thread that was closed."""


class DbThread:
    """A thread owning one sqlite3 connection, made by ``connect`` on that thread."""

    def __init__(self, connect: Callable[[], sqlite3.Connection], *, name: str = "edge-db"):
        self.name = name
        self._conn: sqlite3.Connection | None = None
        self._connect_error: BaseException | None = None
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._closing = False
        self._guard = threading.Lock()  # queueing and closing, from any thread
        self._thread = threading.Thread(target=self._main, args=(connect,), name=name, daemon=True)
        self._thread.start()

    # --- the thread ---------------------------------------------------------------------

    def _main(self, connect: Callable[[], sqlite3.Connection]) -> None:
        try:
            self._conn = connect()
        except BaseException as exc:  # every call reports it
            self._connect_error = exc
        while (job := self._jobs.get()) is not None:
            fn, loop, future = job
            try:
                result = fn()
            except BaseException as exc:
                _settle(loop, future, exc, None)
            else:
                _settle(loop, future, None, result)
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self) -> sqlite3.Connection:
        """The connection (on the thread only); the connect error when it never opened."""
        if self._conn is None:
            raise StoreError(f"{self.name}: no connection: {self._connect_error}") from (
                self._connect_error
            )
        return self._conn

    # --- the loop's side ----------------------------------------------------------------

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn(connection)`` run on the thread; its result, or its exception raised here.

        A task cancelled while ``fn`` runs stops waiting; ``fn`` still runs to its end.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._guard:
            if self._closing:
                raise DbThreadClosedError(f"{self.name} is closed")
            self._jobs.put((lambda: fn(self._connection()), loop, future))
        return await future

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """One statement whose rows, if any, are not wanted."""
        await self.run(lambda conn: conn.execute(sql, params).close())

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self.run(lambda conn: conn.executemany(sql, rows).close())

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Every row of one statement (execute, fetch and close in one hop)."""
        return await self.run(lambda conn: conn.execute(sql, params).fetchall())

    def close_nowait(self) -> None:
        """Stop taking calls; the thread runs those queued, closes the connection and ends."""
        with self._guard:
            if self._closing:
                return
            self._closing = True
            self._jobs.put(None)

    async def close(self) -> None:
        """:meth:`close_nowait`, then wait (off the loop) until the thread has ended."""
        self.close_nowait()
        await asyncio.to_thread(self._thread.join)

    @property
    def closed(self) -> bool:
        return self._closing


def _settle(
    loop: asyncio.AbstractEventLoop,
    future: asyncio.Future[Any],
    exc: BaseException | None,
    result: Any,
) -> None:
    """Hand a result (or exception) to ``future`` on its loop; nothing if nobody waits."""
    if isinstance(exc, StopIteration):  # a future cannot hold one
        exc = RuntimeError(f"StopIteration raised on the database thread: {exc!r}")

    def settle() -> None:
        if future.done():  # cancelled while the call ran
            return
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(result)

    with contextlib.suppress(RuntimeError):  # a closed loop: the caller is gone
        loop.call_soon_threadsafe(settle)
