"""The ``coforge map``, ``coforge dse`` and ``coforge validate`` commands (registered by
mapper.cli)."""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import Any

from dataflows.errors import CoforgeError


class BudgetError(CoforgeError):
    """A malformed --time-budget."""


#: Seeds are what every random source of coforge accepts: numpy's default_rng and
#: pymoo (numpy.random.seed) take integers 0 <= seed < 2**32.
MAX_SEED = 2**32 - 1


def parse_seed(text: str) -> int:
    """The ``--seed`` argument type: an integer from 0 to 2**32 - 1 (a one-line usage
    error otherwise, never a traceback)."""
    value = str(text).strip()
    if not re.fullmatch(r"\+?\d+", value) or int(value) > MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be an integer from 0 to {MAX_SEED} "
                                         f"(2**32 - 1), not {text!r}")
    return int(value)


def parse_budget(text: str | None) -> float | None:
    """'30s', '10m', '1.5h' or plain seconds -> seconds (None stays None)."""
    if text is None:
        return None
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if not m or float(m.group(1)) <= 0:
        raise BudgetError(f"--time-budget must look like 30s, 10m or 1h, not {text!r}")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]


def _tune_allocator(args: argparse.Namespace) -> None:
    """The CLI's opt-in to glibc freed-memory retention (process-wide; see
    :func:`mapper.search.retain_freed_memory`); ``--no-retain-freed-memory`` skips it."""
    if args.retain_freed_memory:
        from mapper.search import retain_freed_memory
        retain_freed_memory()


def _map(args: argparse.Namespace) -> int:
    from mapper.cli import _check_outputs, _load_arch, _load_workload
    _check_outputs(None, args.out)            # before the search, not after it
    from mapper.network_map import map_network
    from mapper.report import gain_line, gain_over_default, layer_bounds, table, write_reports
    from sim.simulate import simulate
    _tune_allocator(args)
    net = _load_workload(args)
    accel = _load_arch(args)
    from mapper.run_control import usable_cpus
    budget = parse_budget(args.time_budget)
    store = None
    if args.resume and not args.out:
        from mapper.line_store import ShapeStoreError
        raise ShapeStoreError("--resume continues the run stored in --out; give --out DIR")
    if args.out:                # each shape's search and cycle run, stored as they end
        from mapper.map_store import MapStore, run_meta
        from mapper.report import coforge_version
        meta = run_meta(spec_hash=accel.spec_hash, network=net.name,
                        layers=[x.to_dict() for x in net.layers()], strategy=args.strategy,
                        objective=args.objective, max_evals=args.max_evals,
                        time_budget_s=budget, seed=args.seed, timing=args.timing,
                        rerank=args.rerank, top=args.top, coforge_version=coforge_version())
        store = MapStore(args.out, meta, resume=args.resume)
    from mapper.line_store import run_stored
    n = len({x.shape_key() for x in net.layers()})
    mapped, stopped = run_stored(store, lambda: map_network(
        net, accel, args.strategy, args.objective, args.max_evals, budget, args.seed,
        args.timing, rerank=args.rerank, top=args.top, cycle_check=True,
        workers=args.workers or usable_cpus(), store=store), lambda: (
        f"{len(store)} records ({n} layer shapes, a search and a cycle-model run each) "
        f"stored in {store.path}; continue with --resume"))
    if stopped is not None:
        return stopped
    bounds = layer_bounds(mapped.result, accel, net)
    print(table(mapped.result, bounds))
    # the gain over what `coforge simulate` runs: the same network, default mapping
    gain = gain_over_default(mapped.result, simulate(net, accel, timing=args.timing))
    print(gain_line(gain))
    evals = sum(s.evaluations for s in mapped.searches)
    secs = sum(s.elapsed_s for s in mapped.searches)
    print(f"{len(mapped.searches)} distinct layer shapes searched ({args.strategy}, "
          f"{args.objective}, seed {args.seed}): {evals:,} evaluations in {secs:.1f} s")
    proven = [s.proven_optimal for s in mapped.searches if s.proven_optimal is not None]
    if proven:
        print(f"{sum(proven)} of {len(mapped.searches)} layer shapes proven optimal for "
              f"{args.objective} on the analytic model" + (
                  "" if all(proven) else "; --max-evals or --time-budget cut the others"))
    _print_fidelity(mapped, args)
    if args.out:
        paths = write_reports(mapped.result, args.out, {"seed": args.seed,
                              "strategy": args.strategy, "objective": args.objective,
                              "max_evals": args.max_evals, "time_budget": args.time_budget},
                              bounds, accel, gain)
        _add_fidelity_gap(paths["json"], mapped)
        print("wrote " + ", ".join(str(p) for p in [*paths.values(), store.path]))
    return 0


