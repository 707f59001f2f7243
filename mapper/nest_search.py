"""Random and evolutionary search over nest mappings of one layer on a Hierarchy.

The space and its moves are :mod:`mapper.nest_space` (:class:`NestSpace`, re-exported
here). :func:`search` keeps the best legal mapping of a random or an evolutionary
(per-dimension crossover of two parents, then mutate one dimension's split or swap two
loops of one level; truncation selection; ended by :data:`PATIENCE` generations without
improvement) run, seeded explicitly, then polishes it by
coordinate descent over large neighbourhoods (every re-split of one dimension, every
order of one level's loops, trades of a fanout axis or of two levels between two
dimensions, the single moves: one prime factor of one dimension to another level or
fanout axis, or one swap of two loops) from several starts with different spatial
factors, then kicks.

Costs come from :func:`sim.hier_cost_jit.scorer` (compiled; equal to
:func:`sim.hier_cost.evaluate_batch` with ``detail=False``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from dataflows.layer import Layer
from dataflows.nest_mapping import NestMapping
from mapper.nest_space import ND, NestGenomes, NestSearchError, NestSpace
from mapper.nest_descent_jit import (NEIGHBOURS, OBJECTIVE_CODES, REORDERS, RESPLITS,
                                     SPATIAL_TRADES, TEMPORAL_TRADES, descend_rows,
                                     score_rows)
from sim.hier_cost_jit import cost_consts, scorer
from sim.hierarchy import Hierarchy

OBJECTIVES = ("energy", "cycles", "edp")
STRATEGIES = ("random", "evolution")
#: Kicks per round (two mutations of the best, each descended); a round that finds
#: nothing better ends the search.
KICKS = 3
#: Most starting points of the closing descent (the best, then the population's best
#: with other spatial factors).
POLISH_STARTS = 6
#: Bypass choices: each is first screened on ``max_evals // SCREEN_SHARE`` evaluations;
#: the best :data:`SCREEN_KEEP` of them are then searched on ``max_evals``, seeded with
#: their screened best.
SCREEN_SHARE = 5
SCREEN_KEEP = 2
#: The evolution ends after this many generations in a row that do not improve its best
#: legal mapping (its unspent evaluations are not used: the descent stops on its own;
#: before a legal mapping is found no generation counts). On 51
#: layer x hierarchy pairs x 4 seeds (AccelForge's, ZigZag's six, the 5-level edge
#: hierarchy; 2026-12-08) it and a population of 500 gave the same scores as running a
#: population of 1000 to the end (geometric mean 1.0081 against 1.0082 of the best
#: found; 16 against 20 cases over 2 % worse) in 20 % fewer evaluations, 41 % fewer on
#: AccelForge's layers.
PATIENCE = 3
#: Under a time budget the first population is drawn and costed this many rows at a
#: time, the clock checked between (at least one chunk is costed).
FIRST_CHUNK = 100


@dataclass(frozen=True)
class NestSearchResult:
    """The best legal mapping found, its score and how many mappings were costed;
    ``hierarchy``: the bypass choice the mapping is for (:meth:`Hierarchy.bypass_choices`;
    the searched hierarchy itself when no level may bypass) -- cost it on that."""

    mapping: NestMapping
    score: float
    evaluations: int
    objective: str
    strategy: str
    seed: int
    hierarchy: Hierarchy | None = None
    #: :func:`search_factors`: its exact-factor half's result (None: that half found no
    #: legal mapping, or a plain :func:`search`).
    exact: "NestSearchResult | None" = None
    #: Wall-clock seconds the search took (``time.perf_counter``; not compared).
    wall_s: float = field(default=0.0, compare=False)

    @property
    def bypassed(self) -> dict[str, tuple[str, ...]]:
        """Per level, the operands this mapping's bypass choice leaves out."""
        return {} if self.hierarchy is None else self.hierarchy.bypassed


def _score(arr: dict[str, np.ndarray], objective: str) -> np.ndarray:
    """The scores of a scorer's costs (:func:`mapper.nest_descent_jit.score_rows`)."""
    return score_rows(arr["legal"], arr["energy_pj"], arr["total_cycles"],
                      OBJECTIVE_CODES[objective])


def _late(deadline: float | None) -> bool:
    """The wall clock is past ``deadline`` (``time.perf_counter`` seconds; None: never)."""
    return deadline is not None and time.perf_counter() > deadline


