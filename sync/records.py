"""Stored and wire record types: the agent's world as msgspec Structs.

Every record carries an explicit string tag in the ``kind`` field, so renaming a class never
changes the wire. New fields get defaults; a field is never retyped and a tag never reused.
Times are UTC epoch milliseconds. Constraints are declared with ``Meta`` so that a bad value
fails with its path, for example ``Expected `int` >= 0 - at `$.ts```.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import msgspec
from msgspec import Meta

Id = Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")]
EpochMs = Annotated[int, Meta(ge=0, le=32503680000000, description="UTC epoch milliseconds")]
LanguageCode = Annotated[str, Meta(pattern=r"^[a-z]{2,3}$", description="ISO 639-1 code")]
Locale = Annotated[str, Meta(pattern=r"^[a-z]{2,3}(_[A-Z]{2})?$", description="e.g. es_MX")]
CountryCode = Annotated[str, Meta(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")]
TimeZone = Annotated[str, Meta(min_length=1, max_length=64, description="IANA time zone")]
Text = Annotated[str, Meta(max_length=20_000)]
ShortText = Annotated[str, Meta(max_length=200)]
Money = Annotated[float, Meta(ge=0, le=1e11)]
Probability = Annotated[float, Meta(ge=0.0, le=1.0)]
HourOfWeek = Annotated[int, Meta(ge=0, le=167, description="0 = Monday 00:00 local time")]


class EventType(StrEnum):
    """What a lead did, or what was done to reach the lead."""

    PROPERTY_VIEW = "property_view"
    PROPERTY_SAVE = "property_save"
    PROPERTY_SHARE = "property_share"
    INQUIRY = "inquiry"
    MESSAGE_IN = "message_in"
    MESSAGE_OUT = "message_out"
    CALL_IN = "call_in"
    CALL_OUT = "call_out"
    EMAIL_OPEN = "email_open"
    EMAIL_CLICK = "email_click"
    SHOWING_BOOKED = "showing_booked"
    SHOWING_ATTENDED = "showing_attended"
    OFFER = "offer"
    VOICE_NOTE = "voice_note"
    DEAL_CLOSED = "deal_closed"
    OPT_OUT = "opt_out"


class Channel(StrEnum):
    """A way to reach a lead."""

    CALL = "call"
    SMS = "sms"
    EMAIL = "email"
    WHATSAPP = "whatsapp"
    IN_PERSON = "in_person"
    WEB = "web"


#: Channels an intervention plan can use to reach out.
OUTREACH_CHANNELS: tuple[Channel, ...] = (
    Channel.CALL,
    Channel.SMS,
    Channel.EMAIL,
    Channel.WHATSAPP,
)


class Vertical(StrEnum):
    """Industry vertical; shapes which listing attributes matter."""

    RESIDENTIAL = "residential"
    LUXURY = "luxury"
    COMMERCIAL = "commercial"
    NEW_CONSTRUCTION = "new_construction"


class PropertyType(StrEnum):
    HOUSE = "house"
    CONDO = "condo"
    TOWNHOUSE = "townhouse"
    MULTI_FAMILY = "multi_family"
    LAND = "land"
    OFFICE = "office"
    RETAIL = "retail"
    INDUSTRIAL = "industrial"
    MIXED_USE = "mixed_use"


class ListingStatus(StrEnum):
    ACTIVE = "active"
    PENDING = "pending"
    SOLD = "sold"
    OFF_MARKET = "off_market"


class LeadStatus(StrEnum):
    NEW = "new"
    ACTIVE = "active"
    CONVERTED = "converted"
    LOST = "lost"


class Formality(StrEnum):
    FORMAL = "formal"
    NEUTRAL = "neutral"
    CASUAL = "casual"


class MessageLength(StrEnum):
    SHORT = "short"
    MEDIUM = "medium"
    LONG = "long"


class PlanStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class StepStatus(StrEnum):
    """Where a step is: ``pending`` until it fires; ``due`` when it waits for the agent (a task,
    also a send the platform could not make); ``sending`` while one executor hands it to a
    channel; then ``sent`` or ``failed``; ``unknown`` when the executor stopped mid-send (the
    lead may have it): shown to the agent, never sent again by itself. ``done`` is an outreach
    the agent made by hand."""

    PENDING = "pending"
    DUE = "due"
    DONE = "done"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNKNOWN = "unknown"


class Record(msgspec.Struct, tag_field="kind", frozen=True, kw_only=True):
    """Base of every stored record: an id and the time it last changed."""

    id: Id
    updated_at: EpochMs = 0


class Consent(msgspec.Struct, frozen=True, kw_only=True):
    """Per-channel permission to reach out, opt-in: ``True`` granted, ``False`` refused or
    revoked, ``None`` (absent) unknown: never asked, so never contacted on that channel."""

    call: bool | None = None
    sms: bool | None = None
    email: bool | None = None
    whatsapp: bool | None = None

    def allows(self, channel: Channel) -> bool:
        """Whether consent for ``channel`` is recorded as granted."""
        return getattr(self, channel.value, None) is True

    def state(self, channel: Channel) -> str:
        """``granted``, ``refused`` or ``unknown`` for ``channel``."""
        value = getattr(self, channel.value, None)
        return "unknown" if value is None else "granted" if value else "refused"

    def revoke(self, channel: Channel) -> Consent:
        """This consent with ``channel`` refused."""
        return msgspec.structs.replace(self, **{channel.value: False})

    @classmethod
    def granted(cls, *channels: Channel) -> Consent:
        """Consent recorded as granted for ``channels`` (every outreach channel if none)."""
        return cls(**{c.value: True for c in channels or OUTREACH_CHANNELS})


class Agent(Record, tag="agent", kw_only=True, frozen=True):
    """A real-estate agent, member of one team (brokerage)."""

    team_id: Id
    name: ShortText
    languages: list[LanguageCode] = []


class Location(msgspec.Struct, frozen=True, kw_only=True):
    city: ShortText
    zipcode: Annotated[str, Meta(max_length=12)] = ""
    neighborhood: ShortText = ""
    lat: Annotated[float, Meta(ge=-90, le=90)] = 0.0
    lon: Annotated[float, Meta(ge=-180, le=180)] = 0.0


class Listing(Record, tag="listing", kw_only=True, frozen=True):
    """A property for sale or lease."""

    price: Money
    currency: Annotated[str, Meta(pattern=r"^[A-Z]{3}$")] = "USD"
    beds: Annotated[int, Meta(ge=0, le=100)] = 0
    baths: Annotated[float, Meta(ge=0, le=100)] = 0.0
    sqft: Annotated[float, Meta(gt=0, le=10_000_000)]
    lot_sqft: Annotated[float, Meta(ge=0, le=1e9)] = 0.0
    year_built: Annotated[int, Meta(ge=1700, le=2100)] = 2000
    property_type: PropertyType = PropertyType.HOUSE
    vertical: Vertical = Vertical.RESIDENTIAL
    status: ListingStatus = ListingStatus.ACTIVE
    for_lease: bool = False
    location: Location
    features: list[ShortText] = []
    listed_at: EpochMs = 0
    # Commercial.
    cap_rate: Annotated[float, Meta(ge=0, le=1)] | None = None
    noi: Money | None = None
    zoning: ShortText | None = None
    # New construction.
    builder_incentive: ShortText | None = None
    completion_date: EpochMs | None = None


class Lead(Record, tag="lead", kw_only=True, frozen=True):
    """A person who may buy, sell, rent or lease through the agent."""

    agent_id: Id
    team_id: Id
    name: ShortText
    language: LanguageCode = "en"
    locale: Locale = "en_US"
    timezone: TimeZone = "America/Los_Angeles"
    country: CountryCode = "US"
    email: ShortText = ""
    phone: ShortText = ""
    consent: Consent = Consent()
    source: ShortText = ""
    status: LeadStatus = LeadStatus.NEW
    budget_min: Money | None = None
    budget_max: Money | None = None
    created_at: EpochMs = 0

    def address(self, channel: Channel) -> str:
        """Where ``channel`` reaches the lead: the phone for calls, texts and WhatsApp, the
        e-mail for e-mail; ``""`` when the lead has none."""
        if channel is Channel.EMAIL:
            return self.email.strip()
        if channel in (Channel.CALL, Channel.SMS, Channel.WHATSAPP):
            return self.phone.strip()
        return ""


class Event(Record, tag="event", kw_only=True, frozen=True):
    """Something a lead did, or an outreach to the lead, at time ``ts``."""

    lead_id: Id
    type: EventType
    ts: EpochMs
    channel: Channel | None = None
    listing_id: Id | None = None
    text: Text | None = None
    language: LanguageCode | None = None
    dwell_s: Annotated[float, Meta(ge=0, le=86_400)] | None = None
    duration_s: Annotated[float, Meta(ge=0, le=86_400)] | None = None
    amount: Money | None = None


class Profile(Record, tag="profile", kw_only=True, frozen=True):
    """What the device has learned about a lead's preferences and style."""

    lead_id: Id
    language: LanguageCode = "en"
    price_min: Money | None = None
    price_max: Money | None = None
    beds_min: Annotated[int, Meta(ge=0, le=100)] | None = None
    baths_min: Annotated[float, Meta(ge=0, le=100)] | None = None
    areas: list[ShortText] = []
    property_types: list[PropertyType] = []
    must_haves: list[ShortText] = []
    vertical: Vertical = Vertical.RESIDENTIAL
    formality: Formality = Formality.NEUTRAL
    message_length: MessageLength = MessageLength.MEDIUM
    preferred_channel: Channel = Channel.EMAIL
    model_version: ShortText = ""
    #: Hours of the day (the lead's local time, 0-24) the lead asked to be contacted between, as
    #: they said it ("after 6pm": start 18, no end); None where they said nothing.
    contact_hours_start: Annotated[int, Meta(ge=0, le=24)] | None = None
    contact_hours_end: Annotated[int, Meta(ge=0, le=24)] | None = None


