"""Populations of nest mappings as arrays (:class:`NestGenomes`) and the table of every
ordered factorization the space draws temporal splits from (divisors and primes:
:mod:`dataflows.factors`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from dataflows.factors import divisors
from dataflows.nest_mapping import NestBatch
from mapper.nest_jit import axis_products


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
        for d in divisors(left):
            rec(left // d, k - 1, acc + (d,))
    rec(n, slots, ())
    out = np.array(rows, dtype=np.int64)
    out.flags.writeable = False
    return out


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