def _cycle(space: NestSpace, levels: int) -> tuple[np.ndarray, np.ndarray]:
    """The descent's neighbourhoods, in the order it cycles them (see :func:`_descend`):
    (kinds of :mod:`mapper.nest_descent_jit`, each one's level or dimension)."""
    kinds = [NEIGHBOURS, TEMPORAL_TRADES, SPATIAL_TRADES] + [REORDERS] * levels
    args = [0, 0, 0] + list(range(levels))
    dims = [d for d in range(ND) if space.bounds[d] > 1]
    return (np.array(kinds + [RESPLITS] * len(dims), dtype=np.int64),
            np.array(args + dims, dtype=np.int64))


def _descend(space: NestSpace, consts: tuple, objective: str,
             starts: list[tuple[float, "NestGenomes"]], budget: int,
             deadline: float | None = None) -> tuple[list[tuple[float, "NestGenomes"]], int]:
    """Coordinate descent from each one-row start ``(score, row)``, all in lockstep (one
    cost call per round for every start still descending): each cycles over the
    neighbourhoods -- every re-split of one dimension (:meth:`NestSpace.resplits`),
    every order of one level's loops (:meth:`NestSpace.reorders`), every trade of one
    fanout axis or of two temporal levels between two dimensions
    (:meth:`NestSpace.spatial_trades`, :meth:`NestSpace.temporal_trades`), the single moves
    (:meth:`NestSpace.neighbours`) -- moving to a neighbourhood's best when it is
    strictly better, until a whole cycle improves nothing (a local optimum of those
    neighbourhoods, not a proven one), ``budget`` evaluations (shared) are spent or the
    clock passes ``deadline``. Returns (the end point of each start, evaluations).
    Compiled whole (:func:`mapper.nest_descent_jit.descend_rows`; ``consts``:
    :func:`sim.hier_cost_jit.cost_consts`)."""
    if not starts:
        return [], 0
    hk, ha = _cycle(space, starts[0][1].temporal.shape[1])
    T, Od, A, s, spent = descend_rows(
        np.concatenate([g.temporal for _, g in starts]),
        np.concatenate([g.order for _, g in starts]),
        np.concatenate([g.axes for _, g in starts]),
        np.array([v for v, _ in starts], dtype=np.float64), budget,
        0.0 if deadline is None else deadline, hk, ha, *space._hood_consts, consts,
        OBJECTIVE_CODES[objective])
    return [(float(s[j]), NestGenomes(T[j:j + 1], Od[j:j + 1], A[j:j + 1]))
            for j in range(len(starts))], int(spent)


