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
from itertools import repeat
from typing import Any, Callable, Protocol

import numpy as np

from dataflows.dataflow import OPERANDS, get_dataflow
from dataflows.layer import Layer
from dataflows.mapping import Mapping
from sim.analytic import MappingBatch, evaluate, evaluate_batch, result_from_arrays
from sim.cycle.demand import CHUNK_PASSES, Demand, demand_chunks
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
    """One row per pass (array tile pass) of one layer, or of a range of its passes (what
    ``simulate_cycle(..., trace=...)`` hands over); ``columns`` as in :data:`COLUMNS`.

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
        writer = csv.writer(out)
        if header:
            writer.writerow(("layer",) + COLUMNS)
        name = self.layer
        writer.writerows(zip(repeat(name), *(self.columns[k].tolist() for k in COLUMNS)))


@dataclass(frozen=True)
class CycleRun:
    """A cycle-approximate run of one layer: the shared :class:`Result`, the per-pass
    breakdown (None when the run kept none, ``simulate_cycle(..., breakdown=False)``)
    and the stall cycles by cause (from the breakdown when not given)."""

    result: Result
    breakdown: TileBreakdown | None = None
    stalls: dict[str, int] | None = None

    def stall_by_cause(self) -> dict[str, int]:
        if self.stalls is not None:
            return dict(self.stalls)
        if self.breakdown is None:
            raise ValueError("this cycle run kept neither its breakdown nor its stalls")
        return self.breakdown.stall_by_cause()


def simulate_cycle(layer: Layer, accel: Accelerator, mapping: Mapping,
                   timing: str = "native", memory: MemoryModel | None = None,
                   tensors: dict[str, Any] | None = None, *, breakdown: bool = True,
                   trace: Callable[[TileBreakdown], None] | None = None,
                   chunk_passes: int | None = CHUNK_PASSES) -> CycleRun:
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

    Memory: the walk takes the passes ``chunk_passes`` at a time
    (:func:`sim.cycle.demand.demand_chunks`; ``None``: all at once) when the memory
    model streams (``streams_demand``, :class:`BufferedMemory` does) and keeps only
    running totals, so with ``breakdown=False`` its peak memory does not grow with the
    tile count; ``breakdown=True`` (default) also keeps every pass's row in
    ``CycleRun.breakdown``. ``trace``, if given, is called with each range's rows
    (a :class:`TileBreakdown` with global pass numbers) in execution order as they
    are produced (write them to a CSV file and drop them). Every ``chunk_passes``
    gives the same result, stalls and rows.
    """
    model = memory if memory is not None else BufferedMemory()
    profile = tensor_profile(layer, accel, tensors) if tensors is not None else \
        statistical_profile(layer, accel)
    base = _shared_costs(layer, accel, mapping, timing, model, profile)
    skipping = accel.sparse.policy == "skipping"
    step = chunk_passes if getattr(model, "streams_demand", False) else None
    stalls = dict.fromkeys(CAUSES, 0)
    kept: list[TileBreakdown] = []

    def emit(part: TileBreakdown) -> None:
        for c in CAUSES:
            stalls[c] += int(part.columns[f"stall_{c}_cycles"].sum())
        if breakdown:
            kept.append(part)
        if trace is not None:
            trace(part)

    sup: Any = None
    held: TileBreakdown | None = None       # the last range waits for the final write-back
    now = tiles = streams = 0
    imbalance = 0
    offset = 0
    for d in demand_chunks(layer, accel, mapping, timing, profile.stored_bits, step):
        imb = np.zeros(d.passes, dtype=np.int64)
        if skipping:
            sched = skip_schedule(d, accel, profile)
            d = replace(d, new_tile=sched.new_tile, stream_cycles=sched.stream_cycles)
            imb = sched.imbalance_cycles
        if sup is None:
            sup = model.supply(accel, d)
        else:
            sup.feed(d)
        now, part = _walk(d, sup, now, imb)
        tiles += int(d.new_tile.sum())
        streams += int(d.stream_cycles.sum())
        imbalance += int(imb.sum())
        offset, overhead = d.layer_offset_cycles, d.overhead_cycles
        if held is not None:
            emit(held)
        held = part
    assert held is not None
    finish = sup.finish(now)
    for col in ("stall_final_write_back_cycles", "stall_cycles"):
        held.columns[col][-1] += finish - now
    emit(held)
    total = finish + offset
    compute_total = tiles * overhead + streams + offset - imbalance
    assert skipping or compute_total == base.compute_cycles, \
        "demand and analytic compute disagree"
    counted = total - offset                   # cycles, not SCALE-Sim's last index
    result = replace(base, compute_cycles=compute_total, stall_cycles=total - compute_total,
                     total_cycles=total, fidelity="cycle",
                     utilization=layer.macs * (profile.effectual if skipping else 1)
                     / (counted * accel.rows * accel.cols))
    rows = None
    if breakdown:
        rows = kept[0] if len(kept) == 1 else TileBreakdown(layer.name, {
            k: np.concatenate([p.columns[k] for p in kept]) for k in kept[0].columns})
    return CycleRun(result, rows, stalls)


def _walk(d: Demand, sup: Supply, now: int, imbalance: np.ndarray) -> tuple[int, TileBreakdown]:
    """Walk the passes of ``d`` from cycle ``now``; the cycle the last one ends and
    their rows."""
    compute = d.pass_compute_cycles().tolist()
    n, p0 = d.passes, d.pass0
    start, end = [0] * n, [0] * n
    stalls = {c: [0] * n for c in CAUSES}
    stalls["imbalance"] = imbalance.tolist()
    for k in range(n):
        i = p0 + k
        s, cause = sup.start(i, now)
        if s > now:
            stalls[cause][k] += s - now
        dur, extra = sup.busy(i, compute[k])
        for c, v in extra.items():
            stalls[c][k] += v
        now = s + dur
        sup.end(i, now)
        start[k], end[k] = s, now
    return now, _breakdown(d, start, end, stalls)


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
    """The rows of ``d``'s passes (a block's DRAM traffic at its first/last pass, when
    that pass is in ``d``)."""
    n, p0 = d.passes, d.pass0
    stall_cols = {f"stall_{c}_cycles": np.array(v, dtype=np.int64) for c, v in stalls.items()}
    dram_r = np.zeros(n)
    dram_w = np.zeros(n)
    first, last = d.first - p0, d.last - p0
    at_first = (first >= 0) & (first < n)
    at_last = (last >= 0) & (last < n)
    dram_r[first[at_first]] = (np.sum([d.dram_read_bits(op) for op in OPERANDS], axis=0)
                               / 8)[at_first]
    dram_w[last[at_last]] = (d.dram_write_bits() / 8)[at_last]
    cols: dict[str, np.ndarray] = {
        "pass": np.arange(p0, p0 + n), "block": d.block_of,
        "new_tile": d.new_tile.astype(np.int64),
        "start_cycle": np.array(start, dtype=np.int64), "end_cycle": np.array(end, dtype=np.int64),
        "fill_cycles": d.new_tile * d.fill_cycles, "stream_cycles": d.stream_cycles,
        "drain_cycles": d.new_tile * d.drain_cycles,
        "stall_cycles": np.sum(list(stall_cols.values()), axis=0),
        **stall_cols,
        **{f"glb_{op}_words": d.glb_reads[op] + d.glb_writes[op] for op in OPERANDS},
        "dram_read_bytes": dram_r, "dram_write_bytes": dram_w}
    return TileBreakdown(d.layer, cols)


__all__ = ["COLUMNS", "CycleRun", "MemoryModel", "TileBreakdown", "simulate_cycle"]
