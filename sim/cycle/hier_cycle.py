"""A cycle-approximate timeline of one layer on an N-level :class:`~sim.hierarchy.Hierarchy`.

:func:`simulate_hier` walks the temporal loops of the outermost storage level (each step
is one tile of the level below it) and times every step from what the levels must move
in it and what the MACs compute in it. The demand side -- how many elements and bits
each level reads and writes, per operand -- is *not* re-derived: it is the batched cost
model's (:func:`sim.hier_cost.evaluate_batch`, the same call the mapper's inner loop
makes), distributed over the steps by the loop structure. So the two fidelities cannot
disagree on traffic, and they agree on cycles exactly where nothing stalls or where the
same level stalls every step (the cost model adds the stalling port time to the compute).

Usage (a pure function of layer, hierarchy and mapping)::

    from sim.cycle.hier_cycle import simulate_hier
    r = simulate_hier(layer, hier, mapping)        # mapping: a NestMapping
    r.total_cycles, r.compute_cycles, r.stall_cycles, r.stall_cycles_by_level
    r.accesses["dram"]["weight"]["reads"]          # == sim.hier_cost's count
    for k in r.timeline:                           # one row per kind of step
        k.count, k.compute_cycles, k.exposed_cycles, k.cycles, k.exposed_level

What is modelled (units: cycles of the hierarchy's clock, elements, bits, bytes):

* **Steps.** The loops of level 0 with a factor > 1, in its loop order; step ``k`` is
  one iteration of them (``steps = prod`` of level 0's factors).
* **Compute per step.** Per dimension ``d``, ``Q_d = ceil(b_d / S_d)`` temporal rows
  (``S_d``: the product of every fanout's factor) are laid over level 0's index
  ``j``, ``Tb_d`` (the product of the lower levels' factors) at a time:
  ``cnt_d(j) = min(Tb_d, Q_d - j * Tb_d)``; a step computes ``prod_d cnt_d(j_d)``
  cycles. This is the cost model's rule (partial temporal tiles skipped), so the sum
  over steps is exactly its ``compute_cycles``.
* **Events.** A level ``c >= 1`` replaces its tile of operand ``o`` when a loop above
  it changes that is outside the stationarity window (the innermost loops above ``c``
  before the first relevant loop with a factor > 1; empty when ``c`` streams ``o``) --
  the cost model's reuse rule. If the window ends inside levels 1..c-1 every step has
  the same number of replacements; if it reaches level 0, one replacement happens at
  each step whose level-0 loops inside the window are all at index 0.
* **Traffic per event.** Each of the cost model's per-level, per-operand counts is
  split by what triggers it: a fill or refill of level ``c`` (the parent's read, the
  child's write), a drain of ``c`` (the child's read, the parent's write) -- both at
  ``c``'s tile replacements -- or the MACs (reads of the innermost level keeping an
  operand, the output read-modify-write), spread over steps in proportion to their
  compute (with ``compute.psum_access`` other than ``fused`` the innermost output
  level's drains up and refills in are its own replacements' traffic instead). A
  count is divided evenly over its events (exact fractions, so the sums over steps
  equal the cost model's totals exactly; checked on every call), except that output
  read-backs (refills) go only to the replacements that revisit a tile
  and the final outputs' narrower width only to last visits: a replacement is a
  tile's first (last) visit when every loop above the level irrelevant to outputs and
  outside the window is at index 0 (at its last index). Output counts of intermediate
  levels are split into their refill and drain parts with one re-derived rule (a
  drain arrives divided by the replication of the reducing fanouts in between); the
  parts are checked non-negative. Bits are the cost model's
  ``*_read_words|write_words`` x word width; final outputs that move at output width
  rather than accumulator width are charged to the drains of last visits.
* **Time per step.** Per level ``l``, a port time ``ceil(max(read_bytes /
  (n_l x read_bw), write_bytes / (n_l x write_bw)))`` cycles (``n_l``: the instances
  the mapping uses, the cost model's count; an ``inf`` bandwidth takes 0 cycles),
  computed separately for *exposed* traffic (fills and drains of a level that is not
  double-buffered: the tile cannot be replaced while it is in use) and *hidden*
  traffic (fills and drains of double-buffered levels, which overlap the compute of
  the current tile; of operands a level ``streams``, pipeline registers that move
  with the compute; and MAC-side traffic; everything under ``compute.overlap:
  always``) -- :func:`sim.hier_plan.exposes`. Levels work in parallel:
  ``step = max_l exposed_l + max(compute, max_l hidden_l)``. Stall cycles of
  a step go to the level that set its exposed maximum and, for the overlap excess, its
  hidden maximum (first such level, outermost first).

Invariants (tests/sim/test_hier_cycle.py): infinite bandwidth gives ``total_cycles ==
compute_cycles`` of the cost model; per-level accesses equal the cost model's, and so
do the stalling bits per level (the cost model derives them separately for its latency;
checked on every call); total cycles are never below the cost model's ``total_cycles``
(its stalling port times plus the compute overlapped with the rest, summed over the
whole layer: a sum of per-step maxima is at least the maximum of the sums); lowering
a bandwidth never lowers cycles; the aggregated walk equals the step-by-step walk; on DRAM + buffer
hierarchies it equals a loop-by-loop walk that moves each tile whose index ranges
change, reads back revisited output tiles and drains last visits at output width.
Where it stalls, the gap to the cost model is bounded: ``total_cycles <
compute_cycles + 2 x sum_l bandwidth_cycles_l + 2 x levels x steps`` (a step is at
most its compute plus every level's exposed and hidden port time; each port time is
at most the level's read plus write time, rounded up once each).

Not modelled: bank conflicts, port arbitration between a level's reads and writes
(they have separate bandwidths), DRAM latency and burst granularity, the pipeline
fill/drain of the array, the varying size of partial tiles within one count (every
event moves the count's average), and the drain of a tile happening after rather
than at the start of its period (same total). The timeline's resolution is the
level-1 tile: replacements of deeper levels inside a step are aggregated over the
step (a single-buffered deep level's fills add up before the step's compute).

Large layers stay fast: steps with equal state (their compute, how many innermost
level-0 loops are at index 0, and whether the loops that decide first and last visits
are all at 0 or all at their last index) are identical, so at most ``3 ** 8`` kinds of
step are timed, each multiplied by its count (``aggregate=False`` derives every step's
state one at a time instead, for checking; refused above :data:`MAX_WALK_STEPS`).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from fractions import Fraction

from dataflows.dataflow import MAP_DIMS, RELEVANT, map_bounds
from dataflows.errors import CoforgeError
from dataflows.layer import Layer
from dataflows.nest_mapping import NestBatch, NestMapping
from sim.hier_cost import evaluate_batch
from sim.hier_plan import element_bits, exposes
from sim.hierarchy import Hierarchy, StorageLevel

ND = len(MAP_DIMS)
#: Most steps ``aggregate=False`` walks one by one.
MAX_WALK_STEPS = 200_000
_MAC = -1                      # trigger of MAC-side traffic


class HierCycleError(CoforgeError):
    """The mapping cannot be timed on this hierarchy."""


@dataclass(frozen=True)
class StepKind:
    """``count`` identical steps of the timeline: each computes ``compute_cycles``,
    waits ``exposed_cycles`` for serialised transfers (level ``exposed_level`` the
    slowest) and takes ``cycles`` in all (``hidden_level``: the slowest overlapped
    level)."""

    count: int
    compute_cycles: int
    exposed_cycles: int
    cycles: int
    exposed_level: str
    hidden_level: str


@dataclass(frozen=True)
class HierCycleResult:
    """One mapping's timeline, aggregated. Cycles of the hierarchy's clock; accesses in
    elements per level and operand (``{"reads": n, "writes": n}``), summed over the
    level's instances, equal to :func:`sim.hier_cost.evaluate_batch`'s.
    ``analytic_total_cycles``: the cost model's bound; ``steps``: level-0 iterations;
    ``step_kinds``: distinct kinds of step timed; ``timeline``: one row per kind, in
    the order of their state (the steps of a kind are spread over the layer)."""

    total_cycles: int
    compute_cycles: int
    stall_cycles: int
    stall_cycles_by_level: dict[str, int]
    accesses: dict[str, dict[str, dict[str, int]]]
    analytic_total_cycles: int
    legal: bool
    steps: int
    step_kinds: int
    timeline: tuple[StepKind, ...]


@dataclass(frozen=True)
class _Part:
    """One slice of a cost-model count: level, operand, read or write, what triggers
    it (a level index, or _MAC), elements and bits over the whole layer."""

    level: int
    operand: str
    write: bool
    trigger: int
    role: str              # "fill" | "drain" | "refill" | "mac"
    elems: int
    bits: int
    deficit: int           # bits below elems x width: final outputs, at last visits


@dataclass(frozen=True)
class _Sched:
    """When a trigger level replaces its tile of an operand. ``z``: None -- in every
    step, ``per_step`` times -- or once in each step whose ``z`` innermost level-0 loops
    are at index 0. ``flags``: the level-0 loop positions irrelevant to the operand
    outside the stationarity window; a replacement is a tile's first (last) visit only
    if they are all at index 0 (at their last index), and then ``first_per_step`` of a
    step's replacements are."""

    z: int | None
    per_step: int
    first_per_step: int
    flags: tuple[int, ...]


