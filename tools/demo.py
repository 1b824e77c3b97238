"""The demo: the whole loop on embedded defaults, with progress shown.

1. a sync server on loopback (SQLite), two agents' devices (separate SQLite files) with a
   generated world split between them;
2. offline on each device: ingest, analyze leads in several languages and verticals,
   transcribe a Korean voice note, draft messages, build and schedule intervention plans;
3. sync both devices, then a conflict: both phones edit the same lead offline and sync; the
   server keeps the winner by clock and logs the loser;
4. the server retrains on the synced outcomes and publishes a signed model version only if it
   is not worse (see :func:`retrain_and_distribute`);
5. both devices fetch, verify and swap to it;
6. a report: latencies per operation, modeled battery, bytes synced, model versions.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import statistics
import subprocess
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.table import Table

from edge.runtime import EdgeRuntime
from models.synthetic import World, generate_world, this_hour_ms
from server.local import run_server
from sync.codec import Format, encode_batch
from sync.records import Lead
from tools.demo_outreach import outreach_tour

T = TypeVar("T")
KOREAN_NOTE = "안녕하세요 강남 아파트 매매 문의드립니다 토요일 오후에 집을 보고 싶습니다"
DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"


class Timer:
    """Wall-clock latency per operation, for the report."""

    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = defaultdict(list)

    async def __call__(self, name: str, fn: Callable[[], Awaitable[T]]) -> T:
        t0 = time.perf_counter()
        result = await fn()
        self.samples[name].append((time.perf_counter() - t0) * 1000)
        return result

    def table(self) -> Table:
        table = Table("operation", "n", "p50 ms", "p95 ms", title="latency on the devices")
        for name, xs in self.samples.items():
            xs = sorted(xs)
            p95 = xs[min(len(xs) - 1, round(0.95 * (len(xs) - 1)))]
            table.add_row(name, str(len(xs)), f"{statistics.median(xs):.1f}", f"{p95:.1f}")
        return table


def split_world(world: World) -> dict[str, bytes]:
    """One batch per agent: the agent, every listing, the agent's leads and their events."""
    batches = {}
    for agent in world.agents:
        leads = [lead for lead in world.leads if lead.agent_id == agent.id]
        ids = {lead.id for lead in leads}
        events = [e for e in world.events if e.lead_id in ids]
        batches[agent.id] = encode_batch([agent, *world.listings, *leads, *events], Format.MSGPACK)
    return batches


def korean_clip(workdir: Path) -> Path | None:
    """A real recorded clip when the evaluation data is beside the project, else espeak-ng."""
    real = DATA_DIR / "korean-speech" / "etts_kih00001.wav"
    if real.exists():
        return real
    out = workdir / "voice-note-ko.wav"
    try:
        subprocess.run(
            ["espeak-ng", "-v", "ko", "-w", str(out), KOREAN_NOTE],
            check=True,
            capture_output=True,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out


def local_time(ts_ms: int, zone: str) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, ZoneInfo(zone)).strftime("%a %H:%M")


def pick_leads(leads: list[Lead], n: int) -> list[Lead]:
    """Leads in as many different languages as possible."""
    seen: set[str] = set()
    picked = []
    for lead in leads:
        if lead.language not in seen:
            seen.add(lead.language)
            picked.append(lead)
        if len(picked) == n:
            break
    return picked


async def offline_work(
    rt: EdgeRuntime, leads: list[Lead], clip: Path | None, timer: Timer, console: Console
) -> None:
    """What an agent does in airplane mode: analyze, dictate, draft, plan."""
    table = Table(
        "lead",
        "lang",
        "vertical",
        "P(convert)",
        "tier",
        "top driver",
        "next step",
        title=f"device {rt.device_id}: analyses",
    )
    for lead in pick_leads(leads, 6):
        analysis = await timer("analyze", partial(rt.analyze, lead.id))
        await timer("predict_behaviour", partial(rt.predict_behaviour, lead.id))
        plan = await timer("plan_interventions", partial(rt.plan_interventions, lead.id))
        step = plan.steps[0] if plan.steps else None
        b = analysis.behaviour
        when = f"{step.channel} {local_time(step.due_at, lead.timezone)}" if step else "—"
        driver = b.drivers[0].text.split(":")[0] if b.drivers else ""
        table.add_row(
            lead.id,
            lead.language,
            analysis.vertical.vertical,
            f"{b.p_convert:.2f}",
            b.tier,
            driver,
            when,
        )
    console.print(table)
    texts = await rt.incoming_text_per_language(8)
    t0 = time.perf_counter()
    guesses = rt.detect_languages(texts)
    timer.samples["detect_language (batch)"].append((time.perf_counter() - t0) * 1000)
    console.print(
        "  language of incoming messages: "
        + ", ".join(
            f"{g.language} ({g.confidence:.2f}) {t[:18]!r}"
            for g, t in zip(guesses, texts, strict=True)
        )
    )
    for lead in pick_leads(leads, 3):
        draft = await timer(
            "adapt_message", partial(rt.adapt_message, lead.id, "follow_up_after_silence")
        )
        console.print(f"  [dim]{lead.language} → {draft.send_at_local}[/] {draft.text[:110]!r}")
    if clip is not None and hasattr(rt, "transcribe"):
        note = await timer("transcribe", lambda: rt.transcribe(clip.read_bytes(), language="ko"))
        console.print(
            f"  voice note (ko): {note.text!r}, real-time factor {note.real_time_factor:.2f}"
        )


