"""The synthetic world: deterministic, referentially valid, and with the structure it documents."""

from __future__ import annotations

import bisect
import re
from collections import defaultdict
from datetime import datetime
from statistics import median
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from models.synthetic import (
    LeadTruth,
    SyntheticError,
    World,
    generate_world,
    read_truth,
    response_probability,
    write_world,
)
from models.synthetic.listing import load_prior
from models.synthetic.phrases import INBOUND, LANGUAGES, OUTBOUND
from sync.codec import Format, encode_batch, iter_batch
from sync.records import Channel, EventType, LeadStatus, PropertyType, Vertical

SEED = 7


@pytest.fixture(scope="module")
def world() -> World:
    """The benchmark size: 2 agents, 2,000 leads, 20,000 listings."""
    print(f"seed={SEED}")
    return generate_world(agents=2, leads=2000, listings=20_000, seed=SEED)


@pytest.fixture(scope="module")
def small_world() -> World:
    return generate_world(agents=3, leads=60, listings=300, seed=SEED)


def _auc(score: np.ndarray, label: np.ndarray) -> float:
    """Mann-Whitney AUC with average ranks for ties."""
    order = np.argsort(score, kind="stable")
    ranks = np.empty(len(score))
    s = score[order]
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and s[j + 1] == s[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    pos = label.astype(bool)
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def test_same_seed_gives_identical_bytes_and_another_seed_does_not():
    a = generate_world(agents=2, leads=40, listings=200, seed=11)
    b = generate_world(agents=2, leads=40, listings=200, seed=11)
    c = generate_world(agents=2, leads=40, listings=200, seed=12)
    assert encode_batch(a.records(), Format.MSGPACK) == encode_batch(b.records(), Format.MSGPACK)
    assert a.truth == b.truth
    assert encode_batch(a.records(), Format.MSGPACK) != encode_batch(c.records(), Format.MSGPACK)


def test_tiny_world_is_valid():
    w = generate_world(agents=1, leads=5, listings=10, seed=1)
    assert [a.id for a in w.agents] == ["agent-01"]
    assert [x.id for x in w.leads] == [f"lead-00000{i}" for i in range(1, 6)]
    assert len(w.listings) == 10 and len(w.truth) == 5
    assert {e.lead_id for e in w.events} <= {x.id for x in w.leads}


def test_bad_sizes_are_refused():
    with pytest.raises(SyntheticError, match="agents >= 1"):
        generate_world(agents=0, leads=5, listings=10, seed=1)
    with pytest.raises(SyntheticError, match="listings >= 1"):
        generate_world(agents=1, leads=5, listings=0, seed=1)


def test_ids_and_references_are_valid(world):
    agent_ids = {a.id: a for a in world.agents}
    listing_ids = {x.id for x in world.listings}
    lead_ids = {x.id for x in world.leads}
    assert set(agent_ids) == {"agent-01", "agent-02"}
    assert all(a.team_id == "team-a" for a in world.agents)
    assert all(re.fullmatch(r"lst-\d{6}", i) for i in listing_ids)
    assert all(re.fullmatch(r"lead-\d{6}", i) for i in lead_ids)
    for lead in world.leads:
        assert lead.agent_id in agent_ids
        assert lead.team_id == agent_ids[lead.agent_id].team_id
    assert len({e.id for e in world.events}) == len(world.events)
    for e in world.events:
        assert e.lead_id in lead_ids
        assert e.listing_id is None or e.listing_id in listing_ids
    assert [t.lead_id for t in world.truth] == [x.id for x in world.leads]


def test_no_event_is_after_now_and_events_are_in_time_order(world):
    ts = [e.ts for e in world.events]
    assert max(ts) <= world.now_ms
    assert ts == sorted(ts)
    created = {x.id: x.created_at for x in world.leads}
    assert all(e.ts >= created[e.lead_id] for e in world.events)
    assert all(x.listed_at <= world.now_ms for x in world.listings)


def test_events_per_lead_are_in_the_documented_range(world):
    per_lead = len(world.events) / len(world.leads)
    assert 40 <= per_lead <= 80, per_lead


@pytest.mark.parametrize("fmt", [Format.JSON, Format.MSGPACK])
def test_batch_round_trips_through_the_codec(small_world, tmp_path, fmt):
    path = write_world(small_world, tmp_path / f"world.{fmt.value}", fmt)
    decoded = list(iter_batch(path.read_bytes()))
    assert decoded == small_world.records()
    kinds = [type(r).__name__ for r in decoded]
    assert kinds == sorted(kinds, key=["Agent", "Listing", "Lead", "Event"].index)
    assert read_truth(path) == small_world.truth


def test_true_conversion_follows_observed_behaviour(world):
    counts: dict[str, dict[EventType, int]] = defaultdict(lambda: defaultdict(int))
    for e in world.events:
        counts[e.lead_id][e.type] += 1
    ids = [x.id for x in world.leads]
    saves = np.array([counts[i][EventType.PROPERTY_SAVE] for i in ids])
    toured = np.array([counts[i][EventType.SHOWING_ATTENDED] for i in ids])
    converted = np.array([counts[i][EventType.DEAL_CLOSED] > 0 for i in ids])
    p = np.array([t.p_convert for t in world.truth])
    assert converted.tolist() == [t.converted for t in world.truth]
    assert 0.05 < converted.mean() < 0.3
    # Leads who toured convert more often, measured on outcomes.
    assert converted[toured > 0].mean() > 1.8 * converted[toured == 0].mean()
    # Behaviour predicts conversion, the truth predicts it better, and neither perfectly.
    behaviour_auc = _auc(np.log1p(saves) + 2 * np.log1p(toured), converted)
    bayes_auc = _auc(p, converted)
    print(f"behaviour AUC {behaviour_auc:.3f}, Bayes AUC {bayes_auc:.3f}")
    assert 0.65 < behaviour_auc < bayes_auc < 0.97
    assert np.corrcoef(p, np.log1p(saves + toured))[0, 1] > 0.3


def _outreach_outcomes(world: World) -> list[tuple[LeadTruth, Channel, int, bool]]:
    """(truth, channel, local hour-of-week, responded within 20 h) per outreach event."""
    leads = {x.id: x for x in world.leads}
    truth = {t.lead_id: t for t in world.truth}
    inbound: dict[tuple[str, Channel], list[int]] = defaultdict(list)
    for e in world.events:
        if e.type in (EventType.MESSAGE_IN, EventType.CALL_IN):
            inbound[(e.lead_id, e.channel)].append(e.ts)
    out = []
    zones: dict[str, ZoneInfo] = {}
    for e in world.events:
        if e.type not in (EventType.MESSAGE_OUT, EventType.CALL_OUT):
            continue
        tz = zones.setdefault(leads[e.lead_id].timezone, ZoneInfo(leads[e.lead_id].timezone))
        local = datetime.fromtimestamp(e.ts / 1000, tz)
        how = local.weekday() * 24 + local.hour
        times = inbound[(e.lead_id, e.channel)]
        k = bisect.bisect_right(times, e.ts)
        responded = k < len(times) and times[k] <= e.ts + 20 * 3_600_000
        out.append((truth[e.lead_id], e.channel, how, responded))
    return out


def test_response_rate_is_higher_at_peak_hours_and_on_the_preferred_channel(world):
    outcomes = _outreach_outcomes(world)
    assert len(outcomes) > 10_000
    near, far, pref, other = [], [], [], []
    for t, ch, how, responded in outcomes:
        hour = how % 24
        peak = t.peak_hour_weekend if how // 24 >= 5 else t.peak_hour_weekday
        d = abs(hour + 0.5 - peak) % 24
        d = min(d, 24 - d)
        if d <= 1.5 and 7 <= hour < 23:
            near.append(responded)
        elif d >= 6:
            far.append(responded)
        (pref if ch == t.preferred_channel else other).append(responded)
    print(
        f"near peak {np.mean(near):.3f} (n={len(near)}), far {np.mean(far):.3f} "
        f"(n={len(far)}); preferred {np.mean(pref):.3f}, other {np.mean(other):.3f}"
    )
    assert np.mean(near) > 1.5 * np.mean(far)
    assert np.mean(pref) > 1.3 * np.mean(other)
    # Observed rates agree with the true probabilities on average.
    expected = np.mean([response_probability(t, ch, how) for t, ch, how, _ in outcomes])
    observed = np.mean([r for *_, r in outcomes])
    assert abs(observed - expected) < 0.05, (observed, expected)


def test_response_probability_is_a_probability_and_refuses_other_channels(world):
    t = world.truth[0]
    ps = [
        response_probability(t, ch, h)
        for ch in ("call", "sms", "email", "whatsapp")
        for h in range(168)
    ]
    assert all(0 < p < 1 for p in ps)
    assert min(ps) < t.p_respond < max(ps)
    with pytest.raises(SyntheticError, match="'web'"):
        response_probability(t, Channel.WEB, 10)
    with pytest.raises(SyntheticError, match=r"0\.\.167"):
        response_probability(t, Channel.SMS, 168)


def test_all_sixteen_languages_appear_with_texts_in_the_lead_language(world):
    langs = {x.language for x in world.leads}
    assert langs == set(LANGUAGES)
    assert len(LANGUAGES) == 16
    lang_of = {x.id: x.language for x in world.leads}
    for e in world.events:
        if e.type in (EventType.MESSAGE_IN, EventType.INQUIRY):
            assert e.language == lang_of[e.lead_id]
            assert e.text in INBOUND[e.language]
        elif e.type is EventType.MESSAGE_OUT:
            assert e.text in OUTBOUND[lang_of[e.lead_id]]
    ko = [x for x in world.leads if x.language == "ko"]
    assert {x.locale for x in ko} == {"ko_US", "ko_KR"}
    assert {x.timezone for x in ko if x.locale == "ko_KR"} == {"Asia/Seoul"}
    assert all(x.locale.startswith(x.language) for x in world.leads)


def test_opted_out_channels_are_not_used_after_the_opt_out(world):
    opt_out = {(e.lead_id, e.channel): e.ts for e in world.events if e.type is EventType.OPT_OUT}
    assert opt_out
    for lead in world.leads:
        for ch in (Channel.CALL, Channel.SMS, Channel.EMAIL, Channel.WHATSAPP):
            assert lead.consent.allows(ch) == ((lead.id, ch) not in opt_out)
    for e in world.events:
        if e.type in (EventType.MESSAGE_OUT, EventType.CALL_OUT):
            assert e.ts < opt_out.get((e.lead_id, e.channel), world.now_ms + 1)


def test_listing_prices_by_area_follow_the_fitted_prior(world):
    prior = load_prior()
    fitted = {a["name"]: a["median_price"] for m in prior["markets"].values() for a in m["areas"]}
    by_area: dict[str, list[float]] = defaultdict(list)
    for x in world.listings:
        if x.vertical is Vertical.RESIDENTIAL and x.property_type is not PropertyType.CONDO:
            by_area[x.location.neighborhood].append(x.price)
    checked = 0
    for name, prices in by_area.items():
        if len(prices) >= 80:
            ratio = median(prices) / fitted[name]
            assert 1 / 1.5 < ratio < 1.5, (name, ratio)
            checked += 1
    assert checked >= 15


def test_verticals_carry_their_own_fields(world):
    by_vertical = defaultdict(list)
    for x in world.listings:
        by_vertical[x.vertical].append(x)
    assert set(by_vertical) == set(Vertical)
    commercial = by_vertical[Vertical.COMMERCIAL]
    assert {x.property_type for x in commercial} == {
        PropertyType.OFFICE,
        PropertyType.RETAIL,
        PropertyType.INDUSTRIAL,
        PropertyType.MIXED_USE,
    }
    assert all(x.zoning for x in commercial)
    sales = [x for x in commercial if not x.for_lease]
    assert sales and all(0 < x.cap_rate < 0.2 and x.noi > 0 for x in sales)
    new = by_vertical[Vertical.NEW_CONSTRUCTION]
    assert all(x.builder_incentive and x.completion_date for x in new)
    luxury_median = median(x.price for x in by_vertical[Vertical.LUXURY])
    assert luxury_median > 2 * median(x.price for x in by_vertical[Vertical.RESIDENTIAL])
    assert all(len(x.features) >= 3 for x in by_vertical[Vertical.LUXURY])


def test_converted_leads_closed_a_deal_on_a_sold_listing(world):
    listings = {x.id: x for x in world.listings}
    deals = [e for e in world.events if e.type is EventType.DEAL_CLOSED]
    status = {x.id: x.status for x in world.leads}
    assert deals
    for e in deals:
        assert status[e.lead_id] is LeadStatus.CONVERTED
        assert listings[e.listing_id].status.value == "sold"
        assert e.amount and e.amount > 0
