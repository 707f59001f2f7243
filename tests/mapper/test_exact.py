"""The CoSA-style integer program: HiGHS's optimum equals brute force on the same
formulation, and the chosen mapping is legal under the real model."""

from __future__ import annotations

from itertools import product

import numpy as np
import pytest

from dataflows.layer import conv, gemm
from mapper.exact import SLOTS, ExactError, formulate, solve
from mapper.search import search
from sim import evaluate, load_accelerator


def _brute_force(prog) -> float:  # noqa: ANN001
    nj, ns = len(prog.factors), len(SLOTS)
    best = np.inf
    for assign in product(range(ns), repeat=nj):
        x = np.zeros(nj * ns)
        x[[j * ns + s for j, s in enumerate(assign)]] = 1
        if (x > prog.allowed).any():
            continue
        ax = prog.a @ x
        if (ax < prog.lo - 1e-9).any() or (ax > prog.hi + 1e-9).any():
            continue
        best = min(best, float(prog.cost @ x))
    return best


@pytest.mark.parametrize("spec, layer", [
    ("edge_8x8_ws", gemm("g", 6, 4, 9)),
    ("os_32x32", gemm("g2", 10, 6, 4)),
    ("eyeriss_12x14_rs", conv("c", 2, 2, 2, 3, padding=1)),
])
def test_solver_optimum_equals_brute_force(spec: str, layer) -> None:  # noqa: ANN001
    accel = load_accelerator(spec)
    prog = formulate(layer, accel)
    assert len(prog.factors) <= 7                    # 5^7 assignments at most
    sol = solve(layer, accel)
    assert sol.objective == pytest.approx(_brute_force(prog))


def test_exact_strategy_returns_a_legal_costed_mapping() -> None:
    accel = load_accelerator("edge_8x8_ws")
    layer = conv("c", 16, 32, 14, 3, padding=1)
    res = search(layer, accel, "exact", progress=False)
    again = evaluate(layer, accel, res.mapping)
    assert again.energy_pj * again.total_cycles == pytest.approx(res.best_score)
    assert res.evaluations == len(solve(layer, accel).candidates)


def test_infeasible_program_is_a_clear_error() -> None:
    from dataclasses import replace
    accel = load_accelerator("edge_8x8_ws")
    tiny = replace(accel, rf=replace(accel.rf, capacity_bytes=1),
                   glb=(replace(accel.glb[0], capacity_bytes=8),))
    with pytest.raises(ExactError, match=r"the integer program has no feasible point"):
        solve(gemm("g", 64, 64, 64), tiny)
