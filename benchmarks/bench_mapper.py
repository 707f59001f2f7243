#!/usr/bin/env python3
"""Mapper benchmarks: search-loop throughput, ResNet-50 mapping time, EDP vs optimum.

1. ``search`` throughput: evaluations/s of the annealing search loop (genome decode +
   vectorised analytic model + acceptance) on ResNet-50 ``layer3.0.conv2``; target
   >= 1,000,000/s on one core, with the bare ``evaluate_batch`` rate measured in the
   same run as the baseline (the ratio is the search's own overhead).
2. Time to map all of ResNet-50 on a 32x32 WS array (``os_32x32`` with dataflow ws),
   annealing, 20,000 evaluations per distinct layer shape; target < 30 s.
3. EDP found by each heuristic with 5 % of the evaluations vs the exhaustive optimum,
   on the ResNet-50 layers whose space enumerates within 2,000,000 points.

    .venv/bin/python benchmarks/bench_mapper.py [--quick]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402

import numpy as np  # noqa: E402

from dataflows import zoo  # noqa: E402
from mapper.network_map import map_network  # noqa: E402
from mapper.search import search  # noqa: E402
from mapper.space import MappingSpace, SpaceError  # noqa: E402
from sim import evaluate_batch, load_accelerator, simulate  # noqa: E402

TARGET_EVALS_PER_S = 1_000_000
TARGET_RESNET50_S = 30.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller budgets")
    ap.add_argument("--json", help="also write a one-line summary to this JSON file")
    args = ap.parse_args()
    accel = replace(load_accelerator("os_32x32"), dataflow="ws", name="ws_32x32")
    net = zoo.load("resnet50")
    layer = net["layer3.0.conv2"]
    n = 200_000 if args.quick else 1_000_000

    # 1. throughput of the search loop against the bare model
    space = MappingSpace(layer, accel)
    genomes = space.random_genomes(np.random.default_rng(0), n)
    batch, _ = space.decode(genomes)
    t = time.perf_counter()
    evaluate_batch(layer, accel, batch, detail=False)
    bare = n / (time.perf_counter() - t)
    res = search(layer, accel, "annealing", max_evals=n, seed=0, progress=False)
    loop = res.evaluations / res.elapsed_s
    print(f"1. search loop (annealing, {res.evaluations:,} evaluations of "
          f"{layer.name}): {loop:,.0f} evaluations/s; bare evaluate_batch on the same "
          f"genomes {bare:,.0f}/s (search overhead x{bare / loop:.2f}); "
          f"{'PASS' if loop >= TARGET_EVALS_PER_S else 'MISS'} vs {TARGET_EVALS_PER_S:,}/s")

    # 2. ResNet-50 on 32x32 WS
    t = time.perf_counter()
    mapped = map_network(net, accel, "annealing", max_evals=20_000, seed=0, progress=False)
    wall = time.perf_counter() - t
    default = simulate(net, accel)
    ratio = (mapped.result.total_cycles * mapped.result.energy_pj) / (
        default.total_cycles * default.energy_pj)
    print(f"2. ResNet-50 ({len(net)} layers, {len(mapped.searches)} distinct shapes) on "
          f"{accel.name}: mapped in {wall:.1f} s; network EDP {ratio:.3f}x the default "
          f"mapping's; {'PASS' if wall < TARGET_RESNET50_S else 'MISS'} vs "
          f"{TARGET_RESNET50_S:.0f} s")

    # 3. heuristics vs exhaustive per layer
    print("3. EDP with 5 % of the evaluations / exhaustive optimum, per layer:")
    print(f"   {'layer':<24}{'space':>12}{'random':>10}{'annealing':>11}{'genetic':>10}")
    worst = 1.0
    shown = 0
    for lay in net.layers():
        if shown >= (2 if args.quick else 6):
            break
        try:
            opt = search(lay, accel, "exhaustive", max_evals=10**8, progress=False)
        except SpaceError:
            continue
        shown += 1
        budget = max(200, opt.evaluations // 20)
        ratios = [search(lay, accel, s, max_evals=budget, seed=1, progress=False).best_score
                  / opt.best_score for s in ("random", "annealing", "genetic")]
        worst = max(worst, *ratios)
        print(f"   {lay.name:<24}{opt.evaluations:>12,}" + "".join(
            f"{r:>10.4f}" for r in ratios))
    print(f"   worst ratio {worst:.4f} ({'PASS' if worst <= 1.01 else 'MISS'} vs 1.01)")
    if args.json:
        import json
        with open(args.json, "w") as f:
            json.dump({"summary": f"search loop {loop:,.0f}/s (bare model {bare:,.0f}/s); "
                                  f"ResNet-50 mapped in {wall:.1f} s; worst heuristic/"
                                  f"exhaustive EDP {worst:.4f}",
                       "search_per_s": loop, "bare_per_s": bare, "resnet50_seconds": wall,
                       "worst_ratio": worst}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