async def run_demo(
    workdir: Path,
    *,
    leads: int,
    listings: int,
    seed: int,
    console: Console,
    now_ms: int | None = None,
) -> dict[str, Any]:
    """The whole loop; returns the figures the report prints.

    ``now_ms``: the generated world's present (default: the start of this hour).
    """
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    timer = Timer()
    figures: dict[str, Any] = {}

    with console.status("generating a world for two agents"):
        world = generate_world(
            agents=2, leads=leads, listings=listings, seed=seed, now_ms=now_ms or this_hour_ms()
        )
        batches = split_world(world)
    console.print(
        f"[green]✓[/] world: {len(world.leads)} leads, {len(world.events)} events, "
        f"{len(world.listings)} listings, 2 agents"
    )
    clip = korean_clip(workdir)

    with run_server(workdir / "server.db") as server:
        for name in ("httpx", "realty_edge.server"):
            logging.getLogger(name).setLevel(logging.WARNING)
        console.print(f"[green]✓[/] sync server on {server.url} (OpenAPI at {server.url}/schema)")
        devices: dict[str, EdgeRuntime] = {}
        try:
            for agent_id, batch in batches.items():
                rt = await EdgeRuntime.open(workdir / f"{agent_id}.db")
                devices[agent_id] = rt
                ingested = await timer("ingest", partial(rt.ingest, batch))
                console.print(
                    f"[green]✓[/] {agent_id}: ingested {ingested.records} records "
                    f"offline into {agent_id}.db"
                )
                own = [lead for lead in world.leads if lead.agent_id == agent_id]
                await offline_work(rt, own, clip, timer, console)
                figures.setdefault("versions_before", rt.model_versions())

            tokens = {a: server.token(agent=a, team="team-a") for a in devices}
            sent = received = 0
            for agent_id, rt in devices.items():
                rep = await timer("sync", partial(rt.sync, server.url, tokens[agent_id]))
                sent, received = sent + rep.bytes_sent, received + rep.bytes_received
                console.print(
                    f"[green]✓[/] {agent_id} synced: pushed {rep.pushed}, pulled "
                    f"{rep.pulled}, checkpoint {rep.checkpoint}"
                )
            figures["conflicts"] = await conflict(devices, server.url, tokens, console, timer)
            for agent_id, rt in devices.items():
                rep = await rt.sync(server.url, tokens[agent_id])
                sent, received = sent + rep.bytes_sent, received + rep.bytes_received
            figures["bytes_sent"], figures["bytes_received"] = sent, received
            await retrain_and_distribute(
                workdir / "server.db",
                devices,
                server.url,
                tokens,
                console,
                figures,
                now_ms=world.now_ms,
                seed=seed,
            )
            figures["versions_after"] = next(iter(devices.values())).model_versions()
            meter = next(iter(devices.values())).energy  # as the client's Perf screen says it
            figures["energy"] = meter.active_agent_hour(assume_speech=True)
            figures["energy_measured_speech"] = meter.active_agent_hour()
        finally:
            for rt in devices.values():
                await rt.close()
    figures["outreach"] = await outreach_tour(workdir, console)
    report(figures, timer, console)
    return figures


