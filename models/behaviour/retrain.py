"""Retrain the behaviour model on synced outcomes: the training process the server starts.

Run as ``python -m models.behaviour.retrain --data D --current C --out O``: reads the
(pseudonymized) export ``D`` written by ``server.retrain``, trains an int8 candidate on the
leads outside the holdout, scores candidate and current model on the holdout with the
device's interpreter, and writes ``O/result.json`` (metrics, decision, reason) plus, when
there is a candidate, ``O/behaviour.tflite`` and its manifest. TensorFlow lives only here.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import msgspec
import numpy as np

from models.artifact import build_manifest, save_artifact
from models.behaviour import LABELS, NAME
from models.behaviour.dataset import LabelConfig, build_rows
from models.behaviour.train import held_out
from models.features import FEATURE_SPEC_HASH
from sync.records import Event, Lead, Listing


class TrainingSet(msgspec.Struct, kw_only=True):
    """What the server exports for training: pseudonymized ids, erased leads absent."""

    leads: list[Lead]
    events: list[Event]
    listings: list[Listing]
    now_ms: int


def decide(candidate: dict[str, float], current: dict[str, float], tolerance: float) -> tuple[
    bool, str
]:  # fmt: skip
    """Promote when the candidate's mean holdout AUC is not worse than the current's."""
    c = [candidate[f"{n}.auc"] for n in LABELS if not math.isnan(candidate[f"{n}.auc"])]
    k = [current[f"{n}.auc"] for n in LABELS if not math.isnan(current[f"{n}.auc"])]
    if not c:
        return False, "the holdout has no label with both classes: nothing to compare on"
    mc, mk = float(np.mean(c)), float(np.mean(k)) if k else float("-inf")
    if mc + tolerance >= mk:
        return True, f"candidate mean holdout AUC {mc:.4f} >= current {mk:.4f} - {tolerance}"
    return False, f"candidate mean holdout AUC {mc:.4f} < current {mk:.4f} - {tolerance}"


def retrain(
    data: Path,
    current: Path,
    out: Path,
    *,
    version: str,
    seed: int = 0,
    holdout: float = 0.3,
    min_rows: int = 50,
    tolerance: float = 0.0,
    epochs: int = 30,
) -> dict:
    from models.export import run_tflite, tensor_specs
    from models.train_common import (
        TrainConfig,
        configure_tensorflow,
        export_int8,
        fit_tabular,
        golden_cases,
        roc_auc,
    )

    t0 = time.perf_counter()
    world = msgspec.msgpack.decode(data.read_bytes(), type=TrainingSet)
    rows = build_rows(world.leads, world.events, world.listings, world.now_ms, LabelConfig())
    test = held_out(rows.lead_ids, holdout, seed)
    result: dict = {
        "metrics": {
            "leads": float(len(world.leads)),
            "rows": float(len(rows.y)),
            "rows_holdout": float(test.sum()),
        },
        "promote": False,
        "candidate": None,
    }
    if len(rows.y) < min_rows or test.sum() == 0 or (~test).sum() == 0:
        result["reason"] = (
            f"only {len(rows.y)} labelled rows ({int(test.sum())} in the holdout); "
            f"need at least {min_rows} with both sides non-empty"
        )
        return result
    configure_tensorflow(2)
    cfg = TrainConfig(hidden=(32, 16), dropout=0.2, learning_rate=2e-3, members=1, seed=seed,
                      epochs=epochs, patience=4, verbose=False)  # fmt: skip
    trained = fit_tabular(rows.x[~test], rows.y[~test], cfg, label_names=LABELS)
    blob = export_int8(trained, rows.x[~test])
    xt, yt = rows.x[test], rows.y[test]
    pc = run_tflite(blob, xt)
    pk = run_tflite((current / f"{NAME}.tflite").read_bytes(), xt)
    cand = {f"{n}.auc": roc_auc(yt[:, j], pc[:, j]) for j, n in enumerate(LABELS)}
    curr = {f"{n}.auc": roc_auc(yt[:, j], pk[:, j]) for j, n in enumerate(LABELS)}
    promote, reason = decide(cand, curr, tolerance)
    metrics = result["metrics"]
    metrics.update({f"candidate.{k}": v for k, v in cand.items()})
    metrics.update({f"current.{k}": v for k, v in curr.items()})
    metrics["train_seconds"] = time.perf_counter() - t0
    inputs, outputs = tensor_specs(blob)
    manifest = build_manifest(
        NAME, blob, version=version, feature_spec_hash=FEATURE_SPEC_HASH, inputs=inputs,
        outputs=outputs, labels=list(LABELS),
        metrics={k: v for k, v in metrics.items() if not math.isnan(v)},
        golden=golden_cases(blob, xt, n=4),
    )  # fmt: skip
    save_artifact(out, blob, manifest)
    result.update(promote=promote, reason=reason, candidate=version)
    return result


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--current", type=Path, required=True, help="directory of the current model")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--version", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--holdout", type=float, default=0.3)
    ap.add_argument("--min-rows", type=int, default=50)
    ap.add_argument("--tolerance", type=float, default=0.0)
    ap.add_argument("--epochs", type=int, default=30)
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    result = retrain(
        args.data, args.current, args.out, version=args.version, seed=args.seed,
        holdout=args.holdout, min_rows=args.min_rows, tolerance=args.tolerance,
        epochs=args.epochs,
    )  # fmt: skip
    clean = {k: (None if isinstance(v, float) and math.isnan(v) else v)
             for k, v in result["metrics"].items()}  # fmt: skip
    (args.out / "result.json").write_text(json.dumps({**result, "metrics": clean}, indent=1))


if __name__ == "__main__":
    main()
