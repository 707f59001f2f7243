"""What memory supplies: the supply side of the cycle-approximate model.

A *memory model* is a frozen parameter record with one method,
``supply(accel, demand) -> Supply``, that builds the per-run state the engine
(:mod:`sim.cycle.engine`) talks to. A :class:`Supply` answers three questions per
pass, in execution order, and one at the end:

* ``start(i, now)`` -- the earliest cycle pass ``i`` can start, given that the
  previous pass ended at ``now`` (its data in the GLB, space for its outputs), and
  why it waits;
* ``busy(i, compute)`` -- how long pass ``i`` takes when it needs ``compute`` cycles
  of the array (at least ``compute``), the extra cycles by cause;
* ``end(i, cycle)`` -- pass ``i`` ended: buffers it used become free, outputs are
  written back;
* ``finish(cycle)`` -- when the last write-back completes.

A model whose class sets ``streams_demand = True`` builds its supply from the first
range of passes and takes the next ones with ``feed(demand)``
(:func:`sim.cycle.demand.demand_chunks`): the engine then never holds more than one
range; any other model is built from the whole layer's demand.

:class:`BufferedMemory` is the physical model built from the accelerator spec:

* DRAM: one read and one write channel (``dram.read/write_bytes_per_cycle``), each
  moving one transfer at a time in program order (FIFO); a read completes
  ``dram_latency_cycles`` after its last byte leaves DRAM. A transfer of ``b`` bits
  occupies its channel ``ceil(b / (8 * bytes_per_cycle))`` cycles.
* GLB tiles: before each block, every operand whose GLB tile changes is loaded
  (partial sums of an output tile visited before are refilled); after the last pass
  of an output tile, the tile is written back (final outputs at output width, partial
  sums at accumulator width). A *double-buffered* GLB keeps two tiles per operand:
  load ``m`` goes into the half that load ``m - 2`` used, so it may start as soon as
  the last pass using load ``m - 2`` ended (for outputs: once tile ``m - 2`` is
  written back) -- the prefetch of the next tile overlaps compute. A single-buffered
  GLB loads tile ``m`` only after tile ``m - 1`` is no longer used (written back).
* GLB ports: in each pass, a buffer's read port moves the array's reads (stationary
  loads, streams, psum read-backs) plus, in the last pass of a block, the outputs
  read out for write-back; its write port the array's writes plus, in the first pass
  of a block, the tiles DRAM delivered. A pass lasts at least
  ``ceil(bits / (8 * bytes_per_cycle))`` on each port (the port is not shared
  across passes: conservative when fills and computing overlap).
* Banks (optional, :class:`Banking` per buffer name): the words one wavefront of the
  stream asks from a buffer (streamed operands; outputs written each cycle) are
  word-interleaved over ``banks`` banks with ``ports`` accesses each per cycle; a
  wavefront whose words sit ``stride`` words apart reaches
  ``banks / gcd(stride, banks)`` banks and needs
  ``ceil(words / (ports * reachable banks))`` cycles: every cycle beyond the first is
  a bank-conflict stall, each wavefront of the pass.

With unlimited bandwidth, zero latency and no banking, no pass ever waits and
``busy`` returns ``compute``: the cycle model then equals the analytic model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

from dataflows.dataflow import OPERANDS
from dataflows.errors import CoforgeError
from dataflows.layer import Layer
from dataflows.mapping import Mapping
from sim.cycle.demand import Demand
from sim.default_mapping import default_mapping
from sim.spec import Accelerator

#: Stall causes, in the order the breakdown and the trace list them. ``imbalance`` is
#: the array's own (a skipping engine's slowest lane, :mod:`sim.sparse`), not memory's.
CAUSES: tuple[str, ...] = ("dram_read", "write_back", "glb_bandwidth", "bank_conflict",
                           "final_write_back", "imbalance")


class MemoryModelError(CoforgeError):
    """A memory-model parameter breaks a rule; the message names it and the value."""


class Supply(Protocol):
    """Per-run memory state the engine asks, pass by pass (see the module docstring)."""

    def start(self, i: int, now: int) -> tuple[int, str]: ...

    def busy(self, i: int, compute: int) -> tuple[int, dict[str, int]]: ...

    def end(self, i: int, cycle: int) -> None: ...

    def finish(self, cycle: int) -> int: ...


def transfer_cycles(bits: int, bytes_per_cycle: float) -> int:
    """Cycles to move ``bits`` at ``bytes_per_cycle`` (0 when unlimited or nothing)."""
    if bits <= 0 or bytes_per_cycle == math.inf:
        return 0
    return math.ceil(bits / 8 / bytes_per_cycle)


@dataclass(frozen=True)
class Banking:
    """A buffer split into ``banks`` word-interleaved banks with ``ports`` accesses per
    bank per cycle; a wavefront's words lie ``stride`` words apart."""

    banks: int
    ports: int = 1
    stride: int = 1

    def __post_init__(self) -> None:
        for name in ("banks", "ports", "stride"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise MemoryModelError(f"banking.{name} must be a positive integer, "
                                       f"not {value!r}")

    def wavefront_cycles(self, words: int) -> int:
        """Cycles one wavefront of ``words`` words needs (>= 1)."""
        reach = self.banks // math.gcd(self.stride, self.banks)
        return max(1, math.ceil(words / (reach * self.ports)))


@dataclass(frozen=True)
class BufferedMemory:
    """The physical memory model: double-buffered GLB tiles fed by a DRAM with
    bandwidth (from the spec) and a fixed read latency, optional bank conflicts."""

    dram_latency_cycles: int = 0
    banking: dict[str, Banking] = field(default_factory=dict)
    #: Its supply takes the demand range by range (``BufferedSupply.feed``): the engine
    #: runs it in bounded memory (a model without this gets the whole layer at once).
    streams_demand = True

    def __post_init__(self) -> None:
        lat = self.dram_latency_cycles
        if not isinstance(lat, int) or isinstance(lat, bool) or lat < 0:
            raise MemoryModelError(f"dram_latency_cycles must be an integer >= 0, not {lat!r}")
        for name, bank in self.banking.items():
            if not isinstance(bank, Banking):
                raise MemoryModelError(f"banking[{name!r}] must be a Banking, not {bank!r}")

    def mapping_for(self, layer: Layer, accel: Accelerator) -> Mapping:
        """The default mapping heuristic (:func:`sim.default_mapping.default_mapping`)."""
        return default_mapping(layer, accel)

    def in_steps(self, step_cycles: int) -> "BufferedMemory":
        """This model counted in ``step_cycles``-cycle steps (a bit-serial datapath,
        :meth:`sim.datapath.DatapathPlan.memory`): the DRAM latency rounded up to whole
        steps; bandwidths are the accelerator's (already per step in the plan's spec)."""
        return replace(self, dram_latency_cycles=-(-self.dram_latency_cycles // step_cycles))

    def supply(self, accel: Accelerator, demand: Demand) -> "BufferedSupply":
        unknown = set(self.banking) - {b.name for b in accel.glb}
        if unknown:
            raise MemoryModelError(f"banking names buffers {sorted(unknown)} that "
                                   f"{accel.name!r} does not have; its GLB buffers are "
                                   f"{[b.name for b in accel.glb]}")
        return BufferedSupply(self, accel, demand)


class BufferedSupply:
    """State of :class:`BufferedMemory` during one run (see the module docstring).

    Built from the run's first range of passes (or the whole layer, see
    :func:`sim.cycle.demand.demand_chunks`) and given the next ranges in order with
    :meth:`feed`; pass and block numbers stay global. Between ranges it keeps the DRAM
    channels' clocks and the last few GLB tiles' release times only, so its memory
    follows the range, not the layer's tile count."""

    def __init__(self, model: BufferedMemory, accel: Accelerator, demand: Demand) -> None:
        self.latency = model.dram_latency_cycles
        self.rd_bw = accel.dram.read_bytes_per_cycle
        self.wr_bw = accel.dram.write_bytes_per_cycle
        self.depth = {op: 2 if accel.glb_for(op).double_buffered else 1 for op in OPERANDS}
        # Per buffer: the operands it holds and its bank-conflict cycles per wavefront.
        self.buffers = []
        for buf in accel.glb:
            ops = [op for op in OPERANDS if op in buf.operands]
            streamed = [op for op in ops if op != demand.stationary]
            words = sum(demand.wave_words[op] for op in streamed)
            bank = model.banking.get(buf.name)
            conflict = bank.wavefront_cycles(words) - 1 if bank is not None and words else 0
            self.buffers.append((buf, ops, conflict))
        self.bank_extra = max((c for _, _, c in self.buffers), default=0)
        self.rd_free = 0
        self.wr_free = 0
        self.issued = -1                       # last block whose fills are issued
        self.fill_done = 0                     # when that block's fills have arrived
        self.half_wait = 0                     # when its output half is free
        self.issued_load = dict.fromkeys(OPERANDS, -1)   # that block's GLB tile per operand
        # When the last pass using each recent GLB tile ended / each output tile was
        # written back (the last three: a load takes the half of the one two before).
        self.use_end: dict[str, dict[int, int]] = {op: {} for op in OPERANDS}
        self.wb_done: dict[int, int] = {}
        self.feed(demand)

    def feed(self, demand: Demand) -> None:
        """Take the run's next range of passes (the one after the last given)."""
        d = demand
        self.p0, self.b0 = d.pass0, d.block0
        self.block_of = d.block_of.tolist()
        self.first = d.first.tolist()
        self.last = d.last.tolist()
        self.loads = {op: d.loads[op].tolist() for op in OPERANDS}
        self.evict = d.evict.tolist()
        self.fill_bits = {op: d.dram_read_bits(op).tolist() for op in OPERANDS}
        self.wb_bits = d.dram_write_bits().tolist()
        # Per pass: GLB port cycles (array side, plus a block's DRAM fills at its first
        # pass and its write-back read-out at its last), max over buffers.
        n = d.passes
        at_first = d.first - d.pass0
        at_last = d.last - d.pass0
        in_first = (at_first >= 0) & (at_first < n)
        in_last = (at_last >= 0) & (at_last < n)
        port = np.zeros(n, dtype=np.int64)
        for buf, ops, _ in self.buffers:
            rd = np.sum([d.glb_read_bits(op) for op in ops], axis=0)
            wr = np.sum([d.glb_write_bits(op) for op in ops], axis=0)
            fill = np.sum([d.dram_read_bits(op) for op in ops], axis=0)
            wb = d.dram_write_bits() if "output" in ops else np.zeros_like(d.first)
            wr = wr + np.zeros(1, dtype=np.result_type(wr, fill))
            rd = rd + np.zeros(1, dtype=np.result_type(rd, wb))
            wr[at_first[in_first]] += fill[in_first]
            rd[at_last[in_last]] += wb[in_last]
            port = np.maximum(port, np.maximum(_transfer_array(rd, buf.read_bytes_per_cycle),
                                               _transfer_array(wr, buf.write_bytes_per_cycle)))
        self.port = port.tolist()
        self.conflict = (self.bank_extra * d.stream_cycles).tolist()

    # -- DRAM -> GLB ------------------------------------------------------------------
    def _issue(self, j: int) -> None:
        """Put block ``j``'s tile loads on the read channel (FIFO, in program order)."""
        jl = j - self.b0
        done, free_out = 0, 0
        for op in OPERANDS:
            m = self.loads[op][jl]
            if j and m == self.issued_load[op]:
                continue                       # the GLB tile stays: nothing to load
            self.issued_load[op] = m
            prev = m - self.depth[op]          # the load whose half this one takes
            if prev < 0:
                free = 0
            elif op == "output":
                free = self.wb_done[prev]
            else:
                free = self.use_end[op][prev]
            if op == "output":
                free_out = free
            bits = self.fill_bits[op][jl]
            if bits:
                begin = max(self.rd_free, free)
                self.rd_free = begin + transfer_cycles(bits, self.rd_bw)
                done = max(done, self.rd_free + self.latency)
            else:
                done = max(done, free if op != "output" else 0)
        self.fill_done = done
        self.half_wait = free_out
        self.issued = j

    def start(self, i: int, now: int) -> tuple[int, str]:
        j = self.block_of[i - self.p0]
        if i != self.first[j - self.b0]:
            return now, ""
        while self.issued < j:
            self._issue(self.issued + 1)
        ready = max(now, self.fill_done, self.half_wait)
        if ready == now:
            return now, ""
        return ready, "dram_read" if self.fill_done >= self.half_wait else "write_back"

    # -- GLB ports and banks ------------------------------------------------------------
    def busy(self, i: int, compute: int) -> tuple[int, dict[str, int]]:
        il = i - self.p0
        port, conflict = self.port[il], self.conflict[il]
        dur = max(compute + conflict, port)
        extra = {}
        if conflict:
            extra["bank_conflict"] = conflict
        if dur > compute + conflict:
            extra["glb_bandwidth"] = dur - compute - conflict
        return dur, extra

    # -- after a block: free halves, write outputs back -------------------------------
    def end(self, i: int, cycle: int) -> None:
        jl = self.block_of[i - self.p0] - self.b0
        if i != self.last[jl]:
            return                  # tiles are per block: only its last pass frees them
        for op in OPERANDS:
            m = self.loads[op][jl]
            self.use_end[op][m] = cycle
            self.use_end[op].pop(m - 3, None)
        if self.evict[jl]:
            m = self.loads["output"][jl]
            begin = max(self.wr_free, cycle)
            self.wr_free = begin + transfer_cycles(self.wb_bits[jl], self.wr_bw)
            self.wb_done[m] = self.wr_free
            self.wb_done.pop(m - 3, None)

    def finish(self, cycle: int) -> int:
        return max(cycle, self.wr_free)


def _transfer_array(bits: np.ndarray, bytes_per_cycle: float) -> np.ndarray:
    """:func:`transfer_cycles` of every entry of ``bits`` (int64)."""
    if bytes_per_cycle == math.inf:
        return np.zeros(len(bits), dtype=np.int64)
    out = np.ceil(bits / 8 / bytes_per_cycle)
    out[bits <= 0] = 0
    return out.astype(np.int64)


__all__ = ["Banking", "BufferedMemory", "BufferedSupply", "CAUSES", "MemoryModelError",
           "Supply", "transfer_cycles"]
