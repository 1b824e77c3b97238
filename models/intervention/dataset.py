"""Training rows of the intervention model: one row per agent outreach, without leakage.

Each ``message_out`` / ``call_out`` event is a row. Its features are the lead's behavioural
vector from the events strictly before the outreach (``extract`` at ``ts - 1``) plus the
candidate encoding of the outreach's own channel and local hour-of-week, with the lead's own
history (``lead_history``) from the same events. The label is the
generator's response: an inbound ``message_in`` on the same channel (``call_in`` for a call)
within ``REPLY_HOURS`` after the outreach (the generator's reply latency is clipped to 1 min ..
20 h, see ``models.synthetic.world``). Unprompted inbound messages that happen to fall in the
window are label noise, exactly as on a real device.

No TensorFlow here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from models.features import N_FEATURES, columns_from_records, extract
from models.features.columns import CHANNEL_CODE, TYPE_CODE
from models.features.extract import utc_offset_ms
from models.intervention.candidate import (
    CHANNEL_NAMES,
    N_HISTORY,
    N_INPUT,
    lead_history,
    local_hour_of_week,
    model_input,
)
from sync.records import Event, EventType, Lead, Listing

HOUR_MS = 3_600_000
#: A reply counts if it arrives within this many hours (the generator's latency cap is 20 h).
REPLY_HOURS = 20.0

_OUT = np.array([TYPE_CODE[EventType.MESSAGE_OUT], TYPE_CODE[EventType.CALL_OUT]])
_MSG_IN = TYPE_CODE[EventType.MESSAGE_IN]
_CALL_IN = TYPE_CODE[EventType.CALL_IN]
_CALL_OUT = TYPE_CODE[EventType.CALL_OUT]
#: features.columns channel code -> position in OUTREACH_CHANNELS (-1 for others)
_TO_OUTREACH = {CHANNEL_CODE[c]: i for i, c in enumerate(CHANNEL_NAMES)}


@dataclass
class InterventionRows:
    x: np.ndarray  # (rows, N_INPUT) float32: behaviour features + candidate encoding
    y: np.ndarray  # (rows,) float32 0/1: replied within REPLY_HOURS
    lead_ids: list[str]
    channel: np.ndarray  # int64 code into OUTREACH_CHANNELS
    hour_of_week: np.ndarray  # int64 local hour-of-week of the outreach
    ts: np.ndarray  # int64 epoch ms of the outreach
    #: (rows, N_HISTORY) float32: the lead's own history before the outreach (lead_history)
    history: np.ndarray = field(default_factory=lambda: np.zeros((0, N_HISTORY), np.float32))


def build_rows(
    leads: Sequence[Lead],
    events: Sequence[Event],
    listings: Sequence[Listing],
    *,
    progress: bool = False,
) -> InterventionRows:
    """One row per outreach of every lead."""
    by_lead: dict[str, list[Event]] = defaultdict(list)
    for e in events:
        by_lead[e.lead_id].append(e)
    listing_by_id = {li.id: li for li in listings}
    feats, ys, ids, chans, hows, tss, hists = [], [], [], [], [], [], []
    it = leads
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(leads, desc="outreach rows", unit="lead", leave=False)
    for lead in it:
        cols = columns_from_records(by_lead.get(lead.id, ()), listing_by_id)
        ts, typ, chn = cols.ts, cols.type, cols.channel
        out_idx = np.flatnonzero(np.isin(typ, _OUT))
        for i in out_idx:
            code = _TO_OUTREACH.get(int(chn[i]), -1)
            if code < 0:
                continue
            t = int(ts[i])
            reply_type = _CALL_IN if typ[i] == _CALL_OUT else _MSG_IN
            win = (ts > t) & (ts <= t + REPLY_HOURS * HOUR_MS) & (typ == reply_type)
            win &= chn == chn[i]
            feats.append(extract(lead, cols, t - 1))
            hists.append(
                lead_history(cols, utc_offset_ms(lead.timezone, t - 1), t, country=lead.country)
            )
            ys.append(float(np.any(win)))
            ids.append(lead.id)
            chans.append(code)
            hows.append(int(local_hour_of_week(t, utc_offset_ms(lead.timezone, t))))
            tss.append(t)
    xf = np.asarray(feats, dtype=np.float32).reshape(-1, N_FEATURES)
    ch = np.asarray(chans, dtype=np.int64)
    how = np.asarray(hows, dtype=np.int64)
    hist = np.asarray(hists, dtype=np.float32).reshape(-1, N_HISTORY)
    x = model_input(xf, ch, how, hist) if len(ch) else np.zeros((0, N_INPUT), np.float32)
    return InterventionRows(
        x=x,
        y=np.asarray(ys, dtype=np.float32),
        lead_ids=ids,
        channel=ch,
        hour_of_week=how,
        ts=np.asarray(tss, dtype=np.int64),
        history=hist,
    )
