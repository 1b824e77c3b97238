"""The evaluations on public data (bank, leads), the Qini metric and the listing-prior fit.

Tests that read ``shared/data`` skip when it is absent. The full evaluations run on a seeded
sample of the real rows written under ``tmp_path`` (same columns, same SPLITS.md split code),
with one member and a few epochs, so they exercise every step in seconds.

Tests that import TensorFlow take ``tensorflow_process`` (``tests/models/conftest.py``): they
run in a child interpreter, away from the Kivy client's window libraries.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from models.errors import TrainingDataError
from models.evaluation.uplift import perfect_score, qini_coefficient, qini_curve, qini_report

pytestmark = pytest.mark.filterwarnings(
    "ignore:Statistics for quantized inputs were expected:UserWarning"
)

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
BANK_CSV = DATA / "bank-marketing/bank-additional/bank-additional-full.csv.gz"
LEADS_CSV = DATA / "x-education-leads/Leads.csv"


@pytest.fixture(autouse=True)
def one_blas_thread():
    """scikit-learn's baselines on one thread: on a small shared machine, OpenMP threads
    fighting for two cores make them several times slower."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


def needs(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"{path} is absent (see shared/data)")


def stratified_sample(df, target: str, n: int, seed: int = 0):
    """``n`` rows in file order, positives in the same share as the whole file."""
    rng = np.random.default_rng(seed)
    pos = np.flatnonzero(df[target].to_numpy())
    neg = np.flatnonzero(~df[target].to_numpy().astype(bool))
    k = round(n * len(pos) / len(df))
    rows = np.sort(np.r_[rng.choice(pos, k, replace=False), rng.choice(neg, n - k, replace=False)])
    return df.iloc[rows].reset_index(drop=True)


# --- Qini / uplift -----------------------------------------------------------------------


def test_qini_curve_groups_tied_scores_into_one_point():
    y = [1, 0, 1, 0]
    t = [1, 0, 0, 1]
    frac, q = qini_curve(y, t, [0.9, 0.9, 0.1, 0.1])
    np.testing.assert_allclose(frac, [0.0, 0.5, 1.0])
    # top 2: one treated responder, one control non-responder: Q = 1 - 0 * 1/1
    # all 4: Y_t 1, Y_c 1, N_t 2, N_c 2: Q = 1 - 1 = 0
    np.testing.assert_allclose(q, [0.0, 1.0, 0.0])


def test_qini_curve_without_control_rows_yet_counts_treated_responders_only():
    frac, q = qini_curve([1, 1, 0], [1, 1, 0], [3, 2, 1])
    np.testing.assert_allclose(frac, [0, 1 / 3, 2 / 3, 1])
    np.testing.assert_allclose(q, [0, 1, 2, 2])


def test_qini_refuses_misaligned_and_empty_input():
    with pytest.raises(ValueError, match="lengths differ: y 3, t 2, score 3"):
        qini_curve([1, 0, 1], [1, 0], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="no rows"):
        qini_curve([], [], [])


def test_perfect_ordering_normalizes_to_one_and_its_reverse_is_negative():
    rng = np.random.default_rng(3)
    t = rng.integers(0, 2, 400)
    y = (rng.random(400) < np.where(t == 1, 0.3, 0.1)).astype(float)
    best = perfect_score(y, t)
    rep = qini_report(y, t, best)
    assert rep["qini"] == pytest.approx(rep["qini_perfect"]) and rep["qini_normalized"] == 1.0
    assert qini_coefficient(y, t, -best) < 0 < rep["qini"]
    assert rep["ate"] == pytest.approx(y[t == 1].mean() - y[t == 0].mean())
    assert rep["rows"] == 400 and rep["treated"] == t.sum()


def test_qini_report_with_one_arm_has_no_effect_estimate():
    rep = qini_report([1, 0, 1], [1, 1, 1], [0.3, 0.2, 0.1])
    assert rep["ate"] == 0.0 and rep["treated"] == 3.0
    assert rep["qini_normalized"] == pytest.approx(rep["qini"] / rep["qini_perfect"])


