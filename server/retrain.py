"""Retraining on synced outcomes, in a separate process; every run recorded.

:func:`retrain_once` exports the server's merged leads, events and listings (erased leads are
gone from the store, so they are absent; ids are pseudonymized with a keyed hash and free
texts dropped), starts ``python -m models.behaviour.retrain`` as a subprocess (the API
process never imports TensorFlow), which trains the candidate on those outcomes plus the base
corpus the shipped model learned from (cached beside the registry), reads its decision and,
when the candidate is not worse than the current model on the holdout, publishes it (signed)
to the model registry. Each run,
promoted, refused or failed, is appended to ``retrain-runs.jsonl`` in the registry folder.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

import msgspec

from models.artifact import ARTIFACT_DIR, read_manifest
from models.behaviour.retrain import TOLERANCE, TrainingSet
from models.behaviour.train import DEFAULT_WORLD
from server.registry import ModelDistribution
from server.storage import ServerStore
from sync.merge import is_visible, values
from sync.records import Event, Lead, Listing

FAMILY = "behaviour"
ROOT = Path(__file__).resolve().parents[1]


class RetrainRun(msgspec.Struct, kw_only=True):
    """One retraining run: what it trained on, its metrics and the decision with its reason."""

    id: str
    family: str
    started_at: int
    finished_at: int
    decision: str  # "promoted", "refused" or "failed"
    reason: str
    candidate: str | None = None
    current: str | None = None
    metrics: dict[str, float | None] = {}


class RetrainRuns(msgspec.Struct, kw_only=True):
    runs: list[RetrainRun]


def pseudonym_key(registry: ModelDistribution, initial: bytes | None = None) -> bytes:
    """The server's pseudonymization key, created on first use (random unless ``initial``).

    ``initial`` is for a throwaway server that must repeat a run (the demo): an existing key
    is never replaced, since that would change every pseudonym of a running server.
    """
    path = registry.directory / "pseudonym.key"
    if not path.exists():
        registry.directory.mkdir(parents=True, exist_ok=True)
        path.write_bytes(initial if initial is not None else secrets.token_bytes(32))
        path.chmod(0o600)
    return path.read_bytes()


def pseudonym(salt: bytes, kind: str, team: str, value: str) -> str:
    """A stable id that cannot be turned back into ``value`` without the server's key."""
    digest = hmac.new(salt, f"{kind}:{team}:{value}".encode(), hashlib.sha256).hexdigest()
    return f"{kind[0]}-{digest[:20]}"


async def training_set(store: ServerStore, salt: bytes, now_ms: int) -> TrainingSet:
    """Every team's visible leads, their events and the listings, pseudonymized."""
    leads: list[Lead] = []
    for team, r in await store.team_records(None, "lead"):
        if not is_visible(r.state):
            continue
        try:
            lead = msgspec.convert({**values(r.state), "id": r.entity_id}, Lead)
        except msgspec.ValidationError:
            continue
        leads.append(
            msgspec.structs.replace(
                lead,
                id=pseudonym(salt, "lead", team, lead.id),
                agent_id=pseudonym(salt, "agent", team, lead.agent_id),
                team_id=pseudonym(salt, "team", team, team),
                name="lead",
            )
        )
    events: list[Event] = []
    for team, r in await store.team_records(None, "event"):
        if not is_visible(r.state):
            continue
        try:
            event = msgspec.convert({**values(r.state), "id": r.entity_id}, Event)
        except msgspec.ValidationError:
            continue
        events.append(
            msgspec.structs.replace(
                event,
                id=pseudonym(salt, "event", team, event.id),
                lead_id=pseudonym(salt, "lead", team, event.lead_id),
                text=None,
            )
        )
    kept = {lead.id for lead in leads}
    events = [e for e in events if e.lead_id in kept]
    listings: list[Listing] = []
    for _, r in await store.team_records(None, "listing"):
        if is_visible(r.state):
            try:
                listings.append(msgspec.convert({**values(r.state), "id": r.entity_id}, Listing))
            except msgspec.ValidationError:
                continue
    return TrainingSet(leads=leads, events=events, listings=listings, now_ms=now_ms)


