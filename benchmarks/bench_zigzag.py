#!/usr/bin/env python3
"""coforge vs ZigZag 3.9.1: map ResNet-18 on ZigZag's shipped tpu_like accelerator with both.

ZigZag runs in its own venv (``build/peers/zigzag-venv``, created when missing) through
``benchmarks/zigzag_runner.py`` on the ``resnet18.onnx``, ``hardware/tpu_like.yaml`` and
``mapping/tpu_like.yaml`` inside its package (LOMA temporal mapping, objective EDP by
default). coforge, in this process, converts those same two YAML files with
``mapper.zigzag_import.load_zigzag`` and maps the zoo's ``resnet18`` (the same 21
layers) with ``mapper.network_map.map_network`` (annealing, the same objective,
20,000 evaluations per distinct layer shape, seed 0; best of 3 wall times).

What is timed (wall clock): coforge -- converting the two YAML files and
``map_network`` in this process (imports and the zoo's ONNX-free network build
excluded), best of ``--repeats``; ``map_network`` searches each *distinct* layer shape
once (ResNet-18: 21 layers, 12 shapes) and reuses that mapping for the repeats, so this
is 12 searches, not 21. ZigZag -- the ``get_hardware_performance_zigzag`` call inside
its runner (one run; whatever ZigZag caches internally is its own), and the whole
subprocess including interpreter start-up.

Prints both wall times, both latency (cycles) and energy (pJ) totals, the per-layer
values and coforge/ZigZag ratios, and why they differ (the reasons are pinned, layer by
layer, in tests/mapper/test_zigzag_compare.py).

Checks (any failure prints ``FAIL`` and exits 1):

1. same layers, MAC energies and DRAM bytes on every layer -- identical by
   construction of the converted spec, so these catch only a broken conversion;
2. **bounds** that coforge's numbers must respect whatever its model: per layer, its
   cycles are at least ZigZag's recorded ``ideal_cycle`` (the MACs on all 1,024 PEs
   at full use) and at least the layer's DRAM read (write) bytes over the converted
   spec's DRAM read (write) bandwidth;
3. **agreement with ZigZag's recorded numbers** (``tests/data/zigzag_3.9.1_resnet18.json``,
   the EDP run) within a stated band: per layer the coforge/ZigZag latency ratio lies
   in ``LATENCY_BAND`` (conv1, whose tpu_like mapping uses 3 of 32 rows, in
   ``CONV1_LATENCY_BAND``) and the energy ratio in ``ENERGY_BAND``; the network totals in
   ``TOTAL_LATENCY_BAND`` / ``TOTAL_ENERGY_BAND``. The bands bracket the differences the
   README and test_zigzag_compare explain; a model change that moves a layer outside
   them fails here;
4. when ZigZag ran in this run: its per-layer latency and energy equal the recorded
   run's to ``PEER_RTOL`` (LOMA is deterministic; a difference means another ZigZag).

    .venv/bin/python benchmarks/bench_zigzag.py [--opt EDP|latency|energy]
        [--max-evals 20000] [--seed 0] [--zigzag-json FILE] [--json OUT]

``--zigzag-json`` reuses a runner output (e.g. tests/data/zigzag_3.9.1_resnet18.json)
instead of running ZigZag, for a quick look; coforge then converts the copies of
ZigZag's YAML files in ``tests/data/zigzag`` (their sha256 is in the recording) and no
ZigZag venv is needed. The venv is set up with::

    python3.11 -m venv build/peers/zigzag-venv
    build/peers/zigzag-venv/bin/pip install zigzag-dse==3.9.1 six
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

from dataflows.zoo import load
from mapper.network_map import NetworkMapping, map_network
from mapper.zigzag_import import ZigzagConversion, load_zigzag, zoo_layer_name

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
DEFAULT_VENV = ROOT / "build" / "peers" / "zigzag-venv"
#: ZigZag's recorded run (benchmarks/zigzag_runner.py) and copies of its two YAML inputs.
RECORDED = ROOT / "tests" / "data" / "zigzag_3.9.1_resnet18.json"
RECORDED_INPUTS = ROOT / "tests" / "data" / "zigzag"
#: coforge / ZigZag bands of check 3 (see the module docstring; the measured ratios are
#: latency 0.66-1.35 per layer, conv1 0.10, total 0.75; energy 1.04-2.25, total 1.62).
LATENCY_BAND = (0.5, 1.5)
CONV1_LATENCY_BAND = (0.05, 0.2)
ENERGY_BAND = (1.0, 2.5)
TOTAL_LATENCY_BAND = (0.6, 0.9)
TOTAL_ENERGY_BAND = (1.4, 1.8)
#: Relative tolerance of check 4 (a live ZigZag run against the recorded one).
PEER_RTOL = 1e-6
ZIGZAG_VERSION = "3.9.1"
ZIGZAG_PIN = [f"zigzag-dse=={ZIGZAG_VERSION}", "six"]
OBJECTIVE = {"EDP": "edp", "latency": "latency", "energy": "energy"}

EXPLANATION = """\
Why the figures differ (coforge / ZigZag; details in tests/mapper/test_zigzag_compare.py):
  same   MAC energy (0.04 pJ each) and DRAM bytes on every layer; DRAM energy differs
         only by coforge pricing reads and writes at their mean (725 vs 700/750 pJ/word).
  conv1  latency ~0.10: tpu_like's spatial mapping unrolls C (3 channels) on 32 rows;
         coforge's ws runs the im2col GEMM, unrolling C*R*S = 147.
  big    56x56 / 28x28 layers, latency 0.78-1.01: ZigZag adds the initial DRAM load
         before the first MAC (data_onloading); coforge overlaps DRAM with compute but
         charges 2R+C-1 = 95 cycles of weight preload and skew per 32x32 weight tile.
  small  14x14 layers 1.2-1.35: that per-tile overhead dominates (196-pixel streams);
         7x7 layers ~1.1: ZigZag is DRAM-bound on 2.4 MB of weights, coforge hides the
         DRAM time behind 2,304 x (49 + 95) compute cycles.
  1x1s2  downsamples 0.66-0.94: ZigZag serialises on-loading, compute and off-loading
         through the one read_write DRAM port; coforge overlaps them and gives reads
         and writes 8 B/cycle each.
  fc     ~1.0: both DRAM-bound on the 512 KB of weights.
  energy coforge 1.04-2.3x: it charges every operand's PE traffic (8+8+16+16 bits per
         MAC) at the 128 B weight register's 0.0119 pJ/bit, 0.57 pJ/MAC vs ZigZag's
         ~0.14; and its ws array returns partial sums to the SRAM once per row fold,
         where ZigZag's mappings accumulate them in the PE's 2 B output register."""


def ensure_zigzag(venv: Path) -> Path:
    """The peer venv's python, creating the venv and installing ZigZag if needed."""
    py = venv / "bin" / "python"
    probe = [str(py), "-c", "import importlib.metadata as m; print(m.version('zigzag-dse'))"]
    if py.exists():
        got = subprocess.run(probe, capture_output=True, text=True)
        if got.returncode == 0 and got.stdout.strip() == ZIGZAG_VERSION:
            return py
    print(f"  setting up ZigZag {ZIGZAG_VERSION} in {venv} (one-off)", flush=True)
    if not py.exists():
        subprocess.run(["python3.11", "-m", "venv", str(venv)], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "-q", *ZIGZAG_PIN], check=True)
    got = subprocess.run(probe, capture_output=True, text=True, check=True)
    if got.stdout.strip() != ZIGZAG_VERSION:
        sys.exit(f"{venv}: expected zigzag-dse {ZIGZAG_VERSION}, found {got.stdout.strip()!r}")
    return py


