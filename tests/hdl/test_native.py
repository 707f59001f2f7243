"""The native Verilog testbench (hdl/native_tb.py, hdl/native_run.py): backends
``icarus-native`` and ``verilator-native`` of ``hdl.verify.run_cases`` and
``coforge verify --backend``.

Peers: numpy (``gemm_ref``) for outputs, the cycle model (``sim``) for cycles, hand
arithmetic on the schedules (the figures of tests/hdl/test_verify_engines.py) and the
Amaranth backend's per-cycle :class:`~hdl.driver.GemmDriver` for the whole
:class:`~hdl.driver.RunResult` (outputs, DUT cycle counter, busy count, every simulated
cycle) including its random idle inputs and backpressure. One build root per module:
each engine configuration is built once per simulator (Verilator: a C++ compile).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from hdl.cocotb_run import VERILATOR_HINT, verilator_bin
from hdl.driver import random_case
from hdl.native_run import run_native
from hdl.params import HdlError, HdlParams
from hdl.plan import plan_gemm, sim_cycles
from hdl.sim_amaranth import run_amaranth
from hdl.verify import compare, verify
from hdl_helpers import needs_icarus
from mapper.cli import main
from sim.spec_io import load_accelerator

NATIVE = ("icarus-native", "verilator-native")


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if verilator_bin() is None:
        pytest.fail(f"Verilator is not installed: {VERILATOR_HINT}", pytrace=False)
    return tmp_path_factory.mktemp("native")


def _os_8x8():  # noqa: ANN202 - an Accelerator
    return replace(load_accelerator("edge_8x8_ws"), name="edge_8x8_os", dataflow="os")


# (accelerator, M K N, bits, idle = backpressure, hand-computed cycles or None)
CASES = [
    ("edge_8x8_ws", (20, 19, 17), None, 0.0, None),     # no idle, no backpressure
    ("edge_8x8_ws", (20, 19, 17), None, 0.3, None),     # idle inputs and backpressure
    ("os", (11, 9, 13), None, 0.3, None),
    # 4x4 WS, 7x12x6, dense tile = 7 + 2*4 + 4 - 1 = 18 cycles:
    # bit-serial a4: ceil(12/4) * ceil(6/4) = 6 tiles x 18 steps x 4 cycles
    ("edge_4x4_ws_bitserial", (7, 12, 6), (8, 4), 0.3, 6 * 18 * 4),
    # bit-fusion w4a4: 4 products per step, K' = ceil(12/4) = 3: 1 x 2 tiles of 18
    ("edge_4x4_ws_bitfusion", (7, 12, 6), (4, 4), 0.3, 1 * 2 * 18),
    # 2:4: ceil(12/4) * 2 = 6 reduction rows: ceil(6/4) * 2 = 4 tiles of 18
    ("edge_4x4_ws_sparse24", (7, 12, 6), None, 0.3, 4 * 18),
]


@needs_icarus
@pytest.mark.parametrize("backend", NATIVE)
@pytest.mark.parametrize("spec, gemm, bits, noise, hand", CASES,
                         ids=[f"{c[0]}-{'x'.join(map(str, c[1]))}-idle{c[3]}" for c in CASES])
def test_native_matches_numpy_and_sim(build: Path, backend: str, spec: str, gemm: tuple,
                                      bits: tuple | None, noise: float,
                                      hand: int | None) -> None:
    accel = _os_8x8() if spec == "os" else load_accelerator(spec)
    rec = verify(accel, *gemm, seed=5, backend=backend, build_dir=build, bits=bits,
                 idle=noise, backpressure=noise)
    assert rec["outputs_match"] and rec["max_abs_error"] == 0, rec
    assert rec["cycles_match"] and rec["rtl_cycles"] == rec["sim_cycles"] > 0, rec
    if hand is not None:
        assert rec["rtl_cycles"] == hand, rec


@needs_icarus
def test_native_equals_the_amaranth_driver_cycle_for_cycle(build: Path) -> None:
    """Three cases back to back (plain, idle/backpressure 0.5, the other fold order):
    every RunResult field equals Amaranth's per-cycle driver on both simulators."""
    params = HdlParams.from_accelerator(load_accelerator("edge_8x8_ws"))
    plan = plan_gemm(params, 10, 9, 11)
    noisy = random_case(params, plan, 7, idle=0.5, backpressure=0.5)
    cases = [replace(noisy, idle=0.0, backpressure=0.0, seed=8), noisy,
             replace(noisy, order=1 - noisy.order, seed=9)]
    want = run_amaranth(params, cases)
    assert want[0].sim_cycles < want[1].sim_cycles          # the random stimulus counts
    for sim in ("icarus", "verilator"):
        run = run_native(params, cases, sim, build_dir=build)
        assert run.results == want, sim
        assert run.cycles == sum(r.sim_cycles for r in want)