def _print_fidelity(mapped: Any, args: argparse.Namespace) -> None:
    """The re-rank summary (with ``--rerank``) and the analytic-vs-cycle gap lines."""
    from mapper.rerank import gap_text
    if mapped.reranks:
        changed = sum(r.chosen != 0 for r in mapped.reranks)
        before = sum(r.cycle_results[0].total_cycles for r in mapped.reranks)
        after = sum(r.cycle_results[r.chosen].total_cycles for r in mapped.reranks)
        print(f"re-ranked the top {args.top} mappings of each shape by the {args.rerank} "
              f"model's {args.objective}: {changed} of {len(mapped.reranks)} shapes changed; "
              f"cycle-model cycles per distinct shape {before:,} -> {after:,} "
              f"({after / max(1, before) - 1:+.1%})")
    print(gap_text(mapped.result, mapped.cycle))


def _add_fidelity_gap(path: Path, mapped: Any) -> None:
    """Record the gap (and the re-rank) as ``fidelity_gap`` in ``result.json``."""
    import json

    from mapper.report import strict_json
    from mapper.rerank import gap_doc
    doc = json.loads(Path(path).read_text())
    doc["fidelity_gap"] = gap_doc(mapped.result, mapped.cycle, mapped.rerank, mapped.top)
    if mapped.reranks:
        doc["fidelity_gap"]["shapes"] = [r.to_dict() for r in mapped.reranks]
    Path(path).write_text(strict_json(doc) + "\n")


def _positive_int(text: str) -> int:
    """An integer >= 1 (a one-line usage error otherwise)."""
    if not re.fullmatch(r"\s*\+?\d+\s*", str(text)) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, not {text!r}")
    return int(text)


def _add_rerank_args(p: Any) -> None:
    """``--rerank`` and ``--top`` (shared by ``map`` and ``dse``)."""
    from mapper.rerank import DEFAULT_TOP, RERANK_MODELS
    p.add_argument("--rerank", choices=list(RERANK_MODELS), default=None,
                   help="re-rank each layer shape's --top best mappings (by the analytic "
                        "objective) with the cycle-approximate model and keep the best by "
                        "its value of the same objective (default: off)")
    p.add_argument("--top", type=_positive_int, default=DEFAULT_TOP,
                   help=f"mappings per layer shape to re-rank (default {DEFAULT_TOP})")


def _dse(args: argparse.Namespace) -> int:
    """SIGINT/SIGTERM stop the run within moments (the workers are killed), the report is
    written from what is stored, one line goes to stderr and the exit status is 130/143;
    ``--resume`` continues the run (mapper.run_control)."""
    from mapper.run_control import RunStopped, signal_name, stop_on_signals
    with stop_on_signals():
        state: dict[str, Any] = {}
        try:
            return _dse_run(args, state)
        except RunStopped as stop:
            store, settings = state.get("store"), state.get("settings")
            if store is None or settings is None:
                print(f"coforge: stopped by {signal_name(stop.signum)} before the run "
                      f"started: nothing stored", file=sys.stderr, flush=True)
                return stop.exit_code
            from mapper.dse_report import write_dse_reports
            paths = write_dse_reports(store.rows(), settings, args.out)
            print(f"coforge: stopped by {signal_name(stop.signum)}: {len(store)} designs "
                  f"stored in {store.path}; wrote "
                  f"{', '.join(p.name for p in paths.values())} from them; continue with "
                  f"--resume", file=sys.stderr, flush=True)
            return stop.exit_code
        finally:
            if state.get("store") is not None:
                state["store"].close()


