"""Requantization of the integer reference engine: fixed-point multipliers, scaling
with one rounding, requantize, activation bounds and clamps (:mod:`sim.intref`
re-exports every public name; the integer forms of the roundings are in its docstring)."""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np


from sim.intref_base import (DEFAULT_MULTIPLIER_BITS, MAX_SHIFT, IntRefError, int_range,
                             _INT64_MAX, _absmax, _along, _check_bits, _check_rounding,
                             _int_array)

# -- requantization -----------------------------------------------------------------------
def quantize_multiplier(real_multiplier: float,
                        multiplier_bits: int = DEFAULT_MULTIPLIER_BITS) -> tuple[int, int]:
    """``(M, shift)`` with ``real_multiplier ~= M * 2**-shift``.

    ``M`` is normalised to ``[2**(mb-1), 2**mb)`` (``mb = multiplier_bits``, 2..32;
    default 31: gemmlowp/TFLite's Q0.31 of ``[0.5, 1)``), computed exactly from the
    double: ``M = round_half_up(real * 2**shift)``. Relative error
    ``|M * 2**-shift - real| <= real * 2**-mb``. ``shift`` is in ``[0, 63]``; a multiplier
    so small that it needs ``shift > 63`` is represented with ``shift = 63`` and an
    unnormalised ``M`` (absolute error ``<= 2**-64``; ``M`` may be 0). ``0.0`` gives
    ``(0, 0)``. ``real_multiplier`` must be finite, ``>= 0`` and ``< 2**mb``.
    """
    mb = _check_bits("multiplier_bits", multiplier_bits, 2, 32)
    if isinstance(real_multiplier, bool) or not isinstance(real_multiplier, (int, float,
                                                                             np.floating,
                                                                             np.integer)) \
            or not math.isfinite(real_multiplier) or real_multiplier < 0 \
            or real_multiplier >= 2.0 ** mb:
        raise IntRefError(f"real_multiplier must be a finite number in [0, 2**{mb}), "
                          f"not {real_multiplier!r}")
    if real_multiplier == 0:
        return 0, 0
    exact = Fraction(float(real_multiplier))
    _, e = math.frexp(float(real_multiplier))        # real = f * 2**e, f in [0.5, 1)
    shift = mb - e
    if shift > MAX_SHIFT:
        return math.floor(exact * 2 ** MAX_SHIFT + Fraction(1, 2)), MAX_SHIFT
    m = math.floor(exact * Fraction(2) ** shift + Fraction(1, 2))
    if m == 1 << mb:                                  # rounded up to the next power
        m, shift = m >> 1, shift - 1
    if shift < 0:
        raise IntRefError(f"real_multiplier must round below 2**{mb} (shift >= 0), "
                          f"not {real_multiplier!r}")
    return int(m), int(shift)


