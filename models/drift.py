"""Score drift: the population stability index (PSI) of live scores against training scores.

NumPy only (the API process imports it). At promotion the retraining process records the
promoted model's score distribution on its training rows as a :class:`ScoreReference` (the
decile edges of those scores and the share of rows in each bin); the scheduled drift check
scores the team's current synced data with the same model and compares the shares in the
same bins:

    PSI = sum over bins of (live - train) * ln(live / train)

with each share floored at :data:`FLOOR`. Conventional reading, and the default threshold:
below 0.1 stable, 0.1 to 0.25 a moderate shift, at or above :data:`PSI_THRESHOLD` (0.25) a
significant shift: the family is marked ``drifting`` in ``health``.
"""

from __future__ import annotations

import math

import msgspec
import numpy as np

#: PSI at or above which a family is reported ``drifting`` (``ServerConfig.drift_threshold``).
PSI_THRESHOLD = 0.25
#: Bins of the reference (deciles of the training scores).
BINS = 10
#: Smallest share a bin counts with, so an empty bin gives a large but finite term.
FLOOR = 1e-4


class ScoreReference(msgspec.Struct, frozen=True, kw_only=True):
    """A model's score distribution on its training rows: inner bin edges and shares."""

    edges: list[float]
    shares: list[float]
    rows: int


def reference(scores: np.ndarray, bins: int = BINS) -> ScoreReference:
    """The decile edges of ``scores`` and the share of them in each bin."""
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    s = s[np.isfinite(s)]
    if len(s) == 0:
        return ScoreReference(edges=[], shares=[1.0], rows=0)
    edges = np.unique(np.quantile(s, np.linspace(0, 1, bins + 1)[1:-1]))
    return ScoreReference(edges=edges.tolist(), shares=_shares(s, edges).tolist(), rows=len(s))


def _shares(scores: np.ndarray, edges: np.ndarray) -> np.ndarray:
    idx = np.searchsorted(edges, scores, side="right")
    counts = np.bincount(idx, minlength=len(edges) + 1).astype(np.float64)
    return counts / max(counts.sum(), 1.0)


def psi(ref: ScoreReference, live: np.ndarray) -> float:
    """Population stability index of ``live`` scores against ``ref`` (NaN: no live scores)."""
    s = np.asarray(live, dtype=np.float64).reshape(-1)
    s = s[np.isfinite(s)]
    if len(s) == 0 or ref.rows == 0:
        return math.nan
    expected = np.maximum(np.asarray(ref.shares, dtype=np.float64), FLOOR)
    actual = np.maximum(_shares(s, np.asarray(ref.edges, dtype=np.float64)), FLOOR)
    return float(np.sum((actual - expected) * np.log(actual / expected)))
