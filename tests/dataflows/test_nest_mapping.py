"""dataflows.nest_mapping: construction, the 3-level conversion and the legality rules."""

from __future__ import annotations

import numpy as np
import pytest

from dataflows.dataflow import MAP_DIMS, get_dataflow, map_bounds
from dataflows.layer import Layer
from dataflows.mapping import Mapping, MappingError
from dataflows.nest_mapping import NestBatch, NestMapping
from sim.hierarchy import Fanout, Hierarchy, StorageLevel, from_accelerator
from sim.spec_io import load_accelerator

H = Hierarchy("h", (StorageLevel("dram"),
                    StorageLevel("l2", capacity_bytes=4096),
                    Fanout("cores", size=(2,), dims=(("K", "P"),)),
                    StorageLevel("l1", capacity_bytes=512, temporal_dims=("C", "R", "S")),
                    Fanout("pes", size=(4, 4), dims=(("C",), ("K",)))))
L = Layer("l", K=16, C=8, P=6, Q=6, R=3, S=3)
B = map_bounds(L)


def _ok() -> NestMapping:
    return NestMapping.build(H, temporal={"dram": {"Q": 6, "P": 3}, "l2": {"K": 4},
                                          "l1": {"C": 2, "R": 3, "S": 3}},
                             spatial={"cores": [{"P": 2}], "pes": [{"C": 4}, {"K": 4}]},
                             order={"dram": ["P", "Q"]})


def test_build_and_views() -> None:
    m = _ok()
    m.check(H, B)
    cov = m.coverage()
    assert (cov["K"], cov["C"], cov["P"], cov["Q"]) == (4 * 4, 2 * 4, 3 * 2, 6)
    assert m.order[0][:2] == ("P", "Q") and sorted(m.order[0]) == sorted(MAP_DIMS)
    assert m.spatial_product(1) == (1, 1, 4, 4, 1, 1, 1, 1)
    assert m.to_dict(H)["spatial"] == {"cores": [{"P": 2}], "pes": [{"C": 4}, {"K": 4}]}


@pytest.mark.parametrize("edit, match", [
    (lambda: NestMapping.build(H, temporal={"l3": {}}), r"temporal names unknown 'l3'"),
    (lambda: NestMapping.build(H, spatial={"pes": [{"C": 4}]}), r"spatial.pes needs 2 axes"),
    (lambda: NestMapping.build(H, temporal={"dram": {"X": 2}}), r"unknown dimensions \['X'\]"),
    (lambda: NestMapping.build(H, temporal={"dram": {"K": 0}}), r"factor of K must be a pos"),
    (lambda: NestMapping.build(H, order={"dram": ["K", "K"]}), r"order.dram must list dist"),
])
def test_build_rejects(edit: object, match: str) -> None:
    with pytest.raises(MappingError, match=match):
        edit()  # type: ignore[operator]


@pytest.mark.parametrize("kw, match", [
    ({"temporal": {"dram": {"K": 16, "C": 8, "P": 6, "Q": 6}, "l1": {"K": 1, "R": 3, "S": 3},
                   "l2": {}}}, None),
    ({"temporal": {"dram": {"K": 8, "C": 8, "P": 6, "Q": 6, "R": 3, "S": 3}}},
     r"factors of K multiply to 8, which does not cover its bound 16"),
    ({"temporal": {"dram": {"K": 16, "C": 8, "P": 6, "Q": 6, "R": 3, "S": 3}},
      "spatial": {"cores": [{"C": 2}]}}, r"C cannot be unrolled on axis 0 of fanout 'cores'"),
    ({"temporal": {"dram": {"C": 8, "P": 6, "Q": 6, "R": 3, "S": 3}, "l1": {"K": 16}}},
     r"K cannot loop at level 'l1'; allowed: \['C', 'R', 'S'\]"),
    ({"temporal": {"dram": {"C": 8, "P": 6, "Q": 6, "R": 3, "S": 3, "K": 2}},
      "spatial": {"cores": [{"K": 2, "P": 2}]}}, r"spatial.cores\[0\] factors multiply to 4 > "),
    # imperfect: 3 x 6 = 18 covers 16 and the last of the 3 outer steps is busy ...
    ({"temporal": {"dram": {"K": 3, "C": 8, "P": 6, "Q": 6, "R": 3, "S": 3},
                   "l2": {"K": 6}}}, None),
    # ... 4 x 6 = 24: the 4th outer step starts at 18 >= 16, fully idle
    ({"temporal": {"dram": {"K": 4, "C": 8, "P": 6, "Q": 6, "R": 3, "S": 3},
                   "l2": {"K": 6}}}, r"outermost factor 4 then has a fully idle last"),
])
def test_check(kw: dict, match: str | None) -> None:
    m = NestMapping.build(H, **kw)
    if match is None:
        m.check(H, B)
    else:
        with pytest.raises(MappingError, match=match):
            m.check(H, B)


def test_three_level_conversion_and_batch() -> None:
    """from_mapping places dram, the innermost GLB (the mapping's GLB loops; outer GLBs
    all 1), the array's rows x cols and the PE loops; from_three_level is its batch form."""
    accel = load_accelerator("tpu_128x128_ws")          # two GLBs: weight_buf, act_buf
    h = from_accelerator(accel)
    layer = Layer("g", K=256, C=64, P=49)
    df = get_dataflow("ws")
    m = Mapping.build(rows={"C": 64}, cols={"K": 128}, pe={"P": 49}, glb={"K": 2},
                      order={"dram": ["K"]})
    m.check(layer, df, accel.rows, accel.cols, df.bounds(layer))
    nm = NestMapping.from_mapping(m, len(accel.glb))
    nm.check(h, map_bounds(layer))
    assert nm.temporal[0] == m.temporal[2] and nm.temporal[1] == (1,) * 8
    assert nm.temporal[2] == m.temporal[1] and nm.temporal[3] == m.temporal[0]
    assert nm.spatial == ((m.rows, m.cols),)
    from sim.analytic import MappingBatch
    mb = MappingBatch.from_mappings([m, m])
    nb = NestBatch.from_three_level(mb.rows, mb.cols, mb.temporal, mb.order, len(accel.glb))
    ref = NestBatch.from_mappings([nm, nm])
    for a, b in ((nb.temporal, ref.temporal), (nb.order, ref.order), (nb.spatial, ref.spatial)):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(MappingError, match="empty list"):
        NestBatch.from_mappings([])
