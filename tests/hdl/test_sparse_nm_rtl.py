"""The N:M structured-sparse WS engine (hdl/sparse_nm.py): format, outputs against numpy,
and start->done cycles against the cycle model on the actual pruned weights.

Independent references: outputs are numpy's ``A . B`` on the dense pruned weights
(``hdl.golden.gemm_ref``, after a round-trip test ties the compressed stream to the
dense tensor ``prune_nm`` produced); cycles are the sim's (``sim.simulate`` cycle
fidelity with the weight tensor) and, where noted, hand arithmetic: a tile costs
``M + 2R + C - 1 (+1)`` cycles and an N:M column of K weights is ``ceil(K/M) * N``
slots, so busy = ``ceil(slots / R) * ceil(N / C) * tile``.
"""

from __future__ import annotations

from dataclasses import replace
from math import ceil

import numpy as np
import pytest
from amaranth.sim import Simulator

from dataflows.compress.prune import prune_magnitude, prune_nm
from hdl.cocotb_run import VERILATOR_HINT, run_cocotb, verilator_bin
from hdl.export import generate_verilog
from hdl.golden import gemm_ref
from hdl.params import HdlError, HdlParams
from hdl.sim_amaranth import run_amaranth
from hdl.sparse_nm import (SparseWSPE, SparseWSPEModel, buffer_depths, check_nm,
                           compare_case, compress_nm, decompress_nm, expected_cycles,
                           index_bits, make_case, nm_gemm_ref, pack_b, unpack_b,
                           verify_gemm)
from hdl_helpers import make_accel, needs_icarus
from sim.fpga_model import engine_kind
from sim.sparse.formats import FormatParams, tensor_bits
from sim.spec import Accelerator, SparseConfig


def nm_accel(rows: int, cols: int, n: int = 2, m: int = 4, pr: bool = False,
             acc: int = 32, glb_kib: int = 48) -> Accelerator:
    a = make_accel("ws", rows, cols, pr=pr, acc=acc, glb_kib=glb_kib)
    return replace(a, name=f"{a.name}_nm{n}_{m}",
                   sparse=SparseConfig(policy="skipping", format="nm",
                                       operands=("weight",), nm_n=n, nm_m=m))


def hand_cycles(rows: int, cols: int, n: int, m: int, gm: int, gk: int, gn: int,
                pr: bool = False) -> int:
    slots = ceil(gk / m) * n
    return ceil(slots / rows) * ceil(gn / cols) * (gm + 2 * rows + cols - 1 + int(pr))


# -- the format ----------------------------------------------------------------------
def test_compress_hand_example() -> None:
    """Column 0 = [0, 5, 0, -3 | 7, 0] (K = 6: a partial last group), 2:4: slots
    (5, idx 1), (-3, idx 3), (7, idx 0), (0 pad, idx 0); column 1 all zero."""
    b = np.array([[0, 0], [5, 0], [0, 0], [-3, 0], [7, 0], [0, 0]])
    vals, idx = compress_nm(b, 2, 4)
    assert vals[:, 0].tolist() == [5, -3, 7, 0] and idx[:, 0].tolist() == [1, 3, 0, 0]
    assert vals[:, 1].tolist() == [0, 0, 0, 0]
    # beats: value (8-bit two's complement) | index << 8
    assert pack_b(vals, idx, 8)[1][0] == (256 - 3) | (3 << 8)
    assert pack_b(vals, idx, 8)[2][0] == 7


def test_compress_refuses_a_denser_group() -> None:
    with pytest.raises(HdlError, match="3 nonzeros in rows 0..3: not 2:4 sparse"):
        compress_nm(np.array([[1], [1], [1], [0]]), 2, 4)


@pytest.mark.parametrize("n,m,k", [(2, 4, 16), (2, 4, 13), (1, 4, 9), (2, 8, 19)])
def test_round_trip_and_stream_bits_equal_the_sims_stored_bits(n: int, m: int,
                                                               k: int) -> None:
    """decompress(unpack(pack(compress(B)))) == B for prune_nm's B, and the b stream's
    bits (beats x (8 + log2 M)) equal the sim's nm stored bits of the same tensor."""
    rng = np.random.default_rng(k)
    wt = prune_nm(rng.integers(-128, 128, size=(5, k)), n, m)          # N x K
    vals, idx = compress_nm(wt.T, n, m)
    v2, i2 = unpack_b(pack_b(vals, idx, 8), 8)
    assert decompress_nm(v2, i2, k, n, m).tolist() == wt.T.tolist()
    beats = vals.size
    stored = tensor_bits("nm", wt, 8, FormatParams(n, m))
    assert beats * (8 + index_bits(m)) == stored.total_bits
    assert beats * 8 == stored.data_bits


