"""Reports of a co-search: ``pareto.csv``, ``pareto.png`` and ``report.txt``."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from mapper.dse import OBJECTIVE_COLUMNS, DseSettings, hypervolume_curve, pareto_rows

CSV_COLUMNS = ("key", "latency_ms", "energy_mj", "edp", "area_mm2", "spec_hash")


def pareto_figure(rows: list[dict[str, Any]], front: list[dict[str, Any]],
                  settings: DseSettings) -> Figure:
    """Each pair of objectives (all designs grey, the front highlighted) and the
    hypervolume after each evaluated design."""
    cols = [OBJECTIVE_COLUMNS[o] for o in settings.objectives]
    pairs = [(a, b) for i, a in enumerate(cols) for b in cols[i + 1:]] or [(cols[0], cols[0])]
    fig = Figure(figsize=(4.2 * (len(pairs) + 1), 4), layout="constrained")
    axes = fig.subplots(1, len(pairs) + 1)
    ok = [r for r in rows if r["feasible"]]
    for ax, (a, b) in zip(axes, pairs):
        ax.scatter([r[a] for r in ok], [r[b] for r in ok], s=10, c="0.7", label="designs")
        ax.scatter([r[a] for r in front], [r[b] for r in front], s=22, c="C3", label="Pareto")
        ax.set_xlabel(a)
        ax.set_ylabel(b)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.legend(fontsize=7)
    hv = hypervolume_curve(rows, settings)
    axes[-1].plot(range(1, len(hv) + 1), hv)
    axes[-1].set_xlabel("designs evaluated")
    axes[-1].set_ylabel("hypervolume (normalised)")
    fig.suptitle(f"{settings.network}: {len(rows)} designs, {len(front)} on the front")
    return fig


def write_dse_reports(rows: list[dict[str, Any]], settings: DseSettings,
                      out_dir: str | Path) -> dict[str, Path]:
    """Write the Pareto CSV and plot and a short text report; returns their paths."""
    out = Path(out_dir)
    front = pareto_rows(rows, settings)
    paths = {"csv": out / "pareto.csv", "png": out / "pareto.png", "txt": out / "report.txt"}
    with paths["csv"].open("w", newline="") as f:
        w = csv.writer(f)
        params = sorted(json.loads(front[0]["params"])) if front else []
        w.writerow(list(CSV_COLUMNS) + params)
        for r in front:
            p = json.loads(r["params"])
            w.writerow([r[c] for c in CSV_COLUMNS] + [p[k] for k in params])
    pareto_figure(rows, front, settings).savefig(paths["png"], dpi=100)
    infeasible = [r for r in rows if not r["feasible"]]
    lines = [f"co-search of {settings.network}: {len(rows)} designs stored "
             f"({len(infeasible)} could not run), strategy {settings.strategy}, "
             f"seed {settings.seed}",
             f"objectives: {', '.join(settings.objectives)}; constraints: "
             f"{', '.join(f'{c.metric}{c.op}{c.value:g}' for c in settings.constraints) or 'none'}",
             f"Pareto front: {len(front)} designs"]
    for r in front:
        lines.append(f"  {r['latency_ms']:10.4f} ms {r['energy_mj']:10.4f} mJ "
                     f"{r['area_mm2']:8.3f} mm2  {r['params']}")
    if infeasible:
        lines.append(f"first infeasible design: {infeasible[0]['params']}: "
                     f"{infeasible[0]['error']}")
    paths["txt"].write_text("\n".join(lines) + "\n")
    return paths
