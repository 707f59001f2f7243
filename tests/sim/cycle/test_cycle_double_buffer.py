"""Double buffering with three tiles: the third must wait for the first half to free.

A double-buffered GLB keeps two tiles per operand; load ``m`` goes into the half of
load ``m - 2`` and may only start once the last pass using that tile ended (outputs:
once tile ``m - 2`` is written back) -- sim.cycle.supply's rule. Two tiles in flight
never wait for a half; the third one can. Timelines are derived by hand below.

GEMM M=8, N=6, K=2 on a 2x2 weight-stationary array, native timing: P = 8 output
pixels streamed, K = 6 filters in three column folds at the DRAM level, C = 2 on the
rows. Each pass is one new stationary tile: ``2R + C - 1 = 5`` fill/drain cycles plus
8 wavefronts = 13 cycles; three passes, 39 compute cycles. Per block (filter fold):
a new 2x2 weight tile (4 B), its own 8x2 final outputs (16 B, 8-bit); the 8x2 input
tile (16 B) is loaded once and stays (K is irrelevant to it).
"""

from __future__ import annotations

import math

from dataflows.layer import gemm
from dataflows.mapping import Mapping
from sim.analytic import evaluate
from sim.cycle import BufferedMemory, CycleRun, simulate_cycle
from sim.spec import Accelerator, Buffer

INF = math.inf
LAYER = gemm("third", M=8, N=6, K=2)
MAPPING = Mapping.build(rows={"C": 2}, cols={"K": 2}, pe={"P": 8}, dram={"K": 3})


def _accel(dram_read: float = INF, dram_write: float = INF, double: bool = True) -> Accelerator:
    return Accelerator(
        name="tiny", rows=2, cols=2, dataflow="ws",
        glb=(Buffer("glb", capacity_bytes=4096, double_buffered=double),),
        dram=Buffer("dram", read_bytes_per_cycle=dram_read, write_bytes_per_cycle=dram_write))


def _stalls(run: CycleRun) -> dict[str, int]:
    return {k: v for k, v in run.stall_by_cause().items() if v}


def test_third_output_tile_waits_for_the_first_write_back() -> None:
    """Reads unlimited, writes 1 B/cycle (16 cycles per output tile).

    * pass 0: 0-13 (tile 0 in half A); tile 0 written back 13-29;
    * pass 1: 13-26 into half B (free): no wait; tile 1 written back after tile 0,
      29-45 (one write channel);
    * pass 2: its outputs need half A, free when tile 0 is written back (29): waits
      29 - 26 = 3 (write_back), runs 29-42; tile 2 written back 45-61.

    Total 61 = 39 + 3 + 19 (final write-back 61 - 42). Single-buffered every pass
    waits for the previous write-back: passes 0-13, 29-42, 58-71, last write-back
    71-87: 87. The analytic model: max(39, 48 B at 1 B/cycle) = 48.
    """
    run = simulate_cycle(LAYER, _accel(dram_write=1), MAPPING)
    cols = run.breakdown.columns
    assert cols["start_cycle"].tolist() == [0, 13, 29]
    assert cols["end_cycle"].tolist() == [13, 26, 42]
    assert cols["dram_write_bytes"].tolist() == [16, 16, 16]
    assert cols["stall_write_back_cycles"].tolist() == [0, 0, 3]
    assert (run.result.compute_cycles, run.result.total_cycles) == (39, 61)
    assert _stalls(run) == {"write_back": 3, "final_write_back": 19}
    single = simulate_cycle(LAYER, _accel(dram_write=1, double=False), MAPPING)
    assert single.breakdown.columns["start_cycle"].tolist() == [0, 29, 58]
    assert single.result.total_cycles == 87
    assert evaluate(LAYER, _accel(dram_write=1), MAPPING).total_cycles == 48


def test_third_weight_tile_waits_for_the_first_half_to_free() -> None:
    """Reads 1 B/cycle with a 10-cycle latency, writes unlimited.

    * block 0: weights 0-4, inputs 4-20, arrive 30; pass 0: 30-43;
    * block 1: weights into half B, on the channel 20-24, arrive 34; pass 1: 43-56
      (no wait: the prefetch hid behind pass 0);
    * block 2: weights into half A, used by pass 0 until 43: the channel is free at
      24 but the load starts at 43, 43-47, arrives 57; pass 2 waits 57 - 56 = 1
      (dram_read), runs 57-70.

    Total 70 = 39 + 31 (dram_read 30 + 0 + 1); with a third half the load would have
    started at 24 and pass 2 would not wait (69). Single-buffered each weight load
    waits for the pass before: 30-43, load 43-47 (57), 57-70, load 70-74 (84), 84-97.
    """
    mem = BufferedMemory(dram_latency_cycles=10)
    run = simulate_cycle(LAYER, _accel(dram_read=1), MAPPING, memory=mem)
    cols = run.breakdown.columns
    assert cols["dram_read_bytes"].tolist() == [20, 4, 4]
    assert cols["start_cycle"].tolist() == [30, 43, 57]
    assert cols["stall_dram_read_cycles"].tolist() == [30, 0, 1]
    assert run.result.total_cycles == 70
    assert _stalls(run) == {"dram_read": 31}
    single = simulate_cycle(LAYER, _accel(dram_read=1, double=False), MAPPING, memory=mem)
    assert single.breakdown.columns["start_cycle"].tolist() == [30, 57, 84]
    assert single.result.total_cycles == 97
