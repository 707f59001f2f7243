"""Simulate a layer or a whole network on an accelerator.

``simulate(workload, accel, mapping=None, timing="native", fidelity="analytic")``
maps each compute layer (the default mapping heuristic unless a mapping is given),
costs it and returns a :class:`~sim.result.NetworkResult`. Identical layer shapes
are costed once. Layers run one after another (cycles add).
"""

from __future__ import annotations

from dataclasses import replace

from dataflows.errors import CoforgeError
from dataflows.layer import Layer
from dataflows.mapping import Mapping
from dataflows.network import Network
from sim.analytic import evaluate
from sim.default_mapping import default_mapping
from sim.result import NetworkResult, Result
from sim.spec import Accelerator

FIDELITIES: tuple[str, ...] = ("analytic",)


class SimulateError(CoforgeError):
    """A run cannot start: unknown fidelity, mapping given for a whole network, ..."""


def _shape_key(layer: Layer) -> tuple:
    d = layer.to_dict()
    d.pop("name")
    return tuple(sorted((k, str(v)) for k, v in d.items()))


def simulate_layer(layer: Layer, accel: Accelerator, mapping: Mapping | None = None,
                   timing: str = "native") -> Result:
    """Cost one layer (default mapping when ``mapping`` is None)."""
    m = mapping if mapping is not None else default_mapping(layer, accel)
    return evaluate(layer, accel, m, timing)


def simulate(workload: Layer | Network, accel: Accelerator,
             mapping: Mapping | dict[str, Mapping] | None = None, timing: str = "native",
             fidelity: str = "analytic") -> NetworkResult:
    """Simulate ``workload``; ``mapping`` may be one Mapping (single layer) or a dict
    from layer name to Mapping (others use the default)."""
    if fidelity not in FIDELITIES:
        raise SimulateError(
            f"fidelity must be one of {list(FIDELITIES)}, not {fidelity!r} (the "
            f"cycle-approximate model is not part of this release)")
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
    cache: dict[tuple, Result] = {}
    results = []
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
