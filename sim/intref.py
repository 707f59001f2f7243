"""The integer reference engine: the arithmetic of the RTL, in vectorised numpy.

This module is the engine's public face (every name below is importable from here):
widths, range checks, wrap and saturate live in :mod:`sim.intref_base`,
requantization in :mod:`sim.intref_requant`; GEMM, convolution, pooling, add and the
datapath of a spec here.

One engine for accuracy evaluation and for ``hdl``'s golden models
(:func:`hdl.golden.gemm_ref` and :func:`hdl.golden.wrap` call :func:`int_gemm` and
:func:`wrap`), so the RTL, the reference and the reported accuracy cannot drift apart.

Conventions (each one a pure integer operation the RTL can implement as stated):

* **Operands** are signed two's-complement (or unsigned) integers of 2/4/8/16/32 bits
  (:data:`OPERAND_BITS`), checked by :func:`check_int_range`. Zero points are integers;
  a quantized value ``q`` with scale ``s`` and zero point ``z`` means ``s * (q - z)``.
* **Accumulation** wraps at ``accumulator_bits`` (two's complement, :func:`wrap`), as
  the RTL's wrapping adders do. Because wrapping is reduction modulo
  ``2**accumulator_bits`` (a ring homomorphism), the order of additions and whether
  bias / zero-point corrections are added before or after the GEMM do not change the
  wrapped result.
* **Exactness of the fast paths** (:func:`int_gemm`, :func:`int_conv2d`): with
  ``bound = T * max|a| * max|b|`` (``T`` the reduction length) every partial sum of
  any summation order is an integer of magnitude ``<= bound``. If ``bound <= 2**24``
  (``2**53``) the products are summed by float32 (float64) BLAS, exactly (every
  intermediate is an integer the float represents; the order does not matter, FMA
  included). Otherwise the GEMM
  runs in ``uint64`` arithmetic, which is exact modulo ``2**64``; since
  ``accumulator_bits <= 64`` the wrapped result is exact too. No path can overflow
  silently, and no object arithmetic is needed for GEMMs.
* **Requantization** (:func:`requantize`): ``saturate(round(acc * M / 2**shift) + z)``
  with an integer multiplier ``M`` of ``multiplier_bits`` bits (default 31, the
  gemmlowp/TFLite width: ``M`` in ``[2**30, 2**31)``) and a right shift ``shift`` in
  ``[0, 63]``, one rounding only (no TFLite double rounding). Rounding modes
  (:data:`ROUNDINGS`), named as in Python's :mod:`decimal`:

  - ``half_up``: nearest, ties away from zero (``decimal.ROUND_HALF_UP``; the rounding
    of TFLite's ``RoundingDivideByPOT``). Integer form: with ``p = acc * M`` and
    ``h = 2**(shift-1)``: ``(p + h - [p < 0]) >> shift`` (arithmetic shift; the
    ``[p < 0]`` term is absent when ``shift == 0``).
  - ``half_even``: nearest, ties to even (``decimal.ROUND_HALF_EVEN``, numpy's
    ``round``, ONNX ``QuantizeLinear``). Integer form: ``q = p >> shift``,
    ``r = p - (q << shift)``; add 1 if ``r > h`` or (``r == h`` and ``q`` is odd).

  The product ``p`` is computed in int64 when ``max|acc| * max(M) + h < 2**63``
  (always for 32-bit accumulators and 31-bit multipliers), otherwise in exact Python
  integers (object arrays).
* **Per-channel** multipliers, shifts and zero points are 1-D arrays along ``axis``
  (default 1: the ``K`` axis of an ``N,K,P,Q`` conv output and the column axis of an
  ``M x N`` GEMM output).
* **Pooling**: max-pool takes the maximum of the quantized values (input and output
  share scale and zero point; max commutes with the monotone dequantization).
  Average pool: ``z + round((sum(q - z)) / count)``, an exact rounded integer division
  (:func:`round_div`) in the chosen rounding -- rounding acts on the real value, so
  ``half_up`` ties go away from real zero, not from the integer 0 of ``q``.
* **Elementwise Add** of ``a`` (scale ``sa``, zp ``za``) and ``b`` (``sb``, ``zb``) into
  ``y`` (``sy``, ``zy``), TFLite's scheme: ``m = 2 * max(sa, sb)``; each input is
  shifted left by ``left_shift`` (20) and rescaled to the common scale ``m / 2**ls``
  by the multiplier ``sa / m`` (resp. ``sb / m``); the sum is requantized by
  ``m / (2**ls * sy)``. Every rescale is one :func:`scale_round` (this module's
  rounding, not TFLite's double rounding).

Bad input raises :class:`IntRefError` (one line naming the argument, value and what is
allowed).
"""


