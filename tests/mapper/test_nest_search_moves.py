"""The nest search's large neighbourhoods (mapper.nest_search) and its quality against a
peer: every move keeps the mapping structurally legal and the bounds covered, each
neighbourhood holds what its docstring says (counted by hand), and on AccelForge
1.0.467's recorded optima (tests/data/accelforge_1.0.467/ws_16x16.json, its FFM mapper)
the search lands within 2 % on every layer and every seed tried."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from dataflows.dataflow import MAP_DIMS, map_bounds
from dataflows.layer import Layer
from mapper.accelforge_import import load_accelforge
from mapper.nest_search import NestGenomes, NestSpace, search_factors
from sim.hierarchy import Fanout, Hierarchy, StorageLevel
from tests.mapper.test_accelforge_import import layer_of

AF = Path(__file__).resolve().parents[1] / "data" / "accelforge_1.0.467"
ND = len(MAP_DIMS)
IX = {d: i for i, d in enumerate(MAP_DIMS)}

H = Hierarchy("h", (StorageLevel("dram"), StorageLevel("buf", capacity_bytes=1 << 20),
                    Fanout("pes", size=(16,), dims=(("C", "R", "K"),)),
                    StorageLevel("rf", capacity_bytes=1 << 10)))
LAYER = Layer("c", K=8, C=16, P=6, Q=6, R=3, S=3, pad_h=1, pad_w=1)


def _row(space: NestSpace, temporal: dict[str, dict[str, int]], axis: dict[str, int],
         order: list[str] | None = None) -> NestGenomes:
    t = np.ones((1, 3, ND), dtype=np.int64)
    for lv, name in enumerate(("dram", "buf", "rf")):
        for d, v in temporal.get(name, {}).items():
            t[0, lv, IX[d]] = v
    ax = np.ones((1, 1, 2, ND), dtype=np.int64)
    for d, v in axis.items():
        ax[0, 0, 0, IX[d]] = v
    o = np.array([[[IX[d] for d in (order or MAP_DIMS)]] * 3])
    return NestGenomes(t, o, ax)


#: C 4 x R 3 on the 16 PEs (12 busy); the rest of every bound at dram or buf.
BASE = {"dram": {"K": 8}, "buf": {"C": 4, "P": 6, "Q": 6, "S": 3}}


def _covered(space: NestSpace, g: NestGenomes) -> None:
    b = map_bounds(LAYER)
    for i in range(len(g)):
        m = space.to_mapping(g, i)
        m.check(H, b)
        for d in MAP_DIMS:     # perfect factors: every bound covered exactly
            assert math.prod(m.temporal[lv][IX[d]] for lv in range(3)) * \
                m.spatial_product(0)[IX[d]] == b[d]


def test_spatial_trade_fills_the_axis() -> None:
    """R 3 x C 4 -> C 16 needs R off the axis and C x 4 onto it together: present."""
    space = NestSpace(LAYER, H)
    g = _row(space, BASE, {"C": 4, "R": 3})
    nb = space.spatial_trades(g, 0)
    _covered(space, nb)
    axes = {tuple(int(v) for v in nb.axes[i, 0, 0]) for i in range(len(nb))}
    want = [1] * ND
    want[IX["C"]] = 16
    assert tuple(want) in axes
    # a single re-split of C cannot: C 16 with R 3 overfills the 16 PEs
    rs = space.resplits(g, 0, IX["C"])
    assert tuple(want) not in {tuple(int(v) for v in rs.axes[i, 0, 0]) for i in range(len(rs))}


def test_temporal_trade_counts() -> None:
    """Moves of a prime p of d from level x to y with a divisor q > 1 of e's factor at y
    from y to x, counted by hand on BASE (rf holds only 1s, so it gives no q):
    K (dram 8, p 2) -> buf, q from C 4 (2), P 6 (3), Q 6 (3), S 3 (1): 9;
    C (buf 4, p 2) -> dram, q from K 8 (3): 3; P (buf 6, p 2 or 3) -> dram: 2 x 3;
    Q likewise 6; S (buf 3) -> dram: 3. Total 27."""
    space = NestSpace(LAYER, H)
    g = _row(space, BASE, {"C": 4, "R": 3})
    nb = space.temporal_trades(g, 0)
    _covered(space, nb)
    assert len(nb) == 27


def test_resplits_cover_every_split() -> None:
    """Re-splits of K (bound 8, on the PE axis with 4 of 16 free: 1, 2 or 4 there):
    factorizations of 8, 4, 2 over 3 levels: 10 + 6 + 3 = 19."""
    space = NestSpace(LAYER, H)
    g = _row(space, {"dram": {"K": 8}, "buf": {"C": 4, "P": 6, "Q": 6, "R": 3, "S": 3}},
             {"C": 4})
    nb = space.resplits(g, 0, IX["K"])
    _covered(space, nb)
    assert len(nb) == 19
    others = [j for j in range(ND) if j != IX["K"]]
    assert (nb.temporal[:, :, others] == g.temporal[0][:, others]).all()


def test_reorders_are_the_permutations_of_busy_loops() -> None:
    space = NestSpace(LAYER, H)
    g = _row(space, BASE, {"C": 4, "R": 3})
    nb = space.reorders(g, 0, 1)            # buf: C, P, Q, S busy -> 4! orders
    assert len(nb) == 24
    assert len({tuple(nb.order[i, 1]) for i in range(len(nb))}) == 24
    idle = [j for j in range(ND) if g.temporal[0, 1, g.order[0, 1, j]] == 1]
    assert (nb.order[:, 1, idle] == g.order[0, 1, idle]).all()


@pytest.mark.parametrize("seed", [0, 3])
def test_within_two_percent_of_accelforge(seed: int) -> None:
    """coforge's search (``search_factors``, 20,000 evaluations: exact factors, then
    imperfect ones seeded with the exact best; the window input rule) vs AccelForge's
    recorded optimum per layer: within 2 %. And never below it with exact factors:
    the import carries AccelForge's semantics (partial-sum counting, ``reuse``,
    ``min_usage``), so coforge's exact-factor space lies inside the space AccelForge's
    FFM searches exhaustively; a lower figure would mean coforge's space or model holds
    something AccelForge's does not (as before ``min_usage`` was carried: 3 % lower on
    conv3_1b with 15 of 16 columns)."""
    conv = load_accelforge(AF / "ws_16x16.yaml")
    for rec in json.loads((AF / "ws_16x16.json").read_text())["layers"]:
        r = search_factors(layer_of(rec), conv.hierarchy, "evolution", "energy", 20_000,
                           seed=seed, input_reuse="window")
        assert r.score <= 1.02 * rec["energy"], rec["layer"]
        assert r.exact.score >= rec["energy"] * (1 - 1e-7), rec["layer"]


@pytest.mark.parametrize("seed", [1, 2])
def test_small_budget_within_two_percent_of_accelforge(seed: int) -> None:
    """A quarter of the default budget (5,000 evaluations) still lands within 2 % of
    AccelForge's recorded optimum on every ws_16x16 layer: the spatial factors are drawn
    to meet the arrays' ``min_usage: 1`` (mapper.nest_usage). Uniform draws met it on
    0.2-1 % of rows, and this budget then ended 42-52 % above the optimum."""
    conv = load_accelforge(AF / "ws_16x16.yaml")
    for rec in json.loads((AF / "ws_16x16.json").read_text())["layers"]:
        r = search_factors(layer_of(rec), conv.hierarchy, "evolution", "energy", 5_000,
                           seed=seed, input_reuse="window")
        assert r.score <= 1.02 * rec["energy"], rec["layer"]
