#!/usr/bin/env python3
"""Run AccelForge's mapper on ResNet-50 conv layers; write per-layer access counts as JSON.

Runs in AccelForge's own venv (Python >= 3.12: ``python3.12 -m venv
build/peers/accelforge-venv && build/peers/accelforge-venv/bin/pip install
accelforge==1.0.467``; graphviz's ``dot`` on PATH, which the mapper calls to render
mappings); it must not import coforge. For each ``--arch`` (a path, or ``shipped:NAME``
for ``examples/arches/NAME.yaml`` of the installed package) and each ResNet-50 layer of
``LAYERS`` (``--layer`` to pick), it writes a one-einsum workload (8-bit values, batch 1,
the renames AccelForge's own ``resnet50.yaml`` example uses), calls
``Spec.from_yaml(arch, workload).map_workload_to_arch()`` (AccelForge's FFM mapper,
objective its default: energy then latency on the Pareto front, one job:
``set_n_parallel_jobs(1)``) and records, per layer::

    {"layer", "shape": {p, q, c, m, r, s, stride}, "macs",
     "wall_s": <seconds in the mapper>, "cpu_s": <this process's CPU seconds in it>,
     "energy": <Total energy, in the arch file's energy unit>, "latency": <Total latency,
     in the arch file's time unit (cycles when throughputs are per cycle)>,
     "actions": {component: {tensor: {"read": n, "write": n}}},  # in actions of
     "energy_by": {component: {tensor|"compute"|"leak": {action: e}}},  # bits_per_action
     "latency_by": {component: t}, "mapping": [node, ...], "mapping_text": str,
     "reservations": [{"tensors", "component", "before"}, ...],  # where space is held
     "usage": {result column: fraction of the memory}}  # AccelForge's usage columns

``mapping`` lists AccelForge's mapping nodes outermost first: ``{"node": "Storage",
"tensors", "component"}``, ``{"node": "Temporal", "rank_variable", "tile_shape"}``,
``{"node": "Spatial", "rank_variable", "tile_shape", "name", "component"}``,
``{"node": "Compute", "component"}`` (reservations are left out). Output JSON (one file
per arch, ``--out-dir``, rewritten after every layer; finished layers are skipped on a
re-run unless ``--force``)::

    {"tool": "accelforge", "version", "arch": {"path", "sha256"}, "layers": [...]}
"""

import argparse
import contextlib
import datetime
import hashlib
import importlib.metadata
import json
import os
import platform
import sys
import tempfile
import time

#: ResNet-50 (torchvision v1.5, 224x224, batch 1) conv layers: name -> (P, Q, C, M, R, S,
#: stride). Two 3x3 layers (one of stride 2), four 1x1 layers.
LAYERS = {
    "conv2_1a": (56, 56, 64, 64, 1, 1, 1),
    "conv2_1b": (56, 56, 64, 64, 3, 3, 1),
    "conv2_1c": (56, 56, 64, 256, 1, 1, 1),
    "conv3_1b": (28, 28, 128, 128, 3, 3, 2),
    "conv4_2a": (14, 14, 1024, 256, 1, 1, 1),
    "conv5_1c": (7, 7, 512, 2048, 1, 1, 1),
}

RENAMES = """renames:
  einsums:
  - name: default
    tensor_accesses:
    - {name: input, source: Inputs & Intermediates, expected_count: 1}
    - {name: output, source: Outputs, expected_count: 1}
    - {name: weight, source: ~(input | output), expected_count: 1}
"""


def workload_yaml(p, q, c, m, r, s, stride):
    """A one-einsum conv workload: O[p,q,m] = I[c, H: p*stride + r, W: q*stride + s] * W."""
    h = f"p * {stride} + r" if stride != 1 else "p + r"
    w = f"q * {stride} + s" if stride != 1 else "q + s"
    return RENAMES + f"""workload:
  bits_per_value: {{All: 8}}
  einsums:
  - einsum: "O[p, q, m] = I[c, H: {h}, W: {w}] * W[r, s, c, m]"
    iteration_space_shape:
    - 0 <= p < {p}
    - 0 <= q < {q}
    - 0 <= c < {c}
    - 0 <= m < {m}
    - 0 <= r < {r}
    - 0 <= s < {s}
    renames: {{output: O, input: I, weight: W}}
"""


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def shipped_arch(name):
    import accelforge
    root = os.path.join(os.path.dirname(os.path.dirname(accelforge.__file__)), "examples",
                        "arches")
    return os.path.join(root, name + ".yaml")


def plain(value):
    try:
        f = float(value)
    except (TypeError, ValueError):
        return str(value)
    return int(f) if f.is_integer() else f


def mapping_nodes(mapping):
    out = []
    for node in mapping.nodes:
        kind = type(node).__name__
        if kind == "Storage":
            out.append({"node": kind, "tensors": [str(t) for t in node.tensors],
                        "component": str(node.component)})
        elif kind == "Temporal":
            out.append({"node": kind, "rank_variable": str(node.rank_variable),
                        "tile_shape": plain(node.tile_shape)})
        elif kind == "Spatial":
            out.append({"node": kind, "rank_variable": str(node.rank_variable),
                        "tile_shape": plain(node.tile_shape), "name": str(node.name),
                        "component": str(node.component)})
        elif kind == "Compute":
            out.append({"node": kind, "component": str(node.component)})
    return out


