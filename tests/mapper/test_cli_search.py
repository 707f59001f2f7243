"""`coforge map` and `coforge dse` end to end (in-process)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mapper.cli import main
from mapper.cli_search import BudgetError, parse_budget

SPACE = "base: edge_8x8_ws\nparameters:\n  rows: [4, 8]\n  cols: [4, 8]\n  glb_kib: [16, 64]\n"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_map_writes_the_simulate_schema_with_mappings(capsys, tmp_path: Path) -> None:  # noqa: ANN001
    rc, out, _ = _run(capsys, "map", "--network", "alexnet", "--arch", "os_32x32",
                      "--max-evals", "500", "--out", str(tmp_path))
    assert rc == 0 and "distinct layer shapes searched (annealing, edp, seed 0)" in out
    doc = json.loads((tmp_path / "result.json").read_text())
    assert len(doc["layers"]) == 8 and doc["totals"]["macs"] == 714_188_480
    for layer in doc["layers"]:
        assert set(layer["mapping"]) == {"spatial", "temporal", "order"}


def test_dse_runs_resumes_and_reports(capsys, tmp_path: Path) -> None:  # noqa: ANN001
    space = tmp_path / "space.yaml"
    space.write_text(SPACE)
    out_dir = tmp_path / "dse"
    args = ["dse", "--network", "alexnet", "--space", str(space), "--strategy", "grid",
            "--max-designs", "8", "--population", "4", "--map-evals", "200", "--workers",
            "1", "--out", str(out_dir)]
    rc, out, _ = _run(capsys, *args)
    assert rc == 0 and "8 designs evaluated now, 0 resumed" in out
    for name in ("dse.sqlite", "pareto.csv", "pareto.png", "report.txt"):
        assert (out_dir / name).is_file()
    rc, out, err = _run(capsys, *args)
    assert rc == 2 and "exists: pass --resume to continue that run" in err
    rc, out, _ = _run(capsys, *args, "--resume")
    assert rc == 0 and "0 designs evaluated now, 8 resumed" in out


@pytest.mark.parametrize("extra, message", [
    (["--target", "xc7a35t"], "target must be one of ['ecp5-45k', 'ecp5-85k', 'ice40-up5k']"),
    (["--constraint", "lut<=2000"], "'lut<=2000' is an FPGA resource: give a target"),
    (["--objectives", "latency,dsp"], "'dsp' is an FPGA resource: give a target"),
    (["--constraint", "area<2"], "metric must be one of"),
    (["--objectives", "speed"], "objectives must be a non-empty list"),
])
def test_dse_errors_are_one_line(capsys, tmp_path: Path, extra: list[str],  # noqa: ANN001
                                 message: str) -> None:
    space = tmp_path / "space.yaml"
    space.write_text(SPACE)
    rc, _, err = _run(capsys, "dse", "--network", "alexnet", "--space", str(space),
                      "--out", str(tmp_path / "o"), *extra)
    assert rc == 2 and err.count("\n") == 1 and message in err


def test_parse_budget() -> None:
    assert parse_budget("30s") == 30 and parse_budget("10m") == 600
    assert parse_budget("1.5h") == 5400 and parse_budget("12") == 12
    assert parse_budget(None) is None
    with pytest.raises(BudgetError, match=r"--time-budget must look like 30s, 10m or 1h"):
        parse_budget("soon")
