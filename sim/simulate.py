"""Simulate a layer or a whole network on an accelerator.

``simulate(workload, accel, mapping=None, timing="native", fidelity="analytic")``
maps each compute layer (the default mapping heuristic unless a mapping is given),
costs it and returns a :class:`~sim.result.NetworkResult`. Identical layer shapes
are costed once. Layers run one after another (cycles add).

``fidelity="cycle"`` runs the cycle-approximate model (:mod:`sim.cycle`) with the
memory model ``memory`` (default :class:`sim.cycle.BufferedMemory`: the spec's
bandwidths and double buffering; its default mapping is the heuristic one);
``trace`` names a CSV file that receives one row per tile pass of every layer
(:data:`sim.cycle.COLUMNS`), written as the passes are walked: a cycle run keeps
running totals only, so its memory does not grow with the tile count (the trace
grows on disk instead; a failed run leaves no trace file). The CLI's ``--fidelity
cycle --trace FILE`` maps onto exactly these arguments; with an accelerator read
from a SCALE-Sim ``.cfg`` and ``--timing scalesim`` it should also pass
``memory=ScaleSimMemory.from_cfg(cfg)`` (SCALE-Sim's USER-mode memory, its own fold
order), which reproduces SCALE-Sim's cycle and stall counts.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from dataclasses import replace

from dataflows.errors import CoforgeError
from dataflows.layer import Layer
from dataflows.mapping import Mapping
from dataflows.network import Network
from pathlib import Path
from typing import IO, Any, Callable, TextIO

import numpy as np

from sim.analytic import evaluate
from sim.cycle.engine import COLUMNS, CycleRun, MemoryModel, TileBreakdown, simulate_cycle
from sim.cycle.supply import BufferedMemory
from sim.datapath import plan_datapath
from sim.default_mapping import default_mapping
from sim.result import NetworkResult, Result
from sim.sparse.engine import check_tensors, with_measured_density
from sim.spec import Accelerator
from sim.vector import vector_unit_line, with_vector_layers

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
                 tensors: dict[str, Any] | None = None,
                 sink: Callable[[TileBreakdown], None] | None = None) -> CycleRun:
    """One layer's cycle run; no per-pass rows are kept (bounded memory): ``sink``, if
    given, receives them range by range, in cycles."""
    if tensors:              # the default mapping search sees the tensors' densities
        layer = with_measured_density(layer, tensors)
    plan = plan_datapath(layer, accel, timing)             # see simulate_layer
    lay, acc, memory = plan.layer, plan.accel, plan.memory(memory)
    model = memory if memory is not None else BufferedMemory()
    m = mapping if mapping is not None else model.mapping_for(lay, acc)

    def rows(part: TileBreakdown) -> None:
        if sink is not None:
            sink(TileBreakdown(part.layer, plan.finish_columns(part.columns)))

    run = simulate_cycle(lay, acc, m, timing, model, tensors=tensors, breakdown=False,
                         trace=rows if sink is not None else None)
    stalls = {c: v * plan.step_cycles for c, v in run.stall_by_cause().items()}
    return CycleRun(replace(plan.finish(run.result),   # causes in cycles, as the trace
                            stall_cycles_by_cause=stalls), None, stalls)


def simulate(workload: Layer | Network, accel: Accelerator,
             mapping: Mapping | dict[str, Mapping] | None = None, timing: str = "native",
             fidelity: str = "analytic", trace: str | Path | None = None,
             tensors: dict[str, Any] | None = None,
             memory: MemoryModel | None = None,
             vector_ops: dict[str, tuple[str, ...]] | None = None,
             norm: str = "layernorm") -> NetworkResult:
    """Simulate ``workload``; ``mapping`` may be one Mapping (single layer) or a dict
    from layer name to Mapping (others use the default).

    With a vector unit in the spec (``accel.vector``) the passive nodes (pooling,
    residual adds, softmax, norms, activations) are costed on it in closed form, the
    same in both fidelities (:mod:`sim.vector`; ``vector_ops`` overrides the operator
    kinds of named nodes, ``norm`` is the kind of norm nodes) and appear among the
    layers in graph order; without one they are left out and ``vector_unit`` says so.

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
    if fidelity == "cycle" and trace is not None:
        try:
            with open(trace, "w", newline="", encoding="utf-8") as f:
                runs = _cycle_runs(net, accel, mapping, timing, memory, tensors, _Trace(f))
        except BaseException:      # no half-written trace (a failed layer, Ctrl-C)
            if Path(trace).is_file():
                Path(trace).unlink()
            raise
        results = [r.result for r in runs]
    elif fidelity == "cycle":
        results = [r.result for r in _cycle_runs(net, accel, mapping, timing, memory, tensors)]
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
    results = with_vector_layers(net, accel, results, fidelity, timing, vector_ops, norm)
    return NetworkResult(network=net.name, arch=accel.name, spec_hash=accel.spec_hash,
                         timing=timing, fidelity=fidelity, clock_mhz=accel.clock_mhz,
                         pes=accel.pes,
                         layers=tuple(results), vector_unit=vector_unit_line(accel))


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


