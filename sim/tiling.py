"""Tiling rules: footprints, halos, reuse and per-level traffic (the one owner).

Both fidelities of the cost model call this module: the batched analytic model
(:mod:`sim.analytic`, numpy arrays over a batch of mappings) and the cycle model's
demand side (:mod:`sim.cycle.demand`, one mapping, pass by pass). Nothing here knows
about timing, energy or the accelerator spec: only the loop nest of a layer, the
extents of a tile and the loop order above a memory boundary.

Units: every count is in **elements** of the operand (``*_elems``) or in **rows /
columns** of the input plane (``*_rows``); extents are loop-index counts in
:data:`dataflows.dataflow.MAP_DIMS` order (``[B, 8]`` int64 arrays, one row per
mapping; per-group ``K`` and ``C``).

Rules:

* Footprint (:func:`tile_footprint_elems`): a tile spanning extents ``e`` touches
  ``G*K*C*R*S`` weights, ``G*N*K*P*Q`` outputs, and ``G*N*C*h*w`` inputs where ``h``
  (``w``) is the number of distinct input rows (columns) its windows read
  (:func:`window_rows`).
* im2col-lowered conv (:func:`conv_input_footprint_elems`): the GLB tile of inputs of
  a lowered tile is the conv window it touches, never more than the im2col tile.
* Reuse across a boundary (:class:`LoopsAbove`, :func:`reuse_factors`, Timeloop-style):
  walking the loops above the boundary from the innermost outwards, the factors of
  loops irrelevant to an operand that come before its first relevant loop (factor > 1)
  are reuse; every other factor multiplies the fetches.
* Sliding-window (halo) reuse of convolution inputs (:func:`sliding_input_elems`,
  :func:`input_step_fetch_elems`), at the DRAM -> GLB boundary. Semantics
  (*window-resident*): while the innermost input-relevant loop above the boundary
  (factor > 1) is a sliding loop -- ``P`` or ``Q`` of a conv (row-stationary view), or
  the output-pixel loop ``P`` of an im2col-lowered conv -- and the GLB holds every
  operand's level-1 tile at once (:func:`tiles_fit`), the GLB keeps the previous input
  tile and DRAM delivers only the elements of the new tile that the previous one did
  not hold: ``|T_j \\ T_(j-1)|`` for step ``j`` of that loop. Any other change of the
  input tile (the first tile, a wrap of the sliding loop back to index 0, a row of
  pixel chunks wrapping to the next output row, a new image) loads the whole tile.
  Tiles along the sliding dimension are counted exactly (their last, partial one
  included); with strides wider than the kernel extent consecutive tiles share
  nothing and the count equals the tile sizes. The other dimensions count their full
  level-1 extent, as the non-sliding rule does. Lowered convs slide only when the
  pixel chunk is aligned to output rows (``Q % chunk == 0``: chunks within a row; or
  ``chunk % Q == 0`` with the bands inside one image); otherwise the whole-tile rule
  stands. Row/column sets: lowered convs count input rows inside ``[0, H)`` (padding
  zeros are not fetched, as :func:`conv_input_footprint_elems`); the row-stationary
  view counts padded coordinates (as :func:`tile_footprint_elems`) and slides along P
  (Q) only with R (S) whole at the DRAM level. The GLB -> array side is unchanged: the
  array streams the im2col matrix (lowered) or re-reads streamed inputs per pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from dataflows.dataflow import MAP_DIMS, OPERANDS, RELEVANT
from dataflows.layer import Layer
from dataflows.mapping import LEVELS


def tile_footprint_elems(op: str, e: np.ndarray, layer: Layer) -> np.ndarray:
    """Elements of ``op`` touched by per-dimension extents ``e`` ([B, 8]): [B] int64.

    Inputs count the distinct rows and columns the windows read
    (:func:`window_rows`), capped at the rows/columns the layer's windows read at all
    (``layer.needed_in_h``/``needed_in_w``)."""
    g, n, k, c, p, q, r, s = (e[:, i] for i in range(8))
    if op == "weight":
        return g * k * c * r * s
    if op == "output":
        return g * n * k * p * q
    h = np.minimum(window_rows(p, r, layer.stride_h, layer.dilation_h), layer.needed_in_h)
    w = np.minimum(window_rows(q, s, layer.stride_w, layer.dilation_w), layer.needed_in_w)
    return g * n * c * h * w


def window_rows(p: np.ndarray, r: np.ndarray, stride: int, dilation: int) -> np.ndarray:
    """Distinct input rows ``i * stride + j * dilation`` of ``p`` consecutive outputs
    and ``r`` consecutive kernel rows (``0 <= i < p``, ``0 <= j < r``).

    The halo ``(p - 1) * stride + (r - 1) * dilation + 1`` when the rows are contiguous;
    fewer when a stride or dilation skips rows. With ``g = gcd(stride, dilation)``,
    ``s = stride / g``, ``d = dilation / g``: ``(i, j)`` and ``(i - d, j + s)`` read the
    same row, so the distinct rows are the pairs with ``i < d`` or ``j >= r - s``:
    ``p * r - max(0, p - d) * max(0, r - s)``.
    """
    g = np.gcd(stride, dilation)
    s, d = stride // g, dilation // g
    return p * r - np.maximum(0, p - d) * np.maximum(0, r - s)


def conv_input_footprint_elems(e: np.ndarray, layer: Layer) -> np.ndarray:
    """Distinct input elements of an im2col-lowered tile, read from the original conv.

    ``e`` are extents in the lowered view ([B, 8]). A lowered tile spans ``g`` groups,
    ``p`` consecutive output pixels (raster order N, P, Q) and ``t`` consecutive
    reduction indices (order C, R, S). The GLB stores the conv input and expands
    im2col on chip (as SCALE-Sim does), so DRAM moves ``channels x rows x cols`` of
    the window the tile touches, never more than the im2col tile itself nor more than
    the input rows/columns any window reads. Tiles are taken as aligned to pixel rows
    and channels (an approximation for partial ones).
    """
    g, p, t = e[:, 0], e[:, 4], e[:, 3]
    rs = layer.R * layer.S
    cs = np.maximum(1, np.minimum(layer.C // layer.G, -(-t // rs)))
    rr = np.where(t >= rs, layer.R, np.minimum(layer.R, -(-t // layer.S)))
    ss = np.where(t >= layer.S, layer.S, t)
    pq = layer.P * layer.Q
    n = np.minimum(layer.N, -(-p // pq))
    ps = np.minimum(layer.P, -(-p // layer.Q))
    qs = np.minimum(layer.Q, p)
    hs = np.minimum(np.minimum((ps - 1) * layer.stride_h + (rr - 1) * layer.dilation_h + 1,
                               ps * rr), touched_rows(layer.P, layer.stride_h, layer.R,
                                                      layer.dilation_h, layer.pad_h, layer.H))
    ws = np.minimum(np.minimum((qs - 1) * layer.stride_w + (ss - 1) * layer.dilation_w + 1,
                               qs * ss), touched_rows(layer.Q, layer.stride_w, layer.S,
                                                      layer.dilation_w, layer.pad_w, layer.W))
    return np.minimum(g * n * cs * hs * ws, g * p * t)


def touched_rows(out: int, stride: int, kernel: int, dilation: int, pad: int,
                 size: int) -> int:
    """Input rows (or columns) of ``[0, size)`` any window reads: strides wider than the
    kernel skip rows, padding and SCALE-Sim's rounded-up outputs read outside it."""
    return len({o * stride + k * dilation - pad for o in range(out) for k in range(kernel)}
               & set(range(size)))


