"""Systolic arrays of :mod:`hdl.pe` PEs, with input skew and output de-skew inside.

Callers present one *unskewed* vector per cycle; the array delays row ``r`` by ``r``
cycles (and, for OS, column ``c`` of ``b`` by ``c``) so every PE sees matching
operands. Timing (``R x C`` array, ``pr`` = 1 with a product register):

* **WS** (:class:`WSArray`): weights are loaded through ``w``/``w_load`` one array row
  per cycle, bottom row first (``R`` cycles). A row vector ``a`` presented at cycle
  ``s`` produces the aligned output row (``sum_r a[r] * W[r][c]``, wrapped at the
  accumulator width) on ``out`` at cycle ``s + R + C - 1 + pr`` (de-skew inside).
* **OS** (:class:`OSArray`): ``a`` (one element per row) and ``b`` (one per column)
  stream with ``valid`` for ``K`` cycles ``0 .. K-1``; PE ``(r, c)`` accumulates
  ``sum_k a_k[r] * b_k[c]``. The last MAC is done by cycle ``K + R + C - 3 + pr``;
  asserting ``drain`` for ``R`` cycles starting at ``K + R + C - 2 + pr`` shifts the
  results out: ``out`` holds result row ``R - 1 - d`` in cycle ``K + R + C - 1 + pr +
  d``, and the accumulators are zero afterwards (ready for the next tile).

``per_row_control=True`` makes the broadcast control (WS ``w_load``, OS ``drain``) one
bit per row (bit ``r`` drives row ``r``; OS's output register follows the last row's):
a single register driving every PE is a net of ``R*C*width`` loads that alone costs
~14 ns of routing on an 8x8 ECP5 array, so :mod:`hdl.controller` drives one
register per row instead. Callers must drive all bits alike.
"""

from __future__ import annotations

from amaranth import Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hdl.params import HdlError
from hdl.pe import OSPE, WSPE, check_pe_params


def _delay(m: Module, name: str, sig: Signal, cycles: int, reset_less: bool = True) -> Signal:
    """``sig`` delayed by ``cycles`` registers (a shift chain)."""
    for i in range(cycles):
        q = Signal.like(sig, name=f"{name}_d{i}", reset_less=reset_less)
        m.d.sync += q.eq(sig)
        sig = q
    return sig


class _Array(wiring.Component):
    def __init__(self, signature: dict, rows: int, cols: int, operand_bits: int,
                 accumulator_bits: int, product_register: bool) -> None:
        for name, v in (("rows", rows), ("cols", cols)):
            if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= 64:
                raise HdlError(f"array {name} must be an integer in [1, 64], not {v!r}")
        self._rows, self._cols = rows, cols
        self._pe_args = (operand_bits, accumulator_bits, product_register)
        check_pe_params(operand_bits, accumulator_bits, product_register)
        super().__init__(signature)

    def _make_pe(self, i: int) -> wiring.Component:
        raise NotImplementedError

    @property
    def rows(self) -> int:
        return self._rows

    @property
    def cols(self) -> int:
        return self._cols

    @property
    def operand_bits(self) -> int:
        return self._pe_args[0]

    @property
    def accumulator_bits(self) -> int:
        return self._pe_args[1]

    @property
    def product_register(self) -> bool:
        return self._pe_args[2]