def _dse_run(args: argparse.Namespace, state: dict[str, Any]) -> int:
    """The body of ``coforge dse``; ``state`` receives the store and settings as soon as
    they exist (so a stopped run's report can be written from them)."""
    from mapper.dse import AccuracyTask, Constraint, DseSettings, run_dse
    from mapper.dse_report import write_dse_reports
    from mapper.hw_space import load_hw_space
    from mapper.store import ResultStore
    from dataflows import zoo
    _tune_allocator(args)
    if (args.network is None) == (args.onnx is None):
        raise BudgetError("give exactly one workload: --network NAME or --onnx MODEL")
    task = None
    if args.onnx:
        from pathlib import Path as _Path

        from dataflows.onnx_io import from_onnx
        net = from_onnx(args.onnx)
        if args.data:
            task = AccuracyTask(args.onnx, args.data, args.calib or args.data)
        name = _Path(args.onnx).stem
    else:
        if args.data or args.calib:
            raise BudgetError("--data/--calib measure a model's accuracy: give --onnx MODEL")
        net = zoo.load(args.network)
        name = args.network
    space = load_hw_space(args.space).for_network(net)    # per-layer precision axes
    settings = DseSettings(
        network=name, accuracy=task,
        objectives=tuple(o.strip() for o in args.objectives.split(",")),
        constraints=tuple(Constraint.parse(c) for c in args.constraint or []),
        strategy=args.strategy, max_designs=args.max_designs, population=args.population,
        seed=args.seed, map_strategy=args.map_strategy, map_evals=args.map_evals,
        target=args.target, rerank=args.rerank, rerank_top=args.top)
    os.makedirs(args.out, exist_ok=True)
    store = ResultStore(os.path.join(args.out, "dse.sqlite"), settings.meta(space),
                        resume=args.resume)
    state.update(store=store, settings=settings)
    before = len(store)

    from mapper.progress import Progress
    bar = Progress(min(settings.max_designs, space.size), start=before)

    def show(row: dict[str, Any]) -> None:
        tag = bar.tick()
        if row["feasible"]:
            fpga = (f" LUT {row['lut']} DSP {row['dsp']} BRAM {row['bram']} "
                    f"Fmax {row['fmax_mhz']:g} MHz" if args.target else "")
            acc = f" top-1 {row['accuracy']:.4f}" if row.get("accuracy") is not None else ""
            print(f"[{tag}] {row['latency_ms']:.4f} ms {row['energy_mj']:.4f} mJ "
                  f"{row['area_mm2']:.3f} mm2{fpga}{acc}  {row['params']}", flush=True)
        else:
            print(f"[{tag}] cannot run: {row['params']}: {row['error']}", flush=True)

    n = run_dse(space, net, settings, store, workers=args.workers, scheduler=args.scheduler,
                time_budget_s=parse_budget(args.time_budget), on_row=show)
    rows = store.rows()
    paths = write_dse_reports(rows, settings, args.out)
    print(f"{n} designs evaluated now, {before} resumed from the store; "
          f"space size {space.size}")
    print(paths["txt"].read_text(), end="")
    print("wrote " + ", ".join(str(p) for p in [store.path, *paths.values()]))
    return 0


def _validate(args: argparse.Namespace) -> int:
    from mapper.validate import (ValidateError, design_from_store, map_design, passed,
                                 validate)
    if (args.store is None) == (args.arch is None):
        raise ValidateError("give either --store DIR --design ID (a co-search design) or "
                            "--arch FILE --network NAME")
    if args.rtl_samples and not (args.onnx and args.data and args.arch):
        raise ValidateError("--rtl-samples N runs a model on the RTL: give --arch SPEC "
                            "--onnx MODEL --data D.npz (--calib C.npz, default --data)")
    if args.target is not None:
        from sim.fpga_model import get_target
        get_target(args.target)
    if args.store is not None:
        if args.design is None:
            raise ValidateError("--store needs --design ID (the #N of the run's report.txt)")
        net = None
        if args.network:
            from dataflows import zoo
            net = zoo.load(args.network)
        design = design_from_store(args.store, args.design, net)
    else:
        if (args.network is None) == (args.onnx is None):
            raise ValidateError("--arch needs --network NAME (a zoo network) or --onnx MODEL")
        from mapper.hier_map import is_hierarchy_spec
        if is_hierarchy_spec(args.arch):
            raise ValidateError(f"{args.arch}: a hierarchy spec; validate checks 3-level specs "
                                f"(RTL, FPGA); for a hierarchy, coforge map --arch "
                                f"{args.arch} reports each layer's analytic and cycle-model "
                                f"cycles (result.json cycle_model)")
        from sim.spec_io import load_accelerator
        if args.onnx:
            from dataflows.onnx_io import from_onnx
            net = from_onnx(args.onnx)
        else:
            from dataflows import zoo
            net = zoo.load(args.network)
        design = map_design(load_accelerator(args.arch), net,
                            args.map_strategy, args.map_evals, args.seed)
    doc = validate(design, args.target, args.out, backend=args.backend or "cocotb",
                   seed=args.seed)
    if args.rtl_samples:
        from hdl.verify import FAST_BACKEND          # the long run: the fastest backend
        from mapper.validate import add_network_on_rtl
        doc = add_network_on_rtl(doc, design, args.onnx, args.data, args.calib or args.data,
                                 args.rtl_samples, args.backend or FAST_BACKEND, args.out)
    print((Path(args.out) / "validate.txt").read_text(), end="")
    print(f"wrote {Path(args.out) / 'validate.json'}, {Path(args.out) / 'validate.txt'}")
    return 0 if passed(doc) else 1


