"""Importing the model registry folder of an older version into the store, once.

Before the registry moved into the server's store, it was a folder (``<db>.registry/``):
``state.json`` (per family: stable, latest, percent, versions, rolled back; per device: the
versions it runs), ``<name>/<version>/`` (``model.tflite``, ``manifest.json``, maybe
``reference.json``), ``teams/<scope>/`` (the same per team), ``retrain-runs.jsonl``,
``drift.json``, ``signing_ed25519.pem`` and ``pseudonym.key``.

:func:`import_folder` copies all of it in one transaction. What the store already has wins:
a family with a row is left alone, a run already recorded is kept, a key already created is
kept (and the mismatch logged: devices pinned the folder's key). The folder is then marked
(:data:`MARKER`) and never read again; it is not deleted.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import msgspec

from server.distribution import MODEL_SIGNING_KEY, POOLED, PSEUDONYM_KEY
from server.storage import (
    DriftCheckRow,
    ModelFamilyRow,
    ModelVersionRow,
    RetrainRunRow,
    ServerStore,
    ServerTx,
)
from sync.clock import wall_clock_ms

log = logging.getLogger("realty_edge.server")

#: Written into an imported folder; a folder with it is not imported again.
MARKER = "IMPORTED-INTO-DATABASE.txt"


class _Family(msgspec.Struct, kw_only=True):
    stable: str | None = None
    latest: str | None = None
    percent: int = 0
    versions: list[str] = []
    rolled_back: list[str] = []


class _State(msgspec.Struct, kw_only=True):
    families: dict[str, _Family] = {}
    devices: dict[str, dict[str, str]] = {}


class _Run(msgspec.Struct, kw_only=True):
    id: str
    family: str
    started_at: int
    finished_at: int
    decision: str
    scope: str = POOLED


class _Check(msgspec.Struct, kw_only=True):
    family: str
    version: str
    checked_at: int


class ImportReport(msgspec.Struct, kw_only=True):
    """What one import copied."""

    versions: int = 0
    families: int = 0
    runs: int = 0
    skipped_families: int = 0


def _read(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None


def _scopes(folder: Path) -> list[tuple[str, Path]]:
    scopes = [(POOLED, folder)]
    teams = folder / "teams"
    if teams.is_dir():
        scopes += [(d.name, d) for d in sorted(teams.iterdir()) if d.is_dir()]
    return scopes


def has_old_registry(folder: Path) -> bool:
    """Whether ``folder`` holds an older version's registry not imported yet."""
    if not folder.is_dir() or (folder / MARKER).exists():
        return False
    names = ("state.json", "retrain-runs.jsonl", "signing_ed25519.pem", "pseudonym.key")
    return any((folder / n).exists() for n in names) or (folder / "teams").is_dir()


def _prepare(folder: Path) -> tuple[list, list, list, list, dict[str, bytes]]:
    """Everything the folder holds, read from disk before the transaction opens."""
    now = wall_clock_ms()
    families: list[ModelFamilyRow] = []
    versions: list[ModelVersionRow] = []
    devices: list[tuple[str, str, str]] = []
    checks: list[DriftCheckRow] = []
    for scope, root in _scopes(folder):
        state_bytes = _read(root / "state.json")
        state = msgspec.json.decode(state_bytes, type=_State) if state_bytes else _State()
        for name, family in state.families.items():
            families.append(
                ModelFamilyRow(
                    scope=scope,
                    family=name,
                    stable=family.stable,
                    latest=family.latest,
                    percent=family.percent,
                    rolled_back=list(family.rolled_back),
                    versions=list(family.versions),
                )
            )
            for version in family.versions:
                where = root / name / version
                manifest, blob = _read(where / "manifest.json"), _read(where / "model.tflite")
                if manifest is None or blob is None:
                    log.warning("registry import: %s has no manifest or blob, skipped", where)
                    continue
                sha = msgspec.json.decode(manifest, type=dict).get("sha256", "")
                versions.append(
                    ModelVersionRow(
                        scope=scope,
                        family=name,
                        version=version,
                        manifest=manifest,
                        sha256=str(sha),
                        created_at=now,
                        blob=blob,
                        reference=_read(where / "reference.json"),
                    )
                )
        for device, running in state.devices.items():
            devices += [(device, name, version) for name, version in running.items()]
        drift = _read(root / "drift.json")
        if drift:
            for fam, raw in msgspec.json.decode(drift, type=dict[str, msgspec.Raw]).items():
                check = msgspec.json.decode(raw, type=_Check)
                checks.append(
                    DriftCheckRow(
                        scope=scope,
                        family=fam,
                        version=check.version,
                        checked_at=check.checked_at,
                        record=bytes(raw),
                    )
                )
    runs: list[RetrainRunRow] = []
    for line in (_read(folder / "retrain-runs.jsonl") or b"").splitlines():
        if line.strip():
            runs.append(RetrainRunRow.of(msgspec.json.decode(line, type=_Run), line.strip()))
    keys = {
        name: data
        for name, data in (
            (MODEL_SIGNING_KEY, _read(folder / "signing_ed25519.pem")),
            (PSEUDONYM_KEY, _read(folder / "pseudonym.key")),
        )
        if data
    }
    return families, versions, devices, runs + checks, keys


async def import_folder(store: ServerStore, folder: Path) -> ImportReport | None:
    """Import ``folder`` (an older version's registry) into ``store`` unless it was imported
    before or holds none; what was imported (``None``: nothing to do)."""
    if not has_old_registry(folder):
        return None
    families, versions, devices, records, keys = await asyncio.to_thread(_prepare, folder)
    now = wall_clock_ms()

    def copy(tx: ServerTx) -> tuple[ImportReport, list[str]]:
        tx.lock_registry()
        report = ImportReport()
        new = set()
        for family in families:
            if tx.model_family(family.scope, family.family) is not None:
                report.skipped_families += 1
                continue
            new.add((family.scope, family.family))
            tx.save_model_family(family)
            report.families += 1
        for version in versions:
            if (version.scope, version.family) in new:
                tx.add_model_version(version)
                report.versions += 1
        for device, name, version in devices:
            tx.report_model(device, name, version, 0)  # any later report wins
        for record in records:
            if isinstance(record, RetrainRunRow):
                tx.add_retrain_run(record)
                report.runs += 1
            else:
                tx.save_drift_check(record)
        kept = [name for name, data in keys.items() if tx.named_key(name, data, now) != data]
        return report, kept

    report, kept = await store.write(copy)
    for name in kept:
        log.warning(
            "registry import: the database already has a %s key, kept; the one in %s was not "
            "imported (devices enrolled with it must be enrolled again)",
            name,
            folder,
        )
    (folder / MARKER).write_text(
        "This model registry folder was imported into the server's database "
        f"({report.families} families, {report.versions} versions, {report.runs} runs); "
        "the server no longer reads it. It can be archived or removed.\n"
    )
    log.info("registry import from %s: %s", folder, report)
    return report
