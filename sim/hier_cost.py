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
  move by the window rule below (or ``footprint x loops_above / reuse x instances``
  under ``input_reuse="refetch"``).
* Parent reads for a child (the next level below that keeps ``o``, or the MACs):
  multicast fanouts in between deliver one read to every child needing the same word
  (separable: divide by their replication; halo inputs: the distinct rows/columns of
  the union of the children's windows, counted exactly -- with gaps where loops
  between the fanout and the child iterate the same dimension). The innermost level
  keeping ``o`` is read once per MAC over multicast: once per busy multicast group
  (:func:`sim.hier_plan.mac_groups`; with imperfect factors a partly idle group is one
  read, not a fraction of one).
* Outputs: a child's drains arrive at the parent divided by the replication of the
  *reducing* fanouts in between (partial sums summed in the fabric); the parent reads
  back every arrival but the first per output (``arrivals - distinct``) as a refill.
  Level reads = refills down + drains up; writes = arrivals + refills from above. The
  innermost output level counts the MAC's read-modify-write (reads = writes = MACs
  over reduction: one per busy reduction group, as above) and, by ``compute.psum_access``
  (:data:`sim.hierarchy_nodes.PSUM_ACCESS`): ``fused`` nothing else (the partial sums it
  forwards or receives ride the read-modify-write); ``separate`` also its drains up
  (reads) and refills from above (writes); ``separate_no_first_read`` the same less one
  read per fresh output tile (reads = writes = MACs over reduction + refills). When that
  level is the top one (the MACs accumulate straight into it: nothing to drain to) the
  first arrival of each distinct output is written without a read (reads = writes -
  distinct; AccelForge's ``skip_initial_output_write``), except under ``separate``.
  The top level is not filled and does not drain. Partial sums move at the accumulator
  width, the ``distinct`` final outputs into the top level at the output width (a
  level's ``value_bits`` overrides both: :func:`sim.hier_plan.access_bits`).
* Inputs of convolutions with a halo (R, S or a stride above 1), ``input_reuse=
  "window"`` (Timeloop's delta rule; the default, ``DEFAULT_INPUT_REUSE`` in
  :mod:`sim.hier_cost_scalar`): a level ``c`` that keeps inputs
  (and does not stream them) holds one window, and at each iteration ``t`` of the
  loops above it receives only the elements it did not hold at ``t - 1``:
  ``fills = sum_t |W_t - W_(t-1)|`` (set difference) elements per instance
  (``W_(-1)`` empty: the first window whole), times the instances. ``W_t`` is the set
  of inputs (g, n, c, row, column) the tile touches at ``t``: rows
  ``p * stride_h + r * dilation_h`` over its P and R index ranges, in padded
  coordinates, columns likewise with ``stride_w`` and ``dilation_w``; extents capped at
  the bounds, positions advancing by the raw tile (a padded last tile counts whole, as
  under refetch). A step of a loop (factor ``f``, of
  level ``lv``) happens ``(f - 1) x`` (the loops outer to it) times: it moves the
  window along its dimension by lv's tile over ``f`` and takes every loop inner to it
  back to its start (``-(f' - 1) x`` that loop's step each), so the previous window is
  whatever the last iteration held -- consecutive tiles along P, Q, R or S share rows
  or columns when the move is shorter than the window's span, and a wrap keeps what
  the last window of the inner sweep shares with the new one; nothing else is
  remembered. A step that changes G, N or C keeps nothing; a K step keeps everything
  (the refetch rule's stationarity). Kept per step = the G, N, C extents x the rows
  kept x the columns kept, rows kept ``|H & (H + shift)|``
  (:func:`sim.tiling.window_overlap_rows`: ``max(0, span - |shift|)`` for a window
  without gaps). Parent reads: a multicast group of children moving together reads
  per iteration the distinct elements of the union of its children's new elements
  (a row is read again unless every child reading it held it one step earlier);
  without multicast, the child's fills. Capacity is unchanged (one window). The
  refetch rule stays for streamed inputs, for im2col-lowered levels (``lowered_from``)
  and, with the same counts, for inputs of 1x1 stride-1 layers (windows never
  overlap). DRAM input traffic thus reaches the padded input (every element a window
  reads, once) when the loops above a buffer holding a full band of rows step only
  along P (K steps inside them). ``input_reuse="refetch"``: a tile that moves is
  refetched whole (Timeloop's rule without deltas; a coincidentally identical next
  window is not kept), fills ``footprint x loops_above / reuse x instances``.
  Peers: AccelForge 1.0.467's recorded mappings keep inputs only above every loop (no
  input level below a P/Q/R/S loop), so both rules give them equal counts (the
  records cannot tell whether AccelForge keeps window overlaps); on ZigZag's recorded
  ResNet-18 mappings the window rule moves fewer inputs on 20 of 93 converted layers,
  all in cells the exchange pins as different for other reasons (ZigZag's own counts
  are :mod:`sim.hier_cost_zigzag`'s).
* Padded last tiles of imperfect factors count whole under both rules -- upper
  bounds where factors are imperfect.
* Capacity (``legal``): per instance, the tiles of the kept, non-streamed operands
  (outputs at accumulator width) fit the level's usable bytes (half when
  double-buffered; per partition when capacities are per operand); and every fanout
  with a ``min_usage`` unrolls the children it asks for
  (:func:`sim.hier_plan.usage_need`).
* Energy: ``reads_words x read_pj + writes_words x write_pj`` per level + MACs x
  ``compute.mac_pj``. Latency: ``compute_cycles = prod_d ceil(b_d / spatial_d)``
  (partial temporal tiles skipped); a level's port time for some of its traffic is
  ``max(read_bytes / (instances x read_bw), write_bytes / (instances x write_bw))``
  (``<n>_cycles``: for all of it). Traffic *stalls* when it fills or drains a level
  that cannot take it while the MACs use its tile (:func:`sim.hier_plan.exposes`: not
  double-buffered and not streaming the operand, under ``compute.overlap:
  double_buffered``; nothing stalls under ``always``): the filled level's writes and
  its parent's reads for it, a drained level's reads and its parent's writes (final
  outputs' narrower width with the drains), an accumulator's own drains up and refills
  in when ``psum_access`` is not ``fused``. ``total_cycles = ceil(max_l stall_l) +
  max(compute_cycles, ceil(max_l overlapped_l))`` with ``stall_l`` the port time of
  level l's stalling traffic and ``overlapped_l`` that of the rest: the cycle model's
  per-step rule (:mod:`sim.cycle.hier_cycle`) summed over the steps, so never above it
  and equal to it when the same level sets each step's maxima; where nothing stalls
  (all double-buffered or ``always``), ``max(compute_cycles, max_l <n>_cycles)``.
  ``<n>_stall_read_bits|write_bits`` (with ``detail``, levels with stalling traffic).

The window rule's batched helpers are in :mod:`sim.hier_window`.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from dataflows.dataflow import MAP_DIMS, OPERANDS, RELEVANT
from dataflows.layer import Layer
from dataflows.nest_mapping import NestBatch
from sim.hier_cost_scalar import (DEFAULT_INPUT_REUSE, INPUT_REUSE,  # noqa: F401
                                  HierResult, capacity_report, check_fits,
                                  check_input_reuse, evaluate)
from sim.hier_plan import (ND, HierCostError, _above, _between, _kept_rows,  # noqa: F401
                           access_bits, element_bits, exposes, mac_groups, narrow_bits,
                           _kept_union_rows, _plan, _Plan, _union_input_elems, _union_rows)
from sim.hier_tiles import level_fits, tile_extents
from sim.hier_window import level_events, window_events, window_kept
from sim.hierarchy import Hierarchy
from sim.tiling import (conv_input_footprint_elems, tile_footprint_elems)

_REL = {o: np.array([d in RELEVANT[o] for d in MAP_DIMS]) for o in OPERANDS}
#: bit d set when dimension d is relevant to the operand (a lookup by shifting)
_REL_BITS = {o: np.uint8(sum(1 << i for i, d in enumerate(MAP_DIMS) if d in RELEVANT[o]))
             for o in OPERANDS}
_POS_BITS = (1 << np.arange(ND, dtype=np.uint8)).astype(np.uint8)[None, :, None]
#: index of the highest set bit of a byte, -1 for 0
_HIGH_BIT = np.array([i.bit_length() - 1 for i in range(256)], dtype=np.int64)
#: Rows costed at a time (keeps the working set in cache; 8192 amortises the per-chunk
#: numpy call overhead better than 4096 on both input rules, 16384 no longer helps).
CHUNK_ROWS = 8192


@lru_cache(maxsize=64)
def _gather_off(L: int, B: int, width: int = ND) -> np.ndarray:
    """[L, 1, B] flat offsets of row (level, 0, b) in a [L, width, B] array."""
    off = (np.arange(L, dtype=np.int64) * (width * B))[:, None, None] + np.arange(B)
    off.flags.writeable = False
    return off



def evaluate_batch(layer: Layer, hier: Hierarchy, batch: NestBatch, detail: bool = True,
                   lowered_from: Layer | None = None,
                   input_reuse: str = DEFAULT_INPUT_REUSE) -> dict[str, np.ndarray]:
    """Cost every mapping of ``batch`` (structurally legal ones, see NestMapping.check).

    Returns arrays of length B: ``legal`` (capacity), ``compute_cycles``,
    ``total_cycles``, ``energy_pj``, ``energy_mac_pj`` and, per level name ``n``,
    ``energy_<n>_pj``, ``<n>_cycles``, ``<n>_need_bytes`` and with ``detail``
    ``<n>_<operand>_reads|writes`` (elements) and ``<n>_<operand>_read_words|
    write_words``. ``lowered_from``: ``layer`` is the im2col view of this conv; levels
    above the first fanout then hold the conv window of their tile (as
    :mod:`sim.analytic` does: the buffer expands im2col on chip). ``input_reuse``:
    ``"window"`` (sliding-window reuse of conv inputs; the default ``DEFAULT_INPUT_REUSE``)
    or ``"refetch"`` (a moved input tile is refetched whole, Timeloop's rule), see
    the module docstring.
    """
    check_input_reuse(input_reuse)
    # one errstate for the whole batch (entering it costs about as much as a chunk's
    # level loop): a bandwidth of 0 gives inf cycles, not a warning
    with np.errstate(divide="ignore", invalid="ignore"):
        return _chunks(layer, hier, batch, detail, lowered_from,
                       input_reuse == "window" and lowered_from is None)


def _chunks(layer: Layer, hier: Hierarchy, batch: NestBatch, detail: bool,
            lowered_from: Layer | None, window: bool) -> dict[str, np.ndarray]:
    if len(batch) <= CHUNK_ROWS:
        return _chunk(layer, hier, batch, detail, lowered_from, window)
    out: dict[str, np.ndarray] = {}
    for i in range(0, len(batch), CHUNK_ROWS):
        part = _chunk(layer, hier, batch.rows(slice(i, i + CHUNK_ROWS)), detail,
                      lowered_from, window)
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
           lowered_from: Layer | None, window: bool) -> dict[str, np.ndarray]:
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
    ext_raw, grain = tile_extents(plan, T, Sraw)
    ext = [np.minimum(e, bnd) for e in ext_raw[:L]]
    exact = bool((ext_raw[0] == bnd).all())           # no idle position in any row

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

    def inst_raw(f: int) -> np.ndarray:
        """Children of fanout f the mapping unrolls, idle positions included."""
        return _rows_product(Sraw[f], alld)
    inst = [_rows_product(S[f], alld) for f in range(F)]

    def product(vals: list[np.ndarray], fs: list[int]) -> np.ndarray:
        if not fs:
            return one
        out = vals[fs[0]]
        for f in fs[1:]:
            out = out * vals[f]
        return out

    win = window and plan.halo
    steps_memo: list = []
    events_memo: dict[int, tuple] = {}
    back = [np.zeros((ND, B), dtype=np.int64)]

    def slides(o: str, c: int) -> bool:
        """Level c keeps a sliding input window (the "window" rule applies)."""
        return win and o == "input" and o not in levels[c].streams

    def kept(c: int, mc: list[int]) -> np.ndarray:
        """Sum over the steps of the loops above c of the input elements level c's
        instance (mc empty) or the children of the multicast fanouts mc already hold."""
        while len(steps_memo) < c:
            lv = len(steps_memo)
            steps_memo.append(level_events(plan, T[lv], order[lv], facs[lv], suf[lv],
                                            la[lv + 1], ext_raw[lv], grain[lv]))
        while len(back) <= c:
            lv = len(back) - 1
            back.append(back[-1] + ext_raw[lv] - grain[lv])
        if c not in events_memo:
            events_memo[c] = (window_events(plan, c, back, above_prod, steps_memo), {})
        ev, memo = events_memo[c]
        return window_kept(layer, plan, ext[c], ev, [(Sraw[f], gap(f)) for f in mc], memo)

    def fills(o: str, c: int) -> np.ndarray:
        """Elements entering every instance of level c (< L) with operand o."""
        if slides(o, c):
            return (tile_fp(o, c) * (loops_above(c) // reuse(o, c)) - kept(c, [])) * \
                product(inst, _above(plan, c))
        ru = reuse(o, c)
        if o == "input" and (plan.halo or c < plan.lowered_top):
            return tile_fp(o, c) * (loops_above(c) // ru) * product(inst, _above(plan, c))
        # loops above c over the relevant ones = the irrelevant loops above c
        irrelevant = _rows_product(above_prod[c], irr[o])
        return plan.distinct[o] * (irrelevant // ru) * product(rep[o], _above(plan, c))

    def parent_reads(o: str, p: int, c: int, x_c: np.ndarray | None) -> np.ndarray:
        mc = [f for f in _between(plan, p, c) if o in fans[f].multicast]
        if c == L:                          # one read per busy multicast group
            return plan.macs // product(rep[o], mc) if exact or not mc else \
                mac_groups(plan, T, Sraw, mc, irr[o])
        if o == "input" and (plan.halo or c < plan.lowered_top):
            if not mc:
                union = tile_fp(o, c)
            elif p < plan.lowered_top:
                union = footprint(o, np.minimum(ext_raw[c] * _spatial_product(Sraw, mc, B),
                                                bnd), p)
            else:
                union = _union_input_elems(layer, bounds, ext[c].T,
                                           [(Sraw[f].T, gap(f).T) for f in mc])
            if slides(o, c):
                moved = union * (loops_above(c) // reuse(o, c)) - kept(c, mc) if mc else x_c
                return moved * product(inst, _above(plan, c)) // product(inst, mc) if mc \
                    else moved
            return union * (loops_above(c) // reuse(o, c)) * \
                product(inst, _above(plan, c)) // product(inst, mc)
        return x_c // product(rep[o], mc)

    zeros = np.zeros(B, dtype=np.int64)
    reads = {(lv, o): zeros for lv in range(L) for o in OPERANDS}
    writes = dict(reads)
    # the traffic of fills and drains that stall the MACs (hier_plan.exposes), per
    # (level, operand, "r"|"w"): [elements, carries the final outputs' narrow width]
    stall: dict[tuple[int, str, str], list] = {}

    def expose(lv: int, o: str, rw: str, elems: np.ndarray, narrow: bool = False) -> None:
        stall.setdefault((lv, o, rw), []).append((elems, narrow))

    for o in ("weight", "input"):
        ch = plan.chain[o]
        for i, lv in enumerate(ch):
            child = ch[i + 1] if i + 1 < len(ch) else L
            x_c = fills(o, child) if child < L else None
            reads[lv, o] = parent_reads(o, lv, child, x_c)
            if x_c is not None:
                writes[child, o] = x_c
                if exposes(hier, child, o):         # the child's fill: both ends wait
                    expose(lv, o, "r", reads[lv, o])
                    expose(child, o, "w", x_c)
    # outputs
    ch = plan.chain["output"]
    d_out = plan.distinct["output"]
    x = {lv: fills("output", lv) for lv in ch[1:]}
    refill_down: dict[int, np.ndarray] = {}
    psum = hier.compute.psum_access
    for i, lv in enumerate(ch):
        child = ch[i + 1] if i + 1 < len(ch) else L
        red = [f for f in _between(plan, lv, child) if fans[f].reduction]
        if child == L:
            # one read-modify-write per arrival (psum_access: hierarchy_nodes.PSUM_ACCESS)
            a = plan.macs // product(rep["output"], red) if exact or not red else \
                mac_groups(plan, T, Sraw, red, irr["output"])   # busy reduction groups
            if i == 0:                      # the top: nothing drains, nothing refills
                reads[lv, "output"] = a if psum == "separate" else a - d_out
                writes[lv, "output"] = a
            elif psum == "fused":
                reads[lv, "output"], writes[lv, "output"] = a, a
            else:                           # + drains up (reads), refills in (writes)
                refill_in = refill_down[ch[i - 1]]
                reads[lv, "output"] = a + (refill_in if psum == "separate_no_first_read"
                                           else x[lv])
                writes[lv, "output"] = a + refill_in
                if exposes(hier, lv, "output"):     # its own drains and refills wait
                    expose(lv, "output", "r", np.minimum(x[lv], reads[lv, "output"]), True)
                    expose(lv, "output", "w", np.minimum(refill_in, writes[lv, "output"]))
            continue
        arrivals = x[child] // product(rep["output"], red)
        first = d_out * product(rep["output"], _above(plan, child)) // product(rep["output"], red)
        refill_down[lv] = arrivals - first
        reads[lv, "output"] = refill_down[lv] + (x[lv] if i > 0 else zeros)
        writes[lv, "output"] = arrivals + (refill_down[ch[i - 1]] if i > 0 else zeros)
        if exposes(hier, child, "output"):  # the child's refills and drains
            expose(lv, "output", "r", refill_down[lv])
            expose(lv, "output", "w", arrivals, True)
        if i > 0 and exposes(hier, lv, "output"):   # its own drains up and refills in
            expose(lv, "output", "r", x[lv], True)
            expose(lv, "output", "w", refill_down[ch[i - 1]])
    # fused: the innermost output level's refills/drains are in its read-modify-writes

    # -- bits, words, energy, capacity, cycles -----------------------------------------
    out: dict[str, np.ndarray] = {}
    legal = np.ones(B, dtype=bool)
    energy = np.full(B, plan.macs * hier.compute.mac_pj, dtype=np.float64)
    worst = np.zeros(B, dtype=np.float64)
    exposed = np.zeros(B, dtype=np.float64)

    def stall_bits(lv: int) -> tuple[np.ndarray, np.ndarray]:
        """(read bits, write bits) of level lv's stalling transfers."""
        sums = []
        for rw in ("r", "w"):
            tot = np.zeros(B, dtype=np.float64)
            for o in levels[lv].keeps:
                width = element_bits(hier, layer, lv, o)
                less = narrow_bits(hier, layer, lv, o, d_out)[rw == "w"]
                for elems, narrow in stall.get((lv, o, rw), ()):
                    tot = tot + elems * width - (less if narrow else 0)
            sums.append(tot)
        return sums[0], sums[1]

    for lv, level in enumerate(levels):
        rbits = np.zeros(B, dtype=np.float64)
        wbits = np.zeros(B, dtype=np.float64)
        for o in level.keeps:
            r, w = reads[lv, o], writes[lv, o]
            rb, wb = access_bits(hier, layer, lv, o, r, w, d_out)
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
            tot, fits = level_fits(hier, layer, lv, lambda o, lv=lv: tile_fp(o, lv), B)
            legal &= fits
            out[f"{level.name}_need_bytes"] = tot
        ninst = product(inst, _above(plan, lv))
        cyc = np.maximum(rbits / 8 / (ninst * level.read_bytes_per_cycle),
                         wbits / 8 / (ninst * level.write_bytes_per_cycle))
        out[f"{level.name}_cycles"] = cyc
        if any(k[0] == lv for k in stall):  # split into stalling and overlapped port time
            sr, sw = stall_bits(lv)
            ex = np.maximum(sr / 8 / (ninst * level.read_bytes_per_cycle),
                            sw / 8 / (ninst * level.write_bytes_per_cycle))
            cyc = np.maximum((rbits - sr) / 8 / (ninst * level.read_bytes_per_cycle),
                             (wbits - sw) / 8 / (ninst * level.write_bytes_per_cycle))
            exposed = np.maximum(exposed, ex)
            if detail:
                out[f"{level.name}_stall_read_bits"] = sr
                out[f"{level.name}_stall_write_bits"] = sw
        worst = np.maximum(worst, cyc)
    steps = -(-bnd // _spatial_product(Sraw, list(range(F)), B))
    compute = _rows_product(steps, alld)
    # stalling transfers of all levels in parallel, then the compute overlapped with the
    # rest: the cycle model's step rule summed over the steps (a lower bound of it)
    total_cycles = np.ceil(exposed).astype(np.int64) + \
        np.maximum(compute, np.ceil(worst).astype(np.int64))
    for f, need in enumerate(plan.usage_need):     # min_usage: enough children unrolled
        if need > 1:
            legal &= inst_raw(f) >= need
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



__all__ = ["DEFAULT_INPUT_REUSE", "INPUT_REUSE", "HierCostError", "HierResult",
           "capacity_report", "check_fits", "evaluate", "evaluate_batch"]

