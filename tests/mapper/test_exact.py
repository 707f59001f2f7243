"""``--strategy exact`` is the optimum of the real model for the objective chosen.

The expectation is brute force, written here and sharing nothing with
``mapper.exact``: every split combination of the layer's mapping space that fits the
array, crossed with *every* permutation of the non-unit GLB and DRAM loops (unit
loops interleaved at random positions), costed by ``evaluate_batch`` and scored by
the objective. The exact strategy's score must equal that minimum for latency,
energy and EDP on conv, depthwise and fc layers of three shipped specs (ws, rs, os).
"""

from __future__ import annotations

import math
from functools import cache
from itertools import permutations, product

import numpy as np
import pytest

from dataflows.dataflow import MAP_DIMS
from dataflows.layer import conv, fc
from mapper.exact import EXACT_LIMIT, class_orders, exact_chunks
from mapper.objective import Objective
from mapper.search import search
from mapper.space import GENOME_LEN, MappingSpace, SpaceError
from sim import evaluate, evaluate_batch, load_accelerator

CASES = {
    "ws-conv": ("edge_8x8_ws", conv("c", 8, 16, 7, 3, padding=1)),
    "ws-depthwise": ("edge_8x8_ws", conv("dw", 8, 8, 8, 3, padding=1, groups=8)),
    "ws-fc": ("edge_8x8_ws", fc("fc", 64, 24, batch=4)),
    "rs-conv": ("eyeriss_12x14_rs", conv("c", 2, 4, 4, 3)),
    "rs-conv-stride": ("eyeriss_12x14_rs", conv("cs", 2, 3, (5, 4), 3, stride=(1, 2),
                                                padding=1)),
    "rs-depthwise": ("eyeriss_12x14_rs", conv("dw", 4, 4, 4, 3, groups=4)),
    "rs-fc": ("eyeriss_12x14_rs", fc("fc", 36, 10, batch=2)),
    "os-conv": ("os_32x32", conv("c", 6, 8, 6, 3, stride=2, padding=1)),
    "os-depthwise": ("os_32x32", conv("dw", 16, 16, 6, 3, padding=1, groups=16)),
    "os-fc": ("os_32x32", fc("fc", 48, 20, batch=3)),
}


def _all_orders(nonunit: list[int], rng: np.random.Generator) -> np.ndarray:
    """Every permutation of the non-unit loops (outermost first), the unit loops
    inserted at random positions: [n!, 8]."""
    unit = [i for i in range(len(MAP_DIMS)) if i not in nonunit]
    rows = []
    for perm in permutations(nonunit):
        order = list(perm)
        for u in unit:
            order.insert(int(rng.integers(0, len(order) + 1)), u)
        rows.append(order)
    return np.array(rows, dtype=np.int64)


def _brute_genomes(space: MappingSpace, combo: tuple[int, ...],
                   rng: np.random.Generator) -> np.ndarray:
    """Genomes of one split combination with every GLB x DRAM loop order."""
    fac = [space.splits[d][i] for d, i in zip(MAP_DIMS, combo)]
    glb = _all_orders([j for j, f in enumerate(fac) if f[3] > 1], rng)
    dram = _all_orders([j for j, f in enumerate(fac) if f[4] > 1], rng)
    g = np.empty((len(glb) * len(dram), GENOME_LEN), dtype=np.int64)
    g[:, :8] = combo
    g[:, 8:16] = np.repeat(glb, len(dram), axis=0)
    g[:, 16:] = np.tile(dram, (len(glb), 1))
    return g


@cache
def _brute_force(case: str) -> dict[str, float]:
    """Minimum score per objective over the full space (plus one capped objective)."""
    spec, layer = CASES[case]
    accel = load_accelerator(spec)
    space = MappingSpace(layer, accel, imperfect=True)
    rng = np.random.default_rng(7)
    objectives = [Objective(n) for n in ("latency", "energy", "edp")]
    best = {o.name: math.inf for o in objectives}
    batches: list[np.ndarray] = []
    rows = 0

    def flush() -> None:
        nonlocal rows
        if not batches:
            return
        genomes = np.concatenate(batches)
        batch, valid = space.decode(genomes)
        arr = evaluate_batch(layer, accel, batch, detail=False)
        for o in objectives:
            best[o.name] = min(best[o.name], float(o.score(arr, valid).min()))
        batches.clear()
        rows = 0

    for combo in product(*(range(len(space.splits[d])) for d in MAP_DIMS)):
        fac = [space.splits[d][i] for d, i in zip(MAP_DIMS, combo)]
        if math.prod(int(f[0]) for f in fac) > accel.rows or \
                math.prod(int(f[1]) for f in fac) > accel.cols:
            continue
        g = _brute_genomes(space, combo, rng)
        batches.append(g)
        rows += len(g)
        if rows >= 50_000:
            flush()
    flush()
    return best


