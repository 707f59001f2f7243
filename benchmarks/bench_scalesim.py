#!/usr/bin/env python3
"""coforge vs SCALE-Sim 3.0.0 on a whole ResNet-18: identical compute cycles, >= 1000x faster.

Reads SCALE-Sim's own inputs (vendored in ``tests/data/scalesim``) -- the default
config ``configs/scale.cfg`` (32x32 WS, 64 KiB SRAMs, CALC interface bandwidth) and
``topologies/conv_nets/Resnet18.csv`` -- with ``sim.scalesim_io`` and runs
``sim.simulate.simulate(..., timing="scalesim")``, then runs SCALE-Sim itself on the
same files in the same run (its own venv, through ``benchmarks/scalesim_runner.py`` and
SCALE-Sim's Python API).

What is timed (all wall clock, one process, files already read unless stated):

* coforge, **shape cache on**: one ``simulate(net, ...)`` call on the whole network,
  best of ``--repeats``. ``simulate`` costs each distinct layer shape once and copies
  the result to the layers that repeat it (ResNet-18: 21 layers, fewer shapes), so
  this is not 21 layer evaluations;
* coforge, **shape cache off**: every layer simulated in its own ``simulate(layer, ...)``
  call (nothing shared between layers), summed, best of ``--repeats``; the speed-up
  against this figure is printed too, and it is the like-for-like one (SCALE-Sim
  simulates every layer);
* coforge once more including reading the two files;
* SCALE-Sim: the time inside ``run_scale`` (and the whole subprocess, interpreter
  start-up and imports included).

Prints both simulators' per-layer compute cycles (SCALE-Sim's COMPUTE_REPORT.csv
'Total Cycles'), the wall times and the speed-ups (target >= 1000x, judged on the
cached figure as before and printed for the uncached one). Exits 1 if any layer's
compute cycles differ; a speed-up below target is reported (MISS), not fatal.

    .venv/bin/python benchmarks/bench_scalesim.py [--layers N] [--json OUT]

SCALE-Sim needs a few minutes for the whole network; ``--layers N`` keeps the first N.
Its venv is created when missing::

    python3.11 -m venv build/peers/scalesim-venv
    build/peers/scalesim-venv/bin/pip install scalesim==3.0.0 "numpy<2.4"
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dataflows.network import Network
from sim.scalesim_io import load_scalesim_config, load_scalesim_topology
from sim.simulate import simulate

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
#: SCALE-Sim's own input files, vendored (tests/data/scalesim/README.md: which commit).
PEERS = Path(os.environ.get("SCALESIM_PEERS_DIR", ROOT / "tests" / "data" / "scalesim"))
DEFAULT_CFG = PEERS / "configs" / "scale.cfg"
DEFAULT_TOPO = PEERS / "topologies" / "conv_nets" / "Resnet18.csv"
DEFAULT_VENV = ROOT / "build" / "peers" / "scalesim-venv"
SCALESIM_PIN = ["scalesim==3.0.0", "numpy<2.4"]
TARGET_SPEEDUP = 1000.0


def ensure_scalesim(venv: Path) -> Path:
    """The peer venv's python, creating the venv and installing SCALE-Sim if needed."""
    py = venv / "bin" / "python"
    probe = [str(py), "-c", "import importlib.metadata as m; print(m.version('scalesim'))"]
    if py.exists():
        got = subprocess.run(probe, capture_output=True, text=True)
        if got.returncode == 0 and got.stdout.strip() == "3.0.0":
            return py
    print(f"  setting up SCALE-Sim 3.0.0 in {venv} (one-off)", flush=True)
    if not py.exists():
        subprocess.run(["python3.11", "-m", "venv", str(venv)], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "-q", *SCALESIM_PIN], check=True)
    got = subprocess.run(probe, capture_output=True, text=True, check=True)
    if got.stdout.strip() != "3.0.0":
        sys.exit(f"{venv}: expected scalesim 3.0.0, found {got.stdout.strip()!r}")
    return py


