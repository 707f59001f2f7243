"""sim.cycle.hier_cycle: the N-level cycle-approximate timeline against the cost model
(sim.hier_cost, whose counts it distributes) and against hand arithmetic.

Properties on random 2-6-level hierarchies with fanouts at several levels (the
generators of tests/sim/test_hierarchy_props.py): with unlimited bandwidth the
timeline's cycles are the cost model's compute cycles exactly; its per-level accesses
are the batched cost model's (which it distributes) and the plain-Python path's (a
separate implementation); its cycles are never below the cost model's bandwidth-bound
total, single- or double-buffered, and stay within the documented bound above it;
halving a level's bandwidth never lowers them; the aggregated step kinds equal a
step-by-step walk. On DRAM + buffer hierarchies the timeline equals an independent
loop-by-loop walk. Small cases are computed by hand in the docstrings."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dataflows import zoo
from dataflows.dataflow import MAP_DIMS, OPERANDS, RELEVANT, get_dataflow
from dataflows.layer import Layer
from dataflows.mapping import MappingError
from dataflows.nest_mapping import NestBatch, NestMapping
from sim.cycle.hier_cycle import HierCycleError, simulate_hier
from sim.hier_cost import evaluate, evaluate_batch
from sim.default_mapping import default_mapping
from sim.hierarchy import Fanout, Hierarchy, StorageLevel, from_accelerator
from sim.spec_io import load_accelerator
from tests.sim.test_hierarchy_props import _rows, hierarchies, layers

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _with_bandwidth(hier: Hierarchy, fn) -> Hierarchy:
    """``hier`` with every storage level's (read, write) bandwidth mapped by ``fn``."""
    nodes = tuple(replace(n, **dict(zip(("read_bytes_per_cycle", "write_bytes_per_cycle"),
                                        fn(i, n.read_bytes_per_cycle,
                                           n.write_bytes_per_cycle))))
                  if isinstance(n, StorageLevel) else n for i, n in enumerate(hier.nodes))
    return replace(hier, nodes=nodes)


def _all_double_buffered(hier: Hierarchy) -> Hierarchy:
    """``hier`` with every bounded level double-buffered at twice its capacity (the
    same usable bytes per tile, so the same mappings fit)."""
    def double(n: StorageLevel) -> StorageLevel:
        cap = n.capacity_bytes
        cap2 = tuple((o, 2 * v) for o, v in cap) if isinstance(cap, tuple) else 2 * cap
        return replace(n, capacity_bytes=cap2, double_buffered=True) \
            if not n.double_buffered else n
    return replace(hier, nodes=tuple(double(n) if isinstance(n, StorageLevel) and n.bounded
                                     else n for n in hier.nodes))


def _batched_accesses(layer: Layer, hier: Hierarchy, m: NestMapping) -> dict:
    arr = evaluate_batch(layer, hier, NestBatch.from_mappings([m]))
    return {lv.name: {o: {k: int(arr[f"{lv.name}_{o}_{k}"][0]) for k in ("reads", "writes")}
                      for o in lv.keeps} for lv in hier.levels}


def _two(read_bw: float, double_buffered: bool) -> Hierarchy:
    return Hierarchy("two", (StorageLevel("dram", word_bits=8, read_bytes_per_cycle=read_bw,
                                          write_bytes_per_cycle=1.0),
                             StorageLevel("buf", capacity_bytes=4096, word_bits=8,
                                          double_buffered=double_buffered)))


GEMM = Layer("gemm", K=4, C=4, P=4)           # 8-bit operands, 64 MACs


STEPS_BY_HAND = {(1.0, True): [(1, 32, 0, 32), (1, 32, 0, 32)],
                 (1.0, False): [(1, 32, 24, 56), (1, 32, 8, 40)],
                 (0.5, True): [(1, 32, 0, 48), (1, 32, 0, 32)],
                 (0.5, False): [(1, 32, 48, 80), (1, 32, 16, 48)]}


