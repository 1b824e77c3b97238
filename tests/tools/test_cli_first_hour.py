"""What a new user meets in the first hour on the command line (issue 17, items 4-6)."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import socket
import sqlite3
import time
import wave

import msgspec
import numpy as np
import pytest
from typer.testing import CliRunner

from edge.errors import AudioFormatError
from edge.runtime import EdgeRuntime
from edge.voice.audio import read_wav
from sync.codec import Format, encode_batch
from sync.records import Lead
from tests.factories import NOW_MS, lead, small_world
from tests.live_server import run_server
from tools import cli
from tools.cli import app

runner = CliRunner()


def invoke(*args: str, code: int = 0, env: dict[str, str] | None = None):
    result = runner.invoke(app, list(args), env=env)
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result


def flat(result) -> str:
    """The output with rich's line wrapping undone."""
    return " ".join(result.output.split())


def one_second_wav() -> bytes:
    t = np.arange(16_000) / 16_000
    samples = (np.sin(2 * np.pi * 440 * t) * 8000).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16_000)
        w.writeframes(samples.tobytes())
    return buffer.getvalue()


@pytest.mark.parametrize("command", [("device", "show"), ("device", "init")])
def test_device_commands_refuse_a_database_that_is_not_a_device_and_leave_it(tmp_path, command):
    path = tmp_path / "server.db"
    conn = sqlite3.connect(path)
    conn.executescript("CREATE TABLE change_log (team_id TEXT, server_seq INTEGER);")
    conn.close()
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    result = invoke(*command, str(path), code=1)
    assert "is not a realty-edge device database" in flat(result)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_transcribe_of_a_folder_is_a_one_line_error(tmp_path):
    result = invoke("transcribe", str(tmp_path), code=1)
    assert "is a folder" in flat(result)


def test_a_truncated_wav_is_refused(tmp_path):
    cut = one_second_wav()[:10_000]
    with pytest.raises(AudioFormatError, match="truncated WAV: its data chunk says 32000 bytes"):
        read_wav(cut)
    path = tmp_path / "cut.wav"
    path.write_bytes(cut)
    result = invoke("transcribe", str(path), code=1)
    assert "truncated WAV" in flat(result)


def test_device_sync_against_a_silent_server_fails_fast_and_says_why(tmp_path):
    db = tmp_path / "d.db"
    invoke("device", "init", str(db))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    try:
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        started = time.monotonic()
        result = invoke(
            "device",
            "sync",
            str(db),
            "--server",
            url,
            "--timeout",
            "0.2",
            code=1,
            env={"REALTY_EDGE_TOKEN": "from-the-environment", "REALTY_EDGE_SYNC_DEADLINE": "1"},
        )
        assert time.monotonic() - started < 5
    finally:
        sock.close()
    text = flat(result)
    assert "retrying:" in text and "no answer from the server within 0.2 s" in text
    assert "sync unavailable" in text


def test_device_leads_lists_every_lead_as_text_and_json(device_db):
    leads = json.loads(invoke("device", "leads", str(device_db), "--json").stdout)
    assert [x["id"] for x in leads] == ["lead-000003", "lead-000001", "lead-000002"]
    assert set(leads[0]) >= {"id", "name", "language", "status", "last_activity", "p_convert"}
    text = flat(invoke("device", "leads", str(device_db), "--scores"))
    assert "3 leads" in text and "Lead 2" in text and "never" in text and "%" in text


def test_device_today_says_what_to_do_in_words(device_db):
    plan = json.loads(invoke("device", "plan", str(device_db), "lead-000002", "--json").stdout)
    assert "nothing due today" in flat(invoke("device", "today", str(device_db), "--tz", "UTC"))
    first = plan["steps"][0]["id"]

    async def make_due() -> None:
        rt = await EdgeRuntime.open(device_db, create=False)
        try:
            await rt.update(
                "intervention_step", first, channel="call", due_at=rt.now_ms() - 5 * 60_000
            )
        finally:
            await rt.close()

    asyncio.run(make_due())
    steps = json.loads(invoke("device", "today", str(device_db), "--tz", "UTC", "--json").stdout)
    assert [s["step_id"] for s in steps] == [first] and steps[0]["overdue"]
    text = flat(invoke("device", "today", str(device_db), "--tz", "UTC"))
    assert text.startswith("• Call Lead 2 now (due") and "chance of a reply" in text
    assert "unknown time zone 'Nowhere'" in flat(
        invoke("device", "today", str(device_db), "--tz", "Nowhere", code=1)
    )


