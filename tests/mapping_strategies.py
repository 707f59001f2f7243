"""Hypothesis strategy for legal mappings of a layer on an accelerator, shared by the
property tests of the analytic model (tests/sim/test_analytic.py) and of the cycle
model's agreement with it (tests/sim/cycle/test_cycle_agreement.py)."""

from __future__ import annotations

from math import ceil

from hypothesis import strategies as st

from dataflows.dataflow import MAP_DIMS, get_dataflow
from dataflows.layer import Layer
from dataflows.mapping import LEVELS, Mapping
from sim.spec import Accelerator


def _split(draw: st.DrawFn, remaining: int, allowed: bool) -> tuple[int, int]:
    """A factor in [1, remaining] (1 unless allowed) and what it leaves to cover."""
    f = draw(st.integers(1, remaining)) if allowed and remaining > 1 else 1
    return f, ceil(remaining / f)


@st.composite
def mappings(draw: st.DrawFn, layer: Layer, accel: Accelerator) -> Mapping:
    """A legal mapping: each bound split over spatial / pe / glb / dram factors, random
    loop orders.

    Each factor is at most what is left to cover (ceiling splits), so the product covers
    the bound, partial and padded tiles occur, and the outermost factor never has a
    fully idle last iteration.
    """
    df = get_dataflow(accel.dataflow)
    b = df.bounds(layer)
    spatial: dict[str, dict[str, int]] = {}
    for axis, dims, side in (("rows", df.row_dims, accel.rows), ("cols", df.col_dims, accel.cols)):
        spatial[axis], left = {}, side
        for d in dims:
            f = draw(st.integers(1, max(1, min(b[d], left))))
            spatial[axis][d] = f
            left //= f
    levels: dict[str, dict[str, int]] = {"pe": {}, "glb": {}, "dram": {}}
    for d in MAP_DIMS:
        rem = ceil(b[d] / (spatial["rows"].get(d, 1) * spatial["cols"].get(d, 1)))
        levels["pe"][d], rem = _split(draw, rem, d in df.stream_dims)
        levels["glb"][d], rem = _split(draw, rem, True)
        levels["dram"][d] = rem
    order = {lvl: list(draw(st.permutations(MAP_DIMS))) for lvl in LEVELS}
    m = Mapping.build(rows=spatial["rows"], cols=spatial["cols"], pe=levels["pe"],
                      glb=levels["glb"], dram=levels["dram"], order=order)
    m.check(layer, df, accel.rows, accel.cols, b)  # the strategy only makes legal ones
    return m
