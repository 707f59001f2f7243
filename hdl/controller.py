"""The GEMM controller: walks the tiles of ``O[M x N] = A[M x K] . B[K x N]`` and
schedules every cycle of the array, so that its busy period is exactly the native
timing of :mod:`sim.timing`.

Tiles and folds (``R x C`` array, ``S`` = stream length, ``pr`` = product register):

* **WS**: the row fold walks K in steps of ``R`` (``ceil(K/R)`` folds), the column
  fold walks N in steps of ``C``. A tile = preload (``t < R``: one B row per cycle,
  bottom row first, rows ``>= K`` zeroed) + stream (``R <= t < R + M``: row ``m`` of
  the A slice) + drain; output row ``m`` leaves the de-skew at ``t0 + m`` with
  ``t0 = 2R + C - 1 + pr``. K-fold partial sums accumulate **in the output buffer at
  accumulator width**: the first K fold writes, later ones read-add-write (the read is
  issued one cycle ahead, so no extra cycle).
* **OS**: the row fold walks M in steps of ``R``, the column fold N in steps of
  ``C``; K streams whole (``t < K``) and accumulates inside the PEs; drain for ``R``
  cycles from ``t_cap = K + R + C - 2 + pr``, one output row written per cycle.

Every tile lasts ``L = S + 2R + C - 1 + pr`` cycles, back to back, so busy lasts
``tiles * L`` cycles. ``order`` picks the fold loop order (0: column fold outer, row
fold inner; 1: row fold outer) -- the GLB-level order of the mapping.

Pipelining: buffer reads have one cycle of latency, so read addresses are computed
from the *next* state (``nxt_*``, combinational) -- including in the ``start`` cycle,
where the idle controller already presents tile 0's first address. No cycle is
added for the handshake: ``busy`` rises the cycle after ``start`` is sampled and
falls after the last output is written; ``cycles`` counts the busy cycles.
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from hdl.params import CYCLE_COUNTER_BITS, HdlParams


def _aw(depth: int) -> int:
    return max(1, ceil_log2(depth))


class Controller(wiring.Component):
    """Schedules one GEMM on a ``params.dataflow`` array (see the module docstring)."""

    def __init__(self, params: HdlParams) -> None:
        self._p = params
        dw = params.dim_bits
        sig = {"start": In(1), "m": In(dw), "k": In(dw), "n": In(dw), "order": In(1),
               "busy": Out(1), "done": Out(1), "finish": Out(1),
               "cycles": Out(CYCLE_COUNTER_BITS),
               "a_addr": Out(_aw(params.depth_a)), "b_addr": Out(_aw(params.depth_b)),
               "o_rd_addr": Out(_aw(params.depth_o)), "o_rd_en": Out(1),
               "o_wr_addr": Out(_aw(params.depth_o)), "o_wr_en": Out(1), "o_acc": Out(1)}
        if params.dataflow == "ws":
            sig |= {"w_load": Out(1), "w_zero": Out(1)}
        else:
            sig |= {"valid": Out(1), "drain": Out(1)}
        super().__init__(sig)

    @property
    def params(self) -> HdlParams:
        return self._p

    def elaborate(self, platform: object) -> Module:
        m = Module()
        p = self._p
        R, C, pr = p.rows, p.cols, p.pipeline
        ws = p.dataflow == "ws"
        dw, tw = p.dim_bits, p.dim_bits + 2
        stream_len = self.m if ws else self.k
        row_limit = self.k if ws else self.m
        a_step = self.m if ws else self.k
        overhead = p.tile_overhead_cycles

        # -- state and next state --------------------------------------------------
        busy, t = Signal(), Signal(tw)
        row_off, col_off = Signal(dw), Signal(dw)
        a_base, b_base, o_base = Signal(dw), Signal(dw), Signal(dw)
        n_busy, n_t = Signal(), Signal(tw)
        n_row, n_col = Signal(dw), Signal(dw)
        n_a, n_b, n_o = Signal(dw), Signal(dw), Signal(dw)
        tile_end = t == stream_len + (overhead - 1)
        last_row = row_off + R >= row_limit
        last_col = col_off + C >= self.n
        finish = Signal()

        m.d.comb += [n_busy.eq(busy), n_t.eq(t + 1), n_row.eq(row_off), n_col.eq(col_off),
                     n_a.eq(a_base), n_b.eq(b_base), n_o.eq(o_base)]

        def step_row() -> list:
            return [n_row.eq(row_off + R), n_a.eq(a_base + a_step)]

        def step_col() -> list:
            return [n_col.eq(col_off + C), n_b.eq(b_base + self.k), n_o.eq(o_base + self.m)]

        reset_row = [n_row.eq(0), n_a.eq(0)]
        reset_col = [n_col.eq(0), n_b.eq(0), n_o.eq(0)]
        with m.If(~busy):
            m.d.comb += [n_busy.eq(self.start), n_t.eq(0)] + reset_row + reset_col
        with m.Elif(tile_end):
            m.d.comb += n_t.eq(0)
            with m.If(self.order == 0):            # row fold innermost
                with m.If(~last_row):
                    m.d.comb += step_row()
                with m.Elif(~last_col):
                    m.d.comb += reset_row + step_col()
                with m.Else():
                    m.d.comb += [finish.eq(1), n_busy.eq(0)] + reset_row + reset_col
            with m.Else():                          # column fold innermost
                with m.If(~last_col):
                    m.d.comb += step_col()
                with m.Elif(~last_row):
                    m.d.comb += reset_col + step_row()
                with m.Else():
                    m.d.comb += [finish.eq(1), n_busy.eq(0)] + reset_row + reset_col
        m.d.sync += [busy.eq(n_busy), t.eq(n_t), row_off.eq(n_row), col_off.eq(n_col),
                     a_base.eq(n_a), b_base.eq(n_b), o_base.eq(n_o)]

        # -- status ------------------------------------------------------------------
        done, cycles = Signal(), Signal(CYCLE_COUNTER_BITS)
        with m.If(~busy & self.start):
            m.d.sync += [done.eq(0), cycles.eq(0)]
        with m.Elif(busy):
            m.d.sync += cycles.eq(cycles + 1)
        with m.If(finish):
            m.d.sync += done.eq(1)
        m.d.comb += [self.busy.eq(busy), self.done.eq(done), self.cycles.eq(cycles),
                     self.finish.eq(finish)]

        if ws:
            self._ws_schedule(m, busy, t, row_off, o_base, n_busy, n_t, n_row, n_a, n_b, n_o)
        else:
            self._os_schedule(m, busy, t, row_off, o_base, n_busy, n_t, n_a, n_b,
                              stream_len)
        return m

    def _ws_schedule(self, m: Module, busy, t, row_off, o_base, n_busy, n_t, n_row,  # noqa: ANN001
                     n_a, n_b, n_o) -> None:
        p = self._p
        R = p.rows
        t0 = p.tile_overhead_cycles           # first output row: 2R + C - 1 + pr
        # reads for the next cycle
        pre = n_t < R
        k_row = n_row + (R - 1) - n_t         # B row loaded at preload step n_t
        b_ok = pre & (k_row < self.k)
        win = (n_t >= R) & (n_t < R + self.m)
        acc_rd = n_busy & (n_t >= t0) & (n_row != 0)
        w_zero = Signal()
        m.d.sync += w_zero.eq(~b_ok)
        m.d.comb += [
            self.b_addr.eq(Mux(b_ok, n_b + k_row, 0)),
            self.a_addr.eq(Mux(win, n_a + (n_t - R), 0)),
            self.o_rd_en.eq(acc_rd),
            self.o_rd_addr.eq(Mux(acc_rd, n_o + (n_t - t0), 0)),
            # this cycle's array and output-buffer controls
            self.w_load.eq(busy & (t < R)),
            self.w_zero.eq(w_zero),
            self.o_wr_en.eq(busy & (t >= t0)),
            self.o_wr_addr.eq(o_base + (t - t0)),
            self.o_acc.eq(row_off != 0),
        ]

    def _os_schedule(self, m: Module, busy, t, row_off, o_base, n_busy, n_t,  # noqa: ANN001
                     n_a, n_b, stream_len) -> None:
        p = self._p
        R, C, pr = p.rows, p.cols, p.pipeline
        win = n_t < stream_len
        valid = Signal()
        m.d.sync += valid.eq(n_busy & win)
        t_cap = stream_len + (R + C - 2 + pr)     # all accumulators final in this cycle
        d = t - (t_cap + 1)                        # drain step of the row written now
        row = row_off + (R - 1) - d
        m.d.comb += [
            self.a_addr.eq(Mux(win, n_a + n_t, 0)),
            self.b_addr.eq(Mux(win, n_b + n_t, 0)),
            self.o_rd_en.eq(0), self.o_rd_addr.eq(0),
            self.valid.eq(valid),
            self.drain.eq(busy & (t >= t_cap) & (t < t_cap + R)),
            self.o_wr_en.eq(busy & (t > t_cap) & (row < self.m)),
            self.o_wr_addr.eq(o_base + row),
            self.o_acc.eq(0),
        ]


__all__ = ["Controller"]
