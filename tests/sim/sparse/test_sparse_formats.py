"""Compressed formats: data + metadata bits, hand-counted on small tensors."""

from __future__ import annotations

import re

import numpy as np
import pytest

from sim.sparse import FormatError, FormatParams, expected_bits, tensor_bits

# 2 x 8, nonzeros at flat positions 1, 7, 8 (n = 16, nnz = 3), 8-bit values.
M = np.array([[0, 5, 0, 0, 0, 0, 0, 3],
              [1, 0, 0, 0, 0, 0, 0, 0]])


@pytest.mark.parametrize("fmt,params,data,meta", [
    ("dense", FormatParams(), 128, 0),
    # one bit per element
    ("bitmap", FormatParams(), 24, 16),
    # 3 column indices of ceil(log2 8) = 3 bits + 3 row pointers of ceil(log2 17) = 5 bits
    ("csr", FormatParams(), 24, 3 * 3 + 3 * 5),
    # 3 row indices of 1 bit + 9 column pointers of 5 bits
    ("csc", FormatParams(), 24, 3 * 1 + 9 * 5),
    # runs before the nonzeros: 1, 5, 0; a 2-bit field holds runs < 4: the run of 5
    # needs floor(5 / 4) = 1 extra entry -> 4 entries of 8 + 2 bits
    ("rle", FormatParams(run_bits=2), 32, 8),
    # 4-bit runs: no extra entry -> 3 entries of 8 + 4 bits
    ("rle", FormatParams(run_bits=4), 24, 12),
    # 2:4 -> 2 groups per row, 4 groups of 2 values and 2 indices of 2 bits
    ("nm", FormatParams(2, 4), 64, 16),
    # 2:8 -> 1 group per row: 2 groups of 2 values and 2 indices of 3 bits
    ("nm", FormatParams(2, 8), 32, 12),
])
def test_tensor_bits_hand_counted(fmt: str, params: FormatParams, data: int, meta: int) -> None:
    got = tensor_bits(fmt, M, 8, params)
    assert (got.elements, got.data_bits, got.meta_bits) == (16, data, meta)
    assert got.bits_per_element == (data + meta) / 16


def test_rle_trailing_zeros_cost_nothing_and_all_zero_is_empty() -> None:
    assert tensor_bits("rle", np.array([[3, 0, 0, 0, 0, 0, 0, 0, 0]]), 8).total_bits == 12
    assert tensor_bits("rle", np.zeros((2, 3)), 8).total_bits == 0
    # a run of 40 zeros with a 4-bit field: floor(40 / 16) = 2 extra entries
    row = np.zeros((1, 41))
    row[0, 40] = 1
    assert tensor_bits("rle", row, 8).data_bits == 3 * 8


def test_nm_rejects_a_tensor_that_is_not_nm() -> None:
    with pytest.raises(FormatError, match=re.escape(
            "w has 3 nonzeros in a group of 4: not 2:4 sparse; prune it with "
            "sim.sparse.prune_nm(t, 2, 4)")):
        tensor_bits("nm", np.array([[1, 1, 1, 0]]), 8, FormatParams(2, 4), "w")


@pytest.mark.parametrize("fmt,data,meta", [
    ("dense", 256, 0),
    ("bitmap", 64, 32),                                   # nnz = 0.25 * 32 = 8
    ("csr", 64, 8 * 3 + 5 * 6),                          # 5 row pointers of ceil(log2 33)
    ("csc", 64, 8 * 2 + 9 * 6),
    ("nm", 128, 32),                                      # 8 groups x 2 x (8 + 2) bits
])
def test_expected_bits_linear_formats(fmt: str, data: float, meta: float) -> None:
    got = expected_bits(fmt, 4, 8, 0.25, 8, FormatParams(2, 4))
    assert (got.data_bits, got.meta_bits) == (data, meta)


def test_expected_rle_formula_and_monte_carlo() -> None:
    """E[entries] = d n / (1 - (1 - d)^(2^r)): 8 / (1 - 0.75^4) at d = 0.25, r = 2; and
    within 1 % of the mean over random tensors of 100,000 elements."""
    got = expected_bits("rle", 4, 8, 0.25, 8, FormatParams(run_bits=2))
    assert got.data_bits == pytest.approx(8 / (1 - 0.75 ** 4) * 8, rel=1e-12)
    assert got.meta_bits == pytest.approx(8 / (1 - 0.75 ** 4) * 2, rel=1e-12)
    rng = np.random.default_rng(7)
    p = FormatParams(run_bits=3)
    sample = np.mean([tensor_bits("rle", rng.random((1, 100_000)) < 0.1, 8, p).data_bits
                      for _ in range(4)])
    assert sample == pytest.approx(expected_bits("rle", 1, 100_000, 0.1, 8, p).data_bits,
                                   rel=0.01)


def test_expected_dense_density_is_the_dense_size_plus_metadata() -> None:
    assert expected_bits("bitmap", 4, 8, 1.0, 8).total_bits == 32 * 9
    assert expected_bits("rle", 4, 8, 1.0, 8, FormatParams(run_bits=4)).total_bits == 32 * 12


def test_expected_nm_rejects_density_above_n_over_m() -> None:
    with pytest.raises(FormatError, match=re.escape(
            "layer 'c' weight has density 0.6, above the 2:4 format's 0.5; set the layer's "
            "density to <= 0.5")):
        expected_bits("nm", 4, 8, 0.6, 8, FormatParams(2, 4), "layer 'c' weight")


def test_expected_nm_cap_counts_a_partial_last_group() -> None:
    """147 columns (a 3x7x7 filter) in 2:4: 36 full groups + one of 3 -> at most
    (36 * 2 + 2) / 147 nonzeros per element, the density prune_nm leaves."""
    cap = (36 * 2 + 2) / 147
    got = expected_bits("nm", 2, 147, cap, 8, FormatParams(2, 4))
    assert (got.data_bits, got.meta_bits) == (2 * 37 * 2 * 8, 2 * 37 * 2 * 2)
    with pytest.raises(FormatError, match="above the 2:4 format's 0.503401"):
        expected_bits("nm", 2, 147, 0.51, 8, FormatParams(2, 4))
