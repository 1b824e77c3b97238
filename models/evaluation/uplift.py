"""Uplift evaluation in pure NumPy: the Qini curve and the Qini coefficient.

Rows carry an outcome ``y`` (0/1), a treatment flag ``t`` (1 treated, 0 control) and a
predicted uplift ``score``. Sorting by the score (highest first), the Qini curve at the top k
rows is the incremental number of responses that treating those k would have produced,

    Q(k) = Y_t(k) - Y_c(k) * N_t(k) / N_c(k)

(Radcliffe 2007), where Y_t / Y_c count responders and N_t / N_c rows among the top k in the
treated and control groups. A random ordering follows the straight line from (0, 0) to
(n, Q(n)). The Qini coefficient is the area between the curve and that line, divided by n^2 so
it does not grow with the sample; ``normalized`` divides it by the same area of the best
possible ordering on these rows (treated responders first, control responders last).
"""

from __future__ import annotations

import numpy as np


def qini_curve(y: np.ndarray, t: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(fraction of rows targeted, incremental responses Q) at every cut, starting at (0, 0).

    Ties in ``score`` are grouped: the curve has one point per distinct score.
    """
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    t = np.asarray(t, dtype=np.float64).reshape(-1)
    s = np.asarray(score, dtype=np.float64).reshape(-1)
    if not (len(y) == len(t) == len(s)):
        raise ValueError(f"lengths differ: y {len(y)}, t {len(t)}, score {len(s)}")
    if len(y) == 0:
        raise ValueError("no rows")
    order = np.argsort(-s, kind="stable")
    y, t, s = y[order], t[order], s[order]
    nt, nc = np.cumsum(t), np.cumsum(1 - t)
    yt, yc = np.cumsum(y * t), np.cumsum(y * (1 - t))
    last = np.r_[s[1:] != s[:-1], True]  # last row of each group of tied scores
    nt, nc, yt, yc = nt[last], nc[last], yt[last], yc[last]
    q = yt - np.divide(yc * nt, nc, out=np.zeros_like(yc), where=nc > 0)
    k = np.flatnonzero(last) + 1
    return np.r_[0.0, k / len(y)], np.r_[0.0, q]


def _area(frac: np.ndarray, q: np.ndarray) -> float:
    return float(np.sum((frac[1:] - frac[:-1]) * (q[1:] + q[:-1]) / 2.0))


def qini_coefficient(y: np.ndarray, t: np.ndarray, score: np.ndarray) -> float:
    """Area between the Qini curve and the random line, per row (Q in responses / n)."""
    frac, q = qini_curve(y, t, score)
    n = len(np.asarray(y).reshape(-1))
    return (_area(frac, q) - q[-1] / 2.0) / n


def perfect_score(y: np.ndarray, t: np.ndarray) -> np.ndarray:
    """A score giving the best ordering: treated responders, then the rest, control responders."""
    y = np.asarray(y, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    return y * t - y * (1 - t)


def qini_report(y: np.ndarray, t: np.ndarray, score: np.ndarray) -> dict[str, float]:
    """Qini coefficient, the perfect ordering's, their ratio, and the overall incremental rate."""
    q = qini_coefficient(y, t, score)
    best = qini_coefficient(y, t, perfect_score(y, t))
    y = np.asarray(y, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    ate = float(y[t == 1].mean() - y[t == 0].mean()) if t.any() and (1 - t).any() else 0.0
    return {
        "qini": q,
        "qini_perfect": best,
        "qini_normalized": q / best if best > 0 else 0.0,
        "ate": ate,
        "rows": float(len(y)),
        "treated": float(t.sum()),
    }