# --- bank marketing ----------------------------------------------------------------------


def test_missing_bank_file_names_the_path(tmp_path):
    from models.evaluation.bank import load_bank

    with pytest.raises(TrainingDataError, match=r"bank data not found at .*bank-additional-full"):
        load_bank(tmp_path)


def test_top_decile_lift_and_target_encoding_literal_values():
    from models.evaluation.bank import _target_encode, top_decile_lift

    y = np.r_[1, np.zeros(19)]
    p = np.r_[0.9, np.linspace(0.5, 0.1, 19)]
    assert top_decile_lift(y, p) == pytest.approx(0.5 / 0.05)  # top 2 rows hold 1 positive
    assert top_decile_lift(y, -p) == 0.0
    enc = _target_encode(["a", "a", "b"], [1, 0, 1], ["a", "b", "c"], prior=0.5, strength=2.0)
    np.testing.assert_allclose(enc, [2 / 4, 2 / 3, 0.5])


def test_bank_featurizer_learns_only_from_training_rows():
    import pandas as pd

    from models.evaluation.bank import BankFeaturizer, load_bank

    needs(BANK_CSV)
    df, y = load_bank(DATA)
    assert "duration" not in df and set(np.unique(y)) == {0, 1} and len(df) == 41_188
    train, test = df.iloc[:300].copy(), df.iloc[300:340].copy()
    test.loc[test.index[0], "job"] = "astronaut"  # a category the training rows never had
    feat = BankFeaturizer()
    x_tr = feat.fit_transform(train, y[:300])
    x_te = feat.transform(test)
    assert x_tr.shape == (300, len(feat.names)) and x_te.shape == (40, len(feat.names))
    assert len(set(feat.names)) == len(feat.names)
    assert "job=astronaut" not in feat.names and "period_response_rate" not in feat.names
    assert any(n.startswith("age_bin") for n in feat.names)
    assert np.abs(x_tr).max() <= 5.0 and np.abs(x_te).max() <= 5.0
    unclipped = np.abs(x_tr).max(axis=0) < 5.0  # rare one-hots are clipped at 5 sd
    assert unclipped.sum() > 20
    np.testing.assert_allclose(x_tr[:, unclipped].mean(axis=0), 0.0, atol=1e-4)
    # the same rows through transform give the same matrix as fit_transform (no target leak)
    np.testing.assert_allclose(feat.transform(train), x_tr, atol=1e-6)
    assert isinstance(df, pd.DataFrame)


def test_bank_cli_on_a_sample_scores_the_int8_model_and_writes_json(
    tmp_path, monkeypatch, capsys, tensorflow_process
):
    import pandas as pd

    from models.evaluation import bank

    needs(BANK_CSV)
    df = pd.read_csv(BANK_CSV, sep=";")
    df["_y"] = df["y"] == "yes"
    sample = stratified_sample(df, "_y", 2500).drop(columns="_y")
    path = tmp_path / bank.FILE
    path.parent.mkdir(parents=True)
    sample.to_csv(path, sep=";", index=False)
    real_config = bank._config

    def quick_config(seed: int, members: int, verbose: bool):
        cfg = real_config(seed, members, False)
        cfg.epochs, cfg.patience = 4, 2
        return cfg

    monkeypatch.setattr(bank, "_config", quick_config)
    res = json.loads(json.dumps(bank.evaluate_bank(tmp_path, 0, members=1, verbose=False)))
    assert res["rows_train"] == 2000 and res["rows_test"] == 500 and res["members"] == 1
    assert res["runtime"] == "tflite_runtime"
    for k in (
        "bank.auc",
        "bank.auc_float",
        "bank.accuracy",
        "hgb.auc",
        "hgb.accuracy",
        "lr.auc",
        "lr.accuracy",
    ):
        assert 0.0 <= res[k] <= 1.0, k
    assert res["bank.auc"] > 0.6  # the campaign data has signal even in 2,000 rows
    assert abs(res["int8_vs_float"]) < 0.05 and res["int8_max_abs_diff"] < 0.1
    assert res["bytes_float"] > res["bytes_int8"] > 0
    assert res["bank.top_decile_lift"] > 1.0 and res["features"] > 50
    assert len(res["roc"]["fpr"]) == len(res["roc"]["tpr"]) == 101
    assert res["roc"]["tpr"][0] >= 0.0 and res["roc"]["tpr"][-1] == 1.0
    assert np.all(np.diff(res["roc"]["tpr"]) >= 0)
    assert all(math.isfinite(v) for v in res.values() if isinstance(v, float))


