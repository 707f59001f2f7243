"""The static structure :mod:`sim.hier_cost` costs against, shared by its batched and
scalar paths: per (layer, hierarchy) the chains of levels keeping each operand, the
fanout positions, bounds, distinct operand sizes and element widths (:func:`_plan`),
and the exact distinct inputs the children of multicast fanouts read together
(:func:`_union_input_elems`, rows and columns enumerated exactly). Counts in elements.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from dataflows.dataflow import MAP_DIMS, OPERANDS, RELEVANT, map_bounds
from dataflows.errors import CoforgeError
from dataflows.layer import Layer
from sim.hierarchy import Hierarchy, StorageLevel
from sim.tiling import tile_footprint_elems, window_rows

ND = len(MAP_DIMS)
_REL = {o: np.array([d in RELEVANT[o] for d in MAP_DIMS]) for o in OPERANDS}


class HierCostError(CoforgeError):
    """The mapping cannot run on this hierarchy (structure or capacity)."""


@dataclass(frozen=True)
class _Plan:
    """Static structure of (layer, hierarchy): chains of levels per operand and so on."""

    L: int
    F: int
    pos: tuple[int, ...]                     # storage levels before each fanout
    chain: dict[str, tuple[int, ...]]        # levels keeping each operand, outermost first
    bounds: np.ndarray                       # [8]
    distinct: dict[str, int]
    bits: dict[str, int]                     # element bits (outputs: accumulator)
    out_bits: int
    halo: bool                               # inputs are not separable
    lowered_top: int                         # levels < this use the conv window (im2col)
    macs: int


@lru_cache(maxsize=64)
def _plan(layer: Layer, hier: Hierarchy, lowered_from: Layer | None) -> _Plan:
    levels = hier.levels
    pos, li = [], 0
    for n in hier.nodes:
        if isinstance(n, StorageLevel):
            li += 1
        else:
            pos.append(li)
    b = map_bounds(layer)
    bounds = np.array([b[d] for d in MAP_DIMS], dtype=np.int64)
    full = bounds[None, :]
    distinct = {o: int(tile_footprint_elems(o, full, layer)[0]) for o in OPERANDS}
    prec = layer.precision
    acc = hier.compute.accumulator_bits
    halo = not (layer.R == layer.S == layer.stride_h == layer.stride_w == 1)
    return _Plan(L=len(levels), F=len(pos), pos=tuple(pos),
                 chain={o: tuple(i for i, lv in enumerate(levels) if o in lv.keeps)
                        for o in OPERANDS},
                 bounds=bounds, distinct=distinct,
                 bits={"weight": prec.weight_bits, "input": prec.input_bits, "output": acc},
                 out_bits=prec.output_bits, halo=halo,
                 lowered_top=(pos[0] if pos else len(levels)) if lowered_from is not None
                 else 0, macs=layer.macs)



def _between(plan: _Plan, p: int, c: int) -> list[int]:
    """Fanouts between storage level ``p`` (outer) and ``c`` (inner; L = the MACs)."""
    return [f for f in range(plan.F) if p < plan.pos[f] <= c]


def _above(plan: _Plan, c: int) -> list[int]:
    return [f for f in range(plan.F) if plan.pos[f] <= c]


@lru_cache(maxsize=1 << 16)
def _union_rows(e_p: int, e_r: int, fans: tuple[tuple[int, int, int, int], ...], stride: int,
                dilation: int, bound_p: int, bound_r: int, cap: int) -> int:
    """Distinct input rows ``i * stride + r * dilation`` the children of multicast fanouts
    read together: each child spans ``e_p`` outputs and ``e_r`` kernel rows from its
    origin; fanout ``(s_p, g_p, s_r, g_r)`` places ``s_p x s_r`` children ``g_p`` outputs
    and ``g_r`` kernel rows apart (gaps where loops between the fanout and the child
    also iterate the dimension). Capped at ``cap`` (the rows any window reads)."""
    offsets = {(0, 0)}
    for s_p, g_p, s_r, g_r in fans:
        offsets = {(a + jp * g_p, b + jr * g_r) for a, b in offsets
                   for jp in range(s_p) for jr in range(s_r)}
    rows = {i * stride + r * dilation for a, b in offsets
            for i in range(a, min(a + e_p, bound_p)) for r in range(b, min(b + e_r, bound_r))}
    return min(len(rows), cap)


def _union_input_elems(layer: Layer, bounds: np.ndarray, e: np.ndarray,
                       fans: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Distinct inputs the children of the multicast fanouts ``fans`` (each (spatial
    factors, offsets between children) as [B, 8]) read together, each child's tile
    spanning extents ``e`` ([B, 8], capped): G, N, C multiply out; rows and columns
    are counted exactly (:func:`_union_rows`)."""
    out = np.ones(e.shape[0], dtype=np.int64)
    for d in (0, 1, 3):
        tot = e[:, d].copy()
        for sf, _ in fans:
            tot = tot * sf[:, d]
        out *= np.minimum(tot, bounds[d])
    for dp, dr, stride, dil, cap in ((4, 6, layer.stride_h, layer.dilation_h,
                                      layer.needed_in_h),
                                     (5, 7, layer.stride_w, layer.dilation_w,
                                      layer.needed_in_w)):
        spread = [(sf, g) for sf, g in fans if (sf[:, dp] > 1).any() or (sf[:, dr] > 1).any()]
        if not spread:
            out *= np.minimum(window_rows(e[:, dp], e[:, dr], stride, dil), cap)
            continue
        part = np.empty(e.shape[0], dtype=np.int64)
        todo = np.ones(e.shape[0], dtype=bool)
        if len(spread) == 1:
            # one fanout spreading outputs only, windows that are intervals of W rows:
            # s copies shifted by g * stride rows cover W + (s - 1) * min(W, shift)
            (sf, g), = spread
            ep, er = e[:, dp], e[:, dr]
            interval = ((ep == 1) & ((er == 1) | (dil == 1))) | \
                ((er == 1) & (stride == 1)) | ((dil == 1) & (er >= stride)) | \
                ((stride == 1) & (ep >= dil))
            # one kernel row: the window is ep rows ``stride`` apart, and so are the
            # copies (g outputs = g such steps): ep + (s - 1) * min(ep, g)
            single = er == 1
            easy = (interval | single) & (sf[:, dr] == 1) & (g[:, dp] * sf[:, dp] <= bounds[dp])
            wr = window_rows(ep, er, stride, dil)
            shift = np.where(single, g[:, dp], g[:, dp] * stride)
            part = np.minimum(wr + (sf[:, dp] - 1) * np.minimum(wr, shift), cap)
            todo = ~easy
        if not todo.any():
            out *= part
            continue
        cols = [e[todo, dp], e[todo, dr]]
        for sf, g in spread:
            cols += [sf[todo, dp], g[todo, dp], sf[todo, dr], g[todo, dr]]
        params = np.stack(cols, axis=1)
        radix = params.max(axis=0) + 1
        if float(np.prod(radix.astype(np.float64))) < 2.0 ** 62:   # one int64 key per row
            key = params[:, 0].copy()
            for j in range(1, params.shape[1]):
                key = key * radix[j] + params[:, j]
            _, first, inv = np.unique(key, return_index=True, return_inverse=True)
            uniq = params[first]
        else:
            uniq, inv = np.unique(params, axis=0, return_inverse=True)
        nf = len(spread)
        bp, br = int(bounds[dp]), int(bounds[dr])
        vals = np.array([_union_rows(u[0], u[1],
                                     tuple(tuple(u[2 + 4 * k:6 + 4 * k]) for k in range(nf)),
                                     stride, dil, bp, br, cap)
                         for u in uniq.tolist()], dtype=np.int64)
        part[todo] = vals[inv.reshape(-1)]
        out *= part
    return out

