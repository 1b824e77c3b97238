"""Ranking and style examples from a world, without leakage. No TensorFlow here.

Ranking: for a lead and a cutoff time t (a fraction of the way through the lead's events), the
lead-tower input uses only events at or before t; the positives are the listings the lead
saved, inquired about or booked a showing of AFTER t and had not engaged with before t
(re-surfacing a listing the lead already saved is not a recommendation).

Style labels (per lead, documented in ``models.personalization``):

- ``pref_<channel>``: the generator's hidden ``truth.preferred_channel`` (one-hot);
- ``formal``: the lead's language is one where a first message is written formally
  (``FORMAL_LANGUAGES``), or the lead wants luxury or commercial property;
- ``casual``: not formal, and the lead prefers a chat channel (sms, whatsapp);
- ``short``: the lead prefers a chat channel; ``long``: the lead prefers email or calls and
  wants luxury or commercial property (detail matters). Neither means medium.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from models.features import columns_from_records
from models.features.columns import TYPE_CODE, listing_key
from models.personalization.features import N_LEAD, lead_preference_vector
from sync.records import Channel, Event, EventType, Lead, Listing, Vertical

POSITIVE_TYPES: tuple[EventType, ...] = (
    EventType.PROPERTY_SAVE,
    EventType.INQUIRY,
    EventType.SHOWING_BOOKED,
)
_POS = np.array([TYPE_CODE[t] for t in POSITIVE_TYPES])
FORMAL_LANGUAGES = frozenset({"ja", "ko", "zh", "de", "vi", "th", "hi", "ar", "tr", "ru", "fr"})
STYLE_LABELS: tuple[str, ...] = (
    "pref_call",
    "pref_sms",
    "pref_email",
    "pref_whatsapp",
    "formal",
    "casual",
    "short",
    "long",
)


@dataclass
class RankingExamples:
    lead_x: np.ndarray  # (n, N_LEAD) float32
    positives: list[np.ndarray]  # per example: listing row indexes (future positives)
    seen: list[np.ndarray]  # per example: listing row indexes engaged before the cutoff
    lead_ids: list[str]


def _by_lead(events: Sequence[Event]) -> dict[str, list[Event]]:
    by: dict[str, list[Event]] = defaultdict(list)
    for e in events:
        by[e.lead_id].append(e)
    return by


def ranking_examples(
    leads: Sequence[Lead],
    events: Sequence[Event],
    listings: Sequence[Listing],
    fractions: Sequence[float] = (0.5,),
) -> RankingExamples:
    """One example per (lead, cutoff fraction) with at least one future positive."""
    by = _by_lead(events)
    listing_by_id = {li.id: li for li in listings}
    row_of_key = {listing_key(li.id): i for i, li in enumerate(listings)}
    xs, pos, seen, ids = [], [], [], []
    for lead in leads:
        cols = columns_from_records(by.get(lead.id, ()), listing_by_id)
        if len(cols) < 2:
            continue
        is_pos = np.isin(cols.type, _POS) & (cols.listing >= 0)
        t0, t1 = int(cols.ts[0]), int(cols.ts[-1])
        for f in fractions:
            t = t0 + int(f * (t1 - t0))
            before = cols.ts <= t
            old = {row_of_key[k] for k in cols.listing[is_pos & before] if k in row_of_key}
            new = {row_of_key[k] for k in cols.listing[is_pos & ~before] if k in row_of_key}
            new -= old
            if not new:
                continue
            xs.append(lead_preference_vector(lead, cols.before(t)))
            pos.append(np.array(sorted(new), dtype=np.int64))
            seen.append(np.array(sorted(old), dtype=np.int64))
            ids.append(lead.id)
    x = np.asarray(xs, dtype=np.float32).reshape(len(xs), N_LEAD)
    return RankingExamples(x, pos, seen, ids)


def style_labels(lead: Lead, preferred: Channel, vertical: Vertical) -> np.ndarray:
    """The style label vector (``STYLE_LABELS``) of one lead."""
    chat = preferred in (Channel.SMS, Channel.WHATSAPP)
    big = vertical in (Vertical.LUXURY, Vertical.COMMERCIAL)
    formal = lead.language in FORMAL_LANGUAGES or big
    out = [preferred == c for c in (Channel.CALL, Channel.SMS, Channel.EMAIL, Channel.WHATSAPP)]
    out += [formal, (not formal) and chat, chat, (not chat) and big]
    return np.asarray(out, dtype=np.float32)
