"""The advanced API's library: every method runs the edge services on the caller's team replica.

Handlers (``server.advanced``) call one method each. Each method scopes to ``who.team``: a
lead, step or record of another team is not in that replica, so it is answered 404.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import time
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from edge.culture import Intent, MessageContext, adapt_message
from edge.errors import NotFoundError as EdgeNotFoundError
from edge.inference import ModelRegistry
from edge.language import LanguageIdentifier
from edge.models import SPEC_HASHES
from edge.personalization import RecommendContext
from edge.runtime import EdgeRuntime
from models.features import FEATURE_INDEX
from server.advanced_types import (
    AdvancedHealth,
    AnalyzeRequest,
    CulturalAdaptRequest,
    DetectRequest,
    DetectResult,
    Erased,
    ExecuteRequest,
    ExecuteResult,
    FeatureStatus,
    LeadExport,
    PredictRequest,
    PredictResult,
    ProfileRequest,
    Recommendations,
    Strategy,
    VoiceRequest,
    VoiceResult,
)
from server.auth import Principal
from server.errors import FeatureUnavailableError, InvalidRequestError, NotFoundError
from server.outreach.service import OutreachService
from server.replica import TeamReplicas
from server.service import SyncService
from sync.records import Event, EventType, Lead
from sync.version import PROTOCOL_VERSION

_context_decoder = msgspec.json.Decoder(RecommendContext)


def decode_audio(data: str, path: str) -> bytes:
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidRequestError(f"not base64: {exc}", path=path) from exc


@functools.cache
def _transcriber() -> Any:
    from edge.voice import Transcriber

    return Transcriber()


class AdvancedService:
    """The advanced features over :class:`TeamReplicas`; errors name the bad field."""

    def __init__(
        self,
        sync: SyncService,
        replicas: TeamReplicas,
        models_dir: Path,
        outreach: OutreachService | None = None,
    ):
        self.sync = sync
        self.replicas = replicas
        self.outreach = outreach or OutreachService(sync.config.outreach, replicas)
        self.models = ModelRegistry(models_dir, SPEC_HASHES)
        self._language: LanguageIdentifier | None = None
        #: How often the intervention WebSocket looks for synced changes, in seconds.
        self.poll_s = 0.5
        self.health_ttl_s = 5.0
        self._health: tuple[float, AdvancedHealth] | None = None

    # --- plumbing ------------------------------------------------------------------

    @property
    def language(self) -> LanguageIdentifier:
        if self._language is None:
            self._language = LanguageIdentifier(self.models.get("language"))
        return self._language

    def transcriber(self) -> Any:
        try:
            transcriber = _transcriber()
            languages = transcriber.registry.languages()
        except Exception as exc:  # vosk missing or unreadable model folder
            raise FeatureUnavailableError(f"offline speech is not available: {exc}") from exc
        if not languages:
            raise FeatureUnavailableError("no Vosk speech model is installed on this server")
        return transcriber

    async def _run(
        self, who: Principal, fn: Any, path: str = "$.lead_id", *, cache_key: Any = None
    ) -> Any:
        """``fn`` on the team's replica; with ``cache_key``, an answer that depends only on
        the team's data and that key, served from the read cache. An unknown id is a 404."""
        try:
            if cache_key is None:
                return await self.replicas.run(who.team, fn)
            return await self.replicas.read(who.team, cache_key, fn)
        except EdgeNotFoundError as exc:
            raise NotFoundError(f"{exc} (in your partition)", path=path) from exc

    @staticmethod
    async def _lead(runtime: EdgeRuntime, lead_id: str) -> Lead:
        return await runtime.store.get_lead(lead_id)

    # --- health ----------------------------------------------------------------------

    def health(self, version: str) -> AdvancedHealth:
        """Cached for ``health_ttl_s``: probing the speech models is not free."""
        now = time.monotonic()
        cached = self._health
        if cached is None or now - cached[0] > self.health_ttl_s or cached[1].version != version:
            self._health = cached = (now, self._probe(version))
        return cached[1]

    def _probe(self, version: str) -> AdvancedHealth:
        features: dict[str, FeatureStatus] = {}
        families = {
            "language": ["language"],
            "behaviour": ["behaviour"],
            "intervention": ["intervention"],
            "personalization": [n for n in SPEC_HASHES if n.startswith("personalization")],
        }
        for feature, names in families.items():
            try:
                for name in names:
                    self.models.get(name)
                features[feature] = FeatureStatus(status="ok")
            except Exception as exc:  # a model that cannot load disables its feature only
                features[feature] = FeatureStatus(status="unavailable", detail=str(exc))
        try:
            langs = self.transcriber().registry.languages()
            features["voice"] = FeatureStatus(status="ok", detail=",".join(langs))
        except FeatureUnavailableError as exc:
            features["voice"] = FeatureStatus(status="unavailable", detail=exc.detail)
        return AdvancedHealth(
            status="ok",
            version=version,
            features=features,
            models={**self.models.versions(), "protocol": str(PROTOCOL_VERSION)},
        )

    # --- analysis ----------------------------------------------------------------------

    async def analyze(self, who: Principal, ask: AnalyzeRequest) -> Any:
        for i, e in enumerate(ask.events):
            if e.lead_id != ask.lead_id:
                raise InvalidRequestError(
                    f"event {e.id!r} is of lead {e.lead_id!r}, not {ask.lead_id!r}",
                    path=f"$.events[{i}].lead_id",
                )

        async def go(rt: EdgeRuntime) -> Any:
            await self._lead(rt, ask.lead_id)
            if ask.events:
                await rt.store.put(ask.events)
            return await rt.analyze(ask.lead_id)

        if ask.events:
            return await self._run(who, go)
        return await self._run(who, go, cache_key=("analyze", ask.lead_id))

    async def record_events(self, who: Principal, lead_id: str, events: list[Event]) -> None:
        """Write events of one lead into the team's data (they sync to every device)."""

        async def go(rt: EdgeRuntime) -> None:
            await self._lead(rt, lead_id)
            await rt.store.put(events)

        await self._run(who, go)

    # --- language and voice ---------------------------------------------------------------

    async def detect(self, ask: DetectRequest) -> DetectResult:
        if (ask.text is None) == (ask.audio_wav_base64 is None):
            raise InvalidRequestError("give exactly one of text and audio_wav_base64", path="$")
        if ask.text is not None:
            said = self.language.detect(ask.text)
            return DetectResult(language=said.language, confidence=said.confidence, source="text")
        wav = decode_audio(ask.audio_wav_base64 or "", "$.audio_wav_base64")
        transcript = await self._transcribe(wav, ask.language_hint, "$.audio_wav_base64")
        guess = self.language.detect(transcript.text) if transcript.text.strip() else None
        language = guess.language if guess and guess.language != "unknown" else transcript.language
        return DetectResult(
            language=language,
            confidence=guess.confidence if guess else 0.0,
            source="audio",
            transcript=transcript.text,
        )

    async def _transcribe(self, wav: bytes, language: str | None, path: str) -> Any:
        from edge.errors import VoiceError

        transcriber = self.transcriber()
        if language is not None and language not in transcriber.registry.languages():
            language = None  # a hint for a language without a model: use the default
        try:
            return await asyncio.to_thread(transcriber.transcribe, wav, language)
        except VoiceError as exc:
            raise InvalidRequestError(str(exc), path=path) from exc

    async def voice(self, who: Principal, ask: VoiceRequest) -> VoiceResult:
        wav = decode_audio(ask.audio_wav_base64, "$.audio_wav_base64")
        if ask.lead_id is not None:  # 404 before the (slow) transcription
            await self._run(who, lambda rt: self._lead(rt, ask.lead_id))
        transcript = await self._transcribe(wav, ask.language, "$.audio_wav_base64")
        guess = self.language.detect(transcript.text) if transcript.text.strip() else None
        event_id = None
        if ask.lead_id is not None and transcript.text.strip():
            lead_id = ask.lead_id

            async def note(rt: EdgeRuntime) -> str:
                event = Event(
                    id=f"voice-{rt.store.now_ms()}-{len(transcript.text)}",
                    lead_id=lead_id,
                    type=EventType.VOICE_NOTE,
                    ts=rt.store.now_ms(),
                    text=transcript.text[:4000],
                    language=transcript.language,
                )
                await rt.store.put([event])
                return event.id

            event_id = await self._run(who, note)
        return VoiceResult(
            text=transcript.text,
            language=transcript.language,
            detected_language=guess.language if guess else "unknown",
            detected_confidence=guess.confidence if guess else 0.0,
            duration_s=transcript.duration_s,
            confidence=transcript.confidence,
            event_id=event_id,
        )

    async def cultural_adapt(self, who: Principal, ask: CulturalAdaptRequest) -> Any:
        """As :meth:`EdgeRuntime.adapt_message`; the lead and its context are read (cached)
        from the replica, the draft is made for this moment."""
        from edge.errors import CultureError

        async def inputs(rt: EdgeRuntime) -> tuple[Lead, MessageContext]:
            lead = await rt.store.get_lead(ask.lead_id)
            return lead, await rt.message_context(lead)

        lead, base = await self._run(who, inputs, cache_key=("message_context", ask.lead_id))
        try:
            return adapt_message(
                lead, Intent(ask.intent), base.with_overrides(ask.context),
                now_ms=self.sync.config.clock(), formality=ask.formality, length=ask.length,
                channel=ask.channel,
            )  # fmt: skip
        except CultureError as exc:
            raise InvalidRequestError(str(exc), path="$.context") from exc
        except TypeError as exc:
            raise InvalidRequestError(f"unusable context: {exc}", path="$.context") from exc

    # --- interventions --------------------------------------------------------------------

    async def predict(self, who: Principal, ask: PredictRequest) -> PredictResult:
        async def go(rt: EdgeRuntime) -> PredictResult:
            behaviour = await rt.predict_behaviour(ask.lead_id)
            plan = await rt.plan_interventions(ask.lead_id)
            steps = sorted(plan.steps, key=lambda s: -s.p_response) if plan.steps else []
            strategies = [
                Strategy(
                    rank=i + 1,
                    step_id=s.id,
                    channel=str(s.channel),
                    due_at=s.due_at,
                    intent=s.intent,
                    language=s.language,
                    p_response=s.p_response,
                    message=s.message,
                )
                for i, s in enumerate(steps)
            ]
            return PredictResult(
                lead_id=ask.lead_id, behaviour=behaviour, strategies=strategies, plan=plan
            )

        return await self._run(who, go)

    async def execute(self, who: Principal, ask: ExecuteRequest) -> ExecuteResult:
        """Send the step through the server's channel (or record the agent's own outreach);
        the outreach rules refuse with 409 ``rejected`` and a ``reason``."""
        if ask.by_agent:
            done = await self.outreach.complete(who, ask.step_id)
        else:
            done = await self.outreach.execute(who, ask.step_id)
        return ExecuteResult(step_id=done.step_id, status=done.status, delivery=done.delivery,
                             event=done.event, outbox=done.outbox)  # fmt: skip

    # --- personalization ------------------------------------------------------------------

    async def create_profile(self, who: Principal, ask: ProfileRequest) -> Any:
        for i, e in enumerate(ask.property_interactions):
            if e.lead_id != ask.lead_id:
                raise InvalidRequestError(
                    f"event {e.id!r} is of lead {e.lead_id!r}, not {ask.lead_id!r}",
                    path=f"$.property_interactions[{i}].lead_id",
                )
        for name in ask.behavioral_data:
            if name not in FEATURE_INDEX:
                raise InvalidRequestError(
                    f"unknown behavioural feature {name!r}", path=f"$.behavioral_data.{name}"
                )

        async def go(rt: EdgeRuntime) -> Any:
            try:
                await rt.store.get_lead(ask.lead_id)
            except EdgeNotFoundError:  # new here; another team's lead of that id stays theirs
                await rt.store.put(
                    [
                        Lead(
                            id=ask.lead_id,
                            agent_id=who.agent,
                            team_id=who.team,
                            name=ask.name or ask.lead_id,
                            language=ask.language or "en",
                            created_at=rt.store.now_ms(),
                        )
                    ]
                )
            features = None
            if ask.behavioral_data:
                snap = await rt.analyst.snapshot(ask.lead_id)
                features = np.array(snap.features, dtype=np.float32, copy=True)
                for name, value in ask.behavioral_data.items():
                    features[FEATURE_INDEX[name]] = value
            return await rt.create_profile(
                ask.lead_id,
                ask.conversation_history or None,
                features,
                ask.property_interactions or None,
            )

        return await self._run(who, go)

    async def recommendations(
        self, who: Principal, lead_id: str, context: str | None, k: int
    ) -> Recommendations:
        ctx = None
        if context:
            try:
                ctx = _context_decoder.decode(context)
            except msgspec.MsgspecError as exc:
                raise InvalidRequestError(
                    f"context is not a RecommendContext JSON object: {exc}", path="query.context"
                ) from exc

        async def go(rt: EdgeRuntime) -> Recommendations:
            recs = await rt.recommend(lead_id, ctx, k)
            return Recommendations(lead_id=lead_id, recommendations=recs)

        key = ("recommendations", lead_id, ctx, k)
        return await self._run(who, go, path="path.lead_id", cache_key=key)

    async def plan(self, who: Principal, lead_id: str) -> Any:
        return await self._run(who, lambda rt: rt.plan(lead_id), path="path.lead_id",
                               cache_key=("plan", lead_id))  # fmt: skip

    # --- privacy ------------------------------------------------------------------------

    async def export_lead(self, who: Principal, lead_id: str) -> LeadExport:
        from sync.merge import is_visible, values

        records, changes, conflicts = await self.sync.store.lead_history(who.team, lead_id)
        lead = [r for r in records if r.entity == "lead"]
        if not lead or not is_visible(lead[0].state):
            raise NotFoundError(f"lead {lead_id!r} is not in your partition", path="path.lead_id")
        return LeadExport(
            lead_id=lead_id,
            records=[
                {"entity": r.entity, "id": r.entity_id, **values(r.state)}
                for r in records
                if is_visible(r.state)
            ],
            changes=changes,
            conflicts=[msgspec.to_builtins(c) for c in conflicts],
        )

    async def erase_lead(self, who: Principal, lead_id: str) -> Erased:
        from sync.merge import is_visible

        record = await self.sync.store.record(who.team, ("lead", lead_id))
        if record is None or not is_visible(record.state):
            raise NotFoundError(f"lead {lead_id!r} is not in your partition", path="path.lead_id")
        records, _, _ = await self.sync.store.lead_history(who.team, lead_id)

        async def go(rt: EdgeRuntime) -> None:
            await rt.delete("lead", lead_id, hard_erase=True)

        await self._run(who, go, path="path.lead_id")
        return Erased(lead_id=lead_id, records_erased=len(records))