def load_inputs(cfg: Path, topo: Path, layers: int):
    accel = load_scalesim_config(cfg)
    net = load_scalesim_topology(topo)
    if layers:
        net = Network.chain(net.name, net.layers()[:layers])
    return accel, net


def distinct_shapes(net: Network) -> int:
    """Distinct layer shapes: what ``simulate``'s shape cache evaluates."""
    return len({tuple(sorted((k, str(v)) for k, v in layer.to_dict().items() if k != "name"))
                for layer in net.layers()})


def run_coforge(cfg: Path, topo: Path, layers: int, repeats: int):
    """(accel, net, result, best cached simulate() seconds, best uncached seconds (every
    layer in its own simulate call), seconds incl. reading the files once)."""
    accel, net = load_inputs(cfg, topo, layers)
    best, result = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = simulate(net, accel, timing="scalesim")
        best = min(best, time.perf_counter() - t0)
    uncached = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        alone = [simulate(layer, accel, timing="scalesim") for layer in net.layers()]
        uncached = min(uncached, time.perf_counter() - t0)
    # the cache copies results; it must not change them
    assert [r.layers[0].compute_cycles for r in alone] == \
        [r.compute_cycles for r in result.layers], "shape cache changed a layer's cycles"
    t0 = time.perf_counter()
    simulate(*reversed(load_inputs(cfg, topo, layers)), timing="scalesim")
    with_io = time.perf_counter() - t0
    return accel, net, result, best, uncached, with_io


