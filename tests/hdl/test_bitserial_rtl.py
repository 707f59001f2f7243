# amaranth: UnusedElaboratable=no
"""The bit-serial engine (hdl/bitserial.py, ``pe.mode: bitserial``) from one test
definition on Amaranth's simulator, cocotb + Icarus and cocotb + Verilator.

Random shapes (not multiples of the array), both fold orders, input widths 1..8 bits
in one build (the ``abits`` port), most-negative x most-negative operands, idle input
cycles and output backpressure. Outputs are checked against numpy (``A . B`` wrapped at
the accumulator width, A read as ``abits``-bit values); cycles against the cycle
model's figure (``hdl.bitserial.expected_cycles``: ``sim.datapath.plan_datapath`` +
``sim.analytic.evaluate``, native timing). For the widths the cycle model does not take
(1 and 3 bits) the reference is ``abits`` x the model's dense figure of the same GEMM
(``hdl.plan.sim_cycles`` on the ``fixed`` spec), the definition of sim's bit-serial
mode."""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from amaranth.hdl import Fragment

from hdl.bitserial import (BitSerialTop, BitSerialWSPE, compare_case, cycle_fidelity_cycles,
                           expected_cycles, make_case, verify_gemm)
from hdl.cocotb_run import VERILATOR_HINT, run_cocotb, verilator_bin
from hdl.engines import build_top
from hdl.golden import BitSerialPEModel, bitserial_gemm_ref, serial_product
from hdl.params import HdlError, HdlParams
from hdl.plan import plan_gemm, sim_cycles
from hdl.sim_amaranth import run_amaranth
from hdl.top import GemmTop
from hdl_helpers import make_accel, needs_icarus
from sim.spec import Accelerator


def serial_accel(dataflow: str, rows: int, cols: int, bits: int = 8, acc: int = 32,
                 pr: bool = False, glb_kib: int = 4) -> Accelerator:
    base = make_accel(dataflow, rows, cols, bits, acc, pr, glb_kib)
    return replace(base, name=base.name + "_bs", pe=replace(base.pe, mode="bitserial"))


def reference_cycles(accel: Accelerator, case: object) -> int:
    """The cycle model's figure: sim.datapath for its widths, else abits x dense."""
    a_bits = case.ports["abits"]
    if a_bits in (2, 4, 8, 16):
        return expected_cycles(accel, case)
    dense = replace(accel, pe=replace(accel.pe, mode="fixed"))
    plan = plan_gemm(HdlParams.from_accelerator(dense), case.m, case.k, case.n)
    return a_bits * sim_cycles(plan, dense)


def random_cases(params: HdlParams, seed: int, count: int, widths: tuple[int, ...],
                 max_dim: int = 8) -> list:
    """``count`` cases cycling through ``widths``; shapes random (one 1x1x1), the second
    case all most-negative."""
    rng = np.random.default_rng(seed)
    shapes = [(1, 1, 1)] + [tuple(int(x) for x in rng.integers(1, max_dim + 1, 3))
                            for _ in range(count - 1)]
    return [make_case(params, m, k, n, w_bits=params.operand_bits,
                      a_bits=widths[i % len(widths)], seed=seed + i, order=i % 2,
                      extreme=(i == 1))
            for i, (m, k, n) in enumerate(shapes)]


def check(accel: Accelerator, cases: list, results: list) -> list[tuple]:
    """Assert outputs and cycles; the (shape, a_bits, rtl, sim) rows."""
    params = HdlParams.from_accelerator(accel)
    rows = []
    for case, res in zip(cases, results):
        want = reference_cycles(accel, case)
        rec = compare_case(case, res, params.accumulator_bits, want)
        where = f"GEMM {case.m}x{case.k}x{case.n} order {case.order} abits {rec['a_bits']}"
        assert rec["outputs_match"], f"{where}: max abs error {rec['max_abs_error']}"
        assert rec["cycles_match"], (f"{where}: rtl_cycles {rec['rtl_cycles']} (busy seen "
                                     f"{res.busy_cycles}) != sim_cycles {want}")
        rows.append(((case.m, case.k, case.n), rec["a_bits"], res.rtl_cycles, want))
    return rows


