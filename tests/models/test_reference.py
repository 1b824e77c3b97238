"""The typical lead the drivers are measured against ships with the feature spec it fits."""

from __future__ import annotations

import json

import numpy as np
import pytest

from models.behaviour import reference
from models.features import FEATURE_SPEC_HASH, N_FEATURES


def test_the_shipped_typical_lead_fits_this_feature_spec():
    doc = json.loads(reference.PATH.read_text())
    assert doc["feature_spec_hash"] == FEATURE_SPEC_HASH and doc["statistic"] == "median"
    v = reference.typical_lead()
    assert v.shape == (N_FEATURES,) and np.isfinite(v).all()
    assert not v.flags.writeable


def test_a_typical_lead_of_another_spec_or_length_is_refused():
    with pytest.raises(reference.ReferenceError, match="feature spec 'old'"):
        reference.parse({"feature_spec_hash": "old", "vector": [0.0] * N_FEATURES})
    with pytest.raises(reference.ReferenceError, match="3 values"):
        reference.parse({"feature_spec_hash": FEATURE_SPEC_HASH, "vector": [0.0] * 3})
    with pytest.raises(reference.ReferenceError, match="shape"):
        reference.typical(np.zeros((0, N_FEATURES)))


def test_the_typical_lead_is_the_median_of_the_rows():
    x = np.zeros((3, N_FEATURES), np.float32)
    x[:, 0] = [1.0, 5.0, 2.0]
    assert reference.typical(x)[0] == 2.0


def test_a_missing_file_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(reference, "PATH", tmp_path / "none.json")
    reference.typical_lead.cache_clear()
    try:
        with pytest.raises(reference.ReferenceError, match=r"none\.json"):
            reference.typical_lead()
    finally:
        reference.typical_lead.cache_clear()


def test_build_takes_the_median_of_a_small_world():
    from models.behaviour.reference_build import build

    doc = build({"agents": 1, "leads": 60, "listings": 200, "seed": 2})
    assert doc["rows"] > 50 and len(doc["vector"]) == N_FEATURES
    assert reference.parse(doc).shape == (N_FEATURES,)
