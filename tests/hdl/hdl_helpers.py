"""Shared helpers of the RTL tests: accelerator specs for a given engine shape and
seeded random GEMM cases (one test definition, run on every simulator backend)."""

from __future__ import annotations

import numpy as np
import pytest

from hdl.cocotb_run import icarus_available
from hdl.driver import GemmCase, random_case
from hdl.params import HdlParams
from hdl.plan import GemmPlan, canonical_mapping, plan_gemm
from sim.spec import Accelerator, Buffer, PEConfig

needs_icarus = pytest.mark.skipif(not icarus_available(),
                                  reason="Icarus Verilog not installed (make system-deps)")


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
