"""mapper.nest_draw_jit's compiled draws: NestSpace.random and crossover equal the
numpy forms they replace (kept below as the references: mapper/nest_space.py at a2a4f59
and b95e207) -- the same rows
and the generator left in the same state, on random hierarchies (min_usage fanouts
among them), exact and imperfect factors, and on the shipped AccelForge (min_usage),
ZigZag (max_factors) and 5-level hierarchies with ResNet-50 layers; NestSpace.mutate's
children (one dimension re-split within its parent's room) are legal and one move away."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from dataflows import zoo
from dataflows.layer import Layer
from mapper.nest_genomes import NestGenomes
from mapper.nest_space import ND, NestSpace
from mapper.nest_jit import fanout_products
from mapper.nest_usage import short
from sim.hierarchy import Hierarchy
from tests.sim.test_hierarchy_props import SETTINGS, hierarchies, layers

DATA = Path(__file__).resolve().parents[1] / "data"


def _ref_repair(tables: dict[int, np.ndarray], order: list[int], needs: tuple[int, ...],
           how: tuple, bounds: np.ndarray, imperfect: bool, rng: np.random.Generator,
           axes: np.ndarray, tries: int = 8) -> None:
    """In place: rows of ``axes`` ([n, F, 2, ND]) short of a need get that fanout's
    factors from its table (``tables[f]``, ``usage_table``; up to ``tries`` draws
    that fit what the other fanouts unroll on each dimension), fanouts in ``order``
    (:func:`sim.hier_plan.usage_order`, those with a need > 1); rows no draw fixes get
    ``how`` (the joint exact assignment of :func:`sim.hier_plan.usage_plan`, which meets
    every need) and factor 1 elsewhere. mapper.nest_usage.repair's numpy form before it was
    compiled (a2a4f59; its spatial_but in numpy), the reference."""
    for f in order:
        tab = tables[f]
        rows = np.flatnonzero(fanout_products(np.ascontiguousarray(axes))[:, f] < needs[f]) \
            if len(tab) else ()
        for _ in range(tries):
            if not len(rows):
                break
            cand = tab[rng.integers(0, len(tab), rows.size)]
            sub = axes[rows]
            other = sub.prod(axis=(1, 2)) // sub[:, f].prod(axis=1)      # [r, ND]
            tot = other * cand.prod(axis=1)
            ok = (tot <= bounds).all(axis=1) if imperfect else (bounds % tot == 0).all(axis=1)
            axes[rows[ok], f] = cand[ok]
            rows = rows[~ok]
    bad = short(needs, axes)
    if bad.any():
        axes[bad] = 1
        for f, a in enumerate(how):
            if a is not None:
                axes[bad, f, :len(a)] = np.array(a, dtype=np.int64)


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
        _ref_repair(*self._usage_tables, needs, how, self.bounds, self.imperfect, rng, axes)
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
    a, b = np.random.default_rng(seed), np.random.default_rng(seed)
    x, y = space.crossover(a, one, two), _ref_crossover(space, b, one, two)
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
    _mutants_legal(space, pop, space.mutate(np.random.default_rng(seed), pop))


def _mutants_legal(space: NestSpace, parents: NestGenomes, kids: NestGenomes) -> None:
    """Each child of NestSpace.mutate: within every fanout axis and cap, the bounds
    covered (exactly without ``imperfect``; with it, no fully idle last iteration),
    factors only where its dims may loop or unroll, every level's order a permutation;
    it differs from its parent in one dimension's split and at most one swap of two
    loops; a usage need the parent met is met."""
    assert not space._over(kids.axes).any()
    cover = kids.temporal.prod(axis=1) * kids.axes.prod(axis=(1, 2))
    assert ((cover >= space.bounds) if space.imperfect else (cover == space.bounds)).all()
    tslots, sslots = space._slots
    for i in range(ND):
        free_t = [lv for lv in range(kids.temporal.shape[1]) if lv not in tslots[i]]
        assert (kids.temporal[:, free_t, i] == 1).all()
    assert (np.sort(kids.order, axis=2) == np.arange(ND)).all()
    split_t = (kids.temporal != parents.temporal).any(axis=1)
    split_s = (kids.axes != parents.axes).any(axis=(1, 2))
    assert ((split_t | split_s).sum(axis=1) <= 1).all()
    assert ((kids.order != parents.order).sum(axis=(1, 2)) <= 2).all()
    if space.imperfect:                     # no fully idle last iteration left
        t, ax = kids.temporal.copy(), kids.axes.copy()
        space._fix_idle(t, ax)
        assert np.array_equal(t, kids.temporal) and np.array_equal(ax, kids.axes)
    if space._has_usage:
        needs = space._usage[0]
        assert not (short(needs, kids.axes) & ~short(needs, parents.axes)).any()


@SETTINGS
@given(hierarchies(), layers(), st.booleans(), st.integers(0, 2**31))
def test_moves_equal_numpy_form(hier: Hierarchy, layer: Layer, imperfect: bool,
                                seed: int) -> None:
    _same_moves(NestSpace(layer, hier, imperfect), seed, 29)