@pytest.mark.parametrize("read_bw, double_buffered, total, dram_stall, analytic", [
    (1.0, True, 64, 0, 64), (1.0, False, 96, 32, 96), (0.5, True, 80, 16, 64),
    (0.5, False, 128, 64, 128)])
def test_two_level_gemm_by_hand(read_bw: float, double_buffered: bool, total: int,
                                dram_stall: int, analytic: int) -> None:
    """DRAM + buffer (unlimited bandwidth), DRAM loops K:2, the buffer K:2 C:4 P:4, one
    MAC: 2 steps of 2*4*4 = 32 compute cycles. DRAM traffic (8-bit words, 1 byte each):
    the 16 weights change with K, 8 per step; inputs are irrelevant to K, so all 16
    load in step 0; outputs change with K, 8 drained per step (at output width, 8
    bits). Step 0 reads 24 B, writes 8 B; step 1 reads 8 B, writes 8 B (write
    bandwidth 1 B/cycle).
    read 1 B/cycle: DRAM busy 24 and 8 cycles. Double-buffered: max(32, 24) + max(32, 8)
    = 64 (no stall). Single-buffered: (24 + 32) + (8 + 32) = 96.
    read 0.5 B/cycle: busy 48 and 16. Double: max(32, 48) + max(32, 16) = 80.
    Single: (48 + 32) + (16 + 32) = 128. The cost model's bound: double-buffered,
    max(64 compute, 32 B / 0.5 B per cycle) = 64 for both bandwidths; single-buffered
    (each DRAM transfer fills or drains the buffer, so it stalls the MACs), the stalling
    port time plus the compute: 32 + 64 = 96 and 64 + 64 = 128, exact here (one level
    stalls in every step, so the sum over steps is the sum of the totals)."""
    hier = _two(read_bw, double_buffered)
    m = NestMapping.build(hier, temporal={"dram": {"K": 2}, "buf": {"K": 2, "C": 4, "P": 4}})
    r = simulate_hier(GEMM, hier, m)
    assert (r.total_cycles, r.compute_cycles, r.stall_cycles) == (total, 64, total - 64)
    assert r.stall_cycles_by_level == {"dram": dram_stall, "buf": 0}
    assert r.analytic_total_cycles == analytic
    assert (r.steps, r.step_kinds) == (2, 2)
    # (count, compute, exposed, cycles) of steps 0 and 1 (the arithmetic above)
    assert sorted((k.count, k.compute_cycles, k.exposed_cycles, k.cycles)
                  for k in r.timeline) == sorted(STEPS_BY_HAND[read_bw, double_buffered])
    assert r.accesses["dram"] == {"weight": {"reads": 16, "writes": 0},
                                  "input": {"reads": 16, "writes": 0},
                                  "output": {"reads": 0, "writes": 16}}


def test_imperfect_outer_factor_by_hand() -> None:
    """K = 5 as DRAM K:2 x buffer K:3: the second step is a partial tile, 3 and 2 rows
    of K: 48 and 32 compute cycles (80 in all = 5*4*4). DRAM moves 20 weights and 20
    outputs evenly over the two steps (10 each; the model spreads a count evenly over
    its events) and the 16 inputs in step 0. Read 0.5 B/cycle, write 1 B/cycle:
    step 0 reads 26 B = 52 cycles, step 1 10 B = 20 (writes 10 each).
    Double-buffered: max(48, 52) + max(32, 20) = 84. Single: 52 + 48 + 20 + 32 = 152.
    The cost model's bound: double-buffered max(80, 36 B / 0.5) = 80; single-buffered
    (all DRAM traffic stalls) 36 B / 0.5 + 80 = 152."""
    layer = Layer("gemm5", K=5, C=4, P=4)
    for db, total, analytic in ((True, 84, 80), (False, 152, 152)):
        hier = _two(0.5, db)
        m = NestMapping.build(hier, temporal={"dram": {"K": 2},
                                              "buf": {"K": 3, "C": 4, "P": 4}})
        r = simulate_hier(layer, hier, m)
        assert (r.total_cycles, r.compute_cycles, r.analytic_total_cycles) == \
            (total, 80, analytic)
        assert simulate_hier(layer, hier, m, aggregate=False) == r


