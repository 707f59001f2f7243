#!/usr/bin/env python3
"""coforge side by side with ZigZag 3.9.1 and AccelForge 1.0.467, in one run (issue 11 item 5).

**ZigZag**: its six shipped non-IMC accelerators x ResNet-18 and MobileNet-V2. ZigZag
(its venv ``build/peers/zigzag-venv``, ``benchmarks/zigzag_runner.py``: LOMA, objective
EDP, the shipped mapping file's spatial unrolling) runs **live** on the pairs of
``--zigzag-live`` (default ``tpu_like:resnet18``); every other pair uses the recorded run
``tests/data/zigzag_3.9.1_<acc>.json`` and is labelled ``recorded``. coforge converts the
copies of the same YAML files (``mapper.zigzag_import.load_zigzag_hierarchy``: an N-level
hierarchy) and maps the zoo's network (the same layers, checked by shape and MACs) with
``mapper.hier_map.map_hierarchy`` (nest search, evolution + descent, objective EDP,
``--max-evals`` per distinct shape, shared by an exact-factor search and an
imperfect-factor one seeded with its best (``mapper.nest_search.search_factors``), seed 0;
coforge searches spatial unrolling too, ZigZag takes it from the mapping file).

**AccelForge**: ``ws_16x16`` (``tests/data/accelforge_1.0.467/ws_16x16.yaml``, a 16x16 WS
array) x the runner's six ResNet-50 layers, and one shipped example (``--af-example``,
default ``nvdla``; the wheel's file, whose copy coforge imports: sha256 checked) x the
recorded layers. AccelForge runs live (its venv ``build/peers/accelforge-venv``, FFM
mapper, one job; ``--af-recorded`` uses the recordings instead). coforge imports the arch
(``mapper.accelforge_import.load_accelforge``) and runs
``mapper.nest_search.search_factors`` per layer on ``--max-evals`` (exact factors on
half, then imperfect ones seeded with the exact best on the other half, as ``coforge
map``; objective energy; both timed, and the exact-factor half on its own: the search
in AccelForge's space, whose optimum the energy target reads). Also costed:
AccelForge's own mapping in coforge's model (``accelforge_nest_mapping``), the "same
model" reference.

**Timed** (wall, ``time.perf_counter``; CPU, ``time.process_time``): coforge -- the
search alone (its compiled kernels, ``mapper.nest_jit.warm``, loaded from numba's on-disk
cache or compiled before the timers start, that time printed) (``map_hierarchy`` per
network, the ``search_factors`` call per AccelForge
layer); conversion, network building and the final re-costing are outside. ZigZag -- its
``get_hardware_performance_zigzag`` call for the whole network (the runner's
``wall_s``/``cpu_s``). AccelForge -- ``Spec.from_yaml`` + ``map_workload_to_arch`` per
layer (the runner's). "Per layer" = network time / layers; coforge's ``map_hierarchy``
searches each distinct shape once, so its per-*search* time (network time / distinct
shapes, >= per layer) is what the speed target uses. Only live peer runs count for the
speed targets (same run, same load).

**Targets** (PASS/MISS; a MISS exits 0): coforge's energy within 2 % of AccelForge's and
its DRAM traffic (bits, all tensors, reads + writes) no higher, on every layer; its
mapper >= 100x faster per layer than AccelForge's (two verdicts: the exact-factor search
alone, like for like with AccelForge's perfect-factor mapper and the energy target, and
the whole ``search_factors``) and >= 10x faster than ZigZag's.
**Exit 1** when a live peer run differs from its recording, a conversion breaks (layers
differ, an import or map error), or coforge's DRAM traffic is below the compulsory
(weights + unpadded inputs read, outputs written once).

Same model semantics (what closed the 2026-12-06 gaps): the search costs with the exact
sliding-window input rule (``input_reuse="window"``, the default since 2026-12-07: on
ws_16x16 conv2_1b AccelForge's Scratchpad keeps one input window and reads the padded
input once, which the refetch rule cannot express), the import carries AccelForge's
per-memory ``bits_per_value`` as ``value_bits`` (spilled partial sums 8-bit in
MainMemory, 32-bit in the Accumulator) and its ``may_keep`` as ``may_bypass`` (each
choice searched). Remaining differences of the models, pinned in
tests/mapper/test_accelforge_import.py: AccelForge also counts the Accumulator's refill
of spilled partial sums (coforge's optimum is then 1.3-1.4 % lower on conv3_1b and
conv4_2a, where it equals coforge's cost of AccelForge's own mapping); the import does
not carry AccelForge's ``min_usage`` constraints (AccelForge's relaxation "the best
usage reachable when none reaches the minimum" is per mapping template), so on
``tpu_v4i`` coforge's optimum may lie outside AccelForge's space.

    .venv/bin/python benchmarks/bench_peers.py [--zigzag-live ACC:NET ...] [--zigzag-recorded]
        [--af-recorded] [--af-example nvdla] [--max-evals 20000] [--only zigzag|accelforge]
        [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dataflows.layer import Layer  # noqa: E402
from mapper.nest_jit import warm  # noqa: E402
from dataflows.zoo import load  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from peers_accelforge import (AF_DIR, AF_PY, accelforge_arch,  # noqa: E402,F401
                              accelforge_differences, af_arch, af_dram_bits, af_dram_op_bits,
                              af_layer, af_layer_row, coforge_dram_bits,
                              coforge_dram_op_bits, run_accelforge_live)
from peers_common import (OPS, BenchError, _touched, accelforge_table,  # noqa: E402,F401
                          compulsory_bits, ratio, zigzag_table)

DATA = ROOT / "tests" / "data"
ZZ_DIR = DATA / "zigzag"
ZZ_PY = ROOT / "build" / "peers" / "zigzag-venv" / "bin" / "python"
SIX = ("tpu_like", "edge_tpu_like", "ascend_like", "meta_prototype", "tesla_npu_like",
       "eyeriss_like")
NETS = {"resnet18": "resnet18", "mobilenetv2": "mobilenet_v2"}      # ZigZag -> zoo name
ZZ_VERSION, AF_VERSION = "3.9.1", "1.0.467"
PEER_RTOL = 1e-6
ENERGY_TOL, AF_SPEEDUP, ZZ_SPEEDUP = 0.02, 100.0, 10.0


def zigzag_record(acc: str, net: str) -> dict:
    data = json.loads((DATA / f"zigzag_{ZZ_VERSION}_{acc}.json").read_text())
    if net not in data["networks"]:
        raise BenchError(f"{acc} x {net}: not in the recorded ZigZag data")
    return data["networks"][net]["runs"][0]


def run_zigzag_live(acc: str, net: str) -> dict:
    """ZigZag's runner in its venv on one pair; the run object (its ``wall_s``/``cpu_s``)."""
    if not ZZ_PY.exists():
        raise BenchError(f"{ZZ_PY} missing: python3.11 -m venv build/peers/zigzag-venv && "
                         f"build/peers/zigzag-venv/bin/pip install zigzag-dse=={ZZ_VERSION} six")
    with tempfile.TemporaryDirectory(prefix="bench_peers_zz_") as wd:
        cmd = [str(ZZ_PY), str(ROOT / "benchmarks" / "zigzag_runner.py"), "--sweep", wd,
               "--accelerator", acc, "--network", net]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        if proc.returncode:
            raise BenchError(f"ZigZag {acc} x {net} failed: {proc.stderr.strip()[-400:]}")
        data = json.loads((Path(wd) / f"zigzag_{ZZ_VERSION}_{acc}.json").read_text())
    return data["networks"][net]["runs"][0]


