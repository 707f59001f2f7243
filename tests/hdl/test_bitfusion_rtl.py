# amaranth: UnusedElaboratable=no
"""The bit-fusion engine (hdl/bitfusion.py, hdl/bitfusion_pe.py): 2-bit BitBricks
fused into 8x8 / 4x4 / 2x2 and mixed-width products, on Amaranth's simulator, cocotb +
Icarus and cocotb + Verilator. Outputs are checked against numpy's ``A . B`` over the
narrow signed values (hdl.golden.gemm_ref, wrapped at the accumulator width);
start->done cycles against the cycle model (sim.simulate on a ``pe.mode: bitfusion``
spec, native timing) and, for pinned shapes, against hand arithmetic of the fused
schedule."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest
from amaranth.sim import Simulator

from hdl import bitfusion as bf
from hdl.cocotb_run import run_cocotb
from hdl.golden import gemm_ref
from hdl.params import HdlError, HdlParams
from hdl.sim_amaranth import run_amaranth
from hdl.verify import compare
from hdl_helpers import make_accel, require_icarus
from sim.datapath import DatapathError

MODES = list(itertools.product((2, 4, 8), repeat=2))        # (a_bits, w_bits)


def fusion_accel(dataflow: str, rows: int, cols: int, bits: int = 8, acc: int = 32,
                 pr: bool = False, glb_kib: int = 4):
    accel = make_accel(dataflow, rows, cols, bits, acc, pr, glb_kib=glb_kib)
    return replace(accel, name=accel.name + "_bf", pe=replace(accel.pe, mode="bitfusion"))


def _check(accel, cases: list, results: list) -> None:
    params = HdlParams.from_accelerator(accel)
    for case, res in zip(cases, results):
        rec = compare(case.a, case.b, res, params.accumulator_bits,
                      bf.expected_cycles(accel, case))
        where = (f"GEMM {case.m}x{case.k}x{case.n} w{case.ports['wbits']}a"
                 f"{case.ports['abits']} order {case.order}")
        assert rec["outputs_match"], f"{where}: max abs error {rec['max_abs_error']}"
        assert rec["cycles_match"], (f"{where}: rtl_cycles {rec['rtl_cycles']} (busy seen "
                                     f"{res.busy_cycles}) != sim_cycles {rec['sim_cycles']}")


def _random_cases(params: HdlParams, seed: int, count: int, max_dim: int = 12,
                  modes: list | None = None) -> list:
    """Random shapes (K up to ``3 * max_dim`` so several fused words per row), each
    mode in turn, both fold orders; case 1 all most-negative."""
    rng = np.random.default_rng(seed)
    modes = modes or MODES
    cases = []
    for i in range(count):
        m, n = (int(x) for x in rng.integers(1, max_dim + 1, 2))
        k = int(rng.integers(1, 3 * max_dim + 1))
        a_bits, w_bits = modes[i % len(modes)]
        cases.append(bf.make_case(params, m, k, n, w_bits=w_bits, a_bits=a_bits,
                                  seed=seed + i, order=i % 2, extreme=(i == 1)))
    return cases


# -- the arithmetic ---------------------------------------------------------------------
def test_brick_decomposition_is_the_dot_product() -> None:
    """The bricks' digits, signs and shifts (brick_map) sum to the narrow dot product,
    for every mode of 4-, 8- and 16-bit fusion units, on random and extreme words."""
    rng = np.random.default_rng(0)
    for b in (4, 8, 16):
        w = bf.lane_bits(b)
        words = [int(rng.integers(0, 1 << 62)) | int(rng.integers(0, 1 << 62)) << 62
                 for _ in range(60)]
        words = [x & ((1 << w) - 1) for x in words]
        for a_bits, w_bits in itertools.product(bf.fusion_widths(b), repeat=2):
            f = bf.fusion_lanes(b, a_bits, w_bits)
            assert len(bf.brick_map(b, a_bits, w_bits)) == (b // 2) ** 2
            neg = [bf.pack_word([-(1 << (a_bits - 1))] * f, a_bits),
                   bf.pack_word([-(1 << (w_bits - 1))] * f, w_bits)]
            for x, y in [neg] + list(zip(words, reversed(words))):
                assert bf.fused_dot_bricks(x, y, b, a_bits, w_bits) == \
                    bf.fused_dot_ref(x, y, b, a_bits, w_bits)


def test_fused_gemm_model_equals_numpy() -> None:
    """The packed model (fused words, zero-padded, one step per word) equals numpy's
    A . B on the narrow values, wrapped, for every mode and K not a multiple of f."""
    rng = np.random.default_rng(4)
    for a_bits, w_bits in MODES:
        a = rng.integers(-(1 << (a_bits - 1)), 1 << (a_bits - 1), (3, 21))
        b = rng.integers(-(1 << (w_bits - 1)), 1 << (w_bits - 1), (21, 2))
        for acc in (16, 32):
            assert (bf.fused_gemm_ref(a, b, 8, a_bits, w_bits, acc)
                    == gemm_ref(a, b, acc)).all()


def test_fused_words_by_hand() -> None:
    """Hand arithmetic: w4a4 packs four values; w2a2's all-most-negative step is
    16 * (-2)(-2) = 64; w8a8's is (-128)^2 = 16384; w8a4 pairs two 8-bit inputs."""
    assert bf.fusion_lanes(8, 4, 4) == 4 and bf.fusion_lanes(8, 2, 2) == 16
    assert bf.fusion_lanes(8, 8, 4) == 2 and bf.lane_bits(8) == 32
    a = bf.pack_word([-8, 7, -1, 3], 4)
    assert a == 0x3F78                                   # 8, 7, F, 3 from the low nibble
    w = bf.pack_word([2, -3, 5, -8], 4)
    assert bf.fused_dot_ref(a, w, 8, 4, 4) == -16 - 21 - 5 - 24
    assert bf.fused_dot_ref(0xAAAAAAAA, 0xAAAAAAAA, 8, 2, 2) == 64
    assert bf.fused_dot_ref(0x80, 0x80, 8, 8, 8) == 16384
    assert bf.fused_dot_ref(bf.pack_word([100, -50], 8), bf.pack_word([-7, 3], 4),
                            8, 8, 4) == -700 - 150


