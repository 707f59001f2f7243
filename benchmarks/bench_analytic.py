#!/usr/bin/env python3
"""Throughput of the vectorised analytic cost model, ``sim.analytic.evaluate_batch``.

Generates a batch (default 1,000,000) of random *legal* mappings of one ResNet-50
layer (default ``layer3.0.conv2``, a 3x3 stride-2 conv; im2col GEMM 196 x 2304 x 256)
directly as numpy arrays, checks a random sample of them against ``Mapping.check`` and
the one-mapping entry point ``sim.analytic.evaluate``, then times ``evaluate_batch`` on
the whole batch (best of 3, one process, BLAS/OpenMP threads pinned to 1) and, as the
baseline, a Python loop calling ``evaluate()`` on 2,000 of the same mappings.

What is timed: only the ``evaluate_batch`` call on the prebuilt batch (a hot loop:
mapping generation, the legality re-check and validation are outside the timer; the
process start-up and imports are not included). ``evaluate_batch`` keeps no results
between calls (its only cache is an index table keyed by batch size and level), so
the three repeats each cost the whole batch.

The baseline is **not an independent scalar implementation**: ``evaluate()`` is
``Mapping.check`` + ``evaluate_batch`` on a ``MappingBatch`` of one mapping + a
``Result``, so the "batch-of-one" rate measures the same vectorised code paying
numpy's per-call overhead once per mapping, and the printed speed-up is what batching
buys, not a second algorithm. Likewise the validation's "``evaluate()`` equals its
batch row" checks that a row does not depend on the rest of the batch (same code).

It times both outputs of ``evaluate_batch``: ``detail=True`` (every per-level,
per-operand traffic array) and ``detail=False`` (the same model returning only the
per-mapping totals -- what a mapper's inner loop consumes); the target applies to the
latter, and the two are checked equal on every total.

Target: >= 1,000,000 evaluations/s. The script reports PASS or MISS and exits 0 either
way; it exits 1 only when the validation fails (a generated mapping is illegal or the
batch of one and the big batch disagree on a row).

    .venv/bin/python benchmarks/bench_analytic.py [--batch N] [--spec NAME] [--json OUT]
"""

from __future__ import annotations

import os

# Single-threaded numpy: set before numpy is imported anywhere.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
             "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from dataflows.dataflow import DIM_INDEX, MAP_DIMS, Dataflow, get_dataflow  # noqa: E402
from dataflows.layer import Layer, conv  # noqa: E402
from dataflows.mapping import LEVELS, Mapping  # noqa: E402
from sim.analytic import (CostError, MappingBatch, evaluate, evaluate_batch,  # noqa: E402
                          result_from_arrays)
from sim.spec import Accelerator  # noqa: E402
from sim.spec_io import load_accelerator  # noqa: E402

TARGET_PER_S = 1_000_000


# -- workload ------------------------------------------------------------------------
def load_layer(network: str, name: str) -> tuple[Layer, str]:
    """The layer from the model zoo; a hand-built ResNet-50 layer3.0.conv2 without it."""
    try:
        from dataflows import zoo
        return zoo.load(network)[name], f"dataflows.zoo.load({network!r})[{name!r}]"
    except ImportError:
        if (network, name) != ("resnet50", "layer3.0.conv2"):
            raise
        return (conv("layer3.0.conv2", 256, 256, 28, 3, stride=2, padding=1),
                "dataflows.layer.conv (zoo unavailable)")


# -- random legal mappings, vectorised ----------------------------------------------
def _divisor_table(n_max: int) -> tuple[np.ndarray, np.ndarray]:
    """``table[n, :count[n]]`` are the divisors of n (row 0 unused)."""
    divs = [[1]] + [[d for d in range(1, n + 1) if n % d == 0] for n in range(1, n_max + 1)]
    width = max(len(d) for d in divs)
    table = np.ones((n_max + 1, width), dtype=np.int64)
    count = np.ones(n_max + 1, dtype=np.int64)
    for n, ds in enumerate(divs):
        table[n, :len(ds)] = ds
        count[n] = len(ds)
    return table, count


def _random_divisor(rng: np.random.Generator, n: np.ndarray, table: np.ndarray,
                    count: np.ndarray) -> np.ndarray:
    idx = (rng.random(n.shape) * count[n]).astype(np.int64)
    return table[n, idx]


