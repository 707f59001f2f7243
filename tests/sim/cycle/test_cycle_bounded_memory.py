"""Bounded memory of the cycle model (issue 14 item 3): the walk takes the passes in
ranges (:func:`sim.cycle.demand.demand_chunks`) and keeps running totals; the trace
streams to disk.

* Chunked = all at once, on random layers, arrays, dataflows, timings, mappings, DRAM
  latency and banking (hypothesis), and on sparse skipping engines: same Result,
  stalls by cause and per-pass rows, whatever the chunk size; ``breakdown=False``
  and the ``trace`` callback give the same.
* ``simulate(..., trace=)`` writes the rows the all-at-once breakdown has (recurring
  shapes included) and leaves no file when a layer fails.
* A GEMM with tile count >> the chunk size runs at cycle fidelity in a fresh process
  under 1 GiB peak RSS, its peak no higher than a GEMM with ~35x fewer tiles plus a
  chunk's working set, with the cycles and stalls the all-at-once model gave (pinned).
  The 10^12-MAC GEMM (M = N = K = 10^4, 25 M passes, minutes) is in
  ``benchmarks/bench_cycle_memory.py``.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_cycle_agreement import SETTINGS, cases

from dataflows.layer import gemm
from dataflows.mapping import MappingError
from dataflows.network import Network
from sim.analytic import CostError
from sim.cycle import COLUMNS, Banking, BufferedMemory, TileBreakdown, simulate_cycle
from sim.cycle.demand import CHUNK_PASSES, demand_chunks, pass_count
from sim.default_mapping import default_mapping
from sim.simulate import simulate
from sim.spec import SparseConfig
from sim.spec_io import load_accelerator

EDGE = load_accelerator("edge_8x8_ws")
ROOT = Path(__file__).resolve().parents[3]


def _same_runs(whole, other) -> None:
    assert other.result == whole.result
    assert other.stall_by_cause() == whole.stall_by_cause()
    a, b = whole.breakdown.columns, other.breakdown.columns
    assert list(a) == list(b)
    for k in a:
        assert a[k].dtype == b[k].dtype, k
        assert np.array_equal(a[k], b[k]), k


def _check_chunked(layer, accel, mapping, timing, memory, chunk: int) -> None:
    try:
        whole = simulate_cycle(layer, accel, mapping, timing, memory, chunk_passes=None)
    except CostError:
        return
    assert len(whole.breakdown) == pass_count(mapping)
    _same_runs(whole, simulate_cycle(layer, accel, mapping, timing, memory,
                                     chunk_passes=chunk))
    parts: list[TileBreakdown] = []
    lean = simulate_cycle(layer, accel, mapping, timing, memory, breakdown=False,
                          trace=parts.append, chunk_passes=chunk)
    assert lean.breakdown is None
    assert len(parts) == -(-pass_count(mapping) // chunk)
    assert (lean.result, lean.stall_by_cause()) == (whole.result, whole.stall_by_cause())
    streamed = TileBreakdown(layer.name, {k: np.concatenate([p.columns[k] for p in parts])
                                          for k in parts[0].columns})
    _same_runs(whole, replace(whole, breakdown=streamed))


@SETTINGS
@given(case=cases("any"), chunk=st.integers(1, 7), latency=st.sampled_from([0, 5]),
       banks=st.sampled_from([0, 2, 4]))
def test_chunked_walk_equals_all_at_once(case: tuple, chunk: int, latency: int,
                                         banks: int) -> None:
    layer, accel, mapping, timing = case
    banking = {accel.glb[-1].name: Banking(banks, 1, 2)} if banks else {}
    memory = BufferedMemory(dram_latency_cycles=latency, banking=banking)
    _check_chunked(layer, accel, mapping, timing, memory, chunk)


@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
@pytest.mark.parametrize("operand", ["weight", "input"])
def test_chunked_skipping_engine_equals_all_at_once(dataflow: str, operand: str) -> None:
    accel = replace(EDGE, dataflow=dataflow,
                    sparse=SparseConfig(policy="skipping", operands=(operand,)))
    layer = gemm("s", 64, 48, 80).with_density(weight=0.4, input=0.7)
    mapping = default_mapping(layer, accel)
    assert pass_count(mapping) > 3
    for chunk in (1, 2, 3):
        _check_chunked(layer, accel, mapping, "native", None, chunk)


def test_demand_chunks_concatenate_to_the_whole_demand() -> None:
    layer = gemm("g", 70, 50, 90)
    mapping = default_mapping(layer, EDGE)
    whole = next(demand_chunks(layer, EDGE, mapping, chunk_passes=None))
    parts = list(demand_chunks(layer, EDGE, mapping, chunk_passes=5))
    assert [p.pass0 for p in parts] == list(range(0, whole.passes, 5))
    assert sum(p.passes for p in parts) == whole.passes == pass_count(mapping)
    for name in ("new_tile", "stream_cycles", "block_of", "pass_start", "pass_extent"):
        assert np.array_equal(np.concatenate([getattr(p, name) for p in parts]),
                              getattr(whole, name)), name
    for p in parts:
        blocks = slice(p.block0, p.block0 + p.blocks)
        assert np.array_equal(p.first, whole.first[blocks])
        assert np.array_equal(p.evict, whole.evict[blocks])
        for op in ("weight", "input", "output"):
            assert np.array_equal(p.loads[op], whole.loads[op][blocks])
            assert np.array_equal(p.dram_reads[op], whole.dram_reads[op][blocks])


def test_trace_streams_the_all_at_once_rows(tmp_path: Path) -> None:
    """Recurring shapes (a, b, d) are walked once and their rows replayed under each
    name; c has its own mapping; a small chunk forces several ranges per layer."""
    a, c = gemm("a", 40, 24, 32), gemm("c", 16, 8, 64)
    net = Network.chain("n", [a, replace(a, name="b"), c, replace(a, name="d")])
    mc = default_mapping(c, EDGE)
    path = tmp_path / "t.csv"
    res = simulate(net, EDGE, mapping={"c": mc}, fidelity="cycle", trace=path)
    want = io.StringIO(newline="")
    for i, layer in enumerate(net.layers()):
        m = mc if layer.name == "c" else default_mapping(layer, EDGE)
        run = simulate_cycle(layer, EDGE, m, chunk_passes=None)
        assert res.layers[i].total_cycles == run.result.total_cycles
        assert res.layers[i].stall_cycles_by_cause == run.stall_by_cause()
        run.breakdown.write_csv(want, header=i == 0)
    assert path.read_bytes() == want.getvalue().encode("utf-8")
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["layer", *COLUMNS]
    assert [r[0] for r in rows[1:]].count("d") == pass_count(default_mapping(a, EDGE))


def test_failed_run_leaves_no_trace(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    net = Network.chain("n", [gemm("a", 40, 24, 32), gemm("b", 40, 24, 33)])
    bad = default_mapping(gemm("a", 40, 24, 32), EDGE)      # does not cover b's K
    with pytest.raises(MappingError, match="does not cover"):
        simulate(net, EDGE, mapping={"b": bad}, fidelity="cycle", trace=path)
    assert not path.exists()


_PEAK = textwrap.dedent("""
    import json, resource, sys, time
    from dataflows.layer import gemm
    from sim.cycle.demand import pass_count
    from sim.default_mapping import default_mapping
    from sim.simulate import simulate
    from sim.spec_io import load_accelerator
    n = int(sys.argv[1])
    accel = load_accelerator("edge_8x8_ws")
    layer = gemm("mm", M=n, N=n, K=n)
    t0 = time.perf_counter()
    r = simulate(layer, accel, fidelity="cycle").layers[0]
    print(json.dumps({"passes": pass_count(default_mapping(layer, accel)),
                      "total": r.total_cycles, "stall": r.stall_cycles,
                      "causes": r.stall_cycles_by_cause, "seconds": time.perf_counter() - t0,
                      "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
""")


def _peak(n: int) -> dict:
    out = subprocess.run([sys.executable, "-c", _PEAK, str(n)], cwd=ROOT, check=True,
                         capture_output=True, text=True, timeout=600)
    return json.loads(out.stdout.splitlines()[-1])


def test_big_gemm_peak_memory_does_not_grow_with_tiles() -> None:
    """M = N = K = 3000 on edge_8x8_ws: 562,500 passes (17 chunks); the all-at-once
    walk peaked at ~780 MiB here, ~1.3 KiB per pass, and reported these cycles."""
    small, big = _peak(1000), _peak(3000)
    assert big["passes"] == 562_500 >= 16 * CHUNK_PASSES
    assert small["passes"] * 35 < big["passes"]
    assert (big["total"], big["stall"]) == (1_057_500_754, 622_688_254)
    assert big["causes"] == {"dram_read": 379, "write_back": 0, "glb_bandwidth": 622_687_500,
                             "bank_conflict": 0, "final_write_back": 375, "imbalance": 0}
    assert big["peak_kib"] < 1024 * 1024                              # < 1 GiB
    assert big["peak_kib"] - small["peak_kib"] < 128 * 1024, (small, big)
