"""The spatial factors that meet a fanout's ``min_usage`` (mapper.nest_usage), checked
against brute-force enumeration, and the space's draws and moves that use them."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from dataflows.dataflow import MAP_DIMS, map_bounds
from dataflows.layer import Layer
from mapper.nest_search import search
from mapper.nest_space import NestSpace
from mapper.nest_usage import short, usage_table
from sim.hier_cost import evaluate_batch
from sim.hier_plan import usage_plan
from sim.hierarchy import Fanout, Hierarchy, StorageLevel

ARRAY = Fanout("pe", size=(4, 6), dims=(("K",), ("C", "R", "S")), multicast=("input",),
               min_usage=1.0)
HIER = Hierarchy("arr", (StorageLevel("dram"),
                         StorageLevel("buf", capacity_bytes=4096, word_bits=8), ARRAY,
                         StorageLevel("reg", capacity_bytes=64, word_bits=8)))


def brute(fo: Fanout, bounds: tuple[int, ...], imperfect: bool, need: int) -> set:
    """Every assignment by itertools.product over all values of every (axis, dim) slot."""
    slots = [(a, i) for a, dims in enumerate(fo.dims) for i, d in enumerate(MAP_DIMS)
             if d in dims and bounds[i] > 1]
    vals = [range(1, min(bounds[i], fo.size[a]) + 1) for a, i in slots]
    out = set()
    for pick in itertools.product(*vals):
        axis = [1] * len(fo.size)
        dim = [1] * len(MAP_DIMS)
        for (a, i), v in zip(slots, pick):
            axis[a] *= v
            dim[i] *= v
        if any(x > n for x, n in zip(axis, fo.size)) or math.prod(pick) < need:
            continue
        if any((dim[i] > bounds[i]) if imperfect else (bounds[i] % dim[i])
               for i in range(len(MAP_DIMS))):
            continue
        row = np.ones((2, len(MAP_DIMS)), dtype=np.int64)
        for (a, i), v in zip(slots, pick):
            row[a, i] = v
        out.add(row.tobytes())
    return out


@pytest.mark.parametrize("imperfect", [False, True])
@pytest.mark.parametrize("shape,need", [((12, 6, 3, 3), 24), ((7, 10, 1, 1), 20),
                                        ((8, 4, 3, 1), 12), ((3, 5, 1, 1), 1)])
def test_usage_table_is_every_assignment_that_meets_the_need(imperfect, shape, need):
    K, C, R, S = shape
    layer = Layer("t", K=K, C=C, P=5, Q=5, R=R, S=S)
    b = map_bounds(layer)
    bounds = tuple(b[d] for d in MAP_DIMS)
    tab = usage_table(HIER, 0, bounds, imperfect, need)
    got = {row.tobytes() for row in tab}
    assert len(got) == len(tab)                          # no row twice
    assert got == brute(ARRAY, bounds, imperfect, need)


def test_a_need_nothing_reaches_gives_an_empty_table():
    bounds = tuple(map_bounds(Layer("t", K=3, C=5, P=4, Q=4))[d] for d in MAP_DIMS)
    assert usage_table(HIER, 0, bounds, False, 24).shape == (0, 2, len(MAP_DIMS))


@pytest.mark.parametrize("imperfect", [False, True])
@pytest.mark.parametrize("shape", [(8, 12, 1, 1), (12, 6, 3, 3), (5, 7, 1, 1), (16, 3, 3, 3)])
def test_random_rows_meet_the_usage_need_the_cost_model_applies(imperfect, shape):
    """Every drawn row unrolls at least what sim.hier_plan.usage_plan requires (the cost
    model's usage rule; where exact factors cannot fill the array that is the most they
    can), so the rows the cost model calls illegal are illegal for capacity alone."""
    K, C, R, S = shape
    layer = Layer("t", K=K, C=C, P=6, Q=6, R=R, S=S)
    space = NestSpace(layer, HIER, imperfect)
    rows = space.random(np.random.default_rng(1), 400)
    needs = usage_plan(HIER, tuple(int(v) for v in space.bounds))[0]
    assert not short(needs, rows.axes).any()
    assert (rows.axes[:, 0].prod(axis=(1, 2)) >= needs[0]).all()
    cover = rows.temporal.prod(axis=1) * rows.axes.prod(axis=(1, 2))
    assert ((cover >= space.bounds) if imperfect else (cover == space.bounds)).all()
    # the cost model agrees: no row is illegal for usage (capacity would not matter
    # with buffers this large)
    big = Hierarchy("big", (StorageLevel("dram"),
                            StorageLevel("buf", capacity_bytes=1 << 30, word_bits=8), ARRAY,
                            StorageLevel("reg", capacity_bytes=1 << 20, word_bits=8)))
    assert evaluate_batch(layer, big, rows.batch, detail=False)["legal"].all()


def test_moves_keep_or_drop_rows_short_of_the_need():
    layer = Layer("t", K=8, C=12, P=6, Q=6, R=3, S=3)
    space = NestSpace(layer, HIER)
    needs = usage_plan(HIER, tuple(int(v) for v in space.bounds))[0]
    rng = np.random.default_rng(2)
    pop = space.random(rng, 300)
    kids = space.mutate(rng, space.crossover(rng, pop, pop.take(rng.permutation(300))))
    assert not short(needs, kids.axes).any()
    g = pop.take(np.array([0]))
    for hood in (space.neighbours(g, 0), space.spatial_trades(g, 0),
                 *(space.resplits(g, 0, d) for d in range(len(MAP_DIMS)))):
        assert not short(needs, hood.axes).any()


def test_search_on_a_full_array_need_finds_a_legal_mapping_in_a_small_budget():
    """K 8 x C 12 x R 3 x S 3 on a 4 x 6 array that must be full: K 4 (or 8/2 ...) on
    the rows and C x R x S = 6 on the columns. Uniform spatial draws hit that rarely;
    drawn from the usage table every first-population row does."""
    layer = Layer("t", K=8, C=12, P=6, Q=6, R=3, S=3)
    r = search(layer, HIER, "random", "energy", 10, population=10, seed=0, polish=False)
    assert math.prod(math.prod(a) for a in r.mapping.spatial[0]) == 24
