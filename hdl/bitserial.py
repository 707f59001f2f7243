"""The bit-serial GEMM engine (Stripes-style, ``pe.mode: bitserial``): the activation
(the ``a`` stream, A) enters the array **one bit per cycle**, the weight (B) in parallel.

What it computes: ``O[M x N] = A . B`` wrapped at ``accumulator_bits``, where every
element of A is an ``abits``-bit two's-complement value (its bits ``abits-1 .. 0``; the
top bit has weight ``-2^(abits-1)``) and every element of B a signed
``operand_bits``-bit value. ``abits`` is a static input port (``1 .. operand_bits``;
0 or a larger value runs as ``operand_bits``), held like ``m``/``k``/``n`` from loading
until ``done``, so one build runs any input width. A values outside the ``abits``-bit
range are used modulo ``2^abits`` (only their low ``abits`` bits are serialised).

Schedule: the dense engine's (:mod:`hdl.controller`), one **step** of ``s = abits``
cycles per controller cycle. The controller and everything that moves data (buffer
reads, the registered early reads, the input skew, the weight shift chain, the partial
sums, the output de-skew, the output-buffer writes) advance once per step: on the
step's last cycle (``step``), and on every cycle while idle -- so loading, ``start`` and
unloading behave exactly like :class:`hdl.top.GemmTop`. The busy period is therefore
``s * tiles * (S + 2R + C - 1 + pr)`` cycles, the ``bitserial`` mode of
:mod:`sim.datapath` (every step of the array takes ``s`` cycles), and ``cycles``
counts clock cycles (not steps). Two consequences of that model, kept so RTL and
``sim`` agree exactly: the weight preload moves one B row per *step* although weights
are parallel (a dedicated preload path could take one row per cycle, ``(s - 1) R``
cycles less per tile), and the product register (``pe.product_register``) delays the
product by one step, not one cycle.

Inside a step (``j = 0 .. s-1``): the array edge presents bit ``s-1-j`` (MSB first) of
each row's A word on a 1-bit wire; every PE forwards the bit stream it receives to its
right neighbour through an ``s``-cycle delay line (so an operand moves one PE per step,
as in the dense array) and forms ``a * w`` by shift-add (Horner, MSB first):
``p <= -bit*w`` at ``j = 0`` (the sign bit), ``p <= 2p + bit*w`` after; on the step's
last cycle the finished product enters the partial sum (WS: ``psum_out <= psum_in +
a*w``; OS: ``acc <= acc + a*b`` when valid) exactly where the dense PE adds its
multiplier's product. There are no multipliers: one ``2*operand_bits``-bit adder per PE
forms the product, the accumulator adder adds it.

Ports and protocol: those of :class:`hdl.top.GemmTop` plus ``abits``; drive it with
:class:`hdl.driver.GemmDriver` (``GemmCase(ports={"abits": s})``, see :func:`make_case`).
:func:`expected_cycles` is the cycle model's figure (``sim.datapath.plan_datapath`` +
``sim.analytic.evaluate``, native timing); :func:`verify_gemm` runs one GEMM and
compares both outputs (numpy) and cycles.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from amaranth import Cat, EnableInserter, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hdl.buffer import OperandBuffer
from hdl.controller import Controller
from hdl.engine_shell import (check_top_params, connect_shell, early, gemm_ports, lanes,
                              replay, write_back)
from hdl.driver import GemmCase, RunResult
from hdl.golden import bitserial_gemm_ref
from hdl.params import CYCLE_COUNTER_BITS, HdlError, HdlParams
from hdl.pe import check_pe_params
from hdl.plan import canonical_mapping, plan_gemm
from hdl.stream_io import StreamLoader, StreamUnloader
from sim.spec import Accelerator


def abits_width(operand_bits: int) -> int:
    """Width of the ``abits`` port (holds ``0 .. operand_bits``)."""
    return operand_bits.bit_length()


def _step_delay(m: Module, name: str, sig: Signal, steps: int, step: Signal,
                reset_less: bool = True) -> Signal:
    """``sig`` delayed by ``steps`` step-enabled registers (a shift chain)."""
    for i in range(steps):
        q = Signal.like(sig, name=f"{name}_d{i}", reset_less=reset_less)
        with m.If(step):
            m.d.sync += q.eq(sig)
        sig = q
    return sig


# -- processing elements ----------------------------------------------------------------
class _SerialPE(wiring.Component):
    """Shared parts: the serial input's delay line and the shift-add product.

    Common ports: ``a_bit_in``/``a_bit_out`` (the activation, one bit per cycle, MSB
    first; ``a_bit_out`` is ``a_bit_in`` delayed by ``smax + 1`` cycles), ``first`` (the
    step's first cycle: the sign bit is on ``a_bit_in``), ``step`` (the step's last
    cycle: registers that move data update), ``smax`` (``s - 1``, static)."""

    def __init__(self, signature: dict, operand_bits: int, accumulator_bits: int,
                 product_register: bool) -> None:
        check_pe_params(operand_bits, accumulator_bits, product_register)
        self._ob, self._ab, self._pr = operand_bits, accumulator_bits, product_register
        super().__init__(signature | {
            "a_bit_in": In(1), "a_bit_out": Out(1), "first": In(1), "step": In(1),
            "smax": In(unsigned(max(1, (operand_bits - 1).bit_length())))})

    @property
    def operand_bits(self) -> int:
        return self._ob

    @property
    def accumulator_bits(self) -> int:
        return self._ab

    @property
    def product_register(self) -> bool:
        return self._pr

    def _serial(self, m: Module, w: object) -> Callable[[Value], Value]:
        """The delay line and the shift-add product; returns ``add(acc)``: ``acc + a * w``
        at accumulator width, complete on the step's last cycle (comb).

        (A carry-save form of ``acc + 2 part + bit*w`` -- one carry chain instead of
        two -- was measured on the ECP5 4x4 engine: 92.6 -> 108.6 MHz for 3291 -> 5371
        LUTs; not worth it for an engine whose point is small PEs.)"""
        ob = self._ob
        # s-cycle delay: s-1 line registers and the output register, the tap selected
        # in front of the output register (no mux between a register and the next PE)
        line = Signal(ob, name="line", reset_less=True)
        out_q = Signal(name="a_bit_q", reset_less=True)
        m.d.sync += [line.eq(Cat(self.a_bit_in, line[:-1])),
                     out_q.eq(Cat(self.a_bit_in, line[:-1]).bit_select(self.smax, 1))]
        m.d.comb += self.a_bit_out.eq(out_q)
        wide = signed(2 * ob)
        part = Signal(wide, name="part", reset_less=True)     # a's prefix so far, times w
        bw = Mux(self.a_bit_in, w, 0)
        term = Signal(wide, name="term")
        m.d.comb += term.eq(Mux(self.first, -bw, (part << 1) + bw))
        m.d.sync += part.eq(term)
        prod = term
        if self._pr:
            prod = Signal(wide, name="prod_q", reset_less=True)
            with m.If(self.step):
                m.d.sync += prod.eq(term)
        return lambda acc: acc + prod


class BitSerialWSPE(_SerialPE):
    """Weight-stationary bit-serial PE: per step ``psum_out <= psum_in + a * w``.

    Ports (besides :class:`_SerialPE`'s): ``w_in``/``w_out`` (the weight shift chain,
    ``w_out`` is the held weight), ``w_load`` (shift on the step edge), ``psum_in`` /
    ``psum_out`` (registered, one step per PE). With a product register the product is
    registered one step, and ``psum_in`` is expected one step later too."""

    def __init__(self, operand_bits: int = 8, accumulator_bits: int = 32,
                 product_register: bool = False) -> None:
        ob, ab = signed(operand_bits), signed(accumulator_bits)
        super().__init__({"w_in": In(ob), "w_out": Out(ob), "w_load": In(1),
                          "psum_in": In(ab), "psum_out": Out(ab)},
                         operand_bits, accumulator_bits, product_register)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        w = Signal(signed(self._ob), name="w", reset_less=True)
        with m.If(self.w_load & self.step):
            m.d.sync += w.eq(self.w_in)
        summed = self._serial(m, w)(self.psum_in)
        with m.If(self.step):
            m.d.sync += self.psum_out.eq(summed)                # wraps at acc width
        m.d.comb += self.w_out.eq(w)
        return m


class BitSerialOSPE(_SerialPE):
    """Output-stationary bit-serial PE: per step ``acc <= acc + a * b`` when valid;
    ``acc <= acc_in`` on drain.

    Ports (besides :class:`_SerialPE`'s): ``b_in``/``b_out`` (passing down, one step per
    PE), ``valid_in``/``valid_out`` (travels with ``a``), ``drain``, ``acc_in``, ``acc``."""

    def __init__(self, operand_bits: int = 8, accumulator_bits: int = 32,
                 product_register: bool = False) -> None:
        ob, ab = signed(operand_bits), signed(accumulator_bits)
        super().__init__({"b_in": In(ob), "b_out": Out(ob), "valid_in": In(1),
                          "valid_out": Out(1), "drain": In(1), "acc_in": In(ab),
                          "acc": Out(ab)},
                         operand_bits, accumulator_bits, product_register)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        b_q = Signal(signed(self._ob), name="b_q", reset_less=True)
        v_q = Signal(name="v_q")
        with m.If(self.step):
            m.d.sync += [b_q.eq(self.b_in), v_q.eq(self.valid_in)]
        add = self._serial(m, self.b_in)
        valid = self.valid_in
        if self._pr:
            valid = Signal(name="pv_q")
            with m.If(self.step):
                m.d.sync += valid.eq(self.valid_in)
        acc = Signal(signed(self._ab), name="acc_r")
        summed = add(acc)
        with m.If(self.step):
            with m.If(self.drain):
                m.d.sync += acc.eq(self.acc_in)
            with m.Elif(valid):
                m.d.sync += acc.eq(summed)
        m.d.comb += [self.b_out.eq(b_q), self.valid_out.eq(v_q), self.acc.eq(acc)]
        return m


# -- arrays -----------------------------------------------------------------------------
class _SerialArray(wiring.Component):
    """Parallel A words in (one per row, one per step), serialised at the array edge.

    Common ports: ``a[rows]`` (signed words, stable during a step), ``first``, ``step``,
    ``bitsel`` (the bit of ``a`` to present this cycle: ``s-1-j``), ``smax``, and
    ``out[cols]``. Timing in steps is that of :class:`hdl.array.WSArray` /
    :class:`~hdl.array.OSArray` (per-row controls), one step = ``s`` cycles."""

    def __init__(self, signature: dict, rows: int, cols: int, operand_bits: int,
                 accumulator_bits: int, product_register: bool) -> None:
        for name, v in (("rows", rows), ("cols", cols)):
            if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= 64:
                raise HdlError(f"array {name} must be an integer in [1, 64], not {v!r}")
        check_pe_params(operand_bits, accumulator_bits, product_register)
        self._rows, self._cols = rows, cols
        self._pe_args = (operand_bits, accumulator_bits, product_register)
        ob, ab = signed(operand_bits), signed(accumulator_bits)
        sel = unsigned(max(1, (operand_bits - 1).bit_length()))
        super().__init__(signature | {"a": In(ob).array(rows), "first": In(1), "step": In(1),
                                      "bitsel": In(sel), "smax": In(sel),
                                      "out": Out(ab).array(cols)})

    @property
    def rows(self) -> int:
        return self._rows

    @property
    def cols(self) -> int:
        return self._cols

    def _pes(self, m: Module, pe_cls: type) -> list[list[_SerialPE]]:
        R, C = self._rows, self._cols
        pe = [[pe_cls(*self._pe_args) for _ in range(C)] for _ in range(R)]
        for r in range(R):
            skewed = _step_delay(m, f"skew{r}", self.a[r], r, self.step)
            for c in range(C):
                m.submodules[f"pe_{r}_{c}"] = p = pe[r][c]
                m.d.comb += [p.a_bit_in.eq(skewed.bit_select(self.bitsel, 1) if c == 0
                                           else pe[r][c - 1].a_bit_out),
                             p.first.eq(self.first), p.step.eq(self.step),
                             p.smax.eq(self.smax)]
        return pe


class BitSerialWSArray(_SerialArray):
    """Weight-stationary ``rows x cols`` bit-serial array; extra ports ``w[cols]``,
    ``w_load[rows]`` (one bit per row, all alike)."""

    def __init__(self, rows: int, cols: int, operand_bits: int = 8,
                 accumulator_bits: int = 32, product_register: bool = False) -> None:
        super().__init__({"w": In(signed(operand_bits)).array(cols), "w_load": In(rows)},
                         rows, cols, operand_bits, accumulator_bits, product_register)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        R, C = self._rows, self._cols
        pe = self._pes(m, BitSerialWSPE)
        for r in range(R):
            for c in range(C):
                p = pe[r][c]
                m.d.comb += [p.w_in.eq(self.w[c] if r == 0 else pe[r - 1][c].w_out),
                             p.w_load.eq(self.w_load[r]),
                             p.psum_in.eq(0 if r == 0 else pe[r - 1][c].psum_out)]
        for c in range(C):
            m.d.comb += self.out[c].eq(_step_delay(m, f"deskew{c}", pe[R - 1][c].psum_out,
                                                   C - 1 - c, self.step, reset_less=False))
        return m


class BitSerialOSArray(_SerialArray):
    """Output-stationary ``rows x cols`` bit-serial array; extra ports ``b[cols]``,
    ``valid``, ``drain[rows]`` (one bit per row, all alike)."""

    def __init__(self, rows: int, cols: int, operand_bits: int = 8,
                 accumulator_bits: int = 32, product_register: bool = False) -> None:
        super().__init__({"b": In(signed(operand_bits)).array(cols), "valid": In(1),
                          "drain": In(rows)},
                         rows, cols, operand_bits, accumulator_bits, product_register)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        R, C = self._rows, self._cols
        pe = self._pes(m, BitSerialOSPE)
        for r in range(R):
            for c in range(C):
                p = pe[r][c]
                m.d.comb += [
                    p.valid_in.eq(_step_delay(m, f"skew_v{r}", self.valid, r, self.step,
                                              reset_less=False) if c == 0
                                  else pe[r][c - 1].valid_out),
                    p.b_in.eq(_step_delay(m, f"skew_b{c}", self.b[c], c, self.step)
                              if r == 0 else pe[r - 1][c].b_out),
                    p.drain.eq(self.drain[r]),
                    p.acc_in.eq(0 if r == 0 else pe[r - 1][c].acc)]
        for c in range(C):
            out_q = Signal(signed(self._pe_args[1]), name=f"out_q{c}")
            with m.If(self.drain[R - 1] & self.step):
                m.d.sync += out_q.eq(pe[R - 1][c].acc)
            m.d.comb += self.out[c].eq(out_q)
        return m


# -- the top ----------------------------------------------------------------------------
class BitSerialTop(wiring.Component):
    """The bit-serial GEMM engine generated from :class:`~hdl.params.HdlParams`
    (``engine == "bitserial"``); ports of :class:`hdl.top.GemmTop` plus ``abits``."""

    def __init__(self, params: HdlParams) -> None:
        check_top_params(params, "bitserial", "BitSerialTop")
        self._p = params
        super().__init__(gemm_ports(params, mode={
            "abits": In(unsigned(abits_width(params.operand_bits)))}))

    @property
    def params(self) -> HdlParams:
        return self._p

    def elaborate(self, platform: object) -> Module:
        m = Module()
        p = self._p
        ob, ab, R, C, dw = p.operand_bits, p.accumulator_bits, p.rows, p.cols, p.dim_bits
        ws = p.dataflow == "ws"
        sel_w = max(1, (ob - 1).bit_length())

        # -- the step: s = abits cycles while busy, every cycle while idle ---------------
        step = Signal(name="step")
        smax = Signal(sel_w, name="smax")          # s - 1 (registered: abits is steady)
        m.d.sync += smax.eq(Mux((self.abits == 0) | (self.abits > ob), ob - 1,
                                self.abits - 1))
        bitsel = Signal(sel_w, name="bitsel")      # the A bit of this cycle: s-1 .. 0

        m.submodules.buf_a = buf_a = OperandBuffer(R, ob, p.depth_a)
        m.submodules.buf_b = buf_b = OperandBuffer(C, ob, p.depth_b)
        m.submodules.buf_o = buf_o = OperandBuffer(C, ab, p.depth_o)
        m.submodules.load_a = load_a = StreamLoader("col_lanes" if ws else "row_lanes", R,
                                                    ob, dw, buf_a.addr_bits)
        m.submodules.load_b = load_b = StreamLoader("col_lanes", C, ob, dw, buf_b.addr_bits)
        m.submodules.unload = unload = StreamUnloader(C, ab, dw, buf_o.addr_bits,
                                                      read_latency=2)
        ctrl_core = Controller(p)
        m.submodules.ctrl = ctrl = EnableInserter(step)(ctrl_core)
        array_cls = BitSerialWSArray if ws else BitSerialOSArray
        m.submodules.array = arr = array_cls(R, C, ob, ab, p.product_register)

        busy = ctrl_core.busy
        with m.If(busy):
            m.d.sync += bitsel.eq(Mux(bitsel == 0, smax, bitsel - 1))
        with m.Else():
            m.d.sync += bitsel.eq(smax)
        m.d.comb += step.eq(~busy | (bitsel == 0))
        first = bitsel == smax

        # -- busy cycles (clock cycles, not steps) ---------------------------------------
        cycles = Signal(CYCLE_COUNTER_BITS, name="bs_cycles")
        with m.If(~busy & self.start):
            m.d.sync += cycles.eq(0)
        with m.Elif(busy):
            m.d.sync += cycles.eq(cycles + 1)

        # the shell advances once per step while busy (the RAMs' output registers hold
        # in between); the unloader's path (idle) runs every cycle, as step is high then
        connect_shell(m, self, ctrl, load_a, load_b, unload, buf_a, buf_b, buf_o,
                      k=self.k, b_rows=self.k, busy=busy, done=ctrl_core.done,
                      cycles=cycles, finish=ctrl_core.finish, gate=step)
        m.d.comb += [arr.step.eq(step), arr.first.eq(first), arr.bitsel.eq(bitsel),
                     arr.smax.eq(smax)]
        a_word = early(m, buf_a, step) if ws else \
            replay(m, buf_a, early(m, buf_a, step), "a", step)
        b_word = replay(m, buf_b, early(m, buf_b, step), "b", step)
        write_back(m, ws, arr, ctrl, buf_o, unload, early(m, buf_o, step), ab,
                   lanes(a_word, R, ob), lanes(b_word, C, ob))
        return m


# -- cases, the cycle model's figure, one verification ----------------------------------
def _check_bits(name: str, value: object, hi: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= hi:
        raise HdlError(f"{name} must be an integer in [1, {hi}] (pe.operand_bits) for the "
                       f"bitserial engine, not {value!r}")
    return value


def _pruned(b: np.ndarray, prune: object) -> np.ndarray:
    """``b`` (K x N) pruned along K; one-line :class:`HdlError` for an unknown pattern."""
    from dataflows.compress.prune import prune_magnitude, prune_nm
    from dataflows.errors import CoforgeError
    try:
        if prune is None:
            return b
        if isinstance(prune, str) and prune.count(":") == 1:
            n, m = (int(x) for x in prune.split(":"))
            return prune_nm(b.T, n, m).T
        if isinstance(prune, tuple) and len(prune) == 2 and prune[0] == "magnitude":
            return prune_magnitude(b, prune[1])
    except (ValueError, CoforgeError) as err:
        raise HdlError(f"prune={prune!r}: {err}") from None
    raise HdlError(f"prune must be None, 'N:M' or ('magnitude', density), not {prune!r}")


def make_case(params: HdlParams, m: int, k: int, n: int, *, w_bits: int, a_bits: int,
              seed: int, idle: float = 0.3, backpressure: float = 0.3,
              prune: object = None, order: int = 0, extreme: bool = False) -> GemmCase:
    """A random ``M x K x N`` case: A of ``a_bits``-bit, B of ``w_bits``-bit signed values
    over the full range with the extremes sprinkled in (``extreme``: all most-negative),
    ``ports={"abits": a_bits}`` and a cycle budget for the ``a_bits``-times longer run.
    ``prune`` (None, ``"N:M"`` or ``("magnitude", density)``) zeroes weights along the
    reduction K (:mod:`dataflows.compress.prune`); the bit-serial datapath skips no zeros,
    so pruning changes the outputs, never the cycles."""
    ob = params.operand_bits
    _check_bits("a_bits", a_bits, ob)
    _check_bits("w_bits", w_bits, ob)
    plan = plan_gemm(params, m, k, n, canonical_mapping(params, m, k, n, order))
    busy = a_bits * plan.rtl_busy_cycles
    if busy >= 1 << CYCLE_COUNTER_BITS:
        raise HdlError(f"GEMM {m}x{k}x{n} at {a_bits} bits takes {busy} cycles, more than "
                       f"the {CYCLE_COUNTER_BITS}-bit cycle counter holds")
    rng = np.random.default_rng(seed)
    mats = []
    for rows, cols, bits in ((m, k, a_bits), (k, n, w_bits)):
        lo, hi = -(1 << (bits - 1)), 1 << (bits - 1)
        if extreme:
            mat = np.full((rows, cols), lo)
        else:
            mat = rng.integers(lo, hi, (rows, cols))
            mask = rng.random(mat.shape)
            mat[mask < 0.1] = lo
            mat[mask > 0.95] = hi - 1
        mats.append(mat)
    mats[1] = _pruned(mats[1], prune)
    mats = [mat.tolist() for mat in mats]
    timeout = 10 * (m * k + k * n + m * n) + 2 * busy + 1000
    return GemmCase(m, k, n, mats[0], mats[1], plan.order, idle, backpressure, seed,
                    ports={"abits": a_bits}, timeout_cycles=timeout)


def _bits_of(values: np.ndarray) -> int:
    """Narrowest width of :data:`dataflows.layer.SUPPORTED_BITS` holding ``values``."""
    from dataflows.layer import SUPPORTED_BITS
    lo, hi = int(values.min(initial=0)), int(values.max(initial=0))
    return next((bits for bits in SUPPORTED_BITS
                 if -(1 << (bits - 1)) <= lo and hi < 1 << (bits - 1)), SUPPORTED_BITS[-1])


def expected_cycles(accel: Accelerator, case: GemmCase) -> int:
    """The cycle model's start-to-done cycles of ``case`` on ``accel``: the GEMM as a
    :mod:`dataflows` layer with ``input_bits = abits`` and the weights' width, through
    :func:`sim.datapath.plan_datapath` (the timing layer and the per-step accelerator),
    ``sim.analytic.evaluate(..., timing="native")`` with the engine's mapping, and
    :meth:`~sim.datapath.DatapathPlan.finish` (steps x ``s``): ``compute_cycles``, as
    :func:`hdl.plan.sim_cycles` for the dense engine.

    The accumulator-overflow check is off: cycles do not depend on it, and the RTL wraps
    exactly as the numpy reference does. ``abits`` must be one of the widths ``sim``
    models (:data:`dataflows.layer.SUPPORTED_BITS`)."""
    from dataflows.layer import SUPPORTED_BITS, Precision, gemm
    from sim.analytic import evaluate
    from sim.datapath import plan_datapath
    params = HdlParams.from_accelerator(accel)
    if params.engine != "bitserial":
        raise HdlError(f"expected_cycles is the bitserial engine's; {accel.name!r} asks for "
                       f"the {params.engine!r} engine")
    a_bits = int(case.ports.get("abits", 0))
    if a_bits not in SUPPORTED_BITS or a_bits > params.operand_bits:
        raise HdlError(f"abits={a_bits}: the cycle model (sim.datapath) takes input widths "
                       f"{[b for b in SUPPORTED_BITS if b <= params.operand_bits]} on "
                       f"{accel.name!r}")
    w_bits = _bits_of(np.array(case.b, dtype=np.int64))
    ab = params.accumulator_bits
    out_bits = next(b for b in (8, 16, 32) if b >= min(ab, 32))
    layer = gemm("gemm", case.m, case.n, case.k,
                 precision=Precision(input_bits=a_bits, weight_bits=w_bits,
                                     output_bits=out_bits))
    dp = plan_datapath(layer, accel, "native", check_overflow=False)
    mapping = canonical_mapping(params, case.m, case.k, case.n, case.order)
    return dp.finish(evaluate(dp.layer, dp.accel, mapping, timing="native")).compute_cycles


def cycle_fidelity_cycles(accel: Accelerator, case: GemmCase) -> int:
    """The cycle-approximate model's compute cycles of ``case``: ``sim.simulate(...,
    fidelity="cycle")`` with the case's tensors (A as the input, B^T as the weight) and
    the engine's mapping -- the second fidelity of the figure :func:`expected_cycles`
    returns (DESIGN invariants 1 and 2)."""
    from dataflows.layer import Precision, gemm
    from sim.simulate import simulate
    params = HdlParams.from_accelerator(accel)
    a_bits = int(case.ports.get("abits", 0))
    b = np.array(case.b, dtype=np.int64)
    ab = params.accumulator_bits
    layer = gemm("gemm", case.m, case.n, case.k,
                 precision=Precision(input_bits=a_bits, weight_bits=_bits_of(b),
                                     output_bits=next(x for x in (8, 16, 32)
                                                      if x >= min(ab, 32))))
    mapping = canonical_mapping(params, case.m, case.k, case.n, case.order)
    tensors = {"gemm": {"input": np.array(case.a, dtype=np.int64), "weight": b.T}}
    res = simulate(layer, accel, mapping=mapping, fidelity="cycle", tensors=tensors)
    return int(res.layers[0].compute_cycles)


def compare_case(case: GemmCase, result: RunResult, accumulator_bits: int,
                 sim_cycles: int) -> dict[str, object]:
    """:func:`hdl.verify.compare`'s record for a bit-serial run (A read at ``abits``)."""
    a_bits = int(case.ports["abits"])
    want = bitserial_gemm_ref(np.array(case.a), np.array(case.b), a_bits,
                              accumulator_bits).astype(object)
    got = np.array(result.outputs, dtype=object)
    same_shape = got.shape == want.shape
    err = int(np.max(np.abs(got - want))) if same_shape and got.size else -1
    return {"rtl_cycles": result.rtl_cycles, "sim_cycles": sim_cycles,
            "cycles_match": result.rtl_cycles == sim_cycles == result.busy_cycles,
            "outputs_match": bool(same_shape and err == 0), "max_abs_error": err,
            "a_bits": a_bits, "engine": "bitserial"}