def test_fusion_unit_rtl_every_mode() -> None:
    """The FusionUnit's RTL in every mode on random and most-negative words equals the
    golden dot product (Amaranth simulator, combinational)."""
    rng = np.random.default_rng(1)
    dut = bf.FusionUnit(8)
    widths = bf.fusion_widths(8)
    got, want = [], []

    async def bench(ctx) -> None:  # noqa: ANN001
        for a_bits, w_bits in MODES:
            f = bf.fusion_lanes(8, a_bits, w_bits)
            pairs = [(bf.pack_word([-(1 << (a_bits - 1))] * f, a_bits),
                      bf.pack_word([-(1 << (w_bits - 1))] * f, w_bits))]
            pairs += [(int(rng.integers(0, 1 << 32)), int(rng.integers(0, 1 << 32)))
                      for _ in range(40)]
            ctx.set(dut.acode, widths.index(a_bits))
            ctx.set(dut.wcode, widths.index(w_bits))
            for x, y in pairs:
                ctx.set(dut.a, x)
                ctx.set(dut.w, y)
                got.append(ctx.get(dut.out))
                want.append(bf.fused_dot_ref(x, y, 8, a_bits, w_bits))

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    assert got == want


# -- the engine ---------------------------------------------------------------------------
CONFIGS = [("ws", 3, 2, 32, False), ("os", 2, 3, 32, True)]


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"{c[0]}-{c[1]}x{c[2]}-acc{c[3]}"
                         f"{'-pr' if c[4] else ''}")
def test_engine_every_mode_amaranth(cfg: tuple) -> None:
    """Random shapes (not multiples of the array nor of f), all nine width pairs, both
    fold orders, idle cycles and backpressure, back to back on one engine (its lanes
    keep the previous mode's words): outputs = numpy, cycles = the cycle model."""
    df, r, c, acc, pr = cfg
    accel = fusion_accel(df, r, c, 8, acc, pr, glb_kib=8)
    params = HdlParams.from_accelerator(accel)
    assert params.engine == "bitfusion"
    cases = _random_cases(params, seed=r * 10 + c, count=10)
    results = run_amaranth(params, cases)
    _check(accel, cases, results)
    # the cycle-approximate fidelity gives the RTL's figure too
    for case, res in zip(cases, results):
        assert bf.cycle_fidelity_cycles(accel, case) == res.rtl_cycles, \
            (case.m, case.k, case.n, case.ports)