from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.intref_base import (DEFAULT_MULTIPLIER_BITS, MAX_SHIFT, OPERAND_BITS, ROUNDINGS,
                             IntRefError, check_int_range, int_range, saturate, wrap,
                             _FLOAT32_EXACT, _FLOAT_EXACT, _absmax, _along, _check_bits,
                             _check_rounding, _int_array, _scalar)
from sim.intref_requant import (activation_bounds, int_clip, quantize_multiplier,
                                quantize_multipliers, requantize, scale_round)


# -- GEMM ---------------------------------------------------------------------------------
def _matmul_mod(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` (int64, batched like ``np.matmul``), exact or exact modulo ``2**64``.

    With ``bound = T * max|a| * max|b|``: float32 BLAS if ``bound <= 2**24``, float64 if
    ``<= 2**53`` (exact), else uint64 (exact modulo ``2**64``; the caller wraps to <= 64
    bits).
    """
    bound = a.shape[-1] * _absmax(a) * _absmax(b)
    for limit, ftype in ((_FLOAT32_EXACT, np.float32), (_FLOAT_EXACT, np.float64)):
        if bound <= limit:
            return np.matmul(a.astype(ftype), b.astype(ftype)).astype(np.int64)
    return np.matmul(a.view(np.uint64), b.view(np.uint64)).view(np.int64)


def int_gemm(a: Any, b: Any, accumulator_bits: int, a_zero_point: Any = 0,
             b_zero_point: Any = 0) -> np.ndarray:
    """``(A - za) . (B - zb)`` wrapped at ``accumulator_bits`` (int64, ``M x N``).

    ``a`` is ``M x T``, ``b`` is ``T x N`` (integer). ``a_zero_point`` is a scalar or one
    per row of ``a``; ``b_zero_point`` a scalar or one per column of ``b`` (as
    ``MatMulInteger``). With zero points 0 this is exactly :func:`hdl.golden.gemm_ref`:
    the RTL's product of the raw operands in wrapping accumulators. Exact for any
    integer operands fitting int64 (module docstring: float BLAS within ``2**24`` /
    ``2**53``, else uint64 modulo ``2**64``).
    """
    acc = _check_bits("accumulator_bits", accumulator_bits)
    a_ = _int_array(a, "a")
    b_ = _int_array(b, "b")
    if a_.ndim != 2 or b_.ndim != 2 or a_.shape[1] != b_.shape[0]:
        raise IntRefError(f"int_gemm needs a (M x T) and b (T x N), not shapes "
                          f"{a_.shape} and {b_.shape}")
    za = _int_array(a_zero_point, "a_zero_point")
    zb = _int_array(b_zero_point, "b_zero_point")
    if za.ndim:
        if za.shape != (a_.shape[0],):
            raise IntRefError(f"a_zero_point must be a scalar or have shape "
                              f"({a_.shape[0]},), not {za.shape}")
        za = za[:, None]
    if zb.ndim and zb.shape != (b_.shape[1],):
        raise IntRefError(f"b_zero_point must be a scalar or have shape "
                          f"({b_.shape[1]},), not {zb.shape}")
    if np.any(za):
        a_ = a_ - za
    if np.any(zb):
        b_ = b_ - zb
    return wrap(_matmul_mod(a_, b_), acc)


# -- convolution ----------------------------------------------------------------------------
def _pair(name: str, value: Any, n: int = 2, lo: int = 1) -> tuple[int, ...]:
    vals = (value,) * n if isinstance(value, (int, np.integer)) else tuple(value)
    if len(vals) != n or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                                 and v >= lo for v in vals):
        raise IntRefError(f"{name} must be {n} integers >= {lo}, not {value!r}")
    return tuple(int(v) for v in vals)


def _out_size(size: int, lo_pad: int, hi_pad: int, k: int, stride: int, dil: int,
              axis: str) -> int:
    span = dil * (k - 1) + 1
    out = (size + lo_pad + hi_pad - span) // stride + 1
    if size + lo_pad + hi_pad < span:
        raise IntRefError(f"kernel extent {span} along {axis} exceeds the padded input "
                          f"{size + lo_pad + hi_pad}")
    return out


def _windows(xp: np.ndarray, r: int, s: int, stride: tuple[int, int],
             dilation: tuple[int, int], p: int, q: int) -> np.ndarray:
    """``(N, C, R, S, P, Q)`` copy of the windows of the padded input ``xp``."""
    sh, sw = stride
    dh, dw = dilation
    n, c = xp.shape[:2]
    out = np.empty((n, c, r, s, p, q), dtype=xp.dtype)
    for i in range(r):
        for j in range(s):
            out[:, :, i, j] = xp[:, :, i * dh:i * dh + sh * (p - 1) + 1:sh,
                                 j * dw:j * dw + sw * (q - 1) + 1:sw]
    return out


def _pad(x: np.ndarray, padding: tuple[int, int, int, int], value: int) -> np.ndarray:
    top, left, bottom, right = padding
    return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=value)


def im2col(x: Any, kernel: tuple[int, int], stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1, pad_value: int = 0) -> np.ndarray:
    """The GEMM operand A of a convolution: ``(G, N*P*Q, C/G*R*S)`` int64.

    Rows are output pixels ``(n, p, q)`` (pixel-major), columns ``(c, r, s)`` of a group;
    ``padding`` is ``(top, left, bottom, right)`` (an int pads all four sides) filled
    with ``pad_value`` (the input zero point in an integer pipeline).
    """
    x_ = _int_array(x, "x")
    if x_.ndim != 4:
        raise IntRefError(f"x must be N x C x H x W, not shape {x_.shape}")
    r, s = _pair("kernel", kernel)
    sh, sw = _pair("stride", stride)
    dh, dw = _pair("dilation", dilation)
    pads = _pair("padding", padding, 4, 0)
    n, c, h, w = x_.shape
    g = _check_bits("groups", groups, 1, max(c, 1))
    if c % g:
        raise IntRefError(f"groups ({g}) must divide the input channels ({c})")
    p = _out_size(h, pads[0], pads[2], r, sh, dh, "H")
    q = _out_size(w, pads[1], pads[3], s, sw, dw, "W")
    cols = _windows(_pad(x_, pads, pad_value), r, s, (sh, sw), (dh, dw), p, q)
    cols = cols.reshape(n, g, c // g, r, s, p, q).transpose(1, 0, 5, 6, 2, 3, 4)
    return cols.reshape(g, n * p * q, (c // g) * r * s)


def int_conv2d(x: Any, w: Any, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
               groups: int = 1, accumulator_bits: int = 32, x_zero_point: int = 0,
               w_zero_point: Any = 0, bias: Any = None) -> np.ndarray:
    """Integer convolution ``(N, K, P, Q)`` int64, wrapped at ``accumulator_bits``.

    ``x``: ``N x C x H x W``; ``w``: ``K x C/G x R x S``; ``stride``/``dilation``:
    ``(h, w)`` or an int; ``padding``: ``(top, left, bottom, right)`` or an int;
    ``groups`` divides C and K (depthwise: ``groups == C``). Result:

        wrap(sum_{c,r,s} (x_pad - x_zero_point) * (w - w_zero_point) + bias)

    with the padded input ``x_pad`` equal to ``x_zero_point`` outside ``x`` (real
    integer pipelines pad with the zero point, so a padded tap contributes 0 and the
    zero-point correction is a per-channel constant). Computed as the engine runs it:
    the im2col GEMM (:func:`im2col`) of the raw ``x_pad`` with ``B = w - w_zero_point``
    (``w_zero_point`` a scalar or shape ``(K,)``) -- its sums accumulated one kernel tap
    at a time, the same integers -- plus ``bias - x_zero_point * sum(B)`` per output
    channel
    (``bias``: shape ``(K,)``, integers in accumulator precision, i.e. fitting signed
    ``accumulator_bits``), all modulo ``2**accumulator_bits`` (exact: module docstring).
    """
    acc = _check_bits("accumulator_bits", accumulator_bits)
    x_ = _int_array(x, "x")
    w_ = _int_array(w, "w")
    if x_.ndim != 4 or w_.ndim != 4:
        raise IntRefError(f"int_conv2d needs x (N,C,H,W) and w (K,C/G,R,S), not shapes "
                          f"{x_.shape} and {w_.shape}")
    n, c = x_.shape[:2]
    k, cg, r, s = w_.shape
    g = _check_bits("groups", groups, 1, max(c, 1))
    if c % g or k % g or cg != c // g:
        raise IntRefError(f"groups {g}: x has {c} channels and w is {w_.shape}; groups must "
                          f"divide C and K and w must have C/G = {c // g if c % g == 0 else '?'}"
                          f" input channels")
    zx = _scalar(x_zero_point, "x_zero_point")
    zw = _int_array(w_zero_point, "w_zero_point")
    if zw.ndim and zw.shape != (k,):
        raise IntRefError(f"w_zero_point must be a scalar or have shape ({k},), "
                          f"not {zw.shape}")
    bmat = w_ - (zw.reshape(k, 1, 1, 1) if zw.ndim else zw)          # the engine's B
    out = _conv_sums(x_, bmat, stride, padding, dilation, g, zx)      # (N, K, P, Q)
    corr = np.zeros(k, dtype=np.int64)
    if bias is not None:
        b_ = _int_array(bias, "bias")
        if b_.shape != (k,):
            raise IntRefError(f"bias must have shape ({k},), not {b_.shape}")
        lo, hi = int_range(acc, True)
        if b_.size and (int(b_.min()) < lo or int(b_.max()) > hi):
            raise IntRefError(f"bias must fit the {acc}-bit accumulator [{lo}, {hi}], found "
                              f"[{int(b_.min())}, {int(b_.max())}]")
        corr = b_.copy()
    if zx:
        # -zx * sum(B) per output channel, modulo 2**64 (uint64: no overflow trap)
        colsum = bmat.reshape(k, -1).view(np.uint64).sum(axis=1, dtype=np.uint64)
        corr = (corr.view(np.uint64) - np.uint64(zx % (1 << 64)) * colsum).view(np.int64)
    if np.any(corr):
        out = (out.view(np.uint64) + corr.view(np.uint64)[None, :, None, None]).view(np.int64)
    return wrap(out, acc)


def _conv_sums(x: np.ndarray, bmat: np.ndarray, stride: Any, padding: Any, dilation: Any,
               g: int, pad_value: int) -> np.ndarray:
    """``sum_{c,r,s} x_pad * B`` (N, K, P, Q) int64, exact or exact modulo ``2**64``.

    The same sums as the im2col GEMM (:func:`im2col`), accumulated one kernel tap
    ``(r, s)`` at a time (a GEMM of the shifted input, channels-last, with ``B[:, :, r,
    s]``; an elementwise product when ``C/G == 1``) so the im2col matrix is never built.
    Arithmetic: float32 if ``T * max|x_pad| * max|B| <= 2**24``, float64 if ``<= 2**53``
    (every partial sum, in any order, is an integer within the bound: exact), else
    uint64 (exact modulo ``2**64``).
    """
    n, c, h, w = x.shape
    k, cg, r, s = bmat.shape
    kg = k // g
    sh, sw = _pair("stride", stride)
    dh, dw = _pair("dilation", dilation)
    pads = _pair("padding", padding, 4, 0)
    p = _out_size(h, pads[0], pads[2], r, sh, dh, "H")
    q = _out_size(w, pads[1], pads[3], s, sw, dw, "W")
    bound = cg * r * s * max(_absmax(x), abs(pad_value)) * _absmax(bmat)
    dtype = np.float32 if bound <= _FLOAT32_EXACT else \
        np.float64 if bound <= _FLOAT_EXACT else np.uint64
    xl = np.ascontiguousarray(_pad(x, pads, pad_value).transpose(0, 2, 3, 1))  # N,Hp,Wp,C
    xl = xl.view(np.uint64) if dtype == np.uint64 else xl.astype(dtype)
    wl = bmat.view(np.uint64) if dtype == np.uint64 else bmat.astype(dtype)
    wl = wl.reshape(g, kg, cg, r, s)
    if cg == 1:
        out = np.zeros((n, p, q, g, kg), dtype=dtype)
    else:
        out = np.zeros((g, n * p * q, kg), dtype=dtype)
    for i in range(r):
        for j in range(s):
            xs = xl[:, i * dh:i * dh + sh * (p - 1) + 1:sh, j * dw:j * dw + sw * (q - 1) + 1:sw]
            if cg == 1:                                       # depthwise (x multiplier)
                out += xs[..., None] * wl[:, :, 0, i, j]
            elif g == 1:
                out[0] += xs.reshape(n * p * q, c) @ wl[0, :, :, i, j].T
            else:
                xg = xs.reshape(n * p * q, g, cg).transpose(1, 0, 2)
                out += np.matmul(xg, wl[:, :, :, i, j].transpose(0, 2, 1))
    if cg == 1:
        res = out.reshape(n, p, q, k).transpose(0, 3, 1, 2)
    else:
        res = out.reshape(g, n, p, q, kg).transpose(1, 0, 4, 2, 3).reshape(n, k, p, q)
    return res.view(np.int64) if dtype == np.uint64 else res.astype(np.int64)


def add_bias(acc: Any, bias: Any, accumulator_bits: int, axis: int = 1) -> np.ndarray:
    """``wrap(acc + bias)`` with ``bias`` (one per channel along ``axis``) in accumulator
    precision (must fit signed ``accumulator_bits``)."""
    bits = _check_bits("accumulator_bits", accumulator_bits)
    a = _int_array(acc, "acc")
    b = check_accumulator_values(bias, bits, "bias")
    b = _along(b, a, axis, "bias")
    return wrap((a.view(np.uint64) + b.astype(np.int64).view(np.uint64)).view(np.int64), bits)


def check_accumulator_values(x: Any, bits: int, name: str) -> np.ndarray:
    """``x`` as int64 after checking it fits a signed ``bits``-bit accumulator."""
    arr = _int_array(x, name)
    lo, hi = int_range(bits, True)
    if arr.size and (int(arr.min()) < lo or int(arr.max()) > hi):
        raise IntRefError(f"{name} must fit the {bits}-bit accumulator [{lo}, {hi}], found "
                          f"[{int(arr.min())}, {int(arr.max())}]")
    return arr


# -- pooling --------------------------------------------------------------------------------
def round_div(num: Any, den: Any, rounding: str = "half_up") -> np.ndarray:
    """``round(num / den)`` exactly in integers (``den > 0``; int64).

    ``half_up``: ``sign(n) * ((|n| + den // 2) // den)`` (ties away from zero);
    ``half_even``: ``q = n // den``, ``r = n - q * den``; ``q + 1`` if ``2r > den`` or
    (``2r == den`` and ``q`` odd).
    """
    rounding = _check_rounding(rounding)
    n = _int_array(num, "num")
    d = _int_array(den, "den")
    if d.size and int(d.min()) <= 0:
        raise IntRefError(f"den must be > 0, found {int(d.min())}")
    if rounding == "half_up":
        return np.sign(n) * ((np.abs(n) + d // 2) // d)
    q = n // d
    r2 = 2 * (n - q * d)
    return q + ((r2 > d) | ((r2 == d) & ((q & 1) == 1)))


def _pool_geometry(x: Any, kernel: Any, stride: Any, padding: Any, dilation: Any
                   ) -> tuple[np.ndarray, tuple[int, int], tuple[int, int], tuple[int, ...],
                              tuple[int, int], int, int]:
    x_ = _int_array(x, "x")
    if x_.ndim != 4:
        raise IntRefError(f"x must be N x C x H x W, not shape {x_.shape}")
    r, s = _pair("kernel", kernel)
    st = _pair("stride", stride)
    dl = _pair("dilation", dilation)
    pads = _pair("padding", padding, 4, 0)
    p = _out_size(x_.shape[2], pads[0], pads[2], r, st[0], dl[0], "H")
    q = _out_size(x_.shape[3], pads[1], pads[3], s, st[1], dl[1], "W")
    return x_, (r, s), st, pads, dl, p, q


def int_maxpool(x: Any, kernel: Any, stride: Any = 1, padding: Any = 0,
                dilation: Any = 1) -> np.ndarray:
    """Max over each window of ``x`` (N,C,H,W); padded taps never win (int64).

    Input and output share scale and zero point. A window lying wholly in the padding
    is an error (ONNX's MaxPool needs ``pad < kernel``).
    """
    x_, (r, s), st, pads, dl, p, q = _pool_geometry(x, kernel, stride, padding, dilation)
    sentinel = np.iinfo(np.int64).min
    win = _windows(_pad(x_, pads, sentinel), r, s, st, dl, p, q)
    out = win.max(axis=(2, 3))
    if out.size and (out == sentinel).any():
        raise IntRefError(f"padding {pads} leaves a pooling window with no input "
                          f"(kernel {(r, s)}, dilation {dl})")
    return out


def int_avgpool(x: Any, kernel: Any, stride: Any = 1, padding: Any = 0,
                count_include_pad: bool = False, x_zero_point: int = 0,
                rounding: str = "half_up") -> np.ndarray:
    """Average pool in integers: ``z + round_div(sum(q - z), count)`` (int64).

    Input and output share scale and zero point ``z``; padded taps hold ``z`` (they
    add 0 to ``sum(q - z)``) and are counted only when ``count_include_pad``.
    Rounding per :func:`round_div`, applied to the zero-point-free sum (the real
    value). To change scale, requantize the window sums instead.
    """
    x_, (r, s), st, pads, dl, p, q = _pool_geometry(x, kernel, stride, padding, 1)
    z = _scalar(x_zero_point, "x_zero_point")
    sums = _windows(_pad(x_ - z, pads, 0), r, s, st, dl, p, q).sum(axis=(2, 3))
    if count_include_pad:
        count: Any = r * s
    else:
        ones = np.ones((1, 1) + x_.shape[2:], dtype=np.int64)
        count = _windows(_pad(ones, pads, 0), r, s, st, dl, p, q).sum(axis=(2, 3))
        if (count == 0).any():
            raise IntRefError(f"padding {pads} leaves a pooling window with no input")
    return round_div(sums, count, rounding) + z


def int_global_avgpool(x: Any, x_zero_point: int = 0, rounding: str = "half_up") -> np.ndarray:
    """Global average pool ``(N, C, 1, 1)``: ``z + round_div(sum(q - z), H*W)``."""
    x_ = _int_array(x, "x")
    if x_.ndim != 4:
        raise IntRefError(f"x must be N x C x H x W, not shape {x_.shape}")
    z = _scalar(x_zero_point, "x_zero_point")
    sums = (x_ - z).sum(axis=(2, 3), keepdims=True)
    return round_div(sums, x_.shape[2] * x_.shape[3], rounding) + z


# -- elementwise add ------------------------------------------------------------------------
@dataclass(frozen=True)
class AddParams:
    """Integer parameters of a quantized Add (TFLite's scheme; module docstring)."""

    left_shift: int
    a_multiplier: int
    a_shift: int
    b_multiplier: int
    b_shift: int
    out_multiplier: int
    out_shift: int


def add_params(a_scale: float, b_scale: float, out_scale: float, left_shift: int = 20,
               multiplier_bits: int = DEFAULT_MULTIPLIER_BITS) -> AddParams:
    """``m = 2 max(sa, sb)``; multipliers ``sa/m``, ``sb/m`` and ``m / (2**ls * sy)``."""
    for name, v in (("a_scale", a_scale), ("b_scale", b_scale), ("out_scale", out_scale)):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.floating)) \
                or not math.isfinite(v) or v <= 0:
            raise IntRefError(f"{name} must be a finite number > 0, not {v!r}")
    ls = _check_bits("left_shift", left_shift, 0, 32)
    m = 2.0 * max(float(a_scale), float(b_scale))
    ma, sa = quantize_multiplier(float(a_scale) / m, multiplier_bits)
    mb, sb = quantize_multiplier(float(b_scale) / m, multiplier_bits)
    mo, so = quantize_multiplier(m / (2.0 ** ls * float(out_scale)), multiplier_bits)
    return AddParams(ls, ma, sa, mb, sb, mo, so)


def int_add(a: Any, a_zero_point: int, b: Any, b_zero_point: int, params: AddParams,
            out_zero_point: int, out_bits: int, signed: bool = True,
            rounding: str = "half_up", clamp: tuple[int, int] | None = None) -> np.ndarray:
    """Quantized ``a + b`` (broadcasting) as TFLite computes it, in this engine's rounding:

    ``a' = scale_round((a - za) << ls, Ma, sa)``, ``b'`` likewise, then
    ``requantize(a' + b', Mo, so, zy, out_bits, signed)`` (optionally ``clamp``).
    """
    a_ = _int_array(a, "a") - int(a_zero_point)
    b_ = _int_array(b, "b") - int(b_zero_point)
    ls = params.left_shift
    sa = scale_round(a_ << ls, params.a_multiplier, params.a_shift, rounding)
    sb = scale_round(b_ << ls, params.b_multiplier, params.b_shift, rounding)
    return requantize(sa + sb, params.out_multiplier, params.out_shift, out_zero_point,
                      out_bits, signed, rounding, clamp=clamp)


# -- the datapath of a spec -------------------------------------------------------------
@dataclass(frozen=True)
class IntegerDatapath:
    """The integer arithmetic of one accelerator: widths and rounding, validated.

    ``operand_bits``: widest signed operand the PE multiplies (GEMM/conv operands are
    checked against it); ``accumulator_bits``: wrap width of every accumulation;
    ``multiplier_bits``: width of requantization multipliers; ``rounding``: one of
    :data:`ROUNDINGS`. Build from a spec with :meth:`from_spec`.
    """

    operand_bits: int = 8
    accumulator_bits: int = 32
    multiplier_bits: int = DEFAULT_MULTIPLIER_BITS
    rounding: str = "half_up"

    def __post_init__(self) -> None:
        if self.operand_bits not in OPERAND_BITS or isinstance(self.operand_bits, bool):
            raise IntRefError(f"operand_bits must be one of {list(OPERAND_BITS)}, "
                              f"not {self.operand_bits!r}")
        _check_bits("accumulator_bits", self.accumulator_bits, 2 * self.operand_bits, 64)
        _check_bits("multiplier_bits", self.multiplier_bits, 2, 32)
        _check_rounding(self.rounding)

    @classmethod
    def from_spec(cls, acc: Any, multiplier_bits: int = DEFAULT_MULTIPLIER_BITS,
                  rounding: str = "half_up") -> IntegerDatapath:
        """The datapath of a :class:`sim.spec.Accelerator` (``acc.pe`` widths govern)."""
        pe = getattr(acc, "pe", None)
        if pe is None:
            raise IntRefError(f"from_spec needs a sim.spec.Accelerator, not "
                              f"{type(acc).__name__}")
        return cls(pe.operand_bits, pe.accumulator_bits, multiplier_bits, rounding)

    def _operand(self, x: Any, name: str) -> np.ndarray:
        return check_int_range(x, self.operand_bits, True, name)

    def gemm(self, a: Any, b: Any) -> np.ndarray:
        """:func:`int_gemm` of signed ``operand_bits`` operands at this accumulator."""
        return int_gemm(self._operand(a, "a"), self._operand(b, "b"), self.accumulator_bits)

    def conv2d(self, x: Any, w: Any, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
               groups: int = 1, x_zero_point: int = 0, w_zero_point: Any = 0,
               bias: Any = None) -> np.ndarray:
        """:func:`int_conv2d` here; ``x`` (and the zero point it pads with) and
        ``w - w_zero_point`` (the engine's B operand) must fit ``operand_bits``."""
        xx = self._operand(x, "x")
        self._operand(np.asarray([x_zero_point]), "x_zero_point")
        w_ = _int_array(w, "w")
        zw = _int_array(w_zero_point, "w_zero_point")
        self._operand(w_ - (zw.reshape(-1, 1, 1, 1) if zw.ndim else zw), "w - w_zero_point")
        return int_conv2d(xx, w_, stride, padding, dilation, groups, self.accumulator_bits,
                          x_zero_point, w_zero_point, bias)

    def quantize_multiplier(self, real_multiplier: float) -> tuple[int, int]:
        """:func:`quantize_multiplier` at this ``multiplier_bits``."""
        return quantize_multiplier(real_multiplier, self.multiplier_bits)

    def requantize(self, acc: Any, multiplier: Any, shift: Any, out_zero_point: Any,
                   out_bits: int, signed: bool = True, axis: int = 1,
                   clamp: tuple[int, int] | None = None) -> np.ndarray:
        """:func:`requantize` of accumulator values in this datapath's rounding."""
        a = check_accumulator_values(acc, self.accumulator_bits, "acc")
        return requantize(a, multiplier, shift, out_zero_point, out_bits, signed,
                          self.rounding, axis, clamp)

    def add(self, a: Any, a_zero_point: int, b: Any, b_zero_point: int, params: AddParams,
            out_zero_point: int, out_bits: int, signed: bool = True,
            clamp: tuple[int, int] | None = None) -> np.ndarray:
        """:func:`int_add` in this datapath's rounding."""
        return int_add(a, a_zero_point, b, b_zero_point, params, out_zero_point, out_bits,
                       signed, self.rounding, clamp)


__all__ = ["AddParams", "DEFAULT_MULTIPLIER_BITS", "IntRefError", "IntegerDatapath",
           "MAX_SHIFT", "OPERAND_BITS", "ROUNDINGS", "activation_bounds", "add_bias",
           "add_params", "check_accumulator_values", "check_int_range", "im2col", "int_add",
           "int_avgpool", "int_clip", "int_conv2d", "int_gemm", "int_global_avgpool",
           "int_maxpool", "int_range", "quantize_multiplier", "quantize_multipliers",
           "requantize", "round_div", "saturate", "scale_round", "wrap"]