def test_corrupted_expectations_are_detected(build: Path) -> None:
    """Negative control: one wrong expected output or a cycle count off by one fails."""
    accel = load_accelerator("edge_8x8_ws")
    params = HdlParams.from_accelerator(accel)
    plan = plan_gemm(params, 9, 10, 8)
    case = random_case(params, plan, 2)
    res = run_native(params, [case], "verilator", build_dir=build).results[0]
    expected = sim_cycles(plan, accel)
    good = compare(case.a, case.b, res, params.accumulator_bits, expected)
    assert good["outputs_match"] and good["cycles_match"], good
    a = [row[:] for row in case.a]
    a[3][4] = a[3][4] + 1 if a[3][4] < 127 else a[3][4] - 1
    bad = compare(a, case.b, res, params.accumulator_bits, expected)
    assert not bad["outputs_match"] and bad["max_abs_error"] > 0
    assert not compare(case.a, case.b, res, params.accumulator_bits,
                       expected + 1)["cycles_match"]
    wrong = replace(res, outputs=[row[:] for row in res.outputs])
    wrong.outputs[0][0] += 1
    assert not compare(case.a, case.b, wrong, params.accumulator_bits,
                       expected)["outputs_match"]


def test_native_timeout_names_the_phase(build: Path) -> None:
    """A cycle budget that ends in the compute phase fails with the driver's message."""
    params = HdlParams.from_accelerator(load_accelerator("edge_8x8_ws"))
    plan = plan_gemm(params, 20, 19, 17)
    budget = max(20 * 19, 19 * 17) + 1 + plan.rtl_busy_cycles // 2
    case = replace(random_case(params, plan, 3, idle=0.0, backpressure=0.0),
                   timeout_cycles=budget)
    with pytest.raises(HdlError, match=rf"did not finish in {budget} cycles \(phase run\)"):
        run_native(params, [case], "verilator", build_dir=build)


def test_long_gemm_on_native_verilator(build: Path) -> None:
    """The long run on the fastest backend: one 85x128x32 GEMM (the benchmark's call,
    6912 busy cycles, ~20k in all) equals numpy's product and the cycle model."""
    accel = load_accelerator("edge_8x8_ws")
    params = HdlParams.from_accelerator(accel)
    plan = plan_gemm(params, 85, 128, 32)
    case = random_case(params, plan, 11, idle=0.0, backpressure=0.0)
    run = run_native(params, [case], "verilator", build_dir=build)
    rec = compare(case.a, case.b, run.results[0], params.accumulator_bits,
                  sim_cycles(plan, accel))
    assert rec["outputs_match"] and rec["cycles_match"], rec
    assert run.cycles == run.results[0].sim_cycles > plan.rtl_busy_cycles


def test_cli_verify_backend_verilator_native(build: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("COFORGE_BUILD_DIR", str(build))          # reuse the builds
    rc = main(["verify", "--arch", "edge_8x8_ws", "--gemm", "20,19,17", "--seed", "5",
               "--backend", "verilator-native"])
    out = capsys.readouterr().out
    assert rc == 0, out
    rec = json.loads(out[out.index("{"):])
    assert rec["outputs_match"] and rec["cycles_match"], rec


def test_unknown_native_simulator_is_an_error(tmp_path: Path) -> None:
    params = HdlParams.from_accelerator(load_accelerator("edge_8x8_ws"))
    case = random_case(params, plan_gemm(params, 2, 2, 2), 0)
    with pytest.raises(HdlError, match="simulator must be one of"):
        run_native(params, [case], "xsim", build_dir=tmp_path)


@needs_icarus
def test_cli_validate_network_run_defaults_to_native_verilator(
        build: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole-network run (the long one) goes to the native Verilator backend unless
    --backend says otherwise; the tile keeps cocotb + Icarus. Layers' RTL outputs equal
    the integer engine and their cycles the cycle model."""
    from dataflows.dataset import shipped
    monkeypatch.setenv("COFORGE_BUILD_DIR", str(build))
    data, calib = shipped("digits_test.npz"), shipped("digits_calib.npz")
    rc = main(["validate", "--arch", "edge_8x8_ws", "--onnx", str(shipped("digits_mlp.onnx")),
               "--data", str(data), "--calib", str(calib), "--rtl-samples", "2",
               "--map-evals", "50", "--out", str(tmp_path)])
    assert rc == 0
    doc = json.loads((tmp_path / "validate.json").read_text())
    net = doc["network_on_rtl"]
    assert net["backend"] == "verilator-native"
    assert net["samples"] == 2 and net["outputs_match"] and net["cycles_match"]
    assert all(r["rtl_cycles"] == r["sim_cycles"] > 0 for r in net["layers"])
