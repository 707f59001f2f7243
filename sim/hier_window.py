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
_PLANE_DIMS = (4, 5, 6, 7)       # P, Q, R, S


def _plane_dims(bnd: np.ndarray) -> list[int]:
    """The plane dimensions (P, Q, R, S) with a bound above 1: the rows of the shift
    arrays of :func:`level_events` and :func:`window_events`, in this order."""
    return [e for e in _PLANE_DIMS if bnd[e] > 1]


def _plane_rows(pl: list[int]) -> slice | list[int]:
    """Index of the rows ``pl`` of a dimension-major array: a slice (a view) when they
    are consecutive."""
    return slice(pl[0], pl[-1] + 1) if pl[-1] - pl[0] == len(pl) - 1 else pl


def level_events(plan: _Plan, T: np.ndarray, order: np.ndarray, facs: np.ndarray,
                  suf: np.ndarray, outer: np.ndarray, ext_raw: np.ndarray,
                  grain: np.ndarray | None = None) -> tuple:
    """The steps of one level's loops that may keep inputs, as events (row, loop,
    count): the loops of a step dimension (``_STEP_DIMS``) with a factor f > 1 and no
    G/N/C loop with a factor > 1 inner to them in the level. ``T`` the level's factors
    and ``ext_raw`` its raw tile ([8, B] by dimension), ``order``/``facs`` ([8, B] by
    position, outermost first), ``suf`` ([9, B] products of the positions from k
    inwards), ``outer`` ([B] the loops outer to the level), ``grain`` (optional, [8, B]
    ``ext_raw // T``: the tile one index step of the level moves). Returns the rows ``b``
    ([E] int64), the number of steps ``n`` = ``(f - 1) x`` (loops outer to the loop)
    and ``part`` ([len(_plane_dims), E] int64): per plane dimension e (bound > 1), the
    level's part of the window's shift along e at such a step (index units): the loop's
    index step (``ext_raw / f``) when the loop is e's, minus what the level's e loop
    wraps back (``ext_raw - ext_raw / f_e``) when that loop is inner to it, else 0."""
    B = order.shape[1]
    pl = _plane_dims(plan.bounds)
    # dimension bits of the loops with a factor > 1 ([8, B] by position, 0 elsewhere)
    big_bits = np.left_shift(np.uint8(1), order)
    big_bits *= (facs > 1).view(np.uint8)
    # inner[k]: the dimension bits of the loops with a factor > 1 inner to position k
    inner = np.empty((ND, B), dtype=np.uint8)
    inner[ND - 1] = 0
    for k in range(ND - 2, -1, -1):
        np.bitwise_or(inner[k + 1], big_bits[k + 1], out=inner[k])
    mask = (big_bits & _STEP_BITS) != 0
    mask &= (inner & _GNC_BITS) == 0
    j = np.flatnonzero(mask)
    b = j & (B - 1) if B & (B - 1) == 0 else j % B
    n = facs.reshape(-1).take(j) - 1
    n *= outer.take(b) // suf[:ND].reshape(-1).take(j)
    if not pl:
        return b, n, np.zeros((0, len(b)), dtype=np.int64)
    d = order.reshape(-1).take(j)
    im = inner.reshape(-1).take(j)
    # per plane dimension e a table [0, grain, grain - ext_raw, grain] by row, and per
    # event the entry: bit 0 when the step's loop is e's, bit 1 when e's loop (factor
    # > 1) is inner to it (both at once cannot happen in an order; e's own step wins)
    dims = np.array(pl, dtype=np.uint8)[:, None]
    rows = _plane_rows(pl)
    ext = ext_raw[rows]
    tab = np.empty((len(pl), 4, B), dtype=np.int64)
    tab[:, 0] = 0
    if grain is None:
        np.floor_divide(ext, T[rows], out=tab[:, 1])
    else:
        tab[:, 1] = grain[rows]
    np.subtract(tab[:, 1], ext, out=tab[:, 2])
    tab[:, 3] = tab[:, 1]
    sel = (im >> dims) & 1
    sel <<= 1
    sel |= d == dims
    idx = np.multiply(sel, np.int64(B), dtype=np.int64)
    idx += b
    idx += (np.arange(len(pl), dtype=np.int64) * (4 * B))[:, None]
    return b, n, tab.reshape(-1).take(idx)


_GNC_BITS = np.uint8(sum(1 << d for d in _GNC))
_STEP_BITS = np.uint8(sum(1 << d for d in _STEP_DIMS))


