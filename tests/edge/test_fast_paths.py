"""The runtime's fast paths give what the plain paths give: reads, plan scoring, memos."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import numpy as np
import pytest

from edge.db_thread import DbThreadClosedError
from edge.personalization import _FLAG_RE, text_flags
from edge.planner import SCORED_HOURS, PlanInputs, make_plan, plan_history, score_grid
from edge.vertical import _PATTERNS, detect_vertical, keyword_hits
from models.features import empty_columns
from sync.records import OUTREACH_CHANNELS, Channel, EventType
from tests.edge.intel import open_device
from tests.factories import HOUR_MS, NOW_MS, event


async def test_the_reader_sees_each_committed_write_at_once(device):
    reader = device._analyst.reader
    count = "SELECT count(*) FROM events WHERE lead_id = ?"
    before = (await reader.fetchone(count, ("lead-000002",)))[0]
    first = await device.predict_behaviour("lead-000002")
    await device.put(
        [
            event(
                990,
                lead_id="lead-000002",
                type=EventType.MESSAGE_IN,
                channel=Channel.SMS,
                listing_id=None,
                dwell_s=None,
                ts=NOW_MS - HOUR_MS,
                text="yes",
            )
        ]
    )
    assert (await reader.fetchone(count, ("lead-000002",)))[0] == before + 1
    assert len((await device._analyst.snapshot("lead-000002")).cols) == before + 1
    again = await device.predict_behaviour("lead-000002")
    assert (first.events, again.events) == (before, before + 1)


async def test_the_reader_cannot_write(device):
    with pytest.raises(sqlite3.OperationalError):
        await device._analyst.reader.fetchall("DELETE FROM events")
    assert (await device._analyst.reader.fetchone("SELECT count(*) FROM events"))[0] > 0


async def test_closing_the_runtime_closes_its_reader(tmp_path):
    rt = await open_device(tmp_path / "d.db")
    reader = rt._analyst.reader
    await rt.close()
    with pytest.raises(DbThreadClosedError):
        await reader.fetchone("SELECT 1")


class CountingModel:
    """The intervention model, counting the rows it scores."""

    def __init__(self, model):
        self.model, self.manifest, self.rows = model, model.manifest, 0
        self.input_names = model.input_names
        self.leads = 0

    def predict(self, *xs: np.ndarray) -> list[np.ndarray]:
        lead, slots = sorted(xs, key=lambda x: -x.shape[1])  # the lead part is the wider
        self.rows += len(slots)
        self.leads += len(lead)
        return self.model.predict(*xs)


async def test_a_plan_scores_only_open_slots_with_the_full_grids_values(device):
    # Outreach an hour ago closes the next day's slots (MIN_GAP_H) on every channel.
    await device.put(
        [
            event(
                991,
                lead_id="lead-000002",
                type=EventType.MESSAGE_OUT,
                channel=Channel.SMS,
                listing_id=None,
                dwell_s=None,
                ts=NOW_MS - HOUR_MS,
            )
        ]
    )
    snap = await device._analyst.snapshot("lead-000002")
    model = CountingModel(device._models.get("intervention"))
    inputs = PlanInputs(
        lead=snap.lead,
        cols=snap.cols,
        features=snap.features,
        now_ms=snap.now_ms,
        profile=None,
        context=await device.message_context(snap.lead),
    )
    plan = make_plan(inputs, model, "plan-test")
    full = len(OUTREACH_CHANNELS) * len(SCORED_HOURS)
    assert plan.steps and 0 < model.rows < full
    assert model.leads == 1  # the lead's part of the model ran once, for every candidate
    grid = score_grid(model.model, snap.features, history=plan_history(inputs))
    for step in plan.steps:
        want = round(float(grid[OUTREACH_CHANNELS.index(step.channel), step.hour_of_week]), 4)
        assert step.p_response == want


TEXTS = [
    "Looking for a PENTHOUSE with a View",
    "what is the cap rate and NOI?",
    "Suche ein Büro, Neubau bevorzugt",
    "Una oficina con garage y Pool",
    "nothing here",
    "Looking for a PENTHOUSE with a View",
]


def test_keyword_memo_finds_what_a_fresh_scan_finds():
    keyword_hits.cache_clear()
    guess = detect_vertical(empty_columns(), TEXTS)
    assert detect_vertical(empty_columns(), TEXTS) == guess  # the second from the memo
    assert keyword_hits.cache_info().hits >= len(TEXTS)
    for v, pattern in _PATTERNS.items():
        scan = sorted({m.group(0).lower() for t in TEXTS for m in pattern.finditer(t)})
        memo = sorted(set().union(*(dict(keyword_hits(t)).get(v, ()) for t in TEXTS)))
        assert memo == scan, v
    assert guess.evidence == [
        "mentions büro, cap rate, noi",
        "mentions penthouse, pool, view",
        "mentions neubau",
    ]


def test_flag_memo_finds_what_a_fresh_scan_finds():
    for t in TEXTS:
        assert list(text_flags(t)) == [m.group(0).lower() for m in _FLAG_RE.finditer(t)]
    assert "pool" in text_flags("Una oficina con garage y Pool")


def test_the_runtime_imports_no_http_client_until_it_syncs():
    code = "import sys, edge.runtime; sys.exit('httpx' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
