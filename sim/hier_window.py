"""The batched window rule of :mod:`sim.hier_cost` (``input_reuse="window"``).

Timeloop's delta rule for convolution inputs, vectorised over a batch of nest mappings:
:func:`level_events` lists, per storage level, the steps of its loops (how often each
happens and how far it moves the tile), :func:`window_events` collects the steps seen by
a level keeping inputs, and :func:`window_kept` counts the input elements each step
keeps from the previous window (single windows by table lookup, multicast groups by
closed forms, the rest by enumeration). The rule itself, and the units, are in
:mod:`sim.hier_cost`'s docstring; :func:`sim.hier_cost_scalar.evaluate` is the plain
Python reference these are tested equal to (tests/sim/test_hier_halo.py).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from dataflows.layer import Layer
from sim.hier_plan import ND, _kept_union_rows, _Plan
from sim.tiling import window_overlap_rows, window_rows


_GNC = (0, 1, 3)                 # G, N, C: a step along them keeps no input
_STEP_DIMS = (2, 4, 5, 6, 7)     # K, P, Q, R, S: a step along them may keep some
_PLANES = ((4, 6), (5, 7))       # (outputs, kernel) dimension pairs of the rows, columns


def level_events(plan: _Plan, T: np.ndarray, order: np.ndarray, facs: np.ndarray,
                  suf: np.ndarray, outer: np.ndarray, ext_raw: np.ndarray) -> tuple:
    """The steps of one level's loops that may keep inputs, as events (row, loop,
    count): the loops of a step dimension (``_STEP_DIMS``) with a factor f > 1 and no
    G/N/C loop with a factor > 1 inner to them in the level. ``T`` the level's factors
    and ``ext_raw`` its raw tile ([8, B] by dimension), ``order``/``facs`` ([8, B] by
    position, outermost first), ``suf`` ([9, B] products of the positions from k
    inwards), ``outer`` ([B] the loops outer to the level). Returns the rows, the
    number of steps ``(f - 1) x`` (loops outer to the loop) and, per plane dimension e
    (bound > 1), the level's part of the window's shift along e at such a step: the
    loop's index step (``ext_raw / f``) when the loop is e's, minus what the level's e
    loop wraps back (``ext_raw - ext_raw / f_e``) when that loop is inner to it, else 0."""
    bnd = plan.bounds
    B = order.shape[1]
    bits = np.left_shift(np.uint8(1), order)                       # [8, B] dim bits
    big = facs > 1
    inner = np.zeros((ND, B), dtype=np.uint8)   # dims with a factor > 1 inner to k
    big_bits = bits * big.view(np.uint8)
    for k in range(ND - 2, -1, -1):
        np.bitwise_or(inner[k + 1], big_bits[k + 1], out=inner[k])
    mask = big & ((bits & _STEP_BITS) != 0) & ((inner & _GNC_BITS) == 0)
    j = np.flatnonzero(mask)
    b = j % B
    n = (facs.reshape(-1)[j] - 1) * (outer[b] // suf[:ND].reshape(-1)[j])
    d = order.reshape(-1)[j]
    im = inner.reshape(-1)[j]
    part = {}
    for e in (e for pr in _PLANES for e in pr if bnd[e] > 1):
        grain = ext_raw[e] // T[e]
        part[e] = np.where(d == e, grain[b],
                           np.where((im >> e) & 1 != 0, grain[b] - ext_raw[e][b], 0))
    return b, n, part


_GNC_BITS = np.uint8(sum(1 << d for d in _GNC))
_STEP_BITS = np.uint8(sum(1 << d for d in _STEP_DIMS))


def window_events(plan: _Plan, c: int, back: list[np.ndarray], above_prod: list[np.ndarray],
                   levels: list[tuple]) -> tuple[np.ndarray, np.ndarray, dict[int, np.ndarray]]:
    """The steps of the loops above level c that may keep inputs, as events: the row,
    the number of such steps and per plane dimension the shift of the window (index
    units) from the previous iteration. Steps across a G/N/C change are left out (they
    keep nothing), and so are steps that do not move the window (they keep it whole:
    counted as ``loops / reuse``). ``levels``: :func:`_level_events` of the levels
    above c; ``back[l]`` ([8, B]): what the loops of the levels above l wrap back,
    summed (a step of a loop of level lv takes the loops of levels lv + 1 .. c - 1
    back: ``back[c] - back[lv + 1]``)."""
    bnd = plan.bounds
    B = back[0].shape[1]
    plane = [e for pr in _PLANES for e in pr if bnd[e] > 1]
    gnc = [g for g in _GNC if bnd[g] > 1]
    rows, steps = [], []
    shift: dict[int, list[np.ndarray]] = {x: [] for x in plane}
    for lv in range(c):
        b, n, part = levels[lv]
        if lv + 1 < c:
            ok = np.ones(B, dtype=bool)
            for g in gnc:
                ok &= above_prod[c][g] == above_prod[lv + 1][g]
            sel = np.flatnonzero(ok[b])
            b, n = b[sel], n[sel]
            for x in plane:
                shift[x].append(part[x][sel] - (back[c][x] - back[lv + 1][x])[b])
        else:
            for x in plane:
                shift[x].append(part[x])
        rows.append(b)
        steps.append(n)
    b, n = np.concatenate(rows), np.concatenate(steps)
    sh = {x: np.concatenate(v) for x, v in shift.items()}
    # steps that move nothing (K loops with no relevant loop inside them: the refetch
    # rule's stationarity) are counted by loops / reuse instead
    moved = np.zeros(len(b), dtype=bool)
    for v in sh.values():
        moved |= v != 0
    j = np.flatnonzero(moved)
    return b[j], n[j], {x: v[j] for x, v in sh.items()}


def _plane_consts(e_p: np.ndarray, e_r: np.ndarray, spread: list, stride: int, dil: int,
                  bound_p: int) -> tuple:
    """Per row, the constants of the closed form of :func:`_kept_union_rows` for one
    plane: (unit, n, base, m1, sh, fallback rows mask, cut) with ``kept = base - lam -
    m1 * min(lam, sh)``, ``lam = min(|shift| / unit, n)``, 0 unless unit divides the
    shift (no spread: ``m1 = 0``, ``base = n``). One fanout spreading outputs: ``m1 + 1``
    whole copies ``sh`` apart inside the bound; ``cut`` (or None) = (rows whose next copy
    is cut by the bound to ``n2`` rows, n2, the rows it adds to the union)."""
    span = (e_p - 1) * stride + (e_r - 1) * dil + 1
    gaps = window_rows(e_p, e_r, stride, dil) != span
    one_r = gaps & (e_r == 1)
    if not spread:
        one_p = gaps & (e_p == 1) & (e_r > 1)
        unit = np.where(one_r, stride, np.where(one_p, dil, 1))
        n = np.where(one_r, e_p, np.where(one_p, e_r, span))
        return unit, n, n, None, None, gaps & (e_p > 1) & (e_r > 1), None
    if len(spread) > 1:
        return None, None, None, None, None, np.ones(len(e_p), dtype=bool), None
    s_p, g_p, s_r, _ = spread[0]
    unit = np.where(one_r, stride, 1)
    n = np.where(one_r, e_p, span)
    sh = np.where(one_r, g_p, g_p * stride)
    # copies starting past the bound hold nothing; the copies' output ranges do not
    # overlap (g_p >= e_p), so at most one is cut, to e2 outputs
    m_eff = np.minimum(s_p, -(-bound_p // g_p))
    m_f = np.minimum(m_eff, (bound_p - e_p) // g_p + 1)
    cut = m_f < m_eff
    easy = (~gaps | one_r) & (s_r == 1)
    m1 = m_f - 1
    base = n + m1 * np.minimum(n, sh)
    if not cut.any():
        return unit, n, base, m1, sh, ~easy, None
    e2 = np.maximum(bound_p - m_f * g_p, 1)
    span2 = (e2 - 1) * stride + (e_r - 1) * dil + 1
    n2 = np.where(one_r, e2, span2)
    easy &= ~cut | one_r | (window_rows(e2, e_r, stride, dil) == span2)
    add = np.where(cut, n2 - np.maximum(0, np.minimum(n2, n - sh)), 0)
    return unit, n, base, m1, sh, ~easy, (cut & easy, n2, add)


def window_kept(layer: Layer, plan: _Plan, e: np.ndarray, events: tuple,
                 spread: list, memo: dict) -> np.ndarray:
    """[B] sum over the steps of the loops above a level of the input elements its
    instance (``spread`` empty) or the children of multicast fanouts (``spread``:
    (raw spatial factors, offsets between children), [8, B] each, per fanout) already
    hold; ``e`` the level's capped extents [8, B], ``events`` from
    :func:`_window_events`. The batched :func:`sim.hier_cost_scalar.window_kept`.

    Planes are costed one after the other on the steps still keeping something.
    ``memo`` (per level) keeps the lone window's result: the steps where it keeps
    nothing keep nothing for a multicast group either (a row kept by the group is kept
    by every child reading it), so groups are costed on the other steps only, reusing
    the lone window's kept rows in planes the group does not spread."""
    bnd = plan.bounds
    B = e.shape[1]
    b, n, shift = events
    if spread:
        if "live" not in memo:
            window_kept(layer, plan, e, events, [], memo)
        live = memo["live"]
        b, n, shift = b[live], n[live], {x: v[live] for x, v in shift.items()}
    u_gnc = np.ones(B, dtype=np.int64)
    for d in _GNC:
        tot = e[d]
        for sf, _ in spread:
            tot = tot * sf[d]
        u_gnc = u_gnc * np.minimum(tot, bnd[d])
    if not spread:
        # one window: rows kept = window_overlap_rows, looked up per (extents, |shift|)
        k = n
        for (dp, dr), stride, dil in zip(_PLANES, (layer.stride_h, layer.stride_w),
                                         (layer.dilation_h, layer.dilation_w)):
            tab, top = _overlap_table(int(bnd[dp]), int(bnd[dr]), stride, dil)
            a = None
            if dp in shift:
                a = np.abs(shift[dp] * stride if dr not in shift else
                           shift[dp] * stride + shift[dr] * dil)
            elif dr in shift:
                a = np.abs(shift[dr] * dil)
            key = (e[dp] * (bnd[dr] + 1) + e[dr]) * (top + 1)
            kk = tab[key[b] + (np.minimum(a, top) if a is not None else 0)]
            memo[dp] = kk
            k = k * kk
        live = np.flatnonzero(k)
        memo["live"] = live
        for dp, _ in _PLANES:
            memo[dp] = memo[dp][live]
        # float sums of integers far below 2**53: exact
        return np.bincount(b[live], weights=k[live], minlength=B).astype(np.int64) * u_gnc
    k = n
    idx = np.arange(len(b))          # the steps still keeping something
    lone = {}
    for (dp, dr), stride, dil in zip(_PLANES, (layer.stride_h, layer.stride_w),
                                     (layer.dilation_h, layer.dilation_w)):
        sp = [(sf[dp], g[dp], sf[dr], g[dr]) for sf, g in spread
              if (sf[dp] > 1).any() or (sf[dr] > 1).any()]
        if spread and not sp:
            kk = memo[dp][idx]
        else:
            kk = _plane_kept(e, b, shift, dp, dr, sp, stride, dil, bnd)
            lone[dp] = kk
        k = k * kk
        keep = np.flatnonzero(k)
        if len(keep) < len(k):
            k, b, idx = k[keep], b[keep], idx[keep]
            shift = {x: v[keep] for x, v in shift.items()}
            lone = {x: v[keep] for x, v in lone.items()}
    if not spread:
        memo["live"] = idx
        memo.update(lone)
    total = np.zeros(B, dtype=np.int64)
    np.add.at(total, b, k)
    return total * u_gnc


