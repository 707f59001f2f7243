"""Hardware x mapping co-search: Pareto fronts of latency, energy and area.

For every hardware candidate of a :class:`~mapper.hw_space.HardwareSpace`, every
layer of the network is mapped by :func:`mapper.network_map.map_network` (one
search per distinct layer shape, seeded from the run seed and the design key, so a
design's numbers never depend on which worker evaluated it), and the design's
latency (ms), energy (mJ), EDP (mJ x ms) and area (mm^2, :mod:`sim.area`) are
stored in a :class:`~mapper.store.ResultStore` row as soon as they are known.

With an FPGA ``target`` (``ecp5-85k``, ``ecp5-45k``, ``ice40-up5k``) each candidate
is first checked against the part by :func:`sim.fpga_model.check_fit` (DSP blocks,
block RAM, pins, predicted LUTs) and given the calibrated model's
:func:`sim.fpga_model.estimate` (columns ``lut``, ``ff``, ``dsp``, ``bram``,
``fmax_mhz``), which objectives and constraints may name. A candidate the RTL
generator cannot build (dataflow not ws/os, ``pe.mode`` not fixed, operand bits not
4/8/16) or that does not fit is stored infeasible with the reason, before any mapping
search. On a target, latency uses ``clock_mhz = min(spec clock, predicted Fmax)``: the
spec clock is what the user asked for, but the engine cannot be clocked above the
Fmax the part reaches, and a design may not claim a latency its bitstream cannot
run at; the clock used is stored (``clock_mhz``). Energy is per operation (pJ, no
leakage term in :mod:`sim.energy`), so it does not depend on the clock.

With a ``precision`` section in the space, each candidate's network is quantized per
layer first (:meth:`~mapper.hw_space.HardwareSpace.quantized`); the chosen bits are part
of the design key. Accuracy is not modelled: the allowed bit widths are user
constraints, not an accuracy-aware search.

Strategies over the hardware space: ``grid`` (every candidate, in order),
``random`` (distinct uniform candidates) and ``nsga2`` (pymoo's NSGA-II on integer
parameter indices, constraints as inequality constraints). Designs run in parallel on
local processes (``workers``) or on a Dask cluster (``scheduler="tcp://..."``).
"""

from __future__ import annotations

import hashlib
import itertools
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dataflows.errors import CoforgeError
from dataflows.network import Network
from mapper.hw_space import HardwareSpace
from mapper.network_map import map_network
from mapper.run_control import deferred, kill_processes, signals_blocked, worker_init
from mapper.store import DesignRecord, ResultStore, fields_of
from sim.area import area
from sim.spec import Accelerator

OBJECTIVE_COLUMNS: dict[str, str] = {"latency": "latency_ms", "energy": "energy_mj",
                                     "edp": "edp", "area": "area_mm2", "lut": "lut",
                                     "ff": "ff", "dsp": "dsp", "bram": "bram",
                                     "fmax": "fmax_mhz", "accuracy": "accuracy",
                                     "size": "weight_bytes"}
#: Store columns filled only with an FPGA target (from sim.fpga_model.estimate and the
#: clock the latency used): the ``fpga`` group of :class:`~mapper.store.DesignRecord`.
FPGA_COLUMNS: tuple[str, ...] = fields_of("fpga")
#: Columns to maximise (the search minimises their negation).
MAXIMISE: frozenset[str] = frozenset({"fmax_mhz", "accuracy"})
#: Store columns filled only when accuracy is measured (an AccuracyTask): the
#: ``accuracy`` group of :class:`~mapper.store.DesignRecord`.
ACCURACY_COLUMNS: tuple[str, ...] = fields_of("accuracy")
STRATEGIES: tuple[str, ...] = ("grid", "random", "nsga2", "milp", "greedy")
#: Strategies that allocate per-layer bits under a budget (mapper.allocate).
ALLOCATORS: tuple[str, ...] = ("milp", "greedy")
#: Constraint operators, in the order parsing tries them (``<=`` before ``<``).
CONSTRAINT_OPS: tuple[str, ...] = ("<=", ">=", "<", ">")


