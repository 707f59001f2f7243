#!/usr/bin/env python3
"""Peak memory of the cycle-approximate model against the tile count (issue 14 item 3).

Square GEMMs M = N = K = n on the default spec (``edge_8x8_ws``, default mapping,
``timing="native"``, ``BufferedMemory``), each point in a fresh Python process that
imports coforge, runs one layer and reports ``resource.getrusage(RUSAGE_SELF)
.ru_maxrss`` (peak resident set of that process, imports included) and the wall time
of the call alone:

* ``streamed`` -- ``sim.simulate(layer, accel, fidelity="cycle")``: what ``coforge
  simulate --fidelity cycle`` runs; the walk takes ``sim.cycle.demand.CHUNK_PASSES``
  passes at a time and keeps totals only;
* ``all-at-once`` -- ``simulate_cycle(..., chunk_passes=None)`` with the per-pass
  breakdown kept: the whole demand and every row in memory, as the model did before
  (run up to ``--all-at-once-max``; its cost is ~1.3 KiB per pass).

Also measured: a process that only imports coforge (the floor), and -- unless
``--quick`` -- the 10^12-MAC GEMM (n = 10^4: 25 M passes; minutes) streamed, whose
peak must stay under 1 GiB (``PASS``/``MISS``). Printed per point: n, MACs, passes
(the engine's loop), new stationary tiles, mode, seconds, peak RSS (MiB), total cycles.
Check (exit 1 if broken): both modes give the same total and stall cycles.

    .venv/bin/python benchmarks/bench_cycle_memory.py [--quick] [--sizes 250,500,...]
        [--all-at-once-max 3000] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIMIT_MIB = 1024

CHILD = textwrap.dedent("""
    import json, resource, sys, time
    n, mode = int(sys.argv[1]), sys.argv[2]
    from dataflows.layer import gemm
    from sim.cycle import simulate_cycle
    from sim.cycle.demand import CHUNK_PASSES, pass_count
    from sim.default_mapping import default_mapping
    from sim.simulate import simulate
    from sim.spec_io import DEFAULT_SPEC, load_accelerator
    out = {"n": n, "mode": mode, "chunk_passes": CHUNK_PASSES}
    if mode != "imports":
        accel = load_accelerator(DEFAULT_SPEC)
        layer = gemm("mm", M=n, N=n, K=n)
        mapping = default_mapping(layer, accel)
        t0 = time.perf_counter()
        if mode == "streamed":
            r = simulate(layer, accel, fidelity="cycle").layers[0]
        else:
            r = simulate_cycle(layer, accel, mapping, chunk_passes=None).result
        out.update(seconds=time.perf_counter() - t0, macs=layer.macs,
                   passes=pass_count(mapping), tiles=r.tiles, total_cycles=r.total_cycles,
                   stall_cycles=r.stall_cycles)
    out["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))
""")


def measure(n: int, mode: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(n), mode], cwd=ROOT,
                          capture_output=True, text=True)
    if proc.returncode:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"n={n} {mode}: child exited {proc.returncode}")
    return json.loads(proc.stdout.splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="250,500,1000,2000,3000,5000",
                    help="GEMM sizes n (comma-separated)")
    ap.add_argument("--all-at-once-max", type=int, default=3000,
                    help="largest n also run all at once (its peak grows with passes)")
    ap.add_argument("--quick", action="store_true",
                    help="sizes 250,1000,3000 and no 10^12-MAC GEMM")
    ap.add_argument("--json", help="also write the figures to this JSON file")
    args = ap.parse_args()
    sizes = [250, 1000, 3000] if args.quick else [int(s) for s in args.sizes.split(",")]

    floor = measure(0, "imports")
    print(f"peak RSS of a process that only imports coforge: {floor['peak_mib']:.0f} MiB; "
          f"chunk = {floor['chunk_passes']:,} passes")
    head = (f"{'n':>6} {'MACs':>10} {'passes':>11} {'tiles':>11} {'mode':>11} "
            f"{'seconds':>8} {'peak MiB':>9} {'total cycles':>16}")
    print(head)
    rows, ok = [], True

    def show(d: dict) -> None:
        print(f"{d['n']:>6} {d['macs']:>10.2e} {d['passes']:>11,} {d['tiles']:>11,} "
              f"{d['mode']:>11} {d['seconds']:>8.1f} {d['peak_mib']:>9.0f} "
              f"{d['total_cycles']:>16,}", flush=True)
        rows.append(d)

    for n in sizes:
        s = measure(n, "streamed")
        show(s)
        if n <= args.all_at_once_max:
            a = measure(n, "all-at-once")
            show(a)
            if (a["total_cycles"], a["stall_cycles"]) != (s["total_cycles"], s["stall_cycles"]):
                ok = False
                print(f"  FAIL: n={n}: streamed and all-at-once cycles differ")
    streamed = [d for d in rows if d["mode"] == "streamed"]
    spread = max(d["peak_mib"] for d in streamed) - min(d["peak_mib"] for d in streamed)
    print(f"streamed peak RSS spread over {min(d['passes'] for d in streamed):,} .. "
          f"{max(d['passes'] for d in streamed):,} passes: {spread:.0f} MiB")
    figures: dict = {"floor_mib": floor["peak_mib"], "points": rows,
                     "streamed_spread_mib": spread}
    summary = f"streamed peak spread {spread:.0f} MiB over the sizes"
    if not args.quick:
        big = measure(10_000, "streamed")
        show(big)
        verdict = "PASS" if big["peak_mib"] < LIMIT_MIB else "MISS"
        print(f"{verdict}: 10^12-MAC GEMM (M = N = K = 10^4) at cycle fidelity: peak RSS "
              f"{big['peak_mib']:.0f} MiB (target < {LIMIT_MIB} MiB), {big['seconds']:.0f} s, "
              f"{big['passes']:,} passes")
        figures["gemm_1e12"] = {**big, "verdict": verdict}
        summary = (f"{verdict}: 10^12-MAC GEMM peak {big['peak_mib']:.0f} MiB in "
                   f"{big['seconds']:.0f} s; " + summary)
    figures["summary"] = summary + ("" if ok else "; FAIL: modes differ")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
