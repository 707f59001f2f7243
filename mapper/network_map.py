"""Map every layer of a network: search each distinct layer shape once, reuse the rest.

``map_network(net, accel, ...)`` returns the same :class:`~sim.result.NetworkResult`
as ``sim.simulate`` (so ``coforge map`` writes the ``simulate`` schema), each layer's
``mapping`` being the one the search chose, plus the per-shape search records.
A wall-clock budget is shared among the distinct shapes in proportion to their MACs
(:class:`mapper.run_control.BudgetShares`: each shape's share from the time left when
its search starts).
A layer whose search finds nothing legal stops the run with an error naming it.
Each layer is searched as its PE datapath plan's timing layer
(:func:`sim.datapath.plan_datapath`: bit-fusion packs channels, bit-serial counts in
steps) and its result read back as the true layer's; the search records (scores,
history, mapping) stay the timing layer's.

Fidelity (:mod:`mapper.rerank`): ``rerank="cycle"`` keeps each shape's ``top`` best
distinct mappings by the analytic objective, costs them with the cycle-approximate
model and chooses the best by the cycle model's value of the same objective; the
network's layers then carry the chosen mappings (``result``: their analytic costs,
``cycle``: their cycle-model costs) while ``searches`` stay the searches' own records
(the analytic best). ``cycle_check=True`` (or any rerank) also costs the chosen mappings
with the cycle model, for the analytic-vs-cycle gap (:attr:`NetworkMapping.cycle`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from dataflows.layer import Layer
from dataflows.network import Network
from mapper.objective import Objective
from mapper.rerank import DEFAULT_TOP, Rerank, check_rerank, cycle_result
from mapper.rerank import rerank as rerank_top
from mapper.run_control import BudgetShares, WorkerDied, deferred, pool_map
from mapper.search import SearchError, SearchResult, search
from sim.analytic import evaluate
from sim.datapath import plan_datapath
from sim.result import NetworkResult
from sim.spec import Accelerator
from sim.vector import vector_unit_line, with_vector_layers

if TYPE_CHECKING:
    from mapper.map_store import MapStore


@dataclass(frozen=True)
class NetworkMapping:
    """The mapped network and one search record per distinct layer shape.

    ``result`` is the analytic model's cost of the chosen mappings; ``cycle`` the cycle
    model's of the same mappings (None unless ``cycle_check`` or a rerank); ``reranks``
    one :class:`~mapper.rerank.Rerank` per distinct shape when re-ranked (else empty)."""

    result: NetworkResult
    searches: tuple[SearchResult, ...]
    cycle: NetworkResult | None = None
    reranks: tuple[Rerank, ...] = ()
    rerank: str | None = None
    top: int | None = None

    @property
    def chosen(self) -> NetworkResult:
        """The result the choice was made on: ``cycle`` when re-ranked, else ``result``."""
        return self.cycle if self.rerank is not None and self.cycle is not None \
            else self.result


def map_network(net: Network, accel: Accelerator, strategy: str = "annealing",
                objective: Objective | str = "edp", max_evals: int = 20_000,
                time_budget_s: float | None = None, seed: int = 0,
                timing: str = "native", progress: bool | None = None,
                check_accumulator: bool = True, rerank: str | None = None,
                top: int = DEFAULT_TOP, cycle_check: bool = False,
                workers: int = 1, store: "MapStore | None" = None) -> NetworkMapping:
    """Search a mapping for every distinct layer shape of ``net`` (see module doc).

    ``rerank`` (None or ``"cycle"``) re-ranks each shape's ``top`` best analytic
    mappings with the cycle model; ``cycle_check`` costs the chosen mappings with the
    cycle model too (always done when re-ranking).

    ``check_accumulator=False`` lets a configured accumulator narrower than a layer's
    sum range through (see :func:`sim.datapath.plan_datapath`): only for reproducing a
    peer model's convention, such as ZigZag's 16-bit partial sums.

    ``workers`` > 1: the cycle-model runs (re-ranking or checking the chosen mappings,
    per shape) go to that many local processes at once
    (:func:`mapper.run_control.pool_map`); the model is deterministic, so the result is
    the same as with one.

    ``store`` (:class:`mapper.map_store.MapStore`): each shape's search and cycle-model
    run are read from it when stored (a stored search is checked: its mapping costed
    again must give its stored result) and written to it as soon as they end, so a
    stopped run resumes where it stopped with the same result."""
    check_rerank(rerank, top)
    layers = net.layers()
    shapes: dict[tuple, Layer] = {}
    for layer in layers:
        shapes.setdefault(layer.shape_key(), layer)
    found: dict[tuple, SearchResult] = {}
    plans: dict[tuple, Any] = {}
    tops: dict[tuple, tuple] = {}
    stored_keys = {k for k in shapes if store is not None and store.search(repr(k))}
    shares = None if time_budget_s is None else BudgetShares(
        time_budget_s, [x.macs for k, x in shapes.items() if k not in stored_keys])
    for key, layer in shapes.items():
        # PE datapath (sim.datapath): search the timing layer, report the true layer.
        plan = plan_datapath(layer, accel, timing, check_accumulator)
        if key in stored_keys:
            stored = store.search(repr(key))
            _check_stored(stored, plan, layer, timing, store)
            found[key], plans[key], tops[key] = stored, plan, stored.top
            continue
        budget = None if shares is None else shares.next(layer.macs)
        sr = search(plan.layer, plan.accel, strategy, objective, max_evals, budget, seed,
                    timing, progress=progress, top_k=top if rerank else 1)
        found[key], plans[key], tops[key] = replace(sr, result=plan.finish(sr.result)), plan, \
            sr.top
        if store is not None:
            with deferred():
                store.put_search(repr(key), found[key])
    # the cycle model per shape (the slow part): re-rank the top mappings, or check the
    # chosen one; in worker processes when asked
    if rerank:
        fn, calls = rerank_top, [(k, (shapes[k], accel, tops[k], objective, timing))
                                 for k in shapes]
    elif cycle_check:
        fn, calls = cycle_result, [(k, (shapes[k], accel, found[k].mapping, timing))
                                   for k in shapes]
    else:
        fn, calls = None, []
    cycled: dict[tuple, Any] = {}
    if store is not None:
        for k, _ in calls:
            got = store.cycle(repr(k))
            if got is not None and isinstance(got, Rerank) == bool(rerank):
                cycled[k] = got
        calls = [(k, a) for k, a in calls if k not in cycled]

    def keep(key: tuple, value: Any) -> None:
        cycled[key] = value
        if store is not None:
            with deferred():
                store.put_cycle(repr(key), value)
    if workers > 1 and len(calls) > 1:
        try:
            pool_map(fn, calls, min(workers, len(calls)), keep)
        except WorkerDied:
            raise SearchError("a cycle-model worker process died (killed by the system, "
                              "e.g. out of memory?); rerun with fewer --workers") from None
    else:
        for k, args in calls:
            keep(k, fn(*args))
    chosen: dict[tuple, tuple] = {}        # key -> (analytic result, cycle result | None)
    reranks: list[Rerank] = []
    for key in shapes:
        if rerank:
            rr, plan = cycled[key], plans[key]
            reranks.append(rr)
            ana = found[key].result if rr.chosen == 0 else \
                plan.finish(evaluate(plan.layer, plan.accel, rr.mapping, timing))
            chosen[key] = (ana, rr.cycle_results[rr.chosen])
        else:
            chosen[key] = (found[key].result, cycled.get(key))

    def network(index: int, fidelity: str) -> NetworkResult:
        results = tuple(replace(chosen[layer.shape_key()][index], layer=layer.name)
                        for layer in layers)
        results = with_vector_layers(net, accel, results, fidelity, timing)  # non-GEMM nodes
        return NetworkResult(network=net.name, arch=accel.name, spec_hash=accel.spec_hash,
                             timing=timing, fidelity=fidelity, clock_mhz=accel.clock_mhz,
                             pes=accel.pes, layers=results,
                             vector_unit=vector_unit_line(accel))

    return NetworkMapping(result=network(0, "analytic"), searches=tuple(found.values()),
                          cycle=network(1, "cycle") if rerank or cycle_check else None,
                          reranks=tuple(reranks), rerank=rerank, top=top if rerank else None)


def _check_stored(stored: SearchResult, plan: Any, layer: Layer, timing: str,
                  store: "MapStore") -> None:
    """A stored search must be this shape's and reproduce its stored analytic result
    (:mod:`mapper.map_store`); otherwise a one-line error naming the store."""
    try:
        again = plan.finish(evaluate(plan.layer, plan.accel, stored.mapping, timing))
    except Exception:                               # a mapping the model refuses
        again = None
    if again != stored.result:
        raise store.edited(layer.name, "search")
