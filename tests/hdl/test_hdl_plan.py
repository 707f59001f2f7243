"""Engine parameters from specs (hdl/params.py) and GEMM plans from mappings
(hdl/plan.py): buffer sizing, validation messages, the mapping family the engine
runs, and the closed-form busy period against sim's native timing."""

from __future__ import annotations

from dataclasses import replace

import pytest

from dataflows.errors import CoforgeError
from dataflows.mapping import Mapping
from hdl.golden import busy_cycles
from hdl.params import MAX_DEPTH, HdlError, HdlParams
from hdl.plan import canonical_mapping, max_square_gemm, plan_gemm, sim_cycles
from hdl_helpers import make_accel
from sim.spec import Buffer, PEConfig
from sim.spec_io import load_accelerator


def test_sizing_from_the_edge_spec() -> None:
    accel = load_accelerator("edge_8x8_ws")            # 64 KiB shared, double-buffered
    p = HdlParams.from_accelerator(accel)
    share = 64 * 1024 // 2 // 3                         # usable half, three operands
    assert (p.depth_a, p.depth_b, p.depth_o) == (share // 8, share // 8, share // 32)
    assert (p.rows, p.cols, p.operand_bits, p.accumulator_bits) == (8, 8, 8, 32)
    assert issubclass(HdlError, CoforgeError)
    with pytest.raises(AttributeError):
        p.rows = 4  # type: ignore[misc]


def test_per_operand_buffers_and_clamp() -> None:
    accel = load_accelerator("os_32x32")                 # three 64 KiB SRAMs
    p = HdlParams.from_accelerator(accel)
    assert (p.depth_a, p.depth_b, p.depth_o) == (32768 // 32, 32768 // 32, 32768 // 128)
    big = replace(accel, glb=tuple(replace(b, capacity_bytes=1 << 30) for b in accel.glb))
    assert HdlParams.from_accelerator(big).depth_a == MAX_DEPTH


@pytest.mark.parametrize("change, match", [
    ({"dataflow": "is"}, r"dataflow must be one of \['ws', 'os'\] for RTL, not 'is'"),
    ({"pe": PEConfig(operand_bits=2, accumulator_bits=8)},
     r"pe.operand_bits must be one of \[4, 8, 16\] for RTL, not 2"),
    ({"rows": 65}, r"array rows must be <= 64 for RTL, not 65"),
    ({"glb": (Buffer("tiny", capacity_bytes=8),)},
     r"glb buffer 'tiny' gives the output buffer 2 B, less than one 64-bit word"),
])
def test_spec_errors_name_value_and_rule(change: dict, match: str) -> None:
    accel = replace(make_accel("ws", 2, 2), **change)
    with pytest.raises(HdlError, match=match):
        HdlParams.from_accelerator(accel)


@pytest.mark.parametrize("kwargs, match", [
    ({"rows": 0}, r"rows must be an integer in \[1, 64\], not 0"),
    ({"accumulator_bits": 12}, r"accumulator_bits must be an integer in \[16, 64\], not 12"),
    ({"depth_o": 0}, r"depth_o must be an integer in \[1, 65536\], not 0"),
    ({"product_register": "yes"}, r"product_register must be True or False, not 'yes'"),
])
def test_params_validated(kwargs: dict, match: str) -> None:
    base = dict(dataflow="ws", rows=2, cols=2, operand_bits=8, accumulator_bits=32,
                product_register=False, depth_a=8, depth_b=8, depth_o=8)
    with pytest.raises(HdlError, match=match):
        HdlParams(**(base | kwargs))


def test_gemm_must_fit() -> None:
    p = HdlParams("ws", 4, 4, 8, 32, False, 16, 64, 64)
    plan_gemm(p, 8, 8, 4)                                 # 2 K folds x 8 rows = 16 words
    with pytest.raises(HdlError, match=r"GEMM 9x8x4 \(MxKxN\) needs 18 words of the input "
                                       r"\(A\) buffer, which has 16"):
        plan_gemm(p, 9, 8, 4)
    with pytest.raises(HdlError, match=r"GEMM K must be a positive integer, not 0"):
        plan_gemm(p, 1, 0, 1)
    assert max_square_gemm(p) == 8


@pytest.mark.parametrize("df", ["ws", "os"])
def test_mapping_order_and_refusals(df: str) -> None:
    p = HdlParams(df, 2, 3, 8, 32, False, 256, 256, 256)
    assert plan_gemm(p, 5, 7, 8, canonical_mapping(p, 5, 7, 8, order=1)).order == 1
    assert plan_gemm(p, 5, 7, 8, canonical_mapping(p, 5, 7, 8, order=0)).order == 0
    row = "C" if df == "ws" else "P"
    stream = "P" if df == "ws" else "C"
    folds = {row: 4 if df == "ws" else 3, "K": 3}
    split = Mapping.build(rows={row: 2}, cols={"K": 3}, pe={stream: 7 if df == "os" else 5},
                          glb={"K": 3}, dram={row: folds[row]}, order={"dram": [row]})
    assert plan_gemm(p, 5, 7, 8, split).order == 1           # dram loops are outer
    bad_spatial = Mapping.build(rows={row: 1}, cols={"K": 3}, pe={stream: 5},
                                glb=folds | {row: 7 if df == "ws" else 5})
    with pytest.raises(HdlError, match="unrolls"):
        plan_gemm(p, 5, 7, 8, bad_spatial)
    half_stream = canonical_mapping(p, 5, 7, 8)
    s = 5 if df == "ws" else 7
    chunked = Mapping(half_stream.rows, half_stream.cols,
                      (Mapping.build(pe={stream: (s + 1) // 2}).temporal[0],
                       half_stream.temporal[1],
                       Mapping.build(dram={stream: 2}).temporal[2]), half_stream.order)
    with pytest.raises(HdlError, match="streams .* whole inside the PE level"):
        plan_gemm(p, 5, 7, 8, chunked)


@pytest.mark.parametrize("df", ["ws", "os"])
@pytest.mark.parametrize("pr", [False, True])
@pytest.mark.parametrize("shape", [(1, 1, 1), (5, 7, 8), (17, 3, 2), (4, 9, 13)])
def test_closed_form_equals_sim_native(df: str, pr: bool, shape: tuple) -> None:
    accel = make_accel(df, 3, 2, 8, 32, pr)
    p = HdlParams.from_accelerator(accel)
    plan = plan_gemm(p, *shape)
    assert plan.rtl_busy_cycles == busy_cycles(p, *shape) == sim_cycles(plan, accel)