def test_cycles_pinned_by_hand() -> None:
    """The fused schedule by hand on a 3x2 WS array (tiles * (M + 2R + C - 1)):
    K=37 at w2a2 -> f=16, K'=3: 1 row fold x 2 column folds x (5 + 7) = 24 cycles;
    the same GEMM at w8a8 (K'=37): 13 x 2 x 12 = 312; at w8a4 (f=2, K'=19): 7 x 2 x 12."""
    accel = fusion_accel("ws", 3, 2, glb_kib=8)
    params = HdlParams.from_accelerator(accel)
    cases = [bf.make_case(params, 5, 37, 3, w_bits=w, a_bits=a, seed=7)
             for a, w in ((2, 2), (8, 8), (8, 4))]
    res = run_amaranth(params, cases)
    assert [r.rtl_cycles for r in res] == [24, 312, 168]
    _check(accel, cases, res)


def test_accumulator_wraps() -> None:
    """All most-negative w8a8 operands with a 16-bit accumulator: every step is 2^14,
    K=5 wraps to (5 * 16384 + 32768) % 65536 - 32768; w2a2 all -2 with K=40 gives
    40 * 4 = 160 (no wrap). The cycle model rejects the 16-bit accumulator for K=5
    (it could overflow), so cycles are compared with the same array's 32-bit spec."""
    accel = fusion_accel("ws", 2, 2, 8, 16, glb_kib=2)
    params = HdlParams.from_accelerator(accel)
    cases = [bf.make_case(params, 3, 5, 3, w_bits=8, a_bits=8, seed=1, extreme=True),
             bf.make_case(params, 2, 40, 3, w_bits=2, a_bits=2, seed=2, extreme=True)]
    res = run_amaranth(params, cases)
    want0 = gemm_ref(np.array(cases[0].a), np.array(cases[0].b), 16)
    assert (want0 == (5 * 16384 + 32768) % 65536 - 32768).all()
    assert res[0].outputs == want0.tolist()
    assert res[1].outputs == [[160] * 3] * 2
    with pytest.raises(DatapathError, match="accumulator_bits 16 would overflow"):
        bf.expected_cycles(accel, cases[0])
    wide = fusion_accel("ws", 2, 2, 8, 32, glb_kib=2)
    assert [r.rtl_cycles for r in res] == [bf.expected_cycles(wide, c) for c in cases]


def test_icarus_and_verilator_equal_amaranth() -> None:
    """One mixed-width case per cocotb simulator (w4a2 on WS, w8a2 on OS, 2x2 arrays)
    gives the Amaranth simulator's RunResult exactly, and numpy's outputs / the model's
    cycles. The Verilator build (~40 s here) is cached per configuration."""
    for df, sim, (a_bits, w_bits) in (("ws", "icarus", (2, 4)), ("os", "verilator", (2, 8))):
        accel = fusion_accel(df, 2, 2)
        params = HdlParams.from_accelerator(accel)
        cases = [bf.make_case(params, 5, 23, 4, w_bits=w_bits, a_bits=a_bits, seed=11)]
        ref = run_amaranth(params, cases)
        _check(accel, cases, ref)
        if sim == "icarus":
            require_icarus()
        got = run_cocotb(params, cases, simulator=sim).results
        assert got == ref, f"cocotb/{sim} and Amaranth disagree"


def test_verify_gemm_record_and_errors() -> None:
    accel = fusion_accel("ws", 3, 2)
    rec = bf.verify_gemm(accel, 4, 10, 3, w_bits=4, a_bits=4, seed=5, backend="amaranth")
    assert rec["outputs_match"] and rec["cycles_match"]
    assert rec["fusion_lanes"] == 4 and rec["k_fused"] == 3
    assert set(rec) >= {"rtl_cycles", "sim_cycles", "cycles_match", "outputs_match",
                        "max_abs_error"}
    with pytest.raises(HdlError, match=r"a_bits must be one of \[2, 4, 8\].* not 3"):
        bf.verify_gemm(accel, 4, 10, 3, w_bits=4, a_bits=3, backend="amaranth")
    pruned = bf.verify_gemm(accel, 4, 10, 3, w_bits=4, a_bits=4, prune="2:4", seed=5,
                            backend="amaranth")
    assert pruned["outputs_match"] and pruned["rtl_cycles"] == rec["rtl_cycles"]
    with pytest.raises(HdlError, match="not bitfusion"):
        bf.verify_gemm(make_accel("ws", 3, 2), 4, 10, 3, w_bits=4, a_bits=4,
                       backend="amaranth")
    params = HdlParams.from_accelerator(accel)
    with pytest.raises(HdlError, match=r"needs 5336 fused words of the input \(A\) buffer, "
                       r"which has 113"):
        bf.plan_fused(params, 4, 4000, 3, 8, 8)
    with pytest.raises(HdlError, match="K=5000 exceeds the engine's 12-bit size ports"):
        bf.plan_fused(params, 4, 5000, 3, 2, 2)
    with pytest.raises(HdlError, match="BitFusionTop builds the bitfusion engine"):
        bf.BitFusionTop(HdlParams.from_accelerator(make_accel("ws", 3, 2)))


