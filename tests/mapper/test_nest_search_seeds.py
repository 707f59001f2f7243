"""Seeding and drawing in the nest search (mapper.nest_space / mapper.nest_search): a
random draw picks a dimension's factorization uniformly (counted by hand), a mapping
round-trips through :meth:`NestSpace.genomes`, one outside the space is refused, a
seeded search is never worse than its seed (costed by the scalar reference), the chained
exact-then-imperfect search never worse than its exact half, and no search spends more
than its budget."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from dataflows.dataflow import MAP_DIMS
from dataflows.layer import Layer
from dataflows.nest_mapping import NestMapping
from mapper.nest_search import NestSearchError, NestSpace, search, search_factors
from sim.hier_cost import evaluate, evaluate_batch
from sim.hierarchy import Fanout, Hierarchy, StorageLevel

IX = {d: i for i, d in enumerate(MAP_DIMS)}
H = Hierarchy("h", (StorageLevel("dram"), StorageLevel("buf", capacity_bytes=1 << 20),
                    Fanout("pes", size=(16,), dims=(("C", "R", "K"),)),
                    StorageLevel("rf", capacity_bytes=1 << 10)))
LAYER = Layer("c", K=8, C=16, P=6, Q=6, R=3, S=3, pad_h=1, pad_w=1)
TIGHT = Hierarchy("t", (StorageLevel("dram"), StorageLevel("buf", capacity_bytes=2048),
                        Fanout("pes", size=(4,), dims=(("K", "Q"),)),
                        StorageLevel("rf", capacity_bytes=64)))
ODD = Layer("o", K=12, C=10, P=7, Q=14, R=3, S=3, pad_h=1, pad_w=1)


def test_random_factorization_is_uniform() -> None:
    """K 12 over 3 levels, no fanout may take it: 12 = 2^2 x 3 has C(4,2) x C(3,2) = 18
    ordered factorizations (hand count); 36,000 draws give each about 2,000 (standard
    deviation about 43; the bound is 6 of them)."""
    hier = Hierarchy("k", (StorageLevel("dram"), StorageLevel("buf", capacity_bytes=4096),
                           Fanout("pes", size=(4,), dims=(("C",),)),
                           StorageLevel("rf", capacity_bytes=64)))
    layer = Layer("g", K=12, C=1, P=1, Q=1, R=1, S=1)
    g = NestSpace(layer, hier).random(np.random.default_rng(5), 36_000)
    counts = Counter(tuple(row) for row in g.temporal[:, :, IX["K"]])
    assert len(counts) == 18
    assert all(np.prod(k) == 12 for k in counts)
    assert max(abs(c - 2000) for c in counts.values()) < 260


@pytest.mark.parametrize("imperfect", [False, True])
def test_genomes_round_trip(imperfect: bool) -> None:
    space = NestSpace(ODD, TIGHT, imperfect)
    g = space.random(np.random.default_rng(2), 200)
    back = space.genomes([space.to_mapping(g, i) for i in range(len(g))])
    assert (back.temporal == g.temporal).all() and (back.order == g.order).all()
    assert (back.axes == g.axes).all()


def test_genomes_refuse_a_mapping_outside_the_space() -> None:
    exact, loose = NestSpace(LAYER, H), NestSpace(LAYER, H, imperfect=True)
    ok = dict(temporal={"dram": {"K": 8}, "buf": {"C": 4, "P": 6, "Q": 6, "S": 3}},
              spatial={"pes": [{"C": 4, "R": 3}]})
    exact.genomes([NestMapping.build(H, **ok)])        # in both spaces
    loose.genomes([NestMapping.build(H, **ok)])
    wide = dict(ok, spatial={"pes": [{"C": 8, "R": 3}]})       # 24 PEs of 16
    short = dict(ok, temporal={"dram": {"K": 4}, "buf": {"C": 4, "P": 6, "Q": 6, "S": 3}})
    ceil = dict(ok, temporal={"dram": {"K": 3}, "buf": {"C": 4, "P": 6, "Q": 6, "S": 3}},
                spatial={"pes": [{"C": 4, "K": 3}]})           # K 9 >= 8, R uncovered
    for space, bad in ((exact, wide), (exact, short), (loose, short), (exact, ceil)):
        with pytest.raises(NestSearchError, match="is not in the"):
            space.genomes([NestMapping.build(H, **bad)])
    with pytest.raises(NestSearchError, match="is not in the"):      # P may not fan out
        exact.genomes([NestMapping.build(H, **dict(ok, spatial={"pes": [{"C": 4, "P": 2}]}))])


def test_seeded_search_is_never_worse_than_its_seed() -> None:
    first = search(ODD, TIGHT, "evolution", "energy", 6000, seed=1)
    again = search(ODD, TIGHT, "random", "energy", 40, seed=9, polish=False,
                   seeds=(first.mapping,))
    seed_cost = evaluate(ODD, TIGHT, first.mapping)
    assert seed_cost.legal
    assert again.score <= seed_cost.energy_pj * (1 + 1e-12)


def test_chained_search_is_never_worse_than_its_exact_half() -> None:
    for seed in (0, 1):
        both = search_factors(ODD, TIGHT, "evolution", "edp", 4000, seed=seed)
        exact = search(ODD, TIGHT, "evolution", "edp", 2000, seed=seed)
        assert both.score <= exact.score
        assert both.evaluations <= 4000


@pytest.mark.parametrize("budget", [1, 7, 333, 2500])
def test_search_spends_at_most_its_budget(budget: int) -> None:
    for imperfect in (False, True):
        r = search(ODD, TIGHT, "evolution", "energy", budget, population=100, seed=3,
                   imperfect=imperfect)
        assert 1 <= r.evaluations <= budget


def test_tight_space_still_finds_the_outermost_mapping() -> None:
    """A 6-byte buffer keeping every operand holds one weight, one input (8 bits) and
    one 32-bit partial sum: only tiles of one element fit, which uniform splits of a
    K 8 x C 8 x P 8 x Q 8 layer almost never are (NestSpace.fit shrinks the drawn
    rows to it). The first population holds NestSpace.outermost (every loop at dram),
    so 20 random evaluations find it."""
    hier = Hierarchy("tight", (StorageLevel("dram"),
                               StorageLevel("buf", capacity_bytes=6, word_bits=8),
                               Fanout("pes", size=(4,), dims=(("K",),))))
    layer = Layer("t", K=8, C=8, P=8, Q=8)
    space = NestSpace(layer, hier)
    rows = space.random(np.random.default_rng(0), 200)
    legal = evaluate_batch(layer, hier, rows.batch)["legal"]
    # by hand: only every loop at dram and no K unrolled fits (one element per tile);
    # NestSpace.fit moves every temporal loop out of buf, so exactly the rows that
    # unroll no K (the fanout is below buf: its children widen buf's tile) fit
    fits = (rows.temporal[:, 1] == 1).all(axis=1) & (rows.axes == 1).all(axis=(1, 2, 3))
    assert (legal == fits).all() and (legal == (rows.axes == 1).all(axis=(1, 2, 3))).all()
    r = search(layer, hier, "random", "energy", 20, population=20, seed=0, polish=False)
    outer = space.to_mapping(space.outermost(), 0)
    # the only legal form: every loop at dram, no K unrolled (a loop order may beat
    # the outermost mapping's, whose order is the default)
    assert r.mapping.temporal[1] == (1,) * len(MAP_DIMS)
    assert r.mapping.spatial == outer.spatial and r.mapping.temporal == outer.temporal
    assert evaluate(layer, hier, r.mapping).legal
    assert r.score <= evaluate(layer, hier, outer).energy_pj


def test_a_spent_time_budget_costs_one_chunk_of_the_first_population() -> None:
    """With its time budget already spent, a search costs the outermost row and one
    FIRST_CHUNK of random rows (the clock is checked between chunks), then stops: no
    evolution, descent or kicks; the result is the best of those rows."""
    from dataflows.zoo import load
    from mapper.nest_search import FIRST_CHUNK, search
    from sim.hierarchy import load_hierarchy
    hier = load_hierarchy(Path(__file__).resolve().parents[1] / "data" / "hierarchy"
                          / "edge_2core_4cluster_8x8.yaml")
    layer = next(x for x in load("resnet18").layers() if x.name == "layer2.0.conv1")
    r = search(layer, hier, max_evals=20000, seed=0, time_budget_s=1e-9)
    assert r.evaluations == 1 + FIRST_CHUNK
    full = search(layer, hier, max_evals=20000, seed=0)
    assert full.evaluations > 10 * r.evaluations and full.score <= r.score