def test_streamed_operand_moves_every_step_by_hand() -> None:
    """The buffer of test_two_level_gemm_by_hand streams inputs: no reuse across DRAM's
    K loop, so the 16 inputs move in both steps (32 DRAM reads, not 16). Read
    0.5 B/cycle, double-buffered: each step reads 8 + 16 = 24 B = 48 cycles:
    max(32, 48) x 2 = 96 (kept inputs: 80). Single-buffered, a streamed operand still
    moves with the compute (a pipeline register, no tile to replace): per step the
    exposed weights (8 B, 16 cycles; the 8 B output drain takes 8 at 1 B/cycle) then
    max(32, 16 B of inputs = 32): 16 + 32 = 48, 96 again (exposed inputs would give
    (48 + 32) x 2 = 160)."""
    for db in (True, False):
        base = _two(0.5, db)
        hier = replace(base, nodes=(base.nodes[0],
                                    replace(base.nodes[1], streams=("input",))))
        m = NestMapping.build(hier, temporal={"dram": {"K": 2},
                                              "buf": {"K": 2, "C": 4, "P": 4}})
        r = simulate_hier(GEMM, hier, m)
        assert r.accesses["dram"]["input"]["reads"] == 32
        assert r.total_cycles == 96


def test_three_level_inner_refetch_by_hand() -> None:
    """dram (unlimited) -> glb (read 1 B/cycle, double-buffered) -> rf (single-buffered),
    one MAC. DRAM loops K:2; glb loops C:2 (inner); rf K:2 C:2 P:4: 16 cycles per rf
    tile, 2 rf tiles per step, 64 compute cycles. The rf weight tile (relevant to C)
    is replaced at each glb C iteration: 4 replacements of 4 weights, 2 per step, i.e.
    8 B read from the glb per step; rf inputs (C x P) likewise 4 x 8, 16 B per step;
    rf outputs are irrelevant to C, so they stay for the glb's C loop and are replaced
    once per step (never refilled; the drain arrives at the glb as a write, unlimited).
    The rf is single-buffered, so its fills are exposed: the glb reads 24 B per step at
    1 B/cycle = 24 cycles before compute. The glb drains its 8 outputs (8-bit final
    values) to dram once per step: 8 B, hidden (the glb is double-buffered). A step is
    24 + max(32, 8) = 56, the layer 112; the glb's own fills (dram unlimited) are free.
    A double-buffered rf hides its fills too: max(32, 24 + 8) = 32 per step, 64."""
    hier = Hierarchy("three", (
        StorageLevel("dram", word_bits=8),
        StorageLevel("glb", capacity_bytes=4096, word_bits=8, read_bytes_per_cycle=1.0,
                     double_buffered=True),
        StorageLevel("rf", capacity_bytes=1024, word_bits=8)))
    m = NestMapping.build(hier, temporal={"dram": {"K": 2}, "glb": {"C": 2},
                                          "rf": {"K": 2, "C": 2, "P": 4}})
    r = simulate_hier(GEMM, hier, m)
    assert r.accesses == evaluate(GEMM, hier, m).accesses
    assert r.accesses["glb"]["weight"]["reads"] == 16
    assert r.accesses["glb"]["input"]["reads"] == 32
    assert (r.total_cycles, r.compute_cycles) == (112, 64)
    assert r.stall_cycles_by_level == {"dram": 0, "glb": 48, "rf": 0}
    hier2 = replace(hier, nodes=hier.nodes[:2] + (replace(hier.nodes[2],
                                                          double_buffered=True),))
    assert simulate_hier(GEMM, hier2, m).total_cycles == 64
    # glb loops P:2 instead: the rf input tile (C4 x P2) changes with the glb's P loop
    # inside every step, so 16 inputs reach the rf in each step although DRAM's K loop
    # is irrelevant to inputs; weights (K2 x C4) stay across the glb's P loop, 8 per
    # step. Double-buffered rf: max(32, 8 + 16 + 8 drained) = 32 per step, 64; an
    # (erroneous) input replacement only in step 0 would give max(32, 48) + 32 = 80.
    m2 = NestMapping.build(hier, temporal={"dram": {"K": 2}, "glb": {"P": 2},
                                           "rf": {"K": 2, "C": 4, "P": 2}})
    r2 = simulate_hier(GEMM, hier2, m2)
    assert r2.accesses["glb"]["input"]["reads"] == 32
    assert r2.accesses["glb"]["weight"]["reads"] == 16
    assert r2.total_cycles == 64