async def conflict(
    devices: dict[str, EdgeRuntime],
    url: str,
    tokens: dict[str, str],
    console: Console,
    timer: Timer,
) -> int:
    """Both phones edit one lead offline, then sync; the later clock wins, the loser is logged."""
    (a, rt_a), (b, rt_b) = list(devices.items())[:2]
    lead_id = next(lead.id for lead in await rt_a.leads() if lead.agent_id == a)
    await rt_a.update("lead", lead_id, budget_max=900_000.0)
    await rt_b.update("lead", lead_id, budget_max=875_000.0)
    rep_a = await rt_a.sync(url, tokens[a])
    rep_b = await rt_b.sync(url, tokens[b])
    await rt_a.sync(url, tokens[a])
    lead_a, lead_b = await rt_a.get("lead", lead_id), await rt_b.get("lead", lead_id)
    assert isinstance(lead_a, Lead) and isinstance(lead_b, Lead)
    final_a, final_b = lead_a.budget_max, lead_b.budget_max
    console.print(
        f"[green]✓[/] conflict on {lead_id}.budget_max: both phones now hold "
        f"{final_a:,.0f} (== {final_b:,.0f}); conflicts logged by the server: "
        f"{rep_a.conflicts + rep_b.conflicts}"
    )
    return rep_a.conflicts + rep_b.conflicts


async def retrain_and_distribute(
    db: Path,
    devices: dict[str, EdgeRuntime],
    url: str,
    tokens: dict[str, str],
    console: Console,
    figures: dict[str, Any],
    *,
    now_ms: int,
    seed: int,
) -> None:
    """The server retrains on synced outcomes (its own process); devices fetch and swap.

    Fills ``figures["retrain"]`` (the decision) and ``figures["installed"]`` (per device).
    The labels are cut at the world's present and the throwaway server's pseudonym key derives
    from ``seed`` (its holdout split follows the pseudonyms), so a seed repeats its decision
    on any day.
    """
    from edge.model_updates import UpdatePolicy
    from server.admin import model_key, retrain

    with console.status(
        "the server retrains the behaviour model on synced outcomes "
        "(TensorFlow in a separate process)"
    ):
        key = hashlib.sha256(f"realty-edge demo {seed}".encode()).digest()
        run = await retrain(db, now_ms=now_ms, pseudonym_key=key)
    console.print(f"[green]✓[/] retraining run {run.id}: [bold]{run.decision}[/] ({run.reason})")
    figures["retrain"], figures["installed"] = run.decision, {}
    signing_key = (await model_key(db)).public_key  # what each phone is given at enrollment
    for agent_id, rt in devices.items():
        await rt.enroll_model_key(signing_key)
        update = await rt.check_model_updates(
            url, tokens[agent_id], UpdatePolicy(on_wifi=True, charging=True)
        )
        figures["installed"][agent_id] = dict(update.installed)
        what = versions(update.installed)
        rejected = f"; rejected {update.rejected}" if update.rejected else ""
        console.print(
            f"[green]✓[/] {agent_id}: verified signature, hash, feature spec and "
            f"canary; installed {what}{rejected}"
        )


def versions(models: dict[str, str]) -> str:
    """``name version, ...`` sorted by name, or "nothing new" for none."""
    return ", ".join(f"{k} {v}" for k, v in sorted(models.items())) or "nothing new"


def report(figures: dict[str, Any], timer: Timer, console: Console) -> None:
    console.print(timer.table())
    energy = figures.get("energy")
    table = Table("what", "value", title="the loop")
    if energy is not None:
        measured = figures["energy_measured_speech"]
        table.add_row(
            "modeled battery, active agent hour (README model)", f"{energy.battery_percent:.3f} %/h"
        )
        table.add_row(
            "the same with the speech CPU measured here", f"{measured.battery_percent:.3f} %/h"
        )
    table.add_row(
        "bytes synced (sent / received)",
        f"{figures['bytes_sent']:,} / {figures['bytes_received']:,}",
    )
    table.add_row("conflicts resolved and logged", str(figures["conflicts"]))
    table.add_row("retraining decision", figures.get("retrain", "not run"))
    table.add_row(
        "installed on the devices",
        "; ".join(
            f"{agent}: {versions(new)}" for agent, new in figures.get("installed", {}).items()
        ),
    )
    table.add_row("models before", versions(figures["versions_before"]))
    table.add_row("models after", versions(figures["versions_after"]))
    table.add_row("Kivy client", "realty-edge app --device .demo/agent-01.db")
    table.add_row("API docs", "realty-edge serve, then http://127.0.0.1:8000/schema")
    console.print(table)
