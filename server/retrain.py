"""Retraining on synced outcomes, in a separate process; every run recorded.

:func:`retrain_once` trains one model family (behaviour, intervention, personalization) for
one team (its own versions, in the team's scope of the registry) or, with ``team=None``, for
all teams pooled (the registry's root, served to every team without a version of its own).
It exports the team's merged leads, events and listings, pseudonymized (:func:`training_set`:
ids replaced by keyed hashes under the server's ``pseudonym.key``; names, e-mail, phone, lead
source and every free text dropped before anything is written; erased leads are gone from the
store, so they are absent), starts ``python -m models.retrain`` as a subprocess (the API
process never imports TensorFlow), reads its decision and, when the candidate is not worse
than the current model on the holdout of synced data, publishes it (signed) to the registry.
Each run, promoted, refused or failed, is recorded in the store (``retrain_runs``), with the
calibration (ECE) of candidate and current on the synced holdout, so every worker lists it.

:func:`drift_once` scores the team's current data with the version the team is served and
compares that score distribution with the one the version was trained on (population
stability index, :mod:`models.drift`); above the threshold the family is ``drifting`` in
``health``. The training reference is stored with the version; the checks in ``drift_checks``.
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
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from models.artifact import ARTIFACT_DIR, read_manifest
from models.behaviour.retrain import TrainingSet
from models.behaviour.train import DEFAULT_WORLD
from models.drift import PSI_THRESHOLD
from models.retrain_job import TOLERANCE, RetrainJob, RetrainSettings
from server.distribution import POOLED, PSEUDONYM_KEY, ModelDistribution, team_scope
from server.storage import DriftCheckRow, RetrainRunRow, ServerStore
from sync.clock import wall_clock_ms
from sync.merge import is_visible, values
from sync.records import Event, Lead, Listing

FAMILY = "behaviour"
#: Artifact names of each family (``models.retrain.FAMILIES``; the same, without its imports).
FAMILIES: dict[str, tuple[str, ...]] = {
    "behaviour": ("behaviour",),
    "intervention": ("intervention",),
    "personalization": ("personalization_lead", "personalization_listing"),
}
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
    #: ``pooled`` or the team's scope (``server.distribution.team_scope``).
    scope: str = POOLED
    #: Leads of the scope erased at export time (a count, no ids).
    erasures: int = 0
    #: Leads erased since the current model's training export: it learned from them, so it is
    #: replaced by this run's candidate whatever the comparison says (when one was trained).
    erased_since: int = 0


class RetrainRuns(msgspec.Struct, kw_only=True):
    runs: list[RetrainRun]


async def pseudonym_key(registry: ModelDistribution, initial: bytes | None = None) -> bytes:
    """The server's pseudonymization key, created in the store on first use (random unless
    ``initial``); every worker and host uses the same one.

    ``initial`` is for a throwaway server that must repeat a run (the demo): an existing key
    is never replaced, since that would change every pseudonym of a running server.
    """
    await registry.ready()  # an older registry folder's key is imported first
    first = initial if initial is not None else secrets.token_bytes(32)
    return await registry.store.named_key(PSEUDONYM_KEY, first)


def pseudonym(salt: bytes, kind: str, team: str, value: str) -> str:
    """A stable id that cannot be turned back into ``value`` without the server's key."""
    digest = hmac.new(salt, f"{kind}:{team}:{value}".encode(), hashlib.sha256).hexdigest()
    return f"{kind[0]}-{digest[:20]}"


R = TypeVar("R", Lead, Event, Listing)


async def _visible(store: ServerStore, team: str | None, kind: type[R]) -> list[tuple[str, R]]:
    """The team's (``None``: every team's) visible records of ``kind``, with their team; a
    stored state that no longer makes a valid record is left out."""
    tag = {Lead: "lead", Event: "event", Listing: "listing"}[kind]
    found: list[tuple[str, R]] = []
    for owner, r in await store.team_records(team, tag):
        if is_visible(r.state):
            try:
                found.append((owner, msgspec.convert({**values(r.state), "id": r.entity_id}, kind)))
            except msgspec.ValidationError:
                continue
    return found