def zigzag_inputs(py: Path) -> Path:
    """The ``inputs`` directory of the zigzag package installed in the peer venv."""
    got = subprocess.run([str(py), "-c", "import importlib.resources as r; "
                          "print(r.files('zigzag') / 'inputs')"],
                         capture_output=True, text=True, check=True)
    return Path(got.stdout.strip())


def run_zigzag(py: Path, opt: str) -> tuple[dict, float]:
    """(runner JSON, seconds for the whole subprocess)."""
    with tempfile.TemporaryDirectory(prefix="coforge_bench_") as wd:
        out = Path(wd) / "zigzag.json"
        cmd = [str(py), str(HERE / "zigzag_runner.py"), "--opt", opt, "--out", str(out)]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr[-4000:])
            sys.exit(f"ZigZag run failed (exit {proc.returncode}): {' '.join(cmd)}")
        return json.loads(out.read_text()), wall


def run_coforge(hardware: Path, mapping: Path, objective: str, max_evals: int, seed: int,
                repeats: int) -> tuple[ZigzagConversion, NetworkMapping, float]:
    """(conversion, mapped network, best seconds for converting + mapping)."""
    best, conv, mapped = float("inf"), None, None
    net = load("resnet18")
    for _ in range(repeats):
        t0 = time.perf_counter()
        conv = load_zigzag(hardware, mapping)
        # ZigZag keeps partial sums at 16 bits without an overflow model: reproduce it.
        mapped = map_network(net, conv.accelerator, "annealing", objective,
                             max_evals=max_evals, seed=seed, progress=False,
                             check_accumulator=False)
        best = min(best, time.perf_counter() - t0)
    assert conv is not None and mapped is not None
    return conv, mapped, best


