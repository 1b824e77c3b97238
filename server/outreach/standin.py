"""A stand-in for the SMS/WhatsApp provider on a loopback port, for the demo and the tests.

It speaks the API :class:`~server.outreach.provider.ProviderChannel` posts to
(``POST /messages`` with HTTP Basic credentials), records every message it accepts, and calls
the server's webhook back like a provider would: a signed ``status`` callback after each
accepted message (``callback_status``, e.g. ``delivered``), and signed ``inbound`` messages on
demand (:meth:`ProviderStandIn.inbound`). ``hold`` makes it record a message and then wait
before answering (the window in which a sender can be killed after the provider accepted).
"""

from __future__ import annotations

import base64
import itertools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import msgspec

from server.outreach.provider import SIGNATURE_HEADER, SendRequest, sign


class ProviderStandIn:
    """State of one stand-in: what it received, and how it answers."""

    def __init__(self, account: str, token: str, secret: str):
        self.account = account
        self.token = token
        self.secret = secret
        self.url = ""
        #: Where callbacks go (a provider's account-level webhook setting); "" = nowhere.
        self.webhook_url = ""
        self.callback_status = "delivered"
        #: The clock its webhook calls are signed by (epoch ms; None: now): the server's, when
        #: the server runs on a fixed clock (the tests, the demo).
        self.clock: Callable[[], int] | None = None
        self.messages: list[SendRequest] = []
        self.callbacks: list[tuple[int, dict[str, Any]]] = []
        self.accepted = threading.Event()
        self.hold = False
        #: Answer every message with this status and raw body instead (after recording it).
        self.answer_with: tuple[int, bytes] | None = None
        self._release = threading.Event()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def release(self) -> None:
        self._release.set()

    def _authorized(self, header: str | None) -> bool:
        want = base64.b64encode(f"{self.account}:{self.token}".encode()).decode()
        return header == f"Basic {want}"

    def _accept(self, body: bytes) -> tuple[int, dict[str, Any]]:
        try:
            message = msgspec.json.decode(body, type=SendRequest)
        except msgspec.MsgspecError as exc:
            return 400, {"error": str(exc)}
        with self._lock:
            self.messages.append(message)
            message_id = f"SM{next(self._ids):06d}"
        self.accepted.set()
        if self.hold:
            self._release.wait(timeout=60)
        if self.webhook_url and self.callback_status:
            threading.Thread(
                target=self._status, args=(message_id, message.reference), daemon=True
            ).start()
        return 201, {"id": message_id, "status": "queued"}

    def post(self, payload: dict[str, Any], secret: str | None = None) -> int:
        """Sign ``payload`` and post it to the webhook; the status code it got."""
        body = msgspec.json.encode(payload)
        headers = {"content-type": "application/json"}
        if secret != "":
            team = self.webhook_url.rstrip("/").rsplit("/", 1)[-1]
            key = self.secret if secret is None else secret
            headers[SIGNATURE_HEADER] = sign(key, body, team=team, at_s=self.signed_at())
        answer = httpx.post(self.webhook_url, content=body, headers=headers, timeout=30)
        with self._lock:
            self.callbacks.append((answer.status_code, payload))
        return answer.status_code

    def signed_at(self) -> int | None:
        """The time a webhook call signs now (Unix s; None: the wall clock)."""
        return None if self.clock is None else self.clock() // 1000

    def _status(self, message_id: str, reference: str) -> None:
        self.post(
            {
                "type": "status",
                "message_id": message_id,
                "reference": reference,
                "status": self.callback_status,
            }
        )

    def inbound(self, sender: str, body: str, channel: str = "sms", message_id: str = "") -> int:
        """A lead writes ``body`` from ``sender``: the provider tells the server."""
        mid = message_id or f"IN{next(self._ids):06d}"
        return self.post(
            {
                "type": "inbound",
                "message_id": mid,
                "from": sender,
                "to": "+15550000000",
                "channel": channel,
                "body": body,
            }
        )


def _handler(state: ProviderStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            if self.path != "/messages":
                status, answer = 404, {"error": f"no route {self.path}"}
            elif not state._authorized(self.headers.get("authorization")):
                status, answer = 401, {"error": "bad credentials"}
            else:
                status, answer = state._accept(body)
            data = msgspec.json.encode(answer)
            if state.answer_with is not None and status == 201:
                status, data = state.answer_with
            try:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the sender is gone (killed, or it timed out): the message was recorded

    return Handler


@contextmanager
def run_provider(
    account: str = "AC-test", token: str = "tok-test", secret: str = "whsec-test"
) -> Iterator[ProviderStandIn]:
    """Serve a :class:`ProviderStandIn` on a free loopback port until the block ends."""
    state = ProviderStandIn(account, token, secret)
    with serve_loopback(_handler(state)) as url:
        state.url = url
        try:
            yield state
        finally:
            state.release()


@contextmanager
def serve_loopback(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve ``handler`` on a free loopback port in a thread; yield its base URL."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
