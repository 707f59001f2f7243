"""Tiles and capacity of N-level nest mappings: the one place both rules are written.

:func:`tile_extents` -- per storage level, the extents of its tile per dimension: the
product of the temporal factors of the level and every level below it and of the
spatial factors of the fanouts below it (raw: uncapped, idle positions of imperfect
factors included). :func:`level_fits` -- a level's capacity rule: the tiles of the
operands it keeps and does not stream, at their element width, within its usable bytes
(half when double-buffered; per partition when capacities are per operand).
:mod:`sim.hier_cost` costs with both; :func:`overfilled_levels` applies them alone
(footprints and capacity, no traffic), which the mapper's space uses to shrink drawn
mappings until they fit. Arrays are dimension-major (``[8, B]``), counts in elements.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dataflows.layer import Layer
from dataflows.nest_mapping import NestBatch
from sim.hier_plan import _plan, _Plan, element_bits
from sim.hierarchy import Hierarchy
from sim.tiling import tile_footprint_elems


def tile_extents(plan: _Plan, T: np.ndarray, Sraw: np.ndarray
                 ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(``ext_raw``: per level 0..L-1 its tile's raw extents ``[8, B]``, and at index L
    the spatial extent below the innermost level; ``grain``: per level the raw extents
    of what its own loops step over, ``ext_raw[lv] // T[lv]``). ``T`` is ``[L, 8, B]``
    temporal factors, ``Sraw`` ``[F, 8, B]`` spatial factors."""
    L, F = plan.L, plan.F
    ext_raw: list[np.ndarray] = [None] * (L + 1)      # type: ignore[list-item]
    grain: list[np.ndarray] = [None] * L              # type: ignore[list-item]
    cum = np.ones(T.shape[1:], dtype=np.int64)
    for f in range(F):
        if plan.pos[f] == L:
            cum = cum * Sraw[f]
    ext_raw[L] = cum
    for lv in range(L - 1, -1, -1):
        grain[lv] = cum
        cum = cum * T[lv]
        ext_raw[lv] = cum
        for f in range(F):
            if plan.pos[f] == lv:
                cum = cum * Sraw[f]
    return ext_raw, grain


def level_fits(hier: Hierarchy, layer: Layer, lv: int, fp: Callable[[str], np.ndarray],
               B: int) -> tuple[np.ndarray, np.ndarray]:
    """(bytes level ``lv``'s tiles need, whether they fit), ``[B]`` each; ``fp(o)``: the
    footprint in elements of operand ``o``'s tile there. An unbounded level always fits."""
    level = hier.levels[lv]
    if not level.bounded:
        return np.zeros(B), np.ones(B, dtype=bool)
    need = {o: fp(o) * (element_bits(hier, layer, lv, o) / 8)
            for o in level.keeps if o not in level.streams}
    fits = np.ones(B, dtype=bool)
    if level.partitioned:
        tot = np.zeros(B)
        for o, v in need.items():
            fits &= v <= level.usable_bytes(o)
            tot = tot + v
    else:
        tot = sum(need.values(), np.zeros(B))
        fits &= tot <= level.usable_bytes()
    return tot, fits


def overfilled_levels(layer: Layer, hier: Hierarchy, batch: NestBatch) -> np.ndarray:
    """Per row of ``batch``, the innermost storage level whose tiles do not fit (index
    into ``hier.levels``), -1 where every level fits: the capacity part of
    :func:`sim.hier_cost.evaluate_batch`'s ``legal`` (``min_usage`` is not checked)."""
    return overfilled_dim_major(layer, hier,
                                np.ascontiguousarray(batch.temporal.transpose(1, 2, 0)),
                                np.ascontiguousarray(batch.spatial.transpose(1, 2, 0)))


def overfilled_dim_major(layer: Layer, hier: Hierarchy, T: np.ndarray, Sraw: np.ndarray
                         ) -> np.ndarray:
    """:func:`overfilled_levels` of dimension-major factors: ``T`` ``[L, 8, B]``
    temporal, ``Sraw`` ``[F, 8, B]`` spatial (a caller that shrinks tiles in a loop
    keeps these and skips the transposes)."""
    plan = _plan(layer, hier, None)
    B = T.shape[2]
    bnd = plan.bounds[:, None]
    ext_raw, _ = tile_extents(plan, T, Sraw)
    out = np.full(B, -1, dtype=np.int64)
    for lv, level in enumerate(hier.levels):
        if not level.bounded:
            continue
        e = np.minimum(ext_raw[lv], bnd).T
        _, fits = level_fits(hier, layer, lv, lambda o, e=e: tile_footprint_elems(o, e, layer),
                             B)
        out[~fits] = lv
    return out