def window_events(plan: _Plan, c: int, back: list[np.ndarray], above_prod: list[np.ndarray],
                   levels: list[tuple]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The steps of the loops above level c that may keep inputs, as events: the rows
    ``b``, the number of such steps ``n`` and ``shift`` ([len(_plane_dims), E] int64),
    per plane dimension (bound > 1) the shift of the window (index units) from the
    previous iteration. Steps across a G/N/C change are left out (they keep nothing),
    and so are steps that do not move the window along any dimension (they keep it
    whole: counted as ``loops / reuse``). ``levels``: :func:`level_events` of the
    levels above c; ``back[l]`` ([8, B]): what the loops of the levels above l wrap
    back, summed (a step of a loop of level lv takes the loops of levels lv + 1 .. c -
    1 back: ``back[c] - back[lv + 1]``)."""
    bnd = plan.bounds
    pl = _plane_dims(bnd)
    gnc = [g for g in _GNC if bnd[g] > 1]
    rows, steps, shifts, oks = [], [], [], []
    for lv in range(c):
        b, n, part = levels[lv]
        ok = None
        if lv + 1 < c:
            if pl:
                rows_ = _plane_rows(pl)
                part = part - np.subtract(back[c][rows_], back[lv + 1][rows_]).take(b, axis=1)
            for g in gnc:
                same = above_prod[c][g] == above_prod[lv + 1][g]
                ok = same if ok is None else ok & same
        rows.append(b)
        steps.append(n)
        shifts.append(part)
        oks.append(ok.take(b) if ok is not None else None)
    b, n = np.concatenate(rows), np.concatenate(steps)
    sh = np.concatenate(shifts, axis=1)
    # steps that move nothing (K loops with no relevant loop inside them: the refetch
    # rule's stationarity) are counted by loops / reuse instead
    keep = (sh != 0).any(axis=0) if pl else np.zeros(len(b), dtype=bool)
    if any(ok is not None for ok in oks):
        keep &= np.concatenate([np.ones(len(r), dtype=bool) if ok is None else ok
                                for r, ok in zip(rows, oks)])
    j = np.flatnonzero(keep)
    return b.take(j), n.take(j), sh.take(j, axis=1)


def _plane_consts(e_p: np.ndarray, e_r: np.ndarray, spread: list, stride: int, dil: int,
                  bound_p: int) -> tuple:
    """Per entry (elementwise: per row or per step), the constants of the closed form
    of :func:`_kept_union_rows` for one plane: (unit, n, base, m1, sh, fallback rows
    mask, cut) with ``kept = base - lam - m1 * min(lam, sh)``, ``lam = min(|shift| /
    unit, n)``, 0 unless unit divides the shift (no spread: ``m1 = 0``, ``base = n``).
    One fanout spreading outputs: ``m1 + 1`` whole copies ``sh`` apart inside the
    bound; ``cut`` (or None) = (rows whose next copy is cut by the bound to ``n2``
    rows, n2, the rows it adds to the union)."""
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
    :func:`window_events`. The batched :func:`sim.hier_cost_scalar.window_kept`.

    ``memo`` (per level) keeps the lone window's result, computed first: the steps
    where it keeps nothing keep nothing for a multicast group either (a row kept by the
    group is kept by every child reading it), so groups are costed on the other steps
    only, plane after plane on the steps still keeping something, reusing the lone
    window's kept rows in planes the group does not spread."""
    bnd = plan.bounds
    B = e.shape[1]
    if "live" not in memo:
        _lone_kept(layer, plan, e, events, memo)
    if not spread:
        return _times_gnc(memo["sum"], e, spread, bnd)
    pl = _plane_dims(bnd)
    shift, live = events[2], memo["live"]
    b, k = memo["b"], memo["n"]
    idx = None                       # the lone window's live steps still keeping something
    for (dp, dr), stride, dil in zip(_PLANES, (layer.stride_h, layer.stride_w),
                                     (layer.dilation_h, layer.dilation_w)):
        sp = [(sf[dp], g[dp], sf[dr], g[dr]) for sf, g in spread
              if (sf[dp] > 1).any() or (sf[dr] > 1).any()]
        if not sp:
            kk = memo[dp] if idx is None else memo[dp].take(idx)
        else:
            sig = memo["sig", dp]
            at = live if idx is None else live.take(idx)

            def dims(f: np.ndarray, dp: int = dp, dr: int = dr, at: np.ndarray = at) -> tuple:
                """The steps' shifts along dp and dr (index units) at positions f."""
                return tuple(shift[pl.index(x)].take(at.take(f)) if x in pl else
                             np.zeros(len(f), dtype=np.int64) for x in (dp, dr))

            kk = _group_plane_kept(
                e[dp].take(b), e[dr].take(b), [tuple(x.take(b) for x in t) for t in sp],
                (sig if idx is None else sig.take(idx)) if sig is not None else
                np.zeros(len(b), dtype=np.int64), stride, dil, int(bnd[dp]), int(bnd[dr]),
                dims)
        k = k * kk
        keep = np.flatnonzero(k != 0)     # a bool mask: far cheaper than on int64
        if len(keep) < len(k):
            k, b = k.take(keep), b.take(keep)
            idx = keep if idx is None else idx.take(keep)
    total = np.zeros(B, dtype=np.int64)
    np.add.at(total, b, k)
    return _times_gnc(total, e, spread, bnd)


def _times_gnc(kept: np.ndarray, e: np.ndarray, spread: list, bnd: np.ndarray) -> np.ndarray:
    """``kept`` ([B] kept rows x columns, summed over the steps) times the distinct G, N,
    C indices the window or group holds: per dimension ``min(e x spatial factors,
    bound)`` (a new array; ``e`` capped, so a lone window's is ``e``; dimensions of
    bound 1 contribute 1)."""
    out = kept.copy()
    for d in _GNC:
        if bnd[d] > 1:
            tot = e[d]
            if spread:
                for sf, _ in spread:
                    tot = tot * sf[d]
                tot = np.minimum(tot, bnd[d])
            out *= tot
    return out


def _lone_kept(layer: Layer, plan: _Plan, e: np.ndarray, events: tuple, memo: dict) -> None:
    """The lone window's kept rows per step (:func:`window_kept` with no spread), one
    lookup per plane in :func:`_overlap_table`, into ``memo``: ``live`` (the steps
    keeping something), their rows ``b``, counts ``n``, per plane (by its outputs
    dimension dp) the kept rows ``memo[dp]`` and the signed shift in input rows
    ``memo["sig", dp]`` (None: the plane does not move), and ``sum`` ([B] kept
    elements per instance without the G/N/C factor)."""
    bnd = plan.bounds
    B = e.shape[1]
    pl = _plane_dims(bnd)
    b, n, shift = events
    k = n
    sig = {}
    for (dp, dr), stride, dil in zip(_PLANES, (layer.stride_h, layer.stride_w),
                                     (layer.dilation_h, layer.dilation_w)):
        tab, top = _overlap_table(int(bnd[dp]), int(bnd[dr]), stride, dil)
        s = None                     # the signed shift in input rows (a new array)
        for x, w in ((dp, stride), (dr, dil)):
            if x in pl:
                v = shift[pl.index(x)]
                if s is None:
                    s = v * w
                elif w == 1:
                    s += v
                else:
                    s += v * w
        key = e[dp] * (int(bnd[dr]) + 1)
        key += e[dr]
        key *= top + 1
        ix = key.take(b)
        if s is not None:
            a = np.abs(s)
            ix += np.minimum(a, top, out=a)
        kk = tab.take(ix)
        sig[dp] = s
        memo[dp] = kk
        k = k * kk
    live = np.flatnonzero(k != 0)
    memo["live"] = live
    memo["b"], memo["n"] = b.take(live), n.take(live)
    for dp, _ in _PLANES:
        memo[dp] = memo[dp].take(live)
        memo["sig", dp] = sig[dp].take(live) if sig[dp] is not None else None
    # float sums of integers far below 2**53: exact
    memo["sum"] = np.bincount(memo["b"], weights=k.take(live), minlength=B).astype(np.int64)


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
    ``shift`` (index units per dimension), ``sp`` the (s_p, g_p, s_r, g_r) [B] arrays of
    the fanouts spreading the plane: :func:`_group_plane_kept` on the steps."""
    zero = np.zeros(len(b), dtype=np.int64)
    s_p, s_r = shift.get(dp, zero), shift.get(dr, zero)
    return _group_plane_kept(e[dp][b], e[dr][b], [tuple(x[b] for x in t) for t in sp],
                             s_p * stride + s_r * dil, stride, dil, int(bnd[dp]),
                             int(bnd[dr]), lambda f: (s_p[f], s_r[f]))


def _group_plane_kept(ep: np.ndarray, er: np.ndarray, sp: list, signed: np.ndarray,
                      stride: int, dil: int, bound_p: int, bound_r: int,
                      dims) -> np.ndarray:
    """Rows (columns) of one plane a group keeps at each step (all arrays per step):
    extents ``ep``, ``er``, spread ``sp`` (per fanout (s_p, g_p, s_r, g_r)), ``signed``
    the step's shift in input rows (``s_p x stride + s_r x dil``), ``dims(f)`` the
    steps' shifts (s_p, s_r) at positions f (index units). By :func:`_plane_consts`'
    closed forms and :func:`_kept_union_rows` for the rest."""
    unit, nn, base, m1, sh, fb, cut = _plane_consts(ep, er, sp, stride, dil, bound_p)
    a = np.abs(signed)
    if unit is None:
        kk = np.empty(len(a), dtype=np.int64)
    else:
        if (unit == 1).all():
            q = a
            lam = np.minimum(q, nn)
            kk = base - lam
            div = None
        else:
            q = a // unit
            lam = np.minimum(q, nn)
            div = a == q * unit
            kk = np.where(div, base - lam, 0)
        if m1 is not None:
            kk -= np.where(kk > 0, m1 * np.minimum(lam, sh), 0)
        if cut is not None:
            rows, n2, add = cut
            f = np.flatnonzero(rows if div is None else rows & div)
            if len(f):
                kk[f] += _cut_copy_kept(lam[f], q[f], signed[f] > 0, nn[f], sh[f],
                                        m1[f] + 1, n2[f], add[f])
    f = np.flatnonzero(fb)
    if len(f):
        s_p, s_r = dims(f)
        kk[f] = _kept_union_rows(ep[f], er[f], [tuple(x[f] for x in t) for t in sp],
                                 stride, dil, bound_p, bound_r, s_p, s_r)
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
