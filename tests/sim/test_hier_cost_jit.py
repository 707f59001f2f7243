"""sim.hier_cost_jit (the compiled scorer of the nest search) equals the batched
sim.hier_cost.evaluate_batch on every row and the plain-Python reference
sim.hier_cost_scalar.evaluate on the first rows of each case: random hierarchies (2-6
levels, fanouts, bypass, streams, partitions, every psum_access and overlap rule), both
input rules, exact and imperfect factors; multicast fanouts spreading conv windows with
strides and dilations (the enumerated unions and kept rows); and the imported
AccelForge archs on ResNet-50 layers (real sizes)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dataflows.layer import Layer
from mapper.accelforge_import import load_accelforge
from mapper.nest_search import NestSpace
from sim.hier_cost import evaluate, evaluate_batch
from sim.hier_cost_jit import KEYS as KEYS_JIT
from sim.hier_cost_jit import NUMPY_ROWS, cost_batch, overfilled, scorer
from sim.hier_plan import HierCostError
from sim.hier_tiles import overfilled_dim_major
from sim.hierarchy import Compute, Fanout, Hierarchy, StorageLevel
from tests.sim.test_hierarchy_props import SETTINGS, hierarchies, layers

KEYS = ("legal", "compute_cycles", "total_cycles", "energy_pj")
AF = Path(__file__).resolve().parents[1] / "data" / "accelforge_1.0.467"


def _rows(layer: Layer, hier: Hierarchy, imperfect: bool, seed: int, n: int):
    space = NestSpace(layer, hier, imperfect)
    rng = np.random.default_rng(seed)
    g = space.random(rng, n)
    return space, type(g).concat(g, space.mutate(rng, g))   # mutants: unfitted tiles too


def _check(layer: Layer, hier: Hierarchy, imperfect: bool, seed: int, n: int,
           scalar_rows: int) -> None:
    space, g = _rows(layer, hier, imperfect, seed, n)
    for rule in ("window", "refetch"):
        jit = cost_batch(layer, hier, g.batch, rule == "window")
        ref = evaluate_batch(layer, hier, g.batch, detail=False, input_reuse=rule)
        for k in KEYS:
            bad = np.flatnonzero(jit[k] != ref[k])
            assert not bad.size, (rule, k, bad[:5], jit[k][bad[:5]], ref[k][bad[:5]])
        for i in range(min(scalar_rows, len(g))):
            r = evaluate(layer, hier, space.to_mapping(g, i), input_reuse=rule)
            assert bool(jit["legal"][i]) == r.legal
            assert int(jit["total_cycles"][i]) == r.total_cycles
            assert int(jit["compute_cycles"][i]) == r.compute_cycles
            assert jit["energy_pj"][i] == pytest.approx(r.energy_pj, rel=1e-12)


@SETTINGS
@given(hierarchies(), layers(), st.booleans(), st.integers(0, 2**31))
def test_equals_reference_random(hier: Hierarchy, layer: Layer, imperfect: bool,
                                 seed: int) -> None:
    _check(layer, hier, imperfect, seed, 20, 6)


def _spreading(stride: int, dilation: int) -> Hierarchy:
    """Two multicast fanouts spreading output and kernel rows and columns below an input
    buffer that keeps a sliding window (the enumerated cases of sim.hier_plan)."""
    return Hierarchy("spread", (
        StorageLevel("dram", word_bits=16),
        StorageLevel("glb", capacity_bytes=1 << 16, word_bits=16),
        Fanout("a", size=(2, 3), dims=(("P", "R"), ("Q", "S", "K")), multicast=("input",)),
        StorageLevel("buf", keeps=("input", "weight"), capacity_bytes=4096, word_bits=16),
        Fanout("b", size=(3,), dims=(("P", "S", "C"),), multicast=("input", "weight")),
        StorageLevel("reg", keeps=("output",), capacity_bytes=256, word_bits=32)),
        compute=Compute(psum_access="separate"))


@pytest.mark.parametrize("stride,dilation", [(1, 1), (2, 1), (1, 2), (2, 2), (3, 1)])
@pytest.mark.parametrize("imperfect", [False, True])
def test_equals_reference_multicast_windows(stride: int, dilation: int,
                                            imperfect: bool) -> None:
    layer = Layer("w", K=4, C=3, P=9, Q=7, R=3, S=3, stride_h=stride, stride_w=stride,
                  dilation_h=dilation, dilation_w=1)
    _check(layer, _spreading(stride, dilation), imperfect, stride * 10 + dilation, 400, 40)


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 2), st.integers(1, 2),
       st.integers(0, 2**31))
def test_equals_reference_multicast_random_conv(sh: int, sw: int, dh: int, dw: int,
                                                seed: int) -> None:
    layer = Layer("w", K=3, C=2, P=8, Q=6, R=3, S=2, stride_h=sh, stride_w=sw,
                  dilation_h=dh, dilation_w=dw)
    _check(layer, _spreading(sh, dh), seed % 2 == 0, seed, 200, 10)


def _af_layers(name: str) -> list[Layer]:
    out = []
    for rec in json.loads((AF / f"{name}.json").read_text())["layers"]:
        if "shape" not in rec:          # a layer AccelForge could not map
            continue
        s = rec["shape"]
        out.append(Layer(name=rec["layer"], K=s["m"], C=s["c"], P=s["p"], Q=s["q"],
                         R=s["r"], S=s["s"], H=s["p"] * s["stride"], W=s["q"] * s["stride"],
                         stride_h=s["stride"], stride_w=s["stride"],
                         pad_h=(s["r"] - 1) // 2, pad_w=(s["s"] - 1) // 2))
    return out


@pytest.mark.parametrize("name", ["ws_16x16", "nvdla", "tpu_v4i", "eyeriss", "simba"])
def test_equals_reference_accelforge_archs(name: str) -> None:
    path = AF / (f"{name}.yaml" if name == "ws_16x16" else f"arch_{name}.yaml")
    conv = load_accelforge(path)
    resnet = _af_layers("ws_16x16")         # the six ResNet-50 layers the runner records
    assert len(resnet) == 6
    for j, layer in enumerate(resnet):
        for hier in conv.hierarchy.bypass_choices()[:2]:
            _check(layer, hier, j % 2 == 1, j, 300, 3)


@pytest.mark.parametrize("n", [50, NUMPY_ROWS])       # the compiled and the numpy branch
def test_scorer_is_cost_batch(n: int) -> None:
    layer = Layer("s", K=8, C=4, P=6, Q=6, R=3, S=3)
    hier = _spreading(1, 1)
    _, g = _rows(layer, hier, False, 1, n // 2)
    assert len(g) == n
    a, b = scorer(layer, hier, True)(g.batch), cost_batch(layer, hier, g.batch, True)
    assert list(a) == list(b) == list(KEYS_JIT)
    assert all(a[k].dtype == b[k].dtype and (a[k] == b[k]).all() for k in KEYS)


def test_batch_of_another_hierarchy_is_refused() -> None:
    layer = Layer("s", K=8, C=4, P=6, Q=6, R=3, S=3)
    _, g = _rows(layer, _spreading(1, 1), False, 1, 4)
    other = Hierarchy("two", (StorageLevel("dram"), StorageLevel("buf", capacity_bytes=512)))
    with pytest.raises(HierCostError, match="2 levels and 0 fanouts"):
        cost_batch(layer, other, g.batch, True)


@SETTINGS
@given(hierarchies(), layers(), st.booleans(), st.integers(0, 2**31))
def test_overfilled_equals_numpy(hier: Hierarchy, layer: Layer, imperfect: bool,
                                 seed: int) -> None:
    """The compiled capacity check NestSpace.fit uses equals
    sim.hier_tiles.overfilled_dim_major (the cost model's capacity rule) on every row."""
    _, g = _rows(layer, hier, imperfect, seed, 30)
    T = np.ascontiguousarray(g.temporal.transpose(1, 2, 0))
    S = np.ascontiguousarray(g.axes.prod(axis=2).transpose(1, 2, 0))
    assert (overfilled(layer, hier, T, S) == overfilled_dim_major(layer, hier, T, S)).all()
