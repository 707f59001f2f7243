"""Allocators against brute force over every per-layer combination."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mapper.allocate import AllocationError, allocate_greedy, allocate_milp, layer_costs


def _random_problem(seed: int, layers: int = 5, options: int = 3):
    rng = np.random.default_rng(seed)
    names = [f"l{i}" for i in range(layers)]
    opts = [f"w{b}a8" for b in (2, 4, 8)][:options]
    cost = {n: {o: float(c) for o, c in zip(opts, sorted(rng.uniform(1, 10, options)))}
            for n in names}
    # cheaper (narrower) options lose more: penalty decreasing in cost
    penalty = {n: {o: float(p) for o, p in zip(opts, sorted(rng.uniform(0, 1, options),
                                                            reverse=True))} for n in names}
    return penalty, cost


def _brute(penalty, cost, budget):
    names = list(cost)
    best = None
    for combo in itertools.product(*[list(cost[n]) for n in names]):
        c = sum(cost[n][o] for n, o in zip(names, combo))
        if c <= budget:
            p = sum(penalty[n][o] for n, o in zip(names, combo))
            if best is None or p < best - 1e-12:
                best = p
    return best


@pytest.mark.parametrize("seed", range(8))
def test_milp_equals_brute_force_and_greedy_is_never_better(seed: int) -> None:
    penalty, cost = _random_problem(seed)
    lo = sum(min(v.values()) for v in cost.values())
    hi = sum(max(v.values()) for v in cost.values())
    for frac in (0.1, 0.4, 0.7, 1.0):
        budget = lo + frac * (hi - lo)
        m = allocate_milp(penalty, cost, budget)
        g = allocate_greedy(penalty, cost, budget)
        assert m.proven_optimal
        assert m.cost <= budget + 1e-9 and g.cost <= budget + 1e-9
        assert m.penalty == pytest.approx(_brute(penalty, cost, budget), abs=1e-9)
        assert m.penalty <= g.penalty + 1e-9


def test_infeasible_budget_is_an_error() -> None:
    penalty, cost = _random_problem(0)
    with pytest.raises(AllocationError, match="no choice meets the budget"):
        allocate_milp(penalty, cost, 1.0)
    with pytest.raises(AllocationError, match="no choice meets the budget"):
        allocate_greedy(penalty, cost, 1.0)


def test_layer_costs_are_additive_and_weight_bytes_are_hand_arithmetic() -> None:
    from dataflows.dataset import shipped
    from dataflows.onnx_import import from_onnx
    from sim.simulate import simulate
    from sim.spec_io import load_accelerator
    from mapper.hw_space import quantize
    net = from_onnx(shipped("digits_cnn.onnx"))
    accel = load_accelerator("edge_8x8_ws")
    names = [layer.name for layer in net.layers()]
    opts = {n: ["w4a8", "w8a8"] for n in names}
    cyc = layer_costs(net, accel, opts, "cycles")
    # the network at w4a8 everywhere costs the sum of its layers at w4a8
    total = simulate(quantize(net, {n: "w4a8" for n in names}), accel).total_cycles
    assert sum(cyc[n]["w4a8"] for n in names) == total
    wb = layer_costs(net, accel, opts, "weight_bytes")
    # conv1 of the digits CNN: 8 filters of 1 x 3 x 3 -> 72 weights of 4 bits = 36 B
    assert wb["conv1"]["w4a8"] == 36.0 and wb["conv1"]["w8a8"] == 72.0
