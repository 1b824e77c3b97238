"""Drivers agree with their evidence: effects add up, labels follow the facts, verbs the sign."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from edge.behaviour import TOP_GROUPS, BehaviourScorer, Driver
from edge.drivers import GROUP_IDX, GROUP_KEYS, MIN_EFFECT, driver_text, evidence
from models.artifact import ARTIFACT_DIR
from models.features import FEATURE_INDEX, N_FEATURES, columns_from_records, extract
from models.features.spec import RECENCY_CAP_D
from models.synthetic import generate_world
from models.tflite import TFLiteModel
from tests import factories as f

SEED = 5
PART = re.compile(r"(raises|lowers) the chance of (a deal|a reply) by (\d+\.\d) points")


@pytest.fixture(scope="module")
def scorer() -> BehaviourScorer:
    return BehaviourScorer(TFLiteModel.load(Path(ARTIFACT_DIR), "behaviour"))


@pytest.fixture(scope="module")
def generated() -> list[tuple[object, np.ndarray, int]]:
    """(lead, features, events) for 80 generated leads, each at two presents: right after its
    world's events, and 40 days later (quiet leads, recency labels)."""
    print(f"world seed {SEED}")
    w = generate_world(agents=1, leads=80, listings=400, seed=SEED)
    listings = {li.id: li for li in w.listings}
    by_lead: dict[str, list] = {}
    for e in w.events:
        by_lead.setdefault(e.lead_id, []).append(e)
    out = []
    for lead in w.leads:
        events = by_lead.get(lead.id, [])
        cols = columns_from_records(events, listings)
        for now in (w.now_ms, w.now_ms + 40 * 86_400_000):
            out.append((lead, extract(lead, cols, now), len(events)))
    return out


def _count(x: np.ndarray, *types: str) -> int:
    return round(sum(math.expm1(float(x[FEATURE_INDEX[f"log1p_count_{t}_90d"]])) for t in types))


def contradictions(d: Driver, x: np.ndarray) -> list[str]:
    """What in the driver disagrees with the lead's vector ``x`` (empty: nothing)."""
    bad: list[str] = []
    text, label = d.text, d.label
    views = _count(x, "property_view")
    saves = _count(x, "property_save", "property_share")
    days = math.expm1(float(x[FEATURE_INDEX["log1p_days_since_last_inbound"]]))
    if "steady" in label and views < 10:
        bad.append(f"'{label}' with {views} views")
    if "no property" in label and views:
        bad.append(f"'{label}' with {views} views")
    if "recently" in label and days > 7:
        bad.append(f"'{label}' {days:.0f} days after the last contact")
    if "quiet" in label and days <= 7:
        bad.append(f"'{label}' {days:.0f} days after the last contact")
    if "few listings" in label and not 1 <= saves <= 2:
        bad.append(f"'{label}' with {saves} saves")
    if "no listings" in label and saves:
        bad.append(f"'{label}' with {saves} saves")
    if "answers" in label and not _count(x, "message_in", "call_in"):
        bad.append(f"'{label}' without a reply")
    if ("made an offer" in label) != (_count(x, "offer") > 0) and d.factor == "offers":
        bad.append(f"'{label}' with {_count(x, 'offer')} offers")
    if not text.startswith(f"{label} ("):
        bad.append(f"text {text!r} does not lead with its label")
    parts = PART.findall(text)
    if not parts:
        bad.append(f"no effect in {text!r}")
    for verb, outcome, points in parts:
        effect = d.effect if outcome == "a deal" else d.effect_respond
        if (verb == "raises") != (effect > 0):
            bad.append(f"'{verb}' for an effect of {effect:+.4f} on {outcome}")
        if abs(abs(effect) * 100 - float(points)) > 0.051:
            bad.append(f"{points} points said for an effect of {effect:+.4f}")
        if abs(effect) < MIN_EFFECT:
            bad.append(f"an effect of about zero ({effect:+.4f}) shown")
    return bad


def test_effects_add_up_to_the_score_minus_the_typical_lead(scorer, generated):
    for lead, x, n in generated:
        b = scorer.predict(lead, x, n)
        assert b.reference == "a typical lead"
        total_c = sum(c.effect for c in b.contributions)
        total_r = sum(c.effect_respond for c in b.contributions)
        assert abs(total_c - (b.p_convert - b.reference_convert)) < 5e-4, lead.id
        assert abs(total_r - (b.p_respond - b.reference_respond)) < 5e-4, lead.id
        assert len(b.contributions) <= TOP_GROUPS + 1
        others = [c for c in b.contributions if c.factor == "other"]
        assert all(len(c.members) >= 2 for c in others)
    for lead, x, n in generated[:5]:  # the score is the model's plain answer for the lead
        plain = scorer.model.predict1(x[None])[0]
        assert scorer.predict(lead, x, n).p_convert == round(float(plain[0]), 4)
    refs = {scorer.predict(lead, x, n).reference_convert for lead, x, n in generated[:3]}
    assert len(refs) == 1, "one reference for every lead"