def test_output_read_backs_go_to_revisits_by_hand() -> None:
    """dram C:2 -> glb (read 4 B/cycle, double-buffered) C:2 then P:2 -> rf K:2 P:2,
    K=2 C=4 P=4: 16 compute cycles per step. The rf's output tile (K2 x P2, 4 partial
    sums of 32 bits) changes with the glb's P loop: 4 replacements per step, a first
    visit only while both C loops are at 0 (2 in step 0, none in step 1), so the glb's
    6 read-backs of 16 B fall 2 in step 0 and 4 in step 1. Per step the glb also reads
    4 B of weights (K2 x C1 tiles kept across the glb's P loop) and 8 B of inputs;
    in step 0 it drains its 8 final outputs (8 B) to dram, once: dram's C loop is
    irrelevant to them. glb reads: step 0 44 B (rf fills) + 8 B, step 1 76 B.
    Double-buffered rf: max(16, 52/4 = 13) + max(16, 76/4 = 19) = 35 (read-backs
    spread evenly would give 17 + 16 = 33). Single-buffered: the fills are exposed:
    44/4 + max(16, 8/4) + 76/4 + 16 = 11 + 16 + 19 + 16 = 62."""
    layer = Layer("gemm", K=2, C=4, P=4)
    for db, total in ((True, 35), (False, 62)):
        hier = Hierarchy("three", (
            StorageLevel("dram", word_bits=8),
            StorageLevel("glb", capacity_bytes=4096, word_bits=8, read_bytes_per_cycle=4.0,
                         double_buffered=True),
            StorageLevel("rf", capacity_bytes=1024, word_bits=8, double_buffered=db)))
        m = NestMapping.build(hier, temporal={"dram": {"C": 2}, "glb": {"C": 2, "P": 2},
                                              "rf": {"K": 2, "P": 2}},
                              order={"glb": ["C", "P"]})
        r = simulate_hier(layer, hier, m)
        assert r.accesses["glb"]["output"] == {"reads": 32, "writes": 32}
        assert r.accesses == evaluate(layer, hier, m).accesses
        assert (r.total_cycles, r.compute_cycles) == (total, 32)


