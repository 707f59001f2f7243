"""Bit-fusion with input width != weight width (w4a8, w8a4, w2a8, w2a4) on cycles.

The Bit-Fusion brick rule (sim.datapath, Sharma et al. ISCA 2018): a ``B``-bit fusion
unit makes ``f = (B / b_in) * (B / b_w)`` narrow products per cycle, summed along the
reduction, so the timing layer has ``T' = ceil(T / f)`` fused reduction steps. With
B = 8: w4a8 and w8a4 give f = 1 x 2 = 2, w2a8 gives f = 1 x 4 = 4, w2a4 f = 2 x 4 = 8.

GEMM M = 8 pixels, N = 4 filters, reduction T = 64 on a 4x4 array, native timing: a
stationary tile costs ``2R + C - 1 = 11`` cycles plus one per streamed wavefront.

* WS: rows = T', cols = N (1 fold), stream M = 8: tiles T'/4, iterations 8 T'/4;
* OS: rows = M (2 folds), cols = N, stream T': 2 tiles, iterations 2 T';
* IS: rows = T' (T'/4 folds), cols = M (2 folds), stream N = 4: tiles T'/2, iterations
  4 T'/2.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from dataflows.layer import Precision, gemm
from sim import simulate
from sim.datapath import fusion_lanes, plan_datapath
from sim.spec import Accelerator, Buffer, PEConfig


def _accel(dataflow: str) -> Accelerator:
    return Accelerator("t4", 4, 4, dataflow, pe=PEConfig(8, 32, mode="bitfusion"),
                       rf=Buffer("rf", capacity_bytes=4, word_bits=8))


def _layer(a: int, w: int) -> object:
    return gemm("g", 8, 4, 64, precision=Precision(input_bits=a, weight_bits=w, output_bits=8))


def _by_hand(dataflow: str, f: int) -> tuple[int, int]:
    t = 64 // f
    tiles, iterations = {"ws": (t // 4, 8 * t // 4), "os": (2, 2 * t),
                         "is": (t // 2, 4 * t // 2)}[dataflow]
    return tiles, iterations


@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
@pytest.mark.parametrize("a, w, f", [(8, 4, 2), (4, 8, 2), (8, 2, 4), (4, 2, 8), (8, 8, 1)])
def test_mixed_width_bitfusion_cycles_by_hand(dataflow: str, a: int, w: int, f: int) -> None:
    layer, accel = _layer(a, w), _accel(dataflow)
    assert fusion_lanes(layer.precision, 8) == f
    assert plan_datapath(layer, accel).layer.C == 64 // f
    tiles, iterations = _by_hand(dataflow, f)
    res = simulate(layer, accel).layers[0]
    cyc = simulate(layer, accel, fidelity="cycle").layers[0]
    assert (res.tiles, res.iterations) == (tiles, iterations)
    assert res.compute_cycles == res.total_cycles == tiles * 11 + iterations
    assert (cyc.compute_cycles, cyc.total_cycles) == (res.compute_cycles, res.total_cycles)
    assert res.macs == 8 * 4 * 64
    # against the peak at this precision: 16 PEs x f lanes
    assert res.utilization == pytest.approx(2048 / (res.total_cycles * 16 * f))


def test_w4a8_cycles_by_hand() -> None:
    """WS w4a8: T' = 32 fused steps -> 8 tiles x 11 + 8 x 8 wavefronts = 152 cycles,
    half of the 8-bit layer's 16 x 11 + 128 = 304 and twice w4a4's 4 x 11 + 32 = 76."""
    accel = _accel("ws")
    cycles = {(a, w): simulate(_layer(a, w), accel).layers[0].total_cycles
              for a, w in ((8, 8), (8, 4), (4, 8), (4, 4))}
    assert cycles == {(8, 8): 304, (8, 4): 152, (4, 8): 152, (4, 4): 76}


@pytest.mark.parametrize("a, w, weight_b, input_b", [(8, 4, 128, 512), (4, 8, 256, 256)])
def test_mixed_width_dram_bound_cycles(a: int, w: int, weight_b: int, input_b: int) -> None:
    """DRAM at 1 B/cycle each way, single-buffered GLB (the Buffer default), the whole
    layer in one GLB block: weights 64 x 4 x w bits, inputs 8 x 64 x a bits, outputs
    32 B. Analytic: compute + reads = 152 + weights + inputs; cycle model: every load
    before the only block's first pass, the 32 B write-back after its last: + 32."""
    base = _accel("ws")
    accel = replace(base, dram=replace(base.dram, read_bytes_per_cycle=1.0,
                                       write_bytes_per_cycle=1.0))
    res = simulate(_layer(a, w), accel).layers[0]
    cyc = simulate(_layer(a, w), accel, fidelity="cycle").layers[0]
    assert res.bytes["dram"]["weight"]["reads"] == weight_b == 64 * 4 * w // 8
    assert res.bytes["dram"]["input"]["reads"] == input_b == 8 * 64 * a // 8
    assert res.bytes["dram"]["output"]["writes"] == 32
    assert res.total_cycles == 152 + weight_b + input_b
    assert cyc.total_cycles == 152 + weight_b + input_b + 32