def run_scalesim(py: Path, cfg: Path, topo: Path, layers: int) -> tuple[dict, float]:
    with tempfile.TemporaryDirectory(prefix="coforge_bench_") as wd:
        out = Path(wd) / "scalesim.json"
        cmd = [str(py), str(HERE / "scalesim_runner.py"), "--config", str(cfg),
               "--topology", str(topo), "--layers", str(layers), "--out", str(out)]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr[-4000:])
            sys.exit(f"SCALE-Sim run failed (exit {proc.returncode}): {' '.join(cmd)}")
        return json.loads(out.read_text()), wall


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--layers", type=int, default=0,
                    help="only the first N topology layers (default: all)")
    ap.add_argument("--config", type=Path, default=DEFAULT_CFG)
    ap.add_argument("--topology", type=Path, default=DEFAULT_TOPO)
    ap.add_argument("--venv", type=Path, default=DEFAULT_VENV, help="SCALE-Sim's venv")
    ap.add_argument("--repeats", type=int, default=5, help="coforge timed runs (best kept)")
    ap.add_argument("--json", help="also write the figures to this JSON file")
    args = ap.parse_args()
    if args.layers < 0:
        ap.error("--layers must be >= 0")

    print("bench_scalesim: coforge (timing='scalesim') vs SCALE-Sim 3.0.0")
    print(f"  config   {args.config}")
    print(f"  topology {args.topology}" + (f" (first {args.layers} layers)" if args.layers
                                           else " (all layers)"))
    print(f"  python {platform.python_version()}, {os.cpu_count()} CPUs", flush=True)

    accel, net, res, co_s, co_nc_s, co_io_s = run_coforge(args.config, args.topology,
                                                          args.layers, args.repeats)
    shapes = distinct_shapes(net)
    print(f"  coforge: {len(res.layers)} layers ({shapes} distinct shapes) on {accel.name} "
          f"({accel.rows}x{accel.cols} {accel.dataflow}): {co_s * 1e3:.2f} ms with "
          f"simulate's shape cache (one call on the network, {shapes} shapes costed); "
          f"{co_nc_s * 1e3:.2f} ms without it (every layer in its own simulate call); "
          f"best of {args.repeats}; {co_io_s * 1e3:.2f} ms cached including reading the "
          "files", flush=True)

    py = ensure_scalesim(args.venv)
    print(f"  running SCALE-Sim ({py}); the whole network takes a few minutes ...",
          flush=True)
    peer, peer_proc_s = run_scalesim(py, args.config, args.topology, args.layers)
    peer_s = peer["wall_s"]

    rows = peer["layers"]
    if len(rows) != len(res.layers):
        print(f"FAIL: SCALE-Sim reports {len(rows)} layers, coforge {len(res.layers)}")
        return 1
    print()
    print(f"  {'layer':<10} {'coforge':>12} {'SCALE-Sim':>12}  match")
    mismatches = []
    for r, p in zip(res.layers, rows):
        same = r.compute_cycles == p["compute_cycles"]
        if not same:
            mismatches.append(p["name"])
        print(f"  {p['name']:<10} {r.compute_cycles:>12,} {p['compute_cycles']:>12,}  "
              f"{'yes' if same else 'NO (diff %+d)' % (r.compute_cycles - p['compute_cycles'])}")
    co_total = sum(r.compute_cycles for r in res.layers)
    peer_total = sum(p["compute_cycles"] for p in rows)
    print(f"  {'total':<10} {co_total:>12,} {peer_total:>12,}  "
          f"{'yes' if co_total == peer_total else 'NO'}")
    print()

    speedup = peer_s / co_s
    speedup_nc = peer_s / co_nc_s
    print(f"  coforge wall time:   {co_s * 1e3:.2f} ms (simulate on the network, shape cache "
          f"on: {shapes} of {len(res.layers)} layers costed; best of {args.repeats})")
    print(f"                       {co_nc_s * 1e3:.2f} ms (shape cache off: all "
          f"{len(res.layers)} layers costed, one simulate call each; best of {args.repeats})")
    print(f"  SCALE-Sim wall time: {peer_s:.2f} s (run_scale, every layer); {peer_proc_s:.2f} s "
          f"for the whole subprocess incl. interpreter start and imports")
    print(f"  speed-up: {speedup:,.0f}x with the shape cache (SCALE-Sim run_scale / coforge "
          f"simulate); {speedup_nc:,.0f}x without it (like for like: every layer costed); "
          f"{peer_proc_s / co_io_s:,.0f}x end to end incl. file reading and start-up")
    verdict = "PASS" if speedup >= TARGET_SPEEDUP else "MISS"
    verdict_nc = "PASS" if speedup_nc >= TARGET_SPEEDUP else "MISS"
    match = not mismatches
    print("  compute cycles: " + (f"identical on all {len(rows)} layers" if match
                                   else "MISMATCH on " + ", ".join(mismatches)))
    print(f"{verdict}: speed-up {speedup:,.0f}x with the shape cache ({verdict_nc}: "
          f"{speedup_nc:,.0f}x without it) vs target {TARGET_SPEEDUP:,.0f}x; "
          f"cycles {'MATCH' if match else 'MISMATCH'}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"benchmark": "scalesim", "layers": len(rows),
                       "distinct_shapes": shapes, "coforge_seconds": co_s,
                       "coforge_seconds_no_shape_cache": co_nc_s,
                       "coforge_seconds_with_io": co_io_s,
                       "speedup_no_shape_cache": speedup_nc,
                       "verdict_no_shape_cache": verdict_nc,
                       "scalesim_seconds": peer_s, "scalesim_process_seconds": peer_proc_s,
                       "speedup": speedup, "speedup_end_to_end": peer_proc_s / co_io_s,
                       "target_speedup": TARGET_SPEEDUP, "verdict": verdict,
                       "cycles_match": match, "mismatched_layers": mismatches,
                       "coforge_compute_cycles": [r.compute_cycles for r in res.layers],
                       "scalesim_compute_cycles": [p["compute_cycles"] for p in rows],
                       "scalesim_version": peer["scalesim_version"]}, f, indent=1)
    if not match:
        print("FAIL: per-layer compute cycles differ from SCALE-Sim")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
