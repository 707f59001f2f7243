"""Sliding-window (halo) reuse of conv inputs at the DRAM -> GLB boundary, by brute force.

The expected counts come from simulating the DRAM loop nest of a small layer in Python:
every DRAM iteration's GLB input tile is built as an explicit set of input coordinates
straight from the convolution's indexing (``I[n, c, p*sh + r*dh - ph, q*sw + s*dw - pw]``
for every output pixel and reduction index of the tile, padding dropped for lowered
dataflows, kept as coordinates for row-stationary), and DRAM input reads are counted
with the documented window-resident rule (``sim.tiling``):

* a tile equal to the previous one costs nothing (reuse across irrelevant loops);
* on a *sliding step* -- the sliding loop's index advanced by one, every other
  input-relevant loop index unchanged, and (lowered pixel chunks) both chunks in the
  same output row / the same image -- DRAM delivers ``|new - previous|`` when the GLB
  holds every operand's tile at once;
* any other change delivers the whole new tile.

So the only thing shared with the model is the semantics; the counts are set
arithmetic over explicit coordinates, not the model's closed forms. Both the
batched analytic model and the cycle model's demand side must give the count.
"""

from __future__ import annotations

from dataclasses import replace
from itertools import product

import numpy as np
import pytest

from dataflows.dataflow import MAP_DIMS, get_dataflow
from dataflows.layer import Layer, conv
from dataflows.mapping import Mapping
from sim.analytic import MappingBatch, evaluate, evaluate_batch
from sim.cycle.demand import build_demand
from sim.spec import Accelerator
from sim.spec_io import load_accelerator

_D = {d: i for i, d in enumerate(MAP_DIMS)}


def _spec(name: str, glb_bytes: int | None = None) -> Accelerator:
    acc = load_accelerator(name)
    if glb_bytes is None:
        glb_bytes = 1 << 24
    return replace(acc, glb=tuple(replace(b, capacity_bytes=glb_bytes) for b in acc.glb))


def _tile_set(layer: Layer, lowered: bool, start: dict[str, int],
              ext: dict[str, int]) -> frozenset:
    """Explicit input coordinates (g, n, c, h, w) a level-1 tile reads."""
    cg = layer.C // layer.G
    out = set()
    if lowered:
        pq = layer.P * layer.Q
        red = cg * layer.R * layer.S
        for g in range(start["G"], min(start["G"] + ext["G"], layer.G)):
            for pix in range(start["P"], min(start["P"] + ext["P"], layer.N * pq)):
                n, rest = divmod(pix, pq)
                p, q = divmod(rest, layer.Q)
                for t in range(start["C"], min(start["C"] + ext["C"], red)):
                    c, rs = divmod(t, layer.R * layer.S)
                    r, s = divmod(rs, layer.S)
                    h = p * layer.stride_h + r * layer.dilation_h - layer.pad_h
                    w = q * layer.stride_w + s * layer.dilation_w - layer.pad_w
                    if 0 <= h < layer.H and 0 <= w < layer.W:
                        out.add((g, n, c, h, w))
        return frozenset(out)
    rng = {d: range(start[d], min(start[d] + ext[d], b))
           for d, b in (("G", layer.G), ("N", layer.N), ("C", cg), ("P", layer.P),
                        ("Q", layer.Q), ("R", layer.R), ("S", layer.S))}
    for g, n, c, p, q, r, s in product(*(rng[d] for d in "GNCPQRS")):
        out.add((g, n, c, p * layer.stride_h + r * layer.dilation_h,
                 q * layer.stride_w + s * layer.dilation_w))
    return frozenset(out)


