"""detect-language and adapt through the installed entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sync.codec import Format, encode_batch
from sync.records import Event, EventType
from tests.factories import NOW_MS, agent, lead, listing

CLI = str(Path(sys.executable).with_name("realty-edge"))


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, *args], input=stdin, capture_output=True, text=True, timeout=180)


def test_detect_language_writes_one_json_object_per_input_line():
    texts = [
        "Is the house still available for a showing on Saturday?",
        "¿La casa sigue disponible? Quisiera verla el sábado.",
        "",
        "4521",
        "이 집을 토요일에 보고 싶습니다.",
    ]
    proc = run("detect-language", stdin="\n".join(texts) + "\n")
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["language"] for r in rows] == ["en", "es", "unknown", "unknown", "ko"]
    assert all(0.0 <= r["confidence"] <= 1.0 for r in rows)


@pytest.fixture
def device(tmp_path) -> Path:
    db = tmp_path / "d.db"
    records = [
        agent(1),
        listing(1, price=615_000.0, sqft=1500.0),
        lead(1, language="es", locale="es_MX", timezone="America/Mexico_City", country="MX"),
        lead(2, language="ko", locale="ko_KR", timezone="Asia/Seoul", country="KR"),
        Event(
            id="ev-1",
            lead_id="lead-000001",
            type=EventType.PROPERTY_SAVE,
            ts=NOW_MS - 3_600_000,
            listing_id="lst-000001",
        ),
        Event(
            id="ev-2",
            lead_id="lead-000002",
            type=EventType.PROPERTY_VIEW,
            ts=NOW_MS - 3_600_000,
            listing_id="lst-000001",
        ),
    ]
    batch = tmp_path / "b.msgpack"
    batch.write_bytes(encode_batch(records, Format.MSGPACK))
    assert run("device", "ingest", str(db), str(batch)).returncode == 1  # not initialized
    assert run("device", "init", str(db)).returncode == 0
    assert run("device", "ingest", str(db), str(batch)).returncode == 0
    return db


def test_adapt_drafts_in_the_leads_language_and_locale(device):
    es = run("adapt", "lead-000001", "new_listing_match", "--device", str(device), "--json")
    assert es.returncode == 0, es.stderr
    draft = json.loads(es.stdout)
    assert (
        draft["language"] == "es"
        and "615,000" in draft["text"]
        and "615,000.00" not in draft["text"]
    )
    assert "m²" in draft["text"]
    ko = json.loads(
        run("adapt", "lead-000002", "new_listing_match", "--device", str(device), "--json").stdout
    )
    assert ko["language"] == "ko" and "m²" in ko["text"]
    assert ko["send_at_local"].endswith("+09:00")
    plain = run(
        "adapt",
        "lead-000001",
        "price_change",
        "--device",
        str(device),
        "--old-price",
        "650000",
        "--new-price",
        "615000",
    )
    assert plain.returncode == 0 and "650,000" in plain.stdout


@pytest.mark.parametrize(
    "args,code,message",
    [
        (("lead-000001", "haiku"), 1, "unknown intent 'haiku'; one of: first_contact"),
        (("lead-000001", "price_change"), 1, "needs 'old_price'"),
        (("lead-999999", "first_contact"), 1, "no lead 'lead-999999'"),
    ],
)
def test_adapt_refuses_clearly(device, args, code, message):
    proc = run("adapt", *args, "--device", str(device))
    assert proc.returncode == code
    assert message in proc.stderr and "Traceback" not in proc.stderr


CLIP = Path(__file__).resolve().parents[2].parent / "shared/data/korean-speech/etts_kih00001.wav"


@pytest.mark.skipif(not CLIP.exists(), reason="Korean test clips not beside the project")
def test_transcribe_prints_text_language_and_real_time_factor():
    proc = run("transcribe", str(CLIP))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["language"] == "ko" and "힘내세요" in result["text"]
    assert 0 < result["real_time_factor"] < 5


def test_transcribe_refuses_bad_audio_and_missing_languages(tmp_path):
    not_wav = tmp_path / "note.mp3"
    not_wav.write_bytes(b"ID3\x03\x00" + b"\x00" * 200)
    proc = run("transcribe", str(not_wav))
    assert proc.returncode == 1 and "expected a WAV file" in proc.stderr
    if CLIP.exists():
        proc = run("transcribe", str(CLIP), "--language", "fr")
        assert proc.returncode == 1 and "no Vosk model for 'fr'; installed: ko" in proc.stderr
    proc = run("transcribe", str(not_wav), "--model-dir", str(tmp_path))
    assert proc.returncode == 2 and "--model-dir needs --language" in proc.stderr
