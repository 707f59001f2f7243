"""The accuracy half of the co-search (:mod:`mapper.dse`): measured accuracy per design,
the per-layer sensitivity table, and the HAWQ-V3 / HAQ-style bit allocators.

* :func:`accuracy_columns` -- a candidate's compression plan and per-layer bits applied to
  the task's model, its integer-engine top-1 (:func:`mapper.accuracy.measure`, memoised
  per compression key and datapath), weight bytes and additive proxy, and the
  compressed workload the cost model maps;
* :func:`sensitivity_of_space` -- the sensitivity table of every ``bits:`` choice;
* :func:`allocate` -- the ``milp`` / ``greedy`` strategies.

This module imports :mod:`mapper.dse` only inside functions (it is imported by it).
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from dataflows.errors import CoforgeError
from dataflows.network import Network
from mapper.hw_space import HardwareSpace
from sim.spec import Accelerator

if TYPE_CHECKING:
    from mapper.dse import AccuracyTask, DseSettings, _Runner


#: Per-process memo of loaded accuracy tasks and of measured accuracies. Pure caches of
#: pure functions (same inputs, same figure): they change no result, only repeat work.
_TASKS: dict[AccuracyTask, tuple[Any, Any, Any]] = {}
_MEASURED: dict[tuple[Any, ...], Any] = {}


def _task(task: AccuracyTask) -> tuple[Any, Any, Any]:
    if task not in _TASKS:
        from dataflows.dataset import load_npz
        from dataflows.onnx_model import load_model
        model = load_model(task.onnx)
        _TASKS[task] = (model, load_npz(task.data, model), load_npz(task.calib, model))
    return _TASKS[task]


def design_plan(space: HardwareSpace, index: tuple[int, ...]) -> Any:
    """The :class:`~dataflows.compress.plan.CompressionPlan` of candidate ``index``
    (None without pruning or rank choices)."""
    comp = space.layer_compression(index)
    if not comp:
        return None
    from dataflows.compress.plan import CompressionPlan, LayerCompression, Prune
    return CompressionPlan({n: LayerCompression(prune=Prune.parse(c.get("prune", "none")),
                                                rank=c.get("rank"))
                            for n, c in comp.items()})


def design_quant(space: HardwareSpace, index: tuple[int, ...], layer_names: Iterable[str]
                 ) -> dict[str, Any]:
    """Layer name -> :class:`~sim.int_network.LayerQuant` of candidate ``index`` for every
    MAC layer of the (compressed) model; a factor ``fc.lr0`` takes ``fc``'s bits."""
    from dataflows.compress.lowrank import source_layer
    from mapper.hw_space import parse_bits_choice
    from sim.int_network import LayerQuant
    bits = space.layer_bits(index) if space.precision is not None else {}
    out = {}
    for name in layer_names:
        src = source_layer(name)
        if src in bits:
            w, a = parse_bits_choice(bits[src])
            out[name] = LayerQuant(weight_bits=w, input_bits=a)
    return out


def accuracy_columns(space: HardwareSpace, index: tuple[int, ...], net: Network,
                      accel: Accelerator, settings: DseSettings, row: dict[str, Any]
                      ) -> Network:
    """Measure candidate ``index``'s accuracy into ``row``; return the network to cost
    (the compressed model's workload at the candidate's bits)."""
    from dataflows.compress.apply import compress_model
    from dataflows.model_network import model_network
    from dataflows.onnx_model import mac_nodes
    from mapper.accuracy import measure, proxy_top1
    from mapper.hw_space import bits_choice, quantize
    from sim.int_network import QuantSettings
    from sim.intref import IntegerDatapath
    assert settings.accuracy is not None
    model, data, calib = _task(settings.accuracy)
    plan = design_plan(space, index)
    cm = compress_model(model, plan) if plan is not None else model
    names = [n.layer_name for n in mac_nodes(cm)]
    quant = design_quant(space, index, names)
    datapath = IntegerDatapath.from_spec(accel)
    memo = (settings.accuracy, json.dumps(space.layer_compression(index), sort_keys=True),
            json.dumps({n: (q.weight_bits, q.input_bits) for n, q in quant.items()},
                       sort_keys=True), datapath)
    if memo not in _MEASURED:
        # ``cm`` is already compressed and ``quant`` names its layers (factors included)
        _MEASURED[memo] = measure(cm, data, calib,
                                  QuantSettings(layers=quant, datapath=datapath))
    m = _MEASURED[memo]
    row["accuracy"] = m.top1
    row["weight_bytes"] = m.weight_bytes
    row["accuracy_proxy"] = None
    if settings.sensitivity is not None and plan is None:
        row["accuracy_proxy"] = proxy_top1(settings.sensitivity, space.layer_bits(index))
    cnet = model_network(cm, net.name, measured_density=plan is not None)
    return quantize(cnet, {n: bits_choice(q.weight_bits, q.input_bits)
                           for n, q in quant.items()}) if quant else cnet


def bits_axes(space: HardwareSpace) -> list[tuple[int, str, tuple[Any, ...]]]:
    """(axis index, layer name, choices) of the space's per-layer ``bits:`` axes."""
    from mapper.hw_space import BITS_PREFIX
    return [(i, n[len(BITS_PREFIX):], vals) for i, (n, vals) in enumerate(space.parameters)
            if n.startswith(BITS_PREFIX)]


