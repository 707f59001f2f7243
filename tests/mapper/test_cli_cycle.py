"""`coforge simulate --fidelity cycle [--trace FILE]`."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from mapper.cli import main


def test_cycle_fidelity_writes_a_trace_and_is_never_faster(capsys, tmp_path: Path) -> None:  # noqa: ANN001
    trace = tmp_path / "trace.csv"
    assert main(["simulate", "--network", "alexnet", "--fidelity", "cycle", "--trace",
                 str(trace), "--out", str(tmp_path / "c")]) == 0
    assert main(["simulate", "--network", "alexnet", "--out", str(tmp_path / "a")]) == 0
    capsys.readouterr()
    cyc = json.loads((tmp_path / "c" / "result.json").read_text())
    ana = json.loads((tmp_path / "a" / "result.json").read_text())
    assert cyc["fidelity"] == "cycle" and ana["fidelity"] == "analytic"
    for c, a in zip(cyc["layers"], ana["layers"]):
        assert c["compute_cycles"] == a["compute_cycles"]
        assert c["total_cycles"] >= a["total_cycles"]
    with trace.open() as f:
        rows = list(csv.DictReader(f))
    assert {r["layer"] for r in rows} == {layer["name"] for layer in cyc["layers"]}


def test_trace_needs_cycle_fidelity(capsys) -> None:  # noqa: ANN001
    assert main(["simulate", "--network", "alexnet", "--trace", "t.csv"]) == 2
    err = capsys.readouterr().err
    assert err == ("coforge: error: --trace needs --fidelity cycle (the analytic model has "
                   "no per-tile timeline)\n")


@pytest.mark.parametrize("fidelity", ["analytic", "cycle"])
def test_scalesim_inputs_at_both_fidelities(capsys, fidelity: str) -> None:  # noqa: ANN001
    peers = Path(__file__).parents[1] / "data" / "scalesim"  # SCALE-Sim's files, vendored
    rc = main(["simulate", "--topology", str(peers / "topologies/conv_nets/Resnet18.csv"),
               "--scalesim-config", str(peers / "configs/scale.cfg"), "--fidelity", fidelity])
    out = capsys.readouterr().out
    assert rc == 0 and "2,519,815" in out and "timing scalesim" in out
