#!/usr/bin/env python3
"""Run SCALE-Sim 3.0.0 on a .cfg + conv topology and print its per-layer compute cycles.

Runs in SCALE-Sim's own venv (``build/peers/scalesim-venv``), started as a subprocess by
``benchmarks/bench_scalesim.py``; it must not import coforge. It copies the inputs into a
temporary directory (keeping only the first ``--layers`` rows of the topology), writes
the layout file SCALE-Sim requires even with custom layouts off, runs SCALE-Sim through
its Python API (``scalesim.scale_sim.scalesim(...).run_scale``) with traces off
(``save_disk_space=True``), and writes one JSON object::

    {"scalesim_version": "3.0.0", "wall_s": <seconds spent in run_scale>,
     "layers": [{"name": ..., "compute_cycles": <COMPUTE_REPORT 'Total Cycles'>,
                 "stall_cycles": ..., "overall_util_pct": ...}, ...]}

to ``--out`` (or stdout). SCALE-Sim's own console output goes to stderr.
"""

import argparse
import contextlib
import csv
import importlib.metadata
import json
import os
import sys
import tempfile
import time

LAYOUT_HEADER = (
    "Layer name, IFMAP Height Intraline Factor, IFMAP Width Intraline Factor, "
    "Filter Height Intraline Factor, Filter Width Intraline Factor, Channel Intraline Factor, "
    "Num Filter Intraline Factor, IFMAP Height Intraline Order, IFMAP Width Intraline Order, "
    "Channel Intraline Order, IFMAP Height Interline Order, IFMAP Width Interline Order, "
    "Channel Interline Order, Num Filter Intraline Order, Channel Intraline Order, "
    "Filter Height Intraline Order, Filter Width Intraline Order, Num Filter Interline Order, "
    "Channel Interline Order, Filter Height Interline Order, Filter Width Interline Order,\n")


def read_report(path):
    """Rows of a SCALE-Sim report CSV as dicts keyed by the stripped header names."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header = [h.strip() for h in rows[0]]
    out = []
    for row in rows[1:]:
        if any(c.strip() for c in row):
            out.append({h: c.strip() for h, c in zip(header, row) if h})
    return out


def write_topology(src, dst, layers):
    """Copy the header and the first ``layers`` (all when 0) named rows, each with
    the trailing comma SCALE-Sim's parser needs (it drops the last field)."""
    with open(src) as f:
        lines = [ln.rstrip("\r\n") for ln in f]
    # skip blank lines and unnamed rows (Resnet50.csv ends with ",,,,,,,,,,,,")
    header = lines[0]
    rows = [ln for ln in lines[1:] if ln.strip() and ln.split(",")[0].strip()]
    if layers:
        rows = rows[:layers]
    with open(dst, "w") as f:
        for ln in [header] + rows:
            ln = ln.rstrip()
            f.write(ln + ("" if ln.endswith(",") else ",") + "\n")
    return [r.split(",")[0].strip() for r in rows]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", required=True, help="SCALE-Sim .cfg file")
    ap.add_argument("--topology", required=True, help="SCALE-Sim conv topology CSV")
    ap.add_argument("--layers", type=int, default=0, help="first N layers only (0: all)")
    ap.add_argument("--out", help="write the JSON here (default: stdout)")
    args = ap.parse_args()

    version = importlib.metadata.version("scalesim")
    from scalesim.scale_sim import scalesim

    with tempfile.TemporaryDirectory(prefix="coforge_bench_scalesim_") as wd:
        cfg = os.path.join(wd, "run.cfg")
        with open(args.config) as src, open(cfg, "w") as dst:
            dst.write(src.read())
        topo = os.path.join(wd, "topology.csv")
        names = write_topology(args.topology, topo, args.layers)
        layout = os.path.join(wd, "layout.csv")
        with open(layout, "w") as f:
            f.write(LAYOUT_HEADER)
        outdir = os.path.join(wd, "out")
        with contextlib.redirect_stdout(sys.stderr):
            t0 = time.perf_counter()
            sim = scalesim(save_disk_space=True, verbose=False, config=cfg, topology=topo,
                           layout=layout, input_type_gemm=False)
            sim.run_scale(top_path=outdir)
            wall = time.perf_counter() - t0
        report = read_report(os.path.join(outdir, sim.config.get_run_name(),
                                          "COMPUTE_REPORT.csv"))
    if len(report) != len(names):
        sys.exit("SCALE-Sim reported %d layers for %d topology rows" % (len(report), len(names)))
    result = {
        "scalesim_version": version,
        "wall_s": wall,
        "layers": [{"name": n, "compute_cycles": int(r["Total Cycles"]),
                    "stall_cycles": int(r["Stall Cycles"]),
                    "overall_util_pct": float(r["Overall Util %"])}
                   for n, r in zip(names, report)],
    }
    text = json.dumps(result, indent=1)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
