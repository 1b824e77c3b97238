"""Request and response bodies of the advanced API: one msgspec Struct per message."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from edge.analysis import Analysis
from edge.behaviour import BehaviourPrediction
from edge.channels.base import Delivery
from edge.culture import Intent
from edge.culture.register import Gender
from edge.language import LanguageGuess
from edge.personalization import Recommendation
from server.storage.port import LoggedConflict
from sync.changes import AnyChange
from sync.protocol import FeatureStatus, Health
from sync.records import (
    Channel,
    Consent,
    EpochMs,
    Event,
    EventType,
    Formality,
    Id,
    InterventionPlan,
    InterventionStep,
    Lead,
    MessageLength,
    Profile,
    ShortText,
    StepStatus,
    Vertical,
)

#: Longest text accepted for detection or adaptation (characters).
MAX_TEXT = 20_000
#: Longest base64 audio accepted (about 5 minutes of 16 kHz 16-bit mono WAV).
MAX_AUDIO_B64 = 14_000_000
MAX_ITEMS = 2_000

Text = Annotated[str, Meta(min_length=1, max_length=MAX_TEXT)]
Audio = Annotated[str, Meta(min_length=8, max_length=MAX_AUDIO_B64)]
#: Money as typed by a person: a number, or a string such as "$450,000", "450k", "USD 1.2m".
MoneyInput = Annotated[
    float | Annotated[str, Meta(max_length=40)],
    Meta(description='An amount: a number or a typed string ("$450,000", "450k", "USD 1.2m").'),
]
#: A moment: UTC epoch milliseconds, or ISO 8601 (without an offset: the lead's local time).
InstantInput = Annotated[
    int | Annotated[str, Meta(max_length=40)],
    Meta(
        description="UTC epoch milliseconds, or ISO 8601 such as 2026-12-05T10:00:00-08:00 "
        "(without an offset it is read in the lead's time zone)."
    ),
]
Probability = Annotated[float, Meta(ge=0.0, le=1.0)]


class Body(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of every request body: unknown fields are refused (with their name)."""


class EventInput(Event, tag="event", forbid_unknown_fields=True, frozen=True):
    """An event in a request body: an ``Event`` whose unknown keys are refused by name."""


class AnalyzeRequest(Body, frozen=True):
    lead_id: Id
    events: Annotated[
        list[EventInput],
        Meta(
            max_length=MAX_ITEMS,
            description="Events of this lead to consider with the stored ones (same id: the "
            "given one wins). Analysing stores nothing: record events by syncing them.",
        ),
    ] = []


class DetectRequest(Body, frozen=True):
    """Text, or audio as a base64 WAV (transcribed offline, then identified)."""

    text: Text | None = None
    audio_wav_base64: Audio | None = None
    language_hint: Annotated[str, Meta(pattern=r"^[a-z]{2,3}$")] | None = None


class DetectResult(msgspec.Struct, frozen=True, kw_only=True):
    language: Annotated[str, Meta(description="ISO 639-1 code, or 'unknown'")]
    confidence: Annotated[Probability, Meta(description="Probability (0..1) of the language")]
    source: Annotated[str, Meta(description="'text' or 'audio'")]
    transcript: str | None = None


class VoiceRequest(Body, frozen=True):
    audio_wav_base64: Audio
    language: Annotated[str, Meta(pattern=r"^[a-z]{2,3}$")] | None = None
    #: When set, the transcript is stored as a voice note of this lead (synced to devices).
    lead_id: Id | None = None


class VoiceResult(msgspec.Struct, frozen=True, kw_only=True):
    text: str
    language: Annotated[str, Meta(description="Language of the speech model used (ISO 639-1)")]
    detected_language: Annotated[str, Meta(description="Language of the transcript's words")]
    detected_confidence: Annotated[Probability, Meta(description="Probability (0..1)")]
    duration_s: Annotated[float, Meta(description="Length of the audio in seconds")]
    confidence: Annotated[
        float | None, Meta(description="Mean word confidence of the recognizer (0..1)")
    ]
    event_id: Annotated[
        str | None, Meta(description="The stored voice-note event, when lead_id was given")
    ] = None


