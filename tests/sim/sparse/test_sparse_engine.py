"""The sparse engine in the cycle model: hand-computed skipping schedules with their
imbalance, 2:4 structured weights, gating, dense tensors, and tensor errors.

All cases use a 4x4 array with native timing: a stationary tile costs
``2R + C - 1 = 11`` cycles of fill and drain plus one cycle per streamed wavefront;
memory is unlimited (no memory stalls), so ``total = compute + imbalance``.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace

import numpy as np
import pytest

from dataflows.layer import Density, conv, gemm
from dataflows.mapping import Mapping
from sim.analytic import evaluate
from sim.cycle import simulate_cycle
from sim.simulate import SimulateError, simulate
from sim.sparse import (SparseModelError, TensorError, expected_max_binomial, gemm_masks,
                        prune_nm, statistical_profile)
from sim.sparse.engine import check_tensors
from sim.spec import Accelerator, Buffer, SparseConfig


def accel(dataflow: str = "ws", policy: str = "none", operands=("weight",),
          fmt: str = "dense") -> Accelerator:
    return Accelerator(name="t4", rows=4, cols=4, dataflow=dataflow,
                       glb=(Buffer("glb", capacity_bytes=1 << 20),),
                       sparse=SparseConfig(policy=policy, operands=operands, format=fmt))


def cols(run, name: str) -> list[int]:
    return run.breakdown.columns[name].tolist()


def summary(run) -> tuple[int, int, int]:
    r = run.result
    return r.compute_cycles, r.stall_cycles, r.total_cycles


# -- hand-computed imbalance --------------------------------------------------------------
def test_ws_input_skipping_row_lanes() -> None:
    """WS, one fold: 4 reduction rows x 4 filter columns, 8 pixels streamed.

    Input A (8 pixels x 4 channels) has 6, 4, 2, 0 nonzeros in channels 0..3: row i
    streams only its nonzero pixels, so the fold streams max = 6 cycles instead of 8;
    the balanced rows would stream ceil(12 / 4) = 3. compute = 11 + 3 = 14, imbalance
    6 - 3 = 3, total 17 (dense: 11 + 8 = 19). Effectual MACs: each nonzero input meets
    4 filters: 4 * 12 / 128 = 0.375 of the MAC energy.
    """
    layer = gemm("g", M=8, N=4, K=4)
    mapping = Mapping.build(rows={"C": 4}, cols={"K": 4}, pe={"P": 8})
    a = np.zeros((8, 4))
    a[:6, 0], a[:4, 1], a[:2, 2] = 1, 2, 3
    dense = simulate_cycle(layer, accel(), mapping)
    run = simulate_cycle(layer, accel("ws", "skipping", ("input",)), mapping,
                         tensors={"input": a, "weight": np.ones((4, 4))})
    assert summary(dense) == (19, 0, 19)
    assert summary(run) == (14, 3, 17)
    assert cols(run, "stream_cycles") == [6] and cols(run, "stall_imbalance_cycles") == [3]
    assert run.stall_by_cause()["imbalance"] == 3
    assert run.result.energy_pj_by_level["mac"] == pytest.approx(
        dense.result.energy_pj_by_level["mac"] * 0.375, rel=1e-12)


def test_ws_weight_skipping_compacts_reduction_folds() -> None:
    """WS, reduction 12 in 3 folds of 4 rows, 4 filters, 4 pixels: dense 3 x 15 = 45.

    Filters have 6, 2, 2, 2 nonzero weights: compacted, the slowest column needs
    ceil(6 / 4) = 2 folds, the mean (3) ceil(3 / 4) = 1. Fold 0 is balanced work, fold
    1 is imbalance (its 15 cycles), fold 2 is dropped (no tile, no stream):
    compute 15, imbalance 15, total 30.
    """
    layer = gemm("g", M=4, N=4, K=12)
    mapping = Mapping.build(rows={"C": 4}, cols={"K": 4}, pe={"P": 4}, dram={"C": 3})
    w = np.zeros((4, 12))
    w[0, :6], w[1, 3:5], w[2, [0, 11]], w[3, 7:9] = 1, 1, 1, 1
    dense = simulate_cycle(layer, accel(), mapping)
    run = simulate_cycle(layer, accel("ws", "skipping"), mapping, tensors={"weight": w})
    assert summary(dense) == (45, 0, 45)
    assert summary(run) == (15, 15, 30)
    assert cols(run, "new_tile") == [1, 1, 0] and cols(run, "stream_cycles") == [4, 4, 0]
    assert cols(run, "stall_imbalance_cycles") == [0, 15, 0]
    assert cols(run, "end_cycle") == [15, 30, 30]


def test_os_both_operands_pe_lanes() -> None:
    """OS, one fold: 4 pixels x 4 filters in the PEs, reduction 6 streamed.

    Pixel rows of A have nonzeros at c = 0..5, 0..2, 0, none; filter columns of W at
    c = 0..3, 0..4, 1, none. PE (p, k) works where both are nonzero:
    [[4, 5, 1, 0], [3, 3, 1, 0], [1, 1, 0, 0], [0, 0, 0, 0]] -> max 5, sum 19, mean
    19/16 -> balanced ceil = 2. compute 11 + 2 = 13, imbalance 5 - 2 = 3, total 16
    (dense 11 + 6 = 17); effectual 19 / 96.
    """
    layer = gemm("g", M=4, N=4, K=6)
    mapping = Mapping.build(rows={"P": 4}, cols={"K": 4}, pe={"C": 6})
    a = np.zeros((4, 6))
    a[0, :], a[1, :3], a[2, 0] = 1, 1, 1
    w = np.zeros((4, 6))
    w[0, :4], w[1, :5], w[2, 1] = 1, 1, 1
    dense = simulate_cycle(layer, accel("os"), mapping)
    run = simulate_cycle(layer, accel("os", "skipping", ("weight", "input")), mapping,
                         tensors={"input": a, "weight": w})
    assert summary(dense) == (17, 0, 17)
    assert summary(run) == (13, 3, 16)
    assert run.result.energy_pj_by_level["mac"] == pytest.approx(
        dense.result.energy_pj_by_level["mac"] * 19 / 96, rel=1e-12)


def test_is_weight_skipping_row_lanes() -> None:
    """IS, one fold: 4 channels x 4 pixels stationary, 8 filters' weights streamed.

    Channel rows carry 5, 4, 0, 0 nonzero weights over the 8 filters: stream max 5,
    balanced ceil(9 / 4) = 3. compute 11 + 3 = 14, imbalance 2, total 16 (dense 19).
    """
    layer = gemm("g", M=4, N=8, K=4)
    mapping = Mapping.build(rows={"C": 4}, cols={"P": 4}, pe={"K": 8})
    w = np.zeros((8, 4))
    w[:5, 0], w[3:7, 1] = 1, 1
    run = simulate_cycle(layer, accel("is", "skipping", ("weight",)), mapping,
                         tensors={"weight": w})
    assert summary(simulate_cycle(layer, accel("is"), mapping)) == (19, 0, 19)
    assert summary(run) == (14, 2, 16)


# -- 2:4 structured weights ---------------------------------------------------------------
def test_2_4_weights_halve_the_compute_with_skipping() -> None:
    """Reduction 32 = 8 folds of 4 rows per filter group, 2 filter groups, 16 pixels:
    dense 16 passes x (11 + 16) = 432. 2:4 leaves exactly 16 nonzeros per filter, so
    every column needs ceil(16 / 4) = 4 folds: 8 passes, 216 cycles -- exactly 50 %,
    streams and tile overheads alike, and no imbalance (every column has equal work).
    The model charges no extra cycles for the per-PE input selection (its stated
    optimism); the N:M metadata is moved and stored (2 bits per kept value)."""
    layer = gemm("g", M=16, N=8, K=32)
    mapping = Mapping.build(rows={"C": 4}, cols={"K": 4}, pe={"P": 16}, glb={"K": 2},
                            dram={"C": 8})
    w = prune_nm(np.random.default_rng(0).integers(1, 100, size=(8, 32)), 2, 4)
    dense = simulate_cycle(layer, accel(), mapping)
    run = simulate_cycle(layer, accel("ws", "skipping", fmt="nm"), mapping,
                         tensors={"weight": w})
    assert summary(dense) == (432, 0, 432)
    assert summary(run) == (216, 0, 216)
    assert sum(cols(run, "stream_cycles")) * 2 == sum(cols(dense, "stream_cycles"))
    # DRAM moves 8 + 2 bits per kept weight: (8 * 32 / 2) * 10 bits = 160 bytes
    assert run.result.bytes["dram"]["weight"]["reads"] == 160
    assert dense.result.bytes["dram"]["weight"]["reads"] == 256


def test_2_4_with_an_odd_fold_count_rounds_up() -> None:
    """Reduction 12 = 3 folds; 2:4 leaves 6 nonzeros per filter -> ceil(6/4) = 2 folds:
    30 of 45 cycles (the rounding to whole folds is the modelled overhead)."""
    layer = gemm("g", M=4, N=4, K=12)
    mapping = Mapping.build(rows={"C": 4}, cols={"K": 4}, pe={"P": 4}, dram={"C": 3})
    w = prune_nm(np.arange(1, 49).reshape(4, 12), 2, 4)
    run = simulate_cycle(layer, accel("ws", "skipping"), mapping, tensors={"weight": w})
    assert summary(run) == (30, 0, 30)


def test_gating_keeps_cycles_and_scales_mac_energy() -> None:
    """Gating on 2:4 weights: cycles as dense, MAC energy x 0.5, nothing else changes."""
    layer = gemm("g", M=16, N=8, K=32)
    mapping = Mapping.build(rows={"C": 4}, cols={"K": 4}, pe={"P": 16}, glb={"K": 2},
                            dram={"C": 8})
    w = prune_nm(np.random.default_rng(1).integers(1, 100, size=(8, 32)), 2, 4)
    dense = simulate_cycle(layer, accel(), mapping).result
    gated = simulate_cycle(layer, accel("ws", "gating"), mapping, tensors={"weight": w}).result
    assert (gated.compute_cycles, gated.total_cycles) == (dense.compute_cycles,
                                                          dense.total_cycles)
    assert gated.energy_pj_by_level["mac"] == pytest.approx(
        dense.energy_pj_by_level["mac"] * 0.5, rel=1e-12)
    for level in ("pe", "glb", "dram"):
        assert gated.energy_pj_by_level[level] == dense.energy_pj_by_level[level]


# -- dense tensors are the dense model ----------------------------------------------------
@pytest.mark.parametrize("dataflow,operands", [
    ("ws", ("weight",)), ("ws", ("input",)), ("is", ("weight",)), ("is", ("input",)),
    ("os", ("weight",)), ("os", ("input",)), ("os", ("weight", "input"))])
@pytest.mark.parametrize("policy", ["gating", "skipping"])
def test_dense_tensors_give_the_dense_result(dataflow: str, operands, policy: str) -> None:
    """A conv (stride 2, no padding, so the im2col has no padded zeros) with all-nonzero
    tensors: every policy gives exactly the dense result, for every dataflow."""
    layer = conv("c", in_ch=3, out_ch=6, in_hw=7, kernel=3, stride=2)
    rng = np.random.default_rng(2)
    tensors = {"weight": rng.integers(1, 9, size=(6, 3, 3, 3)),
               "input": rng.integers(1, 9, size=(1, 3, 7, 7))}
    base = accel(dataflow)
    from sim.default_mapping import default_mapping
    mapping = default_mapping(layer, base)
    dense = simulate_cycle(layer, base, mapping)
    run = simulate_cycle(layer, accel(dataflow, policy, operands), mapping, tensors=tensors)
    assert run.result == dense.result
    for name in ("new_tile", "stream_cycles", "stall_cycles", "end_cycle"):
        assert cols(run, name) == cols(dense, name)


def test_statistical_density_one_is_dense_and_analytic_agrees() -> None:
    """No tensors, density 1: the skipping schedule is the dense one and the cycle model
    still equals the analytic model exactly."""
    layer = gemm("g", M=16, N=8, K=32)
    mapping = Mapping.build(rows={"C": 4}, cols={"K": 4}, pe={"P": 16}, glb={"K": 2},
                            dram={"C": 8})
    a = accel("ws", "skipping", ("input",))
    run = simulate_cycle(layer, a, mapping).result
    assert run.total_cycles == evaluate(layer, a, mapping).total_cycles == 432


def test_statistical_skipping_uses_the_expected_slowest_lane() -> None:
    """Density 0.5 without tensors, WS input skipping, one fold of 4 rows x 8 pixels:
    stream round(E[max of 4 Binomial(8, 0.5)]) = round(5.43) = 5 and balanced
    ceil(0.5 * 8) = 4: compute 11 + 4, imbalance 1."""
    layer = gemm("g", M=8, N=4, K=4, density=Density(input=0.5))
    mapping = Mapping.build(rows={"C": 4}, cols={"K": 4}, pe={"P": 8})
    run = simulate_cycle(layer, accel("ws", "skipping", ("input",)), mapping)
    assert expected_max_binomial(8, 0.5, 4) == pytest.approx(
        sum(1 - binom_cdf(k, 8) ** 4 for k in range(8)), rel=1e-12)
    assert round(expected_max_binomial(8, 0.5, 4), 2) == 5.43
    assert summary(run) == (15, 1, 16)


def binom_cdf(k: int, n: int) -> float:
    """P(Binomial(n, 1/2) <= k), by counting."""
    return sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n


@pytest.mark.parametrize("dataflow,operands", [
    ("ws", ("input",)), ("ws", ("weight",)), ("is", ("weight",)), ("is", ("input",)),
    ("os", ("weight", "input"))])
@pytest.mark.parametrize("density", [0.3, 0.6])
def test_statistical_skipping_tracks_random_tensors(dataflow: str, operands,
                                                    density: float) -> None:
    """The statistical schedule against the mean of 5 seeded Bernoulli(density) tensor
    pairs on a 64 x 64 x 16 GEMM over an 8x8 array: within 5 % (measured: -2.0 % to +2.9 %)."""
    layer = gemm("g", M=64, N=16, K=64, density=Density(input=density, weight=density))
    a = replace(accel(dataflow, "skipping", operands), rows=8, cols=8)
    mapping = {"ws": Mapping.build(rows={"C": 8}, cols={"K": 8}, pe={"P": 32},
                                   glb={"C": 8, "K": 2, "P": 2}),
               "is": Mapping.build(rows={"C": 8}, cols={"P": 8}, pe={"K": 16},
                                   glb={"C": 8, "P": 8}),
               "os": Mapping.build(rows={"P": 8}, cols={"K": 8}, pe={"C": 64},
                                   glb={"K": 2, "P": 8})}[dataflow]
    stat = simulate_cycle(layer, a, mapping).result.total_cycles
    totals = []
    for seed in range(5):
        rng = np.random.default_rng(seed)
        t = {"input": (rng.random((64, 64)) < density).astype(float),
             "weight": (rng.random((16, 64)) < density).astype(float)}
        totals.append(simulate_cycle(layer, a, mapping, tensors=t).result.total_cycles)
    assert stat == pytest.approx(np.mean(totals), rel=0.05)


def test_expected_max_binomial() -> None:
    assert expected_max_binomial(10, 0.3, 1) == pytest.approx(3.0)
    assert expected_max_binomial(1, 0.5, 2) == pytest.approx(0.75)      # 1 - 0.5^2
    assert expected_max_binomial(7, 1.0, 5) == 7.0
    assert expected_max_binomial(7, 0.0, 5) == 0.0


# -- the analytic model's statistical profile ---------------------------------------------
def test_analytic_bitmap_gating_scales_traffic_and_mac_energy() -> None:
    """Weight density 0.5 in bitmap: 0.5 * 8 + 1 = 5 bits per weight at DRAM and GLB
    (5/8 of the dense bytes); gating halves MAC energy; cycles unchanged."""
    layer = gemm("g", M=16, N=8, K=32, density=Density(weight=0.5))
    mapping = Mapping.build(rows={"C": 4}, cols={"K": 4}, pe={"P": 16}, glb={"K": 2},
                            dram={"C": 8})
    dense = evaluate(layer, accel(), mapping)
    sp = evaluate(layer, accel("ws", "gating", fmt="bitmap"), mapping)
    assert sp.total_cycles == dense.total_cycles
    assert sp.bytes["dram"]["weight"]["reads"] == 256 * 5 // 8
    assert sp.bytes["glb"]["weight"]["reads"] * 8 == dense.bytes["glb"]["weight"]["reads"] * 5
    assert sp.bytes["pe"] == dense.bytes["pe"]
    assert sp.energy_pj_by_level["mac"] == pytest.approx(
        dense.energy_pj_by_level["mac"] * 0.5, rel=1e-12)
    assert statistical_profile(layer, accel("ws", "gating", fmt="bitmap")).stored_bits == \
        {"weight": 5.0, "input": 8}


# -- lowering and errors --------------------------------------------------------------------
def test_gemm_masks_match_an_explicit_im2col() -> None:
    """Grouped, strided, dilated, padded conv: masks equal a loop-by-loop im2col."""
    layer = conv("c", in_ch=4, out_ch=6, in_hw=(6, 5), kernel=(3, 2), stride=(2, 1),
                 padding=(1, 1), dilation=(1, 2), groups=2, batch=2)
    rng = np.random.default_rng(3)
    x = rng.integers(0, 2, size=(2, 4, 6, 5))
    w = rng.integers(0, 2, size=(6, 2, 3, 2))
    m = gemm_masks(layer, check_tensors(layer, {"weight": w, "input": x}))
    g, sr, t, sc = layer.gemm_shape
    ref_x = np.zeros((g, sr, t), dtype=bool)
    for gi in range(g):
        for n in range(2):
            for p in range(layer.P):
                for q in range(layer.Q):
                    for c in range(2):
                        for r in range(3):
                            for s in range(2):
                                h = p * 2 + r - 1
                                v = q + s * 2 - 1
                                ok = 0 <= h < 6 and 0 <= v < 5
                                ref_x[gi, (n * layer.P + p) * layer.Q + q, (c * 3 + r) * 2 + s] = \
                                    ok and x[n, gi * 2 + c, h, v] != 0
    ref_w = np.stack([(w[gi * 3:(gi + 1) * 3].reshape(3, t) != 0).T for gi in range(g)])
    assert np.array_equal(m.x, ref_x) and np.array_equal(m.w, ref_w)


def test_bad_tensor_shapes_give_one_line_errors() -> None:
    layer = gemm("g", M=8, N=4, K=4)
    a = accel("ws", "skipping")
    with pytest.raises(TensorError, match=re.escape(
            "layer 'g': weight tensor has shape (3, 3), expected (4, 4, 1, 1) or (4, 4)")):
        simulate(layer, a, fidelity="cycle", tensors={"g": {"weight": np.ones((3, 3))}})
    with pytest.raises(TensorError, match=re.escape(
            "layer 'g': input tensor has shape (4, 8), expected (1, 4, 8, 1) or (8, 4)")):
        simulate(layer, a, fidelity="cycle", tensors={"g": {"input": np.ones((4, 8))}})
    with pytest.raises(TensorError, match=re.escape(
            "layer 'g': unknown tensor key 'bias'; allowed: 'weight', 'input'")):
        simulate(layer, a, fidelity="cycle", tensors={"g": {"bias": np.ones(4)}})
    with pytest.raises(SimulateError, match=re.escape(
            "tensors name layer 'h', which 'g' does not have; its layers: ['g']")):
        simulate(layer, a, fidelity="cycle", tensors={"h": {}})


def test_unmodelled_skipping_configurations_are_errors() -> None:
    layer = gemm("g", M=8, N=4, K=4)
    mapping = Mapping.build(rows={"C": 4}, cols={"K": 4}, pe={"P": 8})
    with pytest.raises(SparseModelError, match=re.escape(
            "skipping both operands on a 'ws' array is not modelled")):
        simulate_cycle(layer, accel("ws", "skipping", ("weight", "input")), mapping)
    rs = replace(accel("rs", "skipping"), rows=4, cols=4)
    with pytest.raises(SparseModelError, match=re.escape(
            "sparse.policy 'skipping' is modelled on the systolic dataflows ws/os/is, "
            "not 'rs'")):
        simulate(conv("c", in_ch=2, out_ch=2, in_hw=4, kernel=3), rs, fidelity="cycle")


def test_simulate_with_tensors_end_to_end() -> None:
    """simulate() routes per-layer tensors to the cycle model (2:4 weights halve it)."""
    layer = gemm("g", M=16, N=8, K=32)
    mapping = Mapping.build(rows={"C": 4}, cols={"K": 4}, pe={"P": 16}, glb={"K": 2},
                            dram={"C": 8})
    w = prune_nm(np.random.default_rng(0).integers(1, 100, size=(8, 32)), 2, 4)
    res = simulate(layer, accel("ws", "skipping"), mapping=mapping, fidelity="cycle",
                   tensors={"g": {"weight": w}})
    assert res.total_cycles == 216


def test_simulate_default_mapping_sees_the_tensors_density() -> None:
    """A 7x7 conv with 2:4 weights in the nm format: the default mapping search runs on
    the tensors' measured density (0.503 with the partial last group), not the layer's
    dense 1.0 that the format could not store; with all-zero inputs gated the MAC
    energy is 0."""
    layer = conv("c1", in_ch=3, out_ch=8, in_hw=12, kernel=7, stride=2, padding=3)
    w = prune_nm(np.random.default_rng(4).integers(1, 9, size=(8, 3, 7, 7)), 2, 4)
    a = accel("ws", "skipping", fmt="nm")
    res = simulate(layer, a, fidelity="cycle", tensors={"c1": {"weight": w}})
    dense = simulate(layer, accel(), fidelity="cycle")
    assert res.compute_cycles < dense.compute_cycles
    gated = simulate(layer, accel("ws", "gating", ("input",)), fidelity="cycle",
                     tensors={"c1": {"input": np.zeros((1, 3, 12, 12))}})
    assert gated.layers[0].energy_pj_by_level["mac"] == 0.0
    assert gated.total_cycles == dense.total_cycles


def test_gating_statistical_cycle_equals_analytic() -> None:
    """Without skipping, the sparse profile changes energy and traffic alike in both
    fidelities: with no stalls the cycle model equals the analytic model exactly."""
    layer = gemm("g", M=16, N=8, K=32, density=Density(weight=0.5, input=0.25))
    mapping = Mapping.build(rows={"C": 4}, cols={"K": 4}, pe={"P": 16}, glb={"K": 2},
                            dram={"C": 8})
    a = accel("ws", "gating", ("weight", "input"), fmt="rle")
    cyc = simulate_cycle(layer, a, mapping).result
    ana = evaluate(layer, a, mapping)
    assert replace(cyc, fidelity="analytic") == ana
    assert ana.energy_pj_by_level["mac"] == pytest.approx(
        evaluate(layer, accel(), mapping).energy_pj_by_level["mac"] * 0.125, rel=1e-12)


def test_glb_capacity_uses_the_compressed_size() -> None:
    """A weight-only buffer needs 5/8 of the dense bytes with 50 % weights in bitmap
    (0.5 * 8 + 1 bits per weight), and a buffer between the two sizes fits only the
    compressed weights."""
    from sim.analytic import MappingBatch, evaluate_batch
    from sim.analytic import CostError
    layer = gemm("g", M=16, N=8, K=32, density=Density(weight=0.5))
    # P outermost in the GLB: the array re-reads the whole 8 x 32 weight tile twice,
    # so the GLB holds it (256 weights)
    mapping = Mapping.build(rows={"C": 4}, cols={"K": 4}, pe={"P": 8},
                            glb={"P": 2, "K": 2, "C": 8}, order={"glb": ["P"]})

    def spec(policy: str, fmt: str, cap: int = 1 << 20) -> Accelerator:
        return replace(accel("ws", policy, fmt=fmt), glb=(
            Buffer("wbuf", operands=("weight",), capacity_bytes=cap),
            Buffer("io", operands=("input", "output"), capacity_bytes=1 << 20)))

    batch = MappingBatch.from_mappings([mapping])
    dense = evaluate_batch(layer, spec("none", "dense"), batch)["glb_wbuf_need_bytes"][0]
    sparse = evaluate_batch(layer, spec("gating", "bitmap"), batch)["glb_wbuf_need_bytes"][0]
    assert dense == 256 and sparse == 160
    evaluate(layer, spec("gating", "bitmap", 200), mapping)
    with pytest.raises(CostError, match="glb buffer 'wbuf': tile needs 256 B"):
        evaluate(layer, spec("none", "dense", 200), mapping)
