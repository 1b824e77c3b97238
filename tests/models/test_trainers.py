"""The trainers run end to end on tiny worlds and write artifacts the device loads.

Each run is seeded and small (one agent, ~150 leads, a few hundred listings, one member of a
narrow MLP, one or two epochs): the checks are that the artifact verifies, carries the right
feature-spec hash, runs in the device's interpreter (``edge.inference.ModelRegistry``: size,
sha256, spec hash and the golden-case canary), and that the metrics are finite and in range.
Model quality is not asserted here (the shipped artifacts' tests do that).

Tests that import TensorFlow take ``tensorflow_process`` (``tests/models/conftest.py``): they
run in a child interpreter, away from the Kivy client's window libraries.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import models.train_common as train_common
from edge.inference import ModelRegistry
from edge.spec_hashes import SPEC_HASHES
from models.artifact import load_verified, read_manifest
from models.features import FEATURE_SPEC_HASH, N_FEATURES
from models.train_common import TrainConfig

#: TensorFlow's converter warns on every int8 export with an int8 input (a known, harmless
#: quirk of ``inference_input_type = tf.int8``); the suite turns warnings into errors.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Statistics for quantized inputs were expected:UserWarning"
)

SEED = 7
TINY_WORLD = {"agents": 1, "leads": 150, "listings": 300}


def tiny_config(**overrides) -> TrainConfig:
    """One narrow member, two epochs: enough to exercise every step of the pipeline."""
    base = {
        "hidden": (8,),
        "dropout": 0.0,
        "members": 1,
        "epochs": 2,
        "patience": 2,
        "batch_size": 64,
        "seed": 0,
        "verbose": False,
    }
    return TrainConfig(**{**base, **overrides})


def device_model(directory: Path, name: str):
    """The model as the phone loads it: verified against the runtime's spec hash, canary run."""
    return ModelRegistry(None, SPEC_HASHES, shipped_dir=directory).get(name)


def assert_metrics_finite(metrics: dict[str, float]) -> None:
    bad = {k: v for k, v in metrics.items() if not math.isfinite(v)}
    assert not bad, f"non-finite metrics: {bad}"


def assert_golden_cases_reproduce(model) -> None:
    assert model.manifest.golden, "the manifest has no golden cases"
    for case in model.manifest.golden:
        out = model.predict1(np.asarray([case.input], dtype=np.float32))[0]
        np.testing.assert_allclose(out, case.output, atol=case.tolerance)


# --- behaviour ---------------------------------------------------------------------------


def test_behaviour_cli_trains_a_tiny_world_into_an_artifact_the_device_runs(
    tmp_path, monkeypatch, capsys, tensorflow_process
):
    from models.behaviour import LABELS, NAME
    from models.behaviour import train as behaviour_train

    seeds = []

    def tiny_recipe(*, seed: int = 0, epochs: int = 80, verbose: bool = False) -> TrainConfig:
        seeds.append(seed)
        return tiny_config(seed=seed, verbose=verbose)

    monkeypatch.setattr(behaviour_train, "recipe", tiny_recipe)
    monkeypatch.setitem(behaviour_train.DEFAULT_WORLD, "agents", 1)
    monkeypatch.setitem(behaviour_train.DEFAULT_WORLD, "listings", 300)
    behaviour_train.train_behaviour(tmp_path, world={"leads": 150, "seed": 7}, seed=3, verbose=True)

    assert seeds == [3]
    printed = capsys.readouterr().out
    assert "world {'agents': 1, 'leads': 150, 'listings': 300, 'seed': 7}" in printed
    assert f"saved {tmp_path / 'behaviour.tflite'}" in printed

    blob, manifest = load_verified(tmp_path, NAME, FEATURE_SPEC_HASH)
    assert manifest.feature_spec_hash == FEATURE_SPEC_HASH
    assert manifest.version.startswith(behaviour_train.VERSION + "+") and manifest.version.endswith(
        ".s3"
    )
    assert manifest.labels == list(LABELS)
    assert manifest.inputs[0].shape[-1] == N_FEATURES
    m = manifest.metrics
    assert_metrics_finite(m)
    for label in LABELS:
        assert 0.0 <= m[f"{label}.auc"] <= 1.0
        assert 0.0 <= m[f"{label}.auc_bayes"] <= 1.0
        assert 0.0 <= m[f"{label}.ece"] <= 1.0
        assert 0.0 < m[f"{label}.base_rate"] < 1.0
        assert m[f"{label}.max_abs_diff"] < 0.3  # int8 tracks float (loosely, for a toy net)
    assert m["rows_train"] > m["rows_test"] > 0
    assert m["size_int8"] == len(blob) == manifest.size
    assert m["size_float"] > m["size_int8"]

    model = device_model(tmp_path, NAME)
    assert model.manifest.sha256 == manifest.sha256
    assert_golden_cases_reproduce(model)
    p = model.predict1(np.zeros((3, N_FEATURES), dtype=np.float32))
    assert p.shape == (3, len(LABELS)) and np.all((p >= 0) & (p <= 1))


