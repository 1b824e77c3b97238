"""Retrain any model family on synced outcomes: the training process the server starts.

    python -m models.retrain JOB.json

``JOB.json`` is a :class:`models.retrain_job.RetrainJob`: the family, the pseudonymized export
``D`` (:class:`models.behaviour.retrain.TrainingSet`) that ``server.retrain`` wrote, the folder
``C`` of the current model's blobs (``<name>.tflite``), the output folder ``O`` and the
settings. Every family
follows one rule, only the rows and the score differ:

- **behaviour** (:mod:`models.behaviour.retrain`): rows at cutoffs of every lead's events,
  labels convert / respond; the synced outcomes plus the shipped base corpus;
- **intervention**: one row per outreach (``message_out`` / ``call_out``, what an executed
  step leaves) with its reply within 20 h as the label (:mod:`models.intervention.dataset`),
  trained as the shipped factored model (:func:`models.intervention.train.recipe`); P(response);
- **personalization**: ranking examples from views, saves, inquiries and showings
  (:mod:`models.personalization.dataset`), the two towers trained by
  :func:`models.personalization.train.train_towers`; score: the ranking AUC of each held-out
  example (the probability that a listing the lead engaged with after the cutoff ranks above
  one it never engaged with), the promise's definition in issue 16.

The leads are split by a seeded hash of their (pseudonymous) id into training and holdout;
candidate and current model are scored on the synced holdout with the device's interpreter;
the candidate is promoted when its holdout metric is not below the current's minus the
tolerance and it is not worse in ``confidence`` or more of paired bootstrap resamples of the
holdout's leads (the behaviour model's guard, :func:`models.behaviour.retrain.worse_share`).
``O/result.json`` gets the metrics (with ``candidate.ece`` / ``current.ece``, the expected
calibration error on the synced holdout; ``None`` for the ranking towers, whose scores are not
probabilities), the decision and its reason; ``O/reference.json`` the candidate's score
distribution on the export (:func:`live_scores`, :mod:`models.drift`), used later by the
drift check.

With ``drift`` set to a reference ``R`` nothing is trained: the current model scores the rows
of ``D`` and ``O/result.json`` gets their population stability index against ``R``.
TensorFlow is imported here only, inside the functions that train.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from models.behaviour.retrain import TrainingSet
from models.drift import ScoreReference, psi, reference
from models.retrain_job import RetrainJob, RetrainSettings

#: Artifact names of each family, promoted and rolled back together.
FAMILIES: dict[str, tuple[str, ...]] = {
    "behaviour": ("behaviour",),
    "intervention": ("intervention",),
    "personalization": ("personalization_lead", "personalization_listing"),
}


@dataclass
class Rows:
    """A family's rows: inputs (or ranking examples), labels and the lead of each row."""

    data: Any
    y: np.ndarray
    groups: list[str]


# --- rows of each family --------------------------------------------------------------


def rows_of(family: str, data: TrainingSet) -> Rows:
    """The family's rows from the export (the same builders the shipped models trained on)."""
    if family == "behaviour":
        from models.behaviour.dataset import LabelConfig, build_rows

        b = build_rows(data.leads, data.events, data.listings, data.now_ms, LabelConfig())
        return Rows(b.x, b.y, b.lead_ids)
    if family == "intervention":
        from models.intervention.dataset import build_rows as outreach_rows

        r = outreach_rows(data.leads, data.events, data.listings)
        return Rows(r.x, r.y.reshape(-1, 1), r.lead_ids)
    if family == "personalization":
        from models.personalization.dataset import ranking_examples

        ex = ranking_examples(data.leads, data.events, data.listings, fractions=(0.5,))
        return Rows(ex, np.ones((len(ex.lead_ids), 1), np.float32), ex.lead_ids)
    raise ValueError(f"unknown model family {family!r}")


def _items(data: TrainingSet) -> np.ndarray:
    from models.personalization.features import listing_matrix

    return listing_matrix(data.listings)