# -- golden model --------------------------------------------------------------------------
def test_serial_product_is_the_signed_product() -> None:
    """Horner over the bits, MSB negative, equals a * w for every a_bits-bit a and
    8-bit w (exhaustive; Python's own multiplication is the reference)."""
    for a_bits in range(1, 9):
        for a in range(-(1 << (a_bits - 1)), 1 << (a_bits - 1)):
            for w in range(-128, 128, 7):
                assert serial_product(a, w, a_bits) == a * w
    assert serial_product(-128, -128, 8) == 16384


def test_reference_reads_a_at_abits() -> None:
    """A value out of the abits range is used modulo 2^abits (5 at 3 bits is -3)."""
    a, b = np.array([[5, 1]]), np.array([[2], [3]])
    assert bitserial_gemm_ref(a, b, 3, 32).tolist() == [[-3 * 2 + 1 * 3]]


@pytest.mark.parametrize("pe_bits", [8, 16])
def test_ws_pe_equals_cycle_model_and_product(pe_bits: int) -> None:
    """The 8/16-bit WS PE under Amaranth, cycle by cycle against BitSerialPEModel, and
    at every step end against psum_in + a * w (Python integers); the serial output is
    the input s cycles later. Widths 1..operand_bits, random operands and extremes."""
    from amaranth.sim import Simulator
    pe = BitSerialWSPE(pe_bits, 2 * pe_bits + 4)
    model = BitSerialPEModel(pe_bits, 2 * pe_bits + 4)
    rng = np.random.default_rng(pe_bits)
    steps = []                   # (s, a, w, psum_in) per step
    for s in list(range(1, pe_bits + 1)) * 2:
        lo, hi = -(1 << (s - 1)), 1 << (s - 1)
        for a in (lo, hi - 1, int(rng.integers(lo, hi))):
            w = int(rng.choice([-(1 << (pe_bits - 1)), int(rng.integers(-99, 99))]))
            steps.append((s, a, w, int(rng.integers(-1000, 1000))))

    async def bench(ctx) -> None:  # noqa: ANN001
        bits_seen: list[int] = []
        for s, a, w, psum in steps:
            ctx.set(pe.smax, s - 1)
            # load the weight in a one-cycle step (idle: first and step both high)
            for name, v in (("a_bit_in", 0), ("first", 1), ("step", 1), ("w_in", w),
                            ("w_load", 1), ("psum_in", 0)):
                ctx.set(getattr(pe, name), v)
            await ctx.tick()
            model.tick(0, 1, 1, w, 1, 0)
            bits_seen.append(0)
            for j in range(s):
                bit = (a >> (s - 1 - j)) & 1
                ins = {"a_bit_in": bit, "first": int(j == 0), "step": int(j == s - 1),
                       "w_in": 0, "w_load": 0, "psum_in": psum}
                for name, v in ins.items():
                    ctx.set(getattr(pe, name), v)
                await ctx.tick()
                model.tick(**ins)
                bits_seen.append(bit)
                got = {k: ctx.get(getattr(pe, k)) for k in ("a_bit_out", "w_out",
                                                            "psum_out")}
                assert got == model.outputs(s - 1)
                # the bit that entered s cycles before this one (after the edge)
                assert got["a_bit_out"] == (bits_seen[-s] if len(bits_seen) >= s else 0)
            assert ctx.get(pe.psum_out) == psum + a * w, (s, a, w, psum)

    sim = Simulator(pe)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


# -- the engine under Amaranth ---------------------------------------------------------------
CONFIGS = [("ws", 3, 2, 8, False), ("ws", 2, 2, 8, True), ("os", 3, 2, 8, False),
           ("os", 2, 3, 4, True)]


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"{c[0]}-{c[1]}x{c[2]}-{c[3]}b"
                         f"{'-pr' if c[4] else ''}")
