"""Request and response bodies of the advanced API: one msgspec Struct per message."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import Meta

from edge.analysis import Analysis
from edge.behaviour import BehaviourPrediction
from edge.channels.base import Delivery
from edge.culture import Intent
from edge.language import LanguageGuess
from edge.personalization import Recommendation
from sync.changes import AnyChange
from sync.protocol import FeatureStatus, Health
from sync.records import (
    Channel,
    Event,
    Formality,
    Id,
    InterventionPlan,
    MessageLength,
    Profile,
    StepStatus,
)

#: Longest text accepted for detection or adaptation (characters).
MAX_TEXT = 20_000
#: Longest base64 audio accepted (about 5 minutes of 16 kHz 16-bit mono WAV).
MAX_AUDIO_B64 = 14_000_000
MAX_ITEMS = 2_000

Text = Annotated[str, Meta(min_length=1, max_length=MAX_TEXT)]
Audio = Annotated[str, Meta(min_length=8, max_length=MAX_AUDIO_B64)]


class Body(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of every request body: unknown fields are refused (with their name)."""


class AnalyzeRequest(Body, frozen=True):
    lead_id: Id
    #: Fresh events of this lead to record before analysing (written, then synced to devices).
    events: Annotated[list[Event], Meta(max_length=MAX_ITEMS)] = []


class DetectRequest(Body, frozen=True):
    """Text, or audio as a base64 WAV (transcribed offline, then identified)."""

    text: Text | None = None
    audio_wav_base64: Audio | None = None
    language_hint: Annotated[str, Meta(pattern=r"^[a-z]{2,3}$")] | None = None


class DetectResult(msgspec.Struct, frozen=True, kw_only=True):
    language: str
    confidence: float
    source: str  # "text" or "audio"
    transcript: str | None = None


class VoiceRequest(Body, frozen=True):
    audio_wav_base64: Audio
    language: Annotated[str, Meta(pattern=r"^[a-z]{2,3}$")] | None = None
    #: When set, the transcript is stored as a voice note of this lead (synced to devices).
    lead_id: Id | None = None


class VoiceResult(msgspec.Struct, frozen=True, kw_only=True):
    text: str
    language: str
    detected_language: str
    detected_confidence: float
    duration_s: float
    confidence: float | None
    event_id: str | None = None


class CulturalAdaptRequest(Body, frozen=True):
    lead_id: Id
    intent: Intent
    channel: Channel = Channel.SMS
    formality: Formality | None = None
    length: MessageLength | None = None
    #: Values a message may need (e.g. ``new_price``); they win over the device's data.
    context: Annotated[dict[str, str | int | float], Meta(max_length=32)] = {}


class PredictRequest(Body, frozen=True):
    lead_id: Id


class Strategy(msgspec.Struct, frozen=True, kw_only=True):
    rank: int
    step_id: str
    channel: str
    due_at: int
    intent: str
    language: str
    p_response: float
    message: str


class PredictResult(msgspec.Struct, frozen=True, kw_only=True):
    lead_id: str
    behaviour: BehaviourPrediction
    strategies: list[Strategy]
    plan: InterventionPlan


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


class ProfileRequest(Body, frozen=True):
    lead_id: Id
    conversation_history: Annotated[list[Text], Meta(max_length=MAX_ITEMS)] = []
    #: Named behavioural features (see ``models.features.FEATURE_NAMES``) overriding the
    #: values computed from the lead's events.
    behavioral_data: Annotated[dict[str, float], Meta(max_length=1024)] = {}
    #: Events to learn from instead of the stored ones (their ``lead_id`` must be this lead).
    property_interactions: Annotated[list[Event], Meta(max_length=MAX_ITEMS)] = []
    #: Used when the lead is new (it is created in the caller's partition).
    name: Annotated[str, Meta(min_length=1, max_length=200)] | None = None
    language: Annotated[str, Meta(pattern=r"^[a-z]{2,3}$")] | None = None


class Recommendations(msgspec.Struct, frozen=True, kw_only=True):
    lead_id: str
    recommendations: list[Recommendation]


class LeadExport(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the server holds about one lead: merged records and their change history."""

    lead_id: str
    records: list[dict[str, Any]]
    changes: list[AnyChange]
    conflicts: list[dict[str, Any]]


class Erased(msgspec.Struct, frozen=True, kw_only=True):
    lead_id: str
    records_erased: int


AdvancedHealth = Health

__all__ = [
    "Analysis",
    "BehaviourPrediction",
    "FeatureStatus",
    "LanguageGuess",
    "Profile",
]
