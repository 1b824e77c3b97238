"""Behaviour: P(convert), P(respond), an engagement tier and the drivers of the score in words.

Drivers are exact Shapley values over groups of features an agent recognises (property views,
saves, showings, replies, recency..., :mod:`edge.drivers`) against a stated reference, the
*typical lead* (:mod:`models.behaviour.reference`). Their effects add up to the lead's score
minus the typical lead's. Two batched invokes: one ranks the groups by a first-order estimate
(each group swapped out of the lead and into the reference), one plays the exact game over the
top :data:`TOP_GROUPS` groups plus everything else as one player (``2**6`` rows). A group where
the lead equals the reference has no effect (a null player) and is never a driver. Each
driver's label is chosen from the lead's evidence, its verb from the sign of its effect.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import msgspec
import numpy as np
from numpy.typing import NDArray

from edge.attribution import MAX_PLAYERS, coalition_rows, shapley
from edge.drivers import GROUP_IDX, GROUP_KEYS, driver_text, evidence
from models.behaviour.reference import typical_lead
from models.features import N_FEATURES
from models.tflite import TFLiteModel
from sync.records import Lead

NAME = "behaviour"
#: Groups that are players of their own in the exact game; the rest play as one.
TOP_GROUPS = MAX_PLAYERS - 1
#: The stated reference, in words.
REFERENCE = "a typical lead"


class EngagementTier(StrEnum):
    HOT = "hot"
    WARM = "warm"
    COLD = "cold"
    NEW = "new"  # no events yet


class Driver(msgspec.Struct, frozen=True, kw_only=True):
    """One reason for the score: what the lead did and how much it moves the scores away from
    the typical lead's (its Shapley value)."""

    factor: str  # group key, e.g. "showings"
    text: str  # e.g. "books showings (2 showings ...): raises the chance of a deal by 1.2 points"
    effect: float  # share of P(convert) - reference P(convert), probability (signed)
    effect_respond: float  # share of P(respond) - reference P(respond)
    label: str = ""  # chosen from the evidence, e.g. "no property browsing"
    evidence: str = ""  # the fact, e.g. "0 property views in the last 90 days"


class Contribution(msgspec.Struct, frozen=True, kw_only=True):
    """One player of the attribution game; all of them add up to score minus reference."""

    factor: str  # a group key, or "other" for the groups played together
    effect: float  # on P(convert), probability
    effect_respond: float  # on P(respond), probability
    members: list[str] = []  # the groups of "other"


class BehaviourPrediction(msgspec.Struct, frozen=True, kw_only=True):
    lead_id: str
    p_convert: float
    p_respond: float
    tier: EngagementTier
    drivers: list[Driver]
    events: int
    model_version: str
    reference: str = REFERENCE
    reference_convert: float = 0.0  # P(convert) of the reference
    reference_respond: float = 0.0
    contributions: list[Contribution] = []  # sum(effect) == p_convert - reference_convert


class BehaviourScorer:
    """The behaviour model and its explanations; one per loaded model version."""

    def __init__(self, model: TFLiteModel):
        self.model = model
        labels = list(model.manifest.labels) or ["p_convert", "p_respond"]
        self._ic, self._ir = labels.index("p_convert"), labels.index("p_respond")
        metrics = model.manifest.metrics
        self.base_convert = float(metrics.get("p_convert.base_rate", 0.06))
        self.base_respond = float(metrics.get("p_respond.base_rate", 0.33))
        self.reference = typical_lead()

    def predict(
        self, lead: Lead, features: NDArray[Any], events: int, drivers: int = 3
    ) -> BehaviourPrediction:
        x = np.asarray(features, dtype=np.float32)
        ref = self.reference
        y, phi, players = self._attribute(x, ref)
        pc, pr = float(y[-1, self._ic]), float(y[-1, self._ir])
        contributions: list[Contribution] = []
        found: list[tuple[float, Driver]] = []
        for p, groups in enumerate(players):
            dc, dr = float(phi[p, self._ic]), float(phi[p, self._ir])
            key = GROUP_KEYS[groups[0]] if len(groups) == 1 else "other"
            contributions.append(
                Contribution(
                    factor=key,
                    effect=round(dc, 5),
                    effect_respond=round(dr, 5),
                    members=[GROUP_KEYS[g] for g in groups] if key == "other" else [],
                )
            )
            if key == "other":
                continue
            ev = evidence(key, x)
            text = driver_text(ev, dc, dr)
            if text is not None:
                found.append(
                    (
                        abs(dc) + 0.25 * abs(dr),
                        Driver(
                            factor=key,
                            text=text,
                            effect=round(dc, 5),
                            effect_respond=round(dr, 5),
                            label=ev.label,
                            evidence=ev.fact,
                        ),
                    )
                )
        found.sort(key=lambda t: -t[0])
        return BehaviourPrediction(
            lead_id=lead.id,
            p_convert=round(pc, 4),
            p_respond=round(pr, 4),
            tier=self.tier(pc, pr, events),
            drivers=[d for _w, d in found[:drivers]],
            events=events,
            model_version=self.model.manifest.version,
            reference_convert=round(float(y[0, self._ic]), 4),
            reference_respond=round(float(y[0, self._ir]), 4),
            contributions=contributions,
        )

    def _attribute(
        self, x: NDArray[Any], ref: NDArray[Any]
    ) -> tuple[NDArray[Any], NDArray[Any], list[list[int]]]:
        """Coalition outputs (row 0 the reference, last row the lead), Shapley values per
        player, and each player's groups."""
        moved = [g for g, idx in enumerate(GROUP_IDX) if np.any(x[idx] != ref[idx])]
        if len(moved) > TOP_GROUPS + 1:
            order = self._rank(x, ref, moved)
            players = [[g] for g in order[:TOP_GROUPS]] + [sorted(order[TOP_GROUPS:])]
        else:
            players = [[g] for g in moved]
        if not players:  # the lead is the reference: nothing moves the score
            y = self.model.predict1(x[None])
            return np.concatenate([y, y]), np.zeros((0, y.shape[1])), []
        idx = [np.concatenate([GROUP_IDX[g] for g in p]) for p in players]
        y = self.model.predict1(coalition_rows(x, ref, idx))
        return y, shapley(y), players

    def _rank(self, x: NDArray[Any], ref: NDArray[Any], moved: list[int]) -> list[int]:
        """``moved`` by a first-order estimate of each group's effect: the mean of taking it
        out of the lead and putting it into the reference (conversion first, replies next)."""
        n = len(moved)
        rows = np.empty((2 + 2 * n, N_FEATURES), dtype=np.float32)
        rows[0], rows[1] = x, ref
        rows[2 : 2 + n], rows[2 + n :] = x, ref
        for i, g in enumerate(moved):
            idx = GROUP_IDX[g]
            rows[2 + i, idx] = ref[idx]
            rows[2 + n + i, idx] = x[idx]
        y = self.model.predict1(rows)
        first = 0.5 * ((y[0] - y[2 : 2 + n]) + (y[2 + n :] - y[1]))
        weight = np.abs(first[:, self._ic]) + 0.25 * np.abs(first[:, self._ir])
        return [moved[i] for i in np.argsort(-weight, kind="stable")]

    def tier(self, p_convert: float, p_respond: float, events: int) -> EngagementTier:
        """Hot: twice the base conversion rate or more; warm: above either base rate."""
        if events == 0:
            return EngagementTier.NEW
        if p_convert >= 2 * self.base_convert:
            return EngagementTier.HOT
        if p_convert >= self.base_convert or p_respond >= self.base_respond:
            return EngagementTier.WARM
        return EngagementTier.COLD