def verify_gemm(accel: Accelerator, m: int, k: int, n: int, *, w_bits: int, a_bits: int,
                prune: object = None, seed: int = 0, backend: str = "cocotb",
                build_dir: Path | None = None, idle: float = 0.3,
                backpressure: float = 0.3) -> dict[str, object]:
    """Run one random GEMM on the bit-serial engine of ``accel`` and compare outputs
    (numpy) and cycles (:func:`expected_cycles`); the record of
    :func:`hdl.verify.compare` plus ``a_bits`` and ``engine``."""
    from hdl.verify import BACKENDS, run_cases
    if backend not in BACKENDS:
        raise HdlError(f"backend must be one of {list(BACKENDS)}, not {backend!r}")
    params = HdlParams.from_accelerator(accel)
    if params.engine != "bitserial":
        raise HdlError(f"verify_gemm here runs the bitserial engine; {accel.name!r} asks for "
                       f"the {params.engine!r} engine")
    case = make_case(params, m, k, n, w_bits=w_bits, a_bits=a_bits, seed=seed, idle=idle,
                     backpressure=backpressure, prune=prune)
    expected = expected_cycles(accel, case)
    result = run_cases(params, [case], backend, build_dir)[0]
    rec = compare_case(case, result, params.accumulator_bits, expected)
    if a_bits in (2, 4, 8):      # the widths sim's cycle fidelity models
        rec["cycle_model_cycles"] = cycle_fidelity_cycles(accel, case)
    return rec


