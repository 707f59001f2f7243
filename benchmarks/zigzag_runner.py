#!/usr/bin/env python3
"""Run ZigZag on ResNet-18 and its shipped tpu_like accelerator; print per-layer costs as JSON.

Runs in ZigZag's own venv (``build/peers/zigzag-venv``: ``python3.11 -m venv`` +
``pip install zigzag-dse six``), started as a subprocess by
``benchmarks/bench_zigzag.py``; it must not import coforge. It uses the inputs that
ship inside the ``zigzag`` package -- ``inputs/workload/resnet18.onnx`` (torchvision
ResNet-18, 224x224, weights stripped), ``inputs/hardware/tpu_like.yaml`` and
``inputs/mapping/tpu_like.yaml`` -- unless given others, and calls ZigZag's API
``zigzag.api.get_hardware_performance_zigzag`` once per objective (``--opt``; ZigZag's
LOMA temporal mapper with its default ``lpf_limit`` 6, spatial mappings from the
mapping file), each in a temporary dump folder. It writes one JSON object::

    {"tool": "zigzag-dse", "version": ..., "inputs": {...: {"path", "sha256"}},
     "runs": [{"opt": "EDP", "wall_s": <seconds in the API call>,
               "total": {"latency_cycles", "energy_pj"},
               "layers": [{"name", "macs", "loop_sizes", "latency_cycles",
                           "latency_breakdown", "energy_pj", "mac_energy_pj",
                           "energy_pj_by_memory", "word_accesses", "spatial_mapping",
                           "temporal_mapping"}, ...]}, ...]}

to ``--out`` (or stdout). ``latency_cycles`` is ZigZag's ``latency_total2`` (ideal
temporal cycles + stalls + on/off-loading + systolic drain); ``word_accesses`` are
ZigZag's per-operand, per-memory access counts in port-width words, by direction
(``rd_out_to_low``, ``wr_in_by_low``, ``rd_out_to_high``, ``wr_in_by_high``).
ZigZag's log output goes to stderr.
"""

import argparse
import contextlib
import datetime
import hashlib
import importlib.metadata
import importlib.resources
import json
import logging
import os
import platform
import sys
import tempfile
import time


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def shipped(relative):
    return str(importlib.resources.files("zigzag") / "inputs" / relative)


def display(path):
    """``zigzag:inputs/...`` for a file shipped in the package, else the path as given."""
    root = str(importlib.resources.files("zigzag"))
    full = os.path.abspath(path)
    return "zigzag:" + os.path.relpath(full, root) if full.startswith(root + os.sep) else path


def layer_record(cme):
    """The numbers of one layer's cost-model evaluation, as plain data."""
    from zigzag.hardware.architecture.memory_port import DataDirection

    layer = cme.layer
    hierarchy = cme.accelerator.memory_hierarchy
    energy, accesses = {}, {}
    for layer_op, per_level in cme.mem_energy_breakdown.items():
        mem_op = layer.memory_operand_links.layer_to_mem_op(layer_op)
        levels = hierarchy.get_memory_levels(mem_op)
        energy[str(layer_op)] = {lvl.name: float(e) for lvl, e in zip(levels, per_level)}
    for layer_op, per_level in cme.memory_word_access.items():
        mem_op = layer.memory_operand_links.layer_to_mem_op(layer_op)
        levels = hierarchy.get_memory_levels(mem_op)
        accesses[str(layer_op)] = {
            lvl.name: {str(d): float(acc.get(d)) for d in DataDirection}
            for lvl, acc in zip(levels, per_level)}
    return {
        "name": layer.name,
        "id": int(layer.id),
        "macs": int(layer.total_mac_count),
        "loop_sizes": {str(d): int(layer.layer_dim_sizes[d]) for d in layer.layer_dims},
        "dimension_relations": [str(r) for r in layer.dimension_relations],
        "operand_precision": {str(k): int(v) for k, v in layer.operand_precision.data.items()},
        "latency_cycles": float(cme.latency_total2),
        "latency_breakdown": {
            "ideal_cycle": float(cme.ideal_cycle),
            "ideal_temporal_cycle": float(cme.ideal_temporal_cycle),
            "stall_slack_comb": float(cme.stall_slack_comb),
            "data_onloading_cycle": float(cme.data_onloading_cycle),
            "data_offloading_cycle": float(cme.data_offloading_cycle),
            "systolic_drain_cycle": float(cme.systolic_drain_cycle),
        },
        "energy_pj": float(cme.energy_total),
        "mac_energy_pj": float(cme.mac_energy),
        "energy_pj_by_memory": energy,
        "word_accesses": accesses,
        "spatial_mapping": str(cme.spatial_mapping),
        "temporal_mapping": str(cme.temporal_mapping),
    }


def run(workload, hardware, mapping, opt, lpf_limit):
    from zigzag.api import get_hardware_performance_zigzag

    with tempfile.TemporaryDirectory(prefix="coforge_zigzag_") as wd:
        t0 = time.perf_counter()
        energy, latency, cmes = get_hardware_performance_zigzag(
            workload, hardware, mapping, opt=opt, dump_folder=os.path.join(wd, "out"),
            lpf_limit=lpf_limit, loma_show_progress_bar=False)
        wall = time.perf_counter() - t0
    layers = [layer_record(cme) for cme, _ in cmes[0][1]]
    return {"opt": opt, "lpf_limit": lpf_limit, "wall_s": wall,
            "total": {"latency_cycles": float(latency), "energy_pj": float(energy)},
            "layers": layers}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workload", default=shipped("workload/resnet18.onnx"))
    ap.add_argument("--hardware", default=shipped("hardware/tpu_like.yaml"))
    ap.add_argument("--mapping", default=shipped("mapping/tpu_like.yaml"))
    ap.add_argument("--opt", action="append", choices=("EDP", "latency", "energy"),
                    help="ZigZag objective; repeat for several runs (default: EDP)")
    ap.add_argument("--lpf-limit", type=int, default=6, help="LOMA's lpf_limit (ZigZag default 6)")
    ap.add_argument("--out", help="write the JSON here (default: stdout)")
    args = ap.parse_args()

    # ZigZag's API calls logging.basicConfig(INFO); configuring first keeps it quiet.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    with contextlib.redirect_stdout(sys.stderr):
        runs = [run(args.workload, args.hardware, args.mapping, opt, args.lpf_limit)
                for opt in args.opt or ["EDP"]]
    here = os.getcwd()
    python = os.path.relpath(sys.executable, here) if sys.executable.startswith(here) \
        else sys.executable
    result = {
        "tool": "zigzag-dse",
        "version": importlib.metadata.version("zigzag-dse"),
        "command": " ".join([python] + [os.path.relpath(a, here)
                                        if os.path.isabs(a) and a.startswith(here) else a
                                        for a in sys.argv]),
        "setup": "python3.11 -m venv build/peers/zigzag-venv && "
                 "build/peers/zigzag-venv/bin/pip install zigzag-dse==%s six"
                 % importlib.metadata.version("zigzag-dse"),
        "generated": datetime.date.today().isoformat(),
        "python": platform.python_version(),
        "numpy": importlib.metadata.version("numpy"),
        "onnx": importlib.metadata.version("onnx"),
        "inputs": {key: {"path": display(path), "sha256": sha256(path)}
                   for key, path in (("workload", args.workload), ("hardware", args.hardware),
                                     ("mapping", args.mapping))},
        "runs": runs,
    }
    text = json.dumps(result, indent=1)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
