"""The coordinate descent of :mod:`mapper.nest_search`, compiled (numba): every round,
every neighbourhood and every cost call in one function, the rule of the Python loop it
replaces kept row for row (tests/mapper/test_nest_descent_jit.py keeps that loop as the
reference and compares end points and evaluation counts).

The descent walks the starts in lockstep: each round takes the next neighbourhood of the
cycle (the single moves, the temporal trades, the spatial trades, every order of each
level's busy loops, every re-split of each dimension of bound > 1) of every start still
descending, costs them in one batch (:func:`sim.hier_cost_jit._cost_rows`, the values of
:func:`sim.hier_cost.evaluate_batch`), and moves each start to its neighbourhood's best
when that is strictly better; a start stops after a whole cycle without a move, and all
stop when the budget is spent or the clock passes the deadline. The re-splits' values
come from :func:`mapper.nest_genomes.resplit_values` (cached in Python, called from the
compiled loop in object mode).
"""

from __future__ import annotations

import time

import numpy as np
from numba import njit, objmode
from numba.typed import List

from mapper.nest_draw_jit import __file__ as _draw_file
from mapper.nest_draw_jit import _short_rows, resplit_rooms, resplit_rows
from mapper.nest_jit import __file__ as _nest_file
from mapper.nest_jit import (_fix_idle, _neighbours, _spatial_trades, _temporal_trades,
                             axis_products, over_rows)
from mapper.nest_genomes import resplit_values
from sim.hier_cost_jit import __file__ as _cost_file
from sim.hier_cost_jit import _cost_rows
from sim.hier_rows_jit import __file__ as _rows_file
from sim.jit_cache import refresh

_JIT = dict(cache=True, nogil=True)
#: the functions with an object-mode block (the re-splits' cache, the clock) hold the GIL
_JIT_GIL = dict(cache=True)
#: Neighbourhood kinds of the cycle (with their argument: a level, a dimension).
NEIGHBOURS, TEMPORAL_TRADES, SPATIAL_TRADES, REORDERS, RESPLITS = range(5)
#: The objectives' codes.
OBJECTIVE_CODES = {"energy": 0, "cycles": 1, "edp": 2}
#: Most orders of one level :func:`_reorders` lists; most re-splits of one dimension.
REORDER_CAP, RESPLIT_CAP = 720, 4096


def _resplits_py(bound, levels, imperfect, rooms):  # noqa: ANN001, ANN202 (object mode)
    tv, sv = resplit_values(int(bound), int(levels), bool(imperfect),
                            tuple(int(v) for v in rooms), RESPLIT_CAP)
    return tv.copy(), sv.copy()


def _now():  # noqa: ANN202 (object mode)
    return time.perf_counter()


@njit(**_JIT)
def _keep(T, Od, A, ok):
    """The rows ``ok`` of (``T``, ``Od``, ``A``), in order."""
    n = 0
    for r in range(ok.size):
        if ok[r]:
            n += 1
    T2 = np.empty((n,) + T.shape[1:], dtype=np.int64)
    O2 = np.empty((n,) + Od.shape[1:], dtype=np.int64)
    A2 = np.empty((n,) + A.shape[1:], dtype=np.int64)
    j = 0
    for r in range(ok.size):
        if ok[r]:
            T2[j], O2[j], A2[j] = T[r], Od[r], A[r]
            j += 1
    return T2, O2, A2


@njit(**_JIT)
def _legal(T, Od, A, check_over, sizes, caps, naxes, imperfect, kinds, index, axis, idims,
           outer_lv, bounds, needs, use_usage):
    """The neighbourhoods' legality rules: rows past a fanout axis dropped
    (``check_over``; the single moves never pass one), the idle rule (``imperfect``), rows
    short of a usage need dropped."""
    n = T.shape[0]
    ok = np.ones(n, dtype=np.bool_)
    if check_over and n:
        over = over_rows(A, sizes, caps, naxes)
        for r in range(n):
            ok[r] = not over[r]
    if imperfect and n and idims.size:      # row by row, so before the drop is the same
        _fix_idle(T, A, kinds, index, axis, idims, outer_lv, bounds)
    if use_usage and n:
        bad = np.empty(n, dtype=np.bool_)
        _short_rows(A, needs, bad)
        for r in range(n):
            ok[r] = ok[r] and not bad[r]
    return _keep(T, Od, A, ok)


