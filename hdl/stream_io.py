"""Narrow stream ports to and from the operand buffers: one element per beat.

Matrices travel row-major (``[i][j]``, ``j`` fastest). A buffer word holds ``lanes``
elements of one array row/column set; :class:`MatrixWalker` turns the row-major
position into (word address, lane) with counters only (no multipliers):

* ``col_lanes`` (lanes along ``j``): ``addr = (j // L) * n_rows + i``, ``lane = j % L``
  -- A in WS (``A[m][k]``, lanes = K slice), B (``B[k][n]``), O (``O[m][n]``);
* ``row_lanes`` (lanes along ``i``): ``addr = (i // L) * n_cols + j``, ``lane = i % L``
  -- A in OS (lanes = M slice).

:class:`StreamLoader` writes accepted beats into a buffer (one lane enabled, the
element replicated over the word) at the edge that accepts them.
:class:`StreamUnloader` reads a buffer out into a small FIFO with full valid/ready
backpressure; it reads only when the FIFO has room, so the RAM's read enable never
waits on ``ready`` (an input pin: with block RAMs spread over the die, a path from a pin
through decision logic to a RAM port is among the longest wires of the design).
"""

from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, ResetInserter, Signal, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from hdl.params import HdlError

LAYOUTS: tuple[str, ...] = ("col_lanes", "row_lanes")


class MatrixWalker(wiring.Component):
    """Row-major walk over ``n_rows x n_cols``: ``addr``/``lane`` of the current element,
    ``last`` on the final one; ``step`` advances (wrapping to 0 after the last),
    ``restart`` returns to the first element."""

    def __init__(self, layout: str, lanes: int, dim_bits: int, addr_bits: int) -> None:
        if layout not in LAYOUTS:
            raise HdlError(f"walker layout must be one of {list(LAYOUTS)}, not {layout!r}")
        self._layout, self._lanes = layout, lanes
        lane_w = max(1, (lanes - 1).bit_length())
        super().__init__({"n_rows": In(dim_bits), "n_cols": In(dim_bits), "step": In(1),
                          "restart": In(1), "addr": Out(addr_bits), "lane": Out(lane_w),
                          "last": Out(1)})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        dw = len(self.n_rows)
        i, j = Signal(dw), Signal(dw)
        lane = Signal(len(self.lane))
        base = Signal(dw + len(self.addr))
        # addr == base + (i or j) at all times, kept as its own register (updated with
        # the same steps) so that no adder lies between a register and a RAM port
        addr = Signal(len(self.addr))
        end_row = j == self.n_cols - 1
        end_all = end_row & (i == self.n_rows - 1)
        lane_end = lane == self._lanes - 1
        m.d.comb += [self.lane.eq(lane), self.last.eq(end_all), self.addr.eq(addr)]
        with m.If(self.restart):
            m.d.sync += [i.eq(0), j.eq(0), lane.eq(0), base.eq(0), addr.eq(0)]
        with m.Elif(self.step):
            if self._layout == "col_lanes":
                with m.If(end_row):
                    m.d.sync += [j.eq(0), lane.eq(0), base.eq(0),
                                 i.eq(Mux(end_all, 0, i + 1)), addr.eq(Mux(end_all, 0, i + 1))]
                with m.Else():
                    m.d.sync += [j.eq(j + 1), lane.eq(Mux(lane_end, 0, lane + 1))]
                    with m.If(lane_end):
                        m.d.sync += [base.eq(base + self.n_rows), addr.eq(addr + self.n_rows)]
            else:
                with m.If(end_all):
                    m.d.sync += [i.eq(0), j.eq(0), lane.eq(0), base.eq(0), addr.eq(0)]
                with m.Elif(end_row):
                    m.d.sync += [j.eq(0), i.eq(i + 1), lane.eq(Mux(lane_end, 0, lane + 1))]
                    with m.If(lane_end):
                        m.d.sync += [base.eq(base + self.n_cols), addr.eq(base + self.n_cols)]
                    with m.Else():
                        m.d.sync += addr.eq(base)
                with m.Else():
                    m.d.sync += [j.eq(j + 1), addr.eq(addr + 1)]
        return m