def simulate_hier(layer: Layer, hier: Hierarchy, mapping: NestMapping,
                  lowered_from: Layer | None = None, require_fit: bool = True,
                  aggregate: bool = True, input_reuse: str | None = None) -> HierCycleResult:
    """Time ``mapping`` of ``layer`` on ``hier`` step by step (rules in the module
    docstring). Raises a one-line error for a structurally illegal mapping
    (:class:`~dataflows.mapping.MappingError`) and, with ``require_fit``, for one whose
    tiles do not fit (:class:`HierCycleError`). ``input_reuse``: the cost model's input
    rule whose counts the steps carry (default its ``DEFAULT_INPUT_REUSE``)."""
    bnd = map_bounds(layer)
    mapping.check(hier, bnd, where=f"layer {layer.name!r} on {hier.name!r}")
    from sim.hier_cost_scalar import DEFAULT_INPUT_REUSE
    arr = evaluate_batch(layer, hier, NestBatch.from_mappings([mapping]), detail=True,
                         lowered_from=lowered_from,
                         input_reuse=input_reuse or DEFAULT_INPUT_REUSE)
    legal = bool(arr["legal"][0])
    if require_fit and not legal:
        raise HierCycleError(f"layer {layer.name!r}: the mapping's tiles do not fit "
                             f"{hier.name!r} (sim.hier_cost.capacity_report says where); "
                             f"shrink the tiles or pass require_fit=False")
    levels = hier.levels
    L = len(levels)
    b = [bnd[d] for d in MAP_DIMS]
    T = [list(t) for t in mapping.temporal]
    sraw = [mapping.spatial_product(f) for f in range(len(hier.fanouts))]
    pos = list(hier.fanout_positions)
    parts = _parts(layer, hier, mapping, arr, b, sraw, pos)

    # -- instances and bandwidths (the cost model's per-level rule) ----------------------
    inst = [math.prod(min(s[d], b[d]) for d in range(ND)) for s in sraw]
    n_inst = [math.prod(inst[f] for f in range(len(pos)) if pos[f] <= lv) for lv in range(L)]
    _check_level_cycles(hier, parts, n_inst, arr)

    # -- compute per dimension: cnt_d(j) over level 0's index j -------------------------
    s_tot = [math.prod(s[d] for s in sraw) for d in range(ND)]
    q = [-(-b[d] // s_tot[d]) for d in range(ND)]
    tb = [math.prod(T[lv][d] for lv in range(1, L)) for d in range(ND)]
    loops0 = [(MAP_DIMS.index(d), T[0][MAP_DIMS.index(d)]) for d in mapping.order[0]
              if T[0][MAP_DIMS.index(d)] > 1]                     # outermost first
    steps = math.prod(f for _, f in loops0)
    compute_total = math.prod(q)
    if int(arr["compute_cycles"][0]) != compute_total:
        raise AssertionError("compute cycles disagree with sim.hier_cost")

    # -- when each trigger replaces its tiles; the kinds of step -------------------------
    sched = {(p.trigger, p.operand): _schedule(hier, mapping, p.trigger, p.operand, loops0)
             for p in parts if p.trigger != _MAC}
    flag_sets = sorted({sc.flags for sc in sched.values()})
    kinds = _step_kinds(loops0, q, tb, flag_sets) if aggregate else \
        _walk(loops0, q, tb, flag_sets, steps)

    def visits(sc: _Sched, zeros: int, flags: tuple[tuple[bool, bool], ...]) -> tuple:
        """(replacements, first visits, last visits) of a kind of step."""
        ev = sc.per_step if sc.z is None else (1 if zeros >= sc.z else 0)
        all_zero, all_last = flags[flag_sets.index(sc.flags)]
        first = sc.first_per_step if ev else 0
        return ev, first if all_zero else 0, first if all_last else 0

    tot: dict[tuple[int, str], list[int]] = {k: [0, 0, 0] for k in sched}
    for (_, zeros, flags), count in kinds:
        for k, sc in sched.items():
            for x, v in enumerate(visits(sc, zeros, flags)):
                tot[k][x] += count * v

    def share(p: _Part, cyc: int, zeros: int, flags: tuple) -> tuple[Fraction, Fraction]:
        """(elements, bits) of part ``p`` in one step of a kind."""
        if p.trigger == _MAC:
            f = Fraction(cyc, compute_total)
            return p.elems * f, p.bits * f
        ev, first, last = visits(sched[p.trigger, p.operand], zeros, flags)
        n_ev, n_first, n_last = tot[p.trigger, p.operand]
        if p.role == "refill":
            if n_ev == n_first:
                raise AssertionError(f"{levels[p.level].name}: output read-backs with no "
                                     f"revisited tile")
            f = Fraction(ev - first, n_ev - n_first)
            return p.elems * f, p.bits * f
        f = Fraction(ev, n_ev)
        bits = (p.bits + p.deficit) * f
        if p.deficit:
            bits -= Fraction(p.deficit * last, n_last)
        return p.elems * f, bits

    def step_time(cyc: int, zeros: int, flags: tuple) -> tuple:
        """(step cycles, exposed cycles, the levels setting the exposed and the hidden
        maximum, elements moved per part) of a step computing ``cyc`` cycles whose
        ``zeros`` innermost level-0 loops are at index 0."""
        r_e, w_e, r_h, w_h = ([Fraction(0)] * L for _ in range(4))
        moved: dict[int, Fraction] = {}
        for i, p in enumerate(parts):
            exposed = p.trigger != _MAC and exposes(hier, p.trigger, p.operand)
            e_i, bits = share(p, cyc, zeros, flags)
            moved[i] = (e_i, bits)
            if bits < 0:
                raise AssertionError(f"{levels[p.level].name}.{p.operand}: {bits} bits")
            tgt = (w_e if p.write else r_e) if exposed else (w_h if p.write else r_h)
            tgt[p.level] += bits
        e = [_port_cycles(levels[lv], n_inst[lv], r_e[lv], w_e[lv]) for lv in range(L)]
        h = [_port_cycles(levels[lv], n_inst[lv], r_h[lv], w_h[lv]) for lv in range(L)]
        ex, hi = max(e), max(h)
        return ex + max(cyc, hi), ex, e.index(ex), h.index(hi), moved

    total = 0
    stall = [0] * L
    moved_tot = [(Fraction(0), Fraction(0))] * len(parts)
    rows = []
    for (cyc, zeros, flags), count in kinds:
        t, exposed, lv_e, lv_h, moved = step_time(cyc, zeros, flags)
        rows.append(StepKind(count, cyc, exposed, t, levels[lv_e].name, levels[lv_h].name))
        total += count * t
        stall[lv_e] += count * exposed
        stall[lv_h] += count * (t - exposed - cyc)
        for i, (e_i, b_i) in moved.items():
            moved_tot[i] = (moved_tot[i][0] + count * e_i, moved_tot[i][1] + count * b_i)
    if sum(cyc * count for (cyc, _, _), count in kinds) != compute_total:
        raise AssertionError("the steps' compute does not sum to the cost model's")
    for p, v in zip(parts, moved_tot):
        if v != (p.elems, p.bits):
            raise AssertionError(f"step traffic of {levels[p.level].name}.{p.operand} sums "
                                 f"to {v}, not the cost model's {(p.elems, p.bits)}")
    accesses: dict[str, dict[str, dict[str, int]]] = {
        lv.name: {o: {"reads": 0, "writes": 0} for o in lv.keeps} for lv in levels}
    for p in parts:
        accesses[levels[p.level].name][p.operand]["writes" if p.write else "reads"] += p.elems
    return HierCycleResult(
        total_cycles=total, compute_cycles=compute_total, stall_cycles=total - compute_total,
        stall_cycles_by_level={lv.name: s for lv, s in zip(levels, stall)},
        accesses=accesses, analytic_total_cycles=int(arr["total_cycles"][0]), legal=legal,
        steps=steps, step_kinds=len(rows), timeline=tuple(rows))


def _parts(layer: Layer, hier: Hierarchy, mapping: NestMapping, arr: dict, b: list[int],
           sraw: list[tuple[int, ...]], pos: list[int]) -> list[_Part]:
    """The cost model's per-level counts split by trigger (module docstring)."""
    levels = hier.levels
    L = len(levels)
    out_irr = [d for d in range(ND) if MAP_DIMS[d] not in RELEVANT["output"]]

    def count(lv: int, o: str, write: bool) -> tuple[int, int]:
        name = levels[lv].name
        elems = int(arr[f"{name}_{o}_{'writes' if write else 'reads'}"][0])
        words = float(arr[f"{name}_{o}_{'write_words' if write else 'read_words'}"][0])
        return elems, round(words * levels[lv].word_bits)

    def red(p: int, c: int) -> int:
        return math.prod(min(sraw[f][d], b[d]) for f in range(len(pos))
                         if p < pos[f] <= c and hier.fanouts[f].reduction for d in out_irr)

    parts: list[_Part] = []

    def add(lv: int, o: str, write: bool, pieces: list[tuple[int, int, str]]) -> None:
        """``pieces``: (trigger, elements, role); final outputs' narrower width is
        charged to the drain (or MAC-side) piece."""
        elems, bits = count(lv, o, write)
        if sum(e for _, e, _ in pieces) != elems or any(e < 0 for _, e, _ in pieces):
            raise AssertionError(f"cannot split {levels[lv].name}.{o} "
                                 f"{'writes' if write else 'reads'} {elems} into {pieces}")
        width = element_bits(hier, layer, lv, o)
        deficit = elems * width - bits
        takers = [i for i, (_, _, role) in enumerate(pieces) if role in ("drain", "mac")]
        if deficit < 0 or (deficit and not takers):
            raise AssertionError(f"{levels[lv].name}.{o}: {bits} bits for {elems} elements")
        for i, (trig, e, role) in enumerate(pieces):
            d = deficit if takers and i == takers[0] else 0
            if e or e * width - d:
                parts.append(_Part(lv, o, write, trig, role, e, e * width - d, d))

    for o in ("weight", "input"):
        ch = [lv for lv in range(L) if o in levels[lv].keeps]
        for i, lv in enumerate(ch):
            child = ch[i + 1] if i + 1 < len(ch) else _MAC
            add(lv, o, False, [(child, count(lv, o, False)[0],
                                "mac" if child == _MAC else "fill")])
            if i:
                add(lv, o, True, [(lv, count(lv, o, True)[0], "fill")])
            elif count(lv, o, True) != (0, 0):
                raise AssertionError(f"the top level {levels[lv].name!r} is written {o}s")
    ch = [lv for lv in range(L) if "output" in levels[lv].keeps]
    R = {lv: count(lv, "output", False)[0] for lv in ch}
    W = {lv: count(lv, "output", True)[0] for lv in ch}
    if len(ch) == 1:
        add(ch[0], "output", False, [(_MAC, R[ch[0]], "mac")])
        add(ch[0], "output", True, [(_MAC, W[ch[0]], "mac")])
        return parts
    top, nxt = ch[0], ch[1]
    refill, arrivals = {top: R[top]}, {top: W[top]}
    add(top, "output", False, [(nxt, R[top], "refill")])
    add(top, "output", True, [(nxt, W[top], "drain")])
    for i in range(1, len(ch) - 1):
        prev, lv, nxt = ch[i - 1], ch[i], ch[i + 1]
        drained = arrivals[prev] * red(prev, lv)
        refill[lv] = R[lv] - drained
        arrivals[lv] = W[lv] - refill[prev]
        add(lv, "output", False, [(nxt, refill[lv], "refill"), (lv, drained, "drain")])
        add(lv, "output", True, [(nxt, arrivals[lv], "drain"), (lv, refill[prev], "refill")])
    last, prev = ch[-1], ch[-2]
    if hier.compute.psum_access == "fused":  # refills and drains ride the MAC's RMW
        add(last, "output", False, [(_MAC, R[last], "mac")])
        add(last, "output", True, [(_MAC, W[last], "mac")])
        return parts
    # its drains up, its refills in: at its own replacements (the drains first: they take
    # the final outputs' narrower width). With imperfect factors the cost model counts a
    # padded last tile whole (an upper bound, sim.hier_cost's docstring), so the drains
    # re-derived here may exceed what separate_no_first_read counts; they are capped at
    # the level's count, which the split must sum to.
    drained = min(arrivals[prev] * red(prev, last), R[last])
    refill_in = min(refill[prev], W[last])
    add(last, "output", False, [(last, drained, "drain"), (_MAC, R[last] - drained, "mac")])
    add(last, "output", True, [(_MAC, W[last] - refill_in, "mac"),
                               (last, refill_in, "refill")])
    return parts


def _port_cycles(level: StorageLevel, n: int, read_bits: Fraction, write_bits: Fraction) -> int:
    """Whole cycles ``n`` instances of ``level`` need to read and write these bits."""
    def t(bits: Fraction, bw: float) -> Fraction:
        return Fraction(0) if not bits or math.isinf(bw) else bits / (8 * n * Fraction(bw))
    return math.ceil(max(t(read_bits, level.read_bytes_per_cycle),
                         t(write_bits, level.write_bytes_per_cycle)))


def _check_level_cycles(hier: Hierarchy, parts: list[_Part], n_inst: list[int],
                        arr: dict) -> None:
    """The per-level bandwidth bound from the split parts equals the cost model's (so
    the instance counts and bits used for timing are the cost model's), and so do the
    bits of the stalling transfers (the cost model derives them on its own, for its
    latency; here they are the parts whose trigger :func:`sim.hier_plan.exposes`)."""
    for lv, level in enumerate(hier.levels):
        for write in (False, True):
            mine = sum(p.bits for p in parts if p.level == lv and p.write == write
                       and p.trigger != _MAC and exposes(hier, p.trigger, p.operand))
            key = f"{level.name}_stall_{'write' if write else 'read'}_bits"
            theirs = float(arr[key][0]) if key in arr else 0.0
            if not math.isclose(mine, theirs, rel_tol=1e-12, abs_tol=1e-9):
                raise AssertionError(f"level {level.name!r}: {mine} stalling "
                                     f"{'write' if write else 'read'} bits from the split "
                                     f"traffic, {theirs} from sim.hier_cost")
        r = sum(p.bits for p in parts if p.level == lv and not p.write)
        w = sum(p.bits for p in parts if p.level == lv and p.write)
        mine = max(r / 8 / (n_inst[lv] * level.read_bytes_per_cycle),
                   w / 8 / (n_inst[lv] * level.write_bytes_per_cycle))
        theirs = float(arr[f"{level.name}_cycles"][0])
        if not math.isclose(mine, theirs, rel_tol=1e-9, abs_tol=1e-9):
            raise AssertionError(f"level {level.name!r}: bandwidth cycles {mine} from the "
                                 f"split traffic, {theirs} from sim.hier_cost")


def _schedule(hier: Hierarchy, mapping: NestMapping, c: int, o: str,
              loops0: list[tuple[int, int]]) -> _Sched:
    """When level ``c`` replaces its ``o`` tile (:class:`_Sched`): the stationarity
    window is the innermost loops above ``c`` before the first relevant one with a
    factor > 1 (empty when ``c`` streams ``o``)."""
    rel = RELEVANT[o]
    inner = [(d, mapping.temporal[j][MAP_DIMS.index(d)]) for j in range(c - 1, 0, -1)
             for d in reversed(mapping.order[j])]                  # innermost first
    inner = [(d, f) for d, f in inner if f > 1]
    n = len(loops0)
    irr0 = tuple(i for i, (d, _) in enumerate(loops0) if MAP_DIMS[d] not in rel)
    if o in hier.levels[c].streams:
        outside = inner
    else:
        k = next((i for i, (d, _) in enumerate(inner) if d in rel), None)
        if k is None:                      # the window reaches level 0's loops
            z = 0
            for d, _ in reversed(loops0):
                if MAP_DIMS[d] in rel:
                    break
                z += 1
            return _Sched(z, 1, 1, tuple(i for i in irr0 if i < n - z))
        outside = inner[k:]
    per = math.prod(f for _, f in outside)
    return _Sched(None, per, per // math.prod(f for d, f in outside if d not in rel), irr0)


def _last_counts(loops0: list[tuple[int, int]], q: list[int], tb: list[int]) -> dict[int, int]:
    """Per dimension looped at level 0, the compute rows of its last index."""
    out = {}
    for d, f in loops0:
        r = q[d] - (f - 1) * tb[d]
        if not 0 < r <= tb[d]:
            raise AssertionError(f"{MAP_DIMS[d]}: last level-0 tile computes {r} rows")
        out[d] = r
    return out


def _step_kinds(loops0: list[tuple[int, int]], q: list[int], tb: list[int],
                flag_sets: list[tuple[int, ...]]) -> list[tuple[tuple, int]]:
    """((compute cycles, innermost zero loops, per flag set (all at 0, all last)),
    number of steps) of every kind of step: each level-0 loop is at index 0, at its
    last index or in between (f - 2 ways)."""
    last = _last_counts(loops0, q, tb)
    base = [q[d] if d not in last else tb[d] for d in range(ND)]
    kinds: dict[tuple, int] = {}
    n = len(loops0)
    for states in itertools.product("ZLM", repeat=n):
        count = 1
        for (_, f), s in zip(loops0, states):
            count *= f - 2 if s == "M" else 1
        if not count:
            continue
        cnt = list(base)
        for (d, _), s in zip(loops0, states):
            if s == "L":
                cnt[d] = last[d]
        zeros = n - next((i + 1 for i in range(n - 1, -1, -1) if states[i] != "Z"), 0)
        flags = tuple((all(states[i] == "Z" for i in fs), all(states[i] == "L" for i in fs))
                      for fs in flag_sets)
        key = (math.prod(cnt), zeros, flags)
        kinds[key] = kinds.get(key, 0) + count
    return sorted(kinds.items())


def _walk(loops0: list[tuple[int, int]], q: list[int], tb: list[int],
          flag_sets: list[tuple[int, ...]], steps: int) -> list[tuple[tuple, int]]:
    """The step kinds of :func:`_step_kinds` derived one step at a time (the check of
    the aggregation): compute from ``cnt_d(j) = min(Tb_d, Q_d - j Tb_d)``, zero loops
    from the flat step index, flags from the loop indices."""
    if steps > MAX_WALK_STEPS:
        raise HierCycleError(f"aggregate=False walks {steps} steps, more than "
                             f"MAX_WALK_STEPS = {MAX_WALK_STEPS}; use aggregate=True")
    suffix = [math.prod(f for _, f in loops0[len(loops0) - z:]) for z in range(len(loops0) + 1)]
    kinds: dict[tuple, int] = {}
    for k, idx in enumerate(itertools.product(*[range(f) for _, f in loops0])):
        j = [0] * ND
        for (d, _), i in zip(loops0, idx):
            j[d] = i
        cyc = math.prod(min(tb[d], max(0, q[d] - j[d] * tb[d])) for d in range(ND))
        zeros = max(z for z in range(len(loops0) + 1) if k % suffix[z] == 0)
        flags = tuple((all(idx[i] == 0 for i in fs),
                       all(idx[i] == loops0[i][1] - 1 for i in fs)) for fs in flag_sets)
        kinds[cyc, zeros, flags] = kinds.get((cyc, zeros, flags), 0) + 1
    return sorted(kinds.items())


__all__ = ["MAX_WALK_STEPS", "HierCycleError", "HierCycleResult", "StepKind", "simulate_hier"]