@dataclass(frozen=True)
class LoopsAbove:
    """The temporal loops above a boundary, innermost first, for a batch.

    ``prefix[:, j]`` is the product of the ``j`` innermost factors, ``per_dim`` the
    product of each dimension's factors above the boundary.
    """

    facs: np.ndarray      # [B, n] factors, innermost first
    dims: np.ndarray      # [B, n] uint8 dimension indices
    prefix: np.ndarray    # [B, n + 1] prefix products (prefix[:, 0] == 1)
    per_dim: np.ndarray   # [B, 8]
    big: np.ndarray       # [B, n] factor > 1

    @property
    def total(self) -> np.ndarray:
        """[B] iterations above the boundary (the product of every factor)."""
        return self.prefix[:, -1]

    @classmethod
    def build(cls, temporal: np.ndarray, order: np.ndarray, level: int) -> "LoopsAbove":
        """The loops above ``level`` of a batch: ``temporal`` [B, 3, 8] factors per
        level, ``order`` [B, 3, 8] dimension indices per level, outermost first."""
        b = temporal.shape[0]
        order = order[:, level + 1:, ::-1].reshape(b, -1)   # innermost first
        temporal = np.ascontiguousarray(temporal)
        facs = np.take(temporal.reshape(-1), order + _flat_offsets(b, level))
        return cls(facs, order.astype(np.uint8), _prefix(facs),
                   levels_product(temporal, level + 1), facs > 1)

    def outer(self, temporal: np.ndarray, level: int) -> "LoopsAbove":
        """The loops above a higher ``level``: the outer columns of this table."""
        n = (len(LEVELS) - 1 - level) * len(MAP_DIMS)
        facs = self.facs[:, -n:]
        return LoopsAbove(facs, self.dims[:, -n:], _prefix(facs),
                          levels_product(temporal, level + 1), self.big[:, -n:])


