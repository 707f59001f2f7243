"""The shipped specs stand for published designs: each pins its published headline figures.

Expected values are the papers' and configs' own numbers (cited per test) or hand
arithmetic on them, never coforge's earlier output; where coforge's model cannot match a
published figure, the test asserts what it can and its docstring states the measured gap
and the reason. Sources (also in each spec's header comment):

* [JSSC] Y.-H. Chen, T. Krishna, J. Emer, V. Sze, "Eyeriss: An Energy-Efficient
  Reconfigurable Accelerator for Deep Convolutional Neural Networks", IEEE JSSC 52(1),
  pp. 127-138, 2017; [ISSCC] the same authors, ISSCC 2016, paper 14.5.
* [GEMMINI] H. Genc et al., "Gemmini: Enabling Systematic Deep-Learning Architecture
  Evaluation via Full-Stack Integration", DAC 2021; [CFG] ucb-bar/gemmini
  src/main/scala/gemmini/Configs.scala (defaultConfig at commit 491ddfda, chipConfig at
  commit 0064b941).
* [TPU] N. P. Jouppi et al., "In-Datacenter Performance Analysis of a Tensor Processing
  Unit", ISCA 2017, pp. 1-12.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from dataflows import zoo
from dataflows.layer import Precision, conv
from dataflows.network import Network
from mapper.network_map import map_network
from mapper.report import layer_bounds
from sim.fpga_model import check_fit
from sim.result import NetworkResult
from sim.simulate import simulate
from sim.spec import Accelerator
from sim.spec_io import SPECS_DIR, dump_accelerator, load_accelerator, shipped_specs

KIB = 1024
MIB = 1024 * KIB

PUBLISHED = ["edge_npu_16x16_ws", "edge_npu_4x4_ws_ecp5", "edge_npu_8x8_ws_ecp5",
             "eyeriss_12x14_rs", "gemmini_16x16_ws", "tpu1_256x256_ws"]


def _peak_macs_per_s(a: Accelerator) -> float:
    return a.rows * a.cols * a.clock_mhz * 1e6


@pytest.mark.parametrize("name", PUBLISHED)
def test_spec_ships_with_its_sources(name: str, tmp_path: Path) -> None:
    """Every published-design spec is shipped, says where its numbers come from, and
    round-trips through YAML."""
    assert name in shipped_specs()
    text = (SPECS_DIR / f"{name}.yaml").read_text()
    header = text.split("\nname:")[0]
    assert header.count("#") >= 8, f"{name}: the header comment must cite its sources"
    accel = load_accelerator(name)
    path = tmp_path / "again.yaml"
    path.write_text(dump_accelerator(accel))
    assert load_accelerator(path) == accel


# -- Eyeriss v1 -------------------------------------------------------------------------
def test_eyeriss_headline_figures() -> None:
    """[JSSC] abstract p. 127: 168 PEs (12 x 14); [ISSCC] chip summary: 108 KB global
    buffer, 16-bit datapath, 200 MHz; PE filter scratchpad 224 x 16 b = 448 B ([JSSC] PE
    section). Peak = 168 MACs/cycle x 200 MHz = 33.6 GMAC/s (hand arithmetic)."""
    a = load_accelerator("eyeriss_12x14_rs")
    assert (a.rows, a.cols, a.rows * a.cols, a.dataflow) == (12, 14, 168, "rs")
    assert _peak_macs_per_s(a) == pytest.approx(33.6e9)
    assert a.pe.operand_bits == 16 and a.clock_mhz == 200.0
    assert sum(b.capacity_bytes for b in a.glb) == 108 * KIB
    assert a.rf.capacity_bytes >= 224 * 2     # holds the filter scratchpad


def _alexnet_conv(batch: int) -> Network:
    """AlexNet CONV1-5 as Eyeriss ran them (the original two-tower layer shapes: 96/256/
    384/384/256 filters, groups of 2 in CONV2/4/5), 16-bit operands."""
    p = Precision(16, 16, 16)
    return Network.chain("alexnet_conv", [
        conv("conv1", 3, 96, 227, 11, stride=4, batch=batch, precision=p),
        conv("conv2", 96, 256, 27, 5, padding=2, groups=2, batch=batch, precision=p),
        conv("conv3", 256, 384, 13, 3, padding=1, batch=batch, precision=p),
        conv("conv4", 384, 384, 13, 3, padding=1, groups=2, batch=batch, precision=p),
        conv("conv5", 384, 256, 13, 3, padding=1, groups=2, batch=batch, precision=p)])


def test_alexnet_conv_workload_matches_the_paper() -> None:
    """[ISSCC] (and [JSSC] Sec. I): AlexNet needs 666 million MACs per 227 x 227 image in
    its CONV layers; the layer shapes above give 665,784,864 (hand sum of
    K*C/G*R*S*P*Q: 105.4 M + 223.9 M + 149.5 M + 112.1 M + 74.8 M)."""
    net = _alexnet_conv(1)
    assert net.total_macs == 665_784_864
    assert net.total_macs == pytest.approx(666e6, rel=1e-3)


@pytest.fixture(scope="module")
def eyeriss_alexnet() -> tuple[Accelerator, NetworkResult]:
    """AlexNet CONV1-5, batch 4, on eyeriss_12x14_rs with its accumulator widened to 44
    bits (the chip truncates psums to 16 b; coforge refuses an accumulator that can
    overflow: 16 + 16 + ceil(log2(256 * 9)) = 44 for CONV3), each layer mapped by
    annealing for latency (5000 evaluations per layer, seed 0)."""
    a = load_accelerator("eyeriss_12x14_rs")
    a = replace(a, pe=replace(a.pe, accumulator_bits=44))
    mapped = map_network(_alexnet_conv(4), a, "annealing", "latency", 5000, None, 0, "native")
    return a, mapped.result


#: [ISSCC] / [JSSC] abstract: AlexNet CONV1-5 at 34.7 frames/s, batch 4, 200 MHz, 278 mW,
#: 0.0029 DRAM accesses per MAC.
EYERISS_FPS = 34.7
EYERISS_POWER_W = 0.278
EYERISS_DRAM_PER_MAC = 0.0029


def test_eyeriss_alexnet_array_time_matches_the_published_rate(
        eyeriss_alexnet: tuple[Accelerator, NetworkResult]) -> None:
    """The array's processing time (compute cycles: folds of the RS mapping plus per-tile
    preload/fill) of the latency-mapped layers against the published 34.7 frames/s.

    Measured (2026-12-04): 35.3 frames/s from compute cycles alone (+1.6 %); other search
    seeds give 29-37, hence the +-25 % tolerance. The chip overlaps its DRAM and GLB
    traffic with processing, so its frame rate is set by the array; this is the part of
    coforge's model that corresponds (the total, with stalls, is the next test)."""
    a, res = eyeriss_alexnet
    fps = 4 / (res.compute_cycles / (a.clock_mhz * 1e6))
    assert fps == pytest.approx(EYERISS_FPS, rel=0.25)


