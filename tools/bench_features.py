"""Time feature extraction for one lead with N events.

    realty-edge bench features --events 200 --runs 2000

Prints min / median / p95 of ``extract`` alone and of ``columns_from_rows`` + ``extract``
(what the device does after its SQL read). Pure NumPy; the numbers depend on the machine.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from models.features.columns import (
    CHANNELS,
    EVENT_TYPES,
    PROPERTY_TYPES,
    VERTICALS,
    columns_from_rows,
)
from models.features.extract import extract
from sync.records import Lead

NOW_MS = 1_760_000_000_000


def sample_rows(n: int, seed: int = 0) -> list[tuple]:
    """``n`` random event rows in ``EVENT_ROW_FIELDS`` order, as a SQL join would give them."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        t = EVENT_TYPES[int(rng.integers(0, len(EVENT_TYPES)))].value
        has_listing = t in ("property_view", "property_save", "inquiry", "offer")
        lid = f"L{int(rng.integers(0, 60))}" if has_listing else None
        rows.append(
            (
                NOW_MS - int(rng.uniform(0, 120 * 86_400_000)),
                t,
                CHANNELS[int(rng.integers(0, 4))].value if t.endswith(("_in", "_out")) else None,
                float(rng.uniform(5, 300)) if t == "property_view" else None,
                float(rng.uniform(30, 600)) if t.startswith("call") else None,
                5e5 if t == "offer" else None,
                "es" if t.startswith("message") else None,
                lid,
                float(rng.uniform(1e5, 3e6)) if lid else None,
                int(rng.integers(0, 6)) if lid else None,
                2.0 if lid else None,
                float(rng.uniform(500, 4000)) if lid else None,
                PROPERTY_TYPES[int(rng.integers(0, len(PROPERTY_TYPES)))].value if lid else None,
                VERTICALS[int(rng.integers(0, len(VERTICALS)))].value if lid else None,
                34.0 + float(rng.normal()) * 0.1 if lid else None,
                -118.0 + float(rng.normal()) * 0.1 if lid else None,
            )
        )
    return rows


def bench(n_events: int = 200, runs: int = 2000) -> dict[str, float]:
    lead = Lead(
        id="bench",
        agent_id="a",
        team_id="t",
        name="b",
        language="es",
        budget_min=2e5,
        budget_max=9e5,
        created_at=NOW_MS - 100 * 86_400_000,
        source="zillow",
    )
    rows = sample_rows(n_events)
    cols = columns_from_rows(rows)
    for _ in range(100):
        extract(lead, cols, NOW_MS)
    a, b = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        extract(lead, cols, NOW_MS)
        t1 = time.perf_counter()
        extract(lead, columns_from_rows(rows), NOW_MS)
        t2 = time.perf_counter()
        a.append(t1 - t0)
        b.append(t2 - t1)
    out: dict[str, Any] = {}
    for name, xs in (("extract", a), ("rows+extract", b)):
        ms = np.asarray(xs) * 1e3
        out |= {
            f"{name}.min_ms": float(ms.min()),
            f"{name}.median_ms": float(np.median(ms)),
            f"{name}.p95_ms": float(np.percentile(ms, 95)),
        }
    return out