def runs_path(registry: ModelDistribution) -> Path:
    return registry.directory / "retrain-runs.jsonl"


def list_runs(registry: ModelDistribution) -> list[RetrainRun]:
    path = runs_path(registry)
    if not path.exists():
        return []
    dec = msgspec.json.Decoder(RetrainRun)
    return [dec.decode(line) for line in path.read_bytes().splitlines() if line.strip()]


def _record(registry: ModelDistribution, run: RetrainRun) -> None:
    registry.directory.mkdir(parents=True, exist_ok=True)
    with runs_path(registry).open("ab") as f:
        f.write(msgspec.json.encode(run) + b"\n")


async def retrain_once(
    store: ServerStore,
    registry: ModelDistribution,
    *,
    now_ms: int,
    min_rows: int = 50,
    epochs: int = 80,
    rollout_percent: int = 100,
    tolerance: float = TOLERANCE,
    confidence: float = 0.95,
    base_world: dict | None = DEFAULT_WORLD,
    timeout_s: float = 600,
) -> RetrainRun:
    """One run: export, train in a subprocess, decide, publish if promoted, record.

    ``base_world``: the generator's arguments of the base corpus the candidate also learns
    from (``None``: the synced outcomes alone); see :mod:`models.behaviour.retrain`.
    """
    started = now_ms
    run_id = f"run-{started}-{secrets.token_hex(3)}"
    current_dir = registry.current_dir(FAMILY) or ARTIFACT_DIR
    current = registry.family(FAMILY).stable if registry.current_dir(FAMILY) else None
    if current is None:
        current = read_manifest(ARTIFACT_DIR, FAMILY).version
    version = f"{current.split('+')[0]}+{run_id[4:]}"[:64]
    data = await training_set(store, pseudonym_key(registry), now_ms)
    with tempfile.TemporaryDirectory(prefix="realty-edge-retrain-") as tmp:
        work = Path(tmp)
        if current_dir == ARTIFACT_DIR or (current_dir / f"{FAMILY}.tflite").exists():
            current_path = current_dir
        else:  # the registry keeps model.tflite + manifest.json; the job reads artifacts
            current_path = work / "current"
            current_path.mkdir()
            (current_path / f"{FAMILY}.tflite").write_bytes(
                (current_dir / "model.tflite").read_bytes()
            )
        (work / "data.msgpack").write_bytes(msgspec.msgpack.encode(data))
        out = work / "out"
        cmd = [
            sys.executable, "-m", "models.behaviour.retrain", "--data", str(work / "data.msgpack"),
            "--current", str(current_path), "--out", str(out), "--version", version,
            "--min-rows", str(min_rows), "--epochs", str(epochs), "--tolerance", str(tolerance),
            "--confidence", str(confidence), "--base-world", json.dumps(base_world),
            "--cache", str(registry.directory / "base-corpus"),
        ]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
        proc = await asyncio.create_subprocess_exec(
            *cmd, cwd=str(ROOT), env=env, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            _, err = await asyncio.wait_for(proc.communicate(), timeout_s)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            err = f"training took longer than {timeout_s} s".encode()
        result_file = out / "result.json"
        if proc.returncode != 0 or not result_file.exists():
            run = RetrainRun(
                id=run_id, family=FAMILY, started_at=started, finished_at=_now(),
                decision="failed", current=current,
                reason=f"training process exited {proc.returncode}: "
                f"{err.decode(errors='replace').strip()[-500:]}",
            )  # fmt: skip
            _record(registry, run)
            return run
        result = json.loads(result_file.read_text())
        decision = "promoted" if result["promote"] else "refused"
        if result["promote"]:
            manifest = read_manifest(out, FAMILY)
            blob = (out / f"{FAMILY}.tflite").read_bytes()
            registry.publish(blob, manifest, percent=rollout_percent)
    run = RetrainRun(
        id=run_id, family=FAMILY, started_at=started, finished_at=_now(), decision=decision,
        reason=result["reason"], candidate=result.get("candidate"), current=current,
        metrics=result["metrics"],
    )  # fmt: skip
    _record(registry, run)
    return run


def _now() -> int:
    return int(time.time() * 1000)