def test_behaviour_held_out_split_is_seeded_by_lead_and_sized_by_fraction():
    from models.train_common import held_out

    ids = [f"lead-{i}" for i in range(4000)]
    test = held_out(ids, 0.25, seed=0)
    assert 0.22 < test.mean() < 0.28
    np.testing.assert_array_equal(test, held_out(ids, 0.25, seed=0))
    assert not np.array_equal(test, held_out(ids, 0.25, seed=1))
    # every row of one lead lands on the same side
    twice = held_out(ids[:50] + ids[:50], 0.25, seed=0)
    np.testing.assert_array_equal(twice[:50], twice[50:])
    assert not held_out(ids, 0.0, seed=0).any() and held_out(ids, 1.0, seed=0).all()


def test_behaviour_trainer_refuses_one_class_labels_before_training(
    monkeypatch, tensorflow_process
):
    from models.behaviour import train as behaviour_train
    from models.behaviour.dataset import BehaviourRows
    from models.errors import TrainingDataError

    real_build_rows = behaviour_train.build_rows

    def nobody_converts(*args, **kwargs) -> BehaviourRows:
        rows = real_build_rows(*args, **kwargs)
        rows.y[:, 0] = 0.0
        return rows

    monkeypatch.setattr(behaviour_train, "build_rows", nobody_converts)
    with pytest.raises(TrainingDataError, match=r"p_convert: needs both classes, got only \[0.0\]"):
        behaviour_train.train_behaviour(
            None, world={**TINY_WORLD, "seed": SEED}, cfg=tiny_config(), verbose=False
        )


# --- intervention ------------------------------------------------------------------------


def test_intervention_trainer_reports_policy_and_uplift_and_the_device_runs_it(
    tmp_path, capsys, tensorflow_process
):
    from models.intervention import INTERVENTION_SPEC_HASH, LABELS, NAME, candidate_matrix
    from models.intervention.candidate import score_rows
    from models.intervention.train import VERSION, train_intervention

    metrics = train_intervention(
        tmp_path,
        world={**TINY_WORLD, "seed": 11},
        seed=2,
        cfg=tiny_config(batch_size=256),
        verbose=True,
    )
    printed = capsys.readouterr().out
    assert "outreach rows" in printed and f"saved {tmp_path / 'intervention.tflite'}" in printed

    assert_metrics_finite(metrics)
    for k in ("auc", "auc_float", "auc_bayes", "ece", "base_rate"):
        assert 0.0 <= metrics[k] <= 1.0, k
    assert -1.0 <= metrics["corr_true_probability"] <= 1.0
    # The oracle picks each lead's true best slot: no policy beats it.
    oracle = metrics["policy.oracle"]
    for k in ("policy.model_best", "policy.call_noon_weekday", "policy.random_waking"):
        assert 0.0 < metrics[k] <= oracle + 1e-12, k
    assert metrics["policy.regret_vs_oracle"] == pytest.approx(
        oracle - metrics["policy.model_best"]
    )
    assert metrics["policy.lift_vs_call_noon"] == pytest.approx(
        metrics["policy.model_best"] / metrics["policy.call_noon_weekday"]
    )
    assert 0.0 <= metrics["policy.channel_matches_true_best"] <= 1.0
    assert 0.0 < metrics["policy.true_percentile_of_pick"] <= 1.0
    assert metrics["policy.leads"] >= 1
    assert metrics["uplift.qini"] <= metrics["uplift.qini_perfect"] + 1e-12
    assert metrics["uplift.rows"] >= metrics["uplift.treated"] > 0
    assert -1.0 <= metrics["uplift.corr_pred_true_tau"] <= 1.0

    manifest = read_manifest(tmp_path, NAME)
    assert manifest.feature_spec_hash == INTERVENTION_SPEC_HASH
    assert manifest.version.startswith(VERSION + "+") and manifest.version.endswith(".s2")
    assert manifest.labels == list(LABELS)
    assert manifest.metrics["policy.oracle"] == pytest.approx(oracle)

    model = device_model(tmp_path, NAME)  # the canary splits each golden row by input
    week = score_rows(model, candidate_matrix(np.zeros(N_FEATURES, dtype=np.float32)))
    assert week.shape == (4 * 168,) and np.all((week >= 0) & (week <= 1))


