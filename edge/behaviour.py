"""Behaviour: P(convert), P(respond), an engagement tier and the drivers of the score in words.

Drivers come from occlusion over groups of features an agent recognises (property views,
saves, showings, replies, recency...): row 0 of one batched invoke is the lead as it is, each
other row replaces one group with the value a lead with no activity would have (the same
extraction on an empty history, keeping the lead's contact details). The difference in
P(convert) is what that group of behaviour contributes. One invoke of ``1 + len(GROUPS)`` rows,
always the same batch size, so the interpreter is resized once.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from enum import StrEnum

import msgspec
import numpy as np

from models.features import FEATURE_INDEX, FEATURE_NAMES, without_events
from models.tflite import TFLiteModel
from sync.records import Lead

NAME = "behaviour"


class EngagementTier(StrEnum):
    HOT = "hot"
    WARM = "warm"
    COLD = "cold"
    NEW = "new"  # no events yet


class Driver(msgspec.Struct, frozen=True, kw_only=True):
    """One reason for the score: what the lead did and how much it moves P(convert)."""

    factor: str  # group key, e.g. "showings"
    text: str  # e.g. "2 showings booked in the last 30 days raises the chance of a deal"
    effect: float  # change in P(convert), probability points / 100 (signed)
    effect_respond: float  # change in P(respond)


class BehaviourPrediction(msgspec.Struct, frozen=True, kw_only=True):
    lead_id: str
    p_convert: float
    p_respond: float
    tier: EngagementTier
    drivers: list[Driver]
    events: int
    model_version: str


def _count(x: np.ndarray, *types: str, window: str = "90d") -> int:
    total = sum(math.expm1(float(x[FEATURE_INDEX[f"log1p_count_{t}_{window}"]])) for t in types)
    return round(total)


def _days_since(x: np.ndarray, name: str) -> float:
    return math.expm1(float(x[FEATURE_INDEX[name]]))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


#: (key, does a feature belong to it, fact about the lead in words). First match wins.
GROUPS: list[tuple[str, Callable[[str], bool], Callable[[np.ndarray], str]]] = [
    (
        "offers",
        lambda n: "offer" in n,
        lambda x: f"{_plural(_count(x, 'offer', window='90d'), 'offer')} in the last 90 days",
    ),
    (
        "showings",
        lambda n: "showing_" in n,
        lambda x: (
            f"{_plural(_count(x, 'showing_booked', 'showing_attended'), 'showing')} "
            "booked or attended in the last 90 days"
        ),
    ),
    (
        "saves",
        lambda n: (
            "property_save" in n
            or "property_share" in n
            or n.startswith("saved_")
            or n.startswith("engaged_")
        ),
        lambda x: (
            f"{_plural(_count(x, 'property_save', 'property_share'), 'listing')} saved or "
            "shared in the last 90 days"
        ),
    ),
    (
        "inquiries",
        lambda n: "inquiry" in n,
        lambda x: f"{_plural(_count(x, 'inquiry'), 'inquiry')} in the last 90 days".replace(
            "inquirys", "inquiries"
        ),
    ),
    (
        "views",
        lambda n: "property_view" in n or n.startswith("viewed_"),
        lambda x: f"{_plural(_count(x, 'property_view'), 'property view')} in the last 90 days",
    ),
    (
        "replies",
        lambda n: (
            n.startswith(
                ("reply_", "log1p_replied", "log1p_latency", "last_outreach", "log1p_unanswered")
            )
            or "message_in" in n
            or "call_in" in n
            or n.startswith("log1p_inbound_minus")
        ),
        lambda x: (
            f"{_plural(_count(x, 'message_in', 'call_in', window='90d'), 'reply')} to the "
            "agent in the last 90 days".replace("replys", "replies")
        ),
    ),
    (
        "outreach",
        lambda n: (
            "message_out" in n
            or "call_out" in n
            or "outreach" in n
            or n.startswith("log1p_outbound")
        ),
        lambda x: (
            f"{_plural(_count(x, 'message_out', 'call_out', window='90d'), 'outreach')} "
            "by the agent in the last 90 days".replace("outreachs", "outreaches")
        ),
    ),
    (
        "email",
        lambda n: "email_" in n,
        lambda x: (
            f"{_plural(_count(x, 'email_open', 'email_click'), 'email open')} or clicks "
            "in the last 90 days"
        ),
    ),
    (
        "recency",
        lambda n: n.startswith(
            (
                "log1p_days_since",
                "active_days",
                "log1p_sessions",
                "trend_",
                "log1p_events_per",
                "log1p_count_all",
                "log1p_count_inbound",
                "has_",
                "log1p_mean_gap",
            )
        ),
        lambda x: f"last active {_days_since(x, 'log1p_days_since_last_inbound'):.0f} days ago",
    ),
    (
        "budget",
        lambda n: "budget" in n or "price" in n or n.startswith("viewed_"),
        lambda x: "the prices of the homes viewed against the stated budget",
    ),
    (
        "timing",
        lambda n: n.startswith("activity_"),
        lambda x: "the hours and days the lead is active",
    ),
]
GROUP_WORDS: dict[str, tuple[str, str]] = {
    # key: (what raises, what lowers) the chance, said to an agent
    "offers": ("an offer is on the table", "no offer yet"),
    "showings": ("showings show serious intent", "no showings yet"),
    "saves": ("saving and sharing listings signals intent", "few listings saved"),
    "inquiries": ("inquiries about specific listings", "no inquiries"),
    "views": ("steady property browsing", "little browsing"),
    "replies": ("the lead answers the agent", "outreach goes unanswered"),
    "outreach": ("the agent's outreach is landing", "a lot of outreach without answer"),
    "email": ("opens and clicks the agent's emails", "does not open emails"),
    "recency": ("active recently", "has gone quiet"),
    "budget": ("looks at homes within budget", "looks outside the stated budget"),
    "timing": ("active at reachable hours", "active at hard-to-reach hours"),
}


def _group_index() -> list[np.ndarray]:
    taken = np.zeros(len(FEATURE_NAMES), dtype=bool)
    out = []
    for _key, member, _fact in GROUPS:
        idx = [i for i, n in enumerate(FEATURE_NAMES) if not taken[i] and member(n)]
        taken[idx] = True
        out.append(np.asarray(idx, dtype=np.int64))
    return out


_GROUP_IDX = _group_index()


class BehaviourScorer:
    """The behaviour model with its occlusion batch; one per loaded model version."""

    def __init__(self, model: TFLiteModel):
        self.model = model
        labels = list(model.manifest.labels) or ["p_convert", "p_respond"]
        self._ic, self._ir = labels.index("p_convert"), labels.index("p_respond")
        metrics = model.manifest.metrics
        self.base_convert = float(metrics.get("p_convert.base_rate", 0.06))
        self.base_respond = float(metrics.get("p_respond.base_rate", 0.33))
        self._batch = np.empty((1 + len(GROUPS), len(FEATURE_NAMES)), dtype=np.float32)

    def predict(self, lead: Lead, features: np.ndarray, events: int, drivers: int = 3
                ) -> BehaviourPrediction:  # fmt: skip
        x = self._batch
        x[:] = features
        if events:
            reference = without_events(features)  # the same lead with no events
            for g, idx in enumerate(_GROUP_IDX, start=1):
                x[g, idx] = reference[idx]
        y = self.model.predict1(x)
        pc, pr = float(y[0, self._ic]), float(y[0, self._ir])
        found: list[Driver] = []
        if events:
            dc = y[0, self._ic] - y[1:, self._ic]
            dr = y[0, self._ir] - y[1:, self._ir]
            weight = np.abs(dc) + 0.25 * np.abs(dr)  # conversion first, replies next
            for g in np.argsort(-weight, kind="stable")[:drivers]:
                if abs(dc[g]) < 0.002 and abs(dr[g]) < 0.01:
                    continue
                key, _member, fact = GROUPS[g]
                up, down = GROUP_WORDS[key]
                d, what = (dc[g], "a deal") if abs(dc[g]) >= 0.002 else (dr[g], "a reply")
                sign = "raises" if d > 0 else "lowers"
                found.append(Driver(
                    factor=key,
                    text=f"{up if d > 0 else down} ({fact(features)}): {sign} the chance "
                         f"of {what} by {abs(d) * 100:.1f} points",
                    effect=round(float(dc[g]), 4), effect_respond=round(float(dr[g]), 4),
                ))  # fmt: skip
        return BehaviourPrediction(
            lead_id=lead.id, p_convert=round(pc, 4), p_respond=round(pr, 4),
            tier=self.tier(pc, pr, events), drivers=found, events=events,
            model_version=self.model.manifest.version,
        )  # fmt: skip

    def tier(self, p_convert: float, p_respond: float, events: int) -> EngagementTier:
        """Hot: twice the base conversion rate or more; warm: above either base rate."""
        if events == 0:
            return EngagementTier.NEW
        if p_convert >= 2 * self.base_convert:
            return EngagementTier.HOT
        if p_convert >= self.base_convert or p_respond >= self.base_respond:
            return EngagementTier.WARM
        return EngagementTier.COLD
