"""Compiled (numba) helpers of :mod:`mapper.nest_space`: the per-row loops of the nest
search's moves that cost more as numpy calls than as work. Each equals the numpy rule
it replaces row for row (tests/mapper/test_nest_jit.py); none draws random numbers, so
a seeded search's results do not change. Compiled on first use and cached on disk
beside this file; :func:`warm` (``python -m mapper.nest_jit``, run by ``make install``)
compiles or loads these, the cost kernels of :mod:`sim.hier_cost_jit` and the search's
other compiled parts (:mod:`mapper.nest_draw_jit`, :mod:`mapper.nest_descent_jit`) up
front.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from sim.hier_cost_jit import __file__ as _cost_file
from sim.hier_cost_jit import overfilled_rows
from sim.hier_rows_jit import __file__ as _rows_file
from sim.jit_cache import refresh

_JIT = dict(cache=True, nogil=True)


def fix_idle(temporal: np.ndarray, axes: np.ndarray, kinds: np.ndarray, index: np.ndarray,
             axis: np.ndarray, dims: np.ndarray, outer_lv: np.ndarray,
             bounds: np.ndarray) -> None:
    """In place, :meth:`mapper.nest_space.NestSpace._fix_idle`'s rule: per row and per
    dimension ``dims[c]``, where the outermost factor > 1 in nest order (slots ``kinds``
    0 temporal level / 1 fanout axis, ``index``, ``axis``, outermost first) would leave
    the last of its iterations wholly idle (``total - total // outer >= bound``), every
    factor of that dimension becomes 1 but its whole bound at level ``outer_lv[c]``.
    ``temporal`` [n, L, 8] and ``axes`` [n, F, 2, 8] int64, C-contiguous."""
    if not (temporal.flags.c_contiguous and axes.flags.c_contiguous):
        raise ValueError("fix_idle needs C-contiguous temporal and axes arrays")
    _fix_idle(temporal, axes, kinds, index, axis, dims, outer_lv, bounds)


@njit(**_JIT)
def _fix_idle(temporal, axes, kinds, index, axis, dims, outer_lv, bounds):
    for r in range(temporal.shape[0]):
        for c in range(dims.size):
            d = dims[c]
            total, outer = 1, 0
            for p in range(kinds.size):
                v = temporal[r, index[p], d] if kinds[p] == 0 else \
                    axes[r, index[p], axis[p], d]
                total *= v
                if outer == 0 and v > 1:
                    outer = v
            if outer == 0:                  # every factor 1: nothing idles
                continue
            if total - total // outer >= bounds[d]:
                for f in range(axes.shape[1]):
                    for a in range(axes.shape[2]):
                        axes[r, f, a, d] = 1
                for lv in range(temporal.shape[1]):
                    temporal[r, lv, d] = 1
                temporal[r, outer_lv[c], d] = bounds[d]




@njit(**_JIT)
def fanout_products(axes: np.ndarray) -> np.ndarray:
    """Per row and fanout, the children it unrolls: ``axes[:, f].prod(axis=(1, 2))``
    ([n, F] int64) of ``axes`` [n, F, 2, 8]."""
    n, F = axes.shape[0], axes.shape[1]
    out = np.ones((n, F), dtype=np.int64)
    for r in range(n):
        for f in range(F):
            p = 1
            for a in range(axes.shape[2]):
                for d in range(axes.shape[3]):
                    p *= axes[r, f, a, d]
            out[r, f] = p
    return out


@njit(**_JIT)
def axis_products(axes: np.ndarray) -> np.ndarray:
    """Per row, fanout and dimension, the spatial factor over the fanout's axes:
    ``axes.prod(axis=2)`` ([n, F, 8] int64) of ``axes`` [n, F, 2, 8]."""
    n, F, A, D = axes.shape
    out = np.ones((n, F, D), dtype=np.int64)
    for r in range(n):
        for f in range(F):
            for a in range(A):
                for d in range(D):
                    out[r, f, d] *= axes[r, f, a, d]
    return out


@njit(**_JIT)
def fit_apply(T: np.ndarray, ok: np.ndarray, over: np.ndarray, target: np.ndarray,
              spf: np.ndarray, u: np.ndarray) -> None:
    """In place, one pass of :meth:`mapper.nest_space.NestSpace.fit` on rows ``ok``: the
    candidate (level j, dim d) with the largest draw ``u[k, j, d]`` (first in (j, d)
    order on a tie, as numpy's argmax) gives its smallest prime ``spf[T[j, d]]`` to
    level ``target[over, d]``."""
    L = T.shape[0]
    for k in range(ok.size):
        i = ok[k]
        best, bj, bd = -1.0, 0, 0
        for j in range(L):
            for d in range(8):
                v = u[k, j, d] if (j >= over[i] and T[j, d, i] > 1 and
                                   target[over[i], d] >= 0) else -1.0
                if v > best:
                    best, bj, bd = v, j, d
        p = spf[T[bj, bd, i]]
        T[bj, bd, i] //= p
        T[target[over[i], bd], bd, i] *= p



@njit(**_JIT)
def _fit_rows(rng, T, S, passes, target, spf, ci, bnd, pos, keeps, streams, ebits, bounded,
              part, usable):
    n, L = T.shape[2], T.shape[0]
    active = np.ones(n, dtype=np.bool_)
    over = np.empty(n, dtype=np.int64)
    ok = np.empty(n, dtype=np.int64)
    for _ in range(passes):
        overfilled_rows(T, S, active, ci, bnd, pos, keeps, streams, ebits, bounded, part,
                        usable, over)
        k = 0
        for b in range(n):
            if not active[b]:
                continue
            found = False
            if over[b] >= 0:
                for j in range(over[b], L):
                    for d in range(8):
                        if T[j, d, b] > 1 and target[over[b], d] >= 0:
                            found = True
                            break
                    if found:
                        break
            if found:
                ok[k] = b
                k += 1
            else:
                active[b] = False       # fits, or nothing left a level above may take
        if k == 0:
            break
        u = rng.random((k, L, 8))       # the numpy form's draw, same shape, same order
        fit_apply(T, ok[:k], over, target, spf, u)


def fit_rows(rng: np.random.Generator, T: np.ndarray, S: np.ndarray,
             passes: int, target: np.ndarray, spf: np.ndarray, capacity: tuple) -> None:
    """In place, the whole of :meth:`mapper.nest_space.NestSpace.fit` on the
    dimension-major rows ``T`` [L, 8, n] (``S`` [F, 8, n] spatial): per pass, the rows
    still overfilled (:func:`sim.hier_cost_jit.overfilled_rows`) with a factor to move
    draw ``rng.random((rows, L, 8))`` and move one prime (:func:`fit_apply`); the
    generator advances exactly as under the numpy form. ``capacity``:
    :func:`sim.hier_cost_jit.capacity_consts`. ``rng`` must be a
    ``numpy.random.Generator`` not shared with another thread (numba draws from it
    without its lock)."""
    if T.size and (T.max() >= spf.size or T.min() < 1):     # (no bounds checks compiled)
        raise ValueError(f"fit_rows: temporal factors must lie in 1..{spf.size - 1}")
    _fit_rows(rng, T, S, passes, target, spf, *capacity)



@njit(**_JIT)
def over_rows(axes: np.ndarray, sizes: np.ndarray, caps: np.ndarray,
              naxes: np.ndarray) -> np.ndarray:
    """:meth:`mapper.nest_space.NestSpace._over`: rows of ``axes`` [n, F, 2, 8] with one
    of fanout f's ``naxes[f]`` axes past its size (``sizes`` [F, 2]) or a factor past
    its cap (``caps`` [F, 2, 8], the size where uncapped)."""
    n, F = axes.shape[0], axes.shape[1]
    out = np.zeros(n, dtype=np.bool_)
    for r in range(n):
        for f in range(F):
            for a in range(naxes[f]):
                p = 1
                for d in range(8):
                    v = axes[r, f, a, d]
                    p *= v
                    if v > caps[f, a, d]:
                        out[r] = True
                if p > sizes[f, a]:
                    out[r] = True
    return out


# -- the descent's neighbourhoods of one row (mapper.nest_moves), rows in the same order --
@njit(**_JIT)
def _primes(n: int, out: np.ndarray) -> int:
    """The distinct prime factors of ``n`` ascending into ``out``; how many
    (dataflows.factors.primes)."""
    k, p = 0, 2
    while p * p <= n:
        if n % p == 0:
            out[k] = p
            k += 1
            while n % p == 0:
                n //= p
        p += 1
    if n > 1:
        out[k] = n
        k += 1
    return k


@njit(**_JIT)
def _divisors(n: int, out: np.ndarray) -> int:
    """Every divisor of ``n`` ascending into ``out``; how many (dataflows.factors.divisors)."""
    k, i = 0, 1
    while i * i <= n:
        if n % i == 0:
            out[k] = i
            k += 1
        i += 1
    m = k
    for j in range(m - 1, -1, -1):
        q = n // out[j]
        if q != out[j]:
            out[k] = q
            k += 1
    return k


@njit(**_JIT)
def _neighbours(t0, o0, a0, nts, ts, nss, ssf, ssa, sizes, caps, emit, T, Od, A):
    """mapper.nest_moves.NestMoves.neighbours' rows (before the idle and usage rules):
    one prime of one dimension moved between two of its slots (temporal levels, then
    fanout axes), an axis never past its size or cap; then two loops of one level
    swapped where either has a factor > 1. Counts only unless ``emit``; returns the
    count."""
    L = t0.shape[0]
    pr = np.empty(64, dtype=np.int64)
    n = 0
    for d in range(8):
        ns = nts[d] + nss[d]
        for si in range(ns):
            v = t0[ts[d, si], d] if si < nts[d] else \
                a0[ssf[d, si - nts[d]], ssa[d, si - nts[d]], d]
            np_ = _primes(v, pr)
            for k in range(np_):
                prime = pr[k]
                for di in range(ns):
                    if di == si:
                        continue
                    if di >= nts[d]:            # onto a fanout axis: its size and cap
                        f, a = ssf[d, di - nts[d]], ssa[d, di - nts[d]]
                        used = 1                # (the source is another axis or a level)
                        for e in range(8):
                            used *= a0[f, a, e]
                        if used * prime > sizes[f, a] or a0[f, a, d] * prime > caps[f, a, d]:
                            continue
                    if emit:
                        _copy_row(t0, o0, a0, n, T, Od, A)
                        if si < nts[d]:
                            T[n, ts[d, si], d] //= prime
                        else:
                            A[n, ssf[d, si - nts[d]], ssa[d, si - nts[d]], d] //= prime
                        if di < nts[d]:
                            T[n, ts[d, di], d] *= prime
                        else:
                            A[n, ssf[d, di - nts[d]], ssa[d, di - nts[d]], d] *= prime
                    n += 1
    for lv in range(L):
        for x in range(8):
            for y in range(x + 1, 8):
                if t0[lv, o0[lv, x]] > 1 or t0[lv, o0[lv, y]] > 1:
                    if emit:
                        _copy_row(t0, o0, a0, n, T, Od, A)
                        Od[n, lv, x], Od[n, lv, y] = o0[lv, y], o0[lv, x]
                    n += 1
    return n



@njit(**_JIT)
def _copy_row(t0, o0, a0, n, T, Od, A):
    for lv in range(t0.shape[0]):
        for e in range(8):
            T[n, lv, e] = t0[lv, e]
            Od[n, lv, e] = o0[lv, e]
    for f in range(a0.shape[0]):
        for a in range(a0.shape[1]):
            for e in range(8):
                A[n, f, a, e] = a0[f, a, e]


@njit(**_JIT)
def _temporal_trades(t0, o0, a0, nts, ts, allowed_t, emit, T, Od, A):
    """mapper.nest_moves.NestMoves.temporal_trades' rows (before the legality rules): a
    prime of dimension d moves from level x to level y and a divisor > 1 of dimension
    e's factor moves from y to x. Counts only unless ``emit``; returns the count."""
    pr = np.empty(64, dtype=np.int64)
    dv = np.empty(4096, dtype=np.int64)
    n = 0
    for d in range(8):
        for xi in range(nts[d]):
            x = ts[d, xi]
            np_ = _primes(t0[x, d], pr)
            for k in range(np_):
                p = pr[k]
                for yi in range(nts[d]):
                    y = ts[d, yi]
                    if y == x:
                        continue
                    for e in range(8):
                        if e == d or not allowed_t[e, x] or not allowed_t[e, y]:
                            continue
                        nd = _divisors(t0[y, e], dv)
                        for j in range(1, nd):
                            if emit:
                                q = dv[j]
                                _copy_row(t0, o0, a0, n, T, Od, A)
                                T[n, x, d] //= p
                                T[n, y, d] *= p
                                T[n, y, e] //= q
                                T[n, x, e] *= q
                            n += 1
    return n


@njit(**_JIT)
def _spatial_trades(t0, o0, a0, nts, ts, axes_list, allowed_s, emit, T, Od, A):
    """mapper.nest_moves.NestMoves.spatial_trades' rows (before the legality rules): on
    fanout axis (f, a) (``axes_list`` rows (f, a, size) in first-appearance order),
    dimension d gives a prime p of its factor to one of its levels x and dimension e
    takes a divisor q > 1 of its factor at level y onto the axis, within the axis size.
    Counts only unless ``emit``; returns the count."""
    pr = np.empty(64, dtype=np.int64)
    dv = np.empty(4096, dtype=np.int64)
    n = 0
    for r in range(axes_list.shape[0]):
        f, a, size = axes_list[r, 0], axes_list[r, 1], axes_list[r, 2]
        used = 1
        for e in range(8):
            used *= a0[f, a, e]
        for d in range(8):
            if not allowed_s[f, a, d]:
                continue
            np_ = _primes(a0[f, a, d], pr)
            for k in range(np_):
                p = pr[k]
                for xi in range(nts[d]):
                    x = ts[d, xi]
                    for e in range(8):
                        if e == d or not allowed_s[f, a, e]:
                            continue
                        for yi in range(nts[e]):
                            y = ts[e, yi]
                            nd = _divisors(t0[y, e], dv)
                            for j in range(1, nd):
                                q = dv[j]
                                if used // p * q <= size:
                                    if emit:
                                        _copy_row(t0, o0, a0, n, T, Od, A)
                                        A[n, f, a, d] //= p
                                        T[n, x, d] *= p
                                        A[n, f, a, e] *= q
                                        T[n, y, e] //= q
                                    n += 1
    return n


def warm() -> float:
    """Load (or, on a cold cache, compile: about 50 s once) every compiled kernel of the
    nest search -- :func:`sim.hier_cost_jit.warm`'s, this module's,
    :mod:`mapper.nest_draw_jit`'s and :mod:`mapper.nest_descent_jit`'s (a small search
    runs them all). Seconds taken."""
    import time

    from sim.hier_cost_jit import warm as warm_cost
    t0 = time.perf_counter()
    warm_cost()
    t = np.ones((1, 2, 8), dtype=np.int64)
    ax = np.ones((1, 1, 2, 8), dtype=np.int64)
    one = np.zeros(1, dtype=np.int64)
    fix_idle(t, ax, np.array([0, 1, 0]), np.array([0, 0, 1]), np.array([0, 0, 0]), one,
             one, np.full(8, 2, dtype=np.int64))
    from mapper.nest_space import NestSpace
    from sim.hierarchy import Fanout, Hierarchy, StorageLevel
    hier = Hierarchy("warm", (StorageLevel("dram"), Fanout("f", size=(2,), dims=(("K",),)),
                              StorageLevel("buf", capacity_bytes=1024)))
    from dataflows.layer import Layer
    space = NestSpace(Layer("warm", K=4, C=2), hier)
    g = space.outermost()
    fanout_products(g.axes)
    axis_products(g.axes)
    over_rows(g.axes, space._slot_arrays[5], space._slot_arrays[6], space._naxes)
    rng = np.random.default_rng(0)
    pop = space.random(rng, 2, fit=False)             # and mapper.nest_draw_jit's kernels
    space.fit(rng, pop)
    space.mutate(rng, space.crossover(rng, pop, pop))
    space.resplits(pop, 0, 1)
    from mapper.nest_search import search
    search(Layer("warm", K=4, C=2), hier, max_evals=60, population=4)   # the descent
    return time.perf_counter() - t0



refresh(globals(), [__file__, _cost_file, _rows_file])  # callees' edits reach this module's cache

if __name__ == "__main__":
    print(f"mapper.nest_jit: the nest search's compiled kernels ready ({warm():.1f} s)")
