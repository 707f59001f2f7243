"""The sparse engine model: operand sparsity -> stored bits, effectual MACs, and the
per-fold schedule of a skipping array with its load imbalance.

Sparsity comes from actual tensors (:func:`tensor_profile`, exact counts) or from
the layer's statistical :class:`~dataflows.layer.Density` (:func:`statistical_profile`,
expected values, operands taken as i.i.d. nonzero with that probability).

**Tensors.** ``weight``: ``K x C/G x R x S`` (PyTorch's conv layout; ``K x C/G``
when ``R == S == 1``; for a GEMM ``O = A . B`` that is ``B`` transposed,
``Nout x Kred``). ``input``: ``N x C x H x W`` unpadded (``P x C`` -- i.e. ``A`` --
when the layer is already a GEMM). Both lower to the im2col GEMM of each group ``g``
exactly as :func:`dataflows.dataflow.lower_to_gemm` does: ``X_g`` (``Sr x T``, rows
``(n, p, q)``, columns ``(c, r, s)``, padding zeros included -- a padded tap is a zero
operand) and ``W_g`` (``T x Sc``).

**Policies** (``accel.sparse``; only the operands listed in ``sparse.operands`` are
exploited):

* ``none`` -- dense: stored bits are the precision's, every MAC costs energy.
* ``gating`` -- a MAC with a zero exploited operand is clock-gated: it keeps its
  cycle but spends no MAC energy. MAC energy = dense MAC energy x the *effectual
  fraction*: with tensors the exact count of MACs whose exploited operands are all
  nonzero (``W``: ``Sr * nnz(W_g)``; ``X``: ``Sc * nnz(X_g)``; both:
  ``sum_c nnz(X_g[:, c]) * nnz(W_g[c, :])``) over the dense MACs; statistically the
  product of the exploited operands' densities. No zero-detect overhead is charged:
  we have no sourced figure for it (a comparator per operand; it would add to the
  ``mac`` energy).
* ``skipping`` -- ineffectual MACs are removed from the schedule; energy as gating;
  cycles from :func:`skip_schedule`.

**Storage.** Operands in ``sparse.operands`` are stored in ``sparse.format`` at DRAM
and in the GLB (:mod:`sim.sparse.formats`): each moved element costs the operand's
average stored bits per element (data + metadata), so traffic, transfer time and GLB
capacity use the compressed size. The PE level stays dense (the array works on
decoded values). The average is over the whole tensor; a tile's own metadata share
may differ (e.g. CSR pointers of rows the tile cuts) -- not modelled.

**Skipping on a systolic array** -- what each lane (PE row, column or PE) of a fold
does, per dataflow (``rs`` keeps the conv view and is not modelled: an error):

* *Streamed operand* (WS inputs, IS weights): row ``i`` of a fold streams only its
  nonzero elements, each tagged with its stream index (pixel for WS, filter for IS);
  columns accumulate by that index. The fold's stream lasts as long as its busiest
  row: ``max_i nnz_i`` cycles instead of the dense stream length.
* *Stationary operand* (WS weights, IS inputs): a zero in the PE saves nothing within
  a fold, so the array compacts each column's nonzeros along the reduction *across*
  the reduction folds: column ``j`` (a filter for WS, a pixel for IS) holds only its
  nonzero stationary values with their reduction indices (each PE selects its
  streamed operand by index, as a 2:4 sparse tensor core selects 2 of 4 inputs), so
  a group of columns needs ``max(1, ceil(max_j nnz_j / rows))`` reduction folds
  instead of ``ceil(T / rows)``; the later folds are dropped (no tile load, no
  stream). Optimism named: the selection network that routes inputs to the PEs is
  assumed to keep the systolic rate; its area and energy are not modelled. A dropped
  fold keeps its share of the (compressed) GLB and DRAM traffic -- the kept folds
  move those words -- so with a finite GLB bandwidth its port time still counts
  (stall cause ``glb_bandwidth``); a fold past the layer's bound (padding) is never
  dropped, as in the dense model.
  *N:M weights* (``format: nm`` on ``ws``): a column is compacted not to its nonzeros
  but to its format's fixed slots, ``ceil(T / M) * N`` (N per group of M along the
  reduction, zero-padded: :mod:`sim.sparse.formats`), whatever its nonzeros. That is
  what N:M hardware stores and walks (the ``sparse_nm`` RTL, :mod:`hdl.sparse_nm`: a
  PE's index selects among the M inputs of its own group, so a slot cannot move to
  another group) and the layout whose bits the format counts. A tensor sparser than
  N:M, or a partial last group (``T`` not a multiple of ``M``), thus saves no further
  folds; every column has equal work, so there is no imbalance.
* *OS* (both operands stream; each PE owns its output): PE ``(p, k)`` processes the
  effectual reduction steps of the fold one per cycle -- those where its exploited
  operands are nonzero -- so the fold's stream is the busiest PE's count. Both
  operands may be exploited here; on WS/IS only one (an error otherwise).

**Imbalance.** The *balanced* schedule gives every lane the mean work (rounded up to a
whole cycle, or fold); the slowest lane sets the real one. ``compute`` counts the
balanced cycles and the difference goes to the stall cause ``imbalance``:
``max - ceil(mean)`` stream cycles of a fold (streamed, OS), or whole folds
``max(1, ceil(max/rows)) - max(1, ceil(mean/rows))`` (stationary) whose fill, stream
and drain all count as imbalance.

**Statistical skipping** (no tensors): a lane's work is Binomial(L, d) (``L`` its dense
work, ``d`` the exploited density, the product for both on OS) and the slowest of
``m`` independent lanes has the expectation ``E[max] = sum_{k<L} 1 - F(k)**m``; the
real stream is ``E[max]`` rounded to the nearest cycle and the balanced one
``ceil(d * L)``. Stationary: a column group needs ``E[ceil(max / rows)] =
sum_{j<ceil(L/rows)} 1 - F(j * rows)**m`` folds; column group ``j`` (numbered over
groups and column folds) gets ``floor(E + frac((j + 1) * 0.618...))`` of them -- a
deterministic golden-ratio dither, so the folds over many groups average ``E``
instead of all rounding the same way -- and ``ceil(d * L / rows)`` when balanced
(never more than the real). Lanes sharing an
operand (OS rows on weights alone, columns on inputs alone) count once. Cycles are
expectations rounded per fold, not a bound either way: on 64 x 64 x 16 GEMMs at
densities 0.3 and 0.6 (8x8 arrays) the mean tensor-driven total over random
Bernoulli tensors is within 3 % (-2.0 % to +2.9 %, ``tests/sim/sparse``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from dataflows.errors import CoforgeError
from dataflows.layer import Layer
from sim.sparse.formats import FormatParams, expected_bits, tensor_bits
from sim.spec import Accelerator

if TYPE_CHECKING:
    from sim.cycle.demand import Demand

_G, _N, _K, _C, _P, _Q, _R, _S = range(8)
#: Golden-ratio conjugate: ``frac(j * _GOLDEN)`` is an equidistributed dither in [0, 1).
_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


class TensorError(CoforgeError):
    """A tensor given for a layer does not fit it; the message names layer and operand."""


class SparseModelError(CoforgeError):
    """A sparse-engine configuration this model does not cover; the message says which."""


@dataclass(frozen=True)
class GemmMasks:
    """Nonzero masks of a layer's im2col GEMM operands, one per group (None if not given).

    ``x[g]``: ``Sr x T`` (inputs), ``w[g]``: ``T x Sc`` (weights)."""

    x: np.ndarray | None     # [G, Sr, T] bool
    w: np.ndarray | None     # [G, T, Sc] bool


@dataclass(frozen=True)
class SparseProfile:
    """What the cost models need from the sparse engine for one layer.

    ``stored_bits``: bits per element of ``weight``/``input`` at DRAM and GLB (an int
    when stored dense); ``effectual``: fraction of MACs that spend energy (1 for
    ``none``); ``density``: the operand densities used (measured or the layer's);
    ``masks``: the GEMM nonzero masks when tensors were given.
    """

    stored_bits: dict[str, float]
    effectual: float
    density: dict[str, float]
    masks: GemmMasks | None = None


def _params(accel: Accelerator) -> FormatParams:
    sp = accel.sparse
    return FormatParams(n=sp.nm_n, m=sp.nm_m, run_bits=sp.rle_run_bits)


def _view_shape(layer: Layer, op: str) -> tuple[int, int]:
    """Rows x cols of the 2-D view formats are counted on (see sim.sparse.formats)."""
    if op == "weight":
        return layer.K, (layer.C // layer.G) * layer.R * layer.S
    return layer.N * layer.C, layer.H * layer.W


def statistical_profile(layer: Layer, accel: Accelerator) -> SparseProfile:
    """Expected stored bits and effectual fraction from ``layer.density``."""
    dens = {"weight": float(layer.density.weight), "input": float(layer.density.input)}
    return _profile(layer, accel, dens, None, {})


def _profile(layer: Layer, accel: Accelerator, dens: dict[str, float],
             masks: GemmMasks | None, views: dict[str, np.ndarray]) -> SparseProfile:
    """Stored bits per operand (exact for the ``views`` given, expected otherwise) and
    the effectual fraction under ``accel.sparse``."""
    sp = accel.sparse
    params = _params(accel)
    prec = layer.precision
    stored: dict[str, float] = {}
    for op, b in (("weight", prec.weight_bits), ("input", prec.input_bits)):
        where = f"layer {layer.name!r} {op}"
        if sp.format == "dense" or op not in sp.operands:
            stored[op] = b
        elif op in views:
            stored[op] = tensor_bits(sp.format, views[op], b, params, where).bits_per_element
        else:
            rows, cols = _view_shape(layer, op)
            stored[op] = expected_bits(sp.format, rows, cols, dens[op], b, params,
                                       where).bits_per_element
    effectual = 1.0
    if sp.policy != "none":
        effectual = _effectual(layer, sp.operands, dens, masks)
    return SparseProfile(stored, effectual, dens, masks)


def _effectual(layer: Layer, ops: tuple[str, ...], dens: dict[str, float],
               masks: GemmMasks | None) -> float:
    """Fraction of MACs whose exploited operands are all nonzero: counted on the GEMM
    masks when every exploited operand has one, else the product of densities."""
    if masks is None or not layer.macs or \
            any((masks.w if o == "weight" else masks.x) is None for o in ops):
        return float(np.prod([dens[o] for o in ops]))
    _, sr, _, sc = layer.gemm_shape
    if set(ops) == {"weight"}:
        count = sr * int(masks.w.sum())              # each weight meets Sr inputs
    elif set(ops) == {"input"}:
        count = sc * int(masks.x.sum())              # each im2col input meets Sc weights
    else:
        cx = masks.x.sum(axis=1, dtype=np.int64)     # [G, T] nonzero inputs per c
        rw = masks.w.sum(axis=2, dtype=np.int64)     # [G, T] nonzero weights per c
        count = int((cx * rw).sum())
    return count / layer.macs


# -- tensors -------------------------------------------------------------------------
def expected_shapes(layer: Layer) -> dict[str, list[tuple[int, ...]]]:
    """Accepted shapes per operand (the first is the canonical one)."""
    cg = layer.C // layer.G
    w = [(layer.K, cg, layer.R, layer.S)]
    if layer.R == layer.S == 1:
        w.append((layer.K, cg))
    x = [(layer.N, layer.C, layer.H, layer.W)]
    if layer.N == layer.Q == layer.R == layer.S == layer.G == 1 and layer.pad_h == 0 \
            and layer.stride_h == 1 and layer.W == 1:
        x.append((layer.P, layer.C))
    return {"weight": w, "input": x}


def check_tensors(layer: Layer, given: Any) -> dict[str, np.ndarray]:
    """Validate ``{"weight": ..., "input": ...}`` for ``layer``; return canonical shapes."""
    if not isinstance(given, dict):
        raise TensorError(f"layer {layer.name!r}: tensors must be a dict with keys 'weight' "
                          f"and/or 'input', not {type(given).__name__}")
    unknown = [k for k in given if k not in ("weight", "input")]
    if unknown:
        raise TensorError(f"layer {layer.name!r}: unknown tensor key {unknown[0]!r}; "
                          f"allowed: 'weight', 'input'")
    shapes = expected_shapes(layer)
    out = {}
    for op, t in given.items():
        arr = np.asarray(t)
        if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype,
                                                                    np.complexfloating):
            raise TensorError(f"layer {layer.name!r}: {op} tensor must hold real numbers, "
                              f"not dtype {arr.dtype}")
        if arr.shape not in shapes[op]:
            want = " or ".join(str(s) for s in shapes[op])
            raise TensorError(f"layer {layer.name!r}: {op} tensor has shape {arr.shape}, "
                              f"expected {want}")
        if op == "input" and arr.shape != shapes[op][0]:
            arr = arr.T.reshape(shapes[op][0])        # A (P x C) -> N x C x H x W
        out[op] = arr.reshape(shapes[op][0])
    return out


def gemm_masks(layer: Layer, tensors: dict[str, np.ndarray]) -> GemmMasks:
    """The im2col GEMM nonzero masks of canonical ``tensors`` (see the module docstring)."""
    g, sr, t, sc = layer.gemm_shape
    w = x = None
    if "weight" in tensors:
        nz = np.asarray(tensors["weight"]) != 0                 # K x Cg x R x S
        w = nz.reshape(g, sc, t).transpose(0, 2, 1)             # [G, T, Sc]
    if "input" in tensors:
        nz = np.asarray(tensors["input"]) != 0                  # N x C x H x W
        hh, ww = layer.needed_in_h, layer.needed_in_w
        pad = np.zeros((layer.N, layer.C, hh, ww), dtype=bool)
        h1, w1 = min(layer.H, hh - layer.pad_h), min(layer.W, ww - layer.pad_w)
        pad[:, :, layer.pad_h:layer.pad_h + h1, layer.pad_w:layer.pad_w + w1] = \
            nz[:, :, :h1, :w1]
        hi = (np.arange(layer.P)[:, None] * layer.stride_h
              + np.arange(layer.R)[None, :] * layer.dilation_h)           # [P, R]
        wi = (np.arange(layer.Q)[:, None] * layer.stride_w
              + np.arange(layer.S)[None, :] * layer.dilation_w)           # [Q, S]
        cols = pad[:, :, hi[:, :, None, None], wi[None, None, :, :]]      # N,C,P,R,Q,S
        cols = cols.reshape(layer.N, g, layer.C // g, layer.P, layer.R, layer.Q, layer.S)
        x = cols.transpose(1, 0, 3, 5, 2, 4, 6).reshape(g, sr, t)          # [G, Sr, T]
    return GemmMasks(x=x, w=w)


def tensor_profile(layer: Layer, accel: Accelerator, tensors: Any) -> SparseProfile:
    """Exact stored bits and effectual fraction of the given tensors; an operand
    without a tensor falls back to the layer's density."""
    canon = check_tensors(layer, tensors)
    dens = {"weight": float(layer.density.weight), "input": float(layer.density.input)}
    views = {}
    for op, arr in canon.items():
        dens[op] = float(np.count_nonzero(arr)) / arr.size
        views[op] = arr.reshape(_view_shape(layer, op))
    return _profile(layer, accel, dens, gemm_masks(layer, canon), views)


def with_measured_density(layer: Layer, tensors: Any) -> Layer:
    """``layer`` with the densities of the given tensors, so models that only see the
    layer (the default mapping search, statistical fallbacks) match them. Density must
    be > 0: an all-zero tensor counts as one nonzero (``1 / size``)."""
    canon = check_tensors(layer, tensors)
    dens = {op: max(1, int(np.count_nonzero(arr))) / arr.size for op, arr in canon.items()}
    return layer.with_density(**dens)


# -- the skipping schedule --------------------------------------------------------------
@dataclass(frozen=True)
class SkipSchedule:
    """Per-pass schedule of a skipping array (arrays of the demand's pass length).

    ``new_tile``/``stream_cycles``: what really runs (dropped folds have neither);
    ``imbalance_cycles``: the part of each pass's cycles due to the slowest lane."""

    new_tile: np.ndarray
    stream_cycles: np.ndarray
    imbalance_cycles: np.ndarray


@lru_cache(maxsize=4096)
def expected_max_binomial(trials: int, p: float, lanes: int) -> float:
    """E[max of ``lanes`` i.i.d. Binomial(trials, p)] = sum_{k<trials} 1 - F(k)**lanes."""
    from scipy.stats import binom           # here: importing scipy.stats costs ~0.8 s
    if trials <= 0 or p <= 0.0:
        return 0.0
    if p >= 1.0:
        return float(trials)
    cdf = binom.cdf(np.arange(trials), trials, p)
    return float(np.sum(1.0 - cdf ** lanes))


@lru_cache(maxsize=4096)
def expected_max_folds(trials: int, p: float, lanes: int, rows: int) -> float:
    """E[ceil(max / rows)] of ``lanes`` i.i.d. Binomial(trials, p):
    ``sum_{j < ceil(trials/rows)} 1 - F(j * rows)**lanes`` (folds a column group needs)."""
    from scipy.stats import binom
    if trials <= 0 or p <= 0.0:
        return 0.0
    folds = -(-trials // rows)
    if p >= 1.0:
        return float(folds)
    cdf = binom.cdf(np.arange(folds) * rows, trials, p)
    return float(np.sum(1.0 - cdf ** lanes))


def _round(x: float) -> int:
    """Round an expected cycle or fold count to the nearest integer (halves up)."""
    return math.floor(x + 0.5)


def _ceil(x: float) -> int:
    """Round a real cycle count up, ignoring float noise below 1e-9."""
    return math.ceil(x - 1e-9)


def skip_schedule(demand: "Demand", accel: Accelerator, profile: SparseProfile) -> SkipSchedule:
    """The skipping schedule of ``demand``'s passes (see the module docstring)."""
    df = demand.dataflow
    ops = tuple(accel.sparse.operands)
    if df not in ("ws", "os", "is"):
        raise SparseModelError(f"sparse.policy 'skipping' is modelled on the systolic "
                               f"dataflows ws/os/is, not {df!r}; use policy 'gating' or "
                               f"another dataflow")
    if df in ("ws", "is") and len(ops) > 1:
        raise SparseModelError(f"skipping both operands on a {df!r} array is not modelled "
                               f"(a fold's lanes differ per operand); set sparse.operands "
                               f"to one of them or use dataflow 'os'")
    masks = profile.masks
    use_t = masks is not None and all(
        (masks.w if o == "weight" else masks.x) is not None for o in ops)
    d = float(np.prod([profile.density[o] for o in ops]))
    start, ext = demand.pass_start, demand.pass_extent
    new_tile = demand.new_tile.copy()
    stream = demand.stream_cycles.copy()
    imb = np.zeros(demand.passes, dtype=np.int64)
    overhead = demand.overhead_cycles
    padded = (ext == 0).any(axis=1)
    stat_mode = df in ("ws", "is") and ops[0] == demand.stationary
    if stat_mode:
        rows_c = int(demand.span0[_C])
        t_full = int(demand.bounds[_C])
        real_folds = -(-t_full // rows_c)
        col = _K if df == "ws" else _P
        if use_t:
            work = masks.w.sum(axis=1) if df == "ws" else masks.x.sum(axis=2)  # [G, cols]
        sp = accel.sparse
        nm_slots = -(-t_full // sp.nm_m) * sp.nm_n if (
            sp.format == "nm" and df == "ws") else None   # N:M weights: fixed slots
        for i in np.flatnonzero(~padded):
            g, c0, n = start[i, _G], start[i, col], ext[i, col]
            if nm_slots is not None:
                need = bal = max(1, _ceil(nm_slots / rows_c))
            elif use_t:
                lanes = work[g, c0:c0 + n]
                top, mean = float(lanes.max()), float(lanes.mean())
                need = max(1, _ceil(top / rows_c))
                bal = max(1, _ceil(mean / rows_c))
            else:
                bal = max(1, _ceil(d * t_full / rows_c))
                group = g * -(-int(demand.bounds[col]) // int(demand.span0[col])) \
                    + c0 // int(demand.span0[col])
                dither = ((group + 1) * _GOLDEN) % 1.0
                need = max(bal, math.floor(expected_max_folds(t_full, d, int(n), rows_c)
                                           + dither))
            f = start[i, _C] // rows_c
            if need <= f < real_folds:
                new_tile[i], stream[i] = False, 0
            elif f >= bal:
                imb[i] = int(new_tile[i]) * overhead + stream[i]
        return SkipSchedule(new_tile, stream, imb)
    cum = _prefix(df, ops, masks) if use_t else None
    for i in np.flatnonzero(~padded):
        g = start[i, _G]
        p0, p1 = start[i, _P], start[i, _P] + ext[i, _P]
        c0, c1 = start[i, _C], start[i, _C] + ext[i, _C]
        k0, k1 = start[i, _K], start[i, _K] + ext[i, _K]
        if use_t:
            lanes = _lane_work(df, ops, masks, cum, g, p0, p1, c0, c1, k0, k1)
            top, mean = int(lanes.max()), float(lanes.mean())
        else:
            if df == "ws":
                length, m = p1 - p0, c1 - c0
            elif df == "is":
                length, m = k1 - k0, c1 - c0
            else:
                length = c1 - c0
                m = {("weight",): k1 - k0, ("input",): p1 - p0}.get(ops, (p1 - p0) * (k1 - k0))
            mean = d * length
            top = max(_ceil(mean), _round(expected_max_binomial(int(length), d, int(m))))
        bal = _ceil(mean)
        stream[i] = top
        imb[i] = top - bal
    return SkipSchedule(new_tile, stream, imb)


def _prefix(df: str, ops: tuple[str, ...], masks: GemmMasks) -> np.ndarray | None:
    """Prefix sums along each fold's stream for the streamed-lane counts."""
    if df == "ws":       # rows = reduction c, stream = pixels: count X[p0:p1, c]
        src, axis = masks.x, 1
    elif df == "is":     # rows = reduction c, stream = filters: count W[c, k0:k1]
        src, axis = masks.w, 2
    elif ops == ("weight",):
        src, axis = masks.w, 1           # OS: per filter k, count W[c0:c1, k]
    elif ops == ("input",):
        src, axis = masks.x, 2           # OS: per pixel p, count X[p, c0:c1]
    else:
        return None
    shape = list(src.shape)
    shape[axis] += 1
    cum = np.zeros(shape, dtype=np.int32)         # counts <= Sr or T: int32 halves memory
    sl = [slice(None)] * 3
    sl[axis] = slice(1, None)
    np.cumsum(src, axis=axis, dtype=np.int32, out=cum[tuple(sl)])
    return cum


def _lane_work(df: str, ops: tuple[str, ...], masks: GemmMasks, cum: np.ndarray | None,
               g: int, p0: int, p1: int, c0: int, c1: int, k0: int, k1: int) -> np.ndarray:
    """Work of every lane of one fold (rows for ws/is, PEs for os)."""
    if df == "ws":
        return cum[g, p1, c0:c1] - cum[g, p0, c0:c1]
    if df == "is":
        return cum[g, c0:c1, k1] - cum[g, c0:c1, k0]
    if ops == ("weight",):
        return cum[g, c1, k0:k1] - cum[g, c0, k0:k1]
    if ops == ("input",):
        return cum[g, p0:p1, c1] - cum[g, p0:p1, c0]
    x = masks.x[g, p0:p1, c0:c1].astype(np.int64)
    w = masks.w[g, c0:c1, k0:k1].astype(np.int64)
    return x @ w


__all__ = ["GemmMasks", "SkipSchedule", "SparseModelError", "SparseProfile", "TensorError",
           "check_tensors", "expected_max_binomial", "expected_max_folds", "expected_shapes",
           "gemm_masks",
           "skip_schedule", "statistical_profile", "tensor_profile", "with_measured_density"]
