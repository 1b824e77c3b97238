"""The lead intelligence service behind ``EdgeRuntime``: behaviour, vertical, profile,
recommendations, plans, and the comprehensive :class:`Analysis`, cached.

Every operation reads the lead once (:func:`edge.features_sql.load_snapshot`) and computes the
feature vector once; reads go through the analyst's :class:`~edge.features_sql.StoreReader`
(no thread hop), writes through the store. The analysis cache is keyed by lead and validated
by a stamp: the count, latest change and latest time of the lead's events, the lead's own
``updated_at`` and the listings version. A new event for the lead changes the stamp, so the
next ``analyze`` recomputes; other leads' entries stay valid. An entry older than
:data:`MAX_AGE_MS` (15 minutes by the device clock) is recomputed too: recency features and the
plan's proposed hours move with time. Hits and misses are counted
(:meth:`LeadAnalyst.cache_stats`).

``analyze`` writes nothing except the lead's profile, and only when it changed. Its plan is the
lead's active stored plan if there is one, else a proposal (not stored, not scheduled):
``plan_interventions`` is what stores and schedules a plan.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import msgspec
import numpy as np
from numpy.typing import NDArray

from edge import queries
from edge.behaviour import NAME as BEHAVIOUR
from edge.behaviour import BehaviourPrediction, BehaviourScorer
from edge.culture import MessageContext
from edge.energy import EnergyMeter
from edge.features_sql import LeadSnapshot, StoreReader, load_snapshot
from edge.inference import ModelRegistry
from edge.language import LanguageIdentifier
from edge.personalization import (
    EMBED_BATCH,
    VERSION_CHECK_S,
    ListingIndex,
    Recommendation,
    RecommendContext,
    build_profile,
    explain,
    lead_embedding,
    profile_id,
    rank,
    stated_of,
    style_labels,
)
from edge.planner import PlanInputs, make_plan
from edge.profile_text import extract_all as stated_criteria
from edge.rows import record_fields, record_from_row
from edge.scheduler import active_plan, store_plan
from edge.store import EdgeStore
from edge.vertical import VerticalGuess, detect_vertical
from models.features.columns import language_code
from models.personalization import LEAD_NAME, LISTING_NAME, STYLE_NAME
from sync.records import InterventionPlan, Listing, Profile

INTERVENTION = "intervention"
#: A cached analysis older than this (device clock) is computed again.
MAX_AGE_MS = 15 * 60_000
#: What a cached analysis was computed from: the row of ``queries.LEAD_STAMP`` and the listings
#: version.
Stamp = tuple[tuple[Any, ...], tuple[int, int]]
_enc = msgspec.msgpack.Encoder()


class Analysis(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the device can say about a lead, in one object."""

    lead_id: str
    name: str
    language: str
    language_confidence: float
    behaviour: BehaviourPrediction
    vertical: VerticalGuess
    profile: Profile
    recommendations: list[Recommendation]
    plan: InterventionPlan
    plan_stored: bool
    computed_at: int


class CacheStats(msgspec.Struct, frozen=True, kw_only=True):
    hits: int
    misses: int
    hit_rate: float
    entries: int