class MessageOverrides(Body, frozen=True):
    """Values a message may need; each wins over what the server's data says."""

    agent_name: Annotated[str, Meta(min_length=1, max_length=200)] | None = None
    agent_gender: Gender | None = None
    lead_name: Annotated[str, Meta(min_length=1, max_length=200)] | None = None
    address: Annotated[str, Meta(min_length=1, max_length=200)] | None = None
    showing_at: InstantInput | None = None
    old_price: MoneyInput | None = None
    new_price: MoneyInput | None = None
    offer_amount: MoneyInput | None = None
    currency: (
        Annotated[str, Meta(pattern=r"^[A-Z]{3}$", description="ISO 4217 code of the amounts")]
        | None
    ) = None


class CulturalAdaptRequest(Body, frozen=True):
    lead_id: Id
    intent: Intent
    channel: Channel = Channel.SMS
    formality: Formality | None = None
    length: MessageLength | None = None
    context: MessageOverrides = MessageOverrides()


class RecommendFilter(Body, frozen=True):
    """The agent's filters on recommendations (the ``context`` query parameter, as JSON)."""

    max_price: MoneyInput | None = None
    city: ShortText | None = None
    vertical: Vertical | None = None
    include_seen: bool = False


class PredictRequest(Body, frozen=True):
    lead_id: Id


class SavePlanRequest(Body, frozen=True):
    lead_id: Id


class Strategy(msgspec.Struct, frozen=True, kw_only=True):
    """One outreach step of the plan, best first."""

    rank: Annotated[int, Meta(ge=1, description="1 = the step most likely to get a reply")]
    step_id: Annotated[str, Meta(description="The step's id (executable once the plan is saved)")]
    channel: str
    due_at: Annotated[int, Meta(description="When to reach out: UTC epoch milliseconds")]
    intent: str
    language: Annotated[str, Meta(description="ISO 639-1 code of the drafted message")]
    p_response: Annotated[
        Probability,
        Meta(
            description="Probability (0..1) that the lead replies within 20 hours to this "
            "step, on its channel at its hour; behaviour.p_respond is the same for the next "
            "outreach on any channel, within 24 hours"
        ),
    ]
    message: str


class PredictResult(msgspec.Struct, frozen=True, kw_only=True):
    lead_id: str
    behaviour: BehaviourPrediction
    strategies: list[Strategy]
    plan: InterventionPlan
    plan_saved: Annotated[
        bool,
        Meta(
            description="True when the plan is the lead's stored plan (POST "
            "/intervention/plans saves one); a prediction stores nothing"
        ),
    ] = False


class ExecuteRequest(Body, frozen=True):
    step_id: Id
    #: True: the agent reached the lead by hand; record it (same rules, nothing sent).
    by_agent: bool = False


class ExecuteResult(msgspec.Struct, frozen=True, kw_only=True):
    step_id: str
    #: ``sent``, ``failed``, ``unknown`` (may have gone: never re-sent by itself), ``due`` (no
    #: server channel: a task for the agent, ``delivery.detail`` says why), ``done`` (by hand).
    status: StepStatus
    #: What the channel said (absent when the agent did it by hand).
    delivery: Delivery | None = None
    #: The outreach event, when the lead was reached (``sent`` or ``done``).
    event: Event | None = None
    #: The outbox records the execution produced, as merged into the team's change log.
    outbox: list[AnyChange] = []


