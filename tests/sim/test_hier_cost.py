"""sim.hier_cost: hand-computed and brute-force-enumerated cases, batched == scalar, and
agreement with sim.analytic on every shipped 3-level spec converted by from_accelerator.

The brute force walks the loop nest in Python (itertools over every loop index), keeps
each level instance's resident tile as a set of element coordinates, and counts a fill
whenever an instance's tile changes, a parent read per distinct word a multicast group
fetches at a step, an arrival per distinct partial sum a reduction group drains, and a
refill per arrival of an output the parent already holds. It knows nothing of the
model's closed forms (irrelevant-loop products, replication, reuse prefixes).
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict

import numpy as np
import pytest

from dataflows import zoo
from dataflows.dataflow import MAP_DIMS, RELEVANT, get_dataflow, map_bounds
from dataflows.layer import Layer
from dataflows.mapping import MappingError
from dataflows.nest_mapping import NestBatch, NestMapping
from mapper.space import MappingSpace
from sim.analytic import MappingBatch
from sim.analytic import evaluate_batch as analytic_batch
from sim.default_mapping import default_mapping
from sim.hier_cost import evaluate, evaluate_batch
from sim.hierarchy import Fanout, Hierarchy, StorageLevel, from_accelerator
from sim.spec_io import load_accelerator, shipped_specs

OPS = ("weight", "input", "output")


# -- brute force -----------------------------------------------------------------------
def _loops(hier: Hierarchy, m: NestMapping) -> list[tuple[str, int, int, int]]:
    """(kind, dim index, factor, node position) of every loop, outermost first."""
    out, li, fi = [], 0, 0
    for n in hier.nodes:
        if isinstance(n, StorageLevel):
            for d in m.order[li]:
                i = MAP_DIMS.index(d)
                out.append(("t", i, m.temporal[li][i], li))
            li += 1
        else:
            for axis in m.spatial[fi]:
                for i, f in enumerate(axis):
                    out.append(("s", i, f, fi))
            fi += 1
    return out


def _elements(op: str, layer: Layer, lo: list[int], hi: list[int]) -> frozenset:
    rng = [range(a, b) for a, b in zip(lo, hi)]
    g, n, k, c, p, q, r, s = rng
    if op == "weight":
        return frozenset(itertools.product(g, k, c, r, s))
    if op == "output":
        return frozenset(itertools.product(g, n, k, p, q))
    return frozenset((gg, nn, cc, pp * layer.stride_h + rr * layer.dilation_h,
                      qq * layer.stride_w + ss * layer.dilation_w)
                     for gg, nn, cc, pp, qq, rr, ss in itertools.product(g, n, c, p, q, r, s))


def brute_force(layer: Layer, hier: Hierarchy, m: NestMapping, sliding: bool = False) -> dict:
    """Reads/writes per (level name, operand) by enumerating the loop nest.

    An instance refetches when its tile moves: its index box over the operand's relevant
    dimensions changes (Timeloop's rule). ``sliding``: only when the *set* of elements
    changes -- consecutive input windows that happen to coincide stay resident (the
    sliding-window reuse the model does not claim; it is then a lower bound).
    The innermost output level counts one read-modify-write per MAC and, under
    ``compute.psum_access`` ``separate``, every element drained up (a read) and refilled
    from above (a write); ``separate_no_first_read`` also skips the first read of every
    element that enters it fresh (reads = MACs + refills)."""
    bounds = [map_bounds(layer)[d] for d in MAP_DIMS]
    psum = hier.compute.psum_access
    loops = _loops(hier, m)
    strides = []
    for j, (_, d, _, _) in enumerate(loops):
        strides.append(math.prod(f for (_, dd, f, _) in loops[j + 1:] if dd == d))
    levels = hier.levels
    fans = hier.fanouts
    pos, li = [], 0
    for n in hier.nodes:
        if isinstance(n, StorageLevel):
            li += 1
        else:
            pos.append(li)
    L = len(levels)

    def first_loop_of(c: int) -> int:
        """Index in ``loops`` of level c's first temporal loop (len(loops) for the MACs)."""
        return next((j for j, lp in enumerate(loops) if lp[0] == "t" and lp[3] == c),
                    len(loops))

    def walk(c: int):
        """Yield (step, [(instance key dict, tile lo, tile hi)]) over the loops above c."""
        cut = first_loop_of(c)
        above = loops[:cut]
        ext = [math.prod(f for (_, dd, f, _) in loops[cut:] if dd == d) for d in range(8)]
        t_idx = [j for j, lp in enumerate(above) if lp[0] == "t"]
        s_idx = [j for j, lp in enumerate(above) if lp[0] == "s"]
        for tv in itertools.product(*[range(above[j][2]) for j in t_idx]):
            base = [0] * 8
            for j, v in zip(t_idx, tv):
                base[above[j][1]] += v * strides[j]
            if any(base[d] >= bounds[d] for d in range(8)):
                continue                         # temporal iterations past a bound: skipped
            inst = []
            for sv in itertools.product(*[range(above[j][2]) for j in s_idx]):
                lo = list(base)
                key = defaultdict(list)
                for j, v in zip(s_idx, sv):
                    lo[above[j][1]] += v * strides[j]
                    key[above[j][3]].append(v)
                hi = [min(lo[d] + ext[d], bounds[d]) for d in range(8)]
                if any(lo[d] >= hi[d] for d in range(8)):
                    continue                     # an idle child
                inst.append(({f: tuple(v) for f, v in key.items()}, lo, hi))
            yield tv, inst

    def busy_groups(op: str, lanes: list[int]) -> int:
        """The MACs inside the bounds, grouped when they differ only in their position
        on the fanouts ``lanes`` (multicast or reduction over dims irrelevant to op):
        same temporal iteration, same child of every other fanout, same index along
        every dim relevant to op."""
        rel = [d for d in range(8) if MAP_DIMS[d] in RELEVANT[op]]
        seen = set()
        for tv, inst in walk(L):
            for key, lo, _ in inst:
                seen.add((tv, tuple((f, v) for f, v in sorted(key.items()) if f not in lanes),
                          tuple(lo[d] for d in rel)))
        return len(seen)

    reads: dict = defaultdict(int)
    writes: dict = defaultdict(int)
    for op in OPS:
        chain = [i for i, lv in enumerate(levels) if op in lv.keeps]
        for ci, p in enumerate(chain):
            c = chain[ci + 1] if ci + 1 < len(chain) else L
            between = [f for f in range(len(fans)) if p < pos[f] <= c]
            shared = [f for f in between if (fans[f].reduction if op == "output"
                                             else op in fans[f].multicast)]
            pname = levels[p].name
            if c == L:                           # the MACs: one access per busy group
                n = busy_groups(op, shared)
                reads[pname, op] += n
                if op == "output":
                    writes[pname, op] += n
                    if ci == 0 and psum != "separate":   # no parent: first writes
                        reads[pname, op] -= len(_elements(op, layer, [0] * 8, bounds))
                continue
            cname = levels[c].name
            innermost_out = op == "output" and ci + 2 == len(chain)
            streams = op in levels[c].streams
            prev: dict = {}
            boxes: dict = {}
            seen: set = set()
            fills = parent_reads = arrivals = refills = 0
            for _, inst in walk(c):
                fetched: dict = defaultdict(set)
                drained: dict = defaultdict(set)
                for key, lo, hi in inst:
                    tile = _elements(op, layer, lo, hi)
                    box = tile if sliding else tuple((lo[d], hi[d]) for d in range(8)
                                                     if MAP_DIMS[d] in RELEVANT[op])
                    ik = tuple(sorted(key.items()))
                    gk = tuple((f, v) for f, v in ik if f not in shared)
                    if streams or boxes.get(ik) != box:
                        boxes[ik] = box
                        if ik in prev:
                            drained[gk] |= prev[ik]
                        fills += len(tile)
                        fetched[gk] |= tile
                        prev[ik] = tile
                for gk, tile in drained.items():
                    arrivals += len(tile)
                    seen |= {(gk, e) for e in tile}
                for gk, tile in fetched.items():
                    parent_reads += len(tile)
                    refills += sum((gk, e) in seen for e in tile)
            last: dict = defaultdict(set)
            for ik, tile in prev.items():
                last[tuple((f, v) for f, v in ik if f not in shared)] |= tile
            arrivals += sum(len(t) for t in last.values())
            if op != "output":
                writes[cname, op] += fills
                reads[pname, op] += parent_reads
                continue
            writes[pname, op] += arrivals
            reads[pname, op] += refills
            if not innermost_out or psum == "separate":
                reads[cname, op] += fills        # every tile that entered drains once
                writes[cname, op] += refills     # and revisits are refilled from above
            elif psum == "separate_no_first_read":   # drains, less the first read of
                reads[cname, op] += refills          # every element entering fresh
                writes[cname, op] += refills
    return {k: (reads[k], writes[k]) for k in set(reads) | set(writes)}


def _model_counts(layer: Layer, hier: Hierarchy, m: NestMapping) -> dict:
    """The model's counts under the refetch rule (the brute force's; the sliding-window
    default is tests/sim/test_hier_halo.py's)."""
    r = evaluate(layer, hier, m, input_reuse="refetch")
    return {(lv, op): (rw["reads"], rw["writes"]) for lv, d in r.accesses.items()
            for op, rw in d.items()}


def _nonzero(d: dict) -> dict:
    return {k: v for k, v in d.items() if v != (0, 0)}


# -- a 2-level hierarchy, by hand --------------------------------------------------------
TWO = Hierarchy("two", (StorageLevel("dram"),
                        StorageLevel("buf", capacity_bytes=4096, word_bits=8)))
#: A conv whose stride and dilation differ in H and W (halo 5 x 5 per half).
HALO = Layer("halo", C=2, K=3, P=4, Q=3, R=3, S=2, stride_h=2, dilation_w=2)


def test_two_level_by_hand() -> None:
    """dram loops P:2 (outer), K:3 (inner); the buffer holds everything else.
    weights: 36 distinct x 2 (P is irrelevant but outside K) = 72; inputs: each P half
    reads C 2 x rows ((2-1)*2 + (3-1)*1 + 1 = 5) x cols ((3-1)*1 + (2-1)*2 + 1 = 5) = 50,
    kept across the inner K loop: 100; outputs: 36 written once, never read back;
    the buffer serves every MAC (3*2*4*3*3*2 = 432) one weight, one input and one
    read-modify-write of its partial sum."""
    m = NestMapping.build(TWO, temporal={"dram": {"K": 3, "P": 2},
                                         "buf": {"C": 2, "P": 2, "Q": 3, "R": 3, "S": 2}},
                          order={"dram": ["P", "K"]})
    expect = {("dram", "weight"): (72, 0), ("dram", "input"): (100, 0),
              ("dram", "output"): (0, 36), ("buf", "weight"): (432, 72),
              ("buf", "input"): (432, 100), ("buf", "output"): (432, 432)}
    assert _nonzero(_model_counts(HALO, TWO, m)) == expect
    assert _nonzero(brute_force(HALO, TWO, m)) == expect
    # K outside P: the input tile changes every inner step -> 6 loads of 50
    m2 = NestMapping.build(TWO, temporal={"dram": {"K": 3, "P": 2},
                                          "buf": {"C": 2, "P": 2, "Q": 3, "R": 3, "S": 2}},
                           order={"dram": ["K", "P"]})
    got = _model_counts(HALO, TWO, m2)
    assert got["dram", "input"] == (300, 0) and got["dram", "weight"] == (36, 0)
    assert _nonzero(got) == _nonzero(brute_force(HALO, TWO, m2))


# -- a 4-level hierarchy with a 2-way fanout, against the brute force ---------------------
def _four(multicast: tuple[str, ...], reduction: bool) -> Hierarchy:
    return Hierarchy("four", (
        StorageLevel("dram"),
        StorageLevel("l2", capacity_bytes=1 << 16, word_bits=32),
        Fanout("cores", size=(2,), dims=(("K", "C", "P"),), multicast=multicast,
               reduction=reduction),
        StorageLevel("l1", keeps=("weight", "output"), capacity_bytes=1024, word_bits=16),
        StorageLevel("rf", capacity_bytes=64, word_bits=8, streams=("input",))))


SMALL = Layer("small", N=1, K=4, C=4, P=4, Q=2, R=2, S=1)
#: (temporal per level, the fanout's factor): K (multicast inputs), C (partial sums
#: reduced), P (children's input windows overlap by the R halo).
FOUR_MAPPINGS = {
    "K": ({"dram": {"K": 2, "P": 4}, "l2": {"C": 2}, "l1": {"C": 2, "Q": 2}, "rf": {"R": 2}},
          {"K": 2}),
    "C": ({"dram": {"K": 2, "P": 4}, "l2": {"C": 2}, "l1": {"K": 2, "Q": 2}, "rf": {"R": 2}},
          {"C": 2}),
    "P": ({"dram": {"K": 2, "P": 2}, "l2": {"C": 2}, "l1": {"C": 2, "Q": 2, "K": 2},
           "rf": {"R": 2}}, {"P": 2}),
}


@pytest.mark.parametrize("spatial_dim", sorted(FOUR_MAPPINGS))
@pytest.mark.parametrize("multicast, reduction", [(("weight", "input", "output"), True),
                                                  ((), False)])
@pytest.mark.parametrize("order", [("K", "C", "P"), ("P", "C", "K"), ("C", "K", "P")])
def test_four_level_two_way_fanout_brute_force(spatial_dim: str, multicast: tuple,
                                                reduction: bool, order: tuple) -> None:
    """Every access count of the model equals the enumerated loop nest's."""
    h = _four(multicast, reduction)
    temporal, spatial = FOUR_MAPPINGS[spatial_dim]
    m = NestMapping.build(h, temporal=temporal, spatial={"cores": [spatial]},
                          order={"dram": list(order), "l2": list(order),
                                 "l1": list(reversed(order))})
    m.check(h, map_bounds(SMALL))
    assert _nonzero(_model_counts(SMALL, h, m)) == _nonzero(brute_force(SMALL, h, m))


def _batched_rows(layer: Layer, hier: Hierarchy, maps: list[NestMapping]) -> list[dict]:
    arr = evaluate_batch(layer, hier, NestBatch.from_mappings(maps), input_reuse="refetch")
    out = []
    for i in range(len(maps)):
        out.append({(lv.name, op): (int(arr[f"{lv.name}_{op}_reads"][i]),
                                    int(arr[f"{lv.name}_{op}_writes"][i]))
                    for lv in hier.levels for op in lv.keeps})
    return out


@pytest.mark.parametrize("spatial_dim", sorted(FOUR_MAPPINGS))
def test_batched_equals_scalar_hand_cases(spatial_dim: str) -> None:
    h = _four(("input",), True)
    temporal, spatial = FOUR_MAPPINGS[spatial_dim]
    maps = [NestMapping.build(h, temporal=temporal, spatial={"cores": [spatial]},
                              order={"dram": list(o), "l1": list(o)})
            for o in itertools.permutations(("K", "C", "P", "Q"))]
    arr = evaluate_batch(SMALL, h, NestBatch.from_mappings(maps))
    for i, (m, row) in enumerate(zip(maps, _batched_rows(SMALL, h, maps))):
        r = evaluate(SMALL, h, m)
        assert row == {k: v for k, v in _model_counts(SMALL, h, m).items()}
        assert arr["energy_pj"][i] == pytest.approx(r.energy_pj, rel=1e-12)
        assert int(arr["total_cycles"][i]) == r.total_cycles
        assert bool(arr["legal"][i]) == r.legal


# -- agreement with sim.analytic on the shipped 3-level specs ---------------------------
#: Dense fixed-datapath specs (bit-serial/bit-fusion/sparse engines change the layer the
#: analytic model costs; the hierarchy has no datapath transform).
PLAIN = [s for s in shipped_specs() if load_accelerator(s).pe.mode == "fixed"
         and load_accelerator(s).sparse.policy == "none"]
RESNET18 = [layer for layer in zoo.load("resnet18").layers() if layer.macs > 0]


def _compare(layer: Layer, accel, mb: MappingBatch, valid: np.ndarray) -> None:
    """Every per-level, per-operand access count of the converted hierarchy equals the
    analytic model's, except the pinned difference (see test docstring below)."""
    df = get_dataflow(accel.dataflow)
    view = df.map_view(layer)
    h = from_accelerator(accel)
    a = analytic_batch(layer, accel, mb)
    nb = NestBatch.from_three_level(mb.rows, mb.cols, mb.temporal, mb.order, len(accel.glb))
    r = evaluate_batch(view, h, nb, lowered_from=layer if view is not layer else None,
                       input_reuse="refetch")
    glb = {b.name: lv.name for b, lv in zip(accel.glb, h.levels[1:-1])}
    bounds = np.array([df.bounds(layer)[d] for d in MAP_DIMS])
    halo = not (view.R == view.S == view.stride_h == view.stride_w == 1)
    for op in OPS:
        irr = np.array([d not in RELEVANT[op] for d in MAP_DIMS])
        repl = np.prod(np.where(irr, np.minimum(mb.rows * mb.cols, bounds), 1), axis=1)
        for al, hl in (("dram", "dram"), ("glb", glb[accel.glb_for(op).name]), ("pe", "rf")):
            for rw in ("reads", "writes"):
                av = a[f"{al}_{op}_{rw}"][valid]
                hv = r[f"{hl}_{op}_{rw}"][valid]
                where = f"{accel.name} {layer.name} {al}.{op}.{rw}"
                if op == "input" and (al, rw) in (("dram", "reads"), ("glb", "writes")) \
                        and not layer.R == layer.S == layer.stride_h == layer.stride_w == 1:
                    assert (hv >= av).all(), where        # sliding reuse: see docstring
                    continue
                if al == "pe" and rw == "writes" and op != "output":
                    if op == "input" and halo:
                        assert (hv >= av).all(), where
                        continue
                    av = av * repl[valid]
                np.testing.assert_array_equal(hv, av, err_msg=where)


@pytest.mark.parametrize("spec", PLAIN)
def test_default_mappings_match_analytic(spec: str) -> None:
    """On every ResNet-18 layer's default mapping, dram/glb/rf reads and writes of every
    operand equal sim.analytic's, with one difference by design: the hierarchy counts
    a write into every PE's rf that receives a weight/input word (Timeloop: per
    instance), sim.analytic one per word delivered to the array, so hier = analytic x
    the spatial factors of the dims irrelevant to the operand (capped at the bound);
    for halo inputs of row-stationary (not lowered) the PEs' windows overlap and
    hier >= analytic (analytic counts the array-wide union). Inputs of convs with a
    kernel or stride above 1 crossing DRAM -> GLB: hier >= analytic, since sim.analytic
    counts sliding-window reuse between consecutive tiles and partial last tiles along
    the sliding loop exactly (sim.tiling's window-resident rule), while this model's
    ``input_reuse="refetch"`` (compared here) refetches a moved tile whole at its
    padded size (Timeloop's rule)."""
    accel = load_accelerator(spec)
    maps = []
    for layer in RESNET18:
        maps.append((layer, default_mapping(layer, accel)))
    for layer, m in maps:
        _compare(layer, accel, MappingBatch.from_mappings([m]), np.ones(1, dtype=bool))


@pytest.mark.parametrize("spec", PLAIN)
def test_random_mappings_match_analytic(spec: str) -> None:
    """The same agreement on 300 random legal (imperfect-factor) mappings per layer of
    every third ResNet-18 layer (mapper.space genomes, rows and columns within the array)."""
    accel = load_accelerator(spec)
    rng = np.random.default_rng(11)
    for layer in RESNET18[::3]:
        sp = MappingSpace(layer, accel, imperfect=True)
        mb, valid = sp.decode(sp.random_genomes(rng, 300))
        _compare(layer, accel, mb, valid)


def test_nest_check_rejects() -> None:
    h = from_accelerator(load_accelerator("edge_8x8_ws"))
    b = map_bounds(SMALL)
    bad = NestMapping.build(h, temporal={"dram": {"K": 4, "C": 4, "P": 4, "Q": 2},
                                         "rf": {"R": 2}})
    with pytest.raises(MappingError, match=r"R cannot loop at level 'rf'; allowed"):
        bad.check(h, b)
    with pytest.raises(MappingError, match=r"does not cover its bound"):
        NestMapping.build(h, temporal={"dram": {"K": 4}}).check(h, b)
    with pytest.raises(MappingError, match=r"K cannot be unrolled on axis 0 of fanout"):
        NestMapping.build(h, temporal={"dram": {"C": 4, "P": 4, "Q": 2, "R": 2}},
                          spatial={"array": [{"K": 4}, {}]}).check(h, b)


UNION_H = Hierarchy("u", (StorageLevel("dram"), StorageLevel("l2", capacity_bytes=1 << 16),
                          Fanout("f", size=(2,), dims=(("P",),), multicast=("input",)),
                          StorageLevel("l1", keeps=("weight", "output"), capacity_bytes=4096),
                          StorageLevel("rf", keeps=("input",), capacity_bytes=1024)))


@pytest.mark.parametrize("l1_p, rf_p, l2_reads", [(1, 4, 10), (2, 2, 16), (4, 1, 24)])
def test_multicast_union_of_windows_with_gaps(l1_p: int, rf_p: int, l2_reads: int) -> None:
    """Two children of a multicast fanout split P = 8 (R = 3) with l1 (which bypasses
    inputs) looping P between the fanout and the rf: the children's windows are
    ``rf_p`` outputs long and ``rf_p * l1_p`` apart. Per l1 step the pair reads, by hand:
    rf_p = 4: one contiguous window of 8 outputs = 10 rows, once; rf_p = 2: two windows
    of 4 rows 4 apart (rows 0-3 and 4-7, then 2-5 and 6-9) = 8 per step x 2 = 16;
    rf_p = 1: windows of 3 rows 4 apart, no overlap, 6 per step x 4 = 24."""
    layer = Layer("x", C=1, K=1, P=8, R=3)
    m = NestMapping.build(UNION_H, temporal={"l1": {"P": l1_p}, "rf": {"P": rf_p, "R": 3}},
                          spatial={"f": [{"P": 2}]})
    got = _model_counts(layer, UNION_H, m)
    assert got["l2", "input"][0] == l2_reads
    assert _nonzero(got) == _nonzero(brute_force(layer, UNION_H, m))


@pytest.mark.parametrize("layer", [Layer("s2", C=1, K=1, P=8, R=1, stride_h=2),
                                   Layer("s2r3", C=1, K=1, P=8, R=3, stride_h=2),
                                   Layer("d2", C=1, K=1, P=8, R=3, dilation_h=2),
                                   Layer("s3d2", C=1, K=1, P=8, R=2, stride_h=3,
                                         dilation_h=2)])
@pytest.mark.parametrize("l1_p, rf_p", [(1, 4), (2, 2), (4, 1)])
def test_multicast_union_strided_dilated(layer: Layer, l1_p: int, rf_p: int) -> None:
    """The same split with strides/dilations whose windows skip rows (the exact
    per-combination path) or stay intervals (the closed form), against the walk."""
    m = NestMapping.build(UNION_H, temporal={"l1": {"P": l1_p},
                                             "rf": {"P": rf_p, "R": layer.R}},
                          spatial={"f": [{"P": 2}]})
    assert _nonzero(_model_counts(layer, UNION_H, m)) == \
        _nonzero(brute_force(layer, UNION_H, m))
    arr = evaluate_batch(layer, UNION_H, NestBatch.from_mappings([m]), input_reuse="refetch")
    assert int(arr["l2_input_reads"][0]) == _model_counts(layer, UNION_H, m)["l2", "input"][0]


def test_capacity_errors_name_the_level() -> None:
    """TWO's 4 KiB buffer against the whole HALO conv in one tile: weights 36 B + inputs
    2 x 9 rows ((4-1)*2 + 3) x 5 cols ((3-1) + (2-1)*2 + 1) = 90 B + outputs
    36 x 4 B = 144 B = 270 B fit; a 64 B buffer does not (by hand)."""
    from sim.hier_cost import HierCostError, capacity_report, check_fits
    m = NestMapping.build(TWO, temporal={"buf": {"K": 3, "C": 2, "P": 4, "Q": 3, "R": 3,
                                                 "S": 2}})
    assert capacity_report(HALO, TWO, m) == []
    check_fits(HALO, TWO, m)
    assert evaluate(HALO, TWO, m).need_bytes["buf"] == 36 + 2 * 9 * 5 + 36 * 4
    small = Hierarchy("small", (StorageLevel("dram"),
                                StorageLevel("buf", capacity_bytes=64, word_bits=8)))
    assert capacity_report(HALO, small, m) == [
        "level 'buf': the tiles need 270 B but 64 B are usable"]
    with pytest.raises(HierCostError, match=r"level 'buf': the tiles need 270 B"):
        check_fits(HALO, small, m)
    part = Hierarchy("part", (StorageLevel("dram"), StorageLevel(
        "buf", capacity_bytes={"weight": 64, "input": 64, "output": 256}, word_bits=8)))
    assert capacity_report(HALO, part, m) == [
        "level 'buf': the input tile needs 90 B but its partition holds 64 B usable"]


def test_union_closed_forms_equal_enumeration() -> None:
    """_union_input_elems (closed form for one fanout spreading outputs within the
    bound, enumeration for copies past it) equals _union_rows' enumeration of the rows
    on random cases costed as one batch per layer (every row takes its own branch)."""
    from sim.hier_plan import _union_input_elems, _union_rows
    rng = np.random.default_rng(0)
    for _ in range(60):
        sh, dl = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        P, R = int(rng.integers(1, 15)), int(rng.integers(1, 4))
        layer = Layer("x", C=1, K=1, P=P, R=R, stride_h=sh, dilation_h=dl)
        bounds = np.array([1, 1, 1, 1, P, 1, R, 1])
        rows = []
        for _ in range(40):
            ep, er = int(rng.integers(1, P + 1)), int(rng.integers(1, R + 1))
            rows.append((ep, er, int(rng.integers(1, 5)), int(rng.integers(ep, P + 2))))
        e = np.array([[1, 1, 1, 1, ep, 1, er, 1] for ep, er, _, _ in rows])
        sf = np.array([[1, 1, 1, 1, s, 1, 1, 1] for _, _, s, _ in rows])
        gap = np.array([[1, 1, 1, 1, g, 1, 1, 1] for _, _, _, g in rows])
        got = _union_input_elems(layer, bounds, e, [(sf, gap)])
        want = [_union_rows(ep, er, ((s, g, 1, 1),), sh, dl, P, R, layer.needed_in_h)
                for ep, er, s, g in rows]
        assert got.tolist() == want, (sh, dl, P, R)
