"""HighLevel's webhook payloads, as its documentation shows them (camelCase JSON).

Only the fields this server reads are declared; the rest are ignored, and a field HighLevel
leaves out or sends as ``null`` is absent. Sources: marketplace.gohighlevel.com/docs/webhook/
(ContactCreate, ContactUpdate, ContactDelete, ContactDndUpdate, InboundMessage, OutboundMessage,
AppointmentCreate, AppointmentUpdate, AppointmentDelete, OpportunityStatusUpdate) and the
Webhook Integration Guide (``webhookId``, the ``X-GHL-Signature`` Ed25519 signature).
"""

from __future__ import annotations

from enum import StrEnum

import msgspec


class EventKind(StrEnum):
    """The ``type`` values this server acts on; any other is answered ``ignored``."""

    CONTACT_CREATE = "ContactCreate"
    CONTACT_UPDATE = "ContactUpdate"
    CONTACT_DELETE = "ContactDelete"
    CONTACT_DND_UPDATE = "ContactDndUpdate"
    INBOUND_MESSAGE = "InboundMessage"
    OUTBOUND_MESSAGE = "OutboundMessage"
    APPOINTMENT_CREATE = "AppointmentCreate"
    APPOINTMENT_UPDATE = "AppointmentUpdate"
    APPOINTMENT_DELETE = "AppointmentDelete"
    OPPORTUNITY_STATUS_UPDATE = "OpportunityStatusUpdate"


class _Payload(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    pass


class Envelope(_Payload, frozen=True, kw_only=True, rename="camel"):
    """What every delivery has: its type, its location and (usually) its delivery id."""

    type: str = ""
    location_id: str | None = None
    webhook_id: str | None = None


class DndChannel(_Payload, frozen=True, kw_only=True, rename="camel"):
    """One channel of ``dndSettings``: ``status`` ``active`` means do not disturb."""

    status: str | None = None
    message: str | None = None
    code: str | None = None


class Contact(_Payload, frozen=True, kw_only=True, rename="camel"):
    """ContactCreate, ContactUpdate, ContactDelete and ContactDndUpdate."""

    type: str
    location_id: str
    id: str
    first_name: str | None = None
    last_name: str | None = None
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    source: str | None = None
    country: str | None = None
    timezone: str | None = None
    tags: list[str] | None = None
    date_added: str | None = None
    date_updated: str | None = None
    assigned_to: str | None = None
    dnd: bool | None = None
    dnd_settings: dict[str, DndChannel] | None = None


class Message(_Payload, frozen=True, kw_only=True, rename="camel"):
    """InboundMessage and OutboundMessage (SMS, Email, WhatsApp, Call, ...)."""

    type: str
    location_id: str
    contact_id: str
    message_id: str | None = None
    conversation_id: str | None = None
    body: str | None = None
    message_type: str | None = None
    direction: str | None = None
    date_added: str | None = None
    user_id: str | None = None
    call_duration: float | None = None


class Appointment(_Payload, frozen=True, kw_only=True, rename="camel"):
    id: str
    contact_id: str | None = None
    assigned_user_id: str | None = None
    appointment_status: str | None = None
    start_time: str | None = None
    date_added: str | None = None
    title: str | None = None


class AppointmentEvent(_Payload, frozen=True, kw_only=True, rename="camel"):
    """AppointmentCreate, AppointmentUpdate and AppointmentDelete."""

    type: str
    location_id: str
    appointment: Appointment


class Opportunity(_Payload, frozen=True, kw_only=True, rename="camel"):
    """OpportunityStatusUpdate: ``status`` is ``open``, ``won``, ``lost`` or ``abandoned``."""

    type: str
    location_id: str
    id: str
    contact_id: str
    status: str
    assigned_to: str | None = None
    monetary_value: float | None = None
    name: str | None = None
    date_added: str | None = None


PAYLOAD_TYPES: dict[EventKind, type[_Payload]] = {
    EventKind.CONTACT_CREATE: Contact,
    EventKind.CONTACT_UPDATE: Contact,
    EventKind.CONTACT_DELETE: Contact,
    EventKind.CONTACT_DND_UPDATE: Contact,
    EventKind.INBOUND_MESSAGE: Message,
    EventKind.OUTBOUND_MESSAGE: Message,
    EventKind.APPOINTMENT_CREATE: AppointmentEvent,
    EventKind.APPOINTMENT_UPDATE: AppointmentEvent,
    EventKind.APPOINTMENT_DELETE: AppointmentEvent,
    EventKind.OPPORTUNITY_STATUS_UPDATE: Opportunity,
}


class WebhookAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """What the server did with one delivery.

    ``status``: ``applied`` (written into the team's partition), ``duplicate`` (this delivery
    id was applied before: nothing written), ``ignored`` (a type this server does not act on).
    """

    status: str
    type: str
    delivery_id: str
    team: str | None = None
    lead_id: str | None = None
    #: Changes added to the team's log (0 for a duplicate or an ignored delivery).
    changes: int = 0