def zigzag_differences(live: dict, rec: dict) -> list[str]:
    out = []
    if [x["name"] for x in live["layers"]] != [x["name"] for x in rec["layers"]]:
        return ["the layers differ"]
    for a, b in zip(live["layers"], rec["layers"]):
        for key in ("latency_cycles", "energy_pj"):
            if abs(a[key] - b[key]) > PEER_RTOL * abs(b[key]):
                out.append(f"{a['name']} {key} {a[key]} vs recorded {b[key]}")
    return out


class ZooNetwork:
    """The zoo's layers of a network in ZigZag's order (what ``map_hierarchy`` reads)."""

    def __init__(self, name: str, layers: list[Layer]):
        self.name, self._layers = name, layers

    def layers(self) -> list[Layer]:
        return list(self._layers)


def _stride(z: dict, axis: str) -> int:
    for rel in z.get("dimension_relations", []):           # "IX = 2*OX + 1*FX"
        lhs, _, rhs = rel.partition("=")
        if lhs.strip() == "I" + axis:
            return int(rhs.split("*")[0])
    return 1


def zoo_layers(net: str, zz_layers: list[dict]) -> ZooNetwork:
    """The zoo's compute layers of ``net`` matched one to one to ZigZag's, in ZigZag's
    order, by MACs, output size, kernel, stride and channels (K x G out, C x G in)."""
    pool = list(load(NETS[net]).layers())
    out = []
    for z in zz_layers:
        s = z["loop_sizes"]
        want = (z["macs"], s.get("OY", 1), s.get("OX", 1), s.get("FY", 1), s.get("FX", 1),
                _stride(z, "Y"), _stride(z, "X"),
                s["K"] * s.get("G", 1), s["C"] * s.get("G", 1))
        hit = [x for x in pool if (x.macs, x.P, x.Q, x.R, x.S, x.stride_h, x.stride_w,
                                   x.K, x.C) == want]
        if not hit:
            raise BenchError(f"{net}: no zoo layer matches ZigZag's {z['name']} ({want})")
        pool.remove(hit[0])
        out.append(hit[0])
    if pool:
        raise BenchError(f"{net}: zoo layers {[x.name for x in pool]} are not in ZigZag's")
    return ZooNetwork(net, out)


