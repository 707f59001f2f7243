"""Uniform affine quantization: parameters (calibration) and the float <-> integer maps.

Conventions (the same as ONNX ``QuantizeLinear``/``DequantizeLinear`` and onnxruntime's
``quantization.quant_utils.compute_scale_zp``):

* ``q = clamp(round(x / scale) + zero_point, qmin, qmax)`` with **round half to even**
  (``np.rint``, as ONNX QuantizeLinear), ``x ~ (q - zero_point) * scale``.
* Integer ranges for ``bits`` = b:

  - *symmetric* (``zero_point = 0``): signed uses the **restricted** range
    ``[-(2^(b-1) - 1), 2^(b-1) - 1]`` (int8: [-127, 127], int2: [-1, 1]), so negation
    never overflows; ``scale = T / (2^(b-1) - 1)`` for a clipping threshold ``T``
    (min-max: ``T = max|x|``, int8: ``max|x| / 127``). Unsigned symmetric (for
    non-negative data such as ReLU outputs) uses ``[0, 2^b - 1]``, ``scale = T / (2^b - 1)``.
  - *asymmetric*: the **full** range, signed ``[-2^(b-1), 2^(b-1) - 1]`` or unsigned
    ``[0, 2^b - 1]``. The real range ``[lo, hi]`` is first widened to include 0, then
    ``scale = (hi - lo) / (qmax - qmin)`` and ``zero_point = clamp(round(qmin - lo /
    scale), qmin, qmax)``, so 0.0 is exactly representable (uint8 over [-1, 3]:
    ``scale = 4/255``, ``zero_point = 64``).
  - A zero range (all-zero channel) gets ``scale = 1``, ``zero_point = 0``.

* Per-tensor parameters have shape ``()``; per-channel ones shape ``(C,)`` along
  ``axis`` (weights: axis 0, the output channel ``K``).
* Calibration (choice of ``[lo, hi]`` per channel):

  - ``"minmax"``: the observed minimum and maximum;
  - ``"percentile"``: symmetric ``T = percentile(|x|, p)``; asymmetric
    ``[percentile(x, 100 - p), percentile(x, p)]`` (numpy's linear interpolation);
  - ``"mse"``: the min-max range (with 0 included) shrunk by ``alpha = k / grid`` for
    ``k = 1 .. grid`` (default ``grid = 100``: alpha = 0.01, 0.02, ..., 1.00; both ends
    shrink together), choosing the alpha with the least mean squared error
    ``mean((fake_quant(x) - x)^2)``; a tie keeps the smaller alpha.

Scales are float64 (onnxruntime stores them in the model's float type, float32).
Activations can be calibrated from all samples at once (:func:`activation_qparams` on an
array) or batch by batch with an :class:`Observer` (exact min/max, bounded histogram).
Every function is pure: inputs are not modified, results depend only on the arguments.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from dataflows.errors import CoforgeError

#: Bit widths of quantized weights and of quantized activations.
WEIGHT_BITS: tuple[int, ...] = (2, 4, 8, 16)
ACTIVATION_BITS: tuple[int, ...] = (4, 8, 16)
#: Calibration methods.
METHODS: tuple[str, ...] = ("minmax", "percentile", "mse")
#: Default number of clipping fractions the MSE search tries (alpha = k / grid).
MSE_GRID: int = 100


class QuantError(CoforgeError):
    """A quantization argument is out of range; the message names it and the allowed values."""


def qrange(bits: int, signed: bool, symmetric: bool) -> tuple[int, int]:
    """``(qmin, qmax)`` of the conventions above (symmetric signed is restricted)."""
    if signed:
        top = 2 ** (bits - 1) - 1
        return (-top if symmetric else -top - 1, top)
    return (0, 2 ** bits - 1)


def _frozen(a: np.ndarray) -> np.ndarray:
    a = a.copy()
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class QuantParams:
    """Quantization parameters of one tensor (per-tensor or per-channel).

    ``scale`` (float64) and ``zero_point`` (int64) have shape ``()`` when ``axis`` is
    None, else ``(C,)`` for the ``C`` channels along ``axis``; both are stored as
    read-only copies. ``symmetric`` means ``zero_point == 0`` and, when signed, the
    restricted range; see the module docstring.
    """

    bits: int
    signed: bool
    scale: np.ndarray
    zero_point: np.ndarray
    axis: int | None = None
    symmetric: bool = False

    def __post_init__(self) -> None:
        if self.bits not in WEIGHT_BITS:
            raise QuantError(f"bits must be one of {list(WEIGHT_BITS)}, not {self.bits!r}")
        for name in ("signed", "symmetric"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise QuantError(f"{name} must be a bool, not {getattr(self, name)!r}")
        scale = np.asarray(self.scale, dtype=np.float64)
        zp = np.asarray(self.zero_point)
        if zp.size and not np.issubdtype(zp.dtype, np.integer):
            if not np.all(np.asarray(zp, dtype=np.float64) == np.rint(zp)):
                raise QuantError(f"zero_point must hold integers, not {zp.tolist()!r}")
        zp = zp.astype(np.int64)
        if self.axis is None:
            if scale.ndim != 0:
                raise QuantError(f"scale must be a scalar (shape ()) when axis is None, "
                                 f"not shape {scale.shape}; give axis for per-channel")
        elif not isinstance(self.axis, (int, np.integer)) or isinstance(self.axis, bool):
            raise QuantError(f"axis must be None or an int, not {self.axis!r}")
        elif scale.ndim != 1 or scale.size == 0:
            raise QuantError(f"scale must have shape (C,) for a per-channel axis, "
                             f"not {scale.shape}")
        if zp.shape != scale.shape:
            raise QuantError(f"zero_point must have the shape of scale {scale.shape}, "
                             f"not {zp.shape}")
        if not np.all(np.isfinite(scale)) or np.any(scale <= 0):
            raise QuantError(f"scale must be finite and > 0, not {scale.tolist()!r}")
        lo, hi = qrange(self.bits, bool(self.signed), bool(self.symmetric))
        if np.any(zp < lo) or np.any(zp > hi):
            raise QuantError(f"zero_point must be in [{lo}, {hi}], not {zp.tolist()!r}")
        if self.symmetric and np.any(zp != 0):
            raise QuantError(f"zero_point must be 0 when symmetric, not {zp.tolist()!r}")
        object.__setattr__(self, "scale", _frozen(scale))
        object.__setattr__(self, "zero_point", _frozen(zp))
        object.__setattr__(self, "signed", bool(self.signed))
        object.__setattr__(self, "symmetric", bool(self.symmetric))
        if self.axis is not None:
            object.__setattr__(self, "axis", int(self.axis))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, QuantParams):
            return NotImplemented
        return (self.bits, self.signed, self.axis, self.symmetric) == \
            (other.bits, other.signed, other.axis, other.symmetric) \
            and np.array_equal(self.scale, other.scale) \
            and np.array_equal(self.zero_point, other.zero_point)

    __hash__ = None  # type: ignore[assignment]

    @property
    def qmin(self) -> int:
        """Smallest integer code."""
        return qrange(self.bits, self.signed, self.symmetric)[0]

    @property
    def qmax(self) -> int:
        """Largest integer code."""
        return qrange(self.bits, self.signed, self.symmetric)[1]

    @property
    def storage_dtype(self) -> np.dtype:
        """Smallest numpy integer type holding the codes (int2/int4 are stored in int8)."""
        width = 8 if self.bits <= 8 else 16
        return np.dtype(f"{'int' if self.signed else 'uint'}{width}")


# -- checks -----------------------------------------------------------------------------
def _check_array(x: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.size == 0:
        raise QuantError(f"{name} must be a non-empty array, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise QuantError(f"{name} must hold real numbers, not dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise QuantError(f"{name} must be finite (found NaN or inf)")
    return arr


def _check_choice(name: str, value: object, allowed: tuple) -> None:
    if isinstance(value, bool) or value not in allowed:
        raise QuantError(f"{name} must be one of {list(allowed)}, not {value!r}")


def _check_percentile(p: object) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 50.0 < float(p) <= 100.0:
        raise QuantError(f"percentile must be a number in (50, 100], not {p!r}")
    return float(p)


def _check_grid(grid: object) -> int:
    if not isinstance(grid, (int, np.integer)) or isinstance(grid, bool) or grid < 1:
        raise QuantError(f"grid must be a positive integer, not {grid!r}")
    return int(grid)


# -- parameters from ranges -------------------------------------------------------------
def _params_from_range(lo: np.ndarray, hi: np.ndarray, bits: int, signed: bool,
                       symmetric: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per-row (scale, zero_point) of real ranges [lo, hi] (module conventions)."""
    qmin, qmax = qrange(bits, signed, symmetric)
    lo = np.minimum(lo, 0.0)
    hi = np.maximum(hi, 0.0)
    if symmetric:
        t = np.maximum(-lo, hi) if signed else hi
        scale = t / qmax
        zp = np.zeros(scale.shape, dtype=np.int64)
    else:
        scale = (hi - lo) / (qmax - qmin)
        with np.errstate(divide="ignore", invalid="ignore"):
            zp = np.clip(np.rint(qmin - lo / np.where(scale > 0, scale, 1.0)), qmin, qmax)
        zp = zp.astype(np.int64)
    degenerate = scale < np.finfo(np.float64).tiny
    return np.where(degenerate, 1.0, scale), np.where(degenerate, 0, zp)


