"""Pruning operators of dataflows.compress.prune: exact counts, whole groups/rows/tiles,
and filter pruning that removes channels without changing the outputs."""

from __future__ import annotations

import re

import numpy as np
import pytest
from compress_conv_ref import conv2d

from dataflows.compress.prune import (PruningError, prune_groups, prune_kernel_rows,
                                      prune_magnitude, prune_nm, prune_tile_blocks,
                                      select_filters, shrink_conv_pair, shrink_layer,
                                      tile_block)
from dataflows.layer import conv, fc
from sim.sparse import pruning as legacy


def rng_w(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


def test_sim_sparse_reexports_the_same_objects() -> None:
    assert legacy.prune_nm is prune_nm and legacy.PruningError is PruningError


@pytest.mark.parametrize("n,m", [(1, 4), (2, 4), (3, 8), (1, 2)])
def test_nm_keeps_exactly_n_of_every_m(n: int, m: int) -> None:
    w = rng_w(n * m, (6, 4, 4, 2))                      # rows of 32, a multiple of m
    p = prune_nm(w, n, m)
    flat = p.reshape(6, 32)
    for row in range(6):                                # brute-force count per group
        for start in range(0, 32, m):
            assert sum(1 for v in flat[row, start:start + m] if v != 0) == n


@pytest.mark.parametrize("density", [0.0, 0.13, 0.5, 1.0])
def test_magnitude_density_is_an_exact_count(density: float) -> None:
    w = rng_w(3, (10, 3, 3, 3))                         # 270 elements
    assert np.count_nonzero(prune_magnitude(w, density)) == round(density * 270)


def test_kernel_rows_keep_the_row_of_largest_l1_per_kernel() -> None:
    w = rng_w(4, (3, 2, 3, 3))
    p = prune_kernel_rows(w)
    for k in range(3):
        for c in range(2):
            l1 = [abs(w[k, c, r]).sum() for r in range(3)]
            best = l1.index(max(l1))
            for r in range(3):
                assert (p[k, c, r] != 0).all() if r == best else (p[k, c, r] == 0).all()
    assert np.count_nonzero(prune_kernel_rows(w, keep=2)) == 3 * 2 * 2 * 3


def test_kernel_rows_tie_keeps_the_lower_row() -> None:
    w = np.ones((1, 1, 3, 2))
    assert prune_kernel_rows(w)[0, 0].tolist() == [[1, 1], [0, 0], [0, 0]]


def test_scalpel_groups_are_zeroed_whole_and_ranked_by_l2() -> None:
    w = rng_w(5, (4, 2, 3, 3))                          # rows of 18: 4 groups of 4 + 1 of 2
    p = prune_groups(w, 0.5, group=4)
    view, pv = w.reshape(4, 18), p.reshape(4, 18)
    groups = [(r, s) for r in range(4) for s in range(0, 18, 4)]
    kept = [(r, s) for r, s in groups if (pv[r, s:s + 4] != 0).any()]
    for r, s in groups:                                 # each group all kept or all zero
        seg = pv[r, s:s + 4]
        assert (seg != 0).all() or (seg == 0).all()
    assert len(kept) == round(0.5 * 20)
    norm = {g: float(np.sqrt((view[g[0], g[1]:g[1] + 4] ** 2).sum())) for g in groups}
    assert min(norm[g] for g in kept) >= max(norm[g] for g in groups if g not in kept)


def test_tile_block_and_tile_pruning_keep_whole_tiles() -> None:
    assert tile_block((16, 8, 3, 3), 4, 2) == (4, 18)
    assert tile_block((16, 8), 32, 3) == (16, 3)
    w = rng_w(6, (8, 4, 3, 3))                          # tiles: 2 x 4 filters, 2 x 2 channels
    p = prune_tile_blocks(w, 0.25, k_tile=4, c_tile=2)
    live = [(kt, ct) for kt in range(2) for ct in range(2)
            if (p[kt * 4:(kt + 1) * 4, ct * 2:(ct + 1) * 2] != 0).any()]
    assert len(live) == 1
    kt, ct = live[0]
    assert (p[kt * 4:(kt + 1) * 4, ct * 2:(ct + 1) * 2] != 0).all()


def test_select_filters_multiple_of_eight_by_l1() -> None:
    w = rng_w(7, (37, 3, 3, 3))
    kept = select_filters(w, 0.5, multiple=8)           # 18.5 -> 2.3 multiples -> 16
    assert len(kept) == 16 and len(kept) % 8 == 0
    l1 = np.abs(w).reshape(37, -1).sum(axis=1)
    dropped = np.setdiff1d(np.arange(37), kept)
    assert l1[kept].min() >= l1[dropped].max()
    assert len(select_filters(w, 0.01, 8)) == 8         # at least one multiple
    assert len(select_filters(w, 1.0, 8)) == 37         # 40 >= 37: keep everything


def test_shrunk_pair_equals_the_original_with_filters_zeroed() -> None:
    rng = np.random.default_rng(8)
    w1, b1 = rng.standard_normal((16, 3, 3, 3)), rng.standard_normal(16)
    w2 = rng.standard_normal((5, 16, 3, 3))
    x = rng.standard_normal((3, 6, 6))
    kept = select_filters(w1, 0.5, multiple=8)
    assert len(kept) == 8
    out = shrink_conv_pair(w1, b1, w2, kept)
    assert out.w1.shape == (8, 3, 3, 3) and out.w2.shape == (5, 8, 3, 3)
    zero = np.ones(16, dtype=bool)
    zero[kept] = False
    w1z, b1z = w1.copy(), b1.copy()
    w1z[zero], b1z[zero] = 0.0, 0.0
    ref = conv2d(np.maximum(conv2d(x, w1z, b1z, pad=(1, 1)), 0), w2, pad=(1, 1))
    got = conv2d(np.maximum(conv2d(x, out.w1, out.b1, pad=(1, 1)), 0), out.w2, pad=(1, 1))
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)