def zigzag_level_words(rec: dict) -> dict[str, float]:
    """ZigZag's port-width words (reads + writes, all operands) per memory of one layer."""
    out: dict[str, float] = {}
    for per_mem in rec["word_accesses"].values():
        for mem, d in per_mem.items():
            out[mem] = out.get(mem, 0.0) + sum(d.values())
    return out


def coforge_level_words(lm: Any, hier: Any) -> dict[str, float]:
    from mapper.hier_map import layer_accesses
    acc = layer_accesses(lm, hier)["accesses"]
    return {lv: float(sum(r["reads"] + r["writes"] for r in per.values()))
            for lv, per in acc.items()}


def zigzag_pair(acc: str, net: str, peer: dict, source: str, max_evals: int,
                seed: int = 0) -> dict:
    """coforge mapped on one ZigZag accelerator x network next to ZigZag's run ``peer``."""
    from mapper.hier_map import map_hierarchy
    from mapper.zigzag_import import load_zigzag_hierarchy
    conv = load_zigzag_hierarchy(ZZ_DIR / f"{acc}.yaml", ZZ_DIR / f"{acc}_mapping.yaml")
    hier = conv.hierarchy
    network = zoo_layers(net, peer["layers"])
    w0, c0 = time.perf_counter(), time.process_time()
    mapped = map_hierarchy(network, hier, "evolution", "edp", max_evals, seed)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    top = hier.levels[0]
    rows = []
    for lm, z in zip(mapped.layers, peer["layers"]):
        cw, zw = coforge_level_words(lm, hier), zigzag_level_words(z)
        c_dram = cw[top.name] * top.word_bits
        z_dram = zw.get(top.name, 0.0) * top.word_bits
        rows.append({
            "layer": lm.layer.name, "zigzag_layer": z["name"], "macs": lm.layer.macs,
            "zigzag": {"latency_cycles": z["latency_cycles"], "energy_pj": z["energy_pj"],
                       "dram_bits": z_dram, "level_words": zw},
            "coforge": {"latency_cycles": lm.result.total_cycles,
                        "energy_pj": lm.result.energy_pj, "dram_bits": c_dram,
                        "level_words": cw, "compulsory_dram_bits": compulsory_bits(lm.layer),
                        "legal": lm.result.legal},
            "ratio": {"latency": ratio(lm.result.total_cycles, z["latency_cycles"]),
                      "energy": ratio(lm.result.energy_pj, z["energy_pj"]),
                      "dram": ratio(c_dram, z_dram)}})
    n = len(rows)
    tot = {k: {t: sum(r[t][k] for r in rows) for t in ("zigzag", "coforge")}
           for k in ("latency_cycles", "energy_pj", "dram_bits")}
    levels = {lv.name: {"zigzag": sum(r["zigzag"]["level_words"].get(lv.name, 0.0)
                                      for r in rows),
                        "coforge": sum(r["coforge"]["level_words"].get(lv.name, 0.0)
                                       for r in rows)} for lv in hier.levels}
    timing = {"zigzag": {"wall_s": peer["wall_s"], "cpu_s": peer.get("cpu_s"),
                         "source": source, "per_layer_wall_s": peer["wall_s"] / n},
              "coforge": {"wall_s": wall, "cpu_s": cpu, "layers": n,
                          "searches": mapped.distinct_shapes,
                          "evaluations": mapped.evaluations,
                          "per_layer_wall_s": wall / n,
                          "per_search_wall_s": wall / mapped.distinct_shapes}}
    timing["speedup_per_layer"] = ratio(timing["zigzag"]["per_layer_wall_s"],
                                        timing["coforge"]["per_search_wall_s"])
    return {"accelerator": acc, "network": net, "source": source, "layers": rows,
            "totals": tot, "level_words": levels, "timing": timing,
            "ratio": {k: ratio(v["coforge"], v["zigzag"]) for k, v in tot.items()}}