def brute_dram_input(layer: Layer, accel: Accelerator, mapping: Mapping,
                     resident: bool) -> int:
    """DRAM input reads of ``mapping`` by walking its DRAM loops (module docstring).

    ``resident``: the GLB holds every operand's tile at once (the test picks capacities
    far above or below the need)."""
    df = get_dataflow(accel.dataflow)
    lowered = df.lowered
    bounds = df.bounds(layer)
    span1 = {d: mapping.rows[i] * mapping.cols[i] * mapping.temporal[0][i]
             * mapping.temporal[1][i] for d, i in _D.items()}
    loops = [d for d in mapping.order[2] if mapping.temporal[2][_D[d]] > 1]
    facs = [mapping.temporal[2][_D[d]] for d in loops]
    relevant = {"G", "N", "C", "P", "Q", "R", "S"}
    rel_loops = [d for d in loops if d in relevant]
    slide = rel_loops[-1] if rel_loops else None
    if lowered and slide not in ("P",):
        slide = None
    if not lowered and slide not in ("P", "Q"):
        slide = None
    ext = {d: min(span1[d], bounds[d]) for d in MAP_DIMS}
    total, prev_set, prev_idx = 0, None, None
    for idx in product(*(range(f) for f in facs)):
        at = dict(zip(loops, idx))
        start = {d: at.get(d, 0) * span1[d] for d in MAP_DIMS}
        tile = _tile_set(layer, lowered, start, ext)
        rel_now = {d: at[d] for d in rel_loops}
        if prev_set is not None and tile == prev_set and rel_now == prev_idx:
            continue
        step = (prev_idx is not None and slide is not None and resident
                and rel_now[slide] == prev_idx[slide] + 1
                and all(rel_now[d] == prev_idx[d] for d in rel_loops if d != slide))
        if step and lowered:
            chunk = span1["P"]
            a, b = (rel_now["P"] - 1) * chunk, rel_now["P"] * chunk
            if chunk < layer.Q:
                step = a // layer.Q == b // layer.Q          # same output row
            else:
                step = a // (layer.P * layer.Q) == b // (layer.P * layer.Q)  # same image
        total += len(tile - prev_set) if step else len(tile)
        prev_set, prev_idx = tile, rel_now
    return total


def _model(layer: Layer, accel: Accelerator, mapping: Mapping) -> tuple[int, int, bool]:
    """(analytic DRAM input reads, demand's sum, window resident)."""
    arr = evaluate_batch(layer, accel, MappingBatch.from_mappings([mapping]))
    d = build_demand(layer, accel, mapping)
    assert int(arr["glb_input_writes"][0]) == int(arr["dram_input_reads"][0])
    return (int(arr["dram_input_reads"][0]), int(d.dram_reads["input"].sum()),
            bool(arr["input_window_resident"][0]))


def _ws(rows: dict, cols: dict, pe: dict, glb: dict, dram: dict, order: list) -> Mapping:
    return Mapping.build(rows=rows, cols=cols, pe=pe, glb=glb, dram=dram,
                         order={"dram": order})


# Lowered (ws) cases: layer, mapping; C-chunks aligned to channels (t % (R*S) == 0) so
# the explicit window equals the model's channel x row x column window.
LOWERED = {
    # 3x3, pad 1, bands of 2 output rows (chunk 16 = 2 x Q), K loop inside P: every
    # input element once -> the touched-input minimum C*H*W.
    "3x3_pad1_bands": (conv("a", 2, 4, 8, 3, padding=1),
                       _ws({"C": 9}, {"K": 4}, {"P": 16}, {"C": 2}, {"P": 4}, ["P"])),
    # the same without padding (6 x 6 outputs, bands of 2 rows = 12 pixels)
    "3x3_bands": (conv("a0", 2, 4, 8, 3),
                  _ws({"C": 9}, {"K": 4}, {"P": 12}, {"C": 2}, {"P": 3}, ["P"])),
    # stride 2 x 1, chunks inside one output row (chunk 2 of Q = 8): a new row of
    # chunks re-fetches.
    "stride2x1_row_chunks": (conv("b", 1, 2, (9, 8), 3, stride=(2, 1), padding=1),
                             _ws({"C": 9}, {"K": 2}, {"P": 2}, {}, {"P": 20}, ["P"])),
    # dilation 1 x 2, bands of one output row, K at DRAM outside P: runs repeat per K.
    "dilation1x2_bands_k_outer": (conv("c", 1, 4, 8, 3, padding=(1, 2), dilation=(1, 2)),
                                  _ws({"C": 9}, {"K": 2}, {"P": 8}, {}, {"P": 8, "K": 2},
                                      ["K", "P"])),
    # stride 3 > kernel 2: consecutive bands share nothing.
    "stride_wider_than_kernel": (conv("d", 1, 2, 12, 2, stride=3),
                                 _ws({"C": 4}, {"K": 2}, {"P": 4}, {}, {"P": 4}, ["P"])),
    # C loop innermost at DRAM: the input tile changes with C, no sliding (whole
    # tiles; pad 0 and whole bands, so no tile is clipped at an image edge, where the
    # whole-tile rule counts the unclipped halo, an upper bound).
    "c_innermost_no_slide": (conv("e", 2, 2, 8, 3),
                             _ws({"C": 9}, {"K": 2}, {"P": 12}, {}, {"P": 3, "C": 2},
                                 ["P", "C"])),
}


