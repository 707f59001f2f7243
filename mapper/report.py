"""Reports of a network simulation: ``result.json``, ``layers.csv``, a plot, a table.

``result.json`` schema (documented in the README; later tools rely on these names)::

    {"coforge_version", "spec_hash", "network", "arch", "timing", "fidelity",
     "clock_mhz", "layers": [{"name", "macs", "compute_cycles", "stall_cycles",
     "total_cycles", "utilization", "energy_pj", "energy_pj_by_level", "accesses",
     "bytes", "tiles", "iterations", "mapping"}...],
     "totals": {"macs", "compute_cycles", "stall_cycles", "total_cycles", "utilization",
                "energy_pj", "latency_ms"},
     "bounds": [{"name", "bound", "glb_buffer", "stream_cycles", "fill_drain_cycles",
                 "glb_stall_cycles", "dram_stall_cycles", "busy_cycles"}...],  # with bounds
     "bottleneck": "bottleneck: compute-bound on 19/21 layers; ..."}         # with bounds

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
split per cause (first-tile fills, write-backs, ...) are in the cycle model's trace
(``--trace``), not in this report (the split fields are None there).

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
from sim.datapath import plan_datapath
from sim.result import NetworkResult, Result
from sim.spec import Accelerator

CSV_COLUMNS = ("name", "macs", "compute_cycles", "stall_cycles", "total_cycles",
               "utilization", "energy_pj", "mac_pj", "pe_pj", "glb_pj", "dram_pj",
               "dram_bytes", "tiles", "bound")

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


def coforge_version() -> str:
    """Installed coforge version (``0+unknown`` when run from a bare checkout)."""
    try:
        return version("coforge")
    except PackageNotFoundError:
        return "0+unknown"


def result_dict(res: NetworkResult, run: dict[str, Any] | None = None,
                bounds: list[LayerBound] | None = None) -> dict[str, Any]:
    """The ``result.json`` document of a network result; ``run`` (e.g. the seed and
    the options that produced it) is recorded under ``"run"`` when given, ``bounds``
    (:func:`layer_bounds`) under ``"bounds"`` with the ``"bottleneck"`` line."""
    doc = {"coforge_version": coforge_version(), "spec_hash": res.spec_hash,
           "network": res.network, "arch": res.arch, "timing": res.timing,
           "fidelity": res.fidelity, "clock_mhz": res.clock_mhz,
           "layers": [r.to_dict() for r in res.layers], "totals": res.totals()}
    if run is not None:
        doc["run"] = dict(run)
    if bounds is not None:
        doc["bounds"] = [b.to_dict() for b in bounds]
        doc["bottleneck"] = bottleneck_summary(bounds)
    return doc


def _dram_bytes(r: Any) -> int:
    return sum(v["reads"] + v["writes"] for v in r.bytes["dram"].values())


def csv_rows(res: NetworkResult,
             bounds: list[LayerBound] | None = None) -> list[dict[str, Any]]:
    """One row per layer with the :data:`CSV_COLUMNS` (``bound`` empty without
    ``bounds``); text cells pass through :func:`csv_safe`."""
    labels = [b.label for b in bounds] if bounds is not None else [""] * len(res.layers)
    return [{k: csv_safe(v) for k, v in row.items()}
            for row in _plain_rows(res, labels)]


def _plain_rows(res: NetworkResult, labels: list[str]) -> list[dict[str, Any]]:
    return [{"name": r.layer, "macs": r.macs, "compute_cycles": r.compute_cycles,
             "stall_cycles": r.stall_cycles, "total_cycles": r.total_cycles,
             "utilization": round(r.utilization, 6), "energy_pj": round(r.energy_pj, 3),
             "mac_pj": round(r.energy_pj_by_level["mac"], 3),
             "pe_pj": round(r.energy_pj_by_level["pe"], 3),
             "glb_pj": round(r.energy_pj_by_level["glb"], 3),
             "dram_pj": round(r.energy_pj_by_level["dram"], 3),
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
    for level in ("mac", "pe", "glb", "dram"):
        vals = [r.energy_pj_by_level[level] / 1e6 for r in res.layers]
        ax_e.bar(x, vals, bottom=bottom, label=level)
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax_e.set_ylabel("energy (uJ)")
    ax_e.legend()
    ax_e.set_xticks(list(x), [r.layer for r in res.layers], rotation=90, fontsize=7)
    return fig


def table(res: NetworkResult, bounds: list[LayerBound] | None = None) -> str:
    """A fixed-width per-layer table with a totals line; with ``bounds``
    (:func:`layer_bounds`) a ``bound`` column and the bottleneck line at the end."""
    head = (f"{'layer':<24}{'MACs':>14}{'compute':>12}{'stall':>12}{'total':>12}"
            f"{'util':>7}{'energy uJ':>12}")
    if bounds is not None:
        head += "  bound"
    lines = [head, "-" * len(head)]
    for i, r in enumerate(res.layers):
        lines.append(f"{r.layer[:23]:<24}{r.macs:>14,}{r.compute_cycles:>12,}"
                     f"{r.stall_cycles:>12,}{r.total_cycles:>12,}{r.utilization:>7.1%}"
                     f"{r.energy_pj / 1e6:>12.2f}"
                     + (f"  {bounds[i].label}" if bounds is not None else ""))
    lines.append("-" * len(head))
    lines.append(f"{'TOTAL':<24}{res.macs:>14,}{res.compute_cycles:>12,}"
                 f"{res.stall_cycles:>12,}{res.total_cycles:>12,}{res.utilization:>7.1%}"
                 f"{res.energy_pj / 1e6:>12.2f}")
    lines.append(f"latency {res.latency_ms:.4f} ms at {res.clock_mhz:g} MHz, "
                 f"energy {res.energy_pj / 1e9:.4f} mJ, timing {res.timing}")
    if bounds is not None:
        lines.append(bottleneck_summary(bounds))
    return "\n".join(lines)


def write_reports(res: NetworkResult, out_dir: str | Path,
                  run: dict[str, Any] | None = None,
                  bounds: list[LayerBound] | None = None) -> dict[str, Path]:
    """Write result.json (with ``run`` and ``bounds`` recorded, see :func:`result_dict`),
    layers.csv (with each layer's bound) and cycles_energy.png into ``out_dir``.

    A non-finite number in the results is a :class:`ReportError` before any file is
    written."""
    text = strict_json(result_dict(res, run, bounds)) + "\n"
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
