"""Reports of a network simulation: ``result.json``, ``layers.csv``, a plot, a table.

``result.json`` schema (documented in the README; later tools rely on these names)::

    {"coforge_version", "spec_hash", "network", "arch", "timing", "fidelity",
     "clock_mhz", "layers": [{"name", "macs", "compute_cycles", "stall_cycles",
     "total_cycles", "utilization", "energy_pj", "energy_pj_by_level", "accesses",
     "bytes", "tiles", "iterations", "mapping"}...],
     "totals": {"macs", "compute_cycles", "stall_cycles", "total_cycles", "utilization",
                "energy_pj", "latency_ms", "energy_pj_by_level", "stall_cycles_by_cause",
                "stall_causes_from"},
     "run": {...},                                                           # with run
     "bounds": [{"name", "bound", "glb_buffer", "stream_cycles", "fill_drain_cycles",
                 "glb_stall_cycles", "dram_stall_cycles", "busy_cycles"}...],  # with bounds
     "bottleneck": "bottleneck: compute-bound on 19/21 layers; ...",         # with bounds
     "spec": {...},             # with accel: the full spec (sim.spec_io.dump_accelerator)
     "gain_over_default": {...},                    # coforge map: :func:`gain_over_default`
     "vector_unit": "none: non-GEMM operators not costed"}  # or the unit (sim/vector.py)

With a vector unit in the spec, the passive nodes (pooling, adds, softmax, norms,
activations) are layers too, in graph order, each with ``kind`` and ``vector_ops``, and
energy level ``vector`` (in the totals, the table and the ``vector_pj`` CSV column).

Each layer entry also has ``stall_cycles_by_cause`` (None when not known). Stalls by
cause (:func:`stall_by_cause`) depend on the fidelity, and ``totals.stall_causes_from``
says which: a cycle-model run records its own causes (:data:`CYCLE_STALL_CAUSES`:
DRAM reads waited for, write-backs, GLB bandwidth, bank conflicts, the final
write-back, sparse imbalance); the analytic model has no stall timeline, so its split is
its two bound terms (:data:`ANALYTIC_STALL_CAUSES`: ``glb_port``, the slowest GLB port's
time beyond compute, and ``dram``, the DRAM time beyond that; see below), known only
with ``bounds``. ``layers.csv`` has one ``stall_<cause>_cycles`` column per cause of
both vocabularies, empty for the causes the run's fidelity does not have.

What bounds a layer (:func:`layer_bounds`) comes from the model's own decomposition of
its cycles, never from a guess. Every resource has a busy time over the layer: the
array ``compute_cycles`` (= ``stream`` = ``iterations`` x the datapath's cycles per
step, plus ``fill/drain`` = the per-tile overhead, :mod:`sim.timing`), each GLB's port
``max(read_bytes / read_bytes_per_cycle, write_bytes / write_bytes_per_cycle)`` over the
operands it holds, and DRAM the same over its channels -- the terms the analytic
model's ``total = max(compute, slowest GLB port)`` then ``max(., DRAM)`` (every GLB
double-buffered) or ``+ DRAM`` (otherwise) combines (:mod:`sim.analytic`). The layer is
bound by the busiest resource: ``compute`` or ``fill/drain`` (whichever part of
``compute_cycles`` is larger), ``GLB port`` (with the buffer's name) or ``DRAM``. The
stall split follows the same formula: with every GLB double-buffered the whole stall
belongs to the one resource that sets ``max(busy, DRAM)`` (a GLB port hidden behind a
longer DRAM time stalls nothing); otherwise ``glb_stall = busy - compute`` and
``dram_stall`` is the DRAM time added after it. Both fidelities move the same traffic,
so a cycle-model result's bound is decided from the same resource times; its stalls
split per cause (first-tile fills, write-backs, ...) comes from the cycle run itself
(``Result.stall_cycles_by_cause``; per pass in its ``--trace``), and the analytic split
fields of :class:`LayerBound` are None there.

CSV cells that are text and start with ``=``, ``+``, ``-``, ``@``, tab or carriage return
are prefixed with ``'`` (OWASP "CSV Injection": a spreadsheet would run them as
formulas); ``result.json`` is strict JSON -- a NaN or infinite number is an error
naming the field, never a bare ``NaN``/``Infinity`` token.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from dataflows.dataflow import OPERANDS
from dataflows.errors import CoforgeError
from dataflows.network import Network
from sim.cycle.supply import CAUSES as CYCLE_STALL_CAUSES
from sim.datapath import plan_datapath
from sim.result import NetworkResult, Result
from sim.spec import Accelerator

#: Levels of ``Result.energy_pj_by_level``, in report order.
ENERGY_LEVELS: tuple[str, ...] = ("mac", "pe", "glb", "dram")
#: The analytic model's stall split: its bound terms (:func:`layer_bound`).
ANALYTIC_STALL_CAUSES: tuple[str, ...] = ("glb_port", "dram")
#: Every stall cause a report can show (analytic bound terms, then the cycle model's).
STALL_CAUSES: tuple[str, ...] = ANALYTIC_STALL_CAUSES + tuple(CYCLE_STALL_CAUSES)

CSV_COLUMNS = ("name", "macs", "compute_cycles", "stall_cycles", "total_cycles",
               "utilization", "energy_pj", "mac_pj", "pe_pj", "glb_pj", "dram_pj",
               "vector_pj", "dram_bytes", "tiles", "bound",
               *(f"stall_{c}_cycles" for c in STALL_CAUSES))

#: What can bound a layer (:func:`layer_bounds`), in the order the summary lists them.
BOUNDS: tuple[str, ...] = ("compute", "fill/drain", "GLB port", "DRAM")
#: First characters that make a spreadsheet read a cell as a formula (OWASP CSV Injection).
CSV_FORMULA_PREFIXES: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")


class ReportError(CoforgeError):
    """A report cannot be written as asked (non-finite number, results and spec differ)."""


def csv_safe(value: Any) -> Any:
    """``value`` with a leading ``'`` if it is text a spreadsheet would run as a formula
    (OWASP CSV Injection: cells starting with ``= + - @``, tab or CR); numbers unchanged."""
    if isinstance(value, str) and value.startswith(CSV_FORMULA_PREFIXES):
        return "'" + value
    return value


def _non_finite(value: Any, where: str) -> str | None:
    """The path of the first NaN/infinite float inside ``value`` (None if all finite)."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"{where} = {value!r}"
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, (list, tuple)):
        items = enumerate(value)
    else:
        return None
    for k, v in items:
        found = _non_finite(v, f"{where}[{k!r}]" if where else repr(k))
        if found:
            return found
    return None


