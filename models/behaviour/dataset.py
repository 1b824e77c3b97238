"""Training rows of the behaviour model from a synthetic (or synced) world, without leakage.

Rows are (lead, cutoff) pairs at a few global cutoffs ``now - k * horizon``. Features use only
events at or before the cutoff (``extract`` ignores later ones); labels look only after it:

- ``convert``: a ``deal_closed`` in (cutoff, cutoff + horizon];
- ``respond``: the first outreach (``message_out`` / ``call_out``) in (cutoff, cutoff + horizon]
  got an inbound ``message_in`` / ``call_in`` within ``reply_hours``; NaN (unknown, masked in
  the loss) when there was no outreach in the horizon.

A lead enters at a cutoff only if it existed ``min_history_days`` before it and had not already
closed a deal. No TensorFlow here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from models.features import columns_from_records, extract_batch
from models.features.columns import TYPE_CODE
from sync.records import Event, EventType, Lead, Listing

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
LABELS: tuple[str, ...] = ("p_convert", "p_respond")

_DEAL = TYPE_CODE[EventType.DEAL_CLOSED]
_OUT = (TYPE_CODE[EventType.MESSAGE_OUT], TYPE_CODE[EventType.CALL_OUT])
_IN = (TYPE_CODE[EventType.MESSAGE_IN], TYPE_CODE[EventType.CALL_IN])


@dataclass(frozen=True)
class LabelConfig:
    horizon_days: int = 45
    cutoffs: int = 3
    reply_hours: float = 24.0
    min_history_days: int = 7


@dataclass
class BehaviourRows:
    x: np.ndarray  # (rows, N_FEATURES) float32
    y: np.ndarray  # (rows, 2) float32: convert, respond (NaN unknown)
    lead_ids: list[str]
    cutoffs: np.ndarray  # int64 epoch ms per row


def build_rows(
    leads: Sequence[Lead],
    events: Sequence[Event],
    listings: Sequence[Listing],
    now_ms: int,
    cfg: LabelConfig | None = None,
) -> BehaviourRows:
    """Feature rows and labels for every eligible (lead, cutoff)."""
    cfg = cfg or LabelConfig()
    by_lead: dict[str, list[Event]] = defaultdict(list)
    for e in events:
        by_lead[e.lead_id].append(e)
    listing_by_id = {li.id: li for li in listings}
    horizon = cfg.horizon_days * DAY_MS
    row_leads, row_cols, row_t, labels = [], [], [], []
    for lead in leads:
        cols = columns_from_records(by_lead.get(lead.id, ()), listing_by_id)
        ts, typ = cols.ts, cols.type
        deal_ts = ts[typ == _DEAL]
        out_ts = ts[np.isin(typ, _OUT)]
        in_ts = ts[np.isin(typ, _IN)]
        for k in range(1, cfg.cutoffs + 1):
            t = now_ms - k * horizon
            if lead.created_at > t - cfg.min_history_days * DAY_MS:
                continue
            if np.any(deal_ts <= t):
                continue
            convert = float(np.any((deal_ts > t) & (deal_ts <= t + horizon)))
            nxt = out_ts[(out_ts > t) & (out_ts <= t + horizon)]
            if len(nxt):
                o = nxt[0]
                respond = float(np.any((in_ts > o) & (in_ts <= o + cfg.reply_hours * HOUR_MS)))
            else:
                respond = np.nan
            row_leads.append(lead)
            row_cols.append(cols)
            row_t.append(t)
            labels.append((convert, respond))
    x = extract_batch(row_leads, row_cols, row_t)
    y = np.asarray(labels, dtype=np.float32).reshape(-1, 2)
    return BehaviourRows(x, y, [le.id for le in row_leads], np.asarray(row_t, dtype=np.int64))
