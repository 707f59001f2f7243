"""Quantization-aware PE datapaths (sim.datapath): fixed, bit-fusion, bit-serial.

Tiny layers on 4x4 arrays, native timing, unlimited bandwidth unless stated, so the
compute cycles are ``tiles * 11 + iterations`` (overhead ``2R + C - 1 = 11``) and every
number below is computed by hand.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dataflows.layer import Precision, conv, gemm
from dataflows.mapping import Mapping, MappingError
from dataflows.network import Network
from hdl.params import HdlParams
from mapper.cli import main
from mapper.network_map import map_network
from sim import evaluate, load_accelerator, simulate
from sim.area import ADD32_UM2, MULT32_UM2, REG_BIT_UM2, pe_datapath_um2
from sim.cycle.scalesim import ScaleSimMemory
from sim.cycle.supply import BufferedMemory
from sim.datapath import (DatapathError, DatapathLayer, check_accumulator, plan_datapath,
                          required_accumulator_bits)
from sim.default_mapping import default_mapping
from sim.energy import EnergyTable
from sim.spec import Accelerator, Buffer, PEConfig


def _accel(dataflow: str, mode: str, bits: int = 8, acc: int = 32) -> Accelerator:
    return Accelerator("t4", 4, 4, dataflow, pe=PEConfig(bits, acc, mode=mode),
                       rf=Buffer("rf", capacity_bytes=4, word_bits=8))


def _gemm(bits: int, wbits: int | None = None) -> object:
    # M = 8 pixels (Sr), reduction T = 64, N = 4 filters
    return gemm("g", 8, 4, 64, precision=Precision(bits, bits if wbits is None else wbits, 8))


def _both(layer: object, accel: Accelerator) -> tuple:
    a = simulate(layer, accel).layers[0]
    c = simulate(layer, accel, fidelity="cycle").layers[0]
    return a, c


# -- bit-fusion: exact cycles ----------------------------------------------------------
# WS: rows = T, cols = N, stream = Sr = 8. 8-bit: 16 tiles, 16*8 wavefronts;
#     4-bit (f = 4): T' = 16 -> 4 tiles; 2-bit (f = 16): T' = 4 -> 1 tile.
# OS: rows = Sr (2 folds), cols = N, stream = T: 2 tiles always, stream 128 -> 32 -> 8
#     (4x / 16x fewer streaming cycles, fill/drain 2 * 11 unchanged).
# IS: rows = T, cols = Sr (2 folds), stream = N = 4: tiles 32 -> 8 -> 2.
@pytest.mark.parametrize("dataflow, expected", [
    ("ws", {8: (16, 128), 4: (4, 32), 2: (1, 8)}),
    ("os", {8: (2, 128), 4: (2, 32), 2: (2, 8)}),
    ("is", {8: (32, 128), 4: (8, 32), 2: (2, 8)}),
])
def test_bitfusion_cycles_exact(dataflow: str, expected: dict) -> None:
    accel = _accel(dataflow, "bitfusion")
    for bits, (tiles, iterations) in expected.items():
        a, c = _both(_gemm(bits), accel)
        assert (a.tiles, a.iterations) == (tiles, iterations)
        assert a.compute_cycles == tiles * 11 + iterations
        assert a.stall_cycles == 0 and a.macs == 8 * 4 * 64
        # analytic == cycle fidelity on the transformed layer (nothing stalls)
        assert (c.compute_cycles, c.total_cycles, c.macs, c.energy_pj) == \
            (a.compute_cycles, a.total_cycles, a.macs, a.energy_pj)
        assert c.utilization == a.utilization


def test_bitfusion_four_x_throughput_minus_fill_drain() -> None:
    accel = _accel("os", "bitfusion")
    r8, r4, r2 = (simulate(_gemm(b), accel).layers[0] for b in (8, 4, 2))
    fill_drain = 2 * 11
    assert r8.compute_cycles - fill_drain == 4 * (r4.compute_cycles - fill_drain) \
        == 16 * (r2.compute_cycles - fill_drain)
    assert (r8.compute_cycles, r4.compute_cycles, r2.compute_cycles) == (150, 54, 30)
    # utilization against the peak at each precision: 2048 MACs over 16 PEs x f lanes
    assert r8.utilization == pytest.approx(2048 / (150 * 16))
    assert r4.utilization == pytest.approx(2048 / (54 * 16 * 4))
    assert r2.utilization == pytest.approx(2048 / (30 * 16 * 16))


def test_fixed_mode_gains_nothing_from_narrow_operands() -> None:
    accel = _accel("ws", "fixed")
    cycles = {b: simulate(_gemm(b), accel).layers[0].compute_cycles for b in (8, 4, 2)}
    assert cycles == {8: 304, 4: 304, 2: 304}


# -- bit-serial ------------------------------------------------------------------------
@pytest.mark.parametrize("dataflow, base", [("ws", 304), ("os", 150), ("is", 480)])
def test_bitserial_cycles_scale_with_input_bits(dataflow: str, base: int) -> None:
    accel = _accel(dataflow, "bitserial")
    for bits in (8, 4, 2):
        a, c = _both(_gemm(bits, wbits=8), accel)
        assert a.compute_cycles == bits * base == c.compute_cycles
        assert a.total_cycles == c.total_cycles == bits * base
        # against the bit-serial peak (16 PEs / bits MACs per cycle): = the 1-bit figure
        assert a.utilization == pytest.approx(2048 * bits / (bits * base * 16))
    # the weight's width buys nothing: the input is the serial operand
    assert simulate(_gemm(8, wbits=2), accel).layers[0].compute_cycles == 8 * base


def test_bitserial_stalls_count_in_whole_steps() -> None:
    # DRAM 3 B/cycle, no double buffering: the analytic model adds DRAM time to compute.
    slow = Buffer("dram", word_bits=64, read_bytes_per_cycle=3, write_bytes_per_cycle=3)
    accel = replace(_accel("ws", "bitserial"), dram=slow)
    layer = _gemm(4, wbits=8)
    a, c = _both(layer, accel)
    # DRAM reads: weights 4*64 (8 bit) + inputs 8*64/2 (4 bit) = 512 bytes (writes: 32)
    # at 3 * 4 bytes per 4-cycle step: ceil(512 / 12) = 43 steps = 172 cycles (a fixed PE
    # would stall ceil(512 / 3) = 171); compute 4 * 304.
    assert a.compute_cycles == 1216 and a.stall_cycles == 172
    assert c.total_cycles >= a.total_cycles and c.total_cycles % 4 == 0
    assert a.bytes["dram"]["weight"]["reads"] == 256 and a.bytes["dram"]["input"]["reads"] == 256


# -- energy per MAC ------------------------------------------------------------------------
@pytest.mark.parametrize("mode, bits, wbits, per_mac", [
    ("fixed", 8, 8, 0.2 + 0.1),                  # 8-bit multiply + 32-bit add [H14]
    ("fixed", 4, 4, 0.2 + 0.1),                  # sign-extended into the 8-bit MAC
    ("bitfusion", 4, 4, 0.05 + 0.1 / 4),         # 4x4 product; one acc add per 4 MACs
    ("bitfusion", 2, 2, 0.0125 + 0.1 / 16),
    ("bitfusion", 8, 4, 0.2 / 2 + 0.1 / 2),      # 8x4 = half an 8x8 array, f = 2
    ("bitserial", 8, 8, 8 * 8 * 0.1 / 32 + 0.1),  # 8 shift-adds of the 8-bit adder
    ("bitserial", 4, 8, 4 * 8 * 0.1 / 32 + 0.1),
    ("bitserial", 2, 2, 2 * 8 * 0.1 / 32 + 0.1),
])
def test_mac_energy_per_mode(mode: str, bits: int, wbits: int, per_mac: float) -> None:
    res = simulate(_gemm(bits, wbits), _accel("ws", mode)).layers[0]
    assert res.energy_pj_by_level["mac"] == pytest.approx(2048 * per_mac, rel=1e-12)


def test_energy_table_product_and_add() -> None:
    table = EnergyTable()
    assert table.product_pj(4, 4) == table.mult_pj[4] == 0.05
    assert table.product_pj(8, 2) == pytest.approx(0.2 / 4)
    assert table.add_pj(32) == pytest.approx(0.1)


def test_storage_and_traffic_follow_stored_bits_in_every_mode() -> None:
    layer = _gemm(4)
    for mode in ("fixed", "bitfusion", "bitserial"):
        res = simulate(layer, _accel("ws", mode)).layers[0]
        # each 4-bit weight and input reaches the GLB from DRAM once: 64*4 and 8*64 halves
        assert res.bytes["dram"]["weight"]["reads"] == 4 * 64 // 2
        assert res.bytes["dram"]["input"]["reads"] == 8 * 64 // 2
        assert res.bytes["dram"]["output"]["writes"] == 8 * 4


# -- padding lanes and depthwise ---------------------------------------------------------
def test_partial_fusion_pads_lanes_and_counts_them_idle() -> None:
    layer = gemm("p", 8, 4, 6, precision=Precision(4, 4, 8))       # C = 6, f = 4
    plan = plan_datapath(layer, _accel("os", "bitfusion"))
    assert isinstance(plan.layer, DatapathLayer)
    assert (plan.layer.C, plan.layer.lanes, plan.layer.precision.input_bits) == (2, 4, 16)
    res = simulate(layer, _accel("os", "bitfusion")).layers[0]
    # OS: 2 row folds x (11 + 2 fused steps)
    assert res.compute_cycles == 2 * 11 + 2 * 2 and res.macs == 8 * 4 * 6
    assert res.utilization == pytest.approx(192 / (26 * 16 * 4))


def test_depthwise_gets_no_fusion_gain() -> None:
    dw = conv("dw", 8, 8, 6, 3, padding=1, groups=8, precision=Precision(4, 4, 8))
    fused = simulate(dw, _accel("ws", "bitfusion")).layers[0]
    fixed = simulate(dw, _accel("ws", "fixed")).layers[0]
    assert plan_datapath(dw, _accel("ws", "bitfusion")).layer.C == 8      # C/G = 1 < f
    assert fused.compute_cycles == fixed.compute_cycles
    assert fused.utilization == pytest.approx(fixed.utilization / 4)


# -- accumulator ---------------------------------------------------------------------------
def test_required_accumulator_bits() -> None:
    assert required_accumulator_bits(_gemm(8)) == 8 + 8 + 6
    assert required_accumulator_bits(conv("c", 512, 512, 7, 3, padding=1)) == 16 + 13
    assert required_accumulator_bits(gemm("one", 2, 2, 1)) == 16


def test_accumulator_overflow_is_a_one_line_error() -> None:
    layer = gemm("big", 8, 4, 4096)                                   # needs 8 + 8 + 12
    accel = _accel("ws", "fixed", bits=8, acc=24)
    msg = (r"^layer 'big': pe\.accumulator_bits 24 would overflow: 8-bit inputs x 8-bit "
           r"weights summed over 4096 terms need 28 bits \(8 \+ 8 \+ ceil\(log2 4096\)\); "
           r"set pe\.accumulator_bits >= 28 or quantize the layer$")
    with pytest.raises(DatapathError, match=msg):
        simulate(layer, accel)
    with pytest.raises(DatapathError, match=msg):
        map_network(Network.chain("n", [layer]), accel, "random", max_evals=10,
                    progress=False)
    check_accumulator(layer.with_precision(input_bits=4), accel)      # 4 + 8 + 12 = 24 fits
    # the explicit opt-out for reproducing peers with narrow partial sums (ZigZag)
    out = map_network(Network.chain("n", [layer]), accel, "random", max_evals=10,
                      progress=False, check_accumulator=False)
    assert out.result.macs == layer.macs


# -- errors --------------------------------------------------------------------------------
def test_mode_errors() -> None:
    serial = _accel("ws", "bitserial")
    with pytest.raises(DatapathError, match=r"^pe\.mode 'bitserial' needs timing 'native', "
                                            r"not 'scalesim'"):
        simulate(_gemm(8), serial, timing="scalesim")
    with pytest.raises(DatapathError, match=r"^pe\.mode 'bitserial' runs with the "
                                            r"BufferedMemory memory model only"):
        simulate(_gemm(8), serial, fidelity="cycle",
                 memory=ScaleSimMemory())
    with pytest.raises(DatapathError, match=r"^layer 'g' needs 16-bit operands but 't4' has "
                                            r"pe\.operand_bits 8"):
        simulate(_gemm(16), _accel("ws", "bitfusion"))
    # evaluate() on a plain layer cannot silently cost a bit-fusion PE as fixed-width
    fused = _accel("ws", "bitfusion")
    layer = _gemm(4)
    with pytest.raises(DatapathError, match=r"^layer 'g': pe\.mode 'bitfusion' needs the "
                                            r"datapath transform"):
        evaluate(layer, fused, default_mapping(layer, _accel("ws", "fixed")))


def test_bitserial_memory_latency_in_steps() -> None:
    plan = plan_datapath(_gemm(4, wbits=8), _accel("ws", "bitserial"))
    assert plan.memory(BufferedMemory(dram_latency_cycles=10)).dram_latency_cycles == 3
    assert plan.accel.dram.read_bytes_per_cycle == float("inf")


def test_rtl_builds_each_pe_mode_as_its_own_engine_kind() -> None:
    """Each pe.mode is built by its own generator (hdl.engines): the kind travels in the
    RTL parameters, so no mode is silently built as the dense fixed-width engine."""
    base = load_accelerator("edge_8x8_ws")
    assert HdlParams.from_accelerator(base).engine == "dense"
    for mode in ("bitfusion", "bitserial"):
        params = HdlParams.from_accelerator(replace(base, pe=replace(base.pe, mode=mode)))
        assert params.engine == mode and params.operand_bits == 8


# -- area ----------------------------------------------------------------------------------
def test_pe_area_per_mode() -> None:
    fixed = pe_datapath_um2(8, 32, False)
    serial = pe_datapath_um2(8, 32, False, "bitserial")
    fusion = pe_datapath_um2(8, 32, False, "bitfusion")
    assert serial == pytest.approx(ADD32_UM2 * 8 / 32 + ADD32_UM2 + (16 + 32) * REG_BIT_UM2)
    # 16 bricks = the 8x8 multiplier, 15 tree nodes of one 8-bit adder, 32-bit operand regs
    assert fusion == pytest.approx(MULT32_UM2 / 16 + 15 * ADD32_UM2 / 4 + ADD32_UM2
                                   + (64 + 32) * REG_BIT_UM2)
    assert serial < fixed < fusion


# -- mapper and CLI ------------------------------------------------------------------------
def test_mapper_maps_a_fused_layer() -> None:
    layer = gemm("m", 16, 8, 64, precision=Precision(4, 4, 8))
    accel = _accel("ws", "bitfusion")
    out = map_network(Network.chain("n", [layer]), accel, "exhaustive", max_evals=10**6,
                      progress=False)
    (res,) = out.result.layers
    assert res.macs == layer.macs and res.layer == "m"
    # the chosen mapping is the timing layer's (C counts fused 16-bit words: 64 / 4)
    mapping = out.searches[0].mapping
    assert isinstance(mapping, Mapping)
    again = simulate(layer, accel, mapping=mapping).layers[0]
    assert (again.total_cycles, again.energy_pj, again.utilization) == \
        (res.total_cycles, res.energy_pj, res.utilization)
    # never slower than the default mapping of the same fused layer
    assert res.total_cycles <= simulate(layer, accel).layers[0].total_cycles
    # ... so it does not cover the 8-bit layer's 64 channels (f = 1 there)
    with pytest.raises(MappingError, match=r"factors of C multiply to 16, which does not "
                                           r"cover its bound 64$"):
        simulate(layer.with_precision(input_bits=8, weight_bits=8), accel, mapping=mapping)


def test_cli_simulate_bitfusion_spec(capsys: pytest.CaptureFixture[str],
                                     tmp_path: Path) -> None:
    spec = tmp_path / "fusion.yaml"
    spec.write_text(
        "name: fusion_8x8\ndataflow: ws\narray: {rows: 8, cols: 8}\nclock_mhz: 200\n"
        "pe: {operand_bits: 16, accumulator_bits: 32, mode: bitfusion}\n"
        "rf: {capacity_bytes: 8, word_bits: 8}\n"
        "glb:\n  - {name: glb, operands: [weight, input, output], capacity_bytes: 65536,"
        " word_bits: 64}\n"
        "dram: {word_bits: 64}\n")
    fixed = tmp_path / "fixed.yaml"
    fixed.write_text(spec.read_text().replace("bitfusion", "fixed"))
    docs = {}
    for name, path in (("fusion", spec), ("fixed", fixed)):
        rc = main(["simulate", "--network", "resnet18", "--arch", str(path),
                   "--out", str(tmp_path / name)])
        _, err = capsys.readouterr()
        assert (rc, err) == (0, "")
        docs[name] = json.loads((tmp_path / name / "result.json").read_text())
    fu, fx = docs["fusion"], docs["fixed"]
    assert fu["totals"]["macs"] == fx["totals"]["macs"] == 1_814_073_344
    # 8-bit layers on a 16-bit fusion unit: f = 4. The first conv has C = 3 < 4 (one
    # fused word per pixel instead of three channels); every other layer has C % 4 == 0.
    first_fu, first_fx = fu["layers"][0], fx["layers"][0]
    assert first_fu["macs"] == first_fx["macs"]
    for lu, lx in zip(fu["layers"][1:], fx["layers"][1:]):
        assert lu["macs"] == lx["macs"]
        assert lu["compute_cycles"] < lx["compute_cycles"]
    assert fu["totals"]["compute_cycles"] < fx["totals"]["compute_cycles"] / 3


# -- property: both fidelities agree on timing layers; bit-serial = s x fixed -------------
@st.composite
def _cases(draw: st.DrawFn) -> tuple:
    dataflow = draw(st.sampled_from(["ws", "os", "is", "rs"]))
    bits = Precision(draw(st.sampled_from([2, 4, 8])), draw(st.sampled_from([2, 4, 8])), 8)
    if dataflow == "rs" or draw(st.booleans()):
        groups = draw(st.sampled_from([1, 1, 2]))
        layer = conv("c", groups * draw(st.integers(1, 20)), groups * draw(st.integers(1, 4)),
                     draw(st.integers(3, 7)), draw(st.integers(1, 3)),
                     stride=draw(st.integers(1, 2)), groups=groups, precision=bits)
    else:
        layer = gemm("g", draw(st.integers(1, 12)), draw(st.integers(1, 12)),
                     draw(st.integers(1, 40)), precision=bits)
    accel = Accelerator("h", draw(st.integers(1, 6)), draw(st.integers(1, 6)), dataflow,
                        pe=PEConfig(8, 32, draw(st.booleans())),
                        rf=Buffer("rf", capacity_bytes=64, word_bits=8))
    return layer, accel


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=_cases())
def test_fidelities_agree_and_modes_scale(case: tuple) -> None:
    layer, base = case
    fixed = simulate(layer, base).layers[0]
    for mode in ("bitfusion", "bitserial"):
        accel = replace(base, pe=replace(base.pe, mode=mode))
        a, c = _both(layer, accel)
        assert (a.compute_cycles, a.total_cycles, a.energy_pj, a.macs) == \
            (c.compute_cycles, c.total_cycles, c.energy_pj, c.macs)
        assert a.macs == layer.macs and 0 < a.utilization <= 1 + 1e-12
        assert a.stall_cycles == 0
        if mode == "bitserial":
            assert a.compute_cycles == layer.precision.input_bits * fixed.compute_cycles
        else:
            assert a.compute_cycles <= fixed.compute_cycles


def test_bitserial_trace_is_in_cycles(tmp_path: Path) -> None:
    accel = _accel("ws", "bitserial")
    trace = tmp_path / "t.csv"
    res = simulate(_gemm(4, wbits=8), accel, fidelity="cycle", trace=trace).layers[0]
    rows = trace.read_text().splitlines()[1:]
    header = trace.read_text().splitlines()[0].split(",")
    cols = {name: [int(float(r.split(",")[header.index(name)])) for r in rows]
            for name in ("start_cycle", "end_cycle", "fill_cycles", "stream_cycles",
                         "drain_cycles")}
    # 16 weight tiles (T = 64 on 4 rows), each in 4-cycle steps: fill 4 rows, stream 8
    # pixels, drain 4 + 4 - 1
    assert len(rows) == 16 and cols["end_cycle"][-1] == res.total_cycles == 4 * 304
    assert set(cols["fill_cycles"]) == {4 * 4} and set(cols["stream_cycles"]) == {4 * 8}
    assert set(cols["drain_cycles"]) == {4 * 7}
    assert cols["start_cycle"][1:] == cols["end_cycle"][:-1]


def test_cli_map_bitfusion(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    spec = tmp_path / "fusion.yaml"
    spec.write_text(
        "name: fusion_4x4\ndataflow: os\narray: {rows: 4, cols: 4}\n"
        "pe: {operand_bits: 16, accumulator_bits: 40, mode: bitfusion}\n"
        "rf: {capacity_bytes: 8, word_bits: 8}\n"
        "glb:\n  - {name: glb, operands: [weight, input, output], capacity_bytes: 65536,"
        " word_bits: 64}\n"
        "dram: {word_bits: 64}\n")
    topo = tmp_path / "t.csv"
    topo.write_text("name, M, N, K,\nmm, 8, 4, 64,\n")
    rc = main(["map", "--topology", str(topo), "--gemm", "--arch", str(spec), "--strategy",
               "exhaustive", "--max-evals", "100000", "--out", str(tmp_path / "o")])
    _, err = capsys.readouterr()
    assert (rc, err) == (0, "")
    (layer,) = json.loads((tmp_path / "o" / "result.json").read_text())["layers"]
    # 8-bit operands on a 16-bit fusion unit: f = 4, so the 64-deep reduction streams as
    # 16 fused steps; OS keeps 8 x 4 outputs in 2 row folds of the 4x4 array.
    assert layer["macs"] == 8 * 4 * 64
    assert layer["compute_cycles"] == 2 * 11 + 2 * 16


def test_network_utilization_is_against_the_peak_at_each_precision() -> None:
    net = Network.chain("n", [_gemm(4), gemm("h", 8, 4, 64, precision=Precision(2, 2, 8))])
    for mode in ("fixed", "bitfusion", "bitserial"):
        res = simulate(net, _accel("os", mode))
        a, b = res.layers
        assert res.utilization == pytest.approx(
            (a.utilization * a.total_cycles + b.utilization * b.total_cycles)
            / (a.total_cycles + b.total_cycles))
        assert 0 < res.utilization <= 1
    fixed = simulate(net, _accel("os", "fixed"))
    assert fixed.utilization == pytest.approx(fixed.macs / (fixed.total_cycles * 16))
