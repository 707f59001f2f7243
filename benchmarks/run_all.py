#!/usr/bin/env python3
"""Run every coforge benchmark and print a summary (``make bench``).

Each benchmark runs in its own process (so the analytic one keeps its single-thread
numpy settings and clean timings), with its output streamed as it goes; each prints
what it times (whole process or hot loop, caches on or off):

* ``bench_analytic.py`` -- evaluate_batch throughput, the call alone on a prebuilt batch
  (target >= 1,000,000 evaluations/s), next to a loop of evaluate() = the same code on
  batches of one;
* ``bench_scalesim.py`` -- ResNet-18 vs SCALE-Sim 3.0.0 (identical compute cycles,
  target speed-up >= 1000x; coforge timed with simulate's shape cache and without it;
  SCALE-Sim needs a few minutes);
* ``bench_cycle.py`` -- the cycle-approximate model on ResNet-50 with USER-bandwidth
  stalls vs SCALE-Sim 3.0.0 (total and stall cycles within 5 %, target speed-up
  >= 100x) on the first 44 layers (SCALE-Sim needs 11-20 minutes for them; ResNet-50's
  stage-5 layers take it more than 11 minutes each) and how its wall time scales;
* ``bench_mapper.py`` -- search-loop throughput, ResNet-50 mapping time, heuristics
  vs the exhaustive optimum;
* ``bench_zigzag.py`` -- ResNet-18 mapped by coforge and by ZigZag 3.9.1 side by side,
  coforge's numbers checked against bounds and against ZigZag's recorded ones;
* ``bench_accuracy.py`` -- integer-engine images/s vs onnxruntime float on the shipped
  digits models (hot loop), time to an accuracy-aware front, sensitivity-table cost;
  checks int8 top-1 within 1 % of float and the front's accuracies.
* ``bench_cycle_memory.py`` -- peak RSS of the cycle model against the tile count (fresh
  process per point) and the 10^12-MAC GEMM at cycle fidelity; checks < 1 GiB.
* ``bench_rtl.py`` -- RTL simulation speed, synthesis + P&R time and Fmax on ECP5-85k
  (target: 8x8 int8 WS >= 100 MHz).
* ``bench_engines.py`` -- the engine kinds: RTL cycles of dense vs 2:4 on one 4x4 array
  with their measured (stored) LUT/DSP, bit-serial MACs/cycle vs input bits, Fmax per
  kind from the stored synthesis baseline; checks cycles = cycle model, outputs = numpy.
* ``bench_hierarchy.py`` -- N-level cost model (sim.hier_cost) mappings/s on one core for
  a 3-level and a 5-level spec (targets 1 M/s, 0.5 M/s); checks batch == plain-Python.
* ``bench_peers.py`` -- coforge vs ZigZag 3.9.1 (six accelerators x ResNet-18 and
  MobileNet-V2) and AccelForge 1.0.467 (ws_16x16 and nvdla x ResNet-50 layers); here on
  the *recorded* peer runs (about a minute; the speed targets then read "not measured":
  run it alone for the live peers).

Exit status: 0 when every benchmark ran and its checks held (a MISS against a
performance target is reported, not fatal); 1 when any benchmark exited non-zero or
wrote no figures -- a check failed (illegal generated mapping, a batch row differing
from the same mapping costed alone, compute cycles differing from SCALE-Sim,
cycle-model total/stall cycles more than 5 % from SCALE-Sim's, coforge outside the
bounds or the stated bands against ZigZag's recorded numbers, a live ZigZag run
differing from the recorded one) or it crashed. The summary names each failure.

    .venv/bin/python benchmarks/run_all.py [--quick]
        [--only analytic|scalesim|cycle|mapper|zigzag|rtl|...|hierarchy|peers]

``--quick`` shrinks them (200,000 mappings; the first 3 ResNet-18 layers; the first 2
ResNet-50 layers and smaller scaling sets for the cycle model; ...).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def run(name: str, script: str, extra: list[str], wd: Path) -> tuple[int, dict, float]:
    out = wd / f"{name}.json"
    cmd = [sys.executable, str(HERE / script), "--json", str(out), *extra]
    print(f"\n=== {name}: {' '.join(cmd[1:])}", flush=True)
    t0 = time.perf_counter()
    rc = subprocess.run(cmd, cwd=ROOT).returncode
    wall = time.perf_counter() - t0
    data = json.loads(out.read_text()) if out.exists() else {}
    return rc, data, wall


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="smaller runs: 200,000 mappings, first 3 ResNet-18 layers")
    ap.add_argument("--only", choices=("analytic", "scalesim", "cycle", "mapper", "zigzag",
                                       "rtl", "accuracy", "cycle_memory", "engines",
                                       "hierarchy", "peers"),
                    help="run one benchmark")
    args = ap.parse_args()

    plan = [("analytic", "bench_analytic.py", ["--batch", "200000"] if args.quick else []),
            ("scalesim", "bench_scalesim.py", ["--layers", "3"] if args.quick else []),
            ("cycle", "bench_cycle.py",
             ["--layers", "2", "--quick"] if args.quick else ["--layers", "44"]),
            ("mapper", "bench_mapper.py", ["--quick"] if args.quick else []),
            ("zigzag", "bench_zigzag.py", ["--repeats", "1"] if args.quick else []),
            ("rtl", "bench_rtl.py", ["--quick"] if args.quick else []),
            ("accuracy", "bench_accuracy.py", ["--quick"] if args.quick else []),
            ("cycle_memory", "bench_cycle_memory.py", ["--quick"] if args.quick else []),
            ("engines", "bench_engines.py", ["--quick"] if args.quick else []),
            ("hierarchy", "bench_hierarchy.py", ["--batch", "200000"] if args.quick else []),
            # no smaller --quick size: below 20,000 evaluations per search tpu_like's
            # depthwise MobileNet-V2 layers find no legal mapping (measured at 10,000)
            ("peers", "bench_peers.py", ["--zigzag-recorded", "--af-recorded", "--no-per-layer"])]
    plan = [p for p in plan if args.only in (None, p[0])]
    results = {}
    with tempfile.TemporaryDirectory(prefix="coforge_bench_") as wd:
        for name, script, extra in plan:
            results[name] = run(name, script, extra, Path(wd))

    print("\n=== summary" + (" (--quick: not the reference sizes)" if args.quick else ""))
    failed = False
    for name, (rc, d, wall) in results.items():
        if rc != 0 or not d:
            failed = True
            print(f"  {name:<9} FAILED (exit {rc}) after {wall:.0f} s")
            continue
        if name == "analytic":
            print(f"  analytic  {d['verdict']}: evaluate_batch {d['evaluations_per_s']:,.0f} "
                  f"evaluations/s on {d['batch']:,} mappings ({d['ratio_to_target']:.2f}x the "
                  f"{d['target_per_s']:,}/s target; hot loop); "
                  f"{d['speedup_vs_batch_of_one']:,.0f}x a loop of batches of one "
                  f"({d['batch_of_one_per_s']:,.0f}/s); validation passed")
        elif name != "scalesim":
            print(f"  {name:<9} {d.get('summary', 'ran')} ({wall:.0f} s; details above)")
        else:
            print(f"  scalesim  {d['verdict']}: {d['speedup']:,.0f}x faster than SCALE-Sim "
                  f"{d['scalesim_version']} (target {d['target_speedup']:,.0f}x): coforge "
                  f"{d['coforge_seconds'] * 1e3:.1f} ms vs {d['scalesim_seconds']:.1f} s on "
                  f"{d['layers']} layers with simulate's shape cache "
                  f"({d['speedup_no_shape_cache']:,.0f}x, "
                  f"{d['coforge_seconds_no_shape_cache'] * 1e3:.1f} ms without it); compute "
                  f"cycles {'identical' if d['cycles_match'] else 'DIFFER'}")
    if failed:
        print("FAIL: " + ", ".join(n for n, (rc, d, _) in results.items() if rc != 0 or not d))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
