"""The channel interface: ``send(step, message) -> Delivery``, and the manual fallback.

A channel adapter hands one step's message to something that reaches the lead (the phone's
SMS app, an SMTP server, a provider's HTTP API) and says honestly what happened, as a
:class:`Delivery`: ``sent`` (accepted by the channel), ``failed`` (certainly not sent),
``unknown`` (the request may have gone: never retried by itself), or ``manual`` (nothing was
sent; the agent must do it by hand, and the detail says why). An adapter never raises for a
refusal of the channel; the executor treats an exception as ``unknown``.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Protocol

import msgspec

from sync.records import Channel, InterventionStep


class DeliveryStatus(StrEnum):
    SENT = "sent"
    FAILED = "failed"
    UNKNOWN = "unknown"
    MANUAL = "manual"


class OutboundMessage(msgspec.Struct, frozen=True, kw_only=True):
    """What to send and where: the step's drafted text, to the lead's address for its channel."""

    step_id: str
    lead_id: str
    lead_name: str
    channel: Channel
    to: str  # phone number (E.164 or as typed) or e-mail address
    text: str
    language: str = "en"
    subject: str = ""


class Delivery(msgspec.Struct, frozen=True, kw_only=True):
    """What a channel did with one message."""

    status: DeliveryStatus
    channel: Channel
    #: The channel's words: provider message id, SMTP answer, error, or the manual task.
    detail: str = ""
    #: The provider's id for the message, when it gave one (delivery callbacks carry it).
    provider_id: str = ""


class Sender(Protocol):
    """A channel adapter."""

    async def send(self, step: InterventionStep, message: OutboundMessage) -> Delivery: ...


class ManualChannel:
    """No adapter can send this: the step becomes a task for the agent, and says so."""

    def __init__(self, why: str = "no channel adapter is configured"):
        self.why = why

    async def send(self, step: InterventionStep, message: OutboundMessage) -> Delivery:
        return Delivery(
            status=DeliveryStatus.MANUAL,
            channel=step.channel,
            detail=f"not sent: {self.why} for {step.channel}; send it to {message.to} by hand",
        )


class ChannelRouter:
    """One adapter per channel; channels without one fall back to :class:`ManualChannel`."""

    def __init__(self, senders: Mapping[Channel, Sender], fallback: Sender | None = None):
        self.senders = dict(senders)
        self.fallback = fallback or ManualChannel()

    async def send(self, step: InterventionStep, message: OutboundMessage) -> Delivery:
        return await self.senders.get(step.channel, self.fallback).send(step, message)
