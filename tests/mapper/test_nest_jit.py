"""mapper.nest_jit's compiled helpers equal the rules they replace, row for row and in
order, on random hierarchies and layers: the idle rule against its numpy form, and every
neighbourhood of the descent (NestSpace's, the compiled mapper.nest_descent_jit._hood:
single moves, trades, reorders, re-splits, with their legality rules) against the
Python and numpy forms they had before (kept below as the reference; 2026-12-07,
mapper/nest_moves.py at 7873062, and fbe31b5 for the reorders and legality rules)."""

from __future__ import annotations

import itertools
import math  # noqa: F401  (the reference moves below)

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from dataflows.dataflow import MAP_DIMS
from dataflows.factors import divisors, primes
from dataflows.layer import Layer
from mapper.nest_genomes import NestGenomes, resplit_values
from mapper.nest_space import NestSpace
from mapper.nest_usage import short
from sim.hierarchy import Hierarchy
from tests.sim.test_hierarchy_props import SETTINGS, hierarchies, layers


def _ref_fix_idle(self, temporal, axes) -> None:
    """NestSpace._fix_idle's numpy form before it was compiled (7873062), the reference."""
    parts, dims, outer_lv = self._nest_slots
    if not dims.size:
        return
    stack = np.stack([temporal[:, j] if kind == 0 else axes[:, j, a]
                      for kind, j, a in parts], axis=1)[:, :, dims]   # [n, parts, d]
    total = stack.prod(axis=1)
    first = np.argmax(stack > 1, axis=1)                # 0 where every factor is 1
    outer = np.take_along_axis(stack, first[:, None, :], axis=1)[:, 0, :]
    bad = total - total // outer >= self.bounds[dims]   # outer 1: total - total < b
    if bad.any():
        r, c = np.nonzero(bad)
        d = dims[c]
        axes[r, :, :, d] = 1
        temporal[r, :, d] = 1
        temporal[r, outer_lv[c], d] = self.bounds[d]


def _ref_over(self, axes) -> np.ndarray:
    """NestSpace._over's numpy form before it was compiled (c92a849), the reference."""
    over = np.zeros(axes.shape[0], dtype=bool)
    for f, fo in enumerate(self.hier.fanouts):
        for a, size in enumerate(fo.size):
            over |= axes[:, f, a, :].prod(axis=1) > size
    for f, fo in enumerate(self.hier.fanouts):
        for a, caps in enumerate(fo.max_factors):
            for d, n in caps:
                over |= axes[:, f, a, MAP_DIMS.index(d)] > n
    return over


@SETTINGS
@given(hierarchies(), layers(), st.integers(0, 2**31))
def test_fix_idle_equals_numpy(hier: Hierarchy, layer: Layer, seed: int) -> None:
    space = NestSpace(layer, hier, imperfect=True)
    rng = np.random.default_rng(seed)
    g = space.random(rng, 40, fit=False)
    # unfixed rows: every factor of a random dimension scattered over its slots
    t, ax = g.temporal.copy(), g.axes.copy()
    t[:, :, rng.integers(0, 8)] *= rng.integers(1, 4, size=t.shape[:2])
    ax[:, :, :, rng.integers(0, 8)] *= rng.integers(1, 3, size=ax.shape[:3])
    a_t, a_ax, b_t, b_ax = t.copy(), ax.copy(), t.copy(), ax.copy()
    space._fix_idle(a_t, a_ax)                     # compiled
    _ref_fix_idle(space, b_t, b_ax)                # the numpy reference
    assert (a_t == b_t).all() and (a_ax == b_ax).all()


