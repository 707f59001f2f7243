"""The integer reference engine (sim/intref.py) against independent references.

* GEMM and convolution against exact Python-integer arithmetic (object arrays and a
  brute-force 7-loop convolution) with a two's-complement wrap written out here;
* against onnxruntime's integer kernels (MatMulInteger, ConvInteger: int32 exact) and
  QLinearConv (float-scale requantization: expected within 1 LSB, see that test);
* requantization against :mod:`fractions` / :mod:`decimal` rounding, ties included;
* pooling, Add and activation bounds against values computed by hand.
"""

from __future__ import annotations

import decimal
import itertools
import math
from fractions import Fraction

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper

from hdl import golden
from sim.intref import (IntegerDatapath, IntRefError, activation_bounds, add_bias,
                        add_params, check_int_range, int_add, int_avgpool, int_clip,
                        int_conv2d, int_gemm, int_global_avgpool, int_maxpool,
                        quantize_multiplier, quantize_multipliers, requantize, round_div,
                        saturate, scale_round, wrap)
from sim.spec import Accelerator, PEConfig


# -- independent references ---------------------------------------------------------------
def py_wrap(v: int, bits: int) -> int:
    """Two's complement by the definition: (v + 2^(b-1)) mod 2^b - 2^(b-1)."""
    half = 1 << (bits - 1)
    return (v + half) % (1 << bits) - half


def obj_gemm(a: np.ndarray, b: np.ndarray, bits: int) -> np.ndarray:
    """hdl.golden.gemm_ref as it was: Python-integer matmul, then wrap."""
    exact = np.asarray(a, dtype=object) @ np.asarray(b, dtype=object)
    return np.array([[py_wrap(int(v), bits) for v in row] for row in exact], dtype=np.int64)


def brute_conv(x, w, stride, pads, dil, groups, bits, zx=0, zw=None, bias=None) -> np.ndarray:
    """7 nested loops in Python integers; taps outside x read the zero point."""
    n_, _, h_, w_ = x.shape
    k_, cg, r_, s_ = w.shape
    top, left, bottom, right = pads
    p_ = (h_ + top + bottom - dil[0] * (r_ - 1) - 1) // stride[0] + 1
    q_ = (w_ + left + right - dil[1] * (s_ - 1) - 1) // stride[1] + 1
    kg = k_ // groups
    out = np.zeros((n_, k_, p_, q_), dtype=np.int64)
    for n in range(n_):
        for k in range(k_):
            g = k // kg
            zwk = 0 if zw is None else int(np.broadcast_to(zw, (k_,))[k])
            for p in range(p_):
                for q in range(q_):
                    acc = 0 if bias is None else int(bias[k])
                    for c in range(cg):
                        for r in range(r_):
                            for s in range(s_):
                                hh = p * stride[0] + r * dil[0] - top
                                ww = q * stride[1] + s * dil[1] - left
                                inside = 0 <= hh < h_ and 0 <= ww < w_
                                xv = int(x[n, g * cg + c, hh, ww]) if inside else zx
                                acc += (xv - zx) * (int(w[k, c, r, s]) - zwk)
                    out[n, k, p, q] = py_wrap(acc, bits)
    return out


def rng_ints(rng: np.random.Generator, shape, bits: int, signed: bool = True,
             extreme: bool = False) -> np.ndarray:
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    if extreme:
        return rng.choice(np.array([lo, hi], dtype=np.int64), size=shape)
    return rng.integers(lo, hi, size=shape, endpoint=True, dtype=np.int64)


def ort_session(node: onnx.NodeProto, inputs: list[tuple[str, int]], out_type: int,
                opset: int = 13) -> ort.InferenceSession:
    vis = [helper.make_tensor_value_info(name, t, None) for name, t in inputs]
    y = helper.make_tensor_value_info(node.output[0], out_type, None)
    model = helper.make_model(helper.make_graph([node], "one_node", vis, [y]),
                              opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), so,
                                providers=["CPUExecutionProvider"])