def strict_json(doc: Any, name: str = "result.json") -> str:
    """``doc`` as JSON text with ``allow_nan=False``; a non-finite number is a
    :class:`ReportError` naming its field (strict JSON has no NaN or Infinity)."""
    found = _non_finite(doc, "")
    if found:
        raise ReportError(f"{name}: {found} is not a finite number; strict JSON cannot "
                          f"hold it (a model produced a non-finite value: report this run)")
    return json.dumps(doc, indent=1, allow_nan=False)


@dataclass(frozen=True)
class LayerBound:
    """What bounds one layer and the resource times it was decided from (cycles).

    ``busy_cycles`` maps ``compute``, ``glb:<buffer>`` per GLB and ``dram`` to the
    cycles that resource is busy over the layer (see the module docstring);
    ``stream_cycles + fill_drain_cycles == compute_cycles`` and
    ``glb_stall_cycles + dram_stall_cycles == stall_cycles`` of the layer's result
    (analytic results; None for a cycle-model result, whose stalls by cause are in its
    trace).
    """

    layer: str
    bound: str
    glb_buffer: str | None
    stream_cycles: int
    fill_drain_cycles: int
    glb_stall_cycles: int | None
    dram_stall_cycles: int | None
    busy_cycles: dict[str, float]

    @property
    def label(self) -> str:
        """``compute``, ``fill/drain``, ``DRAM`` or ``GLB port (<buffer>)``."""
        return f"GLB port ({self.glb_buffer})" if self.bound == "GLB port" else self.bound

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.layer, "bound": self.bound, "glb_buffer": self.glb_buffer,
                "stream_cycles": self.stream_cycles,
                "fill_drain_cycles": self.fill_drain_cycles,
                "glb_stall_cycles": self.glb_stall_cycles,
                "dram_stall_cycles": self.dram_stall_cycles,
                "busy_cycles": {k: round(v, 3) for k, v in self.busy_cycles.items()}}