@pytest.mark.parametrize("case", sorted(LOWERED))
def test_lowered_ws_matches_brute_force(case: str) -> None:
    layer, mapping = LOWERED[case]
    accel = _spec("edge_npu_16x16_ws")
    expected = brute_dram_input(layer, accel, mapping, resident=True)
    analytic, demand, resident = _model(layer, accel, mapping)
    assert (analytic, demand) == (expected, expected)
    assert resident == (case != "c_innermost_no_slide")


def test_bands_reach_the_touched_input_minimum() -> None:
    """Hand count: 2 channels x 8 x 8 input, 3x3 pad 1: every element read once."""
    layer, mapping = LOWERED["3x3_pad1_bands"]
    analytic, _, _ = _model(layer, _spec("edge_npu_16x16_ws"), mapping)
    assert analytic == 2 * 8 * 8


def test_row_chunks_hand_count() -> None:
    """stride (2, 1), pad 1, 9 x 8 input, 3x3: P = 5, Q = 8; chunks of 2 pixels in a row.
    Output row o reads input rows 2o-1 .. 2o+1 inside [0, 9): 2, 3, 3, 3, 2 = 13 rows.
    Along a row of chunks the columns fetched are 3, 2, 2, 1 = 8 ([0,2], then the new
    [3,4], [5,6], [7]); each new output row re-fetches. 13 x 8 = 104 = the 72 input
    elements plus rows 1, 3, 5, 7 (8 each) that two output rows share."""
    layer, mapping = LOWERED["stride2x1_row_chunks"]
    analytic, _, _ = _model(layer, _spec("edge_npu_16x16_ws"), mapping)
    assert analytic == 13 * 8


def test_buffer_too_small_keeps_whole_tiles() -> None:
    """A GLB that cannot hold the tiles together: every load is a whole window (the
    old rule), and the brute force without residency agrees."""
    layer, mapping = LOWERED["3x3_bands"]
    big = _model(layer, _spec("edge_npu_16x16_ws"), mapping)
    # weights 18*4 B + the input window 2*4*8 B share the 128 B scratchpad (64 usable,
    # double-buffered): they do not fit together
    small = _spec("edge_npu_16x16_ws", glb_bytes=128)
    arr = evaluate_batch(layer, small, MappingBatch.from_mappings([mapping]))
    assert not arr["input_window_resident"][0]
    expected = brute_dram_input(layer, small, mapping, resident=False)
    assert int(arr["dram_input_reads"][0]) == expected
    assert int(build_demand(layer, small, mapping).dram_reads["input"].sum()) == expected
    assert expected > big[0]


# Row-stationary (conv view, padded coordinates): P or Q at DRAM with R/S whole.
RS = {
    "p_slide_stride2x1": (conv("f", 2, 2, (11, 6), 3, stride=(2, 1)),
                          {"dram": {"P": 5}, "order": ["P"]}),
    "q_slide_dilation1x2": (conv("g", 1, 2, 10, 3, dilation=(1, 2), padding=(1, 2)),
                            {"dram": {"Q": 5}, "order": ["Q"]}),
    "p_slide_k_outer": (conv("h", 1, 4, 9, 3, padding=1),
                        {"dram": {"P": 3, "K": 2}, "order": ["K", "P"]}),
}