# -- AccelForge --------------------------------------------------------------------------
def three_level(records: list[dict]) -> list[dict]:
    """The 3-level model's proven optimum (``mapper.search`` strategy ``exact``, objective
    energy) on coforge's ``edge_npu_16x16_ws`` (the spec ws_16x16 mirrors) as shipped
    (double-buffered: half of each buffer usable) and single-buffered (AccelForge's
    capacity accounting): its DRAM bytes per operand. That model has sliding-window input
    reuse at DRAM -> GLB and moves the unpadded input; its energy tables and array
    streaming differ from the N-level import, so only the traffic is compared."""
    import dataclasses

    from mapper.search import search
    from sim.spec_io import load_accelerator
    shipped = load_accelerator(ROOT / "sim" / "specs" / "edge_npu_16x16_ws.yaml")
    single = dataclasses.replace(shipped, glb=tuple(
        dataclasses.replace(b, double_buffered=False) for b in shipped.glb))
    out = []
    for rec in records:
        row = {"layer": rec["layer"]}
        for tag, acc in (("double_buffered", shipped), ("single_buffered", single)):
            w0 = time.perf_counter()
            sr = search(af_layer(rec), acc, strategy="exact", objective="energy",
                        max_evals=50_000_000)
            row[tag] = {"dram_bytes": sr.result.bytes["dram"], "wall_s":
                        time.perf_counter() - w0, "proven_optimal": sr.proven_optimal,
                        "evaluations": sr.evaluations}
        out.append(row)
        d, s1 = row["double_buffered"], row["single_buffered"]
        print(f"3-level exact {rec['layer']}: DRAM input/weight/output reads+writes, B: "
              f"double-buffered " + "/".join(str(sum(d["dram_bytes"][o].values()))
                                            for o in ("input", "weight", "output"))
              + ", single-buffered " + "/".join(str(sum(s1["dram_bytes"][o].values()))
                                               for o in ("input", "weight", "output"))
              + f" ({d['wall_s'] + s1['wall_s']:.1f} s)", flush=True)
    return out


# -- checks, targets, tables ---------------------------------------------------------------
def invariant_errors(zz: list[dict], af: list[dict]) -> list[str]:
    """coforge's DRAM traffic below the compulsory, or an illegal chosen mapping."""
    out = []
    for pair in zz:
        for r in pair["layers"]:
            c = r["coforge"]
            if c["dram_bits"] < c["compulsory_dram_bits"] or not c["legal"]:
                out.append(f"{pair['accelerator']} x {pair['network']} {r['layer']}: DRAM "
                           f"{c['dram_bits']:.0f} b < compulsory {c['compulsory_dram_bits']} "
                           f"or illegal ({c['legal']})")
    for arch in af:
        for r in arch["layers"]:
            c = r["coforge"]
            if c["dram_bits"] < c["compulsory_dram_bits"] or not c["legal"]:
                out.append(f"{arch['arch']} {r['layer']}: DRAM {c['dram_bits']:.0f} b < "
                           f"compulsory {c['compulsory_dram_bits']} or illegal")
    return out