# -- wrap, saturate, range checks -----------------------------------------------------------
def test_wrap_and_saturate_by_hand() -> None:
    assert wrap(128, 8) == -128 and wrap(-129, 8) == 127 and wrap(255, 8) == -1
    assert isinstance(wrap(np.int64(300), 8), int)
    assert wrap(np.array([127, 128, -128, -129, 1 << 40]), 8).tolist() == [127, -128, -128,
                                                                          127, 0]
    assert wrap(np.array([(1 << 63) + 5], dtype=object), 64).tolist() == [-(1 << 63) + 5]
    assert wrap(np.array([-1], dtype=np.int64), 64).tolist() == [-1]
    assert wrap(np.array([np.iinfo(np.int64).max]), 63).tolist() == [-1]
    assert saturate(np.array([-200, -5, 300]), 8).tolist() == [-128, -5, 127]
    assert saturate(np.array([-200, 5, 300]), 8, signed=False).tolist() == [0, 5, 255]
    assert saturate(-9, 4) == -8


@given(st.lists(st.integers(-(1 << 70), 1 << 70), min_size=1, max_size=20),
       st.integers(1, 64))
def test_wrap_equals_definition(values: list[int], bits: int) -> None:
    got = wrap(np.array(values, dtype=object), bits)
    assert got.tolist() == [py_wrap(v, bits) for v in values]
    small = [v for v in values if -(1 << 63) <= v < (1 << 63)]
    if small:
        assert wrap(np.array(small, dtype=np.int64), bits).tolist() == \
            [py_wrap(v, bits) for v in small]


def test_check_int_range() -> None:
    assert check_int_range(np.array([-8, 7]), 4).tolist() == [-8, 7]
    assert check_int_range([0, 255], 8, signed=False).dtype == np.int64
    with pytest.raises(IntRefError, match=r"x must hold int4 values in \[-8, 7\], found 8"):
        check_int_range(np.array([8]), 4)
    with pytest.raises(IntRefError, match=r"w must hold uint2 values in \[0, 3\], found -1"):
        check_int_range(np.array([-1]), 2, signed=False, name="w")
    with pytest.raises(IntRefError, match=r"bits of x must be one of \[2, 4, 8, 16, 32\], "
                                          r"not 3"):
        check_int_range(np.array([0]), 3)
    with pytest.raises(IntRefError, match="x must be an integer array, not dtype float64"):
        check_int_range(np.array([1.0]), 8)