class DseError(CoforgeError):
    """A co-search setting is invalid."""


@dataclass(frozen=True)
class Constraint:
    """``metric op value`` with metric a store column (e.g. ``area_mm2<=2``,
    ``fmax_mhz>=100``).

    ``<=`` and ``>=`` admit a value on the bound, ``<`` and ``>`` do not.
    """

    metric: str
    op: str
    value: float

    def __post_init__(self) -> None:
        if self.op not in CONSTRAINT_OPS:
            raise DseError(f"constraint operator must be one of {list(CONSTRAINT_OPS)}, "
                           f"not {self.op!r}")
        if self.metric not in set(OBJECTIVE_COLUMNS.values()) | set(ACCURACY_COLUMNS):
            raise DseError(f"constraint metric must be one of "
                           f"{sorted(set(OBJECTIVE_COLUMNS.values()) | set(ACCURACY_COLUMNS))}"
                           f", not {self.metric!r}")
        if math.isnan(self.value):
            raise DseError(f"constraint {self.metric}{self.op}: the bound must be a "
                           f"number, not {self.value!r}")

    @classmethod
    def parse(cls, text: str) -> Constraint:
        for op in CONSTRAINT_OPS:                   # two-character operators first
            if op in text:
                metric, value = (s.strip() for s in text.split(op, 1))
                break
        else:
            raise DseError(f"constraint {text!r} must look like 'area_mm2<=2' "
                           f"(operators <=, <, >=, >)")
        if metric not in set(OBJECTIVE_COLUMNS.values()) | set(ACCURACY_COLUMNS):
            raise DseError(f"constraint {text!r}: metric must be one of "
                           f"{sorted(set(OBJECTIVE_COLUMNS.values()) | set(ACCURACY_COLUMNS))}"
                           f", not {metric!r}")
        try:
            number = float(value)
        except ValueError:
            raise DseError(f"constraint {text!r}: {value!r} is not a number") from None
        return cls(metric, op, number)

    def violation(self, row: dict[str, Any]) -> float:
        """<= 0 when satisfied (pymoo's convention), else by how much it is broken.

        A strict bound is the non-strict one on the nearest float inside it
        (``x < v`` is ``x <= nextafter(v, -inf)``), so a value on the bound breaks it
        by one ulp."""
        x = float(row[self.metric])
        if self.op == "<=":
            return x - self.value
        if self.op == "<":
            return x - math.nextafter(self.value, -math.inf)
        if self.op == ">=":
            return self.value - x
        return math.nextafter(self.value, math.inf) - x

    def satisfied(self, row: dict[str, Any]) -> bool:
        """Whether ``row`` meets the constraint."""
        return self.violation(row) <= 0


