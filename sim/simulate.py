"""Simulate a layer or a whole network on an accelerator.

``simulate(workload, accel, mapping=None, timing="native", fidelity="analytic")``
maps each compute layer (the default mapping heuristic unless a mapping is given),
costs it and returns a :class:`~sim.result.NetworkResult`. Identical layer shapes
are costed once. Layers run one after another (cycles add).

``fidelity="cycle"`` runs the cycle-approximate model (:mod:`sim.cycle`) with the
memory model ``memory`` (default :class:`sim.cycle.BufferedMemory`: the spec's
bandwidths and double buffering; its default mapping is the heuristic one);
``trace`` names a CSV file that receives one row per tile pass of every layer
(:data:`sim.cycle.COLUMNS`). The CLI's ``--fidelity cycle --trace FILE`` maps onto
exactly these arguments; with an accelerator read from a SCALE-Sim ``.cfg`` and
``--timing scalesim`` it should also pass ``memory=ScaleSimMemory.from_cfg(cfg)``
(SCALE-Sim's USER-mode memory, its own fold order), which reproduces SCALE-Sim's
cycle and stall counts.
"""

from __future__ import annotations

from dataclasses import replace

from dataflows.errors import CoforgeError
from dataflows.layer import Layer
from dataflows.mapping import Mapping
from dataflows.network import Network
from pathlib import Path
from typing import Any

from sim.analytic import evaluate
from sim.cycle.engine import CycleRun, MemoryModel, TileBreakdown, simulate_cycle
from sim.cycle.supply import BufferedMemory
from sim.datapath import plan_datapath
from sim.default_mapping import default_mapping
from sim.result import NetworkResult, Result
from sim.sparse.engine import check_tensors, with_measured_density
from sim.spec import Accelerator

FIDELITIES: tuple[str, ...] = ("analytic", "cycle")


class SimulateError(CoforgeError):
    """A run cannot start: unknown fidelity, mapping given for a whole network, ..."""


def _shape_key(layer: Layer) -> tuple:
    d = layer.to_dict()
    d.pop("name")
    return tuple(sorted((k, str(v)) for k, v in d.items()))


def simulate_layer(layer: Layer, accel: Accelerator, mapping: Mapping | None = None,
                   timing: str = "native") -> Result:
    """Cost one layer (default mapping when ``mapping`` is None).

    The layer runs through its PE datapath plan (:func:`sim.datapath.plan_datapath`):
    the models cost the timing layer (a given ``mapping`` is the timing layer's) and the
    result is read back as the true layer's."""
    plan = plan_datapath(layer, accel, timing)
    lay, acc = plan.layer, plan.accel
    m = mapping if mapping is not None else default_mapping(lay, acc)
    return plan.finish(evaluate(lay, acc, m, timing))


def _cycle_layer(layer: Layer, accel: Accelerator, mapping: Mapping | None, timing: str,
                 memory: MemoryModel | None,
                 tensors: dict[str, Any] | None = None) -> CycleRun:
    if tensors:              # the default mapping search sees the tensors' densities
        layer = with_measured_density(layer, tensors)
    plan = plan_datapath(layer, accel, timing)             # see simulate_layer
    lay, acc, memory = plan.layer, plan.accel, plan.memory(memory)
    model = memory if memory is not None else BufferedMemory()
    m = mapping if mapping is not None else model.mapping_for(lay, acc)
    run = simulate_cycle(lay, acc, m, timing, model, tensors=tensors)
    breakdown = TileBreakdown(run.breakdown.layer, plan.finish_columns(run.breakdown.columns))
    return CycleRun(replace(plan.finish(run.result),   # causes in cycles, as the breakdown
                            stall_cycles_by_cause=breakdown.stall_by_cause()), breakdown)