class MessageDirection(StrEnum):
    """Who wrote a message: ``inbound`` the lead, ``outbound`` the agent (or the brokerage)."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"


class ConversationMessage(Body, frozen=True):
    """One message of a conversation as a CRM or a chat tool writes it.

    The text is ``text`` (or ``content``, chat style). Who wrote it is ``direction``, or
    ``role``: ``lead``, ``contact``, ``customer``, ``client``, ``user`` are the lead (inbound);
    ``agent``, ``assistant``, ``realtor``, ``broker`` the agent (outbound). Without either the
    message is the lead's. ``time`` orders the messages.
    """

    text: Text | None = None
    content: Text | None = None
    direction: MessageDirection | None = None
    role: Annotated[str, Meta(min_length=1, max_length=40)] | None = None
    time: InstantInput | None = None
    channel: Channel | None = None


class InteractionAction(StrEnum):
    """What the lead did with a listing."""

    VIEW = "view"
    SAVE = "save"
    SHARE = "share"
    INQUIRY = "inquiry"
    SHOWING_BOOKED = "showing_booked"
    SHOWING_ATTENDED = "showing_attended"
    OFFER = "offer"


class PropertyInteraction(Body, frozen=True):
    """A lead's interaction with a listing: ``{listing_id, action, time}`` (``dwell_s`` for a
    view, ``amount`` for an offer), or an internal ``Event`` (``kind: "event"``, ``id``,
    ``lead_id``, ``type``, ``ts``, ...) as before."""

    listing_id: Id | None = None
    action: InteractionAction | None = None
    time: InstantInput | None = None
    dwell_s: (
        Annotated[float, Meta(ge=0, le=86_400, description="Seconds on the listing")] | None
    ) = None
    amount: MoneyInput | None = None
    # The internal Event shape.
    kind: Literal["event"] | None = None
    id: Id | None = None
    lead_id: Id | None = None
    type: EventType | None = None
    ts: EpochMs | None = None
    updated_at: EpochMs | None = None
    channel: Channel | None = None
    text: Annotated[str, Meta(max_length=MAX_TEXT)] | None = None
    language: Annotated[str, Meta(pattern=r"^[a-z]{2,3}$")] | None = None
    duration_s: Annotated[float, Meta(ge=0, le=86_400)] | None = None


#: Behavioural data by documented name: what each value is, and the feature it sets.
BEHAVIOURAL_NAMES: dict[str, str] = {
    "property_views": "listings viewed in the last 30 days (count)",
    "property_saves": "listings saved in the last 30 days (count)",
    "property_shares": "listings shared in the last 30 days (count)",
    "inquiries": "inquiries in the last 30 days (count)",
    "messages_received": "messages from the lead in the last 30 days (count)",
    "messages_sent": "messages to the lead in the last 30 days (count)",
    "calls_received": "calls from the lead in the last 30 days (count)",
    "calls_made": "calls to the lead in the last 30 days (count)",
    "email_opens": "outreach e-mails opened in the last 30 days (count)",
    "email_clicks": "links clicked in outreach e-mails in the last 30 days (count)",
    "showings_booked": "showings booked in the last 30 days (count)",
    "showings_attended": "showings attended in the last 30 days (count)",
    "offers": "offers made in the last 30 days (count)",
    "days_since_last_activity": "days since the lead's last event (days)",
    "days_since_created": "days since the lead came in (days)",
}

_PROFILE_EXAMPLE = {
    "lead_id": "lead-000001",
    "conversation_history": [
        {
            "role": "lead",
            "text": "Hola, busco una casa con jardín",
            "time": "2026-05-01T14:30:00Z",
            "channel": "whatsapp",
        },
        {"direction": "outbound", "text": "¡Claro! ¿Cuántas recámaras?", "time": 1777646400000},
    ],
    "property_interactions": [
        {
            "listing_id": "lst-000001",
            "action": "view",
            "time": "2026-05-01T15:00:00Z",
            "dwell_s": 95,
        },
        {"listing_id": "lst-000001", "action": "showing_booked", "time": "2026-05-02T10:00:00Z"},
    ],
    "behavioral_data": {"property_views": 12, "days_since_last_activity": 2},
}


class ProfileRequest(Body, frozen=True):
    """What is known of a lead, in a CRM's words or in the internal shapes."""

    lead_id: Id
    conversation_history: Annotated[
        list[Text | ConversationMessage],
        Meta(
            max_length=MAX_ITEMS,
            description="The lead's messages: plain texts (the lead's words), or messages "
            "{direction or role, text, time, channel}. The lead's words shape the profile.",
            examples=[_PROFILE_EXAMPLE["conversation_history"]],
        ),
    ] = []
    behavioral_data: Annotated[
        dict[str, float],
        Meta(
            max_length=1024,
            description="Behavioural data overriding what the lead's events say: by documented "
            "name (" + ", ".join(f"{k}: {v}" for k, v in BEHAVIOURAL_NAMES.items()) + "), or by "
            "internal feature name (models.features.FEATURE_NAMES).",
            examples=[_PROFILE_EXAMPLE["behavioral_data"]],
        ),
    ] = {}
    property_interactions: Annotated[
        list[PropertyInteraction],
        Meta(
            max_length=MAX_ITEMS,
            description="Interactions to learn from instead of the stored events: "
            "{listing_id, action, time} or internal events (of this lead).",
            examples=[_PROFILE_EXAMPLE["property_interactions"]],
        ),
    ] = []
    #: Used when the lead is new (it is created in the caller's partition).
    name: Annotated[str, Meta(min_length=1, max_length=200)] | None = None
    language: Annotated[str, Meta(pattern=r"^[a-z]{2,3}$")] | None = None