@lru_cache(maxsize=64)
def _overlap_table(bound_p: int, bound_r: int, stride: int, dil: int) -> tuple[np.ndarray, int]:
    """(table, top): :func:`sim.tiling.window_overlap_rows` of ``p`` outputs and ``r``
    kernel rows moved by ``a`` rows at ``table[(p * (bound_r + 1) + r) * (top + 1) +
    min(a, top)]`` (``top`` = the widest span: a window moved that far keeps nothing)."""
    top = (bound_p - 1) * stride + (bound_r - 1) * dil + 1
    p, r, a = (x.reshape(-1) for x in np.meshgrid(np.arange(bound_p + 1),
                                                  np.arange(bound_r + 1),
                                                  np.arange(top + 1), indexing="ij"))
    tab = window_overlap_rows(np.maximum(p, 1), np.maximum(r, 1), stride, dil, a)
    tab.flags.writeable = False
    return tab, top


def _plane_kept(e: np.ndarray, b: np.ndarray, shift: dict, dp: int, dr: int, sp: list,
                stride: int, dil: int, bnd: np.ndarray) -> np.ndarray:
    """Rows (columns) of the plane (dp, dr) kept at each step ``b`` (rows) moving by
    ``shift`` (index units per dimension), by :func:`_plane_consts`' closed forms and
    :func:`_kept_union_rows` for the rest."""
    zero = np.zeros(len(b), dtype=np.int64)
    unit, nn, base, m1, sh, fb, cut = _plane_consts(e[dp], e[dr], sp, stride, dil,
                                                    int(bnd[dp]))
    s_p, s_r = shift.get(dp, zero), shift.get(dr, zero)
    signed = s_p * stride + s_r * dil
    a = np.abs(signed)
    if unit is None:
        kk = np.empty(len(b), dtype=np.int64)
    else:
        if (unit == 1).all():
            q = a
            lam = np.minimum(q, nn[b])
            kk = base[b] - lam
            div = None
        else:
            ub = unit[b]
            q = a // ub
            lam = np.minimum(q, nn[b])
            div = a == q * ub
            kk = np.where(div, base[b] - lam, 0)
        if m1 is not None:
            kk -= np.where(kk > 0, m1[b] * np.minimum(lam, sh[b]), 0)
        if cut is not None:
            rows, n2, add = cut
            f = np.flatnonzero(rows[b] if div is None else rows[b] & div)
            if len(f):
                kk[f] += _cut_copy_kept(lam[f], q[f], signed[f] > 0, nn[b[f]], sh[b[f]],
                                        m1[b[f]] + 1, n2[b[f]], add[b[f]])
    if fb.any():
        f = np.flatnonzero(fb[b])
        if len(f):
            bf = b[f]
            kk[f] = _kept_union_rows(e[dp][bf], e[dr][bf], [tuple(x[bf] for x in t) for t in sp],
                                     stride, dil, int(bnd[dp]), int(bnd[dr]), s_p[f], s_r[f])
    return kk


