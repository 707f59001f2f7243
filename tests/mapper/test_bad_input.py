"""Every class of bad input to the ``coforge`` CLI is ONE line on stderr naming the
file, the field and the fix, with exit status 2 and no traceback -- crafted here class
by class (issue 14): non-finite numbers in specs, layer configs and ``.npy`` tensors;
malformed ONNX; malformed SCALE-Sim topologies; design spaces out of range; bad seeds.

The cases run through :func:`mapper.cli.main` in-process; a few also run the real
``coforge`` console script to check that no traceback reaches the terminal.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from bad_onnx_models import BAD_MODELS, NO_COMPUTE

from mapper.cli import main

SPEC = ("name: t\narray: {rows: 8, cols: 8}\n"
        "glb: {name: glb, capacity_bytes: 65536, word_bits: 64}\n")
CONV_HEAD = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, "
             "Channels, Num Filter, Strides,\n")
GEMM_HEAD = "Layer Name, M, N, K,\n"
SPACE = "base: edge_8x8_ws\n"


def _run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str]:
    try:
        rc = main(argv)
    except SystemExit as exit_:           # argparse usage errors exit from the parser
        rc = exit_.code                    # type: ignore[assignment]
    return rc, capsys.readouterr().err


def _one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str],
                    *words: str) -> str:
    """Run ``argv``; assert exit 2 and one ``coforge: error:`` line holding ``words``."""
    rc, err = _run(capsys, argv)
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1, (rc, err)
    line = lines[0]
    assert line.startswith("coforge: error: "), line
    for word in words:
        assert word in line, (word, line)
    return line


# -- non-finite and out-of-range numbers in a spec (also nested in energy tables) ------
@pytest.mark.parametrize("extra, field", [
    ("clock_mhz: .nan\n", "clock_mhz must be a finite number"),
    ("clock_mhz: .inf\n", "clock_mhz must be a finite number"),
    ("clock_mhz: 1.0e-300\n", "clock_mhz must be between"),
    ("energy: {mult_pj: {8: .nan}}\n", "energy.mult_pj[8]"),
    ("energy: {mult_pj: {16: .inf}}\n", "energy.mult_pj[16]"),
    ("energy: {add_pj_per_bit: .nan}\n", "energy.add_pj_per_bit"),
    ("energy: {dram_pj_per_bit: .inf}\n", "energy.dram_pj_per_bit"),
    ("energy: {dram_pj_per_bit: 1.0e+300}\n", "energy.dram_pj_per_bit must be <= 1e+06"),
    ("dram: {read_bytes_per_cycle: .nan}\n", "dram.read_bytes_per_cycle"),
    ("rf: {capacity_bytes: 4, access_pj: .inf}\n", "rf.access_pj"),
    ("clock_mhz: fast\n", "clock_mhz must be a number of MHz > 0, not 'fast'"),
])
def test_spec_numbers(tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: str,
                      field: str) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC + extra)
    _one_line_error(capsys, ["simulate", "--network", "alexnet", "--arch", str(spec)],
                    str(spec), field)


def test_spec_nested_nan_in_a_glb_list(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: t\narray: {rows: 8, cols: 8}\nglb:\n"
                    "  - {name: a, operands: [weight], capacity_bytes: 1024}\n"
                    "  - {name: b, operands: [input, output], capacity_bytes: 1024, "
                    "write_bytes_per_cycle: .nan}\n")
    _one_line_error(capsys, ["simulate", "--network", "alexnet", "--arch", str(spec)],
                    str(spec), "glb[1].write_bytes_per_cycle")


# -- layer configs and .npy tensors ------------------------------------------------------
@pytest.mark.parametrize("text, field", [
    ("layers:\n  fc8: {density: {weight: .nan}}\n", "layers['fc8'].density.weight"),
    ("layers:\n  fc8: {density: {input: .inf}}\n", "layers['fc8'].density.input"),
    ("layers:\n  fc8: {prune: {weight: {pattern: magnitude, density: .nan}}}\n",
     "layers['fc8'].prune.weight.density"),
    ("defaults: {precision: {weight_bits: yes}}\n", "defaults.precision.weight_bits"),
    (("layers:\n  fc8: {prune: {weight: {pattern: block, density: 0.5, "
      "block: [100000000000, 1]}}}\n"), "layers['fc8'].prune.weight.block"),
    ("layers:\n  fc8: {prune: {weight: {pattern: '1:100000000000000'}}}\n",
     "needs M <= 4096"),
    ("layers: [fc8]\n", "layers must be a mapping"),
])
def test_layer_config_values(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str,
                             field: str) -> None:
    conf = tmp_path / "layers.yaml"
    conf.write_text(text)
    _one_line_error(capsys, ["simulate", "--network", "alexnet", "--fidelity", "cycle",
                             "--layer-config", str(conf)], str(conf), field)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_npy_tensor_non_finite(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                               bad: float) -> None:
    w = np.ones((1000, 4096), np.float32)             # alexnet fc8: K x C
    w[3, 7] = bad
    np.save(tmp_path / "w.npy", w)
    conf = tmp_path / "layers.yaml"
    conf.write_text("layers:\n  fc8: {tensors: {weight: w.npy}}\n")
    _one_line_error(capsys, ["simulate", "--network", "alexnet", "--fidelity", "cycle",
                             "--layer-config", str(conf)],
                    str(conf), "layers['fc8'].tensors.weight", "w.npy",
                    "1 non-finite values", "index (3, 7)", "give finite numbers")


# -- malformed ONNX ----------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(BAD_MODELS))
def test_onnx_models(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str) -> None:
    proto, words = BAD_MODELS[name]
    path = tmp_path / f"{name}.onnx"
    onnx.save(proto, path)
    _one_line_error(capsys, ["simulate", "--onnx", str(path)], str(path), *words)


def test_onnx_without_compute_node(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "relu.onnx"
    onnx.save(NO_COMPUTE, path)
    _one_line_error(capsys, ["simulate", "--onnx", str(path)], str(path),
                    "no Conv, Gemm or MatMul node", "give a model with compute layers")


@pytest.mark.parametrize("data, words", [
    (b"", ("the file is empty (0 bytes)",)),
    (b"not a model at all\n", ("not a readable ONNX model",)),
])
def test_onnx_empty_or_unreadable(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                  data: bytes, words: tuple[str, ...]) -> None:
    path = tmp_path / "m.onnx"
    path.write_bytes(data)
    _one_line_error(capsys, ["simulate", "--onnx", str(path)], str(path), *words)


# -- SCALE-Sim topology CSVs -------------------------------------------------------------
@pytest.mark.parametrize("text, gemm, words", [
    (CONV_HEAD + "c, 8.7, 8, 3, 3, 1, 1, 1,\n", False,
     ("line 2: IFMAP Height must be an integer, not '8.7'", "never rounded")),
    (CONV_HEAD + "c, 8, , 3, 3, 1, 1, 1, 1,\n", False,
     ("line 2: IFMAP Width is empty", "not shifted")),
    (CONV_HEAD + "c, 8, 8, 3, 3, 1, 1, 1,\n", True,
     ("line 1 is a conv topology header", "drop --gemm")),
    (GEMM_HEAD + "g, 8, 8, 8,\n", False, ("line 1 is a GEMM topology header", "pass --gemm")),
    (GEMM_HEAD + "g, inf, 8, 8,\n", True, ("line 2: M must be an integer, not 'inf'",)),
    (GEMM_HEAD + "g, 8, nan, 8,\n", True, ("line 2: N must be an integer, not 'nan'",)),
    (GEMM_HEAD + "g, 8, 8, -4,\n", True, ("line 2: K must be an integer from 1 to",)),
    (CONV_HEAD + "c, 8, 8, 3, 3, 0, 1, 1,\n", False,
     ("line 2: Channels must be an integer from 1 to", "not 0")),
    (CONV_HEAD + "c, 8, 8, 3, 3, 1, 1, 0,\n", False, ("line 2: Strides",)),
    (GEMM_HEAD + "g, 99999999999999999999, 8, 8,\n", True, ("line 2: M must be",)),
    (GEMM_HEAD + "g, 16000000, 16000000, 16000000,\n", True, ("more than 2**53 MACs",)),
    ("c, 8, 8, 3, 3, 1, 1, 1,\n", False, ("line 1 holds sizes, not the header",)),
    (CONV_HEAD, False, ("the topology has no layers",)),
    (GEMM_HEAD + ", 8, 8, 8,\n", True, ("line 2: the layer name (column 1) is empty",)),
])
def test_topologies(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str,
                    gemm: bool, words: tuple[str, ...]) -> None:
    path = tmp_path / "topo.csv"
    path.write_text(text)
    _one_line_error(capsys, ["simulate", "--topology", str(path)] + (["--gemm"] if gemm else []),
                    str(path), *words)


@pytest.mark.parametrize("line, words", [
    ("ArrayHeight: 2000", ("ArrayHeight must be an integer from 1 to 1024, not 2000",)),
    ("ArrayWidth: yes", ("ArrayWidth must be an integer, not 'yes'",)),
    ("IfmapSramSzkB: 8.5", ("IfmapSramSzkB must be an integer, not '8.5'",)),
    ("Bandwidth : inf", ("Bandwidth must be an integer, not 'inf'",)),
    ("Dataflow : xx", ("Dataflow must be ws, os or is, not 'xx'",)),
])
def test_scalesim_configs(tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str,
                          words: tuple[str, ...]) -> None:
    base = Path(__file__).resolve().parents[1] / "data" / "scalesim" / "configs" / "google.cfg"
    key = line.split(":")[0].strip()
    text = "\n".join(line if raw.split(":")[0].strip() == key else raw
                     for raw in base.read_text().splitlines())
    cfg = tmp_path / "run.cfg"
    cfg.write_text(text + "\n")
    _one_line_error(capsys, ["simulate", "--network", "alexnet", "--scalesim-config",
                             str(cfg)], str(cfg), "[architecture_presets]", *words)


# -- design spaces, validated at load ----------------------------------------------------
@pytest.mark.parametrize("text, words", [
    (SPACE + "parameters: {rows: [0, 4]}\n", ("parameters.rows", "from 1 to 1024", "not 0")),
    (SPACE + "parameters: {cols: [2000]}\n", ("parameters.cols", "not 2000")),
    (SPACE + "parameters: {dataflow: [ws, xx]}\n", ("parameters.dataflow", "not 'xx'")),
    (SPACE + "parameters: {pe_mode: [turbo]}\n", ("parameters.pe_mode", "'bitfusion'")),
    (SPACE + "parameters: {glb_kib: [-4]}\n", ("parameters.glb_kib", "not -4")),
    (SPACE + "parameters: {glb_kib: [0]}\n", ("parameters.glb_kib", "not 0")),
    (SPACE + "parameters: {clock_mhz: [-200]}\n", ("parameters.clock_mhz", "not -200")),
    (SPACE + "parameters: {clock_mhz: [.nan]}\n", ("parameters.clock_mhz", "not nan")),
    (SPACE + "parameters: {dram_bytes_per_cycle: [.nan]}\n",
     ("parameters.dram_bytes_per_cycle", "not nan")),
    (SPACE + "parameters: {operand_bits: [3]}\n", ("parameters.operand_bits", "not 3")),
    (SPACE + "parameters: {rows: [yes]}\n", ("parameters.rows", "YAML reads yes/no")),
    (SPACE + "parameters: {rows: 4}\n", ("parameters.rows must be a list", "rows: [4]")),
    (SPACE + "parameters: {rows: [4, 4]}\n", ("lists a value twice",)),
    (SPACE + "parameters: {1: [4]}\n", ("a parameter name must be one of",)),
    (SPACE + "parameters: {rows: [4]}\nparameters: {rows: [8]}\n",
     ("parameters: duplicate key 'parameters' at line 3 (first given at line 2); keep one",)),
    (SPACE + "parameters: {rows: [4], rows: [8]}\n", ("duplicate key 'rows'",)),
    ("parameters: {rows: [4]}\n", ("base is required", "base: edge_8x8_ws")),
    ("base: 5\nparameters: {rows: [4]}\n", ("base must be a shipped spec name",)),
    ("base: nope.yaml\nparameters: {rows: [4]}\n", ("base: nope.yaml: no such file",)),
    ("", ("empty file; give a design-space YAML (schema in mapper/hw_space.py)",)),
    ("- 4\n", ("the top level must be a mapping of keys to values, not a list",)),
])
def test_design_spaces(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str,
                       words: tuple[str, ...]) -> None:
    path = tmp_path / "space.yaml"
    path.write_text(text)
    out = tmp_path / "run"
    _one_line_error(capsys, ["dse", "--network", "alexnet", "--space", str(path),
                             "--out", str(out), "--workers", "1"], str(path), *words)
    assert not (out / "dse.sqlite").exists()         # refused before any design ran


def test_design_space_base_with_nan_names_both_files(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    (tmp_path / "base.yaml").write_text(SPEC + "energy: {mult_pj: {8: .nan}}\n")
    space = tmp_path / "space.yaml"
    space.write_text("base: base.yaml\nparameters: {rows: [4]}\n")   # beside the space
    _one_line_error(capsys, ["dse", "--network", "alexnet", "--space", str(space),
                             "--out", str(tmp_path / "run")],
                    str(space), "base: ", "base.yaml", "energy.mult_pj[8]")


# -- seeds --------------------------------------------------------------------------------
SEED_COMMANDS = {
    "verify": ["verify", "--arch", "edge_8x8_ws", "--gemm", "4,4,4"],
    "map": ["map", "--network", "alexnet"],
    "dse": ["dse", "--network", "alexnet", "--space", "space.yaml", "--out", "run"],
    "simulate": ["simulate", "--network", "alexnet"],
    "validate": ["validate", "--arch", "edge_8x8_ws", "--network", "alexnet", "--out", "v"],
    "synth": ["synth", "--arch", "edge_8x8_ws", "--target", "ecp5-85k", "--out", "s"],
}


@pytest.mark.parametrize("seed", ["-1", "1.5", "x", "4294967296", "99999999999999999999"])
@pytest.mark.parametrize("command", sorted(SEED_COMMANDS))
def test_seed(capsys: pytest.CaptureFixture[str], command: str, seed: str) -> None:
    _one_line_error(capsys, SEED_COMMANDS[command] + ["--seed", seed], f"coforge {command}",
                    "--seed", "must be an integer from 0 to 4294967295", repr(seed))


def test_largest_seed_is_accepted() -> None:
    from mapper.cli_search import MAX_SEED, parse_seed
    assert parse_seed(str(MAX_SEED)) == 2**32 - 1 and parse_seed("0") == 0


# -- the real console script: one line, no traceback -------------------------------------
def _coforge(*argv: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("coforge")
    return subprocess.run([str(script), *argv], capture_output=True, text=True, timeout=300,
                          check=False)


def test_console_script_prints_one_line_without_traceback(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC + "energy: {mult_pj: {8: .nan}}\n")
    onnx.save(BAD_MODELS["zero_stride"][0], tmp_path / "m.onnx")
    topo = tmp_path / "t.csv"
    topo.write_text(GEMM_HEAD + "g, inf, 8, 8,\n")
    for argv in (["simulate", "--network", "alexnet", "--arch", str(spec)],
                 ["simulate", "--onnx", str(tmp_path / "m.onnx")],
                 ["simulate", "--topology", str(topo), "--gemm"],
                 ["dse", "--network", "alexnet", "--space", "x.yaml", "--out", "r",
                  "--seed", "-1"]):
        proc = _coforge(*argv)
        assert proc.returncode == 2, (argv, proc.stderr)
        assert "Traceback" not in proc.stderr and len(proc.stderr.splitlines()) == 1, \
            proc.stderr
        assert proc.stderr.startswith("coforge: error: ") and proc.stdout == ""
