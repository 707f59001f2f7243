"""Hardware x mapping co-search: Pareto fronts of latency, energy and area.

For every hardware candidate of a :class:`~mapper.hw_space.HardwareSpace`, every
layer of the network is mapped by :func:`mapper.network_map.map_network` (one
search per distinct layer shape, seeded from the run seed and the design key, so a
design's numbers never depend on which worker evaluated it), and the design's
latency (ms), energy (mJ), EDP (mJ x ms) and area (mm^2, :mod:`sim.area`) are
stored in a :class:`~mapper.store.ResultStore` row as soon as they are known.

Strategies over the hardware space: ``grid`` (every candidate, in order),
``random`` (distinct uniform candidates) and ``nsga2`` (pymoo's NSGA-II on integer
parameter indices, constraints as inequality constraints). Designs run in parallel on
local processes (``workers``) or on a Dask cluster (``scheduler="tcp://..."``).
"""

from __future__ import annotations

import hashlib
import itertools
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dataflows.errors import CoforgeError
from dataflows.network import Network
from mapper.hw_space import HardwareSpace
from mapper.network_map import map_network
from mapper.store import ResultStore
from sim.area import area

OBJECTIVE_COLUMNS: dict[str, str] = {"latency": "latency_ms", "energy": "energy_mj",
                                     "edp": "edp", "area": "area_mm2"}
STRATEGIES: tuple[str, ...] = ("grid", "random", "nsga2")


class DseError(CoforgeError):
    """A co-search setting is invalid."""


@dataclass(frozen=True)
class Constraint:
    """``metric op value`` with metric a store column (e.g. ``area_mm2<=2``)."""

    metric: str
    op: str
    value: float

    @classmethod
    def parse(cls, text: str) -> "Constraint":
        for op in ("<=", ">=", "<", ">"):
            if op in text:
                metric, value = (s.strip() for s in text.split(op, 1))
                break
        else:
            raise DseError(f"constraint {text!r} must look like 'area_mm2<=2' "
                           f"(operators <=, <, >=, >)")
        if metric not in OBJECTIVE_COLUMNS.values():
            raise DseError(f"constraint {text!r}: metric must be one of "
                           f"{sorted(OBJECTIVE_COLUMNS.values())}, not {metric!r}")
        try:
            return cls(metric, op, float(value))
        except ValueError:
            raise DseError(f"constraint {text!r}: {value!r} is not a number") from None

    def violation(self, row: dict[str, Any]) -> float:
        """<= 0 when satisfied (pymoo's convention), else by how much it is broken."""
        x = row[self.metric]
        return x - self.value if self.op in ("<=", "<") else self.value - x


@dataclass(frozen=True)
class DseSettings:
    """Everything that determines a co-search's results (stored as the run's meta)."""

    network: str
    objectives: tuple[str, ...] = ("latency", "energy", "area")
    constraints: tuple[Constraint, ...] = ()
    strategy: str = "nsga2"
    max_designs: int = 64
    population: int = 16
    seed: int = 0
    map_strategy: str = "annealing"
    map_evals: int = 2000
    timing: str = "native"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        bad = [o for o in self.objectives if o not in OBJECTIVE_COLUMNS]
        if bad or not self.objectives:
            raise DseError(f"objectives must be a non-empty list from "
                           f"{sorted(OBJECTIVE_COLUMNS)}, not {list(self.objectives)}")
        if self.strategy not in STRATEGIES:
            raise DseError(f"strategy must be one of {list(STRATEGIES)}, not {self.strategy!r}")
        if self.max_designs < 1 or self.population < 2:
            raise DseError("max_designs must be >= 1 and population >= 2")

    def meta(self, space: HardwareSpace) -> dict[str, Any]:
        return {"network": self.network, "objectives": list(self.objectives),
                "constraints": [f"{c.metric}{c.op}{c.value}" for c in self.constraints],
                "strategy": self.strategy, "population": self.population, "seed": self.seed,
                "map_strategy": self.map_strategy, "map_evals": self.map_evals,
                "timing": self.timing, "base_spec_hash": space.base.spec_hash,
                "parameters": [[n, list(v)] for n, v in space.parameters]} | self.extra


def design_seed(seed: int, key: str) -> int:
    """The mapping-search seed of one design: from the run seed and the design key."""
    return int.from_bytes(hashlib.sha256(f"{seed}|{key}".encode()).digest()[:4], "little")


