#!/usr/bin/env python3
"""Run ZigZag on its shipped accelerators and networks; write per-layer costs as JSON.

Runs in ZigZag's own venv (``build/peers/zigzag-venv``: ``python3.11 -m venv`` +
``pip install zigzag-dse==3.9.1 six``), started as a subprocess by
``benchmarks/bench_zigzag.py`` or by hand; it must not import coforge. Two modes:

* one run (the original mode): ``--workload``/``--hardware``/``--mapping`` (defaults:
  the wheel's ``inputs/workload/resnet18.onnx``, ``inputs/hardware/tpu_like.yaml``,
  ``inputs/mapping/tpu_like.yaml``), one JSON object to ``--out`` (or stdout);
* the shipped sweep: ``--sweep DIR`` runs every pair of ``--accelerator`` (default: the
  six non-IMC accelerators of ``SHIPPED``) x ``--network`` (default ``resnet18``,
  ``mobilenetv2``: the wheel's ONNX files) with the accelerator's shipped mapping file
  and writes ``DIR/zigzag_<version>_<accelerator>.json`` (both networks in one file),
  rewritten after every finished network so a killed sweep keeps what it had; a pair
  already in the file is not re-run (``--force`` re-runs it).

Each run calls ZigZag's API ``zigzag.api.get_hardware_performance_zigzag`` once per
objective (``--opt``; ZigZag's LOMA temporal mapper, default ``lpf_limit`` 6, spatial
mappings from the mapping file) in a temporary dump folder. The JSON::

    {"tool": "zigzag-dse", "version": ..., "inputs": {...: {"path", "sha256"}},
     "runs": [{"opt": "EDP", "wall_s": <seconds in the API call: the whole network's
               mapping search and evaluation>, "cpu_s": <this process's CPU seconds
               in it (ZigZag maps on one core; the machine may be shared)>,
               "total": {"latency_cycles", "energy_pj"},
               "layers": [{"name", "macs", "loop_sizes", "latency_cycles",
                           "latency_breakdown", "energy_pj", "mac_energy_pj",
                           "energy_pj_by_memory", "word_accesses", "memory_levels",
                           "spatial_mapping", "temporal_mapping",
                           "spatial_loops", "temporal_loops"}, ...]}, ...]}

(sweep files hold ``{"tool", "version", "accelerator", "networks": {name: <that
object>}}``). ``latency_cycles`` is ZigZag's ``latency_total2`` (ideal temporal cycles
+ stalls + on/off-loading + systolic drain); ``word_accesses`` are ZigZag's
per-operand, per-memory access counts in port-width words, by direction
(``rd_out_to_low``, ``wr_in_by_low``, ``rd_out_to_high``, ``wr_in_by_high``).
``memory_levels[op]`` names op's memories innermost first; ``temporal_loops[op][i]``
lists the ``[dim, size]`` loops ZigZag places at ``memory_levels[op][i]``, innermost
loop first (``TemporalMapping.mapping_dic_origin``); ``spatial_loops[op][i]`` the
``[dim, factor]`` unrollings at architecture level ``i`` (0 = the MAC array itself,
``SpatialMapping.mapping_dict_origin``). ZigZag's log output goes to stderr.
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
    root = os.path.realpath(str(importlib.resources.files("zigzag")))
    full = os.path.realpath(path)           # the venv may be reached through a symlink
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
        "memory_levels": {str(op): [lvl.name for lvl in hierarchy.get_memory_levels(
            layer.memory_operand_links.layer_to_mem_op(op))] for op in layer.layer_operands},
        "spatial_mapping": str(cme.spatial_mapping),
        "temporal_mapping": str(cme.temporal_mapping),
        "spatial_loops": loops(cme.spatial_mapping.mapping_dict_origin),
        "temporal_loops": loops(cme.temporal_mapping.mapping_dic_origin),
    }


def loops(per_operand):
    """``{op: [[(dim, size), ...] per level]}`` as ``{"W": [[["K", 32], ...], ...]}``."""
    def size(v):
        return int(v) if float(v).is_integer() else float(v)
    return {str(op): [[[str(d), size(f)] for d, f in level] for level in levels]
            for op, levels in per_operand.items()}


def run(workload, hardware, mapping, opt, lpf_limit):
    from zigzag.api import get_hardware_performance_zigzag

    with tempfile.TemporaryDirectory(prefix="coforge_zigzag_") as wd:
        t0, c0 = time.perf_counter(), time.process_time()
        energy, latency, cmes = get_hardware_performance_zigzag(
            workload, hardware, mapping, opt=opt, dump_folder=os.path.join(wd, "out"),
            lpf_limit=lpf_limit, loma_show_progress_bar=False)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    layers = [layer_record(cme) for cme, _ in cmes[0][1]]
    return {"opt": opt, "lpf_limit": lpf_limit, "wall_s": wall, "cpu_s": cpu,
            "total": {"latency_cycles": float(latency), "energy_pj": float(energy)},
            "layers": layers}


#: The non-IMC accelerators the wheel ships -> their hardware and mapping files
#: (``inputs/hardware``, ``inputs/mapping``). eyeriss_like ships no mapping file; it
#: gets ``default.yaml`` (K on D1, C on D2; ZigZag clips the 32-wide hint to 14 x 12).
SHIPPED = {
    "tpu_like": ("tpu_like.yaml", "tpu_like.yaml"),
    "edge_tpu_like": ("edge_tpu_like.yaml", "edge_tpu_like.yaml"),
    "ascend_like": ("ascend_like.yaml", "ascend_like.yaml"),
    "meta_prototype": ("meta_prototype.yaml", "meta_prototype_like.yaml"),
    "tesla_npu_like": ("tesla_npu_like.yaml", "tesla_npu_like.yaml"),
    "eyeriss_like": ("eyeriss_like.yaml", "default.yaml"),
}
NETWORKS = ("resnet18", "mobilenetv2")


def relative_command(here):
    python = os.path.relpath(sys.executable, here) if sys.executable.startswith(here) \
        else sys.executable
    return " ".join([python] + [os.path.relpath(a, here)
                                if os.path.isabs(a) and a.startswith(here) else a
                                for a in sys.argv])


def result_object(workload, hardware, mapping, opts, lpf_limit):
    with contextlib.redirect_stdout(sys.stderr):
        runs = [run(workload, hardware, mapping, opt, lpf_limit) for opt in opts]
    version = importlib.metadata.version("zigzag-dse")
    return {
        "tool": "zigzag-dse",
        "version": version,
        "command": relative_command(os.getcwd()),
        "setup": "python3.11 -m venv build/peers/zigzag-venv && "
                 "build/peers/zigzag-venv/bin/pip install zigzag-dse==%s six" % version,
        "generated": datetime.date.today().isoformat(),
        "python": platform.python_version(),
        "numpy": importlib.metadata.version("numpy"),
        "onnx": importlib.metadata.version("onnx"),
        "inputs": {key: {"path": display(path), "sha256": sha256(path)}
                   for key, path in (("workload", workload), ("hardware", hardware),
                                     ("mapping", mapping))},
        "runs": runs,
    }


def write_json(path, data):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, path)


def sweep(args, opts):
    os.makedirs(args.sweep, exist_ok=True)
    version = importlib.metadata.version("zigzag-dse")
    accels = args.accelerator or list(SHIPPED)
    files = {}
    for accel in accels:
        path = os.path.join(args.sweep, f"zigzag_{version}_{accel}.json")
        files[accel] = {"tool": "zigzag-dse", "version": version, "accelerator": accel,
                        "networks": {}}
        if os.path.exists(path):
            with open(path) as f:
                files[accel] = json.load(f)
    for net in args.network or list(NETWORKS):       # every accelerator's first network first
        for accel in accels:
            hw_file, map_file = SHIPPED[accel]
            path = os.path.join(args.sweep, f"zigzag_{version}_{accel}.json")
            data = files[accel]
            if net in data["networks"] and not args.force:
                print(f"{accel} x {net}: already in {path}", file=sys.stderr)
                continue
            print(f"{accel} x {net}: running", file=sys.stderr, flush=True)
            data["networks"][net] = result_object(
                shipped(f"workload/{net}.onnx"), shipped(f"hardware/{hw_file}"),
                shipped(f"mapping/{map_file}"), opts, args.lpf_limit)
            write_json(path, data)
            cpu = sum(r["cpu_s"] for r in data["networks"][net]["runs"])
            print(f"{accel} x {net}: done, {cpu:.0f} CPU s -> {path}", file=sys.stderr,
                  flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workload", default=shipped("workload/resnet18.onnx"))
    ap.add_argument("--hardware", default=shipped("hardware/tpu_like.yaml"))
    ap.add_argument("--mapping", default=shipped("mapping/tpu_like.yaml"))
    ap.add_argument("--opt", action="append", choices=("EDP", "latency", "energy"),
                    help="ZigZag objective; repeat for several runs (default: EDP)")
    ap.add_argument("--lpf-limit", type=int, default=6, help="LOMA's lpf_limit (ZigZag default 6)")
    ap.add_argument("--out", help="write the JSON here (default: stdout)")
    ap.add_argument("--sweep", metavar="DIR",
                    help="run the shipped accelerators x networks into DIR (see above)")
    ap.add_argument("--accelerator", action="append", choices=sorted(SHIPPED),
                    help="with --sweep: only this accelerator (repeatable)")
    ap.add_argument("--network", action="append", choices=NETWORKS,
                    help="with --sweep: only this network (repeatable)")
    ap.add_argument("--force", action="store_true", help="with --sweep: re-run finished pairs")
    args = ap.parse_args()

    # ZigZag's API calls logging.basicConfig(INFO); configuring first keeps it quiet.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    opts = args.opt or ["EDP"]
    if args.sweep:
        sweep(args, opts)
        return
    result = result_object(args.workload, args.hardware, args.mapping, opts, args.lpf_limit)
    if args.out:
        write_json(args.out, result)
    else:
        print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
