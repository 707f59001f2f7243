"""The cost model of a layer on an N-level :class:`~sim.hierarchy.Hierarchy`, Timeloop-style.

:func:`evaluate_batch` costs a :class:`~dataflows.nest_mapping.NestBatch` with numpy
(arrays in, arrays out); :func:`evaluate` costs one :class:`NestMapping` with a
separate plain-Python implementation of the same rules (the two are tested equal).
Both are pure functions of (layer, hierarchy, mapping). Counts are in **elements**
unless named ``*_words`` (elements x bits / the level's word width), ``*_bytes``,
``*_cycles`` or ``*_pj``; every count is summed over the instances of a level.

Rules (``b`` = loop bounds, ``S_f`` = a fanout's spatial factors capped at ``b``):

* Tile of storage level ``l`` (per instance): per dimension the product of the
  temporal factors of ``l`` and every level below it and of the spatial factors of the
  fanouts below it, capped at the bound. Footprints from :mod:`sim.tiling`
  (weights G,K,C,R,S; outputs G,N,K,P,Q; inputs the distinct rows/columns the
  windows read, with stride and dilation).
* Loops above ``l``: the temporal loops of every level above it, innermost first (the
  parent's order reversed, then the grandparent's ...). ``reuse`` is the product of
  the factors of the loops irrelevant to the operand before its first relevant loop
  with a factor > 1 (the tile stays resident: stationarity); it is 1 for an operand
  the level only ``streams``.
* Fills of level ``l`` with operand ``o`` (summed over instances), ``l`` keeping ``o``:
  separable operands (weights, outputs, inputs of 1x1 stride-1 layers) move
  ``distinct x irrelevant_above / reuse x replication``, where ``replication`` is the
  product over the fanouts above ``l`` of their factors on dims irrelevant to ``o``
  (children needing the same data; partial tiles counted exactly). Inputs with a halo
  move ``footprint x loops_above / reuse x instances``.
* Parent reads for a child (the next level below that keeps ``o``, or the MACs):
  multicast fanouts in between deliver one read to every child needing the same word
  (separable: divide by their replication; halo inputs: the distinct rows/columns of
  the union of the children's windows, counted exactly -- with gaps where loops
  between the fanout and the child iterate the same dimension). The innermost level
  keeping ``o`` is read once per MAC (over multicast).
* Outputs: a child's drains arrive at the parent divided by the replication of the
  *reducing* fanouts in between (partial sums summed in the fabric); the parent reads
  back every arrival but the first per output (``arrivals - distinct``) as a refill.
  Level reads = refills down + drains up; writes = arrivals + refills from above. The
  innermost output level counts the MAC's read-modify-write (reads = writes = MACs
  over reduction), which includes the partial sum it forwards or receives. The top
  level is not filled and does not drain. Partial sums move at the accumulator width,
  the ``distinct`` final outputs into the top level at the output width.
* No sliding-window reuse: a tile that moves is refetched whole (Timeloop's rule; a
  coincidentally identical next input window is not kept), and padded last tiles of
  imperfect factors count whole -- upper bounds where factors are imperfect.
* Capacity (``legal``): per instance, the tiles of the kept, non-streamed operands
  (outputs at accumulator width) fit the level's usable bytes (half when
  double-buffered; per partition when capacities are per operand).
* Energy: ``reads_words x read_pj + writes_words x write_pj`` per level + MACs x
  ``compute.mac_pj``. Latency: ``compute_cycles = prod_d ceil(b_d / spatial_d)``
  (partial temporal tiles skipped), each level's bandwidth-bound cycles
  ``max(read_bytes / (instances x read_bw), write_bytes / (instances x write_bw))``,
  ``total_cycles = max`` of all (every level overlaps with compute).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from dataflows.dataflow import MAP_DIMS, OPERANDS, RELEVANT, map_bounds
from dataflows.errors import CoforgeError
from dataflows.layer import Layer
from dataflows.nest_mapping import NestBatch, NestMapping
from sim.hierarchy import Hierarchy, StorageLevel
from sim.tiling import conv_input_footprint_elems, tile_footprint_elems, window_rows

ND = len(MAP_DIMS)
_REL = {o: np.array([d in RELEVANT[o] for d in MAP_DIMS]) for o in OPERANDS}
#: bit d set when dimension d is relevant to the operand (a lookup by shifting)
_REL_BITS = {o: np.uint8(sum(1 << i for i, d in enumerate(MAP_DIMS) if d in RELEVANT[o]))
             for o in OPERANDS}
_POS_BITS = (1 << np.arange(ND, dtype=np.uint8)).astype(np.uint8)[None, :, None]
#: index of the highest set bit of a byte, -1 for 0
_HIGH_BIT = np.array([i.bit_length() - 1 for i in range(256)], dtype=np.int64)
#: Rows costed at a time (keeps the working set in cache).
CHUNK_ROWS = 4096


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


@lru_cache(maxsize=64)
def _gather_off(L: int, B: int, width: int = ND) -> np.ndarray:
    """[L, 1, B] flat offsets of row (level, 0, b) in a [L, width, B] array."""
    off = (np.arange(L, dtype=np.int64) * (width * B))[:, None, None] + np.arange(B)
    off.flags.writeable = False
    return off


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


def evaluate_batch(layer: Layer, hier: Hierarchy, batch: NestBatch, detail: bool = True,
                   lowered_from: Layer | None = None) -> dict[str, np.ndarray]:
    """Cost every mapping of ``batch`` (structurally legal ones, see NestMapping.check).

    Returns arrays of length B: ``legal`` (capacity), ``compute_cycles``,
    ``total_cycles``, ``energy_pj``, ``energy_mac_pj`` and, per level name ``n``,
    ``energy_<n>_pj``, ``<n>_cycles``, ``<n>_need_bytes`` and with ``detail``
    ``<n>_<operand>_reads|writes`` (elements) and ``<n>_<operand>_read_words|
    write_words``. ``lowered_from``: ``layer`` is the im2col view of this conv; levels
    above the first fanout then hold the conv window of their tile (as
    :mod:`sim.analytic` does: the buffer expands im2col on chip).
    """
    # one errstate for the whole batch (entering it costs about as much as a chunk's
    # level loop): a bandwidth of 0 gives inf cycles, not a warning
    with np.errstate(divide="ignore", invalid="ignore"):
        return _chunks(layer, hier, batch, detail, lowered_from)


def _chunks(layer: Layer, hier: Hierarchy, batch: NestBatch, detail: bool,
            lowered_from: Layer | None) -> dict[str, np.ndarray]:
    if len(batch) <= CHUNK_ROWS:
        return _chunk(layer, hier, batch, detail, lowered_from)
    out: dict[str, np.ndarray] = {}
    for i in range(0, len(batch), CHUNK_ROWS):
        part = _chunk(layer, hier, batch.rows(slice(i, i + CHUNK_ROWS)), detail,
                      lowered_from)
        if not out:
            out = {k: np.empty(len(batch), dtype=v.dtype) for k, v in part.items()}
        for k, v in part.items():
            out[k][i:i + CHUNK_ROWS] = v
    return out


def _rows_product(a: np.ndarray, rows) -> np.ndarray:
    """Product of the rows ``rows`` of a dimension-major [8, B] array: [B]."""
    out = None
    for d in rows:
        out = a[d].copy() if out is None else np.multiply(out, a[d], out=out)
    return out if out is not None else np.ones(a.shape[1], dtype=np.int64)


def _chunk(layer: Layer, hier: Hierarchy, batch: NestBatch, detail: bool,
           lowered_from: Layer | None) -> dict[str, np.ndarray]:
    # Arrays are dimension-major ([.., 8, B], B contiguous): numpy's reductions and
    # gathers along a short last axis cost far more than a few whole-row operations.
    # Per-dimension [B, 8] operands of sim.tiling are passed as ``.T`` views.
    plan = _plan(layer, hier, lowered_from)
    L, F, B = plan.L, plan.F, len(batch)
    bounds = plan.bounds
    bnd = bounds[:, None]                                  # [8, 1]
    T = np.ascontiguousarray(batch.temporal.transpose(1, 2, 0))      # [L, 8, B]
    Sraw = np.ascontiguousarray(batch.spatial.transpose(1, 2, 0))    # [F, 8, B]
    S = np.minimum(Sraw, bnd[None])
    levels = hier.levels
    fans = hier.fanouts
    irr = {o: [d for d in range(ND) if not _REL[o][d]] for o in OPERANDS}
    alld = range(ND)

    # -- tiles: raw (uncapped) extents per level, innermost up --------------------------
    ext_raw: list[np.ndarray] = [None] * (L + 1)      # type: ignore[list-item]
    cum = np.ones((ND, B), dtype=np.int64)
    for f in range(F):
        if plan.pos[f] == L:
            cum = cum * Sraw[f]
    ext_raw[L] = cum
    for lv in range(L - 1, -1, -1):
        cum = cum * T[lv]
        ext_raw[lv] = cum
        for f in range(F):
            if plan.pos[f] == lv:
                cum = cum * Sraw[f]
    ext = [np.minimum(e, bnd) for e in ext_raw[:L]]

    fp_memo: dict = {}

    def footprint(o: str, e: np.ndarray, lv: int) -> np.ndarray:
        """Footprint of dimension-major extents ``e`` ([8, B])."""
        if o == "input" and lv < plan.lowered_top:
            return conv_input_footprint_elems(e.T, lowered_from)
        return tile_footprint_elems(o, e.T, layer)

    def tile_fp(o: str, lv: int) -> np.ndarray:
        """Footprint of level lv's own tile (memoised: fills and capacity share it)."""
        if (o, lv) not in fp_memo:
            fp_memo[o, lv] = footprint(o, ext[lv], lv)
        return fp_memo[o, lv]

    one = np.ones(B, dtype=np.int64)
    # -- loops above each level: products per level, stationarity per operand ----------
    above_prod = [np.ones((ND, B), dtype=np.int64)]     # per dim, temporal above level lv
    for lv in range(L):
        above_prod.append(above_prod[-1] * T[lv])
    lvl_prod = [_rows_product(T[lv], alld) for lv in range(L)]
    la = [one]                                          # all loops above level lv
    for lv in range(L):
        la.append(la[-1] * lvl_prod[lv])
    # factors by loop position (outermost first within a level) and suffix products:
    # the loops of level j inner to position k multiply to suf[j, k]
    order = np.ascontiguousarray(batch.order.transpose(1, 2, 0), dtype=np.uint8)
    facs = np.take(T.reshape(-1), np.multiply(order, B, dtype=np.int64) + _gather_off(L, B))
    big = (facs > 1).view(np.uint8)
    suf = np.empty((L, ND + 1, B), dtype=np.int64)
    suf[:, ND] = 1
    for k in range(ND - 1, -1, -1):
        np.multiply(suf[:, k + 1], facs[:, k], out=suf[:, k])
    suf_flat = suf.reshape(-1)
    suf_off = _gather_off(L, B, ND + 1)[:, 0, :]
    reuse_memo: dict[str, list[np.ndarray]] = {}

    def reuse_chain(o: str) -> list[np.ndarray]:
        """reuse_chain(o)[lv]: product of the loops above level lv, innermost first,
        before the first loop relevant to o with a factor > 1."""
        if o not in reuse_memo:
            # blocking loops (relevant, factor > 1) as bit k of one byte per level
            blk = (_REL_BITS[o] >> order) & big                # [L, 8, B] 0/1
            mask = (blk * _POS_BITS).sum(axis=1, dtype=np.uint8)
            last = np.take(_HIGH_BIT, mask)                   # innermost blocking loop
            w = np.take(suf_flat, (last + 1) * B + suf_off)   # [L, B]
            blocked = last >= 0
            chain = [one, w[0]]
            for lv in range(2, L + 1):
                chain.append(np.where(blocked[lv - 1], w[lv - 1], w[lv - 1] * chain[-1]))
            reuse_memo[o] = chain
        return reuse_memo[o]

    def loops_above(lv: int) -> np.ndarray:
        return la[lv]

    def reuse(o: str, lv: int) -> np.ndarray:
        if lv == L or o in levels[lv].streams or lv == 0:
            return one
        return reuse_chain(o)[lv]

    def gap(f: int) -> np.ndarray:
        """[8, B] index distance between neighbouring children of fanout f."""
        g = ext_raw[plan.pos[f]] if plan.pos[f] < L else ext_raw[L]
        if plan.pos[f] == L:
            g = np.ones((ND, B), dtype=np.int64)
        for f2 in range(f + 1, F):
            if plan.pos[f2] == plan.pos[f]:
                g = g * Sraw[f2]
        return g

    rep = {o: [_rows_product(S[f], irr[o]) for f in range(F)] for o in OPERANDS}
    inst = [_rows_product(S[f], alld) for f in range(F)]

    def product(vals: list[np.ndarray], fs: list[int]) -> np.ndarray:
        if not fs:
            return one
        out = vals[fs[0]]
        for f in fs[1:]:
            out = out * vals[f]
        return out

    def fills(o: str, c: int) -> np.ndarray:
        """Elements entering every instance of level c (< L) with operand o."""
        ru = reuse(o, c)
        if o == "input" and (plan.halo or c < plan.lowered_top):
            return tile_fp(o, c) * (loops_above(c) // ru) * product(inst, _above(plan, c))
        # loops above c over the relevant ones = the irrelevant loops above c
        irrelevant = _rows_product(above_prod[c], irr[o])
        return plan.distinct[o] * (irrelevant // ru) * product(rep[o], _above(plan, c))

    def parent_reads(o: str, p: int, c: int, x_c: np.ndarray | None) -> np.ndarray:
        mc = [f for f in _between(plan, p, c) if o in fans[f].multicast]
        if c == L:
            return plan.macs // product(rep[o], mc)
        if o == "input" and (plan.halo or c < plan.lowered_top):
            if not mc:
                union = tile_fp(o, c)
            elif p < plan.lowered_top:
                union = footprint(o, np.minimum(ext_raw[c] * _spatial_product(Sraw, mc, B),
                                                bnd), p)
            else:
                union = _union_input_elems(layer, bounds, ext[c].T,
                                           [(Sraw[f].T, gap(f).T) for f in mc])
            return union * (loops_above(c) // reuse(o, c)) * \
                product(inst, _above(plan, c)) // product(inst, mc)
        return x_c // product(rep[o], mc)

    zeros = np.zeros(B, dtype=np.int64)
    reads = {(lv, o): zeros for lv in range(L) for o in OPERANDS}
    writes = dict(reads)
    for o in ("weight", "input"):
        ch = plan.chain[o]
        for i, lv in enumerate(ch):
            child = ch[i + 1] if i + 1 < len(ch) else L
            x_c = fills(o, child) if child < L else None
            reads[lv, o] = parent_reads(o, lv, child, x_c)
            if x_c is not None:
                writes[child, o] = x_c
    # outputs
    ch = plan.chain["output"]
    d_out = plan.distinct["output"]
    x = {lv: fills("output", lv) for lv in ch[1:]}
    refill_down: dict[int, np.ndarray] = {}
    for i, lv in enumerate(ch):
        child = ch[i + 1] if i + 1 < len(ch) else L
        red = [f for f in _between(plan, lv, child) if fans[f].reduction]
        if child == L:
            a = plan.macs // product(rep["output"], red)
            reads[lv, "output"], writes[lv, "output"] = a, a
            continue
        arrivals = x[child] // product(rep["output"], red)
        first = d_out * product(rep["output"], _above(plan, child)) // product(rep["output"], red)
        refill_down[lv] = arrivals - first
        reads[lv, "output"] = refill_down[lv] + (x[lv] if i > 0 else zeros)
        writes[lv, "output"] = arrivals + (refill_down[ch[i - 1]] if i > 0 else zeros)
    # the innermost output level's refills/drains are in its read-modify-write count

    # -- bits, words, energy, capacity, cycles -----------------------------------------
    out: dict[str, np.ndarray] = {}
    acc, ob = plan.bits["output"], plan.out_bits
    top_child_out = ch[1] if len(ch) > 1 else None
    legal = np.ones(B, dtype=bool)
    energy = np.full(B, plan.macs * hier.compute.mac_pj, dtype=np.float64)
    worst = np.zeros(B, dtype=np.float64)
    for lv, level in enumerate(levels):
        rbits = np.zeros(B, dtype=np.float64)
        wbits = np.zeros(B, dtype=np.float64)
        for o in level.keeps:
            r, w = reads[lv, o], writes[lv, o]
            if o == "output":
                rb = r * acc
                wb = w * acc
                if lv == 0:
                    wb = wb - d_out * (acc - ob)
                if lv == top_child_out:
                    rb = rb - d_out * (acc - ob)
            else:
                rb = r * plan.bits[o]
                wb = w * plan.bits[o]
            rbits = rbits + rb
            wbits = wbits + wb
            if detail:
                out[f"{level.name}_{o}_reads"] = r
                out[f"{level.name}_{o}_writes"] = w
                out[f"{level.name}_{o}_read_words"] = rb / level.word_bits
                out[f"{level.name}_{o}_write_words"] = wb / level.word_bits
        e = (rbits * level.read_pj_per_word + wbits * level.write_pj_per_word) / level.word_bits
        out[f"energy_{level.name}_pj"] = e
        energy = energy + e
        if level.bounded:
            need = {o: tile_fp(o, lv) * (plan.bits[o] / 8)
                    for o in level.keeps if o not in level.streams}
            if level.partitioned:
                tot = np.zeros(B)
                for o, v in need.items():
                    legal &= v <= level.usable_bytes(o)
                    tot = tot + v
            else:
                tot = sum(need.values(), np.zeros(B))
                legal &= tot <= level.usable_bytes()
            out[f"{level.name}_need_bytes"] = tot
        ninst = product(inst, _above(plan, lv))
        cyc = np.maximum(rbits / 8 / (ninst * level.read_bytes_per_cycle),
                         wbits / 8 / (ninst * level.write_bytes_per_cycle))
        out[f"{level.name}_cycles"] = cyc
        worst = np.maximum(worst, cyc)
    steps = -(-bnd // _spatial_product(Sraw, list(range(F)), B))
    compute = _rows_product(steps, alld)
    total_cycles = np.maximum(compute, np.ceil(worst).astype(np.int64))
    out.update(legal=legal, compute_cycles=compute, total_cycles=total_cycles,
               energy_pj=energy, energy_mac_pj=np.full(B, plan.macs * hier.compute.mac_pj),
               utilization=plan.macs / (total_cycles * hier.pes))
    return out



def _spatial_product(S: np.ndarray, fs: list[int], B: int) -> np.ndarray:
    """Product of the dimension-major spatial factors ``S[f]`` ([F, 8, B]) over ``fs``."""
    out = np.ones((ND, B), dtype=np.int64)
    for f in fs:
        out = out * S[f]
    return out


# -- the scalar path: the same rules in plain Python, one mapping -----------------------
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


def evaluate(layer: Layer, hier: Hierarchy, mapping: NestMapping,
             lowered_from: Layer | None = None, check: bool = True) -> HierResult:
    """Cost one mapping with plain Python (no numpy): the reference for evaluate_batch.
    ``check`` first runs :meth:`NestMapping.check` (a one-line MappingError)."""
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

    def fp(o: str, e: list[int], lv: int) -> int:
        arr = np.array([[min(v, b) for v, b in zip(e, bnd)]], dtype=np.int64)
        if o == "input" and lv < plan.lowered_top:
            return int(conv_input_footprint_elems(arr, lowered_from)[0])
        return int(tile_footprint_elems(o, arr, layer)[0])

    def loops(lv: int) -> list[tuple[int, int]]:
        """(dim, factor) of the loops above level lv, innermost first."""
        out = []
        for j in range(lv - 1, -1, -1):
            for d in reversed(mapping.order[j]):
                i = MAP_DIMS.index(d)
                out.append((i, T[j][i]))
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

    def fills(o: str, c: int) -> int:
        lp = math.prod(f for _, f in loops(c))
        if o == "input" and (plan.halo or c < plan.lowered_top):
            return fp(o, ext_raw(c), c) * (lp // reuse(o, c)) * \
                math.prod(inst(f) for f in above[c])
        relevant = math.prod(math.prod(T[j][d] for j in range(c)) for d in range(ND)
                             if rel[o][d])
        return plan.distinct[o] * (lp // relevant // reuse(o, c)) * \
            math.prod(rep(o, f) for f in above[c])

    reads = {(lv, o): 0 for lv in range(L) for o in OPERANDS}
    writes = dict(reads)
    for o in ("weight", "input"):
        ch = plan.chain[o]
        for i, lv in enumerate(ch):
            c = ch[i + 1] if i + 1 < len(ch) else L
            mc = [f for f in between[lv, c] if o in fans[f].multicast]
            if c == L:
                reads[lv, o] = plan.macs // math.prod(rep(o, f) for f in mc)
                continue
            x_c = fills(o, c)
            writes[c, o] = x_c
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
                reads[lv, o] = union * (lp // reuse(o, c)) * \
                    math.prod(inst(f) for f in above[c]) // math.prod(inst(f) for f in mc)
            else:
                reads[lv, o] = x_c // math.prod(rep(o, f) for f in mc)
    ch = plan.chain["output"]
    d_out = plan.distinct["output"]
    down: dict[int, int] = {}
    for i, lv in enumerate(ch):
        c = ch[i + 1] if i + 1 < len(ch) else L
        red = math.prod(rep("output", f) for f in between[lv, c] if fans[f].reduction)
        if c == L:
            reads[lv, "output"] = writes[lv, "output"] = plan.macs // red
            continue
        arrivals = fills("output", c) // red
        first = d_out * math.prod(rep("output", f) for f in above[c]) // red
        down[lv] = arrivals - first
        reads[lv, "output"] = down[lv] + (fills("output", lv) if i > 0 else 0)
        writes[lv, "output"] = arrivals + (down[ch[i - 1]] if i > 0 else 0)

    acc, ob = plan.bits["output"], plan.out_bits
    top_child = ch[1] if len(ch) > 1 else None
    legal, energy, worst = True, plan.macs * hier.compute.mac_pj, 0.0
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
            bits = plan.bits[o]
            rb, wb = r * bits, w * bits
            if o == "output" and lv == 0:
                wb -= d_out * (acc - ob)
            if o == "output" and lv == top_child:
                rb -= d_out * (acc - ob)
            rbits += rb
            wbits += wb
        e = (rbits * level.read_pj_per_word + wbits * level.write_pj_per_word) / level.word_bits
        e_lv[level.name] = e
        energy += e
        if level.bounded:
            need = {o: fp(o, ext_raw(lv), lv) * plan.bits[o] / 8
                    for o in level.keeps if o not in level.streams}
            if level.partitioned:
                legal &= all(v <= level.usable_bytes(o) for o, v in need.items())
            else:
                legal &= sum(need.values()) <= level.usable_bytes()
            need_d[level.name] = float(sum(need.values()))
        ninst = math.prod(inst(f) for f in above[lv])
        cyc = max(rbits / 8 / (ninst * level.read_bytes_per_cycle),
                  wbits / 8 / (ninst * level.write_bytes_per_cycle))
        cyc_d[level.name] = cyc
        worst = max(worst, cyc)
    compute = 1
    for d in range(ND):
        compute *= -(-bnd[d] // math.prod(Sraw[f][d] for f in range(F)))
    return HierResult(legal=bool(legal), compute_cycles=compute,
                      total_cycles=max(compute, math.ceil(worst)), energy_pj=float(energy),
                      accesses=acc_d, energy_pj_by_level=e_lv, need_bytes=need_d,
                      cycles_by_level=cyc_d)


def capacity_report(layer: Layer, hier: Hierarchy, mapping: NestMapping,
                    lowered_from: Layer | None = None) -> list[str]:
    """Why a structurally legal mapping does not fit, one line per level (empty if it
    fits): the bytes its tiles need against the usable bytes."""
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
                b = float(fp[0]) * plan.bits[o] / 8
                if b > level.usable_bytes(o):
                    out.append(f"level {level.name!r}: the {o} tile needs {b:.0f} B but its "
                               f"partition holds {level.usable_bytes(o):.0f} B usable")
        elif need > level.usable_bytes():
            out.append(f"level {level.name!r}: the tiles need {need:.0f} B but "
                       f"{level.usable_bytes():.0f} B are usable"
                       f"{' (double-buffered)' if level.double_buffered else ''}")
    return out


def check_fits(layer: Layer, hier: Hierarchy, mapping: NestMapping,
               lowered_from: Layer | None = None) -> None:
    """Raise a one-line :class:`HierCostError` unless the mapping's tiles fit."""
    reasons = capacity_report(layer, hier, mapping, lowered_from)
    if reasons:
        raise HierCostError(f"layer {layer.name!r} cannot run with this mapping on "
                            f"{hier.name!r}: {reasons[0]}; enlarge the level or shrink "
                            f"its tiles")


__all__ = ["HierCostError", "HierResult", "capacity_report", "check_fits", "evaluate",
           "evaluate_batch"]