def quantize_multipliers(real_multipliers: Any, multiplier_bits: int = DEFAULT_MULTIPLIER_BITS
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel :func:`quantize_multiplier`: int64 arrays ``(M, shift)``."""
    reals = np.asarray(real_multipliers, dtype=np.float64).reshape(-1)
    pairs = [quantize_multiplier(float(v), multiplier_bits) for v in reals]
    return (np.array([p[0] for p in pairs], dtype=np.int64),
            np.array([p[1] for p in pairs], dtype=np.int64))


def _round_shift(p: np.ndarray, s: np.ndarray, rounding: str) -> np.ndarray:
    """``round(p / 2**s)`` by integer ops (int64 or object ``p``; ``s`` >= 0)."""
    one = np.ones_like(s)
    h = (one << np.maximum(s - 1, 0)) * (s > 0)       # 2**(s-1), or 0 when s == 0
    if rounding == "half_up":
        neg = ((p < 0) & (s > 0)).astype(p.dtype)
        return (p + h - neg) >> s
    q = p >> s
    r = p - (q << s)
    up = (r > h) | ((r == h) & ((q & 1) == 1) & (s > 0))
    return q + up.astype(p.dtype)


def scale_round(x: Any, multiplier: Any, shift: Any, rounding: str = "half_up",
                axis: int = 1) -> np.ndarray:
    """``round(x * M / 2**shift)`` in exact integers (the module docstring's rounding).

    ``multiplier`` (>= 0) and ``shift`` (0..63) are scalars or 1-D per channel along
    ``axis``. int64 when ``max|x| * max(M) + 2**(shift-1)`` fits, else Python integers;
    the result is returned as int64 when it fits int64, else as an object array.
    """
    rounding = _check_rounding(rounding)
    x_ = _int_array(x, "x")
    m = _int_array(multiplier, "multiplier")
    s = _int_array(shift, "shift")
    if m.size and int(m.min()) < 0:
        raise IntRefError(f"multiplier must be >= 0, found {int(m.min())}")
    if s.size and (int(s.min()) < 0 or int(s.max()) > MAX_SHIFT):
        raise IntRefError(f"shift must be in [0, {MAX_SHIFT}], found "
                          f"[{int(s.min())}, {int(s.max())}]")
    m = _along(m, x_, axis, "multiplier")
    s = _along(s, x_, axis, "shift")
    smax = int(s.max()) if s.size else 0
    bound = _absmax(x_) * _absmax(m) + (1 << smax)     # |p| + 2**s: no int64 overflow
    if bound <= _INT64_MAX:
        return _round_shift(x_ * m, np.broadcast_to(s, np.broadcast_shapes(x_.shape, s.shape)),
                            rounding)
    xo, mo = x_.astype(object), m.astype(object)
    so = np.broadcast_to(s.astype(object), np.broadcast_shapes(x_.shape, s.shape))
    out = _round_shift(xo * mo, so, rounding)
    if out.size and (max(out.reshape(-1)) > _INT64_MAX or min(out.reshape(-1)) < -_INT64_MAX - 1):
        return out
    return out.astype(np.int64)


def requantize(acc: Any, multiplier: Any, shift: Any, out_zero_point: Any, out_bits: int,
               signed: bool = True, rounding: str = "half_up", axis: int = 1,
               clamp: tuple[int, int] | None = None) -> np.ndarray:
    """``saturate(round(acc * M / 2**shift) + out_zero_point)`` (int64).

    ``multiplier``/``shift``/``out_zero_point``: scalars or per channel along ``axis``.
    ``rounding``: ``half_up`` (ties away from zero) or ``half_even`` (module
    docstring for the integer forms). The result is clamped to the ``out_bits``-bit
    range (``signed`` or not), further to ``clamp = (lo, hi)`` for a fused activation
    (:func:`activation_bounds`).
    """
    bits = _check_bits("out_bits", out_bits, 1, 64)
    y = scale_round(acc, multiplier, shift, rounding, axis)
    z = _along(_int_array(out_zero_point, "out_zero_point"), y, axis, "out_zero_point")
    lo, hi = int_range(bits, signed)
    if clamp is not None:
        lo, hi = _clamp_bounds(clamp, lo, hi)
    if y.dtype == object:                     # huge values: clamp first, exactly
        y = np.minimum(np.maximum(y + z.astype(object), lo), hi).astype(np.int64)
        return y
    return np.clip(y + z, lo, hi)


def _clamp_bounds(clamp: Any, lo: int, hi: int) -> tuple[int, int]:
    try:
        c_lo, c_hi = (int(v) for v in clamp)
    except (TypeError, ValueError):
        raise IntRefError(f"clamp must be a pair of integers (lo, hi), not {clamp!r}") from None
    if c_lo > c_hi:
        raise IntRefError(f"clamp must have lo <= hi, not {clamp!r}")
    return max(lo, c_lo), min(hi, c_hi)


def _round_half_up_fraction(v: Fraction) -> int:
    """Nearest integer, ties away from zero (exact)."""
    mag = math.floor(abs(v) + Fraction(1, 2))
    return mag if v >= 0 else -mag


def activation_bounds(scale: float, zero_point: int, out_bits: int, signed: bool = True,
                      lo: float | None = 0.0, hi: float | None = None) -> tuple[int, int]:
    """Quantized bounds ``(qmin, qmax)`` of a fused activation clipping reals to ``[lo, hi]``.

    ``q = zero_point + round(v / scale)`` (exact rational, ties away from zero, as
    TFLite's ``CalculateActivationRange``), intersected with the ``out_bits`` range;
    ``None`` leaves that side at the type's bound. ReLU: ``lo=0`` (``qmin = zero_point``);
    ReLU6: ``lo=0, hi=6``; Clip(a, b): ``lo=a, hi=b``. Pass the result as
    ``requantize(..., clamp=...)`` or to :func:`int_clip`.
    """
    if isinstance(scale, bool) or not isinstance(scale, (int, float, np.floating)) \
            or not math.isfinite(scale) or scale <= 0:
        raise IntRefError(f"scale must be a finite number > 0, not {scale!r}")
    t_lo, t_hi = int_range(out_bits, signed)
    z = int(zero_point)
    q_lo = t_lo if lo is None else max(t_lo, z + _round_half_up_fraction(
        Fraction(float(lo)) / Fraction(float(scale))))
    q_hi = t_hi if hi is None else min(t_hi, z + _round_half_up_fraction(
        Fraction(float(hi)) / Fraction(float(scale))))
    if q_lo > q_hi:
        raise IntRefError(f"activation range [{lo}, {hi}] is empty at scale {scale} and "
                          f"zero point {zero_point} in {out_bits} bits")
    return q_lo, q_hi


def int_clip(x: Any, lo: int, hi: int) -> np.ndarray:
    """Clamp to ``[lo, hi]`` (a fused ReLU/Clip in the integer domain)."""
    return np.clip(_int_array(x, "x"), *_clamp_bounds((lo, hi), lo, hi))