def _fake_rows(values: np.ndarray, scale: np.ndarray, zp: np.ndarray, qmin: int,
               qmax: int) -> np.ndarray:
    q = np.clip(np.rint(values / scale[:, None]) + zp[:, None], qmin, qmax)
    return (q - zp[:, None]) * scale[:, None]


def _mse_range(values: np.ndarray, weights: np.ndarray | None, lo: np.ndarray,
               hi: np.ndarray, bits: int, signed: bool, symmetric: bool,
               grid: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the min-max range shrunk by the alpha in k/grid with the least MSE."""
    qmin, qmax = qrange(bits, signed, symmetric)
    lo, hi = np.minimum(lo, 0.0), np.maximum(hi, 0.0)
    best_err = np.full(lo.shape, np.inf)
    best_alpha = np.ones(lo.shape)
    for k in range(1, grid + 1):
        alpha = k / grid
        scale, zp = _params_from_range(alpha * lo, alpha * hi, bits, signed, symmetric)
        sq = (_fake_rows(values, scale, zp, qmin, qmax) - values) ** 2
        err = sq.mean(axis=1) if weights is None else \
            (sq * weights).sum(axis=1) / weights.sum(axis=1)
        better = err < best_err
        best_err = np.where(better, err, best_err)
        best_alpha = np.where(better, alpha, best_alpha)
    return best_alpha * lo, best_alpha * hi


def _calibrated_range(rows: np.ndarray, method: str, symmetric: bool, signed: bool,
                      bits: int, percentile: float,
                      grid: int) -> tuple[np.ndarray, np.ndarray]:
    if method == "minmax":
        return rows.min(axis=1), rows.max(axis=1)
    if method == "percentile":
        if symmetric:
            t = np.percentile(np.abs(rows), percentile, axis=1)
            return -t, t
        return (np.percentile(rows, 100.0 - percentile, axis=1),
                np.percentile(rows, percentile, axis=1))
    return _mse_range(rows, None, rows.min(axis=1), rows.max(axis=1), bits, signed,
                      symmetric, grid)


# -- weights ----------------------------------------------------------------------------
def weight_qparams(w: np.ndarray, bits: int = 8, per_channel: bool = True,
                   symmetric: bool = True, axis: int = 0, method: str = "minmax",
                   percentile: float = 99.99, *, signed: bool = True,
                   grid: int = MSE_GRID) -> QuantParams:
    """Quantization parameters of a weight tensor.

    ``bits`` in {2, 4, 8, 16}; per-channel along ``axis`` (default 0, the filters) or
    per-tensor; symmetric (restricted signed range, zero-point 0) or asymmetric (full
    range); ``method`` "minmax", "percentile" (``percentile`` in (50, 100]) or "mse"
    (``grid`` clipping fractions). See the module docstring for the formulas.
    """
    arr = _check_array(w, "w")
    _check_choice("bits", bits, WEIGHT_BITS)
    _check_choice("method", method, METHODS)
    percentile = _check_percentile(percentile)
    grid = _check_grid(grid)
    if per_channel:
        if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool) \
                or not -arr.ndim <= axis < arr.ndim:
            raise QuantError(f"axis must be an int in [{-arr.ndim}, {arr.ndim - 1}] for a "
                             f"{arr.ndim}-D tensor, not {axis!r}")
        axis = int(axis) % arr.ndim
        rows = np.moveaxis(arr, axis, 0).reshape(arr.shape[axis], -1)
    else:
        rows = arr.reshape(1, -1)
    lo, hi = _calibrated_range(rows, method, symmetric, signed, bits, percentile, grid)
    scale, zp = _params_from_range(lo, hi, bits, signed, symmetric)
    if not per_channel:
        return QuantParams(bits, signed, scale[0], zp[0], None, symmetric)
    return QuantParams(bits, signed, scale, zp, axis, symmetric)


# -- activations ------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Observer:
    """Running statistics of an activation over calibration batches, in bounded memory.

    Keeps the exact count, minimum and maximum, and a histogram of ``bins`` equal bins
    over ``[-half_range, half_range)`` (a value equal to ``half_range`` falls in the last
    bin). The first nonzero batch sets ``half_range = max|x|``; a later batch beyond it
    doubles the range (merging bin pairs exactly, ``bins`` is a multiple of 4) until it
    fits. Immutable: :meth:`observe` returns a new observer. Percentile and MSE
    calibration from an observer use the histogram (bin centres), so they agree with the
    all-samples result to about one bin width; min-max is exact.
    """

    bins: int = 2048
    count: int = 0
    min: float = float("inf")
    max: float = float("-inf")
    half_range: float = 0.0
    hist: np.ndarray | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.bins, int) or isinstance(self.bins, bool) \
                or self.bins < 16 or self.bins % 4:
            raise QuantError(f"bins must be a multiple of 4, at least 16, not {self.bins!r}")

    @property
    def bin_width(self) -> float:
        """Width of one histogram bin (0 before the first nonzero value)."""
        return 2.0 * self.half_range / self.bins

    def observe(self, batch: np.ndarray) -> Observer:
        """A new observer that has also seen ``batch`` (any shape, flattened)."""
        x = _check_array(batch, "batch").ravel()
        amax = float(np.abs(x).max())
        lo, hi = min(self.min, float(x.min())), max(self.max, float(x.max()))
        count = self.count + x.size
        if amax == 0.0 and self.hist is None:            # only zeros so far
            return replace(self, count=count, min=lo, max=hi)
        n = self.bins
        if self.hist is None:                            # first nonzero batch
            half, hist = amax, np.zeros(n, dtype=np.int64)
            hist[n // 2] = self.count                    # the zeros seen before
        else:
            half, hist = self.half_range, self.hist.copy()
        while amax > half:
            merged = hist.reshape(n // 2, 2).sum(axis=1)
            hist = np.zeros(n, dtype=np.int64)
            hist[n // 4: n // 4 + n // 2] = merged
            half *= 2.0
        idx = np.clip(np.floor((x + half) / (2.0 * half / n)).astype(np.int64), 0, n - 1)
        hist = hist + np.bincount(idx, minlength=n)
        hist.setflags(write=False)
        return replace(self, count=count, min=lo, max=hi, half_range=half, hist=hist)

    def centres(self) -> np.ndarray:
        """Bin centres of the histogram."""
        w = self.bin_width
        return -self.half_range + w * (np.arange(self.bins) + 0.5)

    def _percentile(self, counts: np.ndarray, left: float, width: float, p: float) -> float:
        target = p / 100.0 * counts.sum()
        cum = np.cumsum(counts)
        j = int(np.searchsorted(cum, target, side="left"))
        j = min(j, counts.size - 1)
        before = cum[j - 1] if j else 0
        frac = (target - before) / counts[j] if counts[j] else 0.0
        return left + width * (j + frac)

    def range(self, method: str, symmetric: bool, signed: bool, bits: int,
              percentile: float, grid: int) -> tuple[float, float]:
        """The calibrated ``[lo, hi]`` (see the module docstring)."""
        if method == "minmax" or self.hist is None:
            return self.min, self.max
        w = self.bin_width
        if method == "percentile":
            if symmetric:
                half = self.bins // 2
                folded = self.hist[half:] + self.hist[:half][::-1]   # |x| bins over [0, R]
                t = min(self._percentile(folded, 0.0, w, percentile),
                        max(-self.min, self.max))
                return -t, t
            lo = self._percentile(self.hist, -self.half_range, w, 100.0 - percentile)
            hi = self._percentile(self.hist, -self.half_range, w, percentile)
            return max(lo, self.min), min(hi, self.max)
        values = np.clip(self.centres(), self.min, self.max)[None, :]
        weights = self.hist[None, :].astype(np.float64)
        lo, hi = _mse_range(values, weights, np.array([self.min]), np.array([self.max]),
                            bits, signed, symmetric, grid)
        return float(lo[0]), float(hi[0])


def activation_qparams(samples: np.ndarray | Observer, bits: int = 8,
                       symmetric: bool = False, method: str = "minmax",
                       signed: bool | None = None, percentile: float = 99.99, *,
                       grid: int = MSE_GRID) -> QuantParams:
    """Per-tensor quantization parameters of an activation.

    ``samples`` is an array of observed values (e.g. the activation over all calibration
    batches, concatenated) or an :class:`Observer` that saw them batch by batch.
    ``bits`` in {4, 8, 16}. ``signed`` None means: asymmetric -> unsigned (onnxruntime's
    default uint8 activations); symmetric -> signed iff a negative value was seen.
    """
    _check_choice("bits", bits, ACTIVATION_BITS)
    _check_choice("method", method, METHODS)
    percentile = _check_percentile(percentile)
    grid = _check_grid(grid)
    if isinstance(samples, Observer):
        if samples.count == 0:
            raise QuantError("samples: the observer has seen no batch; call observe() first")
        minimum = samples.min
    else:
        rows = _check_array(samples, "samples").reshape(1, -1)
        minimum = float(rows.min())
    if signed is None:
        signed = bool(symmetric and minimum < 0)
    elif not isinstance(signed, (bool, np.bool_)):
        raise QuantError(f"signed must be True, False or None, not {signed!r}")
    if isinstance(samples, Observer):
        lo0, hi0 = samples.range(method, symmetric, bool(signed), bits, percentile, grid)
        lo, hi = np.array([lo0]), np.array([hi0])
    else:
        lo, hi = _calibrated_range(rows, method, symmetric, bool(signed), bits,
                                   percentile, grid)
    scale, zp = _params_from_range(lo, hi, bits, bool(signed), symmetric)
    return QuantParams(bits, bool(signed), scale[0], zp[0], None, symmetric)


# -- the maps ---------------------------------------------------------------------------
def _broadcast(x: np.ndarray, qp: QuantParams, name: str) -> tuple[np.ndarray, np.ndarray]:
    if qp.axis is None:
        return qp.scale, qp.zero_point
    if not -x.ndim <= qp.axis < x.ndim or x.shape[qp.axis] != qp.scale.size:
        raise QuantError(f"{name} must have {qp.scale.size} channels along axis {qp.axis} "
                         f"(the per-channel parameters), not shape {x.shape}")
    shape = [1] * x.ndim
    shape[qp.axis] = qp.scale.size
    return qp.scale.reshape(shape), qp.zero_point.reshape(shape)


def quantize(x: np.ndarray, qp: QuantParams) -> np.ndarray:
    """Integer codes ``clamp(rint(x / scale) + zero_point, qmin, qmax)`` (round half to
    even) as an int64 array of ``x``'s shape; ``.astype(qp.storage_dtype)`` to store."""
    arr = _check_array(x, "x")
    scale, zp = _broadcast(arr, qp, "x")
    return np.clip(np.rint(arr / scale) + zp, qp.qmin, qp.qmax).astype(np.int64)


def dequantize(q: np.ndarray, qp: QuantParams) -> np.ndarray:
    """Real values ``(q - zero_point) * scale`` (float64)."""
    arr = np.asarray(q)
    if arr.size == 0 or not np.issubdtype(arr.dtype, np.integer):
        raise QuantError(f"q must be a non-empty integer array, not dtype {arr.dtype} "
                         f"shape {arr.shape}")
    if arr.min() < qp.qmin or arr.max() > qp.qmax:
        raise QuantError(f"q must hold codes in [{qp.qmin}, {qp.qmax}], "
                         f"found [{arr.min()}, {arr.max()}]")
    scale, zp = _broadcast(arr, qp, "q")
    return (arr.astype(np.int64) - zp) * scale


def fake_quant(x: np.ndarray, qp: QuantParams) -> np.ndarray:
    """``dequantize(quantize(x, qp), qp)``: ``x`` rounded onto the quantization grid."""
    return dequantize(quantize(x, qp), qp)


__all__ = ["ACTIVATION_BITS", "METHODS", "MSE_GRID", "Observer", "QuantError", "QuantParams",
           "WEIGHT_BITS", "activation_qparams", "dequantize", "fake_quant", "qrange",
           "quantize", "weight_qparams"]