def test_fix_idle_hand_case() -> None:
    """K = 3 split 2 (dram loop) x 4 (fanout): the dram loop's second iteration would run
    K 4..7, all idle (8 - 8 // 2 = 4 >= 3), so K is looped whole at dram instead; K = 5
    keeps the split (4 < 5: its second iteration runs K 4)."""
    from sim.hierarchy import Fanout, StorageLevel
    hier = Hierarchy("h", (StorageLevel("dram"), Fanout("f", size=(4,), dims=(("K",),)),
                           StorageLevel("buf", capacity_bytes=4096)))
    for k, fixed in ((3, True), (5, False)):
        space = NestSpace(Layer("l", K=k, C=2), hier, imperfect=True)
        t = np.ones((1, 2, 8), dtype=np.int64)
        ax = np.ones((1, 1, 2, 8), dtype=np.int64)
        t[0, 0, 2], ax[0, 0, 0, 2] = 2, 4          # K: dram 2, fanout 4
        t[0, 0, 3] = 2                              # C: dram 2
        space._fix_idle(t, ax)
        assert (t[0, 0, 2], ax[0, 0, 0, 2]) == ((k, 1) if fixed else (2, 4))
        assert t[0, 0, 3] == 2                      # C untouched

ND = 8


# -- the plain-Python neighbourhoods (reference) --------------------------------------------
def _ref_drop_short(self, g):
    """NestSpace._drop_short before the neighbourhoods were compiled whole (fbe31b5)."""
    if not len(g) or not self._has_usage:
        return g
    bad = short(self._usage[0], g.axes)
    return g.take(np.flatnonzero(~bad)) if bad.any() else g


def _ref_legal_rows(self, g):
    """NestSpace._legal_rows before the neighbourhoods were compiled whole (fbe31b5)."""
    over = self._over(g.axes)
    if over.any():
        g = g.take(np.flatnonzero(~over))
    if self.imperfect and len(g):
        self._fix_idle(g.temporal, g.axes)
    return _ref_drop_short(self, g)


def _ref_reorders(self, g, i, lv, cap=720):
    """NestMoves.reorders' Python form (fbe31b5), the reference."""
    t0, o0, a0 = g.temporal[i], g.order[i], g.axes[i]
    pos = [j for j in range(len(MAP_DIMS)) if t0[lv, o0[lv, j]] > 1]
    perms = np.array(list(itertools.islice(
        itertools.permutations([int(o0[lv, j]) for j in pos]), cap)), dtype=o0.dtype)
    n = len(perms)
    order = np.repeat(o0[None], n, axis=0)
    if pos:
        order[:, lv, pos] = perms
    return NestGenomes(np.repeat(t0[None], n, axis=0), order, np.repeat(a0[None], n, axis=0))


