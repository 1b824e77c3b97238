"""The sync crash campaign: 100 seeded runs converge, and its checks catch what they look for.

The seed is fresh each time and printed (``CHAOS_SEED=<n>`` repeats a campaign).
"""

from __future__ import annotations

import os
import random
import shutil
import sqlite3
from pathlib import Path

import msgspec
import pytest

from tools.bench_chaos import DAY_MS, HOUR_MS, recheck, run, team_of

RUNS = 100


def campaign_seed() -> int:
    seed = int(os.environ.get("CHAOS_SEED") or random.SystemRandom().randrange(2**31))
    print(f"chaos seed {seed} (CHAOS_SEED={seed} repeats it)")
    return seed


@pytest.mark.timeout(900)  # ~30 CPU seconds; minutes of wall clock on a shared 2-core machine
def test_a_hundred_runs_with_kills_duplicates_reorders_and_skew_lose_and_double_nothing():
    counts = run(RUNS, campaign_seed())
    print(counts)
    assert counts.failures == []
    assert (counts.runs, counts.converged, counts.lost, counts.doubled) == (RUNS, RUNS, 0, 0)
    assert counts.server_kills >= 1 and counts.device_kills >= 1
    assert counts.duplicates > RUNS and counts.reorders > RUNS // 2
    assert HOUR_MS < counts.max_skew_ms <= DAY_MS
    assert counts.changes >= counts.writes > 0


@pytest.fixture(scope="module")
def kept(tmp_path_factory) -> tuple[Path, int]:
    """One run (with a server kill and a device kill) whose files stay for tampering."""
    folder = tmp_path_factory.mktemp("chaos")
    seed = campaign_seed()
    counts = run(1, seed, folder=folder, keep=True)
    assert counts.ok, counts.failures
    return folder, seed


def _server(folder: Path, sql: str, params: tuple = ()) -> None:
    with sqlite3.connect(folder / "server.db") as conn:
        conn.execute(sql, params)


def test_the_untouched_run_passes_the_check_again(kept):
    folder, seed = kept
    assert recheck(folder, seed).ok


def test_a_change_missing_from_the_server_log_counts_as_lost(kept, tmp_path):
    folder, seed = kept
    copy = shutil.copytree(folder, tmp_path / "copy")
    _server(
        copy,
        "DELETE FROM change_log WHERE team_id = ? AND server_seq = "
        "(SELECT max(server_seq) FROM change_log WHERE team_id = ?)",
        (team_of(seed, 0), team_of(seed, 0)),
    )
    counts = recheck(copy, seed)
    assert counts.lost == 1 and not counts.ok


def test_a_change_logged_twice_counts_as_doubled(kept, tmp_path):
    folder, seed = kept
    copy = shutil.copytree(folder, tmp_path / "copy")
    team = team_of(seed, 0)
    _server(
        copy,
        "INSERT INTO change_log (team_id, server_seq, entity, entity_id, payload) "
        "SELECT team_id, server_seq + 1000000, entity, entity_id, payload FROM change_log "
        "WHERE team_id = ? ORDER BY server_seq LIMIT 1",
        (team,),
    )
    counts = recheck(copy, seed)
    assert counts.doubled == 1 and not counts.ok


def test_a_device_that_differs_from_the_server_has_not_converged(kept, tmp_path):
    folder, seed = kept
    copy = shutil.copytree(folder, tmp_path / "copy")
    device = copy / "run-0-device-2.db"
    with sqlite3.connect(device) as conn:
        lead = conn.execute("SELECT id FROM leads ORDER BY id LIMIT 1").fetchone()[0]
        conn.execute("DELETE FROM events WHERE lead_id = ?", (lead,))
        conn.execute("DELETE FROM leads WHERE id = ?", (lead,))
        conn.execute("DELETE FROM sync_entities WHERE entity = 'lead' AND entity_id = ?", (lead,))
    counts = recheck(copy, seed)
    assert counts.converged == 0 and counts.lost == 0 and not counts.ok


def test_the_command_prints_the_counts_and_exits_0_when_nothing_failed():
    from typer.testing import CliRunner

    from tools.cli import app

    result = CliRunner().invoke(app, ["bench", "chaos", "--runs", "2", "--seed", "7", "--json"])
    assert result.exit_code == 0, result.output
    counts = msgspec.json.decode(result.stdout.strip().splitlines()[-1])
    assert counts["seed"] == 7 and counts["runs"] == counts["converged"] == 2
    assert (counts["lost"], counts["doubled"]) == (0, 0) and counts["kills"] >= 1
