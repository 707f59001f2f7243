"""Spatial factors that meet the fanouts' ``min_usage``, for :class:`mapper.nest_space.NestSpace`.

A fanout with a ``min_usage`` must unroll ``need`` children (the product of its spatial
factors over its axes and dimensions; ``need`` from :func:`sim.hier_plan.usage_plan`,
the rule the cost model's ``legal`` applies). Spatial factors drawn independently per
dimension rarely multiply to that: on AccelForge's arrays (``min_usage: 1``) 0.2-1.2 % of
uniform draws did, so 99 % of a search's evaluations went to rows illegal for that reason
alone. :func:`usage_table` lists the assignments of one fanout that do (each axis within
its size, each dimension's factor a divisor of its bound -- or at most it, imperfect --
and the product at least ``need``); the space draws from it
(:func:`mapper.nest_draw_jit.draw_spatial`'s repair) and drops rows that fall short
(:func:`short`: certainly illegal, so nothing legal is lost).
"""

from __future__ import annotations

import math
import random
from functools import lru_cache

import numpy as np

from dataflows.dataflow import MAP_DIMS
from mapper.nest_jit import fanout_products
from sim.hierarchy import Hierarchy

ND = len(MAP_DIMS)
#: Most rows a table keeps (a uniform sample of them when more assignments meet the need).
TABLE_ROWS = 20000
#: Most partial assignments the enumeration visits; past it the table holds what was found.
VISITS = 1_000_000


@lru_cache(maxsize=256)
def usage_table(hier: Hierarchy, f: int, bounds: tuple[int, ...], imperfect: bool,
                need: int) -> np.ndarray:
    """Spatial factors ``[k, 2, ND]`` (per axis, per dimension; axis 1 all 1 on a 1-D
    fanout) of fanout ``f`` of ``hier`` whose product is at least ``need``; every one of
    them when there are at most :data:`TABLE_ROWS`, else a uniform sample of them (seeded:
    the same table every run). Empty when none is reachable (read-only, cached)."""
    fo = hier.fanouts[f]
    slots = [(a, i) for a, dims in enumerate(fo.dims) for i, d in enumerate(MAP_DIMS)
             if d in dims and bounds[i] > 1]
    vals = [[v for v in range(1, min(bounds[i], fo.size[a]) + 1)
             if imperfect or bounds[i] % v == 0] for a, i in slots]
    # the most the slots from k on can still add, per axis (pruning)
    tail = [[1] * len(fo.size) for _ in range(len(slots) + 1)]
    for k in range(len(slots) - 1, -1, -1):
        tail[k] = list(tail[k + 1])
        a = slots[k][0]
        tail[k][a] = min(fo.size[a], tail[k][a] * vals[k][-1])
    rng, kept, seen, visits = random.Random(0), [], 0, 0
    axis_prod, dim_prod, pick = [1] * len(fo.size), [1] * ND, [1] * len(slots)

    def rec(k: int) -> None:
        nonlocal seen, visits
        visits += 1
        if visits > VISITS:
            return
        if k == len(slots):
            seen += 1
            if len(kept) < TABLE_ROWS:
                kept.append(tuple(pick))
            else:                           # reservoir sampling: a uniform subset
                j = rng.randrange(seen)
                if j < TABLE_ROWS:
                    kept[j] = tuple(pick)
            return
        a, i = slots[k]
        for v in vals[k]:
            ap, dp = axis_prod[a] * v, dim_prod[i] * v
            if ap > fo.size[a]:
                break
            if imperfect and dp > bounds[i] or not imperfect and bounds[i] % dp:
                continue
            reach = math.prod(min(fo.size[x], p * t) for x, (p, t) in
                              enumerate(zip(axis_prod[:a] + [ap] + axis_prod[a + 1:],
                                            tail[k + 1])))
            if reach < need:
                continue
            axis_prod[a], dim_prod[i], pick[k] = ap, dp, v
            rec(k + 1)
            axis_prod[a], dim_prod[i], pick[k] = ap // v, dp // v, 1
    rec(0)
    out = np.ones((len(kept), 2, ND), dtype=np.int64)
    for k, (a, i) in enumerate(slots):
        out[:, a, i] = [row[k] for row in kept]
    out.flags.writeable = False
    return out


def short(needs: tuple[int, ...], axes: np.ndarray) -> np.ndarray:
    """Rows of ``axes`` ([n, F, 2, ND]) on which some fanout unrolls fewer children than
    its need (certainly illegal: the cost model's usage rule)."""
    out = np.zeros(axes.shape[0], dtype=bool)
    prods = fanout_products(np.ascontiguousarray(axes)) if any(n > 1 for n in needs) else None
    for f, need in enumerate(needs):
        if need > 1:
            out |= prods[:, f] < need
    return out