def _port_cycles(r: Result, level: str, operands: tuple[str, ...], read_bw: float,
                 write_bw: float) -> float:
    rb = sum(r.bytes[level][op]["reads"] for op in operands)
    wb = sum(r.bytes[level][op]["writes"] for op in operands)
    return max(rb / read_bw, wb / write_bw)


def layer_bound(r: Result, accel: Accelerator, step_cycles: int = 1) -> LayerBound:
    """What bounds the layer of result ``r`` on ``accel`` (module docstring).

    ``step_cycles``: cycles per array step of the layer's PE datapath plan (bit-serial
    operands take several; :func:`sim.datapath.plan_datapath`), so that
    ``stream = iterations x step_cycles``."""
    stream = min(r.compute_cycles, r.iterations * step_cycles)
    busy: dict[str, float] = {"compute": float(r.compute_cycles)}
    for buf in accel.glb:
        busy[f"glb:{buf.name}"] = _port_cycles(r, "glb", buf.operands,
                                               buf.read_bytes_per_cycle,
                                               buf.write_bytes_per_cycle)
    busy["dram"] = _port_cycles(r, "dram", OPERANDS, accel.dram.read_bytes_per_cycle,
                                accel.dram.write_bytes_per_cycle)
    glb_busy = max((v for k, v in busy.items() if k.startswith("glb:")), default=0.0)
    glb_stall = min(r.stall_cycles, max(0, math.ceil(glb_busy) - r.compute_cycles))
    if all(b.double_buffered for b in accel.glb) and \
            math.ceil(busy["dram"]) >= r.compute_cycles + glb_stall:
        glb_stall = 0                   # total = max(busy, DRAM) = DRAM: DRAM's stall
    winner = max(busy, key=lambda k: busy[k])      # first of equals: compute wins ties
    buffer = None
    if winner == "compute":
        bound = "fill/drain" if r.compute_cycles - stream > stream else "compute"
    elif winner == "dram":
        bound = "DRAM"
    else:
        bound, buffer = "GLB port", winner[len("glb:"):]
    analytic = r.fidelity == "analytic"
    return LayerBound(r.layer, bound, buffer, stream, r.compute_cycles - stream,
                      glb_stall if analytic else None,
                      r.stall_cycles - glb_stall if analytic else None, busy)


def layer_bounds(res: NetworkResult, accel: Accelerator,
                 network: Network | None = None) -> list[LayerBound]:
    """:func:`layer_bound` of every layer of ``res`` (simulated on ``accel``); give the
    ``network`` that was simulated when ``pe.mode`` is ``bitserial`` (its layers' cycles
    per step)."""
    if res.spec_hash != accel.spec_hash:
        raise ReportError(f"the results were simulated on {res.arch!r} "
                          f"(spec {res.spec_hash}), not on {accel.name!r} ({accel.spec_hash})")
    steps = {}
    if accel.pe.mode == "bitserial":
        if network is None:
            raise ReportError("bounds of a bitserial accelerator need the simulated network "
                              "(cycles per step differ per layer)")
        steps = {layer.name: plan_datapath(layer, accel, res.timing).step_cycles
                 for layer in network.layers()}
    return [layer_bound(r, accel, steps.get(r.layer, 1)) for r in res.layers]


