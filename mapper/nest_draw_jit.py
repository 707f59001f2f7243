"""Compiled (numba) random draws of :class:`mapper.nest_space.NestSpace`: its
``random`` (the spatial factors with the ``min_usage`` repair of
:func:`mapper.nest_usage.repair`, then the temporal splits and loop orders of a batch
of rows), its ``crossover`` and the two halves of its ``mutate``.

``draw_spatial``, ``draw_temporal`` and ``crossover_rows`` draw from the caller's
``numpy.random.Generator`` exactly what the numpy form they replace drew, in the same
order (numba's ``Generator.random``, ``integers``,
``permutation`` and ``shuffle`` are numpy's algorithms on the same bit generator; a
1-D ``shuffle`` per (row, level) in C order is what ``Generator.permuted(axis=2)`` does),
so those do not change a seeded search's results; tests/mapper/test_nest_draw_jit.py
keeps the numpy forms as references and compares rows and the generator's final state.
``mutate_split`` is a new rule (one dimension re-split within the parent's room; the
test checks its children's legality). The generator must not be shared with another
thread (numba draws without its lock).
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numba.np.random.random_methods import random_interval

from mapper.nest_jit import __file__ as _nest_file
from mapper.nest_jit import over_rows
from sim.jit_cache import refresh

_JIT = dict(cache=True, nogil=True)


@njit(**_JIT)
def _short_rows(axes, needs, out):
    """``out[r]``: row ``r`` unrolls fewer children than a fanout's need on some fanout
    (:func:`mapper.nest_usage.short`)."""
    n, F = axes.shape[0], axes.shape[1]
    for r in range(n):
        out[r] = False
        for f in range(F):
            if needs[f] <= 1:
                continue
            p = 1
            for a in range(axes.shape[2]):
                for d in range(axes.shape[3]):
                    p *= axes[r, f, a, d]
            if p < needs[f]:
                out[r] = True


@njit(**_JIT)
def _repair(rng, axes, bounds, imperfect, tabs, tab_off, tab_len, order_f, needs, how,
            how_len, tries):
    """:func:`mapper.nest_usage.repair` in place on ``axes`` [n, F, 2, 8], the same draws
    (per fanout in ``order_f``, per try, one ``integers(0, len(table))`` per row still
    short, rows in increasing order)."""
    n, F, A, D = axes.shape
    rows = np.empty(n, dtype=np.int64)
    pick = np.empty(n, dtype=np.int64)
    for q in range(order_f.size):
        f = order_f[q]
        m = 0
        if tab_len[f] > 0:
            for r in range(n):
                p = 1
                for a in range(A):
                    for d in range(D):
                        p *= axes[r, f, a, d]
                if p < needs[f]:
                    rows[m] = r
                    m += 1
        for _ in range(tries):
            if m == 0:
                break
            for k in range(m):
                pick[k] = tab_off[f] + rng.integers(0, tab_len[f])
            left = 0
            for k in range(m):
                r, c = rows[k], pick[k]
                ok = True
                for d in range(D):
                    tot = 1
                    for g in range(F):
                        if g != f:
                            for a in range(A):
                                tot *= axes[r, g, a, d]
                    for a in range(A):
                        tot *= tabs[c, a, d]
                    if (tot > bounds[d]) if imperfect else (bounds[d] % tot != 0):
                        ok = False
                        break
                if ok:
                    for a in range(A):
                        for d in range(D):
                            axes[r, f, a, d] = tabs[c, a, d]
                else:
                    rows[left] = r
                    left += 1
            m = left
    bad = np.empty(n, dtype=np.bool_)
    _short_rows(axes, needs, bad)
    for r in range(n):
        if bad[r]:
            for f in range(F):
                for a in range(A):
                    for d in range(D):
                        axes[r, f, a, d] = how[f, a, d] if a < how_len[f] else 1


@njit(**_JIT)
def draw_spatial(rng, n, bounds, imperfect, nss, ssf, ssa, cand, ncand, sizes,
                 use_usage, tabs, tab_off, tab_len, order_f, needs, how, how_len, tries):
    """``n`` rows of spatial factors ``[n, F, 2, 8]``: per dimension in a random order
    (``rng.permutation(8)``), per fanout axis that may unroll it (``nss``, ``ssf``,
    ``ssa``), one of its values ``cand[i, k, :ncand[i, k]]`` (ascending, first 1) that
    fits the axis's room, uniformly (1 where it does not divide what is left -- exact --
    or would pass the bound -- ``imperfect``); then (``use_usage``) the usage repair."""
    F = sizes.shape[0]
    axes = np.ones((n, F, 2, 8), dtype=np.int64)
    room = np.empty((F, 2, n), dtype=np.int64)
    for f in range(F):
        for a in range(2):
            room[f, a, :] = sizes[f, a]
    left = np.empty(n, dtype=np.int64)
    sp = np.empty(n, dtype=np.int64)
    for i in rng.permutation(8):
        b = bounds[i]
        left[:] = b
        sp[:] = 1
        for k in range(nss[i]):
            f, a, m = ssf[i, k], ssa[i, k], ncand[i, k]
            for r in range(n):
                u = rng.random()
                lo, hi = 0, m               # values <= room (searchsorted, side right)
                while lo < hi:
                    mid = (lo + hi) // 2
                    if cand[i, k, mid] <= room[f, a, r]:
                        lo = mid + 1
                    else:
                        hi = mid
                fits = lo
                v = cand[i, k, np.int64(u * fits)]
                ok = (sp[r] * v <= b) if imperfect else (left[r] % v == 0)
                if not ok:
                    v = 1
                axes[r, f, a, i] = v
                room[f, a, r] //= v
                sp[r] *= v
                if not imperfect:
                    left[r] //= v
    if use_usage:
        _repair(rng, axes, bounds, imperfect, tabs, tab_off, tab_len, order_f, needs, how,
                how_len, tries)
    return axes


@njit(**_JIT)
def steps_of(axes, bounds):
    """Per row and dimension, the temporal steps the spatial factors leave:
    ``ceil(bound / product of its spatial factors)`` ([n, 8])."""
    n = axes.shape[0]
    out = np.empty((n, 8), dtype=np.int64)
    for r in range(n):
        for d in range(8):
            p = 1
            for f in range(axes.shape[1]):
                for a in range(axes.shape[2]):
                    p *= axes[r, f, a, d]
            out[r, d] = -(-bounds[d] // p)
    return out


@njit(**_JIT)
def draw_temporal(rng, steps, nts, ts, off, size, rows, L):
    """Per dimension with temporal levels (``nts[i]`` of them, ``ts[i]``), one of the
    stacked factorizations of each row's ``steps[r, i]`` uniformly (table at
    ``rows[off[i, s]:off[i, s] + size[i, s], :nts[i]]``), then every level's loop order a
    uniform permutation. Returns (temporal [n, L, 8], order [n, L, 8])."""
    n = steps.shape[0]
    temporal = np.ones((n, L, 8), dtype=np.int64)
    for i in range(8):
        if nts[i] == 0:
            continue
        for r in range(n):
            s = steps[r, i]
            if off[i, s] < 0:               # (the tables hold every reachable count)
                raise ValueError("draw_temporal: a step count with no stacked table")
            k = off[i, s] + np.int64(rng.random() * size[i, s])
            for j in range(nts[i]):
                temporal[r, ts[i, j], i] = rows[k, j]
    order = np.empty((n, L, 8), dtype=np.int64)
    bitgen = rng.bit_generator
    for r in range(n):
        for lv in range(L):
            for j in range(8):
                order[r, lv, j] = j
            for j in range(7, 0, -1):       # Generator.shuffle's Fisher-Yates, inlined
                k = np.int64(random_interval(bitgen, j))
                order[r, lv, j], order[r, lv, k] = order[r, lv, k], order[r, lv, j]
    return temporal, order


@njit(**_JIT)
def crossover_rows(rng, T, Od, A, ia, ib, sizes, caps, naxes, needs, use_usage):
    """:meth:`mapper.nest_space.NestSpace.crossover` of parents ``ia[r]`` and ``ib[r]``
    (rows of the population ``T``, ``Od``, ``A``): per dimension the split of either
    (``rng.random((n, 8)) < 0.5`` picks the first), rows past a fanout axis -- or short
    of a usage need the first parent met -- keep the first parent's splits, then one
    parent's loop orders whole (``rng.random(n) < 0.5``). Returns (t, order, axes)."""
    n, L, F = ia.size, T.shape[1], A.shape[1]
    t = np.empty((n, L, 8), dtype=np.int64)
    ax = np.empty((n, F, 2, 8), dtype=np.int64)
    for r in range(n):
        p, q = ia[r], ib[r]
        for d in range(8):
            s = p if rng.random() < 0.5 else q
            for lv in range(L):
                t[r, lv, d] = T[s, lv, d]
            for f in range(F):
                for a in range(2):
                    ax[r, f, a, d] = A[s, f, a, d]
    over = over_rows(ax, sizes, caps, naxes)
    if use_usage:
        mine = np.empty(n, dtype=np.bool_)
        first = np.empty(n, dtype=np.bool_)
        _short_rows(ax, needs, mine)
        _short_rows(A[ia], needs, first)
        for r in range(n):
            over[r] = over[r] or (mine[r] and not first[r])
    for r in range(n):
        if over[r]:
            t[r] = T[ia[r]]
            ax[r] = A[ia[r]]
    order = np.empty((n, L, 8), dtype=np.int64)
    for r in range(n):
        order[r] = Od[ia[r]] if rng.random() < 0.5 else Od[ib[r]]
    return t, order, ax


