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

from amaranth import Module
from amaranth.lib import wiring

from hdl.array import OSArray, WSArray
from hdl.buffer import OperandBuffer
from hdl.controller import Controller
from hdl.engine_shell import (check_top_params, connect_shell, early, gemm_ports, lanes,
                              replay, write_back)
from hdl.params import HdlError, HdlParams
from hdl.stream_io import StreamLoader, StreamUnloader


class GemmTop(wiring.Component):
    """One GEMM engine generated from :class:`~hdl.params.HdlParams`."""

    def __init__(self, params: HdlParams) -> None:
        check_top_params(params, None, "GemmTop")
        if params.engine != "dense":
            raise HdlError(f"GemmTop builds the dense engine; the {params.engine!r} engine "
                           f"has its own generator")
        self._p = params
        super().__init__(gemm_ports(params))

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
        connect_shell(m, self, ctrl, load_a, load_b, unload, buf_a, buf_b, buf_o,
                      k=self.k, b_rows=self.k, busy=ctrl.busy, done=ctrl.done,
                      cycles=ctrl.cycles, finish=ctrl.finish)
        # WS reads A only from position R >= 1 on: after the last load, no replay needed
        a_word = early(m, buf_a) if ws else replay(m, buf_a, early(m, buf_a), "a")
        b_word = replay(m, buf_b, early(m, buf_b), "b")
        write_back(m, ws, arr, ctrl, buf_o, unload, early(m, buf_o), ab,
                   lanes(a_word, R, ob), lanes(b_word, C, ob))
        return m


__all__ = ["GemmTop"]