def test_eyeriss_alexnet_total_rate_gap_is_the_stated_one(
        eyeriss_alexnet: tuple[Accelerator, NetworkResult]) -> None:
    """With stalls coforge predicts about half the published rate: measured 17.5 frames/s
    vs 34.7 (0.51x) and 0.0094 vs 0.0029 DRAM accesses/MAC (3.2x). Reasons: the spec's
    GLB is single-buffered, so DRAM time adds to compute (the chip overlaps them); the
    chip run-length-compresses its DRAM traffic ([JSSC]) and splits its GLB between
    ifmaps/psums and filters, neither expressible in coforge; and one 8 B/cycle DRAM
    port at the core clock is an assumption. Asserted: coforge is pessimistic, never
    optimistic, by at most the stated factors (0.35x rate, 6x DRAM traffic)."""
    _, res = eyeriss_alexnet
    fps = 4 / (res.latency_ms / 1e3)
    assert 0.35 * EYERISS_FPS <= fps <= EYERISS_FPS
    dram = sum(v["reads"] + v["writes"] for r in res.layers
               for v in r.accesses["dram"].values())
    assert EYERISS_DRAM_PER_MAC <= dram / res.macs <= 6 * EYERISS_DRAM_PER_MAC


def test_eyeriss_alexnet_chip_energy_gap_is_the_stated_one(
        eyeriss_alexnet: tuple[Accelerator, NetworkResult]) -> None:
    """Published chip energy for the batch: 278 mW x 4 / 34.7 fps = 32.0 mJ (hand
    arithmetic; the chip's power excludes DRAM). coforge's MAC + RF + GLB energy:
    measured 19.8 mJ (0.62x). Reason: the energy table (sim/energy.py: 45 nm MAC and
    SRAM access energies) has no clock tree, NoC, control or leakage, and Eyeriss is a
    65 nm chip whose data gating of zeros is also not modelled here (dense run).
    Asserted: 0.4x-1.0x of the published energy."""
    _, res = eyeriss_alexnet
    chip_pj = sum(r.energy_pj_by_level[lv] for r in res.layers for lv in ("mac", "pe", "glb"))
    published_pj = EYERISS_POWER_W * 4 / EYERISS_FPS * 1e12
    assert published_pj == pytest.approx(32.0e9, rel=0.01)
    assert 0.4 * published_pj <= chip_pj <= published_pj


