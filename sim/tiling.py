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


def reuse_factors(op: str, loops: LoopsAbove,
                  stays: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(reuse, irrelevant), [B] each: the product of the loop factors inside the
    innermost relevant loop with a factor > 1 (irrelevant ones only, since relevant
    ones there are 1: the tile stays; 1 when ``stays`` is False) and the product of
    all irrelevant factors above the boundary.

    A tile is loaded ``total / reuse`` times; a separable operand moves
    ``distinct * irrelevant / reuse`` elements (partial tiles counted exactly).
    """
    relevant = columns_product(loops.per_dim, _REL_COLUMNS[op])
    irrelevant = loops.total // relevant
    if not stays:
        return np.ones_like(irrelevant), irrelevant
    b, n = loops.dims.shape
    blocking = np.empty((b, n + 1), dtype=bool)
    blocking[:, n] = True                   # sentinel: no blocking loop -> first == n
    np.logical_and((_REL_MASK[op] >> loops.dims) & 1, loops.big, out=blocking[:, :n])
    first = blocking.argmax(axis=1)
    return np.take(loops.prefix, np.arange(0, b * (n + 1), n + 1) + first), irrelevant


__all__ = ["LoopsAbove", "columns_product", "conv_input_footprint_elems", "levels_product",
           "reuse_factors", "tile_footprint_elems", "touched_rows", "window_rows"]
