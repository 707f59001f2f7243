"""Random and evolutionary search over nest mappings of one layer on a Hierarchy.

:class:`NestSpace` draws whole batches of structurally legal
:class:`~dataflows.nest_mapping.NestBatch` rows with numpy (no per-candidate Python):
for every dimension, a spatial factor per fanout axis that may unroll it (a divisor of
the bound up to the axis size; with ``imperfect`` any value up to both, leaving the
last children partly idle), then an exact factorization of the remaining
``ceil(bound / spatial)`` steps over the storage levels that may loop it, drawn
uniformly from a precomputed table; loop orders are uniform permutations. Rows whose
factors on one fanout axis multiply past its size are redrawn. :func:`search` keeps
the best legal mapping of a random or an evolutionary (per-dimension crossover of two
parents, then mutate one dimension's split or swap two loops of one level; truncation
selection) run, seeded explicitly, then polishes it by coordinate descent over large
neighbourhoods (every re-split of one dimension, every order of one level's loops, the
single moves: one prime factor of one dimension to another level or fanout axis, or one
swap of two loops) from several starts with different spatial factors, then kicks.

Costs come from :func:`sim.hier_cost.evaluate_batch` with ``detail=False``.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from dataflows.dataflow import MAP_DIMS, map_bounds
from dataflows.errors import CoforgeError
from dataflows.layer import Layer
from dataflows.nest_mapping import NestBatch, NestMapping
from sim.hier_cost import evaluate_batch
from sim.hierarchy import Hierarchy

ND = len(MAP_DIMS)
OBJECTIVES = ("energy", "cycles", "edp")
STRATEGIES = ("random", "evolution")
#: Kicks in a row that find nothing better before the search stops early.
KICKS = 3
#: Most starting points of the closing descent (the best, then the population's best
#: with other spatial factors).
POLISH_STARTS = 6


class NestSearchError(CoforgeError):
    """Bad search arguments or a layer with no legal mapping found."""


def _primes(n: int) -> list[int]:
    """The distinct prime factors of ``n`` (none for 1)."""
    out, p = [], 2
    while p * p <= n:
        if n % p == 0:
            out.append(p)
            while n % p == 0:
                n //= p
        p += 1
    return out + ([n] if n > 1 else [])


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


@lru_cache(maxsize=4096)
def _factorizations(n: int, slots: int) -> np.ndarray:
    """Every ordered tuple of ``slots`` positive ints whose product is ``n`` ([k, slots];
    cached across searches: read-only)."""
    if slots == 0:
        return np.ones((1, 0), dtype=np.int64)
    rows: list[tuple[int, ...]] = []

    def rec(left: int, k: int, acc: tuple[int, ...]) -> None:
        if k == 1:
            rows.append(acc + (left,))
            return
        for d in _divisors(left):
            rec(left // d, k - 1, acc + (d,))
    rec(n, slots, ())
    out = np.array(rows, dtype=np.int64)
    out.flags.writeable = False
    return out


@dataclass(frozen=True)
class NestSpace:
    """The nest mappings of ``layer`` on ``hier`` the mapper draws (module doc)."""

    layer: Layer
    hier: Hierarchy
    imperfect: bool = False

    @cached_property
    def bounds(self) -> np.ndarray:
        b = map_bounds(self.layer)
        return np.array([b[d] for d in MAP_DIMS], dtype=np.int64)

    @cached_property
    def _slots(self) -> tuple[list[list[int]], list[list[tuple[int, int, int]]]]:
        """Per dim: temporal levels allowed; spatial (fanout, axis, size) allowed."""
        t, s = [], []
        for i, d in enumerate(MAP_DIMS):
            t.append([lv for lv, level in enumerate(self.hier.levels)
                      if level.temporal_dims is None or d in level.temporal_dims])
            s.append([(f, a, size) for f, fo in enumerate(self.hier.fanouts)
                      for a, (size, dims) in enumerate(zip(fo.size, fo.dims)) if d in dims])
            if not t[-1] and self.bounds[i] > 1:
                raise NestSearchError(f"{d} (bound {self.bounds[i]}) may loop at no level of "
                                      f"{self.hier.name!r}; allow it in a temporal_dims")
        return t, s

    @cached_property
    def _tables(self) -> list[dict[int, np.ndarray]]:
        """Per dim: steps -> its exact factorizations over the allowed temporal levels
        (filled lazily, for the step counts that occur)."""
        return [{} for _ in range(ND)]

    def _table(self, i: int, steps: int) -> np.ndarray:
        tab = self._tables[i]
        if steps not in tab:
            tab[steps] = _factorizations(steps, len(self._slots[0][i]))
        return tab[steps]

    def random(self, rng: np.random.Generator, n: int) -> "NestGenomes":
        """``n`` structurally legal mappings (capacity is the cost model's ``legal``)."""
        L, F = len(self.hier.levels), len(self.hier.fanouts)
        tslots, sslots = self._slots
        temporal = np.ones((n, L, ND), dtype=np.int64)
        axes = np.ones((n, F, 2, ND), dtype=np.int64)
        room = {(f, a): np.full(n, size, dtype=np.int64) for f, fo in
                enumerate(self.hier.fanouts) for a, size in enumerate(fo.size)}
        for i in rng.permutation(ND):       # no dimension always gets the first pick
            b = int(self.bounds[i])
            left = np.full(n, b, dtype=np.int64)
            sp = np.ones(n, dtype=np.int64)
            for f, a, size in sslots[i]:
                cand = np.array([v for v in range(1, min(b, size) + 1)
                                 if self.imperfect or b % v == 0], dtype=np.int64)
                fits = np.searchsorted(cand, room[f, a], side="right")   # >= 1 (cand[0] 1)
                v = cand[(rng.random(n) * fits).astype(np.int64)]
                ok = (left % v == 0) if not self.imperfect else (sp * v <= b)
                v = np.where(ok, v, 1)
                axes[:, f, a, i] = v
                room[f, a] = room[f, a] // v
                sp = sp * v
                if not self.imperfect:
                    left = left // v
            steps = -(-b // sp)
            for s_val in np.unique(steps):
                rows = np.flatnonzero(steps == s_val)
                tab = self._table(i, int(s_val))
                pick = tab[rng.integers(0, len(tab), rows.size)]
                for j, lv in enumerate(tslots[i]):
                    temporal[rows, lv, i] = pick[:, j]
        if self.imperfect:
            self._fix_idle(temporal, axes)
        order = rng.permuted(np.broadcast_to(np.arange(ND), (n, L, ND)).copy(), axis=2)
        g = NestGenomes(temporal, order, axes)
        over = self._over(axes)
        if over.any():                      # a fanout axis past its size: redraw those
            again = self.random(rng, int(over.sum()))
            g.temporal[over], g.order[over], g.axes[over] = \
                again.temporal, again.order, again.axes
        return g

    def _fix_idle(self, temporal: np.ndarray, axes: np.ndarray) -> None:
        """Rows whose outermost non-unit factor of a dim (in nest order: a padded fanout
        above a temporal loop) would have a fully idle last iteration get that dim's
        whole bound at its outermost allowed level instead (in place)."""
        tslots, _ = self._slots
        for i in range(ND):
            b = int(self.bounds[i])
            if b == 1:                      # every factor 1: nothing idles
                continue
            parts, li, fi = [], 0, 0
            for node in self.hier.nodes:
                if hasattr(node, "keeps"):
                    parts.append(temporal[:, li, i])
                    li += 1
                else:
                    parts.extend(axes[:, fi, a, i] for a in range(len(node.size)))
                    fi += 1
            total = np.ones(temporal.shape[0], dtype=np.int64)
            outer = np.ones_like(total)
            for p in parts:
                total = total * p
                outer = np.where((outer == 1) & (p > 1), p, outer)
            bad = total - total // outer >= b
            if bad.any() and tslots[i]:
                axes[bad, :, :, i] = 1
                temporal[bad, :, i] = 1
                temporal[bad, tslots[i][0], i] = b

    def _over(self, axes: np.ndarray) -> np.ndarray:
        over = np.zeros(axes.shape[0], dtype=bool)
        for f, fo in enumerate(self.hier.fanouts):
            for a, size in enumerate(fo.size):
                over |= axes[:, f, a, :].prod(axis=1) > size
        return over

    def mutate(self, rng: np.random.Generator, parents: "NestGenomes") -> "NestGenomes":
        """Children: each takes one dimension's factors from a fresh random mapping (the
        fresh row whole where that overfills a fanout axis), and half of them also swap
        two loops of one level's order."""
        n = len(parents)
        fresh = self.random(rng, n)
        t, o, ax = parents.temporal.copy(), parents.order.copy(), parents.axes.copy()
        dim = rng.integers(0, ND, n)
        r = np.arange(n)
        t[r, :, dim] = fresh.temporal[r, :, dim]
        ax[r, :, :, dim] = fresh.axes[r, :, :, dim]
        over = self._over(ax)
        t[over], ax[over] = fresh.temporal[over], fresh.axes[over]
        swap = np.flatnonzero(rng.random(n) < 0.5)
        lv = rng.integers(0, t.shape[1], swap.size)
        a, b = rng.integers(0, ND, swap.size), rng.integers(0, ND, swap.size)
        va = o[swap, lv, a].copy()
        o[swap, lv, a] = o[swap, lv, b]
        o[swap, lv, b] = va
        return NestGenomes(t, o, ax)

    def neighbours(self, g: "NestGenomes", i: int) -> "NestGenomes":
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
                for prime in _primes(v):
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
                        if dst[0] == "s" and ax[dst[1], dst[2]].prod() > \
                                self.hier.fanouts[dst[1]].size[dst[2]]:
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
        return g2

    def crossover(self, rng: np.random.Generator, a: "NestGenomes",
                  b: "NestGenomes") -> "NestGenomes":
        """Children taking each dimension's split (temporal factors and spatial factors)
        from parent ``a`` or ``b`` with equal odds, and one parent's loop orders whole;
        rows whose mix overfills a fanout axis keep ``a``'s splits."""
        n = len(a)
        pick = rng.random((n, ND)) < 0.5
        t = np.where(pick[:, None, :], a.temporal, b.temporal)
        ax = np.where(pick[:, None, None, :], a.axes, b.axes)
        over = self._over(ax)
        t[over], ax[over] = a.temporal[over], a.axes[over]
        order = np.where((rng.random(n) < 0.5)[:, None, None], a.order, b.order)
        g = NestGenomes(t, order, ax)
        if self.imperfect:
            self._fix_idle(g.temporal, g.axes)
        return g

    def resplits(self, g: "NestGenomes", i: int, d: int, cap: int = 4096) -> "NestGenomes":
        """Every split of dimension ``d`` of row ``i`` (its spatial factors within the
        room the other dimensions leave on each fanout axis, then every exact
        factorization of the remaining steps over its temporal levels), the rest of the
        row unchanged; at most ``cap`` of them, evenly spaced over the whole list, when
        there are more (deep hierarchies: a bound over 7 levels)."""
        tslots, sslots = self._slots
        t0, o0, a0 = g.temporal[i], g.order[i], g.axes[i]
        b = int(self.bounds[d])
        combos: list[tuple[int, ...]] = [()]
        for f, a, size in sslots[d]:
            room = size // int(np.prod(a0[f, a]) // a0[f, a, d])
            cand = [v for v in range(1, min(b, room) + 1) if self.imperfect or b % v == 0]
            combos = [c + (v,) for c in combos for v in cand
                      if math.prod(c) * v <= b and (self.imperfect or b % (math.prod(c) * v) == 0)]
        tabs = [self._table(d, -(-b // math.prod(c))) for c in combos]
        ends = np.cumsum([len(tab) for tab in tabs])
        pick = np.arange(ends[-1])
        if len(pick) > cap:                 # evenly spaced over the whole list
            pick = np.unique(np.linspace(0, ends[-1] - 1, cap).astype(np.int64))
        which = np.searchsorted(ends, pick, side="right")
        n = len(pick)
        t = np.repeat(t0[None], n, axis=0)
        ax = np.repeat(a0[None], n, axis=0)
        t[:, :, d] = 1
        for j in np.unique(which):
            rows = np.flatnonzero(which == j)
            tab = tabs[j]
            t[rows[:, None], np.asarray(tslots[d])[None, :], d] = \
                tab[pick[rows] - (ends[j] - len(tab))]
            for (f, a, _), v in zip(sslots[d], combos[j]):
                ax[rows, f, a, d] = v
        return self._legal_rows(NestGenomes(t, np.repeat(o0[None], n, axis=0), ax))

    def spatial_trades(self, g: "NestGenomes", i: int) -> "NestGenomes":
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
                for p in _primes(u):
                    for x in tslots[d]:
                        for e in allowed:
                            if e == d:
                                continue
                            for y in tslots[e]:
                                ty = int(t0[y, e])
                                for q in _divisors(ty)[1:]:
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
        return self._legal_rows(NestGenomes(t, np.repeat(o0[None], n, axis=0), ax))

    def temporal_trades(self, g: "NestGenomes", i: int) -> "NestGenomes":
        """Row ``i`` with two temporal levels trading: a prime ``p`` of dimension ``d``'s
        factor moves from level ``x`` to level ``y`` and a divisor ``q`` of dimension
        ``e``'s factor moves from ``y`` to ``x`` (a tile that grows in one dimension and
        shrinks in another, which a capacity may allow only together)."""
        tslots, _ = self._slots
        t0, o0, a0 = g.temporal[i], g.order[i], g.axes[i]
        rows: list[tuple[int, int, int, int, int, int]] = []
        for d in range(ND):
            for x in tslots[d]:
                for p in _primes(int(t0[x, d])):
                    for y in tslots[d]:
                        if y == x:
                            continue
                        for e in range(ND):
                            if e == d or x not in tslots[e] or y not in tslots[e]:
                                continue
                            rows.extend((d, p, x, y, e, q)
                                        for q in _divisors(int(t0[y, e]))[1:])
        n = len(rows)
        r = np.array(rows, dtype=np.int64).reshape(n, 6)
        k = np.arange(n)
        t = np.repeat(t0[None], n, axis=0)
        d, p, x, y, e, q = (r[:, j] for j in range(6))
        t[k, x, d] //= p
        t[k, y, d] *= p
        t[k, y, e] //= q
        t[k, x, e] *= q
        return self._legal_rows(NestGenomes(t, np.repeat(o0[None], n, axis=0),
                                            np.repeat(a0[None], n, axis=0)))

    def reorders(self, g: "NestGenomes", i: int, lv: int, cap: int = 720) -> "NestGenomes":
        """Row ``i`` with level ``lv``'s loops of factor > 1 permuted among their
        positions, every permutation (the first ``cap`` when there are more)."""
        t0, o0, a0 = g.temporal[i], g.order[i], g.axes[i]
        pos = [j for j in range(ND) if t0[lv, o0[lv, j]] > 1]
        perms = np.array(list(itertools.islice(
            itertools.permutations([int(o0[lv, j]) for j in pos]), cap)), dtype=o0.dtype)
        n = len(perms)
        order = np.repeat(o0[None], n, axis=0)
        if pos:
            order[:, lv, pos] = perms
        return NestGenomes(np.repeat(t0[None], n, axis=0), order,
                           np.repeat(a0[None], n, axis=0))

    def _legal_rows(self, g: "NestGenomes") -> "NestGenomes":
        over = self._over(g.axes)
        if over.any():
            g = g.take(np.flatnonzero(~over))
        if self.imperfect and len(g):
            self._fix_idle(g.temporal, g.axes)
        return g

    def to_mapping(self, g: "NestGenomes", i: int) -> NestMapping:
        """Row ``i`` as a :class:`NestMapping`."""
        return NestMapping(
            temporal=tuple(tuple(int(v) for v in lv) for lv in g.temporal[i]),
            order=tuple(tuple(MAP_DIMS[int(j)] for j in lv) for lv in g.order[i]),
            spatial=tuple(tuple(tuple(int(v) for v in g.axes[i, f, a])
                                for a in range(len(fo.size)))
                          for f, fo in enumerate(self.hier.fanouts)))


@dataclass(frozen=True)
class NestGenomes:
    """A population: ``temporal``/``order`` [B, L, 8] as in NestBatch, ``axes``
    [B, F, 2, 8] spatial factors per fanout axis (axis 1 all 1 for 1-D fanouts)."""

    temporal: np.ndarray
    order: np.ndarray
    axes: np.ndarray

    def __len__(self) -> int:
        return self.temporal.shape[0]

    @property
    def batch(self) -> NestBatch:
        return NestBatch(self.temporal, self.order, self.axes.prod(axis=2))

    def take(self, idx: np.ndarray) -> "NestGenomes":
        return NestGenomes(self.temporal[idx], self.order[idx], self.axes[idx])

    @staticmethod
    def concat(a: "NestGenomes", b: "NestGenomes") -> "NestGenomes":
        return NestGenomes(np.concatenate([a.temporal, b.temporal]),
                           np.concatenate([a.order, b.order]),
                           np.concatenate([a.axes, b.axes]))


@dataclass(frozen=True)
class NestSearchResult:
    """The best legal mapping found, its score and how many mappings were costed;
    ``hierarchy``: the bypass choice the mapping is for (:meth:`Hierarchy.bypass_choices`;
    the searched hierarchy itself when no level may bypass) -- cost it on that."""

    mapping: NestMapping
    score: float
    evaluations: int
    objective: str
    strategy: str
    seed: int
    hierarchy: Hierarchy | None = None

    @property
    def bypassed(self) -> dict[str, tuple[str, ...]]:
        """Per level, the operands this mapping's bypass choice leaves out."""
        if self.hierarchy is None:
            return {}
        return {lv.name: lv.bypassed for lv in self.hierarchy.levels if lv.bypassed}


def _score(arr: dict[str, np.ndarray], objective: str) -> np.ndarray:
    if objective == "energy":
        s = arr["energy_pj"]
    elif objective == "cycles":
        s = arr["total_cycles"].astype(np.float64) + arr["energy_pj"] * 1e-30
    else:
        s = arr["energy_pj"] * arr["total_cycles"]
    return np.where(arr["legal"], s, np.inf)


def _descend(space: NestSpace, cost, objective: str, g: "NestGenomes", score: float,
             budget: int) -> tuple["NestGenomes", float, int]:
    """Coordinate descent from the one-row ``g`` (score ``score``): cycle over the
    neighbourhoods -- every re-split of one dimension (:meth:`NestSpace.resplits`),
    every order of one level's loops (:meth:`NestSpace.reorders`), every trade of one
    fanout axis or of two temporal levels between two dimensions
    (:meth:`NestSpace.spatial_trades`, :meth:`NestSpace.temporal_trades`), the single moves
    (:meth:`NestSpace.neighbours`) -- moving to a neighbourhood's best when it is
    strictly better, until a whole cycle improves nothing (a local optimum of those
    neighbourhoods, not a proven one) or ``budget`` evaluations are spent. Returns
    (row, score, evaluations)."""
    hoods = [lambda g: space.neighbours(g, 0), lambda g: space.temporal_trades(g, 0),
             lambda g: space.spatial_trades(g, 0)]
    hoods += [lambda g, lv=lv: space.reorders(g, 0, lv) for lv in range(g.temporal.shape[1])]
    hoods += [lambda g, d=d: space.resplits(g, 0, d) for d in range(ND) if space.bounds[d] > 1]
    spent, stale, k = 0, 0, 0
    while spent < budget and stale < len(hoods):
        nb = hoods[k % len(hoods)](g)
        k += 1
        nb = nb.take(np.arange(min(len(nb), budget - spent)))
        if not len(nb):
            stale += 1
            continue
        ns = _score(cost(nb.batch), objective)
        spent += len(nb)
        i = int(np.argmin(ns))
        if ns[i] < score:
            g, score, stale = nb.take(np.array([i])), float(ns[i]), 0
        else:
            stale += 1
    return g, score, spent


def search(layer: Layer, hier: Hierarchy, strategy: str = "evolution",
           objective: str = "energy", max_evals: int = 20000, population: int = 1000,
           seed: int = 0, imperfect: bool = False, polish: bool = True,
           input_reuse: str | None = None) -> NestSearchResult:
    """The best legal nest mapping of ``layer`` on ``hier`` under ``objective`` found
    in ``max_evals`` evaluations: the random or evolutionary run (children: a per-dimension
    crossover of two parents, then a mutation) on half of them, then (``polish``)
    :func:`_descend` from its best and from up to :data:`POLISH_STARTS` members of the
    final population with other spatial factors, then kicks of the best (two mutations,
    descended again) on what is left, until :data:`KICKS` in a row improve nothing. A
    heuristic: the result is the best mapping seen, a local optimum, not a proven one.
    A hierarchy whose levels ``may_bypass`` operands is searched once per bypass choice,
    each with the whole budget (``evaluations`` is the sum), and the result names the
    choice (``hierarchy``, ``bypassed``).
    ``input_reuse``: the cost model's input rule (:data:`sim.hier_cost.INPUT_REUSE`;
    default its ``DEFAULT_INPUT_REUSE``)."""
    if strategy not in STRATEGIES:
        raise NestSearchError(f"strategy must be one of {list(STRATEGIES)}, not {strategy!r}")
    if objective not in OBJECTIVES:
        raise NestSearchError(f"objective must be one of {list(OBJECTIVES)}, "
                              f"not {objective!r}")
    if max_evals < 1 or population < 2:
        raise NestSearchError("max_evals must be >= 1 and population >= 2")
    from sim.hier_cost_scalar import DEFAULT_INPUT_REUSE, check_input_reuse
    reuse = DEFAULT_INPUT_REUSE if input_reuse is None else input_reuse
    check_input_reuse(reuse)
    choices = hier.bypass_choices()
    if len(choices) > 1:                    # every bypass choice, each with the budget
        found, spent = [], 0
        for h in choices:
            try:
                r = search(layer, h, strategy, objective, max_evals, population, seed,
                           imperfect, polish, reuse)
            except NestSearchError:
                spent += max_evals
                continue
            spent += r.evaluations
            found.append(r)
        if not found:
            raise NestSearchError(f"layer {layer.name!r}: no legal mapping on {hier.name!r} "
                                  f"under any of its {len(choices)} bypass choices; enlarge "
                                  f"the buffers or max_evals")
        best_r = min(found, key=lambda r: r.score)
        return NestSearchResult(mapping=best_r.mapping, score=best_r.score, evaluations=spent,
                                objective=objective, strategy=strategy, seed=seed,
                                hierarchy=best_r.hierarchy)

    def _cost(batch: NestBatch) -> dict[str, np.ndarray]:
        return evaluate_batch(layer, hier, batch, detail=False, input_reuse=reuse)
    space = NestSpace(layer, hier, imperfect)
    rng = np.random.default_rng(seed)
    pop = space.random(rng, min(population, max_evals))
    scores = _score(_cost(pop.batch), objective)
    evals = len(pop)
    best_i = int(np.argmin(scores))
    best = (float(scores[best_i]), space.to_mapping(pop, best_i))
    best_g = pop.take(np.array([best_i]))
    if polish:                              # the budget: half for the descent
        max_evals, descent = max(len(pop), max_evals - max_evals // 2), max_evals // 2
    while evals < max_evals:
        n = min(population, max_evals - evals)
        if strategy == "random":
            kids = space.random(rng, n)
        else:
            keep = np.argsort(scores, kind="stable")[:max(2, population // 5)]
            kids = space.mutate(rng, space.crossover(
                rng, pop.take(keep[rng.integers(0, len(keep), n)]),
                pop.take(keep[rng.integers(0, len(keep), n)])))
        ks = _score(_cost(kids.batch), objective)
        evals += len(kids)
        i = int(np.argmin(ks))
        if ks[i] < best[0]:
            best = (float(ks[i]), space.to_mapping(kids, i))
            best_g = kids.take(np.array([i]))
        if strategy == "evolution":
            pop = NestGenomes.concat(pop, kids)
            scores = np.concatenate([scores, ks])
            top = np.argsort(scores, kind="stable")[:population]
            pop, scores = pop.take(top), scores[top]
    if polish and math.isfinite(best[0]):
        # coordinate descent from the best and then the best members of the final
        # population with other spatial factors, while the descent's budget lasts; what
        # is left then goes to kicks (two mutations of the best, descended again)
        starts = [(best[0], best_g)]
        if strategy == "evolution":
            seen = {best_g.axes[0].tobytes()}
            for j in np.argsort(scores, kind="stable"):
                key = pop.axes[j].tobytes()
                if len(starts) >= POLISH_STARTS or not math.isfinite(scores[j]):
                    break
                if key not in seen:
                    seen.add(key)
                    starts.append((float(scores[j]), pop.take(np.array([j]))))
        left = descent
        for k, (g_score, g) in enumerate(starts):
            g, g_score, spent = _descend(space, _cost, objective, g, g_score,
                                         left // (len(starts) - k))
            left -= spent
            evals += spent
            if g_score < best[0]:
                best, best_g = (g_score, space.to_mapping(g, 0)), g
        stale = 0
        while left > 2 and stale < KICKS:
            stale += 1
            kick = space.mutate(rng, space.mutate(rng, best_g))
            k_score = float(_score(_cost(kick.batch), objective)[0])
            left -= 1
            evals += 1
            if not math.isfinite(k_score):
                continue
            g, g_score, spent = _descend(space, _cost, objective, kick, k_score, left)
            left -= spent
            evals += spent
            if g_score < best[0]:
                best, best_g = (g_score, space.to_mapping(g, 0)), g
                stale = 0
    if not math.isfinite(best[0]):
        raise NestSearchError(f"layer {layer.name!r}: no legal mapping on {hier.name!r} in "
                              f"{evals} evaluations; enlarge the buffers or max_evals")
    return NestSearchResult(mapping=best[1], score=best[0], evaluations=evals,
                            objective=objective, strategy=strategy, seed=seed, hierarchy=hier)


__all__ = ["NestGenomes", "NestSearchError", "NestSearchResult", "NestSpace", "search"]