# -- GEMM -----------------------------------------------------------------------------------
@settings(max_examples=150, deadline=None)
@given(m=st.integers(1, 9), t=st.integers(1, 40), n=st.integers(1, 9),
       bits=st.sampled_from([2, 4, 8, 16, 32]), acc=st.sampled_from([4, 16, 24, 32, 48, 64]),
       extreme=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_int_gemm_equals_object_gemm_ref(m, t, n, bits, acc, extreme, seed) -> None:
    rng = np.random.default_rng(seed)
    a = rng_ints(rng, (m, t), bits, extreme=extreme)
    b = rng_ints(rng, (t, n), bits, extreme=extreme)
    want = obj_gemm(a, b, acc)
    got = int_gemm(a, b, acc)
    assert got.dtype == np.int64 and np.array_equal(got, want)
    assert np.array_equal(golden.gemm_ref(a, b, acc), want)      # hdl delegates here


def test_int_gemm_overflow_wraps_like_the_rtl() -> None:
    # 127 * 127 * 1100 = 17,741,900 = 16,777,216 + 964,684: one wrap of a 24-bit accumulator
    a = np.full((1, 1100), 127)
    b = np.full((1100, 1), 127)
    assert int_gemm(a, b, 24).tolist() == [[964684]]
    assert int_gemm(a, b, 32).tolist() == [[17741900]]
    # 16-bit accumulator, int8 extremes: (-128)(-128) * 3 = 49152 -> 49152 - 65536
    assert int_gemm(np.full((1, 3), -128), np.full((3, 1), -128), 16).tolist() == [[-16384]]
    # 32-bit operands: sums past 2**64 (uint64 path), 64-bit accumulator
    big = np.full((1, 8), -(1 << 31))
    assert int_gemm(big, big.T, 64).tolist() == [[py_wrap(8 << 62, 64)]]


def test_int_gemm_rejects_bad_shapes() -> None:
    with pytest.raises(IntRefError, match=r"int_gemm needs a \(M x T\) and b \(T x N\), "
                                          r"not shapes \(2, 3\) and \(2, 3\)"):
        int_gemm(np.zeros((2, 3), int), np.zeros((2, 3), int), 32)
    with pytest.raises(IntRefError, match="accumulator_bits must be an integer in"):
        int_gemm(np.zeros((2, 3), int), np.zeros((3, 3), int), 65)


@pytest.mark.parametrize("a_type, b_type", [(TensorProto.UINT8, TensorProto.INT8),
                                            (TensorProto.UINT8, TensorProto.UINT8),
                                            (TensorProto.INT8, TensorProto.INT8)])
def test_int_gemm_vs_onnxruntime_matmulinteger(a_type: int, b_type: int) -> None:
    np_type = {TensorProto.UINT8: np.uint8, TensorProto.INT8: np.int8}
    rng = np.random.default_rng(a_type * 10 + b_type)
    node = helper.make_node("MatMulInteger", ["a", "b", "za", "zb"], ["y"])
    sess = ort_session(node, [("a", a_type), ("b", b_type), ("za", a_type), ("zb", b_type)],
                       TensorProto.INT32)
    for m, t, n in [(1, 1, 1), (7, 33, 5), (16, 200, 12)]:
        a = rng_ints(rng, (m, t), 8, signed=a_type == TensorProto.INT8)
        b = rng_ints(rng, (t, n), 8, signed=b_type == TensorProto.INT8)
        za = int(rng_ints(rng, (), 8, signed=a_type == TensorProto.INT8))
        zb = int(rng_ints(rng, (), 8, signed=b_type == TensorProto.INT8))
        feeds = {"a": a.astype(np_type[a_type]), "b": b.astype(np_type[b_type]),
                 "za": np.array(za, np_type[a_type]), "zb": np.array(zb, np_type[b_type])}
        (want,) = sess.run(None, feeds)
        got = int_gemm(a, b, 32, a_zero_point=za, b_zero_point=zb)
        assert np.array_equal(got, want.astype(np.int64))


# -- convolution ---------------------------------------------------------------------------
CONV_CASES = [
    # (N, C, H, W, K, R, S, stride, padding, dilation, groups, bits, acc, zx, zw, bias)
    (2, 3, 5, 6, 4, 3, 2, (2, 1), (1, 0, 2, 1), (1, 2), 1, 8, 32, 0, None, False),
    (1, 3, 6, 5, 4, 2, 3, (1, 2), (0, 2, 1, 0), (2, 1), 1, 8, 32, 3, "per_k", True),
    (2, 4, 5, 7, 6, 3, 3, (1, 3), (2, 1, 0, 2), (2, 1), 2, 8, 32, -5, 2, True),
    (1, 5, 7, 7, 5, 3, 3, (2, 2), (1, 1, 1, 1), (1, 1), 5, 8, 32, 7, None, True),   # depthwise
    (1, 3, 6, 6, 6, 3, 3, (1, 1), (1, 1, 1, 1), (2, 2), 3, 4, 16, -2, None, False),  # dw x2
    (1, 4, 4, 4, 3, 3, 3, (1, 1), (1, 2, 0, 1), (1, 1), 1, 16, 16, 100, None, True),  # wraps
    (1, 2, 3, 3, 2, 1, 1, (1, 1), (0, 0, 0, 0), (1, 1), 1, 32, 64, 0, None, False),  # uint64
    (1, 2, 4, 4, 2, 2, 2, (3, 1), (1, 1, 0, 0), (1, 3), 2, 2, 4, 1, None, False),  # int2 wrap
]


@pytest.mark.parametrize("case", CONV_CASES)
def test_int_conv2d_vs_brute_force(case: tuple) -> None:
    n, c, h, w, k, r, s, stride, pads, dil, g, bits, acc, zx, zw, bias = case
    rng = np.random.default_rng(abs(hash(case)) % 2**32)
    x = rng_ints(rng, (n, c, h, w), bits, extreme=bits >= 16)
    wt = rng_ints(rng, (k, c // g, r, s), bits, extreme=bits >= 16)
    zw_ = rng_ints(rng, (k,), 4) if zw == "per_k" else zw
    b = rng_ints(rng, (k,), min(acc, 32) - 2) if bias else None
    want = brute_conv(x, wt, stride, pads, dil, g, acc, zx, zw_, b)
    got = int_conv2d(x, wt, stride, pads, dil, g, acc, x_zero_point=zx,
                     w_zero_point=0 if zw_ is None else zw_, bias=b)
    assert got.shape == want.shape and np.array_equal(got, want)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(1, 2), cg=st.integers(1, 3), kg=st.integers(1, 3), g=st.integers(1, 3),
       h=st.integers(1, 6), w=st.integers(1, 6), r=st.integers(1, 3), s=st.integers(1, 3),
       sh=st.integers(1, 3), sw=st.integers(1, 3), dh=st.integers(1, 2), dw=st.integers(1, 2),
       pads=st.tuples(*[st.integers(0, 2)] * 4), bits=st.sampled_from([2, 4, 8, 16]),
       acc=st.sampled_from([8, 16, 32]), seed=st.integers(0, 2**32 - 1))
def test_int_conv2d_random_vs_brute_force(n, cg, kg, g, h, w, r, s, sh, sw, dh, dw, pads,
                                          bits, acc, seed) -> None:
    if h + pads[0] + pads[2] < dh * (r - 1) + 1 or w + pads[1] + pads[3] < dw * (s - 1) + 1:
        return
    rng = np.random.default_rng(seed)
    x = rng_ints(rng, (n, cg * g, h, w), bits)
    wt = rng_ints(rng, (kg * g, cg, r, s), bits)
    zx = int(rng_ints(rng, (), bits))
    want = brute_conv(x, wt, (sh, sw), pads, (dh, dw), g, acc, zx)
    got = int_conv2d(x, wt, (sh, sw), pads, (dh, dw), g, acc, x_zero_point=zx)
    assert np.array_equal(got, want)


def test_int_conv2d_rejects_bad_input() -> None:
    x = np.zeros((1, 4, 5, 5), dtype=np.int64)
    with pytest.raises(IntRefError, match=r"groups 3: x has 4 channels"):
        int_conv2d(x, np.zeros((3, 1, 3, 3), int), groups=3)
    with pytest.raises(IntRefError, match=r"padding must be 4 integers >= 0, not \(1, 1\)"):
        int_conv2d(x, np.zeros((2, 4, 3, 3), int), padding=(1, 1))
    with pytest.raises(IntRefError, match="kernel extent 7 along H exceeds the padded input 5"):
        int_conv2d(x, np.zeros((2, 4, 4, 1), int), dilation=(2, 1))
    with pytest.raises(IntRefError, match=r"bias must fit the 16-bit accumulator"):
        int_conv2d(x, np.zeros((2, 4, 3, 3), int), accumulator_bits=16,
                   bias=np.array([1 << 20, 0]))


CONV_ORT_CASES = [
    # (x type, w type, N, C, H, W, K, R, S, strides, pads (t, l, b, r), dilations, group)
    (TensorProto.UINT8, TensorProto.INT8, 2, 3, 9, 8, 4, 3, 3, (2, 1), (1, 0, 2, 1), (1, 2), 1),
    (TensorProto.UINT8, TensorProto.UINT8, 1, 4, 7, 7, 6, 3, 2, (1, 2), (2, 1, 0, 1), (2, 1), 2),
    (TensorProto.INT8, TensorProto.INT8, 1, 6, 8, 8, 6, 3, 3, (2, 2), (1, 1, 1, 1), (1, 1), 6),
    (TensorProto.UINT8, TensorProto.INT8, 1, 16, 12, 12, 8, 1, 1, (1, 1), (0, 0, 0, 0),
     (1, 1), 1),
]


@pytest.mark.parametrize("case", CONV_ORT_CASES)
def test_int_conv2d_vs_onnxruntime_convinteger(case: tuple) -> None:
    xt, wt_, n, c, h, w, k, r, s, strides, pads, dil, g = case
    np_type = {TensorProto.UINT8: np.uint8, TensorProto.INT8: np.int8}
    rng = np.random.default_rng(sum(map(hash, case[2:])) % 2**32)
    x = rng_ints(rng, (n, c, h, w), 8, signed=xt == TensorProto.INT8)
    wt = rng_ints(rng, (k, c // g, r, s), 8, signed=wt_ == TensorProto.INT8)
    zx = int(rng_ints(rng, (), 8, signed=xt == TensorProto.INT8))
    zw = int(rng_ints(rng, (), 8, signed=wt_ == TensorProto.INT8))
    node = helper.make_node("ConvInteger", ["x", "w", "zx", "zw"], ["y"],
                            strides=list(strides), dilations=list(dil), group=g,
                            pads=list(pads), kernel_shape=[r, s])
    sess = ort_session(node, [("x", xt), ("w", wt_), ("zx", xt), ("zw", wt_)],
                       TensorProto.INT32, opset=10)
    (want,) = sess.run(None, {"x": x.astype(np_type[xt]), "w": wt.astype(np_type[wt_]),
                              "zx": np.array(zx, np_type[xt]),
                              "zw": np.array(zw, np_type[wt_])})
    got = int_conv2d(x, wt, strides, pads, dil, g, 32, x_zero_point=zx, w_zero_point=zw)
    assert np.array_equal(got, want.astype(np.int64))


def test_add_bias_wraps_in_accumulator_precision() -> None:
    acc = np.array([[32767, -32768], [0, 5]])
    assert add_bias(acc, np.array([1, -1]), 16).tolist() == [[-32768, 32767], [1, 4]]
    with pytest.raises(IntRefError, match=r"bias must fit the 16-bit accumulator"):
        add_bias(acc, np.array([1 << 15, 0]), 16)


# -- requantization -------------------------------------------------------------------------
def frac_round(v: Fraction, rounding: str) -> int:
    """half_even: Python's round() on a Fraction; half_up: decimal.ROUND_HALF_UP."""
    if rounding == "half_even":
        return round(v)
    with decimal.localcontext() as ctx:
        ctx.prec = 200                               # a dyadic fraction: exact decimal
        d = decimal.Decimal(v.numerator) / decimal.Decimal(v.denominator)
        return int(d.quantize(decimal.Decimal(1), rounding=decimal.ROUND_HALF_UP))


@pytest.mark.parametrize("rounding", ["half_up", "half_even"])
def test_requantize_vs_exact_rational(rounding: str) -> None:
    rng = np.random.default_rng(7)
    for acc_bits in (16, 32, 64):                     # 64: the exact-Python-integer path
        acc = rng_ints(rng, (400,), acc_bits)
        reals = np.exp(rng.uniform(np.log(1e-9), np.log(3.0), size=400))
        for a, real in zip(acc.tolist(), reals.tolist()):
            m, s = quantize_multiplier(real)
            want = min(max(frac_round(Fraction(a * m, 1 << s), rounding) + 3, -128), 127)
            got = requantize(np.array([a]), m, s, 3, 8, rounding=rounding)
            assert got.tolist() == [want], (a, m, s)
            want32 = frac_round(Fraction(a * m, 1 << s), rounding)
            assert scale_round(np.array([a]), m, s, rounding).tolist() == [want32]


@pytest.mark.parametrize("rounding", ["half_up", "half_even"])
def test_requantize_exact_ties(rounding: str) -> None:
    """acc * M = t * 2^(s-1) with t odd: exactly halfway; both signs, many shifts."""
    rng = np.random.default_rng(11)
    accs, ms, ss = [], [], []
    for _ in range(500):
        s = int(rng.integers(1, 40))
        m = int(rng.choice([1, 3, 5, 7]))
        t = int(rng.integers(-2000, 2000)) * 2 + 1
        accs.append(t * (1 << (s - 1)))              # acc * m = (t m) 2^(s-1), t m odd
        ms.append(m)
        ss.append(s)
    for a, m, s in zip(accs, ms, ss):
        got = scale_round(np.array([a]), m, s, rounding).tolist()
        assert got == [frac_round(Fraction(a * m, 1 << s), rounding)]
    # by hand: 2.5 -> 3 / 2, -2.5 -> -3 / -2, 3.5 -> 4 / 4, -0.5 -> -1 / 0
    got = requantize(np.array([5, -5, 7, -1]), 1, 1, 0, 8, rounding=rounding).tolist()
    assert got == ([3, -3, 4, -1] if rounding == "half_up" else [2, -2, 4, 0])


def test_requantize_per_channel_and_clamp() -> None:
    rng = np.random.default_rng(3)
    acc = rng_ints(rng, (2, 4, 3, 3), 32)
    m, s = quantize_multipliers([0.002, 0.0007, 1.5e-5, 0.01])
    zp = np.array([0, 5, -3, 10])
    got = requantize(acc, m, s, zp, 8, rounding="half_even", clamp=(-20, 100))
    for idx in itertools.product(*map(range, acc.shape)):
        k = idx[1]
        v = round(Fraction(int(acc[idx]) * int(m[k]), 1 << int(s[k]))) + int(zp[k])
        assert got[idx] == min(max(v, -20), 100)
    # GEMM output (M x N): channels on axis 1 as well
    g = requantize(np.array([[100, 100]]), np.array([1 << 30, 1 << 29]), np.array([31, 31]),
                   0, 8)
    assert g.tolist() == [[50, 25]]
    with pytest.raises(IntRefError, match=r"multiplier must be a scalar or 1-D along axis 1"):
        requantize(acc, np.ones(3, int), 1, 0, 8)
    with pytest.raises(IntRefError, match=r"rounding must be one of \['half_up', 'half_even'\]"
                                          r", not 'nearest'"):
        requantize(acc, 1, 1, 0, 8, rounding="nearest")
    with pytest.raises(IntRefError, match=r"shift must be in \[0, 63\], found \[64, 64\]"):
        requantize(acc, 1, 64, 0, 8)


@pytest.mark.parametrize("mb", [8, 16, 31, 32])
def test_quantize_multiplier_error_bound(mb: int) -> None:
    rng = np.random.default_rng(mb)
    top = min(1e3, 2.0 ** (mb - 1))                  # shift >= 0 needs real < 2**mb
    for real in np.exp(rng.uniform(np.log(1e-12), np.log(top), size=2000)).tolist():
        m, s = quantize_multiplier(real, mb)
        err = abs(Fraction(m, 1 << s) - Fraction(real))
        if real >= 2.0 ** (mb - 1 - 63):            # normalised: shift <= 63 suffices
            assert 0 <= s <= 63 and (1 << (mb - 1)) <= m < (1 << mb)
            assert err <= Fraction(real) / (1 << mb)
        else:                                       # too small: shift 63, M unnormalised
            assert s == 63 and m < (1 << (mb - 1)) and err <= Fraction(1, 1 << 64)
    assert quantize_multiplier(0.5) == (1 << 30, 31)
    assert quantize_multiplier(1.0) == (1 << 30, 30)
    assert quantize_multiplier(0.0) == (0, 0)
    assert quantize_multiplier(1e-30) == (0, 63)          # below 2**-64: flushes to 0
    for bad in (-1.0, math.nan, math.inf, 2.0 ** 31):
        with pytest.raises(IntRefError, match=r"real_multiplier must be a finite number in "
                                              r"\[0, 2\*\*31\)"):
            quantize_multiplier(bad)


def test_requantized_conv_within_one_lsb_of_onnxruntime_qlinearconv() -> None:
    """Integer requantization vs ORT's QLinearConv (uint8 x/y, int8 per-channel weights).

    ORT requantizes in float32: ``y = clamp(round_half_even(acc * (sx*sw/sy)) + zy)``.
    The engine uses ``round(acc * M / 2**s)`` with ``M / 2**s`` within a relative
    ``2**-31`` of the double ``sx*sw/sy``. The two pre-rounding values differ by far
    less than 1 (float32 scale error ~6e-8 relative, times |acc * scale| < 300), and
    two roundings of values less than 1 apart differ by at most 1; saturation is
    monotone and cannot widen that. They differ only where the exact value lies within
    that error of a .5 boundary, so mismatches are rare and never above 1 LSB.
    """
    rng = np.random.default_rng(2026)
    n, c, h, w, k, r = 2, 8, 10, 10, 6, 3
    x = rng_ints(rng, (n, c, h, w), 8, signed=False)
    wt = rng_ints(rng, (k, c, r, r), 8)
    sx, sy = np.float32(0.02), np.float32(0.05)
    sw = (rng.uniform(0.002, 0.01, size=k)).astype(np.float32)
    zx, zy = 117, 98
    bias = rng.integers(-5000, 5000, size=k).astype(np.int32)
    node = helper.make_node("QLinearConv", ["x", "sx", "zx", "w", "sw", "zw", "sy", "zy", "b"],
                            ["y"], pads=[1, 0, 2, 1], strides=[1, 2], kernel_shape=[r, r])
    f, u8, i8, i32 = TensorProto.FLOAT, TensorProto.UINT8, TensorProto.INT8, TensorProto.INT32
    sess = ort_session(node, [("x", u8), ("sx", f), ("zx", u8), ("w", i8), ("sw", f),
                              ("zw", i8), ("sy", f), ("zy", u8), ("b", i32)], u8)
    (want,) = sess.run(None, {"x": x.astype(np.uint8), "sx": np.array(sx),
                              "zx": np.array(zx, np.uint8), "w": wt.astype(np.int8), "sw": sw,
                              "zw": np.zeros(k, np.int8),
                              "sy": np.array(sy), "zy": np.array(zy, np.uint8), "b": bias})
    acc = int_conv2d(x, wt, (1, 2), (1, 0, 2, 1), 1, 1, 32, x_zero_point=zx, bias=bias)
    m, s = quantize_multipliers(float(sx) * sw.astype(np.float64) / float(sy))
    got = requantize(acc, m, s, zy, 8, signed=False, rounding="half_even")
    diff = np.abs(got - want.astype(np.int64))
    assert diff.max() <= 1
    assert (diff != 0).mean() < 0.01


# -- activations, pooling, add -------------------------------------------------------------
def test_activation_bounds_and_clip_by_hand() -> None:
    assert activation_bounds(0.125, -5, 8) == (-5, 127)                  # ReLU
    assert activation_bounds(0.125, -5, 8, lo=0, hi=6) == (-5, 43)       # ReLU6: 6/0.125=48
    assert activation_bounds(0.125, -5, 8, lo=-0.3125, hi=0.3125) == (-8, -2)   # +-2.5 -> +-3
    assert activation_bounds(0.125, 10, 8, signed=False, lo=None, hi=100.0) == (0, 255)
    assert int_clip(np.array([-9, 0, 50]), -5, 43).tolist() == [-5, 0, 43]
    with pytest.raises(IntRefError, match="scale must be a finite number > 0, not 0.0"):
        activation_bounds(0.0, 0, 8)


def test_round_div_by_hand() -> None:
    num = np.array([5, -5, 7, -7, 15, 8, 1])
    den = np.array([2, 2, 2, 2, 6, 9, 3])       # 2.5 -2.5 3.5 -3.5 2.5 0.89 0.33
    assert round_div(num, den, "half_up").tolist() == [3, -3, 4, -4, 3, 1, 0]
    assert round_div(num, den, "half_even").tolist() == [2, -2, 4, -4, 2, 1, 0]


def test_avgpool_by_hand() -> None:
    x = np.array([[[[1, 2], [3, 4]]]])
    assert int_avgpool(x, 2).tolist() == [[[[3]]]]                           # 2.5
    assert int_avgpool(x, 2, rounding="half_even").tolist() == [[[[2]]]]
    # zero point 3: real values -2,-1,0,1 -> mean -0.5 -> away from zero: -1 (+3 = 2)
    assert int_avgpool(x, 2, x_zero_point=3).tolist() == [[[[2]]]]
    assert int_avgpool(x, 2, x_zero_point=3, rounding="half_even").tolist() == [[[[3]]]]
    assert int_avgpool(-x, 2).tolist() == [[[[-3]]]]
    x3 = np.arange(9).reshape(1, 1, 3, 3)
    # sums / taps:  8/4 15/6 12/4 | 21/6 36/9 27/6 | 20/4 33/6 24/4
    #            =  2   2.5  3    | 3.5  4    4.5  | 5    5.5  6
    assert int_avgpool(x3, 3, padding=1).tolist() == [[[[2, 3, 3], [4, 4, 5], [5, 6, 6]]]]
    assert int_avgpool(x3, 3, padding=1, rounding="half_even").tolist() == \
        [[[[2, 2, 3], [4, 4, 4], [5, 6, 6]]]]
    assert int_avgpool(x3, 3, padding=1, count_include_pad=True)[0, 0, 0].tolist() == [1, 2, 1]
    g = np.array([[[[1, 2, 3], [4, 5, 6]], [[0, 0, 0], [0, 0, 3]]]])   # 3.5 and 0.5
    assert int_global_avgpool(g).tolist() == [[[[4]], [[1]]]]
    assert int_global_avgpool(g, rounding="half_even").tolist() == [[[[4]], [[0]]]]


def test_maxpool_vs_brute_force() -> None:
    rng = np.random.default_rng(5)
    x = rng_ints(rng, (2, 3, 7, 8), 8)
    got = int_maxpool(x, (2, 3), (2, 1), (1, 0, 0, 1), (1, 2))
    p, q = (7 + 1 - 2) // 2 + 1, (8 + 1 - 5) // 1 + 1
    want = np.empty((2, 3, p, q), dtype=np.int64)
    for n, c, i, j in itertools.product(range(2), range(3), range(p), range(q)):
        taps = [int(x[n, c, i * 2 + r - 1, j + 2 * s]) for r in range(2) for s in range(3)
                if 0 <= i * 2 + r - 1 < 7 and 0 <= j + 2 * s < 8]
        want[n, c, i, j] = max(taps)
    assert np.array_equal(got, want)


def test_add_by_hand() -> None:
    # sa=0.5, sb=0.25, sy=1: m=1, Ma/2^sa = 0.5, Mb/2^sb = 0.25, Mo/2^so = 2^-20, so
    # y = zy + round((a-za)/2 + (b-zb)/4), the rescales in between being exact.
    p = add_params(0.5, 0.25, 1.0)
    assert (p.a_multiplier, p.a_shift, p.b_multiplier, p.b_shift) == (1 << 30, 31, 1 << 30, 32)
    assert (p.out_multiplier, p.out_shift) == (1 << 30, 50)
    za, zb, zy = 3, -2, 10
    da = np.array([1, -1, 3, 5, 1, 0, 127])
    db = np.array([0, 0, 0, 0, 1, 2, 127])       # 0.5 -0.5 1.5 2.5 0.75 0.5 95.25
    up = int_add(da + za, za, db + zb, zb, p, zy, 8)
    even = int_add(da + za, za, db + zb, zb, p, zy, 8, rounding="half_even")
    assert (up - zy).tolist() == [1, -1, 2, 3, 1, 1, 95]
    assert (even - zy).tolist() == [0, 0, 2, 2, 1, 0, 95]
    assert int_add(np.array([127]), 0, np.array([127]), 0, p, 100, 8).tolist() == [127]


def test_add_within_one_lsb_of_float() -> None:
    rng = np.random.default_rng(9)
    for _ in range(20):
        sa, sb, sy = np.exp(rng.uniform(-6, 0, size=3)).tolist()
        za, zb, zy = (int(v) for v in rng.integers(-20, 20, size=3))
        a, b = rng_ints(rng, (300,), 8), rng_ints(rng, (300,), 8)
        got = int_add(a, za, b, zb, add_params(sa, sb, sy), zy, 8)
        real = (sa * (a - za) + sb * (b - zb)) / sy
        want = np.clip(np.round(real) + zy, -128, 127)
        assert np.abs(got - want).max() <= 1


# -- the datapath of a spec ---------------------------------------------------------------
def test_integer_datapath_from_spec() -> None:
    accel = Accelerator("a", 4, 4, pe=PEConfig(operand_bits=8, accumulator_bits=24))
    dp = IntegerDatapath.from_spec(accel)
    assert (dp.operand_bits, dp.accumulator_bits, dp.multiplier_bits, dp.rounding) == \
        (8, 24, 31, "half_up")
    a, b = np.full((1, 1100), 127), np.full((1100, 1), 127)
    assert dp.gemm(a, b).tolist() == [[964684]]                 # wraps at 24 bits
    with pytest.raises(IntRefError, match=r"a must hold int8 values in \[-128, 127\], found 200"):
        dp.gemm(np.full((1, 2), 200), np.ones((2, 1), int))
    with pytest.raises(IntRefError, match=r"acc must fit the 24-bit accumulator"):
        dp.requantize(np.array([1 << 30]), 1, 0, 0, 8)
    x = np.zeros((1, 1, 3, 3), dtype=np.int64)
    with pytest.raises(IntRefError, match=r"x_zero_point must hold int8 values"):
        dp.conv2d(x, np.ones((1, 1, 1, 1), int), x_zero_point=128)
    assert dp.conv2d(x + 1, np.ones((1, 1, 2, 2), int), padding=1,
                     x_zero_point=1).tolist() == [[[[0] * 4] * 4]]
    assert dp.quantize_multiplier(0.5) == (1 << 30, 31)
    with pytest.raises(IntRefError, match=r"accumulator_bits must be an integer in \[16, 64\]"):
        IntegerDatapath(operand_bits=8, accumulator_bits=8)
    with pytest.raises(IntRefError, match=r"operand_bits must be one of"):
        IntegerDatapath(operand_bits=3)
