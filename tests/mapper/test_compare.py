"""``coforge compare`` (mapper/compare.py): totals and per-layer ratios against the first
result, layers matched by name, a plot, and one-line errors (exit 2) for bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dataflows.layer import conv, fc
from dataflows.network import Network
from mapper.cli import main
from mapper.compare import compare, comparison_text, load_result
from mapper.report import layer_bounds, write_reports
from sim.simulate import simulate
from sim.spec_io import load_accelerator


def _write(tmp_path: Path, name: str, arch: str, layers: list) -> Path:
    accel = load_accelerator(arch)
    res = simulate(Network.chain("tiny", layers), accel)
    write_reports(res, tmp_path / name, None, layer_bounds(res, accel), accel)
    return tmp_path / name / "result.json"


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("cmp")
    c1, head = conv("c1", 3, 8, 12, 3, padding=1), fc("fc", 8 * 144, 10)
    a = _write(tmp, "a", "edge_8x8_ws", [c1, head])
    b = _write(tmp, "b", "os_32x32", [c1, fc("other", 8 * 144, 10)])
    return a, b


def test_totals_and_layer_ratios(pair: tuple[Path, Path]) -> None:
    a, b = pair
    c = compare([a, b])
    da, db = json.loads(a.read_text()), json.loads(b.read_text())
    doc = c.to_dict()
    assert doc["totals_ratio"]["B"]["total_cycles"] == pytest.approx(
        db["totals"]["total_cycles"] / da["totals"]["total_cycles"])
    layers = {entry["name"]: entry for entry in doc["layers"]}
    assert layers["c1"]["in"] == ["A", "B"]
    assert layers["c1"]["ratios"]["B"]["energy_pj"] == pytest.approx(
        db["layers"][0]["energy_pj"] / da["layers"][0]["energy_pj"])
    assert layers["fc"]["in"] == ["A"] and layers["other"]["in"] == ["B"]
    assert layers["fc"]["ratios"]["B"]["total_cycles"] is None
    text = comparison_text(c)
    assert "A = " in text and "B/A" in text
    assert any(line.startswith("fc") and "only in A" in line for line in text.splitlines())
    assert any(line.startswith("other") and "only in B" in line for line in text.splitlines())


def test_cli_compare_prints_and_saves_a_plot(pair: tuple[Path, Path], tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    a, b = pair
    rc = main(["compare", str(a), str(b.parent), "--out", str(tmp_path / "o")])
    out, err = capsys.readouterr()
    assert (rc, err) == (0, "")
    assert "total cycles" in out and "energy mJ" in out and "utilization" in out
    png = tmp_path / "o" / "compare.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((tmp_path / "o" / "compare.json").read_text())["baseline"] == "A"


@pytest.mark.parametrize("content, needle", [
    (None, "no such file"),
    ("not json", "not JSON"),
    ('{"a": 1}', "not a coforge result.json"),
    ('[1, 2]', "not a coforge result.json"),
    ('{"coforge_version": "1", "totals": {"total_cycles": 1}, "layers": []}',
     "totals.latency_ms"),
    ('{"coforge_version": "1", "totals": {"total_cycles": NaN, "latency_ms": 1, '
     '"energy_pj": 1, "utilization": 1}, "layers": []}', "not JSON"),
])
def test_bad_inputs_are_one_line_errors(pair: tuple[Path, Path], tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str],
                                        content: str | None, needle: str) -> None:
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_text(content)
    rc = main(["compare", str(pair[0]), str(bad), "--out", str(tmp_path / "o")])
    out, err = capsys.readouterr()
    assert rc == 2 and len(err.splitlines()) == 1, err
    assert err.startswith("coforge: error: ") and "bad.json" in err and needle in err
    assert "Traceback" not in err and not (tmp_path / "o").exists()


def test_one_result_is_an_error(pair: tuple[Path, Path],
                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", str(pair[0])]) == 2
    assert "at least two" in capsys.readouterr().err


def test_load_result_takes_an_out_directory(pair: tuple[Path, Path]) -> None:
    assert load_result(pair[0].parent) == json.loads(pair[0].read_text())