def _check(layer: Layer, hier: Hierarchy, imperfect: bool, seed: int, level: int) -> None:
    space, g = _rows(layer, hier, imperfect, seed, 6)
    unlimited = _with_bandwidth(hier, lambda i, r, w: (math.inf, math.inf))
    lv = level % len(hier.levels)
    target = hier.levels[lv].name
    halved = _with_bandwidth(hier, lambda i, r, w: (r / 2, w / 2)
                             if hier.nodes[i].name == target else (r, w))
    all_db = _all_double_buffered(hier)
    for i in range(len(g)):
        m = space.to_mapping(g, i)
        ref = evaluate(layer, hier, m)
        r = simulate_hier(layer, hier, m, require_fit=False)
        # (b) traffic is the cost model's, level by level and operand by operand: the
        # batched counts it distributes and the plain-Python path's (a separate
        # implementation)
        assert r.accesses == _batched_accesses(layer, hier, m)
        assert r.accesses == ref.accesses
        assert r.compute_cycles == ref.compute_cycles
        # (c) never below the bandwidth-bound analytic total, single- or double-buffered
        assert r.total_cycles >= ref.total_cycles
        db = simulate_hier(layer, all_db, m, require_fit=False)
        assert db.total_cycles >= evaluate(layer, all_db, m).total_cycles
        assert db.total_cycles <= r.total_cycles        # overlap never costs cycles
        # compute.overlap "always": the timing of every level double-buffered (without
        # halving a capacity); the analytic bound never above the buffering-aware one
        always = replace(hier, compute=replace(hier.compute, overlap="always"))
        assert simulate_hier(layer, always, m, require_fit=False).total_cycles == \
            db.total_cycles
        assert evaluate(layer, always, m).total_cycles == \
            evaluate(layer, all_db, m).total_cycles <= ref.total_cycles
        assert r.stall_cycles == r.total_cycles - r.compute_cycles >= 0
        # the timeline's rows add up
        assert sum(k.count for k in r.timeline) == r.steps
        assert sum(k.count * k.cycles for k in r.timeline) == r.total_cycles
        assert sum(k.count * k.compute_cycles for k in r.timeline) == r.compute_cycles
        # the documented upper bound of the stalls
        arr = evaluate_batch(layer, hier, NestBatch.from_mappings([m]))
        bw = sum(float(arr[f"{lv.name}_cycles"][0]) for lv in hier.levels)
        assert r.total_cycles < r.compute_cycles + 2 * bw + 2 * len(hier.levels) * r.steps
        assert sum(r.stall_cycles_by_level.values()) == r.stall_cycles
        # (a) nothing limits bandwidth -> exactly the cost model's compute cycles
        u = simulate_hier(layer, unlimited, m, require_fit=False)
        assert u.total_cycles == ref.compute_cycles == evaluate(layer, unlimited, m).total_cycles
        assert u.stall_cycles == 0
        # (d) halving one level's bandwidth never lowers cycles
        assert simulate_hier(layer, halved, m, require_fit=False).total_cycles >= r.total_cycles
        # aggregated step kinds == the step-by-step walk
        if r.steps <= 5000:
            w = simulate_hier(layer, hier, m, require_fit=False, aggregate=False)
            assert w == r


@SETTINGS
@given(hierarchies(), layers(), st.booleans(), st.integers(0, 2**31), st.integers(0, 5))
def test_properties(hier: Hierarchy, layer: Layer, imperfect: bool, seed: int,
                    level: int) -> None:
    _check(layer, hier, imperfect, seed, level)


@pytest.mark.slow
@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(hierarchies(), layers(), st.booleans(), st.integers(0, 2**31), st.integers(0, 5))
def test_properties_sweep(hier: Hierarchy, layer: Layer, imperfect: bool, seed: int,
                          level: int) -> None:
    _check(layer, hier, imperfect, seed, level)