def _within(value: float, band: tuple[float, float]) -> bool:
    return band[0] <= value <= band[1]


def check_against_recorded(rows: list[dict], lat_total: float, en_total: float,
                           opt: str) -> list[str]:
    """Check 3: coforge's ratios to ZigZag's recorded numbers within the stated bands
    (only for the EDP objective, which is what the bands were stated for)."""
    if opt != "EDP":
        return []
    bad = []
    for r in rows:
        band = CONV1_LATENCY_BAND if r["layer"] == "conv1" else LATENCY_BAND
        if not _within(r["recorded_latency_ratio"], band):
            bad.append(f"{r['layer']}: latency ratio {r['recorded_latency_ratio']:.3f} "
                       f"outside {band}")
        if not _within(r["recorded_energy_ratio"], ENERGY_BAND):
            bad.append(f"{r['layer']}: energy ratio {r['recorded_energy_ratio']:.3f} "
                       f"outside {ENERGY_BAND}")
    if not _within(lat_total, TOTAL_LATENCY_BAND):
        bad.append(f"total latency ratio {lat_total:.3f} outside {TOTAL_LATENCY_BAND}")
    if not _within(en_total, TOTAL_ENERGY_BAND):
        bad.append(f"total energy ratio {en_total:.3f} outside {TOTAL_ENERGY_BAND}")
    return bad


def check_peer_reproduces(live: dict, recorded: dict) -> list[str]:
    """Check 4: a live ZigZag run equals the recorded one, layer by layer."""
    rec = {layer["name"]: layer for layer in recorded["layers"]}
    bad = []
    for layer in live["layers"]:
        r = rec.get(layer["name"])
        if r is None:
            bad.append(f"{layer['name']}: not in the recorded run")
            continue
        for key in ("latency_cycles", "energy_pj"):
            if abs(layer[key] - r[key]) > PEER_RTOL * abs(r[key]):
                bad.append(f"{layer['name']}: ZigZag {key} {layer[key]:,.1f} now, "
                           f"{r[key]:,.1f} recorded")
    return bad


