"""Validate one co-search design against the slower models and the hardware itself.

``validate(design, target=None, out_dir=...)`` takes a :class:`Design` -- an
accelerator, the (per-layer quantized) network and every layer's mapping -- built from
a stored Pareto point (:func:`design_from_store`: the store's meta holds the base spec,
the space and the search settings, and the design is re-mapped with its stored seed,
which reproduces the stored numbers exactly), from a spec (:func:`map_design`) or from
explicit per-layer mappings (:func:`design_from_mappings`), and reports side by side:

(a) **analytic vs cycle-approximate**, per layer: ``sim.simulate(fidelity="analytic")``
    total cycles (the mapper's numbers) vs ``fidelity="cycle"`` (default
    :class:`sim.cycle.BufferedMemory`: bandwidth stalls, double buffering) with the
    same mappings; the difference is the stalls the analytic model does not see.
(b) **RTL**: the engine's Verilog is generated (``rtl/``) and one representative tile
    runs under cocotb + Icarus (:func:`hdl.verify.verify`, random operands over the
    engine's full signed operand range): its busy cycles against ``sim``'s native
    compute cycles (analytic, and the cycle-approximate model on the same tile) -- they
    must be equal -- and its outputs against numpy bit for bit. The tile is the GEMM
    view of the layer with the most MACs (first such layer on ties), ``M = N*P*Q``,
    ``K = C/G*R*S``, ``N = K/G`` (one group), clipped by :func:`representative_tile`:
    each dimension the array unrolls to two array widths (so the tile folds on both
    axes, exercising the fold loops), the streamed dimension to :data:`STREAM_CLIP`,
    and the largest dimension halved until the engine's buffers hold the tile. That
    keeps the RTL run to a few hundred cycles (seconds under Icarus) while exercising
    every part of the schedule a layer uses; RTL cannot run a whole layer in seconds.
(c) **synthesis** (only with ``target``): :func:`hdl.synth.synthesize` measures
    LUT/FF/DSP/BRAM/Fmax, :func:`sim.fpga_model.estimate` predicts them; relative error
    ``(predicted - measured) / measured`` per metric, and the network latency at
    ``min(spec clock, Fmax)`` with the predicted and with the measured Fmax;
    ``meets_timing`` (measured Fmax >= ``spec_clock_mhz``) and a ``timing`` line that
    says plainly when the spec's clock is above what the bitstream closes at.

(d) **whole network on the RTL** (only with :func:`add_network_on_rtl`, ``coforge
    validate --onnx M --data D --rtl-samples N``): N samples through the quantized
    model layer by layer on the engine (:mod:`hdl.network_rtl`), ``network_on_rtl``.

It writes ``validate.json`` (everything above) and ``validate.txt`` (a short table).
A part that cannot run for this design (the RTL generator cannot build it, the part
cannot fit it, the FPGA model is not calibrated) is recorded with its reason instead.
Per-layer bit widths narrower than the engine's operands run on the full-width
multiplier in RTL (``pe.mode`` fixed), so the RTL tile uses the engine's width.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dataflows.errors import CoforgeError
from dataflows.layer import Layer
from dataflows.mapping import Mapping
from dataflows.network import Network
from sim.result import NetworkResult
from sim.spec import Accelerator
from sim.yaml_io import loads_yaml

#: Longest streamed dimension of the representative RTL tile (elements).
STREAM_CLIP = 16


class ValidateError(CoforgeError):
    """A design to validate cannot be found or rebuilt."""


@dataclass(frozen=True)
class Design:
    """What is validated: the accelerator, the network at its chosen precision, each
    layer's mapping and the analytic result of those mappings."""

    accel: Accelerator
    network: Network
    mappings: dict[str, Mapping]
    analytic: NetworkResult
    label: str
    timing: str = "native"
    stored: dict[str, Any] | None = field(default=None)


