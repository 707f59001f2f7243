"""mapper.nest_search over sim.hier_cost (kept beside the cost-model tests it drives):
drawn mappings are legal, the search is seeded and finds no worse than its first
population, and on a tiny space it reaches the exhaustive optimum."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from dataflows.dataflow import MAP_DIMS, map_bounds
from dataflows.layer import Layer
from dataflows.nest_mapping import NestMapping
from mapper.nest_search import NestSearchError, NestSpace, search
from sim.hier_cost import evaluate
from sim.hierarchy import Fanout, Hierarchy, StorageLevel, load_hierarchy
from tests.sim.test_hierarchy import EDGE

TINY_H = Hierarchy("tiny", (StorageLevel("dram"),
                            StorageLevel("buf", capacity_bytes=64, word_bits=8),
                            Fanout("pes", size=(2,), dims=(("K",),))))
TINY = Layer("tiny", K=4, C=2, P=2)


@pytest.mark.parametrize("imperfect", [False, True])
def test_drawn_mappings_are_legal(imperfect: bool) -> None:
    h = load_hierarchy(EDGE)
    layer = Layer("c", K=64, C=32, P=14, Q=14, R=3, S=3, stride_h=2, pad_h=1, pad_w=1)
    space = NestSpace(layer, h, imperfect)
    g = space.random(np.random.default_rng(3), 400)
    for i in range(len(g)):
        space.to_mapping(g, i).check(h, map_bounds(layer))
    kids = space.mutate(np.random.default_rng(4), g)
    for i in range(len(kids)):
        space.to_mapping(kids, i).check(h, map_bounds(layer))


def test_search_is_seeded_and_improves() -> None:
    h = load_hierarchy(EDGE)
    layer = Layer("c", K=64, C=32, P=14, Q=14, R=3, S=3, pad_h=1, pad_w=1)
    a = search(layer, h, max_evals=3000, population=500, seed=7)
    b = search(layer, h, max_evals=3000, population=500, seed=7)
    assert a == b
    first = search(layer, h, strategy="random", max_evals=500, population=500, seed=7)
    assert a.score <= first.score
    r = evaluate(layer, h, a.mapping)
    assert r.legal and r.energy_pj == pytest.approx(a.score)


def test_evolution_reaches_the_exhaustive_optimum() -> None:
    """Every perfect nest mapping of a 4x2x2 GEMM on dram/buf/2 PEs, by enumeration."""
    best = np.inf
    b = map_bounds(TINY)
    splits = {d: [(t0, t1, s) for t0 in range(1, b[d] + 1) for t1 in range(1, b[d] + 1)
                  for s in ((1, 2) if d == "K" else (1,)) if t0 * t1 * s == b[d]]
              for d in MAP_DIMS}
    for combo in itertools.product(*splits.values()):
        for order in itertools.permutations(("K", "C", "P")):
            m = NestMapping(temporal=(tuple(c[0] for c in combo), tuple(c[1] for c in combo)),
                            order=(tuple(order) + tuple(d for d in MAP_DIMS if d not in order),
                                   tuple(MAP_DIMS)),
                            spatial=(((tuple(c[2] for c in combo)),),))
            r = evaluate(TINY, TINY_H, m)
            if r.legal:
                best = min(best, r.energy_pj)
    got = search(TINY, TINY_H, max_evals=4000, population=200, seed=1)
    assert got.score == pytest.approx(best)


def test_bad_arguments() -> None:
    with pytest.raises(NestSearchError, match="strategy must be one of"):
        search(TINY, TINY_H, strategy="bayes")
    with pytest.raises(NestSearchError, match="objective must be one of"):
        search(TINY, TINY_H, objective="area")
    with pytest.raises(NestSearchError, match="no legal mapping"):
        tiny = Hierarchy("t", (StorageLevel("dram"), StorageLevel("b", capacity_bytes=1,
                                                                  word_bits=8)))
        search(Layer("x", K=4, C=4), tiny, max_evals=50, population=10)
