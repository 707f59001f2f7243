"""Map every layer of a network: search each distinct layer shape once, reuse the rest.

``map_network(net, accel, ...)`` returns the same :class:`~sim.result.NetworkResult`
as ``sim.simulate`` (so ``coforge map`` writes the ``simulate`` schema), each layer's
``mapping`` being the one the search chose, plus the per-shape search records.
A wall-clock budget is shared among the distinct shapes in proportion to their MACs.
A layer whose search finds nothing legal stops the run with an error naming it.
Each layer is searched as its PE datapath plan's timing layer
(:func:`sim.datapath.plan_datapath`: bit-fusion packs channels, bit-serial counts in
steps) and its result read back as the true layer's; the search records (scores,
history, mapping) stay the timing layer's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from dataflows.layer import Layer
from dataflows.network import Network
from mapper.objective import Objective
from mapper.search import SearchResult, search
from sim.datapath import plan_datapath
from sim.result import NetworkResult
from sim.spec import Accelerator


@dataclass(frozen=True)
class NetworkMapping:
    """The mapped network and one search record per distinct layer shape."""

    result: NetworkResult
    searches: tuple[SearchResult, ...]


def _shape_key(layer: Layer) -> tuple:
    d = layer.to_dict()
    d.pop("name")
    return tuple(sorted((k, str(v)) for k, v in d.items()))


def map_network(net: Network, accel: Accelerator, strategy: str = "annealing",
                objective: Objective | str = "edp", max_evals: int = 20_000,
                time_budget_s: float | None = None, seed: int = 0,
                timing: str = "native", progress: bool | None = None,
                check_accumulator: bool = True) -> NetworkMapping:
    """Search a mapping for every distinct layer shape of ``net`` (see module doc).

    ``check_accumulator=False`` lets a configured accumulator narrower than a layer's
    sum range through (see :func:`sim.datapath.plan_datapath`): only for reproducing a
    peer model's convention, such as ZigZag's 16-bit partial sums."""
    layers = net.layers()
    shapes: dict[tuple, Layer] = {}
    for layer in layers:
        shapes.setdefault(_shape_key(layer), layer)
    total_macs = sum(layer.macs for layer in shapes.values())
    found: dict[tuple, SearchResult] = {}
    for key, layer in shapes.items():
        budget = None if time_budget_s is None else \
            max(0.05, time_budget_s * layer.macs / total_macs)
        # PE datapath (sim.datapath): search the timing layer, report the true layer.
        plan = plan_datapath(layer, accel, timing, check_accumulator)
        sr = search(plan.layer, plan.accel, strategy, objective, max_evals, budget, seed,
                    timing, progress=progress)
        found[key] = replace(sr, result=plan.finish(sr.result))
    results = tuple(replace(found[_shape_key(layer)].result, layer=layer.name)
                    for layer in layers)
    res = NetworkResult(network=net.name, arch=accel.name, spec_hash=accel.spec_hash,
                        timing=timing, fidelity="analytic", clock_mhz=accel.clock_mhz,
                        pes=accel.pes, layers=results)
    return NetworkMapping(result=res, searches=tuple(found.values()))
