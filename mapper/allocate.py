"""Per-layer choice allocators under a budget: an integer program and a greedy baseline.

Both pick one option per layer (e.g. its bits ``"w4a8"``) to minimise an additive
*penalty* (a per-layer sensitivity: the accuracy or loss lost when only that layer takes
the option, :func:`mapper.accuracy.sensitivity_table`) subject to an additive *cost*
budget (latency cycles, energy pJ or weight bytes of each layer at that option, from
coforge's own cost model: :func:`layer_costs`).

* :func:`allocate_milp` -- HAWQ-V3's formulation (Yao et al., ICML 2021, sec. 3.3): binary
  ``x[l, o]``, ``sum_o x[l, o] = 1``, ``sum c[l, o] x[l, o] <= budget``, minimise
  ``sum p[l, o] x[l, o]``; solved by ``scipy.optimize.milp`` (HiGHS) with a zero
  relative gap, so the result is the optimum of that program when ``proven_optimal``.
* :func:`allocate_greedy` -- a HAQ-style budgeted greedy (Wang et al., CVPR 2019 use RL
  under a resource budget; this is the usual greedy baseline): start every layer at its
  most expensive option; while over budget, take the single-layer step to a cheaper
  option with the least penalty increase per unit of cost saved.

Costs and penalties are plain numbers; a layer's options are its keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from dataflows.errors import CoforgeError

__all__ = ["AllocationError", "Allocation", "allocate_milp", "allocate_greedy", "layer_costs",
           "COST_METRICS"]

#: Additive per-layer costs :func:`layer_costs` can compute.
COST_METRICS: tuple[str, ...] = ("cycles", "energy_pj", "weight_bytes")


class AllocationError(CoforgeError):
    """An allocation problem is malformed or has no solution within the budget."""


@dataclass(frozen=True)
class Allocation:
    """One option per layer, its total penalty and cost, and how it was found."""

    picks: Mapping[str, str]
    penalty: float
    cost: float
    budget: float
    method: str
    proven_optimal: bool

    def to_dict(self) -> dict[str, object]:
        return {"picks": dict(self.picks), "penalty": self.penalty, "cost": self.cost,
                "budget": self.budget, "method": self.method,
                "proven_optimal": self.proven_optimal}


def _check(penalty: Mapping[str, Mapping[str, float]], cost: Mapping[str, Mapping[str, float]]
           ) -> list[str]:
    layers = list(cost)
    if not layers:
        raise AllocationError("no layers to allocate")
    if set(penalty) != set(cost):
        raise AllocationError(f"penalty and cost name different layers: "
                              f"{sorted(set(penalty) ^ set(cost))}")
    for layer in layers:
        if not cost[layer]:
            raise AllocationError(f"layer {layer!r} has no options")
        if set(penalty[layer]) != set(cost[layer]):
            raise AllocationError(f"layer {layer!r}: penalty and cost list different options")
        vals = list(penalty[layer].values()) + list(cost[layer].values())
        if not all(np.isfinite(v) for v in vals):
            raise AllocationError(f"layer {layer!r}: penalties and costs must be finite")
    return layers


def _totals(picks: Mapping[str, str], penalty: Mapping[str, Mapping[str, float]],
            cost: Mapping[str, Mapping[str, float]]) -> tuple[float, float]:
    return (float(sum(penalty[layer][o] for layer, o in picks.items())),
            float(sum(cost[layer][o] for layer, o in picks.items())))


def allocate_milp(penalty: Mapping[str, Mapping[str, float]],
                  cost: Mapping[str, Mapping[str, float]], budget: float) -> Allocation:
    """The minimum-penalty choice with total cost ``<= budget`` (HAWQ-V3's program)."""
    from scipy.optimize import Bounds, LinearConstraint, milp
    layers = _check(penalty, cost)
    var = [(layer, o) for layer in layers for o in cost[layer]]
    c = np.array([penalty[layer][o] for layer, o in var], dtype=float)
    one = np.zeros((len(layers), len(var)))
    for j, (layer, _) in enumerate(var):
        one[layers.index(layer), j] = 1.0
    spend = np.array([[cost[layer][o] for layer, o in var]], dtype=float)
    res = milp(c, integrality=np.ones(len(var)), bounds=Bounds(0, 1),
               constraints=[LinearConstraint(one, 1, 1),
                            LinearConstraint(spend, -np.inf, float(budget))],
               options={"mip_rel_gap": 0.0})
    if res.status == 2 or res.x is None:
        cheapest = sum(min(cost[layer].values()) for layer in layers)
        raise AllocationError(f"no choice meets the budget {budget:g}: the cheapest costs "
                              f"{cheapest:g}")
    x = np.round(res.x).astype(int)
    picks = {layer: o for (layer, o), v in zip(var, x) if v == 1}
    pen, spent = _totals(picks, penalty, cost)
    return Allocation(picks, pen, spent, float(budget), "milp (scipy HiGHS)", res.status == 0)


def allocate_greedy(penalty: Mapping[str, Mapping[str, float]],
                    cost: Mapping[str, Mapping[str, float]], budget: float) -> Allocation:
    """Budgeted greedy from the most expensive options (module docstring)."""
    layers = _check(penalty, cost)
    picks = {layer: max(cost[layer], key=lambda o: (cost[layer][o], -penalty[layer][o]))
             for layer in layers}
    _, spent = _totals(picks, penalty, cost)
    while spent > budget:
        best = None
        for layer in layers:
            now = picks[layer]
            for o, co in cost[layer].items():
                saved = cost[layer][now] - co
                if saved <= 0:
                    continue
                rate = (penalty[layer][o] - penalty[layer][now]) / saved
                if best is None or rate < best[0]:
                    best = (rate, layer, o)
        if best is None:
            raise AllocationError(f"no choice meets the budget {budget:g}: the cheapest "
                                  f"costs {spent:g}")
        picks[best[1]] = best[2]
        _, spent = _totals(picks, penalty, cost)
    pen, spent = _totals(picks, penalty, cost)
    return Allocation(picks, pen, spent, float(budget), "greedy", False)


def layer_costs(net, accel, options: Mapping[str, list[str]], metric: str  # noqa: ANN001
                ) -> dict[str, dict[str, float]]:
    """Per layer and per ``"w<W>a<A>"`` option, the layer's cost on ``accel``.

    ``cycles`` and ``energy_pj`` come from :func:`sim.simulate.simulate_layer` (analytic
    model, default mapping) on the layer at those bits -- a pure function of (layer,
    accelerator, mapping), so the network's total is the sum (layers run one after
    another); ``weight_bytes`` is ``weights * W / 8``.
    """
    from dataclasses import replace

    from mapper.hw_space import parse_bits_choice
    from sim.simulate import simulate_layer
    if metric not in COST_METRICS:
        raise AllocationError(f"cost metric must be one of {list(COST_METRICS)}, "
                              f"not {metric!r}")
    by_name = {layer.name: layer for layer in net.layers()}
    out: dict[str, dict[str, float]] = {}
    for name, opts in options.items():
        if name not in by_name:
            raise AllocationError(f"network {net.name!r} has no compute layer {name!r}")
        layer = by_name[name]
        out[name] = {}
        for o in opts:
            w, a = parse_bits_choice(o)
            lay = replace(layer, precision=replace(layer.precision, weight_bits=w,
                                                   input_bits=a))
            if metric == "weight_bytes":
                out[name][o] = float(lay.weight_elems * w / 8)
                continue
            res = simulate_layer(lay, accel)
            out[name][o] = float(res.total_cycles if metric == "cycles" else res.energy_pj)
    return out

