"""Input footprints of the analytic model on row-stationary (not lowered to im2col),
with stride and dilation that differ between H and W, against a brute force.

The brute force walks the mapping's loop nest: for every iteration of the loops above
a boundary (outermost first, in the mapping's order) it takes the tile of each
dimension and collects the input pixels ``(g, n, c, p*stride_h + r*dil_h,
q*stride_w + s*dil_w)`` the tile touches. DRAM -> GLB: a tile is loaded when it differs
from the one before (the GLB keeps one tile, Timeloop-style reuse; along a sliding P/Q
loop it keeps the previous window and loads the new pixels only, see sim.tiling); GLB ->
array:
streamed inputs are sent on every iteration above the PE level (sim.analytic's
docstring). Perfect factors and no padding, so every tile has the same shape.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from math import prod

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dataflows.dataflow import MAP_DIMS, get_dataflow
from dataflows.layer import Layer, conv
from dataflows.mapping import LEVELS, Mapping
from sim.analytic import CostError, evaluate
from sim.cycle import simulate_cycle
from sim.spec_io import load_accelerator

RS = get_dataflow("rs")
INPUT_DIMS = ("G", "N", "C", "P", "Q", "R", "S")
ACCEL = replace(load_accelerator("eyeriss_12x14_rs"), rows=6, cols=4)


def _tiles(layer: Layer, m: Mapping, level: int):
    """Per iteration of the loops above ``level``: each dimension's index range."""
    bounds = RS.bounds(layer)
    ext = {d: m.rows[i] * m.cols[i] * prod(m.temporal[lv][i] for lv in range(level + 1))
           for i, d in enumerate(MAP_DIMS)}
    loops = []                                   # (dimension, factor, step), outermost first
    for lv in range(len(LEVELS) - 1, level, -1):
        for d in m.order[lv]:
            i = MAP_DIMS.index(d)
            step = ext[d] * prod(m.temporal[x][i] for x in range(level + 1, lv))
            loops.append((d, m.temporal[lv][i], step))
    for idx in itertools.product(*[range(f) for _, f, _ in loops]):
        start = dict.fromkeys(MAP_DIMS, 0)
        for (d, _, step), i in zip(loops, idx):
            start[d] += i * step
        yield {d: range(start[d], min(start[d] + ext[d], bounds[d])) for d in MAP_DIMS}


def _pixels(layer: Layer, t: dict[str, range]) -> frozenset:
    cpg = layer.C // layer.G
    return frozenset(
        (g, n, g * cpg + c, p * layer.stride_h + r * layer.dilation_h,
         q * layer.stride_w + s * layer.dilation_w)
        for g, n, c, p, q, r, s in itertools.product(t["G"], t["N"], t["C"], t["P"], t["Q"],
                                                     t["R"], t["S"]))


def _sliding_dim(m: Mapping) -> str | None:
    """The DRAM loop the GLB slides its input window along (sim.tiling): the innermost
    input-relevant DRAM loop with a factor > 1, when it is P (R whole at DRAM) or Q (S
    whole at DRAM)."""
    dram = dict(zip(MAP_DIMS, m.temporal[2]))
    rel = [d for d in m.order[2] if d in INPUT_DIMS and dram[d] > 1]
    if rel and (rel[-1], dram["R" if rel[-1] == "P" else "S"]) in (("P", 1), ("Q", 1)):
        return rel[-1]
    return None


def brute_dram_input_reads(layer: Layer, m: Mapping) -> int:
    """A tile is loaded when it differs from the one before; on a step of the sliding
    loop (only that dimension's range moved, forward by one tile) the GLB keeps the
    previous window and DRAM delivers the new pixels only (every case here fits the
    108 KiB GLB many times over: asserted below)."""
    slide = _sliding_dim(m)
    total, prev, prev_set = 0, None, frozenset()
    for t in _tiles(layer, m, 1):
        tile = tuple(t[d] for d in INPUT_DIMS)
        if tile != prev:                     # an index of the input changed: load
            now = _pixels(layer, t)
            step = prev is not None and slide is not None and all(
                (a == b) if d != slide else (a.start == b.stop and len(b) > 0)
                for d, a, b in zip(INPUT_DIMS, tile, prev))
            total += len(now - prev_set) if step else len(now)
            prev_set = now
        prev = tile
    tiles = [len(_pixels(layer, t)) for t in _tiles(layer, m, 1)]
    assert 3 * max(tiles) * 4 <= ACCEL.glb[0].usable_bytes   # every tile fits, 32-bit
    return total


def brute_glb_input_reads(layer: Layer, m: Mapping) -> int:
    return sum(len(_pixels(layer, t)) for t in _tiles(layer, m, 0))


# stride (2, 1), dilation (1, 2), 3x3 kernel, no padding: P = Q = 4 from a 9x8 input
LAYER = conv("rs", 2, 2, (9, 8), 3, stride=(2, 1), dilation=(1, 2))