@njit(**_JIT)
def mutate_split(rng, T, Od, A, bounds, imperfect, nss, ssf, ssa, cand, ncand, sizes, caps,
                 nts, ts, off, size, rows, needs, use_usage, kinds, index, axis, idle_lv):
    """The first half of :meth:`mapper.nest_space.NestSpace.mutate`: each child (a copy of
    parent row ``r``) gets a fresh split of one dimension (``rng.integers(0, 8)``): per
    fanout axis that may unroll it, a uniform value of ``cand`` within the room the
    parent's other dimensions leave there and its cap (1 where it does not divide what is
    left -- exact -- or would pass the bound -- ``imperfect``), then a uniform
    factorization of the steps left over its temporal levels (the stacked tables ``off``,
    ``size``, ``rows``); with ``imperfect``, the idle rule of
    :func:`mapper.nest_jit.fix_idle` on that dimension (nest-order slots ``kinds``,
    ``index``, ``axis``; its outermost allowed level ``idle_lv[d]``, -1: the rule does not
    apply). A child that then falls short of a usage need its parent met keeps the
    parent's split of that dimension. Children stay within every axis and cover the
    bounds. Returns (t, order, axes)."""
    n, L, F = T.shape[0], T.shape[1], A.shape[1]
    t, o, ax = T.copy(), Od.copy(), A.copy()
    for r in range(n):
        d = rng.integers(0, 8)
        b = bounds[d]
        sp, left = 1, b
        for k in range(nss[d]):
            f, a, m = ssf[d, k], ssa[d, k], ncand[d, k]
            other = 1
            for e in range(8):
                if e != d:
                    other *= ax[r, f, a, e]
            room = min(caps[f, a, d], sizes[f, a] // other)
            lo, hi = 0, m                   # values <= room
            while lo < hi:
                mid = (lo + hi) // 2
                if cand[d, k, mid] <= room:
                    lo = mid + 1
                else:
                    hi = mid
            v = cand[d, k, np.int64(rng.random() * lo)]
            ok = (sp * v <= b) if imperfect else (left % v == 0)
            if not ok:
                v = 1
            ax[r, f, a, d] = v
            sp *= v
            if not imperfect:
                left //= v
        if nts[d] > 0:
            steps = -(-b // sp)
            if off[d, steps] < 0:           # (the tables hold every reachable count)
                raise ValueError("mutate_split: a step count with no stacked table")
            j = off[d, steps] + np.int64(rng.random() * size[d, steps])
            for lv in range(L):
                t[r, lv, d] = 1
            for c in range(nts[d]):
                t[r, ts[d, c], d] = rows[j, c]
        if imperfect and idle_lv[d] >= 0:   # the idle rule, on the one dimension changed
            total, outer = 1, 0
            for p in range(kinds.size):
                v = t[r, index[p], d] if kinds[p] == 0 else ax[r, index[p], axis[p], d]
                total *= v
                if outer == 0 and v > 1:
                    outer = v
            if outer > 0 and total - total // outer >= b:
                for f in range(F):
                    for a in range(2):
                        ax[r, f, a, d] = 1
                for lv in range(L):
                    t[r, lv, d] = 1
                t[r, idle_lv[d], d] = b
        if use_usage:
            short = False
            for f in range(F):
                if needs[f] <= 1:
                    continue
                p, q = 1, 1
                for a in range(2):
                    for e in range(8):
                        p *= ax[r, f, a, e]
                        q *= A[r, f, a, e]
                if p < needs[f] and q >= needs[f]:
                    short = True
            if short:
                for lv in range(L):
                    t[r, lv, d] = T[r, lv, d]
                for f in range(F):
                    for a in range(2):
                        ax[r, f, a, d] = A[r, f, a, d]
    return t, o, ax


@njit(**_JIT)
def mutate_swaps(rng, o):
    """The second half of :meth:`mapper.nest_space.NestSpace.mutate`, in place on the
    orders ``o`` [n, L, 8]: half the rows (``rng.random(n) < 0.5``) swap two loops
    (``integers`` for the level, then every row's first loop, then every second)."""
    n, L = o.shape[0], o.shape[1]
    rows = np.empty(n, dtype=np.int64)
    m = 0
    for r in range(n):
        if rng.random() < 0.5:
            rows[m] = r
            m += 1
    lv = np.empty(m, dtype=np.int64)
    a = np.empty(m, dtype=np.int64)
    for k in range(m):
        lv[k] = rng.integers(0, L)
    for k in range(m):
        a[k] = rng.integers(0, 8)
    for k in range(m):
        b = rng.integers(0, 8)
        r = rows[k]
        o[r, lv[k], a[k]], o[r, lv[k], b] = o[r, lv[k], b], o[r, lv[k], a[k]]


@njit(**_JIT)
def resplit_rooms(a0, d, nss, ssf, ssa, sizes, caps):
    """Per fanout axis that may unroll dimension ``d`` (``ssf[d, k]``, ``ssa[d, k]``), the
    largest factor it may take there in row ``a0`` [F, 2, 8]: its cap, or the axis size
    over what the other dimensions unroll on it, whichever is smaller."""
    out = np.empty(nss[d], dtype=np.int64)
    for k in range(nss[d]):
        f, a = ssf[d, k], ssa[d, k]
        other = 1
        for e in range(8):
            if e != d:
                other *= a0[f, a, e]
        out[k] = min(caps[f, a, d], sizes[f, a] // other)
    return out


@njit(**_JIT)
def resplit_rows(t0, o0, a0, d, nts, ts, ssf, ssa, tvals, svals):
    """Row (``t0``, ``o0``, ``a0``) with dimension ``d``'s split replaced by each of
    ``tvals`` [n, levels] (its temporal factors at levels ``ts[d, :nts[d]]``) and
    ``svals`` [n, axes] (its spatial factors on axes ``ssf[d]``, ``ssa[d]``); the rest of
    the row unchanged. Returns (t, order, axes)."""
    n = tvals.shape[0]
    t = np.empty((n,) + t0.shape, dtype=np.int64)
    o = np.empty((n,) + o0.shape, dtype=np.int64)
    ax = np.empty((n,) + a0.shape, dtype=np.int64)
    for r in range(n):
        t[r] = t0
        o[r] = o0
        ax[r] = a0
        for lv in range(t0.shape[0]):
            t[r, lv, d] = 1
        for j in range(nts[d]):
            t[r, ts[d, j], d] = tvals[r, j]
        for k in range(svals.shape[1]):
            ax[r, ssf[d, k], ssa[d, k], d] = svals[r, k]
    return t, o, ax


refresh(globals(), [__file__, _nest_file])      # (and the nest_jit kernel it calls)
