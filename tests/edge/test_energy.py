from __future__ import annotations

import pytest

from edge.energy import (
    ACTIVE_AGENT_HOUR,
    ASSUMED_VOSK_RTF,
    VOICE_NOTE_SECONDS,
    EnergyMeter,
    EnergyModel,
)
from tests.edge.intel import open_device


def test_model_turns_cpu_bytes_and_syncs_into_joules_and_percent():
    model = EnergyModel(cpu_watts_per_core=1.0, phone_slowdown=2.0, radio_joules_per_byte=1e-6,
                        radio_tail_joules=10.0, battery_joules=10_000.0)  # fmt: skip
    report = model.report({"analyze": (10, 0.5, 1000.0)}, syncs=3)
    assert report.cpu_s == 5.0
    assert report.cpu_joules == 10.0  # 5 s x 2 (phone) x 1 W
    assert report.radio_joules == pytest.approx(0.01 + 30.0)
    assert report.battery_percent == pytest.approx(100 * 40.01 / 10_000, abs=1e-4)
    assert report.per_operation == {"analyze": 10.01, "sync_tails": 30.0}


def test_meter_accumulates_cpu_time_and_bytes_per_operation():
    meter = EnergyMeter()
    for _ in range(3):
        with meter.measure("work") as cost:
            sum(i * i for i in range(20_000))
            cost.bytes_sent += 100
    c = meter.costs["work"]
    assert c.count == 3 and c.bytes_sent == 300 and c.bytes_per_op == 100
    assert c.cpu_s > 0 and c.wall_s > 0


def test_active_agent_hour_uses_the_documented_workload():
    meter = EnergyMeter()
    meter.add("analyze", cpu_s=0.6, count=60)  # 10 ms each
    model = EnergyModel()
    report = meter.active_agent_hour(model)
    voice_cpu = ACTIVE_AGENT_HOUR["voice_note"] * VOICE_NOTE_SECONDS * ASSUMED_VOSK_RTF / 3.0
    assert report.cpu_s == pytest.approx(60 * 0.01 + voice_cpu)
    assert report.syncs == 4
    assert 0 < report.battery_percent < 1


async def test_runtime_operations_are_metered(tmp_path):
    rt = await open_device(tmp_path / "d.db")
    try:
        await rt.predict_behaviour("lead-000001")
        await rt.create_profile("lead-000001")
        costs = rt.energy.costs
        assert costs["predict_behaviour"].count == 1 and costs["predict_behaviour"].cpu_s > 0
        assert costs["create_profile"].bytes_sent > 100  # the profile's outbox change
        assert costs["predict_behaviour"].bytes_sent == 0
    finally:
        await rt.close()