def test_large_layer_is_aggregated() -> None:
    """A ResNet-sized conv with 2 x 4 x 8 x 7 x 7 x 3 = 9408 DRAM steps on a 4-level
    hierarchy with two fanouts: timed from at most 3**6 kinds of step, each kind's
    count from its loop states; total cycles (a regression pin of this model, not an
    independent figure) never below the cost model's and with unlimited bandwidth equal
    to its compute cycles, 2 x 64 x 64 x 56 x 56 x 3 x 3 MACs over 64 PEs."""
    layer = Layer("conv", N=2, K=64, C=64, P=56, Q=56, R=3, S=3)
    hier = Hierarchy("big", (
        StorageLevel("dram", word_bits=64, read_bytes_per_cycle=16, write_bytes_per_cycle=16),
        Fanout("cores", size=(4,), dims=(("K",),)),
        StorageLevel("glb", capacity_bytes=1 << 20, word_bits=64, read_bytes_per_cycle=32,
                     double_buffered=True),
        Fanout("pes", size=(4, 4), dims=(("C",), ("K",))),
        StorageLevel("rf", capacity_bytes=4096, word_bits=8)))
    m = NestMapping.build(hier, temporal={"dram": {"N": 2, "K": 4, "C": 8, "P": 7, "Q": 7,
                                                   "R": 3},
                                          "glb": {"C": 2, "P": 8, "Q": 8},
                                          "rf": {"S": 3}},
                          spatial={"cores": [{"K": 4}], "pes": [{"C": 4}, {"K": 4}]},
                          order={"dram": ["N", "K", "C", "P", "Q", "R"]})
    r = simulate_hier(layer, hier, m, require_fit=False)
    assert r.steps == 9408 and r.step_kinds <= 3 ** 6
    assert r.compute_cycles == 2 * 64 * 64 * 56 * 56 * 9 // 64
    assert r.total_cycles >= r.analytic_total_cycles >= r.compute_cycles
    assert r.accesses == _batched_accesses(layer, hier, m)
    u = simulate_hier(layer, _with_bandwidth(hier, lambda i, rb, wb: (math.inf, math.inf)), m,
                      require_fit=False)
    assert u.total_cycles == r.compute_cycles
    assert simulate_hier(layer, hier, m, require_fit=False, aggregate=False) == r


def test_errors_are_one_line() -> None:
    hier = _two(1.0, True)
    small = Hierarchy("small", (hier.nodes[0], replace(hier.nodes[1], capacity_bytes=8)))
    m = NestMapping.build(hier, temporal={"dram": {"K": 2}, "buf": {"K": 2, "C": 4, "P": 4}})
    with pytest.raises(HierCycleError, match=r"do not fit 'small'.*require_fit=False"):
        simulate_hier(GEMM, small, m)
    assert simulate_hier(GEMM, small, m, require_fit=False).legal is False
    short = NestMapping.build(hier, temporal={"dram": {"K": 2}, "buf": {"C": 4, "P": 4}})
    with pytest.raises(MappingError, match="factors of K multiply to 2"):
        simulate_hier(GEMM, hier, short)


@pytest.mark.parametrize("spec", ["edge_8x8_ws", "edge_npu_16x16_ws", "os_32x32",
                                  "eyeriss_12x14_rs"])
def test_shipped_three_level_specs(spec: str) -> None:
    """The shipped 3-level specs as hierarchies (from_accelerator) with the default
    mapping of every fourth ResNet-18 layer, im2col-lowered where the dataflow lowers
    (``lowered_from``): the batched counts, the bound, and unlimited bandwidth giving
    exactly the compute cycles. (Some default mappings overflow a level under the
    hierarchy's capacity rule; they are timed with require_fit=False.)"""
    accel = load_accelerator(spec)
    hier = from_accelerator(accel)
    df = get_dataflow(accel.dataflow)
    unlimited = _with_bandwidth(hier, lambda i, r, w: (math.inf, math.inf))
    for layer in [x for x in zoo.load("resnet18").layers() if x.macs > 0][::4]:
        view = df.map_view(layer)
        low = layer if view is not layer else None
        m = NestMapping.from_mapping(default_mapping(layer, accel), len(accel.glb))
        r = simulate_hier(view, hier, m, lowered_from=low, require_fit=False)
        arr = evaluate_batch(view, hier, NestBatch.from_mappings([m]), lowered_from=low)
        assert r.accesses == {lv.name: {o: {k: int(arr[f"{lv.name}_{o}_{k}"][0])
                                            for k in ("reads", "writes")}
                                        for o in lv.keeps} for lv in hier.levels}
        assert r.total_cycles >= r.analytic_total_cycles == int(arr["total_cycles"][0])
        u = simulate_hier(view, unlimited, m, lowered_from=low, require_fit=False)
        assert u.total_cycles == r.compute_cycles == int(arr["compute_cycles"][0])


