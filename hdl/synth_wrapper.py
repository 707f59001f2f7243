"""A pin-reducing wrapper of :class:`~hdl.top.GemmTop` for small FPGA packages.

The bare top needs ``2 + 3 (ob + 2) + (ab + 2) + 3 dim_bits + 36`` pins (``ob``
operand bits, ``ab`` accumulator bits): 140 for 4x4 int8 -- fine for an ECP5 CABGA381
(197+ I/O), far too many for an iCE40 UP5K SG48 (39). :class:`NarrowTop` puts the same
engine behind ``ob + 22`` pins (30 for int8, 38 for int16; the N:M engine's slot adds its
index bits):

* ``inp`` (in stream): one operand per beat, ``payload.value`` (signed ``ob`` bits) and
  ``payload.to_b`` (0: the beat belongs to A, 1: to B); A and B may interleave;
* ``o`` (out stream): the outputs as bytes, ``ceil(ab / 8)`` beats per element, least
  significant byte first, the last byte sign-extended;
* ``cfg_shift``/``cfg_sdi``: a shift register holding ``{extra, order, n, k, m}`` (``m``
  in the low ``dim_bits`` bits; ``extra``: the engine kind's static inputs, e.g. the
  bit-serial ``abits``, in the order of the core's signature): each cycle with
  ``cfg_shift`` high shifts ``cfg_sdi`` in at the top, so send the :attr:`NarrowTop.cfg_bits`
  bits least significant first;
* ``cyc_shift``/``cyc_sdo``: the busy-cycle counter, captured every cycle while
  ``cyc_shift`` is low and shifted out least significant bit first while it is high
  (``cyc_sdo`` shows bit ``i`` after ``i`` shift cycles);
* ``start``, ``busy``, ``done`` as on the bare top.

The wrapper adds no cycle to the compute phase (``start`` to ``done``): the busy
period is the engine's, so the cycle contract with ``sim`` holds unchanged.
"""

from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hdl.params import CYCLE_COUNTER_BITS, HdlError, HdlParams
from hdl.engines import build_top
from sim.fpga_model import b_payload_bits, extra_port_bits

#: The ports of :class:`hdl.top.GemmTop`; any other input of an engine's top is a
#: static input of its kind, carried by the configuration shift register.
GEMM_PORTS = frozenset({"a", "b", "o", "m", "k", "n", "order", "start", "busy", "done",
                        "cycles"})

#: Pins of the wrapper besides the operand payload: clk, rst, inp (to_b, valid, ready),
#: o (8 + valid + ready), cfg (2), cycle readout (2), start/busy/done.
NARROW_FIXED_PINS = 2 + 3 + 10 + 2 + 2 + 3


def bare_pins(params: HdlParams) -> int:
    """I/O pins of the bare :class:`~hdl.top.GemmTop` (clk and rst included; plus the
    engine kind's static inputs)."""
    ob, ab = params.operand_bits, params.accumulator_bits
    return 2 + (ob + 2) + (b_payload_bits(params) + 2) + (ab + 2) + 3 * params.dim_bits \
        + 1 + 3 + CYCLE_COUNTER_BITS + extra_port_bits(params)


def narrow_pins(params: HdlParams) -> int:
    """I/O pins of :class:`NarrowTop` (clk and rst included)."""
    return b_payload_bits(params) + NARROW_FIXED_PINS


class NarrowTop(wiring.Component):
    """:class:`~hdl.top.GemmTop` behind ``operand_bits + 22`` pins (module docstring)."""

    def __init__(self, params: HdlParams) -> None:
        if not isinstance(params, HdlParams):
            raise TypeError(f"params must be HdlParams, not {type(params).__name__}")
        self._p = params
        # the wider payload: an operand, or the N:M engine's slot (value | index)
        beat = data.StructLayout({"value": signed(b_payload_bits(params)), "to_b": 1})
        super().__init__({"inp": In(stream.Signature(beat)), "o": Out(stream.Signature(8)),
                          "cfg_shift": In(1), "cfg_sdi": In(1),
                          "cyc_shift": In(1), "cyc_sdo": Out(1),
                          "start": In(1), "busy": Out(1), "done": Out(1)})

    @property
    def params(self) -> HdlParams:
        return self._p

    @property
    def cfg_bits(self) -> int:
        """Length of the configuration shift register: ``3 * dim_bits + 1`` plus the
        engine kind's static inputs (:func:`sim.fpga_model.extra_port_bits`)."""
        return 3 * self._p.dim_bits + 1 + extra_port_bits(self._p)

    @property
    def out_bytes(self) -> int:
        """Bytes per output element on ``o``."""
        return -(-self._p.accumulator_bits // 8)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        p, dw = self._p, self._p.dim_bits
        m.submodules.core = core = build_top(p)

        cfg = Signal(self.cfg_bits)
        at = 3 * dw + 1
        for name, member in core.signature.members.items():
            if name in GEMM_PORTS:
                continue
            port = getattr(core, name)
            if member.flow != wiring.In or at + len(port) > self.cfg_bits:
                raise HdlError(f"NarrowTop: the {p.engine!r} top's port {name!r} is not a "
                               f"static input of {extra_port_bits(p)} configuration bits")
            m.d.comb += port.eq(cfg[at:at + len(port)])
            at += len(port)
        if at != self.cfg_bits:
            raise HdlError(f"NarrowTop: the {p.engine!r} top has {at - 3 * dw - 1} bits of "
                           f"static inputs, sim.fpga_model counts {extra_port_bits(p)}")
        with m.If(self.cfg_shift):
            m.d.sync += cfg.eq(Cat(cfg[1:], self.cfg_sdi))
        to_b = self.inp.payload.to_b
        m.d.comb += [
            core.m.eq(cfg[:dw]), core.k.eq(cfg[dw:2 * dw]), core.n.eq(cfg[2 * dw:3 * dw]),
            core.order.eq(cfg[3 * dw]),
            core.start.eq(self.start), self.busy.eq(core.busy), self.done.eq(core.done),
            core.a.payload.eq(self.inp.payload.value), core.b.payload.eq(self.inp.payload.value),
            core.a.valid.eq(self.inp.valid & ~to_b), core.b.valid.eq(self.inp.valid & to_b),
            self.inp.ready.eq(Mux(to_b, core.b.ready, core.a.ready)),
        ]

        # output serialiser: one element in, out_bytes bytes out
        word = Signal(8 * self.out_bytes)
        left = Signal(range(self.out_bytes + 1))
        with m.If(left == 0):
            m.d.comb += core.o.ready.eq(1)
            with m.If(core.o.valid):
                m.d.sync += [word.eq(core.o.payload), left.eq(self.out_bytes)]
        with m.Else():
            m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(word[:8])]
            with m.If(self.o.ready):
                m.d.sync += [word.eq(word >> 8), left.eq(left - 1)]

        snap = Signal(CYCLE_COUNTER_BITS)
        with m.If(self.cyc_shift):
            m.d.sync += snap.eq(snap >> 1)
        with m.Else():
            m.d.sync += snap.eq(core.cycles)
        m.d.comb += self.cyc_sdo.eq(snap[0])
        return m


__all__ = ["NARROW_FIXED_PINS", "NarrowTop", "bare_pins", "narrow_pins"]