def bottleneck_summary(bounds: list[LayerBound]) -> str:
    """One line, e.g. ``bottleneck: compute-bound on 19/21 layers; 2 layers DRAM-bound
    (fc, layer4.0.conv1)``."""
    n = len(bounds)
    if not n:
        return "bottleneck: no compute layers"
    groups: dict[str, list[str]] = {}
    for b in bounds:
        groups.setdefault(b.label, []).append(b.layer)
    order = sorted(groups, key=lambda k: (-len(groups[k]), k))
    head, rest = order[0], order[1:]
    parts = [f"{head}-bound on {len(groups[head])}/{n} layers"]
    for label in rest:
        names = groups[label]
        shown = ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
        parts.append(f"{len(names)} layer{'s' if len(names) > 1 else ''} {label}-bound "
                     f"({shown})")
    return "bottleneck: " + "; ".join(parts)


def stall_by_cause(r: Result, bound: LayerBound | None = None) -> dict[str, int] | None:
    """Stall cycles of layer result ``r`` by cause (module docstring): the cycle run's
    own causes when it recorded them, the analytic bound terms ``glb_port``/``dram`` of
    ``bound`` (:func:`layer_bound`) for an analytic result, else None."""
    if r.stall_cycles_by_cause is not None:
        return {c: int(v) for c, v in r.stall_cycles_by_cause.items()}
    if r.fidelity == "analytic" and bound is not None and bound.glb_stall_cycles is not None:
        return {"glb_port": int(bound.glb_stall_cycles),
                "dram": int(bound.dram_stall_cycles or 0)}
    return None


def _layer_causes(res: NetworkResult,
                  bounds: list[LayerBound] | None) -> list[dict[str, int] | None]:
    return [stall_by_cause(r, bounds[i] if bounds is not None else None)
            for i, r in enumerate(res.layers)]


def causes_from(res: NetworkResult, bounds: list[LayerBound] | None = None) -> str | None:
    """Where the stall split comes from: ``"cycle model"``, ``"analytic bound terms"``
    or None when no layer's split is known."""
    causes = _layer_causes(res, bounds)
    if not causes or any(c is None for c in causes):
        return None
    return "cycle model" if res.fidelity == "cycle" else "analytic bound terms"


def totals_by_level(res: NetworkResult, bounds: list[LayerBound] | None = None
                    ) -> tuple[dict[str, float], dict[str, int] | None]:
    """Network energy (pJ) per level and stall cycles per cause (None unless every
    layer's split is known, see :func:`stall_by_cause`)."""
    energy = {lv: sum(r.energy_pj_by_level.get(lv, 0.0) for r in res.layers)
              for lv in _levels(res)}
    causes = _layer_causes(res, bounds)
    if not causes or any(c is None for c in causes):
        return energy, None
    total: dict[str, int] = {}
    for c in causes:
        for k, v in (c or {}).items():
            total[k] = total.get(k, 0) + v
    return energy, total


def _levels(res: NetworkResult) -> tuple[str, ...]:
    """:data:`ENERGY_LEVELS`, plus ``vector`` when a layer ran on the vector unit."""
    vector = any("vector" in r.energy_pj_by_level for r in res.layers)
    return ENERGY_LEVELS + (("vector",) if vector else ())


def gain_over_default(searched: NetworkResult, default: NetworkResult) -> dict[str, Any]:
    """``coforge map``'s gain: the searched network against the same network under the
    default mapping (:mod:`sim.default_mapping`). Ratios are default / searched (> 1:
    the search is better); None where the searched figure is 0."""
    def ratio(a: float, b: float) -> float | None:
        return a / b if b else None
    d_edp = default.total_cycles * default.energy_pj
    s_edp = searched.total_cycles * searched.energy_pj
    return {"default_total_cycles": default.total_cycles,
            "default_energy_pj": default.energy_pj,
            "default_latency_ms": default.latency_ms,
            "total_cycles": searched.total_cycles, "energy_pj": searched.energy_pj,
            "latency_ms": searched.latency_ms,
            "cycles_gain": ratio(default.total_cycles, searched.total_cycles),
            "energy_gain": ratio(default.energy_pj, searched.energy_pj),
            "edp_gain": ratio(d_edp, s_edp)}


