"""Sliding-window (halo) reuse of convolution inputs in sim.hier_cost (``input_reuse=
"window"``): hand-computed cases, batched == scalar == a brute-force walk
of explicit input point sets, and the bounds compulsory <= window <= refetch.

The brute force (:func:`window_walk`) knows nothing of the model's per-loop closed
forms: it walks every iteration of the loops above a level (innermost fastest), builds
each instance's input window as a set of (g, n, c, row, col) points (rows
``p * stride_h + r * dilation_h`` in padded coordinates, columns likewise with the W
stride and dilation), and counts ``|W_t \\ W_(t-1)|`` per instance (the first window
whole); a parent serving a multicast group reads the distinct points of the union of
its children's new points at each iteration. Exact factors only (no partial tiles),
where the model's conventions and the physical loop nest coincide.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dataflows.layer import Layer
from dataflows.nest_mapping import NestBatch, NestMapping
from mapper.nest_search import NestSpace
from sim.hier_cost import (DEFAULT_INPUT_REUSE, INPUT_REUSE, HierCostError, evaluate,
                           evaluate_batch)
from sim.hierarchy import Fanout, Hierarchy, StorageLevel
from tests.sim.test_hier_cost import _loops
from tests.sim.test_hierarchy_props import hierarchies, layers


def _points(layer: Layer, lo: list[int], ext: list[int]) -> frozenset:
    g, n, _, c, p, q, r, s = (range(a, a + e) for a, e in zip(lo, ext))
    return frozenset((gg, nn, cc, pp * layer.stride_h + rr * layer.dilation_h,
                      qq * layer.stride_w + ss * layer.dilation_w)
                     for gg, nn, cc, pp, qq, rr, ss in itertools.product(g, n, c, p, q, r, s))


def window_walk(layer: Layer, hier: Hierarchy, m: NestMapping) -> dict:
    """Input (reads, writes) per level name under the window rule, by enumeration: the
    writes of every level keeping inputs and the reads of every level that serves a
    child level (the innermost one's reads, one per MAC, are not walked: None)."""
    loops = _loops(hier, m)
    strides = [math.prod(f for (_, dd, f, _) in loops[j + 1:] if dd == d)
               for j, (_, d, _, _) in enumerate(loops)]
    levels, fans = hier.levels, hier.fanouts
    pos, li = [], 0
    for node in hier.nodes:
        if isinstance(node, StorageLevel):
            li += 1
        else:
            pos.append(li)
    reads: dict = defaultdict(int)
    writes: dict = defaultdict(int)
    chain = [i for i, lv in enumerate(levels) if "input" in lv.keeps]
    reads[levels[chain[-1]].name] = None
    for ci, p in enumerate(chain[:-1]):
        c = chain[ci + 1]
        shared = {f for f in range(len(fans)) if p < pos[f] <= c and "input" in fans[f].multicast}
        cut = next(j for j, lp in enumerate(loops) if lp[0] == "t" and lp[3] == c)
        above = loops[:cut]
        ext = [math.prod(f for (_, dd, f, _) in loops[cut:] if dd == d) for d in range(8)]
        t_idx = [j for j, lp in enumerate(above) if lp[0] == "t"]
        s_idx = [j for j, lp in enumerate(above) if lp[0] == "s"]
        streams = "input" in levels[c].streams
        prev: dict = {}
        for tv in itertools.product(*[range(above[j][2]) for j in t_idx]):
            base = [0] * 8
            for j, v in zip(t_idx, tv):
                base[above[j][1]] += v * strides[j]
            groups: dict = defaultdict(set)
            for sv in itertools.product(*[range(above[j][2]) for j in s_idx]):
                lo = list(base)
                key = []
                for j, v in zip(s_idx, sv):
                    lo[above[j][1]] += v * strides[j]
                    key.append((above[j][3], v))
                w = _points(layer, lo, ext)
                ik = tuple(key)
                new = w if streams else w - prev.get(ik, frozenset())
                prev[ik] = w
                writes[levels[c].name] += len(new)
                groups[tuple(kv for kv in key if kv[0] not in shared)] |= new
            reads[levels[p].name] += sum(len(g) for g in groups.values())
    return {levels[i].name: (reads[levels[i].name], writes[levels[i].name]) for i in chain}


def _model_inputs(layer: Layer, hier: Hierarchy, m: NestMapping, **kw) -> dict:
    """The model's input (reads, writes) per level, the innermost level's reads None."""
    r = evaluate(layer, hier, m, **({"input_reuse": "window"} | kw))
    out = {lv: (d["input"]["reads"], d["input"]["writes"]) for lv, d in r.accesses.items()
           if "input" in d}
    inner = [lv.name for lv in hier.levels if "input" in lv.keeps][-1]
    out[inner] = (None, out[inner][1])
    return out


def _counts(layer: Layer, hier: Hierarchy, m: NestMapping, rule: str) -> dict:
    r = evaluate(layer, hier, m, input_reuse=rule)
    return {(lv, op): (rw["reads"], rw["writes"]) for lv, d in r.accesses.items()
            for op, rw in d.items()}


def _padded_inputs(layer: Layer) -> int:
    """Compulsory input traffic: every padded input element a window reads, once."""
    return len(_points(layer, [0] * 8, [1, layer.N, 1, layer.C, layer.P, layer.Q, layer.R,
                                        layer.S]))


# -- by hand -------------------------------------------------------------------------------
TWO = Hierarchy("two", (StorageLevel("dram"),
                        StorageLevel("buf", capacity_bytes=8192, word_bits=8)))
C3 = Layer("c3", C=2, K=2, P=8, Q=4, R=3, S=3)


@pytest.mark.parametrize("order, want", [(["P"], 120), (["P", "K"], 120),
                                         (["K", "P"], 216)])
def test_3x3_stride1_p_loop_over_a_4_row_tile(order: list[str], want: int) -> None:
    """3x3 stride 1, C = 2; the buffer holds P 4 x Q 4 outputs: a window of (4-1)+3 = 6
    rows x 6 columns x 2 channels = 72 inputs; dram loops P: 2 above it (and K: 2 when
    the order names it). Refetch: every tile whole. Window, by hand:
    P alone (K inside the buffer): 72 + one P step moving 4 rows, 4 new rows x 6 x 2
    = 48: 120 = the padded input (10 x 6 x 2, compulsory);
    K innermost above P: the K steps keep the window whole (0 new): 120;
    P innermost under K: P0 72, P1 48, back to P0 (moved -4 rows: 2 rows kept, 72 -
    2 x 6 x 2 = 48), P1 48: 216 (refetch 4 x 72 = 288)."""
    temporal = {"dram": {"P": 2}, "buf": {"C": 2, "P": 4, "Q": 4, "R": 3, "S": 3, "K": 2}}
    if "K" in order:
        temporal = {"dram": {"P": 2, "K": 2}, "buf": {"C": 2, "P": 4, "Q": 4, "R": 3, "S": 3}}
    m = NestMapping.build(TWO, temporal=temporal, order={"dram": order})
    win, ref = _counts(C3, TWO, m, "window"), _counts(C3, TWO, m, "refetch")
    assert win["dram", "input"] == (want, 0) and win["buf", "input"][1] == want
    assert ref["dram", "input"][0] == 72 * (4 if "K" in order and order[-1] == "P" else 2)
    assert _padded_inputs(C3) == 120
    assert _model_inputs(C3, TWO, m) == window_walk(C3, TWO, m)
    # only the inputs' traffic changes
    assert {k: v for k, v in win.items() if k[1] != "input"} == \
        {k: v for k, v in ref.items() if k[1] != "input"}


S2 = Layer("s2", C=1, K=1, P=6, Q=4, R=3, S=3, stride_h=2)


@pytest.mark.parametrize("dram, buf_q, order, want, refetch", [
    ({"P": 3}, 4, ["P"], 78, 90), ({"P": 3, "Q": 2}, 2, ["P", "Q"], 86, 120)])
def test_stride_2_in_h_and_1_in_w(dram: dict, buf_q: int, order: list[str], want: int,
                                  refetch: int) -> None:
    """Stride 2 in H, 1 in W, 3x3. The buffer's tile is P 2 outputs: rows (2-1)*2+3 = 5.
    P: 3 alone (Q 4 in the tile, 6 columns): 30 + 2 steps moving 2*2 = 4 rows, 4 new
    rows x 6 = 24 each: 78 = the padded input (13 rows x 6 columns); refetch 3 x 30.
    P: 3 outer, Q: 2 inner (tile Q 2: 4 columns, 20 inputs): Q steps move 2 columns,
    2 new columns x 5 rows = 10; P steps move +4 rows and -2 columns, keeping 1 row x 2
    columns = 2: 18 new; 20 + 10 + 18 + 10 + 18 + 10 = 86 (refetch 6 x 20)."""
    m = NestMapping.build(TWO, temporal={"dram": dram, "buf": {"P": 2, "Q": buf_q, "R": 3,
                                                                "S": 3}},
                          order={"dram": order})
    assert _counts(S2, TWO, m, "window")["dram", "input"] == (want, 0)
    assert _counts(S2, TWO, m, "refetch")["dram", "input"] == (refetch, 0)
    assert _padded_inputs(S2) == 78
    assert _model_inputs(S2, TWO, m) == window_walk(S2, TWO, m)


D2 = Layer("d2", C=1, K=1, P=2, Q=6, R=1, S=3, dilation_w=2)


@pytest.mark.parametrize("dram, buf, want", [
    ({"Q": 3}, {"P": 2, "Q": 2, "S": 3}, 20), ({"S": 3}, {"P": 2, "Q": 6}, 20),
    ({"Q": 6}, {"P": 2, "S": 3}, 36)])
def test_dilation_2_in_w(dram: dict, buf: dict, want: int) -> None:
    """Dilation 2 in W (S = 3), 1 x 3 kernel on 2 rows: q outputs read q + 4 columns.
    Q: 3 over a 2-output tile (6 columns, 12 inputs): each step moves 2 columns, 2 new x 2
    rows: 12 + 2 x 4 = 20 = the padded input (2 x 10). S: 3 over a tile of all 6 outputs
    and one kernel column (6 columns): each S step moves 2 columns (the dilation): 20.
    Q: 6 over one output with the whole kernel (columns {0, 2, 4}): a step moves 1
    column and the next window {1, 3, 5} shares nothing with it -- only the previous
    window counts: 6 x 6 = 36, the refetch figure."""
    m = NestMapping.build(TWO, temporal={"dram": dram, "buf": buf})
    assert _counts(D2, TWO, m, "window")["dram", "input"] == (want, 0)
    assert _counts(D2, TWO, m, "refetch")["dram", "input"] == (36, 0)
    assert _model_inputs(D2, TWO, m) == window_walk(D2, TWO, m)


MC = Hierarchy("mc", (StorageLevel("dram"), StorageLevel("glb", capacity_bytes=1 << 16),
                      Fanout("f", size=(2,), dims=(("Q",),), multicast=("input",)),
                      StorageLevel("pe", keeps=("input",), capacity_bytes=64)))


def test_multicast_children_slide_together() -> None:
    """Two children of a multicast fanout split Q (3x3, P = Q = 4): each holds 2 x 2
    outputs, a 4 x 4 window (16), the pair columns 0-3 and 2-5 (6 columns). The glb
    loops P: 2 above them: a step moves both windows 2 rows, keeping 2. pe writes: 2 x
    (16 + 2 new rows x 4) = 48 (refetch 64); glb reads, one per distinct word the pair
    needs: 4 x 6 + 2 new rows x 6 = 36 (refetch 48); the glb holds the whole input
    (6 x 6 = 36, the compulsory DRAM traffic)."""
    layer = Layer("mc", C=1, K=1, P=4, Q=4, R=3, S=3)
    m = NestMapping.build(MC, temporal={"glb": {"P": 2}, "pe": {"P": 2, "Q": 2, "R": 3,
                                                                 "S": 3}},
                          spatial={"f": [{"Q": 2}]})
    win, ref = _counts(layer, MC, m, "window"), _counts(layer, MC, m, "refetch")
    assert (win["pe", "input"][1], win["glb", "input"][0], win["dram", "input"][0]) == \
        (48, 36, 36)
    assert (ref["pe", "input"][1], ref["glb", "input"][0]) == (64, 48)
    assert _model_inputs(layer, MC, m) == window_walk(layer, MC, m)


BAND = Hierarchy("band", (StorageLevel("dram"),
                          StorageLevel("glb", capacity_bytes=8192, word_bits=64),
                          Fanout("pes", size=(4, 4), dims=(("K",), ("C",)),
                                 multicast=("weight", "input"), reduction=True),
                          StorageLevel("rf", capacity_bytes=64, word_bits=8,
                                       streams=("input", "output"))))


@pytest.mark.parametrize("order, want", [(["P", "K"], 4096), (["K", "P"], 8192)])
def test_row_band_buffer_reaches_the_padded_input(order: list[str], want: int) -> None:
    """A 3x3 pad-1 conv (C = K = 16, 14 x 14, padded input 16 x 16 x 16 = 4096) whose
    glb holds a band of 2 output rows (4 input rows x 16 columns x 16 channels = 1024
    inputs, with its weights and partial sums: it fits) while dram loops P: 7 and K: 2.
    K innermost (order P, K): the K step keeps the band, every P step brings 2 new rows
    (2 x 16 x 16 = 512): 1024 + 6 x 512 = 4096, the padded-input minimum (refetch
    7 x 1024 = 7168). P innermost (order K, P): P sweeps the input twice and the wrap
    between the sweeps moves the band back 12 rows (nothing kept): 2 x 4096 = 8192
    (refetch 14 x 1024)."""
    layer = Layer("band", C=16, K=16, P=14, Q=14, R=3, S=3, pad_h=1, pad_w=1)
    m = NestMapping.build(BAND, temporal={"dram": {"P": 7, "K": 2},
                                          "glb": {"P": 2, "Q": 14, "R": 3, "S": 3,
                                                  "C": 4, "K": 2},
                                          "rf": {}},
                          spatial={"pes": [{"K": 4}, {"C": 4}]}, order={"dram": order})
    r = evaluate(layer, BAND, m, input_reuse="window")
    assert r.legal
    assert _padded_inputs(layer) == layer.C * 16 * 16 == 4096
    assert r.accesses["dram"]["input"]["reads"] == want
    ref = evaluate(layer, BAND, m, input_reuse="refetch").accesses["dram"]["input"]["reads"]
    assert ref == 7 * 1024 * (2 if order[0] == "K" else 1)


def test_default_rule() -> None:
    """The default is sim.hier_cost_scalar.DEFAULT_INPUT_REUSE for both paths."""
    m = NestMapping.build(TWO, temporal={"dram": {"P": 2}, "buf": {"C": 2, "P": 4, "Q": 4,
                                                                   "R": 3, "S": 3, "K": 2}})
    for rule in INPUT_REUSE:
        assert _counts(C3, TWO, m, rule)["dram", "input"][0] == {"window": 120,
                                                                  "refetch": 144}[rule]
    assert evaluate(C3, TWO, m).accesses["dram"]["input"]["reads"] == \
        int(evaluate_batch(C3, TWO, NestBatch.from_mappings([m]))["dram_input_reads"][0]) == \
        {"window": 120, "refetch": 144}[DEFAULT_INPUT_REUSE]


def test_bad_rule_is_one_line() -> None:
    m = NestMapping.build(TWO, temporal={"dram": {"P": 2}, "buf": {"C": 2, "P": 4, "Q": 4,
                                                                   "R": 3, "S": 3, "K": 2}})
    with pytest.raises(HierCostError, match="input_reuse must be 'window'.*not 'slide'"):
        evaluate(C3, TWO, m, input_reuse="slide")
    with pytest.raises(HierCostError, match="input_reuse must be"):
        evaluate_batch(C3, TWO, NestBatch.from_mappings([m]), input_reuse="")


# -- random hierarchies ----------------------------------------------------------------------
PROPS = settings(max_examples=40, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@PROPS
@given(hierarchies(), layers(small=8), st.booleans(), st.integers(0, 2**31))
def test_batched_equals_scalar(hier: Hierarchy, layer: Layer, imperfect: bool,
                               seed: int) -> None:
    """2-6 levels with fanouts, exact and imperfect factors, both rules: every count of
    evaluate_batch equals the plain-Python evaluate's."""
    space = NestSpace(layer, hier, imperfect)
    g = space.random(np.random.default_rng(seed), 12)
    for rule in ("window", "refetch"):
        arr = evaluate_batch(layer, hier, g.batch, input_reuse=rule)
        for i in range(len(g)):
            r = evaluate(layer, hier, space.to_mapping(g, i), input_reuse=rule)
            for lv, d in r.accesses.items():
                for op, rw in d.items():
                    assert int(arr[f"{lv}_{op}_reads"][i]) == rw["reads"], (rule, lv, op)
                    assert int(arr[f"{lv}_{op}_writes"][i]) == rw["writes"], (rule, lv, op)
            assert arr["energy_pj"][i] == pytest.approx(r.energy_pj, rel=1e-9)
            assert int(arr["total_cycles"][i]) == r.total_cycles


def _walk_case(hier: Hierarchy, layer: Layer, seed: int) -> None:
    space = NestSpace(layer, hier, False)
    g = space.random(np.random.default_rng(seed), 3)
    top = hier.levels[0].name
    for i in range(len(g)):
        m = space.to_mapping(g, i)
        assert _model_inputs(layer, hier, m) == window_walk(layer, hier, m), m
        win, ref = _counts(layer, hier, m, "window"), _counts(layer, hier, m, "refetch")
        assert _padded_inputs(layer) <= win[top, "input"][0]
        for k, (rd, wr) in win.items():
            if k[1] == "input":
                assert rd <= ref[k][0] and wr <= ref[k][1], k
            else:
                assert (rd, wr) == ref[k], k


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(hierarchies(max_levels=5), layers(small=4), st.integers(0, 2**31))
def test_model_equals_walk(hier: Hierarchy, layer: Layer, seed: int) -> None:
    """Exact factors: the model's input counts equal the point-set walk's; compulsory
    <= window <= refetch at the top (and window <= refetch everywhere); the other
    operands' counts do not depend on the rule."""
    _walk_case(hier, layer, seed)


@pytest.mark.slow
@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(hierarchies(max_levels=6), layers(small=5), st.integers(0, 2**31))
def test_model_equals_walk_sweep(hier: Hierarchy, layer: Layer, seed: int) -> None:
    _walk_case(hier, layer, seed)


def test_walk_sees_gains() -> None:
    """The random walk cases above are not vacuous: on a fixed sample of them the window
    rule moves fewer inputs than the refetch rule on some mappings (multicast too)."""
    rng = np.random.default_rng(5)
    h = Hierarchy("h", (StorageLevel("dram"), StorageLevel("l1", capacity_bytes=1 << 14),
                        Fanout("f", size=(2,), dims=(("P", "Q"),), multicast=("input",)),
                        StorageLevel("l2", keeps=("input",), capacity_bytes=1 << 10)))
    layer = Layer("g", C=2, K=2, P=4, Q=4, R=3, S=3)
    space = NestSpace(layer, h, False)
    g = space.random(rng, 40)
    gains = 0
    for i in range(len(g)):
        m = space.to_mapping(g, i)
        assert _model_inputs(layer, h, m) == window_walk(layer, h, m)
        gains += _counts(layer, h, m, "window")["l1", "input"][0] < \
            _counts(layer, h, m, "refetch")["l1", "input"][0]
    assert gains >= 5


def test_group_closed_forms_equal_enumeration() -> None:
    """The batched path's rows kept by a multicast group spreading outputs (whole copies,
    a copy cut by the bound, copies past it, strides/dilations with gaps) equal
    _kept_rows' enumeration of the rows, on random steps up and down."""
    from sim.hier_window import _plane_kept
    from sim.hier_plan import _kept_rows
    rng = np.random.default_rng(1)
    for _ in range(40):
        s, d = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        P, R = int(rng.integers(1, 15)), int(rng.integers(1, 4))
        B = 30
        ep, er = rng.integers(1, P + 1, B), rng.integers(1, R + 1, B)
        sp = rng.integers(1, 5, B)
        g = np.array([int(rng.integers(x, P + 2)) for x in ep])
        e = np.ones((8, B), dtype=np.int64)
        e[4], e[6] = ep, er
        ones = np.ones(B, dtype=np.int64)
        b = np.repeat(np.arange(B), 4)
        shift = {4: rng.integers(-2 * P, 2 * P + 1, len(b)), 6: rng.integers(-R, R + 1, len(b))}
        got = _plane_kept(e, b, shift, 4, 6, [(sp, g, ones, ones)], s, d,
                          np.array([1, 1, 1, 1, P, 1, R, 1]))
        want = [_kept_rows(int(ep[i]), int(er[i]), ((int(sp[i]), int(g[i]), 1, 1),), s, d,
                           P, R, int(shift[4][j]), int(shift[6][j])) for j, i in enumerate(b)]
        assert got.tolist() == want, (s, d, P, R)