def _brute_two_level(layer: Layer, hier: Hierarchy, m: NestMapping) -> int:
    """The timeline of a DRAM + buffer hierarchy (buffer bandwidth unlimited, one
    instance, exact factors) walked loop by loop without the model's stationarity
    rule: at each DRAM step a tile whose index ranges changed moves whole -- weights
    and inputs read from DRAM; an output tile drained at the start of its visit (the
    model's convention) at accumulator width, or output width on its last visit, and
    read back at accumulator width when visited before -- and the step takes
    ceil(max(read_bytes / read_bw, write_bytes / write_bw)) DRAM cycles added to
    (single-buffered) or overlapped with (double-buffered) its compute."""
    dram, buf = hier.levels
    t0, t1 = m.temporal
    loops = [(MAP_DIMS.index(d), t0[MAP_DIMS.index(d)]) for d in m.order[0]]
    acc = hier.compute.accumulator_bits
    bits = {"weight": layer.precision.weight_bits, "input": layer.precision.input_bits}
    size = {o: math.prod(t1[i] for i, d in enumerate(MAP_DIMS) if d in RELEVANT[o])
            for o in OPERANDS}
    compute = math.prod(t1)
    prev: dict[str, tuple] = {}
    plan = []                                  # per step: (reads, output visit or None)
    last_visit: dict[tuple, int] = {}
    for k, idx in enumerate(itertools.product(*[range(f) for _, f in loops])):
        j = dict(zip([d for d, _ in loops], idx))
        rd, visit = 0, None
        for o in OPERANDS:
            key = tuple(j[i] for i, d in enumerate(MAP_DIMS) if d in RELEVANT[o])
            if prev.get(o) != key:
                prev[o] = key
                if o == "output":
                    visit = key
                    last_visit[key] = k
                else:
                    rd += size[o] * bits[o]
        plan.append((rd, visit))

    def t(b: int, bw: float) -> Fraction:
        return Fraction(0) if math.isinf(bw) or not b else Fraction(b, 8) / Fraction(bw)
    seen: set = set()
    total = 0
    for k, (rd, visit) in enumerate(plan):
        wr = 0
        if visit is not None:
            final = last_visit[visit] == k
            wr = size["output"] * (layer.precision.output_bits if final else acc)
            if visit in seen:
                rd += size["output"] * acc
            seen.add(visit)
        busy = math.ceil(max(t(rd, dram.read_bytes_per_cycle),
                             t(wr, dram.write_bytes_per_cycle)))
        total += max(compute, busy) if buf.double_buffered else compute + busy
    return total


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_two_level_equals_brute_force_walk(data: st.DataObject) -> None:
    dims = ("K", "C", "P", "Q", "N")
    split = {d: (data.draw(st.sampled_from([1, 2, 3])), data.draw(st.sampled_from([1, 2])))
             for d in dims}
    layer = Layer("b", **{d: a * b for d, (a, b) in split.items()})
    bws = [0.25, 0.5, 1.0, 3.0, math.inf]
    hier = Hierarchy("two", (
        StorageLevel("dram", word_bits=8, read_bytes_per_cycle=data.draw(st.sampled_from(bws)),
                     write_bytes_per_cycle=data.draw(st.sampled_from(bws))),
        StorageLevel("buf", capacity_bytes=1 << 16, word_bits=8,
                     double_buffered=data.draw(st.booleans()))))
    order = data.draw(st.permutations(dims))
    m = NestMapping.build(hier, temporal={"dram": {d: a for d, (a, _) in split.items()},
                                          "buf": {d: b for d, (_, b) in split.items()}},
                          order={"dram": list(order)})
    assert simulate_hier(layer, hier, m).total_cycles == _brute_two_level(layer, hier, m)
