"""Tiny cases whose cycles and stalls are derived by hand (in each docstring).

All use a 2x2 weight-stationary array with native timing: a stationary tile costs
``2R + C - 1 = 5`` cycles (preload R = 2, skew/drain R + C - 1 = 3) plus one cycle
per streamed wavefront. Operands and outputs are 8-bit (1 byte), partial sums 32-bit
(4 bytes). Bandwidths are bytes/cycle; a transfer of ``b`` bytes takes ``ceil(b/bw)``.
"""

from __future__ import annotations

import csv
import math
from dataclasses import replace
from pathlib import Path

import pytest

from dataflows.layer import gemm
from dataflows.mapping import Mapping
from sim.analytic import evaluate
from sim.cycle import Banking, BufferedMemory, MemoryModelError, simulate_cycle
from sim.cycle.supply import transfer_cycles
from sim.spec import Accelerator, Buffer

INF = math.inf


def accel(dram_read: float = INF, dram_write: float = INF, double: bool = True,
          glb_read: float = INF, glb_write: float = INF) -> Accelerator:
    return Accelerator(
        name="tiny", rows=2, cols=2, dataflow="ws",
        glb=(Buffer("glb", capacity_bytes=4096, double_buffered=double,
                    read_bytes_per_cycle=glb_read, write_bytes_per_cycle=glb_write),),
        dram=Buffer("dram", read_bytes_per_cycle=dram_read, write_bytes_per_cycle=dram_write))


# GEMM M=4, N=2, K=4: P=4 output pixels streamed, K=2 filters on the columns, the
# reduction C=4 in two folds of 2 rows, the fold loop at the DRAM level.
REDUCE = gemm("reduce", M=4, N=2, K=4)
REDUCE_MAP = Mapping.build(rows={"C": 2}, cols={"K": 2}, pe={"P": 4}, dram={"C": 2})
# GEMM M=2, N=4, K=2: two output-channel folds at the DRAM level (each its own outputs).
FILTERS = gemm("filters", M=2, N=4, K=2)
FILTERS_MAP = Mapping.build(rows={"C": 2}, cols={"K": 2}, pe={"P": 2}, dram={"K": 2})


def stalls(run) -> dict[str, int]:
    return {k: v for k, v in run.stall_by_cause().items() if v}


def test_unlimited_bandwidth_is_compute() -> None:
    """Two passes of 5 + 4 = 9 cycles, nothing waits: 18 cycles, as the analytic model."""
    run = simulate_cycle(REDUCE, accel(), REDUCE_MAP)
    assert (run.result.compute_cycles, run.result.stall_cycles, run.result.total_cycles) == \
        (18, 0, 18)
    assert run.result.total_cycles == evaluate(REDUCE, accel(), REDUCE_MAP).total_cycles
    cols = run.breakdown.columns
    assert cols["start_cycle"].tolist() == [0, 9] and cols["end_cycle"].tolist() == [9, 18]
    assert cols["fill_cycles"].tolist() == [2, 2] and cols["drain_cycles"].tolist() == [3, 3]
    assert cols["stream_cycles"].tolist() == [4, 4]


def test_dram_1_byte_per_cycle_double_buffered() -> None:
    """DRAM 1 B/cycle each way, double-buffered GLB.

    Each block loads a 2x2 weight tile (4 B) and a 4x2 input tile (8 B); the outputs
    (4x2, final 8-bit: 8 B) stay in the GLB across the reduction and leave at the end.

    * block 0: weight 0-4, input 4-12 -> pass 0 waits 12 (dram_read), runs 12-21;
    * block 1 prefetches into the other half while pass 0 runs: weight 12-16, input
      16-24 -> pass 1 waits 24 - 21 = 3 (dram_read), runs 24-33;
    * write-back of the 8 outputs 33-41 (final_write_back 8).

    Total 41 = 18 compute + 23 stall. The analytic model says max(18, 24 B read) = 24:
    optimistic by 17, since the first tiles and the last outputs cannot overlap compute.
    """
    a = accel(dram_read=1, dram_write=1)
    run = simulate_cycle(REDUCE, a, REDUCE_MAP)
    assert (run.result.compute_cycles, run.result.total_cycles) == (18, 41)
    assert stalls(run) == {"dram_read": 15, "final_write_back": 8}
    assert run.breakdown.columns["start_cycle"].tolist() == [12, 24]
    assert run.breakdown.columns["stall_dram_read_cycles"].tolist() == [12, 3]
    assert run.breakdown.columns["dram_read_bytes"].tolist() == [12.0, 12.0]
    assert run.breakdown.columns["dram_write_bytes"].tolist() == [0.0, 8.0]
    assert evaluate(REDUCE, a, REDUCE_MAP).total_cycles == 24


