"""`make demo`'s loop, end to end: real server on loopback, two device files, real retraining.

The retraining is the server's default (the shipped recipe on the synced outcomes plus the base
corpus), so this is the slowest test of the suite (about a minute).
"""

from __future__ import annotations

import io

from rich.console import Console

from tools.demo import run_demo

#: A fixed present (2026-11-25 12:00 UTC), so the generated world, and the run, repeat.
NOW = 1_795_608_000_000


async def test_the_demo_runs_the_loop_and_both_devices_swap_to_the_promoted_model(tmp_path):
    out = io.StringIO()
    console = Console(file=out, width=160)
    figures = await run_demo(
        tmp_path / "demo", leads=150, listings=1000, seed=7, console=console, now_ms=NOW
    )
    text = out.getvalue()

    assert figures["conflicts"] >= 1
    assert figures["bytes_sent"] > 0 and figures["bytes_received"] > figures["bytes_sent"]
    assert figures["retrain"] == "promoted", text
    before, after = figures["versions_before"]["behaviour"], figures["versions_after"]["behaviour"]
    assert after != before
    assert len(figures["installed"]) == 2
    assert all(new == {"behaviour": after} for new in figures["installed"].values())
    # What `make demo` prints (the command passes its console to run_demo; its wiring is
    # checked by --help in test_cli, the loop once, here).
    for part in (
        "ingested",
        "analyses",
        "synced",
        "conflict on",
        "bytes synced",
        "models after",
        "latency on the devices",
        "analyze",
        "sync",
        "modeled battery",
        "installed on the devices",
        "realty-edge app --device",
    ):
        assert part in text
    # The devices' files are real and reopenable where the report says.
    assert (tmp_path / "demo" / "server.db").exists()
    assert len(list((tmp_path / "demo").glob("agent-*.db"))) == 2
