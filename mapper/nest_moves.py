"""The coordinate descent's neighbourhoods of one row (:class:`NestMoves`, a part of
:class:`mapper.nest_space.NestSpace`): one prime factor moved, every re-split of one
dimension, trades of a fanout axis or of two temporal levels between two dimensions,
every order of one level's busy loops. Each returns the neighbours as
:class:`~mapper.nest_genomes.NestGenomes`, structurally legal and covering the bounds.
The rows of the single moves and of the trades are generated compiled
(:func:`mapper.nest_jit.neighbourhood`, tested equal to the plain loops they replace,
tests/mapper/test_nest_jit.py); the re-splits' values are cached across searches.
"""

from __future__ import annotations

import itertools
import math
from functools import lru_cache

import numpy as np

from dataflows.dataflow import MAP_DIMS
from mapper.nest_genomes import NestGenomes, _factorizations
from mapper.nest_draw_jit import resplit_rooms, resplit_rows
from mapper.nest_jit import neighbourhood

ND = len(MAP_DIMS)


@lru_cache(maxsize=8192)
def resplit_values(bound: int, levels: int, imperfect: bool, rooms: tuple[int, ...],
                   cap: int) -> tuple[np.ndarray, np.ndarray]:
    """Every split of a dimension of ``bound`` over fanout axes with room ``rooms`` (a
    spatial factor per axis, each at most its room, dividing what is left -- exact -- or
    their product at most the bound -- ``imperfect``) and then ``levels`` temporal levels
    (every exact factorization of the ``ceil(bound / spatial)`` steps left), in that
    order: (temporal factors [n, levels], spatial factors [n, axes]); at most ``cap``,
    evenly spaced over the whole list, when there are more. Read-only."""
    b = bound
    combos: list[tuple[int, ...]] = [()]
    for room in rooms:
        cand = [v for v in range(1, min(b, room) + 1) if imperfect or b % v == 0]
        combos = [c + (v,) for c in combos for v in cand
                  if math.prod(c) * v <= b and (imperfect or b % (math.prod(c) * v) == 0)]
    tabs = [_factorizations(-(-b // math.prod(c)), levels) for c in combos]
    lens = np.array([len(tab) for tab in tabs], dtype=np.int64)
    pick = np.arange(int(lens.sum()))
    if len(pick) > cap:                     # evenly spaced over the whole list
        pick = np.unique(np.linspace(0, len(pick) - 1, cap).astype(np.int64))
    tvals = np.concatenate(tabs)[pick]
    svals = np.repeat(np.array(combos, dtype=np.int64).reshape(len(combos), len(rooms)),
                      lens, axis=0)[pick]
    tvals.flags.writeable = svals.flags.writeable = False
    return tvals, svals


class NestMoves:
    """The neighbourhoods; uses the space's ``bounds``, ``hier``, ``imperfect``,
    ``_slots``, ``_slot_arrays``, ``_fix_idle``, ``_legal_rows`` and ``_drop_short``."""

    def neighbours(self, g: "NestGenomes", i: int) -> "NestGenomes":
        """Every mapping one step from row ``i``: one prime factor of one dimension moved
        from one of its temporal levels or fanout axes to another (the product, hence the
        bounds covered, unchanged; a fanout axis never past its size), or two loops of one
        level swapped where either has a factor > 1 there."""
        g2 = NestGenomes(*neighbourhood("neighbours", g.temporal[i], g.order[i], g.axes[i],
                                        self._slot_arrays))       # compiled, same order
        if self.imperfect and len(g2):
            self._fix_idle(g2.temporal, g2.axes)
        return self._drop_short(g2)

    def resplits(self, g: "NestGenomes", i: int, d: int, cap: int = 4096) -> "NestGenomes":
        """Every split of dimension ``d`` of row ``i`` (its spatial factors within the
        room the other dimensions leave on each fanout axis, then every exact
        factorization of the remaining steps over its temporal levels), the rest of the
        row unchanged; at most ``cap`` of them, evenly spaced over the whole list, when
        there are more (deep hierarchies: a bound over 7 levels)."""
        nts, ts, nss, ssf, ssa, sizes, caps, *_ = self._slot_arrays
        t0, o0, a0 = g.temporal[i], g.order[i], g.axes[i]
        rooms = tuple(resplit_rooms(a0, d, nss, ssf, ssa, sizes, caps).tolist())
        tvals, svals = self._resplit_values(d, rooms, cap)
        return self._legal_rows(NestGenomes(*resplit_rows(t0, o0, a0, d, nts, ts, ssf, ssa,
                                                          tvals, svals)))

    def _resplit_values(self, d: int, rooms: tuple[int, ...], cap: int
                        ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`resplits`'s splits of dimension ``d`` given the room on each of its
        fanout axes: (temporal factors at its levels [n, levels], spatial factors on its
        axes [n, axes]) -- :func:`resplit_values`, cached across searches (a descent asks
        again and again)."""
        return resplit_values(int(self.bounds[d]), len(self._slots[0][d]), self.imperfect,
                              rooms, cap)

    def spatial_trades(self, g: "NestGenomes", i: int) -> "NestGenomes":
        """Row ``i`` with one fanout axis trading between two dimensions: dimension ``d``
        gives up a prime ``p`` of its factor there (``p`` joins one of its temporal
        levels) and dimension ``e`` takes a divisor ``q`` of its factor at one of its
        temporal levels onto the axis (within the axis size). Products per dimension are
        unchanged, so the bounds stay covered; a move no single re-split can make when
        the axis is full (e.g. R 3 x C 4 -> C 16)."""
        return self._legal_rows(NestGenomes(*neighbourhood(
            "spatial_trades", g.temporal[i], g.order[i], g.axes[i], self._slot_arrays)))

    def temporal_trades(self, g: "NestGenomes", i: int) -> "NestGenomes":
        """Row ``i`` with two temporal levels trading: a prime ``p`` of dimension ``d``'s
        factor moves from level ``x`` to level ``y`` and a divisor ``q`` of dimension
        ``e``'s factor moves from ``y`` to ``x`` (a tile that grows in one dimension and
        shrinks in another, which a capacity may allow only together)."""
        return self._legal_rows(NestGenomes(*neighbourhood(
            "temporal_trades", g.temporal[i], g.order[i], g.axes[i], self._slot_arrays)))

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


__all__ = ["NestMoves"]