def test_dram_1_byte_per_cycle_single_buffered() -> None:
    """As above, single-buffered: block 1's tiles may only load once pass 0 is done.

    * block 0: weight 0-4, input 4-12; pass 0 runs 12-21;
    * block 1: weight 21-25, input 25-33 -> pass 1 waits 12, runs 33-42;
    * write-back 42-50.

    Total 50 = 18 + 32 (dram_read 24, final_write_back 8). The analytic model adds all
    DRAM time: 18 + 24 = 42, optimistic by 8 (the write-back cannot overlap either).
    """
    a = accel(dram_read=1, dram_write=1, double=False)
    run = simulate_cycle(REDUCE, a, REDUCE_MAP)
    assert run.result.total_cycles == 50
    assert stalls(run) == {"dram_read": 24, "final_write_back": 8}
    assert run.breakdown.columns["start_cycle"].tolist() == [12, 33]
    assert evaluate(REDUCE, a, REDUCE_MAP).total_cycles == 42


def test_dram_latency() -> None:
    """Double-buffered, 1 B/cycle, reads arrive 10 cycles after their last byte leaves:
    block 0 ready at 12 + 10 = 22 (pass 0: 22-31), block 1 at 24 + 10 = 34 (pass 1:
    34-43), write-back 43-51. Total 51 = 18 + 22 + 3 + 8."""
    run = simulate_cycle(REDUCE, accel(dram_read=1, dram_write=1), REDUCE_MAP,
                         memory=BufferedMemory(dram_latency_cycles=10))
    assert run.result.total_cycles == 51
    assert stalls(run) == {"dram_read": 25, "final_write_back": 8}


def test_write_back_stall_single_buffered() -> None:
    """Writes at 1 B/cycle, reads unlimited; each of the two filter folds owns its 2x2
    outputs (4 B final), written back when the fold ends.

    Passes need 5 + 2 = 7 cycles. Double-buffered: pass 0 0-7, its outputs leave 7-11
    while pass 1 runs 7-14 into the other half; write-back 14-18: total 18 (tail 4).
    Single-buffered: pass 1 must wait for the half to drain (11): 11-18, write-back
    18-22: total 22 (write_back 4, final_write_back 4).
    """
    run = simulate_cycle(FILTERS, accel(dram_write=1), FILTERS_MAP)
    assert run.result.total_cycles == 18
    assert stalls(run) == {"final_write_back": 4}
    run = simulate_cycle(FILTERS, accel(dram_write=1, double=False), FILTERS_MAP)
    assert run.result.total_cycles == 22
    assert stalls(run) == {"write_back": 4, "final_write_back": 4}
    assert run.breakdown.columns["start_cycle"].tolist() == [0, 11]


def test_glb_read_port_bandwidth() -> None:
    """GLB read port 1 B/cycle, all else unlimited. Pass 0 reads the weight tile (4 B)
    and the input stream (8 B): 12 cycles > 9, stall 3. Pass 1 reads 4 + 8 B, the
    8 psums of pass 0 back (32-bit: 32 B) and, as the block's last pass, the 8 final
    outputs for write-back (8 B): 52 cycles, stall 43. Total 64 = 18 + 46, which is
    also the analytic GLB time (64 B at 1 B/cycle)."""
    a = accel(glb_read=1)
    run = simulate_cycle(REDUCE, a, REDUCE_MAP)
    assert run.result.total_cycles == 64
    assert run.breakdown.columns["stall_glb_bandwidth_cycles"].tolist() == [3, 43]
    assert evaluate(REDUCE, a, REDUCE_MAP).total_cycles == 64