def _mapped(net: Network, accel: Accelerator, strategy: str, max_evals: int, seed: int,
            timing: str) -> tuple[NetworkResult, dict[str, Mapping]]:
    from mapper.network_map import map_network
    mapped = map_network(net, accel, strategy, "edp", max_evals, None, seed, timing,
                         progress=False)
    # each layer's result records its mapping as a dict; the search records the Mapping
    # (of the layer the models cost: the datapath's timing layer, as simulate expects)
    found = [(s.mapping.to_dict(), s.mapping) for s in mapped.searches]
    mappings = {r.layer: next(m for d, m in found if d == r.mapping)
                for r in mapped.result.layers}
    return mapped.result, mappings


def map_design(accel: Accelerator, net: Network, strategy: str = "annealing",
               max_evals: int = 2000, seed: int = 0, timing: str = "native") -> Design:
    """A design from a spec: every layer mapped by ``mapper.network_map.map_network``."""
    result, mappings = _mapped(net, accel, strategy, max_evals, seed, timing)
    return Design(accel, net, mappings, result, label=accel.name, timing=timing)


def design_from_mappings(accel: Accelerator, net: Network, mappings: dict[str, Mapping],
                         timing: str = "native", label: str | None = None) -> Design:
    """A design from given per-layer mappings (every compute layer of ``net`` needs one)."""
    from sim.simulate import simulate
    missing = [layer.name for layer in net.layers() if layer.name not in mappings]
    if missing:
        raise ValidateError(f"mappings: no mapping for layer {missing[0]!r} "
                            f"({len(missing)} of {len(net.layers())} layers unmapped)")
    result = simulate(net, accel, dict(mappings), timing)
    return Design(accel, net, dict(mappings), result, label=label or accel.name,
                  timing=timing)


def _store_path(store: str | Path) -> Path:
    p = Path(store)
    p = p / "dse.sqlite" if p.is_dir() else p
    if not p.is_file():
        raise ValidateError(f"--store {store}: no dse.sqlite there (give the --out "
                            f"directory of a `coforge dse` run or its dse.sqlite)")
    return p


def design_from_store(store: str | Path, design_id: int,
                      network: Network | None = None) -> Design:
    """Rebuild stored design ``design_id`` (its ``seq``, the ``#N`` of report.txt).

    The network is the zoo network named in the store unless ``network`` is given (for
    runs on networks built in Python). Mappings are searched again with the design's
    own seed; :func:`validate` reports whether that reproduces the stored latency and
    energy."""
    from mapper.dse import design_seed
    from mapper.hw_space import HardwareSpace, precision_from_dict
    from mapper.store import StoreError, StoreReader
    from sim.spec_io import accelerator_from_dict
    path = _store_path(store)
    try:
        reader = StoreReader(path)
        try:
            meta, record = reader.meta(), reader.record_at(int(design_id))
        finally:
            reader.close()
    except StoreError as err:
        raise ValidateError(str(err)) from None
    except sqlite3.DatabaseError as err:
        raise ValidateError(f"{path}: not a coforge result store ({err})") from None
    if record is None:
        raise ValidateError(f"{path}: no design #{design_id} (ids are the #N of report.txt)")
    row = record.as_row()
    if not row["feasible"]:
        raise ValidateError(f"design #{design_id} could not run: {row['error']}")
    if "base_spec" not in meta:
        raise ValidateError(f"{path}: written before stores kept the base spec; rerun the "
                            f"co-search or validate with --arch")
    if network is None:
        from dataflows import zoo
        network = zoo.load(meta["network"])
    elif network.name != meta["network"]:
        raise ValidateError(f"the store's network is {meta['network']!r}, not "
                            f"{network.name!r}")
    base = accelerator_from_dict(loads_yaml(meta["base_spec"], f"{path} meta base_spec",
                                            error=ValidateError), f"{path} meta")
    prec = precision_from_dict(meta["precision"]) if "precision" in meta else None
    space = HardwareSpace(base, tuple((n, tuple(v)) for n, v in meta["parameters"]),
                          prec).for_network(network)
    index = space.index_of(json.loads(row["params"]))
    accel = space.accelerator(index)
    net = space.quantized(network, index)
    result, mappings = _mapped(net, accel, meta["map_strategy"], meta["map_evals"],
                               design_seed(meta["seed"], row["key"]), meta["timing"])
    return Design(accel, net, mappings, result, label=f"{path.parent.name}#{design_id}",
                  timing=meta["timing"], stored=row)