@pytest.mark.parametrize("objective", ["latency", "energy", "edp"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_exact_equals_brute_force(case: str, objective: str) -> None:
    spec, layer = CASES[case]
    accel = load_accelerator(spec)
    res = search(layer, accel, "exact", objective, max_evals=1, progress=False)
    assert res.proven_optimal is True
    assert res.best_score == _brute_force(case)[objective]
    # the reported mapping really has that score under the model
    again = evaluate(layer, accel, res.mapping)
    value = {"latency": again.total_cycles, "energy": again.energy_pj,
             "edp": again.energy_pj * again.total_cycles}[objective]
    assert value == pytest.approx(res.best_score, rel=1e-12)


def test_exact_honours_the_objective_caps() -> None:
    """With a cap on cycles the optimum is the brute-force minimum energy among the
    mappings within the cap (the cap is a brute-force latency + 10 %)."""
    spec, layer = CASES["ws-conv"]
    accel = load_accelerator(spec)
    cap = 1.1 * _brute_force("ws-conv")["latency"]
    obj = Objective("energy", max_cycles=cap)
    res = search(layer, accel, "exact", obj, progress=False)
    space = MappingSpace(layer, accel, imperfect=True)
    rng = np.random.default_rng(3)
    best = math.inf
    for combo in product(*(range(len(space.splits[d])) for d in MAP_DIMS)):
        g = _brute_genomes(space, combo, rng)
        batch, valid = space.decode(g)
        arr = evaluate_batch(layer, accel, batch, detail=False)
        best = min(best, float(obj.score(arr, valid).min()))
    assert res.result.total_cycles <= cap
    assert res.best_score == best


@pytest.mark.parametrize("case", ["rs-conv-stride", "ws-depthwise", "os-conv"])
def test_order_classes_keep_every_distinct_cost(case: str) -> None:
    """Per split combination, the order classes reach exactly the set of (legal,
    cycles, energy) outcomes that all orders reach -- not only the same minimum."""
    spec, layer = CASES[case]
    accel = load_accelerator(spec)
    space = MappingSpace(layer, accel, imperfect=True)
    rng = np.random.default_rng(11)
    stat = space.dataflow.stationary

    def outcomes(genomes: np.ndarray) -> set[tuple]:
        batch, valid = space.decode(genomes)
        arr = evaluate_batch(layer, accel, batch, detail=False)
        return {(bool(v and lg), int(c), round(float(e), 6)) for v, lg, c, e in
                zip(valid, arr["legal"], arr["total_cycles"], arr["energy_pj"])}

    checked = 0
    counts = space.split_counts
    for _ in range(400):
        combo = tuple(int(rng.integers(0, c)) for c in counts)
        every = _brute_genomes(space, combo, rng)
        fac = [space.splits[d][i] for d, i in zip(MAP_DIMS, combo)]
        gcode = sum(1 << j for j, f in enumerate(fac) if f[3] > 1)
        dcode = sum(1 << j for j, f in enumerate(fac) if f[4] > 1)
        glb, dram = class_orders(gcode, "glb", stat), class_orders(dcode, "dram", stat)
        few = np.empty((len(glb) * len(dram), GENOME_LEN), dtype=np.int64)
        few[:, :8] = combo
        few[:, 8:16] = np.repeat(glb, len(dram), axis=0)
        few[:, 16:] = np.tile(dram, (len(glb), 1))
        assert outcomes(few) == outcomes(every), combo
        checked += len(every) > len(few)
    assert checked >= 20                 # combinations where the classes saved work


def test_exact_enumeration_is_the_whole_space_reduced() -> None:
    """Every split combination that fits appears, each with its classes' orders."""
    spec, layer = CASES["ws-fc"]
    space = MappingSpace(layer, load_accelerator(spec), imperfect=True)
    total, chunks = exact_chunks(space)
    genomes = np.concatenate(list(chunks))
    assert len(genomes) == total
    assert len({tuple(g) for g in genomes}) == total           # no point twice
    full = space.enumerate_genomes(10**7)
    assert {tuple(g[:8]) for g in genomes} == {tuple(g[:8]) for g in full}


def test_strategies_state_whether_they_proved_optimality() -> None:
    spec, layer = CASES["ws-fc"]
    accel = load_accelerator(spec)
    assert search(layer, accel, "exhaustive", max_evals=10**8,
                  progress=False).proven_optimal is True
    assert search(layer, accel, "exhaustive", max_evals=100,
                  progress=False).proven_optimal is False
    assert search(layer, accel, "annealing", max_evals=500,
                  progress=False).proven_optimal is None


def test_too_large_a_space_is_refused_not_searched_partially() -> None:
    from dataflows import zoo
    layer = zoo.load("resnet50")["layer3.0.conv2"]
    space = MappingSpace(layer, load_accelerator("eyeriss_12x14_rs"), imperfect=True)
    with pytest.raises(SpaceError, match=r"exceed the exact limit .*cannot be proven"):
        exact_chunks(space, limit=min(EXACT_LIMIT, 10**6))


def test_a_time_budget_that_cuts_the_proof_is_an_error_not_an_unproven_optimum() -> None:
    from mapper.search import SearchError
    spec, layer = CASES["ws-conv"]
    with pytest.raises(SearchError, match=r"exact was stopped by the time budget after 0 "
                                          r"of [\d,]+ points, so no optimum is proven"):
        search(layer, load_accelerator(spec), "exact", time_budget_s=1e-9, progress=False)
