"""An exact mapping formulation as a mixed-integer linear program (in CoSA's spirit).

CoSA (Huang et al., ISCA 2021) assigns every *prime factor* of every loop bound to a
memory level or a spatial axis with binary variables and writes capacities and
costs in log space, where products become sums; it used Gurobi. Here the same
formulation is solved to proven optimality with HiGHS through
``scipy.optimize.milp`` (free). Variables ``x[j, s]`` put prime factor ``j`` (of
dimension ``d(j)``, value ``p_j``) in slot ``s`` of rows, cols, pe, glb, dram.

Constraints (all linear in ``log p``):

* every factor in exactly one slot; a slot only where the dataflow allows the
  dimension (spatial axes, the PE level's stream dimensions);
* ``sum log p_j x[j, rows] <= log R`` (and cols);
* each operand's GLB tile (factors in rows, cols, pe, glb of its relevant dims, at
  its stored width) fits its share of the buffer holding it: a buffer shared by k
  operands gives each ``usable / k`` (an approximation the true model rechecks);
  input halos are bounded by the product of the window's dimensions;
* the per-PE stationary tile fits the register file.

Objective: ``log(iterations) + sum over operands of log(DRAM traffic)``, where
iterations are the temporal factors' product and an operand's DRAM traffic is its
distinct size times the irrelevant DRAM-level factors (order-free upper bound).
The optimum of this surrogate is *proven* by the solver; loop orders are then chosen
by costing every distinct order of the non-unit GLB and DRAM loops with the real
analytic model, which also reports the true cost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import permutations

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp

from dataflows.dataflow import MAP_DIMS, OPERANDS, RELEVANT, get_dataflow
from dataflows.errors import CoforgeError
from dataflows.layer import Layer
from dataflows.mapping import Mapping
from sim.analytic import MappingBatch, evaluate_batch
from sim.spec import Accelerator

SLOTS: tuple[str, ...] = ("rows", "cols", "pe", "glb", "dram")


class ExactError(CoforgeError):
    """The integer program has no feasible point or the solver failed."""


@dataclass(frozen=True)
class ExactSolution:
    """Factors chosen by the MILP, its proven objective, and candidate orders."""

    factors: dict[str, dict[str, int]]      # slot -> dim -> factor
    objective: float
    status: str
    candidates: tuple[Mapping, ...]


def _primes(n: int) -> list[int]:
    out, p = [], 2
    while p * p <= n:
        while n % p == 0:
            out.append(p)
            n //= p
        p += 1
    return out + ([n] if n > 1 else [])


@dataclass(frozen=True)
class Program:
    """The MILP: minimise ``cost @ x`` s.t. ``lo <= a @ x <= hi``, ``x`` binary, and
    ``x <= allowed``; variable ``j * len(SLOTS) + s`` places factor ``j`` in slot ``s``."""

    factors: tuple[tuple[str, int], ...]
    cost: np.ndarray
    a: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    allowed: np.ndarray


def formulate(layer: Layer, accel: Accelerator) -> Program:
    """Build the integer program of ``layer`` on ``accel`` (see the module doc)."""
    df = get_dataflow(accel.dataflow)
    bounds = df.bounds(layer)
    factors = [(d, p) for d in MAP_DIMS for p in _primes(bounds[d])]
    nj, ns = len(factors), len(SLOTS)
    logp = np.array([math.log(p) for _, p in factors])

    def var(j: int, s: str) -> int:
        return j * ns + SLOTS.index(s)

    allowed = np.ones(nj * ns, dtype=bool)
    for j, (d, _) in enumerate(factors):
        allowed[var(j, "rows")] = d in df.row_dims
        allowed[var(j, "cols")] = d in df.col_dims
        allowed[var(j, "pe")] = d in df.stream_dims
    rows_a, lo, hi = [], [], []

    def add(coef: np.ndarray, lower: float, upper: float) -> None:
        rows_a.append(coef)
        lo.append(lower)
        hi.append(upper)

    for j in range(nj):                           # each factor in exactly one slot
        c = np.zeros(nj * ns)
        c[[var(j, s) for s in SLOTS]] = 1
        add(c, 1, 1)
    for axis, side in (("rows", accel.rows), ("cols", accel.cols)):
        c = np.zeros(nj * ns)
        for j in range(nj):
            c[var(j, axis)] = logp[j]
        add(c, -np.inf, math.log(side) + 1e-9)
    prec = layer.precision
    bytes_per = {"weight": prec.weight_bits / 8, "input": prec.input_bits / 8,
                 "output": accel.pe.accumulator_bits / 8}
    for buf in accel.glb:
        share = buf.usable_bytes / len(buf.operands)
        for op in buf.operands:
            c = np.zeros(nj * ns)
            for j, (d, _) in enumerate(factors):
                if d in RELEVANT[op]:
                    for s in ("rows", "cols", "pe", "glb"):
                        c[var(j, s)] = logp[j]
            add(c, -np.inf, math.log(share / bytes_per[op]) + 1e-9)
    c = np.zeros(nj * ns)                          # per-PE stationary tile in the RF
    for j, (d, _) in enumerate(factors):
        if d in RELEVANT[df.stationary]:
            c[var(j, "pe")] = logp[j]
    add(c, -np.inf, math.log(accel.rf.capacity_bytes / bytes_per[df.stationary]) + 1e-9)

    cost = np.zeros(nj * ns)
    for j, (d, _) in enumerate(factors):
        for s in ("pe", "glb", "dram"):
            cost[var(j, s)] += logp[j]            # iterations
        for op in OPERANDS:
            if d not in RELEVANT[op]:
                cost[var(j, "dram")] += logp[j]   # irrelevant DRAM loops re-fetch op
    return Program(tuple(factors), cost, np.array(rows_a).reshape(-1, nj * ns),
                   np.array(lo), np.array(hi), allowed)


def solve(layer: Layer, accel: Accelerator) -> ExactSolution:
    """Solve the MILP for ``layer`` on ``accel`` and list the orders to cost."""
    prog = formulate(layer, accel)
    factors, nj, ns = prog.factors, len(prog.factors), len(SLOTS)
    if nj == 0:                                   # a 1x1x1 layer: nothing to place
        return ExactSolution({s: {} for s in SLOTS}, 0.0, "optimal", (Mapping.build(),))
    res = milp(prog.cost, integrality=np.ones(nj * ns),
               bounds=Bounds(np.zeros(nj * ns), prog.allowed.astype(float)),
               constraints=LinearConstraint(prog.a, prog.lo, prog.hi))
    if res.status != 0 or res.x is None:
        raise ExactError(f"layer {layer.name!r} on {accel.name!r}: the integer program "
                         f"has no feasible point ({res.message}); the buffers or the rf "
                         f"cannot hold even the smallest tile")
    x = np.round(res.x).reshape(nj, ns)
    chosen: dict[str, dict[str, int]] = {s: {} for s in SLOTS}
    for j, (d, p) in enumerate(factors):
        s = SLOTS[int(np.argmax(x[j]))]
        chosen[s][d] = chosen[s].get(d, 1) * p
    glb_dims = [d for d in MAP_DIMS if chosen["glb"].get(d, 1) > 1]
    dram_dims = [d for d in MAP_DIMS if chosen["dram"].get(d, 1) > 1]
    cands = tuple(Mapping.build(rows=chosen["rows"], cols=chosen["cols"], pe=chosen["pe"],
                                glb=chosen["glb"], dram=chosen["dram"],
                                order={"glb": list(g), "dram": list(o)})
                  for g in permutations(glb_dims) for o in permutations(dram_dims))
    return ExactSolution(chosen, float(res.fun), "optimal", cands)


def best_order(layer: Layer, accel: Accelerator, sol: ExactSolution, score) -> tuple:  # noqa: ANN001
    """(mapping, score, evaluations): the candidate order the real model likes best."""
    batch = MappingBatch.from_mappings(list(sol.candidates))
    arr = evaluate_batch(layer, accel, batch, detail=False)
    scores = score(arr, np.ones(len(batch), dtype=bool))
    i = int(np.argmin(scores))
    return sol.candidates[i], float(scores[i]), len(batch)