@lru_cache(maxsize=16)
def _flat_offsets(b: int, level: int) -> np.ndarray:
    """[b, n] flat index of (row, level, dimension 0) in a C-contiguous [b, 3, 8]
    ``temporal`` for each column of the loops above ``level`` (add the dimension)."""
    levels = np.repeat(np.arange(level + 1, len(LEVELS)), len(MAP_DIMS)) * len(MAP_DIMS)
    out = np.arange(b)[:, None] * (len(LEVELS) * len(MAP_DIMS)) + levels[None, :]
    out.flags.writeable = False
    return out


def _prefix(facs: np.ndarray) -> np.ndarray:
    """[B, n + 1] prefix products of ``facs`` [B, n] (column 0 is 1)."""
    prefix = np.empty((facs.shape[0], facs.shape[1] + 1), dtype=np.int64)
    prefix[:, 0] = 1
    for j in range(facs.shape[1]):          # column by column: numpy's cumprod along a
        np.multiply(prefix[:, j], facs[:, j], out=prefix[:, j + 1])   # short axis is slower
    return prefix


def levels_product(temporal: np.ndarray, first: int) -> np.ndarray:
    """Per dimension, the product of the temporal factors of levels ``first..`` ([B, 8])."""
    out = temporal[:, first, :].copy()
    for lvl in range(first + 1, temporal.shape[1]):
        out *= temporal[:, lvl, :]
    return out


def columns_product(a: np.ndarray, columns: tuple[int, ...]) -> np.ndarray:
    """Product of the given columns of ``a`` [B, n] (a row-wise ``prod`` over them)."""
    out = a[:, columns[0]].copy()
    for j in columns[1:]:
        out *= a[:, j]
    return out


_REL_MASK = {op: np.uint8(sum(1 << i for i, d in enumerate(MAP_DIMS) if d in RELEVANT[op]))
             for op in OPERANDS}
_REL_COLUMNS = {op: tuple(i for i, d in enumerate(MAP_DIMS) if d in RELEVANT[op])
                for op in OPERANDS}


