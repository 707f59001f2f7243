"""mapper.nest_draw_jit's compiled draws equal the numpy forms of NestSpace.random,
mutate and crossover they replace (kept below as the references: mapper/nest_space.py
at a2a4f59 and b95e207): the same rows
and the generator left in the same state, on random hierarchies (min_usage fanouts
among them), exact and imperfect factors, and on the shipped AccelForge (min_usage),
ZigZag (max_factors) and 5-level hierarchies with ResNet-50 layers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from dataflows import zoo
from dataflows.layer import Layer
from mapper.nest_genomes import NestGenomes
from mapper.nest_space import ND, NestSpace
from mapper.nest_usage import repair, short
from sim.hierarchy import Hierarchy
from tests.sim.test_hierarchy_props import SETTINGS, hierarchies, layers

DATA = Path(__file__).resolve().parents[1] / "data"


def _ref_random(self: NestSpace, rng: np.random.Generator, n: int,
                fit: bool = True) -> NestGenomes:
    """NestSpace.random's numpy form before it was compiled (a2a4f59), the reference."""
    L, F = len(self.hier.levels), len(self.hier.fanouts)
    tslots, sslots = self._slots
    temporal = np.ones((n, L, ND), dtype=np.int64)
    axes = np.ones((n, F, 2, ND), dtype=np.int64)
    room = {(f, a): np.full(n, size, dtype=np.int64) for f, fo in
            enumerate(self.hier.fanouts) for a, size in enumerate(fo.size)}
    for i in rng.permutation(ND):
        b = int(self.bounds[i])
        left = np.full(n, b, dtype=np.int64)
        sp = np.ones(n, dtype=np.int64)
        for (f, a, _), cand in zip(sslots[i], self._spatial_values[i]):
            fits = np.searchsorted(cand, room[f, a], side="right")
            v = cand[(rng.random(n) * fits).astype(np.int64)]
            ok = (left % v == 0) if not self.imperfect else (sp * v <= b)
            v = np.where(ok, v, 1)
            axes[:, f, a, i] = v
            room[f, a] = room[f, a] // v
            sp = sp * v
            if not self.imperfect:
                left = left // v
    if self._has_usage:
        needs, how = self._usage
        repair(*self._usage_tables, needs, how, self.bounds, self.imperfect, rng, axes)
    sp_all = axes.prod(axis=(1, 2))
    for i in range(ND):
        if tslots[i]:
            temporal[:, tslots[i], i] = self._picks(rng, i, -(-int(self.bounds[i])
                                                             // sp_all[:, i]))
    order = rng.permuted(np.broadcast_to(np.arange(ND), (n, L, ND)).copy(), axis=2)
    g = NestGenomes(temporal, order, axes)
    if fit:
        self.fit(rng, g)
    if self.imperfect:
        self._fix_idle(temporal, axes)
    over = self._over(axes)
    if over.any():
        again = _ref_random(self, rng, int(over.sum()), fit)
        g.temporal[over], g.order[over], g.axes[over] = \
            again.temporal, again.order, again.axes
    return g


def _same(space: NestSpace, seed: int, n: int, fit: bool) -> None:
    a, b = np.random.default_rng(seed), np.random.default_rng(seed)
    mine, ref = space.random(a, n, fit), _ref_random(space, b, n, fit)
    for x, y in ((mine.temporal, ref.temporal), (mine.order, ref.order),
                 (mine.axes, ref.axes)):
        assert np.array_equal(x, y)
    assert a.bit_generator.state == b.bit_generator.state


@SETTINGS
@given(hierarchies(), layers(), st.booleans(), st.booleans(), st.integers(0, 2**31))
def test_random_equals_numpy_form(hier: Hierarchy, layer: Layer, imperfect: bool,
                                  fit: bool, seed: int) -> None:
    _same(NestSpace(layer, hier, imperfect), seed, 37, fit)


def test_random_equals_numpy_form_on_shipped_hierarchies() -> None:
    import sys
    sys.path.insert(0, str(DATA.parents[1] / "benchmarks"))
    from mapper.accelforge_import import load_accelforge
    from mapper.zigzag_import import load_zigzag_hierarchy
    from sim.hierarchy_schema import load_hierarchy
    net = zoo.load("resnet50")
    picks = [net[x] for x in ("conv1", "layer1.0.conv1", "layer2.0.conv2", "layer3.1.conv3",
                              "fc")]
    hiers = [load_accelforge(DATA / "accelforge_1.0.467" / f"{x}.yaml").hierarchy
             for x in ("ws_16x16", "arch_nvdla", "arch_eyeriss")]
    hiers += [load_zigzag_hierarchy(DATA / "zigzag" / f"{x}.yaml",
                                    DATA / "zigzag" / f"{x}_mapping.yaml").hierarchy
              for x in ("edge_tpu_like", "eyeriss_like")]
    hiers.append(load_hierarchy(DATA / "hierarchy" / "edge_2core_4cluster_8x8.yaml"))
    usage = 0
    for k, hier in enumerate(hiers):
        for j, layer in enumerate(picks):
            for imperfect in (False, True):
                space = NestSpace(layer, hier, imperfect)
                usage += space._has_usage
                _same(space, 100 * k + 10 * j + imperfect, 300, True)
                _same_moves(space, 100 * k + 10 * j + imperfect, 200)
    assert usage >= 10                      # the min_usage repair was exercised


def _ref_mutate(self: NestSpace, rng: np.random.Generator, parents: NestGenomes) -> NestGenomes:
    """NestSpace.mutate's numpy form before it was compiled (b95e207), the reference."""
    n = len(parents)
    fresh = self.random(rng, n, fit=False)
    t, o, ax = parents.temporal.copy(), parents.order.copy(), parents.axes.copy()
    dim = rng.integers(0, ND, n)
    r = np.arange(n)
    t[r, :, dim] = fresh.temporal[r, :, dim]
    ax[r, :, :, dim] = fresh.axes[r, :, :, dim]
    over = self._over(ax)
    t[over], ax[over] = fresh.temporal[over], fresh.axes[over]
    self._keep_usage(rng, parents.axes, t, ax, dim)
    swap = np.flatnonzero(rng.random(n) < 0.5)
    lv = rng.integers(0, t.shape[1], swap.size)
    a, b = rng.integers(0, ND, swap.size), rng.integers(0, ND, swap.size)
    va = o[swap, lv, a].copy()
    o[swap, lv, a] = o[swap, lv, b]
    o[swap, lv, b] = va
    return NestGenomes(t, o, ax)


def _ref_crossover(self: NestSpace, rng: np.random.Generator, a: NestGenomes,
                   b: NestGenomes) -> NestGenomes:
    """NestSpace.crossover's numpy form before it was compiled (b95e207), the reference."""
    n = len(a)
    pick = rng.random((n, ND)) < 0.5
    t = np.where(pick[:, None, :], a.temporal, b.temporal)
    ax = np.where(pick[:, None, None, :], a.axes, b.axes)
    over = self._over(ax)
    if self._has_usage:
        over |= short(self._usage[0], ax) & ~short(self._usage[0], a.axes)
    t[over], ax[over] = a.temporal[over], a.axes[over]
    order = np.where((rng.random(n) < 0.5)[:, None, None], a.order, b.order)
    g = NestGenomes(t, order, ax)
    if self.imperfect:
        self._fix_idle(g.temporal, g.axes)
    return g


def _same_moves(space: NestSpace, seed: int, n: int) -> None:
    pop = space.random(np.random.default_rng(seed + 1), 2 * n)
    one, two = pop.take(np.arange(n)), pop.take(np.arange(n, 2 * n))
    for mine, ref in ((lambda rng: space.mutate(rng, space.crossover(rng, one, two)),
                       lambda rng: _ref_mutate(space, rng, _ref_crossover(space, rng, one,
                                                                          two))),):
        a, b = np.random.default_rng(seed), np.random.default_rng(seed)
        x, y = mine(a), ref(b)
        for u, v in ((x.temporal, y.temporal), (x.order, y.order), (x.axes, y.axes)):
            assert np.array_equal(u, v)
        assert a.bit_generator.state == b.bit_generator.state
    # the search's form: crossover of rows picked by index, no copies
    ia, ib = np.arange(2 * n)[::-2].copy(), np.arange(2 * n)[::2].copy()
    a, b = np.random.default_rng(seed), np.random.default_rng(seed)
    x, y = space.cross(a, pop, ia, ib), _ref_crossover(space, b, pop.take(ia), pop.take(ib))
    assert np.array_equal(x.temporal, y.temporal) and np.array_equal(x.axes, y.axes)
    assert np.array_equal(x.order, y.order)
    assert a.bit_generator.state == b.bit_generator.state


@SETTINGS
@given(hierarchies(), layers(), st.booleans(), st.integers(0, 2**31))
def test_moves_equal_numpy_form(hier: Hierarchy, layer: Layer, imperfect: bool,
                                seed: int) -> None:
    _same_moves(NestSpace(layer, hier, imperfect), seed, 29)