def add_search_commands(sub: Any, add_workload: Any) -> None:
    """Register ``map``, ``dse`` and ``validate`` on the CLI's subparsers."""
    m = sub.add_parser("map", help="search a mapping for every layer of a network")
    add_workload(m)
    m.add_argument("--objective", choices=["edp", "latency", "energy"], default="edp",
                   help="what the search minimises per layer shape on the analytic model "
                        "(default: %(default)s)")
    m.add_argument("--strategy", choices=["annealing", "genetic", "random", "exhaustive",
                                          "exact"],
                   default="annealing",
                   help="search strategy (default: %(default)s); exact: the proven optimum "
                        "of the analytic model for --objective (ignores --max-evals; refuses "
                        "layers whose space is too large)")
    m.add_argument("--max-evals", type=int, default=20_000,
                   help="evaluations per distinct layer shape (default: %(default)s; a "
                        "hierarchy whose levels may_bypass: each bypass choice screened on a "
                        "fifth of it, the best two on all of it)")
    m.add_argument("--time-budget", help="wall-clock cap for the whole network's searches, "
                                         "e.g. 30s, 10m, 1h, shared by the layer shapes by "
                                         "MACs; each search still costs its first "
                                         "population, so a budget below those is exceeded; "
                                         "per run: a --resume run's remaining shapes share "
                                         "it anew (default: none, --max-evals decides)")
    m.add_argument("--seed", type=parse_seed, default=0,
                   help="seed of the search (default: %(default)s)")
    m.add_argument("--timing", choices=["native", "scalesim"], default="native",
                   help="timing convention (default: %(default)s)")
    m.add_argument("--out", help="directory for result.json (with each layer's mapping), "
                                 "layers.csv, cycles_energy.png")
    m.add_argument("--retain-freed-memory", action=argparse.BooleanOptionalAction,
                   default=True, help="tune glibc malloc to keep freed memory in the "
                   "process (faster search loop; process-wide; default on)")
    _add_rerank_args(m)
    m.set_defaults(func=_map)

    d = sub.add_parser("dse", help="co-search hardware and mappings: Pareto front")
    d.add_argument("--network", help="zoo network name (or --onnx)")
    d.add_argument("--onnx", help="ONNX model (with --data: accuracy is measured per design "
                   "by the integer engine and may be an objective or constraint)")
    d.add_argument("--data", help=".npz (x, y) the accuracy is measured on (needs --onnx)")
    d.add_argument("--calib", help=".npz calibration inputs (default: --data)")
    d.add_argument("--space", required=True, help="design-space YAML (see mapper/hw_space.py)")
    d.add_argument("--objectives", default="latency,energy,area",
                   help="comma list from latency, energy, edp, area, size (weight bytes), "
                        "accuracy (with --data; maximised) and with --target lut, ff, dsp, "
                        "bram, fmax (maximised) (default: %(default)s)")
    d.add_argument("--constraint", action="append",
                   help="e.g. area_mm2<=2 or accuracy>=0.95 (repeatable; metrics latency_ms, "
                        "energy_mj, edp, area_mm2, weight_bytes, accuracy, accuracy_proxy, "
                        "and with --target lut, ff, dsp, bram, fmax_mhz)")
    d.add_argument("--target", help="FPGA part (ecp5-85k, ecp5-45k, ice40-up5k): adds the "
                                    "predicted lut, ff, dsp, bram, fmax_mhz columns; "
                                    "latency at min(spec clock, predicted Fmax)")
    d.add_argument("--strategy", choices=["nsga2", "random", "grid", "milp", "greedy"],
                   default="nsga2", help="hardware search strategy (default: %(default)s); "
                   "milp: HAWQ-V3 integer program, greedy: HAQ-style "
                   "budgeted greedy -- per-layer bits under the first latency_ms/energy_mj/"
                   "weight_bytes <= constraint, per hardware candidate (need --data)")
    d.add_argument("--max-designs", type=int, default=64,
                   help="designs to evaluate, exactly (fewer only when the space or "
                        "--time-budget runs out; default: %(default)s)")
    d.add_argument("--population", type=int, default=16,
                   help="NSGA-II population and the batch size of grid/random "
                        "(default: %(default)s)")
    d.add_argument("--map-strategy", choices=["annealing", "genetic", "random"],
                   default="annealing",
                   help="mapping search per layer shape per design (default: %(default)s)")
    d.add_argument("--map-evals", type=int, default=2000,
                   help="mapping evaluations per layer shape per design "
                        "(default: %(default)s)")
    d.add_argument("--time-budget", help="wall-clock cap, e.g. 10m")
    d.add_argument("--resume", action="store_true", help="continue the run stored in --out")
    from mapper.run_control import usable_cpus
    d.add_argument("--workers", type=int, default=usable_cpus(),
                   help="local worker processes (default: the CPUs this process may use)")
    d.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://host:8786")
    d.add_argument("--retain-freed-memory", action=argparse.BooleanOptionalAction,
                   default=True, help="tune glibc malloc to keep freed memory in the "
                   "process (faster search loop; process-wide; default on)")
    _add_rerank_args(d)
    d.add_argument("--seed", type=parse_seed, default=0,
                   help="seed of the hardware and mapping searches (default: %(default)s)")
    d.add_argument("--out", required=True, help="directory for dse.sqlite, pareto.csv, "
                                                "pareto.png, report.txt")
    d.set_defaults(func=_dse)

    v = sub.add_parser("validate", help="check a design: analytic vs cycle model per layer, "
                                        "RTL vs sim on a tile, synthesis vs FPGA model")
    v.add_argument("--store", help="a `coforge dse` --out directory (or its dse.sqlite)")
    v.add_argument("--design", type=int, help="design id in the store (#N in report.txt)")
    v.add_argument("--arch", help="accelerator YAML or shipped spec name (instead of --store)")
    v.add_argument("--network", help="zoo network name (with --store: the run's, by default)")
    v.add_argument("--onnx", help="ONNX model (with --arch, instead of --network)")
    v.add_argument("--data", help=".npz (x, y) of --onnx for --rtl-samples")
    v.add_argument("--calib", help=".npz calibration inputs of --onnx (default: --data)")
    v.add_argument("--rtl-samples", type=int, default=0,
                   help="run the first N samples of --data through the quantized --onnx "
                        "model layer by layer on the RTL (--backend): network_on_rtl in "
                        "validate.json (default: %(default)s, not run)")
    v.add_argument("--target", help="FPGA part to synthesize for (1-3 min per design): "
                                    "ecp5-85k, ecp5-45k, ice40-up5k")
    v.add_argument("--backend", choices=["cocotb", "icarus", "verilator", "amaranth",
                                         "icarus-native", "verilator-native"],
                   default=None, help="RTL simulator (default: cocotb + Icarus for the "
                                      "tile, the native Verilator testbench for the "
                                      "--rtl-samples network run; verilator: cocotb + "
                                      "Verilator; *-native: the Verilog testbench, no "
                                      "Python per clock)")
    v.add_argument("--map-strategy", choices=["annealing", "genetic", "random"],
                   default="annealing", help="with --arch: mapping search per layer shape "
                                             "(default: %(default)s)")
    v.add_argument("--map-evals", type=int, default=2000,
                   help="with --arch: evaluations per layer shape (default: %(default)s)")
    v.add_argument("--seed", type=parse_seed, default=0,
                   help="seed of the RTL operands (and the --arch mapping search; "
                        "default: %(default)s)")
    v.add_argument("--out", required=True, help="directory for validate.json, validate.txt, "
                                                "rtl/ and synth/")
    v.set_defaults(func=_validate)


__all__ = ["MAX_SEED", "add_search_commands", "parse_budget", "parse_seed"]
