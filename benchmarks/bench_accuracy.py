#!/usr/bin/env python3
"""Accuracy benchmarks: integer-engine images/s vs onnxruntime, time to a front, sensitivity.

1. **Integer engine vs onnxruntime float**, per shipped model (``digits_cnn``,
   ``digits_dwsep``, ``digits_mlp``) on the 540 images of ``digits_test.npz``:
   images/s of ``sim.int_network.run_integer`` (int8 per-channel weights, int8
   activations, ``QuantSettings()``) -- the hot loop only: ``quantize_model`` and its
   calibration on ``digits_calib.npz`` run before, untimed -- against images/s of
   ``onnxruntime.InferenceSession.run`` on the same float32 batch of 540 (session
   creation untimed; ``intra_op_num_threads = inter_op_num_threads = 1``, CPU
   provider). Best of ``--repeat`` calls each, wall clock, one process,
   ``OMP/MKL/OPENBLAS_NUM_THREADS=1`` set before numpy is imported. The ratio printed is
   integer / onnxruntime.
2. **Time to a front** for the digits CNN: one whole ``mapper.dse.run_dse`` call
   (sensitivity table of the space's bits choices, every design's fit check on
   ECP5-85k, mapping and cost, integer-engine top-1; store in a temporary directory)
   on the 24-design space of notebook 05 (``edge_8x8_ws`` with rows and cols in {4, 8};
   conv1 int8, conv2 weights 2/4/8 bits, fc weights 4/8 bits; activations int8),
   ``strategy="grid"`` (all 24), objectives accuracy, latency, energy, target
   ``ecp5-85k``, annealing with 100 evaluations per layer shape, ``workers=1``, seed 0.
   Baseline in the same run: the same call without the accuracy task (objectives
   latency, energy: cost only, as before issue 9); the ratio is what measuring accuracy
   adds. Per-process caches of measured accuracies are cleared before each timed call.
3. **Cost of the sensitivity table** of the digits CNN (each MAC layer alone at w4a8
   and w2a8, baseline int8; ``mapper.accuracy.sensitivity_table``): seconds and number
   of measurements, against one int8 ``measure`` of the whole model (quantize + run on
   540 images) timed alone.

**Check** (failure => exit 1): the integer engine's int8 top-1 of every shipped model is
within 1 % (0.01) of onnxruntime's float top-1 on the same data, and the front of part 2
has >= 3 distinct accuracies with its best within 1 % of float. Timings are reported,
not gated.

    .venv/bin/python benchmarks/bench_accuracy.py [--repeat 3] [--quick] [--json OUT]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402 -- after the *_NUM_THREADS settings above

MODELS = ("digits_cnn", "digits_dwsep", "digits_mlp")
TOLERANCE = 0.01
SPACE = """\
base: edge_8x8_ws
parameters:
  rows: [4, 8]
  cols: [4, 8]
precision:
  weight_bits: [8]
  input_bits: [8]
  layers:
    conv2: {weight_bits: [2, 4, 8]}
    fc: {weight_bits: [4, 8]}