def test_true_grid_equals_the_worlds_response_probability_at_every_channel_and_hour():
    from models.intervention.train import true_grid
    from models.synthetic import generate_world
    from models.synthetic.world import response_probability
    from sync.records import OUTREACH_CHANNELS

    truth = generate_world(agents=1, leads=5, listings=20, seed=SEED).truth[0]
    grid = true_grid(truth)
    assert grid.shape == (4, 168)
    expected = [
        [response_probability(truth, ch, h) for h in range(168)] for ch in OUTREACH_CHANNELS
    ]
    np.testing.assert_allclose(grid, expected, rtol=1e-12)
    assert np.all((grid > 0) & (grid < 1))


# --- personalization ---------------------------------------------------------------------


def test_personalization_cli_writes_three_artifacts_the_device_runs(
    tmp_path, monkeypatch, capsys, tensorflow_process
):
    from models.personalization import (
        LEAD_NAME,
        LISTING_NAME,
        PERSONALIZATION_SPEC_HASH,
        STYLE_NAME,
    )
    from models.personalization import train as pers_train
    from models.personalization.dataset import STYLE_LABELS
    from models.personalization.features import N_LEAD, N_LISTING

    # the style head's configuration is built inside the trainer: shrink it
    monkeypatch.setattr(train_common, "TrainConfig", lambda **kw: tiny_config(seed=kw["seed"]))
    monkeypatch.setitem(pers_train.DEFAULT_WORLD, "agents", 1)
    monkeypatch.setitem(pers_train.DEFAULT_WORLD, "listings", 300)
    pers_train.train_personalization(
        tmp_path, world={"leads": 150, "seed": 13}, seed=1, epochs=1, verbose=True
    )
    printed = capsys.readouterr().out
    assert f"saved {LEAD_NAME}, {LISTING_NAME}, {STYLE_NAME} to {tmp_path}" in printed

    lead = read_manifest(tmp_path, LEAD_NAME)
    listing = read_manifest(tmp_path, LISTING_NAME)
    style = read_manifest(tmp_path, STYLE_NAME)
    assert lead.feature_spec_hash == listing.feature_spec_hash == PERSONALIZATION_SPEC_HASH
    assert style.feature_spec_hash == FEATURE_SPEC_HASH
    assert lead.version == listing.version and lead.version.endswith(".s1")
    assert style.labels == list(STYLE_LABELS)
    assert set(style.metrics) == {k for k in lead.metrics if k.startswith("style.")}

    m = lead.metrics
    assert_metrics_finite(m)
    for ranking in ("two_tower", "two_tower_float", "popularity", "content"):
        for k in ("recall@10", "ndcg@10"):
            assert 0.0 <= m[f"{ranking}.{k}"] <= 1.0, f"{ranking}.{k}"
    assert m["ranking.listings"] == 300 and m["ranking.examples_test"] >= 1
    assert 0.0 <= m["style.channel_accuracy"] <= 1.0
    assert 0.25 <= m["style.channel_majority"] <= 1.0
    assert m["rank_20000_ms"] > 0

    lead_model = device_model(tmp_path, LEAD_NAME)
    listing_model = device_model(tmp_path, LISTING_NAME)
    style_model = device_model(tmp_path, STYLE_NAME)
    for model in (lead_model, listing_model, style_model):
        assert_golden_cases_reproduce(model)
    assert lead_model.predict1(np.zeros((1, N_LEAD), np.float32)).shape == (1, pers_train.EMBED)
    embedded = listing_model.predict1(np.zeros((5, N_LISTING), np.float32))
    assert embedded.shape == (5, pers_train.EMBED)
    p = style_model.predict1(np.zeros((2, N_FEATURES), np.float32))
    assert p.shape == (2, len(STYLE_LABELS)) and np.all((p >= 0) & (p <= 1))


