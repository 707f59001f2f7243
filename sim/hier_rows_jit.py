"""The input-row counts of the compiled cost kernels (:mod:`sim.hier_cost_jit`), numba:
footprints, the rows a moved window keeps, the rows the children of multicast fanouts
read together -- the closed forms of :mod:`sim.tiling` and :mod:`sim.hier_plan` where
they apply, exact enumeration of rows where they do not; and the slots of the per-layer
integer constants (``ci``) the kernels read. Tested through the kernels
(tests/sim/test_hier_cost_jit.py: equal to the numpy and scalar models).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from dataflows.dataflow import MAP_DIMS
from sim.jit_cache import refresh

ND = len(MAP_DIMS)
# the kernels index dimensions by position (G, N, C = 0, 1, 3; P, Q, R, S = 4-7) and
# numba's cache keys on this file only: a reordered MAP_DIMS must fail here, not there
assert MAP_DIMS == ("G", "N", "K", "C", "P", "Q", "R", "S"), MAP_DIMS
_JIT = dict(cache=True, nogil=True, error_model="numpy")
# integer scalars of one (layer, hierarchy): their slots in the ``ci`` array
(_L, _F, _HALO, _WINDOW, _PS, _SH, _SW, _DH, _DW, _NH, _NW, _MACS, _DOUT, _RSH, _RSW, _RDH,
 _RDW) = range(17)



# -- input rows: footprints, overlaps of moved windows, unions of children -----------------
@njit(inline='always', **_JIT)
def _gcd(a: int, b: int) -> int:
    while b:
        a, b = b, a % b
    return a


@njit(inline='always', **_JIT)
def _window_rows(p: int, r: int, stride: int, dil: int) -> int:
    """sim.tiling.window_rows of one (p, r)."""
    g = _gcd(stride, dil)
    s, d = stride // g, dil // g
    return p * r - max(0, p - d) * max(0, r - s)


@njit(inline='always', **_JIT)
def _wrows(p: int, r: int, s: int, d: int) -> int:
    """sim.tiling.window_rows with stride and dilation already over their gcd (s, d)."""
    return p * r - max(0, p - d) * max(0, r - s)


@njit(inline='always', **_JIT)
def _fp(o: int, g: int, n: int, k: int, c: int, p: int, q: int, r: int, s: int, sh: int,
        sw: int, dh: int, dw: int, nh: int, nw: int) -> int:
    """sim.tiling.tile_footprint_elems of capped extents (g, n, k, c, p, q, r, s);
    ``sh, sw, dh, dw``: strides and dilations over their gcd (:func:`_reduced`)."""
    if o == 0:
        return g * k * c * r * s
    if o == 2:
        return g * n * k * p * q
    return g * n * c * min(_wrows(p, r, sh, dh), nh) * min(_wrows(q, s, sw, dw), nw)


@njit(**_JIT)
def _offsets(fans: np.ndarray, nf: int) -> tuple:
    """The (output, kernel-row) origins of the children of fanouts ``fans[:nf]`` (rows
    (s_p, g_p, s_r, g_r)), as sim.hier_plan._union_rows builds them."""
    n = 1
    for k in range(nf):
        n *= fans[k, 0] * fans[k, 2]
    a = np.zeros(n, dtype=np.int64)
    b = np.zeros(n, dtype=np.int64)
    m = 1
    for k in range(nf):
        s_p, g_p, s_r, g_r = fans[k, 0], fans[k, 1], fans[k, 2], fans[k, 3]
        w = m * s_p * s_r
        for j in range(m, w):        # new origins from the first m (old ones at j % m)
            q, base = j // m, j % m
            a[j] = a[base] + (q // s_r) * g_p
            b[j] = b[base] + (q % s_r) * g_r
        m = w
    return a, b


@njit(**_JIT)
def _rows_matrix(e_p: int, e_r: int, fans: np.ndarray, nf: int, stride: int, dil: int,
                 bound_p: int, bound_r: int) -> np.ndarray:
    """[children, rows] membership of input row ``i * stride + r * dil`` in each child's
    window (sim.hier_plan._kept_rows's sets)."""
    a, b = _offsets(fans, nf)
    top = (bound_p - 1) * stride + (bound_r - 1) * dil + 1
    mem = np.zeros((a.size, max(top, 1)), dtype=np.bool_)
    for k in range(a.size):
        for i in range(a[k], min(a[k] + e_p, bound_p)):
            for r in range(b[k], min(b[k] + e_r, bound_r)):
                mem[k, i * stride + r * dil] = True
    return mem


@njit(**_JIT)
def _union_rows(e_p: int, e_r: int, fans: np.ndarray, nf: int, stride: int, dil: int,
                bound_p: int, bound_r: int, cap: int) -> int:
    """sim.hier_plan._union_rows: distinct rows the children read together, capped."""
    if nf == 1:             # sim.hier_plan._union_input_elems's closed form
        sp, gp = fans[0, 0], fans[0, 1]
        single = e_r == 1
        easy = single
        if dil == 1:
            easy = easy or e_p == 1 or e_r >= stride
        if stride == 1:
            easy = easy or e_p >= dil
        if easy and fans[0, 2] == 1 and gp * sp <= bound_p and gp >= e_p:
            wr = _window_rows(e_p, e_r, stride, dil)
            shift = gp if (stride == 1 or single) else gp * stride
            return min(wr + (sp - 1) * min(wr, shift), cap)
    mem = _rows_matrix(e_p, e_r, fans, nf, stride, dil, bound_p, bound_r)
    n = 0
    for y in range(mem.shape[1]):
        for k in range(mem.shape[0]):
            if mem[k, y]:
                n += 1
                break
    return min(n, cap)


@njit(**_JIT)
def _kept_rows(e_p: int, e_r: int, fans: np.ndarray, nf: int, stride: int, dil: int,
               bound_p: int, bound_r: int, d_p: int, d_r: int) -> int:
    """sim.hier_plan._kept_rows: rows of the children's union that no child needs anew
    after the group moved by ``d_p`` outputs and ``d_r`` kernel rows (closed forms of
    sim.tiling.window_overlap_rows and sim.hier_plan._kept_union_rows first)."""
    shift = d_p * stride + d_r * dil
    a = abs(shift)
    span = (e_p - 1) * stride + (e_r - 1) * dil + 1
    interval = _window_rows(e_p, e_r, stride, dil) == span
    if nf == 0:
        if interval:
            return max(0, span - a)
        if e_r == 1:
            return max(0, e_p - a // stride) if a % stride == 0 else 0
        if e_p == 1:
            return max(0, e_r - a // dil) if a % dil == 0 else 0
    elif nf == 1:
        s_p, g_p, s_r = fans[0, 0], fans[0, 1], fans[0, 2]
        single = e_r == 1 and not interval
        if (interval or single) and s_r == 1 and g_p * s_p <= bound_p and g_p >= e_p:
            unit = stride if single else 1
            n = e_p if single else span
            sh = g_p if single else g_p * stride
            lam = min(a // unit, n)
            if a % unit:
                return 0
            return (n - lam) + (s_p - 1) * (min(n, sh) - min(lam, sh))
    mem = _rows_matrix(e_p, e_r, fans, nf, stride, dil, bound_p, bound_r)
    Y = mem.shape[1]
    kept = 0
    for y in range(Y):
        inside, ok = False, True
        for k in range(mem.shape[0]):
            if mem[k, y]:
                inside = True
                z = y + shift
                if z < 0 or z >= Y or not mem[k, z]:
                    ok = False
                    break
        if inside and ok:
            kept += 1
    return kept


@njit(**_JIT)
def _plane_fans(sfs: np.ndarray, gaps: np.ndarray, ns: int, dp: int, dr: int,
                out: np.ndarray) -> int:
    """Into ``out``: the (s_p, g_p, s_r, g_r) rows of the multicast fanouts that spread
    plane (dp, dr); returns how many."""
    n = 0
    for k in range(ns):
        if sfs[k, dp] > 1 or sfs[k, dr] > 1:
            out[n, 0], out[n, 1] = sfs[k, dp], gaps[k, dp]
            out[n, 2], out[n, 3] = sfs[k, dr], gaps[k, dr]
            n += 1
    return n


@njit(inline='always', **_JIT)
def _overlap_rows(e_p: int, e_r: int, stride: int, dil: int, shift: int) -> int:
    """sim.tiling.window_overlap_rows's closed forms (one window moved by ``shift``
    rows); -1 where the window has gaps and neither extent is 1 (enumerate instead)."""
    a = abs(shift)
    span = (e_p - 1) * stride + (e_r - 1) * dil + 1
    if _window_rows(e_p, e_r, stride, dil) == span:
        return max(0, span - a)
    if e_r == 1:
        return max(0, e_p - a // stride) if a % stride == 0 else 0
    if e_p == 1:
        return max(0, e_r - a // dil) if a % dil == 0 else 0
    return -1


@njit(**_JIT)
def _union_elems(E: np.ndarray, r: int, bnd: np.ndarray, sfs: np.ndarray, gaps: np.ndarray,
                 ns: int, ci: np.ndarray) -> int:
    """sim.hier_plan._union_input_elems of one row: the distinct inputs the children of
    the multicast fanouts (raw factors ``sfs[:ns]``, offsets ``gaps[:ns]``) read, each
    child spanning the capped extents ``E[r]``."""
    out = 1
    for d in (0, 1, 3):
        if bnd[d] == 1:
            continue
        t = E[r, d]
        for k in range(ns):
            t *= sfs[k, d]
        out *= min(t, bnd[d])
    for k in range(2):                      # rows (P, R), then columns (Q, S)
        dp, dr, stride, dil, cap = 4 + k, 6 + k, ci[_SH + k], ci[_DH + k], ci[_NH + k]
        fans = np.empty((max(ns, 1), 4), dtype=np.int64)
        nf = _plane_fans(sfs, gaps, ns, dp, dr, fans)
        if nf == 0:
            out *= min(_window_rows(E[r, dp], E[r, dr], stride, dil), cap)
        else:
            out *= _union_rows(E[r, dp], E[r, dr], fans, nf, stride, dil, bnd[dp], bnd[dr],
                               cap)
    return out


@njit(**_JIT)
def _window_kept(E: np.ndarray, r: int, bnd: np.ndarray, steps: np.ndarray, n0: int, n: int,
                 sfs: np.ndarray, gaps: np.ndarray, ns: int, ci: np.ndarray, fh: np.ndarray,
                 fw: np.ndarray) -> int:
    """sim.hier_cost_scalar.window_kept: over the loops ``steps[n0:n]`` ((dim, factor,
    index step) rows, innermost first), the input elements a group of
    children (multicast fanouts ``sfs[:ns]``, offsets ``gaps[:ns]``), each spanning the
    capped extents ``E[r]``, already holds; ``fh``, ``fw``: scratch rows for the fanouts
    spreading each plane."""
    u_gnc = 1
    for d in (0, 1, 3):
        t = E[r, d]
        for k in range(ns):
            t *= sfs[k, d]
        u_gnc *= min(t, bnd[d])
    nfh = _plane_fans(sfs, gaps, ns, 4, 6, fh) if ns else 0
    nfw = _plane_fans(sfs, gaps, ns, 5, 7, fw) if ns else 0
    sh, dh, sw, dw = ci[_SH], ci[_DH], ci[_SW], ci[_DW]
    ep, eq, er, es = E[r, 4], E[r, 5], E[r, 6], E[r, 7]
    outer = 1
    for j in range(n0, n):
        outer *= steps[j, 1]
    bp = bq = br = bs = 0            # index distance the inner loops wrap back, P Q R S
    kept = 0
    blocked = False
    for j in range(n0, n):
        d, f, step = steps[j, 0], steps[j, 1], steps[j, 2]
        if f == 1:
            continue
        outer //= f
        gnc = d == 0 or d == 1 or d == 3
        if not blocked and not gnc:
            sp = -bp + (step if d == 4 else 0)
            sq = -bq + (step if d == 5 else 0)
            sr = -br + (step if d == 6 else 0)
            sz = -bs + (step if d == 7 else 0)
            k = u_gnc
            kh = _overlap_rows(ep, er, sh, dh, sp * sh + sr * dh) if nfh == 0 else -1
            if kh < 0:
                kh = _kept_rows(ep, er, fh, nfh, sh, dh, bnd[4], bnd[6], sp, sr)
            kw = _overlap_rows(eq, es, sw, dw, sq * sw + sz * dw) if nfw == 0 else -1
            if kw < 0:
                kw = _kept_rows(eq, es, fw, nfw, sw, dw, bnd[5], bnd[7], sq, sz)
            kept += (f - 1) * outer * k * kh * kw
        if d == 4:
            bp += (f - 1) * step
        elif d == 5:
            bq += (f - 1) * step
        elif d == 6:
            br += (f - 1) * step
        elif d == 7:
            bs += (f - 1) * step
        if gnc:
            blocked = True
    return kept


refresh(globals(), [__file__])  # callees' edits reach this module's cache
