"""The server's outreach library: execute a step through its channel, take provider webhooks.

A step is executed on the team's replica in two committed parts around the send: first the
rules are checked and the step moves to ``sending`` (pushed into the team's change log, so
every device sees it is taken), then the message goes out through the team's
:class:`~edge.channels.base.ChannelRouter`, then the outcome is recorded and pushed. The send
itself runs outside the replica's lock. A refusal is :class:`OutreachRejectedError` (409,
code ``rejected``, with the rule's ``reason``) and nothing is sent.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

import msgspec

from edge.channels.base import (
    ChannelRouter,
    Delivery,
    ManualChannel,
    Sender,
)
from edge.errors import NotFoundError as EdgeNotFoundError
from edge.errors import OutreachRefusedError
from edge.outreach import executor
from edge.runtime import EdgeRuntime
from server.auth import Principal
from server.errors import NotFoundError, ServerError, UnauthorizedError
from server.integrations.config import HighLevelConfig
from server.integrations.highlevel_outbound import MESSAGE_TYPES, HighLevelChannel
from server.outreach.config import OutreachConfig
from server.outreach.email import SmtpChannel
from server.outreach.provider import (
    DELIVERED_STATUSES,
    FAILED_STATUSES,
    SIGNATURE_HEADER,
    InboundMessage,
    ProviderChannel,
    StatusCallback,
    verify,
    webhook_decoder,
)
from server.team_replicas import TeamReplicas
from sync.changes import AnyChange
from sync.records import Channel, Event, InterventionStep, StepStatus

T = TypeVar("T")


class OutreachRejectedError(ServerError):
    """The outreach rules refuse the step now (``reason`` says which); nothing was sent."""

    status = 409
    code = "rejected"

    def __init__(self, detail: str, *, reason: str, path: str | None = None):
        super().__init__(detail, path=path)
        self.reason = reason


class Executed(msgspec.Struct, frozen=True, kw_only=True):
    """What became of a step, and the changes it made (as pushed to the team's log)."""

    step_id: str
    status: StepStatus
    delivery: Delivery | None = None
    event: Event | None = None
    outbox: list[AnyChange] = []


class WebhookResult(msgspec.Struct, frozen=True, kw_only=True):
    """What a provider callback did: the step or lead it touched."""

    type: str
    step_id: str | None = None
    step_status: StepStatus | None = None
    lead_id: str | None = None
    opted_out: bool = False
    paused_plans: list[str] = []


class OutreachService:
    """Channels per team from :class:`OutreachConfig`, over the teams' replicas."""

    def __init__(
        self,
        config: OutreachConfig,
        replicas: TeamReplicas,
        highlevel: HighLevelConfig | None = None,
    ):
        self.config = config
        self.replicas = replicas
        self.highlevel = highlevel

    def router(self, team: str) -> ChannelRouter:
        """E-mail through SMTP, SMS and WhatsApp through the provider, where configured; a
        HighLevel contact's messages through HighLevel when its token is configured."""
        senders: dict[Channel, Sender] = {}
        if self.config.smtp_host:
            senders[Channel.EMAIL] = SmtpChannel(self.config)
        if self.config.provider_url:
            provider = ProviderChannel(self.config, team)
            senders[Channel.SMS] = senders[Channel.WHATSAPP] = provider
        if self.highlevel is not None and self.highlevel.token:
            # HighLevel contacts through HighLevel (the CRM keeps the history); others as before
            for channel in MESSAGE_TYPES:
                senders[channel] = HighLevelChannel(self.highlevel, fallback=senders.get(channel))
        senders[Channel.CALL] = ManualChannel("the server cannot place calls")
        return ChannelRouter(senders, ManualChannel("the server has no adapter configured"))

    async def _run(self, team: str, fn: Callable[[EdgeRuntime], Awaitable[T]], path: str) -> T:
        try:
            return await self.replicas.run(team, fn)
        except EdgeNotFoundError as exc:
            raise NotFoundError(f"{exc} (in your partition)", path=path) from exc
        except OutreachRefusedError as exc:
            raise OutreachRejectedError(exc.detail, reason=exc.reason, path=path) from exc

    async def _with_outbox(
        self, team: str, fn: Callable[[EdgeRuntime], Awaitable[T]], path: str
    ) -> tuple[T, list[AnyChange]]:
        async def go(rt: EdgeRuntime) -> tuple[T, list[AnyChange]]:
            before = await rt.outbox_head()
            value = await fn(rt)
            rows = await rt.pending_changes(1000)
            return value, [c for c in rows if c.seq > before]

        return await self._run(team, go, path)

    async def execute(self, who: Principal, step_id: str) -> Executed:
        """Send ``step_id`` through the team's channel for it, at most once."""
        ins, first = await self._with_outbox(
            who.team, lambda rt: rt.begin_send(step_id), "$.step_id"
        )
        await self._claim(who.team, step_id)
        delivery = await executor.deliver(self.router(who.team), ins)
        done, second = await self._with_outbox(
            who.team, lambda rt: rt.finish_send(ins.step, delivery), "$.step_id"
        )
        return Executed(
            step_id=step_id,
            status=done.status,
            delivery=delivery,
            event=done.event,
            outbox=first + second,
        )

    async def _claim(self, team: str, step_id: str) -> None:
        """Take the step in the shared store before sending: one worker of all sends it.

        Each worker's replica serialises its own sends; two workers (a retried request the
        load balancer sent elsewhere) could both find the step due before either's
        ``sending`` mark reached the other. The claim is a lease that never expires.
        """
        store, now = self.replicas.service.store, self.replicas.service.config.clock()
        holder, forever = uuid.uuid4().hex, 100 * 365 * 24 * 3600 * 1000
        name = f"send:{team}:{step_id}"
        if not await store.write(lambda tx: tx.take_lease(name, holder, now, forever)):
            raise OutreachRejectedError(
                f"step {step_id!r} is being sent by another worker",
                reason="not_pending",
                path="$.step_id",
            )

    async def complete(self, who: Principal, step_id: str) -> Executed:
        """The agent reached the lead by hand: checked by the same rules, then recorded."""
        event, outbox = await self._with_outbox(
            who.team, lambda rt: rt.complete_step(step_id), "$.step_id"
        )
        return Executed(step_id=step_id, status=StepStatus.DONE, event=event, outbox=outbox)

    async def webhook(self, team: str, body: bytes, signature: str | None) -> WebhookResult:
        """A provider callback: verified first (nothing is read or written unsigned)."""
        now_s = self.replicas.service.config.clock() / 1000
        if not verify(self.config.webhook_secret, body, signature, team=team, now_s=now_s):
            why = (
                "no webhook secret is configured"
                if not self.config.webhook_secret
                else "missing, stale or bad X-Signature (t=<unix s>,v1=<HMAC of t.team.body>)"
            )
            raise UnauthorizedError(
                f"provider webhook refused: {why}", path=f"header.{SIGNATURE_HEADER.lower()}"
            )
        from server.errors import InvalidRequestError, path_in

        try:
            message = webhook_decoder.decode(body)
        except msgspec.ValidationError as exc:
            raise InvalidRequestError(str(exc), path=path_in(str(exc))) from exc
        except msgspec.DecodeError as exc:
            raise InvalidRequestError(f"not JSON: {exc}", path="$") from exc
        match message:
            case StatusCallback():
                return await self._status(team, message)
            case InboundMessage():
                return await self._inbound(team, message)
        raise AssertionError(message)  # pragma: no cover - the union is closed

    async def _status(self, team: str, cb: StatusCallback) -> WebhookResult:
        status = cb.status.lower()
        if status not in FAILED_STATUSES | DELIVERED_STATUSES:
            return WebhookResult(type="status", step_id=cb.reference)  # queued, sent: no news
        detail = f"provider {cb.message_id}: {status}" + (f" ({cb.error})" if cb.error else "")

        async def go(rt: EdgeRuntime) -> InterventionStep:
            return await rt.record_delivery(cb.reference, status in DELIVERED_STATUSES, detail)

        step = await self._run(team, go, "$.reference")
        return WebhookResult(type="status", step_id=step.id, step_status=step.status)

    async def _inbound(self, team: str, msg: InboundMessage) -> WebhookResult:
        async def go(rt: EdgeRuntime) -> executor.Inbound:
            lead = await rt.find_lead(msg.channel, msg.from_)
            return await rt.record_inbound(
                lead.id, msg.channel, msg.body, message_id=msg.message_id
            )

        got = await self._run(team, go, "$.from")
        return WebhookResult(
            type="inbound",
            lead_id=got.lead_id,
            opted_out=got.opted_out,
            paused_plans=got.paused_plans,
        )
