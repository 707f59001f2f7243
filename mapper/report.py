"""Reports of a network simulation: ``result.json``, ``layers.csv``, a plot, a table.

``result.json`` schema (documented in the README; later tools rely on these names)::

    {"coforge_version", "spec_hash", "network", "arch", "timing", "fidelity",
     "clock_mhz", "layers": [{"name", "macs", "compute_cycles", "stall_cycles",
     "total_cycles", "utilization", "energy_pj", "energy_pj_by_level", "accesses",
     "bytes", "tiles", "iterations", "mapping"}...],
     "totals": {"macs", "compute_cycles", "stall_cycles", "total_cycles", "utilization",
                "energy_pj", "latency_ms"}}
"""

from __future__ import annotations

import csv
import json
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from sim.result import NetworkResult

CSV_COLUMNS = ("name", "macs", "compute_cycles", "stall_cycles", "total_cycles",
               "utilization", "energy_pj", "mac_pj", "pe_pj", "glb_pj", "dram_pj",
               "dram_bytes", "tiles")


def coforge_version() -> str:
    """Installed coforge version (``0+unknown`` when run from a bare checkout)."""
    try:
        return version("coforge")
    except PackageNotFoundError:
        return "0+unknown"


def result_dict(res: NetworkResult, run: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``result.json`` document of a network result; ``run`` (e.g. the seed and
    the options that produced it) is recorded under ``"run"`` when given."""
    doc = {"coforge_version": coforge_version(), "spec_hash": res.spec_hash,
           "network": res.network, "arch": res.arch, "timing": res.timing,
           "fidelity": res.fidelity, "clock_mhz": res.clock_mhz,
           "layers": [r.to_dict() for r in res.layers], "totals": res.totals()}
    if run is not None:
        doc["run"] = dict(run)
    return doc


def _dram_bytes(r: Any) -> int:
    return sum(v["reads"] + v["writes"] for v in r.bytes["dram"].values())


def csv_rows(res: NetworkResult) -> list[dict[str, Any]]:
    """One row per layer with the :data:`CSV_COLUMNS`."""
    return [{"name": r.layer, "macs": r.macs, "compute_cycles": r.compute_cycles,
             "stall_cycles": r.stall_cycles, "total_cycles": r.total_cycles,
             "utilization": round(r.utilization, 6), "energy_pj": round(r.energy_pj, 3),
             "mac_pj": round(r.energy_pj_by_level["mac"], 3),
             "pe_pj": round(r.energy_pj_by_level["pe"], 3),
             "glb_pj": round(r.energy_pj_by_level["glb"], 3),
             "dram_pj": round(r.energy_pj_by_level["dram"], 3),
             "dram_bytes": _dram_bytes(r), "tiles": r.tiles} for r in res.layers]


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


def table(res: NetworkResult) -> str:
    """A fixed-width per-layer table with a totals line."""
    head = (f"{'layer':<24}{'MACs':>14}{'compute':>12}{'stall':>12}{'total':>12}"
            f"{'util':>7}{'energy uJ':>12}")
    lines = [head, "-" * len(head)]
    for r in res.layers:
        lines.append(f"{r.layer[:23]:<24}{r.macs:>14,}{r.compute_cycles:>12,}"
                     f"{r.stall_cycles:>12,}{r.total_cycles:>12,}{r.utilization:>7.1%}"
                     f"{r.energy_pj / 1e6:>12.2f}")
    lines.append("-" * len(head))
    lines.append(f"{'TOTAL':<24}{res.macs:>14,}{res.compute_cycles:>12,}"
                 f"{res.stall_cycles:>12,}{res.total_cycles:>12,}{res.utilization:>7.1%}"
                 f"{res.energy_pj / 1e6:>12.2f}")
    lines.append(f"latency {res.latency_ms:.4f} ms at {res.clock_mhz:g} MHz, "
                 f"energy {res.energy_pj / 1e9:.4f} mJ, timing {res.timing}")
    return "\n".join(lines)


def write_reports(res: NetworkResult, out_dir: str | Path,
                  run: dict[str, Any] | None = None) -> dict[str, Path]:
    """Write result.json (with ``run`` recorded, see :func:`result_dict`), layers.csv and
    cycles_energy.png into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "result.json", "csv": out / "layers.csv",
             "png": out / "cycles_energy.png"}
    paths["json"].write_text(json.dumps(result_dict(res, run), indent=1) + "\n")
    with paths["csv"].open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(csv_rows(res))
    cycles_energy_figure(res).savefig(paths["png"], dpi=110)
    return paths
