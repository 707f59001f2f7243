"""``Fanout.min_usage`` (AccelForge's minimum spatial utilization): the children a mapping
must unroll, relaxed to what exact factors of the layer reach (sim.hier_plan.usage_need),
checked by hand; the cost model's ``legal`` and capacity_report follow it, batched and
scalar; the AccelForge import carries it."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from dataflows.dataflow import MAP_DIMS
from dataflows.layer import Layer
from dataflows.nest_mapping import NestBatch, NestMapping
from mapper.accelforge_import import load_accelforge
from mapper.nest_search import search
from sim.hier_cost import capacity_report, evaluate, evaluate_batch
from sim.hier_plan import usage_need, usage_plan
from sim.hierarchy import Fanout, Hierarchy, StorageLevel
from sim.hierarchy_schema import dump_hierarchy, hierarchy_file, load_hierarchy
from sim.spec import SpecError

AF = Path(__file__).resolve().parents[1] / "data" / "accelforge_1.0.467"


def _b(K: int = 1, C: int = 1) -> tuple[int, ...]:
    return (1, 1, K, C, 1, 1, 1, 1)            # MAP_DIMS order G N K C P Q R S


@pytest.mark.parametrize("size, dims, share, bounds, need", [
    ((4,), (("K",),), 1.0, _b(K=8), 4),        # 4 of 4
    ((4,), (("K",),), 1.0, _b(K=2), 2),        # K 2 cannot fill 4: the best it reaches
    ((4,), (("K",),), 1.0, _b(K=6), 3),        # divisors of 6 up to 4: 1, 2, 3
    ((4,), (("K",),), 0.5, _b(K=8), 2),        # half of 4
    ((4,), (("K", "C"),), 1.0, _b(K=2, C=2), 4),   # K 2 x C 2
    ((4, 4), (("K",), ("C",)), 1.0, _b(K=2, C=8), 8),  # 2 rows x 4 columns
    ((4,), (("K",),), 0.0, _b(K=8), 0)])
def test_usage_need_by_hand(size, dims, share, bounds, need) -> None:
    assert usage_need(Fanout("f", size=size, dims=dims, min_usage=share), bounds) == need


def _h(share: float) -> Hierarchy:
    return Hierarchy("u", (StorageLevel("dram"),
                           Fanout("pe", size=(4,), dims=(("K",),), min_usage=share),
                           StorageLevel("rf", capacity_bytes=1 << 10)))


@pytest.mark.parametrize("k_pe, legal", [(1, False), (2, False), (4, True)])
def test_legal_follows_min_usage(k_pe: int, legal: bool) -> None:
    """K 8 on a 4-wide fanout with min_usage 1: only K 4 there is legal; without
    min_usage all three are."""
    layer = Layer("g", K=8, C=2)
    for share, want in ((1.0, legal), (0.0, True)):
        h = _h(share)
        m = NestMapping.build(h, temporal={"dram": {"K": 8 // k_pe, "C": 2}},
                              spatial={"pe": [{"K": k_pe}]})
        assert evaluate(layer, h, m).legal is want
        arr = evaluate_batch(layer, h, NestBatch.from_mappings([m]))
        assert bool(arr["legal"][0]) is want
        report = capacity_report(layer, h, m)
        assert bool(report) is not want
        if report:
            assert report == [f"fanout 'pe': the mapping unrolls {k_pe} of its 4 children; "
                              f"its min_usage 1 asks for 4"]


def test_bad_min_usage_is_one_line(tmp_path: Path) -> None:
    f = tmp_path / "h.yaml"
    f.write_text("hierarchy:\n  name: x\n  levels:\n    - storage: {name: dram}\n"
                 "    - fanout: {name: pe, size: [4], dims: [K], min_usage: 1.5}\n"
                 "    - storage: {name: rf, capacity_bytes: 64}\n")
    with pytest.raises(SpecError, match=r"h.yaml: hierarchy.levels\[1\].fanout.min_usage "
                                        r"must be a number from 0 to 1"):
        load_hierarchy(f)
    with pytest.raises(SpecError, match="min_usage must be a number from 0 to 1"):
        Fanout("pe", size=(4,), dims=(("K",),), min_usage=-0.1)


def test_accelforge_import_carries_min_usage() -> None:
    """tpu_v4i.yaml: Z (4) and the 128 x 128 array (reuse_input, reuse_output) all say
    ``min_usage: 1``."""
    h = load_accelforge(AF / "arch_tpu_v4i.yaml").hierarchy
    assert {f.name: f.min_usage for f in h.fanouts} == {
        "LocalBuffer.Z": 1.0, "ProcessingElement.reuse_input": 1.0,
        "ProcessingElement.reuse_output": 1.0}
    assert hierarchy_file(yaml.safe_load(dump_hierarchy(h)), "<round trip>") == h


def test_joint_needs_are_reachable_together() -> None:
    """Z (4, any dim) above A (8, K only) above B (8, C only), all ``min_usage: 1``, on
    K 8 x C 4 (32 MACs): alone, Z would need 4, A 8 and B 4 -- 128 positions, more than
    the layer has. Filled together, most constrained first (A: K 8; B: C 4; Z: what is
    left, 1), the needs are (1, 8, 4), and the search finds a mapping meeting them."""
    h = Hierarchy("j", (StorageLevel("dram"),
                        Fanout("Z", size=(4,), dims=(MAP_DIMS,), min_usage=1.0),
                        StorageLevel("gb", capacity_bytes=1 << 12),
                        Fanout("A", size=(8,), dims=(("K",),), min_usage=1.0),
                        Fanout("B", size=(8,), dims=(("C",),), min_usage=1.0),
                        StorageLevel("rf", capacity_bytes=64)))
    b = _b(K=8, C=4)
    assert [usage_need(f, b) for f in h.fanouts] == [4, 8, 4]
    needs, how = usage_plan(h, b)
    assert needs == (1, 8, 4)
    r = search(Layer("g", K=8, C=4), h, "evolution", "energy", 500, population=50, seed=0)
    assert [math.prod(r.mapping.spatial_product(f)) for f in range(3)] == [1, 8, 4]