# -- Gemmini ----------------------------------------------------------------------------
def test_gemmini_default_config_figures() -> None:
    """[CFG] defaultConfig (DAC-2021 era): meshRows = meshColumns = 16 (256 MACs/cycle),
    SInt(8) inputs, SInt(32) accumulators, sp_capacity 256 KiB, acc_capacity 64 KiB (an
    accumulator SRAM for partial sums: here a GLB that holds only outputs), dma_buswidth
    128 bits = 16 B/cycle. The clock is not part of the config: peak = 256 x clock."""
    a = load_accelerator("gemmini_16x16_ws")
    assert (a.rows, a.cols, a.peak_macs_per_cycle, a.dataflow) == (16, 16, 256, "ws")
    assert (a.pe.operand_bits, a.pe.accumulator_bits) == (8, 32)
    assert a.glb_for("input") is a.glb_for("weight")
    assert a.glb_for("input").capacity_bytes == 256 * KIB
    assert a.glb_for("output").operands == ("output",)
    assert a.glb_for("output").capacity_bytes == 64 * KIB
    assert a.dram.read_bytes_per_cycle == a.dram.write_bytes_per_cycle == 128 / 8
    assert _peak_macs_per_s(a) == 256 * a.clock_mhz * 1e6


# -- TPU v1 -----------------------------------------------------------------------------
def test_tpu_v1_headline_figures() -> None:
    """[TPU] abstract and Sec. 2: 65,536 8-bit MACs (256 x 256) at 700 MHz, peak 92 TOPS
    (2 ops per MAC: 65,536 x 2 x 700e6 = 91.75e12, within 0.3 % of 92); Unified Buffer
    24 MiB; accumulators 4 MiB (4096 x 256 x 32 bit), double-buffered; weight FIFO four
    64 KiB tiles; Weight Memory 30 GiB/s (Fig. 1) = 46.0 B per 700 MHz cycle."""
    a = load_accelerator("tpu1_256x256_ws")
    assert (a.rows, a.cols, a.clock_mhz, a.pe.operand_bits) == (256, 256, 700.0, 8)
    assert 2 * _peak_macs_per_s(a) == pytest.approx(92e12, rel=0.003)
    assert a.glb_for("input").capacity_bytes == 24 * MIB
    acc = a.glb_for("output")
    assert acc.capacity_bytes == 4096 * 256 * 32 // 8 == 4 * MIB and acc.double_buffered
    assert a.glb_for("weight").capacity_bytes == 4 * 256 * 256
    assert a.dram.read_bytes_per_cycle * a.clock_mhz * 1e6 == pytest.approx(30 * 2**30,
                                                                           rel=0.01)