def test_bank_conflicts() -> None:
    """Each wavefront of a WS pass reads 2 input words (one per row) and writes 2
    output words (one per column) into the one GLB: 4 words a cycle.

    * 2 banks, 1 port, stride 1: 4 / 2 = 2 cycles a wavefront, 1 conflict cycle each,
      4 wavefronts x 2 passes: 8 stall cycles, total 26;
    * stride 2 reaches only 2 / gcd(2, 2) = 1 bank: 4 cycles a wavefront, 3 x 8 = 24;
    * 4 banks x 1 port or 2 banks x 2 ports: no conflict.
    """
    def total(banking: Banking) -> tuple[int, dict[str, int]]:
        run = simulate_cycle(REDUCE, accel(), REDUCE_MAP,
                             memory=BufferedMemory(banking={"glb": banking}))
        return run.result.total_cycles, stalls(run)

    assert total(Banking(banks=2)) == (26, {"bank_conflict": 8})
    assert total(Banking(banks=2, stride=2)) == (42, {"bank_conflict": 24})
    assert total(Banking(banks=4)) == (18, {})
    assert total(Banking(banks=2, ports=2)) == (18, {})


def test_product_register_and_scalesim_timing() -> None:
    """The per-tile overhead follows sim.timing: +1 with a product register (6 + 4 per
    pass: 20); SCALE-Sim's 2R + C - 2 = 4 per tile and -1 per layer: 2 x 8 - 1 = 15."""
    a = accel()
    pr = replace(a, pe=replace(a.pe, product_register=True))
    assert simulate_cycle(REDUCE, pr, REDUCE_MAP).result.total_cycles == 20
    ss = simulate_cycle(REDUCE, a, REDUCE_MAP, timing="scalesim")
    assert (ss.result.total_cycles, ss.result.compute_cycles) == (15, 15)
    assert ss.breakdown.columns["drain_cycles"].tolist() == [2, 2]


def test_trace_csv(tmp_path: Path) -> None:
    run = simulate_cycle(REDUCE, accel(dram_read=1, dram_write=1), REDUCE_MAP)
    path = tmp_path / "trace.csv"
    run.breakdown.write_csv(path)
    with path.open() as f:
        rows = list(csv.DictReader(f))
    assert [r["layer"] for r in rows] == ["reduce", "reduce"]
    assert [int(r["start_cycle"]) for r in rows] == [12, 24]
    assert [int(r["stall_cycles"]) for r in rows] == [12, 3 + 8]
    assert rows[1]["stall_final_write_back_cycles"] == "8"


def test_transfer_cycles() -> None:
    assert transfer_cycles(0, 1.0) == 0
    assert transfer_cycles(8 * 10, INF) == 0
    assert transfer_cycles(8 * 10, 4.0) == 3
    assert transfer_cycles(12, 0.5) == 3          # 1.5 bytes at 0.5 B/cycle


def test_memory_model_errors() -> None:
    with pytest.raises(MemoryModelError, match=r"^dram_latency_cycles must be an integer "
                                               r">= 0, not -1$"):
        BufferedMemory(dram_latency_cycles=-1)
    with pytest.raises(MemoryModelError, match=r"^banking.banks must be a positive "
                                               r"integer, not 0$"):
        Banking(banks=0)
    with pytest.raises(MemoryModelError, match=r"^banking names buffers \['sram'\] that "
                                               r"'tiny' does not have; its GLB buffers are "
                                               r"\['glb'\]$"):
        simulate_cycle(REDUCE, accel(), REDUCE_MAP,
                       memory=BufferedMemory(banking={"sram": Banking(2)}))