def _ref_resplits(self, g, i, d, cap=4096):
    """NestMoves.resplits' numpy form (a2a4f59), the reference (the split values from the
    same table, mapper.nest_genomes.resplit_values)."""
    tslots, sslots = self._slots
    t0, o0, a0 = g.temporal[i], g.order[i], g.axes[i]
    rooms = tuple(min(self._cap(f, a, d), size // int(np.prod(a0[f, a]) // a0[f, a, d]))
                  for f, a, size in sslots[d])
    tvals, svals = resplit_values(int(self.bounds[d]), len(tslots[d]), self.imperfect,
                                  rooms, cap)
    n = len(tvals)
    t = np.repeat(t0[None], n, axis=0)
    ax = np.repeat(a0[None], n, axis=0)
    t[:, :, d] = 1
    t[:, tslots[d], d] = tvals
    for k, (f, a, _) in enumerate(sslots[d]):
        ax[:, f, a, d] = svals[:, k]
    return _ref_legal_rows(self, NestGenomes(t, np.repeat(o0[None], n, axis=0), ax))


def _ref_neighbours(self, g, i):
    """Every mapping one step from row ``i``: one prime factor of one dimension moved
    from one of its temporal levels or fanout axes to another (the product, hence the
    bounds covered, unchanged; a fanout axis never past its size), or two loops of one
    level swapped where either has a factor > 1 there."""
    tslots, sslots = self._slots
    t0, o0, a0 = g.temporal[i], g.order[i], g.axes[i]
    ts, os_, as_ = [], [], []
    for d in range(ND):
        slots = [("t", lv) for lv in tslots[d]] + [("s", f, a) for f, a, _ in sslots[d]]

        def get(slot: tuple, t: np.ndarray, ax: np.ndarray, d: int = d) -> int:
            return int(t[slot[1], d]) if slot[0] == "t" else int(ax[slot[1], slot[2], d])
        for src in slots:
            v = get(src, t0, a0)
            for prime in primes(v):
                for dst in slots:
                    if dst == src:
                        continue
                    t, ax = t0.copy(), a0.copy()
                    for slot, mul in ((src, None), (dst, prime)):
                        if slot[0] == "t":
                            t[slot[1], d] = t[slot[1], d] * mul if mul else \
                                t[slot[1], d] // prime
                        else:
                            ax[slot[1], slot[2], d] = ax[slot[1], slot[2], d] * mul \
                                if mul else ax[slot[1], slot[2], d] // prime
                    if dst[0] == "s" and (ax[dst[1], dst[2]].prod() >
                                          self.hier.fanouts[dst[1]].size[dst[2]] or
                                          ax[dst[1], dst[2], d] >
                                          self._cap(dst[1], dst[2], d)):
                        continue
                    ts.append(t)
                    os_.append(o0)
                    as_.append(ax)
    for lv in range(t0.shape[0]):
        for x in range(ND):
            for y in range(x + 1, ND):
                if t0[lv, o0[lv, x]] > 1 or t0[lv, o0[lv, y]] > 1:
                    o = o0.copy()
                    o[lv, x], o[lv, y] = o0[lv, y], o0[lv, x]
                    ts.append(t0)
                    os_.append(o)
                    as_.append(a0)
    n = len(ts)                         # (explicit: a0 may have no fanout rows)
    g2 = NestGenomes(np.array(ts, dtype=np.int64).reshape(n, *t0.shape),
                     np.array(os_, dtype=o0.dtype).reshape(n, *o0.shape),
                     np.array(as_, dtype=np.int64).reshape(n, *a0.shape))
    if self.imperfect and len(g2):
        self._fix_idle(g2.temporal, g2.axes)
    return _ref_drop_short(self, g2)

def _ref_spatial_trades(self, g, i):
    """Row ``i`` with one fanout axis trading between two dimensions: dimension ``d``
    gives up a prime ``p`` of its factor there (``p`` joins one of its temporal
    levels) and dimension ``e`` takes a divisor ``q`` of its factor at one of its
    temporal levels onto the axis (within the axis size). Products per dimension are
    unchanged, so the bounds stay covered; a move no single re-split can make when
    the axis is full (e.g. R 3 x C 4 -> C 16)."""
    tslots, sslots = self._slots
    t0, o0, a0 = g.temporal[i], g.order[i], g.axes[i]
    rows: list[tuple[int, int, int, int, int, int, int, int, int]] = []
    axes_of: dict[tuple[int, int], int] = {}
    for d in range(ND):
        for f, a, size in sslots[d]:
            axes_of[f, a] = size
    for (f, a), size in axes_of.items():
        used = int(np.prod(a0[f, a]))
        allowed = [d for d in range(ND) if any(x[:2] == (f, a) for x in sslots[d])]
        for d in allowed:
            u = int(a0[f, a, d])
            for p in primes(u):
                for x in tslots[d]:
                    for e in allowed:
                        if e == d:
                            continue
                        for y in tslots[e]:
                            ty = int(t0[y, e])
                            for q in divisors(ty)[1:]:
                                if used // p * q <= size:
                                    rows.append((f, a, d, p, x, e, q, y, 0))
    n = len(rows)
    r = np.array(rows, dtype=np.int64).reshape(n, 9)
    k = np.arange(n)
    t = np.repeat(t0[None], n, axis=0)
    ax = np.repeat(a0[None], n, axis=0)
    f, a, d, p, x, e, q, y = (r[:, j] for j in range(8))
    ax[k, f, a, d] //= p
    t[k, x, d] *= p
    ax[k, f, a, e] *= q
    t[k, y, e] //= q
    return _ref_legal_rows(self, NestGenomes(t, np.repeat(o0[None], n, axis=0), ax))

def _ref_temporal_trades(self, g, i):
    """Row ``i`` with two temporal levels trading: a prime ``p`` of dimension ``d``'s
    factor moves from level ``x`` to level ``y`` and a divisor ``q`` of dimension
    ``e``'s factor moves from ``y`` to ``x`` (a tile that grows in one dimension and
    shrinks in another, which a capacity may allow only together)."""
    tslots, _ = self._slots
    t0, o0, a0 = g.temporal[i], g.order[i], g.axes[i]
    rows: list[tuple[int, int, int, int, int, int]] = []
    for d in range(ND):
        for x in tslots[d]:
            for p in primes(int(t0[x, d])):
                for y in tslots[d]:
                    if y == x:
                        continue
                    for e in range(ND):
                        if e == d or x not in tslots[e] or y not in tslots[e]:
                            continue
                        rows.extend((d, p, x, y, e, q)
                                    for q in divisors(int(t0[y, e]))[1:])
    n = len(rows)
    r = np.array(rows, dtype=np.int64).reshape(n, 6)
    k = np.arange(n)
    t = np.repeat(t0[None], n, axis=0)
    d, p, x, y, e, q = (r[:, j] for j in range(6))
    t[k, x, d] //= p
    t[k, y, d] *= p
    t[k, y, e] //= q
    t[k, x, e] *= q
    return _ref_legal_rows(self, NestGenomes(t, np.repeat(o0[None], n, axis=0),
                                        np.repeat(a0[None], n, axis=0)))


@SETTINGS
@given(hierarchies(), layers(), st.booleans(), st.integers(0, 2**31))
def test_neighbourhoods_equal_reference(hier: Hierarchy, layer: Layer, imperfect: bool,
                                        seed: int) -> None:
    space = NestSpace(layer, hier, imperfect)
    g = space.random(np.random.default_rng(seed), 6)
    for i in range(len(g)):
        for name, ref in (("neighbours", _ref_neighbours),
                          ("spatial_trades", _ref_spatial_trades),
                          ("temporal_trades", _ref_temporal_trades)):
            a, b = getattr(space, name)(g, i), ref(space, g, i)
            assert len(a) == len(b), name
            assert (a.temporal == b.temporal).all() and (a.order == b.order).all() \
                and (a.axes == b.axes).all(), name
        for name, arg, mine, ref in (
                [("reorders", lv, space.reorders, _ref_reorders)
                 for lv in range(g.temporal.shape[1])]
                + [("resplits", d, space.resplits, _ref_resplits) for d in range(8)]):
            a, b = mine(g, i, arg), ref(space, g, i, arg)
            assert len(a) == len(b), name
            assert (a.temporal == b.temporal).all() and (a.order == b.order).all() \
                and (a.axes == b.axes).all(), name


def test_neighbourhoods_equal_reference_real_sizes() -> None:
    """ResNet-50 layers on the 5-level hierarchy of tests/data (3 fanouts, 2-D arrays):
    thousands of neighbours per row."""
    from pathlib import Path

    from dataflows import zoo
    from sim.hierarchy_schema import load_hierarchy
    hier = load_hierarchy(Path(__file__).resolve().parents[1] / "data" / "hierarchy"
                          / "edge_2core_4cluster_8x8.yaml")
    net = zoo.load("resnet50")
    total = 0
    for name, imperfect in (("layer3.0.conv2", False), ("layer1.0.conv1", True)):
        space = NestSpace(net[name], hier, imperfect)
        g = space.random(np.random.default_rng(3), 3)
        for i in range(len(g)):
            for mine, ref in ((space.neighbours, _ref_neighbours),
                              (space.spatial_trades, _ref_spatial_trades),
                              (space.temporal_trades, _ref_temporal_trades)):
                a, b = mine(g, i), ref(space, g, i)
                total += len(a)
                assert len(a) == len(b)
                assert (a.temporal == b.temporal).all() and (a.order == b.order).all() \
                    and (a.axes == b.axes).all()
    assert total > 1000


@SETTINGS
@given(hierarchies(), layers(), st.booleans(), st.integers(0, 2**31))
def test_fanout_products_equal_numpy(hier: Hierarchy, layer: Layer, imperfect: bool,
                                     seed: int) -> None:
    from mapper.nest_jit import axis_products, fanout_products
    g = NestSpace(layer, hier, imperfect).random(np.random.default_rng(seed), 20)
    ax = g.axes
    assert (fanout_products(ax) == ax.prod(axis=(2, 3))).all()
    assert (axis_products(ax) == ax.prod(axis=2)).all()


def _ref_fit(self, rng, g, passes: int = 64) -> None:
    """NestSpace.fit as it stood before its passes were compiled (7873062), the
    reference: same draws, same moves."""
    from sim.hier_tiles import overfilled_dim_major
    target, spf = self._relief
    L = g.temporal.shape[1]
    rows = np.arange(len(g))
    T = np.ascontiguousarray(g.temporal.transpose(1, 2, 0))
    S = np.ascontiguousarray(g.axes.prod(axis=2).transpose(1, 2, 0))
    depth_of = np.arange(L)[None, :, None]
    for _ in range(passes):
        if not rows.size:
            break
        over = overfilled_dim_major(self.layer, self.hier, T, S)
        keep = over >= 0
        if not keep.all():
            g.temporal[rows[~keep]] = T[:, :, ~keep].transpose(2, 0, 1)
            rows, over, T, S = rows[keep], over[keep], T[:, :, keep], S[:, :, keep]
        if not rows.size:
            break
        t = T.transpose(2, 0, 1).copy()
        movable = (depth_of >= over[:, None, None]) & (target[over][:, None, :] >= 0)
        cand = (t > 1) & movable
        ok = np.flatnonzero(cand.any(axis=(1, 2)))
        if ok.size:
            c = cand[ok]
            pick = np.argmax(np.where(c, rng.random(c.shape), -1.0)
                             .reshape(ok.size, -1), axis=1)
            j, d = np.divmod(pick, ND)
            p = spf[t[ok, j, d]]
            t[ok, j, d] //= p
            t[ok, target[over[ok], d], d] *= p
        moved = (t != T.transpose(2, 0, 1)).any(axis=(1, 2))
        if not moved.all():
            g.temporal[rows[~moved]] = t[~moved]
            rows, t, S = rows[moved], t[moved], S[:, :, moved]
        T = np.ascontiguousarray(t.transpose(1, 2, 0))
    if rows.size:
        g.temporal[rows] = T.transpose(2, 0, 1)


@SETTINGS
@given(hierarchies(), layers(small=12), st.booleans(), st.integers(0, 2**31))
def test_fit_equals_reference(hier: Hierarchy, layer: Layer, imperfect: bool,
                              seed: int) -> None:
    space = NestSpace(layer, hier, imperfect)
    g = space.random(np.random.default_rng(seed), 30, fit=False)
    a, b = NestGenomes(g.temporal.copy(), g.order, g.axes), \
        NestGenomes(g.temporal.copy(), g.order, g.axes)
    r1, r2 = np.random.default_rng(seed + 1), np.random.default_rng(seed + 1)
    space.fit(r1, a)
    _ref_fit(space, r2, b)
    assert (a.temporal == b.temporal).all()
    assert r1.bit_generator.state == r2.bit_generator.state     # the same draws


@SETTINGS
@given(hierarchies(), layers(), st.booleans(), st.integers(0, 2**31))
def test_over_equals_numpy(hier: Hierarchy, layer: Layer, imperfect: bool, seed: int) -> None:
    import dataclasses

    from sim.hierarchy import Fanout
    if seed % 2:                                 # cap a dimension on every fanout axis
        hier = dataclasses.replace(hier, nodes=tuple(
            dataclasses.replace(n, max_factors=tuple({d: 2 for d in dims[:1]}
                                                     for dims in n.dims))
            if isinstance(n, Fanout) and all(s >= 3 for s in n.size) and not n.min_usage
            else n
            for n in hier.nodes))
    space = NestSpace(layer, hier, imperfect)
    rng = np.random.default_rng(seed)
    ax = space.random(rng, 30).axes.copy()
    ax *= rng.integers(1, 3, size=ax.shape)        # some rows past an axis size or cap
    assert (space._over(ax) == _ref_over(space, ax)).all()
