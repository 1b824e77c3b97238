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
    model = EnergyModel(
        cpu_watts_per_core=1.0,
        phone_slowdown=2.0,
        radio_joules_per_byte=1e-6,
        radio_tail_joules=10.0,
        battery_joules=10_000.0,
    )
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


def test_speech_costs_per_second_of_audio_never_per_clip():
    meter = EnergyMeter()
    with meter.measure("voice_note") as cost:  # a 4 s clip that took 2 s of CPU
        cost.audio_s += 4.0
    meter.costs["voice_note"].cpu_s = 2.0
    meter.add("voice_model_load", cpu_s=5.0)  # once per process: not part of a note
    assert meter.speech_rtf() == 0.5
    hour = meter.active_agent_hour()
    per_note = 0.5 * VOICE_NOTE_SECONDS
    assert hour.cpu_s == pytest.approx(ACTIVE_AGENT_HOUR["voice_note"] * per_note)
    assumed = meter.active_agent_hour(assume_speech=True)
    assert assumed.cpu_s == pytest.approx(
        ACTIVE_AGENT_HOUR["voice_note"] * VOICE_NOTE_SECONDS * ASSUMED_VOSK_RTF / 3.0
    )
    assert EnergyMeter().speech_rtf() is None


def test_the_total_is_what_was_measured_without_extrapolation():
    meter = EnergyMeter()
    meter.add("analyze", cpu_s=0.5, bytes_sent=1000, count=30)
    total = meter.total(EnergyModel(radio_joules_per_byte=1e-3))
    assert total.cpu_s == 0.5 and total.bytes_sent == 1000 and total.syncs == 0
    assert total.joules == pytest.approx(0.5 * 3.0 + 1.0)


async def test_a_transcription_is_metered_apart_from_loading_its_model(tmp_path):
    import shutil
    import subprocess

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    wav = tmp_path / "note.wav"
    subprocess.run(
        ["espeak-ng", "-v", "ko", "-w", str(wav), "안녕하세요"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    rt = await open_device(tmp_path / "d.db")
    try:
        if "ko" not in rt.voice_languages():
            pytest.skip("no Korean Vosk model here")
        t = await rt.transcribe(wav, language="ko")
        costs = rt.energy.costs
        assert costs["voice_note"].audio_s == pytest.approx(t.duration_s)
        assert costs["voice_model_load"].count == 1
        assert rt.load_voice_model("ko") == "ko"
    finally:
        await rt.close()
