"""Reports of a co-search: ``pareto.csv``, ``pareto.png`` and ``report.txt``.

With an FPGA target the CSV and the text carry the predicted resources, Fmax and the
clock the latency used; with per-layer precision the chosen ``w<W>a<A>`` of every
layer (CSV columns ``bits:<layer>``; a ``bits`` line per design in the text). The
bit widths are the user's allowed choices, picked for cost only: accuracy is not
modelled. Text cells of ``pareto.csv`` that a spreadsheet would run as a formula (leading
``= + - @``, tab or CR) get a leading ``'`` (:func:`mapper.report.csv_safe`).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from mapper.dse import OBJECTIVE_COLUMNS, DseSettings, hypervolume_curve, pareto_rows
from mapper.hw_space import BITS_PREFIX, LAYER_PREFIXES
from mapper.report import csv_safe
from mapper.store import fields_of

#: The metric columns of every ``pareto.csv``: the ``csv`` fields of the ``always`` group
#: of :class:`~mapper.store.DesignRecord`.
CSV_COLUMNS: tuple[str, ...] = fields_of("always", csv=True)


def csv_columns(settings: DseSettings) -> tuple[str, ...]:
    """The metric columns of ``pareto.csv``: the ``csv`` fields of
    :class:`~mapper.store.DesignRecord`'s ``always`` group, its ``fpga`` group with a
    target and its ``accuracy`` group when accuracy is measured."""
    groups = ("always", *(("fpga",) if settings.target else ()),
              *(("accuracy",) if settings.accuracy is not None else ()))
    return tuple(c for g in groups for c in fields_of(g, csv=True))


def describe(row: dict[str, Any]) -> tuple[str, str]:
    """(hardware parameters, per-layer bits) of a stored design, as short text."""
    p = json.loads(row["params"])
    hw = {k: v for k, v in p.items() if not k.startswith(LAYER_PREFIXES)}
    bits = {k[len(BITS_PREFIX):]: v for k, v in p.items() if k.startswith(BITS_PREFIX)}
    comp = {k: v for k, v in p.items() if k.startswith(LAYER_PREFIXES[1:])
            and v not in ("none", None)}
    text = " ".join(f"{k}={v}" for k, v in bits.items())
    if comp:
        text += ("; " if text else "") + " ".join(f"{k}={v}" for k, v in comp.items())
    return json.dumps(hw, sort_keys=True), text


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
        for col, set_scale in ((a, ax.set_xscale), (b, ax.set_yscale)):
            if ok and all(r[col] > 0 for r in ok):    # e.g. dsp can be 0: stay linear
                set_scale("log")
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
        cols = csv_columns(settings)
        w.writerow([csv_safe(c) for c in list(cols) + params])
        for r in front:        # text cells a spreadsheet would run are escaped (OWASP)
            p = json.loads(r["params"])
            w.writerow([csv_safe(v) for v in [r[c] for c in cols] + [p[k] for k in params]])
    pareto_figure(rows, front, settings).savefig(paths["png"], dpi=100)
    infeasible = [r for r in rows if not r["feasible"]]
    lines = [f"co-search of {settings.network}: {len(rows)} designs stored "
             f"({len(infeasible)} could not run), strategy {settings.strategy}, "
             f"seed {settings.seed}",
             f"objectives: {', '.join(settings.objectives)}; constraints: "
             f"{', '.join(f'{c.metric}{c.op}{c.value:g}' for c in settings.constraints) or 'none'}",
             f"Pareto front: {len(front)} designs"]
    if settings.target:
        lines.insert(2, f"FPGA target {settings.target}: resources and Fmax predicted by "
                        f"sim.fpga_model; latency at min(spec clock, predicted Fmax)")
    for r in front:
        hw, bits = describe(r)
        fpga = (f" LUT {r['lut']} FF {r['ff']} DSP {r['dsp']} BRAM {r['bram']} "
                f"Fmax {r['fmax_mhz']:g} MHz (clock {r['clock_mhz']:g})"
                if settings.target else "")
        acc = ""
        if r.get("accuracy") is not None:
            acc = f" top-1 {r['accuracy']:.4f}"
            if r.get("accuracy_proxy") is not None:
                acc += f" (proxy {r['accuracy_proxy']:.4f})"
        lines.append(f"  #{r.get('seq')} {r['latency_ms']:10.4f} ms {r['energy_mj']:10.4f} mJ "
                     f"{r['area_mm2']:8.3f} mm2{fpga}{acc}  {hw}")
        if bits:
            lines.append(f"      bits (weight/input per layer): {bits}")
        if r.get("analytic_cycles") and r.get("cycle_cycles"):
            a, c = r["analytic_cycles"], r["cycle_cycles"]
            lines.append(f"      analytic {a:,} vs cycle model {c:,} cycles "
                         f"({100 * (c - a) / a:+.1f} %)")
    if settings.rerank:
        gaps = [(r["cycle_cycles"] - r["analytic_cycles"]) / r["analytic_cycles"]
                for r in front if r.get("analytic_cycles") and r.get("cycle_cycles")]
        if gaps:
            lines.append(f"re-ranked with the cycle model (top {settings.rerank_top} per "
                         f"layer shape): stored latency/energy are the cycle model's; "
                         f"analytic-vs-cycle gap on the front {100 * min(gaps):+.1f} % .. "
                         f"{100 * max(gaps):+.1f} %")
    else:
        lines.append("latency/energy: analytic model (mapper's inner loop); --rerank cycle "
                     "re-ranks each layer's best mappings with the cycle model and reports "
                     "the analytic-vs-cycle gap")
    if settings.accuracy is not None:
        lines.append(f"accuracy: integer-engine top-1 of {settings.accuracy.onnx} on "
                     f"{settings.accuracy.data} (calibrated on {settings.accuracy.calib}), "
                     "measured exactly for every design")
        both = [r for r in rows if r.get("accuracy") is not None
                and r.get("accuracy_proxy") is not None]
        if both:
            gap = [abs(r["accuracy"] - r["accuracy_proxy"]) for r in both]
            lines.append(f"additive sensitivity proxy vs measured top-1 over {len(both)} "
                         f"designs: mean |gap| {sum(gap) / len(gap):.4f}, max {max(gap):.4f}")
    elif any(k.startswith(BITS_PREFIX) for r in front[:1] for k in json.loads(r["params"])):
        lines.append("bit widths: chosen among the space's allowed lists for cost only "
                     "(accuracy not measured: give --onnx MODEL --data D.npz)")
    if infeasible:
        lines.append(f"first infeasible design: {infeasible[0]['params']}: "
                     f"{infeasible[0]['error']}")
    paths["txt"].write_text("\n".join(lines) + "\n")
    return paths
