"""The top level: buffers, stream loaders/unloader, controller and array of one GEMM engine.

Ports (``amaranth.lib.stream`` streams become ``<name>__payload/valid/ready``):

* ``a`` (in): ``A[M x K]`` row-major, one signed operand per beat;
* ``b`` (in): ``B[K x N]`` (the weight role) row-major;
* ``o`` (out): ``O[M x N] = A . B`` row-major, signed, wrapped at the accumulator width;
* ``m``, ``k``, ``n``: the GEMM size (hold them steady from loading to unloading);
  ``order``: fold loop order (0: N fold outer, 1: the row fold outer; see
  :mod:`hdl.controller`);
* ``start`` (level, sampled while idle), ``busy``, ``done`` (set at the end of the
  compute phase, cleared by ``start``), ``cycles`` (busy cycles of the last run).

Protocol: with ``m/k/n`` set, send A and B (any interleaving, idle cycles allowed; the
inputs are ready while idle and ``start`` is low), pulse ``start``, wait for ``done``,
then read ``M * N`` outputs from ``o`` (backpressure allowed). ``start`` is ignored in
the first cycle after reset.

Timing structure (for Fmax; the cycle schedule is :mod:`hdl.controller`'s): every
compute-phase buffer read is issued two cycles ahead and its data registered here
before it reaches the array or an adder, the array's broadcast controls are one
register per row, and the unloader reads through a FIFO. A convolution runs as
its im2col GEMM, lowered on the host (:func:`hdl.golden.im2col`): A = the im2col
matrix (output pixels x C*R*S), B = the filters reshaped to (C*R*S x K).
"""

from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hdl.array import OSArray, WSArray
from hdl.buffer import OperandBuffer
from hdl.controller import Controller
from hdl.params import CYCLE_COUNTER_BITS, HdlError, HdlParams
from hdl.stream_io import StreamLoader, StreamUnloader


