"""The ``coforge`` command line, run in-process through ``mapper.cli.main`` (and once as
the installed console script): zoo, specs, simulate, and one-line errors with exit 2."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dataflows import zoo
from mapper.cli import build_parser, main
from mapper.report import CSV_COLUMNS
from sim.spec import SpecError
from sim.spec_io import shipped_specs

PEERS = Path(__file__).parents[1] / "data" / "scalesim"  # SCALE-Sim's files, vendored
COFORGE = Path(sys.executable).parent / "coforge"

RESULT_KEYS = {"coforge_version", "spec_hash", "network", "arch", "timing", "fidelity",
               "clock_mhz", "layers", "totals", "vector_unit"}
# issue 14 item 4: each layer and the totals also give stalls by cause, the totals energy
# per level (and where the stall split comes from); simulate --out embeds the spec
LAYER_KEYS = {"name", "macs", "compute_cycles", "stall_cycles", "total_cycles", "utilization",
              "energy_pj", "energy_pj_by_level", "accesses", "bytes", "tiles", "iterations",
              "mapping", "stall_cycles_by_cause"}
TOTALS_KEYS = {"macs", "compute_cycles", "stall_cycles", "total_cycles", "utilization",
               "energy_pj", "latency_ms", "energy_pj_by_level", "stall_cycles_by_cause",
               "stall_causes_from"}


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def _assert_one_line_error(rc: int, err: str, *fragments: str) -> str:
    assert rc == 2
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("coforge: error: ")
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


# -- zoo and specs ----------------------------------------------------------------------
def test_zoo_list(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = _run(capsys, "zoo", "list")
    assert (rc, err) == (0, "")
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == list(zoo.ZOO_NAMES)
    resnet = next(line for line in lines if line.startswith("resnet18"))
    assert "21 layers" in resnet and "1.814 GMACs" in resnet


def test_zoo_show_json(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = _run(capsys, "zoo", "show", "resnet18", "--json")
    assert (rc, err) == (0, "")
    doc = json.loads(out)
    assert set(doc) == {"network", "total_macs", "layers"}
    assert doc["network"] == "resnet18"
    assert doc["total_macs"] == 1_814_073_344 == sum(layer["macs"] for layer in doc["layers"])
    assert len(doc["layers"]) == 21
    for layer in doc["layers"]:
        assert set(layer) == {"name", "type", "macs", "dims"}
        assert set(layer["dims"]) == {"N", "K", "C", "P", "Q", "R", "S", "G"}
    first = doc["layers"][0]
    assert (first["name"], first["type"]) == ("conv1", "conv")
    assert first["dims"] == {"N": 1, "K": 64, "C": 3, "P": 112, "Q": 112, "R": 7, "S": 7,
                             "G": 1}


def test_zoo_show_text(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = _run(capsys, "zoo", "show", "resnet18")
    assert rc == 0
    lines = out.splitlines()
    assert len(lines) == 22 and lines[-1] == "total 1,814,073,344 MACs"
    assert lines[0].split()[:2] == ["conv1", "conv"]


def test_zoo_show_unknown(capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = _run(capsys, "zoo", "show", "resnet19")
    _assert_one_line_error(rc, err, "unknown network 'resnet19'", "resnet18")


def test_specs(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = _run(capsys, "specs")
    assert rc == 0
    assert [line.split()[0] for line in out.splitlines()] == shipped_specs()


# -- simulate -----------------------------------------------------------------------------
def test_simulate_network_writes_reports(capsys: pytest.CaptureFixture[str],
                                         tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    rc, out, err = _run(capsys, "simulate", "--network", "resnet18", "--out", str(out_dir))
    assert (rc, err) == (0, "")
    assert "TOTAL" in out and "timing native" in out and "wrote " in out
    doc = json.loads((out_dir / "result.json").read_text())
    assert set(doc) == RESULT_KEYS | {"run", "bounds", "bottleneck", "spec"}   # mapper/report.py
    assert doc["run"] == {"seed": 0, "layer_config": None, "tensors": [],
                          "tensor_sources": {}}
    assert (doc["network"], doc["arch"], doc["timing"], doc["fidelity"]) == \
        ("resnet18", "edge_8x8_ws", "native", "analytic")
    assert len(doc["spec_hash"]) == 16 and doc["clock_mhz"] == 200.0
    assert set(doc["totals"]) == TOTALS_KEYS
    assert len(doc["layers"]) == 21
    for layer in doc["layers"]:
        assert set(layer) == LAYER_KEYS
        assert set(layer["energy_pj_by_level"]) == {"mac", "pe", "glb", "dram"}
        assert set(layer["accesses"]) == set(layer["bytes"]) == {"pe", "glb", "dram"}
    assert doc["totals"]["macs"] == 1_814_073_344
    assert doc["totals"]["total_cycles"] == sum(layer["total_cycles"] for layer in doc["layers"])
    with (out_dir / "layers.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 21 == len(doc["layers"])
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [r["name"] for r in rows] == [layer["name"] for layer in doc["layers"]]
    png = out_dir / "cycles_energy.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_simulate_without_out_prints_table_only(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = _run(capsys, "simulate", "--network", "alexnet", "--arch", "os_32x32")
    assert rc == 0
    # 8 layers + header, rules, TOTAL, latency, energy by level, stall by cause (issue 14
    # item 4), bottleneck
    assert "wrote" not in out and "TOTAL" in out and out.count("\n") == 8 + 8


def _scalesim_inputs(tmp_path: Path) -> tuple[Path, Path, int]:
    """SCALE-Sim's own scale.cfg and ResNet-18 topology (vendored in tests/data/scalesim)."""
    return PEERS / "configs" / "scale.cfg", PEERS / "topologies/conv_nets/Resnet18.csv", 21


