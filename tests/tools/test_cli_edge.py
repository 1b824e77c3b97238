"""``device analyze``, ``device plan``, ``device run-due`` and ``bench edge`` (in process)."""

from __future__ import annotations

import asyncio
import json

from typer.testing import CliRunner

from edge.runtime import EdgeRuntime
from tests.edge.intel import open_device
from tools.cli import app

runner = CliRunner()


def invoke(*args: str, code: int = 0):
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result


def test_device_analyze_prints_the_analysis_as_json_and_as_text(device_db):
    data = json.loads(invoke("device", "analyze", str(device_db), "lead-000003", "--json").stdout)
    assert set(data) >= {"behaviour", "vertical", "profile", "recommendations", "plan"}
    assert data["vertical"]["vertical"] == "commercial"
    text = invoke("device", "analyze", str(device_db), "lead-000001").stdout
    assert "P(convert)" in text and "lead-000001" in text
    # An analysis only proposes a plan: it names no plan id that `device show` would not hold.
    assert "proposed plan (not saved" in " ".join(text.split())


def test_device_plan_and_run_due(device_db):
    plan = json.loads(invoke("device", "plan", str(device_db), "lead-000002", "--json").stdout)
    assert plan["status"] == "active" and plan["steps"]
    # The CLI's clock is the wall clock: the plan's steps lie ahead, nothing is due yet.
    report = json.loads(invoke("device", "run-due", str(device_db), "--json").stdout)
    assert report["fired"] == [] and report["rescheduled"] == 0
    first = plan["steps"][0]["id"]

    async def make_due() -> None:
        rt = await EdgeRuntime.open(device_db, create=False)
        try:  # an email step five minutes overdue: runs whatever the hour
            await rt.update(
                "intervention_step", first, channel="email", due_at=rt.now_ms() - 5 * 60_000
            )
        finally:
            await rt.close()

    asyncio.run(make_due())
    out = invoke("device", "run-due", str(device_db)).stdout
    assert "email draft" in out and "1 tasks" in out
    assert "0 tasks" in invoke("device", "run-due", str(device_db)).stdout


def test_unknown_lead_and_missing_database_are_one_line_errors(device_db, tmp_path):
    result = invoke("device", "analyze", str(device_db), "nobody", code=1)
    assert "nobody" in result.output and "Traceback" not in result.output
    result = invoke("device", "plan", str(tmp_path / "none.db"), "lead-000001", code=1)
    assert "no device database" in result.output


def test_a_lead_with_every_channel_blocked_gets_an_empty_plan_with_the_reason(tmp_path):
    from sync.records import Consent
    from tests.edge.intel import records

    recs = [r for r in records() if getattr(r, "id", "") != "lead-000002"]
    from tests.factories import lead

    recs.append(lead(2, consent=Consent(call=False, sms=False, email=False, whatsapp=False)))
    path = tmp_path / "d.db"

    async def build() -> None:
        rt = await open_device(path, recs)
        await rt.close()

    asyncio.run(build())
    out = invoke("device", "plan", str(path), "lead-000002").stdout
    assert "every channel is blocked" in out


def test_bench_edge_reports_every_key(tmp_path):
    data = json.loads(
        invoke(
            "bench", "edge", "--leads", "40", "--listings", "300", "--calls", "10", "--json"
        ).stdout
    )
    assert set(data["operations"]) == {
        "predict_behaviour",
        "analyze",
        "create_profile",
        "recommend",
        "adapt_style",
        "adapt_message",
    }
    for row in data["operations"].values():
        assert set(row) == {"p50_ms", "p95_ms", "p99_ms", "n"} and row["n"] == 10
        assert 0 < row["p50_ms"] <= row["p95_ms"] <= row["p99_ms"]
    for key in (
        "language_texts_per_s",
        "vosk_rtf",
        "rss_mb",
        "energy_percent_per_hour",
        "cache_hit_rate",
    ):
        assert key in data
    assert 0.8 < data["cache_hit_rate"] <= 1.0
    assert 0 < data["energy_percent_per_hour"] < 5


def test_device_release_quarantine_puts_refused_changes_back_in_line(device_db):
    import sqlite3

    conn = sqlite3.connect(device_db)
    with conn:
        conn.execute(
            "UPDATE outbox SET quarantined_at = 1, quarantine_reason = 'refused' "
            "WHERE seq IN (SELECT seq FROM outbox WHERE sent_at IS NULL ORDER BY seq LIMIT 3)"
        )
    conn.close()

    async def quarantined() -> int:
        async with await EdgeRuntime.open(device_db) as rt:
            return await rt.quarantined()

    assert asyncio.run(quarantined()) == 3
    out = invoke("device", "release-quarantine", str(device_db)).stdout
    assert "released 3 quarantined changes" in out
    assert asyncio.run(quarantined()) == 0
    assert "released 0" in invoke("device", "release-quarantine", str(device_db)).stdout