# -- the edge NPU (demo default) and its FPGA-ready variants -----------------------------
def test_edge_npu_is_gemminis_chip_config() -> None:
    """[CFG] chipConfig = defaultConfig.copy(sp_capacity = 64 KiB, acc_capacity = 32 KiB,
    dataflow = WS): 16 x 16 int8 mesh, 32-bit accumulators, 128-bit DMA bus."""
    a = load_accelerator("edge_npu_16x16_ws")
    assert (a.rows, a.cols, a.dataflow, a.pe.operand_bits) == (16, 16, "ws", 8)
    assert a.glb_for("weight").capacity_bytes == 64 * KIB
    assert a.glb_for("output").capacity_bytes == 32 * KIB
    assert a.glb_for("output").operands == ("output",)
    assert a.dram.read_bytes_per_cycle == 16


def test_edge_npu_psum_port_keeps_up_with_the_array() -> None:
    """Hand arithmetic: a 16-column WS array emits at most 16 partial sums per streamed
    cycle (one per column) at 32 bits = 64 B/cycle and reads back at most as many; the
    final outputs read out for write-back are narrower (8 b) than the psums they
    replace. The accumulator SRAM's ports are 64 B/cycle each way, so unless partial sums
    spill to DRAM and come back (extra writes), the psum port never takes longer than
    the array's compute. (edge_8x8_ws's one 16 B/cycle port for all three operands
    carries 8 x 4 = 32 B/cycle of psums alone: it cannot keep up.)"""
    a = load_accelerator("edge_npu_16x16_ws")
    acc = a.glb_for("output")
    assert acc.read_bytes_per_cycle >= a.cols * a.pe.accumulator_bits / 8
    assert acc.write_bytes_per_cycle >= a.cols * a.pe.accumulator_bits / 8
    res = simulate(zoo.load("resnet18"), a)
    spill = []
    for b, r in zip(layer_bounds(res, a), res.layers):
        if r.bytes["dram"]["output"]["reads"]:
            spill.append(r.layer)
            continue
        assert b.busy_cycles["glb:accumulator"] <= r.compute_cycles, r.layer
    assert spill == ["conv1"]       # regression pin: its default mapping refills psums


#: The demo's balance criterion: GLB-port stall below 1 % of the network's cycles.
DEMO_MAX_GLB_STALL = 0.01


def test_demo_resnet18_is_not_bound_by_a_glb_port() -> None:
    """`make demo` (ResNet-18, default mappings, analytic) on edge_npu_16x16_ws: GLB-port
    stall < 1 % of total cycles, and no layer is GLB-port-bound. Contrast (the issue's
    measurement): on edge_8x8_ws the shared port's stall is more than half of all cycles.
    Regression pin (named as such): 19/21 layers compute-bound, conv1 DRAM-bound (3 input
    channels, little reuse per DRAM byte), fc fill/drain-bound (512 K MACs)."""
    a = load_accelerator("edge_npu_16x16_ws")
    res = simulate(zoo.load("resnet18"), a)
    # The spec's vector unit adds the 10 pooling/add nodes as layers (sim/vector.py);
    # the pins below are about the array layers.
    bounds = [b for b, r in zip(layer_bounds(res, a), res.layers) if r.vector_ops is None]
    assert len(bounds) == 21
    glb_stall = sum(b.glb_stall_cycles for b in bounds)
    assert glb_stall < DEMO_MAX_GLB_STALL * res.total_cycles
    assert not [b.layer for b in bounds if b.bound == "GLB port"]
    labels = [b.bound for b in bounds]
    assert labels.count("compute") == 19                       # regression pin
    assert {b.layer: b.bound for b in bounds if b.bound != "compute"} == \
        {"conv1": "DRAM", "fc": "fill/drain"}                  # regression pin
    old = load_accelerator("edge_8x8_ws")
    old_res = simulate(zoo.load("resnet18"), old)
    assert sum(b.glb_stall_cycles for b in layer_bounds(old_res, old)) > \
        0.5 * old_res.total_cycles


