"""Personalization: tower inputs from records, the shipped two towers and the style head."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.artifact import ARTIFACT_DIR, load_verified
from models.features import FEATURE_SPEC_HASH, N_FEATURES, columns_from_records, empty_columns
from models.personalization import (
    LEAD_NAME,
    LEAD_NAMES,
    LISTING_NAME,
    LISTING_NAMES,
    N_LEAD,
    N_LISTING,
    PERSONALIZATION_SPEC_HASH,
    STYLE_NAME,
    lead_preference_vector,
    listing_matrix,
    top_k,
)
from models.personalization.dataset import STYLE_LABELS, style_labels
from sync.records import Channel, Event, EventType, Lead, Listing, Location, Vertical

SEED = 20260602


def _listing(i: int, **kw) -> Listing:
    base = dict(
        id=f"lst-{i:06d}",
        price=500_000.0,
        beds=3,
        baths=2.0,
        sqft=2000.0,
        lot_sqft=999.0,
        year_built=2001,
        location=Location(city="Seattle", lat=47.55, lon=-122.2),
        features=["garage", "pool"],
    )
    base.update(kw)
    return Listing(**base)


def _lead(**kw) -> Lead:
    return Lead(id="lead-1", agent_id="agent-01", team_id="team-a", name="A B", **kw)


def test_listing_matrix_literal_values():
    m = listing_matrix(
        [_listing(1), _listing(2, location=Location(city="Ames", lat=42.03, lon=-93.62))]
    )
    assert m.shape == (2, N_LISTING) == (2, len(LISTING_NAMES))
    row = dict(zip(LISTING_NAMES, m[0].tolist(), strict=True))
    assert row["log10_price"] == pytest.approx(math.log10(500_000) - 5.5)
    assert row["beds"] == 1.5 and row["baths"] == 1.0
    assert row["log10_sqft"] == pytest.approx(math.log10(2000) - 3.3)
    assert row["log10_lot"] == pytest.approx(-0.5)
    assert row["age"] == pytest.approx(1.0)
    assert row["type_house"] == 1.0 and row["vertical_residential"] == 1.0
    assert row["market_ames"] == 0.0 and row["local_north"] == row["local_east"] == 0.0
    assert row["feature_garage"] == 1.0 and row["feature_pool"] == 1.0
    assert row["feature_fireplace"] == 0.0 and row["active"] == 1.0
    assert m[1, LISTING_NAMES.index("market_ames")] == 1.0


def test_lead_vector_without_events_holds_only_the_budget():
    v = lead_preference_vector(_lead(budget_min=400_000.0, budget_max=600_000.0), empty_columns())
    assert v.shape == (N_LEAD,) == (len(LEAD_NAMES),)
    row = dict(zip(LEAD_NAMES, v.tolist(), strict=True))
    assert row["has_budget"] == 1.0
    assert row["budget_log10_mid"] == pytest.approx(math.log10(500_000) - 5.5, abs=1e-6)
    assert np.count_nonzero(v) == 2


def test_lead_vector_averages_viewed_and_engaged_listings():
    a, b = _listing(1, price=400_000.0), _listing(2, price=800_000.0, beds=5)
    events = [
        Event(
            id="e1",
            lead_id="lead-1",
            type=EventType.PROPERTY_VIEW,
            ts=1000,
            listing_id=a.id,
            dwell_s=30.0,
        ),
        Event(
            id="e2",
            lead_id="lead-1",
            type=EventType.PROPERTY_VIEW,
            ts=2000,
            listing_id=b.id,
            dwell_s=30.0,
        ),
        Event(id="e3", lead_id="lead-1", type=EventType.PROPERTY_SAVE, ts=3000, listing_id=b.id),
    ]
    cols = columns_from_records(events, {a.id: a, b.id: b})
    row = dict(zip(LEAD_NAMES, lead_preference_vector(_lead(), cols).tolist(), strict=True))
    assert row["viewed_beds"] == pytest.approx(2.0)  # (3 + 5) / 2 / 2
    assert row["engaged_beds"] == pytest.approx(2.5)
    assert row["engaged_log10_price"] == pytest.approx(math.log10(800_000) - 5.5, abs=1e-6)
    assert row["log1p_views"] == pytest.approx(math.log(3))
    assert row["log1p_engaged"] == pytest.approx(math.log(2))


def test_top_k_orders_by_dot_product():
    items = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0], [-1.0, 0.0]], np.float32)
    assert top_k(np.array([1.0, 0.1]), items, k=3).tolist() == [2, 0, 1]


def test_style_labels_follow_the_documented_rules():
    ja = _lead(language="ja")
    labels = style_labels(ja, Channel.SMS, Vertical.RESIDENTIAL)
    assert dict(zip(STYLE_LABELS, labels, strict=True)) == {
        "pref_call": 0,
        "pref_sms": 1,
        "pref_email": 0,
        "pref_whatsapp": 0,
        "formal": 1,
        "casual": 0,
        "short": 1,
        "long": 0,
    }
    en = _lead(language="en")
    assert style_labels(en, Channel.WHATSAPP, Vertical.RESIDENTIAL).tolist() == [
        0,
        0,
        0,
        1,
        0,
        1,
        1,
        0,
    ]
    assert style_labels(en, Channel.EMAIL, Vertical.LUXURY).tolist() == [0, 0, 1, 0, 1, 0, 0, 1]


# --- the shipped models ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def towers():
    pytest.importorskip("tflite_runtime.interpreter")
    from models.tflite import TFLiteModel

    return (
        TFLiteModel.load(ARTIFACT_DIR, LEAD_NAME, PERSONALIZATION_SPEC_HASH),
        TFLiteModel.load(ARTIFACT_DIR, LISTING_NAME, PERSONALIZATION_SPEC_HASH),
    )


@pytest.mark.parametrize(
    ("name", "spec_hash", "width"),
    [
        (LEAD_NAME, PERSONALIZATION_SPEC_HASH, N_LEAD),
        (LISTING_NAME, PERSONALIZATION_SPEC_HASH, N_LISTING),
        (STYLE_NAME, FEATURE_SPEC_HASH, N_FEATURES),
    ],
)
def test_manifests_verify_and_golden_cases_reproduce(name, spec_hash, width):
    pytest.importorskip("tflite_runtime.interpreter")
    from models.tflite import TFLiteModel

    blob, manifest = load_verified(ARTIFACT_DIR, name, spec_hash)
    model = TFLiteModel(blob, manifest)
    assert type(model._interp).__module__.startswith("tflite_runtime")
    assert manifest.inputs[0].dtype == "int8" and manifest.inputs[0].shape[-1] == width
    assert manifest.golden
    for case in manifest.golden:
        out = model.predict1(np.asarray([case.input], np.float32))[0]
        assert np.allclose(out, case.output, atol=case.tolerance)


def test_two_towers_rank_a_leads_saved_listings_above_random_ones(towers):
    from models.synthetic import generate_world

    print(f"seed {SEED}")
    lead_t, listing_t = towers
    w = generate_world(agents=2, leads=60, listings=1500, seed=SEED)
    emb = listing_t.predict1(listing_matrix(w.listings))
    row = {li.id: i for i, li in enumerate(w.listings)}
    listing_by_id = {li.id: li for li in w.listings}
    by: dict[str, list[Event]] = {}
    for e in w.events:
        by.setdefault(e.lead_id, []).append(e)
    rng = np.random.default_rng(SEED)
    aucs = []
    for lead in w.leads:
        evs = by.get(lead.id, [])
        saved = sorted({row[e.listing_id] for e in evs if e.type == EventType.PROPERTY_SAVE})
        if not saved:
            continue
        x = lead_preference_vector(lead, columns_from_records(evs, listing_by_id))
        s = emb @ lead_t.predict1(x[None, :])[0]
        rand = rng.integers(0, len(w.listings), 200)
        aucs.append(np.mean(s[saved][:, None] > s[rand][None, :]))
    assert len(aucs) >= 20
    assert np.mean(aucs) > 0.8, f"mean AUC saved vs random {np.mean(aucs):.3f}"
