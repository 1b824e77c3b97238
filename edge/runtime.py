"""``EdgeRuntime``: the one public async API of the device.

The Kivy client, the CLI and the server's advanced API call this and nothing deeper.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

import msgspec
import numpy as np
import numpy.typing as npt

from edge.agenda import LeadSummary, TodayStep, lead_summaries, local_zone, steps_today
from edge.analysis import Analysis, CacheStats, LeadAnalyst
from edge.behaviour import BehaviourPrediction
from edge.channels.base import Delivery, Sender
from edge.culture import DraftMessage, Intent, MessageContext, adapt_message
from edge.energy import EnergyMeter
from edge.errors import NotFoundError
from edge.features_sql import LeadSnapshot, events_snapshot
from edge.inference import ModelRegistry
from edge.ingest import IngestReport, ingest
from edge.language import LanguageGuess, LanguageIdentifier
from edge.outreach.executor import (
    Execution,
    Inbound,
    RuleInputs,
    begin_send,
    delivery_update,
    execute_step,
    find_lead,
    finish_send,
    record_inbound,
    recover_sending,
    resolve_unknown,
    settle_plans,
    skip_step,
    snooze_step,
)
from edge.personalization import (
    Recommendation,
    RecommendContext,
    Style,
    StyleContext,
    adapt_style,
    text_flags,
)
from edge.remote_changes import ApplyReport
from edge.rows import R
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
from sync.changes import AnyChange
from sync.clock import wall_clock_ms
from sync.manifest import ModelManifest
from sync.records import (
    Agent,
    AnyRecord,
    Channel,
    Event,
    Formality,
    InterventionPlan,
    InterventionStep,
    Lead,
    MessageLength,
    Profile,
    Record,
)

if TYPE_CHECKING:  # httpx and its CLI extras cost ~10 MB: imported on the first sync only
    import httpx

    from edge.model_updates import UpdatePolicy, UpdateReport
    from edge.sync_client import Progress, SyncLoop, SyncReport
    from edge.voice import Partial, Transcriber, Transcript


class LeadDetail(msgspec.Struct, frozen=True, kw_only=True):
    lead: Lead
    recent_events: list[Event]


class PlanPreview(msgspec.Struct, frozen=True, kw_only=True):
    """The lead's behaviour and the plan the planner would make now (nothing stored)."""

    lead: Lead
    behaviour: BehaviourPrediction
    plan: InterventionPlan


def _given(**options: object) -> dict[str, Any]:
    """The options that were given (not None), passed on so that the callee's defaults hold."""
    return {name: value for name, value in options.items() if value is not None}


