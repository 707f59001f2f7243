# amaranth: UnusedElaboratable=no
"""Systolic arrays (hdl/array.py) against their golden models (hdl/golden.py) under
Amaranth's simulator: outputs bit-exact and on the cycle the latency model states."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from hdl.array import OSArray, WSArray
from hdl.golden import os_array_ref, os_drain_start, ws_array_latency, ws_array_ref
from hdl.params import HdlError

SHAPES = [(2, 2), (3, 5), (5, 3), (4, 4)]


def _rand(rng: np.random.Generator, bits: int, shape: tuple[int, ...]) -> np.ndarray:
    lo, hi = -(1 << (bits - 1)), 1 << (bits - 1)
    x = rng.integers(lo, hi, shape)
    x[rng.random(shape) < 0.2] = lo
    return x


@pytest.mark.parametrize("rows, cols", SHAPES)
@pytest.mark.parametrize("bits, acc, pr", [(8, 16, False), (4, 8, True), (16, 40, True)])
def test_ws_array(rows: int, cols: int, bits: int, acc: int, pr: bool) -> None:
    rng = np.random.default_rng(rows * 31 + cols + bits + pr)
    s_len = 7
    w, a = _rand(rng, bits, (rows, cols)), _rand(rng, bits, (s_len, rows))
    want = ws_array_ref(a, w, acc)
    lat = ws_array_latency(rows, cols, pr)
    dut = WSArray(rows, cols, bits, acc, pr)
    got: dict[int, list[int]] = {}

    async def tb(ctx) -> None:  # noqa: ANN001
        for i in range(rows):                       # preload, bottom row first
            ctx.set(dut.w_load, 1)
            for c in range(cols):
                ctx.set(dut.w[c], int(w[rows - 1 - i][c]))
            await ctx.tick()
        ctx.set(dut.w_load, 0)
        for t in range(s_len + lat + 2):
            for r in range(rows):
                ctx.set(dut.a[r], int(a[t][r]) if t < s_len else 0)
            got[t] = [ctx.get(dut.out[c]) for c in range(cols)]
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    for s in range(s_len):
        assert got[s + lat] == list(want[s]), f"row {s} at cycle {s + lat}"


@pytest.mark.parametrize("rows, cols", SHAPES)
@pytest.mark.parametrize("bits, acc, pr", [(8, 16, False), (4, 8, True), (16, 40, True)])
def test_os_array(rows: int, cols: int, bits: int, acc: int, pr: bool) -> None:
    rng = np.random.default_rng(rows * 17 + cols + bits + pr)
    k_len = 6
    a, b = _rand(rng, bits, (rows, k_len)), _rand(rng, bits, (k_len, cols))
    want = os_array_ref(a, b, acc)
    t_cap = os_drain_start(k_len, rows, cols, pr)
    dut = OSArray(rows, cols, bits, acc, pr)
    got: dict[int, list[int]] = {}

    async def tb(ctx) -> None:  # noqa: ANN001
        for tile in range(2):                       # twice: drain leaves zeros behind
            for t in range(t_cap + rows + 1):
                ctx.set(dut.valid, int(t < k_len))
                for r in range(rows):
                    ctx.set(dut.a[r], int(a[r][t]) if t < k_len else 0)
                for c in range(cols):
                    ctx.set(dut.b[c], int(b[t][c]) if t < k_len else 0)
                ctx.set(dut.drain, int(t_cap <= t < t_cap + rows))
                got[tile * 1000 + t] = [ctx.get(dut.out[c]) for c in range(cols)]
                await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    for tile in range(2):
        for d in range(rows):
            assert got[tile * 1000 + t_cap + 1 + d] == list(want[rows - 1 - d]), \
                f"tile {tile}, drain step {d}"


def test_array_parameters_validated() -> None:
    with pytest.raises(HdlError, match=r"array rows must be an integer in \[1, 64\], not 0"):
        WSArray(0, 4)
    with pytest.raises(HdlError, match=r"array cols .* not 65"):
        OSArray(4, 65)
    with pytest.raises(HdlError, match=r"operand_bits .* not 6"):
        WSArray(2, 2, 6)
    arr = OSArray(3, 5, 16, 40, True)
    assert (arr.rows, arr.cols, arr.operand_bits, arr.accumulator_bits, arr.product_register) \
        == (3, 5, 16, 40, True)
    assert arr.drain_start(10) == 10 + 3 + 5 - 2 + 1
    assert WSArray(3, 5, product_register=True).latency == 3 + 5 - 1 + 1
