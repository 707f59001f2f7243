# amaranth: UnusedElaboratable=no
"""PEs (hdl/pe.py) against their cycle models (hdl/golden.py) under Amaranth's simulator:
random operands over the full signed range, extremes forced in, every width, with and
without the product register. (Formal equivalence: test_formal_pe.py.)"""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from hdl.golden import OSPEModel, WSPEModel
from hdl.params import HdlError
from hdl.pe import OSPE, WSPE

CYCLES = 300


def _operand(rng: np.random.Generator, bits: int) -> int:
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    r = rng.random()
    return lo if r < 0.15 else hi if r < 0.25 else int(rng.integers(lo, hi + 1))


def _run(dut: object, model: object, stimulus: list[dict[str, int]]) -> None:
    async def tb(ctx) -> None:  # noqa: ANN001
        for i, inputs in enumerate(stimulus):
            for name, value in inputs.items():
                ctx.set(getattr(dut, name), value)
            got = {name: ctx.get(getattr(dut, name)) for name in model.outputs()}
            assert got == model.outputs(), f"cycle {i}: rtl {got} != model {model.outputs()}"
            await ctx.tick()
            model.tick(**inputs)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()


@pytest.mark.parametrize("bits, acc", [(4, 8), (4, 12), (8, 16), (8, 32), (16, 32), (16, 40)])
@pytest.mark.parametrize("pr", [False, True])
def test_ws_pe_matches_model(bits: int, acc: int, pr: bool) -> None:
    rng = np.random.default_rng(bits * 100 + acc + pr)
    lo_acc, hi_acc = -(1 << (acc - 1)), (1 << (acc - 1)) - 1
    stim = [{"a_in": _operand(rng, bits), "w_in": _operand(rng, bits),
             "w_load": int(rng.random() < 0.3),
             "psum_in": int(rng.choice([lo_acc, hi_acc, int(rng.integers(lo_acc, hi_acc))]))}
            for _ in range(CYCLES)]
    _run(WSPE(bits, acc, pr), WSPEModel(bits, acc, pr), stim)


@pytest.mark.parametrize("bits, acc", [(4, 8), (8, 16), (8, 32), (16, 32)])
@pytest.mark.parametrize("pr", [False, True])
def test_os_pe_matches_model(bits: int, acc: int, pr: bool) -> None:
    rng = np.random.default_rng(bits * 100 + acc + pr + 7)
    lo_acc, hi_acc = -(1 << (acc - 1)), (1 << (acc - 1)) - 1
    stim = [{"a_in": _operand(rng, bits), "b_in": _operand(rng, bits),
             "valid_in": int(rng.random() < 0.7), "drain": int(rng.random() < 0.1),
             "acc_in": int(rng.integers(lo_acc, hi_acc))} for _ in range(CYCLES)]
    _run(OSPE(bits, acc, pr), OSPEModel(bits, acc, pr), stim)


def test_most_negative_squared_wraps() -> None:
    """(-128) x (-128) = 16384 needs all 16 bits of an 8x8 product; a 16-bit accumulator
    holding it twice wraps to -32768."""
    model = WSPEModel(8, 16)
    model.tick(a_in=0, w_in=-128, w_load=1, psum_in=0)
    model.tick(a_in=-128, w_in=0, w_load=0, psum_in=16384)
    assert model.psum_out == -32768
    stim = [{"a_in": 0, "w_in": -128, "w_load": 1, "psum_in": 0},
            {"a_in": -128, "w_in": 0, "w_load": 0, "psum_in": 16384},
            {"a_in": 0, "w_in": 0, "w_load": 0, "psum_in": 0}]
    _run(WSPE(8, 16), WSPEModel(8, 16), stim)


@pytest.mark.parametrize("kwargs, match", [
    ({"operand_bits": 2}, r"operand_bits must be one of \[4, 8, 16\], not 2"),
    ({"operand_bits": 32}, r"not 32"),
    ({"operand_bits": 8, "accumulator_bits": 15}, r"accumulator_bits .*\[16, 64\].* not 15"),
    ({"operand_bits": 8, "accumulator_bits": 65}, r"not 65"),
    ({"product_register": 1}, r"product_register must be True or False, not 1"),
])
@pytest.mark.parametrize("cls", [WSPE, OSPE])
def test_pe_parameters_validated(cls: type, kwargs: dict, match: str) -> None:
    with pytest.raises(HdlError, match=match):
        cls(**kwargs)


def test_pe_parameters_read_only() -> None:
    pe = WSPE(16, 40, True)
    assert (pe.operand_bits, pe.accumulator_bits, pe.product_register, pe.latency) \
        == (16, 40, True, 2)
    with pytest.raises(AttributeError):
        pe.operand_bits = 8  # type: ignore[misc]