def reuse_factors(op: str, loops: LoopsAbove, stays: bool = True,
                  blocking: bool = False) -> tuple[np.ndarray, ...]:
    """(reuse, irrelevant), [B] each: the product of the loop factors inside the
    innermost relevant loop with a factor > 1 (irrelevant ones only, since relevant
    ones there are 1: the tile stays; 1 when ``stays`` is False) and the product of
    all irrelevant factors above the boundary. ``blocking=True`` appends that
    innermost relevant loop's dimension index (``len(MAP_DIMS)`` when none is, see
    :func:`blocking_dim`).

    A tile is loaded ``total / reuse`` times; a separable operand moves
    ``distinct * irrelevant / reuse`` elements (partial tiles counted exactly).
    """
    relevant = columns_product(loops.per_dim, _REL_COLUMNS[op])
    irrelevant = loops.total // relevant
    if not stays:
        return np.ones_like(irrelevant), irrelevant
    b, n = loops.dims.shape
    blocking_loops = np.empty((b, n + 1), dtype=bool)
    blocking_loops[:, n] = True             # sentinel: no blocking loop -> first == n
    np.logical_and((_REL_MASK[op] >> loops.dims) & 1, loops.big, out=blocking_loops[:, :n])
    first = blocking_loops.argmax(axis=1)
    reuse = np.take(loops.prefix, np.arange(0, b * (n + 1), n + 1) + first)
    if not blocking:
        return reuse, irrelevant
    dim = np.take(loops.dims, np.arange(0, b * n, n) + np.minimum(first, n - 1))
    return reuse, irrelevant, np.where(first == n, len(MAP_DIMS), dim)


def blocking_dim(op: str, loops: LoopsAbove) -> np.ndarray:
    """[B] the dimension index (``MAP_DIMS``) of the innermost loop above the boundary
    that is relevant to ``op`` and has a factor > 1; ``len(MAP_DIMS)`` when none is."""
    return reuse_factors(op, loops, blocking=True)[2]


