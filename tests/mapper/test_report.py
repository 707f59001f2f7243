"""Reports of a network simulation (mapper/report.py): documented schema and contents."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import replace
from pathlib import Path

import pytest

from dataflows.layer import conv, fc, gemm
from dataflows.network import Network
from mapper.report import (CSV_COLUMNS, LayerBound, ReportError, bottleneck_summary,
                           coforge_version, csv_rows, csv_safe, layer_bounds, result_dict,
                           strict_json, table, write_reports)
from sim.result import NetworkResult
from sim.simulate import simulate
from sim.spec import Accelerator, Buffer
from sim.spec_io import load_accelerator


@pytest.fixture(scope="module")
def res() -> NetworkResult:
    net = Network.chain("tiny", [conv("c1", 3, 8, 12, 3, padding=1), fc("fc", 8 * 144, 10)])
    return simulate(net, load_accelerator("edge_8x8_ws"))


def test_result_dict_schema(res: NetworkResult) -> None:
    doc = result_dict(res)
    assert list(doc) == ["coforge_version", "spec_hash", "network", "arch", "timing",
                         "fidelity", "clock_mhz", "layers", "totals", "vector_unit"]
    # issue 14 item 4: each layer adds its stalls by cause (None for an analytic result
    # without bounds), the totals add energy per level and stalls by cause
    assert doc["layers"] == [r.to_dict() | {"stall_cycles_by_cause": None}
                             for r in res.layers]
    assert doc["totals"] == res.totals() | {
        "energy_pj_by_level": {lv: sum(r.energy_pj_by_level[lv] for r in res.layers)
                               for lv in ("mac", "pe", "glb", "dram")},
        "stall_cycles_by_cause": None, "stall_causes_from": None}
    assert doc["coforge_version"] == coforge_version()
    assert json.loads(json.dumps(doc)) == doc   # plain JSON data


def test_csv_rows(res: NetworkResult) -> None:
    rows = csv_rows(res)
    assert [tuple(r) for r in rows] == [CSV_COLUMNS] * 2
    for row, r in zip(rows, res.layers):
        assert row["name"] == r.layer and row["total_cycles"] == r.total_cycles
        assert row["dram_bytes"] == sum(v["reads"] + v["writes"]
                                        for v in r.bytes["dram"].values())
        assert row["energy_pj"] == round(r.energy_pj, 3)
        parts = row["mac_pj"] + row["pe_pj"] + row["glb_pj"] + row["dram_pj"]
        assert parts == pytest.approx(row["energy_pj"], abs=0.01)


def test_table(res: NetworkResult) -> None:
    lines = table(res).splitlines()
    # issue 14 item 4: energy per level and the largest stall cause are columns too
    assert lines[0].split() == ["layer", "MACs", "compute", "stall", "total", "util",
                                "energy", "uJ", "mac", "uJ", "pe", "uJ", "glb", "uJ",
                                "dram", "uJ", "top", "stall", "cause"]
    assert [line.split()[0] for line in lines[2:4]] == ["c1", "fc"]
    assert lines[5].startswith("TOTAL") and f"{res.total_cycles:,}" in lines[5]
    assert lines[6].startswith("latency ") and lines[6].endswith("timing native")


def test_write_reports_creates_the_directory(res: NetworkResult, tmp_path: Path) -> None:
    paths = write_reports(res, tmp_path / "a" / "b")
    assert set(paths) == {"json", "csv", "png"}
    assert all(p.is_file() and p.parent == tmp_path / "a" / "b" for p in paths.values())
    assert json.loads(paths["json"].read_text()) == result_dict(res)
    assert len(paths["csv"].read_text().splitlines()) == 1 + len(res.layers)


# -- what bounds a layer, CSV escaping, strict JSON (mapper/report.py) ---------------------
def _gemm_on(glb_bw: float = math.inf, dram_bw: float = math.inf, m: int = 64):
    """GEMM M x 64 x 64 on an 8x8 WS array with one double-buffered GLB of bandwidth
    ``glb_bw`` and DRAM of ``dram_bw`` (B/cycle)."""
    accel = Accelerator("t", 8, 8, glb=(Buffer("glb", capacity_bytes=1 << 20,
                                               read_bytes_per_cycle=glb_bw,
                                               write_bytes_per_cycle=glb_bw,
                                               double_buffered=True),),
                        dram=Buffer("dram", read_bytes_per_cycle=dram_bw,
                                    write_bytes_per_cycle=dram_bw))
    return accel, simulate(gemm("g", m, 64, 64), accel)


@pytest.mark.parametrize("glb_bw, dram_bw, m, want", [
    # unlimited memory, a 64-row stream per tile against 2*8+8-1 = 23 cycles of
    # fill/drain (sim.timing): the array's streaming sets the time
    (math.inf, math.inf, 64, "compute"),
    # one row per tile: 1 streamed cycle against 23 of fill/drain
    (math.inf, math.inf, 1, "fill/drain"),
    # 1/100 B per cycle: moving even the 4 KiB of weights takes 409,600 cycles
    (0.01, math.inf, 64, "GLB port"),
    (math.inf, 0.01, 64, "DRAM"),
])
def test_layer_bound_names_the_busiest_resource(glb_bw: float, dram_bw: float, m: int,
                                                want: str) -> None:
    accel, res = _gemm_on(glb_bw, dram_bw, m)
    (b,) = layer_bounds(res, accel)
    r = res.layers[0]
    assert b.bound == want
    assert b.glb_buffer == ("glb" if want == "GLB port" else None)
    assert b.stream_cycles + b.fill_drain_cycles == r.compute_cycles
    assert b.glb_stall_cycles + b.dram_stall_cycles == r.stall_cycles
    if want in ("compute", "fill/drain"):
        assert r.stall_cycles == 0
    summary = bottleneck_summary([b])
    assert summary == f"bottleneck: {b.label}-bound on 1/1 layers"


def test_bottleneck_summary_lists_the_minority_bounds() -> None:
    def bound(name: str, kind: str) -> LayerBound:
        return LayerBound(name, kind, None, 1, 0, 0, 0, {})
    bounds = [bound(f"c{i}", "compute") for i in range(3)] + [bound("fc", "DRAM")]
    assert bottleneck_summary(bounds) == \
        "bottleneck: compute-bound on 3/4 layers; 1 layer DRAM-bound (fc)"


def test_layer_bounds_refuse_another_spec(res: NetworkResult) -> None:
    with pytest.raises(ReportError, match="simulated on 'edge_8x8_ws'"):
        layer_bounds(res, load_accelerator("os_32x32"))


@pytest.mark.parametrize("cell, want", [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"), ("+1", "'+1"), ("-1+1", "'-1+1"),
    ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\rx", "'\rx"),
    ("conv1", "conv1"), ("a=b", "a=b"), (-3, -3), (1.5, 1.5)])
def test_csv_safe_escapes_formula_cells(cell: object, want: object) -> None:
    """OWASP CSV Injection: text starting with = + - @ tab or CR gets a leading quote;
    numbers are data, not formulas."""
    assert csv_safe(cell) == want


def test_layers_csv_escapes_a_hostile_layer_name(tmp_path: Path) -> None:
    net = Network.chain("n", [conv("=cmd|' /C calc'!A0", 3, 8, 8, 3, padding=1)])
    accel = load_accelerator("edge_8x8_ws")
    res = simulate(net, accel)
    paths = write_reports(res, tmp_path, bounds=layer_bounds(res, accel))
    with paths["csv"].open(newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert row["name"] == "'=cmd|' /C calc'!A0"
    assert row["bound"] in ("compute", "fill/drain", "DRAM") or row["bound"].startswith("GLB")
    doc = json.loads(paths["json"].read_text())
    assert doc["layers"][0]["name"] == "=cmd|' /C calc'!A0"     # JSON keeps the data
    assert doc["bottleneck"].startswith("bottleneck: ")


def test_result_json_rejects_non_finite_numbers(res: NetworkResult, tmp_path: Path) -> None:
    bad = replace(res, layers=(replace(res.layers[0], utilization=math.nan),))
    with pytest.raises(ReportError, match=r"^result\.json: 'layers'\[0\]\['utilization'\] = "
                                          r"nan is not a finite number"):
        write_reports(bad, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with pytest.raises(ReportError, match=r"'x'\[1\] = inf"):
        strict_json({"x": [1.0, math.inf]})


def test_pareto_csv_escapes_formula_cells(tmp_path: Path) -> None:
    """pareto.csv (mapper/dse_report.py) goes through the same escaping: a hostile
    parameter value stays data."""
    from mapper.dse import DseSettings
    from mapper.dse_report import write_dse_reports
    row = {"seq": 1, "feasible": 1, "key": "k", "latency_ms": 1.0, "energy_mj": 2.0,
           "edp": 2.0, "area_mm2": 0.5, "spec_hash": "0" * 16, "error": None,
           "params": json.dumps({"dataflow": "=1+1", "rows": 8})}
    paths = write_dse_reports([row], DseSettings(network="n"), tmp_path)
    with paths["csv"].open(newline="") as f:
        (got,) = list(csv.DictReader(f))
    assert got["dataflow"] == "'=1+1" and got["rows"] == "8" and got["latency_ms"] == "1.0"
