"""A stand-in for HighLevel's API on a loopback port, for the demo and the tests.

It answers ``POST /conversations/messages`` as HighLevel's documentation says: 401 without the
bearer token, 400 without the ``Version`` header or with a bad body, 422 for an unknown
contact, 429 with ``Retry-After`` while ``rate_limited`` > 0 (counting down), else 201
``{"conversationId", "messageId", "msg"}``. Every request is recorded, headers included.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from typing import Any

import msgspec

from server.integrations.highlevel_outbound import SendMessage
from server.outreach.standin import serve_loopback

MESSAGE_TYPES = {"SMS", "Email", "WhatsApp", "GMB", "IG", "FB", "Custom", "Live_Chat"}


class HighLevelStandIn:
    """What the stand-in received, and how it answers."""

    def __init__(self, token: str, contacts: set[str]):
        self.token = token
        self.contacts = contacts
        self.url = ""
        #: (path, headers, body) of every request, in order.
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.accepted: list[SendMessage] = []
        #: Answer this many next requests 429 (with ``retry_after``).
        self.rate_limited = 0
        self.retry_after = "0"
        #: Answer every request with this status and body instead.
        self.answer_with: tuple[int, bytes] | None = None
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def answer(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any, dict]:
        with self._lock:
            self.requests.append((path, headers, body))
            if self.answer_with is not None:
                return self.answer_with[0], self.answer_with[1], {}
            if path != "/conversations/messages":
                return 404, {"statusCode": 404, "message": f"Cannot POST {path}"}, {}
            if headers.get("authorization") != f"Bearer {self.token}":
                return 401, {"statusCode": 401, "message": "Invalid JWT"}, {}
            if not headers.get("version"):
                return 400, {"statusCode": 400, "message": "version header was not found"}, {}
            if self.rate_limited > 0:
                self.rate_limited -= 1
                return (
                    429,
                    {"statusCode": 429, "message": "Too Many Requests"},
                    {"retry-after": self.retry_after},
                )
            try:
                message = msgspec.json.decode(body, type=SendMessage)
            except msgspec.MsgspecError as exc:
                return 400, {"statusCode": 400, "message": [str(exc)]}, {}
            if message.type not in MESSAGE_TYPES:
                return 400, {"statusCode": 400, "message": ["type must be a valid enum value"]}, {}
            if message.contact_id not in self.contacts:
                return 422, {"statusCode": 422, "message": "Contact not found"}, {}
            self.accepted.append(message)
            n = next(self._ids)
            return (
                201,
                {
                    "conversationId": f"conv{message.contact_id[:8]}",
                    "messageId": f"msg{n:06d}",
                    "msg": "Message queued successfully.",
                },
                {},
            )


def _handler(state: HighLevelStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, answer, extra = state.answer(self.path, headers, body)
            data = answer if isinstance(answer, bytes) else msgspec.json.encode(answer)
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler


@contextmanager
def run_highlevel(
    token: str = "pit-test-token", contacts: set[str] | None = None
) -> Iterator[HighLevelStandIn]:
    """Serve a :class:`HighLevelStandIn` on a free loopback port until the block ends."""
    state = HighLevelStandIn(token, contacts or set())
    with serve_loopback(_handler(state)) as url:
        state.url = url
        yield state
