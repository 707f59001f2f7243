"""Divisors and prime factors of loop bounds: the factor tables every mapping space and
the usage rule draw from (one definition; cached, read-only tuples)."""

from __future__ import annotations

import math
from functools import lru_cache


@lru_cache(maxsize=65536)
def divisors(n: int) -> tuple[int, ...]:
    """Every positive divisor of ``n`` (>= 1), ascending."""
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return tuple(sorted(set(small + [n // d for d in small])))


@lru_cache(maxsize=65536)
def primes(n: int) -> tuple[int, ...]:
    """The distinct prime factors of ``n``, ascending (none for 1)."""
    out, p = [], 2
    while p * p <= n:
        if n % p == 0:
            out.append(p)
            while n % p == 0:
                n //= p
        p += 1
    return tuple(out + ([n] if n > 1 else []))


__all__ = ["divisors", "primes"]