class GemmTop(wiring.Component):
    """One GEMM engine generated from :class:`~hdl.params.HdlParams`."""

    def __init__(self, params: HdlParams) -> None:
        if not isinstance(params, HdlParams):
            raise TypeError(f"params must be HdlParams, not {type(params).__name__}")
        if params.engine != "dense":
            raise HdlError(f"GemmTop builds the dense engine; the {params.engine!r} engine "
                           f"has its own generator")
        self._p = params
        ob, ab, dw = signed(params.operand_bits), signed(params.accumulator_bits), \
            params.dim_bits
        super().__init__({"a": In(stream.Signature(ob)), "b": In(stream.Signature(ob)),
                          "o": Out(stream.Signature(ab)),
                          "m": In(unsigned(dw)), "k": In(unsigned(dw)),
                          "n": In(unsigned(dw)), "order": In(1),
                          "start": In(1), "busy": Out(1), "done": Out(1),
                          "cycles": Out(CYCLE_COUNTER_BITS)})

    @property
    def params(self) -> HdlParams:
        return self._p

    def elaborate(self, platform: object) -> Module:
        m = Module()
        p = self._p
        ob, ab, R, C, dw = p.operand_bits, p.accumulator_bits, p.rows, p.cols, p.dim_bits
        ws = p.dataflow == "ws"
        m.submodules.buf_a = buf_a = OperandBuffer(R, ob, p.depth_a)
        m.submodules.buf_b = buf_b = OperandBuffer(C, ob, p.depth_b)
        m.submodules.buf_o = buf_o = OperandBuffer(C, ab, p.depth_o)
        m.submodules.load_a = load_a = StreamLoader("col_lanes" if ws else "row_lanes", R,
                                                    ob, dw, buf_a.addr_bits)
        m.submodules.load_b = load_b = StreamLoader("col_lanes", C, ob, dw, buf_b.addr_bits)
        # the unloader reads the output words through o_word (registered below)
        m.submodules.unload = unload = StreamUnloader(C, ab, dw, buf_o.addr_bits,
                                                      read_latency=2)
        m.submodules.ctrl = ctrl = Controller(p)
        array_cls = WSArray if ws else OSArray
        m.submodules.array = arr = array_cls(R, C, ob, ab, p.product_register,
                                             per_row_control=True)

        idle = ~ctrl.busy & ~self.start
        wiring.connect(m, wiring.flipped(self.a), load_a.inp)
        wiring.connect(m, wiring.flipped(self.b), load_b.inp)
        wiring.connect(m, unload.out, wiring.flipped(self.o))
        m.d.comb += [
            ctrl.start.eq(self.start), ctrl.m.eq(self.m), ctrl.k.eq(self.k),
            ctrl.n.eq(self.n), ctrl.order.eq(self.order),
            self.busy.eq(ctrl.busy), self.done.eq(ctrl.done), self.cycles.eq(ctrl.cycles),
            # loaders: A is M x K, B is K x N
            load_a.n_rows.eq(self.m), load_a.n_cols.eq(self.k),
            load_b.n_rows.eq(self.k), load_b.n_cols.eq(self.n),
            load_a.enable.eq(idle), load_b.enable.eq(idle),
            load_a.restart.eq(self.start), load_b.restart.eq(self.start),
            buf_a.w_addr.eq(load_a.w_addr), buf_a.w_data.eq(load_a.w_data),
            buf_a.w_en.eq(load_a.w_en),
            buf_b.w_addr.eq(load_b.w_addr), buf_b.w_data.eq(load_b.w_data),
            buf_b.w_en.eq(load_b.w_en),
            # compute reads
            buf_a.r_addr.eq(ctrl.a_addr), buf_a.r_en.eq(1),
            buf_b.r_addr.eq(ctrl.b_addr), buf_b.r_en.eq(1),
            # output buffer: the controller reads (partial sums) while busy, the
            # unloader afterwards
            unload.n_rows.eq(self.m), unload.n_cols.eq(self.n),
            unload.arm.eq(ctrl.finish), unload.restart.eq(self.start & ~ctrl.busy),
            buf_o.r_addr.eq(Mux(ctrl.busy, ctrl.o_rd_addr, unload.r_addr)),
            buf_o.r_en.eq(Mux(ctrl.busy, ctrl.o_rd_en, unload.r_en)),

            buf_o.w_addr.eq(ctrl.o_wr_addr), buf_o.w_en.eq(Mux(ctrl.o_wr_en, -1, 0)),
        ]
        lane = lambda word, i, w: word[i * w:(i + 1) * w].as_signed()  # noqa: E731

        def early(buf: OperandBuffer) -> Signal:
            """Read data registered once more: the controller reads these words two
            cycles ahead, as RAM clock-to-output is too slow to feed logic directly
            (nothing may sit between the RAM and this register)."""
            q = Signal.like(buf.r_data, name=f"{buf.r_data.name}_q", reset_less=True)
            m.d.sync += q.eq(buf.r_data)
            return q

        def replay(buf: OperandBuffer, word: Signal, tag: str) -> Signal:
            """``word`` (the registered read) with the lanes of a write that hit the
            same address at the read's edge replayed into it.

            The first B word (OS: the first A and B words) is read in the cycle before
            ``start``, which may be the cycle the loader writes the last operand, and a
            read and a write of one word at the same edge return the old word. A
            transparent port would fix that with a mux between the RAM and the read
            register (and Yosys then absorbs the register into the RAM, leaving the
            RAM's 5.8 ns clock-to-output in front of a multiplier); this mux comes one
            stage later instead, behind registers only."""
            wr = [Signal.like(x, name=f"{tag}_wr_{n}", reset_less=True) for n, x in
                  (("addr", buf.w_addr), ("data", buf.w_data), ("en", buf.w_en))]
            rd_addr = Signal.like(buf.r_addr, name=f"{tag}_rd_addr", reset_less=True)
            m.d.sync += [wr[0].eq(buf.w_addr), wr[1].eq(buf.w_data), wr[2].eq(buf.w_en),
                         rd_addr.eq(buf.r_addr)]
            patch = Signal(buf.lanes, name=f"{tag}_patch", reset_less=True)
            patch_data = Signal.like(buf.w_data, name=f"{tag}_patch_data", reset_less=True)
            m.d.sync += [patch.eq(Mux(wr[0] == rd_addr, wr[2], 0)), patch_data.eq(wr[1])]
            w = buf.lane_bits
            return Cat(Mux(patch[i], patch_data[i * w:(i + 1) * w], word[i * w:(i + 1) * w])
                       for i in range(buf.lanes))

        # WS reads A only from position R >= 1 on: after the last load, no replay needed
        a_word = early(buf_a) if ws else replay(buf_a, early(buf_a), "a")
        b_word = replay(buf_b, early(buf_b), "b")
        o_word = early(buf_o)
        m.d.comb += unload.r_data.eq(o_word)
        for r in range(R):
            m.d.comb += arr.a[r].eq(lane(a_word, r, ob))
        results = []
        for c in range(C):
            if ws:
                m.d.comb += arr.w[c].eq(Mux(ctrl.w_zero, 0, lane(b_word, c, ob)))
                old = Mux(ctrl.o_acc, lane(o_word, c, ab), 0)
                results.append((arr.out[c] + old)[:ab])
            else:
                m.d.comb += arr.b[c].eq(lane(b_word, c, ob))
                results.append(arr.out[c].as_unsigned())
        m.d.comb += buf_o.w_data.eq(Cat(*results))
        if ws:
            m.d.comb += arr.w_load.eq(ctrl.w_load)
        else:
            m.d.comb += [arr.valid.eq(ctrl.valid), arr.drain.eq(ctrl.drain)]
        return m


__all__ = ["GemmTop"]
