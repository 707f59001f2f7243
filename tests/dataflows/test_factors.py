"""dataflows.factors against brute force: every divisor by trial division of every
candidate, primes by their defining properties."""

from __future__ import annotations

import math

from dataflows.factors import divisors, primes


def test_divisors_equal_trial_division() -> None:
    for n in range(1, 3001):
        assert divisors(n) == tuple(d for d in range(1, n + 1) if n % d == 0), n


def test_primes_are_the_distinct_prime_factors() -> None:
    for n in range(1, 3001):
        ps = primes(n)
        assert list(ps) == sorted(set(ps))
        assert all(len(divisors(p)) == 2 for p in ps)           # each is prime
        rest = n
        for p in ps:
            while rest % p == 0:
                rest //= p
        assert rest == 1, n                                       # and they are all
    assert primes(1) == () and primes(2 ** 10 * 3 ** 4 * 7) == (2, 3, 7)
    assert primes(7919) == (7919,) and math.prod(primes(30)) == 30
