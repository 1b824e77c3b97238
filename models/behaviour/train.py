"""Train, calibrate and export the behaviour model on a seeded synthetic world.

    realty-edge train --family behaviour --out models/artifacts

reproduces the shipped ``behaviour.tflite`` and its manifest (same seed, same world, same
split; TensorFlow on CPU with two threads). Metrics are measured on leads held out of training,
next to the AUC of the world's true probabilities (``truth.p_convert`` / ``truth.p_respond``)
on the same rows.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from models.artifact import ARTIFACT_DIR
from models.behaviour import LABELS, NAME
from models.behaviour.dataset import BehaviourRows, LabelConfig, build_rows
from models.features import FEATURE_SPEC_HASH, FEATURE_SPEC_VERSION, N_FEATURES
from models.train_common import (
    TrainConfig,
    configure_tensorflow,
    expected_calibration_error,
    export_float,
    export_int8,
    fit_tabular,
    held_out,
    parity_report,
    report_metrics,
    roc_auc,
    save_int8_artifact,
)

VERSION = "1.0.0"
DEFAULT_WORLD = {"agents": 4, "leads": 3000, "listings": 5000, "seed": 7}


#: The share of the world's leads held out of training (and the split seed is the training seed).
TEST_FRACTION = 0.25


def recipe(*, seed: int = 0, epochs: int = 80, verbose: bool = False) -> TrainConfig:
    """The shipped model's training configuration (the server's retraining uses it too)."""
    return TrainConfig(
        hidden=(64, 32),
        dropout=0.3,
        l2=3e-4,
        learning_rate=1e-3,
        members=5,
        seed=seed,
        epochs=epochs,
        patience=8,
        verbose=verbose,
    )


def train_behaviour(
    out: Path | None = ARTIFACT_DIR,
    *,
    world: dict | None = None,
    seed: int = 0,
    test_fraction: float = TEST_FRACTION,
    cfg: TrainConfig | None = None,
    verbose: bool = True,
) -> dict[str, float]:
    """Train on a synthetic world, evaluate on held-out leads, save the artifact (if ``out``)."""
    from models.synthetic import generate_world

    configure_tensorflow(2)
    t0 = time.perf_counter()
    spec = dict(DEFAULT_WORLD, **(world or {}))
    w = generate_world(**spec)
    rows: BehaviourRows = build_rows(w.leads, w.events, w.listings, w.now_ms, LabelConfig())
    truth = {t.lead_id: (t.p_convert, t.p_respond) for t in w.truth}
    test = held_out(rows.lead_ids, test_fraction, seed)
    if verbose:
        print(
            f"world {spec}: {len(rows.y)} rows ({test.sum()} held out), "
            f"positives convert {np.nansum(rows.y[:, 0]):.0f}, respond "
            f"{np.nansum(rows.y[:, 1]):.0f}/{np.sum(~np.isnan(rows.y[:, 1]))}, "
            f"{time.perf_counter() - t0:.1f}s"
        )
    cfg = cfg or recipe(seed=seed, verbose=verbose)
    trained = fit_tabular(rows.x[~test], rows.y[~test], cfg, label_names=LABELS)
    blob = export_int8(trained, rows.x[~test])
    fblob = export_float(trained)
    from models.export import run_tflite

    xt, yt = rows.x[test], rows.y[test]
    pf = trained.predict(xt)
    pq = run_tflite(blob, xt)
    metrics: dict[str, float] = {}
    for j, name in enumerate(LABELS):
        p_true = np.array([truth[lid][j] for lid, m in zip(rows.lead_ids, test, strict=True) if m])
        metrics[f"{name}.auc"] = roc_auc(yt[:, j], pq[:, j])
        metrics[f"{name}.auc_bayes"] = roc_auc(yt[:, j], p_true)
        metrics[f"{name}.ece"] = expected_calibration_error(yt[:, j], pq[:, j], bins=10)
        metrics[f"{name}.base_rate"] = float(np.nanmean(yt[:, j]))
    for k, v in parity_report(pf, pq, yt, LABELS).items():
        if k.endswith(("auc_drop_int8", "max_abs_diff")):
            metrics[k] = v
    metrics.update(
        rows_train=float((~test).sum()),
        rows_test=float(test.sum()),
        size_int8=float(len(blob)),
        size_float=float(len(fblob)),
        train_seconds=time.perf_counter() - t0,
    )
    if verbose:
        report_metrics(metrics, 32)
    if out is not None:
        version = f"{VERSION}+{FEATURE_SPEC_VERSION.split('/')[-1]}.s{seed}"
        path = save_int8_artifact(
            out,
            NAME,
            blob,
            version=version,
            feature_spec_hash=FEATURE_SPEC_HASH,
            labels=LABELS,
            metrics=metrics,
            golden_x=xt,
        )
        if verbose:
            print(f"saved {path} ({len(blob)} bytes, {N_FEATURES} features)")
    return metrics