# -- (b) the representative tile ------------------------------------------------------
def gemm_view(layer: Layer) -> tuple[int, int, int]:
    """(M, K, N) of one group of ``layer`` as a GEMM: outputs x reduction x channels."""
    return (layer.N * layer.P * layer.Q, layer.C // layer.G * layer.R * layer.S,
            layer.K // layer.G)


def representative_tile(accel: Accelerator, layer: Layer) -> tuple[int, int, int]:
    """The ``(M, K, N)`` tile of ``layer`` run in RTL (see the module docstring)."""
    from hdl.params import HdlError, HdlParams
    from hdl.plan import plan_gemm
    params = HdlParams.from_accelerator(accel)
    m, k, n = gemm_view(layer)
    if accel.dataflow == "ws":      # rows unroll K, columns N, M streams
        tile = [min(m, STREAM_CLIP), min(k, 2 * accel.rows), min(n, 2 * accel.cols)]
    else:                           # os: rows unroll M, columns N, K streams
        tile = [min(m, 2 * accel.rows), min(k, STREAM_CLIP), min(n, 2 * accel.cols)]
    while True:
        try:
            plan_gemm(params, *tile)
            return tile[0], tile[1], tile[2]
        except HdlError:
            if max(tile) == 1:
                raise
            i = tile.index(max(tile))
            tile[i] = (tile[i] + 1) // 2


def _rtl(design: Design, out: Path | None, backend: str, seed: int) -> dict[str, Any]:
    from hdl.params import HdlParams
    from hdl.plan import plan_gemm
    from hdl.verify import verify
    from sim.simulate import simulate
    accel = design.accel
    try:
        params = HdlParams.from_accelerator(accel)
        layer = max(design.network.layers(), key=lambda ly: ly.macs)
        m, k, n = representative_tile(accel, layer)
    except CoforgeError as err:
        return {"skipped": " ".join(str(err).split())}
    rec: dict[str, Any] = {"layer": layer.name, "layer_gemm_mkn": list(gemm_view(layer)),
                           "tile_mkn": [m, k, n], "backend": backend, "seed": seed}
    if params.engine != "dense":      # bit-serial / bit-fusion / N:M: the layer's widths,
        return _rtl_engine(design, params, layer, rec, out, backend, seed)   # own schedule
    if out is not None:
        from hdl.export import write_rtl
        rec["verilog"] = str(write_rtl(accel, out / "rtl")["verilog"])
    plan = plan_gemm(params, m, k, n)
    rec["cycle_model_cycles"] = simulate(plan.layer(), accel, plan.mapping,
                                         fidelity="cycle").layers[0].compute_cycles
    rec |= verify(accel, m, k, n, seed=seed, backend=backend,     # build under --out
                  build_dir=out / "rtl" / "build" if out is not None else None)
    rec["cycles_match"] = bool(rec["cycles_match"]
                               and rec["cycle_model_cycles"] == rec["rtl_cycles"])
    return rec


def _rtl_engine(design: Design, params: Any, layer: Layer, rec: dict[str, Any],
                out: Path | None, backend: str, seed: int) -> dict[str, Any]:
    """The tile on a bit-serial / bit-fusion / N:M engine (:func:`hdl.verify.verify`
    dispatches on the kind): operands at the layer's widths, N:M weights for ``sparse_nm``.
    ``sim_cycles`` is the engine module's analytic figure (``expected_cycles``),
    ``cycle_model_cycles`` the cycle-approximate fidelity's (``verify_gemm`` records it);
    ``cycles_match`` needs both equal to the RTL's. A tile the engine cannot run (e.g.
    its buffers) is skipped with the reason."""
    from hdl.verify import allowed_bits, verify
    accel = design.accel
    p = layer.precision
    bits = (p.weight_bits, p.input_bits) \
        if {p.weight_bits, p.input_bits} <= set(allowed_bits(accel)) else None
    try:
        if out is not None:
            from hdl.export import write_rtl
            rec["verilog"] = str(write_rtl(accel, out / "rtl")["verilog"])
        rec |= verify(accel, *rec["tile_mkn"], seed=seed, backend=backend, bits=bits,
                      build_dir=out / "rtl" / "build" if out is not None else None)
    except CoforgeError as err:
        return {"skipped": f"{params.engine} engine: " + " ".join(str(err).split())}
    cm = rec.get("cycle_model_cycles")     # None only where sim's cycle fidelity does
    rec["cycle_model_cycles"] = cm          # not model the width (bit-serial 1/3-bit A)
    rec["cycles_match"] = bool(rec["cycles_match"]
                               and (cm is None or cm == rec["rtl_cycles"]))
    return rec


# -- (c) synthesis ------------------------------------------------------------------
RESOURCE_METRICS: tuple[str, ...] = ("lut", "ff", "dsp", "bram", "fmax_mhz")


def rel_error(predicted: float | None, measured: float | None) -> float | None:
    """``(predicted - measured) / measured`` (None when either is missing or measured 0
    with a nonzero prediction; 0.0 when both are 0)."""
    if predicted is None or measured is None:
        return None
    if measured == 0:
        return 0.0 if predicted == 0 else None
    return (predicted - measured) / measured


def _synth(design: Design, target: str, out: Path) -> dict[str, Any]:
    from hdl.synth import meets_timing, synthesize, timing_statement
    from sim.fpga_model import estimate
    rec: dict[str, Any] = {"target": target}
    try:
        est = estimate(design.accel, target)
        predicted: dict[str, Any] = {m: getattr(est, m) for m in RESOURCE_METRICS}
    except CoforgeError as err:
        predicted = {m: None for m in RESOURCE_METRICS}
        rec["prediction_error"] = " ".join(str(err).split())
    try:
        rep = synthesize(design.accel, target, out / "synth")
    except CoforgeError as err:
        return rec | {"skipped": " ".join(str(err).split()), "predicted": predicted}
    measured = {m: getattr(rep, m) for m in RESOURCE_METRICS}
    cycles = design.analytic.total_cycles
    clock = design.accel.clock_mhz
    rec |= {"predicted": predicted, "measured": measured,
            "rel_error": {m: rel_error(predicted[m], measured[m]) for m in RESOURCE_METRICS},
            "top": rep.top, "tool_versions": rep.tool_versions, "log": rep.log,
            "synth_s": rep.synth_s, "pnr_s": rep.pnr_s,
            "latency_ms_at_measured_fmax": cycles / (min(clock, measured["fmax_mhz"]) * 1e3),
            "spec_clock_mhz": clock, "meets_timing": meets_timing(clock, measured["fmax_mhz"]),
            "timing": timing_statement(clock, measured["fmax_mhz"])}
    if predicted["fmax_mhz"] is not None:
        rec["latency_ms_at_predicted_fmax"] = cycles / (min(clock, predicted["fmax_mhz"])
                                                        * 1e3)
    return rec


# -- the whole validation -------------------------------------------------------------
def _layers(design: Design) -> list[dict[str, Any]]:
    from sim.simulate import simulate
    cyc = simulate(design.network, design.accel, dict(design.mappings), design.timing,
                   fidelity="cycle")
    out = []
    for a, c in zip(design.analytic.layers, cyc.layers):
        out.append({"layer": a.layer, "macs": a.macs, "analytic_cycles": a.total_cycles,
                    "cycle_cycles": c.total_cycles, "cycle_compute_cycles": c.compute_cycles,
                    "cycle_stall_cycles": c.stall_cycles,
                    "rel_diff": rel_error(a.total_cycles, c.total_cycles)})
    return out


def _stored_check(design: Design) -> dict[str, Any] | None:
    row = design.stored
    if row is None:
        return None
    res = design.analytic
    clock = row.get("clock_mhz") or design.accel.clock_mhz
    latency = res.total_cycles / (clock * 1e3)
    energy = res.energy_pj / 1e9
    return {"design_id": row["seq"], "stored_latency_ms": row["latency_ms"],
            "latency_ms": latency, "stored_energy_mj": row["energy_mj"], "energy_mj": energy,
            "reproduced": latency == row["latency_ms"] and energy == row["energy_mj"]}


def validate(design: Design, target: str | None = None, out_dir: str | Path | None = None,
             backend: str = "cocotb", seed: int = 0, rtl: bool = True) -> dict[str, Any]:
    """Validate ``design`` (see the module docstring); writes ``validate.json`` and
    ``validate.txt`` into ``out_dir`` when given. ``target`` adds synthesis (minutes)."""
    from mapper.report import coforge_version
    from sim.fpga_model import get_target
    if target is not None:
        get_target(target)
    if target is not None and out_dir is None:
        raise ValidateError("synthesis needs out_dir (--out) for the tool files")
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    from mapper.progress import stage
    steps = 1 + int(rtl) + int(target is not None)
    stage(f"analytic vs cycle model on {len(design.network.layers())} layers", 1, steps)
    layers = _layers(design)
    if rtl:
        stage(f"RTL tile under {backend}", 2, steps)
    rtl_doc = _rtl(design, out, backend, seed) if rtl else {"skipped": "not requested"}
    if target is not None:
        stage(f"synthesis for {target} (1-3 min)", steps, steps)
    doc: dict[str, Any] = {
        "design": design.label, "network": design.network.name, "arch": design.accel.name,
        "spec_hash": design.accel.spec_hash, "coforge_version": coforge_version(),
        "seed": seed, "timing": design.timing,
        "precision": {ly.name: f"w{ly.precision.weight_bits}a{ly.precision.input_bits}"
                      for ly in design.network.layers()},
        "store": _stored_check(design), "layers": layers,
        "totals": {"analytic_cycles": sum(r["analytic_cycles"] for r in layers),
                   "cycle_cycles": sum(r["cycle_cycles"] for r in layers)},
        "rtl": rtl_doc,
        "synth": _synth(design, target, out) if target is not None and out is not None
        else None,
    }
    doc["totals"]["rel_diff"] = rel_error(doc["totals"]["analytic_cycles"],
                                          doc["totals"]["cycle_cycles"])
    if out is not None:
        (out / "validate.json").write_text(json.dumps(doc, indent=1) + "\n")
        (out / "validate.txt").write_text(text_report(doc))
    return doc


def add_network_on_rtl(doc: dict[str, Any], design: Design, onnx: str | Path,
                       data: str | Path, calib: str | Path, samples: int,
                       backend: str = "cocotb", out_dir: str | Path | None = None
                       ) -> dict[str, Any]:
    """``doc`` with ``network_on_rtl``: ``samples`` of ``data`` through the quantized
    ``onnx`` model layer by layer on the design's RTL (:func:`hdl.network_rtl
    .network_on_rtl`; cocotb builds under ``out_dir/rtl/build``); rewrites
    ``validate.json`` and ``validate.txt`` in ``out_dir`` when given."""
    from hdl.network_rtl import network_on_rtl
    out = Path(out_dir) if out_dir is not None else None
    try:
        rec = network_on_rtl(onnx, data, calib, design.accel, samples, backend,
                             out / "rtl" / "build" if out is not None else None)
    except CoforgeError as err:
        rec = {"skipped": " ".join(str(err).split())}
    doc = {**doc, "network_on_rtl": rec}
    if out is not None:
        (out / "validate.json").write_text(json.dumps(doc, indent=1) + "\n")
        (out / "validate.txt").write_text(text_report(doc))
    return doc


def passed(doc: dict[str, Any]) -> bool:
    """RTL cycles equal sim's and outputs match (True when RTL did not run); with
    ``network_on_rtl``, also every tensor and every layer's cycles of the network run."""
    r = doc["rtl"]
    net = doc.get("network_on_rtl")
    net_ok = net is None or bool(net.get("outputs_match") and net.get("cycles_match"))
    return net_ok and ("skipped" in r or bool(r["cycles_match"] and r["outputs_match"]))


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:+.2f}%"


