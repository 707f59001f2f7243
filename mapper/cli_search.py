"""The ``coforge map`` and ``coforge dse`` commands (registered by mapper.cli)."""

from __future__ import annotations

import argparse
import os
import re
from typing import Any

from dataflows.errors import CoforgeError


class BudgetError(CoforgeError):
    """A malformed --time-budget."""


def parse_budget(text: str | None) -> float | None:
    """'30s', '10m', '1.5h' or plain seconds -> seconds (None stays None)."""
    if text is None:
        return None
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if not m or float(m.group(1)) <= 0:
        raise BudgetError(f"--time-budget must look like 30s, 10m or 1h, not {text!r}")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]


def _map(args: argparse.Namespace) -> int:
    from mapper.cli import _load_arch, _load_workload
    from mapper.network_map import map_network
    from mapper.report import table, write_reports
    net = _load_workload(args)
    accel = _load_arch(args)
    mapped = map_network(net, accel, args.strategy, args.objective, args.max_evals,
                         parse_budget(args.time_budget), args.seed, args.timing)
    print(table(mapped.result))
    evals = sum(s.evaluations for s in mapped.searches)
    secs = sum(s.elapsed_s for s in mapped.searches)
    print(f"{len(mapped.searches)} distinct layer shapes searched ({args.strategy}, "
          f"{args.objective}, seed {args.seed}): {evals:,} evaluations in {secs:.1f} s")
    if args.out:
        paths = write_reports(mapped.result, args.out)
        print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def _dse(args: argparse.Namespace) -> int:
    from mapper.dse import Constraint, DseError, DseSettings, run_dse
    from mapper.dse_report import write_dse_reports
    from mapper.hw_space import load_hw_space
    from mapper.store import ResultStore
    if args.target:
        raise DseError(f"--target {args.target}: the calibrated FPGA resource model is not "
                       f"available yet (it comes with the synthesis flow); drop --target to "
                       f"co-search latency, energy and area")
    from dataflows import zoo
    net = zoo.load(args.network)
    space = load_hw_space(args.space)
    settings = DseSettings(
        network=args.network, objectives=tuple(o.strip() for o in args.objectives.split(",")),
        constraints=tuple(Constraint.parse(c) for c in args.constraint or []),
        strategy=args.strategy, max_designs=args.max_designs, population=args.population,
        seed=args.seed, map_strategy=args.map_strategy, map_evals=args.map_evals)
    os.makedirs(args.out, exist_ok=True)
    store = ResultStore(os.path.join(args.out, "dse.sqlite"), settings.meta(space),
                        resume=args.resume)
    before = len(store)

    def show(row: dict[str, Any]) -> None:
        if row["feasible"]:
            print(f"[{len(store)}] {row['latency_ms']:.4f} ms {row['energy_mj']:.4f} mJ "
                  f"{row['area_mm2']:.3f} mm2  {row['params']}", flush=True)
        else:
            print(f"[{len(store)}] cannot run: {row['params']}: {row['error']}", flush=True)

    n = run_dse(space, net, settings, store, workers=args.workers, scheduler=args.scheduler,
                time_budget_s=parse_budget(args.time_budget), on_row=show)
    rows = store.rows()
    paths = write_dse_reports(rows, settings, args.out)
    print(f"{n} designs evaluated now, {before} resumed from the store; "
          f"space size {space.size}")
    print(paths["txt"].read_text(), end="")
    print("wrote " + ", ".join(str(p) for p in [store.path, *paths.values()]))
    store.close()
    return 0


def add_search_commands(sub: Any, add_workload: Any) -> None:
    """Register ``map`` and ``dse`` on the CLI's subparsers."""
    m = sub.add_parser("map", help="search a mapping for every layer of a network")
    add_workload(m)
    m.add_argument("--objective", choices=["edp", "latency", "energy"], default="edp")
    m.add_argument("--strategy", choices=["annealing", "genetic", "random", "exhaustive",
                                          "exact"],
                   default="annealing")
    m.add_argument("--max-evals", type=int, default=20_000,
                   help="evaluations per distinct layer shape (default 20000)")
    m.add_argument("--time-budget", help="wall-clock cap for the whole network, e.g. 30s")
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--timing", choices=["native", "scalesim"], default="native")
    m.add_argument("--out", help="directory for result.json (with each layer's mapping), "
                                 "layers.csv, cycles_energy.png")
    m.set_defaults(func=_map)

    d = sub.add_parser("dse", help="co-search hardware and mappings: Pareto front")
    d.add_argument("--network", required=True, help="zoo network name")
    d.add_argument("--space", required=True, help="design-space YAML (see mapper/hw_space.py)")
    d.add_argument("--objectives", default="latency,energy,area",
                   help="comma list from latency, energy, edp, area")
    d.add_argument("--constraint", action="append",
                   help="e.g. area_mm2<=2 (repeatable; metrics latency_ms, energy_mj, edp, "
                        "area_mm2)")
    d.add_argument("--target", help="FPGA part for resource objectives (not yet available)")
    d.add_argument("--strategy", choices=["nsga2", "random", "grid"], default="nsga2")
    d.add_argument("--max-designs", type=int, default=64)
    d.add_argument("--population", type=int, default=16)
    d.add_argument("--map-strategy", choices=["annealing", "genetic", "random"],
                   default="annealing")
    d.add_argument("--map-evals", type=int, default=2000,
                   help="mapping evaluations per layer shape per design")
    d.add_argument("--time-budget", help="wall-clock cap, e.g. 10m")
    d.add_argument("--resume", action="store_true", help="continue the run stored in --out")
    d.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="local worker processes (default: all cores)")
    d.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://host:8786")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--out", required=True, help="directory for dse.sqlite, pareto.csv, "
                                                "pareto.png, report.txt")
    d.set_defaults(func=_dse)


__all__ = ["add_search_commands", "parse_budget"]
