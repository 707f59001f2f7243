"""The scalar path of :mod:`sim.hier_cost`: one :class:`NestMapping` costed in plain
Python (:func:`evaluate`, the reference the batched :func:`sim.hier_cost.evaluate_batch`
is tested equal to; rules in :mod:`sim.hier_cost`'s docstring), and the capacity
diagnostics built on it. Importable from :mod:`sim.hier_cost`.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from dataflows.dataflow import MAP_DIMS, OPERANDS, RELEVANT, map_bounds
from dataflows.layer import Layer
from dataflows.nest_mapping import NestMapping
from sim.hier_plan import (ND, HierCostError, _kept_rows, _plan, _union_input_elems,
                           access_bits, element_bits, exposes, narrow_bits)
from sim.hierarchy import Hierarchy
from sim.tiling import conv_input_footprint_elems, tile_footprint_elems


@dataclass(frozen=True)
class HierResult:
    """One mapping's costs: accesses per level and operand (elements), energy, cycles."""

    legal: bool
    compute_cycles: int
    total_cycles: int
    energy_pj: float
    accesses: dict[str, dict[str, dict[str, int]]]
    energy_pj_by_level: dict[str, float]
    need_bytes: dict[str, float]
    cycles_by_level: dict[str, float]


#: the values of ``input_reuse`` (rules in :mod:`sim.hier_cost`'s docstring)
INPUT_REUSE = ("window", "refetch")
#: ``input_reuse`` of :func:`evaluate` and :func:`sim.hier_cost.evaluate_batch` when not
#: given (what mapper.nest_search and mapper.hier_map cost with): the exact sliding-window
#: rule (its batched cost meets benchmarks/bench_hierarchy.py's 500,000 mappings/s 5-level
#: target since the hier_window/hier_plan speed-ups of 2026-12-07).
DEFAULT_INPUT_REUSE = "window"


def check_input_reuse(input_reuse: str) -> None:
    """A one-line :class:`HierCostError` unless ``input_reuse`` is one of INPUT_REUSE."""
    if input_reuse not in INPUT_REUSE:
        raise HierCostError(f"input_reuse must be 'window' (sliding-window reuse of conv "
                            f"inputs) or 'refetch' (a moved tile is refetched whole), "
                            f"not {input_reuse!r}")


_GNC = (0, 1, 3)            # G, N, C: a step along them shares no input
_P, _Q, _R, _S = 4, 5, 6, 7


def window_kept(layer: Layer, bnd: list[int], e: list[int],
                loops: list[tuple[int, int, int]],
                spread: list[tuple[list[int], list[int]]]) -> int:
    """Sum over the consecutive iterations of ``loops`` ((dim, factor, index step),
    innermost first) of the input elements a group of children already holds (rules
    in :mod:`sim.hier_cost`): one child with capped extents ``e``, or the children of
    the multicast fanouts ``spread`` ((raw spatial factors, offsets between children)
    per fanout) moving together. A step of loop j happens ``(f_j - 1) x prod(factors
    outer to j)`` times; it moves the window by j's step along j's dimension and takes
    every inner loop back to its start (``-(f - 1) x step`` each); across a G, N or C
    change nothing is kept."""
    u_gnc = math.prod(min(e[d] * math.prod(sf[d] for sf, _ in spread), bnd[d])
                      for d in _GNC)
    planes = []
    for dp, dr, stride, dil in ((_P, _R, layer.stride_h, layer.dilation_h),
                                (_Q, _S, layer.stride_w, layer.dilation_w)):
        fans = tuple((sf[dp], g[dp], sf[dr], g[dr]) for sf, g in spread
                     if sf[dp] > 1 or sf[dr] > 1)
        planes.append((dp, dr, stride, dil, fans))
    outer = math.prod(f for _, f, _ in loops)
    back = [0] * ND                  # index distance the inner loops wrap back
    kept = 0
    blocked = False
    for d, f, step in loops:
        outer //= f
        if f > 1 and not blocked and d not in _GNC:
            shift = [-b for b in back]
            shift[d] += step
            k = u_gnc
            for dp, dr, stride, dil, fans in planes:
                k *= _kept_rows(e[dp], e[dr], fans, stride, dil, bnd[dp], bnd[dr],
                                shift[dp], shift[dr])
            kept += (f - 1) * outer * k
        back[d] += (f - 1) * step
        blocked |= f > 1 and d in _GNC
    return kept


