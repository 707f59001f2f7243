"""Reports show where time and energy go (mapper/report.py, issue 14 item 4): energy per
level and stalls by cause in the table, result.json and layers.csv, the spec embedded,
and map's gain over the default mapping."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from dataflows.layer import conv, fc
from dataflows.network import Network
from mapper.report import (ANALYTIC_STALL_CAUSES, STALL_CAUSES, gain_line, gain_over_default,
                           layer_bounds, result_dict, spec_from_dict, table, write_reports)
from sim.cycle.supply import CAUSES
from sim.simulate import simulate
from sim.spec_io import load_accelerator

NET = Network.chain("tiny", [conv("c1", 3, 8, 12, 3, padding=1), fc("fc", 8 * 144, 10)])


@pytest.mark.parametrize("fidelity, causes", [("analytic", ANALYTIC_STALL_CAUSES),
                                              ("cycle", CAUSES)])
def test_levels_and_causes_everywhere(tmp_path: Path, fidelity: str,
                                      causes: tuple[str, ...]) -> None:
    accel = load_accelerator("edge_8x8_ws")
    res = simulate(NET, accel, fidelity=fidelity)
    bounds = layer_bounds(res, accel, NET)
    doc = result_dict(res, None, bounds, accel)
    for entry, r in zip(doc["layers"], res.layers):
        assert set(entry["stall_cycles_by_cause"]) == set(causes)
        assert sum(entry["stall_cycles_by_cause"].values()) == r.stall_cycles
    tot = doc["totals"]
    assert sum(tot["stall_cycles_by_cause"].values()) == res.stall_cycles
    assert sum(tot["energy_pj_by_level"].values()) == pytest.approx(res.energy_pj)
    assert tot["stall_causes_from"] == ("cycle model" if fidelity == "cycle"
                                        else "analytic bound terms")
    assert spec_from_dict(json.loads(json.dumps(doc["spec"]))).spec_hash == res.spec_hash
    text = table(res, bounds)
    assert "mac uJ" in text.splitlines()[0] and "top stall cause" in text.splitlines()[0]
    assert any(line.startswith("energy by level (mJ): mac ") for line in text.splitlines())
    assert any(line.startswith(f"stall by cause ({tot['stall_causes_from']}")
               for line in text.splitlines())
    paths = write_reports(res, tmp_path, None, bounds, accel)
    with paths["csv"].open(newline="") as f:
        rows = list(csv.DictReader(f))
    for row, r in zip(rows, res.layers):
        got = {c: row[f"stall_{c}_cycles"] for c in STALL_CAUSES}
        assert sum(int(v) for c, v in got.items() if c in causes) == r.stall_cycles
        assert all(v == "" for c, v in got.items() if c not in causes)


def test_analytic_without_bounds_says_so() -> None:
    res = simulate(NET, load_accelerator("edge_8x8_ws"))
    assert result_dict(res)["totals"]["stall_cycles_by_cause"] is None
    assert "stall by cause: not known" in table(res)


def test_gain_over_default() -> None:
    accel = load_accelerator("edge_8x8_ws")
    default = simulate(NET, accel)
    g = gain_over_default(default, default)
    assert g["cycles_gain"] == g["energy_gain"] == g["edp_gain"] == 1.0
    assert gain_line(g).startswith("gain over the default mapping")


def test_map_reports_its_gain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mapper.cli import main
    rc = main(["map", "--network", "alexnet", "--max-evals", "200", "--out", str(tmp_path)])
    out, _ = capsys.readouterr()
    assert rc == 0 and "gain over the default mapping" in out
    doc = json.loads((tmp_path / "result.json").read_text())
    g = doc["gain_over_default"]
    assert g["total_cycles"] == doc["totals"]["total_cycles"]
    assert g["cycles_gain"] == pytest.approx(g["default_total_cycles"] / g["total_cycles"])
    assert doc["spec"]["name"] == doc["arch"]