def test_ranking_examples_never_leak_the_future_into_the_lead_vector():
    from models.features import columns_from_records
    from models.personalization.dataset import POSITIVE_TYPES, ranking_examples
    from models.personalization.features import N_LEAD, lead_preference_vector
    from models.synthetic import generate_world

    w = generate_world(agents=1, leads=40, listings=200, seed=SEED)
    ex = ranking_examples(w.leads, w.events, w.listings, fractions=(0.5,))
    assert len(ex.lead_ids) == len(ex.positives) == len(ex.seen) == len(ex.lead_x) > 0
    assert ex.lead_x.shape[1] == N_LEAD and ex.lead_x.dtype == np.float32
    listing_by_id = {li.id: li for li in w.listings}
    lead_by_id = {le.id: le for le in w.leads}
    first = ex.lead_ids[0]
    events = sorted((e for e in w.events if e.lead_id == first), key=lambda e: e.ts)
    cols = columns_from_records(events, listing_by_id)
    t = int(cols.ts[0]) + int(0.5 * (int(cols.ts[-1]) - int(cols.ts[0])))
    np.testing.assert_allclose(
        ex.lead_x[0], lead_preference_vector(lead_by_id[first], cols.before(t))
    )
    row = {li.id: i for i, li in enumerate(w.listings)}
    later = {row[e.listing_id] for e in events if e.ts > t and e.type in POSITIVE_TYPES}
    assert set(ex.positives[0].tolist()) <= later
    assert len(set(ex.lead_ids)) == len(ex.lead_ids)  # one cutoff: one example per lead
    for pos, seen in zip(ex.positives, ex.seen, strict=True):
        assert len(pos) > 0
        assert not set(pos.tolist()) & set(seen.tolist())  # re-surfaced listings are not positives
        assert np.all(np.diff(pos) > 0)


def test_towers_refuse_no_positives_and_train_on_fewer_pairs_than_a_batch(tensorflow_process):
    from models.errors import TrainingDataError
    from models.personalization.dataset import RankingExamples
    from models.personalization.features import N_LEAD, N_LISTING
    from models.personalization.train import train_towers

    rng = np.random.default_rng(0)
    items = rng.normal(size=(30, N_LISTING)).astype(np.float32)
    none = RankingExamples(np.zeros((0, N_LEAD), np.float32), [], [], [])
    with pytest.raises(TrainingDataError, match="no \\(lead, listing\\) positive pairs"):
        train_towers(none, items, epochs=1, verbose=False)
    few = RankingExamples(
        rng.normal(size=(4, N_LEAD)).astype(np.float32),
        [np.array([i, i + 4]) for i in range(4)],
        [np.array([], np.int64)] * 4,
        list("abcd"),
    )  # 8 pairs, batch 256: one smaller batch per epoch, and the weights move
    lead_t, _ = train_towers(few, items, epochs=1, negatives=8, verbose=False)
    untrained, _ = train_towers(few, items, epochs=0, negatives=8, verbose=False)
    assert not np.allclose(lead_t(few.lead_x).numpy(), untrained(few.lead_x).numpy())


