"""The space of nest mappings of one layer on a Hierarchy, and moves within it.

:class:`NestSpace` draws whole batches of structurally legal
:class:`~dataflows.nest_mapping.NestBatch` rows in compiled loops
(:mod:`mapper.nest_draw_jit`; no per-candidate Python):
for every dimension, a spatial factor per fanout axis that may unroll it (a divisor of
the bound up to the axis size and its ``max_factors`` cap; with ``imperfect`` any value
up to all of them, leaving the
last children partly idle), then an exact factorization of the remaining
``ceil(bound / spatial)`` steps over the storage levels that may loop it, drawn
uniformly from a precomputed table; loop orders are uniform permutations. Rows whose
factors on one fanout axis multiply past its size are redrawn. Its moves --
:meth:`NestSpace.mutate`, :meth:`NestSpace.crossover` and the neighbourhoods
(:meth:`NestSpace.neighbours`, :meth:`NestSpace.resplits`, :meth:`NestSpace.reorders`,
:meth:`NestSpace.spatial_trades`, :meth:`NestSpace.temporal_trades`) -- keep every row
structurally legal and the bounds covered; capacity is the cost model's ``legal``.
:mod:`mapper.nest_search` searches with them. The neighbourhoods are written in
:mod:`mapper.nest_moves`, the population arrays and factor tables in
:mod:`mapper.nest_genomes`, the usage-meeting spatial draws in :mod:`mapper.nest_usage`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from dataflows.dataflow import MAP_DIMS, map_bounds
from dataflows.errors import CoforgeError
from dataflows.layer import Layer
from dataflows.nest_mapping import NestMapping
from mapper.nest_genomes import NestGenomes, stacked_tables
from mapper.nest_draw_jit import (crossover_rows, draw_spatial, draw_temporal, mutate_split,
                                  mutate_swaps, steps_of)
from mapper.nest_jit import fit_rows, fix_idle, over_rows
from mapper.nest_moves import NestMoves
from mapper.nest_usage import usage_table
from sim.hier_plan import usage_order, usage_plan
from sim.hier_cost_jit import capacity_consts
from sim.hierarchy import Hierarchy

ND = len(MAP_DIMS)


class NestSearchError(CoforgeError):
    """Bad search arguments or a layer with no legal mapping found."""


@dataclass(frozen=True)
class NestSpace(NestMoves):
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
    def _stacked(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every dimension's factorization tables of every step count it can reach,
        stacked for the draws' gather (:func:`mapper.nest_genomes.stacked_tables`): its
        spatial factors multiply to at most the product of the sizes of the fanout axes
        that may unroll it (each factor within its axis)."""
        tslots, sslots = self._slots
        return stacked_tables(tuple(int(b) for b in self.bounds),
                              tuple(math.prod(size for _, _, size in x) for x in sslots),
                              tuple(len(x) for x in tslots),
                              max(1, len(self.hier.levels)), self.imperfect)

    def _picks(self, rng: np.random.Generator, i: int, steps: np.ndarray) -> np.ndarray:
        """Per row, one of dimension ``i``'s exact factorizations of ``steps`` over its
        temporal levels, uniformly ([n, levels allowed])."""
        off, size, rows = self._stacked
        if (off[i, steps] < 0).any():       # (every reachable count is stacked)
            raise NestSearchError(f"{MAP_DIMS[i]}: step counts "
                                  f"{sorted(set(steps[off[i, steps] < 0].tolist()))} of "
                                  f"bound {self.bounds[i]} are not reachable")
        k = off[i, steps] + (rng.random(steps.size) * size[i, steps]).astype(np.int64)
        return rows[k, :len(self._slots[0][i])]

    @cached_property
    def _spatial_values(self) -> list[list[np.ndarray]]:
        """Per dim, per allowed fanout axis: the spatial factors it may take there
        (divisors of the bound up to the axis size; with ``imperfect`` every value)."""
        _, sslots = self._slots
        out = []
        for i, b in enumerate(int(v) for v in self.bounds):
            out.append([np.array([v for v in range(1, min(b, self._cap(f, a, i)) + 1)
                                  if self.imperfect or b % v == 0], dtype=np.int64)
                        for f, a, _ in sslots[i]])
        return out

    def outermost(self) -> "NestGenomes":
        """One row: every dimension's whole bound looped at the outermost level that may
        loop it -- the smallest tiles, so it fits wherever every level holds one element
        of what it keeps -- except that the fanouts with a ``min_usage`` unroll the exact
        factors :func:`sim.hier_plan.usage_plan` fills them with (so every usage need is
        met); a seed that keeps a tight space from having no legal row in a small
        budget."""
        tslots, _ = self._slots
        L, F = len(self.hier.levels), len(self.hier.fanouts)
        left = [int(b) for b in self.bounds]
        ax = np.ones((1, F, 2, ND), dtype=np.int64)
        for f, a in enumerate(usage_plan(self.hier, tuple(left))[1]):
            for j, row in enumerate(a or ()):
                for i, v in enumerate(row):
                    ax[0, f, j, i] = v
                    left[i] //= v
        t = np.ones((1, L, ND), dtype=np.int64)
        for i in range(ND):
            if tslots[i]:                   # (a bound > 1 always has one: _slots)
                t[0, tslots[i][0], i] = left[i]
        order = np.broadcast_to(np.arange(ND), (1, L, ND)).copy()
        return NestGenomes(t, order, ax)

    @cached_property
    def _usage(self) -> tuple[tuple[int, ...], tuple]:
        """(per fanout the children a mapping must unroll, a joint exact assignment that
        does): :func:`sim.hier_plan.usage_plan`, the cost model's usage rule."""
        return usage_plan(self.hier, tuple(int(v) for v in self.bounds))

    @cached_property
    def _has_usage(self) -> bool:
        """Some fanout must unroll more than one child."""
        return any(v > 1 for v in self._usage[0])

    @cached_property
    def _usage_tables(self) -> tuple[dict[int, np.ndarray], list[int]]:
        """(per fanout with a need > 1 its :func:`mapper.nest_usage.usage_table`, those
        fanouts in :func:`sim.hier_plan.usage_order`)."""
        needs = self._usage[0]
        b = tuple(int(v) for v in self.bounds)
        return ({f: usage_table(self.hier, f, b, self.imperfect, n)
                 for f, n in enumerate(needs) if n > 1},
                [f for f in usage_order(self.hier) if needs[f] > 1])

    @cached_property
    def _draw_consts(self) -> tuple:
        """:func:`mapper.nest_draw_jit.draw_spatial`'s arrays after (rng, n): bounds,
        imperfect, per dim its fanout axes (count, fanout, axis), their values
        (:attr:`_spatial_values` padded [8, S, M], counts [8, S]), axis sizes [F, 2], and
        the usage repair's (any need, tables stacked [T, 2, 8], offset and length per
        fanout, the fanouts in repair order, needs [F], the joint plan [F, 2, 8] and its
        axes per fanout, tries)."""
        nts, ts, nss, ssf, ssa, sizes, *_ = self._slot_arrays
        vals = self._spatial_values
        S = max(1, ssf.shape[1])
        M = max([1] + [len(v) for per in vals for v in per])
        cand = np.ones((ND, S, M), dtype=np.int64)
        ncand = np.zeros((ND, S), dtype=np.int64)
        for i, per in enumerate(vals):
            for k, v in enumerate(per):
                cand[i, k, :len(v)], ncand[i, k] = v, len(v)
        F = len(self.hier.fanouts)
        tab_off, tab_len = np.zeros(F, np.int64), np.zeros(F, np.int64)
        order_f = np.zeros(0, np.int64)
        tabs = np.ones((0, 2, ND), dtype=np.int64)
        needs = np.ones(F, np.int64)
        how, how_len = np.ones((F, 2, ND), np.int64), np.zeros(F, np.int64)
        if self._has_usage:
            tables, order = self._usage_tables
            needs = np.array(self._usage[0], dtype=np.int64)
            parts, at = [], 0
            for f in range(F):
                t = tables.get(f)
                if t is not None:
                    tab_off[f], tab_len[f] = at, len(t)
                    at += len(t)
                    parts.append(t)
            tabs = np.concatenate([tabs, *parts])
            order_f = np.array(order, dtype=np.int64)
            for f, a in enumerate(self._usage[1]):
                if a is not None:
                    how[f, :len(a)], how_len[f] = np.array(a, dtype=np.int64), len(a)
        return (self.bounds, self.imperfect, nss, ssf, ssa, cand, ncand, sizes,
                self._has_usage, tabs, tab_off, tab_len, order_f, needs, how, how_len, 8)

    def random(self, rng: np.random.Generator, n: int, fit: bool = True) -> "NestGenomes":
        """``n`` structurally legal mappings (capacity is the cost model's ``legal``):
        spatial factors first, per dimension in a random order, each a uniform fitting
        value per fanout axis (rows short of a fanout's ``min_usage`` repaired from its
        :func:`mapper.nest_usage.usage_table`), then each dimension's temporal split of
        what they leave, uniformly from its factorization table, and uniform loop orders
        (compiled: :mod:`mapper.nest_draw_jit`, the same draws as the numpy form kept in
        tests/mapper/test_nest_draw_jit.py); then (``fit``) :meth:`fit` shrinks the tiles
        of rows that overfill a level; rows past a fanout axis's size are redrawn."""
        L = len(self.hier.levels)
        axes = draw_spatial(rng, n, *self._draw_consts)
        steps = steps_of(axes, self.bounds)
        nts, ts = self._slot_arrays[:2]
        temporal, order = draw_temporal(rng, steps, nts, ts, *self._stacked, L)
        g = NestGenomes(temporal, order, axes)
        if fit:
            self.fit(rng, g)
        if self.imperfect:
            self._fix_idle(temporal, axes)
        over = self._over(axes)
        if over.any():                      # a fanout axis past its size: redraw those
            again = self.random(rng, int(over.sum()), fit)
            g.temporal[over], g.order[over], g.axes[over] = \
                again.temporal, again.order, again.axes
        return g

    @cached_property
    def _nest_slots(self) -> tuple[list[tuple[int, int, int]], np.ndarray, np.ndarray]:
        """The factors of one dimension in nest order, outermost first: (kind 0 temporal
        level / 1 fanout axis, index, axis); the dims that may idle (bound > 1 and a
        temporal level to take it); each such dim's outermost allowed level."""
        tslots, _ = self._slots
        parts, li, fi = [], 0, 0
        for node in self.hier.nodes:
            if hasattr(node, "keeps"):
                parts.append((0, li, 0))
                li += 1
            else:
                parts.extend((1, fi, a) for a in range(len(node.size)))
                fi += 1
        dims = np.array([i for i in range(ND) if self.bounds[i] > 1 and tslots[i]],
                        dtype=np.int64)
        return parts, dims, np.array([tslots[i][0] for i in dims], dtype=np.int64)

    @cached_property
    def _nest_slot_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:attr:`_nest_slots`'s slots as (kinds, index, axis) int64 arrays."""
        parts = self._nest_slots[0]
        return tuple(np.array([p[k] for p in parts], dtype=np.int64) for k in range(3))

    def _fix_idle(self, temporal: np.ndarray, axes: np.ndarray) -> None:
        """Rows whose outermost non-unit factor of a dim (in nest order: a padded fanout
        above a temporal loop) would have a fully idle last iteration get that dim's
        whole bound at its outermost allowed level instead (in place; C-contiguous
        arrays). Compiled: :func:`mapper.nest_jit.fix_idle`."""
        _, dims, outer_lv = self._nest_slots
        if dims.size:                       # (none: every factor 1 or nowhere to move it)
            fix_idle(temporal, axes, *self._nest_slot_arrays, dims, outer_lv, self.bounds)

    def _cap(self, f: int, a: int, i: int) -> int:
        """The largest factor axis ``a`` of fanout ``f`` may unroll dimension ``i`` by (its
        ``max_factors``, else its size)."""
        return self.hier.fanouts[f].cap(a, MAP_DIMS[i])

    def _over(self, axes: np.ndarray) -> np.ndarray:
        """Rows with a fanout axis past its size or a factor past its ``max_factors``
        (compiled: :func:`mapper.nest_jit.over_rows`)."""
        _, _, _, _, _, sizes, caps, _, _, _ = self._slot_arrays
        return over_rows(np.ascontiguousarray(axes), sizes, caps, self._naxes)

    @cached_property
    def _hood_consts(self) -> tuple:
        """The arguments of :func:`mapper.nest_descent_jit._hood` after the row: the slot
        arrays, the idle rule's and the usage rule's."""
        kinds, index, axis = self._nest_slot_arrays
        _, idims, outer_lv = self._nest_slots
        return (*self._slot_arrays, self._naxes, self.imperfect, kinds, index, axis, idims,
                outer_lv, self.bounds, self._draw_consts[13], self._has_usage)

    @cached_property
    def _idle_levels(self) -> np.ndarray:
        """Per dimension, the level :meth:`_fix_idle` gives its whole bound to (-1: the
        idle rule does not apply to it)."""
        _, dims, outer_lv = self._nest_slots
        out = np.full(ND, -1, dtype=np.int64)
        out[dims] = outer_lv
        return out

    def mutate(self, rng: np.random.Generator, parents: "NestGenomes") -> "NestGenomes":
        """Children: each gets a fresh random split of one dimension within the room its
        parent's other dimensions leave on every fanout axis (the idle rule applied to it;
        the parent's split kept where the fresh one would miss a usage need the parent
        met), and
        half of them also swap two loops of one level's order (compiled:
        :func:`mapper.nest_draw_jit.mutate_split` and
        :func:`~mapper.nest_draw_jit.mutate_swaps`)."""
        c = self._draw_consts
        nts, ts, _, _, _, _, caps, *_ = self._slot_arrays
        t, o, ax = mutate_split(rng, parents.temporal, parents.order, parents.axes, *c[:8],
                                caps, nts, ts, *self._stacked, c[13], c[8],
                                *self._nest_slot_arrays, self._idle_levels)
        mutate_swaps(rng, o)
        return NestGenomes(t, o, ax)

    @cached_property
    def _naxes(self) -> np.ndarray:
        """Per fanout, its number of axes (1 or 2)."""
        return np.array([len(fo.size) for fo in self.hier.fanouts], dtype=np.int64)

    @cached_property
    def _slot_arrays(self) -> tuple:
        """:attr:`_slots` as the arrays of :func:`mapper.nest_jit.neighbourhood`: per dim
        its temporal levels (count [8], padded [8, L]) and fanout axes (count [8], fanout
        and axis [8, S]); axis sizes [F, 2]; ``max_factors`` caps [F, 2, 8]; allowed
        levels [8, L]; the axes in order of first appearance over the dims, rows (f, a,
        size); allowed dims per axis [F, 2, 8]."""
        tslots, sslots = self._slots
        L, F = len(self.hier.levels), len(self.hier.fanouts)
        S = max([1] + [len(x) for x in sslots])
        nts = np.array([len(x) for x in tslots], dtype=np.int64)
        ts = np.zeros((ND, max(L, 1)), dtype=np.int64)
        nss = np.array([len(x) for x in sslots], dtype=np.int64)
        ssf = np.zeros((ND, S), dtype=np.int64)
        ssa = np.zeros((ND, S), dtype=np.int64)
        allowed_t = np.zeros((ND, L), dtype=np.bool_)
        allowed_s = np.zeros((F, 2, ND), dtype=np.bool_)
        axes_of: dict[tuple[int, int], int] = {}
        for i in range(ND):
            ts[i, :len(tslots[i])] = tslots[i]
            allowed_t[i, tslots[i]] = True
            for k, (f, a, size) in enumerate(sslots[i]):
                ssf[i, k], ssa[i, k] = f, a
                allowed_s[f, a, i] = True
                axes_of.setdefault((f, a), size)
        sizes = np.ones((F, 2), dtype=np.int64)
        caps = np.ones((F, 2, ND), dtype=np.int64)
        for f, fo in enumerate(self.hier.fanouts):
            for a, size in enumerate(fo.size):
                sizes[f, a] = size
                caps[f, a] = [self._cap(f, a, i) for i in range(ND)]
        axes_list = np.array([(f, a, size) for (f, a), size in axes_of.items()],
                             dtype=np.int64).reshape(-1, 3)
        return nts, ts, nss, ssf, ssa, sizes, caps, allowed_t, axes_list, allowed_s

    @cached_property
    def _relief(self) -> tuple[np.ndarray, np.ndarray]:
        """(``target[l, d]``: the innermost level above ``l`` that may loop ``d``, -1 if
        none; ``spf[v]``: the smallest prime factor of ``v``, up to the largest bound)."""
        tslots, _ = self._slots
        L = len(self.hier.levels)
        target = np.full((L, ND), -1, dtype=np.int64)
        for d in range(ND):
            for lv in range(L):
                above = [t for t in tslots[d] if t < lv]
                target[lv, d] = above[-1] if above else -1
        top = int(self.bounds.max()) + 1
        spf = np.arange(top, dtype=np.int64)
        for q in range(2, math.isqrt(top - 1) + 1):
            if spf[q] == q:
                view = spf[q * q::q]
                view[view == np.arange(q * q, top, q)] = q
        return target, spf

    def fit(self, rng: np.random.Generator, g: "NestGenomes", passes: int = 64) -> None:
        """In place: rows of ``g`` whose tiles overfill a level
        (:func:`sim.hier_tiles.overfilled_levels`, the cost model's capacity rule) get one
        prime factor of one temporal loop at or below the innermost such level, chosen
        at random, moved to the innermost level above it that may loop that dimension
        -- which shrinks that level's tile and those in between and leaves the rest, so
        a row never gets further from fitting -- until they fit, no such loop is left,
        or ``passes`` rounds are spent. Orders and spatial factors are unchanged.
        Compiled (:func:`mapper.nest_jit.fit_rows`: the same draws from ``rng`` as the
        numpy form it replaced, kept in tests/mapper/test_nest_jit.py as the reference)."""
        target, spf = self._relief
        T = np.ascontiguousarray(g.temporal.transpose(1, 2, 0))      # [L, 8, n]
        S = np.ascontiguousarray(g.axes.prod(axis=2).transpose(1, 2, 0))
        fit_rows(rng, T, S, passes, target, spf, capacity_consts(self.layer, self.hier))
        g.temporal[:] = T.transpose(2, 0, 1)

    def crossover(self, rng: np.random.Generator, a: "NestGenomes",
                  b: "NestGenomes") -> "NestGenomes":
        """Children taking each dimension's split (temporal factors and spatial factors)
        from parent ``a`` or ``b`` with equal odds, and one parent's loop orders whole;
        rows whose mix overfills a fanout axis keep ``a``'s splits."""
        n = len(a)
        return self.cross(rng, NestGenomes.concat(a, b), np.arange(n), n + np.arange(n))

    def cross(self, rng: np.random.Generator, pop: "NestGenomes", ia: np.ndarray,
              ib: np.ndarray) -> "NestGenomes":
        """:meth:`crossover` of the rows ``ia`` and ``ib`` of ``pop`` (compiled:
        :func:`mapper.nest_draw_jit.crossover_rows`, the numpy form's draws)."""
        _, _, _, _, _, sizes, caps, _, _, _ = self._slot_arrays
        t, order, ax = crossover_rows(rng, pop.temporal, pop.order, pop.axes,
                                      np.ascontiguousarray(ia, dtype=np.int64),
                                      np.ascontiguousarray(ib, dtype=np.int64), sizes, caps,
                                      self._naxes, self._draw_consts[13], self._has_usage)
        g = NestGenomes(t, order, ax)
        if self.imperfect:
            self._fix_idle(g.temporal, g.axes)
        return g

    def genomes(self, mappings: "list[NestMapping] | tuple[NestMapping, ...]") -> "NestGenomes":
        """``mappings`` (on this space's hierarchy) as rows; a row that is not in this
        space (a fanout axis past its size, a dimension's factors not covering its bound
        -- exactly, without ``imperfect`` -- or a factor > 1 at a level or axis that may
        not loop that dimension) is a :class:`NestSearchError`."""
        L, F = len(self.hier.levels), len(self.hier.fanouts)
        t = np.ones((len(mappings), L, ND), dtype=np.int64)
        o = np.broadcast_to(np.arange(ND), (len(mappings), L, ND)).copy()
        ax = np.ones((len(mappings), F, 2, ND), dtype=np.int64)
        idx = {d: i for i, d in enumerate(MAP_DIMS)}
        for r, m in enumerate(mappings):
            if len(m.temporal) != L or len(m.spatial) != F:
                raise NestSearchError(f"seed mapping {r}: {len(m.temporal)} levels and "
                                      f"{len(m.spatial)} fanouts; {self.hier.name!r} has "
                                      f"{L} and {F}")
            t[r] = np.array(m.temporal, dtype=np.int64)
            o[r] = np.array([[idx[d] for d in lv] for lv in m.order], dtype=np.int64)
            for f, axes in enumerate(m.spatial):
                for a, vals in enumerate(axes):
                    ax[r, f, a] = vals
        tslots, sslots = self._slots
        allowed_t = np.zeros((L, ND), dtype=bool)
        allowed_s = np.zeros((F, 2, ND), dtype=bool)
        for i in range(ND):
            allowed_t[tslots[i], i] = True
            for f, a, _ in sslots[i]:
                allowed_s[f, a, i] = True
        cover = t.prod(axis=1) * ax.prod(axis=(1, 2))
        bad = self._over(ax) | ((t > 1) & ~allowed_t).any(axis=(1, 2)) \
            | ((ax > 1) & ~allowed_s).any(axis=(1, 2, 3)) \
            | ((cover < self.bounds) if self.imperfect else (cover != self.bounds)).any(axis=1)
        if bad.any():
            raise NestSearchError(f"seed mapping {int(np.argmax(bad))} is not in the "
                                  f"{'imperfect' if self.imperfect else 'exact'}-factor "
                                  f"space of {self.layer.name!r} on {self.hier.name!r}")
        g = NestGenomes(t, o, ax)
        if self.imperfect:
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


__all__ = ["NestGenomes", "NestSearchError", "NestSpace"]
