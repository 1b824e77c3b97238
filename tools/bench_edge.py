"""``realty-edge bench edge``: the device's operations on a generated device database.

A child process generates a seeded world (``--leads`` leads, ``--listings`` listings) and writes
it into a fresh device database, so the peak RSS measured here is the runtime's alone (no world
in memory, no Vosk model loaded). Then, in this process, with the clock at the world's "now":

- each operation is timed ``--calls`` times on random leads (wall and process-CPU time, p50,
  p95, p99): ``predict_behaviour`` (SQLite read + features + model), ``analyze`` (every model,
  cache MISS: the cache is cleared before each call), ``create_profile`` (stored, with its
  outbox change), ``recommend`` (k = 10 over every listing), ``adapt_style``, ``adapt_message``;
- the access trace for the cache: 2,000 lead opens drawn from the agent's active pipeline of
  100 leads with Zipf(1.1) popularity (a few hot leads are opened again and again), where 2 % of
  the opens follow a new event for that lead (a reply arrives, invalidating its entry);
- the energy of the active agent hour (``edge.energy``) from the CPU time and outbox bytes
  measured on that trace, 20 drafted messages and 5 plans;
- quality on the generated world, whose truth is known: the behaviour and intervention models'
  AUC beside the Bayes-optimal AUC (from their manifests, computed on held-out synthetic leads
  with the true probabilities), and the expected response of the plan's steps against calling
  at noon on the same days (true response probabilities, ``models.synthetic``).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import numpy as np

if TYPE_CHECKING:
    from edge.runtime import EdgeRuntime

TARGETS_MS = {
    "predict_behaviour": 5.0,
    "analyze": 20.0,
    "create_profile": 10.0,
    "recommend": 15.0,
    "adapt_style": 1.0,
    "adapt_message": 5.0,
}
TRACE_OPENS, TRACE_PIPELINE, TRACE_ZIPF, TRACE_NEW_EVENT = 2000, 100, 1.1, 0.02


def _prepare(path: str, leads: int, listings: int, seed: int) -> tuple[int, bytes]:
    """Child process: generate the world, write the device database; (now_ms, truth)."""
    from edge.store import EdgeStore
    from models.synthetic import generate_world

    world = generate_world(agents=1, leads=leads, listings=listings, seed=seed)

    async def write() -> None:
        store = await EdgeStore.open(path, clock=lambda: world.now_ms)
        try:
            recs = world.records()
            for start in range(0, len(recs), 20_000):
                await store.put(recs[start : start + 20_000])
            # A device that has synced: what is in the outbox now is what the hour adds.
            await store.mark_sent([r[0] for r in await store.fetchall("SELECT seq FROM outbox")])
        finally:
            await store.close()

    asyncio.run(write())
    return world.now_ms, msgspec.msgpack.encode(world.truth)


def _stats(samples: list[float]) -> dict[str, float]:
    a = np.asarray(samples) * 1000.0
    return {
        "p50_ms": round(float(np.percentile(a, 50)), 3),
        "p95_ms": round(float(np.percentile(a, 95)), 3),
        "p99_ms": round(float(np.percentile(a, 99)), 3),
        "n": len(samples),
    }


async def _timed(fn: Callable[[], Any], n: int) -> tuple[list[float], list[float]]:
    wall, cpu = [], []
    for _ in range(n):
        c0, w0 = time.process_time(), time.perf_counter()
        r = fn()
        if asyncio.iscoroutine(r):
            await r
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return wall, cpu


def _rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


async def _bench(
    path: Path,
    now_ms: int,
    truth_blob: bytes,
    calls: int,
    seed: int,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    from edge.culture import Intent, warm_caches
    from edge.energy import EnergyMeter
    from edge.personalization import StyleContext
    from edge.runtime import EdgeRuntime
    from sync.records import Channel, Event, EventType

    rng = np.random.default_rng(seed)
    rt = await EdgeRuntime.open(path, clock=lambda: now_ms)
    try:
        ids = await rt.record_ids("lead")
        n_listings = (await rt.counts()).listings
        progress(f"device: {len(ids)} leads, {n_listings} listings; warming up")
        t0 = time.perf_counter()
        await rt.warm_listing_index()
        index_s = time.perf_counter() - t0
        leads = [await rt.get_lead(lid) for lid in ids]
        warm_caches(leads)  # catalogs, locales, holiday calendars: what app start-up loads
        for lead in {lead.locale: lead for lead in leads}.values():
            await rt.adapt_message(lead.id, Intent.FOLLOW_UP_AFTER_SILENCE)  # locale data
        for lid in ids[:5]:  # load every model once
            await rt.analyze(lid)
            await rt.adapt_message(lid, Intent.FOLLOW_UP_AFTER_SILENCE)

        def pick() -> str:
            return ids[int(rng.integers(len(ids)))]

        ops: dict[str, dict[str, float]] = {}
        cpu95: dict[str, float] = {}

        async def record(name: str, fn: Callable[[], Any]) -> None:
            wall, cpu = await _timed(fn, calls)
            ops[name] = _stats(wall)
            cpu95[name] = _stats(cpu)["p95_ms"]
            progress(f"{name}: p95 {ops[name]['p95_ms']:.2f} ms (cpu {cpu95[name]:.2f} ms)")

        await record("predict_behaviour", lambda: rt.predict_behaviour(pick()))

        async def analyze_miss() -> None:
            rt.clear_analysis_cache()
            await rt.analyze(pick())

        await record("analyze", analyze_miss)
        await record("create_profile", lambda: rt.create_profile(pick()))
        profiles = [await rt.profile(pick()) for _ in range(50)]
        await record("recommend", lambda: rt.recommend(profiles[int(rng.integers(50))], k=10))
        style_ctx = StyleContext(intent=Intent.SHOWING_REMINDER)
        await record(
            "adapt_style", lambda: rt.adapt_style(profiles[int(rng.integers(50))], style_ctx)
        )
        await record(
            "adapt_message",
            lambda: rt.adapt_message(pick(), Intent.FOLLOW_UP_AFTER_SILENCE, channel=Channel.SMS),
        )
        rss = _rss_mb()

        # Language ID throughput on the device's own texts.
        texts = await rt.event_texts(4096)
        t0 = time.perf_counter()
        rt.detect_languages(texts)
        lang_tps = len(texts) / (time.perf_counter() - t0) if texts else 0.0

        # The access trace (cache) and the active agent hour (energy).
        meter = EnergyMeter()
        rt.use_energy_meter(meter)
        rt.clear_analysis_cache(reset_stats=True)
        pipeline = rng.choice(ids, size=min(TRACE_PIPELINE, len(ids)), replace=False)
        weights = 1.0 / np.arange(1, len(pipeline) + 1) ** TRACE_ZIPF
        opens = rng.choice(pipeline, size=TRACE_OPENS, p=weights / weights.sum())
        trace_wall = []
        for i, lid in enumerate(opens.tolist()):
            if rng.random() < TRACE_NEW_EVENT:
                await rt.put(
                    [
                        Event(
                            id=f"bench-ev-{i}",
                            lead_id=lid,
                            type=EventType.MESSAGE_IN,
                            channel=Channel.SMS,
                            ts=now_ms - 60_000,
                            text="ok",
                        )
                    ]
                )
            w0 = time.perf_counter()
            await rt.analyze(lid)
            trace_wall.append(time.perf_counter() - w0)
        stats = rt.cache_stats()
        for lid in opens[:20].tolist():
            with meter.measure("adapt_message"):
                await rt.adapt_message(lid, Intent.FOLLOW_UP_AFTER_SILENCE)
        for lid in opens[:5].tolist():
            await rt.plan_interventions(lid)  # metered by the runtime
        outbox = await rt.unsent_outbox_bytes()
        # The hour's opens are 60 of the trace's 2,000: scale the outbox bytes of the trace.
        hour_bytes = int(outbox * 60 / TRACE_OPENS)
        energy = meter.active_agent_hour(sync_bytes=hour_bytes)
        quality = await _quality(rt, truth_blob, rng)
    finally:
        await rt.close()
    return {
        "operations": ops,
        "language_texts_per_s": round(lang_tps, 1),
        "vosk_rtf": None,
        "rss_mb": rss,
        "energy_percent_per_hour": energy.battery_percent,
        "cache_hit_rate": stats.hit_rate,
        "details": {
            "cpu_p95_ms": cpu95,
            "targets_p95_ms": TARGETS_MS,
            "listing_index_build_s": round(index_s, 3),
            "trace": {
                "opens": TRACE_OPENS,
                "hits": stats.hits,
                "misses": stats.misses,
                **_stats(trace_wall),
            },
            "energy": msgspec.to_builtins(energy),
            "vosk_rtf_note": "not measured here (no Vosk model in the RSS run); the energy "
            "model assumes edge.energy.ASSUMED_VOSK_RTF",
        },
        "quality": quality,
    }


async def _quality(
    rt: EdgeRuntime, truth_blob: bytes, rng: np.random.Generator, n: int = 300
) -> dict:
    from models.synthetic import LeadTruth, response_probability
    from sync.records import OUTREACH_CHANNELS, LeadStatus

    truth = {t.lead_id: t for t in msgspec.msgpack.decode(truth_blob, type=list[LeadTruth])}
    b = rt.model_manifest("behaviour").metrics
    iv = rt.model_manifest("intervention").metrics
    out: dict[str, Any] = {
        "behaviour_p_convert_auc": round(b.get("p_convert.auc", float("nan")), 4),
        "behaviour_p_convert_auc_bayes": round(b.get("p_convert.auc_bayes", float("nan")), 4),
        "behaviour_p_respond_auc": round(b.get("p_respond.auc", float("nan")), 4),
        "behaviour_p_respond_auc_bayes": round(b.get("p_respond.auc_bayes", float("nan")), 4),
        "intervention_auc": round(iv.get("auc", float("nan")), 4),
        "intervention_auc_bayes": round(iv.get("auc_bayes", float("nan")), 4),
    }
    plan_p: list[float] = []
    noon_p: list[float] = []
    best_p: list[float] = []
    plan_p_all: list[float] = []
    ids = list(truth)
    for lid in rng.choice(ids, size=min(n, len(ids)), replace=False).tolist():
        lead = await rt.get_lead(lid)
        if lead.status in (LeadStatus.CONVERTED, LeadStatus.LOST):
            continue
        plan = (await rt.preview_plan(lid, personalized=False)).plan
        if not plan.steps:
            continue
        t = truth[lid]
        p = [response_probability(t, s.channel, s.hour_of_week) for s in plan.steps]
        plan_p_all.extend(p)
        if not lead.consent.call:
            continue  # like for like: the baseline must be allowed to call
        plan_p.extend(p)
        noon_p.extend(
            response_probability(t, "call", (s.hour_of_week // 24) * 24 + 12) for s in plan.steps
        )
        allowed = [c for c in OUTREACH_CHANNELS if lead.consent.allows(c)]
        best = max(
            response_probability(t, c, d * 24 + h)
            for c in allowed
            for d in range(7)
            for h in range(8, 21)
        )
        best_p.extend([best] * len(p))
    if plan_p:
        mp, mn, mb = (statistics.fmean(x) for x in (plan_p, noon_p, best_p))
        out.update(
            {
                "plan_expected_response": round(mp, 4),
                "call_at_noon_expected_response": round(mn, 4),
                "plan_uplift_vs_call_at_noon": round(mp - mn, 4),
                "plan_relative_uplift": round(mp / mn - 1.0, 4) if mn else None,
                "oracle_expected_response": round(mb, 4),
                "share_of_achievable_uplift": round((mp - mn) / (mb - mn), 4) if mb > mn else None,
                "plan_steps_compared": len(plan_p),
                "plan_expected_response_all_leads": round(statistics.fmean(plan_p_all), 4),
            }
        )
    return out


def run(
    leads: int = 2000,
    listings: int = 20000,
    calls: int = 300,
    seed: int = 11,
    workdir: Path | None = None,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Generate, load and benchmark (see the module docstring)."""
    with tempfile.TemporaryDirectory(prefix="realty-edge-bench-") as tmp:
        base = Path(workdir) if workdir else Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        path = base / "bench-device.db"
        for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            p.unlink(missing_ok=True)
        # One BLAS thread, as the runtime has on a phone's core (and process CPU time then
        # counts only the work, not idle BLAS workers spinning).
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(var, "1")
        progress(f"generating {leads} leads and {listings} listings (seed {seed})")
        t0 = time.perf_counter()
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(1) as pool:
            now_ms, truth = pool.apply(_prepare, (str(path), leads, listings, seed))
        progress(f"device database ready in {time.perf_counter() - t0:.1f} s")
        with ctx.Pool(1) as pool:
            return pool.apply(_bench_child, (path, now_ms, truth, calls, seed))


def _bench_child(path: Path, now_ms: int, truth: bytes, calls: int, seed: int) -> dict:
    """Child process: the device runtime alone, as a phone would run it (its peak RSS is the
    runtime's own)."""
    import sys

    return asyncio.run(
        _bench(path, now_ms, truth, calls, seed, lambda m: print(m, file=sys.stderr, flush=True))
    )