@njit(**_JIT)
def _reorders(t0, o0, a0, lv, cap):
    """:meth:`mapper.nest_moves.NestMoves.reorders`' rows: level ``lv``'s loops of factor > 1
    permuted among their positions, in ``itertools.permutations`` order (lexicographic
    in the positions' indices), the first ``cap``."""
    pos = np.empty(8, dtype=np.int64)
    k = 0
    for j in range(8):
        if t0[lv, o0[lv, j]] > 1:
            pos[k] = j
            k += 1
    total = 1
    for i in range(2, k + 1):
        total *= i
        if total >= cap:
            break
    n = min(total, cap)
    T = np.empty((n,) + t0.shape, dtype=np.int64)
    Od = np.empty((n,) + o0.shape, dtype=np.int64)
    A = np.empty((n,) + a0.shape, dtype=np.int64)
    idx = np.arange(k)
    for r in range(n):
        T[r], Od[r], A[r] = t0, o0, a0
        for i in range(k):
            Od[r, lv, pos[i]] = o0[lv, pos[idx[i]]]
        i = k - 2                           # the next permutation, lexicographic
        while i >= 0 and idx[i] > idx[i + 1]:
            i -= 1
        if i < 0:
            break
        j = k - 1
        while idx[j] < idx[i]:
            j -= 1
        idx[i], idx[j] = idx[j], idx[i]
        lo, hi = i + 1, k - 1
        while lo < hi:
            idx[lo], idx[hi] = idx[hi], idx[lo]
            lo += 1
            hi -= 1
    return T, Od, A


@njit(**_JIT_GIL)
def _hood(kind, arg, t0, o0, a0, nts, ts, nss, ssf, ssa, sizes, caps, allowed_t, axes_list,
          allowed_s, naxes, imperfect, kinds, index, axis, idims, outer_lv, bounds, needs,
          use_usage):
    """One neighbourhood of the row (``t0``, ``o0``, ``a0``), legal rows only."""
    L = t0.shape[0]
    E3 = np.empty((0, L, 8), dtype=np.int64)
    E4 = np.empty((0,) + a0.shape, dtype=np.int64)
    if kind == REORDERS:
        return _reorders(t0, o0, a0, arg, REORDER_CAP)
    if kind == RESPLITS:
        rooms = resplit_rooms(a0, arg, nss, ssf, ssa, sizes, caps)
        b, lv_n = bounds[arg], nts[arg]
        with objmode(tv="int64[:, :]", sv="int64[:, :]"):
            tv, sv = _resplits_py(b, lv_n, imperfect, rooms)
        T, Od, A = resplit_rows(t0, o0, a0, arg, nts, ts, ssf, ssa, tv, sv)
        return _legal(T, Od, A, True, sizes, caps, naxes, imperfect, kinds, index, axis,
                      idims, outer_lv, bounds, needs, use_usage)
    if kind == NEIGHBOURS:
        n = _neighbours(t0, o0, a0, nts, ts, nss, ssf, ssa, sizes, caps, False, E3, E3, E4)
    elif kind == TEMPORAL_TRADES:
        n = _temporal_trades(t0, o0, a0, nts, ts, allowed_t, False, E3, E3, E4)
    else:
        n = _spatial_trades(t0, o0, a0, nts, ts, axes_list, allowed_s, False, E3, E3, E4)
    T = np.empty((n, L, 8), dtype=np.int64)
    Od = np.empty((n, L, 8), dtype=np.int64)
    A = np.empty((n,) + a0.shape, dtype=np.int64)
    if kind == NEIGHBOURS:
        _neighbours(t0, o0, a0, nts, ts, nss, ssf, ssa, sizes, caps, True, T, Od, A)
    elif kind == TEMPORAL_TRADES:
        _temporal_trades(t0, o0, a0, nts, ts, allowed_t, True, T, Od, A)
    else:
        _spatial_trades(t0, o0, a0, nts, ts, axes_list, allowed_s, True, T, Od, A)
    return _legal(T, Od, A, kind != NEIGHBOURS, sizes, caps, naxes, imperfect, kinds, index,
                  axis, idims, outer_lv, bounds, needs, use_usage)