@dataclass(frozen=True)
class AccuracyTask:
    """The model and data whose accuracy a co-search measures (paths; picklable).

    ``onnx``: a float ONNX classifier with weights; ``data``/``calib``: ``.npz`` files with
    ``x`` and ``y`` (:func:`dataflows.dataset.load_npz`). Every design's ``accuracy`` is
    the integer engine's top-1 on ``data`` at the design's bits, pruning and ranks, on
    its own datapath (:func:`mapper.accuracy.measure`)."""

    onnx: str
    data: str
    calib: str

    def to_dict(self) -> dict[str, str]:
        return {"onnx": self.onnx, "data": self.data, "calib": self.calib}


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
    target: str | None = None
    #: None, or ``"cycle"``: each design's layer mappings are re-ranked by the cycle
    #: model (mapper.rerank, the ``rerank_top`` best per shape) and its stored
    #: latency/energy are then the cycle model's, with the analytic-vs-cycle cycles.
    rerank: str | None = None
    rerank_top: int = 8
    extra: dict[str, Any] = field(default_factory=dict)
    accuracy: AccuracyTask | None = None
    #: Per-layer sensitivity table of the bits choices (mapper.accuracy.sensitivity_table;
    #: run_dse fills it when accuracy is measured): the proxy and the allocators use it.
    sensitivity: dict[str, Any] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        bad = [o for o in self.objectives if o not in OBJECTIVE_COLUMNS]
        if bad or not self.objectives:
            raise DseError(f"objectives must be a non-empty list from "
                           f"{sorted(OBJECTIVE_COLUMNS)}, not {list(self.objectives)}")
        if self.strategy not in STRATEGIES:
            raise DseError(f"strategy must be one of {list(STRATEGIES)}, not {self.strategy!r}")
        if self.max_designs < 1 or self.population < 2:
            raise DseError("max_designs must be >= 1 and population >= 2")
        from mapper.rerank import check_rerank
        check_rerank(self.rerank, self.rerank_top)
        wants_acc = [o for o in self.objectives if OBJECTIVE_COLUMNS[o] in ACCURACY_COLUMNS] + \
            [c.metric for c in self.constraints if c.metric in ACCURACY_COLUMNS] + \
            [s for s in (self.strategy,) if s in ALLOCATORS]
        if wants_acc and self.accuracy is None:
            raise DseError(f"{wants_acc[0]!r} needs measured accuracy: give --onnx MODEL "
                           f"--data D.npz --calib C.npz")
        if self.target is not None:
            from sim.fpga_model import get_target
            get_target(self.target)
        else:
            fpga = [o for o in self.objectives if OBJECTIVE_COLUMNS[o] in FPGA_COLUMNS] + \
                [f"{c.metric}{c.op}{c.value:g}" for c in self.constraints
                 if c.metric in FPGA_COLUMNS]
            if fpga:
                raise DseError(f"{fpga[0]!r} is an FPGA resource: give a target (--target "
                               f"ecp5-85k, ecp5-45k or ice40-up5k) or drop it")

    def meta(self, space: HardwareSpace) -> dict[str, Any]:
        """The run's settings as stored (the same for a space before and after
        :meth:`~mapper.hw_space.HardwareSpace.for_network`); with the base spec's YAML,
        so a stored design can be rebuilt from the store alone (``mapper.validate``)."""
        from sim.spec_io import dump_accelerator
        out = {"network": self.network, "objectives": list(self.objectives),
               "constraints": [f"{c.metric}{c.op}{c.value}" for c in self.constraints],
               "strategy": self.strategy, "population": self.population, "seed": self.seed,
               "map_strategy": self.map_strategy, "map_evals": self.map_evals,
               "timing": self.timing, "base_spec_hash": space.base.spec_hash,
               "base_spec": dump_accelerator(space.base),
               "parameters": [[n, list(v)] for n, v in space.hardware_parameters]}
        if space.precision is not None:
            out["precision"] = space.precision.to_dict()
        if self.target is not None:
            out["target"] = self.target
        if space.compression is not None:
            out["compression"] = space.compression.to_dict()
        if self.accuracy is not None:
            out["accuracy"] = self.accuracy.to_dict()
        if self.rerank is not None:       # absent when off: older stores resume unchanged
            out.update(rerank=self.rerank, rerank_top=self.rerank_top,
                       metrics_model="latency_ms and energy_mj are the cycle model's "
                                     "(mappings re-ranked by it)")
        return out | self.extra


def design_seed(seed: int, key: str) -> int:
    """The mapping-search seed of one design: from the run seed and the design key."""
    return int.from_bytes(hashlib.sha256(f"{seed}|{key}".encode()).digest()[:4], "little")


def fpga_resources(accel: Accelerator, target: str) -> dict[str, Any]:
    """``lut``/``ff``/``dsp``/``bram``/``fmax_mhz`` of ``accel``'s engine on ``target``.

    Raises :class:`~sim.fpga_model.FpgaFitError` (a :class:`CoforgeError`) when the RTL
    generator cannot build the spec, the engine does not fit the part, or the FPGA model
    has no calibration for the engine kind (``pe.mode: bitserial|bitfusion`` and the N:M
    ``sparse_nm`` engine are estimated once calibrated: :func:`sim.fpga_model.calibrated`)."""
    from sim.fpga_model import check_fit, estimate
    check_fit(accel, target)
    est = estimate(accel, target)
    return {"lut": est.lut, "ff": est.ff, "dsp": est.dsp, "bram": est.bram,
            "fmax_mhz": est.fmax_mhz}


