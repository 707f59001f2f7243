"""Compiled (numba) helpers of :mod:`mapper.nest_space`: the per-row loops of the nest
search's moves that cost more as numpy calls than as work. Each equals the numpy rule
it replaces row for row (tests/mapper/test_nest_jit.py); none draws random numbers, so
a seeded search's results do not change. Compiled on first use and cached on disk
beside this file; :func:`warm` (``python -m mapper.nest_jit``, run by ``make install``)
compiles or loads these and the cost kernels of :mod:`sim.hier_cost_jit` up front.
"""

from __future__ import annotations

import numpy as np
from numba import njit

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


def warm() -> float:
    """Load (or, on a cold cache, compile: about 20 s once) every compiled kernel of the
    nest search -- :func:`sim.hier_cost_jit.warm`'s and this module's. Seconds taken."""
    import time

    from sim.hier_cost_jit import warm as warm_cost
    t0 = time.perf_counter()
    warm_cost()
    t = np.ones((1, 2, 8), dtype=np.int64)
    ax = np.ones((1, 1, 2, 8), dtype=np.int64)
    one = np.zeros(1, dtype=np.int64)
    fix_idle(t, ax, np.array([0, 1, 0]), np.array([0, 0, 1]), np.array([0, 0, 0]), one,
             one, np.full(8, 2, dtype=np.int64))
    return time.perf_counter() - t0


if __name__ == "__main__":
    print(f"mapper.nest_jit: the nest search's compiled kernels ready ({warm():.1f} s)")