class InterventionStep(Record, tag="intervention_step", kw_only=True, frozen=True):
    """One planned outreach: a channel at a time, in a language, with a drafted message."""

    plan_id: Id
    lead_id: Id
    seq: Annotated[int, Meta(ge=0, le=1000)]
    channel: Channel
    due_at: EpochMs
    hour_of_week: HourOfWeek
    language: LanguageCode = "en"
    intent: ShortText = "follow_up"
    message: Text = ""
    p_response: Probability = 0.0
    status: StepStatus = StepStatus.PENDING
    #: What the channel said about the send (provider id, error, "send it by hand: ...").
    outcome: Text = ""
    #: The device id of the party that moved the step to ``sending`` (who may recover it).
    sent_by: ShortText = ""


class InterventionPlan(Record, tag="intervention_plan", kw_only=True, frozen=True):
    """A sequence of outreach steps for one lead."""

    lead_id: Id
    created_at: EpochMs
    status: PlanStatus = PlanStatus.ACTIVE
    model_version: ShortText = ""
    reason: Text = ""
    steps: list[InterventionStep] = []
    #: The one party that sends this plan's steps: the device id of the device that made it
    #: (a phone, or the server's team replica); "" for plans made before this field existed.
    executor: ShortText = ""


#: Records a device ingests from a batch file.
IngestRecord = Agent | Listing | Lead | Event

#: Every stored record type.
AnyRecord = Agent | Listing | Lead | Event | Profile | InterventionPlan | InterventionStep

_RECORD_CLASSES: tuple[type[AnyRecord], ...] = (
    Agent,
    Listing,
    Lead,
    Event,
    Profile,
    InterventionPlan,
    InterventionStep,
)

#: Each record class by its ``kind`` tag.
RECORD_TYPES: dict[str, type[AnyRecord]] = {
    str(cls.__struct_config__.tag): cls for cls in _RECORD_CLASSES
}
