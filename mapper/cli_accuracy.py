"""``coforge accuracy``: the measured accuracy of a compressed, quantized ONNX model.

    coforge accuracy --onnx M.onnx --data D.npz [--calib C.npz] [--layer-config LC.yaml]
                     [--arch SPEC] [--sensitivity] [--peer-qdq] --out DIR

writes ``DIR/accuracy.json``: the float top-1 (onnxruntime on the file), the integer
engine's top-1 and NLL on ``--data`` (:func:`mapper.accuracy.measure`), the per-layer
bits/density/rank and weight bytes, the datapath used, and optionally the per-layer
sensitivity table and onnxruntime's own QDQ PTQ figure. Without ``--layer-config`` the
quantized result is int8 with per-channel weights. ``--calib`` defaults to ``--data``
(stated in the file). ``--arch`` sets the datapath (operand and accumulator widths) from
a spec; without it the datapath is the narrowest signed one that fits every layer's
operands (8 or 16 bits) with a 32-bit accumulator.

The layer config is the one ``coforge simulate --layer-config`` reads
(:mod:`sim.layer_config`): ``precision`` (weight_bits, input_bits; output_bits of the
last layer sets the output's bits), ``prune.weight`` (pruning the model's real weights)
and ``rank`` (low-rank factorization). ``density`` and ``tensors`` describe statistical
or given operands for the cost model and are refused here (the accuracy needs the
model's own weights).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from dataflows.errors import CoforgeError


class AccuracyCliError(CoforgeError):
    """A ``coforge accuracy`` option is invalid."""


def resolve_compression(config_path: str, layer_names: list[str]) -> dict[str, dict[str, Any]]:
    """Per MAC layer, the merged ``precision``/``prune``/``rank`` of a layer config.

    Entries apply in file order (``defaults`` first, later entries win); a name or
    pattern that matches no layer is an error, as in :func:`sim.layer_config.apply_layer_config`.
    """
    from sim.layer_config import LayerConfigError, load_layer_config
    config = load_layer_config(config_path)
    out: dict[str, dict[str, Any]] = {n: {"precision": {}} for n in layer_names}
    entries = ([config.defaults] if config.defaults is not None else []) + list(config.layers)
    for entry in entries:
        hits = layer_names if entry is config.defaults else entry.matches(layer_names)
        if not hits:
            raise LayerConfigError(
                f"{config.source}: {entry.where}: {entry.key!r} matches no MAC layer of the "
                f"model (layers: {', '.join(layer_names)})")
        if entry.density or entry.tensors:
            key = "density" if entry.density else "tensors"
            raise LayerConfigError(
                f"{config.source}: {entry.where}.{key}: accuracy is measured on the model's "
                f"own weights; use prune.weight (a pattern) instead of {key}")
        if "input" in entry.prune:
            raise LayerConfigError(
                f"{config.source}: {entry.where}.prune.input: activations are not pruned "
                f"for accuracy; prune the weight only")
        for name in hits:
            out[name]["precision"].update(entry.precision)
            if "weight" in entry.prune:
                out[name]["prune"] = entry.prune["weight"]
            rank = getattr(entry, "rank", None)
            if rank is not None:
                out[name]["rank"] = rank
    return out


def _prune_of(spec: Any) -> Any:
    """A :class:`sim.layer_config.PruneSpec` as a :class:`dataflows.compress.plan.Prune`."""
    from dataflows.compress.plan import Prune
    return Prune.parse(spec.plan_text)


def _layer_row(row: dict[str, Any], compression: dict[str, Any]) -> dict[str, Any]:
    """A measured layer row with the plan's prune/rank of the layer it came from (a
    factor ``fc.lr0`` reports the plan of ``fc``)."""
    from dataflows.compress.lowrank import source_layer
    source = source_layer(row["layer"])
    c = compression.get(source)
    return dict(row, source_layer=source,
                prune=c.prune.text if c is not None and c.prune is not None else None,
                rank=c.rank if c is not None else None)


def _run(args: argparse.Namespace) -> int:
    import numpy as np

    from dataflows.dataset import load_npz
    from dataflows.onnx_model import load_model, mac_nodes
    from mapper.accuracy import float_outputs_ort, measure, ort_qdq_top1, top1
    from sim.int_network import LayerQuant, QuantSettings
    from sim.intref import IntegerDatapath

    model = load_model(args.onnx)
    data = load_npz(args.data, model)
    calib = load_npz(args.calib, model) if args.calib else data
    names = [n.layer_name for n in mac_nodes(model)]
    per_layer = resolve_compression(args.layer_config, names) if args.layer_config else \
        {n: {"precision": {}} for n in names}

    quant: dict[str, LayerQuant] = {}
    compression: dict[str, Any] = {}
    for name, entry in per_layer.items():
        p = entry["precision"]
        quant[name] = LayerQuant(weight_bits=p.get("weight_bits", 8),
                                 input_bits=p.get("input_bits", 8))
        if "prune" in entry or "rank" in entry:
            from dataflows.compress.plan import LayerCompression
            compression[name] = LayerCompression(
                prune=_prune_of(entry["prune"]) if "prune" in entry else None,
                rank=entry.get("rank"))
    output_bits = per_layer[names[-1]]["precision"].get("output_bits", 8) if names else 8
    widest = max([max(q.weight_bits, q.input_bits) for q in quant.values()] + [output_bits])
    if args.arch:
        from sim.spec_io import load_accelerator
        datapath = IntegerDatapath.from_spec(load_accelerator(args.arch))
    else:
        datapath = IntegerDatapath(8 if widest <= 8 else 16, 32)
    settings = QuantSettings(layers=quant, output_bits=output_bits, datapath=datapath,
                             activation_method=args.calibration)
    plan = None
    if compression:
        from dataflows.compress.plan import CompressionPlan
        plan = CompressionPlan(compression)
    result = measure(model, data, calib, settings, plan)
    float_top1 = top1(float_outputs_ort(args.onnx, data.x), data.y)

    from mapper.report import coforge_version
    doc: dict[str, Any] = {
        "coforge_version": coforge_version(),
        "model": str(args.onnx), "data": str(args.data),
        "calibration": str(args.calib) if args.calib else f"{args.data} (no --calib given)",
        "calibration_method": args.calibration,
        "samples": len(data), "float_top1": float_top1, "top1": result.top1,
        "nll": result.nll, "weight_bytes": result.weight_bytes,
        "float_weight_bytes": int(sum(np.asarray(n.weight).size * 4
                                      for n in mac_nodes(model))),
        "nonzero_weights": result.nonzero_weights, "weights": result.weights,
        "datapath": {"operand_bits": datapath.operand_bits,
                     "accumulator_bits": datapath.accumulator_bits,
                     "multiplier_bits": datapath.multiplier_bits,
                     "rounding": datapath.rounding,
                     "from": str(args.arch) if args.arch else "narrowest fitting (no --arch)"},
        "layers": [_layer_row(row, compression) for row in result.layers],
        "engine": "sim.int_network integer reference (bit-exact RTL arithmetic)",
    }
    if args.peer_qdq:
        doc["onnxruntime_qdq"] = ort_qdq_top1(args.onnx, data, calib)
    if args.sensitivity:
        from mapper.accuracy import Choice, sensitivity_table
        choices = {n: [Choice(LayerQuant(b, 8)) for b in (4, 2)] for n in names}
        doc["sensitivity"] = sensitivity_table(model, data, calib, choices)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "accuracy.json"
    path.write_text(json.dumps(doc, indent=1, allow_nan=False) + "\n")
    print(f"{'layer':<20}{'bits':>8}{'density':>9}{'weight B':>10}")
    for row in doc["layers"]:
        print(f"{row['layer']:<20}{'w%da%d' % (row['weight_bits'], row['input_bits']):>8}"
              f"{row['density']:>9.3f}{row['weight_bytes']:>10,}")
    print(f"float top-1 {float_top1:.4f} (onnxruntime)   integer top-1 {result.top1:.4f} "
          f"on {len(data)} samples   weights {result.weight_bytes:,} B "
          f"(float {doc['float_weight_bytes']:,} B)")
    if args.peer_qdq:
        print(f"onnxruntime QDQ int8 top-1 {doc['onnxruntime_qdq']['top1']:.4f}")
    print(f"wrote {path}")
    return 0


def add_accuracy_command(sub: Any) -> None:
    """Register ``coforge accuracy`` on the CLI's subparsers."""
    a = sub.add_parser("accuracy", help="measure the top-1 of a quantized/compressed ONNX "
                       "model with the integer engine (the RTL's arithmetic)")
    a.add_argument("--onnx", required=True, help="float ONNX classifier with weights")
    a.add_argument("--data", required=True, help=".npz with arrays x (inputs) and y (labels)")
    a.add_argument("--calib", help=".npz calibration inputs (x; y unused); default --data")
    a.add_argument("--layer-config", help="per-layer precision/prune/rank YAML "
                   "(the schema of simulate --layer-config, plus rank)")
    a.add_argument("--arch", help="accelerator spec whose datapath (operand/accumulator "
                   "bits) the integer engine uses")
    a.add_argument("--calibration", choices=("minmax", "percentile", "mse"),
                   default="minmax", help="activation calibration method (default minmax)")
    a.add_argument("--sensitivity", action="store_true",
                   help="also measure each layer alone at w4 and w2 (sensitivity table)")
    a.add_argument("--peer-qdq", action="store_true",
                   help="also run onnxruntime's own quantize_static QDQ int8 PTQ")
    a.add_argument("--out", required=True, help="output directory (accuracy.json)")
    a.set_defaults(func=_run)
