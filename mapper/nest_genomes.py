"""Populations of nest mappings as arrays (:class:`NestGenomes`) and the factor tables
the search draws from: every ordered factorization of a step count, stacked for the
draws' gather, and every re-split of one dimension (divisors and primes:
:mod:`dataflows.factors`).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from dataflows.factors import divisors, primes
from dataflows.nest_mapping import NestBatch
from mapper.nest_jit import axis_products


def _compositions(e: int, k: int) -> np.ndarray:
    """Every way to split exponent ``e`` over ``k`` ordered parts ([c, k], stars and bars)."""
    rows = []
    for bars in itertools.combinations(range(e + k - 1), k - 1):
        prev, row = -1, []
        for b in bars:
            row.append(b - prev - 1)
            prev = b
        row.append(e + k - 2 - prev)
        rows.append(row)
    return np.array(rows, dtype=np.int64).reshape(-1, k)


@lru_cache(maxsize=4096)
def _factorizations(n: int, slots: int) -> np.ndarray:
    """Every ordered tuple of ``slots`` positive ints whose product is ``n`` ([k, slots]),
    in lexicographic order: per prime of ``n`` every split of its exponent over the
    slots, multiplied out (``slots`` 0: the one empty tuple, as for a dimension with no
    temporal level; cached across searches: read-only)."""
    rows = np.ones((1, slots), dtype=np.int64)
    if slots:
        for p in primes(n):
            e, m = 0, n
            while m % p == 0:
                m //= p
                e += 1
            rows = (rows[:, None, :] * p ** _compositions(e, slots)[None]).reshape(-1, slots)
        rows = rows[np.lexsort(rows.T[::-1])]
    rows.flags.writeable = False
    return rows


def reachable_steps(bound: int, spatial_max: int, imperfect: bool) -> list[int]:
    """Every temporal step count a dimension of ``bound`` can be left with by spatial
    factors multiplying to ``s <= spatial_max``: ``bound // s`` for the divisors ``s``
    (exact factors), ``ceil(bound / s)`` for every ``s`` (imperfect), ascending."""
    if not imperfect:
        return sorted(bound // d for d in divisors(bound) if d <= spatial_max)
    return sorted({-(-bound // s) for s in range(1, min(bound, spatial_max) + 1)})


@lru_cache(maxsize=64)
def stacked_tables(bounds: tuple[int, ...], spatial_max: tuple[int, ...],
                   slots: tuple[int, ...], width: int,
                   imperfect: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every dimension's factorization tables (:func:`_factorizations` over its ``slots[i]``
    temporal levels) of every step count it can reach with spatial factors multiplying to
    at most ``spatial_max[i]`` (:func:`reachable_steps`), stacked
    for a gather: (row offset [8, max bound + 1], -1 where unreachable; table length, same
    shape; the rows [k, ``width``], dim ``i``'s in its first ``slots[i]`` columns, the
    rest 1). Cached across searches (read-only)."""
    top = max(bounds) + 1
    off = np.full((len(bounds), top), -1, dtype=np.int64)
    size = np.zeros((len(bounds), top), dtype=np.int64)
    tabs = [(i, v, _factorizations(v, k)) for i, (b, k) in enumerate(zip(bounds, slots))
            if k for v in reachable_steps(b, spatial_max[i], imperfect)]
    rows = np.ones((sum(len(t) for _, _, t in tabs), width), dtype=np.int64)
    at = 0
    for i, v, tab in tabs:
        off[i, v], size[i, v] = at, len(tab)
        rows[at:at + len(tab), :tab.shape[1]] = tab
        at += len(tab)
    for a in (off, size, rows):
        a.flags.writeable = False
    return off, size, rows


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
        return NestBatch(self.temporal, self.order, axis_products(self.axes))

    def take(self, idx: np.ndarray) -> "NestGenomes":
        return NestGenomes(self.temporal[idx], self.order[idx], self.axes[idx])

    @staticmethod
    def concat(a: "NestGenomes", b: "NestGenomes") -> "NestGenomes":
        return NestGenomes.concat_all([a, b])

    @staticmethod
    def concat_all(parts: list["NestGenomes"]) -> "NestGenomes":
        return NestGenomes(np.concatenate([p.temporal for p in parts]),
                           np.concatenate([p.order for p in parts]),
                           np.concatenate([p.axes for p in parts]))


__all__ = ["NestGenomes"]