class _Trace:
    """The ``trace`` CSV, written range by range as the cycle model walks the passes
    (header before the first row). Rows of a layer shape that recurs are also spooled
    to a temporary file (binary columns) and replayed under the later layers' names,
    so neither the trace nor a repeated shape is ever held in memory."""

    def __init__(self, f: TextIO) -> None:
        self.f = f
        self.header = True
        self.spools: dict[tuple, tuple[IO[bytes], list[int]]] = {}

    def write(self, part: TileBreakdown) -> None:
        part.write_csv(self.f, header=self.header)
        self.header = False

    def sink(self, key: tuple | None) -> Callable[[TileBreakdown], None]:
        """Where one layer's rows go: the file, and the spool of ``key`` if given."""
        if key is None:
            return self.write
        spool, parts = self.spools[key] = (tempfile.TemporaryFile(), [])

        def both(part: TileBreakdown) -> None:
            self.write(part)
            for k in COLUMNS:
                np.save(spool, part.columns[k], allow_pickle=False)
            parts.append(len(part))
        return both

    def replay(self, key: tuple, layer: str) -> None:
        spool, parts = self.spools[key]
        spool.seek(0)
        for _ in parts:
            cols = {k: np.load(spool, allow_pickle=False) for k in COLUMNS}
            self.write(TileBreakdown(layer, cols))

    def close(self) -> None:
        for spool, _ in self.spools.values():
            spool.close()


def _cycle_runs(net: Network, accel: Accelerator, mapping: dict[str, Mapping], timing: str,
                memory: MemoryModel | None,
                tensors: dict[str, dict[str, Any]] | None = None,
                trace: _Trace | None = None) -> list[CycleRun]:
    """Cycle runs per compute layer (identical shapes without a given mapping or
    tensors run once); ``trace`` receives every layer's rows, in layer order."""
    cache: dict[tuple, CycleRun] = {}
    runs = []
    tensors = tensors or {}
    shared = [layer for layer in net.layers()
              if layer.name not in mapping and layer.name not in tensors]
    recurs = {k for k, n in Counter(_shape_key(layer) for layer in shared).items() if n > 1}
    try:
        for layer in net.layers():
            if layer.name in mapping or layer.name in tensors:
                runs.append(_cycle_layer(layer, accel, mapping.get(layer.name), timing,
                                         memory, tensors.get(layer.name),
                                         trace.sink(None) if trace else None))
                continue
            key = _shape_key(layer)
            if key not in cache:
                cache[key] = _cycle_layer(layer, accel, None, timing, memory, sink=trace.sink(
                    key if key in recurs else None) if trace else None)
            elif trace is not None:
                trace.replay(key, layer.name)
            run = cache[key]
            runs.append(CycleRun(replace(run.result, layer=layer.name), None, run.stalls))
    finally:
        if trace is not None:
            trace.close()
    return runs