def _rs_mapping(layer: Layer, accel: Accelerator, dram: dict, order: list) -> Mapping:
    df = get_dataflow("rs")
    b = df.bounds(layer)
    rows = {"R": b["R"]}
    cols = {}
    pe = {"S": b["S"]}
    glb = {}
    for d in ("N", "C", "K", "P", "Q"):
        rest = -(-b[d] // dram.get(d, 1))
        if rest > 1:
            (pe if d in ("Q", "N") else glb)[d] = rest
    return Mapping.build(rows=rows, cols=cols, pe=pe, glb=glb, dram=dram,
                         order={"dram": order})


@pytest.mark.parametrize("case", sorted(RS))
def test_row_stationary_matches_brute_force(case: str) -> None:
    layer, spec = RS[case]
    accel = _spec("eyeriss_12x14_rs")
    mapping = _rs_mapping(layer, accel, spec["dram"], spec["order"])
    evaluate(layer, accel, mapping)            # legal and fits
    expected = brute_dram_input(layer, accel, mapping, resident=True)
    analytic, demand, resident = _model(layer, accel, mapping)
    assert resident
    assert (analytic, demand) == (expected, expected)


def test_random_ws_mappings_against_brute_force() -> None:
    """Random ws mappings of a small padded conv with stride 1 x 2: where the model
    slides (``input_window_resident``) it equals the brute force exactly; elsewhere
    the whole-tile rule is an upper bound of the brute-force whole-tile count (it does
    not clip a tile's halo at the image edge)."""
    layer = conv("r", 2, 4, 6, 3, padding=1, stride=(1, 2))     # P 6, Q 3: 18 pixels
    accel = _spec("edge_npu_16x16_ws")
    rng = np.random.default_rng(3)
    slid = 0
    for _ in range(30):
        chunk = int(rng.choice([1, 2, 3, 6, 9, 4, 5]))
        k_dram = int(rng.choice([1, 2]))
        dram = {"P": -(-18 // chunk), "C": 2, "K": k_dram}
        m = _ws({"C": 9}, {"K": 4 // k_dram}, {"P": chunk}, {}, dram,
                [str(d) for d in rng.permutation(["P", "C", "K"])])
        analytic, demand, resident = _model(layer, accel, m)
        assert analytic == demand
        if resident:
            slid += 1
            assert analytic == brute_dram_input(layer, accel, m, resident=True)
        else:
            assert analytic >= brute_dram_input(layer, accel, m, resident=False)
    assert slid >= 5


def test_resnet50_conv2_3x3_reaches_the_touched_input_minimum() -> None:
    """ResNet-50 layer1.0.conv2 (64 -> 64, 56 x 56, 3x3 pad 1) on the 16x16 WS edge NPU:
    C chunks of 16 whole channels (16 rows x 9 at the GLB = 144 = 16 x 3 x 3), one
    output row per P step (56 pixels), K whole at the GLB, DRAM order (C, P): each of the
    4 C folds slides over the image once, so DRAM reads every input element once:
    64 x 56 x 56 = 200,704 (the padded input is 64 x 58 x 58 = 215,296; padding zeros
    are not fetched). Before sliding-window reuse each row band re-read its 3 rows."""
    layer = conv("layer1.0.conv2", 64, 64, 56, 3, padding=1)
    accel = load_accelerator("edge_npu_16x16_ws")
    m = Mapping.build(rows={"C": 16}, cols={"K": 16}, pe={"P": 56}, glb={"C": 9, "K": 4},
                      dram={"C": 4, "P": 56}, order={"dram": ["C", "P"]})
    res = evaluate(layer, accel, m)
    assert res.accesses["dram"]["input"]["reads"] == 64 * 56 * 56
    assert int(build_demand(layer, accel, m).dram_reads["input"].sum()) == 64 * 56 * 56
