"""``EdgeRuntime``: the one public async API of the device.

The Kivy client, the CLI and the server's advanced API call this and nothing deeper.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import numpy as np

from edge import queries
from edge.agenda import LeadSummary, TodayStep, lead_summaries, local_zone, steps_today
from edge.analysis import Analysis, CacheStats, LeadAnalyst
from edge.behaviour import BehaviourPrediction
from edge.channels.base import Sender
from edge.culture import DraftMessage, Intent, MessageContext, adapt_message
from edge.energy import EnergyMeter
from edge.errors import NotFoundError
from edge.features_sql import events_snapshot
from edge.inference import ModelRegistry
from edge.ingest import IngestReport, ingest
from edge.language import LanguageGuess, LanguageIdentifier
from edge.outreach.executor import Execution, Inbound, recover_sending
from edge.personalization import (
    Recommendation,
    RecommendContext,
    Style,
    StyleContext,
    adapt_style,
    text_flags,
)
from edge.rows import record_from_row
from edge.scheduler import (
    AgentTask,
    RunDueReport,
    StepScheduler,
    active_plan,
    complete_step,
    due_tasks,
    run_due,
)
from edge.spec_hashes import SPEC_HASHES
from edge.store import Clock, EdgeStore, StoreCounts
from edge.vertical import VerticalGuess, keyword_hits
from sync.clock import wall_clock_ms
from sync.records import (
    Agent,
    Channel,
    Event,
    Formality,
    InterventionPlan,
    InterventionStep,
    Lead,
    Listing,
    MessageLength,
    Profile,
    Record,
)

if TYPE_CHECKING:  # httpx and its CLI extras cost ~10 MB: imported on the first sync only
    from edge.sync_client import SyncLoop, SyncReport


class LeadDetail(msgspec.Struct, frozen=True, kw_only=True):
    lead: Lead
    recent_events: list[Event]


class EdgeRuntime:
    """A device: its database and, as later features land, its models and services."""

    def __init__(self, store: EdgeStore, models: ModelRegistry):
        self.store = store
        self.models = models
        self._language: LanguageIdentifier | None = None

    @classmethod
    async def open(
        cls,
        path: str | Path,
        *,
        create: bool = True,
        clock: Clock = wall_clock_ms,
        model_dir: Path | None = None,
    ) -> EdgeRuntime:
        """Open the device database at ``path`` (created and migrated when needed).

        Downloaded models live in ``model_dir`` (default: ``<path>.models`` beside the
        database); the models shipped with the package are the fallback.
        """
        store = await EdgeStore.open(path, create=create, clock=clock)
        await recover_sending(store)  # a send cut short by a crash: unknown, never re-sent
        directory = model_dir or Path(f"{path}.models")
        directory.mkdir(parents=True, exist_ok=True)
        return cls(store, ModelRegistry(directory, SPEC_HASHES))

    async def close(self) -> None:
        await self.stop_scheduler()
        self._drop_analyst()
        await self.store.close()

    def reload_models(self) -> None:
        """Forget every model-derived cache, after models were installed or dropped."""
        self._language = None
        self._drop_analyst()

    def _drop_analyst(self) -> None:
        """Forget the analyst (its caches and models) and close its reader."""
        analyst = self.__dict__.pop("_analyst", None)
        if analyst is not None:
            analyst.close()

    async def __aenter__(self) -> EdgeRuntime:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def device_id(self) -> str:
        return self.store.device_id

    async def ingest(self, data: bytes) -> IngestReport:
        """Validate and write a batch (JSON lines or MessagePack): all of it or nothing."""
        return await ingest(self.store, data)

    async def counts(self) -> StoreCounts:
        return await self.store.counts()

    async def languages(self) -> dict[str, int]:
        """Leads per language, most common first."""
        return await self.store.languages()

    # --- language -----------------------------------------------------------------

    @property
    def language_identifier(self) -> LanguageIdentifier:
        if self._language is None or self._language.model is not self.models.get("language"):
            self._language = LanguageIdentifier(self.models.get("language"))
        return self._language

    def detect_language(self, text: str) -> LanguageGuess:
        """The language of ``text`` (ISO 639-1 or ``unknown``) with a confidence."""
        return self.language_identifier.detect(text)

    def detect_languages(self, texts: list[str]) -> list[LanguageGuess]:
        """Batched :meth:`detect_language`: one model call for the whole list."""
        return self.language_identifier.detect_batch(texts)

    # --- messages -----------------------------------------------------------------

    async def message_context(self, lead: Lead, **overrides: object) -> MessageContext:
        """What a message to ``lead`` can talk about, from the device's data.

        The agent's name, the listing the lead engaged with most recently, and the lead's
        latest booked showing; ``overrides`` (e.g. ``new_price``) win.
        """
        reader = self.analyst.reader
        try:
            agent = await reader.get("agent", lead.agent_id)
            agent_name = agent.name if isinstance(agent, Agent) else lead.agent_id
        except NotFoundError:
            agent_name = lead.agent_id
        listing = None
        row = await reader.fetchone(queries.LATEST_ENGAGED_LISTING, (lead.id,))
        if row is not None:
            listing = record_from_row("listing", row)
        showing = await reader.fetchone(queries.LATEST_SHOWING, (lead.id,))
        return MessageContext(
            agent_name=agent_name,
            listing=listing if isinstance(listing, Listing) else None,
            showing_at=showing[0] if showing else None,
        ).with_overrides(overrides)

    async def adapt_message(
        self,
        lead_id: str,
        intent: Intent | str,
        *,
        channel: Channel = Channel.SMS,
        formality: Formality | None = None,
        length: MessageLength | None = None,
        **context: object,
    ) -> DraftMessage:
        """Draft ``intent`` for a lead: its language, register, locale formats, contact hours."""
        lead: Lead = await self.analyst.reader.get("lead", lead_id)
        ctx = await self.message_context(lead, **context)
        return adapt_message(
            lead,
            Intent(intent),
            ctx,
            now_ms=self.store.now_ms(),
            formality=formality,
            length=length,
            channel=channel,
        )

    async def lead_detail(self, lead_id: str, events: int = 20) -> LeadDetail:
        """The lead and its most recent events; NotFoundError for an unknown id."""
        lead = await self.store.get_lead(lead_id)
        return LeadDetail(lead=lead, recent_events=await self.store.recent_events(lead_id, events))

    # --- sync ----------------------------------------------------------------------------

    async def sync(self, server_url: str, token: str, **options: Any) -> SyncReport:
        """Push the outbox and pull the team's changes once (retrying network errors); plans
        of one lead made apart (offline, on two phones) then converge to one active plan."""
        from edge.sync_client import sync as sync_with_server

        report = await sync_with_server(self.store, server_url, token, **options)
        if report.pulled:
            await self.after_pull()
        return report

    async def after_pull(self, _report: object = None) -> None:
        """Pulled changes: plans made apart converge, and pulled steps get their jobs now."""
        from edge.outreach.executor import settle_plans

        self.forget_erased()
        await settle_plans(self.store)
        scheduler = self.__dict__.get("_scheduler")
        if scheduler is not None:
            await scheduler.reschedule()

    def forget_erased(self) -> set[str]:
        """Drop what memory holds of the leads erased since the last call (cached analyses,
        memoized texts); the leads. The database is purged by the erasure itself
        (:mod:`edge.erasure`)."""
        erased = self.store.take_erased()
        if not erased:
            return erased
        analyst = self.__dict__.get("_analyst")
        if analyst is not None:
            for lead_id in erased:
                analyst.invalidate(lead_id)
        # Memoized per text (a lead's messages among them): cheap to compute again.
        text_flags.cache_clear()
        keyword_hits.cache_clear()
        return erased

    def sync_loop(self, server_url: str, token: str, **options: Any) -> SyncLoop:
        """A background sync (``start()``, ``stop()``, ``notify_online()``); after a sync
        that pulled changes, :meth:`after_pull` runs."""
        from edge.sync_client import SyncLoop

        options.setdefault("on_pulled", self.after_pull)
        return SyncLoop(self.store, server_url, token, **options)

    async def update(self, kind: str, record_id: str, **fields: Any) -> Record:
        """Change some fields of a record; only those fields travel in the outbox change.

        Sending only what changed is what lets two phones edit different fields of one lead
        offline and keep both edits.
        """
        return await self.store.update(kind, record_id, fields)

    async def delete(self, kind: str, record_id: str, *, hard_erase: bool = False) -> None:
        """Delete a record (a tombstone travels); ``hard_erase`` for a privacy erasure, which
        also purges the record (a lead: every record of it) from the whole device at once
        (:mod:`edge.erasure`): merge state, outbox, conflict log, caches and scheduled jobs."""
        async with self.store.transaction() as tx:
            tx.tombstone(kind, record_id, hard_erase=hard_erase)
        if hard_erase:
            self.forget_erased()
            scheduler = self.__dict__.get("_scheduler")
            if scheduler is not None:
                await scheduler.reschedule()

    async def get(self, kind: str, record_id: str) -> Record:
        return await self.store.get(kind, record_id)

    async def quarantined(self) -> int:
        """How many changes the server refused and the device keeps aside."""
        return len(await self.store.quarantined())

    async def release_quarantine(self) -> int:
        """Put the quarantined changes back in line (after an upgrade); returns how many."""
        return await self.store.release_quarantine()

    # --- behaviour, personalization, plans (issue 5) -------------------------------------

    @property
    def energy(self) -> EnergyMeter:
        """CPU time and bytes per operation in this process (see ``edge.energy``)."""
        if "_energy" not in self.__dict__:
            self.__dict__["_energy"] = EnergyMeter()
        return self.__dict__["_energy"]

    @property
    def analyst(self) -> LeadAnalyst:
        if "_analyst" not in self.__dict__:
            self.__dict__["_analyst"] = LeadAnalyst(self.store, self.models, self.energy)
        return self.__dict__["_analyst"]

    async def predict_behaviour(self, lead_id: str) -> BehaviourPrediction:
        """P(convert), P(respond), engagement tier and the drivers, from the device's SQLite."""
        with self.energy.measure("predict_behaviour"):
            return await self.analyst.predict_behaviour(lead_id)

    async def detect_vertical(self, lead_id: str) -> VerticalGuess:
        """Luxury, commercial, new construction or residential, from views and words."""
        with self.energy.measure("detect_vertical"):
            return await self.analyst.detect_vertical(lead_id)

    async def create_profile(
        self,
        lead_id: str,
        conversation_history: Sequence[str] | None = None,
        behavioural_data: np.ndarray | None = None,
        property_interactions: Sequence[Event] | None = None,
    ) -> Profile:
        """Learn and store the lead's profile (its change goes to the outbox).

        Each input defaults to what the device holds: the lead's message texts, its behavioural
        feature vector, and its events with their listings.
        """
        with self.energy.measure("create_profile") as cost:
            snap = await self.analyst.snapshot(lead_id)
            if property_interactions is not None:
                snap = await events_snapshot(self.analyst.reader, snap, property_interactions)
            profile = await self.analyst.build_profile(
                snap,
                texts=conversation_history,
                features=behavioural_data,
                detector=self.language_identifier,
            )
            cost.bytes_sent += await self.analyst.save_profile(profile)
            return profile

    async def profile(self, lead_id: str) -> Profile:
        """The stored profile of a lead, created when there is none."""
        row = await self.analyst.reader.fetchone(queries.PROFILE_OF_LEAD, (lead_id,))
        if row is not None:
            return record_from_row("profile", row)  # type: ignore[return-value]
        return await self.create_profile(lead_id)

    async def recommend(
        self, profile: Profile | str, context: RecommendContext | None = None, k: int = 10
    ) -> list[Recommendation]:
        """The ``k`` best unseen active listings for a profile (or a lead id), with reasons."""
        with self.energy.measure("recommend"):
            if isinstance(profile, str):
                profile = await self.profile(profile)
            return await self.analyst.recommend(profile, context, k)

    def adapt_style(self, profile: Profile, message_context: StyleContext | None = None) -> Style:
        """Formality, length, channel and language for one message to the profile's lead."""
        return adapt_style(profile, message_context)

    async def plan_interventions(self, lead_id: str) -> InterventionPlan:
        """Plan, store and schedule outreach for a lead; an empty plan says why it is empty."""
        with self.energy.measure("plan_interventions") as cost:
            snap = await self.analyst.snapshot(lead_id)
            profile = await self.profile(lead_id)
            recs = await self.analyst.recommend(profile, None, 3, snap)
            plan = await self.analyst.plan(
                snap, profile, await self.message_context(snap.lead), recs
            )
            cost.bytes_sent += await self.analyst.store_plan(plan)
        await self._reschedule()
        return plan

    async def plan(self, lead_id: str) -> InterventionPlan | None:
        """The lead's active plan with its steps, if any."""
        await self.store.get_lead(lead_id)
        return await active_plan(self.store, lead_id)

    async def run_due(self, now_ms: int | None = None) -> RunDueReport:
        """Fire due steps: each becomes a task for the agent and an outbox change."""
        with self.energy.measure("run_due"):
            return await run_due(self.store, now_ms)

    async def due_tasks(self) -> list[AgentTask]:
        return await due_tasks(self.store)

    async def complete_step(self, step_id: str) -> Event:
        """The agent did a task by hand; the outreach rules are checked (a refusal raises
        :class:`~edge.errors.OutreachRefusedError`), then it is recorded as an event."""
        return await complete_step(self.store, step_id)

    async def execute_step(self, step_id: str, sender: Sender | None = None) -> Execution:
        """Send a step through a channel adapter, at most once (``edge.outreach.executor``).

        The default adapter is the phone's own apps (:class:`edge.channels.phone.PhoneChannel`):
        where the platform has no facade for the channel (a desktop), nothing is sent and the
        step stays ``due``, a task for the agent, with the reason in the delivery's detail.
        A refusal raises :class:`~edge.errors.OutreachRefusedError` (nothing was sent).
        """
        from edge.channels.phone import PhoneChannel
        from edge.outreach.executor import execute_step

        with self.energy.measure("execute_step"):
            return await execute_step(self.store, step_id, sender or PhoneChannel())

    async def skip_step(self, step_id: str) -> InterventionStep:
        """The agent drops an open step: ``skipped``, never sent (a closed one: ``not_pending``)."""
        from edge.outreach.executor import skip_step

        step = await skip_step(self.store, step_id)
        await self._reschedule()
        return step

    async def snooze_step(self, step_id: str, minutes: int = 60) -> InterventionStep:
        """The agent puts an open step off by ``minutes`` from now; it fires (or comes back as
        a task) then, by the rules then."""
        from edge.outreach.executor import snooze_step

        if minutes <= 0:
            raise ValueError(f"minutes={minutes}: snooze by at least one minute")
        step = await snooze_step(self.store, step_id, self.store.now_ms() + minutes * 60_000)
        await self._reschedule()
        return step

    async def resolve_step(self, step_id: str, reached: bool) -> InterventionStep:
        """The agent settles a send whose outcome is ``unknown``: the lead got it (``sent``,
        recorded as outreach) or not (``failed``); any other step is ``not_pending``."""
        from edge.outreach.executor import resolve_unknown

        return await resolve_unknown(self.store, step_id, reached)

    async def _reschedule(self) -> None:
        scheduler = self.__dict__.get("_scheduler")
        if scheduler is not None:
            await scheduler.reschedule()

    async def record_inbound(
        self, lead_id: str, channel: Channel, text: str, message_id: str = ""
    ) -> Inbound:
        """The lead wrote: its plan pauses; an opt-out keyword revokes the channel's consent."""
        from edge.outreach.executor import record_inbound

        return await record_inbound(self.store, lead_id, channel, text, message_id=message_id)

    async def start_scheduler(self) -> StepScheduler:
        """Start APScheduler for the stored steps (missed ones by the rule in edge.scheduler)."""
        if "_scheduler" not in self.__dict__:
            scheduler = StepScheduler(self.store, self.run_due)
            await scheduler.start()
            self.__dict__["_scheduler"] = scheduler
        return self.__dict__["_scheduler"]

    async def stop_scheduler(self) -> None:
        scheduler = self.__dict__.pop("_scheduler", None)
        if scheduler is not None:
            await scheduler.shutdown()

    async def analyze(self, lead_id: str) -> Analysis:
        """Language, behaviour, vertical, profile, recommendations and plan, cached per lead."""
        with self.energy.measure("analyze"):
            stamp, hit = await self.analyst.cached(lead_id)
            if hit is not None:
                return hit
            snap = await self.analyst.snapshot(lead_id)
            analysis = await self.analyst.compute(
                snap, await self.message_context(snap.lead), self.language_identifier
            )
            # The profile write above may not change the stamp (profiles are not events).
            self.analyst.remember(lead_id, stamp, analysis)
            return analysis

    def cache_stats(self) -> CacheStats:
        return self.analyst.cache_stats()

    # --- Kivy client support (issue 8): thin delegations for mobile_client ---------------
    # Kept in one block with local imports so the client never reaches past EdgeRuntime.

    async def lead_list(self, *, scores: bool = False) -> list[LeadSummary]:
        """Every lead, most recently active first; with ``scores``, each one's P(convert)."""
        leads = await lead_summaries(self.store)
        if not scores:
            return leads
        return [
            msgspec.structs.replace(
                s, p_convert=round((await self.predict_behaviour(s.id)).p_convert, 4)
            )
            for s in leads
        ]

    async def today(self, zone: str | None = None) -> list[TodayStep]:
        """Steps due by the end of today in ``zone`` (default: this machine's), in words; and
        every send whose outcome is ``unknown`` (the agent checks and settles it)."""
        return await steps_today(self.store, self.store.now_ms(), local_zone(zone))

    async def leads(self) -> list[Lead]:
        """Every lead on the device, by name."""
        rows = await self.store.fetchall(queries.LEADS_BY_NAME)
        return [record_from_row("lead", r) for r in rows]  # type: ignore[misc]

    async def record_event(
        self,
        lead_id: str,
        type: str,
        *,
        text: str | None = None,
        channel: Channel | str | None = None,
        language: str | None = None,
        duration_s: float | None = None,
    ) -> Event:
        """Store an event the agent made (voice note, message sent); its change goes out."""
        import uuid

        from sync.records import EventType

        await self.store.get_lead(lead_id)
        event = Event(
            id=f"ev-{uuid.uuid4().hex}",
            lead_id=lead_id,
            type=EventType(type),
            ts=self.store.now_ms(),
            channel=Channel(channel) if channel else None,
            text=text,
            language=language,
            duration_s=duration_s,
        )
        async with self.store.transaction() as tx:
            tx.put(event)
        return event

    @property
    def transcriber(self) -> Any:
        """The offline :class:`edge.voice.Transcriber` (created on first use)."""
        if "_transcriber" not in self.__dict__:
            from edge.voice import Transcriber

            self.__dict__["_transcriber"] = Transcriber()
        return self.__dict__["_transcriber"]

    def voice_languages(self) -> list[str]:
        """Languages with an installed speech model."""
        return self.transcriber.registry.languages()

    async def transcribe(self, audio: bytes | str | Path, language: str | None = None) -> Any:
        """Transcribe a WAV clip (bytes or path) off the event loop."""
        import asyncio

        await asyncio.to_thread(self.load_voice_model, language)
        with self.energy.measure("voice_note") as cost:
            transcript = await asyncio.to_thread(self.transcriber.transcribe, audio, language)
            cost.audio_s += transcript.duration_s
            return transcript

    def load_voice_model(self, language: str | None = None) -> str:
        """Load the speech model of ``language`` now (once per process; blocking), so that a
        transcription's time and energy are the recognition alone. Returns the language."""
        with self.energy.measure("voice_model_load"):
            lang = self.transcriber.language_for(language)
            self.transcriber.registry.model(lang)
        return lang

    def transcribe_stream(
        self, audio: bytes | str | Path, language: str | None = None, chunk_s: float = 0.5
    ) -> Any:
        """Partial transcripts of a WAV clip fed in ``chunk_s`` pieces, then the final one.

        A blocking iterator: run it in a worker thread.
        """
        from edge.voice import SAMPLE_RATE, read_wav

        data = read_wav(audio if isinstance(audio, bytes) else str(audio)).to_bytes()
        step = 2 * max(1, int(chunk_s * SAMPLE_RATE))
        chunks = (data[i : i + step] for i in range(0, len(data), step))
        self.load_voice_model(language)
        with self.energy.measure("voice_note") as cost:
            for piece in self.transcriber.transcribe_stream(chunks, language):
                if not hasattr(piece, "audio_s"):  # the final transcript
                    cost.audio_s += piece.duration_s
                yield piece

    def model_versions(self) -> dict[str, str]:
        """The version of each model in use (shipped or downloaded)."""
        return self.models.versions()

    async def conflicts(self) -> int:
        """How many field conflicts sync has logged on this device."""
        row = await self.store.fetchone(queries.CONFLICT_COUNT)
        return int(row[0]) if row else 0

    async def sync_checkpoint(self) -> int:
        return await self.store.sync_checkpoint()

    # --- model updates (issue 7) ---------------------------------------------------------

    async def enroll_model_key(self, public_key: bytes | str, *, replace: bool = False) -> str:
        """Pin the server's model-signing public key (raw bytes or base64), given at enrollment.

        Only manifests signed by this key are installed from then on; another key is refused
        unless ``replace``. Returns the signer name (``ed25519:<16 hex>``) pinned.
        """
        from edge.model_updates import parse_key, pin_key, signer_of

        raw = parse_key(public_key)
        return signer_of(await pin_key(self.store, raw, replace=replace))

    async def check_model_updates(
        self, server: str, token: str, policy: Any = None, **options: Any
    ) -> Any:
        """Download, verify (signature, hash, feature spec, canary) and install new models.

        ``policy`` is an :class:`edge.model_updates.UpdatePolicy` (Wi-Fi and charging flags);
        returns an :class:`edge.model_updates.UpdateReport`. A refused model changes nothing;
        a device with no model-signing key pinned (:meth:`enroll_model_key`) downloads nothing.
        """
        from edge.model_updates import check_model_updates

        with self.energy.measure("check_model_updates"):
            report = await check_model_updates(
                self.store, self.models, server, token, policy, **options
            )
        self._language = None  # a new language model is picked up by the next detection
        self._drop_analyst()  # and new behaviour/intervention models too
        return report