def test_ranking_examples_of_leads_without_events_are_empty():
    from models.personalization.dataset import ranking_examples
    from models.personalization.features import N_LEAD
    from models.synthetic import generate_world

    w = generate_world(agents=1, leads=3, listings=20, seed=SEED)
    ex = ranking_examples(w.leads, [], w.listings)
    assert ex.lead_ids == [] and ex.positives == [] and ex.lead_x.shape == (0, N_LEAD)


def test_ranking_metrics_literal_values_and_seen_listings_excluded():
    from models.personalization.dataset import RankingExamples
    from models.personalization.train import ranking_metrics

    ex = RankingExamples(
        lead_x=np.zeros((2, 1), np.float32),
        positives=[np.array([0]), np.array([2, 3])],
        seen=[np.array([1], dtype=np.int64), np.array([], dtype=np.int64)],
        lead_ids=["a", "b"],
    )
    scores = np.array(
        [
            [0.5, 0.9, 0.1, 0.0],  # listing 1 is seen: listing 0 ranks first
            [0.9, 0.8, 0.1, 0.7],  # positives at ranks 3 (listing 3) and 4 (listing 2)
        ]
    )
    m = ranking_metrics(scores, ex, k=2)
    # lead a: hit at rank 1 -> recall 1, ndcg 1; lead b: no hit in the top 2 -> 0, 0
    assert m == {"recall@2": pytest.approx(0.5), "ndcg@2": pytest.approx(0.5)}
    m3 = ranking_metrics(scores, ex, k=3)
    disc = 1 / np.log2(np.arange(2, 5))
    assert m3["recall@3"] == pytest.approx((1 + 0.5) / 2)
    assert m3["ndcg@3"] == pytest.approx((1 + disc[2] / (disc[0] + disc[1])) / 2)


def test_content_and_popularity_baselines_prefer_the_obvious_listing():
    from models.personalization.dataset import RankingExamples
    from models.personalization.features import N_ATTR, N_LEAD
    from models.personalization.train import content_scores, popularity_scores

    rng = np.random.default_rng(0)
    items = rng.normal(size=(6, N_ATTR)).astype(np.float32)
    lead_x = np.zeros((1, N_LEAD), np.float32)
    lead_x[0, :N_ATTR] = items[4]  # viewed: mean equals listing 4, nothing engaged
    assert int(np.argmax(content_scores(lead_x, items)[0])) == 4
    lead_x[0, N_ATTR : 2 * N_ATTR] = items[2]  # engaged listing 2 takes precedence
    lead_x[0, 2 * N_ATTR + 3] = 1.0
    assert int(np.argmax(content_scores(lead_x, items)[0])) == 2

    train = RankingExamples(lead_x, [np.array([1, 5]), np.array([5])], [], ["a", "b"])
    pop = popularity_scores(train, n_items=6, n_leads=3)
    assert pop.shape == (3, 6)
    np.testing.assert_array_equal(pop[2], [0, 1, 0, 0, 0, 2])


# --- every family by name ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("family", "module", "function"),
    [
        ("behaviour", "models.behaviour.train", "train_behaviour"),
        ("intervention", "models.intervention.train", "train_intervention"),
        ("personalization", "models.personalization.train", "train_personalization"),
    ],
)
def test_families_call_their_trainer_with_out_seed_and_verbosity(
    monkeypatch, tmp_path, family, module, function
):
    import importlib

    from models.families import FAMILIES

    calls = []
    monkeypatch.setattr(
        importlib.import_module(module),
        function,
        lambda out, **kw: calls.append((out, kw)) or {"ok": 1.0},
    )
    assert FAMILIES[family](tmp_path, 5, True) == {"ok": 1.0}
    assert calls == [(tmp_path, {"seed": 5, "verbose": True})]


def test_language_family_passes_seed_and_progress(monkeypatch, tmp_path):
    from models.families import FAMILIES
    from models.language import train as language_train

    calls = []
    monkeypatch.setattr(
        language_train,
        "train_language_model",
        lambda out, **kw: calls.append((out, kw)) or "manifest",
    )
    assert FAMILIES["language"](tmp_path, 9, False) == "manifest"
    assert calls == [(tmp_path, {"seed": 9, "progress": False})]
    assert list(FAMILIES) == ["language", "behaviour", "intervention", "personalization"]
