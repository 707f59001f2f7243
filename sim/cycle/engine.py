"""The cycle-approximate engine: walk the passes, ask memory, account stalls by cause.

``simulate_cycle(layer, accel, mapping, timing, memory)`` builds the array's demand
(:func:`sim.cycle.demand.build_demand`), asks a memory model
(:mod:`sim.cycle.supply`; :class:`~sim.cycle.supply.BufferedMemory` unless given)
for a per-run supply, and walks the passes in loop order::

    now = 0
    for each pass i:
        start_i = supply.start(i, now)          # waits for DRAM fills / output space
        end_i   = start_i + supply.busy(i, compute_i)   # >= compute_i (ports, banks)
        supply.end(i, end_i); now = end_i
    total = supply.finish(now) + layer_offset   # last write-back

with ``compute_i = new_tile_i * (fill + drain) + stream_i``. So
``total = compute + stall`` where ``stall`` is the sum of the waits before passes
(``dram_read``, ``write_back``), the stretches of passes (``glb_bandwidth``,
``bank_conflict``) and the tail after the last pass (``final_write_back``). The
walk is per pass (one stationary tile's stream), never per cycle: its cost grows
with the number of tiles, not with the cycle count.

Sparse engines (:mod:`sim.sparse`): ``tensors`` or the layer's densities give a
:class:`~sim.sparse.SparseProfile` (compressed stored bits, effectual MACs) that both
the analytic costs and the demand use; with ``sparse.policy == "skipping"`` the
passes follow :func:`sim.sparse.skip_schedule` (dropped folds, per-fold streams set by
the slowest lane) and the slowest lane's excess is the stall cause ``imbalance``
(charged inside the pass: ``compute_i`` above is then the real, slowest-lane time).

The traffic is the analytic model's (the demand sums to its access counts), so the
returned :class:`~sim.result.Result` carries the analytic accesses, bytes and energy
with the cycle model's cycles, and ``fidelity="cycle"``.

Where the analytic model is optimistic (it assumes DRAM traffic spreads evenly over
the whole layer): the first tiles must arrive before the array can start and the last
outputs leave after it stops (neither can overlap compute), and a double buffer only
hides a transfer behind the *one* tile computing meanwhile, so a long transfer behind
a short tile stalls even when the layer's total DRAM time is below its compute time.
With every GLB double-buffered, or none, the cycle total is never below the analytic
total (each DRAM channel and GLB port moves the analytic traffic, one transfer at a
time). With a mix, the analytic model adds all DRAM time to compute while this model
overlaps the double-buffered operands' transfers, so it can be lower there.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from dataflows.dataflow import OPERANDS, get_dataflow
from dataflows.layer import Layer
from dataflows.mapping import Mapping
from sim.analytic import MappingBatch, evaluate, evaluate_batch, result_from_arrays
from sim.cycle.demand import Demand, build_demand
from sim.cycle.supply import CAUSES, BufferedMemory, Supply
from sim.result import Result
from sim.sparse.engine import (SparseProfile, skip_schedule, statistical_profile,
                               tensor_profile)
from sim.spec import Accelerator

#: Columns of the per-pass breakdown and of the CSV trace (after ``layer``).
COLUMNS: tuple[str, ...] = (
    "pass", "block", "new_tile", "start_cycle", "end_cycle", "fill_cycles",
    "stream_cycles", "drain_cycles", "stall_cycles",
    *(f"stall_{c}_cycles" for c in CAUSES),
    *(f"glb_{op}_words" for op in OPERANDS), "dram_read_bytes", "dram_write_bytes")


class MemoryModel(Protocol):
    """Anything that builds a per-run :class:`~sim.cycle.supply.Supply` and names the
    mapping it expects when none is given."""

    def supply(self, accel: Accelerator, demand: Demand) -> Supply: ...

    def mapping_for(self, layer: Layer, accel: Accelerator) -> Mapping: ...


@dataclass(frozen=True)
class TileBreakdown:
    """One row per pass (array tile pass) of one layer; ``columns`` as in :data:`COLUMNS`.

    Cycles are absolute (``start_cycle``/``end_cycle``) or per pass (``*_cycles``);
    a block's DRAM reads are listed at its first pass, its write-back at its last.
    """

    layer: str
    columns: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.columns["pass"])

    def stall_by_cause(self) -> dict[str, int]:
        """Stall cycles of the layer per cause (see :data:`sim.cycle.supply.CAUSES`)."""
        return {c: int(self.columns[f"stall_{c}_cycles"].sum()) for c in CAUSES}

    def rows(self) -> list[dict[str, Any]]:
        """The breakdown as dicts (``layer`` first), one per pass."""
        cols = {k: v.tolist() for k, v in self.columns.items()}
        return [{"layer": self.layer} | {k: cols[k][i] for k in COLUMNS}
                for i in range(len(self))]

    def write_csv(self, out: io.TextIOBase | str | Path, header: bool = True) -> None:
        """Write the rows as CSV (to a path or an open text file)."""
        if isinstance(out, (str, Path)):
            with open(out, "w", newline="", encoding="utf-8") as f:
                self.write_csv(f, header)
            return
        writer = csv.DictWriter(out, fieldnames=("layer",) + COLUMNS)
        if header:
            writer.writeheader()
        writer.writerows(self.rows())


@dataclass(frozen=True)
class CycleRun:
    """A cycle-approximate run of one layer: the shared :class:`Result` and the
    per-pass breakdown."""

    result: Result
    breakdown: TileBreakdown

    def stall_by_cause(self) -> dict[str, int]:
        return self.breakdown.stall_by_cause()


def simulate_cycle(layer: Layer, accel: Accelerator, mapping: Mapping,
                   timing: str = "native", memory: MemoryModel | None = None,
                   tensors: dict[str, Any] | None = None) -> CycleRun:
    """Cost one (layer, accelerator, mapping) cycle-approximately.

    ``memory`` is the memory model (default :class:`BufferedMemory`: the spec's DRAM
    and GLB bandwidths, double buffering as the spec says, no latency, no banks).
    ``tensors`` (``{"weight": array, "input": array}``, either optional) gives the
    layer's actual operands to the sparse engine (:mod:`sim.sparse`): stored bits,
    effectual MACs and, with ``sparse.policy == "skipping"``, the per-fold schedule
    come from their nonzeros; without them from ``layer.density``. A skipping
    engine changes the passes (dropped folds, shorter streams); ``compute`` then
    counts the balanced lanes and the slowest lane's excess is the stall cause
    ``imbalance``. Raises the analytic model's one-line errors for illegal or unfit
    mappings and :class:`sim.sparse.TensorError` for tensors that do not fit.
    """
    model = memory if memory is not None else BufferedMemory()
    profile = tensor_profile(layer, accel, tensors) if tensors is not None else \
        statistical_profile(layer, accel)
    base = _shared_costs(layer, accel, mapping, timing, model, profile)
    demand = build_demand(layer, accel, mapping, timing, profile.stored_bits)
    imbalance = np.zeros(demand.passes, dtype=np.int64)
    skipping = accel.sparse.policy == "skipping"
    if skipping:
        sched = skip_schedule(demand, accel, profile)
        demand = replace(demand, new_tile=sched.new_tile, stream_cycles=sched.stream_cycles)
        imbalance = sched.imbalance_cycles
    sup = model.supply(accel, demand)
    compute = demand.pass_compute_cycles().tolist()
    n = demand.passes
    start, end = [0] * n, [0] * n
    stalls = {c: [0] * n for c in CAUSES}
    now = 0
    stalls["imbalance"] = imbalance.tolist()
    for i in range(n):
        s, cause = sup.start(i, now)
        if s > now:
            stalls[cause][i] += s - now
        dur, extra = sup.busy(i, compute[i])
        for c, v in extra.items():
            stalls[c][i] += v
        now = s + dur
        sup.end(i, now)
        start[i], end[i] = s, now
    finish = sup.finish(now)
    stalls["final_write_back"][n - 1] += finish - now
    total = finish + demand.layer_offset_cycles
    compute_total = demand.compute_cycles - int(imbalance.sum())
    assert skipping or compute_total == base.compute_cycles, \
        "demand and analytic compute disagree"
    counted = total - demand.layer_offset_cycles       # cycles, not SCALE-Sim's last index
    result = replace(base, compute_cycles=compute_total, stall_cycles=total - compute_total,
                     total_cycles=total, fidelity="cycle",
                     utilization=layer.macs * (profile.effectual if skipping else 1)
                     / (counted * accel.rows * accel.cols))
    return CycleRun(result, _breakdown(demand, start, end, stalls))


def _shared_costs(layer: Layer, accel: Accelerator, mapping: Mapping, timing: str,
                  model: MemoryModel, profile: SparseProfile | None = None) -> Result:
    """The analytic model's Result for this mapping (traffic, energy, compute cycles).

    Raises its one-line errors for illegal or unfit mappings, except that a memory
    model streaming through its buffers (``fits_tiles = False``, SCALE-Sim's) does not
    need the GLB to hold whole tiles."""
    if getattr(model, "fits_tiles", True):
        return evaluate(layer, accel, mapping, timing, sparse=profile)
    df = get_dataflow(accel.dataflow)
    mapping.check(layer, df, accel.rows, accel.cols, df.bounds(layer))
    arr = evaluate_batch(layer, accel, MappingBatch.from_mappings([mapping]), timing,
                         sparse=profile)
    return result_from_arrays(layer, arr, 0, timing, mapping)


def _breakdown(d: Demand, start: list[int], end: list[int],
               stalls: dict[str, list[int]]) -> TileBreakdown:
    n = d.passes
    stall_cols = {f"stall_{c}_cycles": np.array(v, dtype=np.int64) for c, v in stalls.items()}
    dram_r = np.zeros(n)
    dram_w = np.zeros(n)
    dram_r[d.first] = np.sum([d.dram_read_bits(op) for op in OPERANDS], axis=0) / 8
    dram_w[d.last] = d.dram_write_bits() / 8
    cols: dict[str, np.ndarray] = {
        "pass": np.arange(n), "block": d.block_of, "new_tile": d.new_tile.astype(np.int64),
        "start_cycle": np.array(start, dtype=np.int64), "end_cycle": np.array(end, dtype=np.int64),
        "fill_cycles": d.new_tile * d.fill_cycles, "stream_cycles": d.stream_cycles,
        "drain_cycles": d.new_tile * d.drain_cycles,
        "stall_cycles": np.sum(list(stall_cols.values()), axis=0),
        **stall_cols,
        **{f"glb_{op}_words": d.glb_reads[op] + d.glb_writes[op] for op in OPERANDS},
        "dram_read_bytes": dram_r, "dram_write_bytes": dram_w}
    return TileBreakdown(d.layer, cols)


__all__ = ["COLUMNS", "CycleRun", "MemoryModel", "TileBreakdown", "simulate_cycle"]
