"""Layer arithmetic (exact MACs, derived sizes) and the validation messages."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dataflows.errors import CoforgeError
from dataflows.layer import (DIMS, Density, Layer, LayerError, Precision, attention_av,
                             attention_qk, conv, fc, gemm, passive)


# -- exact MACs -------------------------------------------------------------------------
def test_conv_macs_and_output_size() -> None:
    layer = conv("conv1", 3, 64, 224, 7, stride=2, padding=3)
    assert (layer.P, layer.Q) == (112, 112)
    assert layer.kind == "conv"
    assert layer.macs == 64 * 3 * 7 * 7 * 112 * 112 == 118_013_952


def test_conv_floor_rounding_matches_pytorch() -> None:
    layer = conv("alex1", 3, 64, 224, 11, stride=4, padding=2)  # (224 + 4 - 11) // 4 + 1
    assert (layer.P, layer.Q) == (55, 55)
    assert layer.macs == 70_276_800


def test_grouped_conv_macs() -> None:
    layer = conv("g", 64, 128, 56, 3, padding=1, groups=4)
    assert layer.kind == "conv"
    assert layer.macs == 128 * (64 // 4) * 9 * 56 * 56 == 57_802_752


def test_depthwise_conv_macs() -> None:
    layer = conv("dw", 32, 32, 112, 3, stride=2, padding=1, groups=32)
    assert layer.kind == "depthwise"
    assert (layer.P, layer.G) == (56, 32)
    assert layer.macs == 32 * 1 * 9 * 56 * 56 == 903_168


def test_dilated_rectangular_conv() -> None:
    layer = conv("d", 8, 8, (20, 30), (3, 5), stride=(1, 2), padding=(2, 0), dilation=2)
    assert (layer.P, layer.Q) == (20, 11)
    assert (layer.needed_in_h, layer.needed_in_w) == (24, 29)
    assert layer.macs == 8 * 8 * 3 * 5 * 20 * 11


def test_fc_macs() -> None:
    layer = fc("fc", 4096, 1000, batch=8)
    assert layer.dims == {"N": 1, "K": 1000, "C": 4096, "P": 8, "Q": 1, "R": 1, "S": 1, "G": 1}
    assert layer.macs == 8 * 4096 * 1000


def test_gemm_macs_and_shape() -> None:
    layer = gemm("mm", M=128, N=3072, K=768)
    assert (layer.P, layer.C, layer.K) == (128, 768, 3072)
    assert layer.macs == 128 * 768 * 3072
    assert layer.gemm_shape == (1, 128, 768, 3072)


def test_attention_macs() -> None:
    qk = attention_qk("qk", seq_len=128, head_dim=64, heads=12)
    av = attention_av("av", seq_len=128, head_dim=64, heads=12)
    assert qk.macs == av.macs == 12 * 128 * 128 * 64 == 12_582_912
    assert qk.gemm_shape == (12, 128, 64, 128)  # per head: seq x head_dim . head_dim x seq
    assert av.gemm_shape == (12, 128, 128, 64)  # per head: seq x seq . seq x head_dim


def test_passive_layers_have_no_macs() -> None:
    add = passive("add", "elementwise", 256, 14)
    pool = passive("pool", "pool", 64, (56, 28), batch=2)
    assert add.macs == pool.macs == 0
    assert (pool.N, pool.K, pool.P, pool.Q) == (2, 64, 56, 28)


# -- derived sizes ----------------------------------------------------------------------
def test_input_extent_filled_from_output() -> None:
    layer = Layer("x", K=4, C=4, P=5, Q=7, R=3, S=3, stride_h=2, pad_h=1)
    assert (layer.H, layer.W) == (9, 9)  # (5-1)*2 + 3 - 2*1 ; (7-1) + 3


def test_element_counts() -> None:
    layer = conv("c", 16, 32, 8, 3, padding=1, groups=2)
    assert layer.weight_elems == 32 * 8 * 9
    assert layer.input_elems == 16 * 10 * 10
    assert layer.output_elems == 32 * 8 * 8


def test_copies_with_precision_and_density() -> None:
    layer = fc("fc", 16, 16)
    low = layer.with_precision(weight_bits=4).with_density(weight=0.5)
    assert (low.precision.weight_bits, low.precision.input_bits) == (4, 8)
    assert low.density.weight == 0.5
    assert layer.precision.weight_bits == 8  # the original is untouched
    assert low.macs == layer.macs


def test_to_dict() -> None:
    d = conv("c", 3, 8, 10, 3, stride=2, padding=1).to_dict()
    assert d["macs"] == 8 * 3 * 9 * 5 * 5
    assert d["stride"] == [2, 2] and d["padding"] == [1, 1] and d["input_hw"] == [10, 10]
    assert d["precision"] == {"input_bits": 8, "weight_bits": 8, "output_bits": 8}


# -- errors -----------------------------------------------------------------------------
@pytest.mark.parametrize("dim", DIMS + ("G",))
def test_zero_dim_rejected(dim: str) -> None:
    with pytest.raises(LayerError, match=rf"layer 'x': {dim} must be a positive integer, not 0"):
        Layer("x", **{dim: 0})


def test_non_integer_dim_rejected() -> None:
    with pytest.raises(LayerError, match=r"K must be a positive integer, not 2\.5"):
        Layer("x", K=2.5)  # type: ignore[arg-type]


def test_groups_must_divide_channels() -> None:
    with pytest.raises(LayerError, match=r"groups G=4 must divide C=6 and K=8"):
        Layer("x", C=6, K=8, G=4)
    with pytest.raises(LayerError, match=r"groups G=3 must divide C=6 and K=8"):
        conv("x", 6, 8, 10, 3, groups=3)


def test_depthwise_needs_groups_equal_channels() -> None:
    with pytest.raises(LayerError, match=r"depthwise layer needs G == C, got G=2, C=4"):
        Layer("x", kind="depthwise", C=4, K=4, G=2)


@pytest.mark.parametrize("bits", [0, 3, 7, 12, 64])
def test_bad_bits_rejected(bits: int) -> None:
    with pytest.raises(LayerError, match=rf"precision.weight_bits must be one of "
                                         rf"\[2, 4, 8, 16, 32\], not {bits}"):
        Precision(weight_bits=bits)


@pytest.mark.parametrize("value", [0.0, -0.1, 1.5])
def test_bad_density_rejected(value: float) -> None:
    with pytest.raises(LayerError, match=rf"density.input must be in \(0, 1\], not {value}"):
        Density(input=value)


def test_kernel_larger_than_input() -> None:
    with pytest.raises(LayerError, match=r"height: kernel 7 \(dilation 1\) does not fit "
                                         r"an input of 4 with padding 1"):
        conv("big", 3, 8, 4, 7, padding=1)


def test_bad_constructor_arguments() -> None:
    with pytest.raises(LayerError, match=r"layer 'c': stride must be a positive integer, not 0"):
        conv("c", 3, 8, 10, 3, stride=0)
    with pytest.raises(LayerError, match=r"kind must be one of .*not 'lstm'"):
        Layer("x", kind="lstm")
    with pytest.raises(LayerError, match=r"passive kind must be one of \['elementwise', "
                                         r"'pool'\], not 'conv'"):
        passive("p", "conv", 8)
    with pytest.raises(LayerError, match=r"layer name must be a non-empty string"):
        Layer("")
    with pytest.raises(LayerError, match=r"pad_h must be a non-negative integer, not -1"):
        Layer("x", pad_h=-1)


def test_layer_error_is_a_coforge_error() -> None:
    assert issubclass(LayerError, CoforgeError)


# -- properties -------------------------------------------------------------------------
small = st.integers(min_value=1, max_value=6)


@given(n=small, g=small, k_per=small, c_per=small, p=small, q=small, r=small, s=small)
def test_macs_is_the_loop_nest_product(n: int, g: int, k_per: int, c_per: int, p: int,
                                       q: int, r: int, s: int) -> None:
    layer = Layer("x", N=n, K=g * k_per, C=g * c_per, P=p, Q=q, R=r, S=s, G=g)
    assert layer.macs == n * (g * k_per) * c_per * p * q * r * s
    groups, rows, red, cols = layer.gemm_shape
    assert groups == g
    assert rows * red * cols == layer.macs // g


@given(extent=st.integers(1, 40), kernel=st.integers(1, 7), stride=st.integers(1, 4),
       pad=st.integers(0, 3), dilation=st.integers(1, 3))
def test_conv_output_size_counts_window_positions(extent: int, kernel: int, stride: int,
                                                  pad: int, dilation: int) -> None:
    span = dilation * (kernel - 1) + 1
    positions = len(range(0, extent + 2 * pad - span + 1, stride))
    if positions == 0:
        with pytest.raises(LayerError, match="does not fit"):
            conv("c", 1, 1, extent, kernel, stride, pad, dilation)
        return
    layer = conv("c", 1, 1, extent, kernel, stride, pad, dilation)
    assert layer.P == layer.Q == positions
    assert layer.needed_in_h <= extent + 2 * pad < layer.needed_in_h + stride


@given(seq=st.integers(1, 64), head_dim=st.integers(1, 64), heads=st.integers(1, 16))
def test_attention_is_heads_times_a_gemm(seq: int, head_dim: int, heads: int) -> None:
    qk = attention_qk("qk", seq, head_dim, heads)
    av = attention_av("av", seq, head_dim, heads)
    assert qk.macs == av.macs == heads * math.prod(gemm("g", seq, seq, head_dim).gemm_shape)