async def training_set(
    store: ServerStore, salt: bytes, now_ms: int, team: str | None = None
) -> TrainingSet:
    """The team's (``None``: every team's) visible leads, their events and the listings,
    pseudonymized: keyed hashes for ids, no names, e-mails, phones, sources or texts."""
    leads = [
        msgspec.structs.replace(
            lead,
            id=pseudonym(salt, "lead", owner, lead.id),
            agent_id=pseudonym(salt, "agent", owner, lead.agent_id),
            team_id=pseudonym(salt, "team", owner, owner),
            name="lead",
            email="",
            phone="",
            source="",
        )
        for owner, lead in await _visible(store, team, Lead)
    ]
    kept = {lead.id for lead in leads}
    events = [
        msgspec.structs.replace(
            event,
            id=pseudonym(salt, "event", owner, event.id),
            lead_id=pseudonym(salt, "lead", owner, event.lead_id),
            text=None,
        )
        for owner, event in await _visible(store, team, Event)
    ]
    events = [e for e in events if e.lead_id in kept]
    listings = [listing for _, listing in await _visible(store, team, Listing)]
    return TrainingSet(leads=leads, events=events, listings=listings, now_ms=now_ms)


_run_dec = msgspec.json.Decoder(RetrainRun)


async def list_runs(
    registry: ModelDistribution, scopes: set[str] | None = None
) -> list[RetrainRun]:
    """The recorded runs of ``scopes`` (``None``: every scope), in the order they finished."""
    await registry.ready()
    rows = await registry.store.retrain_runs(None if scopes is None else sorted(scopes))
    return [_run_dec.decode(r.record) for r in rows]


async def _record(registry: ModelDistribution, run: RetrainRun) -> None:
    row = RetrainRunRow.of(run, msgspec.json.encode(run))
    await registry.store.write(lambda tx: tx.add_retrain_run(row))


def scope_name(team: str | None) -> str:
    return POOLED if team is None else team_scope(team)


async def erasure_count(store: ServerStore, team: str | None) -> int:
    """Leads of ``team`` (``None``: every team) erased so far: their hard-erase tombstones."""
    return sum(1 for _, r in await store.team_records(team, "lead") if r.state.erased)


async def _trained_with(
    registry: ModelDistribution, family: str, scope: str, version: str | None
) -> RetrainRun | None:
    """The promoted run that made ``version`` (``None``: a shipped or unknown version)."""
    for run in reversed(await list_runs(registry, {scope})):
        if (run.family, run.scope, run.candidate, run.decision) == (
            family,
            scope,
            version,
            "promoted",
        ):
            return run
    return None


async def _current(registry: ModelDistribution, team: str | None, name: str) -> tuple[str, Path]:
    """(version, file) the scope's devices get now for ``name``: the team's stable version,
    else the pooled one, else the shipped model."""
    serving = (await registry.served(team, (name,)))[name]
    if serving is not None:
        scope, version = serving
        return version, await scope.materialize(name, version)
    return read_manifest(ARTIFACT_DIR, name).version, ARTIFACT_DIR / f"{name}.tflite"