def evaluate(layer: Layer, hier: Hierarchy, mapping: NestMapping,
             lowered_from: Layer | None = None, check: bool = True,
             input_reuse: str = DEFAULT_INPUT_REUSE) -> HierResult:
    """Cost one mapping with plain Python (no numpy): the reference for evaluate_batch.
    ``check`` first runs :meth:`NestMapping.check` (a one-line MappingError);
    ``input_reuse``: ``"window"`` (sliding-window reuse of conv inputs; default
    DEFAULT_INPUT_REUSE) or ``"refetch"`` (Timeloop's whole-tile refetch), see
    :mod:`sim.hier_cost`."""
    check_input_reuse(input_reuse)
    if check:
        mapping.check(hier, map_bounds(layer), where=f"layer {layer.name!r} on {hier.name!r}")
    plan = _plan(layer, hier, lowered_from)
    L, F = plan.L, plan.F
    bnd = [int(v) for v in plan.bounds]
    levels, fans = hier.levels, hier.fanouts
    T = [list(t) for t in mapping.temporal]
    Sraw = [list(mapping.spatial_product(f)) for f in range(F)]
    S = [[min(v, bnd[d]) for d, v in enumerate(s)] for s in Sraw]
    rel = {o: [d in RELEVANT[o] for d in MAP_DIMS] for o in OPERANDS}

    def ext_raw(lv: int) -> list[int]:
        e = [1] * ND
        for f in range(F):
            if plan.pos[f] > lv:
                e = [a * b for a, b in zip(e, Sraw[f])]
        for j in range(lv, L):
            e = [a * b for a, b in zip(e, T[j])]
        return e

    def busy_groups(lanes: list[int], dims: list[int]) -> int:
        """MAC groups differing only on the fanouts ``lanes`` along ``dims`` with a MAC
        inside the bounds (sim.hier_plan.mac_groups), by enumerating each dimension's
        digits: lane digits at 0, the others every value."""
        n = math.prod(bnd[d] for d in range(ND) if d not in dims)
        for d in dims:
            comps = []                          # (factor, lane), nest order, outermost first
            for lv in range(L):
                comps.append((T[lv][d], False))
                comps.extend((Sraw[f][d], f in lanes) for f in range(F)
                             if plan.pos[f] == lv + 1)
            if math.prod(f for f, _ in comps) == bnd[d]:      # exact: every digit valid
                n *= math.prod(f for f, lane in comps if not lane)
                continue
            strides = [math.prod(f for f, _ in comps[j + 1:]) for j in range(len(comps))]
            free = [range(f) if not lane else range(1) for f, lane in comps]
            n *= sum(sum(i * s for i, s in zip(idx, strides)) < bnd[d]
                     for idx in itertools.product(*free))
        return n

    def fp(o: str, e: list[int], lv: int) -> int:
        arr = np.array([[min(v, b) for v, b in zip(e, bnd)]], dtype=np.int64)
        if o == "input" and lv < plan.lowered_top:
            return int(conv_input_footprint_elems(arr, lowered_from)[0])
        return int(tile_footprint_elems(o, arr, layer)[0])

    def loops(lv: int) -> list[tuple[int, int]]:
        """(dim, factor) of the loops above level lv, innermost first."""
        return [(d, f) for d, f, _ in steps(lv)]

    def steps(lv: int) -> list[tuple[int, int, int]]:
        """(dim, factor, index step) of the loops above level lv, innermost first: a
        loop of level j moves j's tile by its extent over j's own factor."""
        out = []
        for j in range(lv - 1, -1, -1):
            e = ext_raw(j)
            for d in reversed(mapping.order[j]):
                i = MAP_DIMS.index(d)
                out.append((i, T[j][i], e[i] // T[j][i]))
        return out

    def reuse(o: str, lv: int) -> int:
        if lv == L or o in levels[lv].streams:
            return 1
        r = 1
        for d, f in loops(lv):
            if f > 1 and rel[o][d]:
                break
            r *= f
        return r

    def rep(o: str, f: int) -> int:
        return math.prod(S[f][d] for d in range(ND) if not rel[o][d])

    def inst(f: int) -> int:
        return math.prod(S[f])

    def gap(f: int) -> list[int]:
        """Index distance between neighbouring children of fanout f, per dimension."""
        g = ext_raw(plan.pos[f]) if plan.pos[f] < L else [1] * ND
        for f2 in range(f + 1, F):
            if plan.pos[f2] == plan.pos[f]:
                g = [a * b for a, b in zip(g, Sraw[f2])]
        return g

    above = {c: [f for f in range(F) if plan.pos[f] <= c] for c in range(L + 1)}
    between = {(p, c): [f for f in range(F) if p < plan.pos[f] <= c]
               for p in range(L) for c in range(L + 1)}

    def window(o: str, c: int) -> bool:
        """Level c keeps a sliding input window (the "window" rule applies)."""
        return (o == "input" and input_reuse == "window" and plan.halo
                and lowered_from is None and o not in levels[c].streams)

    def capped(e: list[int]) -> list[int]:
        return [min(v, b) for v, b in zip(e, bnd)]

    def fills(o: str, c: int) -> int:
        lp = math.prod(f for _, f in loops(c))
        if window(o, c):
            e = ext_raw(c)
            return (fp(o, e, c) * lp - window_kept(layer, bnd, capped(e), steps(c), [])) \
                * math.prod(inst(f) for f in above[c])
        if o == "input" and (plan.halo or c < plan.lowered_top):
            return fp(o, ext_raw(c), c) * (lp // reuse(o, c)) * \
                math.prod(inst(f) for f in above[c])
        relevant = math.prod(math.prod(T[j][d] for j in range(c)) for d in range(ND)
                             if rel[o][d])
        return plan.distinct[o] * (lp // relevant // reuse(o, c)) * \
            math.prod(rep(o, f) for f in above[c])

    reads = {(lv, o): 0 for lv in range(L) for o in OPERANDS}
    writes = dict(reads)
    # bits of the fills and drains that stall the MACs (hier_plan.exposes), per level:
    # [read bits, write bits]; the final outputs' narrow width goes with the drains
    stall = [[0, 0] for _ in range(L)]

    def wait(lv: int, o: str, rw: int, elems: int, narrow: bool = False) -> None:
        less = narrow_bits(hier, layer, lv, o, d_out)[rw] if narrow else 0
        stall[lv][rw] += elems * element_bits(hier, layer, lv, o) - less

    d_out = plan.distinct["output"]
    for o in ("weight", "input"):
        ch = plan.chain[o]
        for i, lv in enumerate(ch):
            c = ch[i + 1] if i + 1 < len(ch) else L
            mc = [f for f in between[lv, c] if o in fans[f].multicast]
            if c == L:
                reads[lv, o] = busy_groups(mc, [d for d in range(ND) if not rel[o][d]])
                continue
            x_c = fills(o, c)
            writes[c, o] = x_c
            if exposes(hier, c, o):
                wait(c, o, 1, x_c)
            if o == "input" and (plan.halo or c < plan.lowered_top):
                e = ext_raw(c)
                if not mc:
                    union = fp(o, e, c)
                elif lv < plan.lowered_top:
                    for f in mc:
                        e = [a * b for a, b in zip(e, Sraw[f])]
                    union = fp(o, e, lv)
                else:
                    union = int(_union_input_elems(
                        layer, plan.bounds, np.array([[min(v, b) for v, b in zip(e, bnd)]]),
                        [(np.array([Sraw[f]]), np.array([gap(f)])) for f in mc])[0])
                lp = math.prod(f for _, f in loops(c))
                if window(o, c):
                    e = ext_raw(c)
                    moved = union * lp - window_kept(
                        layer, bnd, capped(e), steps(c), [(Sraw[f], gap(f)) for f in mc])
                else:
                    moved = union * (lp // reuse(o, c))
                reads[lv, o] = moved * math.prod(inst(f) for f in above[c]) // \
                    math.prod(inst(f) for f in mc)
            else:
                reads[lv, o] = x_c // math.prod(rep(o, f) for f in mc)
            if exposes(hier, c, o):
                wait(lv, o, 0, reads[lv, o])
    ch = plan.chain["output"]
    down: dict[int, int] = {}
    psum = hier.compute.psum_access
    for i, lv in enumerate(ch):
        c = ch[i + 1] if i + 1 < len(ch) else L
        red = math.prod(rep("output", f) for f in between[lv, c] if fans[f].reduction)
        if c == L:             # read-modify-writes; psum_access as in the batched doc
            a = busy_groups([f for f in between[lv, c] if fans[f].reduction],
                            [d for d in range(ND) if not rel["output"][d]])
            writes[lv, "output"] = a
            if i == 0:
                reads[lv, "output"] = a - (0 if psum == "separate" else d_out)
            elif psum == "fused":
                reads[lv, "output"] = a
            else:
                writes[lv, "output"] = a + down[ch[i - 1]]
                reads[lv, "output"] = a + (down[ch[i - 1]] if psum == "separate_no_first_read"
                                           else fills("output", lv))
                if exposes(hier, lv, "output"):   # its drains up and refills in
                    wait(lv, "output", 0, min(fills("output", lv), reads[lv, "output"]), True)
                    wait(lv, "output", 1, min(down[ch[i - 1]], writes[lv, "output"]))
            continue
        arrivals = fills("output", c) // red
        first = d_out * math.prod(rep("output", f) for f in above[c]) // red
        down[lv] = arrivals - first
        reads[lv, "output"] = down[lv] + (fills("output", lv) if i > 0 else 0)
        writes[lv, "output"] = arrivals + (down[ch[i - 1]] if i > 0 else 0)
        if exposes(hier, c, "output"):            # the child's refills and drains
            wait(lv, "output", 0, down[lv])
            wait(lv, "output", 1, arrivals, True)
        if i > 0 and exposes(hier, lv, "output"):  # its own drains up and refills in
            wait(lv, "output", 0, fills("output", lv), True)
            wait(lv, "output", 1, down[ch[i - 1]])

    legal, energy, worst, exposed = True, plan.macs * hier.compute.mac_pj, 0.0, 0.0
    acc_d: dict[str, dict[str, dict[str, int]]] = {}
    e_lv: dict[str, float] = {}
    need_d: dict[str, float] = {}
    cyc_d: dict[str, float] = {}
    for lv, level in enumerate(levels):
        rbits = wbits = 0
        acc_d[level.name] = {}
        for o in level.keeps:
            r, w = reads[lv, o], writes[lv, o]
            acc_d[level.name][o] = {"reads": r, "writes": w}
            rb, wb = access_bits(hier, layer, lv, o, r, w, d_out)
            rbits += rb
            wbits += wb
        e = (rbits * level.read_pj_per_word + wbits * level.write_pj_per_word) / level.word_bits
        e_lv[level.name] = e
        energy += e
        if level.bounded:
            need = {o: fp(o, ext_raw(lv), lv) * element_bits(hier, layer, lv, o) / 8
                    for o in level.keeps if o not in level.streams}
            if level.partitioned:
                legal &= all(v <= level.usable_bytes(o) for o, v in need.items())
            else:
                legal &= sum(need.values()) <= level.usable_bytes()
            need_d[level.name] = float(sum(need.values()))
        ninst = math.prod(inst(f) for f in above[lv])
        rbw, wbw = ninst * level.read_bytes_per_cycle, ninst * level.write_bytes_per_cycle
        cyc_d[level.name] = max(rbits / 8 / rbw, wbits / 8 / wbw)
        sr, sw = stall[lv]
        exposed = max(exposed, sr / 8 / rbw, sw / 8 / wbw)
        worst = max(worst, (rbits - sr) / 8 / rbw, (wbits - sw) / 8 / wbw)
    compute = 1
    for d in range(ND):
        compute *= -(-bnd[d] // math.prod(Sraw[f][d] for f in range(F)))
    legal &= all(math.prod(Sraw[f]) >= need for f, need in enumerate(plan.usage_need))
    # stalling transfers (all levels in parallel), then compute overlapped with the rest
    total = math.ceil(exposed) + max(compute, math.ceil(worst))
    return HierResult(legal=bool(legal), compute_cycles=compute,
                      total_cycles=total, energy_pj=float(energy),
                      accesses=acc_d, energy_pj_by_level=e_lv, need_bytes=need_d,
                      cycles_by_level=cyc_d)


def capacity_report(layer: Layer, hier: Hierarchy, mapping: NestMapping,
                    lowered_from: Layer | None = None) -> list[str]:
    """Why a structurally legal mapping does not fit, one line per level (empty if it
    fits): the bytes its tiles need against the usable bytes; and per fanout whose
    ``min_usage`` it misses, the children it unrolls against those asked for."""
    r = evaluate(layer, hier, mapping, lowered_from=lowered_from)
    if r.legal:
        return []
    plan = _plan(layer, hier, lowered_from)
    out = []
    for lv, level in enumerate(hier.levels):
        if not level.bounded:
            continue
        need = r.need_bytes[level.name]
        if level.partitioned:
            ext = [1] * ND
            for j in range(lv, plan.L):
                ext = [a * b for a, b in zip(ext, mapping.temporal[j])]
            for f in range(plan.F):
                if plan.pos[f] > lv:
                    ext = [a * b for a, b in zip(ext, mapping.spatial_product(f))]
            e = np.minimum(np.array([ext], dtype=np.int64), plan.bounds)
            for o in level.keeps:
                if o in level.streams:
                    continue
                fp = (conv_input_footprint_elems(e, lowered_from) if o == "input"
                      and lv < plan.lowered_top else tile_footprint_elems(o, e, layer))
                b = float(fp[0]) * element_bits(hier, layer, lv, o) / 8
                if b > level.usable_bytes(o):
                    out.append(f"level {level.name!r}: the {o} tile needs {b:.0f} B but its "
                               f"partition holds {level.usable_bytes(o):.0f} B usable")
        elif need > level.usable_bytes():
            out.append(f"level {level.name!r}: the tiles need {need:.0f} B but "
                       f"{level.usable_bytes():.0f} B are usable"
                       f"{' (double-buffered)' if level.double_buffered else ''}")
    for f, need in enumerate(plan.usage_need):
        used = math.prod(mapping.spatial_product(f))
        if used < need:
            fo = hier.fanouts[f]
            out.append(f"fanout {fo.name!r}: the mapping unrolls {used} of its {fo.children} "
                       f"children; its min_usage {fo.min_usage:g} asks for {need}")
    return out


def check_fits(layer: Layer, hier: Hierarchy, mapping: NestMapping,
               lowered_from: Layer | None = None) -> None:
    """Raise a one-line :class:`HierCostError` unless the mapping's tiles fit."""
    reasons = capacity_report(layer, hier, mapping, lowered_from)
    if reasons:
        raise HierCostError(f"layer {layer.name!r} cannot run with this mapping on "
                            f"{hier.name!r}: {reasons[0]}; enlarge the level or shrink "
                            f"its tiles")



__all__ = ["DEFAULT_INPUT_REUSE", "INPUT_REUSE", "HierResult", "capacity_report",
           "check_fits", "evaluate", "window_kept"]