def ranking_auc(scores: np.ndarray, positives: list[np.ndarray], seen: list[np.ndarray]):
    """Per example: P(an engaged listing outranks a listing the lead never engaged with)."""
    out = np.full(len(positives), np.nan)
    for i, (pos, old) in enumerate(zip(positives, seen, strict=True)):
        s = scores[i]
        mask = np.ones(len(s), bool)
        mask[pos] = False
        mask[old] = False
        neg = np.sort(s[mask])
        if len(neg) == 0 or len(pos) == 0:
            continue
        below = np.searchsorted(neg, s[pos], "left")
        ties = np.searchsorted(neg, s[pos], "right") - below
        out[i] = float(np.mean((below + 0.5 * ties) / len(neg)))
    return out


def scores(family: str, blobs: dict[str, bytes], rows: Rows, data: TrainingSet) -> np.ndarray:
    """Per row, the family's score (n, k): probabilities, or per-example ranking AUCs."""
    from models.export import run_tflite

    if family == "behaviour":
        return run_tflite(blobs["behaviour"], rows.data)
    if family == "intervention":
        from models.intervention.candidate import score_rows
        from models.tflite import TFLiteModel

        model = TFLiteModel.from_blob(blobs["intervention"])
        return score_rows(model, rows.data).reshape(-1, 1)
    ex = rows.data
    if not len(ex.lead_ids):
        return np.zeros((0, 1))
    el = run_tflite(blobs["personalization_lead"], ex.lead_x)
    ei = run_tflite(blobs["personalization_listing"], _items(data), batch=4096)
    return ranking_auc(el @ ei.T, ex.positives, ex.seen).reshape(-1, 1)


def live_scores(family: str, blobs: dict[str, bytes], data: TrainingSet) -> np.ndarray:
    """The one score per row that drift compares: each lead's P(convert) at the export's
    present, P(response) of each outreach row, or each lead's top listing's ranking score."""
    from models.export import run_tflite
    from models.features import columns_from_records

    if family == "intervention":
        return scores(family, blobs, rows_of(family, data), data)[:, 0]
    by: dict[str, list] = {}
    for e in data.events:
        by.setdefault(e.lead_id, []).append(e)
    listing_by_id = {li.id: li for li in data.listings}
    if family == "behaviour":
        from models.features import extract_batch

        cols = [columns_from_records(by.get(le.id, ()), listing_by_id) for le in data.leads]
        if not cols:
            return np.zeros(0)
        return run_tflite(blobs["behaviour"], extract_batch(data.leads, cols, data.now_ms))[:, 0]
    from models.personalization.features import lead_preference_vector

    x = np.asarray(
        [
            lead_preference_vector(le, columns_from_records(by.get(le.id, ()), listing_by_id))
            for le in data.leads
        ],
        dtype=np.float32,
    )
    if not len(x):
        return np.zeros(0)
    el = run_tflite(blobs["personalization_lead"], x)
    ei = run_tflite(blobs["personalization_listing"], _items(data), batch=4096)
    return (el @ ei.T).max(axis=1)


# --- training ------------------------------------------------------------------------


def _fit(family: str, rows: Rows, data: TrainingSet, *, seed: int, epochs: int):
    """Train the family's candidate on ``rows``: ``{name: (blob, golden inputs)}``."""
    from models.train_common import configure_tensorflow

    configure_tensorflow(2)
    if family == "intervention":
        from models.intervention.train import recipe
        from models.intervention.train_factored import export_factored_int8, fit_factored

        trained = fit_factored(rows.data, rows.y[:, 0], recipe(seed=seed, epochs=epochs))
        return {"intervention": (export_factored_int8(trained, rows.data), rows.data)}
    from models.export import to_int8_tflite
    from models.personalization.train import train_towers

    items = _items(data)
    lead_t, item_t = train_towers(rows.data, items, seed=seed, epochs=epochs, verbose=False)
    return {
        "personalization_lead": (to_int8_tflite(lead_t, rows.data.lead_x, 1000), rows.data.lead_x),
        "personalization_listing": (to_int8_tflite(item_t, items, 1000), items),
    }


def _train_rows(family: str, data: TrainingSet, train_leads: set[str]) -> Rows:
    if family != "personalization":
        rows = rows_of(family, data)
        keep = np.array([g in train_leads for g in rows.groups], dtype=bool)
        return Rows(
            rows.data[keep], rows.y[keep], [g for g, k in zip(rows.groups, keep, strict=True) if k]
        )
    from models.personalization.dataset import ranking_examples

    leads = [le for le in data.leads if le.id in train_leads]
    ex = ranking_examples(leads, data.events, data.listings, fractions=(0.2, 0.35, 0.5, 0.65, 0.8))
    return Rows(ex, np.ones((len(ex.lead_ids), 1), np.float32), ex.lead_ids)


