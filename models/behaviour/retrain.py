"""Retrain the behaviour model on synced outcomes: the training process the server starts.

:func:`retrain` (called by :mod:`models.retrain`, the training process the server starts) reads
the (pseudonymized) export written by ``server.retrain`` and splits its leads into a training
part and a holdout. The candidate is trained with the shipped model's recipe on the synced
training part **plus the base corpus** (the generated world the shipped model learned from,
without the leads the shipped model held out), so new outcomes add to what the model knew
instead of replacing it with a few hundred rows. Candidate and current model are then scored
with the device's interpreter on both holdouts, the synced one and the base one, and
``O/result.json`` gets the metrics (with the expected calibration error on the synced
holdout, ``candidate.ece`` / ``current.ece``), the decision and its reason, plus, when there is
a candidate, ``O/behaviour.tflite``, its manifest and ``O/reference.json`` (the candidate's
scores of the synced leads at the export's present, for the drift check of :mod:`models.drift`).
TensorFlow lives only here.

The decision (:func:`decide`): promote when the candidate's mean AUC over the labels on the
pooled holdout is not below the current model's minus ``tolerance`` (:data:`TOLERANCE`), and, as a
guard for the field data, the candidate is not worse on the synced holdout alone in 95 % or
more of paired bootstrap resamples of its leads (:func:`worse_share`). The synced holdout of a
small team is a few hundred rows, so a point difference there is mostly noise; the bootstrap
refuses only a candidate that is worse with confidence.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from pathlib import Path

import msgspec
import numpy as np

from models.artifact import build_manifest, save_artifact
from models.behaviour import LABELS, NAME
from models.behaviour.dataset import BehaviourRows, LabelConfig, build_rows
from models.behaviour.train import TEST_FRACTION, recipe
from models.features import FEATURE_SPEC_HASH
from models.retrain_job import TOLERANCE as TOLERANCE
from models.retrain_job import RetrainSettings
from models.train_common import held_out
from sync.records import Event, Lead, Listing

#: The shipped model's split seed: its held-out base leads stay out of every candidate too.
BASE_SPLIT_SEED = 0


class TrainingSet(msgspec.Struct, kw_only=True):
    """What the server exports for training: pseudonymized ids, erased leads absent."""

    leads: list[Lead]
    events: list[Event]
    listings: list[Listing]
    now_ms: int


def mean_auc(metrics: dict[str, float], prefix: str = "") -> float | None:
    """Mean AUC over the labels that have both classes (``None`` when none has)."""
    aucs = [metrics.get(f"{prefix}{n}.auc", math.nan) for n in LABELS]
    aucs = [a for a in aucs if not math.isnan(a)]
    return float(np.mean(aucs)) if aucs else None


def decide(
    candidate: dict[str, float],
    current: dict[str, float],
    tolerance: float,
    *,
    synced_worse_share: float | None = None,
    confidence: float = 0.95,
) -> tuple[bool, str]:
    """Promote when the candidate's mean AUC (``{label}.auc`` keys) is not worse than the
    current's minus ``tolerance``, unless the candidate is worse on the synced holdout in at
    least ``confidence`` of the paired bootstrap resamples (``synced_worse_share``)."""
    mc, mk = mean_auc(candidate), mean_auc(current)
    if mc is None:
        return False, "the holdout has no label with both classes: nothing to compare on"
    mk = float("-inf") if mk is None else mk
    if mc + tolerance < mk:
        return False, f"candidate mean holdout AUC {mc:.4f} < current {mk:.4f} - {tolerance}"
    reason = f"candidate mean holdout AUC {mc:.4f} >= current {mk:.4f} - {tolerance}"
    sc, sk = mean_auc(candidate, "synced."), mean_auc(current, "synced.")
    if synced_worse_share is None or sc is None or sk is None:
        return True, reason
    field = (
        f"on the synced holdout {sc:.4f} vs {sk:.4f}, worse in "
        f"{synced_worse_share:.0%} of bootstrap resamples"
    )
    if synced_worse_share >= confidence:
        return False, f"{reason}, but {field} (limit {confidence:.0%})"
    return True, f"{reason}; {field}"


def worse_share(
    y: np.ndarray,
    p_candidate: np.ndarray,
    p_current: np.ndarray,
    groups: list[str],
    *,
    resamples: int = 500,
    seed: int = 0,
) -> float:
    """Share of paired bootstrap resamples (of leads, all of a lead's rows together) in which
    the candidate's mean AUC over the labels is below the current model's."""
    from models.train_common import roc_auc

    rng = np.random.default_rng(seed)
    _, inverse = np.unique(np.asarray(groups), return_inverse=True)
    rows_of = [np.flatnonzero(inverse == g) for g in range(inverse.max() + 1)]
    worse = counted = 0
    for _ in range(resamples):
        idx = np.concatenate([rows_of[g] for g in rng.integers(0, len(rows_of), len(rows_of))])
        diffs = [
            roc_auc(y[idx, j], p_candidate[idx, j]) - roc_auc(y[idx, j], p_current[idx, j])
            for j in range(y.shape[1])
        ]
        diffs = [d for d in diffs if not math.isnan(d)]
        if diffs:
            counted += 1
            worse += float(np.mean(diffs)) < 0
    return worse / counted if counted else 0.0


def base_corpus(world: dict, cache: Path | None = None) -> BehaviourRows:
    """The rows of the generated world the shipped model was trained on (cached as .npz)."""
    from models.synthetic import generate_world

    key = json.dumps({"world": world, "spec": FEATURE_SPEC_HASH}, sort_keys=True)
    path = None
    if cache is not None:
        path = cache / f"base-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"
        if path.exists():
            with np.load(path) as z:
                return BehaviourRows(
                    x=z["x"],
                    y=z["y"],
                    lead_ids=[str(i) for i in z["lead_ids"]],
                    cutoffs=z["cutoffs"],
                )
    w = generate_world(**world)
    rows = build_rows(w.leads, w.events, w.listings, w.now_ms, LabelConfig())
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, x=rows.x, y=rows.y, lead_ids=np.array(rows.lead_ids), cutoffs=rows.cutoffs)
        tmp.replace(path)
    return rows


def _aucs(y: np.ndarray, p: np.ndarray, prefix: str) -> dict[str, float]:
    from models.train_common import roc_auc

    return {f"{prefix}{n}.auc": roc_auc(y[:, j], p[:, j]) for j, n in enumerate(LABELS)}


def retrain(data: Path, current: Path, out: Path, settings: RetrainSettings) -> dict:
    """Train a candidate, score it against ``current`` and save it; returns the result.

    ``settings.base_world`` is the generator's arguments for the base corpus (``None``: synced
    outcomes only, the way a team with no shipped corpus would train).
    """
    seed, holdout, epochs = settings.seed, settings.holdout, settings.epochs
    cache = Path(settings.cache) if settings.cache else None
    from models.export import run_tflite, tensor_specs
    from models.train_common import configure_tensorflow, export_int8, fit_tabular, golden_cases

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
    metrics = result["metrics"]
    if len(rows.y) < settings.min_rows or test.sum() == 0 or (~test).sum() == 0:
        result["reason"] = (
            f"only {len(rows.y)} labelled rows ({int(test.sum())} in the holdout); "
            f"need at least {settings.min_rows} with both sides non-empty"
        )
        return result
    x_train, y_train = rows.x[~test], rows.y[~test]
    x_test, y_test = rows.x[test], rows.y[test]
    parts = {"synced.": slice(0, len(y_test))}  # the pooled holdout: synced rows, then base
    if settings.base_world is not None:
        base = base_corpus(settings.base_world, cache)
        base_test = held_out(base.lead_ids, TEST_FRACTION, BASE_SPLIT_SEED)
        x_train = np.concatenate([x_train, base.x[~base_test]])
        y_train = np.concatenate([y_train, base.y[~base_test]])
        parts["base."] = slice(len(y_test), None)
        x_test = np.concatenate([x_test, base.x[base_test]])
        y_test = np.concatenate([y_test, base.y[base_test]])
        metrics.update(rows_base=float(len(base.y)), rows_base_holdout=float(base_test.sum()))
    metrics["rows_train"] = float(len(y_train))
    configure_tensorflow(2)
    trained = fit_tabular(x_train, y_train, recipe(seed=seed, epochs=epochs), label_names=LABELS)
    blob = export_int8(trained, x_train)
    # Each model scores the pooled holdout once; the parts are slices of it.
    pc = run_tflite(blob, x_test)
    pk = run_tflite((current / f"{NAME}.tflite").read_bytes(), x_test)
    cand, curr = _aucs(y_test, pc, ""), _aucs(y_test, pk, "")
    for prefix, part in parts.items():
        cand |= _aucs(y_test[part], pc[part], prefix)
        curr |= _aucs(y_test[part], pk[part], prefix)
    synced = parts["synced."]
    share = worse_share(
        y_test[synced],
        pc[synced],
        pk[synced],
        [lid for lid, t in zip(rows.lead_ids, test, strict=True) if t],
        seed=seed,
    )
    metrics["synced_worse_share"] = share
    # Calibration on the synced holdout (mean over the labels), and the candidate's scores of
    # the synced leads now: the drift check's reference (models.drift).
    from models.drift import reference
    from models.train_common import expected_calibration_error

    for who, p in (("candidate", pc), ("current", pk)):
        eces = [
            expected_calibration_error(y_test[synced, j], p[synced, j]) for j in range(len(LABELS))
        ]
        metrics[f"{who}.ece"] = float(np.mean(eces))
    from models.retrain import live_scores

    ref = reference(live_scores(NAME, {NAME: blob}, world))
    promote, reason = decide(
        cand, curr, settings.tolerance, synced_worse_share=share, confidence=settings.confidence
    )
    metrics.update({f"candidate.{k}": v for k, v in cand.items()})
    metrics.update({f"current.{k}": v for k, v in curr.items()})
    metrics["train_seconds"] = time.perf_counter() - t0
    inputs, outputs = tensor_specs(blob)
    manifest = build_manifest(
        NAME,
        blob,
        version=settings.version,
        feature_spec_hash=FEATURE_SPEC_HASH,
        inputs=inputs,
        outputs=outputs,
        labels=list(LABELS),
        metrics={k: v for k, v in metrics.items() if not math.isnan(v)},
        golden=golden_cases(blob, x_test, n=4),
    )
    save_artifact(out, blob, manifest)
    (out / "reference.json").write_bytes(msgspec.json.encode(ref))
    result.update(promote=promote, reason=reason, candidate=settings.version)
    return result
