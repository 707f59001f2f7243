"""``coforge map`` on an N-level hierarchy spec: every compute layer mapped by nest search.

:func:`map_hierarchy` searches each distinct layer shape of a network once with
:func:`mapper.nest_search.search_factors`, exact then imperfect factors (layers of the
same shape reuse the mapping), checks
the chosen mapping fits (:func:`sim.hier_cost.check_fits`) and costs every layer with
the scalar reference :func:`sim.hier_cost.evaluate`. :func:`result_doc` is the
``result.json`` of such a run, in the names of :mod:`mapper.report`'s schema where they
mean the same thing::

    {"coforge_version", "spec_hash" (sha256 of the spec file), "network", "arch",
     "model": "hierarchy", "fidelity": "analytic", "clock_mhz", "pes",
     "layers": [{"name", "kind", "macs", "compute_cycles", "total_cycles",
                 "utilization", "energy_pj", "energy_pj_by_level" (levels + "mac"),
                 "cycles_by_level", "elements", "accesses" (words), "bytes",
                 "mapping" (NestMapping.to_dict), "bypassed" ({level: [operands]}
                 the mapping leaves out of levels that may_bypass them), "evaluations",
                 "cycle_model": {"total_cycles", "stall_cycles",
                                 "stall_cycles_by_level"}}...],
     "totals": {"macs", "compute_cycles", "total_cycles", "utilization", "energy_pj",
                "latency_ms", "energy_pj_by_level", "cycle_model_total_cycles",
                "cycle_model_latency_ms"},
     "run": {"seed", "strategy", "search_strategy", "objective", "search_objective",
             "max_evals", "spec_file", "spec_sha256", "input_reuse" ("refetch" |
             "window", ``--input-reuse``), "distinct_shapes", "evaluations"},
     "spec": Hierarchy.to_dict() (an unlimited bandwidth as "inf"),
     "vector_unit": "none: non-GEMM operators not costed"}

Units: ``elements``/``accesses``/``bytes`` are ``{level: {operand: {"reads",
"writes"}}}`` in tensor elements, in the level's words (elements x bits / word_bits, at
the widths :mod:`sim.hier_cost` prices: partial sums at the accumulator width, final
outputs into the top level at the output width; see
:func:`mapper.zigzag_import.hierarchy_word_accesses`) and in bytes (words x word_bits /
8). Layers run one after another: network cycles and energy are the sums over layers.

``total_cycles`` is the analytic model's (the stalling transfers' port time plus the
compute overlapped with the rest: :mod:`sim.hier_cost`'s latency rule); ``cycle_model``
is the same mapping timed tile by tile by :func:`sim.cycle.hier_cycle.simulate_hier`
(single-buffered levels serialise their fills and drains with compute, step by step;
same traffic), never below the analytic figure.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dataflows.errors import CoforgeError

if TYPE_CHECKING:                   # the CLI imports this module for every command
    from dataflows.layer import Layer
    from dataflows.nest_mapping import NestMapping
    from dataflows.network import Network
    from mapper.hier_store import ShapeStore
    from sim.hier_cost import HierResult
    from sim.hierarchy import Hierarchy

#: Layer kinds the hierarchy cost model costs (the 7-D loop nest; passive nodes are not
#: compute layers and never reach it).
HIER_KINDS: frozenset[str] = frozenset(
    {"conv", "depthwise", "fc", "gemm", "matmul_qk", "matmul_av"})
#: ``coforge map --objective`` -> :mod:`mapper.nest_search` objective.
OBJECTIVES: dict[str, str] = {"energy": "energy", "latency": "cycles", "edp": "edp"}
#: ``coforge map --strategy`` -> :mod:`mapper.nest_search` strategy (hierarchy specs).
STRATEGIES: dict[str, str] = {"evolution": "evolution", "genetic": "evolution",
                              "random": "random"}
VECTOR_UNIT = "none: non-GEMM operators not costed"


class HierMapError(CoforgeError):
    """A network or option the hierarchy mapper cannot run (one line, exit 2)."""


@dataclass(frozen=True)
class HierLayerMap:
    """One layer: the chosen mapping, its cost and the search effort of its shape
    (``evaluations`` 0 for a layer that reused an earlier layer's shape)."""

    layer: Layer
    mapping: NestMapping
    result: HierResult
    evaluations: int
    hier: Hierarchy | None = None           # the bypass choice mapped (None: the spec's)

    @property
    def bypassed(self) -> dict[str, list[str]]:
        """Per level, the operands the mapping's bypass choice leaves out."""
        return {} if self.hier is None else {
            name: list(ops) for name, ops in self.hier.bypassed.items()}


@dataclass(frozen=True)
class HierNetworkMap:
    """Every compute layer of ``network`` mapped on ``hier``, in network order."""

    network: str
    hier: Hierarchy
    layers: tuple[HierLayerMap, ...]
    distinct_shapes: int
    elapsed_s: float
    input_reuse: str = "window"             # the rule map_hierarchy costed with

    @property
    def evaluations(self) -> int:
        return sum(m.evaluations for m in self.layers)


def is_hierarchy_spec(path: str | None) -> bool:
    """True when ``path`` is a YAML file whose top level has a ``hierarchy:`` key (a
    3-level spec, a shipped name or an unreadable file is not: the 3-level path reports
    those)."""
    if not path or not Path(path).is_file():
        return False
    from sim.yaml_io import read_yaml
    try:
        data = read_yaml(Path(path), what="a YAML spec")
    except CoforgeError:
        return False
    return isinstance(data, dict) and "hierarchy" in data


def map_hierarchy(net: Network, hier: Hierarchy, strategy: str = "evolution",
                  objective: str = "edp", max_evals: int = 20_000,
                  seed: int = 0, input_reuse: str | None = None,
                  store: "ShapeStore | None" = None,
                  time_budget_s: float | None = None, workers: int = 1) -> HierNetworkMap:
    """Search a nest mapping for every distinct compute-layer shape of ``net`` on
    ``hier`` (``strategy``/``objective`` in :mod:`mapper.nest_search`'s names;
    :func:`mapper.nest_search.search_factors`: exact factors, then imperfect ones seeded
    with the exact best, sharing ``max_evals``) and cost
    every layer with :func:`sim.hier_cost.evaluate`, both under ``input_reuse``
    (:data:`sim.hier_cost.INPUT_REUSE`; default the cost model's
    ``DEFAULT_INPUT_REUSE``). A layer of a kind outside
    :data:`HIER_KINDS`, or one no mapping was found for, is a one-line error. ``store``
    (:class:`mapper.hier_store.ShapeStore`): shapes it holds are read from it, not
    searched (their stored evaluations are reported), and each shape searched is written
    to it as soon as it is found (inside :func:`mapper.run_control.deferred`: a stop
    signal never cuts the write). ``time_budget_s``: wall-clock seconds for the whole
    network, shared by the distinct shapes as their MACs are
    (:class:`mapper.run_control.BudgetShares`: searched one after another, each from the
    time left when it starts; side by side, fixed shares); each search then also stops
    by the clock, after its first mappings (always costed: a budget below the shapes'
    minimum searches is exceeded by those). ``workers`` > 1:
    the shapes are searched in that many local processes at once
    (:func:`mapper.run_control.worker_init`: they ignore stop signals and die with this
    process); every search is seeded alike, so the result is the same as with one."""
    from dataflows.dataflow import map_bounds
    from mapper.nest_search import search_factors
    from mapper.run_control import BudgetShares, WorkerDied, deferred, pool_map
    from sim.hier_cost import check_fits, evaluate
    from sim.hier_cost_scalar import DEFAULT_INPUT_REUSE, check_input_reuse
    reuse = DEFAULT_INPUT_REUSE if input_reuse is None else input_reuse
    check_input_reuse(reuse)
    if workers < 1:
        raise HierMapError(f"workers must be >= 1, not {workers}")
    layers = net.layers()
    if not layers:
        raise HierMapError(f"network {net.name!r} has no compute layer; nothing to map")
    for layer in layers:
        if layer.kind not in HIER_KINDS:
            raise HierMapError(f"layer {layer.name!r}: kind {layer.kind!r} is not costed by "
                               f"the hierarchy model (sim.hier_cost); it costs "
                               f"{sorted(HIER_KINDS)}")
    start = time.perf_counter()
    shapes: dict[tuple, Layer] = {}
    for layer in layers:
        shapes.setdefault(layer.shape_key(), layer)
    found: dict[tuple, tuple[NestMapping, Hierarchy, int]] = {}
    todo: list[tuple[tuple, Layer]] = []
    for key, layer in shapes.items():
        stored = store.get(repr(key), hier) if store is not None else None
        if stored is not None:
            try:                        # a store edited by hand: name it, not the spec
                stored[0].check(stored[1], map_bounds(layer))
                check_fits(layer, stored[1], stored[0])
            except CoforgeError as err:
                raise store.bad_mapping(layer.name, str(err)) from None
            found[key] = stored
        else:
            todo.append((key, layer))
    shares = None if time_budget_s is None else \
        BudgetShares(time_budget_s, [x.macs for _, x in todo])

    def keep(key: tuple, sr: Any) -> None:
        chosen = hier if sr.hierarchy is None or sr.hierarchy == hier else sr.hierarchy
        found[key] = (sr.mapping, chosen, sr.evaluations)
        if store is not None:
            with deferred():
                store.put(repr(key), sr.mapping, chosen, sr.evaluations)

    def args(layer: Layer, share: float | None) -> tuple:
        return (layer, hier, strategy, objective, max_evals, seed, reuse, share)
    if workers > 1 and len(todo) > 1:   # shares fixed up front (searched side by side)
        static = [None] * len(todo) if shares is None else \
            shares.static([x.macs for _, x in todo])
        try:
            pool_map(search_factors, [(k, args(x, b)) for (k, x), b in zip(todo, static)],
                     min(workers, len(todo)), keep)
        except WorkerDied:
            raise HierMapError("a search worker process died (killed by the system, e.g. "
                               "out of memory?); the shapes found so far are stored with "
                               "--out: rerun with --resume, or with fewer --workers") from None
    else:                               # exact factors, then imperfect ones seeded
        for key, layer in todo:
            keep(key, search_factors(*args(layer, None if shares is None else
                                           shares.next(layer.macs))))
    out: list[HierLayerMap] = []
    seen: set[tuple] = set()
    for layer in layers:
        key = layer.shape_key()
        mapping, chosen, evals = found[key]
        if key in seen:                 # a repeated shape: searched (and counted) once
            evals = 0
        seen.add(key)
        check_fits(layer, chosen, mapping)
        out.append(HierLayerMap(layer, mapping,
                                evaluate(layer, chosen, mapping, input_reuse=reuse), evals,
                                None if chosen is hier else chosen))
    return HierNetworkMap(network=net.name, hier=hier, layers=tuple(out),
                          distinct_shapes=len(found),
                          elapsed_s=time.perf_counter() - start, input_reuse=reuse)


def layer_accesses(m: HierLayerMap, hier: Hierarchy) -> dict[str, dict[str, Any]]:
    """``{"elements", "accesses" (words), "bytes"}`` of one layer (module doc units)."""
    from mapper.zigzag_import import hierarchy_word_accesses
    words = hierarchy_word_accesses(m.result, hier, m.layer)
    width = {lv.name: lv.word_bits for lv in hier.levels}
    return {
        "elements": {lv: {o: dict(d) for o, d in per.items()}
                     for lv, per in m.result.accesses.items()},
        "accesses": {lv: {o: {"reads": r, "writes": w} for o, (r, w) in per.items()}
                     for lv, per in words.items()},
        "bytes": {lv: {o: {"reads": r * width[lv] / 8, "writes": w * width[lv] / 8}
                       for o, (r, w) in per.items()} for lv, per in words.items()}}


def _energy_by_level(m: HierLayerMap, hier: Hierarchy) -> dict[str, float]:
    return dict(m.result.energy_pj_by_level) | {"mac": m.layer.macs * hier.compute.mac_pj}


def _utilization(macs: int, cycles: int, pes: int) -> float:
    return macs / (cycles * pes) if cycles else 0.0


def _inf_as_text(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _inf_as_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_inf_as_text(v) for v in value]
    return "inf" if isinstance(value, float) and math.isinf(value) else value


def cycle_model(m: HierLayerMap, hier: Hierarchy, input_reuse: str | None = None
                ) -> dict[str, Any]:
    """The layer's mapping timed by :func:`sim.cycle.hier_cycle.simulate_hier`."""
    from sim.cycle.hier_cycle import simulate_hier
    c = simulate_hier(m.layer, hier, m.mapping, input_reuse=input_reuse)
    return {"total_cycles": c.total_cycles, "stall_cycles": c.stall_cycles,
            "stall_cycles_by_level": dict(c.stall_cycles_by_level)}


def result_doc(mapped: HierNetworkMap, run: dict[str, Any], spec_sha256: str) -> dict:
    """The ``result.json`` document of a hierarchy map (module doc schema)."""
    from mapper.report import coforge_version
    hier = mapped.hier
    layers = []
    timed: dict[tuple, dict[str, Any]] = {}      # same shape, same mapping: same timeline
    for m in mapped.layers:
        r = m.result
        h = m.hier or hier
        key = (m.layer.shape_key(), repr(m.mapping.to_dict(h)), repr(m.bypassed))
        if key not in timed:
            timed[key] = cycle_model(m, h, mapped.input_reuse)
        layers.append({
            "name": m.layer.name, "kind": m.layer.kind, "macs": m.layer.macs,
            "compute_cycles": r.compute_cycles, "total_cycles": r.total_cycles,
            "utilization": _utilization(m.layer.macs, r.total_cycles, hier.pes),
            "energy_pj": r.energy_pj, "energy_pj_by_level": _energy_by_level(m, hier),
            "cycles_by_level": dict(r.cycles_by_level)}
            | layer_accesses(m, h)
            | {"mapping": m.mapping.to_dict(h), "bypassed": m.bypassed,
               "evaluations": m.evaluations, "cycle_model": timed[key]})
    macs = sum(e["macs"] for e in layers)
    total = sum(e["total_cycles"] for e in layers)
    levels = [lv.name for lv in hier.levels] + ["mac"]
    totals = {"macs": macs, "compute_cycles": sum(e["compute_cycles"] for e in layers),
              "total_cycles": total, "utilization": _utilization(macs, total, hier.pes),
              "energy_pj": sum(e["energy_pj"] for e in layers),
              "latency_ms": total / (hier.clock_mhz * 1e3),
              "energy_pj_by_level": {lv: sum(e["energy_pj_by_level"][lv] for e in layers)
                                     for lv in levels}}
    cm = sum(e["cycle_model"]["total_cycles"] for e in layers)
    totals |= {"cycle_model_total_cycles": cm,
               "cycle_model_latency_ms": cm / (hier.clock_mhz * 1e3)}
    return {"coforge_version": coforge_version(), "spec_hash": spec_sha256,
            "network": mapped.network, "arch": hier.name, "model": "hierarchy",
            "fidelity": "analytic", "clock_mhz": hier.clock_mhz, "pes": hier.pes,
            "layers": layers, "totals": totals,
            "run": dict(run) | {"spec_sha256": spec_sha256,
                                "input_reuse": mapped.input_reuse,
                                "distinct_shapes": mapped.distinct_shapes,
                                "evaluations": mapped.evaluations},
            "spec": _inf_as_text(hier.to_dict()), "vector_unit": VECTOR_UNIT}


def report_text(doc: dict[str, Any]) -> str:
    """A fixed-width per-layer table of a :func:`result_doc` with its totals lines."""
    levels = list(doc["totals"]["energy_pj_by_level"])
    head = (f"{'layer':<24}{'MACs':>14}{'compute':>12}{'total':>12}{'util':>7}"
            f"{'energy uJ':>12}" + "".join(f"{lv[:7] + ' uJ':>11}" for lv in levels))
    lines = [head, "-" * len(head)]
    for e in doc["layers"] + [dict(doc["totals"], name="TOTAL")]:
        if e["name"] == "TOTAL":
            lines.append("-" * len(head))
        lines.append(f"{e['name'][:23]:<24}{e['macs']:>14,}{e['compute_cycles']:>12,}"
                     f"{e['total_cycles']:>12,}{e['utilization']:>7.1%}"
                     f"{e['energy_pj'] / 1e6:>12.2f}"
                     + "".join(f"{e['energy_pj_by_level'][lv] / 1e6:>11.2f}"
                               for lv in levels))
    t = doc["totals"]
    lines.append(f"latency {t['latency_ms']:.4f} ms at {doc['clock_mhz']:g} MHz, energy "
                 f"{t['energy_pj'] / 1e9:.4f} mJ, hierarchy {doc['arch']} ({doc['pes']} "
                 f"PEs), layers in sequence; vector unit: {doc['vector_unit']}")
    cm = t["cycle_model_total_cycles"]
    lines.append(f"cycle model (sim.cycle.hier_cycle, tile by tile): {cm:,} cycles = "
                 f"{t['cycle_model_latency_ms']:.4f} ms, "
                 f"{(cm - t['total_cycles']) / t['total_cycles']:+.1%} vs analytic")
    return "\n".join(lines)


def summary_line(doc: dict[str, Any], elapsed_s: float) -> str:
    """The ``coforge map`` search line: shapes, strategy, objective, seed, effort."""
    run = doc["run"]
    resumed = run.get("resumed_shapes", 0)
    return (f"{run['distinct_shapes']} distinct layer shapes searched "
            f"({run['search_strategy']}, {run['objective']}, seed {run['seed']}): "
            f"{run['evaluations']:,} evaluations in {elapsed_s:.1f} s"
            + (f" ({resumed} shapes read from the store, their evaluations from the run that "
               f"searched them)" if resumed else ""))


def write_hier_reports(doc: dict[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """Write ``result.json`` (strict JSON) and ``report.txt`` into ``out_dir``."""
    from mapper.report import strict_json
    text = strict_json(doc) + "\n"
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "result.json", "txt": out / "report.txt"}
    paths["json"].write_text(text)
    paths["txt"].write_text(report_text(doc) + "\n" + summary_line(doc, doc["run"].get(
        "elapsed_s", 0.0)) + "\n")
    return paths


# -- the CLI path ------------------------------------------------------------------------
class _DefaultStrategy(str):
    """``map --strategy``'s default, told apart from the same word typed by the user: the
    3-level path sees plain ``annealing``; a hierarchy spec then uses ``evolution``."""


def _refuse(args: argparse.Namespace) -> None:
    """Options of the 3-level ``map`` that mean nothing on a hierarchy: refused."""
    if args.scalesim_config:
        raise HierMapError("--scalesim-config describes a 3-level array; it cannot be given "
                           "with a hierarchy --arch")
    if args.rerank is not None:
        raise HierMapError("--rerank is not supported with a hierarchy --arch (every layer's "
                           "cycle-model figure is in result.json); drop --rerank")
    if args.timing != "native":
        raise HierMapError(f"--timing {args.timing} is a 3-level convention; a hierarchy "
                           f"--arch has one timing (drop --timing)")
    if args.max_evals < 1:
        raise HierMapError(f"--max-evals must be >= 1, not {args.max_evals}")
    _check_workers(args)


def _check_workers(args: argparse.Namespace) -> None:
    if args.workers is not None and args.workers < 1:
        raise HierMapError(f"--workers must be >= 1, not {args.workers}")


def run_map(args: argparse.Namespace) -> int:
    """``coforge map --arch H.yaml`` for a hierarchy spec (module doc). With ``--out``,
    each distinct shape's result goes to ``OUT/map_shapes.jsonl`` as it is found
    (:mod:`mapper.hier_store`); SIGINT/SIGTERM stop the run with one line naming what is
    stored and exit status 130/143, and ``--resume`` continues it."""
    from mapper.cli import _check_outputs, _load_workload
    from mapper.cli_search import parse_budget
    from mapper.hier_store import ShapeStore, run_meta
    from mapper.report import coforge_version
    from mapper.line_store import run_stored
    from mapper.run_control import stop_on_signals, usable_cpus
    from sim.hier_cost_scalar import DEFAULT_INPUT_REUSE
    from sim.hierarchy import load_hierarchy
    _refuse(args)
    strategy = "evolution" if isinstance(args.strategy, _DefaultStrategy) else args.strategy
    if strategy not in STRATEGIES:
        raise HierMapError(f"--strategy {strategy} is not available with a hierarchy --arch; "
                           f"give one of {sorted(STRATEGIES)}")
    if args.resume and not args.out:
        raise HierMapError("--resume continues the run stored in --out; give --out DIR")
    _check_outputs(None, args.out)
    hier = load_hierarchy(args.arch)
    sha = hashlib.sha256(Path(args.arch).read_bytes()).hexdigest()
    net = _load_workload(args)
    budget = parse_budget(args.time_budget)
    store = None
    if args.out:
        meta = run_meta(spec_sha256=sha, network=net.name, time_budget_s=budget,
                        layers=[x.to_dict() for x in net.layers()], strategy=strategy,
                        objective=args.objective, max_evals=args.max_evals, seed=args.seed,
                        input_reuse=args.input_reuse or DEFAULT_INPUT_REUSE,
                        coforge_version=coforge_version())
        store = ShapeStore(args.out, meta, resume=args.resume)
    n = len({x.shape_key() for x in net.layers()})
    with stop_on_signals():
        mapped, stopped = run_stored(store, lambda: map_hierarchy(
            net, hier, STRATEGIES[strategy], OBJECTIVES[args.objective], args.max_evals,
            args.seed, args.input_reuse, store=store, time_budget_s=budget,
            workers=args.workers or usable_cpus()), lambda: (
            f"{len(store)} of {n} layer shapes stored in {store.path}; continue with "
            f"--resume"))
    if stopped is not None:
        return stopped
    run = {"seed": args.seed, "strategy": strategy, "search_strategy": STRATEGIES[strategy],
           "objective": args.objective, "search_objective": OBJECTIVES[args.objective],
           "max_evals": args.max_evals, "time_budget_s": budget,
           "spec_file": str(args.arch), "elapsed_s": mapped.elapsed_s,
           "resumed_shapes": store.resumed if store is not None else 0}
    doc = result_doc(mapped, run, sha)
    print(report_text(doc))
    print(summary_line(doc, mapped.elapsed_s))
    if args.out:
        paths = write_hier_reports(doc, args.out)
        print("wrote " + ", ".join(str(p) for p in [*paths.values(), store.path]))
    return 0


def route_map(sub: Any) -> None:
    """Send ``coforge map`` to :func:`run_map` when ``--arch`` is a hierarchy spec; every
    other ``map`` keeps its registered function, unchanged (``sub``: the CLI's
    subparsers, after ``map`` is registered)."""
    parser = sub.choices["map"]
    three_level = parser.get_default("func")
    for action in parser._actions:
        if action.dest == "strategy":
            action.default = _DefaultStrategy(action.default)
            action.choices = list(action.choices) + ["evolution"]
            action.help += ("; with a hierarchy --arch (a YAML with a 'hierarchy:' "
                            "section): evolution (default; genetic is the same) or random")

    def routed(args: argparse.Namespace) -> int:
        if is_hierarchy_spec(args.arch):
            return run_map(args)
        _check_workers(args)
        if args.input_reuse is not None:
            raise HierMapError("--input-reuse applies to a hierarchy --arch (a YAML with a "
                               "'hierarchy:' section); drop it for a 3-level spec")
        if args.strategy == "evolution":
            raise HierMapError("--strategy evolution applies to a hierarchy --arch; for a "
                               "3-level spec give genetic")
        args.strategy = str(args.strategy)          # the plain word, as before routing
        return three_level(args)

    parser.add_argument("--workers", type=int, default=None,
                        help="local processes working on layer shapes at once: with a "
                             "hierarchy --arch their searches, with a 3-level spec their "
                             "cycle-model checks and re-ranks (default: all cores; the "
                             "result is the same for any number)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run stored in --out (OUT/map_shapes.jsonl, "
                             "written as each layer shape is searched and, on a 3-level "
                             "spec, costed by the cycle model; the same settings are "
                             "required)")
    parser.add_argument("--input-reuse", choices=["refetch", "window"], default=None,
                        help="with a hierarchy --arch: conv inputs of a tile that moves are "
                             "fetched only where outside the previous window (window: exact "
                             "sliding-window reuse, the default; see sim/hier_cost.py) or "
                             "refetched whole (refetch, Timeloop's rule)")
    parser.set_defaults(func=routed)


__all__ = ["HIER_KINDS", "HierLayerMap", "HierMapError", "HierNetworkMap", "cycle_model",
           "is_hierarchy_spec", "layer_accesses", "map_hierarchy", "report_text",
           "result_doc", "route_map", "run_map", "write_hier_reports"]