class LeadAnalyst:
    """Stateful caches (scorer, listing index, analyses) over the store and the models."""

    def __init__(
        self, store: EdgeStore, models: ModelRegistry, energy: EnergyMeter, cache_size: int = 256
    ):
        self.store = store
        self.models = models
        self.energy = energy
        self._scorer: BehaviourScorer | None = None
        self._index: ListingIndex | None = None
        self._cache: OrderedDict[str, tuple[Stamp, Analysis]] = OrderedDict()
        self._cache_size = cache_size
        self._reader: StoreReader | None = None
        self.hits = self.misses = 0

    @property
    def reader(self) -> StoreReader:
        """The query-only connection for this analyst's reads (opened on first use)."""
        if self._reader is None:
            self._reader = StoreReader(self.store)
        return self._reader

    def close(self) -> None:
        """Close the reader (the store is the runtime's to close)."""
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    # --- shared pieces -------------------------------------------------------------

    @property
    def scorer(self) -> BehaviourScorer:
        model = self.models.get(BEHAVIOUR)
        if self._scorer is None or self._scorer.model is not model:
            self._scorer = BehaviourScorer(model)
        return self._scorer

    async def listing_index(self) -> ListingIndex:
        """The embedded listings, rebuilt when the listings or the tower change."""
        tower = self.models.get(LISTING_NAME)
        index = self._index
        if (
            index is not None
            and index.tower_version == tower.manifest.version
            and time.monotonic() - index.checked_at < VERSION_CHECK_S
        ):
            return index
        row = await self.reader.fetchone(queries.LISTINGS_VERSION)
        version = (int(row[0]), int(row[1] or 0)) if row else (0, 0)
        if (
            index is None
            or index.version != version
            or index.tower_version != (tower.manifest.version)
        ):
            index = ListingIndex((), tower, version)
            last = ""  # read and embed a page at a time (keyset pagination): low peak memory
            while True:
                # On the reader: the listing pages then share one page cache with the reads
                # of leads instead of filling the writer's too.
                page = await self.reader.fetchall(queries.LISTINGS_PAGE, (last, EMBED_BATCH))
                if not page:
                    break
                last = page[-1][1]
                index.add_page(page)
                await asyncio.sleep(0)  # let other tasks run between pages
            self._index = index.finish()
        index.checked_at = time.monotonic()
        return index

    async def snapshot(self, lead_id: str) -> LeadSnapshot:
        return await load_snapshot(self.reader, lead_id)

    # --- operations ----------------------------------------------------------------

    async def predict_behaviour(
        self, lead_id: str, snap: LeadSnapshot | None = None
    ) -> BehaviourPrediction:
        snap = snap or await self.snapshot(lead_id)
        return self.scorer.predict(snap.lead, snap.features, len(snap.cols))

    async def detect_vertical(
        self, lead_id: str, snap: LeadSnapshot | None = None
    ) -> VerticalGuess:
        snap = snap or await self.snapshot(lead_id)
        return detect_vertical(snap.cols, snap.texts)

    def _language(
        self, snap: LeadSnapshot, texts: Sequence[str], detector: LanguageIdentifier | None
    ) -> tuple[str, float]:
        """The lead's stated language, unless their own texts say otherwise with confidence."""
        if texts and detector is not None:
            guess = detector.detect(" ".join(texts[-3:])[:1000])
            if guess.language != "unknown" and guess.confidence >= 0.9:
                return guess.language, guess.confidence
        return snap.lead.language, 1.0

    async def build_profile(
        self,
        snap: LeadSnapshot,
        *,
        texts: Sequence[str] | None = None,
        features: NDArray[Any] | None = None,
        detector: LanguageIdentifier | None = None,
        vertical: VerticalGuess | None = None,
        existing: Profile | None = None,
    ) -> Profile:
        given = texts
        texts = snap.texts if texts is None else list(texts)
        features = snap.features if features is None else np.asarray(features, np.float32)
        index = await self.listing_index()
        style_model = self.models.get(STYLE_NAME)
        if existing is None:
            existing = await self.stored_profile(snap.lead.id)
        language, _conf = self._language(snap, texts, detector)
        said = snap.said if given is None else texts
        return build_profile(
            snap.lead,
            features,
            snap.cols,
            texts,
            snap.listing_ids,
            index,
            style_labels(style_model, features),
            vertical or detect_vertical(snap.cols, texts),
            language=language,
            profile_id_=existing.id if existing else profile_id(snap.lead.id),
            now_ms=snap.now_ms,
            model_version=style_model.manifest.version,
            stated=stated_criteria(said, language, index.places),
        )

    async def stored_profile(self, lead_id: str) -> Profile | None:
        row = await self.reader.fetchone(queries.PROFILE_OF_LEAD, (lead_id,))
        return record_from_row(Profile, row) if row else None

    async def save_profile(self, profile: Profile, *, previous: Profile | None = None) -> int:
        """Store the profile (an outbox change) unless it equals ``previous`` but for its time;
        returns the bytes it adds to the next sync."""
        if previous is not None:
            old, new = record_fields(previous), record_fields(profile)
            old.pop("updated_at"), new.pop("updated_at")
            if old == new:
                return 0
        async with self.store.transaction() as tx:
            tx.put(profile)
        return len(_enc.encode(profile))

    async def recommend(
        self,
        profile: Profile,
        context: RecommendContext | None = None,
        k: int = 10,
        snap: LeadSnapshot | None = None,
    ) -> list[Recommendation]:
        snap = snap or await self.snapshot(profile.lead_id)
        index = await self.listing_index()
        if len(index) == 0:
            return []
        emb = lead_embedding(self.models.get(LEAD_NAME), snap.lead, snap.cols)
        engaged = any(snap.listing_ids)
        # What the lead said; with no engagement, every criterion of the profile is one they
        # gave (in words, or in their record), so all of it is cited as theirs.
        stated = (
            stated_criteria(snap.said, profile.language, index.places)
            if engaged
            else stated_of(profile)
        )
        ranked = rank(index, emb, profile, snap.listing_ids, k, context, stated=stated)
        listings = await self.listings([lid for lid, _ in ranked])
        return [
            explain(listings[lid], i, score, profile, stated=stated, engaged=engaged)
            for i, (lid, score) in enumerate(ranked, start=1)
        ]

    async def listings(self, ids: Sequence[str]) -> dict[str, Listing]:
        if not ids:
            return {}
        rows = await self.reader.fetchall(queries.listings_in(len(ids)), list(ids))
        found = [record_from_row(Listing, r) for r in rows]
        return {li.id: li for li in found}

    async def plan(
        self,
        snap: LeadSnapshot,
        profile: Profile | None,
        context: MessageContext,
        recommendations: Sequence[Recommendation] = (),
    ) -> InterventionPlan:
        found = await self.listings([r.listing_id for r in recommendations[:3]])
        listings = [found[r.listing_id] for r in recommendations[:3] if r.listing_id in found]
        inputs = PlanInputs(
            lead=snap.lead,
            cols=snap.cols,
            features=snap.features,
            now_ms=snap.now_ms,
            profile=profile,
            context=context,
            listings=listings,
        )
        plan_id = f"plan-{uuid.uuid4().hex[:16]}"
        plan = make_plan(inputs, self.models.get(INTERVENTION), plan_id)
        # The device that plans is the one party that sends the plan's steps.
        return msgspec.structs.replace(plan, executor=self.store.device_id)

    async def store_plan(self, plan: InterventionPlan) -> int:
        await store_plan(self.store, plan)
        return len(_enc.encode(plan)) + sum(len(_enc.encode(s)) for s in plan.steps)

    # --- analysis and its cache ----------------------------------------------------

    async def _stamp(self, lead_id: str) -> Stamp:
        row = await self.reader.fetchone(queries.LEAD_STAMP, (lead_id, lead_id))
        if row is None:
            await self.store.get_lead(lead_id)  # raises NotFoundError naming it
            raise AssertionError(f"no stamp for the stored lead {lead_id!r}")
        index = await self.listing_index()
        return (tuple(row), index.version)

    async def cached(self, lead_id: str) -> tuple[Stamp, Analysis | None]:
        stamp = await self._stamp(lead_id)
        entry = self._cache.get(lead_id)
        fresh = entry is not None and self.store.now_ms() - entry[1].computed_at < MAX_AGE_MS
        if entry is not None and entry[0] == stamp and fresh:
            self.hits += 1
            self._cache.move_to_end(lead_id)
            return stamp, entry[1]
        self.misses += 1
        return stamp, None

    def remember(self, lead_id: str, stamp: Stamp, analysis: Analysis) -> None:
        self._cache[lead_id] = (stamp, analysis)
        self._cache.move_to_end(lead_id)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def invalidate(self, lead_id: str | None = None) -> None:
        if lead_id is None:
            self._cache.clear()
        else:
            self._cache.pop(lead_id, None)

    def cache_stats(self) -> CacheStats:
        total = self.hits + self.misses
        return CacheStats(
            hits=self.hits,
            misses=self.misses,
            hit_rate=round(self.hits / total, 4) if total else 0.0,
            entries=len(self._cache),
        )

    async def compute(
        self,
        snap: LeadSnapshot,
        context: MessageContext,
        detector: LanguageIdentifier | None,
        *,
        save_profile: bool = True,
    ) -> Analysis:
        """The analysis of ``snap``; ``save_profile=False`` stores nothing (a pure read)."""
        lead = snap.lead
        behaviour = self.scorer.predict(lead, snap.features, len(snap.cols))
        vertical = detect_vertical(snap.cols, snap.texts)
        previous = await self.stored_profile(lead.id)
        profile = await self.build_profile(
            snap, detector=detector, vertical=vertical, existing=previous
        )
        if save_profile:
            with self.energy.measure("profile_write") as cost:
                cost.bytes_sent += await self.save_profile(profile, previous=previous)
        recs = await self.recommend(profile, None, 5, snap)
        plan = await active_plan(self.reader, lead.id)
        stored = plan is not None
        if plan is None:
            plan = await self.plan(snap, profile, context, recs)
        language = profile.language
        return Analysis(
            lead_id=lead.id,
            name=lead.name,
            language=language,
            language_confidence=1.0 if language_code(language) >= 0 else 0.0,
            behaviour=behaviour,
            vertical=vertical,
            profile=profile,
            recommendations=recs,
            plan=plan,
            plan_stored=stored,
            computed_at=snap.now_ms,
        )
