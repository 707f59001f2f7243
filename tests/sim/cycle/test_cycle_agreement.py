"""The cycle-approximate model against the analytic model on random layers, arrays,
dataflows (ws/os/is/rs), both timings and random legal mappings (hypothesis).

* The demand sums to the analytic model's traffic and compute cycles.
* Unlimited DRAM/GLB bandwidth (no stalls possible), dense tensors: the totals are equal.
* Constrained bandwidth, every GLB double-buffered or none: cycle >= analytic.
* Mixed double/single buffering: the analytic model adds *all* DRAM time to compute
  (``busy + dram``) while the cycle model still overlaps the double-buffered operands'
  transfers, so only the true lower bound ``max(compute, GLB, DRAM)`` holds there; the
  analytic rule is pessimistic (pinned in test_cycle_optimism.py).
"""

from __future__ import annotations

import math
from dataclasses import replace

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from mapping_strategies import mappings

from dataflows.dataflow import OPERANDS, get_dataflow
from dataflows.layer import Layer, conv, fc, gemm
from dataflows.mapping import Mapping
from sim.analytic import CostError, evaluate
from sim.cycle import CAUSES, build_demand, simulate_cycle
from sim.result import Result
from sim.spec import Accelerator, Buffer, PEConfig

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@st.composite
def layers(draw: st.DrawFn, convs_only: bool = False) -> Layer:
    """Small convolutions (stride, dilation, padding, groups, depthwise), GEMMs and FCs."""
    if convs_only or draw(st.booleans()):
        kernel = draw(st.integers(1, 3))
        dil = draw(st.integers(1, 2)) if kernel > 1 else 1
        stride = draw(st.integers(1, 3))
        pad = draw(st.integers(0, min(1, kernel - 1)))
        out = draw(st.integers(1, 5))
        in_hw = max(1, (out - 1) * stride + dil * (kernel - 1) + 1 - 2 * pad)
        groups = draw(st.sampled_from([1, 1, 2]))
        in_ch = groups * draw(st.integers(1, 3))
        out_ch = groups * draw(st.integers(1, 4))
        return conv("cv", in_ch, out_ch, in_hw, kernel, stride, pad, dil, groups=groups,
                    batch=draw(st.integers(1, 2)))
    if draw(st.booleans()):
        return gemm("mm", M=draw(st.integers(1, 24)), N=draw(st.integers(1, 24)),
                    K=draw(st.integers(1, 24)))
    return fc("fc", draw(st.integers(1, 24)), draw(st.integers(1, 24)),
              batch=draw(st.integers(1, 4)))


@st.composite
def accelerators(draw: st.DrawFn, dataflow: str, buffering: str) -> Accelerator:
    """``buffering``: 'double' (every GLB), 'single' (none) or 'mixed'."""
    bw = st.sampled_from([math.inf, 1.0, 4.0, 16.0, 0.5])
    dbs = {"double": [True, True], "single": [False, False], "mixed": [True, False]}[buffering]
    if buffering != "mixed" and draw(st.booleans()):
        glb: tuple[Buffer, ...] = (Buffer("glb", capacity_bytes=draw(st.sampled_from(
            [1024, 8192, 65536])), double_buffered=dbs[0], read_bytes_per_cycle=draw(bw),
            write_bytes_per_cycle=draw(bw)),)
    else:
        first = draw(st.booleans())
        glb = (Buffer("wbuf", operands=("weight",), capacity_bytes=8192,
                      double_buffered=dbs[0] if first else dbs[1],
                      read_bytes_per_cycle=draw(bw)),
               Buffer("iobuf", operands=("input", "output"), capacity_bytes=65536,
                      double_buffered=dbs[1] if first else dbs[0],
                      read_bytes_per_cycle=draw(bw), write_bytes_per_cycle=draw(bw)))
    return Accelerator(
        name="hyp", rows=draw(st.integers(1, 8)), cols=draw(st.integers(1, 8)),
        dataflow=dataflow, pe=PEConfig(product_register=draw(st.booleans())),
        rf=Buffer("rf", capacity_bytes=16, word_bits=8), glb=glb,
        dram=Buffer("dram", read_bytes_per_cycle=draw(bw), write_bytes_per_cycle=draw(bw)))


@st.composite
def cases(draw: st.DrawFn, buffering: str = "double") -> tuple[Layer, Accelerator, Mapping, str]:
    """(layer, accelerator, mapping, timing); ``buffering`` 'any' draws one."""
    if buffering == "any":
        buffering = draw(st.sampled_from(["double", "single", "mixed"]))
    dataflow = draw(st.sampled_from(["ws", "os", "is", "rs"]))
    layer = draw(layers(convs_only=dataflow == "rs"))
    accel = draw(accelerators(dataflow, buffering))
    timing = "native" if dataflow == "rs" else draw(st.sampled_from(["native", "scalesim"]))
    if timing == "scalesim" and dataflow == "os" and accel.rows == accel.cols == 1:
        accel = replace(accel, cols=2)   # SCALE-Sim's 1x1 OS corner (see test_analytic)
    return layer, accel, draw(mappings(layer, accel)), timing


def unlimited(accel: Accelerator) -> Accelerator:
    """``accel`` with every GLB port and the DRAM at unlimited bandwidth."""
    inf = {"read_bytes_per_cycle": math.inf, "write_bytes_per_cycle": math.inf}
    return replace(accel, glb=tuple(replace(b, **inf) for b in accel.glb),
                   dram=replace(accel.dram, **inf))