def _test_rows(family: str, data: TrainingSet, test_leads: set[str]) -> Rows:
    if family != "personalization":
        return _train_rows(family, data, test_leads)
    from models.personalization.dataset import ranking_examples

    leads = [le for le in data.leads if le.id in test_leads]
    ex = ranking_examples(leads, data.events, data.listings, fractions=(0.5,))
    return Rows(ex, np.ones((len(ex.lead_ids), 1), np.float32), ex.lead_ids)


def _metric(family: str, y: np.ndarray, p: np.ndarray) -> float:
    """The holdout metric the decision compares: AUC, or the mean per-example ranking AUC."""
    from models.train_common import roc_auc

    if family == "personalization":
        v = p[:, 0][np.isfinite(p[:, 0])]
        return float(v.mean()) if len(v) else math.nan
    return roc_auc(y[:, 0], p[:, 0])


def _worse_share(family: str, y, pc, pk, groups, *, seed: int, resamples: int = 500) -> float:
    """Share of paired bootstrap resamples of leads where the candidate's metric is lower."""
    rng = np.random.default_rng(seed)
    _, inverse = np.unique(np.asarray(groups), return_inverse=True)
    rows_of_lead = [np.flatnonzero(inverse == g) for g in range(inverse.max() + 1)]
    worse = counted = 0
    for _ in range(resamples):
        pick = rng.integers(0, len(rows_of_lead), len(rows_of_lead))
        idx = np.concatenate([rows_of_lead[g] for g in pick])
        d = _metric(family, y[idx], pc[idx]) - _metric(family, y[idx], pk[idx])
        if not math.isnan(d):
            counted += 1
            worse += d < 0
    return worse / counted if counted else 0.0


def decide(
    candidate: float, current: float, tolerance: float, worse: float, confidence: float
) -> tuple[bool, str]:
    """Promote when not below the current metric minus ``tolerance`` on the synced holdout
    and not worse in ``confidence`` or more of the bootstrap resamples."""
    if math.isnan(candidate):
        return False, "the holdout has nothing to score on (one class only or no examples)"
    cur = -math.inf if math.isnan(current) else current
    if candidate + tolerance < cur:
        return False, f"candidate holdout metric {candidate:.4f} < current {cur:.4f} - {tolerance}"
    reason = (
        f"candidate holdout metric {candidate:.4f} >= current {cur:.4f} - {tolerance}; "
        f"worse in {worse:.0%} of bootstrap resamples"
    )
    if worse >= confidence:
        return False, f"{reason} (limit {confidence:.0%})"
    return True, reason


