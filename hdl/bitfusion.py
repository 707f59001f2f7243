"""The bit-fusion engine (Bit Fusion, Sharma et al., ISCA 2018): fusion PEs of 2-bit
BitBricks that compose one ``B x B`` product or several narrower ones per cycle.

What it computes (``sim.datapath``'s ``bitfusion`` mode, ``B`` = ``pe.operand_bits``):
with ``a``-bit inputs and ``w``-bit weights (runtime static ports ``abits``, ``wbits``,
each a power of two in ``2 .. B``, so one build runs w8a8, w4a4, w2a2 and every mixed
width) a fusion unit multiplies ``f = (B / a) * (B / w)`` narrow pairs per cycle and
sums them: one step is a length-``f`` dot product along the reduction. The GEMM
``O[M x N] = A[M x K] . B[K x N]`` therefore runs as the dense schedule of the *fused*
GEMM with ``K' = ceil(K / f)`` reduction steps (:mod:`hdl.controller` unchanged, fed
``K'``), exactly the timing layer ``sim.datapath.plan_datapath`` builds (``C' =
ceil(C / f)``).

The fusion unit, PEs and arrays (2-bit BitBricks; the mode selects each brick's
digits, signs and shift) are :mod:`hdl.bitfusion_pe`'s, re-exported here; the arrays
keep :mod:`hdl.array`'s wiring and timing, so the controller's schedule is unchanged.

Packing (where narrow operands become fused words): **the host sends narrow operands,
one per beat**, exactly as to the dense engine (A row-major, B row-major, each value
sign-extended into the ``B``-bit payload; the engine uses its low ``abits``/``wbits``
bits), and **the loaders pack** ``f`` consecutive reduction elements into one buffer
lane: element ``k`` of a row goes to fused word ``k // f``, slot ``k % f`` (bits
``[(k % f) b, (k % f + 1) b)`` of the lane). A buffer lane is ``W = B * B / 2`` bits
(the widest fused word: ``f * b`` is ``B * B / w`` for inputs, ``B * B / a`` for
weights), written with a 2-bit granularity; the write of a row's last reduction
element also zeroes the lane's slots above it, so the padded slots of the last fused
word multiply as zero (``sim``: "the last word ... zero-padded"). The output stream is
unchanged: ``M x N`` signed accumulators.

Buffers hold the bytes the spec's GLB share gives the dense engine: depth = dense
depth ``* B / W`` words of ``lanes x W`` bits. A lane holds one fused word whatever the
mode, so at w8a8 (8 of 32 bits used) the buffers hold a quarter of the elements the
sim's packed-byte accounting assumes (cycles are unaffected; :func:`plan_fused` rejects
a GEMM that does not fit, with the numbers).

Protocol: :class:`hdl.top.GemmTop`'s, plus ``abits``/``wbits`` held steady like
``m``/``k``/``n`` from the first beat to the last output. Values other than the
supported widths behave as ``B``. Module exports for :mod:`hdl.verify`:
:func:`make_case`, :func:`expected_cycles` (the cycle model's number, through
``sim.simulate.simulate_layer`` on the real layer) and :func:`verify_gemm`.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil
from pathlib import Path

import numpy as np
from amaranth import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import memory, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from hdl.bitfusion_pe import (BRICK_BITS, BitBrick, Brick, FusionOSArray, FusionOSPE,
                              FusionPEHarness, FusionUnit, FusionWSArray, FusionWSPE,
                              brick_map, check_bits, check_fusion_pe, code_bits,
                              fused_dot_bricks, fused_dot_ref, fused_gemm_ref,
                              fusion_lanes, fusion_widths, lane_bits, pack_gemm, pack_word,
                              prove_fusion_pe)
from hdl.buffer import OperandBuffer
from hdl.controller import Controller
from hdl.engine_shell import (check_top_params, connect_shell, early, gemm_ports, lanes,
                              replay, write_back)
from hdl.driver import GemmCase, RunResult
from hdl.params import HdlError, HdlParams
from hdl.stream_io import StreamUnloader

#: Stream layouts of the fused loaders (see :class:`FusedWalker`).
FUSED_LAYOUTS: tuple[str, ...] = ("a_ws", "a_os", "b")


# -- buffers and loaders that pack --------------------------------------------------------
class FusedBuffer(wiring.Component):
    """``depth`` x (``lanes`` x ``W``) RAM written with a 2-bit granularity (``w_en``:
    one bit per 2-bit granule, ``lanes * W / 2`` bits); otherwise
    :class:`hdl.buffer.OperandBuffer` (registered, non-transparent read)."""

    def __init__(self, lanes: int, word_bits: int, depth: int) -> None:
        self.lanes, self.lane_bits, self.depth = lanes, word_bits, depth
        self.addr_bits = max(1, ceil_log2(depth))
        super().__init__({"w_addr": In(self.addr_bits), "w_data": In(lanes * word_bits),
                          "w_en": In(lanes * word_bits // BRICK_BITS),
                          "r_addr": In(self.addr_bits), "r_en": In(1),
                          "r_data": Out(lanes * word_bits)})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.mem = mem = memory.Memory(
            shape=unsigned(self.lanes * self.lane_bits), depth=self.depth, init=[],
            attrs={"no_rw_check": 1})
        wp = mem.write_port(granularity=BRICK_BITS)
        rp = mem.read_port()
        aw = len(wp.addr)
        m.d.comb += [wp.addr.eq(self.w_addr[:aw]), wp.data.eq(self.w_data),
                     wp.en.eq(self.w_en), rp.addr.eq(self.r_addr[:aw]), rp.en.eq(self.r_en),
                     self.r_data.eq(rp.data)]
        return m


class FusedWalker(wiring.Component):
    """Row-major walk over a narrow ``n_rows x n_cols`` matrix, giving the fused word's
    ``addr``/``lane``, the element's bit offset ``off`` in the lane, ``pad`` (the element
    is the last of its reduction: zero the lane above it) and ``last``. ``f_last`` =
    ``f - 1`` and ``n_fused`` = ``K'``; ``elem_bits`` = the narrow width. Layouts
    (``L`` lanes, ``k`` the reduction index, fused index ``k // f``, slot ``k % f``):

    * ``a_ws``: A (M x K) in WS, lanes along fused k: ``addr = (k//f // L) * M + m``;
    * ``a_os``: A in OS, lanes along m: ``addr = (m // L) * K' + k//f``;
    * ``b``: B (K x N), lanes along n: ``addr = (n // L) * K' + k//f``.
    Counters only (no multipliers)."""

    def __init__(self, layout: str, lanes: int, dim_bits: int, addr_bits: int,
                 word_bits: int) -> None:
        if layout not in FUSED_LAYOUTS:
            raise HdlError(f"walker layout must be one of {list(FUSED_LAYOUTS)}, "
                           f"not {layout!r}")
        self._layout, self._lanes = layout, lanes
        ob = max(1, ceil_log2(word_bits))
        super().__init__({"n_rows": In(dim_bits), "n_cols": In(dim_bits),
                          "n_fused": In(dim_bits), "f_last": In(ob + 1),
                          "elem_bits": In(ob + 1), "step": In(1), "restart": In(1),
                          "addr": Out(addr_bits), "lane": Out(max(1, (lanes - 1).bit_length())),
                          "off": Out(ob), "pad": Out(1), "last": Out(1)})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        dw = len(self.n_rows)
        i, j = Signal(dw, name="i"), Signal(dw, name="j")
        lane, sub, off = Signal.like(self.lane), Signal.like(self.f_last), Signal.like(self.off)
        addr = Signal(len(self.addr))
        base = Signal(dw + len(self.addr))
        end_row = j == self.n_cols - 1
        end_all = end_row & (i == self.n_rows - 1)
        lane_end = lane == self._lanes - 1
        sub_end = sub == self.f_last
        lay = self._layout
        m.d.comb += [self.addr.eq(addr), self.lane.eq(lane), self.off.eq(off),
                     self.last.eq(end_all),
                     self.pad.eq((i == self.n_rows - 1) if lay == "b" else end_row)]
        zero = [i.eq(0), j.eq(0), lane.eq(0), sub.eq(0), off.eq(0), base.eq(0), addr.eq(0)]
        next_slot = [sub.eq(sub + 1), off.eq(off + self.elem_bits)]
        first_slot = [sub.eq(0), off.eq(0)]
        with m.If(self.restart):
            m.d.sync += zero
        with m.Elif(self.step):
            if lay == "a_ws":
                with m.If(end_row):
                    m.d.sync += [j.eq(0), lane.eq(0), base.eq(0), *first_slot,
                                 i.eq(Mux(end_all, 0, i + 1)), addr.eq(Mux(end_all, 0, i + 1))]
                with m.Else():
                    m.d.sync += j.eq(j + 1)
                    with m.If(sub_end):
                        m.d.sync += [*first_slot, lane.eq(Mux(lane_end, 0, lane + 1))]
                        with m.If(lane_end):
                            m.d.sync += addr.eq(addr + self.n_rows)
                    with m.Else():
                        m.d.sync += next_slot
            elif lay == "a_os":
                with m.If(end_all):
                    m.d.sync += zero
                with m.Elif(end_row):
                    m.d.sync += [j.eq(0), i.eq(i + 1), *first_slot,
                                 lane.eq(Mux(lane_end, 0, lane + 1))]
                    with m.If(lane_end):
                        m.d.sync += [base.eq(base + self.n_fused),
                                     addr.eq(base + self.n_fused)]
                    with m.Else():
                        m.d.sync += addr.eq(base)
                with m.Else():
                    m.d.sync += j.eq(j + 1)
                    with m.If(sub_end):
                        m.d.sync += [*first_slot, addr.eq(addr + 1)]
                    with m.Else():
                        m.d.sync += next_slot
            else:                                  # b: reduction along the rows
                with m.If(end_all):
                    m.d.sync += zero
                with m.Elif(end_row):
                    m.d.sync += [j.eq(0), lane.eq(0), i.eq(i + 1)]
                    with m.If(sub_end):
                        m.d.sync += [*first_slot, base.eq(base + 1), addr.eq(base + 1)]
                    with m.Else():
                        m.d.sync += [*next_slot, addr.eq(base)]
                with m.Else():
                    m.d.sync += [j.eq(j + 1), lane.eq(Mux(lane_end, 0, lane + 1))]
                    with m.If(lane_end):
                        m.d.sync += addr.eq(addr + self.n_fused)
        return m


class FusedLoader(wiring.Component):
    """Accepts narrow ``inp`` beats while ``enable`` and writes each into its slot of a
    :class:`FusedBuffer` lane (granule enables of the slot; with ``pad`` also every
    granule above it, written as zero). ``code``: index of the element width in
    :func:`fusion_widths`; ``f_last``, ``n_fused`` as :class:`FusedWalker`."""

    def __init__(self, layout: str, lanes: int, operand_bits: int, dim_bits: int,
                 addr_bits: int) -> None:
        self._b, self._lanes = operand_bits, lanes
        self._w = lane_bits(operand_bits)
        self._walker = FusedWalker(layout, lanes, dim_bits, addr_bits, self._w)
        wk = self._walker
        super().__init__({"inp": In(stream.Signature(signed(operand_bits))),
                          "n_rows": In(dim_bits), "n_cols": In(dim_bits),
                          "n_fused": In(dim_bits), "f_last": In(len(wk.f_last)),
                          "code": In(code_bits(operand_bits)), "enable": In(1),
                          "restart": In(1), "w_addr": Out(addr_bits),
                          "w_data": Out(lanes * self._w),
                          "w_en": Out(lanes * self._w // BRICK_BITS)})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.walker = wk = self._walker
        W, G, L = self._w, self._w // BRICK_BITS, self._lanes
        widths = fusion_widths(self._b)
        bits = Signal.like(wk.elem_bits)
        mask = Signal(self._b)                     # low `bits` bits of the payload
        gmask = Signal(G)                          # granules of one element
        with m.Switch(self.code):
            for idx, b in enumerate(widths):
                assign = [bits.eq(b), mask.eq((1 << b) - 1),
                          gmask.eq((1 << (b // BRICK_BITS)) - 1)]
                if idx == len(widths) - 1:
                    with m.Default():
                        m.d.comb += assign
                else:
                    with m.Case(idx):
                        m.d.comb += assign
        fire = self.inp.valid & self.enable
        lane_data = Signal(W)
        m.d.comb += lane_data.eq((self.inp.payload.as_unsigned() & mask) << wk.off)
        gsel = Signal(G)
        shift = wk.off[1:]                         # granule offset = off / 2
        m.d.comb += gsel.eq(Mux(wk.pad, Const((1 << G) - 1, G) << shift, gmask << shift))
        m.d.comb += [wk.n_rows.eq(self.n_rows), wk.n_cols.eq(self.n_cols),
                     wk.n_fused.eq(self.n_fused), wk.f_last.eq(self.f_last),
                     wk.elem_bits.eq(bits), wk.restart.eq(self.restart), wk.step.eq(fire),
                     self.inp.ready.eq(self.enable), self.w_addr.eq(wk.addr),
                     self.w_data.eq(Cat(*[lane_data] * L)),
                     self.w_en.eq(Mux(fire, gsel << (wk.lane * G), 0))]
        return m


# -- the top ------------------------------------------------------------------------------
def fused_depths(params: HdlParams) -> tuple[int, int]:
    """(A, B) buffer depths in fused words: the dense depths' bytes (module docstring)."""
    scale = lane_bits(params.operand_bits) // params.operand_bits
    return max(1, params.depth_a // scale), max(1, params.depth_b // scale)


class BitFusionTop(wiring.Component):
    """The bit-fusion engine generated from :class:`~hdl.params.HdlParams` (``engine``
    ``"bitfusion"``): :class:`hdl.top.GemmTop`'s ports plus ``abits``/``wbits``."""

    def __init__(self, params: HdlParams) -> None:
        check_top_params(params, "bitfusion", "BitFusionTop")
        check_fusion_pe(params.operand_bits, params.accumulator_bits, params.product_register)
        self._p = params
        bw = unsigned(params.operand_bits.bit_length())
        super().__init__(gemm_ports(params, mode={"abits": In(bw), "wbits": In(bw)}))

    @property
    def params(self) -> HdlParams:
        return self._p

    def elaborate(self, platform: object) -> Module:
        m = Module()
        p = self._p
        B, ab, R, C, dw = p.operand_bits, p.accumulator_bits, p.rows, p.cols, p.dim_bits
        W = lane_bits(B)
        ws = p.dataflow == "ws"
        widths = fusion_widths(B)
        cb = code_bits(B)
        depth_a, depth_b = fused_depths(p)
        m.submodules.buf_a = buf_a = FusedBuffer(R, W, depth_a)
        m.submodules.buf_b = buf_b = FusedBuffer(C, W, depth_b)
        m.submodules.buf_o = buf_o = OperandBuffer(C, ab, p.depth_o)
        m.submodules.load_a = load_a = FusedLoader("a_ws" if ws else "a_os", R, B, dw,
                                                   buf_a.addr_bits)
        m.submodules.load_b = load_b = FusedLoader("b", C, B, dw, buf_b.addr_bits)
        m.submodules.unload = unload = StreamUnloader(C, ab, dw, buf_o.addr_bits,
                                                      read_latency=2)
        m.submodules.ctrl = ctrl = Controller(p)
        arr_cls = FusionWSArray if ws else FusionOSArray
        m.submodules.array = arr = arr_cls(R, C, B, ab, p.product_register)

        # -- mode: width codes, f - 1 and K' = ceil(K / f) (combinational: the loaders
        # and the controller need them from the first beat / the cycle before start)
        acode, wcode = Signal(cb, name="acode"), Signal(cb, name="wcode")
        alog, wlog = Signal(range(len(widths)), name="alog"), Signal(range(len(widths)),
                                                                     name="wlog")
        for port, code, lg in ((self.abits, acode, alog), (self.wbits, wcode, wlog)):
            m.d.comb += [code.eq(len(widths) - 1), lg.eq(0)]
            for idx, w in enumerate(widths[:-1]):
                with m.If(port == w):
                    m.d.comb += [code.eq(idx), lg.eq(len(widths) - 1 - idx)]
        flog = Signal(range(2 * len(widths)), name="flog")       # log2 f
        m.d.comb += flog.eq(alog + wlog)
        f_last = Signal(len(load_a.f_last), name="f_last")
        m.d.comb += f_last.eq((Const(1, len(f_last) + 1) << flog) - 1)
        kf = Signal(dw, name="k_fused")
        m.d.comb += kf.eq((self.k + f_last) >> flog)
        # the array's mode: registered once (steady from loading on), one net per array
        acode_q, wcode_q = Signal(cb, name="acode_q"), Signal(cb, name="wcode_q")
        m.d.sync += [acode_q.eq(acode), wcode_q.eq(wcode)]
        m.d.comb += [arr.acode.eq(acode_q), arr.wcode.eq(wcode_q)]

        connect_shell(m, self, ctrl, load_a, load_b, unload, buf_a, buf_b, buf_o,
                      k=kf, b_rows=self.k, busy=ctrl.busy, done=ctrl.done,
                      cycles=ctrl.cycles, finish=ctrl.finish,
                      load_a_mode=(load_a.n_fused.eq(kf), load_a.f_last.eq(f_last),
                                   load_a.code.eq(acode)),
                      load_b_mode=(load_b.n_fused.eq(kf), load_b.f_last.eq(f_last),
                                   load_b.code.eq(wcode)))
        # (the replay patches per 2-bit granule: a packed lane is written a slot at a time)
        a_word = early(m, buf_a) if ws else replay(m, buf_a, early(m, buf_a), "a")
        b_word = replay(m, buf_b, early(m, buf_b), "b")
        write_back(m, ws, arr, ctrl, buf_o, unload, early(m, buf_o), ab,
                   lanes(a_word, R, W, signed_=False), lanes(b_word, C, W, signed_=False))
        return m


# -- planning, cases, the cycle model, verify ----------------------------------------------
@dataclass(frozen=True)
class FusedPlan:
    """One GEMM on the bit-fusion engine: narrow sizes, widths, ``f`` and ``K'``."""

    params: HdlParams
    m: int
    k: int
    n: int
    a_bits: int
    w_bits: int
    order: int

    @property
    def lanes(self) -> int:
        return fusion_lanes(self.params.operand_bits, self.a_bits, self.w_bits)

    @property
    def k_fused(self) -> int:
        return ceil(self.k / self.lanes)


def plan_fused(params: HdlParams, m: int, k: int, n: int, a_bits: int, w_bits: int,
               order: int = 0) -> FusedPlan:
    """Validate a GEMM against the engine's widths, size ports and fused buffers."""
    if params.engine != "bitfusion":
        raise HdlError(f"the bit-fusion planner needs a bitfusion engine, not "
                       f"{params.engine!r}")
    check_bits(params.operand_bits, a_bits, w_bits)
    for name, v in (("M", m), ("K", k), ("N", n)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise HdlError(f"GEMM {name} must be a positive integer, not {v!r}")
        if v >= 1 << params.dim_bits:
            raise HdlError(f"GEMM {name}={v} exceeds the engine's {params.dim_bits}-bit "
                           f"size ports")
    if order not in (0, 1):
        raise HdlError(f"order must be 0 or 1, not {order!r}")
    plan = FusedPlan(params, m, k, n, a_bits, w_bits, order)
    kf, R, C = plan.k_fused, params.rows, params.cols
    depth_a, depth_b = fused_depths(params)
    a_words = ceil(kf / R) * m if params.dataflow == "ws" else ceil(m / R) * kf
    need = {"input (A)": (a_words, depth_a), "weight (B)": (ceil(n / C) * kf, depth_b),
            "output (O)": (ceil(n / C) * m, params.depth_o)}
    for what, (words, depth) in need.items():
        if words > depth:
            raise HdlError(f"GEMM {m}x{k}x{n} (MxKxN) at w{w_bits}a{a_bits} needs {words} "
                           f"fused words of the {what} buffer, which has {depth}; enlarge "
                           f"the GLB or split the GEMM")
    return plan


def busy_bound(plan: FusedPlan) -> int:
    """An upper bound of the busy period, for the testbench's timeout only."""
    p = plan.params
    rf = ceil(plan.k_fused / p.rows) if p.dataflow == "ws" else ceil(plan.m / p.rows)
    s = plan.m if p.dataflow == "ws" else plan.k_fused
    return rf * ceil(plan.n / p.cols) * (s + p.tile_overhead_cycles)


def make_case(params: HdlParams, m: int, k: int, n: int, *, w_bits: int, a_bits: int,
              seed: int, idle: float = 0.3, backpressure: float = 0.3,
              prune: object = None, order: int = 0, extreme: bool = False) -> GemmCase:
    """Random narrow signed operands (A: ``a_bits``, B: ``w_bits``; extremes sprinkled
    in, ``extreme``: all most-negative) with the width ports set; ``prune`` (``None``,
    ``"N:M"`` or ``("magnitude", density)``) zeroes weights along K
    (:func:`hdl.verify.prune_weights`): zeros to a dense datapath, no cycle changes."""
    plan = plan_fused(params, m, k, n, a_bits, w_bits, order)
    rng = np.random.default_rng(seed)
    mats = []
    for shape, bits in (((m, k), a_bits), ((k, n), w_bits)):
        lo, hi = -(1 << (bits - 1)), 1 << (bits - 1)
        if extreme:
            mat = np.full(shape, lo)
        else:
            mat = rng.integers(lo, hi, shape)
            mask = rng.random(shape)
            mat[mask < 0.1] = lo
            mat[mask > 0.95] = hi - 1
        mats.append(mat)
    if prune is not None:
        from hdl.verify import prune_weights
        mats[1] = prune_weights(mats[1], prune)
    timeout = 10 * (m * k + k * n + m * n) + 2 * busy_bound(plan) + 1000
    return GemmCase(m, k, n, mats[0].tolist(), mats[1].tolist(), order, idle, backpressure,
                    seed, ports={"abits": a_bits, "wbits": w_bits}, timeout_cycles=timeout)


def expected_cycles(accel: object, case: GemmCase) -> int:
    """The cycle model's start-to-done cycles for ``case``: the GEMM layer at the case's
    widths through ``sim.simulate.simulate_layer`` (native timing; ``sim.datapath``'s
    bit-fusion plan packs ``f`` reduction elements per step), mapped as the engine runs
    it (:func:`hdl.plan.canonical_mapping` of the timing layer's ``M x K' x N``)."""
    from sim.simulate import simulate_layer
    layer, mapping = _sim_gemm(accel, case)
    return simulate_layer(layer, accel, mapping, timing="native").compute_cycles


def _sim_gemm(accel: object, case: GemmCase) -> tuple:
    """(the GEMM as a :mod:`dataflows` layer at the case's widths, the engine's mapping
    of ``sim.datapath``'s timing layer ``M x K' x N``)."""
    from dataflows.layer import Precision, gemm
    from hdl.plan import canonical_mapping
    from sim.datapath import plan_datapath
    params = HdlParams.from_accelerator(accel)
    a_bits, w_bits = case.ports["abits"], case.ports["wbits"]
    out_bits = next(b for b in (8, 16, 32) if b >= min(params.accumulator_bits, 32))
    layer = gemm("gemm", case.m, case.n, case.k,
                 precision=Precision(input_bits=a_bits, weight_bits=w_bits,
                                     output_bits=out_bits))
    timing = plan_datapath(layer, accel).layer         # what sim runs: C = K'
    return layer, canonical_mapping(params, case.m, timing.C, case.n, case.order)


def cycle_fidelity_cycles(accel: object, case: GemmCase) -> int:
    """The cycle-approximate model's compute cycles of ``case``: ``sim.simulate(...,
    fidelity="cycle")`` with the engine's mapping of the timing layer -- the second
    fidelity of the figure :func:`expected_cycles` returns (DESIGN invariants 1 and 2).
    No tensors: ``sim`` refuses them on a bit-fusion datapath (fused words regroup the
    reduction), and a fused schedule's cycles do not depend on the values."""
    from sim.simulate import simulate
    layer, mapping = _sim_gemm(accel, case)
    res = simulate(layer, accel, mapping=mapping, timing="native", fidelity="cycle")
    return int(res.layers[0].compute_cycles)


def compare_case(case: GemmCase, result: RunResult, accumulator_bits: int,
                 sim_cycles: int) -> dict[str, object]:
    """:func:`hdl.verify.compare`'s record for a bit-fusion case."""
    from hdl.verify import compare
    return compare(case.a, case.b, result, accumulator_bits, sim_cycles)


def verify_gemm(accel: object, m: int, k: int, n: int, *, w_bits: int, a_bits: int,
                prune: object = None, seed: int = 0, backend: str = "cocotb",
                build_dir: Path | None = None, idle: float = 0.3,
                backpressure: float = 0.3) -> dict[str, object]:
    """Run one random ``M x K x N`` GEMM at ``w{w_bits}a{a_bits}`` on the bit-fusion
    engine of ``accel`` and compare with numpy and the cycle model (keys of
    :func:`hdl.verify.compare`, plus ``fusion_lanes`` and ``k_fused``)."""
    from hdl.verify import BACKENDS
    if backend not in BACKENDS:
        raise HdlError(f"backend must be one of {list(BACKENDS)}, not {backend!r}")
    params = HdlParams.from_accelerator(accel)
    if params.engine != "bitfusion":
        raise HdlError(f"{getattr(accel, 'name', accel)!r} asks for the {params.engine!r} "
                       f"engine, not bitfusion (set pe.mode: bitfusion)")
    case = make_case(params, m, k, n, w_bits=w_bits, a_bits=a_bits, seed=seed, idle=idle,
                     backpressure=backpressure, prune=prune)
    expected = expected_cycles(accel, case)
    result = _run(params, [case], backend, build_dir)[0]
    plan = plan_fused(params, m, k, n, a_bits, w_bits)
    return compare_case(case, result, params.accumulator_bits, expected) | {
        "fusion_lanes": plan.lanes, "k_fused": plan.k_fused,
        "cycle_model_cycles": cycle_fidelity_cycles(accel, case)}


def _run(params: HdlParams, cases: list[GemmCase], backend: str,
         build_dir: Path | None = None) -> list[RunResult]:
    from hdl.verify import run_cases
    return run_cases(params, cases, backend, build_dir)


def cycle_table(accel: object, shapes: list[tuple[int, int, int]],
                modes: list[tuple[int, int]], seed: int = 0,
                backend: str = "amaranth") -> list[dict[str, object]]:
    """Every (shape, (a_bits, w_bits)) of ``shapes x modes`` back to back on one build of
    ``accel``'s engine: rows of ``shape``, ``bits``, ``f``, ``k_fused``, ``rtl_cycles``,
    ``sim_cycles`` (:func:`expected_cycles`), ``cycles_match``, ``outputs_match``."""
    params = HdlParams.from_accelerator(accel)
    combos = [(sh, md) for sh in shapes for md in modes]
    cases = [make_case(params, m, k, n, w_bits=w, a_bits=a, seed=seed + i, order=i % 2)
             for i, ((m, k, n), (a, w)) in enumerate(combos)]
    rows = []
    for case, res in zip(cases, _run(params, cases, backend)):
        a, w = case.ports["abits"], case.ports["wbits"]
        rec = compare_case(case, res, params.accumulator_bits, expected_cycles(accel, case))
        f = fusion_lanes(params.operand_bits, a, w)
        rows.append({"shape": f"{case.m}x{case.k}x{case.n}", "bits": f"w{w}a{a}", "f": f,
                     "k_fused": ceil(case.k / f), "rtl_cycles": rec["rtl_cycles"],
                     "sim_cycles": rec["sim_cycles"], "cycles_match": rec["cycles_match"],
                     "outputs_match": rec["outputs_match"]})
    return rows


def _main(argv: list[str]) -> int:
    """``python -m hdl.bitfusion [backend]``: the cycle-equality table of a 4x4 int8
    bit-fusion engine (ws and os) over a few shapes at w8a8, w4a4, w2a2, w8a4, w4a8;
    exit 1 on any mismatch."""
    from sim.spec import Accelerator, Buffer, PEConfig
    backend = argv[0] if argv else "amaranth"
    shapes = [(1, 1, 1), (5, 37, 3), (9, 20, 5), (6, 64, 7)]
    modes = [(8, 8), (4, 4), (2, 2), (4, 8), (8, 4)]
    bad = 0
    print("dataflow shape(MxKxN) bits   f K' rtl_cycles sim_cycles match")
    for df in ("ws", "os"):
        accel = Accelerator(name=f"bitfusion_4x4_{df}", rows=4, cols=4, dataflow=df,
                            pe=PEConfig(operand_bits=8, accumulator_bits=32,
                                        mode="bitfusion"),
                            rf=Buffer("rf", capacity_bytes=8, word_bits=8),
                            glb=(Buffer("glb", capacity_bytes=16 * 1024, word_bits=64),))
        for r in cycle_table(accel, shapes, modes, backend=backend):
            ok = r["cycles_match"] and r["outputs_match"]
            bad += not ok
            print(f"{df:>8} {r['shape']:>13} {r['bits']:>5} {r['f']:>3} {r['k_fused']:>2} "
                  f"{r['rtl_cycles']:>10} {r['sim_cycles']:>10} {'yes' if ok else 'NO'}")
    return 1 if bad else 0


__all__ = ["BitBrick", "BitFusionTop", "Brick", "FusedBuffer", "FusedLoader", "FusedPlan",
           "FusedWalker", "FusionOSArray", "FusionOSPE", "FusionPEHarness", "FusionUnit",
           "FusionWSArray", "FusionWSPE", "brick_map", "check_bits", "check_fusion_pe",
           "busy_bound", "cycle_fidelity_cycles", "cycle_table", "expected_cycles", "fused_depths",
           "fused_dot_bricks", "fused_dot_ref",
           "fused_gemm_ref", "fusion_lanes", "fusion_widths", "lane_bits", "make_case",
           "pack_gemm", "pack_word", "plan_fused", "prove_fusion_pe", "verify_gemm"]


if __name__ == "__main__":
    import sys
    sys.exit(_main(sys.argv[1:]))