class StreamLoader(wiring.Component):
    """Accepts ``inp`` beats while ``enable`` and writes each into the buffer ports
    ``w_addr``/``w_data``/``w_en`` (connect to an :class:`~hdl.buffer.OperandBuffer`)."""

    def __init__(self, layout: str, lanes: int, lane_bits: int, dim_bits: int,
                 addr_bits: int) -> None:
        self._walker = MatrixWalker(layout, lanes, dim_bits, addr_bits)
        self._lanes, self._lane_bits = lanes, lane_bits
        super().__init__({"inp": In(stream.Signature(signed(lane_bits))),
                          "n_rows": In(dim_bits), "n_cols": In(dim_bits), "enable": In(1),
                          "restart": In(1), "w_addr": Out(addr_bits),
                          "w_data": Out(unsigned(lanes * lane_bits)), "w_en": Out(lanes)})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.walker = w = self._walker
        fire = self.inp.valid & self.enable
        m.d.comb += [w.n_rows.eq(self.n_rows), w.n_cols.eq(self.n_cols),
                     w.restart.eq(self.restart), w.step.eq(fire),
                     self.inp.ready.eq(self.enable),
                     self.w_addr.eq(w.addr),
                     self.w_data.eq(Cat(*[self.inp.payload] * self._lanes)),
                     self.w_en.eq(Mux(fire, Const(1, self._lanes) << w.lane, 0))]
        return m


class StreamUnloader(wiring.Component):
    """Streams ``n_rows x n_cols`` accumulators out of a buffer after ``arm``.

    Drives the buffer read port (``r_addr``/``r_en``; the word on ``r_data``
    ``read_latency`` cycles later: 1 for the RAM itself, 2 when the caller registers
    its output once more) and ``out``; ``restart`` drops any pending element and
    rewinds. The element read lands in a FIFO of ``read_latency + 2`` entries; a read
    is issued only when the FIFO is sure to have room for it, so ``r_en`` depends on
    registers only and a consumer that is always ready gets one element per cycle."""

    def __init__(self, lanes: int, lane_bits: int, dim_bits: int, addr_bits: int,
                 read_latency: int = 1) -> None:
        if read_latency not in (1, 2):
            raise HdlError(f"read_latency must be 1 or 2, not {read_latency!r}")
        self._latency = read_latency
        self._walker = MatrixWalker("col_lanes", lanes, dim_bits, addr_bits)
        self._lanes, self._lane_bits = lanes, lane_bits
        super().__init__({"out": Out(stream.Signature(signed(lane_bits))),
                          "n_rows": In(dim_bits), "n_cols": In(dim_bits), "arm": In(1),
                          "restart": In(1), "r_addr": Out(addr_bits), "r_en": Out(1),
                          "r_data": In(unsigned(lanes * lane_bits))})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.walker = w = self._walker
        lb, lat = self._lane_bits, self._latency
        depth = lat + 2
        m.submodules.fifo = fifo = ResetInserter(self.restart)(
            SyncFIFO(width=lb, depth=depth))
        pending = Signal()            # elements left to issue
        # reads in flight: flight[i] -- issued i + 1 cycles ago (the last one's word is
        # on r_data now), with the lane each one selects
        flight = [Signal(name=f"flight{i}") for i in range(lat)]
        lanes_q = [Signal(len(w.lane), name=f"lane{i}") for i in range(lat)]
        issue = pending & (fifo.level + sum(flight) < depth)
        m.d.comb += [w.n_rows.eq(self.n_rows), w.n_cols.eq(self.n_cols),
                     w.restart.eq(self.restart), w.step.eq(issue),
                     self.r_addr.eq(w.addr), self.r_en.eq(issue)]
        lanes = [self.r_data[i * lb:(i + 1) * lb] for i in range(self._lanes)]
        with m.Switch(lanes_q[-1]):
            for i, lane in enumerate(lanes):
                with m.Case(i):
                    m.d.comb += fifo.w_data.eq(lane)
        m.d.comb += [fifo.w_en.eq(flight[-1]),
                     self.out.valid.eq(fifo.r_rdy), self.out.payload.eq(fifo.r_data.as_signed()),
                     fifo.r_en.eq(self.out.ready)]
        m.d.sync += [lanes_q[0].eq(w.lane)] + [lanes_q[i].eq(lanes_q[i - 1])
                                               for i in range(1, lat)]
        with m.If(self.restart):
            m.d.sync += [pending.eq(0)] + [f.eq(0) for f in flight]
        with m.Else():
            m.d.sync += [flight[0].eq(issue)] + [flight[i].eq(flight[i - 1])
                                                 for i in range(1, lat)]
            with m.If(issue & w.last):
                m.d.sync += pending.eq(0)
            with m.Elif(self.arm):
                m.d.sync += pending.eq(1)
        return m


__all__ = ["LAYOUTS", "MatrixWalker", "StreamLoader", "StreamUnloader"]
