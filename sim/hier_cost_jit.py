"""The compiled path of :mod:`sim.hier_cost`: :func:`cost_batch` costs a
:class:`~dataflows.nest_mapping.NestBatch` row by row in machine code (numba), with the
rules of :mod:`sim.hier_cost` (its docstring) written once more as scalar loops -- the
plain-Python :func:`sim.hier_cost_scalar.evaluate` transcribed onto arrays, with the
closed forms of :mod:`sim.hier_plan` and :mod:`sim.tiling` where they apply and exact
enumeration of input rows where they do not (those row counts: :mod:`sim.hier_rows_jit`).
It returns what the mapper scores (``legal``, ``energy_pj``, ``compute_cycles``,
``total_cycles``), equal to
:func:`sim.hier_cost.evaluate_batch` with ``detail=False`` and to the scalar reference
(tests/sim/test_hier_cost_jit.py: random hierarchies, both input rules, imperfect
factors, the imported AccelForge archs on ResNet-50 layers). It costs a layer as itself
(no im2col lowering, ``lowered_from``: the nest search never lowers). Why it exists: the
nest search (:mod:`mapper.nest_search`) costs many small batches (a descent round is a
few dozen rows), where numpy's fixed cost per call (0.3-1.7 ms) dominated; here a call
costs about 10 us plus 0.5-5 us per row (more where multicast windows are enumerated),
so large batches still go to numpy (:data:`NUMPY_ROWS`).

Everything a row's cost depends on but its factors is gathered once per (layer,
hierarchy, input rule) into flat arrays (:func:`_consts`); operand index 0 weight,
1 input, 2 output (:data:`dataflows.dataflow.OPERANDS`), dimensions in ``MAP_DIMS``
order. Counts are int64 (the batched model's width), energies and port times float64.
The first call compiles (cached on disk beside this file, ``numba`` ``cache=True``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

import numpy as np
from numba import njit

from dataflows.dataflow import MAP_DIMS, OPERANDS, RELEVANT
from dataflows.layer import Layer
from dataflows.nest_mapping import NestBatch
from sim.hier_plan import HierCostError, _plan, element_bits, exposes, narrow_bits
from sim.hier_rows_jit import __file__ as _rows_file
from sim.hier_rows_jit import (_DOUT, _F, _HALO, _JIT, _L, _NH, _NW, _PS, _RDH, _RDW, _RSH,
                              _RSW, _WINDOW, ND, _fp, _union_elems, _window_kept)
from sim.hierarchy import Hierarchy
from sim.jit_cache import refresh

_PSUM = {"fused": 0, "separate": 1, "separate_no_first_read": 2}


def _reduced(layer: Layer) -> tuple[int, int, int, int]:
    """(stride_h, stride_w, dilation_h, dilation_w) over their gcd per axis: the
    constants of sim.tiling.window_rows (:func:`sim.hier_rows_jit._wrows`), so a row
    divides nothing."""
    gh = math.gcd(layer.stride_h, layer.dilation_h)
    gw = math.gcd(layer.stride_w, layer.dilation_w)
    return (layer.stride_h // gh, layer.stride_w // gw, layer.dilation_h // gh,
            layer.dilation_w // gw)


@lru_cache(maxsize=64)
def _consts(layer: Layer, hier: Hierarchy, window: bool) -> tuple:
    """The arrays :func:`_cost_rows` reads (module doc); ``window``: the sliding-window
    input rule (``input_reuse="window"``)."""
    plan = _plan(layer, hier, None)
    L, F = plan.L, plan.F
    levels, fans = hier.levels, hier.fanouts
    d_out = plan.distinct["output"]
    ci = np.array([L, F, plan.halo, window and plan.halo, _PSUM[hier.compute.psum_access],
                   layer.stride_h, layer.stride_w, layer.dilation_h, layer.dilation_w,
                   layer.needed_in_h, layer.needed_in_w, plan.macs, d_out,
                   *_reduced(layer)], dtype=np.int64)
    keeps = np.array([[o in lv.keeps for o in OPERANDS] for lv in levels], dtype=np.bool_)
    streams = np.array([[o in lv.streams for o in OPERANDS] for lv in levels], dtype=np.bool_)
    chain = np.full((3, L), -1, dtype=np.int64)
    nchain = np.zeros(3, dtype=np.int64)
    for k, o in enumerate(OPERANDS):
        ch = plan.chain[o]
        chain[k, :len(ch)] = ch
        nchain[k] = len(ch)
    rel = np.array([[d in RELEVANT[o] for d in MAP_DIMS] for o in OPERANDS], dtype=np.bool_)
    mcast = np.array([[o in fo.multicast for o in OPERANDS] for fo in fans],
                     dtype=np.bool_).reshape(F, 3)
    red = np.array([fo.reduction for fo in fans], dtype=np.bool_)
    ebits = np.array([[element_bits(hier, layer, lv, o) for o in OPERANDS]
                      for lv in range(L)], dtype=np.int64)
    narrow = np.array([[narrow_bits(hier, layer, lv, o, d_out) for o in OPERANDS]
                       for lv in range(L)], dtype=np.int64)          # [L, 3, 2]
    expo = np.array([[exposes(hier, lv, o) for o in OPERANDS] for lv in range(L)],
                    dtype=np.bool_)
    bounded = np.array([lv.bounded for lv in levels], dtype=np.bool_)
    part = np.array([lv.partitioned for lv in levels], dtype=np.bool_)
    usable = np.array([[lv.usable_bytes(o) if lv.partitioned and o in lv.keeps else
                        (lv.usable_bytes() if not lv.partitioned else np.inf)
                        for o in OPERANDS] for lv in levels], dtype=np.float64)
    lvf = np.array([[lv.read_pj_per_word, lv.write_pj_per_word, lv.word_bits,
                     lv.read_bytes_per_cycle, lv.write_bytes_per_cycle] for lv in levels],
                   dtype=np.float64)
    dist = np.array([plan.distinct[o] for o in OPERANDS], dtype=np.int64)
    need = np.array(plan.usage_need if plan.usage_need else (1,) * F, dtype=np.int64)
    return (ci, np.asarray(plan.bounds, dtype=np.int64),
            np.array(plan.pos, dtype=np.int64).reshape(F), keeps, streams, chain, nchain,
            rel, mcast, red, ebits, narrow, expo, bounded, part, usable, lvf, dist, need,
            float(plan.macs * hier.compute.mac_pj))


#: batches of at least this many rows go to numpy's :func:`sim.hier_cost.evaluate_batch`
#: (same values): it shares the enumerated window counts between the rows of a batch and
#: pays its fixed cost per call (0.3-0.5 ms) once, which wins from about 2,000 rows on
#: conv layers with a halo (ws_16x16 on ResNet-50 3x3 layers, tests/data's 5-level
#: hierarchy: 2026-12-07); below it, and on 1x1 layers at any size, the compiled kernel
#: is as fast or faster (benchmarks/bench_hierarchy.py prints both per call).
NUMPY_ROWS = 2048
KEYS = ("legal", "energy_pj", "compute_cycles", "total_cycles")


def scorer(layer: Layer, hier: Hierarchy, window: bool
           ) -> Callable[[NestBatch], dict[str, np.ndarray]]:
    """The costs :func:`cost_batch` returns, for any batch of (``layer``, ``hier``,
    ``window``), its constants built once (what a search calls per batch); batches of
    :data:`NUMPY_ROWS` rows or more are costed by numpy (equal values)."""
    from sim.hier_cost import evaluate_batch
    c = _consts(layer, hier, window)
    rule = "window" if window else "refetch"

    def score(batch: NestBatch) -> dict[str, np.ndarray]:
        if len(batch) < NUMPY_ROWS:
            return _run(c, batch)
        arr = evaluate_batch(layer, hier, batch, detail=False, input_reuse=rule)
        return {k: arr[k] for k in KEYS}
    return score


def cost_consts(layer: Layer, hier: Hierarchy, window: bool) -> tuple:
    """The constant arrays :func:`_cost_rows` reads for (``layer``, ``hier``, ``window``),
    for compiled callers (cached and shared: callers must not modify them)."""
    return _consts(layer, hier, window)


def cost_batch(layer: Layer, hier: Hierarchy, batch: NestBatch,
               window: bool) -> dict[str, np.ndarray]:
    """``legal``, ``energy_pj``, ``compute_cycles``, ``total_cycles`` of every row of
    ``batch`` ([B] each; the values of :func:`sim.hier_cost.evaluate_batch`, module
    doc); ``window``: the sliding-window input rule (``input_reuse="window"``), else
    the refetch rule."""
    return _run(_consts(layer, hier, window), batch)


def _run(c: tuple, batch: NestBatch) -> dict[str, np.ndarray]:
    t = np.ascontiguousarray(batch.temporal, dtype=np.int64)
    order = np.ascontiguousarray(batch.order, dtype=np.int64)
    s = np.ascontiguousarray(batch.spatial, dtype=np.int64)
    L, F = int(c[0][_L]), int(c[0][_F])
    B = t.shape[0]
    if t.shape != (B, L, ND) or order.shape != t.shape or s.shape != (B, F, ND):
        # the kernel does not check bounds: a batch of another hierarchy must stop here
        raise HierCostError(f"a batch of {t.shape[1:2]} levels and {s.shape[1:2]} fanouts "
                            f"cannot be costed on a hierarchy of {L} levels and {F} "
                            f"fanouts; build the batch on the same hierarchy")
    legal = np.empty(B, dtype=np.bool_)
    energy = np.empty(B, dtype=np.float64)
    compute = np.empty(B, dtype=np.int64)
    total = np.empty(B, dtype=np.int64)
    _cost_rows(t, order, s, *c, legal, energy, compute, total)
    return {"legal": legal, "energy_pj": energy, "compute_cycles": compute,
            "total_cycles": total}


# -- one row at a time ----------------------------------------------------------------------
@njit(**_JIT)
def _cost_rows(Tb, Ob, Sb, ci, bnd, pos, keeps, streams, chain, nchain, rel, mcast, red,
               ebits, narrow, expo, bounded, part, usable, lvf, dist, need, mac_e,
               legal_out, energy_out, compute_out, total_out):
    """The rows of (temporal ``Tb`` [B, L, 8], orders ``Ob`` [B, L, 8] outermost first,
    raw spatial ``Sb`` [B, F, 8]) costed into the ``*_out`` arrays. Written as one
    function over per-row tables (fills, replication, gaps, busy groups): an array
    passed to a helper costs two atomic reference counts per call, which dominated."""
    L, F = ci[_L], ci[_F]
    halo, win, psum, d_out = ci[_HALO] != 0, ci[_WINDOW] != 0, ci[_PS], ci[_DOUT]
    sh, sw, dh, dw, nh, nw = ci[_RSH], ci[_RSW], ci[_RDH], ci[_RDW], ci[_NH], ci[_NW]
    F1 = max(F, 1)
    T = np.empty((L, ND), dtype=np.int64)
    Sr = np.empty((F1, ND), dtype=np.int64)
    S = np.empty((F1, ND), dtype=np.int64)
    inst = np.empty(F1, dtype=np.int64)
    ext = np.empty((L + 1, ND), dtype=np.int64)       # raw tile extents per level
    cap = np.empty((L + 1, ND), dtype=np.int64)       # capped at the bounds
    grain = np.empty((L, ND), dtype=np.int64)         # raw extent under level lv's loops
    nst = L * ND
    steps = np.empty((nst, 3), dtype=np.int64)        # every loop, innermost first
    lp = np.empty(L + 1, dtype=np.int64)              # product of the loops above level c
    reu = np.empty((3, L + 1), dtype=np.int64)        # stationarity of o at level c
    rep = np.empty((3, F1), dtype=np.int64)           # children of f needing the same o
    gap = np.empty((F1, ND), dtype=np.int64)          # index distance between children
    fill = np.zeros((3, L), dtype=np.int64)           # elements of o written into level c
    busy = np.zeros(3, dtype=np.int64)                # busy MAC groups per operand
    reads = np.zeros((L, 3), dtype=np.int64)
    writes = np.zeros((L, 3), dtype=np.int64)
    stall = np.zeros((L, 2), dtype=np.float64)
    down = np.zeros(L, dtype=np.int64)
    sfs = np.empty((F1, ND), dtype=np.int64)
    gps = np.empty((F1, ND), dtype=np.int64)
    lanes = np.zeros((3, F1), dtype=np.bool_)         # the fanouts of each MAC-side group
    fh = np.empty((F1, 4), dtype=np.int64)            # fanouts spreading rows, columns
    fw = np.empty((F1, 4), dtype=np.int64)
    for b in range(Tb.shape[0]):
        for lv in range(L):             # the row, copied (views would cost refcounts)
            for d in range(ND):
                T[lv, d] = Tb[b, lv, d]
        for f in range(F):
            p = 1
            for d in range(ND):
                Sr[f, d] = Sb[b, f, d]
                S[f, d] = min(Sr[f, d], bnd[d])
                p *= S[f, d]
            inst[f] = p
            for o in range(3):
                q = 1
                for d in range(ND):
                    if not rel[o, d]:
                        q *= S[f, d]
                rep[o, f] = q
        # raw extents: level lv's tile spans its own and inner loops and the fanouts below
        for d in range(ND):
            ext[L, d] = 1
        for f in range(F):
            if pos[f] == L:
                for d in range(ND):
                    ext[L, d] *= Sr[f, d]
        for lv in range(L - 1, -1, -1):
            for d in range(ND):
                v = ext[lv + 1, d]
                for f in range(F):
                    if pos[f] == lv + 1 and lv + 1 < L:
                        v *= Sr[f, d]
                grain[lv, d] = v                # what one step of lv's loop on d moves
                ext[lv, d] = v * T[lv, d]
        for lv in range(L + 1):
            for d in range(ND):
                cap[lv, d] = min(ext[lv, d], bnd[d])
        for f in range(F):
            for d in range(ND):
                gap[f, d] = ext[pos[f], d] if pos[f] < L else 1
            for f2 in range(f + 1, F):
                if pos[f2] == pos[f]:
                    for d in range(ND):
                        gap[f, d] *= Sr[f2, d]
        # the loops: level L-1's order reversed, then L-2's ...; steps(c) = steps[(L-c)*8:]
        j = 0
        for lvl in range(L - 1, -1, -1):
            for i in range(ND - 1, -1, -1):
                d = Ob[b, lvl, i]
                steps[j, 0], steps[j, 1] = d, T[lvl, d]
                steps[j, 2] = grain[lvl, d]
                j += 1
        lp[0] = 1
        for c in range(1, L + 1):
            p = lp[c - 1]
            for d in range(ND):
                p *= T[c - 1, d]
            lp[c] = p
        for o in range(3):
            for c in range(L + 1):
                r = 1
                if c < L and not streams[c, o]:
                    for j in range((L - c) * ND, nst):
                        if steps[j, 1] > 1 and rel[o, steps[j, 0]]:
                            break
                        r *= steps[j, 1]
                reu[o, c] = r
        # fills of every level but the top, every operand it keeps
        for o in range(3):
            for c in range(1, L):
                if not keeps[c, o]:
                    continue
                ia = 1
                for f in range(F):
                    if pos[f] <= c:
                        ia *= inst[f] if o == 1 and halo else rep[o, f]
                if o == 1 and halo:
                    fp = _fp(1, cap[c, 0], cap[c, 1], cap[c, 2], cap[c, 3], cap[c, 4],
                             cap[c, 5], cap[c, 6], cap[c, 7], sh, sw, dh, dw, nh, nw)
                    if win and not streams[c, 1]:
                        fill[o, c] = (fp * lp[c] - _window_kept(
                            cap, c, bnd, steps, (L - c) * ND, nst, sfs, gps, 0, ci, fh,
                            fw)) * ia
                    else:
                        fill[o, c] = fp * (lp[c] // reu[1, c]) * ia
                else:
                    relevant = 1
                    for d in range(ND):
                        if rel[o, d]:
                            for j in range(c):
                                relevant *= T[j, d]
                    fill[o, c] = dist[o] * (lp[c] // relevant // reu[o, c]) * ia
        # the MAC side: per operand, its innermost level's busy multicast/reduction groups
        for o in range(3):
            lv = chain[o, nchain[o] - 1]
            for f in range(F):
                lanes[o, f] = pos[f] > lv and (red[f] if o == 2 else mcast[f, o])
            n = 1
            for d in range(ND):
                if rel[o, d]:
                    n *= bnd[d]
            for d in range(ND):
                if rel[o, d]:
                    continue
                bd = bnd[d]
                total, free = 1, 1
                for lv2 in range(L):
                    total *= T[lv2, d]
                    free *= T[lv2, d]
                    for f in range(F):
                        if pos[f] == lv2 + 1:
                            total *= Sr[f, d]
                            if not lanes[o, f]:
                                free *= Sr[f, d]
                if total <= bd:
                    n *= free
                    continue
                # numbers below bd (mixed radix, nest order) whose lane digits are 0
                count, ok, stride, rest = 0, True, total, free
                for lv2 in range(L):
                    for k in range(F + 1):      # the level's temporal factor, then fanouts
                        if k == 0:
                            fac, lane = T[lv2, d], False
                        else:
                            if pos[k - 1] != lv2 + 1:
                                continue
                            fac, lane = Sr[k - 1, d], lanes[o, k - 1]
                        stride //= fac
                        if not lane:
                            rest //= fac
                        digit = (bd // stride) % fac
                        if lane:
                            if ok and digit > 0:
                                count += rest
                            ok = ok and digit == 0
                        elif ok:
                            count += digit * rest
                n *= count
            busy[o] = n
        reads[:, :] = 0
        writes[:, :] = 0
        stall[:, :] = 0.0

        # -- weights and inputs down their chains ------------------------------------------
        for o in range(2):
            for i in range(nchain[o]):
                lv = chain[o, i]
                if i + 1 == nchain[o]:
                    reads[lv, o] = busy[o]
                    continue
                c = chain[o, i + 1]
                x_c = fill[o, c]
                writes[c, o] = x_c
                if expo[c, o]:
                    stall[c, 1] += x_c * ebits[c, o]
                ns, im, rp = 0, 1, 1
                for f in range(F):
                    if pos[f] > lv and pos[f] <= c and mcast[f, o]:
                        for d in range(ND):
                            sfs[ns, d], gps[ns, d] = Sr[f, d], gap[f, d]
                        ns += 1
                        im *= inst[f]
                        rp *= rep[o, f]
                if o == 1 and halo:
                    if ns == 0:
                        union = _fp(1, cap[c, 0], cap[c, 1], cap[c, 2], cap[c, 3], cap[c, 4],
                                    cap[c, 5], cap[c, 6], cap[c, 7], sh, sw, dh, dw, nh, nw)
                    else:
                        union = _union_elems(cap, c, bnd, sfs, gps, ns, ci)
                    if win and not streams[c, 1]:
                        moved = union * lp[c] - _window_kept(cap, c, bnd, steps, (L - c) * ND,
                                                             nst, sfs, gps, ns, ci, fh, fw)
                    else:
                        moved = union * (lp[c] // reu[1, c])
                    ia = 1
                    for f in range(F):
                        if pos[f] <= c:
                            ia *= inst[f]
                    reads[lv, o] = moved * ia // im
                else:
                    reads[lv, o] = x_c // rp
                if expo[c, o]:
                    stall[lv, 0] += reads[lv, o] * ebits[lv, o]

        # -- outputs up their chain ----------------------------------------------------------
        for i in range(nchain[2]):
            lv = chain[2, i]
            if i + 1 == nchain[2]:     # read-modify-writes at the MACs
                a = busy[2]
                writes[lv, 2] = a
                if i == 0:
                    reads[lv, 2] = a - (0 if psum == 1 else d_out)
                elif psum == 0:
                    reads[lv, 2] = a
                else:
                    prev = chain[2, i - 1]
                    fl = fill[2, lv]
                    writes[lv, 2] = a + down[prev]
                    reads[lv, 2] = a + (down[prev] if psum == 2 else fl)
                    if expo[lv, 2]:
                        stall[lv, 0] += min(fl, reads[lv, 2]) * ebits[lv, 2] - narrow[lv, 2, 0]
                        stall[lv, 1] += min(down[prev], writes[lv, 2]) * ebits[lv, 2]
                continue
            c = chain[2, i + 1]
            rd, ra = 1, 1
            for f in range(F):
                if pos[f] > lv and pos[f] <= c and red[f]:
                    rd *= rep[2, f]
                if pos[f] <= c:
                    ra *= rep[2, f]
            arrivals = fill[2, c] // rd
            down[lv] = arrivals - d_out * ra // rd
            fl = fill[2, lv] if i > 0 else 0
            up = down[chain[2, i - 1]] if i > 0 else 0
            reads[lv, 2] = down[lv] + fl
            writes[lv, 2] = arrivals + up
            if expo[c, 2]:
                stall[lv, 0] += down[lv] * ebits[lv, 2]
                stall[lv, 1] += arrivals * ebits[lv, 2] - narrow[lv, 2, 1]
            if i > 0 and expo[lv, 2]:
                stall[lv, 0] += fl * ebits[lv, 2] - narrow[lv, 2, 0]
                stall[lv, 1] += up * ebits[lv, 2]

        # -- energy, capacity, port times ----------------------------------------------------
        ok = True
        energy = mac_e
        worst, exposed = 0.0, 0.0
        for lv in range(L):
            rbits, wbits = 0.0, 0.0
            for o in range(3):
                if keeps[lv, o]:
                    rbits += reads[lv, o] * ebits[lv, o] - narrow[lv, o, 0]
                    wbits += writes[lv, o] * ebits[lv, o] - narrow[lv, o, 1]
            energy += (rbits * lvf[lv, 0] + wbits * lvf[lv, 1]) / lvf[lv, 2]
            if bounded[lv]:
                tot = 0.0
                for o in range(3):
                    if keeps[lv, o] and not streams[lv, o]:
                        v = _fp(o, cap[lv, 0], cap[lv, 1], cap[lv, 2], cap[lv, 3], cap[lv, 4],
                                cap[lv, 5], cap[lv, 6], cap[lv, 7], sh, sw, dh, dw, nh, nw) \
                            * (ebits[lv, o] / 8)
                        tot += v
                        if part[lv] and not v <= usable[lv, o]:
                            ok = False
                if not part[lv] and not tot <= usable[lv, 0]:
                    ok = False
            ninst = 1
            for f in range(F):
                if pos[f] <= lv:
                    ninst *= inst[f]
            rbw, wbw = ninst * lvf[lv, 3], ninst * lvf[lv, 4]
            if stall[lv, 0] > 0 or stall[lv, 1] > 0:
                exposed = max(exposed, max(stall[lv, 0] / 8 / rbw, stall[lv, 1] / 8 / wbw))
            worst = max(worst, max((rbits - stall[lv, 0]) / 8 / rbw,
                                   (wbits - stall[lv, 1]) / 8 / wbw))
        comp = 1
        for d in range(ND):
            sp = 1
            for f in range(F):
                sp *= Sr[f, d]
            comp *= -(-bnd[d] // sp)
        for f in range(F):
            p = 1
            for d in range(ND):
                p *= Sr[f, d]
            if p < need[f]:
                ok = False
        legal_out[b] = ok
        energy_out[b] = energy
        compute_out[b] = comp
        total_out[b] = np.int64(np.ceil(exposed)) + max(comp, np.int64(np.ceil(worst)))


def overfilled(layer: Layer, hier: Hierarchy, T: np.ndarray, S: np.ndarray) -> np.ndarray:
    """:func:`sim.hier_tiles.overfilled_dim_major` compiled (equal values): per row the
    innermost storage level whose tiles do not fit, -1 where all fit; ``T`` [L, 8, n]
    temporal and ``S`` [F, 8, n] raw spatial factors, dimension-major int64."""
    out = np.empty(T.shape[2], dtype=np.int64)
    overfilled_rows(np.ascontiguousarray(T, dtype=np.int64),
                    np.ascontiguousarray(S, dtype=np.int64),
                    np.ones(T.shape[2], dtype=np.bool_), *capacity_consts(layer, hier), out)
    return out


def capacity_consts(layer: Layer, hier: Hierarchy) -> tuple:
    """The constants :func:`overfilled_rows` reads after its rows and mask."""
    c = _consts(layer, hier, False)
    return c[0], c[1], c[2], c[3], c[4], c[10], c[13], c[14], c[15]


@njit(**_JIT)
def overfilled_rows(T, S, active, ci, bnd, pos, keeps, streams, ebits, bounded, part,
                    usable, out):
    """The kernel of :func:`overfilled` on the rows where ``active`` (others untouched):
    into ``out``, per row the innermost overfilled level or -1. For compiled callers
    (mapper.nest_jit.fit_rows); ``ci ... usable``: :func:`capacity_consts`."""
    L, F = ci[_L], ci[_F]
    sh, sw, dh, dw, nh, nw = ci[_RSH], ci[_RSW], ci[_RDH], ci[_RDW], ci[_NH], ci[_NW]
    cum = np.empty(ND, dtype=np.int64)
    e = np.empty(ND, dtype=np.int64)
    for b in range(T.shape[2]):
        if not active[b]:
            continue
        for d in range(ND):
            cum[d] = 1
        for f in range(F):
            if pos[f] == L:
                for d in range(ND):
                    cum[d] *= S[f, d, b]
        res = -1
        for lv in range(L - 1, -1, -1):     # innermost first: the first miss is the answer
            for d in range(ND):
                cum[d] *= T[lv, d, b]
                e[d] = min(cum[d], bnd[d])
            if bounded[lv]:
                tot, ok = 0.0, True
                for o in range(3):
                    if keeps[lv, o] and not streams[lv, o]:
                        v = _fp(o, e[0], e[1], e[2], e[3], e[4], e[5], e[6], e[7], sh, sw,
                                dh, dw, nh, nw) * (ebits[lv, o] / 8)
                        tot += v
                        if part[lv] and not v <= usable[lv, o]:
                            ok = False
                if not part[lv] and not tot <= usable[lv, 0]:
                    ok = False
                if not ok:
                    res = lv
                    break
            for f in range(F):
                if pos[f] == lv:
                    for d in range(ND):
                        cum[d] *= S[f, d, b]
        out[b] = res


def warm() -> float:
    """Load every kernel of this module from numba's on-disk cache, compiling it first
    where the cache is cold (about 20 s once per checkout; ``make install`` runs it,
    through :func:`mapper.nest_jit.warm`):
    one small batch costed and capacity-checked. Returns the seconds it took."""
    import time

    from sim.hierarchy import Fanout, StorageLevel
    t0 = time.perf_counter()
    hier = Hierarchy("warm", (StorageLevel("dram"), Fanout("f", size=(2,), dims=(("K",),)),
                              StorageLevel("buf", capacity_bytes=1024)))
    layer = Layer("warm", K=4, C=2, P=3, Q=3, R=3, S=3)
    batch = NestBatch(temporal=np.array([[[1, 1, 2, 2, 3, 3, 3, 3], [1] * ND]]),
                      order=np.array([[list(range(ND))] * 2]),
                      spatial=np.array([[[1, 1, 2, 1, 1, 1, 1, 1]]]))
    for window in (True, False):
        cost_batch(layer, hier, batch, window)
    overfilled(layer, hier, np.ascontiguousarray(batch.temporal.transpose(1, 2, 0)),
               np.ascontiguousarray(batch.spatial.transpose(1, 2, 0)))
    return time.perf_counter() - t0



refresh(globals(), [__file__, _rows_file])  # callees' edits reach this module's cache