def test_simulate_scalesim_inputs_default_to_scalesim_timing(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    cfg, topo, layers = _scalesim_inputs(tmp_path)
    out_dir = tmp_path / "out"
    rc, out, err = _run(capsys, "simulate", "--scalesim-config", str(cfg), "--topology",
                        str(topo), "--out", str(out_dir))
    assert (rc, err) == (0, "")
    assert "timing scalesim" in out
    doc = json.loads((out_dir / "result.json").read_text())
    assert doc["timing"] == "scalesim" and doc["clock_mhz"] == 1000.0
    assert len(doc["layers"]) == layers
    # --timing overrides the default
    rc, out, _ = _run(capsys, "simulate", "--scalesim-config", str(cfg), "--topology",
                      str(topo), "--timing", "native")
    assert rc == 0 and "timing native" in out


def test_simulate_gemm_topology(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    topo = tmp_path / "mnk.csv"
    topo.write_text("Layer Name, M, N, K,\nTest 1, 256, 128, 256,\n")
    rc, out, _ = _run(capsys, "simulate", "--topology", str(topo), "--gemm")
    assert rc == 0
    assert f"{256 * 128 * 256:,}" in out


# -- one-line errors ------------------------------------------------------------------------
def _spec(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "arch.yaml"
    path.write_text(text)
    return path


def test_missing_arch_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "none.yaml"
    rc, _, err = _run(capsys, "simulate", "--network", "resnet18", "--arch", str(missing))
    _assert_one_line_error(rc, err, f"{missing}: no such file", "edge_8x8_ws")


def test_unknown_yaml_key(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = _spec(tmp_path, "name: t\narray: {rows: 8, cols: 8}\nglb:\n"
                           "  - {name: g, capacity_bytes: 65536, colour: red}\n")
    rc, _, err = _run(capsys, "simulate", "--network", "resnet18", "--arch", str(path))
    _assert_one_line_error(rc, err, f"{path}: glb[0]: unknown key 'colour'")


def test_rows_zero(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = _spec(tmp_path, "name: t\narray: {rows: 0, cols: 8}\n")
    rc, _, err = _run(capsys, "simulate", "--network", "resnet18", "--arch", str(path))
    line = _assert_one_line_error(rc, err)
    assert line == (f"coforge: error: {path}: array.rows must be a positive integer, not 0 "
                    f"(line 2)")


def test_missing_topology(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "none.csv"
    rc, _, err = _run(capsys, "simulate", "--topology", str(missing))
    line = _assert_one_line_error(rc, err)
    assert line == f"coforge: error: {missing}: no such topology file"


def test_unsupported_onnx_op(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    import numpy as np
    import onnx  # a dependency of coforge: an ImportError here is a failure
    from onnx import TensorProto, helper, numpy_helper
    weights = [numpy_helper.from_array(np.zeros((1, 16, 4), np.float32), n) for n in "WR"]
    node = helper.make_node("LSTM", ["X", "W", "R"], ["Y"], hidden_size=4, name="lstm0")
    graph = helper.make_graph(
        [node], "lstm", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [5, 1, 4])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)], initializer=weights)
    path = tmp_path / "lstm.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    rc, _, err = _run(capsys, "simulate", "--onnx", str(path))
    _assert_one_line_error(rc, err, str(path), "LSTM", "not supported")


@pytest.mark.parametrize("argv, fragment", [
    (["simulate"], "give exactly one workload: --network NAME, --onnx FILE or --topology CSV"),
    (["simulate", "--network", "resnet18", "--topology", "x.csv"], "give exactly one workload"),
    (["simulate", "--network", "resnet18", "--gemm"],
     "--gemm applies to a SCALE-Sim --topology CSV only"),
    (["simulate", "--network", "resnet18", "--arch", "edge_8x8_ws", "--scalesim-config",
      "x.cfg"], "give either --arch FILE or --scalesim-config FILE, not both"),
    (["simulate", "--network", "vgg17"], "unknown network 'vgg17'"),
    (["simulate", "--network", "resnet18", "--scalesim-config", "none.cfg"],
     "none.cfg: no such SCALE-Sim config file"),
    (["simulate", "--network", "resnet18", "--arch", "eyeriss_12x14_rs", "--timing",
      "scalesim"], "timing 'scalesim' covers SCALE-Sim's ws/os/is dataflows, not 'rs'"),
])
def test_usage_errors(capsys: pytest.CaptureFixture[str], argv: list[str],
                      fragment: str) -> None:
    rc, out, err = _run(capsys, *argv)
    _assert_one_line_error(rc, err, fragment)


def test_out_path_under_a_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("")
    rc, _, err = _run(capsys, "simulate", "--network", "alexnet", "--out",
                      str(blocker / "sub"))
    _assert_one_line_error(rc, err, str(blocker))


def test_debug_shows_the_exception(tmp_path: Path) -> None:
    path = _spec(tmp_path, "name: t\narray: {rows: 0, cols: 8}\n")
    with pytest.raises(SpecError, match=r"array\.rows must be a positive integer, not 0 "
                                        r"\(line 2\)$"):
        main(["--debug", "simulate", "--network", "resnet18", "--arch", str(path)])


@pytest.mark.parametrize("option, name", [("--arch", "arch.yaml"), ("--topology", "t.csv"),
                                          ("--scalesim-config", "s.cfg")])
def test_binary_input_file_is_a_one_line_error(capsys: pytest.CaptureFixture[str],
                                               tmp_path: Path, option: str,
                                               name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"\xff\xfe[x]\n")
    workload = [] if option == "--topology" else ["--network", "alexnet"]
    rc, _, err = _run(capsys, "simulate", *workload, option, str(path))
    _assert_one_line_error(rc, err, str(path))


def test_argparse_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["simulate", "--network", "resnet18", "--timing", "fast"])
    _assert_one_line_error(info.value.code, capsys.readouterr().err, "invalid choice")


def test_parser_is_exposed() -> None:
    args = build_parser().parse_args(["simulate", "--network", "resnet18"])
    assert (args.network, args.fidelity, args.timing) == ("resnet18", "analytic", None)


# -- the installed console script -----------------------------------------------------------
def test_console_script(tmp_path: Path) -> None:
    if not COFORGE.is_file():
        pytest.fail(f"coforge console script not installed at {COFORGE}; "
                    "install with: make install (pip install -e '.[test]')")
    ok = subprocess.run([str(COFORGE), "zoo", "show", "resnet18", "--json"],
                        capture_output=True, text=True, timeout=120, check=False)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["total_macs"] == 1_814_073_344
    bad = _spec(tmp_path, "name: t\narray: {rows: 8, cols: 8}\ncolour: red\n")
    fail = subprocess.run([str(COFORGE), "simulate", "--network", "resnet18", "--arch",
                           str(bad)], capture_output=True, text=True, timeout=120, check=False)
    assert fail.returncode == 2
    assert fail.stdout == ""
    assert fail.stderr.splitlines() == [
        f"coforge: error: {bad}: top level: unknown key 'colour'; allowed keys: ['name', "
        "'description', 'dataflow', 'array', 'clock_mhz', 'pe', 'rf', 'glb', 'dram', 'energy', "
        "'sparse', 'vector'] (line 3)"]


def test_the_parser_does_not_import_the_slow_libraries() -> None:
    """Building the parser (every command, ``coforge --help``) imports neither scipy.stats
    (~0.8 s; only the sparse engine's binomial expectations use it) nor matplotlib (~0.3 s;
    only the plots): they are imported where used. Checked in a fresh interpreter."""
    code = ("import sys, mapper.cli as c; c.build_parser(); "
            "print(sorted(m for m in ('scipy.stats', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).parents[2]).stdout.strip()
    assert out == "[]"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("argv, wait_s, line", [
    (["map", "--network", "vgg16"], 3.0, "stopped by {sig}: nothing stored (no --out)"),
    (["simulate", "--network", "vgg16", "--fidelity", "cycle"], 1.5,
     "stopped by {sig} before simulate finished; it keeps no partial results"),
], ids=["map", "simulate"])
def test_a_stopped_command_says_so_in_one_line(sig: signal.Signals, argv: list[str],
                                               wait_s: float, line: str) -> None:
    """Ctrl-C (SIGINT) or SIGTERM during a 3-level ``coforge map`` (vgg16 takes about a
    minute; without --out nothing is stored) or a cycle-model ``coforge simulate`` of
    vgg16 (about 4 s) ends it with exit 128 + the signal and one stderr line naming what
    to do; before, SIGINT printed a KeyboardInterrupt traceback and SIGTERM killed it
    silently. (A map with --out stores its progress: tests/mapper/test_map_resume.py.)"""
    proc = subprocess.Popen([str(COFORGE), *argv], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(wait_s)
    assert proc.poll() is None, f"{argv[0]} finished before it could be stopped"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    lines = err.strip().splitlines()
    assert proc.returncode == 128 + sig and len(lines) == 1, lines
    assert lines[0].startswith("coforge: " + line.format(sig=sig.name)), lines
