"""mapper.nest_descent_jit's compiled descent equals the Python loop it replaces (kept
below as the reference: mapper/nest_search.py at 5e645c5, over NestSpace's own
neighbourhood methods and the batch scorer): the same end points, scores and evaluation
counts, from several starts in lockstep, under each objective, with budgets that run out
mid-round, on random hierarchies (min_usage fanouts among them), exact and imperfect
factors, and on the shipped AccelForge, ZigZag and 5-level hierarchies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dataflows import zoo
from dataflows.layer import Layer
from mapper.nest_genomes import NestGenomes
from mapper.nest_search import _descend, _score
from mapper.nest_space import ND, NestSpace
from sim.hier_cost_jit import cost_consts, scorer
from sim.hierarchy import Hierarchy
from tests.sim.test_hierarchy_props import SETTINGS, hierarchies, layers

DATA = Path(__file__).resolve().parents[1] / "data"


def _ref_hoods(space: NestSpace, levels: int) -> list:
    hoods = [lambda g: space.neighbours(g, 0), lambda g: space.temporal_trades(g, 0),
             lambda g: space.spatial_trades(g, 0)]
    hoods += [lambda g, lv=lv: space.reorders(g, 0, lv) for lv in range(levels)]
    hoods += [lambda g, d=d: space.resplits(g, 0, d) for d in range(ND) if space.bounds[d] > 1]
    return hoods


def _ref_descend(space, cost, objective, starts, budget):
    """nest_search._descend before it was compiled (5e645c5), the reference."""
    if not starts:
        return [], 0
    hoods = _ref_hoods(space, starts[0][1].temporal.shape[1])
    pts = list(starts)
    stale = [0] * len(pts)
    spent, k = 0, 0
    while spent < budget:
        live = [j for j in range(len(pts)) if stale[j] < len(hoods)]
        if not live:
            break
        parts = [hoods[k % len(hoods)](pts[j][1]) for j in live]
        k += 1
        total = sum(len(p) for p in parts)
        if total > budget - spent:
            q, r = divmod(budget - spent, len(live))
            parts = [p.take(np.arange(min(len(p), q + (j < r)))) for j, p in enumerate(parts)]
        sizes = [len(p) for p in parts]
        if not sum(sizes):
            for j in live:
                stale[j] += 1
            continue
        ns = _score(cost(NestGenomes.concat_all(parts).batch), objective)
        spent += len(ns)
        lo = 0
        for j, part, n in zip(live, parts, sizes):
            if n == 0:
                stale[j] += 1
                continue
            i = lo + int(np.argmin(ns[lo:lo + n]))
            if ns[i] < pts[j][0]:
                pts[j], stale[j] = (float(ns[i]), part.take(np.array([i - lo]))), 0
            else:
                stale[j] += 1
            lo += n
    return pts, spent


def _same(space: NestSpace, seed: int, objective: str, budget: int, starts: int = 3) -> int:
    g = space.random(np.random.default_rng(seed), starts)
    cost = scorer(space.layer, space.hier, True)
    s = _score(cost(g.batch), objective)
    pts = [(float(s[j]), g.take(np.array([j]))) for j in range(starts)]
    mine, n1 = _descend(space, cost_consts(space.layer, space.hier, True), objective, pts,
                        budget)
    ref, n2 = _ref_descend(space, cost, objective, pts, budget)
    assert n1 == n2
    for (a, x), (b, y) in zip(mine, ref):
        assert a == b or (np.isinf(a) and np.isinf(b))
        for u, v in ((x.temporal, y.temporal), (x.order, y.order), (x.axes, y.axes)):
            assert np.array_equal(u, v)
    return n1


@SETTINGS
@given(hierarchies(), layers(), st.booleans(), st.sampled_from(["energy", "cycles", "edp"]),
       st.sampled_from([50, 400, 100_000]), st.integers(0, 2**31))
def test_descent_equals_reference(hier: Hierarchy, layer: Layer, imperfect: bool,
                                  objective: str, budget: int, seed: int) -> None:
    _same(NestSpace(layer, hier, imperfect), seed, objective, budget)


def test_descent_equals_reference_on_shipped_hierarchies() -> None:
    from mapper.accelforge_import import load_accelforge
    from mapper.zigzag_import import load_zigzag_hierarchy
    from sim.hierarchy_schema import load_hierarchy
    net = zoo.load("resnet50")
    picks = [net[x] for x in ("layer1.0.conv2", "layer3.1.conv3")]
    hiers = [load_accelforge(DATA / "accelforge_1.0.467" / "ws_16x16.yaml").hierarchy,
             load_zigzag_hierarchy(DATA / "zigzag" / "eyeriss_like.yaml",
                                   DATA / "zigzag" / "eyeriss_like_mapping.yaml").hierarchy,
             load_hierarchy(DATA / "hierarchy" / "edge_2core_4cluster_8x8.yaml")]
    spent = 0
    for k, hier in enumerate(hiers):
        for j, layer in enumerate(picks):
            for imperfect in (False, True):
                spent += _same(NestSpace(layer, hier, imperfect), 10 * k + j, "edp", 3000)
    assert spent > 5000                     # descents that moved, not empty cycles


def test_empty_starts() -> None:
    space = NestSpace(Layer("x", K=4, C=4), hierarchies_example())
    assert _descend(space, cost_consts(space.layer, space.hier, True), "energy", [], 10) \
        == ([], 0)


def hierarchies_example() -> Hierarchy:
    from sim.hierarchy import Fanout, StorageLevel
    return Hierarchy("t", (StorageLevel("dram"), Fanout("f", size=(2,), dims=(("K",),)),
                           StorageLevel("buf", capacity_bytes=1024)))


@pytest.mark.parametrize("objective", ["energy", "cycles", "edp"])
def test_objectives_match_score(objective: str) -> None:
    """The kernel's scores are _score's (one start, a budget of one round)."""
    space = NestSpace(Layer("x", K=8, C=4, P=4, Q=4), hierarchies_example())
    _same(space, 1, objective, 10**6, starts=2)
