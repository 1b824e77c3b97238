"""Exact Shapley values of a few players (groups of features) against a reference vector.

The game: ``v(S)`` is the model's output on the reference vector with the features of the
players in ``S`` taken from the lead. Every coalition is one row of one batched invoke
(``2**n`` rows for ``n`` players), and ``phi = W.T @ v`` with the classic Shapley weights.
Efficiency holds by construction: ``sum(phi) == v(all) - v(none)``, i.e. the effects add up to
the lead's score minus the reference's. Pure NumPy; the caller runs the model.
"""

from __future__ import annotations

from functools import cache
from math import factorial
from typing import Any

import numpy as np
from numpy.typing import NDArray

#: The most players one exact game takes (2**6 = 64 rows).
MAX_PLAYERS = 6


@cache
def coalitions(n: int) -> NDArray[np.float32]:
    """(2**n, n) float32 0/1: row ``m`` holds the players in coalition ``m`` (bit i = player i)."""
    if not 0 < n <= MAX_PLAYERS:
        raise ValueError(f"{n} players: an exact game takes 1 to {MAX_PLAYERS}")
    m = np.arange(2**n)[:, None]
    bits: NDArray[np.float32] = ((m >> np.arange(n)) & 1).astype(np.float32)
    return bits


@cache
def shapley_weights(n: int) -> NDArray[np.float64]:
    """(2**n, n) float64 ``W`` with ``phi = W.T @ v`` for the values ``v`` of every coalition."""
    c = coalitions(n).astype(bool)
    size = c.sum(axis=1)
    w = np.zeros(c.shape, dtype=np.float64)
    for s in range(n + 1):
        with_i = factorial(s - 1) * factorial(n - s) / factorial(n) if s > 0 else 0.0
        without_i = factorial(s) * factorial(n - s - 1) / factorial(n) if s < n else 0.0
        rows = size == s
        w[rows] = np.where(c[rows], with_i, -without_i)
    return w


def coalition_rows(
    x: NDArray[Any], reference: NDArray[Any], players: list[NDArray[np.integer[Any]]]
) -> NDArray[np.float32]:
    """The model inputs of every coalition: ``reference`` with the players' features from ``x``.

    ``players`` are disjoint index arrays; features in none of them stay at ``reference``.
    """
    n = len(players)
    member = np.zeros((n, x.shape[-1]), dtype=np.float32)
    for i, idx in enumerate(players):
        member[i, idx] = 1.0
    take = (coalitions(n) @ member) > 0.5  # (2**n, features)
    return np.where(take, x, reference).astype(np.float32)  # exact values, no arithmetic


def shapley(values: NDArray[Any]) -> NDArray[np.float64]:
    """Shapley values (n, outputs) from the model outputs (2**n, outputs) of every coalition."""
    n = round(float(np.log2(len(values))))
    if 2**n != len(values):
        raise ValueError(f"{len(values)} coalition values: want a power of two")
    return shapley_weights(n).T @ values.astype(np.float64)
