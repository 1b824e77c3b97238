"""The device's sync client: push the outbox, pull after the checkpoint, back off, retry.

* Push sends the outbox in sequence order, in batches (MessagePack, gzip); entries are marked
  sent only after the server's acknowledgement, so a lost answer means a resend, which the
  server recognises by (device id, sequence) and ignores.
* Pull asks for the team's changes after the stored checkpoint, page by page; each page is
  merged and its checkpoint stored in one transaction, so a pull can stop anywhere and resume.
* A network error or a 5xx is retried with exponential backoff and full jitter; a 4xx stops
  with the server's code. A schema version the server does not read quarantines the batch
  (kept on the device, never deleted).
* Every request has short connect and read timeouts (:data:`DEFAULT_TIMEOUT_S`), and a whole
  :func:`sync`, retries included, a deadline (:data:`DEFAULT_DEADLINE_S`): a server that accepts
  the connection and never answers is given up on in seconds, not minutes. Retries and the
  progress of a long sync (changes pushed, pages pulled) are reported through ``progress``.
* :class:`SyncLoop` runs syncs on a timer and at once on :meth:`SyncLoop.notify_online`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import msgspec

from edge.errors import SyncRefusedError, SyncUnavailableError
from edge.store import OUTBOX_RETENTION_MS, EdgeStore
from sync.changes import ChangeBatch
from sync.protocol import PullPage, PushResult, Rejected
from sync.version import SCHEMA_VERSION

log = logging.getLogger("realty_edge.sync")
T = TypeVar("T")

MSGPACK = "application/msgpack"
_push_reply = msgspec.msgpack.Decoder(PushResult | Rejected)
_pull_reply = msgspec.msgpack.Decoder(PullPage | Rejected)
_enc = msgspec.msgpack.Encoder()
#: Codes after which the batch is set aside rather than retried.
QUARANTINE_CODES = {"schema_version_unsupported"}
#: Seconds one request may wait for the server (to read, or to write); connecting gets at most 5.
DEFAULT_TIMEOUT_S = 10.0
#: Seconds a whole sync may take, retries included (what was done by then is kept).
DEFAULT_DEADLINE_S = 30.0
MAX_CONNECT_S = 5.0


def request_timeout(timeout_s: float) -> httpx.Timeout:
    """``timeout_s`` for reads, writes and the pool; at most :data:`MAX_CONNECT_S` to connect."""
    return httpx.Timeout(timeout_s, connect=min(MAX_CONNECT_S, timeout_s))


class SyncProgress(msgspec.Struct, frozen=True, kw_only=True):
    """Where a sync stands: told after each batch pushed, page pulled and before each retry."""

    pushed: int
    pulled: int
    pages: int
    #: Set before a retry: why the last attempt failed and how long until the next.
    retry: str | None = None
    attempt: int = 1


Progress = Callable[[SyncProgress], None]


class SyncReport(msgspec.Struct, kw_only=True):
    """What one sync did. ``status`` is ``ok``, ``refused`` (4xx) or ``unavailable``."""

    pushed: int = 0
    pulled: int = 0
    conflicts: int = 0
    checkpoint: int = 0
    quarantined: int = 0
    status: str = "ok"
    code: str | None = None
    detail: str | None = None
    bytes_sent: int = 0  # request bodies, as sent (compressed)
    bytes_received: int = 0  # response bodies (after HTTP decompression)
    pages: int = 0  # pull pages fetched


def backoff_delay(attempt: int, base_s: float, cap_s: float, rng: random.Random) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
    return rng.uniform(0, min(cap_s, base_s * 2**attempt))


async def with_backoff(
    fn: Callable[[], Awaitable[T]],
    *,
    attempts: int = 4,
    base_s: float = 0.5,
    cap_s: float = 30.0,
    rng: random.Random | None = None,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    on_retry: Callable[[int, float, SyncUnavailableError], None] | None = None,
) -> T:
    """Call ``fn``; retry on SyncUnavailableError with full-jitter backoff; never on a 4xx.

    ``on_retry(next_attempt, delay_s, error)`` is called before each wait.
    """
    rng = rng or random.Random()
    for attempt in range(attempts):
        try:
            return await fn()
        except SyncUnavailableError as exc:
            if attempt == attempts - 1:
                raise
            delay = backoff_delay(attempt, base_s, cap_s, rng)
            if on_retry is not None:
                on_retry(attempt + 2, delay, exc)
            await sleep(delay)
    raise AssertionError("unreachable")


class SyncClient:
    """One device talking to one server with one token."""

    def __init__(
        self,
        store: EdgeStore,
        server_url: str,
        token: str,
        *,
        batch_size: int = 500,
        page_size: int = 2000,  # the server allows 5,000; ~14 pages for a first sync, not 54
        schema_version: int = SCHEMA_VERSION,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        transport: httpx.AsyncBaseTransport | None = None,
        progress: Progress | None = None,
        outbox_retention_ms: int = OUTBOX_RETENTION_MS,
    ):
        self.store = store
        #: Acknowledged outbox entries older than this are pruned after each sync.
        self.outbox_retention_ms = outbox_retention_ms
        self.batch_size = batch_size
        self.page_size = page_size
        self.schema_version = schema_version
        self.timeout_s = timeout_s
        self.progress = progress
        self._http = httpx.AsyncClient(
            base_url=server_url.rstrip("/"),
            headers={"authorization": f"Bearer {token}", "accept": MSGPACK},
            timeout=request_timeout(timeout_s),
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> SyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _send(self, method: str, url: str, **kw: Any) -> httpx.Response:
        try:
            response = await self._http.request(method, url, **kw)
        except httpx.TimeoutException as exc:
            raise SyncUnavailableError(
                f"{method} {url}: no answer from the server within {self.timeout_s:g} s "
                f"({type(exc).__name__})"
            ) from exc
        except httpx.HTTPError as exc:
            raise SyncUnavailableError(f"{method} {url}: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 500:
            raise SyncUnavailableError(f"{method} {url}: server answered {response.status_code}")
        return response

    @staticmethod
    def _refused(response: httpx.Response, answer: Any) -> SyncRefusedError:
        if isinstance(answer, Rejected):
            return SyncRefusedError(response.status_code, answer.code, answer.detail, answer.path)
        return SyncRefusedError(response.status_code, "unexpected", response.text[:200])

    @staticmethod
    def _decode(decoder: msgspec.msgpack.Decoder[Any], response: httpx.Response) -> Any:
        try:
            return decoder.decode(response.content)
        except msgspec.MsgspecError:
            with contextlib.suppress(msgspec.MsgspecError):
                return msgspec.json.decode(response.content, type=Rejected)
            if response.status_code >= 400:
                return None
            raise SyncUnavailableError(
                f"unreadable answer ({response.status_code}) from the server"
            ) from None

    async def push(self, report: SyncReport) -> None:
        """Send every pushable outbox entry; mark each batch sent after its ack."""
        while True:
            changes = await self.store.outbox_to_push(self.batch_size)
            if not changes:
                return
            batch = ChangeBatch(
                device_id=self.store.device_id,
                changes=changes,
                schema_version=self.schema_version,
            )
            body = gzip.compress(_enc.encode(batch), compresslevel=6, mtime=0)
            response = await self._send(
                "POST",
                "/api/v1/sync/push",
                content=body,
                headers={"content-type": MSGPACK, "content-encoding": "gzip"},
            )
            report.bytes_sent += len(body)
            report.bytes_received += len(response.content)
            answer = self._decode(_push_reply, response)
            seqs = [c.seq for c in changes]
            if response.status_code != 200 or not isinstance(answer, PushResult):
                error = self._refused(response, answer)
                if error.code in QUARANTINE_CODES:
                    await self.store.quarantine(seqs, f"{error.code}: {error.detail}")
                    report.quarantined += len(seqs)
                raise error
            await self.store.mark_sent(seqs)
            report.pushed += len(seqs)
            report.conflicts += answer.conflicts
            self._tell(report)

    async def pull(self, report: SyncReport) -> None:
        """Apply pages after the stored checkpoint until the server has no more."""
        while True:
            after = await self.store.sync_checkpoint()
            response = await self._send(
                "GET",
                "/api/v1/sync/pull",
                params={"after": after, "limit": self.page_size, "device_id": self.store.device_id},
            )
            report.bytes_received += len(response.content)
            answer = self._decode(_pull_reply, response)
            if response.status_code != 200 or not isinstance(answer, PullPage):
                raise self._refused(response, answer)
            if answer.checkpoint != after or answer.changes:
                applied = await self.store.apply_remote(answer.changes, answer.checkpoint)
                report.pulled += applied.received
            report.checkpoint = answer.checkpoint
            report.pages += 1
            self._tell(report)
            if not answer.has_more:
                return

    def _tell(self, report: SyncReport) -> None:
        if self.progress is not None:
            self.progress(
                SyncProgress(pushed=report.pushed, pulled=report.pulled, pages=report.pages)
            )

    async def sync_once(self, report: SyncReport | None = None) -> SyncReport:
        """Push, then pull. Raises SyncRefusedError (4xx) or SyncUnavailableError."""
        report = report or SyncReport()
        report.checkpoint = await self.store.sync_checkpoint()
        await self.push(report)
        await self.pull(report)
        await self.store.prune_outbox(self.outbox_retention_ms)
        return report


async def sync(
    store: EdgeStore,
    server_url: str,
    token: str,
    *,
    attempts: int = 4,
    base_s: float = 0.5,
    cap_s: float = 30.0,
    rng: random.Random | None = None,
    deadline_s: float | None = DEFAULT_DEADLINE_S,
    progress: Progress | None = None,
    **client_kw: Any,
) -> SyncReport:
    """One sync with retries; a refusal or giving up is reported in ``status``, not raised.

    The whole sync, retries included, ends after ``deadline_s`` (None: no deadline); what was
    pushed and pulled by then is kept, and the next sync resumes from there.
    """
    async with SyncClient(store, server_url, token, progress=progress, **client_kw) as client:
        partial = SyncReport()

        async def once() -> SyncReport:
            nonlocal partial
            partial = SyncReport()  # kept so that a failure still reports what got through
            return await client.sync_once(partial)

        def on_retry(attempt: int, delay: float, error: SyncUnavailableError) -> None:
            if progress is not None:
                progress(
                    SyncProgress(
                        pushed=partial.pushed,
                        pulled=partial.pulled,
                        pages=partial.pages,
                        attempt=attempt,
                        retry=f"{error}; attempt {attempt} of {attempts} in {delay:.1f} s",
                    )
                )

        try:
            async with asyncio.timeout(deadline_s):
                return await with_backoff(
                    once, attempts=attempts, base_s=base_s, cap_s=cap_s, rng=rng, on_retry=on_retry
                )
        except SyncRefusedError as exc:
            partial.status, partial.code, partial.detail = "refused", exc.code, str(exc)
        except SyncUnavailableError as exc:
            partial.status, partial.code, partial.detail = "unavailable", None, str(exc)
        except TimeoutError:
            partial.status, partial.code = "unavailable", "deadline"
            partial.detail = (
                f"no complete sync within the deadline of {deadline_s:g} s (pushed "
                f"{partial.pushed}, pulled {partial.pulled} so far, kept; sync again to resume)"
            )
        return partial


class SyncLoop:
    """Background sync: on a timer, at once on reconnect, backing off on failures.

    ``start()`` begins, ``stop()`` ends, ``notify_online()`` wakes it (and resets the backoff).
    A 4xx stops the loop with ``status == "stopped"`` and the server's code in ``last``.
    """

    def __init__(
        self,
        store: EdgeStore,
        server_url: str,
        token: str,
        *,
        interval_s: float = 300.0,
        base_s: float = 1.0,
        cap_s: float = 300.0,
        rng: random.Random | None = None,
        on_pulled: Callable[[SyncReport], Awaitable[object]] | None = None,
        **client_kw: Any,
    ):
        self.client = SyncClient(store, server_url, token, **client_kw)
        #: Called after a sync that pulled changes (e.g. to schedule the steps it brought).
        self.on_pulled = on_pulled
        self.interval_s = interval_s
        self.base_s = base_s
        self.cap_s = cap_s
        self.rng = rng or random.Random()
        self.status = "idle"
        self.last: SyncReport | None = None
        self.failures = 0
        self.syncs = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self.status = "running"
            self._task = asyncio.get_running_loop().create_task(self._run())

    def notify_online(self) -> None:
        """The network came back: sync now, forget the backoff."""
        self.failures = 0
        self._wake.set()

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.client.aclose()
        if self.status == "running":
            self.status = "idle"

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
        self._wake.clear()

    async def _run(self) -> None:
        while True:
            try:
                self.last = await self.client.sync_once()
                self.syncs += 1
                self.failures = 0
                if self.last.pulled and self.on_pulled is not None:
                    await self.on_pulled(self.last)
                await self._sleep(self.interval_s)
            except SyncRefusedError as exc:
                self.last = SyncReport(status="refused", code=exc.code, detail=str(exc))
                self.status = "stopped"
                log.warning("sync stopped: %s", exc)
                return
            except SyncUnavailableError as exc:
                self.last = SyncReport(status="unavailable", detail=str(exc))
                delay = backoff_delay(self.failures, self.base_s, self.cap_s, self.rng)
                self.failures += 1
                log.info("sync unavailable (%s); retrying in %.1f s", exc, delay)
                await self._sleep(delay)