def reservation_nodes(mapping):
    """AccelForge's ``Reservation`` nodes (left out of :func:`mapping_nodes`): where the
    tensors' buffer space is reserved, as ``{"tensors", "component", "before"}`` with
    ``before`` the index in :func:`mapping_nodes`'s list of the node it precedes. A
    reservation below its Storage node means the memory holds only the tile of the loops
    under the reservation while the data is fetched once per Storage-node iteration."""
    out, index = [], 0
    for node in mapping.nodes:
        kind = type(node).__name__
        if kind == "Reservation":
            out.append({"tensors": [str(t) for t in node.purposes],
                        "component": str(node.resource),
                        "before": index})
        elif kind in ("Storage", "Temporal", "Spatial", "Compute"):
            index += 1
    return out


def text_of(mapping):
    parts = []
    for n in mapping_nodes(mapping):
        if n["node"] == "Storage":
            parts.append(f"{n['component']}[{','.join(n['tensors'])}]")
        elif n["node"] == "Temporal":
            parts.append(f"for {n['rank_variable']} tile {n['tile_shape']}")
        elif n["node"] == "Spatial":
            parts.append(f"spatial-for {n['rank_variable']} tile {n['tile_shape']} "
                         f"on {n['component']}.{n['name']}")
        else:
            parts.append(n["component"])
    return " / ".join(parts)


def layer_record(arch_path, name, shape):
    import accelforge as af

    with tempfile.TemporaryDirectory(prefix="coforge_af_") as wd:
        wl = os.path.join(wd, "workload.yaml")
        with open(wl, "w") as f:
            f.write(workload_yaml(*shape))
        t0, c0 = time.perf_counter(), time.process_time()
        spec = af.Spec.from_yaml(arch_path, wl)
        with contextlib.redirect_stdout(sys.stderr):
            result = spec.map_workload_to_arch(print_progress=False)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    row = result.data.iloc[0]
    actions, energy_by, latency_by = {}, {}, {}
    for col in result.columns:
        parts = col.split("<SEP>")
        if parts[0] != "O":
            continue
        if parts[1] == "action" and len(parts) == 5:
            comp, tensor, act = parts[2:]
            key = "compute" if tensor == "None" else tensor
            actions.setdefault(comp, {}).setdefault(key, {})[act] = plain(row[col])
        elif parts[1] == "energy" and len(parts) == 5:
            comp, tensor, act = parts[2:]
            key = "compute" if tensor == "None" else tensor
            energy_by.setdefault(comp, {}).setdefault(key, {})[act] = plain(row[col])
        elif parts[1] == "energy" and len(parts) == 4:
            energy_by.setdefault(parts[2], {})[parts[3]] = plain(row[col])
        elif parts[1] == "latency" and len(parts) == 3:
            latency_by[parts[2]] = plain(row[col])
    usage = {col: plain(row[col]) for col in result.columns
             if "usage<SEP>" in col or "reservation<SEP>" in col}
    mapping = result.mapping()
    p, q, c, m, r, s, stride = shape
    return {"layer": name,
            "shape": {"p": p, "q": q, "c": c, "m": m, "r": r, "s": s, "stride": stride},
            "macs": p * q * c * m * r * s, "wall_s": wall, "cpu_s": cpu,
            "energy": plain(row["Total<SEP>energy"]), "latency": plain(row["Total<SEP>latency"]),
            "actions": actions, "energy_by": energy_by, "latency_by": latency_by,
            "mapping": mapping_nodes(mapping), "mapping_text": text_of(mapping),
            "reservations": reservation_nodes(mapping), "usage": usage}


def write_json(path, data):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arch", action="append", required=True,
                    help="arch YAML, or shipped:NAME for the package's examples/arches")
    ap.add_argument("--layer", action="append", choices=list(LAYERS),
                    help="ResNet-50 layer (repeatable; default: all of LAYERS)")
    ap.add_argument("--out-dir", required=True, help="one <arch>.json per arch goes here")
    ap.add_argument("--force", action="store_true", help="re-run layers already recorded")
    args = ap.parse_args()

    import accelforge as af
    af.set_n_parallel_jobs(1)
    version = importlib.metadata.version("accelforge")
    os.makedirs(args.out_dir, exist_ok=True)
    here = os.getcwd()
    for arch in args.arch:
        if arch.startswith("shipped:"):
            path, label = shipped_arch(arch[len("shipped:"):]), arch
            stem = arch[len("shipped:"):]
        else:
            path, label = arch, os.path.relpath(arch, here) if os.path.isabs(arch) else arch
            stem = os.path.splitext(os.path.basename(arch))[0]
        out = os.path.join(args.out_dir, f"{stem}.json")
        data = {"tool": "accelforge", "version": version,
                "arch": {"path": label, "sha256": sha256(path)},
                "python": platform.python_version(),
                "generated": datetime.date.today().isoformat(),
                "setup": "python3.12 -m venv build/peers/accelforge-venv && "
                         f"build/peers/accelforge-venv/bin/pip install accelforge=={version}",
                "command": " ".join(["build/peers/accelforge-venv/bin/python"] + sys.argv),
                "layers": []}
        if os.path.exists(out):
            with open(out) as f:
                data = json.load(f)
        for name in args.layer or list(LAYERS):
            done = [rec for rec in data["layers"] if rec["layer"] == name]
            if done and not args.force:
                continue
            print(f"{stem} x {name}: mapping", file=sys.stderr, flush=True)
            try:
                rec = layer_record(path, name, LAYERS[name])
            except Exception as err:            # recorded, so a sweep keeps going
                rec = {"layer": name, "error": f"{type(err).__name__}: {err}"[:2000]}
            data["layers"] = [x for x in data["layers"] if x["layer"] != name] + [rec]
            write_json(out, data)
            print(f"{stem} x {name}: {rec.get('wall_s', 0):.0f} s "
                  f"{rec.get('error', '')[:200]}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