# --- X Education leads -------------------------------------------------------------------


def test_a_leads_file_with_one_class_is_refused(tmp_path, tensorflow_process):
    from models.evaluation.leads import evaluate_leads

    (tmp_path / "Leads.csv").write_text(
        "Prospect ID,Lead Number,Lead Source,Converted\na,1,Google,0\nb,2,Select,0\n"
    )
    with pytest.raises(TrainingDataError, match="needs a two-class 'Converted' column"):
        evaluate_leads(tmp_path)
    (tmp_path / "Leads.csv").write_text("Prospect ID,Lead Number\na,1\n")
    with pytest.raises(TrainingDataError, match="Converted"):
        evaluate_leads(tmp_path)


def test_extras_take_vocabulary_and_bins_from_training_rows_only():
    import pandas as pd

    from models.evaluation.leads import extras

    df = pd.DataFrame(
        {
            "Lead Source": ["Google"] * 6 + ["Olark"] * 2 + ["Bing"] * 5,
            "TotalVisits": [0, 1, 2, 3, 4, 5, np.nan, 7, 8, 9, 10, 11, 100],
        }
    )
    train = np.arange(8)  # Bing appears only in the test rows
    x, names = extras(df, train, ["Lead Source", "TotalVisits"], min_count=5, n_bins=4)
    assert names[:4] == [
        "Lead Source=Google",
        "TotalVisits:value",
        "TotalVisits:missing",
        "TotalVisits:bin0",
    ]
    assert "Lead Source=Google" in names
    assert "Lead Source=Olark" not in names and "Lead Source=Bing" not in names  # rare / unseen
    assert x.shape == (13, len(names)) and x.dtype == np.float32
    col = {n: x[:, i] for i, n in enumerate(names)}
    np.testing.assert_allclose(col["TotalVisits:value"][:3], np.log1p([0, 1, 2]))
    assert col["TotalVisits:missing"].tolist() == [0] * 6 + [1] + [0] * 6
    bins = np.stack([v for n, v in col.items() if ":bin" in n], axis=1)
    # every known value falls in exactly one bin; a missing value in none
    assert bins.sum(axis=1).tolist() == [1] * 6 + [0] + [1] * 6
    assert col["Lead Source=Google"].tolist() == [1] * 6 + [0] * 7


def test_target_encodings_read_training_labels_only_and_out_of_fold():
    import pandas as pd

    from models.evaluation.leads import target_encodings

    rng = np.random.default_rng(0)
    n = 200
    df = pd.DataFrame(
        {
            "Lead Source": rng.choice(["a", "b"], n),
            "Tags": rng.choice(["t", "u", None], n),
            "TotalVisits": rng.integers(0, 9, n).astype(float),
        }
    )
    y = (df["Lead Source"] == "a").to_numpy(dtype=float)
    train = np.arange(150)
    x, names = target_encodings(df, y, train, list(df.columns), [("Lead Source", "Tags")])
    assert names == ["te:Lead Source", "te:Tags", "te:Lead Source&Tags"]  # numerics skipped
    assert x.shape == (n, 3) and x.dtype == np.float32 and np.isfinite(x).all()
    src = x[:, 0]
    assert (src[df["Lead Source"] == "a"] > 2).all() and (src[df["Lead Source"] == "b"] < -2).all()
    # the test rows' labels are never read: flipping them changes nothing
    flipped = y.copy()
    flipped[150:] = 1 - flipped[150:]
    x2, _ = target_encodings(df, flipped, train, list(df.columns), [("Lead Source", "Tags")])
    np.testing.assert_array_equal(x, x2)
    # out of fold: a training row's own label does not move its own encoding
    own = y.copy()
    own[0] = 1 - own[0]
    x3, _ = target_encodings(df, own, train, list(df.columns), [])
    assert x3[0, 0] == x[0, 0] and not np.array_equal(x3[150:, 0], x[150:, 0])