def targets(zz: list[dict], af: list[dict]) -> list[dict]:
    """The four targets: value, verdict (PASS / MISS / "not measured") and what failed."""
    rows = [r | {"arch": a["arch"]} for a in af for r in a["layers"]]
    live_af = [r for a in af if a["source"] == "live" for r in a["layers"]]
    live_zz = [p for p in zz if p["source"] == "live"]
    # like for like: coforge's exact-factor optimum (AccelForge's mapper searches perfect
    # factors only); coforge's full optimum (imperfect factors too) is never above it
    e_miss = [f"{r['arch']}/{r['layer']} {r['ratio']['energy_exact']:.4f}" for r in rows
              if abs(r["ratio"]["energy_exact"] - 1) > ENERGY_TOL]
    d_miss = [f"{r['arch']}/{r['layer']} {r['ratio'][k]:.3f} ({k})" for r in rows
              for k in ("dram_exact", "dram") if r["ratio"][k] > 1]
    out = [
        {"target": f"energy within {ENERGY_TOL:.0%} of AccelForge's on every layer "
                   f"(coforge's exact-factor optimum: AccelForge's space)",
         "value": max((abs(r["ratio"]["energy_exact"] - 1) for r in rows), default=None),
         "verdict": ("MISS" if e_miss else "PASS") if rows else "not measured",
         "misses": e_miss},
        {"target": "DRAM traffic <= AccelForge's on every layer (both optima)",
         "value": max((max(r["ratio"]["dram"], r["ratio"]["dram_exact"]) for r in rows),
                      default=None),
         "verdict": ("MISS" if d_miss else "PASS") if rows else "not measured",
         "misses": d_miss}]
    for key, what in (("speedup_exact", "coforge's exact-factor search, AccelForge's "
                                        "space: the energy target's optimum"),
                      ("speedup", "coforge's whole search_factors, imperfect factors too")):
        out.append(_speed_target(
            f"mapper >= {AF_SPEEDUP:g}x faster per layer than AccelForge's ({what}; live, "
            f"same run; the slowest layer)", AF_SPEEDUP,
            [(r["layer"], r["ratio"][key]) for r in live_af], "no live AccelForge run"))
    out.append(_speed_target(
        f"mapper >= {ZZ_SPEEDUP:g}x faster per layer than ZigZag's (live, same run; per "
        f"coforge search vs per ZigZag layer)", ZZ_SPEEDUP,
        [(f"{p['accelerator']} x {p['network']}", p["timing"]["speedup_per_layer"])
         for p in live_zz], "no live ZigZag run"))
    return out


def _speed_target(target: str, need: float, got: list[tuple[str, float]],
                  missing: str) -> dict:
    """A speed verdict: PASS when every (name, speed-up) in ``got`` reaches ``need``."""
    sp = [v for _, v in got]
    return {"target": target, "value": min(sp, default=None),
            "verdict": ("PASS" if min(sp) >= need else "MISS") if sp
            else f"not measured ({missing})",
            "misses": [f"{n} {v:.0f}x" for n, v in got if v < need]}


def parse_live(items: list[str] | None) -> set[tuple[str, str]]:
    out = set()
    for item in items or ["tpu_like:resnet18"]:
        acc, _, net = item.partition(":")
        if acc not in SIX or net not in NETS:
            raise SystemExit(f"--zigzag-live {item!r}: give ACC:NET with ACC one of "
                             f"{list(SIX)} and NET one of {list(NETS)}")
        out.add((acc, net))
    return out


