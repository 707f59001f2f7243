"""Property tests of sim.hier_cost over random hierarchies (2-6 storage levels, fanouts at
several levels, bypass, streams, partitioned and shared capacities, every
``compute.psum_access`` rule): traffic at the top
is at least compulsory, the tiles of a mapping declared legal fit every level (counted
by enumerating the tile's elements), the batched model equals the plain-Python one, and
on tiny layers with exact factors every access count equals the brute-force walk of
the loop nest (tests/sim/test_hier_cost.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dataflows.dataflow import OPERANDS
from dataflows.layer import Layer
from mapper.nest_search import NestSpace
from sim.hier_cost import evaluate, evaluate_batch
from sim.hierarchy import OVERLAP, PSUM_ACCESS, Compute, Fanout, Hierarchy, StorageLevel
from tests.sim.test_hier_cost import _elements, brute_force

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SLOW = settings(max_examples=400, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
DIMS7 = ("N", "K", "C", "P", "Q", "R", "S")


@st.composite
def hierarchies(draw: st.DrawFn, max_levels: int = 6) -> Hierarchy:
    n_levels = draw(st.integers(2, max_levels))
    nodes: list = [StorageLevel("dram", word_bits=draw(st.sampled_from([8, 16, 64])))]
    for i in range(1, n_levels):
        if draw(st.integers(0, 2)) == 0:          # a fanout above this level
            two_d = draw(st.booleans())
            size = (draw(st.integers(1, 3)), draw(st.integers(1, 3))) if two_d \
                else (draw(st.integers(1, 4)),)
            dims = tuple(tuple(draw(st.lists(st.sampled_from(DIMS7), min_size=1, max_size=3,
                                             unique=True))) for _ in size)
            nodes.append(Fanout(f"f{i}", size=size, dims=dims,
                                multicast=tuple(draw(st.lists(st.sampled_from(OPERANDS),
                                                              unique=True))),
                                reduction=draw(st.booleans()),
                                min_usage=draw(st.sampled_from([0.0, 0.0, 0.5, 1.0]))))
        keeps = tuple(draw(st.lists(st.sampled_from(OPERANDS), min_size=1, unique=True)))
        streams = tuple(o for o in keeps if draw(st.integers(0, 4)) == 0)
        word = draw(st.sampled_from([8, 16, 32]))
        db = draw(st.booleans())
        least = word // 8 * (2 if db else 1)
        if draw(st.booleans()) and len(keeps) > 1:
            cap: object = {o: draw(st.integers(least, 512)) for o in keeps}
        else:
            cap = draw(st.integers(least, 4096))
        nodes.append(StorageLevel(f"l{i}", keeps=keeps, capacity_bytes=cap, word_bits=word,
                                  streams=streams, double_buffered=db,
                                  read_bytes_per_cycle=draw(st.sampled_from([1.0, 8.0,
                                                                             math.inf]))))
    if draw(st.booleans()):                       # a fanout straight above the MACs
        nodes.append(Fanout("macs", size=(draw(st.integers(1, 4)),),
                            dims=(tuple(draw(st.lists(st.sampled_from(DIMS7), min_size=1,
                                                      max_size=2, unique=True))),),
                            multicast=("weight", "input"), reduction=True))
    return Hierarchy("rand", tuple(nodes),
                     compute=Compute(psum_access=draw(st.sampled_from(PSUM_ACCESS)),
                                     overlap=draw(st.sampled_from(OVERLAP))))


@st.composite
def layers(draw: st.DrawFn, small: int = 6) -> Layer:
    return Layer("rand", N=draw(st.integers(1, 2)), K=draw(st.integers(1, small)),
                 C=draw(st.integers(1, small)), P=draw(st.integers(1, small)),
                 Q=draw(st.integers(1, small)), R=draw(st.integers(1, 3)),
                 S=draw(st.integers(1, 3)), stride_h=draw(st.integers(1, 2)),
                 stride_w=draw(st.integers(1, 2)), dilation_h=draw(st.integers(1, 2)),
                 dilation_w=draw(st.integers(1, 2)))


def _rows(layer: Layer, hier: Hierarchy, imperfect: bool, seed: int, n: int):
    space = NestSpace(layer, hier, imperfect)
    g = space.random(np.random.default_rng(seed), n)
    return space, g


def _check_props(layer: Layer, hier: Hierarchy, imperfect: bool, seed: int) -> None:
    space, g = _rows(layer, hier, imperfect, seed, 12)
    arr = evaluate_batch(layer, hier, g.batch)
    top = hier.levels[0].name
    distinct = {"weight": layer.weight_elems, "output": layer.output_elems,
                "input": len(_elements("input", layer, [0] * 8,
                                       [1, layer.N, 1, layer.C, layer.P, layer.Q, layer.R,
                                        layer.S]))}
    for i in range(len(g)):
        m = space.to_mapping(g, i)
        r = evaluate(layer, hier, m)          # runs NestMapping.check too
        # batched == scalar
        for lv, d in r.accesses.items():
            for op, rw in d.items():
                assert int(arr[f"{lv}_{op}_reads"][i]) == rw["reads"], (lv, op)
                assert int(arr[f"{lv}_{op}_writes"][i]) == rw["writes"], (lv, op)
        assert bool(arr["legal"][i]) == r.legal
        assert int(arr["total_cycles"][i]) == r.total_cycles
        assert arr["energy_pj"][i] == pytest.approx(r.energy_pj, rel=1e-9)
        # compulsory traffic: every tensor crosses the top once
        assert r.accesses[top]["weight"]["reads"] >= distinct["weight"]
        assert r.accesses[top]["input"]["reads"] >= distinct["input"]
        assert r.accesses[top]["output"]["writes"] >= distinct["output"]
        assert r.compute_cycles * hier.pes >= layer.macs
        # legal -> every level's first (largest) tile fits, counted element by element
        if r.legal:
            _assert_fits(layer, hier, m)


def _assert_fits(layer: Layer, hier: Hierarchy, m) -> None:
    bounds = [1, layer.N, layer.K, layer.C, layer.P, layer.Q, layer.R, layer.S]
    fan_pos, li = [], 0
    for node in hier.nodes:
        if isinstance(node, StorageLevel):
            li += 1
        else:
            fan_pos.append(li)
    bits = {"weight": layer.precision.weight_bits, "input": layer.precision.input_bits,
            "output": hier.compute.accumulator_bits}
    for lv, level in enumerate(hier.levels):
        if not level.bounded:
            continue
        ext = [1] * 8
        for d in range(8):
            ext[d] = math.prod(m.temporal[j][d] for j in range(lv, len(hier.levels)))
            ext[d] *= math.prod(m.spatial_product(f)[d] for f, p in enumerate(fan_pos)
                                if p > lv)
        hi = [min(e, b) for e, b in zip(ext, bounds)]
        need = {o: len(_elements(o, layer, [0] * 8, hi)) * bits[o] / 8
                for o in level.keeps if o not in level.streams}
        if level.partitioned:
            for o, v in need.items():
                assert v <= level.usable_bytes(o), (level.name, o)
        else:
            assert sum(need.values()) <= level.usable_bytes(), level.name


@SETTINGS
@given(hierarchies(), layers(), st.booleans(), st.integers(0, 2**31))
def test_properties(hier: Hierarchy, layer: Layer, imperfect: bool, seed: int) -> None:
    _check_props(layer, hier, imperfect, seed)


@pytest.mark.slow
@SLOW
@given(hierarchies(), layers(), st.booleans(), st.integers(0, 2**31))
def test_properties_sweep(hier: Hierarchy, layer: Layer, imperfect: bool, seed: int) -> None:
    _check_props(layer, hier, imperfect, seed)


def _brute_case(hier: Hierarchy, layer: Layer, seed: int) -> None:
    space, g = _rows(layer, hier, False, seed, 3)
    for i in range(len(g)):
        m = space.to_mapping(g, i)
        r = evaluate(layer, hier, m, input_reuse="refetch")     # the walk's rule
        got = {(lv, op): (rw["reads"], rw["writes"]) for lv, d in r.accesses.items()
               for op, rw in d.items()}
        want = brute_force(layer, hier, m)
        got = {k: v for k, v in got.items() if v != (0, 0)}
        want = {k: v for k, v in want.items() if v != (0, 0)}
        assert got == want, m
        # with sliding-window reuse the walk moves no more than the model claims
        top = hier.levels[0].name
        slide = brute_force(layer, hier, m, sliding=True)
        assert slide.get((top, "input"), (0, 0))[0] <= got.get((top, "input"), (0, 0))[0]


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(hierarchies(max_levels=4), layers(small=4), st.integers(0, 2**31))
def test_model_equals_brute_force(hier: Hierarchy, layer: Layer, seed: int) -> None:
    _brute_case(hier, layer, seed)





@pytest.mark.slow
@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(hierarchies(max_levels=5), layers(small=4), st.integers(0, 2**31))
def test_model_equals_brute_force_sweep(hier: Hierarchy, layer: Layer, seed: int) -> None:
    _brute_case(hier, layer, seed)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(hierarchies(max_levels=4), layers(small=4), st.integers(0, 2**31))
def test_mac_side_counts_equal_brute_force_imperfect(hier: Hierarchy, layer: Layer,
                                                     seed: int) -> None:
    """With imperfect factors (idle positions), the MAC side -- reads of the innermost
    level keeping each operand, one per busy multicast group, and that level's output
    writes, one per busy reduction group -- equals the loop-nest walk's enumeration,
    batched and scalar."""
    space, g = _rows(layer, hier, True, seed, 3)
    arr = evaluate_batch(layer, hier, g.batch)
    for i in range(len(g)):
        m = space.to_mapping(g, i)
        r = evaluate(layer, hier, m, input_reuse="refetch")
        want = brute_force(layer, hier, m)
        for op in OPERANDS:
            inner = [lv.name for lv in hier.levels if op in lv.keeps][-1]
            got = r.accesses[inner][op]
            if op != "output":
                assert got["reads"] == want[inner, op][0] == int(arr[f"{inner}_{op}_reads"][i])
            elif hier.compute.psum_access == "fused" and inner != hier.levels[0].name:
                assert got["writes"] == want[inner, op][1] == \
                    int(arr[f"{inner}_{op}_writes"][i])