def test_crosses_keep_pairs_seen_often_in_training_rows():
    import pandas as pd

    from models.evaluation.leads import crosses

    df = pd.DataFrame({"A": ["p"] * 6 + ["q"] * 6, "B": ["x"] * 3 + ["y"] * 9})
    x, names = crosses(df, np.arange(8), [("A", "B")], min_count=3)
    # p|x 3 and p|y 3 in the training rows; q|y twice there (four more in the test rows)
    assert names == ["A&B=p|x", "A&B=p|y"]
    assert x[:, 0].tolist() == [1] * 3 + [0] * 9
    none, nn = crosses(df, np.arange(8), [])
    assert none.shape == (12, 0) and nn == []


def test_leads_cli_on_a_sample_reports_both_settings_and_their_baselines(
    tmp_path, monkeypatch, capsys, tensorflow_process
):
    import pandas as pd

    from models.evaluation import leads

    needs(LEADS_CSV)
    sample = stratified_sample(pd.read_csv(LEADS_CSV), "Converted", 1000)
    (tmp_path / "x-education-leads").mkdir()
    sample.to_csv(tmp_path / "x-education-leads" / "Leads.csv", index=False)
    for name in leads.SETTING_CONFIG:
        monkeypatch.setitem(
            leads.SETTING_CONFIG,
            name,
            {**leads.SETTING_CONFIG[name], "epochs": 3, "patience": 2, "members": 1},
        )
    res = json.loads(json.dumps(leads.evaluate_leads(tmp_path, 1)))
    assert res["n_train"] == 800 and res["n_test"] == 200 and res["seed"] == 1
    for name in ("leads_all", "leads_behaviour"):
        for k in ("auc", "accuracy", "ece", "auc_float", "accuracy_float"):
            assert 0.0 <= res[f"{name}.{k}"] <= 1.0, f"{name}.{k}"
        for k in ("hgb.auc", "hgb.accuracy", "logreg.auc", "logreg.accuracy"):
            assert 0.0 <= res[f"baseline.{name}.{k}"] <= 1.0
        assert res[f"{name}.epochs_mean"] <= 3
        assert res[f"{name}.bytes_float"] > res[f"{name}.bytes_int8"] > 0
        assert abs(res[f"int8_vs_float.{name}.auc_diff"]) < 0.05
        cal = res["curves"][name]["calibration"]
        assert sum(cal["count"]) == 200 and len(cal["bin_edges"]) == 11
        roc = res["curves"][name]["roc"]
        assert roc["fpr"][0] == 0.0 and roc["tpr"][-1] == 1.0
    # the columns filled in after contact (Tags, Lead Quality, ...) carry most of the signal
    assert res["leads_all.n_features"] > res["leads_behaviour.n_features"]
    assert res["leads_all.auc"] > 0.8 and res["leads_behaviour.auc"] > 0.6
    assert res["behaviour.ece"] == res["leads_behaviour.ece"]


# --- the listing prior -------------------------------------------------------------------


def test_kmeans_is_deterministic_and_separates_far_clusters():
    from models.synthetic.fit import _kmeans

    rng = np.random.default_rng(0)
    pts = np.r_[rng.normal(0, 0.1, (20, 2)), rng.normal(10, 0.1, (20, 2))]
    labels = _kmeans(pts, np.ones(40), k=2)
    assert len(set(labels[:20])) == 1 and len(set(labels[20:])) == 1 and labels[0] != labels[-1]
    np.testing.assert_array_equal(labels, _kmeans(pts, np.ones(40), k=2))