def test_device_help_lists_every_device_command():
    from tools.cli import device_app

    text = flat(invoke("device", "--help"))
    names = [c.name for c in device_app.registered_commands]
    assert {"leads", "today", "adapt", "sync", "analyze", "plan", "run-due"} <= set(names)
    assert f"The device database: {', '.join(names)}." in text


def test_device_adapt_takes_the_path_first_and_lists_valid_values(device_db):
    draft = json.loads(
        invoke("device", "adapt", str(device_db), "lead-000002", "first_contact", "--json").stdout
    )
    assert draft["language"] == "en"
    bad = flat(invoke("device", "adapt", str(device_db), "lead-000002", "hello", code=1))
    assert "unknown intent 'hello'; one of: first_contact, showing_reminder" in bad
    bad = flat(
        invoke(
            "device",
            "adapt",
            str(device_db),
            "lead-000002",
            "first_contact",
            "--channel",
            "fax",
            code=1,
        )
    )
    assert "unknown channel 'fax'; one of: call, sms, email, whatsapp" in bad
    old = invoke("adapt", "lead-000002", "first_contact", "--device", str(device_db))
    assert "deprecated" in flat(old) and "Lead 2" in old.output


def test_device_ingest_says_what_it_wrote_skipped_and_left(tmp_path):
    db, newer, older = tmp_path / "d.db", tmp_path / "newer.jsonl", tmp_path / "older.jsonl"
    world = [*small_world(1, 1), *(lead(i) for i in range(2, 57))]  # 56 leads
    updated = [
        msgspec.structs.replace(r, updated_at=NOW_MS) if isinstance(r, Lead) else r for r in world
    ]
    newer.write_bytes(encode_batch(updated, Format.JSON))
    older.write_bytes(encode_batch(world, Format.JSON))
    invoke("device", "init", str(db))
    assert "60 written, 0 unchanged" in flat(invoke("device", "ingest", str(db), str(newer)))
    text = flat(invoke("device", "ingest", str(db), str(older)))
    assert "0 written, 4 unchanged, 56 skipped as older than the device's copy" in text
    assert "... and 6 more" in text
    assert f"skipped record 4 (lead lead-000001): updated_at 0 < {NOW_MS} on the device" in text
    report = json.loads(invoke("device", "ingest", str(db), str(older), "--json").stdout)
    assert (report["written"], report["skipped_older"], len(report["skipped"])) == (0, 56, 50)

    async def edit() -> None:
        async with await EdgeRuntime.open(db, create=False) as rt:
            await rt.update("lead", "lead-000002", name="Edited on the phone")

    asyncio.run(edit())
    text = flat(invoke("device", "ingest", str(db), str(newer)))
    assert "59 unchanged, 0 skipped as older than the device's copy, 1 skipped as edited" in text
    assert f"(lead lead-000002): updated_at {NOW_MS} = (edited since) {NOW_MS}" in text


def test_server_token_refuses_a_missing_database(tmp_path):
    db = tmp_path / "missing.db"
    text = flat(invoke("server", "token", "--agent", "a", "--team", "t", "--db", str(db), code=1))
    assert "no server database at" in text and "--create" in text and not db.exists()


def test_a_long_device_sync_prints_its_progress(tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "SYNC_PROGRESS_AFTER_S", 0.0)
    db, batch = tmp_path / "d.db", tmp_path / "w.jsonl"
    batch.write_bytes(encode_batch(small_world(2, 3), Format.JSON))
    invoke("device", "init", str(db))
    invoke("device", "ingest", str(db), str(batch))
    with run_server(tmp_path / "server.db") as server:
        env = {"REALTY_EDGE_TOKEN": server.token()}
        text = flat(invoke("device", "sync", str(db), "--server", server.url, env=env))
    assert "… pushed 11 · pulled 0 (0 pages)" in text
    assert "… pushed 11 · pulled 0 (1 pages)" in text
    assert "pushed 11 · pulled 0 · conflicts 0 · checkpoint 11 · ok" in text
