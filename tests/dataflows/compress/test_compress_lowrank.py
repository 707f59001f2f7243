"""Low-rank factorizations of dataflows.compress.lowrank: full rank reproduces the layer
(outputs checked with a brute-force loop conv), errors shrink with rank, and the
factorized workload layers have the hand-computed shapes and MAC counts."""

from __future__ import annotations

import re

import numpy as np
import pytest
from compress_conv_ref import conv2d

from dataflows.compress.lowrank import (LowRankError, factorized_layers, spatial_separate,
                                        svd_factorize, tucker2_factorize)
from dataflows.layer import Layer, conv, fc, gemm


def run(layer: Layer, x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """The loop conv with the layer's own stride/padding/dilation."""
    assert w.shape == (layer.K, layer.C // layer.G, layer.R, layer.S)
    assert x.shape == (layer.C, layer.H, layer.W)
    out = conv2d(x, w, b, (layer.stride_h, layer.stride_w), (layer.pad_h, layer.pad_w),
                 (layer.dilation_h, layer.dilation_w), layer.G)
    assert out.shape == (layer.K, layer.P, layer.Q)
    return out


def test_full_rank_svd_reproduces_an_fc_layer() -> None:
    rng = np.random.default_rng(0)
    w, b, x = rng.standard_normal((5, 8)), rng.standard_normal(5), rng.standard_normal((3, 8))
    w1, w2 = svd_factorize(w, 5)
    assert w1.shape == (5, 8) and w2.shape == (5, 5)
    np.testing.assert_allclose(w2 @ w1, w, atol=1e-6)
    np.testing.assert_allclose((x @ w1.T) @ w2.T + b, x @ w.T + b, atol=1e-6)


def test_rank_one_of_a_rank_one_matrix_is_exact() -> None:
    u, v = np.array([1.0, -2.0, 3.0]), np.array([0.5, 4.0, -1.0, 2.0])
    w1, w2 = svd_factorize(np.outer(u, v), 1)
    np.testing.assert_allclose(w2 @ w1, np.outer(u, v), atol=1e-12)


def test_svd_error_is_the_dropped_spectrum() -> None:
    """Eckart-Young; singular values via eigvalsh of W W^T (an independent route)."""
    w = np.random.default_rng(1).standard_normal((6, 9))
    sq = np.sort(np.linalg.eigvalsh(w @ w.T))[::-1]        # sigma^2, descending
    for rank in range(1, 7):
        w1, w2 = svd_factorize(w, rank)
        err2 = float(((w2 @ w1 - w) ** 2).sum())
        assert err2 == pytest.approx(float(sq[rank:].sum()), abs=1e-9)


def test_full_rank_svd_of_a_strided_padded_1x1_conv() -> None:
    rng = np.random.default_rng(2)
    layer = conv("pw", in_ch=4, out_ch=6, in_hw=5, kernel=1, stride=2, padding=1)
    w, b, x = (rng.standard_normal((6, 4, 1, 1)), rng.standard_normal(6),
               rng.standard_normal((4, 5, 5)))
    w1, w2 = svd_factorize(w, 4)
    assert w1.shape == (4, 4, 1, 1) and w2.shape == (6, 4, 1, 1)
    l1, l2 = factorized_layers(layer, 4)
    np.testing.assert_allclose(run(l2, run(l1, x, w1), w2, b), run(layer, x, w, b), atol=1e-6)


def test_full_rank_tucker2_reproduces_a_conv() -> None:
    rng = np.random.default_rng(3)
    layer = conv("c", in_ch=3, out_ch=5, in_hw=(6, 7), kernel=3, stride=(2, 1), padding=1,
                 dilation=(1, 2))
    w, b, x = (rng.standard_normal((5, 3, 3, 3)), rng.standard_normal(5),
               rng.standard_normal((3, 6, 7)))
    first, core, last = tucker2_factorize(w, 3, 5)
    assert (first.shape, core.shape, last.shape) == ((3, 3, 1, 1), (5, 3, 3, 3), (5, 5, 1, 1))
    la, lb, lc = factorized_layers(layer, (3, 5))
    got = run(lc, run(lb, run(la, x, first), core), last, b)
    np.testing.assert_allclose(got, run(layer, x, w, b), atol=1e-6)


def test_full_rank_spatial_separation_reproduces_a_conv() -> None:
    rng = np.random.default_rng(4)
    layer = conv("c", in_ch=2, out_ch=3, in_hw=(7, 6), kernel=(3, 2), stride=(1, 2),
                 padding=(1, 1), dilation=(2, 1))
    w, b, x = (rng.standard_normal((3, 2, 3, 2)), rng.standard_normal(3),
               rng.standard_normal((2, 7, 6)))
    vertical, horizontal = spatial_separate(w, 6)              # min(C*R, K*S) = min(6, 6)
    assert vertical.shape == (6, 2, 3, 1) and horizontal.shape == (3, 6, 1, 2)
    lv, lh = factorized_layers(layer, 6)
    np.testing.assert_allclose(run(lh, run(lv, x, vertical), horizontal, b),
                               run(layer, x, w, b), atol=1e-6)


def test_error_decreases_monotonically_with_rank() -> None:
    rng = np.random.default_rng(5)
    fcw, cw = rng.standard_normal((12, 10)), rng.standard_normal((6, 5, 3, 3))

    def err(approx: np.ndarray, ref: np.ndarray) -> float:
        return float(np.linalg.norm(approx - ref))

    svd = [err(np.matmul(*svd_factorize(fcw, r)[::-1]), fcw) for r in range(1, 11)]
    tucker = [err(np.einsum("kocd,oirs,icab->kcrs", t[2], t[1], t[0]), cw)
              for t in (tucker2_factorize(cw, r, r + 1) for r in range(1, 6))]
    tucker_in = [err(np.einsum("kocd,oirs,icab->kcrs", t[2], t[1], t[0]), cw)
                 for t in (tucker2_factorize(cw, r, 3) for r in range(1, 6))]
    spatial = [err(np.einsum("ktas,tcrb->kcrs", *spatial_separate(cw, r)[::-1]), cw)
               for r in range(1, 16)]
    for seq in (svd, tucker, tucker_in, spatial):
        assert all(a >= b - 1e-12 for a, b in zip(seq, seq[1:], strict=False))
        assert seq[0] > seq[-1]
    assert svd[-1] < 1e-9 and spatial[-1] < 1e-9


def test_mac_counts_of_factorized_layers_by_hand() -> None:
    # conv 16 -> 32, 3x3, 8x8 input, pad 1: P = Q = 8; original 32*16*9*64 = 294912
    c = conv("c", in_ch=16, out_ch=32, in_hw=8, kernel=3, padding=1)
    assert c.macs == 294_912
    tk = factorized_layers(c, (4, 8))
    assert [layer.macs for layer in tk] == [64 * 16 * 4, 64 * 4 * 8 * 9, 64 * 8 * 32]
    assert sum(layer.macs for layer in tk) == 38_912
    # spatial rank 5 with stride 2 on a 9x9 input: P = Q = 5; vertical on 5 x 9 outputs
    d = conv("d", in_ch=16, out_ch=32, in_hw=9, kernel=3, stride=2, padding=1)
    sp = factorized_layers(d, 5)
    assert [(layer.P, layer.Q) for layer in sp] == [(5, 9), (5, 5)]
    assert [layer.macs for layer in sp] == [45 * 5 * 16 * 3, 25 * 32 * 5 * 3]   # 10800, 12000
    # fc 64 -> 10, batch 3, rank 4: 3*4*64 + 3*10*4
    f = factorized_layers(fc("f", 64, 10, batch=3), 4)
    assert [layer.kind for layer in f] == ["fc", "fc"]
    assert [layer.macs for layer in f] == [768, 120]
    g = factorized_layers(gemm("g", M=7, N=20, K=30), 2)
    assert [layer.macs for layer in g] == [7 * 2 * 30, 7 * 20 * 2]


def test_factor_layers_keep_precision_and_input_density() -> None:
    c = conv("c", 8, 8, 6, 3, padding=1).with_precision(weight_bits=4).with_density(input=0.5)
    layers = factorized_layers(c, (2, 2))
    assert [layer.name for layer in layers] == ["c.lr0", "c.lr1", "c.lr2"]
    assert all(layer.precision.weight_bits == 4 for layer in layers)
    assert [layer.density.input for layer in layers] == [0.5, 1.0, 1.0]


def test_pure_and_deterministic() -> None:
    w = np.random.default_rng(6).standard_normal((4, 3, 3, 3))
    before = w.copy()
    for f in (lambda t: tucker2_factorize(t, 2, 2), lambda t: spatial_separate(t, 3)):
        a, b = f(w), f(w)
        assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert np.array_equal(w, before)


@pytest.mark.parametrize("call,message", [
    (lambda: svd_factorize(np.ones((3, 4)), 4), "rank must be an integer in [1, 3], not 4"),
    (lambda: svd_factorize(np.ones((3, 4, 3, 3)), 1), "w_fc must be N_out x N_in or a 1x1 conv"),
    (lambda: tucker2_factorize(np.ones((4, 3, 3, 3)), 0, 2),
     "rank_in must be an integer in [1, 3], not 0"),
    (lambda: spatial_separate(np.ones((4, 3)), 1),
     "w must be a non-empty 4-D array, not shape (4, 3)"),
    (lambda: factorized_layers(conv("d", 8, 8, 6, 3, groups=8), 2),
     "layer 'd': kind must be conv, fc or gemm with G=1 to factorize, "
     "not kind 'depthwise' with G=8"),
    (lambda: factorized_layers(conv("c", 8, 8, 6, 3), [2]),
     "layer 'c': ranks must be (rank_in, rank_out) for tucker2, not [2]"),
    (lambda: factorized_layers(fc("f", 8, 4), 2, method="spatial"),
     "layer 'f': a fc layer factorizes by svd only, not method 'spatial'"),
    (lambda: factorized_layers(conv("c", 8, 8, 6, 3), 2, method="svd"),
     "layer 'c': svd needs R = S = 1"),
    (lambda: factorized_layers(conv("c", 8, 8, 6, 3), 2, method="cp"), "method must be one of"),
])
def test_errors_name_the_argument_and_the_allowed_values(call, message: str) -> None:
    with pytest.raises(LowRankError, match=f"^{re.escape(message)}"):
        call()
