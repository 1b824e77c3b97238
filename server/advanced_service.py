"""The advanced API's library: every method runs the edge services on the caller's team replica.

Handlers (``server.advanced``) call one method each. Each method scopes to ``who.team``: a
lead, step or record of another team is not in that replica, so it is answered 404.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from edge.analysis import Analysis
from edge.culture import Intent, MessageContext, adapt_message
from edge.errors import NotFoundError as EdgeNotFoundError
from edge.inference import ModelRegistry
from edge.language import LanguageIdentifier
from edge.personalization import RecommendContext
from edge.runtime import EdgeRuntime
from edge.spec_hashes import SPEC_HASHES
from models.features import FEATURE_INDEX
from server.advanced_types import (
    AdvancedHealth,
    AnalyzeRequest,
    ConsentChange,
    CulturalAdaptRequest,
    DetectRequest,
    DetectResult,
    Erased,
    ExecuteRequest,
    ExecuteResult,
    FeatureStatus,
    LeadExport,
    MessageOverrides,
    PredictRequest,
    PredictResult,
    ProfileRequest,
    Recommendations,
    RecommendFilter,
    SavePlanRequest,
    Strategy,
    VoiceRequest,
    VoiceResult,
)
from server.auth import Principal
from server.distribution import FamilyInfo, ModelDistribution
from server.errors import FeatureUnavailableError, InvalidRequestError, NotFoundError
from server.outreach.service import OutreachService
from server.parsing import (
    behavioural_values,
    conversation_texts,
    interaction_events,
    parse_instant,
    parse_money,
)
from server.retrain import drift_status
from server.service import SyncService
from server.speech import SpeechProcess
from server.storage.port import LoggedConflict, StoredRecord
from server.team_replicas import SERVED, TeamReplicas
from sync.changes import AnyChange, Change
from sync.clock import Hlc
from sync.manifest import ModelManifest
from sync.records import (
    RECORD_TYPES,
    Consent,
    Event,
    EventType,
    InterventionPlan,
    Lead,
)
from sync.version import PROTOCOL_VERSION

_filter_decoder = msgspec.json.Decoder(RecommendFilter)
_OK = FeatureStatus(status="ok")


class ReadWroteError(RuntimeError):
    """A read answered by writing: a bug, refused loudly (reads never write)."""


def decode_audio(data: str, path: str) -> bytes:
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidRequestError(f"not base64: {exc}", path=path) from exc


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
        #: One language interpreter for the API's own detections, invoked off the loop.
        self._language_lock = threading.Lock()
        self._speech: SpeechProcess | None = None
        #: How often the intervention WebSocket looks for synced changes, in seconds.
        #: Seconds between a socket's own looks at the log, in case a change notice was lost.
        self.poll_s = 5.0
        self.health_ttl_s = 5.0
        self._health: tuple[float, AdvancedHealth] | None = None

    # --- plumbing ------------------------------------------------------------------

    @property
    def language(self) -> LanguageIdentifier:
        if self._language is None:
            self._language = LanguageIdentifier(self.models.get("language"))
        return self._language

    def detect_text(self, text: str) -> Any:
        """The language of ``text`` (blocking: call it off the loop)."""
        with self._language_lock:
            return self.language.detect(text)

    def transcriber(self) -> SpeechProcess:
        """Speech in its own process (:mod:`server.speech`): Vosk never loads here."""
        try:
            if self._speech is None:
                self._speech = SpeechProcess()
            transcriber = self._speech
            languages = transcriber.registry.languages()
        except Exception as exc:  # vosk missing or unreadable model folder
            raise FeatureUnavailableError(f"offline speech is not available: {exc}") from exc
        if not languages:
            raise FeatureUnavailableError("no Vosk speech model is installed on this server")
        return transcriber

    async def _run(
        self, who: Principal, fn: Any, path: str = "$.lead_id", *, cache_key: Any = None
    ) -> Any:
        """``fn`` on the team's replica, which may write (its changes are pushed to the
        team's log). An unknown id is a 404 naming ``path``."""
        try:
            if cache_key is None:
                return await self.replicas.run(who.team, fn)
            return await self.replicas.read(who.team, cache_key, fn)
        except EdgeNotFoundError as exc:
            raise NotFoundError(f"{exc} (in your partition)", path=path) from exc

    async def _read(
        self,
        who: Principal,
        fn: Callable[[EdgeRuntime], Awaitable[Any]],
        path: str = "$.lead_id",
        *,
        cache_key: Any = None,
    ) -> Any:
        """As :meth:`_run` for an answer that must not change anything: a ``fn`` that
        wrote to the replica's outbox is a bug, raised as :class:`ReadWroteError`."""

        async def guarded(rt: EdgeRuntime) -> Any:
            before = await rt.outbox_head()
            value = await fn(rt)
            if await rt.outbox_head() != before:
                raise ReadWroteError(f"a read ({getattr(fn, '__qualname__', fn)}) wrote")
            return value

        return await self._run(who, guarded, path, cache_key=cache_key)

    def close(self) -> None:
        """Stop the speech process, if one was started."""
        if self._speech is not None:
            self._speech.close()

    @staticmethod
    async def _lead(runtime: EdgeRuntime, lead_id: str) -> Lead:
        return await runtime.get_lead(lead_id)

    # --- health ----------------------------------------------------------------------

    async def health(self, version: str, team: str | None = None) -> AdvancedHealth:
        """Cached for ``health_ttl_s``: probing the speech models is not free. The model
        versions are those the server computes with for ``team`` (``None``: the pooled or
        shipped ones), and a family whose last drift check is above its threshold is
        ``drifting``."""
        now = time.monotonic()
        cached = self._health
        if cached is None or now - cached[0] > self.health_ttl_s or cached[1].version != version:
            self._health = cached = (now, self._probe(version))
        probe = cached[1]
        distribution = self.replicas.distribution
        if distribution is None:
            return probe
        features = dict(probe.features)
        for family, check in (await drift_status(distribution, team)).items():
            if check.status == "drifting" and features.get(family, _OK).status == "ok":
                features[family] = FeatureStatus(
                    status="drifting",
                    detail=f"{family} {check.version}: score PSI {check.psi:.3f} >= "
                    f"{check.threshold} since {check.checked_at} (epoch ms)",
                )
        models = {**probe.models, **(await self.served_versions(team))}
        return msgspec.structs.replace(probe, features=features, models=models)

    async def served_versions(self, team: str | None) -> dict[str, str]:
        """name -> version of each retrained model the server computes with for ``team``
        (``None``: the pooled versions); models still shipped are left out."""
        distribution = self.replicas.distribution
        served: dict[str, str] = {}
        if distribution is None:
            return served
        if team is not None:
            return {n: v for n, v in await self.replicas.serving(team) if v is not None}
        for name, serving in (await distribution.served(None, SERVED)).items():
            if serving is not None:
                served[name] = serving[1]
        return served

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

    # --- models ------------------------------------------------------------------------

    def running_models(self) -> dict[str, str]:
        """name -> version of each model this server computes with (those that load)."""
        running: dict[str, str] = {}
        for name in SPEC_HASHES:
            try:
                running[name] = self.models.manifest(name).version
            except Exception:  # a model that cannot load is not running (health says why)
                continue
        return running

    async def model_families(
        self, distribution: ModelDistribution, team: str | None = None
    ) -> list[FamilyInfo]:
        """The registry's families as ``team`` sees them (its own scope over the pooled one),
        with the version the server computes with for it (shipped ones included)."""
        shipped = await asyncio.to_thread(self.running_models)
        running = {**shipped, **(await self.served_versions(team))}
        families = {f.name: f for f in await distribution.families()}
        if team is not None:
            families.update({f.name: f for f in await distribution.for_team(team).families()})
        for name, version in running.items():
            family = families.get(name)
            if family is None:
                family = FamilyInfo(
                    name=name, stable=None, latest=None, percent=0, versions=[], rolled_back=[]
                )
            versions = (
                family.versions if version in family.versions else [version, *family.versions]
            )
            families[name] = msgspec.structs.replace(family, versions=versions, running=version)
        return [families[n] for n in sorted(families)]

    def _running_manifest(self, name: str, version: str) -> ModelManifest | None:
        if self.running_models().get(name) != version:
            return None
        return self.models.manifest(name)

    async def _version_source(
        self, distribution: ModelDistribution, name: str, version: str, team: str | None
    ) -> tuple[ModelDistribution, ModelManifest | None]:
        """Where ``version`` of ``name`` lives: its scope (the team's first), and the running
        (shipped) model's manifest when that version is not published but runs here."""
        scope = distribution if team is None else await distribution.holding(team, name, version)
        running = await asyncio.to_thread(self._running_manifest, name, version)
        if running is not None and await scope.has_version(name, version):
            running = None
        return scope, running

    async def model_manifest(
        self, distribution: ModelDistribution, name: str, version: str, team: str | None = None
    ) -> ModelManifest:
        """A published version's signed manifest (the team's scope first), or the running
        one's (signed here)."""
        scope, running = await self._version_source(distribution, name, version, team)
        if running is not None:
            return await distribution.sign(running)
        return await scope.manifest(name, version)

    async def model_blob(
        self, distribution: ModelDistribution, name: str, version: str, team: str | None = None
    ) -> bytes:
        """A published version's bytes (the team's scope first), or the shipped model's."""
        scope, running = await self._version_source(distribution, name, version, team)
        if running is not None:
            return (self.models.shipped_dir / f"{name}.tflite").read_bytes()
        return await scope.blob(name, version)

    # --- analysis ----------------------------------------------------------------------

    async def analyze(self, who: Principal, ask: AnalyzeRequest) -> Analysis:
        """The lead's analysis, with ``ask.events`` considered beside the stored ones; a read:
        nothing is stored (events are recorded by sync or :meth:`record_events`)."""
        _same_lead(ask.events, ask.lead_id, [f"$.events[{i}]" for i in range(len(ask.events))])

        async def go(rt: EdgeRuntime) -> Analysis:
            return await rt.preview_analysis(ask.lead_id, ask.events)

        key = ("analysis", ask.lead_id) if not ask.events else None
        return await self._read(who, go, cache_key=key)

    async def record_events(
        self, who: Principal, lead_id: str, events: list[Event], paths: list[str] | None = None
    ) -> None:
        """Write events of one lead into the team's data (they sync to every device).

        ``paths`` names each event in a refusal (default ``$.events[i]``)."""
        paths = paths or [f"$.events[{i}]" for i in range(len(events))]
        _same_lead(events, lead_id, paths)

        plain = [msgspec.convert(msgspec.to_builtins(e), Event) for e in events]

        async def go(rt: EdgeRuntime) -> None:
            await self._lead(rt, lead_id)
            await _known_listings(rt, plain, paths)
            await rt.put(plain)

        await self._run(who, go)

    # --- language and voice ---------------------------------------------------------------

    async def detect(self, ask: DetectRequest) -> DetectResult:
        if (ask.text is None) == (ask.audio_wav_base64 is None):
            raise InvalidRequestError("give exactly one of text and audio_wav_base64", path="$")
        if ask.text is not None:
            said = await asyncio.to_thread(self.detect_text, ask.text)
            return DetectResult(language=said.language, confidence=said.confidence, source="text")
        wav = decode_audio(ask.audio_wav_base64 or "", "$.audio_wav_base64")
        transcript = await self._transcribe(wav, ask.language_hint, "$.audio_wav_base64")
        text = transcript.text
        guess = await asyncio.to_thread(self.detect_text, text) if text.strip() else None
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
        text = transcript.text
        guess = await asyncio.to_thread(self.detect_text, text) if text.strip() else None
        event_id = None
        if ask.lead_id is not None and transcript.text.strip():
            lead_id = ask.lead_id

            async def note(rt: EdgeRuntime) -> str:
                event = Event(
                    id=f"voice-{rt.now_ms()}-{len(transcript.text)}",
                    lead_id=lead_id,
                    type=EventType.VOICE_NOTE,
                    ts=rt.now_ms(),
                    text=transcript.text[:4000],
                    language=transcript.language,
                )
                await rt.put([event])
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
            lead = await rt.get_lead(ask.lead_id)
            return lead, await rt.message_context(lead)

        lead, base = await self._read(who, inputs, cache_key=("message_context", ask.lead_id))
        overrides = message_overrides(ask.context, _zone(lead.timezone), "$.context")
        try:
            return await asyncio.to_thread(
                adapt_message,
                lead,
                Intent(ask.intent),
                base.with_overrides(overrides),
                now_ms=self.sync.config.clock(),
                formality=ask.formality,
                length=ask.length,
                channel=ask.channel,
            )
        except CultureError as exc:
            raise InvalidRequestError(str(exc), path="$.context") from exc

    # --- interventions --------------------------------------------------------------------

    async def predict(self, who: Principal, ask: PredictRequest) -> PredictResult:
        """The lead's behaviour and the plan the planner would make now; stores nothing."""

        async def go(rt: EdgeRuntime) -> PredictResult:
            preview = await rt.preview_plan(ask.lead_id)
            return _prediction(ask.lead_id, preview.behaviour, preview.plan, saved=False)

        return await self._read(who, go)

    async def save_plan(self, who: Principal, ask: SavePlanRequest) -> PredictResult:
        """Plan the lead's outreach and store it as its active plan (a write: it syncs to
        the team's devices, whose schedulers then fire its steps)."""

        async def go(rt: EdgeRuntime) -> PredictResult:
            behaviour = await rt.predict_behaviour(ask.lead_id)
            plan = await rt.plan_interventions(ask.lead_id)
            return _prediction(ask.lead_id, behaviour, plan, saved=True)

        return await self._run(who, go)

    async def execute(self, who: Principal, ask: ExecuteRequest) -> ExecuteResult:
        """Send the step through the server's channel (or record the agent's own outreach);
        the outreach rules refuse with 409 ``rejected`` and a ``reason``."""
        if ask.by_agent:
            done = await self.outreach.complete(who, ask.step_id)
        else:
            done = await self.outreach.execute(who, ask.step_id)
        return ExecuteResult(
            step_id=done.step_id,
            status=done.status,
            delivery=done.delivery,
            event=done.event,
            outbox=done.outbox,
        )

    # --- personalization ------------------------------------------------------------------

    async def create_profile(self, who: Principal, ask: ProfileRequest) -> Any:
        """The lead's profile from its messages, interactions and behavioural data, in the
        integrator shapes or the internal ones (see :class:`ProfileRequest`)."""
        features_given = behavioural_values(ask.behavioral_data, FEATURE_INDEX)

        async def go(rt: EdgeRuntime) -> Any:
            new = None
            try:
                lead = await rt.get_lead(ask.lead_id)
            except EdgeNotFoundError:  # new here; another team's lead of that id stays theirs
                lead = new = Lead(
                    id=ask.lead_id,
                    agent_id=who.agent,
                    team_id=who.team,
                    name=ask.name or ask.lead_id,
                    language=ask.language or "en",
                    created_at=rt.now_ms(),
                )
            try:
                zone: tzinfo | None = ZoneInfo(lead.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                zone = None
            # every value is read before anything is written: a refusal stores nothing
            texts = conversation_texts(ask.conversation_history, zone)
            interactions = interaction_events(
                ask.property_interactions, ask.lead_id, zone, rt.now_ms()
            )
            if new is not None:
                await rt.put([new])
            features = None
            if features_given:
                features = await rt.behavioural_features(ask.lead_id)
                for name, value in features_given.items():
                    features[FEATURE_INDEX[name]] = value
            return await rt.create_profile(
                ask.lead_id,
                texts or None,
                features,
                interactions or None,
            )

        return await self._run(who, go)

    async def recommendations(
        self, who: Principal, lead_id: str, context: str | None, k: int
    ) -> Recommendations:
        """The best listings for the lead under the agent's filters; stores nothing."""
        ctx = recommend_context(context) if context else None

        async def go(rt: EdgeRuntime) -> Recommendations:
            recs = await rt.preview_recommendations(lead_id, ctx, k)
            return Recommendations(lead_id=lead_id, recommendations=recs)

        key = ("recommendations", lead_id, ctx, k)
        return await self._read(who, go, path="path.lead_id", cache_key=key)

    async def plan(self, who: Principal, lead_id: str) -> Any:
        return await self._read(
            who, lambda rt: rt.plan(lead_id), path="path.lead_id", cache_key=("plan", lead_id)
        )

    # --- privacy ------------------------------------------------------------------------

    async def export_lead(self, who: Principal, lead_id: str) -> LeadExport:
        """Every record of the lead in the caller's partition as one document (404 otherwise)."""
        records, changes, conflicts = await self.sync.store.lead_history(who.team, lead_id)
        return lead_export(lead_id, records, changes, conflicts)

    async def erase_lead(self, who: Principal, lead_id: str) -> Erased:
        from sync.merge import is_visible

        record = await self.sync.store.record(who.team, ("lead", lead_id))
        if record is None or not is_visible(record.state):
            raise NotFoundError(f"lead {lead_id!r} is not in your partition", path="path.lead_id")
        records, _, _ = await self.sync.store.lead_history(who.team, lead_id)

        async def go(rt: EdgeRuntime) -> None:
            await rt.delete("lead", lead_id, hard_erase=True)

        await self._run(who, go, path="path.lead_id")
        self.replicas.drop_answers(who.team)
        return Erased(lead_id=lead_id, records_erased=len(records))


_MESSAGE_TYPES = frozenset({EventType.MESSAGE_IN, EventType.MESSAGE_OUT})


def lead_export(
    lead_id: str,
    records: Sequence[StoredRecord],
    changes: Sequence[AnyChange],
    conflicts: Sequence[LoggedConflict],
) -> LeadExport:
    """The :class:`LeadExport` of a lead's history; NotFoundError when the lead is not shown."""
    from sync.merge import is_visible, values

    current: dict[str, list[Any]] = {}
    raw: list[dict[str, Any]] = []
    for r in records:
        if not is_visible(r.state):
            continue
        fields = {**values(r.state), "id": r.entity_id}
        raw.append({"entity": r.entity, **fields})
        try:
            current.setdefault(r.entity, []).append(msgspec.convert(fields, RECORD_TYPES[r.entity]))
        except (KeyError, msgspec.ValidationError):
            continue  # a record not complete yet: in ``records`` only
    leads = current.get("lead", [])
    if not leads:
        raise NotFoundError(f"lead {lead_id!r} is not in your partition", path="path.lead_id")
    events = sorted(current.get("event", []), key=lambda e: (e.ts, e.id))
    consent = [
        ConsentChange(
            hlc=c.hlc,
            at=Hlc.decode(c.hlc).wall_ms,
            device_id=c.device_id,
            consent=msgspec.convert(c.fields["consent"], Consent),
        )
        for c in changes
        if isinstance(c, Change) and c.entity == "lead" and "consent" in c.fields
    ]
    profiles = current.get("profile", [])
    return LeadExport(
        lead_id=lead_id,
        lead=leads[0],
        events=events,
        messages=[e for e in events if e.type in _MESSAGE_TYPES],
        profile=profiles[0] if profiles else None,
        plans=sorted(current.get("intervention_plan", []), key=lambda p: (p.created_at, p.id)),
        steps=sorted(current.get("intervention_step", []), key=lambda s: (s.plan_id, s.seq)),
        consent_history=sorted(consent, key=lambda c: c.hlc),
        conflicts=list(conflicts),
        records=raw,
        changes=list(changes),
    )


# --- the pieces of reads ------------------------------------------------------------------


def _same_lead(events: Sequence[Event], lead_id: str, paths: list[str]) -> None:
    for e, path in zip(events, paths, strict=True):
        if e.lead_id != lead_id:
            raise InvalidRequestError(
                f"event {e.id!r} is of lead {e.lead_id!r}, not {lead_id!r}",
                path=f"{path}.lead_id",
            )


async def _known_listings(rt: EdgeRuntime, events: list[Event], paths: list[str]) -> None:
    """Refuse an event naming a listing the team does not hold (it cannot be stored)."""
    ids = sorted({e.listing_id for e in events if e.listing_id})
    if not ids:
        return
    known = await rt.known_listings(ids)
    for e, path in zip(events, paths, strict=True):
        if e.listing_id and e.listing_id not in known:
            raise InvalidRequestError(
                f"listing {e.listing_id!r} is not among your team's listings (sync it first)",
                path=f"{path}.listing_id",
            )


def _prediction(
    lead_id: str, behaviour: Any, plan: InterventionPlan, *, saved: bool
) -> PredictResult:
    steps = sorted(plan.steps, key=lambda s: -s.p_response)
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
        lead_id=lead_id, behaviour=behaviour, strategies=strategies, plan=plan, plan_saved=saved
    )


def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def message_overrides(given: MessageOverrides, zone: Any, path: str) -> dict[str, object]:
    """The overrides of a message context, parsed (amounts, times); None values dropped."""
    values: dict[str, object] = {}
    for name in given.__struct_fields__:
        value = getattr(given, name)
        if value is None:
            continue
        if name == "showing_at":
            value = parse_instant(value, f"{path}.{name}", zone)
        elif name in ("old_price", "new_price", "offer_amount"):
            value = parse_money(value, f"{path}.{name}")
        values[name] = value
    return values


def recommend_context(text: str) -> RecommendContext:
    """The agent's filters from the ``context`` query parameter (JSON), unknown keys refused."""
    try:
        given = _filter_decoder.decode(text)
    except msgspec.MsgspecError as exc:
        from server.errors import UnknownFieldError, path_in

        refusal = UnknownFieldError if "unknown field" in str(exc) else InvalidRequestError
        raise refusal(
            f"context is not a filter JSON object: {exc}",
            path=path_in(str(exc), "query.context"),
        ) from exc
    return RecommendContext(
        max_price=None
        if given.max_price is None
        else parse_money(given.max_price, "query.context.max_price"),
        city=given.city,
        vertical=given.vertical,
        include_seen=given.include_seen,
    )