def _analytic(layer: Layer, accel: Accelerator, mapping: Mapping, timing: str) -> Result:
    try:
        return evaluate(layer, accel, mapping, timing)
    except CostError:
        assume(False)
        raise


def _lower_bound(accel: Accelerator, res: Result) -> int:
    """max(compute, slowest GLB port, slowest DRAM channel) from the analytic traffic."""
    by = res.bytes
    glb = 0.0
    for buf in accel.glb:
        rb = sum(by["glb"][op]["reads"] for op in buf.operands)
        wb = sum(by["glb"][op]["writes"] for op in buf.operands)
        glb = max(glb, rb / buf.read_bytes_per_cycle, wb / buf.write_bytes_per_cycle)
    dram = max(sum(by["dram"][op]["reads"] for op in OPERANDS) / accel.dram.read_bytes_per_cycle,
               sum(by["dram"][op]["writes"] for op in OPERANDS) / accel.dram.write_bytes_per_cycle)
    return max(res.compute_cycles, math.ceil(glb), math.ceil(dram))


@SETTINGS
@given(case=cases())
def test_demand_sums_to_the_analytic_traffic(case: tuple) -> None:
    layer, accel, mapping, timing = case
    res = _analytic(layer, accel, mapping, timing)
    d = build_demand(layer, accel, mapping, timing)
    assert d.compute_cycles == res.compute_cycles
    assert int(d.new_tile.sum()) == res.tiles
    assert int(d.stream_cycles.sum()) == res.iterations
    acc, nbytes = res.accesses, res.bytes
    for op in OPERANDS:
        wb = acc["dram"][op]["writes"]         # outputs leaving the GLB for DRAM
        assert int(d.glb_reads[op].sum()) == acc["glb"][op]["reads"] - wb
        assert int(d.glb_writes[op].sum()) + int(d.dram_reads[op].sum()) == \
            acc["glb"][op]["writes"]
        assert int(d.dram_reads[op].sum()) == acc["dram"][op]["reads"]
        assert int(d.dram_writes[op].sum()) == wb
        assert int(d.dram_read_bits(op).sum()) // 8 == nbytes["dram"][op]["reads"]
    assert int(d.dram_write_bits().sum()) // 8 == nbytes["dram"]["output"]["writes"]
    assert int(d.final_writes.sum()) == get_dataflow(accel.dataflow).map_view(layer).output_elems


@SETTINGS
@given(case=cases("any"))
def test_no_stalls_equals_analytic_exactly(case: tuple) -> None:
    layer, accel, mapping, timing = case
    accel = unlimited(accel)
    res = _analytic(layer, accel, mapping, timing)
    run = simulate_cycle(layer, accel, mapping, timing)
    cyc = run.result
    assert cyc.stall_cycles == 0 == res.stall_cycles
    assert (cyc.total_cycles, cyc.compute_cycles) == (res.total_cycles, res.compute_cycles)
    assert cyc.utilization == res.utilization
    assert replace(cyc, fidelity="analytic") == res        # traffic and energy are shared
    assert cyc.fidelity == "cycle"
    bd = run.breakdown
    assert len(bd) == int(run.breakdown.columns["pass"][-1]) + 1
    assert int((bd.columns["end_cycle"] - bd.columns["start_cycle"]).sum()) == \
        res.compute_cycles - build_demand(layer, accel, mapping, timing).layer_offset_cycles


@SETTINGS
@given(case=cases("double"))
def test_double_buffered_never_faster_than_analytic(case: tuple) -> None:
    _check_bounded(*case)


@SETTINGS
@given(case=cases("single"))
def test_single_buffered_never_faster_than_analytic(case: tuple) -> None:
    _check_bounded(*case)


def _check_bounded(layer: Layer, accel: Accelerator, mapping: Mapping, timing: str) -> None:
    """cycle >= analytic. In SCALE-Sim timing both subtract SCALE-Sim's -1 per group
    (its cycle count is the index of the last cycle): the analytic model from compute
    only, the cycle model from its whole timeline (SCALE-Sim's USER stalls sit inside
    that index too), so a memory-bound layer may come out up to G cycles lower."""
    res = _analytic(layer, accel, mapping, timing)
    run = simulate_cycle(layer, accel, mapping, timing)
    cyc = run.result
    offset = build_demand(layer, accel, mapping, timing).layer_offset_cycles
    assert cyc.total_cycles >= res.total_cycles + offset
    if timing == "native":
        assert cyc.total_cycles >= res.total_cycles
    assert cyc.compute_cycles == res.compute_cycles
    assert cyc.total_cycles == cyc.compute_cycles + cyc.stall_cycles
    assert sum(run.stall_by_cause().values()) == cyc.stall_cycles
    assert set(run.stall_by_cause()) == set(CAUSES)
    assert cyc.energy_pj == res.energy_pj and cyc.accesses == res.accesses


@SETTINGS
@given(case=cases("mixed"))
def test_mixed_buffering_above_the_true_lower_bound(case: tuple) -> None:
    layer, accel, mapping, timing = case
    res = _analytic(layer, accel, mapping, timing)
    cyc = simulate_cycle(layer, accel, mapping, timing).result
    offset = build_demand(layer, accel, mapping, timing).layer_offset_cycles
    assert cyc.total_cycles >= _lower_bound(accel, res) + min(0, offset)
    assert cyc.total_cycles >= res.compute_cycles
