"""Reports of a network simulation (mapper/report.py): documented schema and contents."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dataflows.layer import conv, fc
from dataflows.network import Network
from mapper.report import (CSV_COLUMNS, coforge_version, csv_rows, result_dict, table,
                           write_reports)
from sim.result import NetworkResult
from sim.simulate import simulate
from sim.spec_io import load_accelerator


@pytest.fixture(scope="module")
def res() -> NetworkResult:
    net = Network.chain("tiny", [conv("c1", 3, 8, 12, 3, padding=1), fc("fc", 8 * 144, 10)])
    return simulate(net, load_accelerator("edge_8x8_ws"))


def test_result_dict_schema(res: NetworkResult) -> None:
    doc = result_dict(res)
    assert list(doc) == ["coforge_version", "spec_hash", "network", "arch", "timing",
                         "fidelity", "clock_mhz", "layers", "totals"]
    assert doc["layers"] == [r.to_dict() for r in res.layers]
    assert doc["totals"] == res.totals()
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
    assert lines[0].split() == ["layer", "MACs", "compute", "stall", "total", "util",
                                "energy", "uJ"]
    assert [line.split()[0] for line in lines[2:4]] == ["c1", "fc"]
    assert lines[5].startswith("TOTAL") and f"{res.total_cycles:,}" in lines[5]
    assert lines[6].startswith("latency ") and lines[6].endswith("timing native")


def test_write_reports_creates_the_directory(res: NetworkResult, tmp_path: Path) -> None:
    paths = write_reports(res, tmp_path / "a" / "b")
    assert set(paths) == {"json", "csv", "png"}
    assert all(p.is_file() and p.parent == tmp_path / "a" / "b" for p in paths.values())
    assert json.loads(paths["json"].read_text()) == result_dict(res)
    assert len(paths["csv"].read_text().splitlines()) == 1 + len(res.layers)