def test_golden_model_equals_numpy() -> None:
    rng = np.random.default_rng(5)
    a = rng.integers(-128, 128, size=(6, 11))
    b = prune_nm(rng.integers(-128, 128, size=(7, 11)), 2, 4).T
    vals, idx = compress_nm(b, 2, 4)
    assert nm_gemm_ref(a, vals, idx, 2, 4, 16).tolist() == gemm_ref(a, b, 16).tolist()


@pytest.mark.parametrize("group,acc,pr", [(4, 32, False), (4, 16, True), (2, 16, False),
                                          (8, 20, True)])
def test_pe_matches_its_cycle_model(group: int, acc: int, pr: bool) -> None:
    """SparseWSPE (retimed selection) against SparseWSPEModel (``a_in[index] * value``)
    for 150 random cycles, extremes forced in, ``a_in(t) = a_next(t - 1)`` as the array
    wires it."""
    rng = np.random.default_rng(group * 10 + acc + pr)
    ib = index_bits(group)

    def operand() -> int:
        r = rng.random()
        return -128 if r < 0.15 else 127 if r < 0.25 else int(rng.integers(-128, 128))
    stim, prev = [], [0] * group
    for _ in range(150):
        nxt = [operand() for _ in range(group)]
        slot = (operand() & 255) | (int(rng.integers(0, group)) << 8)
        stim.append({"a_in": prev, "a_next": nxt, "w_in": slot,
                     "w_load": int(rng.random() < 0.3),
                     "psum_in": int(rng.integers(-(1 << (acc - 1)), 1 << (acc - 1)))})
        prev = nxt
    dut = SparseWSPE(8, acc, pr, group)
    model = SparseWSPEModel(8, acc, pr, group)
    assert 8 + ib == len(dut.w_in)

    async def tb(ctx) -> None:  # noqa: ANN001
        for i, inputs in enumerate(stim):
            for name, value in inputs.items():
                if isinstance(value, list):
                    for sig, v in zip(getattr(dut, name), value):
                        ctx.set(sig, v)
                else:
                    ctx.set(getattr(dut, name), value)
            want = model.outputs()
            got = {"a_out": [ctx.get(x) for x in dut.a_out], "w_out": ctx.get(dut.w_out),
                   "psum_out": ctx.get(dut.psum_out)}
            assert got == want, f"cycle {i}: rtl {got} != model {want}"
            await ctx.tick()
            model.tick(inputs["a_in"], inputs["w_in"], inputs["w_load"], inputs["psum_in"])

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()


# -- spec and parameters -------------------------------------------------------------------
def test_engine_kind_and_params() -> None:
    accel = nm_accel(2, 2, 2, 8)
    assert engine_kind(accel) == "sparse_nm"
    p = HdlParams.from_accelerator(accel)
    assert (p.engine, p.nm_n, p.nm_m) == ("sparse_nm", 2, 8)
    verilog = generate_verilog(p)               # builds through hdl.engines.build_top
    assert "b__payload" in verilog and "module" in verilog