def sensitivity_of_space(space: HardwareSpace, task: AccuracyTask) -> dict[str, Any] | None:
    """The sensitivity table of every ``bits:`` choice other than ``w8a8`` (the baseline:
    int8 everywhere) on the task's data (:func:`mapper.accuracy.sensitivity_table`);
    None when the space has no bits axes. Its datapath is the narrowest signed one
    (8 or 16 bits, 32-bit accumulator) that fits every choice."""
    from mapper.accuracy import Choice, sensitivity_table
    from mapper.hw_space import parse_bits_choice
    from sim.int_network import LayerQuant, QuantSettings
    from sim.intref import IntegerDatapath
    axes = bits_axes(space)
    if not axes:
        return None
    model, data, calib = _task(task)
    choices: dict[str, list[Any]] = {}
    widest = 8
    for _, layer, vals in axes:
        for v in vals:
            w, a = parse_bits_choice(v)
            widest = max(widest, w, a)
            if v != "w8a8":
                choices.setdefault(layer, []).append(Choice(LayerQuant(w, a)))
    dp = IntegerDatapath(8 if widest <= 8 else 16, 32)
    start = time.perf_counter()
    table = sensitivity_table(model, data, calib, choices, QuantSettings(datapath=dp))
    table["elapsed_s"] = time.perf_counter() - start
    return table


#: Budget metric of an allocator constraint -> the additive per-layer cost it sums.
_BUDGET_METRICS: dict[str, str] = {"latency_ms": "cycles", "energy_mj": "energy_pj",
                                   "weight_bytes": "weight_bytes"}


def allocate(space: HardwareSpace, net: Network, settings: DseSettings,
              runner: _Runner) -> None:
    """HAWQ-V3 integer program or HAQ-style greedy per hardware candidate (in grid order,
    up to ``max_designs``): per-layer bits minimising the summed NLL sensitivity under
    the first ``latency_ms``/``energy_mj``/``weight_bytes`` upper-bound constraint, the
    layer costs from the analytic model with the default mapping (the design is then
    mapped and costed like any other, and the constraint checked on its real row)."""
    from mapper.allocate import AllocationError, allocate_greedy, allocate_milp, layer_costs
    from mapper.dse import DseError, fpga_resources
    from mapper.hw_space import LAYER_PREFIXES, PRUNE_PREFIX, RANK_PREFIX
    axes = bits_axes(space)
    if not axes:
        raise DseError(f"--strategy {settings.strategy} allocates per-layer bits: the space "
                       "needs a precision section giving some layer a choice")
    if any(n.startswith((PRUNE_PREFIX, RANK_PREFIX)) for n in space.names):
        raise DseError(f"--strategy {settings.strategy} allocates bits only; drop the "
                       "compression section or use --strategy nsga2")
    budget_c = next((c for c in settings.constraints if c.metric in _BUDGET_METRICS
                     and c.op in ("<=", "<")), None)
    if budget_c is None:
        raise DseError(f"--strategy {settings.strategy} needs a budget: --constraint "
                       "latency_ms<=X, energy_mj<=X or weight_bytes<=X")
    table = settings.sensitivity
    assert table is not None
    delta = {(r["layer"], r["choice"]): r["delta_nll"] for r in table["rows"]}
    metric = _BUDGET_METRICS[budget_c.metric]
    options = {layer: list(vals) for _, layer, vals in axes}
    fixed = {n: [c] for n, c in space.fixed_bits} | {
        layer.name: [f"w{layer.precision.weight_bits}a{layer.precision.input_bits}"]
        for layer in net.layers() if layer.name not in options
        and layer.name not in dict(space.fixed_bits) and layer.kind not in ("pool", "add")}
    hw_axes = [i for i, (n, _) in enumerate(space.parameters) if not n.startswith(LAYER_PREFIXES)]
    solve = allocate_milp if settings.strategy == "milp" else allocate_greedy
    candidates = itertools.product(*[range(space.sizes[i]) for i in hw_axes])
    for hw in itertools.islice(candidates, settings.max_designs):
        if runner.out_of_time:
            break
        ix = [0] * len(space.sizes)
        for i, v in zip(hw_axes, hw):
            ix[i] = v
        accel = space.accelerator(tuple(ix))
        clock = accel.clock_mhz
        if settings.target is not None:
            try:
                clock = min(clock, fpga_resources(accel, settings.target)["fmax_mhz"])
            except CoforgeError:
                pass                         # evaluate_design stores why it cannot run
        scale = {"cycles": clock * 1e3, "energy_pj": 1e9, "weight_bytes": 1.0}[metric]
        cost = layer_costs(net, accel, options, metric)
        rest = layer_costs(net, accel, fixed, metric) if fixed else {}
        budget = budget_c.value * scale - sum(v for d in rest.values() for v in d.values())
        penalty = {layer: {o: (0.0 if o == "w8a8" else float(delta[(layer, o)]))
                           for o in opts} for layer, opts in options.items()}
        try:
            alloc = solve(penalty, cost, budget)
        except AllocationError:
            continue                          # no bits meet the budget on this hardware
        for i, layer, vals in axes:
            ix[i] = vals.index(alloc.picks[layer])
        runner.run([tuple(ix)])


def clear_caches() -> None:
    """Forget the memoised tasks and measurements (benchmarks time cold runs)."""
    _TASKS.clear()
    _MEASURED.clear()


__all__ = ["accuracy_columns", "allocate", "bits_axes", "clear_caches", "design_plan",
           "design_quant", "sensitivity_of_space"]