def test_top_builds_through_the_engine_dispatch() -> None:
    """hdl.engines.build_top (export, synthesis, both simulators) picks BitFusionTop for
    pe.mode: bitfusion; its ports are GemmTop's plus the 4-bit width inputs."""
    from amaranth.back import verilog

    from hdl.engines import build_top
    from hdl.export import port_list
    top = build_top(HdlParams.from_accelerator(fusion_accel("os", 2, 2)))
    assert isinstance(top, bf.BitFusionTop)
    names = {p["name"]: p["width"] for p in port_list(top)}
    assert names["abits"] == names["wbits"] == 4 and names["a__payload"] == 8
    text = verilog.convert(top, name="coforge_gemm", emit_src=False)
    assert "input [3:0] abits" in text


# -- the sweep (make rtl-regress) ------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("cfg", [("ws", 2, 2, 8, 32, False), ("os", 3, 3, 8, 32, False),
                                 ("ws", 4, 4, 8, 24, True),
                                 ("ws", 4, 3, 8, 32, True), ("os", 2, 4, 8, 40, True),
                                 ("ws", 3, 3, 4, 16, False), ("os", 3, 2, 4, 16, True)],
                         ids=lambda c: f"{c[0]}-{c[1]}x{c[2]}-{c[3]}b-acc{c[4]}"
                         f"{'-pr' if c[5] else ''}")
def test_sweep_amaranth(cfg: tuple) -> None:
    """30 random cases per configuration, 8- and 4-bit fusion units, every mode."""
    df, r, c, bits, acc, pr = cfg
    accel = fusion_accel(df, r, c, bits, acc, pr, glb_kib=32)
    params = HdlParams.from_accelerator(accel)
    modes = list(itertools.product(bf.fusion_widths(bits), repeat=2))
    cases = _random_cases(params, seed=1000 + r * 10 + c, count=30, max_dim=20, modes=modes)
    _check(accel, cases, run_amaranth(params, cases))


@pytest.mark.slow
def test_cycle_table() -> None:
    """hdl.bitfusion.cycle_table (what ``python -m hdl.bitfusion`` prints) on a 3x2
    array: every row matches, and the fused step count is ceil(K / f)."""
    for df in ("ws", "os"):
        rows = bf.cycle_table(fusion_accel(df, 3, 2, glb_kib=8),
                              [(5, 37, 3), (7, 20, 5), (1, 1, 1), (4, 3, 7)],
                              [(8, 8), (4, 4), (2, 2), (8, 4), (4, 8), (2, 8)], seed=3)
        assert all(r["cycles_match"] and r["outputs_match"] for r in rows), rows
        assert [r["k_fused"] for r in rows[:6]] == [37, 10, 3, 19, 19, 10]


@pytest.mark.slow
def test_16bit_fusion_units() -> None:
    """A 16-bit fusion unit (64 bricks, 128-bit lanes): w2a2 (f=64), w16a16, w16a4 and
    w2a8 with a 64-bit accumulator; the rf holds a 128-bit fused weight word."""
    accel = fusion_accel("ws", 2, 2, 16, 64, False, glb_kib=8)
    accel = replace(accel, rf=replace(accel.rf, capacity_bytes=32))
    params = HdlParams.from_accelerator(accel)
    cases = [bf.make_case(params, m, k, n, w_bits=w, a_bits=a, seed=i, extreme=(i == 1))
             for i, (m, k, n, a, w) in enumerate([(3, 70, 3, 2, 2), (2, 9, 3, 16, 16),
                                                  (3, 11, 2, 4, 16), (2, 17, 3, 8, 2)])]
    _check(accel, cases, run_amaranth(params, cases))
