"""The shared training pipeline and the shipped behaviour artifact."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.artifact import ARTIFACT_DIR, load_verified
from models.behaviour import LABELS, NAME
from models.errors import TrainingDataError
from models.features import FEATURE_SPEC_HASH, N_FEATURES
from models.train_common import (
    Standardizer,
    check_labels,
    expected_calibration_error,
    fit_tabular,
)
from sync.records import EventType


def test_single_class_labels_raise_a_clear_error():
    x = np.zeros((20, 3), dtype=np.float32)
    with pytest.raises(TrainingDataError, match="both classes"):
        check_labels(x, np.ones(20))
    with pytest.raises(TrainingDataError, match="p_respond"):
        check_labels(x, np.c_[np.r_[np.zeros(10), np.ones(10)], np.zeros(20)], LABELS)


def test_fit_tabular_refuses_single_class_and_empty_data_before_training():
    x = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32)
    with pytest.raises(TrainingDataError, match="both classes"):
        fit_tabular(x, np.zeros(50))
    with pytest.raises(TrainingDataError, match="no training rows"):
        fit_tabular(np.zeros((0, 4), dtype=np.float32), np.zeros(0))
    with pytest.raises(TrainingDataError, match="NaN"):
        fit_tabular(np.full((4, 2), np.nan, dtype=np.float32), np.array([0, 1, 0, 1]))


def test_unknown_labels_are_masked_not_a_class():
    x = np.zeros((4, 2), dtype=np.float32)
    check_labels(x, np.array([[0, np.nan], [1, 0], [0, 1], [1, np.nan]]))
    with pytest.raises(TrainingDataError):
        check_labels(x, np.array([[0, np.nan], [1, np.nan], [0, 1], [1, np.nan]]))


def test_standardizer_ignores_constant_columns():
    x = np.array([[1.0, 5.0], [3.0, 5.0]], dtype=np.float32)
    std = Standardizer.fit(x)
    np.testing.assert_allclose(std.apply(x), [[-1.0, 0.0], [1.0, 0.0]], atol=1e-6)
    assert std.apply(np.array([[2.0, 7.0]]))[0, 1] == 0.0


def test_ece_is_zero_for_perfect_calibration_and_large_when_wrong():
    y = np.array([0, 0, 1, 1], dtype=float)
    assert expected_calibration_error(y, np.array([0.5, 0.5, 0.5, 0.5])) == 0.0
    assert expected_calibration_error(y, np.array([1.0, 1.0, 0.0, 0.0])) == pytest.approx(1.0)


def test_shipped_behaviour_artifact_loads_and_verifies():
    _blob, manifest = load_verified(ARTIFACT_DIR, NAME, FEATURE_SPEC_HASH)
    assert manifest.labels == list(LABELS)
    assert manifest.inputs[0].shape[-1] == N_FEATURES
    assert manifest.inputs[0].dtype == "int8" and manifest.outputs[0].shape[-1] == 2
    assert manifest.metrics["p_convert.auc"] > 0.7
    assert manifest.golden and len(manifest.golden[0].input) == N_FEATURES


def test_shipped_behaviour_artifact_reproduces_its_golden_cases():
    tflite = pytest.importorskip("tflite_runtime.interpreter")
    blob, manifest = load_verified(ARTIFACT_DIR, NAME, FEATURE_SPEC_HASH)
    interp = tflite.Interpreter(model_content=blob)
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    for case in manifest.golden:
        scale, zero = inp["quantization"]
        q = np.clip(np.round(np.asarray(case.input) / scale + zero), -128, 127)
        interp.set_tensor(inp["index"], q.astype(np.int8)[None, :])
        interp.invoke()
        o_scale, o_zero = out["quantization"]
        got = (interp.get_tensor(out["index"])[0].astype(np.float32) - o_zero) * o_scale
        np.testing.assert_allclose(got, case.output, atol=case.tolerance)


LEADS_DIR = Path(__file__).resolve().parents[3] / "shared" / "data"


def test_leads_csv_row_maps_into_leads_and_events():
    from models.evaluation.leads import row_to_records

    row = {
        "Lead Source": "Google",
        "Do Not Email": "Yes",
        "Do Not Call": "No",
        "TotalVisits": 3.0,
        "Total Time Spent on Website": 600.0,
        "Page Views Per Visit": 2.0,
        "Last Activity": "Email Opened",
    }
    lead, events = row_to_records(row, 7)
    assert lead.consent.email is False and lead.consent.call is True
    assert lead.source == "Google"
    views = [e for e in events if e.type == EventType.PROPERTY_VIEW]
    assert len(views) == 6 and sum(e.dwell_s for e in views) == pytest.approx(600.0)
    assert events[-1].type == EventType.EMAIL_OPEN


@pytest.mark.skipif(not (LEADS_DIR / "x-education-leads" / "Leads.csv").is_file(), reason="no data")
def test_leads_split_is_the_one_of_splits_md():
    from models.evaluation.leads import load_leads, split_rows

    df = load_leads(LEADS_DIR)
    train, test = split_rows(df)
    assert (len(train), len(test)) == (7392, 1848)
    assert not set(train) & set(test)
    assert int(df["Converted"].iloc[test].sum()) == 712
    assert (df == "Select").sum().sum() == 0  # "Select" read as missing


def test_roc_auc_equals_scikit_learn_with_ties_and_is_nan_for_one_class():
    from sklearn.metrics import roc_auc_score

    from models.train_common import roc_auc

    rng = np.random.default_rng(5)
    y = (rng.random(500) < 0.2).astype(np.float64)
    p = np.round(rng.random(500) * 0.5 + 0.3 * y, 1)  # coarse scores: many ties
    assert roc_auc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    y_unknown = y.copy()
    y_unknown[::4] = np.nan  # unknown labels are left out
    known = ~np.isnan(y_unknown)
    assert roc_auc(y_unknown, p) == pytest.approx(roc_auc_score(y[known], p[known]), abs=1e-12)
    assert np.isnan(roc_auc(np.zeros(10), rng.random(10)))  # one class: no AUC, no warning
