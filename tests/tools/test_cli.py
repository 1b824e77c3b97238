"""The command line through its real entry point (the installed ``realty-edge`` script)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sync.codec import Format, encode_batch
from tests.factories import NOW_MS, event, small_world

CLI = str(Path(sys.executable).with_name("realty-edge"))
NOW = str(NOW_MS)


def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([CLI, *args], capture_output=True, text=True, timeout=180)
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


#: A small seeded world at a fixed present: the same bytes every time.
GENERATE = ("generate", "--agents", "2", "--leads", "30", "--listings", "200", "--seed", "3")


@pytest.fixture(scope="module")
def world_file(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("world") / "world.jsonl"
    run(*GENERATE, "--now", NOW, "--out", str(out))
    return out


def test_generate_writes_an_ingestible_seeded_batch(world_file, tmp_path):
    again = tmp_path / "again.jsonl"
    proc = run(*GENERATE, "--now", NOW, "--out", str(again))
    assert "30 leads" in proc.stdout and "200 listings" in proc.stdout
    assert again.read_bytes() == world_file.read_bytes()
    other = tmp_path / "other.msgpack"
    run("generate", "--leads", "30", "--listings", "200", "--seed", "4", "--out", str(other))
    assert other.read_bytes()[:1] != b"{"


def test_init_ingest_show_round_trip(world_file, tmp_path):
    db = tmp_path / "device.db"
    assert "ready" in run("device", "init", str(db)).stdout
    proc = run("device", "ingest", str(db), str(world_file))
    assert "30 leads" in proc.stdout
    counts = json.loads(run("device", "show", str(db), "--json").stdout)
    lines = world_file.read_text().splitlines()
    assert counts["leads"] == 30 and counts["listings"] == 200 and counts["agents"] == 2
    assert counts["events"] == len(lines) - 232
    assert counts["outbox_pending"] == len(lines)
    assert counts["profiles"] == counts["plans"] == 0
    table = run("device", "show", str(db)).stdout
    assert "outbox pending" in table and "events" in table
    # Re-ingesting the same file writes nothing and queues nothing (issue 17, item 3).
    again = json.loads(run("device", "ingest", str(db), str(world_file), "--json").stdout)
    assert (again["written"], again["unchanged"]) == (0, len(lines))
    assert json.loads(run("device", "show", str(db), "--json").stdout)["outbox_pending"] == len(
        lines
    )


def test_show_one_lead_lists_its_recent_events(world_file, tmp_path):
    db = tmp_path / "device.db"
    run("device", "init", str(db))
    run("device", "ingest", str(db), str(world_file))
    detail = json.loads(
        run("device", "show", str(db), "lead-000001", "--json", "--events", "4").stdout
    )
    assert detail["lead"]["id"] == "lead-000001"
    assert 1 <= len(detail["recent_events"]) <= 4
    ts = [e["ts"] for e in detail["recent_events"]]
    assert ts == sorted(ts, reverse=True)
    assert "lead-000001" in run("device", "show", str(db), "lead-000001").stdout


def test_bad_batch_exits_non_zero_naming_the_record_and_writes_nothing(tmp_path):
    db = tmp_path / "device.db"
    run("device", "init", str(db))
    bad = tmp_path / "bad.msgpack"
    bad.write_bytes(
        encode_batch([*small_world(1, 1), event(9, lead_id="lead-000404")], Format.MSGPACK)
    )
    proc = run("device", "ingest", str(db), str(bad), ok=False)
    assert proc.returncode == 1
    assert "record 6" in proc.stderr and "lead-000404" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert json.loads(run("device", "show", str(db), "--json").stdout)["events"] == 0


@pytest.mark.parametrize(
    "args,message",
    [
        (("device", "show", "{tmp}/missing.db"), "device init"),
        (("device", "ingest", "{tmp}/d.db", "{tmp}/nofile.jsonl"), "no such file"),
        (("device", "show", "{tmp}/d.db", "lead-424242"), "no lead 'lead-424242'"),
    ],
)
def test_user_errors_are_one_line_without_traceback(tmp_path, args, message):
    run("device", "init", str(tmp_path / "d.db"))
    proc = run(*(a.format(tmp=tmp_path) for a in args), ok=False)
    assert proc.returncode == 1
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_help_lists_every_command():
    out = run("--help").stdout
    for command in ("demo", "generate", "device"):
        assert command in out
    device = run("device", "--help").stdout
    for command in ("init", "ingest", "show"):
        assert command in device