def zigzag_one(acc: str, net: str, live: set[tuple[str, str]], args: argparse.Namespace,
               errors: list[str]) -> dict:
    """One ZigZag pair: the peer (live or recorded), coforge's side, the printed table."""
    rec = zigzag_record(acc, net)
    peer, source = rec, "recorded"
    if (acc, net) in live:
        print(f"running ZigZag {ZZ_VERSION} live on {acc} x {net} ...", flush=True)
        peer, source = run_zigzag_live(acc, net), "live"
        errors += [f"live ZigZag {acc} x {net} differs from its recording: {d}"
                   for d in zigzag_differences(peer, rec)[:5]]
    pair = zigzag_pair(acc, net, peer, source, args.max_evals)
    print(zigzag_table(pair, not args.no_per_layer) + "\n", flush=True)
    return pair


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--zigzag-live", action="append", metavar="ACC:NET",
                    help="run ZigZag live on this pair (repeatable; default tpu_like:resnet18)")
    ap.add_argument("--zigzag-recorded", action="store_true",
                    help="no live ZigZag run: every pair from the recorded JSON")
    ap.add_argument("--af-recorded", action="store_true",
                    help="no live AccelForge run: the recorded JSON")
    ap.add_argument("--af-example", default="nvdla", choices=("nvdla", "tpu_v4i", "simple"),
                    help="the shipped AccelForge example (default %(default)s)")
    ap.add_argument("--accelerator", action="append", choices=SIX,
                    help="only these ZigZag accelerators (repeatable; default all six)")
    ap.add_argument("--network", action="append", choices=list(NETS),
                    help="only these networks (repeatable; default both)")
    ap.add_argument("--only", choices=("zigzag", "accelforge"))
    ap.add_argument("--max-evals", type=int, default=20_000,
                    help="coforge evaluations per search (default %(default)s)")
    ap.add_argument("--no-per-layer", action="store_true",
                    help="ZigZag: print the totals only, not every layer")
    ap.add_argument("--three-level", metavar="LAYER", action="append",
                    help="also the 3-level model's proven optimum on edge_npu_16x16_ws, "
                         "double- and single-buffered, for this ws_16x16 layer (repeatable; "
                         "~10 s each)")
    ap.add_argument("--json", type=Path, help="write every figure here")
    args = ap.parse_args(argv)
    if args.max_evals < 2:
        raise SystemExit("--max-evals must be >= 2")
    live = set() if args.zigzag_recorded else parse_live(args.zigzag_live)
    errors: list[str] = []
    zz: list[dict] = []
    af: list[dict] = []
    print("timed: coforge's search alone (map_hierarchy per network; search_factors "
          "per AccelForge layer); ZigZag's get_hardware_performance_zigzag call per network; "
          "AccelForge's Spec.from_yaml + map_workload_to_arch per layer. Wall clock "
          f"(perf_counter) and this process's CPU; load average {os.getloadavg()[0]:.1f}")
    print(f"coforge's compiled kernels (sim.hier_cost_jit, mapper.nest_jit) loaded or "
          f"compiled before the timers, in {warm():.1f} s (not timed)\n", flush=True)
    try:
        if args.only != "accelforge":
            for net in args.network or list(NETS):
                for acc in args.accelerator or SIX:
                    try:
                        zz.append(zigzag_one(acc, net, live, args, errors))
                    except BenchError as err:
                        errors.append(str(err))
                    except Exception as err:       # a conversion or search that breaks
                        errors.append(f"{acc} x {net}: {type(err).__name__}: {err}")
        if args.only != "zigzag":
            for name in ("ws_16x16", args.af_example):
                rec = json.loads((AF_DIR / f"{name}.json").read_text())
                peer, source = rec, "recorded"
                if not args.af_recorded:
                    layers = [r["layer"] for r in rec["layers"] if "error" not in r]
                    print(f"running AccelForge {AF_VERSION} live on {name} x {layers} ...",
                          flush=True)
                    peer, source = run_accelforge_live(name, layers), "live"
                    errors += [f"live AccelForge {name} differs from its recording: {d}"
                               for d in accelforge_differences(peer, rec)[:5]]
                arch = accelforge_arch(name, peer, source, args.max_evals)
                af.append(arch)
                print(accelforge_table(arch) + "\n", flush=True)
                if name == "ws_16x16" and args.three_level:
                    arch["three_level"] = three_level(
                        [r for r in peer["layers"] if r["layer"] in args.three_level])
    except BenchError as err:
        errors.append(str(err))
    except Exception as err:                       # a conversion or map that breaks
        errors.append(f"{type(err).__name__}: {err}")
    errors += invariant_errors(zz, af)
    if zz:
        print(f"{'ZigZag pair':<30}{'run':>9}{'cf/ZZ cycles':>13}{'cf/ZZ energy':>13}"
              f"{'cf/ZZ DRAM':>11}{'ZZ s/layer':>11}{'cf ms/search':>13}{'speedup':>9}")
        for p in zz:
            t = p["timing"]
            print(f"{p['accelerator'] + ' x ' + p['network']:<30}{p['source']:>9}"
                  f"{p['ratio']['latency_cycles']:>13.3f}{p['ratio']['energy_pj']:>13.3f}"
                  f"{p['ratio']['dram_bits']:>11.3f}{t['zigzag']['per_layer_wall_s']:>11.2f}"
                  f"{t['coforge']['per_search_wall_s'] * 1e3:>13.1f}"
                  f"{t['speedup_per_layer']:>8.0f}x")
        print("(speed-ups of recorded pairs compare with a ZigZag run of another day and "
              "load: information only)\n")
    verdicts = targets(zz, af)
    for t in verdicts:
        value = "" if t["value"] is None else f" (value {t['value']:.4g})"
        print(f"{t['verdict']}: {t['target']}{value}"
              + (f"; misses: {', '.join(t['misses'])}" if t["misses"] else ""))
    if args.json:
        args.json.write_text(json.dumps({"zigzag": zz, "accelforge": af, "targets": verdicts,
                                         "errors": errors, "max_evals": args.max_evals,
                                         "load_average": os.getloadavg()}, indent=1,
                                        default=str) + "\n")
        print(f"wrote {args.json}")
    for e in errors:
        print(f"FAIL: {e}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