def random_mappings(rng: np.random.Generator, df: Dataflow, bounds: np.ndarray,
                    array_rows: int, array_cols: int, size: int) -> MappingBatch:
    """``size`` random mappings that satisfy ``Mapping.check`` (structural legality).

    Spatial: each of the dataflow's row (column) dimensions gets a factor uniform in
    [1, min(bound, array side left)]. Temporal: ``n = ceil(bound / spatial)`` steps are
    split over pe (stream dimensions only), glb and dram. Half of the mappings use exact
    splits (a random divisor of what is left at each level, the rest at dram); the other
    half use ceiling splits (a factor uniform in [1, left], left = ceil(left / factor),
    the rest at dram), which produce padded, imperfect tiles. Either way the product
    covers the bound and the outermost non-unit factor has no fully idle iteration:
    every factor f at a level is at most ceil(bound / inner), inner being the product
    of the factors inside it. Loop orders are random permutations per level.
    """
    nd = len(MAP_DIMS)
    rows = np.ones((size, nd), dtype=np.int64)
    cols = np.ones((size, nd), dtype=np.int64)
    for arr, dims, side in ((rows, df.row_dims, array_rows), (cols, df.col_dims, array_cols)):
        left = np.full(size, side, dtype=np.int64)
        for d in dims:
            i = DIM_INDEX[d]
            f = rng.integers(1, np.minimum(bounds[i], left) + 1)
            arr[:, i] = f
            left //= f
    spatial = rows * cols
    n = -(-bounds // spatial)                                    # [B, 8] steps left
    table, count = _divisor_table(int(bounds.max()))
    exact = rng.random(size) < 0.5
    stream = np.array([d in df.stream_dims for d in MAP_DIMS])
    temporal = np.ones((size, len(LEVELS), nd), dtype=np.int64)
    left = n
    for lvl in (0, 1):                                           # pe, glb; dram takes the rest
        f = np.where(exact[:, None], _random_divisor(rng, left, table, count),
                     rng.integers(1, left + 1))
        if lvl == 0:
            f = np.where(stream, f, 1)
        temporal[:, lvl] = f
        left = -(-left // f)
    temporal[:, 2] = left
    order = np.argsort(rng.random((size, len(LEVELS), nd)), axis=2).astype(np.int64)
    return MappingBatch(rows=rows, cols=cols, temporal=temporal, order=order)


def check_rules_vectorised(batch: MappingBatch, df: Dataflow, bounds: np.ndarray,
                           array_rows: int, array_cols: int) -> int:
    """Count mappings of the whole batch breaking Mapping.check's rules (vectorised)."""
    row_ok = np.array([d in df.row_dims for d in MAP_DIMS])
    col_ok = np.array([d in df.col_dims for d in MAP_DIMS])
    pe_ok = np.array([d in df.stream_dims for d in MAP_DIMS])
    bad = ((batch.rows > 1) & ~row_ok).any(1) | ((batch.cols > 1) & ~col_ok).any(1)
    bad |= batch.rows.prod(1) > array_rows
    bad |= batch.cols.prod(1) > array_cols
    bad |= ((batch.temporal[:, 0] > 1) & ~pe_ok).any(1)
    # parts outermost first: dram, glb, pe, cols, rows
    parts = np.stack([batch.temporal[:, 2], batch.temporal[:, 1], batch.temporal[:, 0],
                      batch.cols, batch.rows], axis=2)           # [B, 8, 5]
    total = parts.prod(2)
    first = np.argmax(parts > 1, axis=2)
    outer = np.take_along_axis(parts, first[..., None], axis=2)[..., 0]  # 1 if all ones
    bad |= (total < bounds).any(1) | (total - total // outer >= bounds).any(1)
    sorted_orders = np.sort(batch.order, axis=2)
    bad |= (sorted_orders != np.arange(len(MAP_DIMS))).any((1, 2))
    return int(bad.sum())


def to_mapping(batch: MappingBatch, i: int) -> Mapping:
    return Mapping(rows=tuple(int(v) for v in batch.rows[i]),
                   cols=tuple(int(v) for v in batch.cols[i]),
                   temporal=tuple(tuple(int(v) for v in t) for t in batch.temporal[i]),
                   order=tuple(tuple(MAP_DIMS[j] for j in o) for o in batch.order[i]))


def subset(batch: MappingBatch, idx: np.ndarray) -> MappingBatch:
    return MappingBatch(rows=batch.rows[idx], cols=batch.cols[idx],
                        temporal=batch.temporal[idx], order=batch.order[idx])


# -- validation ----------------------------------------------------------------------
def validate(layer: Layer, accel: Accelerator, df: Dataflow, batch: MappingBatch,
             arr: dict[str, np.ndarray], sample: np.ndarray, timing: str) -> tuple[int, int]:
    """Mapping.check and evaluate() on ``sample``; returns (#evaluated, #capacity errors)."""
    bounds = df.bounds(layer)
    compared = capacity = 0
    for i in sample:
        m = to_mapping(batch, int(i))
        m.check(layer, df, accel.rows, accel.cols, bounds)       # raises MappingError
        try:
            res = evaluate(layer, accel, m, timing)
        except CostError as err:
            capacity += 1
            if arr["legal"][i]:
                raise AssertionError(f"mapping {i}: evaluate() raised CostError but "
                                     f"evaluate_batch marks it legal: {m.to_dict()}") from err
            continue
        if not arr["legal"][i]:
            raise AssertionError(f"mapping {i}: evaluate() accepts it but evaluate_batch "
                                 f"marks it illegal: {m.to_dict()}")
        row = result_from_arrays(layer, arr, int(i), timing, m)
        if res != row:
            diff = [k for k in res.__dataclass_fields__
                    if getattr(res, k) != getattr(row, k)]
            raise AssertionError(f"mapping {i}: evaluate_batch row differs from evaluate() "
                                 f"in {diff}: {m.to_dict()}")
        compared += 1
    return compared, capacity


# -- timing --------------------------------------------------------------------------
def best_of(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=1_000_000, help="mappings in the batch")
    ap.add_argument("--spec", default="tpu_128x128_ws",
                    help="accelerator spec (shipped name or YAML path)")
    ap.add_argument("--network", default="resnet50")
    ap.add_argument("--layer", default="layer3.0.conv2")
    ap.add_argument("--timing", default="native", choices=("native", "scalesim"))
    ap.add_argument("--repeats", type=int, default=3, help="timed runs (best is kept)")
    ap.add_argument("--scalar", type=int, default=2000,
                    help="mappings for the batch-of-one evaluate() loop")
    ap.add_argument("--validate", type=int, default=200, help="mappings checked one by one")
    ap.add_argument("--seed", type=int, default=20250521)
    ap.add_argument("--json", help="also write the figures to this JSON file")
    args = ap.parse_args()

    layer, source = load_layer(args.network, args.layer)
    accel = load_accelerator(args.spec)
    df = get_dataflow(accel.dataflow)
    bounds = np.array([df.bounds(layer)[d] for d in MAP_DIMS], dtype=np.int64)
    rng = np.random.default_rng(args.seed)

    print("bench_analytic: sim.analytic.evaluate_batch throughput")
    print(f"  python {platform.python_version()}, numpy {np.__version__}, "
          f"threads pinned to 1, {platform.machine()}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f} (the figures are wall time: other jobs slow them)")
    print(f"  layer  {layer.name} from {source}: {layer.kind} K={layer.K} C={layer.C} "
          f"{layer.P}x{layer.Q} R={layer.R} S={layer.S} stride {layer.stride_h}, "
          f"{layer.macs:,} MACs")
    print(f"  accel  {accel.name} ({accel.rows}x{accel.cols} {df.name}), timing "
          f"{args.timing}; mapping bounds "
          + " ".join(f"{d}={b}" for d, b in zip(MAP_DIMS, bounds) if b > 1))

    t0 = time.perf_counter()
    batch = random_mappings(rng, df, bounds, accel.rows, accel.cols, args.batch)
    gen_s = time.perf_counter() - t0
    n_bad = check_rules_vectorised(batch, df, bounds, accel.rows, accel.cols)
    print(f"  generated {len(batch):,} random mappings in {gen_s:.2f} s "
          f"(vectorised legality re-check: {n_bad} illegal)")

    # -- timed: the batch model ----------------------------------------------------------
    arr: dict[str, np.ndarray] = {}

    def run_batch() -> None:
        arr.clear()
        arr.update(evaluate_batch(layer, accel, batch, args.timing))

    detail_s = best_of(run_batch, args.repeats)
    detail_rate = len(batch) / detail_s
    legal_frac = float(arr["legal"].mean())

    # The mapper's inner loop: the same model, per-mapping totals only (no 36
    # per-level/operand traffic arrays). Checked equal to the detailed run's totals.
    summary: dict[str, np.ndarray] = {}

    def run_summary() -> None:
        summary.clear()
        summary.update(evaluate_batch(layer, accel, batch, args.timing, detail=False))

    batch_s = best_of(run_summary, args.repeats)
    rate = len(batch) / batch_s
    same = all(np.array_equal(v, arr[k]) for k, v in summary.items())

    # -- validation on a random sample -----------------------------------------------
    sample = rng.choice(len(batch), size=min(args.validate, len(batch)), replace=False)
    ok = n_bad == 0 and same
    if not same:
        print("  VALIDATION FAILED: detail=False totals differ from detail=True")
    try:
        compared, capacity = validate(layer, accel, df, batch, arr, sample, args.timing)
        # Batch independence: a sub-batch costs the same as the rows of the big batch.
        sub = evaluate_batch(layer, accel, subset(batch, sample), args.timing)
        for k, v in sub.items():
            if not np.array_equal(v, arr[k][sample]):
                raise AssertionError(f"evaluate_batch on a sub-batch differs in {k!r}")
        print(f"  validation: {len(sample)} sampled mappings pass Mapping.check; "
              f"{compared} evaluate() results (each a batch of one) equal their rows of "
              f"the big batch exactly, {capacity} raise CostError (capacity) and are "
              "marked illegal in the batch")
    except Exception as err:  # noqa: BLE001 - report any validation failure and fail
        ok = False
        print(f"  VALIDATION FAILED: {type(err).__name__}: {err}")
    print(f"  capacity-legal in the batch: {legal_frac:.1%}")

    # -- timed: the batch-of-one baseline (evaluate() = evaluate_batch on 1 mapping) ----
    n_one = min(args.scalar, len(batch))
    one_maps = [to_mapping(batch, i) for i in range(n_one)]

    def run_batches_of_one() -> None:
        for m in one_maps:
            try:
                evaluate(layer, accel, m, args.timing)
            except CostError:
                pass

    one_s = best_of(run_batches_of_one, args.repeats)
    one_rate = n_one / one_s
    speedup = rate / one_rate

    print("  timed: the evaluate_batch call alone on the prebuilt batch (hot loop; "
          "generation, checks and start-up excluded; no result cache)")
    print(f"  evaluate_batch (detail=True, all traffic arrays): {len(batch):,} mappings in "
          f"{detail_s:.3f} s (best of {args.repeats}) = {detail_rate:,.0f} evaluations/s")
    print(f"  evaluate_batch (detail=False, mapper inner loop): {len(batch):,} mappings in "
          f"{batch_s:.3f} s (best of {args.repeats}) = {rate:,.0f} evaluations/s")
    print(f"  batch-of-one baseline: a Python loop of evaluate() -- Mapping.check + "
          f"evaluate_batch on a batch of 1 + Result, the same vectorised code, not a "
          f"separate scalar model -- {n_one:,} prebuilt Mappings in {one_s:.3f} s "
          f"(best of {args.repeats}) = {one_rate:,.0f} evaluations/s")
    print(f"  batching speed-up (batch of {len(batch):,} / batches of 1): {speedup:,.0f}x")
    print(f"  ratio to target {TARGET_PER_S:,}/s: {rate / TARGET_PER_S:.2f}")
    verdict = "PASS" if rate >= TARGET_PER_S else "MISS"
    print(f"{verdict}: evaluate_batch {rate:,.0f} evaluations/s vs target "
          f"{TARGET_PER_S:,}/s ({rate / TARGET_PER_S:.2f}x)")
    if args.batch < 1_000_000:
        print("  note: batch below 1,000,000 -- not the benchmark's reference size")
    if not ok:
        print("FAIL: validation failed (see above)")

    if args.json:
        with open(args.json, "w") as f:
            json.dump({"benchmark": "analytic", "layer": layer.name, "spec": accel.name,
                       "timing": args.timing, "batch": len(batch), "batch_seconds": batch_s,
                       "evaluations_per_s": rate, "target_per_s": TARGET_PER_S,
                       "detail_seconds": detail_s, "detail_evaluations_per_s": detail_rate,
                       "ratio_to_target": rate / TARGET_PER_S, "verdict": verdict,
                       "timed": "evaluate_batch call only (hot loop), no result cache",
                       "batch_of_one_mappings": n_one,
                       "batch_of_one_seconds": one_s,
                       "batch_of_one_per_s": one_rate,
                       "speedup_vs_batch_of_one": speedup,
                       "capacity_legal_fraction": legal_frac, "validated": ok}, f, indent=1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