def _cut_copy_kept(lam: np.ndarray, q: np.ndarray, up: np.ndarray, n: np.ndarray,
                   sh: np.ndarray, m: np.ndarray, n2: np.ndarray,
                   add: np.ndarray) -> np.ndarray:
    """What a copy cut to ``n2`` rows, after ``m`` whole copies of ``n`` rows ``sh``
    apart, adds to the rows a group keeps when it moves ``q`` rows (``lam = min(q, n)``
    new rows per whole copy; ``up``: towards higher rows): its ``add`` rows of the
    union less its ``lam2 = min(q, n2)`` new ones not already new for a whole copy.
    Moving down the new rows are the copies' lowest: the cut copy's overlap the last
    whole copy's, ``min(lam2, lam - sh)``. Moving up they are the highest: the whole
    copies' new rows are one interval when ``lam >= sh``, else intervals shorter than
    the spacing of which the cut copy's (no longer) meets at most two."""
    lam2 = np.minimum(q, n2)
    x1 = m * sh + n2
    x0 = x1 - lam2
    down = np.maximum(0, np.minimum(lam2, lam - sh))
    whole = np.maximum(0, np.minimum(x1, (m - 1) * sh + n) - np.maximum(x0, n - lam))
    k_hi = np.minimum(m - 1, (x1 - 1 - (n - lam)) // sh)
    apart = np.zeros(len(lam), dtype=np.int64)
    for k in (k_hi, k_hi - 1):
        c = k * sh + n - lam
        apart += np.where(k >= 0, np.maximum(0, np.minimum(x1, c + lam) - np.maximum(x0, c)), 0)
    ov = np.where(up, np.where(lam >= sh, whole, apart), down)
    return add - (lam2 - ov)


__all__ = ["level_events", "window_events", "window_kept"]