def gain_line(gain: dict[str, Any]) -> str:
    """One line of :func:`gain_over_default`, e.g. ``gain over the default mapping:
    cycles 1.52x (12,000 -> 7,900), energy 1.10x (1.2000 -> 1.0900 mJ), EDP 1.67x``."""
    def x(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.3f}x"
    return (f"gain over the default mapping (default / searched, > 1 is better): cycles "
            f"{x(gain['cycles_gain'])} ({gain['default_total_cycles']:,} -> "
            f"{gain['total_cycles']:,}), energy {x(gain['energy_gain'])} "
            f"({gain['default_energy_pj'] / 1e9:.4f} -> {gain['energy_pj'] / 1e9:.4f} mJ), "
            f"EDP {x(gain['edp_gain'])}")


def coforge_version() -> str:
    """Installed coforge version (``0+unknown`` when run from a bare checkout)."""
    try:
        return version("coforge")
    except PackageNotFoundError:
        return "0+unknown"


#: How ``result.json``'s ``"spec"`` writes an unlimited (``.inf``) bandwidth: strict JSON
#: has no infinity.
UNLIMITED = "inf"


def _map_floats(value: Any, fn: Any) -> Any:
    if isinstance(value, dict):
        return {k: _map_floats(v, fn) for k, v in value.items()}
    if isinstance(value, list):
        return [_map_floats(v, fn) for v in value]
    return fn(value)


def spec_dict(accel: Accelerator) -> dict[str, Any]:
    """The full spec as plain data: :func:`sim.spec_io.dump_accelerator`'s YAML, parsed,
    with an unlimited bandwidth as the string :data:`UNLIMITED` (:func:`spec_from_dict`
    builds the same spec, same hash, back from it)."""
    from sim.spec_io import dump_accelerator
    from sim.yaml_io import loads_yaml
    return _map_floats(loads_yaml(dump_accelerator(accel), f"spec {accel.name!r}"),
                       lambda v: UNLIMITED if isinstance(v, float) and math.isinf(v)
                       and v > 0 else v)


def spec_from_dict(data: dict[str, Any], source: str = "result.json spec") -> Accelerator:
    """The :class:`Accelerator` of a ``result.json`` ``"spec"`` (:func:`spec_dict`)."""
    from sim.spec_io import accelerator_from_dict
    data = _map_floats(data, lambda v: math.inf if v == UNLIMITED else v)
    energy = data.get("energy") if isinstance(data, dict) else None
    if isinstance(energy, dict) and isinstance(energy.get("mult_pj"), dict):
        # JSON object keys are text; the spec's multiplier table is keyed by bits
        energy["mult_pj"] = {int(k) if isinstance(k, str) and k.isdigit() else k: v
                             for k, v in energy["mult_pj"].items()}
    return accelerator_from_dict(data, source)


