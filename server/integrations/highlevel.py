"""HighLevel's webhooks into a team's partition: verify, deduplicate, map, write.

A delivery is checked first (the Ed25519 signature in ``X-GHL-Signature``, base64, over the
raw body, with HighLevel's public key; nothing else is read before it passes), then its
location names the team (configuration), then it becomes our records:

==========================  ================================================================
HighLevel                   records in the team's partition
==========================  ================================================================
ContactCreate / Update      the lead ``hl-<contact id>`` (name, e-mail, phone, source, agent)
ContactDelete               a tombstone of that lead
ContactDndUpdate, ``dnd``   consent revoked for each channel under DND (all for ``dnd: true``)
                            and an ``opt_out`` event per channel revoked; DND lifted grants
                            nothing (consent is never assumed)
InboundMessage              a ``message_in`` event (``call_in`` for calls) on its channel
OutboundMessage             a ``message_out`` event (``call_out`` for calls)
AppointmentCreate / Update  a ``showing_booked`` event; ``showed`` adds ``showing_attended``;
                            ``cancelled``, ``noshow``, ``invalid`` delete the booking
AppointmentDelete           the booking deleted
OpportunityStatusUpdate     the lead's status (won: converted, with a ``deal_closed`` event
                            of the monetary value; lost or abandoned: lost; open: active)
==========================  ================================================================

A message, appointment or opportunity of a contact the team does not have yet creates the lead
with what the delivery says (its agent from ``userId``/``assignedTo`` or the location's
default agent). Every write is one transaction that also notes the delivery id
(``webhookId``; without one, the SHA-256 of the body, which a redelivery repeats), so a
redelivery changes nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from prometheus_client import Counter

from server.errors import InvalidRequestError, MalformedBodyError, UnauthorizedError, path_in
from server.integrations.config import HighLevelConfig, HighLevelLocation
from server.integrations.fields import email_address, epoch_ms, phone_e164, record_id
from server.integrations.highlevel_types import (
    PAYLOAD_TYPES,
    Appointment,
    AppointmentEvent,
    Contact,
    Envelope,
    EventKind,
    Message,
    Opportunity,
    WebhookAnswer,
)
from server.integrations.writer import Current, Delete, Op, PartitionWriter, Upsert
from server.service import SyncService
from sync.records import OUTREACH_CHANNELS, Channel, EventType, LeadStatus

SOURCE = "highlevel"
SIGNATURE_HEADER = "X-GHL-Signature"
SIGNATURE_PATH = "header.x-ghl-signature"
DELIVERIES = Counter(
    "realty_edge_highlevel_deliveries", "HighLevel webhook deliveries, by result", ["result"]
)
_envelope = msgspec.json.Decoder(Envelope)
#: HighLevel's channel names (``messageType``, ``dndSettings`` keys) to ours.
CHANNELS = {"sms": Channel.SMS, "email": Channel.EMAIL, "whatsapp": Channel.WHATSAPP}
CHANNELS_WITH_CALL = {**CHANNELS, "call": Channel.CALL, "livechat": Channel.WEB}
_CANCELLED = {"cancelled", "canceled", "noshow", "invalid"}


def lead_id(contact_id: str) -> str:
    """Our lead id for a HighLevel contact id."""
    return record_id("hl", contact_id)


def contact_id_of(lead: str) -> str | None:
    """The HighLevel contact id of a lead made from one (``hl-<id>``); None otherwise."""
    return lead[3:] if lead.startswith("hl-") and len(lead) > 3 else None


def verify_signature(key: Ed25519PublicKey | None, body: bytes, header: str | None) -> None:
    """Raise :class:`UnauthorizedError` unless ``header`` is ``body``'s Ed25519 signature."""
    if key is None:
        raise UnauthorizedError(
            "no HighLevel public key is configured (REALTY_EDGE_HIGHLEVEL_PUBLIC_KEY): "
            "every delivery is refused",
            path=SIGNATURE_PATH,
        )
    if not header or not header.strip():
        raise UnauthorizedError(f"{SIGNATURE_HEADER} is missing", path=SIGNATURE_PATH)
    try:
        signature = base64.b64decode(header.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise UnauthorizedError(f"{SIGNATURE_HEADER} is not base64", path=SIGNATURE_PATH) from None
    try:
        key.verify(signature, body)
    except InvalidSignature:
        raise UnauthorizedError(
            f"{SIGNATURE_HEADER} is not HighLevel's signature of this body", path=SIGNATURE_PATH
        ) from None


def _channel(name: str | None, table: dict[str, Channel]) -> Channel | None:
    key = (name or "").strip().lower().removeprefix("type_").replace("_", "").replace(" ", "")
    return table.get(key)


def _time(raw: str | None, path: str, default: int) -> int:
    if not raw:
        return default
    try:
        return epoch_ms(raw)
    except ValueError as exc:
        raise InvalidRequestError(str(exc), path=path) from None


class HighLevelService:
    """Takes HighLevel's webhook deliveries into the teams' partitions."""

    def __init__(self, config: HighLevelConfig, sync: SyncService):
        self.config = config
        self.key = config.key()
        self.sync = sync
        self.writer = PartitionWriter(sync, SOURCE)
        #: Deliveries answered, by result (``applied``, ``duplicate``, ``ignored``).
        self.counts: dict[str, int] = {"applied": 0, "duplicate": 0, "ignored": 0}

    def _count(self, answer: WebhookAnswer) -> WebhookAnswer:
        self.counts[answer.status] = self.counts.get(answer.status, 0) + 1
        DELIVERIES.labels(answer.status).inc()
        return answer

    async def deliver(self, body: bytes, signature: str | None) -> WebhookAnswer:
        """Verify and apply one delivery (see the module docstring)."""
        verify_signature(self.key, body, signature)
        try:
            envelope = _envelope.decode(body)
        except msgspec.ValidationError as exc:
            raise InvalidRequestError(f"delivery refused: {exc}", path=path_in(str(exc))) from None
        except msgspec.DecodeError as exc:
            raise MalformedBodyError(f"the body is not JSON: {exc}") from None
        delivery = envelope.webhook_id or "sha256:" + hashlib.sha256(body).hexdigest()
        try:
            kind = EventKind(envelope.type)
        except ValueError:
            return self._count(
                WebhookAnswer(status="ignored", type=envelope.type, delivery_id=delivery)
            )
        try:
            payload: Any = msgspec.json.decode(body, type=PAYLOAD_TYPES[kind])
        except msgspec.ValidationError as exc:
            raise InvalidRequestError(
                f"{kind.value} refused: {exc}", path=path_in(str(exc))
            ) from None
        location = self.config.locations.get(payload.location_id)
        if location is None:
            raise InvalidRequestError(
                f"location {payload.location_id!r} is not configured "
                "(REALTY_EDGE_HIGHLEVEL_LOCATIONS): no team to write it to",
                path="$.locationId",
            )
        now = self.sync.config.clock()
        contact = self._contact_of(payload)
        lead = lead_id(contact)
        keys = [("lead", lead)]
        if isinstance(payload, AppointmentEvent):
            keys.append(("event", record_id("hl-appt", payload.appointment.id)))

        def build(current: Current) -> list[Op]:
            return _Mapper(location, kind, payload, lead, current, now).ops()

        written = await self.writer.write(location.team, keys, build, delivery_id=delivery)
        return self._count(
            WebhookAnswer(
                status="duplicate" if written.duplicate else "applied",
                type=kind.value,
                delivery_id=delivery,
                team=location.team,
                lead_id=lead,
                changes=written.changes,
            )
        )

    @staticmethod
    def _contact_of(payload: Any) -> str:
        if isinstance(payload, Contact):
            return payload.id
        if isinstance(payload, AppointmentEvent):
            if not payload.appointment.contact_id:
                raise InvalidRequestError(
                    "the appointment names no contact", path="$.appointment.contactId"
                )
            return payload.appointment.contact_id
        assert isinstance(payload, Message | Opportunity)
        return payload.contact_id


class _Mapper:
    """One delivery's records, given what the team has now (pure: no I/O, time passed in)."""

    def __init__(
        self,
        location: HighLevelLocation,
        kind: EventKind,
        payload: Any,
        lead: str,
        current: Current,
        now: int,
    ):
        self.location = location
        self.kind = kind
        self.payload = payload
        self.lead = lead
        self.current = current
        self.existing = current.get(("lead", lead))
        self.now = now

    def ops(self) -> list[Op]:
        p = self.payload
        if isinstance(p, Contact):
            if self.kind is EventKind.CONTACT_DELETE:
                return [Delete(entity="lead", entity_id=self.lead)] if self.existing else []
            return self._contact(p)
        if isinstance(p, Message):
            return self._message(p)
        if isinstance(p, AppointmentEvent):
            return self._appointment(p.appointment)
        assert isinstance(p, Opportunity)
        return self._opportunity(p)

    # --- leads ----------------------------------------------------------------------

    def _agent(self, user: str | None, path: str) -> str:
        agent = self.location.agent(user)
        if agent is None:
            raise InvalidRequestError(
                f"HighLevel user {user!r} maps to no agent and location "
                f"{self.payload.location_id!r} has no default_agent",
                path=path,
            )
        return agent

    def _lead_base(self, user: str | None, path: str) -> list[Op]:
        """The lead, created with what is known when the team does not have it yet."""
        if self.existing is not None:
            return []
        fields = {
            "agent_id": self._agent(user, path),
            "team_id": self.location.team,
            "name": f"HighLevel contact {self.lead[3:]}",
            "source": "highlevel",
            "created_at": self.now,
        }
        return [Upsert(entity="lead", entity_id=self.lead, fields=fields)]

    def _contact(self, c: Contact) -> list[Op]:
        fields: dict[str, Any] = {}
        name = (c.name or " ".join(x for x in (c.first_name, c.last_name) if x)).strip()
        if name:
            fields["name"] = name[:200]
        if c.email:
            try:
                fields["email"] = email_address(c.email)
            except ValueError as exc:
                raise InvalidRequestError(str(exc), path="$.email") from None
        if c.phone:
            try:
                fields["phone"] = phone_e164(c.phone, (c.country or "US").upper())
            except ValueError as exc:
                raise InvalidRequestError(str(exc), path="$.phone") from None
        if c.source:
            fields["source"] = c.source[:200]
        if c.country and len(c.country) == 2 and c.country.isalpha():
            fields["country"] = c.country.upper()
        if c.date_added:
            fields["created_at"] = _time(c.date_added, "$.dateAdded", self.now)
        if self.existing is None:
            fields.setdefault("name", c.email or c.phone or f"HighLevel contact {c.id}")
            fields.setdefault("source", "highlevel")
            fields.setdefault("created_at", self.now)
            fields["agent_id"] = self._agent(c.assigned_to, "$.assignedTo")
            fields["team_id"] = self.location.team
        elif c.assigned_to and self.location.agent(c.assigned_to) is not None:
            fields["agent_id"] = self.location.agent(c.assigned_to)
        ops: list[Op] = []
        revoked = self._revoked(c)
        consent = dict((self.existing or {}).get("consent") or {})
        newly = [ch for ch in revoked if consent.get(ch.value) is not False]
        if newly:
            for ch in newly:
                consent[ch.value] = False
            fields["consent"] = consent
        changed = {k: v for k, v in fields.items() if (self.existing or {}).get(k) != v}
        if changed:
            ops.append(Upsert(entity="lead", entity_id=self.lead, fields=changed))
        ts = _time(c.date_updated, "$.dateUpdated", self.now)
        for ch in newly:
            ops.append(
                Upsert(
                    entity="event",
                    entity_id=record_id("hl-dnd", f"{c.id}-{ch.value}-{ts}"),
                    fields={
                        "lead_id": self.lead,
                        "type": EventType.OPT_OUT.value,
                        "ts": ts,
                        "channel": ch.value,
                    },
                )
            )
        return ops

    @staticmethod
    def _revoked(c: Contact) -> list[Channel]:
        """The channels a contact's DND settings refuse (all of them under global ``dnd``)."""
        if c.dnd:
            return list(OUTREACH_CHANNELS)
        out: list[Channel] = []
        for name, setting in (c.dnd_settings or {}).items():
            channel = _channel(name, CHANNELS_WITH_CALL)
            if channel in OUTREACH_CHANNELS and (setting.status or "").lower() == "active":
                out.append(channel)
        return out

    # --- events ---------------------------------------------------------------------

    def _message(self, m: Message) -> list[Op]:
        ops = self._lead_base(m.user_id, "$.contactId")
        inbound = self.kind is EventKind.INBOUND_MESSAGE
        channel = _channel(m.message_type, CHANNELS_WITH_CALL)
        if channel is Channel.CALL:
            kind = EventType.CALL_IN if inbound else EventType.CALL_OUT
        else:
            kind = EventType.MESSAGE_IN if inbound else EventType.MESSAGE_OUT
        fields: dict[str, Any] = {
            "lead_id": self.lead,
            "type": kind.value,
            "ts": _time(m.date_added, "$.dateAdded", self.now),
            "channel": channel.value if channel else None,
        }
        if m.body:
            fields["text"] = m.body[:20_000]
        if channel is Channel.CALL and m.call_duration is not None:
            fields["duration_s"] = max(0.0, min(float(m.call_duration), 86_400.0))
        external = m.message_id or m.conversation_id
        if not external:
            raise InvalidRequestError("the message has no messageId", path="$.messageId")
        ops.append(Upsert(entity="event", entity_id=record_id("hl-msg", external), fields=fields))
        return ops

    def _appointment(self, a: Appointment) -> list[Op]:
        booked_id = record_id("hl-appt", a.id)
        status = (a.appointment_status or "").lower()
        if self.kind is EventKind.APPOINTMENT_DELETE or status in _CANCELLED:
            if ("event", booked_id) in self.current:
                return [Delete(entity="event", entity_id=booked_id)]
            return []
        ops = self._lead_base(a.assigned_user_id, "$.appointment.assignedUserId")
        booked = _time(a.date_added, "$.appointment.dateAdded", self.now)
        ops.append(
            Upsert(
                entity="event",
                entity_id=booked_id,
                fields={
                    "lead_id": self.lead,
                    "type": EventType.SHOWING_BOOKED.value,
                    "ts": booked,
                    "channel": Channel.IN_PERSON.value,
                },
            )
        )
        if status == "showed":
            ops.append(
                Upsert(
                    entity="event",
                    entity_id=record_id("hl-appt", f"{a.id}-attended"),
                    fields={
                        "lead_id": self.lead,
                        "type": EventType.SHOWING_ATTENDED.value,
                        "ts": _time(a.start_time, "$.appointment.startTime", self.now),
                        "channel": Channel.IN_PERSON.value,
                    },
                )
            )
        return ops

    def _opportunity(self, o: Opportunity) -> list[Op]:
        ops = self._lead_base(o.assigned_to, "$.assignedTo")
        status = o.status.lower()
        lead_status = {
            "won": LeadStatus.CONVERTED,
            "lost": LeadStatus.LOST,
            "abandoned": LeadStatus.LOST,
            "open": LeadStatus.ACTIVE,
        }.get(status)
        if lead_status is None:
            raise InvalidRequestError(
                f"opportunity status {o.status!r} is not open, won, lost or abandoned",
                path="$.status",
            )
        if ops:
            assert isinstance(ops[0], Upsert)
            ops[0].fields["status"] = lead_status.value
        elif (self.existing or {}).get("status") != lead_status.value:
            ops.append(
                Upsert(entity="lead", entity_id=self.lead, fields={"status": lead_status.value})
            )
        if status == "won":
            fields: dict[str, Any] = {
                "lead_id": self.lead,
                "type": EventType.DEAL_CLOSED.value,
                "ts": self.now,
            }
            if o.monetary_value is not None and 0 <= o.monetary_value <= 1e11:
                fields["amount"] = float(o.monetary_value)
            ops.append(
                Upsert(entity="event", entity_id=record_id("hl-opp", f"{o.id}-won"), fields=fields)
            )
        return ops
