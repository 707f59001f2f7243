"""Mapping search: quality against the exhaustive optimum, determinism, errors."""

from __future__ import annotations

import numpy as np
import pytest

from dataflows.layer import conv, gemm
from mapper.objective import Objective, ObjectiveError
from mapper.search import STRATEGIES, SearchError, search
from sim import default_mapping, evaluate, load_accelerator

#: (spec, layer): spaces small enough to enumerate in about a second each.
CASES = [
    ("edge_8x8_ws", gemm("g", M=24, N=20, K=36)),
    ("os_32x32", gemm("g_os", M=50, N=12, K=40)),
    ("edge_8x8_ws", conv("dw", 32, 32, 14, 3, padding=1, groups=32)),
    ("eyeriss_12x14_rs", conv("rs", 2, 4, 4, 3, padding=1)),
]


@pytest.fixture(scope="module")
def optima() -> dict[str, tuple[float, int]]:
    out = {}
    for spec, layer in CASES:
        res = search(layer, load_accelerator(spec), "exhaustive", max_evals=10**7,
                     progress=False)
        out[layer.name] = (res.best_score, res.evaluations)
    return out


@pytest.mark.parametrize("strategy", ["random", "annealing", "genetic"])
@pytest.mark.parametrize("spec, layer", CASES, ids=[c[1].name for c in CASES])
def test_heuristics_reach_the_optimum_with_5_percent_of_the_evaluations(
        optima: dict, spec: str, layer, strategy: str) -> None:  # noqa: ANN001
    best, n_exhaustive = optima[layer.name]
    budget = max(200, n_exhaustive // 20)
    res = search(layer, load_accelerator(spec), strategy, max_evals=budget, seed=3,
                 progress=False)
    assert res.evaluations <= budget
    assert res.best_score <= best * 1.01, (res.best_score, best)


def test_exhaustive_is_at_least_as_good_as_the_default_mapping() -> None:
    accel = load_accelerator("edge_8x8_ws")
    layer = CASES[0][1]
    res = search(layer, accel, "exhaustive", max_evals=10**7, progress=False)
    d = evaluate(layer, accel, default_mapping(layer, accel))
    assert res.best_score <= d.energy_pj * d.total_cycles
    assert res.result.energy_pj * res.result.total_cycles == pytest.approx(res.best_score)


@pytest.mark.parametrize("strategy", ["random", "annealing", "genetic"])
def test_same_seed_same_result(strategy: str) -> None:
    accel, layer = load_accelerator("edge_8x8_ws"), conv("c", 16, 32, 14, 3, padding=1)
    a = search(layer, accel, strategy, max_evals=3000, seed=7, progress=False)
    b = search(layer, accel, strategy, max_evals=3000, seed=7, progress=False)
    assert a.mapping == b.mapping and a.history == b.history and a.evaluations == 3000


def test_history_is_monotone_and_ends_at_the_best() -> None:
    res = search(conv("c", 16, 32, 14, 3, padding=1), load_accelerator("edge_8x8_ws"),
                 "genetic", max_evals=4000, seed=1, progress=False)
    scores = [s for _, s in res.history]
    assert scores == sorted(scores, reverse=True) and scores[-1] == res.best_score


@pytest.mark.parametrize("objective, key", [("latency", "total_cycles"),
                                            ("energy", "energy_pj")])
def test_objectives(objective: str, key: str) -> None:
    res = search(gemm("g", 24, 20, 36), load_accelerator("edge_8x8_ws"), "random",
                 objective=objective, max_evals=2000, progress=False)
    assert res.best_score == pytest.approx(getattr(res.result, key))


def test_a_cap_no_mapping_meets_is_a_clear_error() -> None:
    with pytest.raises(SearchError, match=r"no legal mapping found on 'edge_8x8_ws' by random"):
        search(gemm("g", 24, 20, 36), load_accelerator("edge_8x8_ws"), "random",
               objective=Objective("edp", max_cycles=10), max_evals=500, progress=False)


def test_bad_arguments() -> None:
    accel, layer = load_accelerator("edge_8x8_ws"), gemm("g", 4, 4, 4)
    with pytest.raises(SearchError, match=r"strategy must be one of \['exhaustive', "):
        search(layer, accel, "bayes")
    with pytest.raises(SearchError, match=r"max_evals must be a positive integer, not 0"):
        search(layer, accel, "random", max_evals=0)
    with pytest.raises(ObjectiveError, match=r"objective must be one of \['edp', 'energy', "
                                             r"'latency'\], not 'area'"):
        Objective("area")
    assert set(STRATEGIES) == {"exhaustive", "random", "annealing", "genetic", "exact"}


def test_time_budget_stops_early() -> None:
    res = search(conv("c", 64, 64, 28, 3, padding=1), load_accelerator("edge_8x8_ws"),
                 "random", max_evals=10**9, time_budget_s=0.2, progress=False)
    assert 0 < res.evaluations < 10**9 and np.isfinite(res.best_score)


@pytest.mark.parametrize("strategy, first", [("annealing", 400), ("genetic", 400),
                                              ("random", 4096), ("exhaustive", None)])
def test_a_spent_time_budget_still_costs_the_first_population(strategy: str,
                                                              first: int | None) -> None:
    """A budget already spent when the search starts (a tiny --time-budget shared by many
    shapes) costs the strategy's first population -- 20,000 // 50 annealing chains or
    genetic members, one 4096-row chunk of random, the first chunk of exhaustive's lazy
    enumeration (its own size: ``MappingSpace.genome_chunks``) -- and finds the legal
    mapping in it; before, annealing costed 1 row and random none, and the run ended
    with "no legal mapping"."""
    layer = gemm("g", M=24, N=20, K=36) if strategy == "exhaustive" else \
        conv("c", 64, 64, 28, 3, padding=1)     # (the conv's space is beyond exhaustive's)
    res = search(layer, load_accelerator("edge_8x8_ws"), strategy, max_evals=20_000,
                 time_budget_s=1e-9, progress=False)
    from mapper.search import EVAL_ROWS, EXHAUSTIVE_LIMIT
    from mapper.space import MappingSpace
    if first is None:                   # the search's own space (imperfect factors)
        _, chunks = MappingSpace(layer, load_accelerator("edge_8x8_ws"), True) \
            .genome_chunks(EXHAUSTIVE_LIMIT, EVAL_ROWS)
        first = len(next(iter(chunks)))
    assert res.evaluations == first and np.isfinite(res.best_score)


def test_budget_shares_end_near_the_deadline() -> None:
    """BudgetShares: fixed shares split the budget by weight (at least MIN_SHARE_S);
    shapes searched one after another get the time left by weight, so one that overran
    shrinks the rest's shares and one that finished early grows them."""
    import time

    from mapper.run_control import MIN_SHARE_S, BudgetShares
    shares = BudgetShares(1.0, [1, 3])
    assert shares.static([1, 3]) == [0.25, 0.75]
    assert BudgetShares(1.0, [1, 10**9]).static([1, 10**9])[0] == MIN_SHARE_S
    first = shares.next(1)
    assert 0.24 < first <= 0.25
    time.sleep(0.5)                     # the first shape overran its 0.25 s
    assert 0.4 < shares.next(3) < 0.5   # the rest: what is left of the budget


def test_a_mutation_is_exactly_one_real_move() -> None:
    from mapper.search import _mutate
    from mapper.space import MappingSpace
    space = MappingSpace(conv("c", 16, 32, 14, 3, padding=1), load_accelerator("edge_8x8_ws"))
    g = space.random_genomes(np.random.default_rng(0), 3000)
    m = _mutate(space, g, np.random.default_rng(1))
    diff = m != g
    split = diff[:, :8].any(axis=1)
    # a split move changes one split gene to another of its splits; nothing else
    assert (diff[split, :8].sum(axis=1) == 1).all() and not diff[split, 8:].any()
    assert ((m[:, :8] >= 0) & (m[:, :8] < space.split_counts)).all()
    # a swap move exchanges two positions of one level's order; orders stay permutations
    swap = ~split
    assert (diff[swap].sum(axis=1) == 2).all()
    assert (diff[swap, 8:16].sum(axis=1) % 2 == 0).all()
    for lo in (8, 16):
        assert (np.sort(m[:, lo:lo + 8], axis=1) == np.arange(8)).all()
    assert 0.6 < split.mean() < 0.73                 # 2/3 split moves
    assert diff.any(axis=1).all()                     # never a no-op


def test_scores_do_not_depend_on_the_slice_size(monkeypatch: pytest.MonkeyPatch) -> None:
    import mapper.search as search_mod
    from mapper.space import MappingSpace
    from sim import evaluate_batch
    accel, layer = load_accelerator("edge_8x8_ws"), conv("c", 16, 32, 14, 3, padding=1)
    space = MappingSpace(layer, accel, True)
    g = space.random_genomes(np.random.default_rng(2), 1000)
    batch, valid = space.decode(g)
    arr = evaluate_batch(layer, accel, batch, detail=False)
    want = np.where(valid & arr["legal"], arr["edp"], np.inf)
    for rows in (4096, 7):
        monkeypatch.setattr(search_mod, "EVAL_ROWS", rows)
        ev = search_mod._Evaluator(space, Objective("edp"), "native", 10**6, None, False)
        assert np.array_equal(ev(g), want)
        assert ev.evals == 1000 and ev.best_score == want.min()
    assert np.isfinite(want).sum() > 100
