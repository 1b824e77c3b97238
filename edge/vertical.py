"""Which vertical a lead is in: luxury, commercial, new construction or residential.

From what the lead views (each event's listing vertical, weighted by how far the lead went:
a view counts 1, a save or share 3, an inquiry, showing or offer 5) and what the lead says
(keywords in the lead's messages, several languages, each hit worth 4). The vertical decides
which listing attributes matter (``ATTRIBUTES``), which the recommendations explain and the
plan's messages mention.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

import msgspec
import numpy as np

from models.features import EventColumns
from models.features.columns import TYPE_CODE, VERTICALS
from sync.records import EventType, Vertical

#: Listing attributes that matter per vertical, as an agent names them.
ATTRIBUTES: dict[Vertical, tuple[str, ...]] = {
    Vertical.RESIDENTIAL: ("price", "beds", "baths", "area", "schools", "yard"),
    Vertical.LUXURY: ("privacy", "amenities", "views", "waterfront", "architecture"),
    Vertical.COMMERCIAL: ("cap rate", "NOI", "zoning", "parking", "access", "lease terms"),
    Vertical.NEW_CONSTRUCTION: (
        "builder incentives",
        "completion date",
        "warranty",
        "energy efficiency",
        "upgrades",
    ),
}

KEYWORDS: dict[Vertical, tuple[str, ...]] = {
    Vertical.COMMERCIAL: (
        "cap rate",
        "noi",
        "zoning",
        "office",
        "retail",
        "warehouse",
        "industrial",
        "tenant",
        "lease",
        "commercial",
        "investment property",
        "local comercial",
        "oficina",
        "bureau",
        "commerce",
        "gewerbe",
        "büro",
        "商业",
        "办公",
        "商業",
        "사무실",
        "상가",
        "офис",
    ),
    Vertical.LUXURY: (
        "luxury",
        "waterfront",
        "penthouse",
        "estate",
        "privacy",
        "private",
        "gated",
        "wine cellar",
        "pool",
        "view",
        "lujo",
        "luxe",
        "luxus",
        "豪华",
        "豪宅",
        "高級",
        "고급",
        "роскош",
    ),
    Vertical.NEW_CONSTRUCTION: (
        "new construction",
        "new build",
        "builder",
        "pre-construction",
        "completion",
        "move-in ready",
        "incentive",
        "obra nueva",
        "nueva construcción",
        "neuf",
        "neubau",
        "新房",
        "新築",
        "신축",
        "новострой",
    ),
}
_PATTERNS = {
    v: re.compile("|".join(re.escape(k) for k in ks), re.IGNORECASE) for v, ks in KEYWORDS.items()
}
_TYPE_WEIGHT = np.ones(len(TYPE_CODE), dtype=np.float64)
for _t, _w in (
    (EventType.PROPERTY_SAVE, 3.0),
    (EventType.PROPERTY_SHARE, 3.0),
    (EventType.INQUIRY, 5.0),
    (EventType.SHOWING_BOOKED, 5.0),
    (EventType.SHOWING_ATTENDED, 5.0),
    (EventType.OFFER, 5.0),
):
    _TYPE_WEIGHT[TYPE_CODE[_t]] = _w
KEYWORD_WEIGHT = 4.0
_VERTICAL_POS = {v: VERTICALS.index(v) for v in _PATTERNS}


@functools.lru_cache(maxsize=8192)
def keyword_hits(text: str) -> tuple[tuple[Vertical, frozenset[str]], ...]:
    """The keywords (lower case) of each vertical found in one text.

    Memoized: a lead's texts are scanned again each time its analysis is recomputed, and
    case-insensitive alternations are the slowest part of vertical detection.
    """
    found = []
    for v, pattern in _PATTERNS.items():
        hits = frozenset(m.group(0).lower() for m in pattern.finditer(text))
        if hits:
            found.append((v, hits))
    return tuple(found)


class VerticalGuess(msgspec.Struct, frozen=True, kw_only=True):
    vertical: Vertical
    confidence: float  # share of the evidence for the chosen vertical
    evidence: list[str]  # in words
    attributes: list[str]  # what matters for this vertical
    scores: dict[str, float]


def detect_vertical(cols: EventColumns, texts: Sequence[str] = ()) -> VerticalGuess:
    """The lead's vertical from listing engagement and message keywords; residential default."""
    nv = len(VERTICALS)
    has = cols.vertical >= 0
    w = _TYPE_WEIGHT[cols.type[has].astype(np.int64)]
    scores = np.bincount(cols.vertical[has].astype(np.int64), weights=w, minlength=nv)
    evidence: list[str] = []
    for v, count in zip(
        VERTICALS, np.bincount(cols.vertical[has].astype(np.int64), minlength=nv), strict=True
    ):
        if count:
            evidence.append(f"{int(count)} events on {v.value.replace('_', ' ')} listings")
    per_vertical: dict[Vertical, set[str]] = {}
    for t in texts:
        for v, found in keyword_hits(t):
            per_vertical.setdefault(v, set()).update(found)
    for v in _PATTERNS:
        hits = sorted(per_vertical.get(v, ()))
        if hits:
            scores[_VERTICAL_POS[v]] += KEYWORD_WEIGHT * len(hits)
            evidence.append(f"mentions {', '.join(hits[:3])}")
    total = float(scores.sum())
    if total <= 0:
        vertical, confidence = Vertical.RESIDENTIAL, 0.0
        evidence.append("no listing activity or keywords yet: residential by default")
    else:
        vertical = VERTICALS[int(np.argmax(scores))]
        confidence = float(scores.max() / total)
    return VerticalGuess(
        vertical=vertical,
        confidence=round(confidence, 3),
        evidence=evidence,
        attributes=list(ATTRIBUTES[vertical]),
        scores={v.value: round(float(s), 2) for v, s in zip(VERTICALS, scores, strict=True)},
    )