class Recommendations(msgspec.Struct, frozen=True, kw_only=True):
    lead_id: str
    recommendations: list[Recommendation]


class ConsentChange(msgspec.Struct, frozen=True, kw_only=True):
    """One recorded change of the lead's consent (the lead's ``consent`` field)."""

    hlc: Annotated[str, Meta(description="Hybrid logical clock of the change; orders them")]
    at: Annotated[int, Meta(description="When it was made: the wall time in its clock, UTC ms")]
    device_id: Annotated[str, Meta(description="The device (or server replica) that made it")]
    consent: Annotated[
        Consent,
        Meta(
            description="Consent per channel after the change: true granted, false refused or "
            "revoked, absent/null never asked (never contacted)"
        ),
    ]


class LeadExport(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the server holds about one lead, as one JSON document (a subject access
    request under GDPR art. 15 / CCPA "right to know").

    The typed fields (``lead`` to ``consent_history``) are the lead's current merged records;
    ``records``, ``changes`` and ``conflicts`` are the raw material they come from. A record
    that was deleted (not erased) is absent from the typed fields and from ``records``, but its
    logged changes stay in ``changes`` until the lead is erased.
    """

    lead_id: Annotated[str, Meta(description="The lead's id")]
    lead: Annotated[
        Lead | None,
        Meta(description="The lead: name, e-mail, phone, language, locale, consent, status, ..."),
    ] = None
    events: Annotated[
        list[Event],
        Meta(
            description="Every event of the lead (views, saves, messages, calls, voice notes "
            "with their transcripts, showings, offers), oldest first"
        ),
    ] = []
    messages: Annotated[
        list[Event],
        Meta(
            description="The messages exchanged with the lead (message_in and message_out "
            "events, with their texts), oldest first; also in ``events``"
        ),
    ] = []
    profile: Annotated[
        Profile | None,
        Meta(description="The learned profile (preferences, style, contact hours), if any"),
    ] = None
    plans: Annotated[
        list[InterventionPlan],
        Meta(
            description="Every intervention plan for the lead (active, paused, superseded), "
            "oldest first"
        ),
    ] = []
    steps: Annotated[
        list[InterventionStep],
        Meta(
            description="Every planned outreach step: channel, time, drafted message, status "
            "and what the channel said (delivery outcome)"
        ),
    ] = []
    consent_history: Annotated[
        list[ConsentChange],
        Meta(description="Every logged change of the lead's consent, oldest first"),
    ] = []
    conflicts: Annotated[
        list[LoggedConflict],
        Meta(
            description="Values of the lead's records that lost a concurrent edit, with the "
            "value that won, the device and when it was logged"
        ),
    ] = []
    records: Annotated[
        list[dict[str, Any]],
        Meta(description="Every current record of the lead as stored (entity, id, fields)"),
    ] = []
    changes: Annotated[
        list[AnyChange],
        Meta(description="The change log entries of the lead's records, in log order"),
    ] = []


class Erased(msgspec.Struct, frozen=True, kw_only=True):
    lead_id: str
    records_erased: Annotated[int, Meta(description="Records of the lead erased (lead included)")]


AdvancedHealth = Health

__all__ = [
    "Analysis",
    "BehaviourPrediction",
    "FeatureStatus",
    "LanguageGuess",
    "Profile",
]


class RolloutRequest(Body, frozen=True):
    """``POST /models/{name}/rollout``: the share of devices offered the latest version."""

    percent: Annotated[
        int, Meta(ge=0, le=100, description="Share of devices offered it; 100 makes it stable")
    ]


class RetrainRequest(Body, frozen=True):
    """``POST /models/retrain``: start one retraining run (the server's own settings)."""
