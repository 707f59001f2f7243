"""Pruning helpers: densities hit exactly, patterns as specified, deterministic."""

from __future__ import annotations

import numpy as np
import pytest

from sim.sparse import PruningError, prune_blocks, prune_magnitude, prune_nm, prune_rows


def weights(seed: int = 0, shape: tuple[int, ...] = (8, 4, 3, 3)) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("density", [0.0, 0.1, 0.25, 0.5, 0.9, 1.0])
def test_magnitude_hits_density_and_keeps_the_largest(density: float) -> None:
    w = weights()
    p = prune_magnitude(w, density)
    keep = round(density * w.size)
    assert np.count_nonzero(p) == keep and p.shape == w.shape
    if 0 < keep < w.size:
        assert np.abs(w[p != 0]).min() >= np.abs(w[p == 0]).max()
    assert np.array_equal(p[p != 0], w[p != 0])           # kept values unchanged


def test_magnitude_ties_break_by_position() -> None:
    assert prune_magnitude(np.array([1, -1, 1, 1]), 0.5).tolist() == [1, -1, 0, 0]


def test_nm_2_4_along_the_reduction() -> None:
    """Each filter's (c, r, s) row of 36 has exactly 2 nonzeros in each group of 4,
    the two largest magnitudes of the group."""
    w = weights(1)
    p = prune_nm(w, 2, 4)
    groups = p.reshape(8, 9, 4)
    assert ((groups != 0).sum(axis=2) == 2).all()
    mags = np.abs(w.reshape(8, 9, 4))
    kept_min = np.where(groups != 0, mags, np.inf).min(axis=2)
    dropped_max = np.where(groups == 0, mags, -np.inf).max(axis=2)
    assert (kept_min >= dropped_max).all()
    assert np.count_nonzero(p) == w.size // 2


def test_nm_hand_case_and_partial_group() -> None:
    """Row [4, -1, 3, 2 | 5, 0] with 2:4 keeps 4, 3 | 5 and the partial group's 0."""
    p = prune_nm(np.array([[4, -1, 3, 2, 5, 0]]), 2, 4)
    assert p.tolist() == [[4, 0, 3, 0, 5, 0]]
    assert prune_nm(np.array([[1, 2, 3]]), 1, 2).tolist() == [[0, 2, 3]]


def test_blocks_and_rows() -> None:
    """4x4 view in 2x2 blocks with sums 10, 4 / 2, 20 at density 0.5: keep 10 and 20."""
    w = np.array([[1, 9, 1, 1],
                  [0, 0, 1, 1],
                  [1, 0, 5, 5],
                  [0, 1, 5, 5]])
    assert prune_blocks(w, 0.5, (2, 2)).tolist() == [[1, 9, 0, 0], [0, 0, 0, 0],
                                                    [0, 0, 5, 5], [0, 0, 5, 5]]
    # rows by L1 norm 12, 2, 11, 11 at density 0.5: rows 0 and 2 (row 2 wins the tie)
    assert (prune_rows(w, 0.5) != 0).any(axis=1).tolist() == [True, False, True, False]
    w4 = weights(2)
    r = prune_rows(w4, 0.25)
    assert (r.reshape(8, -1) != 0).all(axis=1).sum() == 2
    assert (r.reshape(8, -1) == 0).all(axis=1).sum() == 6


def test_deterministic_and_input_untouched() -> None:
    w = weights(3)
    before = w.copy()
    for f in (lambda t: prune_magnitude(t, 0.3), lambda t: prune_nm(t, 1, 4),
              lambda t: prune_blocks(t, 0.5, (2, 3)), lambda t: prune_rows(t, 0.5)):
        assert np.array_equal(f(w), f(w))
    assert np.array_equal(w, before)


@pytest.mark.parametrize("call,message", [
    (lambda: prune_magnitude(np.ones(4), 1.5), "density must be a number in [0, 1], not 1.5"),
    (lambda: prune_nm(np.ones((2, 4)), 4, 4), "n must be below m (N:M keeps n of every m)"),
    (lambda: prune_nm(np.ones((2, 4)), 0, 4), "n must be a positive integer, not 0"),
    (lambda: prune_blocks(np.ones((2, 4)), 0.5, (0, 2)), "block must be two positive integers"),
    (lambda: prune_magnitude(np.ones(0), 0.5), "tensor must be a non-empty array"),
])
def test_errors(call, message: str) -> None:
    with pytest.raises(PruningError, match=f"^{__import__('re').escape(message)}"):
        call()
