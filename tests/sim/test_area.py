"""Area model: the Aladdin/Intel anchor numbers and the scaling laws."""

from __future__ import annotations

from dataclasses import replace

import pytest

from sim import Buffer, load_accelerator
from sim.area import (ADD32_UM2, MULT32_UM2, REG_BIT_UM2, SRAM_ARRAY_EFFICIENCY,
                      SRAM_BITCELL_UM2, area, pe_datapath_um2, storage_um2)


def test_pe_anchor_at_32_bits() -> None:
    # 32x32 multiplier + 64-bit accumulator add + 2*32 + 64 register bits
    assert pe_datapath_um2(32, 64, False) == pytest.approx(
        MULT32_UM2 + 2 * ADD32_UM2 + 128 * REG_BIT_UM2)


def test_multiplier_is_quadratic_and_product_register_adds_bits() -> None:
    a8, a16 = pe_datapath_um2(8, 32, False), pe_datapath_um2(16, 32, False)
    assert a16 - a8 == pytest.approx(MULT32_UM2 * (0.25 - 1 / 16) + 16 * REG_BIT_UM2)
    assert pe_datapath_um2(8, 32, True) - a8 == pytest.approx(16 * REG_BIT_UM2)


def test_storage_flops_then_sram() -> None:
    assert storage_um2(Buffer("rf", capacity_bytes=4, word_bits=8)) == 32 * REG_BIT_UM2
    sram = storage_um2(Buffer("g", capacity_bytes=65536))
    assert sram == pytest.approx(65536 * 8 * SRAM_BITCELL_UM2 / SRAM_ARRAY_EFFICIENCY)


def test_accelerator_area_adds_up_and_grows_with_the_array() -> None:
    small = load_accelerator("edge_8x8_ws")
    big = replace(small, rows=16, cols=16)
    a, b = area(small), area(big)
    assert a.total_mm2 == pytest.approx(a.pe_datapath_mm2 + a.pe_rf_mm2 + a.glb_mm2)
    assert b.pe_datapath_mm2 == pytest.approx(4 * a.pe_datapath_mm2)
    assert b.glb_mm2 == a.glb_mm2
