"""Outreach through HighLevel's conversations API, so it shows in the brokerage's CRM history.

``POST {api_url}/conversations/messages`` with ``Authorization: Bearer <token>`` and
``Version: 2021-04-15``, body ``{"type": "SMS"|"Email"|"WhatsApp", "contactId", "message"}``
(``subject`` for e-mail); HighLevel answers 200/201 ``{"conversationId", "messageId", "msg"}``.
The contact is the lead's HighLevel contact (a lead ``hl-<contact id>``, made by the webhook or
a HighLevel CSV import); any other lead goes to ``fallback`` (the SMTP or provider adapter,
or a task for the agent).

Rate limits: a 429 is waited out (``Retry-After`` seconds, at most ``max_retry_after_s``) up
to ``max_retries`` times, then the send is ``failed``. As for the other adapters: HighLevel not
reached or a 4xx is ``failed``; a request that may have arrived without a clear answer (read
timeout, connection lost, a 5xx) is ``unknown``, never retried by itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from email.utils import parsedate_to_datetime
from typing import Annotated

import httpx
import msgspec
from msgspec import Meta

from edge.channels.base import Delivery, DeliveryStatus, ManualChannel, OutboundMessage, Sender
from server.integrations.config import HighLevelConfig
from server.integrations.highlevel import contact_id_of
from sync.records import Channel, InterventionStep

#: Our channels to HighLevel's message types.
MESSAGE_TYPES = {Channel.SMS: "SMS", Channel.EMAIL: "Email", Channel.WHATSAPP: "WhatsApp"}
_Short = Annotated[str, Meta(max_length=200)]


class SendMessage(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True):
    """The body posted to ``/conversations/messages``."""

    type: str
    contact_id: str
    message: str
    subject: str = ""


class SendAnswer(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    conversation_id: _Short = ""
    message_id: _Short = ""
    msg: Annotated[str, Meta(max_length=2000)] = ""


def retry_after_s(header: str | None, default: float = 1.0) -> float:
    """Seconds from a ``Retry-After`` header (seconds or an HTTP date); ``default`` if none."""
    if not header:
        return default
    try:
        return max(0.0, float(header))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return default
    from datetime import UTC, datetime

    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


class HighLevelChannel:
    """SMS, e-mail and WhatsApp through HighLevel (see the module docstring)."""

    def __init__(
        self,
        config: HighLevelConfig,
        fallback: Sender | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ):
        if not config.token:
            raise ValueError("sending through HighLevel needs its token")
        self.config = config
        self.fallback = fallback or ManualChannel("not a HighLevel contact and no other adapter")
        self._transport = transport
        self._sleep = sleep

    async def send(self, step: InterventionStep, message: OutboundMessage) -> Delivery:
        kind = MESSAGE_TYPES.get(step.channel)
        contact = contact_id_of(message.lead_id)
        if kind is None or contact is None:
            return await self.fallback.send(step, message)
        cfg = self.config
        url = f"{cfg.api_url.rstrip('/')}/conversations/messages"
        body = msgspec.json.encode(
            SendMessage(
                type=kind,
                contact_id=contact,
                message=message.text,
                subject=message.subject if step.channel is Channel.EMAIL else "",
            )
        )
        headers = {
            "authorization": f"Bearer {cfg.token}",
            "version": cfg.api_version,
            "content-type": "application/json",
            "accept": "application/json",
        }

        def done(status: DeliveryStatus, detail: str, provider_id: str = "") -> Delivery:
            return Delivery(
                status=status, channel=step.channel, detail=detail, provider_id=provider_id
            )

        async with httpx.AsyncClient(transport=self._transport, timeout=cfg.timeout_s) as http:
            for attempt in range(cfg.max_retries + 1):
                try:
                    answer = await http.post(url, content=body, headers=headers)
                except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                    return done(DeliveryStatus.FAILED, f"HighLevel {url} not reached: {exc!r}")
                except httpx.HTTPError as exc:
                    return done(DeliveryStatus.UNKNOWN, f"HighLevel {url} gave no answer: {exc!r}")
                if answer.status_code != 429:
                    break
                wait = retry_after_s(answer.headers.get("retry-after"))
                if attempt == cfg.max_retries or wait > cfg.max_retry_after_s:
                    return done(
                        DeliveryStatus.FAILED,
                        f"HighLevel rate limit: 429 after {attempt + 1} attempt(s) "
                        f"(Retry-After {answer.headers.get('retry-after')!r})",
                    )
                await self._sleep(wait)
        if answer.status_code >= 500:
            return done(
                DeliveryStatus.UNKNOWN,
                f"HighLevel answered {answer.status_code}: {answer.text[:200]}",
            )
        if answer.status_code >= 400:
            return done(
                DeliveryStatus.FAILED,
                f"HighLevel refused: {answer.status_code} {answer.text[:200]}",
            )
        try:
            got = msgspec.json.decode(answer.content, type=SendAnswer)
        except msgspec.MsgspecError as exc:
            return done(DeliveryStatus.UNKNOWN, f"HighLevel answered {exc}: {answer.text[:200]}")
        return done(
            DeliveryStatus.SENT,
            f"accepted by HighLevel as {got.message_id} in conversation {got.conversation_id}",
            got.message_id,
        )