def evaluate_design(space: HardwareSpace, index: tuple[int, ...], net: Network,
                    settings: DseSettings) -> dict[str, Any]:
    """Map ``net`` on candidate ``index`` and return its store row (pure, picklable)."""
    from mapper.report import coforge_version
    key = space.key(index)
    start = time.perf_counter()
    row: dict[str, Any] = {"key": key, "seed": settings.seed, "params": key,
                           "coforge_version": coforge_version()}
    try:
        accel = space.accelerator(index)
        row["spec_hash"] = accel.spec_hash
        res = map_network(net, accel, settings.map_strategy, "edp", settings.map_evals,
                          None, design_seed(settings.seed, key), settings.timing,
                          progress=False).result
        row.update(latency_ms=res.latency_ms, energy_mj=res.energy_pj / 1e9,
                   area_mm2=area(accel).total_mm2, feasible=1, error=None)
        row["edp"] = row["latency_ms"] * row["energy_mj"]
    except CoforgeError as err:           # a candidate that cannot run: stored, infeasible
        row.update(latency_ms=None, energy_mj=None, edp=None, area_mm2=None, feasible=0,
                   error=" ".join(str(err).split()))
    row["elapsed_s"] = time.perf_counter() - start
    return row


class _Runner:
    """Evaluates candidate batches: store hits first, the rest in parallel."""

    def __init__(self, space: HardwareSpace, net: Network, settings: DseSettings,
                 store: ResultStore, workers: int, scheduler: str | None,
                 deadline: float | None, on_row: Callable[[dict[str, Any]], None]) -> None:
        self.space, self.net, self.settings, self.store = space, net, settings, store
        self.deadline, self.on_row = deadline, on_row
        self.evaluated = 0
        self.client = self.pool = None
        if scheduler:
            from distributed import Client
            self.client = Client(scheduler)
        elif workers > 1:
            from concurrent.futures import ProcessPoolExecutor
            self.pool = ProcessPoolExecutor(max_workers=workers)

    @property
    def out_of_time(self) -> bool:
        return self.deadline is not None and time.perf_counter() > self.deadline

    def run(self, indices: Iterable[tuple[int, ...]]) -> list[dict[str, Any]]:
        """Rows for ``indices`` (in order); new designs are evaluated and stored."""
        indices = [tuple(int(i) for i in ix) for ix in indices]
        todo = {self.space.key(ix): ix for ix in indices if self.store.get(self.space.key(ix))
                is None}
        args = list(todo.values())
        if self.client is not None:
            from distributed import as_completed
            futures = self.client.map(evaluate_design, [self.space] * len(args), args,
                                      [self.net] * len(args), [self.settings] * len(args),
                                      pure=False)
            done = (f.result() for f in as_completed(futures))
        elif self.pool is not None:
            from concurrent.futures import as_completed as local_completed
            futures = [self.pool.submit(evaluate_design, self.space, ix, self.net,
                                        self.settings) for ix in args]
            done = (f.result() for f in local_completed(futures))
        else:
            done = (evaluate_design(self.space, ix, self.net, self.settings) for ix in args)
        for row in done:
            self.store.put(row)
            self.evaluated += 1
            self.on_row(row)
        return [self.store.get(self.space.key(ix)) for ix in indices]

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()
        if self.client is not None:
            self.client.close()


def _objective_matrix(rows: list[dict[str, Any]], settings: DseSettings) -> np.ndarray:
    cols = [OBJECTIVE_COLUMNS[o] for o in settings.objectives]
    return np.array([[r[c] if r["feasible"] else np.inf for c in cols] for r in rows],
                    dtype=float).reshape(len(rows), len(cols))


def _violations(rows: list[dict[str, Any]], settings: DseSettings) -> np.ndarray:
    out = np.zeros((len(rows), max(1, len(settings.constraints))))
    for i, r in enumerate(rows):
        for j, c in enumerate(settings.constraints):
            out[i, j] = c.violation(r) if r["feasible"] else 1e30
        if not settings.constraints and not r["feasible"]:
            out[i, 0] = 1e30
    return out


