"""SMS and WhatsApp through one provider HTTP API, and the provider's signed webhooks.

The adapter is shaped like the common providers' message APIs: ``POST {provider_url}/messages``
with HTTP Basic credentials (account id, API token) and a JSON body
``{"from", "to", "channel": "sms"|"whatsapp", "body", "reference", "status_callback"}``;
the provider answers ``201 {"id", "status"}``. ``reference`` is the step id, echoed by the
delivery-status callbacks. The provider calls the server back on ``status_callback`` with a
JSON body signed with the shared secret: header ``X-Signature: sha256=<hex HMAC-SHA256 of the
raw body>``; :func:`verify` checks it in constant time.

Outcomes: the provider never reached (connection refused, connect timeout) or a 4xx answer is
``failed``; a request that may have arrived without a clear answer (read timeout, connection
lost, a 5xx) is ``unknown``, never retried by itself.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Annotated

import httpx
import msgspec
from msgspec import Meta

from edge.channels.base import Delivery, DeliveryStatus, OutboundMessage
from server.outreach.config import OutreachConfig
from sync.records import Channel, InterventionStep

SIGNATURE_HEADER = "X-Signature"
_Short = Annotated[str, Meta(max_length=200)]


#: How far a webhook's signed time may be from the server's clock (seconds), either way.
SIGNATURE_TOLERANCE_S = 300


def _mac(secret: str, at_s: int, team: str, body: bytes) -> str:
    signed = f"{at_s}.{team}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, *, team: str, at_s: int | None = None) -> str:
    """The signature header value for ``body`` sent to ``team``'s webhook at ``at_s`` (Unix
    seconds; default now): ``t=<at_s>,v1=<hex HMAC-SHA256(secret, "<at_s>.<team>." + body)>``.

    The time and the team are signed with the body, so a captured callback cannot be replayed
    later (outside :data:`SIGNATURE_TOLERANCE_S`) nor to another team's webhook."""
    at = int(time.time()) if at_s is None else at_s
    return f"t={at},v1={_mac(secret, at, team, body)}"


def verify(
    secret: str, body: bytes, header: str | None, *, team: str, now_s: float | None = None
) -> bool:
    """Whether ``header`` is a fresh signature of ``body`` for ``team`` with ``secret`` (False
    without a secret, on a malformed header, or a time too far from ``now_s``)."""
    if not secret or not header or not header.isascii():
        return False  # compare_digest refuses non-ASCII text (a header of anyone's choosing)
    parts = dict(p.split("=", 1) for p in header.strip().split(",") if "=" in p)
    at, mac = parts.get("t", ""), parts.get("v1", "")
    if not at.isdigit() or not mac:
        return False
    now = time.time() if now_s is None else now_s
    if abs(now - int(at)) > SIGNATURE_TOLERANCE_S:
        return False
    return hmac.compare_digest(_mac(secret, int(at), team, body), mac)


class SendRequest(msgspec.Struct, frozen=True, kw_only=True, rename={"from_": "from"}):
    """The body the adapter posts to the provider."""

    from_: str
    to: str
    channel: str
    body: str
    reference: str
    status_callback: str = ""


class SendAnswer(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    status: str = "queued"


class StatusCallback(msgspec.Struct, tag="status", tag_field="type", frozen=True, kw_only=True):
    """The provider says what became of a message: ``delivered``, ``failed``, ..."""

    message_id: _Short
    reference: _Short
    status: _Short
    error: _Short = ""


class InboundMessage(
    msgspec.Struct,
    tag="inbound",
    tag_field="type",
    frozen=True,
    kw_only=True,
    rename={"from_": "from"},
):
    """A lead wrote to one of the brokerage's numbers."""

    message_id: _Short
    from_: _Short
    to: _Short = ""
    channel: Channel = Channel.SMS
    body: Annotated[str, Meta(max_length=20_000)] = ""


WebhookBody = StatusCallback | InboundMessage
webhook_decoder = msgspec.json.Decoder(WebhookBody)
#: Provider statuses that mean the message did not reach the lead.
FAILED_STATUSES = frozenset({"failed", "undelivered", "rejected", "expired"})
#: Provider statuses that mean it did.
DELIVERED_STATUSES = frozenset({"delivered", "read"})


class ProviderChannel:
    """SMS and WhatsApp through the provider's message API (see the module docstring)."""

    def __init__(
        self,
        config: OutreachConfig,
        team_id: str,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        if not config.provider_url:
            raise ValueError("SMS and WhatsApp need provider_url")
        self.config = config
        self.team_id = team_id
        self._transport = transport

    def callback_url(self) -> str:
        base = self.config.public_url.rstrip("/")
        return f"{base}/api/v1/outreach/webhook/{self.team_id}" if base else ""

    async def send(self, step: InterventionStep, message: OutboundMessage) -> Delivery:
        cfg = self.config
        sender = cfg.whatsapp_from if step.channel is Channel.WHATSAPP else cfg.sms_from
        if step.channel not in (Channel.SMS, Channel.WHATSAPP):
            return Delivery(
                status=DeliveryStatus.MANUAL,
                channel=step.channel,
                detail=f"the provider does not carry {step.channel}",
            )
        body = SendRequest(
            from_=sender,
            to=message.to,
            channel=step.channel.value,
            body=message.text,
            reference=step.id,
            status_callback=self.callback_url(),
        )
        url = f"{cfg.provider_url.rstrip('/')}/messages"

        def done(status: DeliveryStatus, detail: str, provider_id: str = "") -> Delivery:
            return Delivery(
                status=status, channel=step.channel, detail=detail, provider_id=provider_id
            )

        try:
            async with httpx.AsyncClient(
                transport=self._transport,
                timeout=cfg.provider_timeout_s,
                auth=(cfg.provider_account, cfg.provider_token),
            ) as http:
                answer = await http.post(
                    url,
                    content=msgspec.json.encode(body),
                    headers={"content-type": "application/json"},
                )
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            return done(DeliveryStatus.FAILED, f"provider {url} not reached: {exc!r}")
        except httpx.HTTPError as exc:
            return done(DeliveryStatus.UNKNOWN, f"provider {url} gave no answer: {exc!r}")
        if answer.status_code >= 500:
            return done(
                DeliveryStatus.UNKNOWN,
                f"provider {url} answered {answer.status_code}: {answer.text[:200]}",
            )
        if answer.status_code >= 400:
            return done(
                DeliveryStatus.FAILED,
                f"provider {url} refused: {answer.status_code} {answer.text[:200]}",
            )
        try:
            got = msgspec.json.decode(answer.content, type=SendAnswer)
        except msgspec.MsgspecError as exc:
            return done(
                DeliveryStatus.UNKNOWN, f"provider {url} answered {exc}: {answer.text[:200]}"
            )
        return done(
            DeliveryStatus.SENT, f"accepted by the provider as {got.id} ({got.status})", got.id
        )