def cycle_table(accel: Accelerator, shapes: list[tuple[int, int, int]],
                widths: tuple[int, ...], seed: int = 0,
                backend: str = "amaranth") -> list[dict[str, object]]:
    """Every (shape, width) of ``shapes x widths`` run back to back on one build of
    ``accel``'s engine: rows of ``shape``, ``a_bits``, ``rtl_cycles``, ``sim_cycles``
    (:func:`expected_cycles`), ``cycles_match`` and ``outputs_match``."""
    from hdl.verify import run_cases
    params = HdlParams.from_accelerator(accel)
    cases = [make_case(params, m, k, n, w_bits=params.operand_bits, a_bits=s,
                       seed=seed + i, order=i % 2)
             for i, ((m, k, n), s) in enumerate((sh, s) for sh in shapes for s in widths)]
    results = run_cases(params, cases, backend)
    rows = []
    for case, res in zip(cases, results):
        rec = compare_case(case, res, params.accumulator_bits, expected_cycles(accel, case))
        rows.append({"shape": f"{case.m}x{case.k}x{case.n}", "a_bits": rec["a_bits"],
                     "rtl_cycles": rec["rtl_cycles"], "sim_cycles": rec["sim_cycles"],
                     "cycles_match": rec["cycles_match"],
                     "outputs_match": rec["outputs_match"]})
    return rows


