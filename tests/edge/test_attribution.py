"""Exact Shapley values: additive games give each player its own part; effects add up."""

from __future__ import annotations

import numpy as np
import pytest

from edge.attribution import MAX_PLAYERS, coalition_rows, coalitions, shapley


def test_an_additive_game_gives_each_player_its_own_part():
    rng = np.random.default_rng(3)
    x, ref = rng.normal(size=10).astype(np.float32), rng.normal(size=10).astype(np.float32)
    w = rng.normal(size=(10, 2))
    players = [np.array([0, 1]), np.array([2]), np.array([3, 4, 5]), np.array([9])]
    rows = coalition_rows(x, ref, players)
    phi = shapley(rows @ w)
    for i, idx in enumerate(players):
        np.testing.assert_allclose(phi[i], (x[idx] - ref[idx]) @ w[idx], atol=1e-5)


def test_effects_add_up_and_symmetric_players_share_equally():
    rng = np.random.default_rng(4)
    for n in range(1, MAX_PLAYERS + 1):
        values = rng.normal(size=(2**n, 3))
        phi = shapley(values)
        np.testing.assert_allclose(phi.sum(axis=0), values[-1] - values[0], atol=1e-12)
    both = np.array([[0.0], [0.0], [0.0], [1.0]])  # only the two together score
    np.testing.assert_allclose(shapley(both), [[0.5], [0.5]])


def test_rows_are_the_reference_with_the_coalition_taken_from_the_lead():
    x, ref = np.ones(4, np.float32), np.zeros(4, np.float32)
    rows = coalition_rows(x, ref, [np.array([0]), np.array([2, 3])])
    np.testing.assert_array_equal(rows, [[0, 0, 0, 0], [1, 0, 0, 0], [0, 0, 1, 1], [1, 0, 1, 1]])
    assert coalitions(2).tolist() == [[0, 0], [1, 0], [0, 1], [1, 1]]
    x = np.array([0.1, 1e-8, 3.3, 7.77], np.float32)
    ref = np.array([5.5, 9.1, -2.0, 0.3], np.float32)
    rows = coalition_rows(x, ref, [np.array([0, 1, 2, 3])])
    assert rows[0].tobytes() == ref.tobytes() and rows[-1].tobytes() == x.tobytes()


def test_too_many_players_or_a_partial_game_is_refused():
    with pytest.raises(ValueError, match="7 players"):
        coalitions(MAX_PLAYERS + 1)
    with pytest.raises(ValueError, match="power of two"):
        shapley(np.zeros((6, 1)))
