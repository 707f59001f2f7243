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

Pipelining: buffer reads have one cycle of latency, so the read addresses of a cycle
belong to the *next* cycle's schedule position -- including in the ``start`` cycle,
where the idle controller already presents tile 0's first address. No cycle is added
for the handshake: ``busy`` rises the cycle after ``start`` is sampled and falls after
the last output is written; ``cycles`` counts the busy cycles.

Implementation (for Fmax; the schedule above is unchanged cycle for cycle): the
schedule state is kept **one cycle ahead** (``la_*`` registers hold the position of
the next cycle), so every read address is a register behind at most one AND gate;
this cycle's array controls are registered from the look-ahead state. Within a tile
every address is a counter and every phase boundary a flag set by comparing the
position counter with a constant registered from ``m``/``k``/``n``; the next tile's
start values are precomputed while the current tile runs (a tile lasts >= 3 cycles).
No adder, comparator or fold decision lies between two registers and a RAM port.
Early reads: every buffer read of the compute phase (A, B and the WS partial sums) is
addressed **two** cycles before its data is used (the ``...2`` look-ahead registers:
windows shifted one position earlier; at a tile's last position the next tile's first
address; when the next cycle is idle tile 0's first address, as ``start`` may follow)
and :mod:`hdl.top` registers the read data once more: the RAM's clock-to-output (5.8 ns
on ECP5, plus the depth-cascade mux) leaves no time for logic and routing behind it.
The first B (OS: A and B) word is thus read in the cycle before ``start``, possibly
while the loader writes the last operand: :mod:`hdl.top` replays such a colliding
write into the word after the read register.
Protocol consequences: ``m``, ``k``, ``n`` and ``order`` must be steady from at least
one cycle before ``start`` until ``done`` (the top level requires them steady from
loading on anyway), and ``start`` is ignored in the first cycle after reset.
"""

from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal
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
            sig |= {"w_load": Out(params.rows), "w_zero": Out(1)}
        else:
            sig |= {"valid": Out(1), "drain": Out(params.rows)}
        super().__init__(sig)

    @property
    def params(self) -> HdlParams:
        return self._p

    def elaborate(self, platform: object) -> Module:
        m = Module()
        p = self._p
        R, C, pr = p.rows, p.cols, p.pipeline
        ws = p.dataflow == "ws"
        tw = p.dim_bits + 2
        overhead = p.tile_overhead_cycles         # 2R + C - 1 + pr; WS: first output t0
        stream_len = self.m if ws else self.k
        row_limit = self.k if ws else self.m
        a_step = self.m if ws else self.k
        t_cap = self.k + (R + C - 2 + pr)         # OS: all accumulators final

        def reg(name: str, width: int = tw) -> Signal:
            return Signal(width, name=name)

        def flag(name: str) -> Signal:
            return Signal(name=name)

        # -- constants of the run (registered: m/k/n are steady before start) -----
        c_tend = reg("c_tend")                    # position before a tile's last one
        m.d.sync += c_tend.eq(stream_len + (overhead - 2))
        if ws:
            c_winend = reg("c_winend")            # last early-A position R + M - 2
            m.d.sync += c_winend.eq(self.m + (R - 2))
        else:
            c_kend, c_kend2, c_dstart, c_dend, c_tcap = (reg(n) for n in (
                "c_kend", "c_kend2", "c_dstart", "c_dend", "c_tcap"))
            m.d.sync += [c_kend.eq(self.k - 1), c_kend2.eq(self.k - 2),
                         c_dstart.eq(t_cap - 1), c_dend.eq(t_cap + (R - 1)),
                         c_tcap.eq(t_cap)]

        # -- tiles: the one after the look-ahead tile, and its start values ---------
        flags = ("lastrow", "lastcol", "bok", "bok2", "rownz", "wok")

        def derive(row: object, col: object, a: object, b: object, o: object) -> dict:
            """Start values of the look-ahead registers for the tile at (row, col)."""
            d = {"lastrow": row + R >= row_limit, "lastcol": col + C >= self.n}
            if ws:
                d |= {"b": b + row + (R - 1), "bok": row + (R - 1) < self.k,
                      "b2": b + row + (R - 2), "krow2": row + (R - 2),
                      "bok2": row + (R - 2) < self.k, "a": a + (1 - R), "o": o - overhead,
                      "o2": o + (1 - overhead), "rownz": row != 0}
            else:
                d |= {"a": a, "b": b, "a2": a + 1, "b2": b + 1, "wrow": row + R + t_cap,
                      "ow": o + row + R + t_cap, "wok": row + R + t_cap < self.m}
            return d

        nxt = {n: reg(f"nxt_{n}") for n in ("row", "col", "a", "b", "o")}
        first = derive(0, 0, 0, 0, 0)
        dn = {}                                   # derive(nxt), one cycle behind nxt
        for name, value in derive(**nxt).items():
            dn[name] = flag(f"dn_{name}") if name in flags else reg(f"dn_{name}")
            m.d.sync += dn[name].eq(value)

        def step_into(row: object, col: object, a: object, b: object, o: object,
                      last_row: object, last_col: object) -> None:
            """``nxt`` <= the tile after (row, col) in fold order (tile 0 after the last)."""
            adv_row = [nxt["row"].eq(row + R), nxt["a"].eq(a + a_step)]
            adv_col = [nxt["col"].eq(col + C), nxt["b"].eq(b + self.k),
                       nxt["o"].eq(o + self.m)]
            keep_row = [nxt["row"].eq(row), nxt["a"].eq(a)]
            keep_col = [nxt["col"].eq(col), nxt["b"].eq(b), nxt["o"].eq(o)]
            zero_row = [nxt["row"].eq(0), nxt["a"].eq(0)]
            zero_col = [nxt["col"].eq(0), nxt["b"].eq(0), nxt["o"].eq(0)]
            with m.If(self.order == 0):            # row fold innermost
                with m.If(~last_row):
                    m.d.sync += adv_row + keep_col
                with m.Elif(~last_col):
                    m.d.sync += zero_row + adv_col
                with m.Else():
                    m.d.sync += zero_row + zero_col
            with m.Else():                          # column fold innermost
                with m.If(~last_col):
                    m.d.sync += keep_row + adv_col
                with m.Elif(~last_row):
                    m.d.sync += adv_row + zero_col
                with m.Else():
                    m.d.sync += zero_row + zero_col

        # -- look-ahead state: the schedule position of the next cycle --------------
        # (names ending in 2 serve the early reads: the position one further ahead)
        la_t, la_tend = reg("la_t"), flag("la_tend")
        la_lastrow, la_lastcol = flag("la_lastrow"), flag("la_lastcol")
        if ws:
            la_pre2, la_bok2, la_win, la_accw, la_accw2, la_rownz = (flag(n) for n in (
                "la_pre2", "la_bok2", "la_win", "la_accw", "la_accw2", "la_rownz"))
            # one copy per array row: each drives that row's w_load register (the
            # copies hold themselves, so synthesis cannot merge them into one)
            la_pres = [flag(f"la_pre{r}") for r in range(R)]
            la_krow2, la_b2, la_a, la_o, la_o2 = (reg(n) for n in (
                "la_krow2", "la_b2", "la_a", "la_o", "la_o2"))
            starts = {"krow2": la_krow2, "bok2": la_bok2, "b2": la_b2, "a": la_a, "o": la_o,
                      "o2": la_o2, "rownz": la_rownz}
        else:
            la_win, la_win2, la_wwin, la_wok = (flag(n) for n in (
                "la_win", "la_win2", "la_wwin", "la_wok"))
            la_dwins = [flag(f"la_dwin{r}") for r in range(R)]     # per row, as la_pres
            la_a2, la_b2, la_wrow, la_ow = (reg(n) for n in ("la_a2", "la_b2", "la_wrow",
                                                             "la_ow"))
            starts = {"a2": la_a2, "b2": la_b2, "wrow": la_wrow, "ow": la_ow, "wok": la_wok}
        starts |= {"lastrow": la_lastrow, "lastcol": la_lastcol}

        def tile_start(values: dict) -> None:
            m.d.sync += [la_t.eq(0), la_tend.eq(0)]
            m.d.sync += [sig.eq(values[name]) for name, sig in starts.items()]
            if ws:
                m.d.sync += [x.eq(1) for x in la_pres]
                m.d.sync += [la_pre2.eq(R >= 2), la_win.eq(R == 1), la_accw.eq(0),
                             la_accw2.eq(0)]
            else:
                m.d.sync += [x.eq(0) for x in la_dwins]
                m.d.sync += [la_win.eq(1), la_win2.eq(self.k >= 2), la_wwin.eq(0)]

        # -- status: busy of the next cycle decides whether the look-ahead advances --
        primed = Signal()                         # start is ignored right after reset
        busy, finish = Signal(), Signal()
        start = self.start & primed
        busy1 = Mux(busy, ~finish, start)         # busy in the next cycle
        m.d.sync += [primed.eq(1), busy.eq(busy1),
                     finish.eq(busy1 & la_tend & la_lastrow & la_lastcol)]
        with m.If(~busy1):                         # next cycle idle: tile 0, position 0
            tile_start(first)
            step_into(0, 0, 0, 0, 0, first["lastrow"], first["lastcol"])
        with m.Elif(la_tend):                      # next tile
            tile_start(dn)
            step_into(*(nxt[n] for n in ("row", "col", "a", "b", "o")),
                      dn["lastrow"], dn["lastcol"])
        with m.Else():                             # next position in the tile
            m.d.sync += [la_t.eq(la_t + 1), la_tend.eq(la_t == c_tend)]
            if ws:
                win_opens = (la_t == R - 2) if R >= 2 else 0
                m.d.sync += [x.eq(x & (la_t != R - 1)) for x in la_pres]
                m.d.sync += [
                    la_pre2.eq(la_pre2 & (la_t != R - 2) if R >= 2 else 0),
                    la_krow2.eq(la_krow2 - 1), la_bok2.eq(la_krow2 <= self.k),
                    la_b2.eq(la_b2 - 1),
                    la_win.eq(win_opens | (la_win & (la_t != c_winend))), la_a.eq(la_a + 1),
                    la_accw.eq(la_accw | (la_t == overhead - 1)), la_o.eq(la_o + 1),
                    la_accw2.eq((la_accw2 | (la_t == overhead - 2)) & (la_t != c_tend)),
                    la_o2.eq(la_o2 + 1)]
            else:
                m.d.sync += [
                    la_win.eq(la_win & (la_t != c_kend)),
                    la_win2.eq(la_win2 & (la_t != c_kend2)),
                    la_a2.eq(la_a2 + 1), la_b2.eq(la_b2 + 1),
                    la_wwin.eq(la_wwin | (la_t == c_tcap)),
                    la_wrow.eq(la_wrow - 1), la_wok.eq(la_wrow <= self.m),
                    la_ow.eq(la_ow - 1)]
                m.d.sync += [x.eq((la_t == c_dstart) | (x & (la_t != c_dend)))
                             for x in la_dwins]

        done, cycles = Signal(), Signal(CYCLE_COUNTER_BITS)
        with m.If(~busy & start):
            m.d.sync += [done.eq(0), cycles.eq(0)]
        with m.Elif(busy):
            m.d.sync += cycles.eq(cycles + 1)
        with m.If(finish):
            m.d.sync += done.eq(1)
        m.d.comb += [self.busy.eq(busy), self.done.eq(done), self.cycles.eq(cycles),
                     self.finish.eq(finish)]

        # -- outputs: reads from the look-ahead state, this cycle's controls registered
        def registered(**values: object) -> None:
            for name, value in values.items():
                port = getattr(self, name)
                q = Signal.like(port, name=f"q_{name}")
                m.d.sync += q.eq(value)
                m.d.comb += port.eq(q)

        if ws:
            # B two positions ahead: the next tile's first row at a tile end, tile 0's
            # first row when the next cycle is idle (a start may follow)
            b_ok = Mux(busy1, Mux(la_tend, dn["bok"], la_pre2 & la_bok2), first["bok"])
            b_addr = Mux(busy1, Mux(la_tend, dn["b"], la_b2), first["b"])
            acc_rd = la_accw2 & la_rownz
            m.d.comb += [
                self.b_addr.eq(Mux(b_ok, b_addr, 0)), self.a_addr.eq(Mux(la_win, la_a, 0)),
                self.o_rd_en.eq(acc_rd), self.o_rd_addr.eq(Mux(acc_rd, la_o2, 0))]
            zero1 = Signal()                       # w_zero goes with the word it masks
            m.d.sync += zero1.eq(~b_ok)
            registered(w_load=Cat(busy1 & x for x in la_pres), w_zero=zero1,
                       o_wr_en=busy1 & la_accw,
                       o_wr_addr=la_o, o_acc=la_rownz)
        else:
            def early(start_addr: Signal, addr: Signal) -> object:
                """The address two positions ahead: the next tile's first at a tile end."""
                return Mux(busy1, Mux(la_tend, start_addr, Mux(la_win2, addr, 0)), 0)
            m.d.comb += [self.a_addr.eq(early(dn["a"], la_a2)),
                         self.b_addr.eq(early(dn["b"], la_b2)),
                         self.o_rd_en.eq(0), self.o_rd_addr.eq(0), self.o_acc.eq(0)]
            registered(valid=busy1 & la_win, drain=Cat(busy1 & x for x in la_dwins),
                       o_wr_en=busy1 & la_wwin & la_wok, o_wr_addr=la_ow)
        return m


__all__ = ["Controller"]
