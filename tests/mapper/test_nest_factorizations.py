"""mapper.nest_genomes._factorizations lists every ordered factorization exactly once, in
lexicographic order: against brute force (every tuple of divisors, kept when the product
is n) for n up to 200 over 1-4 slots (0 slots: the one empty tuple), and on large
powers and highly composite counts against the plain recursion it replaced
(mapper/nest_genomes.py at d4169dd)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from dataflows.factors import divisors
from mapper.nest_genomes import _factorizations


def _recursion(n: int, slots: int) -> list[tuple[int, ...]]:
    if slots == 0:
        return [()]
    if slots == 1:
        return [(n,)]
    return [(d,) + rest for d in divisors(n) for rest in _recursion(n // d, slots - 1)]


def test_no_slots_is_the_empty_tuple() -> None:
    for n in (1, 7, 64):
        assert _factorizations(n, 0).shape == (1, 0)


@pytest.mark.parametrize("slots", [1, 2, 3, 4])
def test_against_brute_force(slots: int) -> None:
    for n in range(1, 201):
        want = sorted(t for t in itertools.product(divisors(n), repeat=slots)
                      if math.prod(t) == n)
        got = _factorizations(n, slots)
        assert got.shape == (len(want), slots) and not got.flags.writeable
        assert [tuple(int(v) for v in r) for r in got] == want


@pytest.mark.parametrize("n", [1024, 2048, 3136, 5040, 32000, 65536])
def test_against_recursion(n: int) -> None:
    for slots in (2, 3, 5):
        assert np.array_equal(_factorizations(n, slots), np.array(_recursion(n, slots)))