def check_precision(net: Network, accel: Accelerator) -> None:
    """One-line :class:`DseError` if a layer's operands are wider than the PE's."""
    for layer in net.layers():
        p = layer.precision
        if max(p.weight_bits, p.input_bits) > accel.pe.operand_bits:
            raise DseError(f"layer {layer.name!r} has {p.weight_bits}-bit weights and "
                           f"{p.input_bits}-bit inputs but pe.operand_bits is "
                           f"{accel.pe.operand_bits}")


def evaluate_design(space: HardwareSpace, index: tuple[int, ...], net: Network,
                    settings: DseSettings) -> dict[str, Any]:
    """Map ``net`` on candidate ``index`` and return its store row (pure, picklable):
    a dict of every :class:`~mapper.store.DesignRecord` field, checked by building the
    record (a misspelt or mistyped column is an error here, not in the store).

    ``space`` must be bound to ``net`` (:meth:`HardwareSpace.for_network`) when it has a
    precision section; :func:`run_dse` does that."""
    from mapper.report import coforge_version
    key = space.key(index)
    start = time.perf_counter()
    ident: dict[str, Any] = {"key": key, "seed": settings.seed, "params": key,
                             "coforge_version": coforge_version()}
    row = dict(ident)
    try:
        accel = space.accelerator(index)
        row["spec_hash"] = accel.spec_hash
        if settings.accuracy is not None:
            from mapper.dse_accuracy import accuracy_columns
            qnet = accuracy_columns(space, index, net, accel, settings, row)
        else:
            if space.layer_compression(index):
                raise DseError("a compression section needs the model's weights: give "
                               "--onnx MODEL --data D.npz --calib C.npz")
            qnet = space.quantized(net, index)
        check_precision(qnet, accel)
        clock_mhz = accel.clock_mhz
        if settings.target is not None:
            row.update(fpga_resources(accel, settings.target))
            clock_mhz = min(accel.clock_mhz, row["fmax_mhz"])
        mapped = map_network(qnet, accel, settings.map_strategy, "edp", settings.map_evals,
                             None, design_seed(settings.seed, key), settings.timing,
                             progress=False, rerank=settings.rerank, top=settings.rerank_top)
        res = mapped.chosen              # the cycle model's with a rerank, else analytic
        if mapped.cycle is not None:
            row.update(analytic_cycles=mapped.result.total_cycles,
                       cycle_cycles=mapped.cycle.total_cycles)
        row.update(latency_ms=res.total_cycles / (clock_mhz * 1e3),
                   energy_mj=res.energy_pj / 1e9, area_mm2=area(accel).total_mm2,
                   clock_mhz=clock_mhz, feasible=1, error=None)
        row["edp"] = row["latency_ms"] * row["energy_mj"]
    except CoforgeError as err:           # a candidate that cannot run: stored, infeasible
        # only what identifies the design survives: no metric of a design that cannot run
        row = {**ident, "spec_hash": row.get("spec_hash"), "feasible": 0,
               "error": " ".join(str(err).split())}
    row["elapsed_s"] = time.perf_counter() - start
    return DesignRecord.from_row(row).as_row()


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
            import os
            from concurrent.futures import ProcessPoolExecutor
            # workers ignore SIGINT/SIGTERM and die with this process (even kill -9)
            self.pool = ProcessPoolExecutor(max_workers=workers, initializer=worker_init,
                                            initargs=(os.getpid(),))

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
            with signals_blocked():      # workers are forked on the first submit
                futures = [self.pool.submit(evaluate_design, self.space, ix, self.net,
                                            self.settings) for ix in args]
            done = (f.result() for f in local_completed(futures))
        else:
            done = (evaluate_design(self.space, ix, self.net, self.settings) for ix in args)
        for row in done:
            with deferred():             # a stop signal never cuts a row from its report
                self.store.put(row)
                self.evaluated += 1
                self.on_row(row)
        return [self.store.get(self.space.key(ix)) for ix in indices]

    def close(self, abort: bool = False) -> None:
        """Release the workers: wait for them, or with ``abort`` (a stop signal, an
        error) cancel what is queued and kill the local workers at once (what they
        were evaluating is lost; everything stored stays)."""
        if self.pool is not None:
            if abort:
                procs = list((getattr(self.pool, "_processes", None) or {}).values())
                self.pool.shutdown(wait=False, cancel_futures=True)
                kill_processes(procs)
            else:
                self.pool.shutdown()
        if self.client is not None:
            self.client.close()