def test_engine_amaranth_equals_numpy_and_sim(cfg: tuple) -> None:
    df, r, c, bits, pr = cfg
    accel = serial_accel(df, r, c, bits, 32, pr)
    params = HdlParams.from_accelerator(accel)
    assert params.engine == "bitserial"
    widths = (2, 4, 8, 3, 1) if bits == 8 else (2, 4, 1, 3)
    cases = random_cases(params, seed=r * 10 + c, count=6, widths=widths)
    rows = check(accel, cases, run_amaranth(params, cases))
    assert {a for _, a, _, _ in rows} == set(widths)
    # the cycle-approximate fidelity, on the cases' tensors, gives the same figure
    for case, (_, a_bits, rtl, _) in zip(cases, rows):
        if a_bits in (2, 4, 8):
            assert cycle_fidelity_cycles(accel, case) == rtl, (case.m, case.k, case.n)


def test_cycles_scale_with_input_width() -> None:
    """Hand arithmetic: 5x7x3 on a 3x2 WS array = ceil(7/3) * ceil(3/2) = 6 tiles of
    5 + 2*3 + 2 - 1 = 12 steps; a step is abits cycles."""
    accel = serial_accel("ws", 3, 2)
    params = HdlParams.from_accelerator(accel)
    cases = [make_case(params, 5, 7, 3, w_bits=8, a_bits=s, seed=s, idle=0.0,
                       backpressure=0.0) for s in (2, 4, 8)]
    res = run_amaranth(params, cases)
    assert [r.rtl_cycles for r in res] == [72 * s for s in (2, 4, 8)]
    assert [expected_cycles(accel, c) for c in cases] == [72 * s for s in (2, 4, 8)]


def test_extreme_values_wrap_at_the_accumulator() -> None:
    """All most-negative with a 16-bit accumulator (hand arithmetic): at 8 bits each
    product is 2^14 and K=5 sums to 81920 = 16384 (mod 2^16); at 4 bits each is
    -8 * -128 = 1024 and K=5 gives 5120 (no wrap); abits=0 runs at operand width."""
    accel = serial_accel("ws", 2, 2, 8, 16)
    params = HdlParams.from_accelerator(accel)
    c8 = make_case(params, 3, 5, 3, w_bits=8, a_bits=8, seed=1, extreme=True)
    c4 = make_case(params, 2, 5, 3, w_bits=8, a_bits=4, seed=2, extreme=True)
    c0 = replace(c8, ports={"abits": 0})
    r8, r4, r0 = run_amaranth(params, [c8, c4, c0])
    assert r8.outputs == [[16384] * 3] * 3
    assert r4.outputs == [[5120] * 3] * 2
    assert r0.outputs == r8.outputs and r0.rtl_cycles == r8.rtl_cycles
    check(accel, [c8, c4], [r8, r4])


def test_no_idle_no_backpressure_and_full_idle_pressure() -> None:
    """The same GEMM with a stream that never waits and one that waits often: outputs
    and busy cycles do not depend on the stream timing."""
    accel = serial_accel("os", 3, 2)
    params = HdlParams.from_accelerator(accel)
    base = make_case(params, 7, 4, 5, w_bits=8, a_bits=4, seed=9, idle=0.0,
                     backpressure=0.0)
    slow = replace(base, idle=0.8, backpressure=0.8)
    fast_r, slow_r = run_amaranth(params, [base, slow])
    assert fast_r.outputs == slow_r.outputs and fast_r.rtl_cycles == slow_r.rtl_cycles
    assert slow_r.sim_cycles > fast_r.sim_cycles
    check(accel, [base, slow], [fast_r, slow_r])


def test_pruned_weights_change_outputs_not_cycles() -> None:
    """2:4 weights (at most 2 nonzeros per 4 along K) and magnitude pruning: zeros to
    the bit-serial datapath, which skips none -- the cycles stay the dense figure."""
    accel = serial_accel("ws", 3, 2)
    params = HdlParams.from_accelerator(accel)
    dense = make_case(params, 4, 8, 3, w_bits=8, a_bits=4, seed=5)
    nm = make_case(params, 4, 8, 3, w_bits=8, a_bits=4, seed=5, prune="2:4")
    mag = make_case(params, 4, 8, 3, w_bits=8, a_bits=4, seed=5, prune=("magnitude", 0.25))
    b = np.array(nm.b)
    assert all((b[g:g + 4, j] != 0).sum() <= 2 for g in range(0, 8, 4) for j in range(3))
    assert (np.array(mag.b) != 0).sum() == 6
    res = run_amaranth(params, [dense, nm, mag])
    check(accel, [dense, nm, mag], res)
    assert res[0].rtl_cycles == res[1].rtl_cycles == res[2].rtl_cycles


