"""sim.hierarchy: the N-level spec, its YAML form, and the 3-level special case."""

from __future__ import annotations

from pathlib import Path

import pytest

from dataflows.dataflow import get_dataflow
from sim.hierarchy import (Fanout, Hierarchy, StorageLevel, dump_hierarchy, from_accelerator,
                           load_hierarchy)
from sim.spec import SpecError
from sim.spec_io import load_accelerator, shipped_specs

DATA = Path(__file__).parents[1] / "data" / "hierarchy"
EDGE = DATA / "edge_2core_4cluster_8x8.yaml"


def test_example_5_level_spec_loads() -> None:
    """The shipped-as-test-data 5-level example: its counts by hand (2 x 4 x 64 PEs)."""
    h = load_hierarchy(EDGE)
    assert [lv.name for lv in h.levels] == ["dram", "l2", "l1", "l0", "rf"]
    assert [f.name for f in h.fanouts] == ["cores", "clusters", "pes"]
    assert h.pes == 2 * 4 * 8 * 8
    assert [h.instances(i) for i in range(5)] == [1, 1, 2, 8, 512]
    assert h.levels[2].usable_bytes("weight") == 65536 / 2
    assert h.levels[3].keeps == ("weight", "input")
    assert h.fanouts[0].multicast == ("weight", "input")
    assert h.fanouts[1].multicast == ("weight", "input", "output")


def test_round_trip(tmp_path: Path) -> None:
    h = load_hierarchy(EDGE)
    p = tmp_path / "again.yaml"
    p.write_text(dump_hierarchy(h))
    assert load_hierarchy(p) == h


@pytest.mark.parametrize("name", shipped_specs())
def test_every_shipped_spec_converts(name: str, tmp_path: Path) -> None:
    """dram + one level per GLB + the array fanout + the per-PE rf; the stationary operand
    is the only one the rf keeps across the GLB's loops."""
    accel = load_accelerator(name)
    h = load_hierarchy(name)
    assert h == from_accelerator(accel)
    assert len(h.levels) == 2 + len(accel.glb)
    assert h.pes == accel.rows * accel.cols
    (array,) = h.fanouts
    assert array.size == (accel.rows, accel.cols)
    df = get_dataflow(accel.dataflow)
    assert array.dims == (df.row_dims, df.col_dims)
    rf = h.levels[-1]
    assert df.stationary not in rf.streams and len(rf.streams) == 2
    for buf, lv in zip(accel.glb, h.levels[1:-1]):
        assert lv.keeps == tuple(o for o in ("weight", "input", "output") if o in buf.operands)
        assert lv.capacity_bytes == buf.capacity_bytes
        assert lv.read_pj_per_word == pytest.approx(buf.pj_per_bit() * buf.word_bits)
    p = tmp_path / "h.yaml"
    p.write_text(dump_hierarchy(h))
    assert load_hierarchy(p) == h


def _h(*nodes: object) -> Hierarchy:
    return Hierarchy("t", nodes)  # type: ignore[arg-type]


DRAM = StorageLevel("dram")


@pytest.mark.parametrize("build, match", [
    (lambda: StorageLevel("l1", keeps=(), capacity_bytes=64), r"level 'l1': keeps no operand"),
    (lambda: Fanout("pes", size=(0,), dims=(("K",),)), r"fanout 'pes': size\[0\] is 0"),
    (lambda: Fanout("pes", size=(4, 0), dims=(("C",), ("K",))), r"size\[1\] is 0"),
    (lambda: StorageLevel("rf", capacity_bytes=1, word_bits=16),
     r"capacity_bytes = 1 B cannot hold one 16-bit word"),
    (lambda: StorageLevel("l1", capacity_bytes={"weight": 8}, keeps=("weight", "input")),
     r"per-operand capacity_bytes must name exactly"),
    (lambda: _h(StorageLevel("dram", keeps=("weight", "input"))),
     r"operand 'output' reaches the compute level from no storage"),
    (lambda: _h(Fanout("f", size=(2,), dims=("K",)), DRAM), r"is a fanout; start with"),
    (lambda: _h(DRAM, StorageLevel("l2")), r"level 'l2' is unbounded"),
    (lambda: _h(DRAM, StorageLevel("dram", capacity_bytes=64)), r"'dram' repeats"),
    (lambda: Fanout("f", size=(2,), dims=("X",)), r"dims\[0\] must list distinct dimensions"),
    (lambda: Fanout("f", size=(2, 2), dims=("K",)), r"dims must give the unrollable"),
    (lambda: StorageLevel("l1", capacity_bytes=64, keeps=("weight",), streams=("input",)),
     r"streams \['input'\] must be kept operands"),
])
def test_bad_specs_one_line_errors(build: object, match: str) -> None:
    with pytest.raises(SpecError, match=match) as err:
        build()  # type: ignore[operator]
    assert "\n" not in str(err.value)


# The YAML form's one-line errors (file, key path, line) and the CLI's exit status 2:
# tests/sim/test_hierarchy_schema.py.
