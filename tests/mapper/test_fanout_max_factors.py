"""A fanout's ``max_factors`` (sim.hierarchy_nodes.Fanout): per axis the largest factor a
dimension may be unrolled by -- a fixed-function array wired for K 32 x OX 8, ZigZag's
``spatial_mapping``. Checked: every row the mapper's space draws or moves to respects
the caps (NestMapping.check, the structural rule, run on each row: an independent check
of the space's own filters); a search on a capped 2-D array finds the best mapping the
caps allow, brute-forced over every spatial split; spec errors are one line."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from dataflows.dataflow import MAP_DIMS, map_bounds
from dataflows.layer import Layer
from dataflows.nest_mapping import MappingError, NestMapping
from mapper.nest_search import NestSpace, search
from sim.hier_cost import evaluate
from sim.hierarchy import Fanout, Hierarchy, StorageLevel
from sim.hierarchy_schema import hierarchy_file
from sim.spec import SpecError

IX = {d: i for i, d in enumerate(MAP_DIMS)}
CAPPED = Fanout("pe", size=(8, 8), dims=(("K", "C"), ("P", "Q")),
                max_factors=({"K": 2}, {"Q": 4}))
H = Hierarchy("capped", (StorageLevel("dram"), StorageLevel("buf", capacity_bytes=1 << 16),
                         CAPPED, StorageLevel("rf", capacity_bytes=1 << 10)))
LAYER = Layer("c", K=16, C=16, P=8, Q=8, R=3, S=3, pad_h=1, pad_w=1)


def _caps_hold(space: NestSpace, g) -> None:  # noqa: ANN001
    b = map_bounds(LAYER)
    for i in range(len(g)):
        m = space.to_mapping(g, i)
        m.check(H, b)                               # raises on a factor past its cap
        assert m.spatial[0][0][IX["K"]] <= 2 and m.spatial[0][1][IX["Q"]] <= 4


@pytest.mark.parametrize("imperfect", [False, True])
def test_every_drawn_or_moved_row_respects_the_caps(imperfect: bool) -> None:
    space = NestSpace(LAYER, H, imperfect)
    rng = np.random.default_rng(0)
    pop = space.random(rng, 500)
    _caps_hold(space, pop)
    _caps_hold(space, space.mutate(rng, pop))
    _caps_hold(space, space.crossover(rng, pop, space.random(rng, 500)))
    for i in range(5):
        _caps_hold(space, space.neighbours(pop, i))
        _caps_hold(space, space.spatial_trades(pop, i))
        for d in range(len(MAP_DIMS)):
            _caps_hold(space, space.resplits(pop, i, d))
    # without caps the same draws do unroll K and Q beyond them (the caps bind)
    free = NestSpace(LAYER, Hierarchy("free", tuple(
        Fanout("pe", size=(8, 8), dims=(("K", "C"), ("P", "Q"))) if n is CAPPED else n
        for n in H.nodes)), imperfect).random(rng, 500)
    assert (free.axes[:, 0, 0, IX["K"]] > 2).any() and (free.axes[:, 0, 1, IX["Q"]] > 4).any()


def test_the_search_finds_the_best_capped_spatial_split() -> None:
    """The search's best obeys the caps and is no worse than every row of a brute-force
    enumeration (independent of the search): each exact spatial split the caps allow (K
    <= 2 with C on the rows, P with Q <= 4 on the columns, within 8 each), the rest of
    every bound at dram -- all of them rows of the capped space."""
    r = search(LAYER, H, max_evals=6000, seed=0)
    m = r.mapping
    m.check(H, map_bounds(LAYER))
    assert m.spatial[0][0][IX["K"]] <= 2 and m.spatial[0][1][IX["Q"]] <= 4
    best = np.inf
    b = map_bounds(LAYER)
    divs = {d: [v for v in range(1, 9) if b[d] % v == 0] for d in ("K", "C", "P", "Q")}
    for k, c, p, q in itertools.product(divs["K"], divs["C"], divs["P"], divs["Q"]):
        if k > 2 or q > 4 or k * c > 8 or p * q > 8:
            continue
        rows = [1] * len(MAP_DIMS)
        cols = [1] * len(MAP_DIMS)
        rows[IX["K"]], rows[IX["C"]], cols[IX["P"]], cols[IX["Q"]] = k, c, p, q
        t_dram = [b[d] // (rows[i] * cols[i]) for i, d in enumerate(MAP_DIMS)]
        mp = NestMapping(temporal=(tuple(t_dram), (1,) * 8, (1,) * 8),
                         order=(tuple(MAP_DIMS),) * 3,
                         spatial=((tuple(rows), tuple(cols)),))
        res = evaluate(LAYER, H, mp)
        if res.legal:
            best = min(best, res.energy_pj)
    assert np.isfinite(best) and r.score <= best


def test_a_mapping_past_a_cap_is_refused() -> None:
    b = map_bounds(LAYER)
    rows = [1] * 8
    rows[IX["K"]] = 4
    t = [b[d] for d in MAP_DIMS]
    t[IX["K"]] //= 4
    m = NestMapping(temporal=(tuple(t), (1,) * 8, (1,) * 8), order=(tuple(MAP_DIMS),) * 3,
                    spatial=((tuple(rows), (1,) * 8),))
    with pytest.raises(MappingError, match=r"unrolls K by 4 > its max_factors 2"):
        m.check(H, b)


def _spec(fanout: dict) -> dict:
    return {"hierarchy": {"name": "x", "levels": [
        {"storage": {"name": "dram", "keeps": ["weight", "input", "output"]}},
        {"fanout": {"name": "pe", "size": [8, 8], "dims": [["K", "C"], ["P", "Q"]]} | fanout},
        {"storage": {"name": "rf", "capacity_bytes": 1024,
                     "keeps": ["weight", "input", "output"]}}]}}


def test_round_trip_and_canonical_form() -> None:
    h = hierarchy_file(_spec({"max_factors": [{"K": 2}, {"Q": 8}]}), "t.yaml")
    fo = h.fanouts[0]
    assert fo.max_factors == ((("K", 2),), ())          # Q 8 fills its axis: no cap
    assert fo.cap(0, "K") == 2 and fo.cap(0, "C") == 8 and fo.cap(1, "Q") == 8
    again = hierarchy_file(h.to_dict(), "again.yaml")
    assert again.fanouts[0] == fo


@pytest.mark.parametrize("caps, match", [
    ({"max_factors": [{"R": 2}, {}]}, "caps 'R', which axis 0 does not unroll"),
    ({"max_factors": [{"K": 0}, {}]}, "max_factors[0].K must be a positive integer"),
    ({"max_factors": {"K": 2}}, "one {dim: n} mapping per axis (2; 1-D: {K: 8})"),
    ({"max_factors": [{"K": 2}, {}], "min_usage": 1}, "max_factors with a min_usage is not"),
    ({"max_factors": ["K", "Q"]}, "max_factors[0] must map dimensions to factors"),
], ids=["other_dim", "zero", "one_for_2d", "with_min_usage", "not_a_mapping"])
def test_bad_caps_are_one_line(caps: dict, match: str) -> None:
    with pytest.raises(SpecError) as err:
        hierarchy_file(_spec(caps), "bad.yaml")
    assert match in str(err.value) and "bad.yaml" in str(err.value) and \
        "\n" not in str(err.value)