def _main(argv: list[str]) -> int:
    """``python -m hdl.bitserial [backend]``: the cycle-equality table of a 4x4 int8
    bit-serial engine (ws and os) over a few shapes at 2, 4 and 8 input bits."""
    from sim.spec import Buffer, PEConfig
    backend = argv[0] if argv else "amaranth"
    shapes = [(1, 1, 1), (5, 7, 3), (9, 4, 5), (13, 6, 11)]
    bad = 0
    print("dataflow shape(MxKxN) a_bits rtl_cycles sim_cycles match")
    for df in ("ws", "os"):
        accel = Accelerator(name=f"bitserial_4x4_{df}", rows=4, cols=4, dataflow=df,
                            pe=PEConfig(operand_bits=8, accumulator_bits=32,
                                        mode="bitserial"),
                            rf=Buffer("rf", capacity_bytes=8, word_bits=8),
                            glb=(Buffer("glb", capacity_bytes=8 * 1024, word_bits=64),))
        for row in cycle_table(accel, shapes, (2, 4, 8), backend=backend):
            ok = row["cycles_match"] and row["outputs_match"]
            bad += not ok
            print(f"{df} {row['shape']} {row['a_bits']} {row['rtl_cycles']} "
                  f"{row['sim_cycles']} {'yes' if ok else 'NO'}")
    return 1 if bad else 0


__all__ = ["BitSerialOSArray", "BitSerialOSPE", "BitSerialTop", "BitSerialWSArray",
           "BitSerialWSPE", "abits_width", "compare_case", "cycle_fidelity_cycles",
           "cycle_table", "expected_cycles", "make_case", "verify_gemm"]


if __name__ == "__main__":
    import sys
    sys.exit(_main(sys.argv[1:]))