"""


def _best(fn: Callable[[], object], repeat: int) -> float:
    """Best wall seconds of ``repeat`` calls of ``fn``."""
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def bench_engines(repeat: int) -> tuple[dict[str, dict[str, float]], bool]:
    import onnxruntime as ort

    from dataflows.dataset import load_npz, shipped
    from dataflows.onnx_model import load_model
    from mapper.accuracy import top1
    from sim.int_network import QuantSettings, quantize_model, run_integer

    print(f"1. images/s on digits_test, best of {repeat} (integer engine: run_integer after "
          f"quantize_model, calibration untimed; onnxruntime {ort.__version__}: "
          f"InferenceSession.run, 1 thread, session creation untimed)")
    print(f"   {'model':<14}{'images':>7}{'integer img/s':>15}{'ort float img/s':>17}"
          f"{'int/ort':>9}{'int8 top-1':>12}{'float top-1':>13}  check")
    out: dict[str, dict[str, float]] = {}
    ok = True
    for name in MODELS:
        path = shipped(f"{name}.onnx")
        model = load_model(path)
        data = load_npz(shipped("digits_test.npz"), model)
        calib = load_npz(shipped("digits_calib.npz"), model)
        qm = quantize_model(model, calib.x, QuantSettings())
        x = np.ascontiguousarray(data.x, dtype=np.float32)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        feed = {sess.get_inputs()[0].name: x}
        y_int = run_integer(qm, data.x)
        y_ort = sess.run(None, feed)[0]
        t_int = _best(lambda qm=qm, x=data.x: run_integer(qm, x), repeat)
        t_ort = _best(lambda sess=sess, feed=feed: sess.run(None, feed), repeat)
        a_int, a_ort = top1(y_int, data.y), top1(y_ort, data.y)
        good = abs(a_int - a_ort) <= TOLERANCE
        ok &= good
        out[name] = {"images": len(data), "integer_img_s": len(data) / t_int,
                     "ort_img_s": len(data) / t_ort, "int8_top1": a_int, "float_top1": a_ort}
        print(f"   {name:<14}{len(data):>7}{len(data) / t_int:>15,.0f}{len(data) / t_ort:>17,.0f}"
              f"{t_ort / t_int:>9.4f}{a_int:>12.4f}{a_ort:>13.4f}  "
              f"{'PASS' if good else 'FAIL'} (|int8 - float| <= {TOLERANCE})")
    return out, ok


def bench_front(max_designs: int) -> tuple[dict[str, float], bool]:
    from dataflows.dataset import shipped
    from dataflows.onnx_import import from_onnx
    from mapper import dse
    from mapper.dse_accuracy import clear_caches
    from mapper.hw_space import load_hw_space
    from mapper.store import ResultStore

    task = dse.AccuracyTask(str(shipped("digits_cnn.onnx")), str(shipped("digits_test.npz")),
                            str(shipped("digits_calib.npz")))
    common = {"network": "digits_cnn", "target": "ecp5-85k", "strategy": "grid",
              "max_designs": max_designs, "population": 8, "map_evals": 100, "seed": 0}
    runs = {"accuracy": dse.DseSettings(accuracy=task,
                                        objectives=("accuracy", "latency", "energy"), **common),
            "cost only": dse.DseSettings(objectives=("latency", "energy"), **common)}
    print(f"2. time to a front, digits CNN: one run_dse call, {max_designs} designs of the "
          f"notebook-05 space (grid), target ecp5-85k, annealing 100 evals/layer shape, "
          f"workers=1")
    secs: dict[str, float] = {}
    front: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "space.yaml").write_text(SPACE)
        space = load_hw_space(Path(tmp) / "space.yaml")
        for label, settings in runs.items():
            clear_caches()
            store = ResultStore(Path(tmp) / f"{label.replace(' ', '_')}.sqlite",
                                settings.meta(space), resume=False)
            net = from_onnx(task.onnx)
            t = time.perf_counter()
            n = dse.run_dse(space, net, settings, store, workers=1)
            secs[label] = time.perf_counter() - t
            rows = store.rows()
            store.close()
            f = dse.pareto_rows(rows, settings)
            if label == "accuracy":
                front = f
            print(f"   {label:<10} objectives {','.join(settings.objectives):<24} {n} designs "
                  f"({sum(r['feasible'] for r in rows)} feasible) in {secs[label]:.1f} s, "
                  f"{secs[label] / max(n, 1):.2f} s/design, front {len(f)}")
    accs = sorted({round(r["accuracy"], 9) for r in front})
    from dataflows.dataset import load_npz
    from dataflows.onnx_model import load_model
    from mapper.accuracy import float_outputs_ort, top1
    model = load_model(task.onnx)
    data = load_npz(task.data, model)
    float_top1 = top1(float_outputs_ort(task.onnx, data.x), data.y)
    good = len(accs) >= 3 and max(accs) >= float_top1 - TOLERANCE
    print(f"   accuracy / cost-only time x{secs['accuracy'] / secs['cost only']:.2f}; front "
          f"accuracies {[round(a, 4) for a in accs]} (float {float_top1:.4f}): "
          f"{'PASS' if good else 'FAIL'} (>= 3 distinct, best within {TOLERANCE} of float)")
    return {"accuracy_s": secs["accuracy"], "cost_only_s": secs["cost only"],
            "designs": max_designs, "front": len(front), "front_accuracies": accs}, good


def bench_sensitivity(repeat: int) -> dict[str, float]:
    from dataflows.dataset import load_npz, shipped
    from dataflows.onnx_model import load_model, mac_nodes
    from mapper.accuracy import Choice, measure, sensitivity_table
    from sim.int_network import LayerQuant, QuantSettings

    model = load_model(shipped("digits_cnn.onnx"))
    data = load_npz(shipped("digits_test.npz"), model)
    calib = load_npz(shipped("digits_calib.npz"), model)
    choices = {n.layer_name: [Choice(LayerQuant(4, 8)), Choice(LayerQuant(2, 8))]
               for n in mac_nodes(model)}
    table: dict = {}

    def run() -> None:
        table.update(sensitivity_table(model, data, calib, choices))

    t_table = _best(run, repeat)
    t_one = _best(lambda: measure(model, data, calib, QuantSettings()), repeat)
    n = 1 + len(table["rows"])
    print(f"3. sensitivity table, digits CNN ({len(choices)} layers x w4a8, w2a8 + int8 "
          f"baseline = {n} measurements on {len(data)} images), best of {repeat}: "
          f"{t_table:.2f} s ({t_table / n:.3f} s/measurement); one int8 measure alone "
          f"{t_one:.3f} s; table / one measure x{t_table / t_one:.1f}")
    return {"seconds": t_table, "measurements": n, "one_measure_s": t_one}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="calls per timing (best kept)")
    ap.add_argument("--quick", action="store_true", help="12 designs in part 2, not 24")
    ap.add_argument("--json", help="also write the figures to this JSON file")
    args = ap.parse_args()
    repeat = max(1, args.repeat)
    load = os.getloadavg()[0]
    print(f"load average {load:.1f} on {os.cpu_count()} CPUs; wall-clock timings")
    engines, ok_engines = bench_engines(repeat)
    front, ok_front = bench_front(12 if args.quick else 24)
    sens = bench_sensitivity(repeat)
    ok = ok_engines and ok_front
    print(f"check: {'PASS' if ok else 'FAIL'} (integer int8 top-1 within {TOLERANCE} of "
          f"onnxruntime float on every model; front >= 3 accuracies, best within "
          f"{TOLERANCE} of float)")
    if args.json:
        cnn = engines["digits_cnn"]
        with open(args.json, "w") as f:
            json.dump({"summary": f"digits_cnn integer engine {cnn['integer_img_s']:,.0f} img/s "
                                  f"vs onnxruntime {cnn['ort_img_s']:,.0f} img/s; front of "
                                  f"{front['designs']} designs in {front['accuracy_s']:.1f} s; "
                                  f"sensitivity table {sens['measurements']} measurements in "
                                  f"{sens['seconds']:.1f} s; check "
                                  f"{'PASS' if ok else 'FAIL'}",
                       "engines": engines, "front": front, "sensitivity": sens,
                       "load_average": load, "check": ok}, f, indent=1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