async def _run_process(cmd: list[str], timeout_s: float) -> tuple[int | None, bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = await asyncio.create_subprocess_exec(
        *cmd,
        cwd=str(ROOT),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        err = f"the process took longer than {timeout_s} s".encode()
    return proc.returncode, err


def _job_folder(
    work: Path,
    family: str,
    blobs: dict[str, bytes],
    data: TrainingSet,
    *,
    settings: RetrainSettings | None = None,
    drift: str | None = None,
) -> RetrainJob:
    """Write the current model's ``blobs`` and the export into ``work``; the job on them."""
    (work / "current").mkdir(parents=True, exist_ok=True)
    for name, blob in blobs.items():
        (work / "current" / f"{name}.tflite").write_bytes(blob)
    (work / "data.msgpack").write_bytes(msgspec.msgpack.encode(data))
    return RetrainJob(
        family=family,
        data=str(work / "data.msgpack"),
        current=str(work / "current"),
        out=str(work / "out"),
        drift=drift,
        settings=settings or RetrainSettings(),
    )


async def _run_job(
    job: RetrainJob, work: Path, timeout_s: float
) -> tuple[dict[str, Any] | None, str]:
    """Run ``job`` in its own process (``python -m models.retrain``); its ``result.json``, or
    None and what went wrong."""
    spec = work / "job.json"
    spec.write_bytes(msgspec.json.encode(job))
    code, err = await _run_process([sys.executable, "-m", "models.retrain", str(spec)], timeout_s)
    result_file = Path(job.out) / "result.json"
    if code != 0 or not result_file.exists():
        return None, f"exited {code}: {err.decode(errors='replace').strip()[-500:]}"
    result: dict[str, Any] = json.loads(result_file.read_text())
    return result, ""


async def retrain_once(
    store: ServerStore,
    registry: ModelDistribution,
    *,
    now_ms: int,
    family: str = FAMILY,
    team: str | None = None,
    min_rows: int = 50,
    epochs: int = 80,
    rollout_percent: int = 100,
    tolerance: float = TOLERANCE,
    confidence: float = 0.95,
    base_world: dict | None = DEFAULT_WORLD,
    timeout_s: float = 600,
    work_dir: Path | None = None,
) -> RetrainRun:
    """One run of ``family`` for ``team`` (``None``: pooled): export, train in a subprocess,
    decide, publish if promoted, record.

    ``base_world``: the generator's arguments of the base corpus the behaviour candidate also
    learns from (``None``: the synced outcomes alone); see :mod:`models.behaviour.retrain`.
    ``work_dir``: where the export and the candidate are written (default: a temporary folder,
    removed afterwards); the tests read its bytes.
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown model family {family!r}")
    names = FAMILIES[family]
    started = now_ms
    scope = scope_name(team)
    run_id = f"run-{started}-{secrets.token_hex(3)}"
    target = registry.for_team(team) if team is not None else registry
    currents = {name: await _current(registry, team, name) for name in names}
    current = currents[names[0]][0]
    version = f"{current.split('+')[0]}+{run_id[4:]}"[:64]
    erasures = await erasure_count(store, team)
    made_current = await _trained_with(registry, family, scope, current)
    erased_since = max(0, erasures - made_current.erasures) if made_current else 0
    data = await training_set(store, await pseudonym_key(registry), now_ms, team)

    async def record(**outcome: Any) -> RetrainRun:
        run = RetrainRun(
            id=run_id,
            family=family,
            started_at=started,
            finished_at=wall_clock_ms(),
            current=current,
            scope=scope,
            erasures=erasures,
            erased_since=erased_since,
            **outcome,
        )
        await _record(registry, run)
        return run

    with tempfile.TemporaryDirectory(prefix="realty-edge-retrain-") as tmp:
        work = work_dir or Path(tmp)
        job = _job_folder(
            work,
            family,
            {name: path.read_bytes() for name, (_, path) in currents.items()},
            data,
            settings=RetrainSettings(
                version=version,
                min_rows=min_rows,
                epochs=epochs,
                tolerance=tolerance,
                confidence=confidence,
                base_world=base_world,
                cache=str(registry.directory / "base-corpus"),
            ),
        )
        result, failure = await _run_job(job, work, timeout_s)
        if result is None:
            return await record(decision="failed", reason=f"training process {failure}")
        out = Path(job.out)
        promote, reason = bool(result["promote"]), str(result["reason"])
        if erased_since and result.get("candidate"):
            promote = True
            reason = (
                f"the current model {current} learned from {erased_since} lead(s) erased "
                f"since: replaced by a model trained without them ({reason})"
            )
        elif erased_since:
            reason = (
                f"the current model {current} learned from {erased_since} lead(s) erased "
                f"since, and no candidate could be trained without them: {reason}"
            )
        if promote:
            ref = out / "reference.json"
            reference = ref.read_bytes() if ref.exists() else None
            for name in names:
                if erased_since:  # no rollback may return to a model that learned from them
                    await target.withdraw(name)
                manifest = read_manifest(out, name)
                await target.publish(
                    (out / f"{name}.tflite").read_bytes(),
                    manifest,
                    percent=rollout_percent,
                    reference=reference,
                )
    return await record(
        decision="promoted" if promote else "refused",
        reason=reason,
        candidate=result.get("candidate"),
        metrics=result["metrics"],
    )


# --- drift ------------------------------------------------------------------------------


class DriftCheck(msgspec.Struct, frozen=True, kw_only=True):
    """One drift check of one family in one scope: PSI of live scores against training."""

    family: str
    scope: str
    version: str
    psi: float | None
    threshold: float
    rows: int
    status: str  # "ok", "drifting" or "unknown" (no live rows)
    checked_at: int


_check_dec = msgspec.json.Decoder(DriftCheck)


async def drift_status(registry: ModelDistribution, team: str | None) -> dict[str, DriftCheck]:
    """The last drift check of each family serving ``team`` (``None``: the pooled ones)."""
    checks: dict[str, DriftCheck] = {}
    scopes = [POOLED] if team is None else [POOLED, team_scope(team)]
    await registry.ready()
    for scope in scopes:  # the team's own checks override the pooled ones
        for row in await registry.store.drift_checks(scope):
            checks[row.family] = _check_dec.decode(row.record)
    checks = {f: c for f, c in checks.items() if f in FAMILIES}
    if team is not None and checks:
        served = await registry.served(team, tuple(FAMILIES[f][0] for f in checks))
        for family in list(checks):
            serving = served[FAMILIES[family][0]]
            if serving is None or serving[1] != checks[family].version:
                del checks[family]  # checked on a version this team is not served
    return checks


async def drift_once(
    store: ServerStore,
    registry: ModelDistribution,
    *,
    now_ms: int,
    family: str,
    team: str | None = None,
    threshold: float = PSI_THRESHOLD,
    timeout_s: float = 300,
) -> DriftCheck | None:
    """Check the version serving ``team`` (``None``: the pooled one) for drift; ``None`` when
    it has no training reference (the shipped model). Recorded in the store (``drift_checks``)."""
    name = FAMILIES[family][0]
    serving = (await registry.served(team, (name,)))[name]
    if serving is None:
        return None
    scope, version = serving
    reference = await scope.reference(name, version)
    if reference is None:
        return None
    data = await training_set(store, await pseudonym_key(registry), now_ms, team)
    with tempfile.TemporaryDirectory(prefix="realty-edge-drift-") as tmp:
        work = Path(tmp)
        ref = work / "reference.json"
        ref.write_bytes(reference)
        blobs = {n: (await scope.materialize(n, version)).read_bytes() for n in FAMILIES[family]}
        job = _job_folder(work, family, blobs, data, drift=str(ref))
        result, failure = await _run_job(job, work, timeout_s)
        if result is None:
            raise RuntimeError(f"drift check {failure}")
    value = result["psi"]
    status = "unknown" if value is None else "drifting" if value >= threshold else "ok"
    check = DriftCheck(
        family=family,
        scope=scope_name(team),
        version=version,
        psi=value,
        threshold=threshold,
        rows=int(result["rows"]),
        status=status,
        checked_at=now_ms,
    )
    row = DriftCheckRow(  # in the scope of the team's data
        scope=check.scope,
        family=family,
        version=version,
        checked_at=now_ms,
        record=msgspec.json.encode(check),
    )
    await registry.store.write(lambda tx: tx.save_drift_check(row))
    return check


async def teams(store: ServerStore) -> list[str]:
    """Every team with at least one lead in the store."""
    return sorted({team for team, _ in await store.team_records(None, "lead")})