def _objective_matrix(rows: list[dict[str, Any]], settings: DseSettings) -> np.ndarray:
    """Objectives to minimise (maximised columns negated; infeasible rows +inf)."""
    cols = [OBJECTIVE_COLUMNS[o] for o in settings.objectives]
    return np.array([[(-r[c] if c in MAXIMISE else r[c]) if r["feasible"] else np.inf
                      for c in cols] for r in rows],
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

    Local workers (``workers > 1``) never outlive this process, however it ends
    (:func:`mapper.run_control.worker_init`). Any exception ending the run early
    (:class:`~mapper.run_control.RunStopped` from a stop signal under
    :func:`~mapper.run_control.stop_on_signals`, KeyboardInterrupt, an error) kills the
    workers at once and propagates; every design stored so far stays stored, and a
    ``resume=True`` store continues the run.
    """
    deadline = time.perf_counter() + time_budget_s if time_budget_s else None
    space = space.for_network(net)
    if settings.accuracy is not None and settings.sensitivity is None:
        from mapper.dse_accuracy import sensitivity_of_space
        table = sensitivity_of_space(space, settings.accuracy)
        if table is not None:
            from dataclasses import replace as dc_replace
            settings = dc_replace(settings, sensitivity=table)
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
        elif settings.strategy in ALLOCATORS:
            from mapper.dse_accuracy import allocate
            allocate(space, net, settings, runner)
        else:
            _nsga2(space, settings, runner)
    except BaseException:        # a stop signal (RunStopped), Ctrl-C, an error: no waiting
        runner.close(abort=True)
        raise
    runner.close()
    return runner.evaluated


def _nsga2(space: HardwareSpace, settings: DseSettings, runner: _Runner) -> None:
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.core.problem import Problem
    from pymoo.operators.crossover.sbx import SBX
    from pymoo.operators.mutation.pm import PM
    from pymoo.operators.repair.rounding import RoundingRepair
    from pymoo.operators.sampling.rnd import IntegerRandomSampling
    from pymoo.core.termination import NoTermination

    n_constr = max(1, len(settings.constraints))
    problem = Problem(n_var=len(space.sizes), n_obj=len(settings.objectives),
                      n_ieq_constr=n_constr, xl=np.zeros(len(space.sizes)),
                      xu=np.array(space.sizes, dtype=float) - 1, vtype=int)
    algorithm = NSGA2(pop_size=settings.population, sampling=IntegerRandomSampling(),
                      crossover=SBX(prob=0.9, eta=15, vtype=float, repair=RoundingRepair()),
                      mutation=PM(eta=20, vtype=float, repair=RoundingRepair()),
                      eliminate_duplicates=True)
    # max_designs ends the run, not pymoo's default convergence test (which can stop a
    # small space's search after two generations)
    algorithm.setup(problem, termination=NoTermination(), seed=settings.seed, verbose=False)
    # max_designs is exact: count distinct designs (a repeat of an earlier generation's
    # is a store hit) and cut the last generation at the max_designs-th one
    limit = min(settings.max_designs, space.size)
    seen: set[tuple[int, ...]] = set()
    idle = 0                                        # generations with no new design
    while len(seen) < limit and not runner.out_of_time and idle < 20:
        pop = algorithm.ask()
        if pop is None:
            break
        if len(pop) == 0:           # mating found nothing new this generation: try again
            idle += 1
            algorithm.tell(infills=pop)
            continue
        x = [tuple(r) for r in np.clip(np.round(pop.get("X")), 0, problem.xu)
             .astype(int).tolist()]
        before, keep = len(seen), len(x)
        for i, ix in enumerate(x):
            if ix not in seen:
                if len(seen) == limit:
                    keep = i
                    break
                seen.add(ix)
        idle = idle + 1 if len(seen) == before else 0
        rows = runner.run(x[:keep])
        if len(seen) >= limit:                      # the budget is spent: nothing to tell
            break
        pop.set("F", _objective_matrix(rows, settings), "G", _violations(rows, settings))
        algorithm.tell(infills=pop)


def _admissible(rows: list[dict[str, Any]], settings: DseSettings) -> list[int]:
    """Indices of the feasible rows that meet every constraint."""
    return [i for i, r in enumerate(rows) if r["feasible"]
            and all(c.satisfied(r) for c in settings.constraints)]


def pareto_rows(rows: list[dict[str, Any]], settings: DseSettings) -> list[dict[str, Any]]:
    """Feasible rows meeting every constraint that no other such row weakly dominates,
    sorted by their objective vectors.

    A row is dropped when another is no worse in every objective and better in one
    (pymoo's non-dominated sorting, i.e. Pareto dominance). Rows with exactly the same
    objective vector (distinct designs that tie everywhere) weakly dominate each
    other: the front keeps one of them, the first in ``rows`` (store order).
    """
    from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting
    ok = [rows[i] for i in _admissible(rows, settings)]
    if not ok:
        return []
    f = _objective_matrix(ok, settings)
    _, first = np.unique(f, axis=0, return_index=True)     # one row per objective vector
    first = np.sort(first)
    front = first[NonDominatedSorting().do(f[first], only_non_dominated_front=True)]
    return [ok[i] for i in sorted(front.tolist(), key=lambda i: tuple(f[i]))]


def hypervolume_curve(rows: list[dict[str, Any]], settings: DseSettings) -> list[float]:
    """Hypervolume of the admissible designs (feasible, meeting every constraint)
    among the first ``i + 1`` stored rows, for each ``i``.

    Objectives are scaled to [0, 1] by the final set's ideal point ``lo`` and the
    reference point ``hi = worst + 0.1 |worst|`` per objective (maximised columns
    negated first); the reference point is 1 in each scaled objective. The curve never
    decreases: a design added to a set cannot shrink the region the set dominates.
    """
    from pymoo.indicators.hv import HV
    ok_idx = set(_admissible(rows, settings))
    if not ok_idx:
        return [0.0] * len(rows)
    f_all = _objective_matrix([rows[i] for i in sorted(ok_idx)], settings)
    lo, top = f_all.min(axis=0), f_all.max(axis=0)
    hi = top + 0.1 * np.abs(top)                    # (negated maximised columns too)
    scale = np.where(hi > lo, hi - lo, 1.0)
    hv = HV(ref_point=np.ones(f_all.shape[1]))
    out, seen = [], []
    for i in range(len(rows)):
        if i in ok_idx:
            seen.append((_objective_matrix([rows[i]], settings)[0] - lo) / scale)
        out.append(float(hv(np.array(seen))) if seen else 0.0)
    return out


__all__ = ["Constraint", "DseError", "DseSettings", "FPGA_COLUMNS", "MAXIMISE",
           "OBJECTIVE_COLUMNS", "check_precision", "design_seed", "evaluate_design",
           "fpga_resources", "hypervolume_curve", "pareto_rows", "run_dse"]

# The accuracy half of the co-search lives in mapper.dse_accuracy (it imports this module
# only inside its functions); its public names stay importable from here.
from mapper.dse_accuracy import (  # noqa: E402,F401
    bits_axes, design_plan, design_quant, sensitivity_of_space)