def text_report(doc: dict[str, Any]) -> str:
    """The short side-by-side table of ``validate.txt``."""
    lines = [f"validation of {doc['design']} ({doc['arch']}) on {doc['network']}"]
    st = doc["store"]
    if st is not None:
        lines.append(f"stored design #{st['design_id']}: re-mapped with its seed, latency "
                     f"{st['latency_ms']:.6g} ms (stored {st['stored_latency_ms']:.6g}), "
                     f"energy {st['energy_mj']:.6g} mJ (stored {st['stored_energy_mj']:.6g})"
                     f": {'reproduced' if st['reproduced'] else 'DIFFERENT'}")
    lines += ["", "(a) cycles per layer: analytic vs cycle-approximate (same mappings; "
                  "diff = (analytic - cycle) / cycle)",
              f"  {'layer':<28}{'bits':>6}{'analytic':>14}{'cycle':>14}{'stall':>12}"
              f"{'diff':>10}"]
    for r in doc["layers"]:
        lines.append(f"  {r['layer']:<28}{doc['precision'][r['layer']]:>6}"
                     f"{r['analytic_cycles']:>14,}{r['cycle_cycles']:>14,}"
                     f"{r['cycle_stall_cycles']:>12,}{_pct(r['rel_diff']):>10}")
    t = doc["totals"]
    lines.append(f"  {'total':<34}{t['analytic_cycles']:>14,}{t['cycle_cycles']:>14,}"
                 f"{'':>12}{_pct(t['rel_diff']):>10}")
    r = doc["rtl"]
    lines += ["", "(b) RTL (cocotb + Icarus) on a representative tile"]
    if "skipped" in r:
        lines.append(f"  not run: {r['skipped']}")
    else:
        m, k, n = r["tile_mkn"]
        lines.append(f"  layer {r['layer']} (GEMM {'x'.join(map(str, r['layer_gemm_mkn']))}),"
                     f" tile M={m} K={k} N={n}: RTL {r['rtl_cycles']} cycles, sim analytic "
                     f"{r['sim_cycles']}, sim cycle model {r['cycle_model_cycles']}: "
                     f"{'equal' if r['cycles_match'] else 'DIFFERENT'}; outputs "
                     f"{'match numpy' if r['outputs_match'] else 'DIFFER'}")
    s = doc["synth"]
    if s is not None:
        lines += ["", f"(c) synthesis on {s['target']}: predicted (sim.fpga_model) vs "
                      f"measured (hdl.synth)"]
        if "prediction_error" in s:
            lines.append(f"  no prediction: {s['prediction_error']}")
        if "skipped" in s:
            lines.append(f"  not synthesized: {s['skipped']}")
        else:
            lines.append(f"  {'metric':<10}{'predicted':>12}{'measured':>12}{'error':>10}")
            for mtr in RESOURCE_METRICS:
                p = s["predicted"][mtr]
                lines.append(f"  {mtr:<10}{'n/a' if p is None else f'{p:g}':>12}"
                             f"{s['measured'][mtr]:>12g}{_pct(s['rel_error'][mtr]):>10}")
            lines.append(f"  network latency at min(spec clock, measured Fmax): "
                         f"{s['latency_ms_at_measured_fmax']:.6g} ms")
            if "timing" in s:
                lines.append(f"  {s['timing']}")
    net = doc.get("network_on_rtl")
    if net is not None:
        from hdl.network_rtl import text_lines
        lines += [""] + ([f"(d) whole network on the RTL: not run: {net['skipped']}"]
                         if "skipped" in net else text_lines(net))
    return "\n".join(lines) + "\n"


__all__ = ["Design", "RESOURCE_METRICS", "STREAM_CLIP", "ValidateError", "add_network_on_rtl",
           "design_from_mappings", "design_from_store", "gemm_view", "map_design", "passed",
           "rel_error", "representative_tile", "text_report", "validate"]