def test_shrink_through_a_depthwise_layer_and_into_a_grouped_consumer() -> None:
    rng = np.random.default_rng(9)
    w1, b1 = rng.standard_normal((8, 2, 1, 1)), rng.standard_normal(8)
    wd, bd = rng.standard_normal((16, 1, 3, 3)), rng.standard_normal(16)   # multiplier 2
    w2 = rng.standard_normal((4, 8, 1, 1))                                 # 2 groups of 8
    x = rng.standard_normal((2, 5, 5))
    kept = np.array([0, 2, 5, 7])            # 2 of channels 0-3, 2 of 4-7: dw rows 0-7 / 8-15
    out = shrink_conv_pair(w1, b1, w2, kept, w2_groups=2, between=[(wd, bd)])
    (wd2, bd2), = out.between
    assert wd2.shape == (8, 1, 3, 3) and out.w2.shape == (4, 4, 1, 1)
    zero = np.ones(8, dtype=bool)
    zero[kept] = False
    w1z, b1z, bdz = w1.copy(), b1.copy(), bd.copy()
    w1z[zero], b1z[zero] = 0.0, 0.0
    bdz[np.repeat(zero, 2)] = 0.0            # a removed channel's depthwise bias goes too
    ref = conv2d(conv2d(conv2d(x, w1z, b1z), wd, bdz, pad=(1, 1), groups=8), w2, groups=2)
    got = conv2d(conv2d(conv2d(x, out.w1, out.b1), wd2, bd2, pad=(1, 1), groups=4),
                 out.w2, groups=2)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)


def test_shrink_fc_pair() -> None:
    rng = np.random.default_rng(10)
    w1, w2 = rng.standard_normal((6, 4)), rng.standard_normal((3, 6))
    out = shrink_conv_pair(w1, None, w2, np.array([1, 4]))
    assert out.b1 is None and out.w1.tolist() == w1[[1, 4]].tolist()
    assert out.w2.tolist() == w2[:, [1, 4]].tolist()


def test_shrink_layer_changes_the_shapes_the_cost_model_sees() -> None:
    layer = conv("c1", in_ch=16, out_ch=32, in_hw=8, kernel=3, padding=1)
    small = shrink_layer(layer, k=16, c=8)
    assert (small.K, small.C, small.P, small.Q) == (16, 8, 8, 8)
    assert small.macs == 16 * 8 * 8 * 8 * 3 * 3
    dw = conv("dw", in_ch=32, out_ch=32, in_hw=8, kernel=3, padding=1, groups=32)
    d = shrink_layer(dw, c=24)
    assert (d.K, d.C, d.G, d.kind) == (24, 24, 24, "depthwise")
    assert shrink_layer(fc("f", 64, 10), c=40).C == 40


def test_pure_and_deterministic() -> None:
    w = rng_w(11, (8, 4, 3, 3))
    before = w.copy()
    for f in (lambda t: prune_kernel_rows(t), lambda t: prune_groups(t, 0.3, 8),
              lambda t: prune_tile_blocks(t, 0.5, 2, 2), lambda t: select_filters(t, 0.5, 2)):
        assert np.array_equal(f(w), f(w))
    shrink_conv_pair(w, None, rng_w(12, (3, 8, 1, 1)), np.array([0, 3]))
    assert np.array_equal(w, before)


@pytest.mark.parametrize("call,message", [
    (lambda: prune_kernel_rows(np.ones((2, 2, 3, 3)), 4),
     "keep must be in [1, R=3] kernel rows, not 4"),
    (lambda: prune_kernel_rows(np.ones((2, 9)), 1),
     "tensor must be a K x C x R x S weight (4-D), not shape (2, 9)"),
    (lambda: prune_groups(np.ones((2, 8)), 0.5, 0), "group must be a positive integer, not 0"),
    (lambda: tile_block((4, 4, 3), 2, 2), "weight_shape must be K x C or K x C x R x S"),
    (lambda: select_filters(np.ones((4, 2)), 0.0, 2),
     "keep_fraction must be a number in (0, 1], not 0.0"),
    (lambda: select_filters(np.ones((4, 2)), 0.5, 0), "multiple must be a positive integer, not 0"),
    (lambda: shrink_conv_pair(np.ones((4, 2)), None, np.ones((3, 5)), np.array([0, 1])),
     "w2 must have 4 input channels (axis 1) to follow w1, not 5"),
    (lambda: shrink_conv_pair(np.ones((4, 2)), None, np.ones((3, 4)), np.array([1, 1])),
     "kept must be strictly increasing indices in [0, 4), not [1, 1]"),
    (lambda: shrink_conv_pair(np.ones((4, 2, 1, 1)), None, np.ones((2, 2, 1, 1)),
                              np.array([0, 1]), w2_groups=2),
     "kept must keep the same number of channels in each of the 2 groups of w2, not [2, 0]"),
    (lambda: shrink_layer(conv("c", 4, 8, 4, 1), k=9),
     "layer 'c': k must be in [1, 8] (shrinking only), not 9"),
    (lambda: shrink_layer(conv("g", 4, 8, 4, 1, groups=2), k=5),
     "layer 'g': k and c must be multiples of G=2"),
])
def test_errors_name_the_argument_and_the_allowed_values(call, message: str) -> None:
    with pytest.raises(PruningError, match=f"^{re.escape(message)}"):
        call()