@njit(**_JIT)
def _scores(T, Od, A, c, objective):
    """The rows' costs, scored (:func:`score_rows`)."""
    n = T.shape[0]
    legal = np.empty(n, dtype=np.bool_)
    energy = np.empty(n, dtype=np.float64)
    compute = np.empty(n, dtype=np.int64)
    total = np.empty(n, dtype=np.int64)
    _cost_rows(T, Od, axis_products(A), *c, legal, energy, compute, total)
    return score_rows(legal, energy, total, objective)


@njit(**_JIT)
def score_rows(legal, energy, total, objective):
    """Scores under ``objective`` (:data:`OBJECTIVE_CODES`): energy (pJ), cycles (ties
    broken by energy) or their product; an illegal row scores inf."""
    n = legal.size
    out = np.empty(n, dtype=np.float64)
    for r in range(n):
        if not legal[r]:
            out[r] = np.inf
        elif objective == 0:
            out[r] = energy[r]
        elif objective == 1:
            out[r] = np.float64(total[r]) + energy[r] * 1e-30
        else:
            out[r] = energy[r] * total[r]
    return out


@njit(**_JIT_GIL)
def descend_rows(T0, O0, A0, s0, budget, deadline, hk, ha, nts, ts, nss, ssf, ssa, sizes,
                 caps, allowed_t, axes_list, allowed_s, naxes, imperfect, kinds, index, axis,
                 idims, outer_lv, bounds, needs, use_usage, c, objective):
    """The descent from the starts (rows ``T0``, ``O0``, ``A0``, scores ``s0``) over the
    cycle of neighbourhoods (``hk`` kinds, ``ha`` their level or dimension), in lockstep,
    until every start has gone a whole cycle without a move, ``budget`` evaluations are
    spent or ``time.perf_counter()`` passes ``deadline`` (<= 0: none). Returns (the end
    points T, O, A, their scores, evaluations)."""
    m, H = T0.shape[0], hk.size
    Tp, Op, Ap, sp = T0.copy(), O0.copy(), A0.copy(), s0.copy()
    stale = np.zeros(m, dtype=np.int64)
    spent, k = 0, 0
    while spent < budget:
        if deadline > 0:
            with objmode(now="float64"):
                now = _now()
            if now > deadline:
                break
        live = np.array([j for j in range(m) if stale[j] < H], dtype=np.int64)
        if live.size == 0:
            break
        kind, arg = hk[k % H], ha[k % H]
        k += 1
        pt, po, pa = List(), List(), List()
        total = 0
        for j in live:
            T, Od, A = _hood(kind, arg, Tp[j], Op[j], Ap[j], nts, ts, nss, ssf, ssa, sizes,
                             caps, allowed_t, axes_list, allowed_s, naxes, imperfect, kinds,
                             index, axis, idims, outer_lv, bounds, needs, use_usage)
            pt.append(T)
            po.append(Od)
            pa.append(A)
            total += T.shape[0]
        sizes_p = np.array([x.shape[0] for x in pt], dtype=np.int64)
        if total > budget - spent:          # the budget's rest, shared evenly
            q, r = divmod(budget - spent, live.size)
            for jj in range(live.size):
                sizes_p[jj] = min(sizes_p[jj], q + (1 if jj < r else 0))
        n = sizes_p.sum()
        if n == 0:
            for j in live:
                stale[j] += 1
            continue
        L, F = T0.shape[1], A0.shape[1]
        BT = np.empty((n, L, 8), dtype=np.int64)
        BO = np.empty((n, L, 8), dtype=np.int64)
        BA = np.empty((n, F, 2, 8), dtype=np.int64)
        lo = 0
        for jj in range(live.size):
            for i in range(sizes_p[jj]):
                BT[lo + i], BO[lo + i], BA[lo + i] = pt[jj][i], po[jj][i], pa[jj][i]
            lo += sizes_p[jj]
        ns = _scores(BT, BO, BA, c, objective)
        spent += n
        lo = 0
        for jj in range(live.size):
            j, cnt = live[jj], sizes_p[jj]
            if cnt == 0:
                stale[j] += 1
                continue
            i = lo
            for x in range(lo + 1, lo + cnt):
                if ns[x] < ns[i]:
                    i = x
            if ns[i] < sp[j]:
                sp[j] = ns[i]
                Tp[j], Op[j], Ap[j] = BT[i], BO[i], BA[i]
                stale[j] = 0
            else:
                stale[j] += 1
            lo += cnt
    return Tp, Op, Ap, sp, spent


refresh(globals(), [__file__, _draw_file, _nest_file, _cost_file, _rows_file])
