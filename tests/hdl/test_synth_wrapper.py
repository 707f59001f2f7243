"""The pin-reducing wrapper (hdl/synth_wrapper.py) under Amaranth's simulator: the same
GEMM results and the same busy cycles as the bare engine, through ``ob + 22`` pins."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.hdl import Fragment, Value
from amaranth.sim import Simulator

from hdl.golden import busy_cycles, gemm_ref
from hdl.params import HdlParams
from hdl.synth_wrapper import NarrowTop, bare_pins, narrow_pins
from hdl.top import GemmTop


def _run(params: HdlParams, a: np.ndarray, b: np.ndarray, order: int) -> tuple[list[int], int]:
    """Drive one GEMM through a NarrowTop; return (outputs row-major, cycle counter)."""
    dut = NarrowTop(params)
    m, k = a.shape
    n = b.shape[1]
    dw = params.dim_bits
    cfg = m | (k << dw) | (n << 2 * dw) | (order << 3 * dw)
    beats = [(int(x), 0) for x in a.flat] + [(int(x), 1) for x in b.flat]
    got: list[int] = []
    cycles = [0]

    async def tb(ctx) -> None:  # noqa: ANN001 - amaranth SimulatorContext
        ctx.set(dut.cfg_shift, 1)
        for i in range(dut.cfg_bits):
            ctx.set(dut.cfg_sdi, (cfg >> i) & 1)
            await ctx.tick()
        ctx.set(dut.cfg_shift, 0)
        for i, (value, to_b) in enumerate(beats):
            ctx.set(dut.inp.payload, {"value": value, "to_b": to_b})
            ctx.set(dut.inp.valid, 1)
            await ctx.tick().until(dut.inp.ready)
            if i % 5 == 2:                          # an idle cycle now and then
                ctx.set(dut.inp.valid, 0)
                await ctx.tick()
        ctx.set(dut.inp.valid, 0)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        await ctx.tick().until(dut.done)
        await ctx.tick()                            # the snapshot follows the counter
        ctx.set(dut.cyc_shift, 1)
        value = 0
        for i in range(32):
            value |= ctx.get(dut.cyc_sdo) << i
            await ctx.tick()
        ctx.set(dut.cyc_shift, 0)
        cycles[0] = value
        nbytes = dut.out_bytes
        word, count = 0, 0
        stall = 0
        while len(got) < m * n:
            stall += 1
            ctx.set(dut.o.ready, int(stall % 3 != 0))     # backpressure
            ready = stall % 3 != 0
            valid, byte = ctx.get(dut.o.valid), ctx.get(dut.o.payload)
            await ctx.tick()
            if ready and valid:
                word |= byte << (8 * count)
                count += 1
                if count == nbytes:
                    bits = 8 * nbytes
                    got.append(word - (1 << bits) if word >> (bits - 1) else word)
                    word, count = 0, 0

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    return got, cycles[0]


@pytest.mark.parametrize("dataflow, bits, acc, pr, order", [
    ("ws", 8, 20, False, 0), ("os", 4, 12, True, 1)])
def test_narrow_top_runs_a_gemm(dataflow: str, bits: int, acc: int, pr: bool,
                                order: int) -> None:
    params = HdlParams(dataflow, 2, 3, bits, acc, pr, 32, 32, 32)
    rng = np.random.default_rng(7)
    lo, hi = -(1 << (bits - 1)), 1 << (bits - 1)
    a = rng.integers(lo, hi, (5, 3))
    b = rng.integers(lo, hi, (3, 4))
    a[0, 0] = b[0, 0] = lo                          # most negative x most negative
    got, cycles = _run(params, a, b, order)
    assert got == [int(x) for x in gemm_ref(a, b, acc).flat]
    assert cycles == busy_cycles(params, 5, 3, 4)


def _pins(top: GemmTop | NarrowTop) -> int:
    Fragment.get(top, None)                         # elaborates (and marks it used)
    return 2 + sum(len(Value.cast(v)) for _, _, v in top.signature.flatten(top))


def test_pin_counts() -> None:
    p = HdlParams("ws", 4, 4, 8, 32, False, 4096, 4096, 1024)
    assert bare_pins(p) == _pins(GemmTop(p)) == 140
    assert narrow_pins(p) == _pins(NarrowTop(p)) == 30
    assert narrow_pins(HdlParams("ws", 2, 2, 16, 40, False, 8, 8, 8)) == 38