def _dram_words(layer: dict, conv: ZigzagConversion) -> float:
    return sum(sum(acc.values()) for per_mem in layer["word_accesses"].values()
               for mem, acc in per_mem.items() if conv.level_of[mem] == "dram")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--opt", choices=sorted(OBJECTIVE), default="EDP",
                    help="objective of both searches (default EDP)")
    ap.add_argument("--max-evals", type=int, default=20_000,
                    help="coforge evaluations per distinct layer shape")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=3, help="coforge timed runs (best kept)")
    ap.add_argument("--venv", type=Path, default=DEFAULT_VENV, help="ZigZag's venv")
    ap.add_argument("--zigzag-json", type=Path,
                    help="use this zigzag_runner.py output instead of running ZigZag")
    ap.add_argument("--json", help="also write the figures to this JSON file")
    args = ap.parse_args()

    print(f"bench_zigzag: coforge vs ZigZag {ZIGZAG_VERSION}, ResNet-18 on tpu_like, "
          f"objective {args.opt}")
    print(f"  python {platform.python_version()}, {os.cpu_count()} CPUs", flush=True)
    if args.zigzag_json:
        py = None
        hardware = RECORDED_INPUTS / "tpu_like.yaml"
        mapping = RECORDED_INPUTS / "tpu_like_mapping.yaml"
    else:
        py = ensure_zigzag(args.venv)
        inputs = zigzag_inputs(py)
        hardware = inputs / "hardware" / "tpu_like.yaml"
        mapping = inputs / "mapping" / "tpu_like.yaml"
    print(f"  accelerator {hardware}\n  mapping     {mapping}")
    recorded_doc = json.loads(RECORDED.read_text())
    recorded = next((r for r in recorded_doc["runs"] if r["opt"] == args.opt), None)

    conv, mapped, co_s = run_coforge(hardware, mapping, OBJECTIVE[args.opt], args.max_evals,
                                     args.seed, args.repeats)
    accel = conv.accelerator
    print(f"  coforge: {accel.rows}x{accel.cols} {accel.dataflow}, "
          f"{len(mapped.searches)} distinct shapes x {args.max_evals:,} evaluations "
          f"(annealing, seed {args.seed}) in {co_s:.2f} s (convert + map_network, best "
          f"of {args.repeats}; one search per distinct shape, reused for its "
          f"{len(mapped.result.layers)} layers)", flush=True)

    proc_s: float | None = None
    if args.zigzag_json:
        peer = json.loads(args.zigzag_json.read_text())
        print(f"  ZigZag: recorded run {args.zigzag_json} ({peer['command']})")
    else:
        print(f"  running ZigZag ({py}); about two minutes ...", flush=True)
        assert py is not None
        peer, proc_s = run_zigzag(py, args.opt)
    run = next((r for r in peer["runs"] if r["opt"] == args.opt), None)
    if run is None:
        sys.exit(f"the ZigZag results hold no {args.opt} run")
    zz = {zoo_layer_name(layer["name"]): layer for layer in run["layers"]}
    co = {r.layer: r for r in mapped.result.layers}
    if sorted(zz) != sorted(co):
        print(f"FAIL: ZigZag layers {sorted(zz)} differ from coforge's {sorted(co)}")
        return 1

    print()
    print(f"  {'layer':<20} {'ZigZag cyc':>11} {'coforge cyc':>11} {'ratio':>6}   "
          f"{'ZigZag uJ':>9} {'coforge uJ':>10} {'ratio':>6}   DRAM bytes")
    failures, rows, bound_failures = [], [], []
    rec_layers = {zoo_layer_name(layer["name"]): layer
                  for layer in (recorded["layers"] if recorded else [])}
    word_bytes = accel.dram.word_bits // 8
    read_bpc, write_bpc = accel.dram.read_bytes_per_cycle, accel.dram.write_bytes_per_cycle
    for name, res in co.items():
        z = zz[name]
        lat_ratio = res.total_cycles / z["latency_cycles"]
        en_ratio = res.energy_pj / z["energy_pj"]
        zz_dram = _dram_words(z, conv) * word_bytes
        co_dram = sum(v for op in res.bytes["dram"].values() for v in op.values())
        same = co_dram == zz_dram and \
            abs(res.energy_pj_by_level["mac"] - z["mac_energy_pj"]) <= 1e-9 * z["mac_energy_pj"]
        if not same:
            failures.append(name)
        # check 2: bounds independent of coforge's model
        ideal = z["latency_breakdown"]["ideal_cycle"]
        if res.total_cycles < ideal:
            bound_failures.append(f"{name}: {res.total_cycles:,} cycles < ZigZag's ideal "
                                  f"{ideal:,.0f} (MACs / PEs)")
        # the converted spec gives DRAM reads and writes a port each (a converter note)
        for what, bpc in (("reads", read_bpc), ("writes", write_bpc)):
            moved = sum(op[what] for op in res.bytes["dram"].values())
            if res.total_cycles * bpc < moved:
                bound_failures.append(f"{name}: {res.total_cycles:,} cycles for {moved:,} "
                                      f"DRAM {what} bytes at {bpc:g} B/cycle")
        rz = rec_layers.get(name, z)
        rows.append({"layer": name, "zigzag_cycles": z["latency_cycles"],
                     "coforge_cycles": res.total_cycles, "latency_ratio": lat_ratio,
                     "zigzag_energy_pj": z["energy_pj"], "coforge_energy_pj": res.energy_pj,
                     "energy_ratio": en_ratio, "dram_bytes": co_dram,
                     "zigzag_dram_bytes": zz_dram,
                     "recorded_latency_ratio": res.total_cycles / rz["latency_cycles"],
                     "recorded_energy_ratio": res.energy_pj / rz["energy_pj"]})
        print(f"  {name:<20} {z['latency_cycles']:>11,.0f} {res.total_cycles:>11,} "
              f"{lat_ratio:>6.3f}   {z['energy_pj'] / 1e6:>9.2f} {res.energy_pj / 1e6:>10.2f} "
              f"{en_ratio:>6.3f}   "
              f"{'same' if same else 'DIFFERENT (%d vs %d)' % (co_dram, zz_dram)}")
    zt = run["total"]
    lat_total = mapped.result.total_cycles / zt["latency_cycles"]
    en_total = mapped.result.energy_pj / zt["energy_pj"]
    print(f"  {'total':<20} {zt['latency_cycles']:>11,.0f} {mapped.result.total_cycles:>11,} "
          f"{lat_total:>6.3f}   {zt['energy_pj'] / 1e6:>9.2f} "
          f"{mapped.result.energy_pj / 1e6:>10.2f} {en_total:>6.3f}")
    print()
    peer_s = run["wall_s"]
    print(f"  coforge wall time: {co_s:.2f} s (convert + map, best of {args.repeats})")
    print(f"  ZigZag wall time:  {peer_s:.1f} s (get_hardware_performance_zigzag)"
          + ("" if proc_s is None else f"; {proc_s:.1f} s for the whole subprocess"))
    print(f"  speed-up: {peer_s / co_s:,.0f}x (ZigZag API call / coforge convert + map; "
          "coforge searched each distinct shape once)")
    print()
    print(EXPLANATION)
    print()
    rec_total = recorded["total"] if recorded else zt
    rec_lat = mapped.result.total_cycles / rec_total["latency_cycles"]
    rec_en = mapped.result.energy_pj / rec_total["energy_pj"]
    band_failures = check_against_recorded(rows, rec_lat, rec_en, args.opt)
    peer_failures = [] if args.zigzag_json or recorded is None else \
        check_peer_reproduces(run, recorded)
    checks = [
        ("1 same layers, MAC energy, DRAM bytes (identical by construction)",
         [f"{n}: MAC energy or DRAM bytes differ" for n in failures]),
        ("2 coforge cycles >= ZigZag's ideal cycles and >= DRAM read (write) bytes / "
         "the spec's read (write) bandwidth",
         bound_failures),
        (f"3 coforge / recorded ZigZag within the bands (latency {LATENCY_BAND}, conv1 "
         f"{CONV1_LATENCY_BAND}, energy {ENERGY_BAND}; totals {TOTAL_LATENCY_BAND}, "
         f"{TOTAL_ENERGY_BAND})" + ("" if args.opt == "EDP" else ": not stated for "
                                     f"--opt {args.opt}, not checked"),
         band_failures),
        ("4 live ZigZag equals the recorded run" + (
            "" if not args.zigzag_json else ": not checked (no live ZigZag run)"),
         peer_failures),
    ]
    all_failures = []
    for title, bad in checks:
        status = "FAIL" if bad else ("-" if "not checked" in title else "ok")
        print(f"  check {title}: {status}")
        for b in bad:
            print(f"    {b}")
        all_failures += bad
    print(f"  vs the recorded ZigZag run: latency {rec_lat:.3f}x, energy {rec_en:.3f}x")
    if all_failures:
        print(f"FAIL: {len(all_failures)} check failure(s), see above")
    else:
        print(f"OK: every check holds on all {len(rows)} layers; "
              f"latency {lat_total:.3f}x, energy {en_total:.3f}x ZigZag's")
    summary = (f"{'FAIL' if all_failures else 'OK'}: coforge {co_s:.2f} s vs ZigZag "
               f"{peer_s:.1f} s ({peer_s / co_s:,.0f}x); latency {lat_total:.3f}x, energy "
               f"{en_total:.3f}x ZigZag's")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"benchmark": "zigzag", "zigzag_version": peer["version"],
                       "objective": args.opt, "coforge_max_evals": args.max_evals,
                       "seed": args.seed, "coforge_seconds": co_s,
                       "zigzag_seconds": peer_s, "zigzag_process_seconds": proc_s,
                       "speedup": peer_s / co_s,
                       "zigzag_total": zt, "coforge_total": {
                           "latency_cycles": mapped.result.total_cycles,
                           "energy_pj": mapped.result.energy_pj},
                       "latency_ratio": lat_total, "energy_ratio": en_total,
                       "layers": rows, "checks_failed": all_failures,
                       "summary": summary,
                       "notes": list(conv.notes)}, f, indent=1)
    return 1 if all_failures else 0


if __name__ == "__main__":
    sys.exit(main())
