"""Processing elements: a signed integer MAC wrapped for each dataflow's data movement.

Both PEs compute ``product = a * b`` at full ``2 * operand_bits`` width, optionally
register it (``product_register``: one more pipeline stage, for DSP/Fmax), and add it
to an accumulator of ``accumulator_bits`` that wraps around (two's complement). The
registers that feed multipliers (the stationary weight, the passing operands, the
product register) are ``reset_less`` so synthesis can fold them into DSP blocks.

* :class:`WSPE` (weight stationary): holds ``w`` (shifted in from above while
  ``w_load``); ``a`` passes right, the partial sum passes down:
  ``psum_out <= psum_in + a * w`` (one cycle; the product register delays the product
  by one, and ``psum_in`` is then expected one cycle later too).
* :class:`OSPE` (output stationary): ``a`` passes right, ``b`` passes down, ``valid``
  travels with ``a``; ``acc <= acc + a * b`` when valid; while ``drain`` the
  accumulators shift down one PE per cycle (``acc <= acc_in``, zeros enter at the top).
"""

from __future__ import annotations

from amaranth import Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hdl.params import RTL_OPERAND_BITS, HdlError


def check_pe_params(operand_bits: int, accumulator_bits: int, product_register: bool) -> None:
    """Raise :class:`HdlError` naming the value and the rule unless the PE can be built."""
    if operand_bits not in RTL_OPERAND_BITS:
        raise HdlError(f"operand_bits must be one of {list(RTL_OPERAND_BITS)}, "
                       f"not {operand_bits!r}")
    if not isinstance(accumulator_bits, int) or isinstance(accumulator_bits, bool) \
            or not 2 * operand_bits <= accumulator_bits <= 64:
        raise HdlError(f"accumulator_bits must be an integer in [{2 * operand_bits}, 64] "
                       f"(2 x operand_bits .. 64), not {accumulator_bits!r}")
    if not isinstance(product_register, bool):
        raise HdlError(f"product_register must be True or False, not {product_register!r}")


class _MacPE(wiring.Component):
    """Shared parameters and the multiplier (+ optional product register)."""

    def __init__(self, signature: dict, operand_bits: int, accumulator_bits: int,
                 product_register: bool) -> None:
        check_pe_params(operand_bits, accumulator_bits, product_register)
        self._operand_bits = operand_bits
        self._accumulator_bits = accumulator_bits
        self._product_register = product_register
        super().__init__(signature)

    @property
    def operand_bits(self) -> int:
        return self._operand_bits

    @property
    def accumulator_bits(self) -> int:
        return self._accumulator_bits

    @property
    def product_register(self) -> bool:
        return self._product_register

    @property
    def latency(self) -> int:
        """Cycles from operands at the inputs to the sum in the output register."""
        return 2 if self._product_register else 1

    def _product(self, m: Module, a: Signal, b: Signal) -> Signal:
        """``a * b`` at full width, registered (reset-less) with a product register."""
        wide = signed(2 * self._operand_bits)
        prod = Signal(wide)
        m.d.comb += prod.eq(a * b)
        if not self._product_register:
            return prod
        prod_q = Signal(wide, reset_less=True)
        m.d.sync += prod_q.eq(prod)
        return prod_q


class WSPE(_MacPE):
    """Weight-stationary PE: ``psum_out <= psum_in + a_in * w``; ``w <= w_in`` on load.

    Ports: ``a_in``/``a_out`` (operand passing right, registered), ``w_in``/``w_out``
    (weight shift chain down the column, ``w_out`` is the held weight), ``w_load``,
    ``psum_in``/``psum_out`` (partial sum passing down, registered).
    """

    def __init__(self, operand_bits: int = 8, accumulator_bits: int = 32,
                 product_register: bool = False) -> None:
        ob, ab = signed(operand_bits), signed(accumulator_bits)
        super().__init__({"a_in": In(ob), "a_out": Out(ob), "w_in": In(ob), "w_out": Out(ob),
                          "w_load": In(1), "psum_in": In(ab), "psum_out": Out(ab)},
                         operand_bits, accumulator_bits, product_register)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        ob = signed(self.operand_bits)
        w = Signal(ob, reset_less=True)
        a_q = Signal(ob, reset_less=True)
        with m.If(self.w_load):
            m.d.sync += w.eq(self.w_in)
        m.d.sync += a_q.eq(self.a_in)
        prod = self._product(m, self.a_in, w)
        m.d.sync += self.psum_out.eq(self.psum_in + prod)   # truncates: wraps at acc width
        m.d.comb += [self.a_out.eq(a_q), self.w_out.eq(w)]
        return m


class OSPE(_MacPE):
    """Output-stationary PE: ``acc <= acc + a_in * b_in`` when valid; shifts down on drain.

    Ports: ``a_in``/``a_out`` and ``valid_in``/``valid_out`` (passing right),
    ``b_in``/``b_out`` (passing down), ``drain``, ``acc_in`` (the accumulator of the PE
    above, zero for the top row) and ``acc`` (this PE's accumulator).
    """

    def __init__(self, operand_bits: int = 8, accumulator_bits: int = 32,
                 product_register: bool = False) -> None:
        ob, ab = signed(operand_bits), signed(accumulator_bits)
        super().__init__({"a_in": In(ob), "a_out": Out(ob), "b_in": In(ob), "b_out": Out(ob),
                          "valid_in": In(1), "valid_out": Out(1), "drain": In(1),
                          "acc_in": In(ab), "acc": Out(ab)},
                         operand_bits, accumulator_bits, product_register)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        ob = signed(self.operand_bits)
        a_q = Signal(ob, reset_less=True)
        b_q = Signal(ob, reset_less=True)
        v_q = Signal()
        m.d.sync += [a_q.eq(self.a_in), b_q.eq(self.b_in), v_q.eq(self.valid_in)]
        prod = self._product(m, self.a_in, self.b_in)
        valid = self.valid_in
        if self.product_register:
            valid = Signal()
            m.d.sync += valid.eq(self.valid_in)
        acc = Signal(signed(self.accumulator_bits))
        with m.If(self.drain):
            m.d.sync += acc.eq(self.acc_in)
        with m.Elif(valid):
            m.d.sync += acc.eq(acc + prod)
        m.d.comb += [self.a_out.eq(a_q), self.b_out.eq(b_q), self.valid_out.eq(v_q),
                     self.acc.eq(acc)]
        return m


__all__ = ["OSPE", "WSPE", "check_pe_params"]
