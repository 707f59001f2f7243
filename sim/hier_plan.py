"""The static structure :mod:`sim.hier_cost` costs against, shared by its batched and
scalar paths: per (layer, hierarchy) the chains of levels keeping each operand, the
fanout positions, bounds and distinct operand sizes (:func:`_plan`), the element
widths every access is priced at (:func:`element_bits`, :func:`access_bits`),
and the exact distinct inputs the children of multicast fanouts read together
(:func:`_union_input_elems`, rows and columns enumerated exactly). Counts in elements.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from dataflows.dataflow import MAP_DIMS, OPERANDS, RELEVANT, map_bounds
from dataflows.errors import CoforgeError
from dataflows.factors import divisors
from dataflows.layer import Layer
from sim.hierarchy import Fanout, Hierarchy
from sim.tiling import tile_footprint_elems, window_overlap_rows, window_rows

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
    halo: bool                               # inputs are not separable
    lowered_top: int                         # levels < this use the conv window (im2col)
    macs: int
    usage_need: tuple[int, ...] = ()         # per fanout: children a mapping must unroll


@lru_cache(maxsize=64)
def _plan(layer: Layer, hier: Hierarchy, lowered_from: Layer | None) -> _Plan:
    levels = hier.levels
    pos = list(hier.fanout_positions)
    b = map_bounds(layer)
    bounds = np.array([b[d] for d in MAP_DIMS], dtype=np.int64)
    full = bounds[None, :]
    distinct = {o: int(tile_footprint_elems(o, full, layer)[0]) for o in OPERANDS}
    halo = not (layer.R == layer.S == layer.stride_h == layer.stride_w == 1)
    return _Plan(L=len(levels), F=len(pos), pos=tuple(pos),
                 chain={o: tuple(i for i, lv in enumerate(levels) if o in lv.keeps)
                        for o in OPERANDS},
                 bounds=bounds, distinct=distinct,
                 halo=halo,
                 lowered_top=(pos[0] if pos else len(levels)) if lowered_from is not None
                 else 0, macs=layer.macs,
                 usage_need=usage_plan(hier, tuple(int(v) for v in bounds))[0])


@lru_cache(maxsize=1024)
def exact_use_assignment(fo: Fanout, bounds: tuple[int, ...]) -> tuple[tuple[int, ...], ...]:
    """Spatial factors ``[axis][dim]`` (MAP_DIMS order) of ``fo`` that unroll the most
    children with exact factors (each dimension's factors here divide its bound; each
    axis at most its size), found by a search over the reachable per-axis products."""
    start = (1,) * len(fo.size)
    states: dict[tuple[int, ...], tuple[tuple[int, int, int], ...]] = {start: ()}
    for i, (d, b) in enumerate(zip(MAP_DIMS, bounds)):
        axes = [a for a, dims in enumerate(fo.dims) if d in dims]
        if b == 1 or not axes:
            continue
        nxt: dict[tuple[int, ...], tuple[tuple[int, int, int], ...]] = {}
        for st, how in states.items():
            for v in divisors(b):          # dim d's total here, split over its axes
                for split in _splits(v, len(axes)):
                    t = list(st)
                    for a, x in zip(axes, split):
                        t[a] *= x
                    if all(x <= n for x, n in zip(t, fo.size)) and tuple(t) not in nxt:
                        nxt[tuple(t)] = how + tuple((a, i, x) for a, x in zip(axes, split))
        states = nxt
    best = max(states, key=math.prod)
    out = [[1] * ND for _ in fo.size]
    for a, i, x in states[best]:
        out[a][i] *= x
    return tuple(tuple(row) for row in out)


def max_exact_use(fo: Fanout, bounds: tuple[int, ...]) -> int:
    """The most children of ``fo`` one mapping can unroll with exact factors
    (:func:`exact_use_assignment`'s product)."""
    return math.prod(math.prod(row) for row in exact_use_assignment(fo, bounds))


def _splits(v: int, k: int) -> list[tuple[int, ...]]:
    """Ordered factorizations of ``v`` into ``k`` factors."""
    if k == 1:
        return [(v,)]
    return [(d,) + rest for d in divisors(v) for rest in _splits(v // d, k - 1)]


def usage_need(fo: Fanout, bounds: tuple[int, ...]) -> int:
    """Children of ``fo`` alone a mapping must unroll (the product of its spatial factors
    there): ``min_usage`` of them, or, where exact factors of the layer's bounds cannot
    reach that, the most they can (AccelForge's "the best reachable when none reaches
    the minimum"); 0 when ``min_usage`` is 0."""
    if not fo.min_usage:
        return 0
    return min(math.ceil(fo.min_usage * fo.children - 1e-9), max_exact_use(fo, bounds))


def usage_order(hier: Hierarchy) -> tuple[int, ...]:
    """The fanouts with a ``min_usage``, in the order :func:`usage_plan` fills them: the
    one whose axes may unroll the fewest dimensions first."""
    fans = hier.fanouts
    return tuple(sorted((f for f, fo in enumerate(fans) if fo.min_usage),
                        key=lambda f: (len(set().union(*fans[f].dims)), f)))


@lru_cache(maxsize=1024)
def usage_plan(hier: Hierarchy, bounds: tuple[int, ...]
               ) -> tuple[tuple[int, ...], tuple[tuple[tuple[int, ...], ...] | None, ...]]:
    """Per fanout, (the children a mapping must unroll, exact factors ``[axis][dim]``
    that do): the fanouts with a ``min_usage`` are filled together, the one whose axes
    may unroll the fewest dimensions first, each with :func:`exact_use_assignment` of
    what the ones before it leave; a fanout must unroll :func:`usage_need` of its
    children or, where the fanouts together cannot all reach that, what this joint
    filling reaches (so a mapping meeting every need exists; AccelForge relaxes per
    mapping template to the best reachable, coforge per layer). Fanouts without
    ``min_usage``: (0, None)."""
    fans = hier.fanouts
    need, how = [0] * len(fans), [None] * len(fans)
    left = list(bounds)
    for f in usage_order(hier):
        a = exact_use_assignment(fans[f], tuple(left))
        for row in a:
            for i, v in enumerate(row):
                left[i] //= v
        how[f] = a
        need[f] = min(usage_need(fans[f], bounds), math.prod(math.prod(r) for r in a))
    return tuple(need), tuple(how)



def element_bits(hier: Hierarchy, layer: Layer, lv: int, o: str) -> int:
    """Bits per element of operand ``o`` at storage level ``lv``: the level's
    ``value_bits`` when it lists ``o``, else the layer's weight/input precision, and for
    outputs the accumulator width (partial sums)."""
    vb = hier.levels[lv].stored_bits(o)
    if vb is not None:
        return vb
    prec = layer.precision
    return {"weight": prec.weight_bits, "input": prec.input_bits,
            "output": hier.compute.accumulator_bits}[o]


def access_bits(hier: Hierarchy, layer: Layer, lv: int, o: str, reads, writes, d_out: int):
    """(read bits, write bits) of ``reads``/``writes`` elements of ``o`` at storage level
    ``lv`` (ints or arrays): :func:`element_bits` each, except that, where the level has
    no ``value_bits`` for outputs, the ``d_out`` distinct final outputs are written into
    the outermost level, and read for that from the next output level below it, at the
    output width instead of the accumulator width. The one owner of the width rule
    (the batched and scalar costs, the cycle model and the word counts all call it)."""
    bits = element_bits(hier, layer, lv, o)
    r_less, w_less = narrow_bits(hier, layer, lv, o, d_out)
    return reads * bits - r_less, writes * bits - w_less


def narrow_bits(hier: Hierarchy, layer: Layer, lv: int, o: str, d_out: int) -> tuple[int, int]:
    """(read, write) bits that :func:`access_bits` takes off ``o``'s accesses at level
    ``lv`` because the ``d_out`` final outputs move at the output width, not the
    accumulator width: written into the outermost level, read for that from the next
    output level below it (0 elsewhere, and where the level has ``value_bits`` for
    outputs). They belong to the drains that carry final outputs."""
    if o != "output" or hier.levels[lv].stored_bits(o) is not None:
        return 0, 0
    narrow = d_out * (element_bits(hier, layer, lv, o) - layer.precision.output_bits)
    chain = [i for i, level in enumerate(hier.levels) if "output" in level.keeps]
    return (narrow if len(chain) > 1 and lv == chain[1] else 0, narrow if lv == 0 else 0)


def exposes(hier: Hierarchy, c: int, o: str) -> bool:
    """Whether level ``c``'s fills and drains of operand ``o`` stall the MACs
    (:data:`sim.hierarchy_nodes.OVERLAP`): under ``compute.overlap: double_buffered``, a
    level that is not double-buffered and holds ``o`` (does not stream it); never under
    ``always``. The one owner of the rule (the batched and scalar costs and the cycle
    model call it)."""
    level = hier.levels[c]
    return hier.compute.overlap == "double_buffered" and not level.double_buffered and \
        o not in level.streams


def mac_groups(plan: _Plan, T: np.ndarray, Sraw: np.ndarray, lanes: list[int],
               dims: list[int]) -> np.ndarray:
    """Per row, the groups of MACs that differ only in their position on the fanouts
    ``lanes`` along ``dims`` and hold at least one MAC inside the bounds: what one read of
    a multicast operand, or one arrival of a partial sum reduced over those fanouts,
    serves. ``T`` [L, 8, B] temporal and ``Sraw`` [F, 8, B] raw spatial factors; a
    dimension's index is the mixed-radix number of its factors in nest order (outermost
    first), valid below its bound, so imperfect factors leave the top values idle and a
    group is busy iff its member at lane position 0 is valid. With every bound covered
    exactly this is MACs / (the lanes' factors on ``dims``); with idle positions it counts
    a partly idle group once (MACs / factors would count a fraction of it)."""
    B = T.shape[2]
    lane_set = set(lanes)
    out = np.full(B, int(np.prod([int(plan.bounds[d]) for d in range(ND) if d not in dims])),
                  dtype=np.int64)
    for d in dims:
        b = int(plan.bounds[d])
        comps: list[tuple[np.ndarray, bool]] = []
        for lv in range(plan.L):
            comps.append((T[lv, d], False))
            comps.extend((Sraw[f, d], f in lane_set) for f in range(plan.F)
                         if plan.pos[f] == lv + 1)
        total = np.ones(B, dtype=np.int64)
        free = np.ones(B, dtype=np.int64)       # product of the non-lane factors
        for f, lane in comps:
            total = total * f
            if not lane:
                free = free * f
        if (total == b).all():                  # exact: every tuple of digits is valid
            out = out * free
            continue
        # count the numbers below b (mixed radix) whose lane digits are 0, digit by digit
        count = np.zeros(B, dtype=np.int64)
        ok = np.ones(B, dtype=bool)             # the digits so far can equal b's
        stride, rest = total, free
        for f, lane in comps:
            stride = stride // f
            if not lane:
                rest = rest // f
            digit = (b // stride) % f
            if lane:
                count += np.where(ok & (digit > 0), rest, 0)
                ok &= digit == 0
            else:
                count += np.where(ok, digit * rest, 0)
        out = out * np.where(total <= b, free, count)
    return out


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
    are counted exactly (:func:`_union_rows`). [B] int64 (a new array)."""
    B = e.shape[0]
    out = None
    for d in (0, 1, 3):
        if bounds[d] == 1:           # extents and factors >= 1: the product caps to 1
            continue
        tot = e[:, d]
        for sf, _ in fans:
            tot = tot * sf[:, d]
        tot = np.minimum(tot, bounds[d])
        out = tot if out is None else np.multiply(out, tot, out=out)
    if out is None:
        out = np.ones(B, dtype=np.int64)
    # per fanout, the plane dimensions (P, Q, R, S) it spreads in some row
    spreads = [sf.T[4:8].max(axis=1) > 1 if B else np.zeros(4, dtype=bool) for sf, _ in fans]
    for dp, dr, stride, dil, cap in ((4, 6, layer.stride_h, layer.dilation_h,
                                      layer.needed_in_h),
                                     (5, 7, layer.stride_w, layer.dilation_w,
                                      layer.needed_in_w)):
        spread = [fan for fan, sp in zip(fans, spreads) if sp[dp - 4] or sp[dr - 4]]
        ep, er = e[:, dp], e[:, dr]
        if not spread:
            out *= np.minimum(window_rows(ep, er, stride, dil), cap)
            continue
        if len(spread) == 1:
            # one fanout spreading outputs only, windows that are intervals of W rows
            # (one output or kernel row, or rows without gaps) or of one kernel row:
            # s copies shifted by g * stride rows cover W + (s - 1) * min(W, shift)
            (sf, g), = spread
            # one kernel row: the window is ep rows ``stride`` apart, and so are the
            # copies (g outputs = g such steps): ep + (s - 1) * min(ep, g)
            single = er == 1
            easy = single.copy()
            if dil == 1:
                easy |= ep == 1
                easy |= er >= stride
            if stride == 1:
                easy |= ep >= dil
            gp, sp = g[:, dp], sf[:, dp]
            easy &= sf[:, dr] == 1
            easy &= gp * sp <= bounds[dp]
            easy &= gp >= ep          # copies' output ranges apart (always so here)
            wr = window_rows(ep, er, stride, dil)
            shift = gp if stride == 1 else np.where(single, gp, gp * stride)
            part = np.minimum(wr + (sp - 1) * np.minimum(wr, shift), cap)
            todo = np.flatnonzero(~easy)
            if not len(todo):
                out *= part
                continue
        else:
            part = np.empty(B, dtype=np.int64)
            todo = np.arange(B)
        cols = [ep.take(todo), er.take(todo)]
        for sf, g in spread:
            cols += [sf[:, dp].take(todo), g[:, dp].take(todo), sf[:, dr].take(todo),
                     g[:, dr].take(todo)]
        params = np.stack(cols, axis=1)
        radix = params.max(axis=0) + 1
        if float(np.prod(radix.astype(np.float64))) < 2.0 ** 62:   # one int64 key per row
            key = cols[0].copy()
            for j in range(1, params.shape[1]):
                key *= radix[j]
                key += cols[j]
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
        part[todo] = vals.take(inv.reshape(-1))
        out *= part
    return out


def _unique_rows(params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct rows, inverse) of an int64 [n, k] array (non-negative but for the last
    two columns, shifts): one int64 key per row when it fits, else a row-wise unique."""
    lo = params.min(axis=0)
    shifted = params - lo
    radix = shifted.max(axis=0) + 1
    if float(np.prod(radix.astype(np.float64))) < 2.0 ** 62:
        key = shifted[:, 0].copy()
        for j in range(1, params.shape[1]):
            key = key * radix[j] + shifted[:, j]
        _, first, inv = np.unique(key, return_index=True, return_inverse=True)
        return params[first], inv.reshape(-1)
    uniq, inv = np.unique(params, axis=0, return_inverse=True)
    return uniq, inv.reshape(-1)


@lru_cache(maxsize=1 << 16)
def _kept_rows(e_p: int, e_r: int, fans: tuple[tuple[int, int, int, int], ...], stride: int,
               dilation: int, bound_p: int, bound_r: int, d_p: int, d_r: int) -> int:
    """Rows of the children's union (:func:`_union_rows`'s windows, uncapped) that no
    child needs anew after the whole group moved by ``d_p`` outputs and ``d_r`` kernel
    rows: every child reading the row held it one step earlier. With no fanouts: the
    rows one window keeps when it moves (:func:`sim.tiling.window_overlap_rows`)."""
    offsets = {(0, 0)}
    for s_p, g_p, s_r, g_r in fans:
        offsets = {(a + jp * g_p, b + jr * g_r) for a, b in offsets
                   for jp in range(s_p) for jr in range(s_r)}
    kids = [{i * stride + r * dilation for i in range(a, min(a + e_p, bound_p))
             for r in range(b, min(b + e_r, bound_r))} for a, b in offsets]
    shift = d_p * stride + d_r * dilation
    union = set().union(*kids)
    return sum(1 for y in union if all(y + shift in k for k in kids if y in k))


def _kept_union_rows(e_p: np.ndarray, e_r: np.ndarray,
                     spread: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
                     stride: int, dilation: int, bound_p: int, bound_r: int,
                     d_p: np.ndarray, d_r: np.ndarray) -> np.ndarray:
    """[B] :func:`_kept_rows` of a batch: ``spread`` the (s_p, g_p, s_r, g_r) [B] arrays of
    the multicast fanouts spreading this plane's outputs or kernel rows. Closed forms:
    no spread (:func:`window_overlap_rows`); one fanout spreading outputs only, ``m``
    copies ``sh`` rows apart of a window without gaps of ``n`` rows (or of one kernel
    row, counted in units of ``stride``): each copy needs its ``lam = min(|shift|, n)``
    new rows, so ``kept = (n - lam) + (m - 1) * (min(n, sh) - min(lam, sh))``. The rest
    is enumerated per distinct case."""
    shift = d_p * stride + d_r * dilation
    if not spread:
        return window_overlap_rows(e_p, e_r, stride, dilation, shift)
    out = np.empty(len(e_p), dtype=np.int64)
    todo = np.ones(len(e_p), dtype=bool)
    if len(spread) == 1:
        s_p, g_p, s_r, _ = spread[0]
        span = (e_p - 1) * stride + (e_r - 1) * dilation + 1
        interval = window_rows(e_p, e_r, stride, dilation) == span
        single = (e_r == 1) & ~interval
        easy = (interval | single) & (s_r == 1) & (g_p * s_p <= bound_p) & (g_p >= e_p)
        a = np.abs(shift)
        unit = np.where(single, stride, 1)
        n = np.where(single, e_p, span)
        sh = np.where(single, g_p, g_p * stride)
        lam = np.minimum(a // unit, n)
        kept = (n - lam) + (s_p - 1) * (np.minimum(n, sh) - np.minimum(lam, sh))
        kept = np.where(a % unit == 0, kept, 0)
        out[easy] = kept[easy]
        todo = ~easy
    if todo.any():
        cols = [e_p[todo], e_r[todo], d_p[todo], d_r[todo]]
        for sf in spread:
            cols += [x[todo] for x in sf]
        params = np.stack(cols, axis=1)
        uniq, inv = _unique_rows(params)
        nf = len(spread)
        vals = np.array([_kept_rows(u[0], u[1],
                                    tuple(tuple(u[4 + 4 * k:8 + 4 * k]) for k in range(nf)),
                                    stride, dilation, bound_p, bound_r, u[2], u[3])
                         for u in uniq.tolist()], dtype=np.int64)
        out[todo] = vals[inv]
    return out