#: Achieved Fmax measured by `coforge synth` (seed 1, tool versions in each spec's
#: header comment) when the clocks were set: (spec, target, Fmax MHz).
FPGA_MEASURED = [("edge_npu_8x8_ws_ecp5", "ecp5-85k", 101.93),
                 ("edge_npu_4x4_ws_ecp5", "ecp5-45k", 124.75)]


@pytest.mark.parametrize("name, target, fmax_mhz", FPGA_MEASURED)
def test_fpga_variant_clock_is_at_or_below_its_measured_fmax(name: str, target: str,
                                                             fmax_mhz: float) -> None:
    """The spec claims no clock its bitstream did not close, fits its part (DSPs, block
    RAM, pins, predicted LUTs; no tools run) and registers the product (synth_ecp5
    leaves MULT18X18D's registers unused, TOOLCHAIN.md)."""
    a = load_accelerator(name)
    assert a.clock_mhz <= fmax_mhz
    assert a.pe.product_register
    plan = check_fit(a, target)
    assert plan.top == "bare"


@pytest.mark.slow
@pytest.mark.parametrize("name, target, fmax_mhz", FPGA_MEASURED)
def test_fpga_variant_meets_timing_when_synthesized(name: str, target: str, fmax_mhz: float,
                                                    tmp_path: Path) -> None:
    """Re-run synthesis and place-and-route (minutes; `make rtl-regress`): the report says
    the spec's clock is met."""
    from hdl.synth import synthesize
    rep = synthesize(load_accelerator(name), target, tmp_path)
    assert rep.meets_timing and rep.spec_clock_mhz == load_accelerator(name).clock_mhz
    assert rep.fmax_mhz == pytest.approx(fmax_mhz, rel=0.05)


# -- the design spaces the README's `coforge dse` examples use ----------------------------
def test_readme_dse_examples_name_shipped_spaces_that_load() -> None:
    """Every `--space mapper/spaces/*.yaml` in the README exists and loads (the examples
    run as written from the checkout); the FPGA space's base spec is RTL-buildable."""
    import re

    from mapper.hw_space import load_hw_space
    root = Path(__file__).resolve().parents[2]
    named = sorted(set(re.findall(r"--space (mapper/spaces/\S+\.yaml)",
                                  (root / "README.md").read_text())))
    assert {"mapper/spaces/edge_hw.yaml", "mapper/spaces/edge_hw_precision.yaml",
            "mapper/spaces/ecp5_85k.yaml"} <= set(named)
    for rel in named:
        load_hw_space(root / rel)            # raises a one-line error naming the file
    prec = load_hw_space(root / "mapper/spaces/edge_hw_precision.yaml")
    assert prec.precision is not None
    hw = load_hw_space(root / "mapper/spaces/edge_hw.yaml")
    assert hw.precision is None and hw.size == 3 * 3 * 2 * 3 * 2 * 2
    fpga = load_hw_space(root / "mapper/spaces/ecp5_85k.yaml")
    check_fit(fpga.base, "ecp5-85k")


@pytest.mark.parametrize("clock, fmax, meets", [(100.0, 101.93, True), (120.0, 120.0, True),
                                                (200.0, 111.99, False)])
def test_timing_statement_says_when_the_clock_is_above_fmax(clock: float, fmax: float,
                                                            meets: bool) -> None:
    """`coforge synth`/`validate` print this line and store ``meets_timing``; the 200 vs
    111.99 MHz case is a 2x2 WS engine measured on ECP5-85F (issue 13 item 6: the
    default edge_8x8_ws says 200 MHz and closes near 80)."""
    from hdl.synth import meets_timing, timing_statement
    assert meets_timing(clock, fmax) is meets
    line = timing_statement(clock, fmax)
    assert f"{clock:g} MHz" in line and f"{fmax:g} MHz" in line
    assert line.startswith("meets timing" if meets else "DOES NOT MEET TIMING")