def test_price_regression_recovers_known_slopes_and_area_intercepts():
    from models.synthetic.fit import _linear, _regression

    rng = np.random.default_rng(1)
    n = 300
    area = rng.integers(0, 3, n)
    log_sqft = rng.normal(7.5, 0.3, n)
    beds = rng.integers(1, 6, n).astype(float)
    baths = rng.integers(1, 4, n).astype(float)
    age = rng.integers(0, 80, n).astype(float)
    log_price = np.array([11.0, 11.5, 12.0])[area] + 0.8 * log_sqft - 0.02 * beds + 0.05 * baths
    log_price -= 0.003 * age
    intercepts, slopes, resid = _regression(log_price, log_sqft, beds, baths, age, area, 3)
    np.testing.assert_allclose(intercepts, [11.0, 11.5, 12.0], atol=1e-6)
    assert slopes == {"log_sqft": 0.8, "beds": -0.02, "baths": 0.05, "age": -0.003}
    assert resid == 0.0
    assert _linear(2.0 + 3.0 * log_sqft, log_sqft) == {"a": 2.0, "b": 3.0, "sd": 0.0}


def assert_same_summary(fitted, shipped, where="$"):
    """Same keys, lists and strings; numbers within 0.05 % (prices: also within their rounding).

    The fit rounds prices to hundreds, so a median that lies on a rounding boundary moves by
    100 when the CSV reader's floats move in their last bits (pandas 3.0 moved one: 335,000 to
    334,900). Anything larger is a real change of the summary.
    """
    assert type(fitted) is type(shipped) or {type(fitted), type(shipped)} <= {int, float}, where
    if isinstance(shipped, dict):
        assert fitted.keys() == shipped.keys(), where
        for key in shipped:
            assert_same_summary(fitted[key], shipped[key], f"{where}.{key}")
    elif isinstance(shipped, list):
        assert len(fitted) == len(shipped), where
        for i, (a, b) in enumerate(zip(fitted, shipped, strict=True)):
            assert_same_summary(a, b, f"{where}[{i}]")
    elif isinstance(shipped, int | float) and not isinstance(shipped, bool):
        rounding = 100 if abs(shipped) >= 10_000 else 0  # prices are rounded to hundreds
        allowed = max(5e-4 * abs(shipped), rounding, 1e-9)
        assert abs(fitted - shipped) <= allowed, f"{where}: {fitted} != {shipped}"
    else:
        assert fitted == shipped, where


def test_summary_comparison_allows_rounding_drift_only():
    assert_same_summary({"p": [335_000.0, 1.0]}, {"p": [334_900.0, 1.0]})
    for changed in ({"p": [336_000.0, 1.0]}, {"p": [335_000.0, 1.01]}, {"q": [335_000.0, 1.0]}):
        with pytest.raises(AssertionError):
            assert_same_summary(changed, {"p": [335_000.0, 1.0]})


def test_fitting_the_public_sales_reproduces_the_shipped_prior(tmp_path, capsys):
    from typer.testing import CliRunner

    from models.synthetic.fit import PRIOR_PATH
    from tools.cli import app

    needs(DATA / "kc-house-sales" / "kc_house_data.csv")
    needs(DATA / "ames-housing" / "AmesHousing.csv")
    out = tmp_path / "prior.json"
    result = CliRunner().invoke(app, ["fit-prior", "--data-dir", str(DATA), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert " ".join(result.stdout.split()) == f"wrote {out} ({out.stat().st_size} bytes)"
    prior = json.loads(out.read_text())
    assert_same_summary(prior, json.loads(PRIOR_PATH.read_text()))
    kc, ames = prior["markets"]["king_county"], prior["markets"]["ames"]
    assert len(kc["areas"]) == 20 and sum(a["n"] for a in kc["areas"]) == kc["n"]
    assert sum(a["n"] for a in ames["areas"]) == ames["n"]
    assert sum(ames["building_type_mix"].values()) == pytest.approx(1.0, abs=1e-3)
    assert len({a["name"] for a in kc["areas"]}) == 20  # area names are unique