def simulate(workload: Layer | Network, accel: Accelerator,
             mapping: Mapping | dict[str, Mapping] | None = None, timing: str = "native",
             fidelity: str = "analytic", trace: str | Path | None = None,
             tensors: dict[str, Any] | None = None,
             memory: MemoryModel | None = None) -> NetworkResult:
    """Simulate ``workload``; ``mapping`` may be one Mapping (single layer) or a dict
    from layer name to Mapping (others use the default).

    ``trace`` (CSV path) and ``memory`` need ``fidelity="cycle"``. ``tensors``
    (``{layer_name: {"weight": ndarray, "input": ndarray}}``, either key optional; shapes
    in :mod:`sim.sparse.engine`) gives layers' actual operands to the sparse engine:
    stored bits, effectual MACs and the skipping schedule come from their nonzeros
    (layers without tensors use their statistical densities). Tensors need
    ``fidelity="cycle"``: the analytic model is the statistical one.
    """
    if fidelity not in FIDELITIES:
        raise SimulateError(f"fidelity must be one of {list(FIDELITIES)}, not {fidelity!r}")
    if fidelity != "cycle" and (trace is not None or memory is not None):
        raise SimulateError("trace and memory need fidelity='cycle' (the analytic model "
                            "has no per-tile timeline)")
    if tensors is not None and fidelity != "cycle":
        raise SimulateError("tensors need fidelity='cycle' (the analytic model uses the "
                            "layers' statistical densities, see sim.sparse)")
    if tensors is not None and accel.pe.mode == "bitfusion":
        raise SimulateError("tensors with pe.mode 'bitfusion' are not modelled (fused "
                            "words regroup the reduction); use pe.mode 'fixed' or drop tensors")
    if isinstance(workload, Layer):
        net = Network.chain(workload.name, [workload])
    else:
        net = workload
    if isinstance(mapping, Mapping):
        if len(net) != 1:
            raise SimulateError("a single Mapping needs a single layer; pass a dict "
                                "{layer_name: Mapping} for a network")
        mapping = {net.layers()[0].name: mapping}
    mapping = mapping or {}
    tensors = _checked_tensors(net, tensors or {})
    results = []
    if fidelity == "cycle":
        runs = _cycle_runs(net, accel, mapping, timing, memory, tensors)
        results = [r.result for r in runs]
        if trace is not None:
            with open(trace, "w", newline="", encoding="utf-8") as f:
                for i, r in enumerate(runs):
                    r.breakdown.write_csv(f, header=i == 0)
    else:
        cache: dict[tuple, Result] = {}
        for layer in net.layers():
            if layer.name in mapping:
                results.append(simulate_layer(layer, accel, mapping[layer.name], timing))
                continue
            key = _shape_key(layer)
            if key not in cache:
                cache[key] = simulate_layer(layer, accel, None, timing)
            results.append(replace(cache[key], layer=layer.name))
    return NetworkResult(network=net.name, arch=accel.name, spec_hash=accel.spec_hash,
                         timing=timing, fidelity=fidelity, clock_mhz=accel.clock_mhz,
                         pes=accel.pes,
                         layers=tuple(results))


def _checked_tensors(net: Network, tensors: Any) -> dict[str, dict[str, Any]]:
    """``tensors`` validated against the network: known layer names, fitting shapes."""
    if not isinstance(tensors, dict):
        raise SimulateError(f"tensors must be a dict {{layer_name: {{'weight': array, "
                            f"'input': array}}}}, not {type(tensors).__name__}")
    layers = {layer.name: layer for layer in net.layers()}
    for name, given in tensors.items():
        if name not in layers:
            raise SimulateError(f"tensors name layer {name!r}, which {net.name!r} does not "
                                f"have; its layers: {sorted(layers)[:8]}")
        check_tensors(layers[name], given)
    return tensors


def _cycle_runs(net: Network, accel: Accelerator, mapping: dict[str, Mapping], timing: str,
                memory: MemoryModel | None,
                tensors: dict[str, dict[str, Any]] | None = None) -> list[CycleRun]:
    """Cycle runs per compute layer (identical shapes without a given mapping or
    tensors run once)."""
    cache: dict[tuple, CycleRun] = {}
    runs = []
    tensors = tensors or {}
    for layer in net.layers():
        if layer.name in mapping or layer.name in tensors:
            runs.append(_cycle_layer(layer, accel, mapping.get(layer.name), timing, memory,
                                     tensors.get(layer.name)))
            continue
        key = _shape_key(layer)
        if key not in cache:
            cache[key] = _cycle_layer(layer, accel, None, timing, memory)
        run = cache[key]
        runs.append(CycleRun(replace(run.result, layer=layer.name),
                             TileBreakdown(layer.name, run.breakdown.columns)))
    return runs