@pytest.mark.parametrize("n,m", [(2, 4), (1, 4), (2, 8)])
def test_buffers_stay_within_the_specs_shares(n: int, m: int) -> None:
    """The wider A and B words are re-cut from the spec's shares: RAM bits never exceed
    them (A: rows * M/N lanes of 8 bits; B: cols lanes of 8 + log2 M bits)."""
    p = HdlParams.from_accelerator(nm_accel(4, 4, n, m, glb_kib=2))
    da, db = buffer_depths(p)
    assert 4 * m // n * 8 * da <= 4 * 8 * p.depth_a
    assert 4 * (8 + index_bits(m)) * db <= 4 * 8 * p.depth_b
    with pytest.raises(HdlError, match="weight \\(B, compressed\\) buffer"):
        make_case(p, 1, m * (db // n + 1), 1)      # slots = n * (db // n + 1) > db


@pytest.mark.parametrize("rows,n,m,msg", [
    (3, 2, 4, r"nm_n \(2\) to divide the array rows \(3\)"),
    (4, 2, 6, "power of two >= 2, not 6")])
def test_unbuildable_configurations(rows: int, n: int, m: int, msg: str) -> None:
    with pytest.raises(HdlError, match=msg):     # the check SparseNMTop runs first
        check_nm(HdlParams.from_accelerator(nm_accel(rows, 4, n, m)))


def test_hand_cycles_of_the_sim() -> None:
    """The sim's cycles on N:M tensors equal the hand arithmetic (fixed slots), also for a
    tensor sparser than N:M and for K not a multiple of M; dense would be ceil(K/R)
    folds. 4x4 array: tile = M_gemm + 11."""
    accel = nm_accel(4, 4)
    p = HdlParams.from_accelerator(accel)
    for prune, (gm, gk, gn) in [(None, (5, 16, 6)), ("1:4", (5, 16, 6)),
                                (None, (3, 13, 4)), (("magnitude", 0.1), (4, 24, 5))]:
        case = make_case(p, gm, gk, gn, seed=1, prune=prune)
        assert expected_cycles(accel, case) == hand_cycles(4, 4, 2, 4, gm, gk, gn)
    # hand: 16 -> 8 slots = 2 folds x 2 column folds x 16 = 64 (dense: 4 folds, 128)
    assert hand_cycles(4, 4, 2, 4, 5, 16, 6) == 64


def test_sim_equals_the_engines_schedule_over_a_grid() -> None:
    """The sim on ~250 pruned tensors (arrays with 2, 4, 8 rows; 2:4, 1:4, 2:8, 4:8; K =
    1..20, 31, 33, 64, some pruned sparser than the format) gives the controller's
    schedule, ``ceil(slots / R)`` reduction folds -- which the RTL runs by construction
    and the RTL tests measure -- never the compaction to nonzeros."""
    for rows in (2, 4, 8):
        for n, m in ((2, 4), (1, 4), (2, 8), (4, 8)):
            if rows % n:
                continue
            accel = nm_accel(rows, 4, n, m)
            p = HdlParams.from_accelerator(accel)
            for k in [*range(1, 21), 31, 33, 64]:
                prune = ("magnitude", 0.2) if k % 3 == 0 else None
                case = make_case(p, 3, k, 5, seed=k, prune=prune)
                assert expected_cycles(accel, case) == hand_cycles(rows, 4, n, m, 3, k, 5), \
                    (rows, n, m, k)


def test_statistical_nm_schedule_is_the_fixed_slots() -> None:
    """Without tensors (density 0.2 < 2:4's 0.5) the sim's nm schedule is the same fixed
    slot count: 5x16x6 on 4x4 -> 64 cycles, not fewer."""
    from dataflows.layer import Density, gemm
    from hdl.plan import canonical_mapping
    from sim.simulate import simulate
    accel = nm_accel(4, 4)
    layer = gemm("g", 5, 6, 16, density=Density(weight=0.2))
    mapping = canonical_mapping(HdlParams.from_accelerator(accel), 5, 16, 6)
    res = simulate(layer, accel, mapping=mapping, fidelity="cycle").layers[0]
    assert res.compute_cycles == 64 and not (res.stall_cycles_by_cause or {}).get(
        "imbalance")


# -- RTL under Amaranth: outputs and cycle equality ---------------------------------------
CASES = [  # (rows, cols, n, m, pr, (M, K, N), prune)
    (4, 4, 2, 4, False, (5, 16, 6), None),
    (4, 4, 2, 4, False, (7, 13, 9), None),            # K % 4 != 0, N % 4 != 0
    (2, 2, 2, 4, True, (3, 7, 5), None),              # product register
    (4, 2, 1, 4, False, (4, 10, 3), None),            # 1:4
    (4, 4, 2, 8, False, (3, 19, 5), None),            # 2:8
    (4, 4, 2, 4, False, (6, 12, 4), "1:4"),           # sparser than the format
    (4, 4, 2, 4, False, (4, 20, 4), ("magnitude", 0.15)),
    (4, 4, 2, 4, False, (1, 1, 1), None),             # smallest
    (2, 4, 2, 4, False, (2, 3, 7), None),             # K < M
]


@pytest.mark.parametrize("rows,cols,n,m,pr,shape,prune", CASES)
def test_rtl_matches_numpy_and_sim(rows: int, cols: int, n: int, m: int, pr: bool,
                                   shape: tuple[int, int, int], prune: object) -> None:
    accel = nm_accel(rows, cols, n, m, pr)
    rec = verify_gemm(accel, *shape, prune=prune, seed=sum(shape), backend="amaranth")
    assert rec["outputs_match"] and rec["max_abs_error"] == 0, rec
    assert rec["cycles_match"], rec
    assert rec["rtl_cycles"] == hand_cycles(rows, cols, n, m, *shape, pr=pr), rec


def test_extremes_wrap_at_a_narrow_accumulator() -> None:
    """All operands most-negative, 16-bit accumulator: (-128)^2 = 16384, two kept per
    group of 4, K = 16: 8 products = 131072, which wraps to 0 at 16 bits. (The sim
    refuses an accumulator that can overflow, so cycles are checked by hand here and
    against the sim at 32 bits.)"""
    rec = verify_gemm(nm_accel(4, 4), 3, 16, 5, extreme=True, backend="amaranth")
    assert rec["outputs_match"] and rec["cycles_match"], rec
    p = HdlParams.from_accelerator(nm_accel(4, 4, acc=16))
    case = make_case(p, 3, 16, 5, extreme=True)
    res = run_amaranth(p, [case])[0]
    assert res.outputs == [[0] * 5] * 3
    assert res.rtl_cycles == res.busy_cycles == hand_cycles(4, 4, 2, 4, 3, 16, 5)
    case = make_case(p, 2, 5, 1, extreme=True)     # 2 + 1 kept: 49152 -> -16384
    assert run_amaranth(p, [case])[0].outputs == [[-16384]] * 2


def test_heavy_idle_backpressure_order_and_back_to_back_cases() -> None:
    """Three cases on one engine (different K, so the slot count changes between runs),
    70 % idle inputs and output backpressure, fold order 1 for one of them."""
    accel = nm_accel(4, 4)
    p = HdlParams.from_accelerator(accel)
    cases = [make_case(p, 5, 17, 6, seed=2, idle=0.7, backpressure=0.7),
             make_case(p, 3, 4, 1, seed=3, idle=0.7, backpressure=0.7, order=1),
             make_case(p, 6, 9, 9, seed=4, idle=0.0, backpressure=0.0, order=1)]
    for case, res in zip(cases, run_amaranth(p, cases)):
        rec = compare_case(p, case, res, expected_cycles(accel, case))
        assert rec["outputs_match"] and rec["cycles_match"], rec


# -- cocotb on the emitted Verilog ---------------------------------------------------------
@needs_icarus
def test_icarus_equals_amaranth() -> None:
    accel = nm_accel(4, 4)
    p = HdlParams.from_accelerator(accel)
    case = make_case(p, 6, 13, 7, seed=9)
    ic = run_cocotb(p, [case], simulator="icarus").results[0]
    assert ic == run_amaranth(p, [case])[0]
    rec = compare_case(p, case, ic, expected_cycles(accel, case))
    assert rec["outputs_match"] and rec["cycles_match"], rec


def test_verilator_matches_numpy_and_sim() -> None:
    """The smallest engine (2x2, 2:4; K = 11 leaves a partial group). The Verilator
    build (~40-100 s here) is cached in the default build root by the Verilog's digest,
    so a rerun of an unchanged design only simulates."""
    if verilator_bin() is None:
        pytest.fail(f"Verilator is not installed: {VERILATOR_HINT}", pytrace=False)
    rec = verify_gemm(nm_accel(2, 2), 5, 11, 3, seed=4, backend="verilator")
    assert rec["outputs_match"] and rec["cycles_match"], rec


# -- slow sweep ----------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("rows,cols,n,m", [(2, 2, 2, 4), (4, 4, 2, 4), (4, 2, 1, 4),
                                           (4, 4, 2, 8), (4, 3, 1, 2), (4, 4, 4, 8)])