def test_verify_gemm_record() -> None:
    accel = serial_accel("ws", 2, 3)
    rec = verify_gemm(accel, 5, 4, 7, w_bits=8, a_bits=4, seed=3, backend="amaranth")
    assert rec["outputs_match"] and rec["cycles_match"], rec
    assert rec["rtl_cycles"] == rec["sim_cycles"] > 0 and rec["max_abs_error"] == 0
    assert rec["a_bits"] == 4 and rec["engine"] == "bitserial"


# -- errors and dispatch ------------------------------------------------------------------
def test_dispatch_and_errors() -> None:
    accel = serial_accel("ws", 2, 2)
    params = HdlParams.from_accelerator(accel)
    top = build_top(params)
    assert isinstance(top, BitSerialTop)
    Fragment.get(top, None)              # elaborates (and marks it used)
    with pytest.raises(HdlError, match="GemmTop builds the dense engine"):
        GemmTop(params)
    dense = HdlParams.from_accelerator(make_accel("ws", 2, 2))
    with pytest.raises(HdlError, match="BitSerialTop builds the bitserial engine"):
        BitSerialTop(dense)
    with pytest.raises(HdlError, match="prune must be None"):
        make_case(params, 2, 2, 2, w_bits=8, a_bits=4, seed=0, prune="dense")
    with pytest.raises(HdlError, match=r"a_bits must be an integer in \[1, 8\]"):
        make_case(params, 2, 2, 2, w_bits=8, a_bits=9, seed=0)
    case3 = make_case(params, 2, 2, 2, w_bits=8, a_bits=3, seed=0)
    with pytest.raises(HdlError, match="abits=3: the cycle model"):
        expected_cycles(accel, case3)
    with pytest.raises(HdlError, match="backend must be one of"):
        verify_gemm(accel, 2, 2, 2, w_bits=8, a_bits=4, backend="spice")


# -- cocotb: Icarus and Verilator ----------------------------------------------------------
@needs_icarus
def test_icarus_equals_amaranth() -> None:
    accel = serial_accel("ws", 3, 2)
    params = HdlParams.from_accelerator(accel)
    cases = random_cases(params, seed=4, count=3, widths=(4, 2, 8))
    ic = run_cocotb(params, cases)
    check(accel, cases, ic.results)
    assert ic.results == run_amaranth(params, cases), "cocotb/Icarus and Amaranth disagree"


def test_verilator_one_case(tmp_path: Path) -> None:
    if verilator_bin() is None:
        pytest.fail(f"Verilator is not installed: {VERILATOR_HINT}", pytrace=False)
    accel = serial_accel("os", 2, 2)
    rec = verify_gemm(accel, 5, 3, 4, w_bits=8, a_bits=2, seed=7, backend="verilator",
                      build_dir=tmp_path)
    assert rec["outputs_match"] and rec["cycles_match"], rec


# -- the sweep ---------------------------------------------------------------------------
SWEEP = list(itertools.product(("ws", "os"), ((2, 2), (3, 4), (4, 3)), (8, 16),
                               (False, True)))


@pytest.mark.slow
@pytest.mark.parametrize("cfg", SWEEP, ids=lambda c: f"{c[0]}-{c[1][0]}x{c[1][1]}-{c[2]}b"
                         f"{'-pr' if c[3] else ''}")
def test_sweep_amaranth(cfg: tuple) -> None:
    df, (r, c), bits, pr = cfg
    accel = serial_accel(df, r, c, bits, 2 * bits + 8, pr, glb_kib=8)
    params = HdlParams.from_accelerator(accel)
    widths = (2, 4, 8, 16, 1, 5) if bits == 16 else (2, 4, 8, 1, 3, 7)
    cases = random_cases(params, seed=r * 7 + c + bits, count=12, widths=widths,
                         max_dim=13)
    check(accel, cases, run_amaranth(params, cases))