def run_dse(space: HardwareSpace, net: Network, settings: DseSettings, store: ResultStore,
            workers: int = 1, scheduler: str | None = None,
            time_budget_s: float | None = None,
            on_row: Callable[[dict[str, Any]], None] = lambda row: None) -> int:
    """Run the co-search until ``max_designs`` are stored or time runs out.

    Returns the number of designs evaluated in this call (store hits excluded).
    """
    deadline = time.perf_counter() + time_budget_s if time_budget_s else None
    runner = _Runner(space, net, settings, store, workers, scheduler, deadline, on_row)
    rng = np.random.default_rng(settings.seed)
    try:
        if settings.strategy == "grid":
            grid = itertools.product(*[range(n) for n in space.sizes])
            batch = list(itertools.islice(grid, settings.max_designs))
            for i in range(0, len(batch), settings.population):
                if runner.out_of_time:
                    break
                runner.run(batch[i:i + settings.population])
        elif settings.strategy == "random":
            seen: set[tuple[int, ...]] = set()
            budget = min(settings.max_designs, space.size)
            while len(seen) < budget and not runner.out_of_time:
                batch = []
                while len(batch) < settings.population and len(seen) < budget:
                    ix = tuple(int(rng.integers(0, n)) for n in space.sizes)
                    if ix not in seen:
                        seen.add(ix)
                        batch.append(ix)
                runner.run(batch)
        else:
            _nsga2(space, settings, runner)
    finally:
        runner.close()
    return runner.evaluated


def _nsga2(space: HardwareSpace, settings: DseSettings, runner: _Runner) -> None:
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.core.problem import Problem
    from pymoo.operators.crossover.sbx import SBX
    from pymoo.operators.mutation.pm import PM
    from pymoo.operators.repair.rounding import RoundingRepair
    from pymoo.operators.sampling.rnd import IntegerRandomSampling

    n_constr = max(1, len(settings.constraints))
    problem = Problem(n_var=len(space.sizes), n_obj=len(settings.objectives),
                      n_ieq_constr=n_constr, xl=np.zeros(len(space.sizes)),
                      xu=np.array(space.sizes, dtype=float) - 1, vtype=int)
    algorithm = NSGA2(pop_size=settings.population, sampling=IntegerRandomSampling(),
                      crossover=SBX(prob=0.9, eta=15, vtype=float, repair=RoundingRepair()),
                      mutation=PM(eta=20, vtype=float, repair=RoundingRepair()),
                      eliminate_duplicates=True)
    algorithm.setup(problem, seed=settings.seed, verbose=False)
    proposed = 0
    while proposed < settings.max_designs and not runner.out_of_time:
        pop = algorithm.ask()
        if pop is None or len(pop) == 0:            # no new candidates (space exhausted)
            break
        x = np.clip(np.round(pop.get("X")), 0, problem.xu).astype(int)
        rows = runner.run([tuple(r) for r in x])
        proposed += len(rows)
        pop.set("F", _objective_matrix(rows, settings), "G", _violations(rows, settings))
        algorithm.tell(infills=pop)


def pareto_rows(rows: list[dict[str, Any]], settings: DseSettings) -> list[dict[str, Any]]:
    """Feasible rows meeting every constraint that no other such row dominates."""
    ok = [r for r in rows if r["feasible"]
          and all(c.violation(r) <= 0 for c in settings.constraints)]
    f = _objective_matrix(ok, settings)
    keep = []
    for i in range(len(ok)):
        dominated = np.any(np.all(f <= f[i], axis=1) & np.any(f < f[i], axis=1))
        if not dominated:
            keep.append(ok[i])
    return sorted(keep, key=lambda r: [r[OBJECTIVE_COLUMNS[o]] for o in settings.objectives])


def hypervolume_curve(rows: list[dict[str, Any]], settings: DseSettings) -> list[float]:
    """Hypervolume of the feasible front after each stored design (objectives scaled
    to [0, 1] by the final front's ideal and the worst feasible point x 1.1)."""
    from pymoo.indicators.hv import HV
    ok_idx = [i for i, r in enumerate(rows) if r["feasible"]
              and all(c.violation(r) <= 0 for c in settings.constraints)]
    if not ok_idx:
        return [0.0] * len(rows)
    f_all = _objective_matrix([rows[i] for i in ok_idx], settings)
    lo, hi = f_all.min(axis=0), f_all.max(axis=0) * 1.1
    scale = np.where(hi > lo, hi - lo, 1.0)
    hv = HV(ref_point=np.ones(f_all.shape[1]))
    out, seen = [], []
    for i in range(len(rows)):
        if i in ok_idx:
            seen.append((_objective_matrix([rows[i]], settings)[0] - lo) / scale)
        out.append(float(hv(np.array(seen))) if seen else 0.0)
    return out


__all__ = ["Constraint", "DseError", "DseSettings", "design_seed", "evaluate_design",
           "hypervolume_curve", "pareto_rows", "run_dse"]