@pytest.mark.parametrize("mapping, dram, glb", [
    # GLB tile: all of R and S, 4 output rows (rows p*2 + r, p < 4, r < 3: 0..8, 9 rows)
    # and 2 output columns (q + 2s, q < 2, s < 3: 0..5, 6 columns) of one channel: 54
    # pixels per (K, C) at the first Q step; the Q loop is innermost and slides (S whole
    # at DRAM), so the second step (columns 2..7) fetches the new columns 6, 7 only:
    # 9 x 2 = 18. 4 x (54 + 18) = 288 (432 before sliding-window reuse). Array side:
    # per (K, C, Q) x glb P iteration, 2 output rows (p*2 + r,
    # p < 2: 0..4, 5 rows) x 6 columns = 30 pixels, 16 iterations: 480.
    (Mapping.build(rows={"R": 3}, cols={"P": 2}, pe={"S": 3, "Q": 2}, glb={"P": 2},
                   dram={"Q": 2, "C": 2, "K": 2}, order={"dram": ["K", "C", "Q"]}), 288, 480),
    # One output pixel per GLB tile: rows {0, 1, 2}, columns {0, 2, 4} (dilation 2
    # leaves gaps: 3 columns, not the halo's 5), 2 channels: 18 pixels, loaded per
    # (P, Q) with K innermost reused: 16 x 18 = 288 (the halo formula: 480). Array side:
    # 2 channels x 1 pixel per iteration of (P, Q, K) x glb (R, S) = 16 x 2 x 9 = 288
    # iterations: 576.
    (Mapping.build(rows={"C": 2}, cols={"P": 1}, pe={"S": 1, "Q": 1}, glb={"R": 3, "S": 3},
                   dram={"P": 4, "Q": 4, "K": 2}, order={"dram": ["P", "Q", "K"]}), 288, 576),
    # The array tile itself has gaps: 1 output column with S = 3 in the PE (columns 0,
    # 2, 4), 1 output row with R = 3 on the array rows (rows 0..2): 9 pixels, sent per
    # (C, P, Q, K) = 64 iterations: 576 (the halo formula: 960); the GLB holds the same
    # 9 pixels, loaded per (C, P, Q) with K innermost reused: 32 x 9 = 288.
    (Mapping.build(rows={"R": 3}, cols={"P": 1}, pe={"S": 3, "Q": 1},
                   dram={"C": 2, "P": 4, "Q": 4, "K": 2}, order={"dram": ["C", "P", "Q", "K"]}),
     288, 576),
])
def test_rs_input_traffic_by_hand_and_brute_force(mapping: Mapping, dram: int,
                                                  glb: int) -> None:
    res = evaluate(LAYER, ACCEL, mapping)
    assert (brute_dram_input_reads(LAYER, mapping), brute_glb_input_reads(LAYER, mapping)) \
        == (dram, glb)
    assert res.accesses["dram"]["input"]["reads"] == dram
    assert res.accesses["glb"]["input"]["reads"] == glb
    # the cycle model's demand is built from the same footprints
    run = simulate_cycle(LAYER, ACCEL, mapping)
    assert run.result.accesses == res.accesses


def _divisor(draw: st.DrawFn, n: int, limit: int | None = None) -> int:
    return draw(st.sampled_from([d for d in range(1, n + 1) if n % d == 0
                                 and (limit is None or d <= limit)]))


@st.composite
def rs_cases(draw: st.DrawFn) -> tuple[Layer, Mapping]:
    """A small unpadded conv with independent H/W stride and dilation, and an rs
    mapping of perfect factors (every tile the same shape), random loop orders."""
    r, s = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sh, sw, dh, dw = (draw(st.integers(1, 3)) for _ in range(4))
    p, q = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    groups = draw(st.sampled_from([1, 2]))
    c, k = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    h, w = (p - 1) * sh + (r - 1) * dh + 1, (q - 1) * sw + (s - 1) * dw + 1
    layer = conv("rs", c, k, (h, w), (r, s), stride=(sh, sw), dilation=(dh, dw),
                 groups=groups, batch=draw(st.integers(1, 2)))
    b = RS.bounds(layer)
    rows = {"R": _divisor(draw, b["R"], ACCEL.rows)}
    rows["C"] = _divisor(draw, b["C"], ACCEL.rows // rows["R"])
    cols = {"P": _divisor(draw, b["P"], ACCEL.cols)}
    cols["K"] = _divisor(draw, b["K"], ACCEL.cols // cols["P"])
    levels: dict[str, dict[str, int]] = {"pe": {}, "glb": {}, "dram": {}}
    for d in MAP_DIMS:
        rem = b[d] // (rows.get(d, 1) * cols.get(d, 1))
        levels["pe"][d] = _divisor(draw, rem) if d in RS.stream_dims else 1
        rem //= levels["pe"][d]
        levels["glb"][d] = _divisor(draw, rem)
        levels["dram"][d] = rem // levels["glb"][d]
    order = {lvl: list(draw(st.permutations(MAP_DIMS))) for lvl in LEVELS}
    m = Mapping.build(rows=rows, cols=cols, **levels, order=order)
    m.check(layer, RS, ACCEL.rows, ACCEL.cols, b)
    return layer, m


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=rs_cases())
def test_rs_input_traffic_equals_the_brute_force(case: tuple[Layer, Mapping]) -> None:
    layer, m = case
    try:
        res = evaluate(layer, ACCEL, m)
    except CostError:                       # RF too small for the stationary tile
        return
    assert res.accesses["dram"]["input"]["reads"] == brute_dram_input_reads(layer, m)
    assert res.accesses["glb"]["input"]["reads"] == brute_glb_input_reads(layer, m)