class EdgeRuntime:
    """A device: its database, its models and the services over them.

    Its store, models and analyst are private: everything outside ``edge/`` (the server's
    replicas, the CLI, the benchmarks, the Kivy client) goes through the methods below.
    """

    def __init__(self, store: EdgeStore, models: ModelRegistry):
        self._store = store
        self._models = models
        self._language: LanguageIdentifier | None = None
        self._analyst_now: LeadAnalyst | None = None
        self._energy: EnergyMeter | None = None
        self._scheduler: StepScheduler | None = None
        self._transcriber: Transcriber | None = None

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
        await self._store.close()

    def reload_models(self) -> None:
        """Forget every model-derived cache, after models were installed or dropped."""
        self._language = None
        self._drop_analyst()

    def _drop_analyst(self) -> None:
        """Forget the analyst (its caches and models) and close its reader."""
        analyst, self._analyst_now = self._analyst_now, None
        if analyst is not None:
            analyst.close()

    async def __aenter__(self) -> EdgeRuntime:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def device_id(self) -> str:
        return self._store.device_id

    def now_ms(self) -> int:
        """The device clock (ms since the epoch)."""
        return self._store.now_ms()

    @property
    def database_path(self) -> Path:
        """The device's SQLite file (for backups and outside checks; write through here)."""
        return self._store.path

    async def ingest(self, data: bytes) -> IngestReport:
        """Validate and write a batch (JSON lines or MessagePack): all of it or nothing."""
        return await ingest(self._store, data)

    async def counts(self) -> StoreCounts:
        return await self._store.counts()

    async def languages(self) -> dict[str, int]:
        """Leads per language, most common first."""
        return await self._store.languages()

    # --- language -----------------------------------------------------------------

    @property
    def language_identifier(self) -> LanguageIdentifier:
        if self._language is None or self._language.model is not self._models.get("language"):
            self._language = LanguageIdentifier(self._models.get("language"))
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
        try:
            agent = await self._store.get("agent", lead.agent_id)
            agent_name = agent.name if isinstance(agent, Agent) else lead.agent_id
        except NotFoundError:
            agent_name = lead.agent_id
        return MessageContext(
            agent_name=agent_name,
            listing=await self._store.latest_engaged_listing(lead.id),
            showing_at=await self._store.latest_showing_at(lead.id),
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
        lead = await self._store.get_lead(lead_id)
        ctx = await self.message_context(lead, **context)
        return adapt_message(
            lead,
            Intent(intent),
            ctx,
            now_ms=self._store.now_ms(),
            formality=formality,
            length=length,
            channel=channel,
        )

    async def lead_detail(self, lead_id: str, events: int = 20) -> LeadDetail:
        """The lead and its most recent events; NotFoundError for an unknown id."""
        lead = await self._store.get_lead(lead_id)
        return LeadDetail(lead=lead, recent_events=await self._store.recent_events(lead_id, events))

    async def get_lead(self, lead_id: str) -> Lead:
        """The lead; NotFoundError for an unknown id."""
        return await self._store.get_lead(lead_id)

    async def put(self, records: Iterable[Record]) -> int:
        """Write whole records (and their outbox changes) in one transaction; how many."""
        return await self._store.put(records)

    async def record_ids(self, kind: str) -> list[str]:
        """The ids of every stored record of ``kind`` (``lead``, ``event``...), sorted."""
        return await self._store.record_ids(kind)

    async def event_texts(self, limit: int = 4096) -> list[str]:
        """Up to ``limit`` stored event texts (messages, notes)."""
        return await self._store.event_texts(limit)

    async def incoming_text_per_language(self, limit: int = 8) -> list[str]:
        """One incoming message per stated language, by language (a sample for demos)."""
        return await self._store.incoming_text_per_language(limit)

    # --- sync ----------------------------------------------------------------------------

    async def sync(
        self,
        server_url: str,
        token: str,
        *,
        attempts: int | None = None,
        base_s: float | None = None,
        cap_s: float | None = None,
        rng: random.Random | None = None,
        deadline_s: float | None = None,
        progress: Progress | None = None,
        batch_size: int | None = None,
        page_size: int | None = None,
        schema_version: int | None = None,
        timeout_s: float | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        outbox_retention_ms: int | None = None,
    ) -> SyncReport:
        """Push the outbox and pull the team's changes once (retrying network errors); plans
        of one lead made apart (offline, on two phones) then converge to one active plan.

        The options are those of :func:`edge.sync_client.sync` (retries: ``attempts``,
        ``base_s``, ``cap_s``, ``rng``, ``deadline_s``) and of its client (``batch_size``,
        ``page_size``...); one not given (None) keeps the default there (``deadline_s``:
        30 s)."""
        from edge.sync_client import sync as sync_with_server

        options = _given(
            attempts=attempts,
            base_s=base_s,
            cap_s=cap_s,
            rng=rng,
            deadline_s=deadline_s,
            progress=progress,
            batch_size=batch_size,
            page_size=page_size,
            schema_version=schema_version,
            timeout_s=timeout_s,
            transport=transport,
            outbox_retention_ms=outbox_retention_ms,
        )
        report = await sync_with_server(self._store, server_url, token, **options)
        if report.pulled:
            await self.after_pull()
        return report

    async def after_pull(self, _report: object = None) -> None:
        """Pulled changes: plans made apart converge, and pulled steps get their jobs now."""
        self.forget_erased()
        await settle_plans(self._store)
        await self._reschedule()

    def forget_erased(self) -> set[str]:
        """Drop what memory holds of the leads erased since the last call (cached analyses,
        memoized texts); the leads. The database is purged by the erasure itself
        (:mod:`edge.erasure`)."""
        erased = self._store.take_erased()
        if not erased:
            return erased
        analyst = self._analyst_now
        if analyst is not None:
            for lead_id in erased:
                analyst.invalidate(lead_id)
        # Memoized per text (a lead's messages among them): cheap to compute again.
        text_flags.cache_clear()
        keyword_hits.cache_clear()
        return erased

    def sync_loop(
        self,
        server_url: str,
        token: str,
        *,
        interval_s: float | None = None,
        base_s: float | None = None,
        cap_s: float | None = None,
        rng: random.Random | None = None,
        on_pulled: Callable[[SyncReport], Awaitable[object]] | None = None,
        batch_size: int | None = None,
        page_size: int | None = None,
        timeout_s: float | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> SyncLoop:
        """A background sync (``start()``, ``stop()``, ``notify_online()``); after a sync
        that pulled changes, ``on_pulled`` (default :meth:`after_pull`) runs. Options not
        given keep the defaults of :class:`edge.sync_client.SyncLoop`."""
        from edge.sync_client import SyncLoop

        options = _given(
            interval_s=interval_s,
            base_s=base_s,
            cap_s=cap_s,
            rng=rng,
            batch_size=batch_size,
            page_size=page_size,
            timeout_s=timeout_s,
            transport=transport,
        )
        pulled = on_pulled or self.after_pull
        return SyncLoop(self._store, server_url, token, on_pulled=pulled, **options)

    async def update(self, kind: str, record_id: str, **fields: object) -> Record:
        """Change some fields of a record; only those fields travel in the outbox change.

        The fields are checked against the kind's record type (an unknown field or a bad
        value raises :class:`~edge.errors.InvalidRecordError` naming it). Sending only what
        changed is what lets two phones edit different fields of one lead offline and keep
        both edits.
        """
        return await self._store.update(kind, record_id, fields)

    async def delete(self, kind: str, record_id: str, *, hard_erase: bool = False) -> None:
        """Delete a record (a tombstone travels); ``hard_erase`` for a privacy erasure, which
        also purges the record (a lead: every record of it) from the whole device at once
        (:mod:`edge.erasure`): merge state, outbox, conflict log, caches and scheduled jobs."""
        async with self._store.transaction() as tx:
            tx.tombstone(kind, record_id, hard_erase=hard_erase)
        if hard_erase:
            self.forget_erased()
            await self._reschedule()

    @overload
    async def get(self, kind: type[R], record_id: str) -> R: ...

    @overload
    async def get(self, kind: str, record_id: str) -> AnyRecord: ...

    async def get(self, kind: type[Record] | str, record_id: str) -> Record:
        """The stored record, by class (``get(Lead, id) -> Lead``) or by its ``kind`` tag."""
        return await self._store.get(kind, record_id)

    async def quarantined(self) -> int:
        """How many changes the server refused and the device keeps aside."""
        return len(await self._store.quarantined())

    async def quarantine(self, seqs: Sequence[int], reason: str) -> None:
        """Set outbox changes aside as the server refused them (``reason`` says why)."""
        await self._store.quarantine(seqs, reason)

    async def release_quarantine(self) -> int:
        """Put the quarantined changes back in line (after an upgrade); returns how many."""
        return await self._store.release_quarantine()

    # --- the outbox and pulled changes, for a replica that syncs in-process ---------------
    # The server's team replicas (server.team_replicas) push and pull through these, as the
    # HTTP sync client does through the store.

    async def pending_changes(self, limit: int = 500) -> list[AnyChange]:
        """Outbox changes not yet sent (nor quarantined), in sequence order."""
        return await self._store.outbox_to_push(limit)

    async def mark_sent(self, seqs: Sequence[int]) -> None:
        """The server stored these outbox changes (by ``seq``)."""
        await self._store.mark_sent(seqs)

    async def prune_outbox(self, retention_ms: int | None = None) -> int:
        """Delete outbox changes acknowledged at least ``retention_ms`` ago (default: the
        device's retention; 0: all sent ones); returns how many."""
        if retention_ms is None:
            return await self._store.prune_outbox()
        return await self._store.prune_outbox(retention_ms)

    async def apply_pulled(self, changes: Sequence[AnyChange], checkpoint: int) -> ApplyReport:
        """Merge changes pulled from the server, and move the sync checkpoint to ``checkpoint``
        (the server log position they run to), in one transaction."""
        return await self._store.apply_remote(changes, checkpoint)

    async def outbox_head(self) -> int:
        """The highest outbox sequence number written so far (0: none): changes written
        after a call have a higher ``seq``."""
        return await self._store.outbox_head()

    async def unsent_outbox_bytes(self) -> int:
        """The payload bytes waiting for the next sync."""
        return await self._store.unsent_outbox_bytes()

    # --- behaviour, personalization, plans (issue 5) -------------------------------------

    @property
    def energy(self) -> EnergyMeter:
        """CPU time and bytes per operation in this process (see ``edge.energy``)."""
        if self._energy is None:
            self._energy = EnergyMeter()
        return self._energy

    def use_energy_meter(self, meter: EnergyMeter) -> None:
        """Measure into ``meter`` from now on (e.g. a fresh one for one benchmark phase)."""
        self._energy = meter
        if self._analyst_now is not None:
            self._analyst_now.energy = meter

    @property
    def _analyst(self) -> LeadAnalyst:
        """The caches (scorer, listing index, analyses) over the store and models; private."""
        if self._analyst_now is None:
            self._analyst_now = LeadAnalyst(self._store, self._models, self.energy)
        return self._analyst_now

    async def predict_behaviour(self, lead_id: str) -> BehaviourPrediction:
        """P(convert), P(respond), engagement tier and the drivers, from the device's SQLite."""
        with self.energy.measure("predict_behaviour"):
            return await self._analyst.predict_behaviour(lead_id)

    async def detect_vertical(self, lead_id: str) -> VerticalGuess:
        """Luxury, commercial, new construction or residential, from views and words."""
        with self.energy.measure("detect_vertical"):
            return await self._analyst.detect_vertical(lead_id)

    async def create_profile(
        self,
        lead_id: str,
        conversation_history: Sequence[str] | None = None,
        behavioural_data: npt.NDArray[np.float32] | None = None,
        property_interactions: Sequence[Event] | None = None,
    ) -> Profile:
        """Learn and store the lead's profile (its change goes to the outbox).

        Each input defaults to what the device holds: the lead's message texts, its behavioural
        feature vector, and its events with their listings.
        """
        with self.energy.measure("create_profile") as cost:
            snap = await self._analyst.snapshot(lead_id)
            if property_interactions is not None:
                snap = await events_snapshot(self._analyst.reader, snap, property_interactions)
            profile = await self._analyst.build_profile(
                snap,
                texts=conversation_history,
                features=behavioural_data,
                detector=self.language_identifier,
            )
            cost.bytes_sent += await self._analyst.save_profile(profile)
            return profile

    async def profile(self, lead_id: str) -> Profile:
        """The stored profile of a lead, created when there is none."""
        stored = await self._analyst.stored_profile(lead_id)
        if stored is not None:
            return stored
        return await self.create_profile(lead_id)

    async def recommend(
        self, profile: Profile | str, context: RecommendContext | None = None, k: int = 10
    ) -> list[Recommendation]:
        """The ``k`` best unseen active listings for a profile (or a lead id), with reasons."""
        with self.energy.measure("recommend"):
            if isinstance(profile, str):
                profile = await self.profile(profile)
            return await self._analyst.recommend(profile, context, k)

    def adapt_style(self, profile: Profile, message_context: StyleContext | None = None) -> Style:
        """Formality, length, channel and language for one message to the profile's lead."""
        return adapt_style(profile, message_context)

    async def plan_interventions(self, lead_id: str) -> InterventionPlan:
        """Plan, store and schedule outreach for a lead; an empty plan says why it is empty."""
        with self.energy.measure("plan_interventions") as cost:
            snap = await self._analyst.snapshot(lead_id)
            profile = await self.profile(lead_id)
            recs = await self._analyst.recommend(profile, None, 3, snap)
            plan = await self._analyst.plan(
                snap, profile, await self.message_context(snap.lead), recs
            )
            cost.bytes_sent += await self._analyst.store_plan(plan)
        await self._reschedule()
        return plan

    async def save_plan(self, plan: InterventionPlan) -> None:
        """Store a plan made elsewhere (by hand, by a test) with its steps, as the lead's
        active plan (its earlier active plans are superseded), and schedule its steps."""
        from edge.scheduler import store_plan

        await self._store.get_lead(plan.lead_id)
        await store_plan(self._store, plan)
        await self._reschedule()

    async def plan(self, lead_id: str) -> InterventionPlan | None:
        """The lead's active plan with its steps, if any."""
        await self._store.get_lead(lead_id)
        return await active_plan(self._store, lead_id)

    async def run_due(self, now_ms: int | None = None) -> RunDueReport:
        """Fire due steps: each becomes a task for the agent and an outbox change."""
        with self.energy.measure("run_due"):
            return await run_due(self._store, now_ms)

    async def due_tasks(self) -> list[AgentTask]:
        return await due_tasks(self._store)

    async def complete_step(self, step_id: str) -> Event:
        """The agent did a task by hand; the outreach rules are checked (a refusal raises
        :class:`~edge.errors.OutreachRefusedError`), then it is recorded as an event."""
        return await complete_step(self._store, step_id)

    async def execute_step(self, step_id: str, sender: Sender | None = None) -> Execution:
        """Send a step through a channel adapter, at most once (``edge.outreach.executor``).

        The default adapter is the phone's own apps (:class:`edge.channels.phone.PhoneChannel`):
        where the platform has no facade for the channel (a desktop), nothing is sent and the
        step stays ``due``, a task for the agent, with the reason in the delivery's detail.
        A refusal raises :class:`~edge.errors.OutreachRefusedError` (nothing was sent).
        """
        from edge.channels.phone import PhoneChannel

        with self.energy.measure("execute_step"):
            return await execute_step(self._store, step_id, sender or PhoneChannel())

    async def skip_step(self, step_id: str) -> InterventionStep:
        """The agent drops an open step: ``skipped``, never sent (a closed one: ``not_pending``)."""
        step = await skip_step(self._store, step_id)
        await self._reschedule()
        return step

    async def snooze_step(self, step_id: str, minutes: int = 60) -> InterventionStep:
        """The agent puts an open step off by ``minutes`` from now; it fires (or comes back as
        a task) then, by the rules then."""
        if minutes <= 0:
            raise ValueError(f"minutes={minutes}: snooze by at least one minute")
        step = await snooze_step(self._store, step_id, self._store.now_ms() + minutes * 60_000)
        await self._reschedule()
        return step

    async def resolve_step(self, step_id: str, reached: bool) -> InterventionStep:
        """The agent settles a send whose outcome is ``unknown``: the lead got it (``sent``,
        recorded as outreach) or not (``failed``); any other step is ``not_pending``."""
        return await resolve_unknown(self._store, step_id, reached)

    async def _reschedule(self) -> None:
        if self._scheduler is not None:
            await self._scheduler.reschedule()

    async def record_inbound(
        self, lead_id: str, channel: Channel, text: str, message_id: str = ""
    ) -> Inbound:
        """The lead wrote: its plan pauses; an opt-out keyword revokes the channel's consent."""
        return await record_inbound(self._store, lead_id, channel, text, message_id=message_id)

    # --- outreach through a channel the caller holds (the server's replicas) ---------------
    # ``execute_step`` in two halves, so that the caller can take a claim between them and
    # deliver with its own adapter: see :mod:`edge.outreach.executor`.

    async def begin_send(self, step_id: str) -> RuleInputs:
        """Check the outreach rules and move the step to ``sending`` (committed on return);
        a refusal raises :class:`~edge.errors.OutreachRefusedError`."""
        return await begin_send(self._store, step_id)

    async def finish_send(self, step: InterventionStep, delivery: Delivery) -> Execution:
        """Record what the channel did with a step :meth:`begin_send` moved to ``sending``."""
        return await finish_send(self._store, step, delivery)

    async def record_delivery(self, step_id: str, delivered: bool, detail: str) -> InterventionStep:
        """A provider's delivery callback for a step (see
        :func:`edge.outreach.executor.delivery_update`); returns the step as it is now."""
        return await delivery_update(self._store, step_id, delivered, detail)

    async def find_lead(self, channel: Channel, address: str) -> Lead:
        """The lead whose ``channel`` address (phone, email) is ``address``; NotFoundError
        naming it otherwise."""
        return await find_lead(self._store, channel, address)

    async def start_scheduler(self) -> StepScheduler:
        """Start APScheduler for the stored steps (missed ones by the rule in edge.scheduler)."""
        if self._scheduler is None:
            scheduler = StepScheduler(self._store, self.run_due)
            await scheduler.start()
            self._scheduler = scheduler
        return self._scheduler

    async def stop_scheduler(self) -> None:
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            await scheduler.shutdown()

    async def analyze(self, lead_id: str) -> Analysis:
        """Language, behaviour, vertical, profile, recommendations and plan, cached per lead."""
        with self.energy.measure("analyze"):
            stamp, hit = await self._analyst.cached(lead_id)
            if hit is not None:
                return hit
            snap = await self._analyst.snapshot(lead_id)
            analysis = await self._analyst.compute(
                snap, await self.message_context(snap.lead), self.language_identifier
            )
            # The profile write above may not change the stamp (profiles are not events).
            self._analyst.remember(lead_id, stamp, analysis)
            return analysis

    def cache_stats(self) -> CacheStats:
        return self._analyst.cache_stats()

    def clear_analysis_cache(self, *, reset_stats: bool = False) -> None:
        """Forget every cached analysis (the next ones are computed); ``reset_stats`` also
        starts the hit and miss counts of :meth:`cache_stats` again."""
        analyst = self._analyst
        analyst.invalidate()
        if reset_stats:
            analyst.hits = analyst.misses = 0

    async def warm_listing_index(self) -> int:
        """Build the listing index now (app start-up) rather than on the first recommendation;
        returns how many listings it holds."""
        return len(await self._analyst.listing_index())

    # --- reads for the server: the same services, nothing stored -----------------------------

    async def _preview_snapshot(self, lead_id: str, extra: Sequence[Event]) -> LeadSnapshot:
        """The lead's snapshot with ``extra`` events beside the stored ones (an extra event
        naming a listing the device does not hold counts without that listing's attributes)."""
        snap = await self._analyst.snapshot(lead_id)
        if not extra:
            return snap
        given = {e.id for e in extra}
        stored = [e for e in await self._store.lead_events(lead_id) if e.id not in given]
        return await events_snapshot(self._analyst.reader, snap, [*stored, *extra])

    async def _preview_profile(self, snap: LeadSnapshot) -> Profile:
        """The lead's stored profile, or one learned now and not stored."""
        stored = await self._analyst.stored_profile(snap.lead.id)
        if stored is not None:
            return stored
        return await self._analyst.build_profile(snap, detector=self.language_identifier)

    async def preview_analysis(self, lead_id: str, extra_events: Sequence[Event] = ()) -> Analysis:
        """As :meth:`analyze`, with ``extra_events`` considered beside the stored ones, and
        nothing stored nor cached (a read)."""
        with self.energy.measure("analyze"):
            snap = await self._preview_snapshot(lead_id, extra_events)
            context = await self.message_context(snap.lead)
            return await self._analyst.compute(
                snap, context, self.language_identifier, save_profile=False
            )

    async def preview_plan(self, lead_id: str, *, personalized: bool = True) -> PlanPreview:
        """The lead's behaviour and the plan the planner would make now; stores nothing.

        ``personalized=False`` plans without the profile and the recommended listings (the
        planner's baseline)."""
        with self.energy.measure("preview_plan"):
            snap = await self._analyst.snapshot(lead_id)
            behaviour = await self._analyst.predict_behaviour(lead_id, snap)
            context = await self.message_context(snap.lead)
            if not personalized:
                plan = await self._analyst.plan(snap, None, context)
            else:
                profile = await self._preview_profile(snap)
                recs = await self._analyst.recommend(profile, None, 3, snap)
                plan = await self._analyst.plan(snap, profile, context, recs)
            return PlanPreview(lead=snap.lead, behaviour=behaviour, plan=plan)

    async def preview_recommendations(
        self, lead_id: str, context: RecommendContext | None = None, k: int = 10
    ) -> list[Recommendation]:
        """As :meth:`recommend` for a lead, with its stored profile or one learned now and not
        stored (a read)."""
        with self.energy.measure("recommend"):
            snap = await self._analyst.snapshot(lead_id)
            profile = await self._preview_profile(snap)
            return await self._analyst.recommend(profile, context, k, snap)

    async def behavioural_features(self, lead_id: str) -> npt.NDArray[np.float32]:
        """The lead's behavioural feature vector (a copy the caller may change)."""
        snap = await self._analyst.snapshot(lead_id)
        return np.array(snap.features, dtype=np.float32, copy=True)

    async def known_listings(self, listing_ids: Iterable[str]) -> set[str]:
        """Which of ``listing_ids`` the device holds."""
        return await self._store.existing_ids("listing", listing_ids)

    # --- Kivy client support (issue 8): thin delegations for mobile_client ---------------
    # Kept in one block with local imports so the client never reaches past EdgeRuntime.

    async def lead_list(self, *, scores: bool = False) -> list[LeadSummary]:
        """Every lead, most recently active first; with ``scores``, each one's P(convert)."""
        leads = await lead_summaries(self._store)
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
        return await steps_today(self._store, self._store.now_ms(), local_zone(zone))

    async def leads(self) -> list[Lead]:
        """Every lead on the device, by name."""
        return await self._store.leads_by_name()

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

        await self._store.get_lead(lead_id)
        event = Event(
            id=f"ev-{uuid.uuid4().hex}",
            lead_id=lead_id,
            type=EventType(type),
            ts=self._store.now_ms(),
            channel=Channel(channel) if channel else None,
            text=text,
            language=language,
            duration_s=duration_s,
        )
        async with self._store.transaction() as tx:
            tx.put(event)
        return event

    @property
    def transcriber(self) -> Transcriber:
        """The offline :class:`edge.voice.Transcriber` (created on first use)."""
        if self._transcriber is None:
            from edge.voice import Transcriber

            self._transcriber = Transcriber()
        return self._transcriber

    def voice_languages(self) -> list[str]:
        """Languages with an installed speech model."""
        return self.transcriber.registry.languages()

    async def transcribe(
        self, audio: bytes | str | Path, language: str | None = None
    ) -> Transcript:
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
    ) -> Iterator[Partial | Transcript]:
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
                if not hasattr(piece, "audio_s"):  # the final transcript (a Transcript)
                    cost.audio_s += piece.duration_s
                yield piece

    def model_versions(self) -> dict[str, str]:
        """The version of each model loaded so far (shipped or downloaded)."""
        return self._models.versions()

    async def conflicts(self) -> int:
        """How many field conflicts sync has logged on this device."""
        return await self._store.conflict_count()

    async def sync_checkpoint(self) -> int:
        """The server log position the device has pulled up to."""
        return await self._store.sync_checkpoint()

    # --- model updates (issue 7) ---------------------------------------------------------

    async def enroll_model_key(self, public_key: bytes | str, *, replace: bool = False) -> str:
        """Pin the server's model-signing public key (raw bytes or base64), given at enrollment.

        Only manifests signed by this key are installed from then on; another key is refused
        unless ``replace``. Returns the signer name (``ed25519:<16 hex>``) pinned.
        """
        from edge.model_updates import parse_key, pin_key, signer_of

        raw = parse_key(public_key)
        return signer_of(await pin_key(self._store, raw, replace=replace))

    async def pinned_model_key(self) -> bytes | None:
        """The model-signing public key pinned at enrollment (raw bytes), if any."""
        from edge.model_updates import pinned_key

        return await pinned_key(self._store)

    def model_manifest(self, name: str) -> ModelManifest:
        """The manifest of the model in use for ``name`` (loading it if needed)."""
        return self._models.manifest(name)

    def install_model(self, blob: bytes, manifest: ModelManifest) -> ModelManifest:
        """Verify a model fully and make it the one in use (the previous one is kept);
        :class:`~edge.inference.ModelRefusedError` otherwise. Call :meth:`reload_models`
        once the installs are done."""
        return self._models.install(blob, manifest).manifest

    def use_shipped_model(self, name: str) -> str:
        """Run the shipped ``name`` again; returns its version."""
        return self._models.use_shipped(name)

    async def check_model_updates(
        self,
        server: str,
        token: str,
        policy: UpdatePolicy | None = None,
        *,
        public_key: bytes | None = None,
        families: tuple[str, ...] | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> UpdateReport:
        """Download, verify (signature, hash, feature spec, canary) and install new models.

        ``policy`` is an :class:`edge.model_updates.UpdatePolicy` (Wi-Fi and charging flags);
        returns an :class:`edge.model_updates.UpdateReport`. A refused model changes nothing;
        a device with no model-signing key pinned (:meth:`enroll_model_key`) downloads nothing.
        """
        from edge.model_updates import check_model_updates

        with self.energy.measure("check_model_updates"):
            report = await check_model_updates(
                self._store,
                self._models,
                server,
                token,
                policy,
                public_key=public_key,
                client=client,
                **({} if families is None else {"families": families}),
            )
        self._language = None  # a new language model is picked up by the next detection
        self._drop_analyst()  # and new behaviour/intervention models too
        return report
