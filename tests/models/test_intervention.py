"""The intervention model: candidate encoding, training rows, the shipped int8 artifact, Qini."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.artifact import ARTIFACT_DIR, load_verified
from models.errors import TrainingDataError
from models.evaluation.uplift import perfect_score, qini_coefficient, qini_curve
from models.features import FEATURE_INDEX, N_FEATURES, columns_from_records, extract
from models.features.extract import utc_offset_ms
from models.intervention import (
    CANDIDATE_NAMES,
    INTERVENTION_SPEC_HASH,
    N_INPUT,
    NAME,
    CandidateError,
    candidate_matrix,
    local_hour_of_week,
)
from models.intervention.candidate import lead_history, score_rows, score_slots
from models.intervention.dataset import build_rows
from models.train_common import fit_tabular
from sync.records import OUTREACH_CHANNELS, Channel, Event, EventType, Lead

SEED = 20260601
HOUR = 3_600_000
DAY = 24 * HOUR
MONDAY = 4 * DAY  # 1970-01-05 00:00 UTC was a Monday


def col(name: str) -> int:
    return N_FEATURES + CANDIDATE_NAMES.index(name)


def test_candidate_matrix_is_channel_major_over_the_whole_week():
    m = candidate_matrix(np.zeros(N_FEATURES, np.float32))
    assert m.shape == (4 * 168, N_INPUT) == (672, N_FEATURES + 32)
    assert m.dtype == np.float32
    grid = m[:, N_FEATURES : N_FEATURES + 4].reshape(4, 168, 4)
    for c in range(4):
        assert (grid[c] == np.eye(4)[c]).all()


def test_candidate_encoding_literal_values():
    x = np.zeros(N_FEATURES, np.float32)
    x[FEATURE_INDEX["activity_frac_hour_12"]] = 0.5
    x[FEATURE_INDEX["activity_frac_tue"]] = 0.25
    x[FEATURE_INDEX["activity_hour_cos"]] = -0.5
    x[FEATURE_INDEX["reply_rate_sms"]] = 0.75
    x[FEATURE_INDEX["consent_sms"]] = 1.0
    tue_noon, sat_10, mon_3 = 24 + 12, 5 * 24 + 10, 3
    m = candidate_matrix(x, [Channel.SMS, "call"], [tue_noon, sat_10, mon_3])
    sms_noon = m[0]
    assert sms_noon[:N_FEATURES].tolist() == x.tolist()
    assert sms_noon[col("channel_sms")] == 1.0 and sms_noon[col("channel_call")] == 0.0
    assert sms_noon[col("hour_sin")] == pytest.approx(0.0, abs=1e-6)
    assert sms_noon[col("hour_cos")] == pytest.approx(-1.0)
    assert sms_noon[col("dow_sin")] == pytest.approx(math.sin(2 * math.pi / 7))
    assert sms_noon[col("dow_cos")] == pytest.approx(math.cos(2 * math.pi / 7))
    assert sms_noon[col("weekend")] == 0.0 and sms_noon[col("night")] == 0.0
    assert sms_noon[col("activity_at_hour")] == pytest.approx(12.0)  # 0.5 x 24
    assert sms_noon[col("activity_alignment")] == pytest.approx(0.5)  # (-0.5) x (-1)
    assert sms_noon[col("activity_on_day")] == pytest.approx(1.75)  # 0.25 x 7
    assert sms_noon[col("ch_reply_rate")] == pytest.approx(0.75)
    assert sms_noon[col("ch_consent")] == 1.0
    assert m[1][col("weekend")] == 1.0 and m[1][col("night")] == 0.0
    assert m[2][col("night")] == 1.0
    call_noon = m[3]
    assert call_noon[col("channel_call")] == 1.0 and call_noon[col("ch_reply_rate")] == 0.0


def test_lead_history_counts_the_leads_own_actions_by_kind_of_day_not_the_agents():
    from models.features import columns_from_records
    from models.intervention.candidate import N_HISTORY, lead_history

    tue_20h = MONDAY + DAY + 20 * HOUR
    sat_11h = MONDAY + 5 * DAY + 11 * HOUR
    events = [
        _event(1, EventType.PROPERTY_VIEW, tue_20h, Channel.WEB),
        _event(2, EventType.INQUIRY, tue_20h + 7 * DAY, Channel.WEB),
        _event(3, EventType.PROPERTY_SAVE, sat_11h, Channel.WEB),
        # the agent's outreach at 10:00 and the reply it prompts do not count as the lead's hours
        _event(4, EventType.MESSAGE_OUT, MONDAY + 2 * DAY + 10 * HOUR, Channel.SMS),
        _event(5, EventType.MESSAGE_IN, MONDAY + 2 * DAY + 10 * HOUR + 60_000, Channel.SMS),
        _event(6, EventType.PROPERTY_VIEW, MONDAY + 30 * DAY, Channel.WEB),  # after the cut
    ]
    cols = columns_from_records(sorted(events, key=lambda e: e.ts), {})
    h = lead_history(cols, 0, before_ms=MONDAY + 20 * DAY)
    assert h.shape == (N_HISTORY,)
    weekday, weekend = h[:24], h[24:48]
    assert int(np.argmax(weekday)) == 20 and int(np.argmax(weekend)) == 11
    assert weekday.sum() == pytest.approx(1.0) and weekend.sum() == pytest.approx(1.0)
    assert weekday[10] < 1e-6  # the outreach hour is not the lead's
    assert h[48] == pytest.approx(math.log(3)) and h[49] == pytest.approx(math.log(2))
    assert h[51] == pytest.approx(math.log(2))  # one sms reply in, sms is channel 1
    m = candidate_matrix(
        np.zeros(N_FEATURES, np.float32), ["sms"], [24 + 20, 5 * 24 + 11], history=h
    )
    assert m[0, col("own_at_hour")] == pytest.approx(24 * weekday[20])
    assert m[1, col("own_at_hour")] == pytest.approx(24 * weekend[11])
    assert m[1, col("own_at_hour_weekday")] == pytest.approx(24 * weekday[11])
    assert m[1, col("own_log1p_actions_daytype")] == pytest.approx(math.log(2))
    assert m[0, col("ch_log1p_inbound_all")] == pytest.approx(math.log(2))


def test_candidate_says_where_the_hour_stands_in_the_leads_profile_and_its_channel_shares():
    from models.features import columns_from_records
    from models.intervention.candidate import lead_history

    tue_20h = MONDAY + DAY + 20 * HOUR
    events = [
        _event(1, EventType.PROPERTY_VIEW, tue_20h, Channel.WEB),
        _event(2, EventType.INQUIRY, tue_20h + 7 * DAY, Channel.WEB),
        _event(3, EventType.MESSAGE_IN, tue_20h + 8 * DAY, Channel.SMS),
    ]
    cols = columns_from_records(events, {})
    home = lead_history(cols, 0)
    abroad = lead_history(cols, 0, country="KR")
    assert home[54] == 0.0 and abroad[54] == 1.0
    assert lead_history(cols, 0, country="us")[54] == 0.0
    x = np.zeros(N_FEATURES, np.float32)
    x[FEATURE_INDEX["log1p_outreach_sms"]] = math.log(4)  # 3 sms
    x[FEATURE_INDEX["log1p_outreach_call"]] = math.log(2)  # 1 call
    x[FEATURE_INDEX["log1p_replied_sms"]] = math.log(3)  # 2 replies
    tue_14h, sat_11h = 24 + 14, 5 * 24 + 11
    m = candidate_matrix(x, ["sms", "call"], [24 + 20, tue_14h, sat_11h], history=abroad)
    sms_20, sms_14, sms_sat = m[0], m[1], m[2]
    assert sms_20[col("own_rel_peak")] == pytest.approx(1.0)
    assert sms_20[col("own_peak_dist")] == 0.0
    assert 0.0 < sms_14[col("own_rel_peak")] < 0.5
    assert sms_14[col("own_peak_dist")] == pytest.approx(1.0)  # 6 hours from the peak
    # no weekend actions: no profile to stand in
    assert sms_sat[col("own_rel_peak")] == 0.0 and sms_sat[col("own_peak_dist")] == 1.0
    assert sms_20[col("ch_outreach_share")] == pytest.approx(0.75)
    assert m[3][col("ch_outreach_share")] == pytest.approx(0.25)
    assert sms_20[col("ch_reply_shrunk")] == pytest.approx((2 + 1) / (3 + 3))
    assert sms_20[col("ch_inbound_share")] == 1.0 and m[3][col("ch_inbound_share")] == 0.0
    assert sms_20[col("abroad_sms")] == 1.0 and sms_20[col("abroad_call")] == 0.0
    assert m[3][col("abroad_call")] == 1.0
    home_m = candidate_matrix(x, ["sms"], [24 + 20], history=home)
    assert home_m[0, col("abroad_sms")] == 0.0


def test_candidate_errors_name_the_bad_value():
    x = np.zeros(N_FEATURES, np.float32)
    with pytest.raises(CandidateError, match="web"):
        candidate_matrix(x, ["web"], [0])
    with pytest.raises(CandidateError, match="168"):
        candidate_matrix(x, ["sms"], [168])
    with pytest.raises(CandidateError, match="columns"):
        candidate_matrix(np.zeros(5), ["sms"], [0])


def test_local_hour_of_week():
    assert local_hour_of_week(MONDAY, 0) == 0
    assert local_hour_of_week(MONDAY + 36 * HOUR + 59_000, 0) == 36  # Tuesday 12:00:59
    assert local_hour_of_week(MONDAY, -8 * HOUR) == 6 * 24 + 16  # Sunday 16:00 in UTC-8


def _lead() -> Lead:
    return Lead(
        id="lead-1",
        agent_id="agent-01",
        team_id="team-a",
        name="A B",
        timezone="UTC",
        created_at=MONDAY - 30 * DAY,
    )


def _event(i: int, kind: EventType, ts: int, channel: Channel) -> Event:
    return Event(id=f"evt-{i}", lead_id="lead-1", type=kind, ts=ts, channel=channel)


def test_rows_label_a_reply_on_the_same_channel_within_20_hours():
    t = MONDAY + 10 * DAY + 9 * HOUR  # Thursday 1970-01-15 09:00 UTC
    events = [
        _event(1, EventType.MESSAGE_OUT, t, Channel.SMS),
        _event(2, EventType.MESSAGE_IN, t + HOUR, Channel.SMS),  # reply -> 1
        _event(3, EventType.CALL_OUT, t + 2 * DAY, Channel.CALL),
        _event(4, EventType.MESSAGE_IN, t + 2 * DAY + HOUR, Channel.SMS),  # not a call back
        _event(5, EventType.MESSAGE_OUT, t + 4 * DAY, Channel.EMAIL),
        _event(6, EventType.MESSAGE_IN, t + 4 * DAY + 21 * HOUR, Channel.EMAIL),  # too late
    ]
    rows = build_rows([_lead()], events, [])
    assert rows.y.tolist() == [1.0, 0.0, 0.0]
    assert rows.channel.tolist() == [1, 0, 2]
    assert rows.hour_of_week.tolist() == [3 * 24 + 9, 5 * 24 + 9, 0 * 24 + 9]  # Thu, Sat, Mon
    assert rows.x.shape == (3, N_INPUT)
    # features stop before the outreach: the first row has seen no sms outreach yet
    assert rows.x[0, FEATURE_INDEX["log1p_outreach_sms"]] == 0.0
    assert rows.x[1, FEATURE_INDEX["log1p_outreach_sms"]] == pytest.approx(math.log(2))


def test_single_class_data_is_refused():
    x = np.random.default_rng(SEED).normal(size=(50, N_INPUT)).astype(np.float32)
    with pytest.raises(TrainingDataError, match="both classes"):
        fit_tabular(x, np.zeros(50, np.float32))


# --- the shipped model ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped():
    pytest.importorskip("tflite_runtime.interpreter")
    from models.tflite import TFLiteModel

    return TFLiteModel.load(ARTIFACT_DIR, NAME, INTERVENTION_SPEC_HASH)


def test_manifest_verifies_and_golden_cases_reproduce(shipped):
    blob, manifest = load_verified(ARTIFACT_DIR, NAME, INTERVENTION_SPEC_HASH)
    assert type(shipped._interp).__module__.startswith("tflite_runtime")
    widths = sorted(spec.shape[-1] for spec in manifest.inputs)
    assert [spec.dtype for spec in manifest.inputs] == ["int8", "int8"]
    assert widths == [N_INPUT - N_FEATURES, N_FEATURES]  # factored: slots, lead
    assert manifest.size == len(blob) < 500_000
    assert manifest.metrics["auc"] > 0.6
    for case in manifest.golden:
        flat = np.asarray(case.input, np.float32)
        parts = np.split(flat, np.cumsum(shipped.input_sizes)[:-1])
        out = shipped.predict(*(p[None] for p in parts))[0][0]
        assert np.allclose(out, case.output, atol=case.tolerance)


def test_the_whole_week_is_one_batched_invoke_with_the_lead_part_run_once(shipped):
    x = np.zeros(N_FEATURES, np.float32)
    ch, hours = np.repeat(np.arange(4), 168), np.tile(np.arange(168), 4)
    p = score_slots(shipped, x, ch, hours, None)
    assert p.shape == (672,)
    assert ((p >= 0) & (p <= 1)).all()
    # broadcasting one lead row gives what one full row per candidate gives
    assert np.array_equal(p, score_rows(shipped, candidate_matrix(x)))


def test_a_model_with_one_input_is_refused_by_name(shipped):
    class OneInput:
        input_names = ("serving_default_features:0",)

    with pytest.raises(CandidateError, match="two inputs"):
        score_slots(
            OneInput(), np.zeros(N_FEATURES, np.float32), np.array([0]), np.array([9]), None
        )


def test_model_prefers_a_leads_peak_hours_over_3am(shipped):
    from models.synthetic import generate_world

    print(f"seed {SEED}")
    w = generate_world(agents=2, leads=80, listings=600, seed=SEED)
    listing_by_id = {li.id: li for li in w.listings}
    by: dict[str, list[Event]] = {}
    for e in w.events:
        by.setdefault(e.lead_id, []).append(e)
    wins, total = 0, 0
    for lead, truth in zip(w.leads, w.truth, strict=True):
        peak = int(truth.peak_hour_weekday)
        if not 8 <= peak <= 21:
            continue
        cols = columns_from_records(by.get(lead.id, ()), listing_by_id)
        x = extract(lead, cols, w.now_ms)
        history = lead_history(cols, utc_offset_ms(lead.timezone, w.now_ms), country=lead.country)
        ch = OUTREACH_CHANNELS.index(truth.preferred_channel)
        grid = score_rows(shipped, candidate_matrix(x, history=history)).reshape(4, 168)[ch]
        days = np.arange(1, 4) * 24  # Tuesday .. Thursday
        wins += grid[days + peak].mean() > grid[days + 3].mean()
        total += 1
    assert total >= 40
    assert wins / total >= 0.9, f"peak beat 3 a.m. for {wins} of {total} leads"


# --- Qini ------------------------------------------------------------------------------------


def test_qini_of_a_perfect_ranking_beats_random():
    rng = np.random.default_rng(SEED)
    n = 2000
    t = rng.random(n) < 0.5
    y = rng.random(n) < 0.3
    perfect = qini_coefficient(y, t, perfect_score(y, t))
    random = qini_coefficient(y, t, rng.random(n))
    assert perfect > 0.05 > abs(random)


def test_qini_curve_literal_points():
    # treated responder, control non-responder, treated non-responder, control responder
    frac, q = qini_curve([1, 0, 0, 1], [1, 0, 1, 0], [4, 3, 2, 1])
    assert frac.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert q.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]
    assert qini_coefficient([1, 0, 0, 1], [1, 0, 1, 0], [4, 3, 2, 1]) == pytest.approx(
        0.75 / 4
    )  # trapezoids 0.125 + 0.25 + 0.25 + 0.125