def retrain(
    family: str, data_path: Path, current: Path, out: Path, settings: RetrainSettings
) -> dict:
    """Train the family's candidate on the export, score it against ``current``, save it."""
    if family == "behaviour":
        from models.behaviour.retrain import retrain as retrain_behaviour

        return retrain_behaviour(data_path, current, out, settings)
    from models.artifact import build_manifest, save_artifact
    from models.export import tensor_specs
    from models.intervention import INTERVENTION_SPEC_HASH, LABELS
    from models.personalization import PERSONALIZATION_SPEC_HASH
    from models.train_common import expected_calibration_error, golden_cases, held_out

    seed, version, min_rows = settings.seed, settings.version, settings.min_rows
    t0 = time.perf_counter()
    data = msgspec.msgpack.decode(data_path.read_bytes(), type=TrainingSet)
    ids = [le.id for le in data.leads]
    test_mask = held_out(ids, settings.holdout, seed)
    test_leads = {i for i, t in zip(ids, test_mask, strict=True) if t}
    train_leads = set(ids) - test_leads
    tr, te = _train_rows(family, data, train_leads), _test_rows(family, data, test_leads)
    metrics: dict[str, float] = {
        "leads": float(len(ids)),
        "rows": float(len(tr.groups) + len(te.groups)),
        "rows_train": float(len(tr.groups)),
        "rows_holdout": float(len(te.groups)),
    }
    result: dict[str, Any] = {"metrics": metrics, "promote": False, "candidate": None}
    both = family == "personalization" or (len(np.unique(tr.y)) > 1 and len(te.groups) > 0)
    if len(tr.groups) + len(te.groups) < min_rows or not tr.groups or not te.groups or not both:
        result["reason"] = (
            f"only {len(tr.groups) + len(te.groups)} labelled rows ({len(te.groups)} in the "
            f"holdout); need at least {min_rows} with both sides non-empty"
        )
        return result
    fitted = _fit(family, tr, data, seed=seed, epochs=settings.epochs)
    cand_blobs = {name: blob for name, (blob, _) in fitted.items()}
    curr_blobs = {name: (current / f"{name}.tflite").read_bytes() for name in FAMILIES[family]}
    pc, pk = scores(family, cand_blobs, te, data), scores(family, curr_blobs, te, data)
    mc, mk = _metric(family, te.y, pc), _metric(family, te.y, pk)
    share = _worse_share(family, te.y, pc, pk, te.groups, seed=seed)
    promote, reason = decide(mc, mk, settings.tolerance, share, settings.confidence)
    key = "auc" if family == "intervention" else "ranking_auc"
    metrics.update(
        {f"candidate.synced.{key}": mc, f"current.synced.{key}": mk, "synced_worse_share": share}
    )
    if family == "intervention":
        metrics["candidate.ece"] = expected_calibration_error(te.y[:, 0], pc[:, 0])
        metrics["current.ece"] = expected_calibration_error(te.y[:, 0], pk[:, 0])
        spec, labels = INTERVENTION_SPEC_HASH, list(LABELS)
    else:
        from models.personalization.train import EMBED

        spec, labels = PERSONALIZATION_SPEC_HASH, [f"embedding_{i}" for i in range(EMBED)]
    ref = reference(live_scores(family, cand_blobs, data))
    metrics["train_seconds"] = time.perf_counter() - t0
    clean = {k: v for k, v in metrics.items() if not math.isnan(v)}
    for name, (blob, x) in fitted.items():
        inputs, outputs = tensor_specs(blob)
        if family == "intervention":  # two inputs: golden rows split by them
            from models.intervention.train_factored import golden_factored

            golden = golden_factored(blob, x, n=3)
        else:
            golden = golden_cases(blob, x, n=3, tolerance=0.25)
        manifest = build_manifest(
            name,
            blob,
            version=version,
            feature_spec_hash=spec,
            inputs=inputs,
            outputs=outputs,
            labels=labels,
            metrics=clean,
            golden=golden,
        )
        save_artifact(out, blob, manifest)
    (out / "reference.json").write_bytes(msgspec.json.encode(ref))
    result.update(promote=promote, reason=reason, candidate=version)
    return result


def drift(family: str, data_path: Path, current: Path, ref_path: Path) -> dict:
    """The current model's PSI on the export's rows against its training reference."""
    data = msgspec.msgpack.decode(data_path.read_bytes(), type=TrainingSet)
    ref = msgspec.json.decode(ref_path.read_bytes(), type=ScoreReference)
    blobs = {name: (current / f"{name}.tflite").read_bytes() for name in FAMILIES[family]}
    live = live_scores(family, blobs, data)
    return {"psi": psi(ref, live), "rows": int(np.isfinite(live).sum())}


def run(job: RetrainJob) -> dict:
    """Carry out ``job``; ``result.json`` (NaN written as null) goes to ``job.out``."""
    out = Path(job.out)
    out.mkdir(parents=True, exist_ok=True)
    data, current = Path(job.data), Path(job.current)
    if job.drift is not None:
        result = drift(job.family, data, current, Path(job.drift))
    else:
        result = retrain(job.family, data, current, out, job.settings)
        result["metrics"] = {
            k: (None if isinstance(v, float) and math.isnan(v) else v)
            for k, v in result["metrics"].items()
        }
    if isinstance(result.get("psi"), float) and math.isnan(result["psi"]):
        result["psi"] = None
    (out / "result.json").write_text(json.dumps(result, indent=1))
    return result


def main(argv: list[str] | None = None) -> None:
    """``python -m models.retrain JOB.json``: the one argument is the job's file."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        raise SystemExit("usage: python -m models.retrain JOB.json (a RetrainJob)")
    run(msgspec.json.decode(Path(args[0]).read_bytes(), type=RetrainJob))


if __name__ == "__main__":
    main()