@lru_cache(maxsize=8192)
def sliding_fetch_rows(out: int, chunk: int, kernel: int, stride: int, dilation: int,
                       pad: int, size: int | None) -> tuple[int, ...]:
    """Input rows (or columns) DRAM delivers per step of a sliding loop, window-resident.

    Step ``j`` covers outputs ``[j * chunk, min((j + 1) * chunk, out))`` and kernel
    rows ``[0, kernel)``; it reads rows ``R_j = {o * stride + k * dilation - pad}``
    (kept inside ``[0, size)`` unless ``size`` is None: padded coordinates). Entry
    ``j`` is ``|R_j \\ R_(j-1)|`` (``R_(-1)`` empty): the rows the previous step did
    not hold. Their sum over a whole run of the loop is what one run fetches.
    """
    steps = -(-out // chunk)
    prev: set[int] = set()
    got = []
    for j in range(steps):
        rows = {o * stride + k * dilation - pad
                for o in range(j * chunk, min((j + 1) * chunk, out)) for k in range(kernel)}
        if size is not None:
            rows = {x for x in rows if 0 <= x < size}
        got.append(len(rows - prev))
        prev = rows
    return tuple(got)


def _geometry(layer: Layer) -> tuple[int, ...]:
    """The ints the sliding rule of a lowered conv depends on (a cheap cache key)."""
    return (layer.N, layer.P, layer.Q, layer.H, layer.W, layer.stride_h, layer.stride_w,
            layer.dilation_h, layer.dilation_w, layer.pad_h, layer.pad_w)


def _lowered_reduction(layer: Layer, t: np.ndarray) -> tuple[np.ndarray, ...]:
    """(channels, kernel rows, kernel cols) lowered reduction chunks of ``t`` indices
    span (order C, R, S; as :func:`conv_input_footprint_elems`)."""
    rs = layer.R * layer.S
    cs = np.maximum(1, np.minimum(layer.C // layer.G, -(-t // rs)))
    rr = np.where(t >= rs, layer.R, np.minimum(layer.R, -(-t // layer.S)))
    ss = np.where(t >= layer.S, layer.S, t)
    return cs, rr, ss


def _lowered_aligned(layer: Layer, chunk: np.ndarray) -> np.ndarray:
    """Pixel chunks the sliding rule covers: inside one output row (``Q % chunk == 0``)
    or bands of whole output rows inside one image."""
    q_, p_ = layer.Q, layer.P
    band = chunk // q_
    in_row = (chunk < q_) & (q_ % chunk == 0)
    bands = (chunk % q_ == 0) & (band < p_) & ((layer.N == 1) | (p_ % np.maximum(band, 1) == 0))
    return in_row | bands


@lru_cache(maxsize=4096)
def _lowered_steps(geom: tuple[int, ...], chunk: int, rr: int, ss: int) -> tuple[int, ...]:
    """Per channel and group, the input elements each step of an aligned lowered pixel
    loop fetches (:func:`lowered_chunk_fetch_elems` without the channel factor)."""
    n_, p_, q_, h_, w_, sh, sw, dh, dw, ph, pw = geom
    if chunk < q_:                              # chunks within one output row
        cols = sliding_fetch_rows(q_, chunk, ss, sw, dw, pw, w_)
        rows = [len({o * sh + r * dh - ph for r in range(rr)} & set(range(h_)))
                for o in range(p_)]
        return tuple(rows[o] * c for _ in range(n_) for o in range(p_) for c in cols)
    width = touched_rows(q_, sw, ss, dw, pw, w_)  # bands of whole output rows, one image
    rows_b = sliding_fetch_rows(p_, chunk // q_, rr, sh, dh, ph, h_)
    return tuple(width * r for _ in range(n_) for r in rows_b)


@lru_cache(maxsize=4096)
def _lowered_run(geom: tuple[int, ...], chunk: int, rr: int, ss: int) -> int:
    return sum(_lowered_steps(geom, chunk, rr, ss))


def lowered_chunk_fetch_elems(layer: Layer, chunk: int, t: int) -> tuple[int, ...] | None:
    """Per group, the input elements DRAM delivers for each pixel chunk of a lowered
    conv's sliding ``P`` loop (``chunk`` output pixels in raster order N, P, Q; a
    reduction chunk of ``t`` indices), window-resident (module docstring); None when
    the chunks are not aligned to output rows (the whole-tile rule then stands)."""
    if not bool(_lowered_aligned(layer, np.int64(chunk))):
        return None
    cs, rr, ss = (int(x) for x in _lowered_reduction(layer, np.int64(t)))
    return tuple(cs * x for x in _lowered_steps(_geometry(layer), chunk, rr, ss))


def conv_chunk_fetch_elems(layer: Layer, dim: int, chunk: int, kernel: int,
                           ) -> tuple[int, ...]:
    """Per unit of the other extents, the input rows (``dim`` = P) or columns (Q) DRAM
    delivers per step of a row-stationary conv's sliding loop (padded coordinates)."""
    if dim == _P:
        return sliding_fetch_rows(layer.P, chunk, kernel, layer.stride_h, layer.dilation_h,
                                  0, None)
    return sliding_fetch_rows(layer.Q, chunk, kernel, layer.stride_w, layer.dilation_w,
                              0, None)


_G, _N, _C, _P, _Q, _R, _S = (MAP_DIMS.index(d) for d in "GNCPQRS")


def _per_key(keys: np.ndarray, fn) -> np.ndarray:
    """``fn(key)`` for every entry of the int64 ``keys``, calling it once per distinct
    key (there are few: chunk sizes and kernel extents)."""
    top = int(keys.max()) + 1
    if top > 1 << 22:
        uniq, inv = np.unique(keys, return_inverse=True)
        return np.array([fn(int(k)) for k in uniq], dtype=np.int64)[inv.reshape(-1)]
    seen = np.zeros(top, dtype=bool)       # a presence table: cheaper than sorting
    seen[keys] = True
    table = np.zeros(top, dtype=np.int64)
    for k in np.flatnonzero(seen):
        table[k] = fn(int(k))
    return table[keys]


def sliding_input_elems(layer: Layer, view: Layer, ext1: np.ndarray, dram: np.ndarray,
                        slide: np.ndarray, loads: np.ndarray) -> np.ndarray:
    """[B] input elements DRAM delivers with sliding-window reuse, -1 where the rule
    does not apply (no sliding loop innermost, unaligned chunks, a kernel dimension
    tiled at DRAM). ``layer`` is the conv, ``view`` what the dataflow maps (``layer``
    itself or its im2col GEMM); ``ext1`` [B, 8] the level-1 extents, ``dram`` [B, 8]
    the DRAM factors, ``slide`` [B] the input's :func:`blocking_dim` above the GLB,
    ``loads`` [B] the input tile loads (``above / reuse``). The capacity condition is
    the caller's (:func:`tiles_fit`)."""
    out = np.full(len(loads), -1, dtype=np.int64)
    if view is not layer:
        cand = np.flatnonzero(slide == _P)
        if not len(cand):
            return out
        chunk = ext1[cand, _P]
        ok = _lowered_aligned(layer, chunk)
        cand, chunk = cand[ok], chunk[ok]
        if not len(cand):
            return out
        cs, rr, ss = _lowered_reduction(layer, ext1[cand, _C])
        geom = _geometry(layer)
        base = (layer.R + 1) * (layer.S + 1)
        key = chunk * base + rr * (layer.S + 1) + ss
        run = _per_key(key, lambda k: _lowered_run(
            geom, k // base, k % base // (layer.S + 1), k % (layer.S + 1)))
        out[cand] = loads[cand] // dram[cand, _P] * ext1[cand, _G] * cs * run
        return out
    for dim, kdim, other, okern in ((_P, _R, _Q, _S), (_Q, _S, _P, _R)):
        cand = np.flatnonzero((slide == dim) & (dram[:, kdim] == 1))
        if not len(cand):
            continue
        e = ext1[cand]
        base = int(view.R if kdim == _R else view.S) + 1
        run = _per_key(e[:, dim] * base + e[:, kdim], lambda k, dim=dim, base=base: sum(
            conv_chunk_fetch_elems(view, dim, k // base, k % base)))
        st, dl = ((view.stride_w, view.dilation_w) if dim == _P
                  else (view.stride_h, view.dilation_h))
        cap = view.needed_in_w if dim == _P else view.needed_in_h
        cross = np.minimum(window_rows(e[:, other], e[:, okern], st, dl), cap)
        out[cand] = (loads[cand] // dram[cand, dim] * e[:, _G] * e[:, _N] * e[:, _C]
                     * cross * run)
    return out


def input_step_fetch_elems(layer: Layer, view: Layer, ext1: np.ndarray, dram: np.ndarray,
                           slide: int) -> tuple[int, np.ndarray] | None:
    """One mapping's sliding rule, step by step (the cycle model's demand side):
    ``(dim, fetch)`` with ``fetch[j]`` the input elements DRAM delivers when the input
    tile changes at index ``j`` of the sliding loop over dimension ``dim``; None where
    :func:`sliding_input_elems` gives -1. ``ext1``/``dram`` are [8] (level-1 extents,
    DRAM factors), ``slide`` the input's blocking dimension. The sum of ``fetch`` times
    the runs of the loop is :func:`sliding_input_elems`."""
    if view is not layer:
        if slide != _P:
            return None
        per = lowered_chunk_fetch_elems(layer, int(ext1[_P]), int(ext1[_C]))
        if per is None:
            return None
        return _P, int(ext1[_G]) * np.array(per, dtype=np.int64)
    for dim, kdim, other, okern in ((_P, _R, _Q, _S), (_Q, _S, _P, _R)):
        if slide == dim and dram[kdim] == 1:
            st, dl = ((view.stride_w, view.dilation_w) if dim == _P
                      else (view.stride_h, view.dilation_h))
            cap = view.needed_in_w if dim == _P else view.needed_in_h
            cross = min(int(window_rows(np.int64(ext1[other]), np.int64(ext1[okern]), st, dl)),
                        cap)
            unit = int(ext1[_G] * ext1[_N] * ext1[_C]) * cross
            rows = conv_chunk_fetch_elems(view, dim, int(ext1[dim]), int(ext1[kdim]))
            return dim, unit * np.array(rows, dtype=np.int64)
    return None


def tiles_fit(need_bits: dict[str, np.ndarray], buffers: list[tuple[tuple[str, ...], float]],
              op: str = "input") -> np.ndarray:
    """[B] every buffer holding ``op`` holds the level-1 tiles of all its operands at
    once: ``sum(need_bits[o] for o in operands) / 8 <= usable_bytes`` (``buffers``:
    ``(operands, usable_bytes)`` per GLB buffer)."""
    ok = np.ones(len(next(iter(need_bits.values()))), dtype=bool)
    for operands, usable in buffers:
        if op in operands:
            ok &= sum(need_bits[o] for o in operands) / 8 <= usable
    return ok


__all__ = ["LoopsAbove", "blocking_dim", "columns_product", "conv_chunk_fetch_elems",
           "conv_input_footprint_elems", "input_step_fetch_elems", "levels_product",
           "lowered_chunk_fetch_elems", "reuse_factors", "sliding_fetch_rows",
           "sliding_input_elems", "tile_footprint_elems", "tiles_fit", "touched_rows",
           "window_rows"]


def window_overlap_rows(p: np.ndarray, r: np.ndarray, stride: int, dilation: int,
                        shift: np.ndarray) -> np.ndarray:
    """Input rows a window keeps when it moves by ``shift`` rows: ``|W & (W + shift)|``
    for ``W`` the rows ``i * stride + j * dilation`` of ``p`` consecutive outputs and
    ``r`` consecutive kernel rows (:func:`window_rows`); [B] int64.

    Closed forms: a window without gaps (``window_rows`` equals its span
    ``(p - 1) * stride + (r - 1) * dilation + 1``) keeps ``max(0, span - |shift|)``;
    one kernel row (``r == 1``) is ``p`` rows ``stride`` apart and keeps
    ``p - |shift| / stride`` of them when ``stride`` divides the shift (none otherwise);
    one output (``p == 1``) likewise with ``r`` and ``dilation``. Other windows with
    gaps (a stride wider than the kernel's extent with ``p, r > 1``) are enumerated
    (:func:`_overlap_rows_enumerated`, cached)."""
    p, r = np.asarray(p, dtype=np.int64), np.asarray(r, dtype=np.int64)
    a = np.abs(np.asarray(shift, dtype=np.int64))
    span = (p - 1) * stride + (r - 1) * dilation + 1
    out = np.maximum(0, span - a)
    gaps = window_rows(p, r, stride, dilation) != span
    if not gaps.any():
        return out
    one_r, one_p = gaps & (r == 1), gaps & (p == 1) & (r > 1)
    if one_r.any():
        out = np.where(one_r, (a % stride == 0) * np.maximum(0, p - a // stride), out)
    if one_p.any():
        out = np.where(one_p, (a % dilation == 0) * np.maximum(0, r - a // dilation), out)
    rest = np.flatnonzero(gaps & (p > 1) & (r > 1))
    if len(rest):
        pr, rr, ar = (np.broadcast_to(x, out.shape)[rest] for x in (p, r, a))
        out = out.copy()
        out[rest] = [_overlap_rows_enumerated(int(x), int(y), stride, dilation, int(z))
                     for x, y, z in zip(pr.tolist(), rr.tolist(), ar.tolist())]
    return out


@lru_cache(maxsize=1 << 14)
def _overlap_rows_enumerated(p: int, r: int, stride: int, dilation: int, shift: int) -> int:
    """:func:`window_overlap_rows` of one window by enumerating its rows."""
    rows = {i * stride + j * dilation for i in range(p) for j in range(r)}
    return sum(1 for x in rows if x + shift in rows)