def search(layer: Layer, hier: Hierarchy, strategy: str = "evolution",
           objective: str = "energy", max_evals: int = 20000, population: int = 500,
           seed: int = 0, imperfect: bool = False, polish: bool = True,
           input_reuse: str | None = None, seeds: tuple[NestMapping, ...] = (),
           time_budget_s: float | None = None) -> NestSearchResult:
    """The best legal nest mapping of ``layer`` on ``hier`` under ``objective`` found
    in ``max_evals`` evaluations: the random or evolutionary run (children: a per-dimension
    crossover of two parents, then a mutation; it ends early after :data:`PATIENCE`
    generations that do not improve its best) on half of them, then (``polish``)
    :func:`_descend` from its best and from up to :data:`POLISH_STARTS` members of the
    final population with other spatial factors, then kicks of the best (two mutations,
    descended again) on what is left, in rounds of :data:`KICKS` until a round improves
    nothing. A heuristic: the result is the best mapping seen, a local optimum, not a
    proven one. A hierarchy whose levels ``may_bypass`` operands has every bypass choice
    screened (:data:`SCREEN_SHARE`), then the best :data:`SCREEN_KEEP` searched with the
    whole budget (``evaluations`` is the sum), and the result names the choice
    (``hierarchy``, ``bypassed``).
    ``input_reuse``: the cost model's input rule (:data:`sim.hier_cost.INPUT_REUSE`;
    default its ``DEFAULT_INPUT_REUSE``). ``seeds``: mappings placed in the first
    population (e.g. another search's best; :meth:`NestSpace.genomes` refuses one
    outside this space), so the result is never worse than the best legal seed; the
    first population also holds :meth:`NestSpace.outermost` (every loop at the top).
    ``time_budget_s``: the search also stops once that many wall-clock seconds have
    passed (the result then depends on the machine's speed): its first population is
    then drawn :data:`FIRST_CHUNK` rows at a time with the clock checked between (at
    least the seeds, the outermost row and one chunk are costed); a bypass screen gets a
    fifth of it, shared by the choices, and the full searches share the rest."""
    if strategy not in STRATEGIES:
        raise NestSearchError(f"strategy must be one of {list(STRATEGIES)}, not {strategy!r}")
    if objective not in OBJECTIVES:
        raise NestSearchError(f"objective must be one of {list(OBJECTIVES)}, "
                              f"not {objective!r}")
    if max_evals < 1 or population < 2:
        raise NestSearchError("max_evals must be >= 1 and population >= 2")
    if time_budget_s is not None and not time_budget_s > 0:
        raise NestSearchError(f"time_budget_s must be > 0 seconds, not {time_budget_s!r}")
    t_start = time.perf_counter()
    deadline = None if time_budget_s is None else t_start + time_budget_s
    from sim.hier_cost_scalar import DEFAULT_INPUT_REUSE, check_input_reuse
    reuse = DEFAULT_INPUT_REUSE if input_reuse is None else input_reuse
    check_input_reuse(reuse)
    choices = hier.bypass_choices()
    if len(choices) > 1:                    # screen every bypass choice, then search the best
        screen, screened, spent = max(1, max_evals // SCREEN_SHARE), [], 0
        screen_s = None if time_budget_s is None else \
            time_budget_s / SCREEN_SHARE / len(choices)
        for h in choices:
            try:
                r = search(layer, h, strategy, objective, screen, population, seed,
                           imperfect, polish, reuse, seeds, screen_s)
            except NestSearchError:
                spent += screen
                continue
            spent += r.evaluations
            screened.append(r)
        if not screened:
            raise NestSearchError(f"layer {layer.name!r}: no legal mapping on {hier.name!r} "
                                  f"under any of its {len(choices)} bypass choices; enlarge "
                                  f"the buffers or max_evals")
        screened.sort(key=lambda r: r.score)
        found = []
        keep = screened[:SCREEN_KEEP]
        for i, r in enumerate(keep):
            left_s = None if deadline is None else \
                max(1e-3, (deadline - time.perf_counter()) / (len(keep) - i))
            full = search(layer, r.hierarchy, strategy, objective, max_evals, population, seed,
                          imperfect, polish, reuse, seeds + (r.mapping,), left_s)
            spent += full.evaluations
            found.append(full)
        best_r = min(found, key=lambda r: r.score)
        return NestSearchResult(mapping=best_r.mapping, score=best_r.score, evaluations=spent,
                                objective=objective, strategy=strategy, seed=seed,
                                hierarchy=best_r.hierarchy,
                                wall_s=time.perf_counter() - t_start)

    _cost = scorer(layer, hier, reuse == "window")
    _consts = cost_consts(layer, hier, reuse == "window")
    space = NestSpace(layer, hier, imperfect)
    rng = np.random.default_rng(seed)
    first = NestGenomes.concat(space.genomes(seeds), space.outermost()) if seeds \
        else space.outermost()
    first = first.take(np.arange(min(len(first), max_evals)))
    want = max(0, min(population, max_evals) - len(first))
    if deadline is None:
        pop = NestGenomes.concat(first, space.random(rng, want))
        scores = _score(_cost(pop.batch), objective)
    else:                               # drawn in chunks, so a small budget is kept
        pop, scores = first, _score(_cost(first.batch), objective)
        while want > 0 and not (len(pop) > len(first) and _late(deadline)):
            part = space.random(rng, min(FIRST_CHUNK, want))
            pop = NestGenomes.concat(pop, part)
            scores = np.concatenate([scores, _score(_cost(part.batch), objective)])
            want -= len(part)
    evals = len(pop)
    best_i = int(np.argmin(scores))
    best = (float(scores[best_i]), space.to_mapping(pop, best_i))
    best_g = pop.take(np.array([best_i]))
    if polish:                              # the budget: half for the descent
        total = max_evals
        max_evals = max(len(pop), total - total // 2)
        descent = total - max_evals
    stale = 0                               # generations since the best improved
    while evals < max_evals and not _late(deadline) and stale < PATIENCE:
        n = min(population, max_evals - evals)
        if strategy == "random":
            kids = space.random(rng, n)
        else:
            keep = np.argsort(scores, kind="stable")[:max(2, population // 5)]
            ia = keep[rng.integers(0, len(keep), n)]
            kids = space.mutate(rng, space.cross(rng, pop, ia,
                                                 keep[rng.integers(0, len(keep), n)]))
        ks = _score(_cost(kids.batch), objective)
        evals += len(kids)
        i = int(np.argmin(ks))
        # a generation is stale when it does not improve a legal best (while nothing
        # legal is found the evolution goes on: the budget is what stops that search)
        stale = stale + 1 if strategy == "evolution" and math.isfinite(best[0]) else 0
        if ks[i] < best[0]:
            best = (float(ks[i]), space.to_mapping(kids, i))
            best_g = kids.take(np.array([i]))
            stale = 0
        if strategy == "evolution":
            pop = NestGenomes.concat(pop, kids)
            scores = np.concatenate([scores, ks])
            top = np.argsort(scores, kind="stable")[:population]
            pop, scores = pop.take(top), scores[top]
    if polish and math.isfinite(best[0]):
        # coordinate descent from the best and then the best members of the final
        # population with other spatial factors, while the descent's budget lasts; what
        # is left then goes to kicks (two mutations of the best, descended again)
        starts = [(best[0], best_g)]
        if strategy == "evolution":
            seen = {best_g.axes[0].tobytes()}
            for j in np.argsort(scores, kind="stable"):
                key = pop.axes[j].tobytes()
                if len(starts) >= POLISH_STARTS or not math.isfinite(scores[j]):
                    break
                if key not in seen:
                    seen.add(key)
                    starts.append((float(scores[j]), pop.take(np.array([j]))))
        ends, spent = _descend(space, _consts, objective, starts, descent, deadline)
        left = descent - spent
        evals += spent
        for g_score, g in ends:
            if g_score < best[0]:
                best, best_g = (g_score, space.to_mapping(g, 0)), g
        while left > KICKS and not _late(deadline):   # rounds of KICKS kicks, descended
            kicks = space.mutate(rng, space.mutate(rng, best_g.take(np.zeros(KICKS, int))))
            k_scores = _score(_cost(kicks.batch), objective)
            left -= KICKS
            evals += KICKS
            ok = [j for j in range(KICKS) if math.isfinite(k_scores[j])]
            ends, spent = _descend(space, _consts, objective,
                                   [(float(k_scores[j]), kicks.take(np.array([j])))
                                    for j in ok], left, deadline)
            left -= spent
            evals += spent
            g_score, g = min(ends, key=lambda e: e[0], default=(math.inf, None))
            if g_score >= best[0]:
                break
            best, best_g = (g_score, space.to_mapping(g, 0)), g
    if not math.isfinite(best[0]):
        raise NestSearchError(f"layer {layer.name!r}: no legal mapping on {hier.name!r} in "
                              f"{evals} evaluations; enlarge the buffers or max_evals")
    return NestSearchResult(mapping=best[1], score=best[0], evaluations=evals,
                            objective=objective, strategy=strategy, seed=seed, hierarchy=hier,
                            wall_s=time.perf_counter() - t_start)


def search_factors(layer: Layer, hier: Hierarchy, strategy: str = "evolution",
                   objective: str = "energy", max_evals: int = 20000, seed: int = 0,
                   input_reuse: str | None = None,
                   time_budget_s: float | None = None) -> NestSearchResult:
    """:func:`search` over exact factors on the first half of ``max_evals``, then over
    imperfect factors (ceil splits: Q 14 over a 4-wide axis) on the rest, seeded with the
    exact search's best (an exact split is an imperfect one too), so the result is never
    worse than the exact search's; ``evaluations`` counts both, ``exact`` is the exact
    half's result. Either search finding nothing legal is tolerated while the other
    finds something. ``time_budget_s`` (wall-clock seconds, see :func:`search`): half for
    each search (the second also gets what the first left)."""
    first, runs, exact = max(1, max_evals - max_evals // 2), [], None
    t_start = time.perf_counter()
    deadline = None if time_budget_s is None else t_start + time_budget_s
    try:
        exact = search(layer, hier, strategy, objective, first, seed=seed,
                       input_reuse=input_reuse,
                       time_budget_s=None if time_budget_s is None else time_budget_s / 2)
        runs.append(exact)
    except NestSearchError:
        pass
    seeds = (runs[0].mapping,) if runs else ()
    try:
        runs.append(search(layer, hier, strategy, objective, max(1, max_evals // 2),
                           seed=seed, imperfect=True, input_reuse=input_reuse, seeds=seeds,
                           time_budget_s=None if deadline is None else
                           max(1e-3, deadline - time.perf_counter())))
    except NestSearchError:
        if not runs:
            raise NestSearchError(f"layer {layer.name!r}: no legal mapping on {hier.name!r} "
                                  f"in {max_evals} evaluations (exact and imperfect "
                                  f"factors); enlarge the buffers or --max-evals") from None
    best = min(runs, key=lambda r: r.score)
    return NestSearchResult(mapping=best.mapping, score=best.score,
                            evaluations=sum(r.evaluations for r in runs),
                            objective=objective, strategy=strategy, seed=seed,
                            hierarchy=best.hierarchy, exact=exact,
                            wall_s=time.perf_counter() - t_start)


__all__ = ["NestGenomes", "NestSearchError", "NestSearchResult", "NestSpace", "search",
           "search_factors"]