def test_sweep_random_shapes(rows: int, cols: int, n: int, m: int) -> None:
    accel = nm_accel(rows, cols, n, m, pr=rows == cols)
    p = HdlParams.from_accelerator(accel)
    rng = np.random.default_rng(rows * 100 + cols * 10 + m)
    cases = []
    for i in range(8):
        gm, gk, gn = (int(x) for x in rng.integers(1, 21, 3))
        prune = [None, "1:4" if m == 4 else None, ("magnitude", 0.2)][i % 3]
        cases.append(make_case(p, gm, gk, gn, seed=i, prune=prune, order=i % 2,
                               extreme=i == 1))
    for case, res in zip(cases, run_amaranth(p, cases)):
        rec = compare_case(p, case, res, expected_cycles(accel, case))
        assert rec["outputs_match"] and rec["cycles_match"], (case.m, case.k, case.n, rec)
        assert res.rtl_cycles == hand_cycles(rows, cols, n, m, case.m, case.k, case.n,
                                             rows == cols)


def test_magnitude_pruned_weights_are_sparser_than_nm() -> None:
    """("magnitude", 0.15) really gives a tensor sparser than 2:4 (so the case above
    exercises the sim's fixed-slot rule), from dataflows' own pruning."""
    w = prune_magnitude(np.random.default_rng(0).integers(1, 100, size=(4, 20)), 0.15)
    assert np.count_nonzero(w) / w.size < 0.5
