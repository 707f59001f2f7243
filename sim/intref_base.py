"""The integer reference engine's shared ground: widths, rounding modes, range checks,
wrap and saturate (:mod:`sim.intref` re-exports every public name; conventions in its
docstring)."""

from __future__ import annotations

from typing import Any

import numpy as np

from dataflows.errors import CoforgeError
from dataflows.layer import SUPPORTED_BITS

#: Operand widths the engine accepts (those of :data:`dataflows.layer.SUPPORTED_BITS`).
OPERAND_BITS: tuple[int, ...] = SUPPORTED_BITS
#: Rounding modes of :func:`requantize`, :func:`scale_round` and :func:`round_div`.
ROUNDINGS: tuple[str, ...] = ("half_up", "half_even")
#: Largest right shift of a requantization (a 6-bit shift amount in hardware).
MAX_SHIFT = 63
#: Default multiplier width: gemmlowp/TFLite's 31-bit fixed point.
DEFAULT_MULTIPLIER_BITS = 31
#: Largest integer every double represents exactly (float64 GEMM path bound).
_FLOAT_EXACT = 1 << 53
#: ... and every float32 (float32 paths).
_FLOAT32_EXACT = 1 << 24
_INT64_MAX = (1 << 63) - 1


class IntRefError(CoforgeError):
    """Bad input to the integer engine (operand range, widths, shapes, rounding)."""


# -- validation helpers -------------------------------------------------------------------
def _check_bits(name: str, bits: object, lo: int = 1, hi: int = 64) -> int:
    if not isinstance(bits, (int, np.integer)) or isinstance(bits, bool) \
            or not lo <= int(bits) <= hi:
        raise IntRefError(f"{name} must be an integer in [{lo}, {hi}], not {bits!r}")
    return int(bits)


def _check_rounding(rounding: object) -> str:
    if rounding not in ROUNDINGS:
        raise IntRefError(f"rounding must be one of {list(ROUNDINGS)}, not {rounding!r}")
    return str(rounding)


def _int_array(x: Any, name: str) -> np.ndarray:
    """``x`` as an int64 array; integer input only, values must fit int64."""
    arr = np.asarray(x)
    if arr.dtype == object:
        flat = arr.reshape(-1)
        if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in flat):
            raise IntRefError(f"{name} must hold integers, not {arr.dtype} values")
        if flat.size and (max(flat) > _INT64_MAX or min(flat) < -_INT64_MAX - 1):
            raise IntRefError(f"{name} values must fit int64, not [{min(flat)}, {max(flat)}]")
        return arr.astype(np.int64)
    if arr.dtype.kind not in "iu":
        raise IntRefError(f"{name} must be an integer array, not dtype {arr.dtype}")
    if arr.dtype == np.uint64 and arr.size and int(arr.max()) > _INT64_MAX:
        raise IntRefError(f"{name} values must fit int64, not up to {int(arr.max())}")
    return arr.astype(np.int64, copy=False)


def _scalar(x: Any, name: str) -> int:
    arr = _int_array(x, name)
    if arr.ndim:
        raise IntRefError(f"{name} must be a scalar integer, not shape {arr.shape}")
    return int(arr)


def int_range(bits: int, signed: bool) -> tuple[int, int]:
    """``(lo, hi)`` of a ``bits``-bit integer: ``[-2**(b-1), 2**(b-1)-1]`` or ``[0, 2**b-1]``."""
    bits = _check_bits("bits", bits)
    if signed:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


def check_int_range(x: Any, bits: int, signed: bool = True, name: str = "x") -> np.ndarray:
    """``x`` as int64 after checking every value fits a ``bits``-bit integer.

    ``bits`` must be one of :data:`OPERAND_BITS`; ``x`` must be integer-typed (floats
    are rejected even when integral: quantize first). Raises :class:`IntRefError`.
    """
    if bits not in OPERAND_BITS or isinstance(bits, bool):
        raise IntRefError(f"bits of {name} must be one of {list(OPERAND_BITS)}, not {bits!r}")
    arr = _int_array(x, name)
    lo, hi = int_range(bits, signed)
    if arr.size:
        amin, amax = int(arr.min()), int(arr.max())
        if amin < lo or amax > hi:
            bad = amin if amin < lo else amax
            kind = "int" if signed else "uint"
            raise IntRefError(f"{name} must hold {kind}{bits} values in [{lo}, {hi}], "
                              f"found {bad}")
    return arr


# -- wrap / saturate ----------------------------------------------------------------------
def wrap(x: np.ndarray | int, bits: int) -> np.ndarray | int:
    """Two's-complement wrap to ``bits`` (1..64): ``((x + 2**(b-1)) mod 2**b) - 2**(b-1)``.

    A Python/numpy integer gives a Python ``int``; an array gives int64. Integer arrays
    of any dtype (object arrays of Python ints included) are reduced exactly: int64 by
    mask and sign extension ``((x & mask) ^ half) - half`` (no overflow), uint64 as its
    int64 bit pattern (equal modulo ``2**64``), Python ints exactly.
    """
    bits = _check_bits("bits", bits)
    half = 1 << (bits - 1)
    mask = (1 << bits) - 1
    if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
        return ((int(x) & mask) ^ half) - half
    arr = np.asarray(x)
    if arr.dtype == object:
        return (((arr & mask) ^ half) - half).astype(np.int64)
    if arr.dtype.kind not in "iu":
        raise IntRefError(f"wrap needs integers, not dtype {arr.dtype}")
    arr = arr.view(np.int64) if arr.dtype == np.uint64 else arr.astype(np.int64, copy=False)
    if bits == 64:
        return arr.copy()
    return ((arr & np.int64(mask)) ^ np.int64(half)) - np.int64(half)


def saturate(x: np.ndarray | int, bits: int, signed: bool = True) -> np.ndarray | int:
    """Clamp to the ``bits``-bit range (:func:`int_range`); int for int, int64 for arrays."""
    lo, hi = int_range(bits, signed)
    if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
        return min(max(int(x), lo), hi)
    arr = np.asarray(x)
    if arr.dtype != object and arr.dtype.kind not in "iu":
        raise IntRefError(f"saturate needs integers, not dtype {arr.dtype}")
    if arr.dtype == object:
        return np.minimum(np.maximum(arr, lo), hi).astype(np.int64)
    return np.clip(arr.astype(np.int64, copy=False), lo, hi)


# -- shared array helpers ----------------------------------------------------------------
def _absmax(x: np.ndarray) -> int:
    if x.size == 0:
        return 0
    return max(abs(int(x.max())), abs(int(x.min())))


def _along(v: np.ndarray, ref: np.ndarray, axis: int, name: str) -> np.ndarray:
    """A scalar as is; a 1-D per-channel array reshaped to broadcast along ``axis``."""
    if v.ndim == 0:
        return v
    if v.ndim != 1 or ref.ndim == 0 or not -ref.ndim <= axis < ref.ndim \
            or v.shape[0] != ref.shape[axis]:
        raise IntRefError(f"{name} must be a scalar or 1-D along axis {axis} of shape "
                          f"{ref.shape}, not shape {v.shape}")
    shape = [1] * ref.ndim
    shape[axis] = v.shape[0]
    return v.reshape(shape)