class WSArray(_Array):
    """Weight-stationary ``rows x cols`` array. Ports: ``a[rows]``, ``w[cols]``, ``w_load``,
    ``out[cols]`` (see the module docstring for timing)."""

    def __init__(self, rows: int, cols: int, operand_bits: int = 8,
                 accumulator_bits: int = 32, product_register: bool = False,
                 per_row_control: bool = False) -> None:
        ob, ab = signed(operand_bits), signed(accumulator_bits)
        self._per_row = bool(per_row_control)
        super().__init__({"a": In(ob).array(rows), "w": In(ob).array(cols),
                          "w_load": In(rows if per_row_control else 1),
                          "out": Out(ab).array(cols)},
                         rows, cols, operand_bits, accumulator_bits, product_register)

    def _make_pe(self, i: int) -> WSPE:
        return WSPE(*self._pe_args)

    @property
    def latency(self) -> int:
        """Cycles from an input row to its aligned output row: ``R + C - 1 + pr``."""
        return self.rows + self.cols - 1 + (1 if self.product_register else 0)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        R, C = self.rows, self.cols
        pe = [[self._make_pe(r * C + c) for c in range(C)] for r in range(R)]
        for r in range(R):
            for c in range(C):
                m.submodules[f"pe_{r}_{c}"] = p = pe[r][c]
                m.d.comb += [
                    p.a_in.eq(_delay(m, f"skew{r}", self.a[r], r) if c == 0
                              else pe[r][c - 1].a_out),
                    p.w_in.eq(self.w[c] if r == 0 else pe[r - 1][c].w_out),
                    p.w_load.eq(self.w_load[r] if self._per_row else self.w_load),
                    p.psum_in.eq(0 if r == 0 else pe[r - 1][c].psum_out),
                ]
        for c in range(C):
            m.d.comb += self.out[c].eq(
                _delay(m, f"deskew{c}", pe[R - 1][c].psum_out, C - 1 - c, reset_less=False))
        return m


class OSArray(_Array):
    """Output-stationary ``rows x cols`` array. Ports: ``a[rows]``, ``b[cols]``, ``valid``,
    ``drain``, ``out[cols]`` (see the module docstring for timing)."""

    def __init__(self, rows: int, cols: int, operand_bits: int = 8,
                 accumulator_bits: int = 32, product_register: bool = False,
                 per_row_control: bool = False) -> None:
        ob, ab = signed(operand_bits), signed(accumulator_bits)
        self._per_row = bool(per_row_control)
        super().__init__({"a": In(ob).array(rows), "b": In(ob).array(cols), "valid": In(1),
                          "drain": In(rows if per_row_control else 1),
                          "out": Out(ab).array(cols)},
                         rows, cols, operand_bits, accumulator_bits, product_register)

    def _make_pe(self, i: int) -> OSPE:
        return OSPE(*self._pe_args)

    def drain_start(self, stream_cycles: int) -> int:
        """Cycle (stream starts at 0) at which ``drain`` must first be asserted."""
        return stream_cycles + self.rows + self.cols - 2 + (1 if self.product_register else 0)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        R, C = self.rows, self.cols
        pe = [[self._make_pe(r * C + c) for c in range(C)] for r in range(R)]
        for r in range(R):
            for c in range(C):
                m.submodules[f"pe_{r}_{c}"] = p = pe[r][c]
                if c == 0:
                    m.d.comb += [p.a_in.eq(_delay(m, f"skew_a{r}", self.a[r], r)),
                                 p.valid_in.eq(_delay(m, f"skew_v{r}", self.valid, r,
                                                      reset_less=False))]
                else:
                    m.d.comb += [p.a_in.eq(pe[r][c - 1].a_out),
                                 p.valid_in.eq(pe[r][c - 1].valid_out)]
                m.d.comb += [
                    p.b_in.eq(_delay(m, f"skew_b{c}", self.b[c], c) if r == 0
                              else pe[r - 1][c].b_out),
                    p.drain.eq(self.drain[r] if self._per_row else self.drain),
                    p.acc_in.eq(0 if r == 0 else pe[r - 1][c].acc),
                ]
        for c in range(C):
            out_q = Signal(signed(self.accumulator_bits), name=f"out_q{c}")
            with m.If(self.drain[R - 1] if self._per_row else self.drain):
                m.d.sync += out_q.eq(pe[R - 1][c].acc)
            m.d.comb += self.out[c].eq(out_q)
        return m


__all__ = ["OSArray", "WSArray"]
