#!/usr/bin/env python3
"""Record SCALE-Sim 3.0.0 on random USER-bandwidth cases (stalls, DRAM counts) as JSON.

Complements the 24 USER cases of tests/data/scalesim_3.0.0_reference.json with random
layers (GEMMs, convolutions with stride 1-2), array shapes (2-16 a side), SRAM sizes
(1-4 KiB each), ofmap bandwidths and bank bandwidths, and with ResNet-18 layers on
SCALE-Sim's own scale.cfg (32x32 ws, 64 KiB SRAMs) switched to USER bandwidth, so that
the SCALE-Sim-compatible memory model (sim/cycle/scalesim.py) is checked beyond the
cases it was written against (about 10 minutes of SCALE-Sim, most of it Conv5_1a).
Run with the peer venv's python, from the repository root (no coforge import)::

    build/peers/scalesim-venv/bin/python tests/sim/cycle/gen_scalesim_user_random.py

It reuses tests/peers/gen_scalesim_reference.py to write SCALE-Sim's input files and
to run it; SCALE-Sim's config/topology data come from $SCALESIM_PEERS_DIR as there.
"""

import argparse
import datetime
import importlib.metadata
import json
import os
import random
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.join(REPO_ROOT, "tests", "peers"))

import gen_scalesim_reference as ref  # noqa: E402

DEFAULT_OUT = os.path.join(HERE, "data", "scalesim_user_random.json")
#: (seed, cases, ofmap bandwidths): the last batch leans to low bandwidth (more stalls).
BATCHES = ((1, 12, (1, 2, 4, 8, 16)), (2, 40, (1, 2, 4, 8, 16)), (7, 40, (1, 2, 3)))
#: ResNet-18 layers (SCALE-Sim's topology file) run on scale.cfg with USER bandwidth;
#: the other layers take SCALE-Sim much longer (Conv5_1b: 1.7e8 cycles, mostly stalls).
RESNET18_LAYERS = ("Conv1", "Conv2_1a", "Conv3_1a", "Conv3_s", "Conv4_1a", "Conv4_s",
                   "Conv5_1a", "Conv5_s", "FC")


def random_cases(seed, n, bandwidths):
    rng = random.Random(seed)
    for i in range(n):
        df = rng.choice(["ws", "os", "is"])
        if rng.random() < 0.6:
            layer = ref.gemm(rng.randint(4, 80), rng.randint(4, 80), rng.randint(4, 80))
        else:
            k = rng.choice([1, 2, 3])
            s = rng.choice([1, 1, 2])
            h = rng.randint(k + 2, 14)
            layer = ref.conv(h, h, k, k, rng.randint(1, 8), rng.randint(2, 24), s)
        yield {"id": "rand%d_%d" % (seed, i), "dataflow": df,
               "array_rows": rng.choice([2, 4, 8, 16]), "array_cols": rng.choice([2, 4, 8, 16]),
               "interface_bandwidth": "USER", "bandwidth": rng.choice(bandwidths),
               "sram_kib": {op: rng.choice([1, 2, 4]) for op in ("ifmap", "filter", "ofmap")},
               "sram_bank_bandwidth": rng.choice([10, 20]), "layer": layer}


def resnet18_cases(peers_dir):
    path = os.path.join(peers_dir, "topologies", "conv_nets", "Resnet18.csv")
    with open(path) as f:
        rows = [[c.strip() for c in line.split(",")] for line in f.read().splitlines()[1:]]
    for row in rows:
        if row and row[0] in RESNET18_LAYERS:
            h, w, fh, fw, ch, nf, s = (int(v) for v in row[1:8])
            yield {"id": "resnet18_user_" + row[0], "layer_name": row[0], "dataflow": "ws",
                   "array_rows": 32, "array_cols": 32, "interface_bandwidth": "USER",
                   "bandwidth": 10, "sram_kib": {"ifmap": 64, "filter": 64, "ofmap": 64},
                   "sram_bank_bandwidth": 10, "layer": ref.conv(h, w, fh, fw, ch, nf, s)}


def run(case):
    work = tempfile.mkdtemp(prefix="scalesim_user_")
    cfg, topo, layout = ref.write_inputs(case, work)
    reports, wall, _ = ref.run_scalesim(cfg, topo, layout, case["layer"]["kind"] == "gemm",
                                        work)
    comp = reports["compute"][0]
    det = reports["detail"][0]
    case.update(compute_cycles=comp["Total Cycles"], stall_cycles=comp["Stall Cycles"],
                total_cycles=comp["Total Cycles (incl. prefetch)"],
                dram_ifmap_reads=det["DRAM IFMAP Reads"],
                dram_filter_reads=det["DRAM Filter Reads"],
                dram_ofmap_writes=det["DRAM OFMAP Writes"], wall_time_s=round(wall, 3))
    print(case["id"], case["dataflow"], case["compute_cycles"], case["stall_cycles"],
          flush=True)
    return case


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--peers-dir", default=ref.DEFAULT_PEERS)
    args = ap.parse_args()
    cases = [run(case) for seed, n, bws in BATCHES for case in random_cases(seed, n, bws)]
    resnet = [run(case) for case in resnet18_cases(args.peers_dir)]
    doc = {"tool": "scalesim", "version": importlib.metadata.version("scalesim"),
           "generated": datetime.date.today().isoformat(),
           "command": "build/peers/scalesim-venv/bin/python "
                      "tests/sim/cycle/gen_scalesim_user_random.py",
           "batches": [{"seed": s, "cases": n, "bandwidths": list(b)} for s, n, b in BATCHES],
           "notes": ["USER interface bandwidth; other settings as in "
                     "tests/data/scalesim_3.0.0_reference.json (its 'notes').",
                     "compute_cycles is COMPUTE_REPORT 'Total Cycles' (stalls included); "
                     "dram_* are DETAILED_ACCESS_REPORT's DRAM counts.",
                     "resnet18: layers of topologies/conv_nets/Resnet18.csv on "
                     "configs/scale.cfg with InterfaceBandwidth USER."],
           "cases": cases, "resnet18": resnet}
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