def result_dict(res: NetworkResult, run: dict[str, Any] | None = None,
                bounds: list[LayerBound] | None = None,
                accel: Accelerator | None = None,
                gain: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``result.json`` document of a network result; ``run`` (e.g. the seed and
    the options that produced it) is recorded under ``"run"`` when given, ``bounds``
    (:func:`layer_bounds`) under ``"bounds"`` with the ``"bottleneck"`` line (and they
    give an analytic result its stalls by cause), the spec ``accel`` it ran on under
    ``"spec"`` and ``gain`` (:func:`gain_over_default`) under ``"gain_over_default"``."""
    if accel is not None and accel.spec_hash != res.spec_hash:
        raise ReportError(f"the results were simulated on {res.arch!r} (spec "
                          f"{res.spec_hash}), not on {accel.name!r} ({accel.spec_hash})")
    causes = _layer_causes(res, bounds)
    energy, stalls = totals_by_level(res, bounds)
    doc = {"coforge_version": coforge_version(), "spec_hash": res.spec_hash,
           "network": res.network, "arch": res.arch, "timing": res.timing,
           "fidelity": res.fidelity, "clock_mhz": res.clock_mhz,
           "layers": [r.to_dict() | {"stall_cycles_by_cause": c}
                      for r, c in zip(res.layers, causes)],
           "totals": res.totals() | {"energy_pj_by_level": energy,
                                     "stall_cycles_by_cause": stalls,
                                     "stall_causes_from": causes_from(res, bounds)}}
    if run is not None:
        doc["run"] = dict(run)
    if bounds is not None:
        doc["bounds"] = [b.to_dict() for b in bounds]
        doc["bottleneck"] = bottleneck_summary(bounds)
    if accel is not None:
        doc["spec"] = spec_dict(accel)
    if gain is not None:
        doc["gain_over_default"] = dict(gain)
    doc["vector_unit"] = res.vector_unit
    return doc


def _dram_bytes(r: Any) -> int:
    return sum(v["reads"] + v["writes"] for v in r.bytes["dram"].values())


def csv_rows(res: NetworkResult,
             bounds: list[LayerBound] | None = None) -> list[dict[str, Any]]:
    """One row per layer with the :data:`CSV_COLUMNS` (``bound`` empty without
    ``bounds``, a ``stall_<cause>_cycles`` cell empty where the cause is not the run's,
    see :func:`stall_by_cause`); text cells pass through :func:`csv_safe`."""
    labels = [b.label for b in bounds] if bounds is not None else [""] * len(res.layers)
    causes = _layer_causes(res, bounds)
    return [{k: csv_safe(v) for k, v in row.items()}
            | {f"stall_{c}_cycles": (cause or {}).get(c, "") for c in STALL_CAUSES}
            for row, cause in zip(_plain_rows(res, labels), causes)]


def _plain_rows(res: NetworkResult, labels: list[str]) -> list[dict[str, Any]]:
    return [{"name": r.layer, "macs": r.macs, "compute_cycles": r.compute_cycles,
             "stall_cycles": r.stall_cycles, "total_cycles": r.total_cycles,
             "utilization": round(r.utilization, 6), "energy_pj": round(r.energy_pj, 3),
             "mac_pj": round(r.energy_pj_by_level["mac"], 3),
             "pe_pj": round(r.energy_pj_by_level["pe"], 3),
             "glb_pj": round(r.energy_pj_by_level["glb"], 3),
             "dram_pj": round(r.energy_pj_by_level["dram"], 3),
             "vector_pj": round(r.energy_pj_by_level.get("vector", 0.0), 3),
             "dram_bytes": _dram_bytes(r), "tiles": r.tiles, "bound": label}
            for r, label in zip(res.layers, labels)]


def cycles_energy_figure(res: NetworkResult) -> Figure:
    """Per-layer stacked cycles (compute/stall) and stacked energy by level."""
    fig = Figure(figsize=(max(8.0, 0.28 * len(res.layers) + 3), 7), layout="constrained")
    ax_c, ax_e = fig.subplots(2, 1, sharex=True)
    x = range(len(res.layers))
    comp = [r.compute_cycles for r in res.layers]
    stall = [r.stall_cycles for r in res.layers]
    ax_c.bar(x, comp, label="compute")
    ax_c.bar(x, stall, bottom=comp, label="stall")
    ax_c.set_ylabel("cycles")
    ax_c.set_title(f"{res.network} on {res.arch} ({res.timing} timing): "
                   f"{res.total_cycles:,} cycles, {res.energy_pj / 1e9:.3f} mJ")
    ax_c.legend()
    bottom = [0.0] * len(res.layers)
    for level in _levels(res):
        vals = [r.energy_pj_by_level.get(level, 0.0) / 1e6 for r in res.layers]
        ax_e.bar(x, vals, bottom=bottom, label=level)
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax_e.set_ylabel("energy (uJ)")
    ax_e.legend()
    ax_e.set_xticks(list(x), [r.layer for r in res.layers], rotation=90, fontsize=7)
    return fig


def _top_cause(causes: dict[str, int] | None, stall: int) -> str:
    """The largest stall cause and its share of the stall, ``-`` without a stall."""
    if not stall:
        return "-"
    if not causes:
        return "?"
    name = max(causes, key=lambda k: causes[k])
    return f"{name} {causes[name] / stall:.0%}"


def _split_line(title: str, parts: dict[str, float], total: float, fmt: str,
                zeros: bool = True) -> str:
    shown = [f"{k} {format(v, fmt)} ({v / total:.1%})" if total else f"{k} {format(v, fmt)}"
             for k, v in parts.items() if v or zeros]
    return f"{title}: " + (", ".join(shown) if shown else "none")


def table(res: NetworkResult, bounds: list[LayerBound] | None = None) -> str:
    """A fixed-width per-layer table with a totals line: cycles, utilization, energy and
    its split per level (uJ), the largest stall cause; then latency, the network's
    energy per level and stalls by cause (:func:`stall_by_cause`); with ``bounds``
    (:func:`layer_bounds`) a ``bound`` column and the bottleneck line at the end."""
    head = (f"{'layer':<24}{'MACs':>14}{'compute':>12}{'stall':>12}{'total':>12}"
            f"{'util':>7}{'energy uJ':>12}"
            + "".join(f"{lv + ' uJ':>10}" for lv in _levels(res))
            + f"  {'top stall cause':<22}")
    head = head + "bound" if bounds is not None else head.rstrip()
    lines = [head, "-" * len(head)]
    causes = _layer_causes(res, bounds)
    for i, r in enumerate(res.layers):
        row = (f"{r.layer[:23]:<24}{r.macs:>14,}{r.compute_cycles:>12,}"
               f"{r.stall_cycles:>12,}{r.total_cycles:>12,}{r.utilization:>7.1%}"
               f"{r.energy_pj / 1e6:>12.2f}"
               + "".join(f"{r.energy_pj_by_level.get(lv, 0.0) / 1e6:>10.2f}"
                         for lv in _levels(res))
               + f"  {_top_cause(causes[i], r.stall_cycles):<22}"
               + (bounds[i].label if bounds is not None else ""))
        lines.append(row.rstrip())
    lines.append("-" * len(head))
    energy, stalls = totals_by_level(res, bounds)
    lines.append(f"{'TOTAL':<24}{res.macs:>14,}{res.compute_cycles:>12,}"
                 f"{res.stall_cycles:>12,}{res.total_cycles:>12,}{res.utilization:>7.1%}"
                 f"{res.energy_pj / 1e6:>12.2f}"
                 + "".join(f"{energy[lv] / 1e6:>10.2f}" for lv in _levels(res)))
    lines.append(f"latency {res.latency_ms:.4f} ms at {res.clock_mhz:g} MHz, "
                 f"energy {res.energy_pj / 1e9:.4f} mJ, timing {res.timing}")
    lines.append(_split_line("energy by level (mJ)", {k: v / 1e9 for k, v in energy.items()},
                             res.energy_pj / 1e9, ".4f")
                 + f"; vector unit: {res.vector_unit}")
    source = causes_from(res, bounds)
    if stalls is None:
        lines.append("stall by cause: not known (an analytic result needs its bounds: the "
                     "split is its GLB-port and DRAM bound terms)")
    else:
        lines.append(_split_line(f"stall by cause ({source}, cycles)", stalls,
                                 res.stall_cycles, ",", zeros=False))
    if bounds is not None:
        lines.append(bottleneck_summary(bounds))
    return "\n".join(lines)


def write_reports(res: NetworkResult, out_dir: str | Path,
                  run: dict[str, Any] | None = None,
                  bounds: list[LayerBound] | None = None,
                  accel: Accelerator | None = None,
                  gain: dict[str, Any] | None = None) -> dict[str, Path]:
    """Write result.json (with ``run``, ``bounds``, the spec ``accel`` and ``gain``
    recorded, see :func:`result_dict`), layers.csv (with each layer's bound and stalls by
    cause) and cycles_energy.png into ``out_dir``.

    A non-finite number in the results is a :class:`ReportError` before any file is
    written."""
    text = strict_json(result_dict(res, run, bounds, accel, gain)) + "\n"
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "result.json", "csv": out / "layers.csv",
             "png": out / "cycles_energy.png"}
    paths["json"].write_text(text)
    with paths["csv"].open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(csv_rows(res, bounds))
    cycles_energy_figure(res).savefig(paths["png"], dpi=110)
    return paths
