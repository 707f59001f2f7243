"""The accelerator spec built in Python: validation on construction, derived values."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import replace

import pytest

from dataflows.errors import CoforgeError
from sim.energy import EnergyTable, sram_access_pj
from sim.spec import MAX_ARRAY_SIDE, Accelerator, Buffer, PEConfig, SpecError


def _accel(**kw: object) -> Accelerator:
    return Accelerator(**({"name": "t", "rows": 8, "cols": 8} | kw))  # type: ignore[arg-type]


def test_spec_error_is_a_coforge_error() -> None:
    assert issubclass(SpecError, CoforgeError)
    assert issubclass(SpecError, ValueError)


def test_defaults() -> None:
    a = _accel()
    assert (a.dataflow, a.clock_mhz) == ("ws", 200.0)
    assert a.pe == PEConfig(operand_bits=8, accumulator_bits=32, product_register=False)
    assert (a.rf.capacity_bytes, a.rf.word_bits) == (4, 8)
    assert [b.name for b in a.glb] == ["glb"]
    assert a.glb[0].operands == ("weight", "input", "output")
    assert a.dram.capacity_bytes == 0 and a.dram.read_bytes_per_cycle == math.inf
    assert a.pes == a.peak_macs_per_cycle == 64


def test_frozen_and_replace_revalidates() -> None:
    a = _accel()
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.rows = 4  # type: ignore[misc]
    assert replace(a, rows=16).rows == 16
    with pytest.raises(SpecError, match=r"array\.rows must be a positive integer, not 0"):
        replace(a, rows=0)


# -- array ------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [0, -3, 2.0, "8", True, None])
@pytest.mark.parametrize("field", ["rows", "cols"])
def test_array_side_must_be_positive_int(field: str, value: object) -> None:
    with pytest.raises(SpecError,
                       match=rf"^array\.{field} must be a positive integer, not {value!r}$"):
        _accel(**{field: value})


@pytest.mark.parametrize("field", ["rows", "cols"])
def test_array_side_limit(field: str) -> None:
    assert getattr(_accel(**{field: MAX_ARRAY_SIDE}), field) == 1024
    with pytest.raises(SpecError, match=rf"^array\.{field} must be <= 1024, not 1025$"):
        _accel(**{field: MAX_ARRAY_SIDE + 1})


def test_non_power_of_two_array_is_allowed() -> None:
    assert _accel(rows=12, cols=14).pes == 168


def test_bad_dataflow() -> None:
    with pytest.raises(SpecError,
                       match=r"^dataflow must be one of \['is', 'os', 'rs', 'ws'\], not 'xs'$"):
        _accel(dataflow="xs")


@pytest.mark.parametrize("value", [0, -1.0, math.nan, "200", True])
def test_bad_clock(value: object) -> None:
    with pytest.raises(SpecError, match=r"^clock_mhz must be a number > 0"):
        _accel(clock_mhz=value)


def test_infinite_clock() -> None:
    with pytest.raises(SpecError, match=r"^clock_mhz must be finite$"):
        _accel(clock_mhz=math.inf)


# -- PE ---------------------------------------------------------------------------------
@pytest.mark.parametrize("bits", [1, 3, 12, 64])
def test_pe_operand_bits(bits: int) -> None:
    with pytest.raises(SpecError, match=rf"^pe\.operand_bits must be one of "
                                        rf"\[2, 4, 8, 16, 32\], not {bits}$"):
        PEConfig(operand_bits=bits)


def test_accumulator_too_narrow() -> None:
    with pytest.raises(SpecError, match=r"^pe\.accumulator_bits \(24\) must be at least "
                                        r"2 x operand_bits \(32\) to hold one product$"):
        PEConfig(operand_bits=16, accumulator_bits=24)
    assert PEConfig(operand_bits=16, accumulator_bits=32).accumulator_bits == 32


def test_accumulator_limit() -> None:
    with pytest.raises(SpecError, match=r"^pe\.accumulator_bits must be <= 64, not 65$"):
        PEConfig(accumulator_bits=65)


def test_product_register_must_be_bool() -> None:
    with pytest.raises(SpecError, match=r"^pe\.product_register must be true or false, not 1$"):
        PEConfig(product_register=1)  # type: ignore[arg-type]


# -- buffers ----------------------------------------------------------------------------
@pytest.mark.parametrize("operands", [(), ("weights",), ("weight", "weight")])
def test_buffer_operands(operands: tuple[str, ...]) -> None:
    with pytest.raises(SpecError, match=r"^buffer 'b': operands must be distinct names from "
                                        r"\['weight', 'input', 'output'\], not "):
        Buffer("b", operands=operands, capacity_bytes=16)


def test_buffer_operands_list_becomes_tuple() -> None:
    buf = Buffer("b", operands=["input"], capacity_bytes=16)  # type: ignore[arg-type]
    assert buf.operands == ("input",)


@pytest.mark.parametrize("value", [-4, 1.5])
def test_buffer_capacity(value: object) -> None:
    with pytest.raises(SpecError, match=rf"^buffer 'b': capacity_bytes must be an integer "
                                        rf">= 0, not {value!r}$"):
        Buffer("b", capacity_bytes=value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [0, 4097])
def test_buffer_word_bits(value: int) -> None:
    with pytest.raises(SpecError, match=r"^buffer 'b': word_bits must be"):
        Buffer("b", word_bits=value)


@pytest.mark.parametrize("field", ["read_bytes_per_cycle", "write_bytes_per_cycle"])
@pytest.mark.parametrize("value", [0, -1.0, math.nan, True, "16"])
def test_buffer_bandwidth(field: str, value: object) -> None:
    with pytest.raises(SpecError, match=rf"^buffer 'b': {field} must be a number > 0 "
                                        rf"\(\.inf for unlimited\)"):
        Buffer("b", **{field: value})  # type: ignore[arg-type]


def test_buffer_double_buffered_must_be_bool() -> None:
    with pytest.raises(SpecError,
                       match=r"^buffer 'b': double_buffered must be true or false, not 'yes'$"):
        Buffer("b", double_buffered="yes")  # type: ignore[arg-type]


def test_buffer_access_pj() -> None:
    with pytest.raises(SpecError, match=r"^buffer 'b': access_pj must be a number >= 0, "
                                        r"not -1\.0$"):
        Buffer("b", access_pj=-1.0)


def test_usable_bytes() -> None:
    assert Buffer("b", capacity_bytes=1000).usable_bytes == 1000
    assert Buffer("b", capacity_bytes=1000, double_buffered=True).usable_bytes == 500
    assert Buffer("dram").usable_bytes == math.inf


def test_pj_per_bit() -> None:
    b = Buffer("b", capacity_bytes=32768, word_bits=64)
    assert b.pj_per_bit() == pytest.approx(20.0 / 64)
    assert b.pj_per_bit() == sram_access_pj(32768, 64) / 64
    assert Buffer("b", capacity_bytes=32768, word_bits=64, access_pj=6.4).pj_per_bit() \
        == pytest.approx(0.1)


# -- whole accelerator ------------------------------------------------------------------
def test_rf_and_glb_need_capacity() -> None:
    with pytest.raises(SpecError, match=r"^rf\.capacity_bytes must be > 0 \(bytes per PE\)$"):
        _accel(rf=Buffer("rf"))
    with pytest.raises(SpecError, match=r"^glb buffer 'g': capacity_bytes must be > 0$"):
        _accel(glb=(Buffer("g"),))


def test_operand_held_by_two_buffers() -> None:
    glb = (Buffer("a", capacity_bytes=64), Buffer("b", operands=("weight",), capacity_bytes=64))
    with pytest.raises(SpecError, match=r"^glb: operand 'weight' must be held by exactly one "
                                        r"buffer, found \['a', 'b'\]$"):
        _accel(glb=glb)


def test_operand_held_by_no_buffer() -> None:
    glb = (Buffer("a", operands=("input", "output"), capacity_bytes=64),)
    with pytest.raises(SpecError, match=r"^glb: operand 'weight' must be held by exactly one "
                                        r"buffer, found none$"):
        _accel(glb=glb)


def test_buffer_names_distinct() -> None:
    glb = (Buffer("a", operands=("input", "output"), capacity_bytes=64),
           Buffer("a", operands=("weight",), capacity_bytes=64))
    with pytest.raises(SpecError, match=r"^glb: buffer names must be distinct, got \['a', 'a'\]$"):
        _accel(glb=glb)


def test_glb_list_becomes_tuple_and_glb_for() -> None:
    w = Buffer("w", operands=("weight",), capacity_bytes=64)
    io = Buffer("io", operands=("input", "output"), capacity_bytes=64)
    a = _accel(glb=[w, io])  # type: ignore[arg-type]
    assert a.glb == (w, io)
    assert a.glb_for("weight") is w
    assert a.glb_for("input") is a.glb_for("output") is io


def test_spec_hash() -> None:
    a = _accel()
    assert len(a.spec_hash) == 16 and int(a.spec_hash, 16) >= 0
    assert a.spec_hash == _accel().spec_hash
    assert replace(a, rows=16).spec_hash != a.spec_hash
    assert replace(a, energy=EnergyTable(dram_pj_per_bit=1.0)).spec_hash != a.spec_hash
    assert a.to_dict()["rows"] == 8 and a.to_dict()["glb"][0]["name"] == "glb"
