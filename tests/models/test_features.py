"""The behavioural feature spec: names, hash, literal values on a hand-built lead."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.features import (
    EVENT_ROW_FIELDS,
    FEATURE_INDEX,
    FEATURE_NAMES,
    FEATURE_SPEC_HASH,
    FEATURE_SPEC_VERSION,
    N_FEATURES,
    columns_from_records,
    columns_from_rows,
    empty_columns,
    extract,
    extract_batch,
    spec_hash,
    spec_parameters,
    without_events,
)
from sync.records import (
    Channel,
    Consent,
    Event,
    EventType,
    Lead,
    Listing,
    Location,
    PropertyType,
    Vertical,
)

NOW = 1_700_000_000_000  # 2023-11-14 22:13:20 UTC
H = 3_600_000
D = 24 * H


def _lead(**kw) -> Lead:
    base = dict(
        id="lead-1",
        agent_id="agent-1",
        team_id="team-1",
        name="Ana",
        language="es",
        timezone="UTC",
        consent=Consent(call=False, sms=True, email=True, whatsapp=True),
        source="Zillow",
        budget_min=300_000.0,
        budget_max=600_000.0,
        created_at=NOW - 40 * D,
    )
    base.update(kw)
    return Lead(**base)


LISTINGS = {
    "L1": Listing(
        id="L1",
        price=500_000.0,
        beds=3,
        baths=2.0,
        sqft=1500.0,
        property_type=PropertyType.CONDO,
        vertical=Vertical.RESIDENTIAL,
        location=Location(city="LA", lat=34.0, lon=-118.0),
    ),
    "L2": Listing(
        id="L2",
        price=1_500_000.0,
        beds=5,
        baths=4.0,
        sqft=4000.0,
        property_type=PropertyType.HOUSE,
        vertical=Vertical.LUXURY,
        location=Location(city="LA", lat=34.1, lon=-118.2),
    ),
}


def _event(i: int, type_: EventType, ts: int, **kw) -> Event:
    return Event(id=f"e{i}", lead_id="lead-1", type=type_, ts=ts, **kw)


def _events() -> list[Event]:
    view, out, inn = EventType.PROPERTY_VIEW, EventType.MESSAGE_OUT, EventType.MESSAGE_IN
    return [
        _event(1, view, NOW - 2 * H, listing_id="L1", dwell_s=60.0),
        _event(2, view, NOW - 3 * D, listing_id="L1", dwell_s=120.0),
        _event(3, view, NOW - 10 * D, listing_id="L2", dwell_s=30.0),
        _event(4, view, NOW - 100 * D, listing_id="L2", dwell_s=500.0),
        _event(5, out, NOW - 5 * D, channel=Channel.SMS),
        _event(6, inn, NOW - 5 * D + 2 * H, channel=Channel.SMS, language="es"),
        _event(7, EventType.CALL_OUT, NOW - 20 * D, channel=Channel.CALL, duration_s=30.0),
        _event(8, EventType.PROPERTY_SAVE, NOW - 1 * D - H, listing_id="L2"),
        _event(9, EventType.OFFER, NOW + 1 * D, amount=9e9),  # after now: ignored
    ]


@pytest.fixture
def features() -> dict[str, float]:
    vec = extract(_lead(), columns_from_records(_events(), LISTINGS), NOW)
    return dict(zip(FEATURE_NAMES, vec.tolist(), strict=True))


def test_names_are_many_and_unique():
    assert len(FEATURE_NAMES) >= 300
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES) == N_FEATURES
    assert FEATURE_INDEX["log1p_count_property_view_7d"] == FEATURE_NAMES.index(
        "log1p_count_property_view_7d"
    )


def test_hash_is_stable_and_follows_the_spec():
    params = spec_parameters()
    assert spec_hash(FEATURE_SPEC_VERSION, FEATURE_NAMES, params) == FEATURE_SPEC_HASH
    assert len(FEATURE_SPEC_HASH) >= 16
    int(FEATURE_SPEC_HASH, 16)
    assert spec_hash("behaviour-features/999", FEATURE_NAMES, params) != FEATURE_SPEC_HASH
    assert spec_hash(FEATURE_SPEC_VERSION, FEATURE_NAMES[:-1], params) != FEATURE_SPEC_HASH
    changed = dict(params, reply_window_h=48.0)
    assert spec_hash(FEATURE_SPEC_VERSION, FEATURE_NAMES, changed) != FEATURE_SPEC_HASH


def test_counts_in_windows(features):
    assert features["log1p_count_property_view_1d"] == pytest.approx(math.log1p(1))
    assert features["log1p_count_property_view_7d"] == pytest.approx(math.log1p(2))
    assert features["log1p_count_property_view_30d"] == pytest.approx(math.log1p(3))
    assert features["log1p_count_property_view_90d"] == pytest.approx(math.log1p(3))
    assert features["log1p_count_property_save_1d"] == 0.0
    assert features["log1p_count_property_save_7d"] == pytest.approx(math.log1p(1))
    assert features["log1p_count_all_90d"] == pytest.approx(math.log1p(7))
    assert features["log1p_count_inbound_90d"] == pytest.approx(math.log1p(5))


def test_recency_and_dwell(features):
    assert features["log1p_days_since_property_view"] == pytest.approx(math.log1p(2 / 24), 1e-5)
    assert features["log1p_days_since_offer"] == pytest.approx(math.log1p(365))  # future: none
    assert features["has_offer"] == 0.0
    assert features["has_property_save"] == 1.0
    assert features["log1p_dwell_sum_s_property_view_7d"] == pytest.approx(math.log1p(180))
    assert features["log1p_dwell_max_s_property_view_30d"] == pytest.approx(math.log1p(120))
    assert features["log1p_dwell_mean_s_property_view_30d"] == pytest.approx(math.log1p(70))
    assert features["log1p_duration_sum_s_call_out_30d"] == pytest.approx(math.log1p(30))


def test_reply_rates_and_latency(features):
    assert features["reply_rate_sms"] == 1.0
    assert features["reply_rate_call"] == 0.0
    assert features["reply_rate_any"] == pytest.approx(0.5)
    assert features["log1p_latency_mean_h_sms"] == pytest.approx(math.log1p(2), 1e-5)
    assert features["reply_within_24h_rate_sms"] == 1.0
    assert features["last_outreach_replied_any"] == 1.0
    assert features["log1p_unanswered_outreach_streak"] == 0.0


def test_listing_and_lead_features(features):
    assert features["viewed_log1p_distinct_listings"] == pytest.approx(math.log1p(2))
    assert features["viewed_frac_type_condo"] == pytest.approx(2 / 4)
    assert features["saved_frac_vertical_luxury"] == 1.0
    assert features["viewed_frac_within_budget"] == pytest.approx(2 / 4)
    assert features["top_vertical_luxury"] == 1.0
    assert features["language_es"] == 1.0
    assert features["consent_call"] == 0.0
    assert features["consent_sms"] == 1.0
    assert features["source_zillow"] == 1.0
    assert features["activity_frac_hour_22"] == pytest.approx(2 / 5)


def test_unknown_consent_is_not_consent():
    vec = extract(_lead(consent=Consent(sms=True)), empty_columns(), NOW)
    assert vec[FEATURE_INDEX["consent_sms"]] == 1.0
    assert vec[FEATURE_INDEX["consent_call"]] == 0.0  # absent: unknown, not granted


def test_no_events_gives_a_finite_vector():
    vec = extract(_lead(), empty_columns(), NOW)
    assert vec.dtype == np.float32 and vec.shape == (N_FEATURES,)
    assert np.isfinite(vec).all()
    assert vec[FEATURE_INDEX["log1p_days_since_property_view"]] == pytest.approx(math.log1p(365))
    bare = _lead(language="", source="", budget_min=None, budget_max=None, created_at=0)
    assert np.isfinite(extract(bare, columns_from_records([], {}), NOW)).all()


def test_columns_from_rows_equals_record_path():
    events = _events()
    rows = []
    for e in events:
        listing = LISTINGS.get(e.listing_id) if e.listing_id else None
        rows.append(
            (
                e.ts,
                e.type.value,
                e.channel.value if e.channel else None,
                e.dwell_s,
                e.duration_s,
                e.amount,
                e.language,
                e.listing_id,
                listing.price if listing else None,
                listing.beds if listing else None,
                listing.baths if listing else None,
                listing.sqft if listing else None,
                listing.property_type.value if listing else None,
                listing.vertical.value if listing else None,
                listing.location.lat if listing else None,
                listing.location.lon if listing else None,
            )
        )
    assert len(rows[0]) == len(EVENT_ROW_FIELDS)
    a = columns_from_records(events, LISTINGS)
    b = columns_from_rows(list(reversed(rows)))
    np.testing.assert_array_equal(extract(_lead(), a, NOW), extract(_lead(), b, NOW))


def test_extract_batch_stacks_rows_and_respects_each_cutoff():
    cols = columns_from_records(_events(), LISTINGS)
    x = extract_batch([_lead(), _lead()], [cols, cols], [NOW, NOW - 4 * D])
    assert x.shape == (2, N_FEATURES)
    np.testing.assert_array_equal(x[0], extract(_lead(), cols, NOW))
    i = FEATURE_INDEX["log1p_count_property_view_90d"]
    assert x[1, i] == pytest.approx(math.log1p(1))  # one view in the 90 days before it


def test_random_leads_stay_in_a_bounded_range():
    rng = np.random.default_rng(7)
    types = list(EventType)
    for trial in range(20):
        n = int(rng.integers(0, 300))
        events = [
            _event(
                k,
                types[int(rng.integers(0, len(types)))],
                NOW - int(rng.uniform(0, 400 * D)),
                channel=list(Channel)[int(rng.integers(0, 6))] if rng.random() < 0.5 else None,
                listing_id=("L1", "L2", "L3", None)[int(rng.integers(0, 4))],
                dwell_s=float(rng.uniform(0, 3000)) if rng.random() < 0.5 else None,
                duration_s=float(rng.uniform(0, 3000)) if rng.random() < 0.3 else None,
            )
            for k in range(n)
        ]
        vec = extract(_lead(), columns_from_records(events, LISTINGS), NOW)
        assert np.isfinite(vec).all(), f"trial {trial}"
        assert vec.min() >= -20 and vec.max() <= 20, f"trial {trial}"


def test_without_events_equals_extracting_the_same_lead_with_no_events():
    """The occlusion reference of the behaviour drivers, derived from the full vector."""
    from models.synthetic import generate_world

    w = generate_world(agents=1, leads=120, listings=300, seed=4)
    by_lead: dict[str, list] = {}
    for e in w.events:
        by_lead.setdefault(e.lead_id, []).append(e)
    listings = {li.id: li for li in w.listings}
    checked = 0
    for i, lead in enumerate(w.leads):
        # Leads with and without budgets, languages and events; now before and after creation.
        now = w.now_ms - (i % 3) * 40 * 86_400_000
        cols = columns_from_records(by_lead.get(lead.id, []), listings)
        full = extract(lead, cols, now)
        expected = extract(lead, empty_columns(), now)
        np.testing.assert_array_equal(without_events(full), expected, err_msg=lead.id)
        checked += len(cols.before(now).ts) > 0
    assert checked > 80  # most leads had events before their cutoff