def test_no_driver_contradicts_its_evidence_or_its_sign(scorer, generated):
    shown = 0
    for lead, x, n in generated:
        b = scorer.predict(lead, x, n, drivers=6)
        for d in b.drivers:
            assert contradictions(d, x) == [], (lead.id, d.text)
            assert d.factor in GROUP_KEYS and d.label and d.evidence
            shown += 1
        weights = [abs(d.effect) + 0.25 * abs(d.effect_respond) for d in b.drivers]
        assert weights == sorted(weights, reverse=True)
    assert shown > len(generated), "most leads have several drivers"


def test_the_check_catches_drivers_that_contradict_their_evidence(scorer, generated):
    x = next(
        x
        for _lead, x, _n in generated
        if _count(x, "property_view") == 0
        and math.expm1(float(x[FEATURE_INDEX["log1p_days_since_last_inbound"]])) > 30
    )
    # What the old occlusion drivers said: the label picked by the effect's sign.
    views = Driver(
        factor="views",
        label="steady property browsing",
        effect=0.043,
        effect_respond=0.0,
        text="steady property browsing (0 property views in the "
        "last 90 days): raises the chance of a deal by 4.3 points",
    )
    recent = Driver(
        factor="recency",
        label="active recently",
        effect=0.01,
        effect_respond=0.0,
        text="active recently (last active 36 days ago): raises the chance of a deal by 1.0 points",
    )
    wrong_verb = Driver(
        factor="saves",
        label="no listings saved",
        effect=0.0,
        effect_respond=-0.039,
        text="no listings saved (0 listings): raises the chance of a reply by 3.9 points",
    )
    zero = Driver(
        factor="saves",
        label="no listings saved",
        effect=0.0,
        effect_respond=0.0001,
        text="no listings saved (0): raises the chance of a reply by 0.0 points",
    )
    assert any("0 views" in p for p in contradictions(views, x))
    assert any("days after" in p for p in contradictions(recent, x))
    assert any("'raises'" in p for p in contradictions(wrong_verb, x))
    assert any("about zero" in p for p in contradictions(zero, x))


def test_a_lead_equal_to_the_typical_lead_has_no_drivers(scorer):
    b = scorer.predict(f.lead(), scorer.reference.copy(), 5)
    assert b.drivers == [] and b.contributions == []
    assert b.p_convert == b.reference_convert


def test_a_group_where_the_lead_is_typical_has_no_effect(scorer):
    x = scorer.reference.copy()
    views = GROUP_IDX[GROUP_KEYS.index("views")]
    x[views] = 0.0  # no views at all; everything else typical
    b = scorer.predict(f.lead(), x, 5, drivers=6)
    assert [c.factor for c in b.contributions] == ["views"]
    (c,) = b.contributions
    assert abs(c.effect - (b.p_convert - b.reference_convert)) < 1e-4
    for d in b.drivers:
        assert d.label == "no property browsing" and "0 property views" in d.evidence


def test_explaining_costs_two_invokes_of_at_most_64_rows(scorer, generated, monkeypatch):
    calls: list[int] = []
    predict1 = scorer.model.predict1

    def counting(x: np.ndarray) -> np.ndarray:
        calls.append(len(x))
        return predict1(x)

    monkeypatch.setattr(scorer.model, "predict1", counting)
    for lead, x, n in generated[:20]:
        calls.clear()
        scorer.predict(lead, x, n)
        assert len(calls) <= 2 and max(calls) <= 64, calls


def test_labels_come_from_the_evidence_alone():
    x = np.zeros(N_FEATURES, dtype=np.float32)
    cap = math.log1p(RECENCY_CAP_D)
    x[FEATURE_INDEX["log1p_days_since_last_inbound"]] = cap
    assert evidence("recency", x).label == "never active"
    x[FEATURE_INDEX["log1p_days_since_last_inbound"]] = math.log1p(36)
    assert evidence("recency", x) == ("quiet for 36 days", "last active 36 days ago")
    x[FEATURE_INDEX["log1p_days_since_last_inbound"]] = 0.0
    assert evidence("recency", x).fact == "last active today"
    assert evidence("views", x).label == "no property browsing"
    x[FEATURE_INDEX["log1p_count_property_view_90d"]] = math.log1p(20)
    assert evidence("views", x).label == "steady property browsing"
    assert evidence("budget", x).label == "no stated budget"
    x[FEATURE_INDEX["has_budget"]] = 1.0
    x[FEATURE_INDEX["viewed_frac_within_budget"]] = 0.2
    assert evidence("budget", x).label == "looks outside the stated budget"
    assert evidence("timing", x).label == "no activity pattern yet"
    x[FEATURE_INDEX["activity_frac_hour_02"]] = 1.0
    x[FEATURE_INDEX["activity_frac_night"]] = 1.0
    assert evidence("timing", x).label == "active late at night"
    assert evidence("replies", x).label == "no conversation yet"
    x[FEATURE_INDEX["log1p_count_message_out_90d"]] = math.log1p(3)
    assert evidence("replies", x).label == "outreach goes unanswered"
    assert evidence("outreach", x).label == "some outreach by the agent"
    assert driver_text(evidence("views", x), 0.0001, -0.0001) is None
    assert driver_text(evidence("views", x), 0.0, -0.012) == (
        "steady property browsing (20 property views in the last 90 days): lowers the chance "
        "of a reply by 1.2 points"
    )
