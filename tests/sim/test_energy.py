"""Energy defaults: Horowitz (ISSCC 2014) anchor points and Eyeriss (ISCA 2016) ratios."""

from __future__ import annotations

import math

import pytest

from sim.energy import (DEFAULT_ADD_PJ_PER_BIT, DEFAULT_DRAM_PJ_PER_BIT, DEFAULT_MULT_PJ,
                        SRAM_64B_8KIB_PJ, EnergyError, EnergyTable, sram_access_pj)
from sim.spec import Buffer
from sim.spec_io import load_accelerator


# -- [H14] anchor points ----------------------------------------------------------------
def test_sram_anchor_points() -> None:
    assert SRAM_64B_8KIB_PJ == 10.0
    assert sram_access_pj(8192, 64) == 10.0
    assert sram_access_pj(32768, 64) == 20.0
    # 1 MiB: 13 % above [H14]'s 100 pJ, as the docstring says
    assert sram_access_pj(1 << 20, 64) == pytest.approx(113.137, rel=1e-4)
    assert sram_access_pj(1 << 20, 64) / 100.0 - 1 == pytest.approx(0.13, abs=0.005)


def test_sram_scales_with_width_and_sqrt_capacity() -> None:
    assert sram_access_pj(8192, 8) == pytest.approx(10.0 / 8)
    assert sram_access_pj(8192, 256) == pytest.approx(40.0)
    assert sram_access_pj(4 * 8192, 64) == pytest.approx(2 * sram_access_pj(8192, 64))


def test_sram_below_one_word_is_a_register() -> None:
    assert sram_access_pj(0, 64) == sram_access_pj(8, 64)
    assert sram_access_pj(1, 32) == sram_access_pj(4, 32)
    assert sram_access_pj(4, 8) == pytest.approx(1.25 * math.sqrt(4 / 8192))


def test_mult_and_add_defaults() -> None:
    assert DEFAULT_MULT_PJ[8] == 0.2 and DEFAULT_MULT_PJ[32] == 3.1  # measured [H14]
    for bits in (2, 4, 16):  # (bits/8)^2 law from the 8-bit figure
        assert DEFAULT_MULT_PJ[bits] == pytest.approx(0.2 * (bits / 8) ** 2)
    assert DEFAULT_ADD_PJ_PER_BIT * 32 == pytest.approx(0.1)  # [H14] 32-bit add
    assert DEFAULT_DRAM_PJ_PER_BIT * 64 == pytest.approx(1300.0)  # 1.3 nJ per 64 bits


@pytest.mark.parametrize("operand_bits, acc_bits, expected", [
    (8, 32, 0.2 + 0.1),
    (32, 32, 3.1 + 0.1),
    (16, 32, 0.8 + 0.1),
    (8, 24, 0.2 + 0.075),
    (2, 16, 0.0125 + 0.05),
])
def test_mac_energy(operand_bits: int, acc_bits: int, expected: float) -> None:
    assert EnergyTable().mac_pj(operand_bits, acc_bits) == pytest.approx(expected)


def test_mac_energy_missing_width() -> None:
    table = EnergyTable(mult_pj={8: 0.2})
    with pytest.raises(EnergyError, match=r"^energy\.mult_pj has no entry for 16-bit operands; "
                                          r"add one \(have \[8\]\)$"):
        table.mac_pj(16, 32)


@pytest.mark.parametrize("kwargs, match", [
    ({"mult_pj": {8: -0.1}}, r"^energy\.mult_pj entries must be <bits>: <pJ >= 0>, "
                             r"got 8: -0\.1$"),
    ({"mult_pj": {"8": 0.2}}, r"^energy\.mult_pj entries must be <bits>: <pJ >= 0>, "
                              r"got '8': 0\.2$"),
    ({"mult_pj": {0: 0.2}}, r"got 0: 0\.2$"),
    ({"add_pj_per_bit": -1}, r"^energy\.add_pj_per_bit must be a number >= 0, not -1$"),
    ({"dram_pj_per_bit": "20"}, r"^energy\.dram_pj_per_bit must be a number >= 0, not '20'$"),
])
def test_energy_table_validation(kwargs: dict, match: str) -> None:
    with pytest.raises(EnergyError, match=match):
        EnergyTable(**kwargs)


# -- [C16] sanity: the order of the per-word costs ----------------------------------------
def _per_word_pj(bits: int) -> dict[str, float]:
    """Cost of moving one ``bits``-bit word at each level of a default-sized hierarchy."""
    rf = Buffer("rf", capacity_bytes=4, word_bits=8)            # the default per-PE RF
    glb = Buffer("glb", capacity_bytes=64 * 1024, word_bits=64)  # 64 KiB global buffer
    return {"dram": DEFAULT_DRAM_PJ_PER_BIT * bits, "glb": glb.pj_per_bit() * bits,
            "rf": rf.pj_per_bit() * bits}


def test_hierarchy_order_per_8bit_word() -> None:
    e = _per_word_pj(8)
    assert e["dram"] > 10 * e["glb"]          # DRAM >> GLB
    assert e["glb"] > e["rf"]                 # GLB > RF
    assert e["dram"] == pytest.approx(162.5)
    assert e["glb"] == pytest.approx(10 * math.sqrt(8) / 8)


def test_eyeriss_ratios_within_3x_of_c16() -> None:
    """Eyeriss Table IV: RF 1x, global buffer 6x, DRAM 200x, relative to a 16-bit access
    of the RF (and one 16-bit MAC). On the Eyeriss-like spec the defaults land within a
    factor of 3 of each ratio and in the same order."""
    eyeriss = load_accelerator("eyeriss_12x14_rs")
    rf = eyeriss.rf.pj_per_bit() * 16
    glb = eyeriss.glb[0].pj_per_bit() * 16
    dram = eyeriss.energy.dram_pj_per_bit * 16
    mac = eyeriss.energy.mac_pj(16, eyeriss.pe.accumulator_bits)
    assert rf < glb < dram
    assert 6 / 3 <= glb / rf <= 6 * 3
    assert 200 / 3 <= dram / rf <= 200 * 3
    assert 200 / 3 <= dram / mac <= 200 * 3
