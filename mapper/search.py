"""Per-layer mapping search: one interface, several strategies.

``search(layer, accel, strategy=..., objective=..., max_evals=..., seed=...)`` runs
a strategy over the layer's :class:`~mapper.space.MappingSpace`, evaluating whole
populations with the vectorised analytic model, and returns a frozen
:class:`SearchResult` (best mapping, its full :class:`~sim.result.Result`, the
best-so-far curve). With a fixed seed and ``max_evals`` the result is deterministic;
``time_budget_s`` stops earlier by the wall clock (then it depends on the machine).

Strategies (all minimise the objective's score, ``inf`` = illegal):

* ``exhaustive`` -- every (split, distinct loop order) point, for small spaces,
  enumerated lazily (:meth:`~mapper.space.MappingSpace.genome_chunks`);
* ``random`` -- uniform genomes;
* ``annealing`` -- parallel Metropolis chains (up to 4096, at least 50 steps each)
  on log(score); a move resamples one dimension's split to a different one or swaps
  two positions of the GLB or DRAM loop order; temperature decays geometrically;
* ``exact`` -- the proven optimum of the real model for the chosen objective
  (:mod:`mapper.exact`): every split that fits the array, crossed with one loop order
  per class of orders of equal cost; ignores ``max_evals``, refuses spaces beyond
  :data:`mapper.exact.EXACT_LIMIT` and raises :class:`SearchError` rather than return
  an unproven point when ``time_budget_s`` runs out first;
* ``genetic`` -- a population of up to 4096 (at least 50 generations), tournament
  selection, uniform crossover (per split gene and per level's whole loop order), the
  same mutation, (mu + lambda) elitism.

Heuristics are hand-rolled on the genome (tens of lines each, vectorised over the
population) rather than borrowed: their move set is specific to the split encoding.

Throughput (``benchmarks/bench_mapper.py``): populations are decoded, costed and
scored ``EVAL_ROWS`` rows at a time so the working set stays in cache, the layer's
sparse profile is computed once per search. :func:`retain_freed_memory` (an explicit,
process-wide opt-in, never called by this module: the ``coforge map``/``dse`` commands
and the benchmarks call it) stops glibc from returning the loop's temporaries to the
kernel between slices.

``top_k`` > 1 also keeps the ``top_k`` best distinct mappings seen (by the same
analytic score; two genomes that differ only in the order of unit loops are one
mapping) in :attr:`SearchResult.top`, for a re-rank by a slower model
(:mod:`mapper.rerank`). The inner loop pays one comparison per row against the
current k-th score; only rows below it are decoded again for the distinctness key.
"""

from __future__ import annotations

import ctypes
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from dataflows.errors import CoforgeError
from dataflows.layer import Layer
from dataflows.mapping import Mapping
from mapper.exact import exact_chunks
from mapper.objective import Objective
from mapper.space import GENOME_LEN, N_DIMS, MappingSpace
from sim.analytic import evaluate, evaluate_batch
from sim.result import Result
from sim.sparse.engine import statistical_profile
from sim.spec import Accelerator

STRATEGIES: tuple[str, ...] = ("exhaustive", "random", "annealing", "genetic", "exact")
#: Largest space ``exhaustive`` accepts (points, loop orders included).
EXHAUSTIVE_LIMIT = 2_000_000
#: Most annealing chains and largest genetic population: one slice each, so the state
#: a step reads stays in cache (~7 % faster than 16384 at 1 M evaluations, same optima
#: on the ResNet-50 layers tried); small budgets use fewer (>= 50 steps/generations).
ANNEALING_CHAINS = GENETIC_POPULATION = 4096
#: Rows decoded and costed at a time: a population (chains, offspring) is scored in
#: slices this small so decode, model and score stay in cache and reuse the memory they
#: free (a 16k-row call allocates ~30 MB of temporaries that glibc hands back to the
#: kernel and page-faults in again, ~3000 faults per call): ~1.3x the throughput.
EVAL_ROWS = 4096


#: glibc ``mallopt`` parameters (``<malloc.h>``).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_allocator_tuned: bool | None = None     # None: not tried yet


def retain_freed_memory(trim_bytes: int = 128 << 20, mmap_bytes: int = 32 << 20) -> bool:
    """Let glibc's malloc keep freed memory for reuse instead of handing it back.

    The search loop allocates and frees a few MB of numpy temporaries per slice of
    ``EVAL_ROWS`` mappings. With glibc's defaults, blocks above 128 KiB are mmap'ed
    and unmapped again, and the heap top is trimmed as soon as 2x that much is free,
    so every slice page-faults its memory back in (~750 faults per 4096 mappings, about
    a third of the loop's CPU time on this machine). Raising ``M_TRIM_THRESHOLD`` to
    ``trim_bytes`` and ``M_MMAP_THRESHOLD`` to ``mmap_bytes`` (glibc's maximum) keeps
    that memory in the process. Process-wide and idempotent (only the first call acts);
    no result changes; returns False where libc is not glibc. An explicit opt-in: the
    library never calls it (a process-global libc setting is not the library's to
    change); ``coforge map``/``coforge dse`` and ``benchmarks/bench_mapper.py`` do.
    """
    global _allocator_tuned
    if _allocator_tuned is None:
        _allocator_tuned = False
        if sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc":
            try:
                libc = ctypes.CDLL("libc.so.6")
                _allocator_tuned = (libc.mallopt(_M_TRIM_THRESHOLD, trim_bytes) == 1
                                    and libc.mallopt(_M_MMAP_THRESHOLD, mmap_bytes) == 1)
            except (OSError, AttributeError):
                pass
    return _allocator_tuned


class SearchError(CoforgeError):
    """A search cannot run or found nothing legal."""


@dataclass(frozen=True)
class SearchResult:
    """Outcome of one search. ``history`` holds (evaluations, best score) pairs."""

    layer: str
    strategy: str
    objective: str
    seed: int
    evaluations: int
    space_size: int
    elapsed_s: float
    best_score: float
    mapping: Mapping
    result: Result
    history: tuple[tuple[int, float], ...] = field(default_factory=tuple)
    #: True when the whole space was costed (always for ``exact``; ``exhaustive`` when
    #: neither ``max_evals`` nor the time budget cut it): ``best_score`` is then the
    #: model's optimum for the objective; False when cut; None for the heuristics.
    proven_optimal: bool | None = None
    #: The ``top_k`` best distinct mappings as (analytic score, mapping), best first;
    #: ``top[0]`` is always (``best_score``, ``mapping``); fewer when the search saw fewer
    #: distinct legal mappings.
    top: tuple[tuple[float, Mapping], ...] = ()


class _Evaluator:
    """Scores genome batches, counts evaluations, tracks the best, honours budgets."""

    def __init__(self, space: MappingSpace, objective: Objective, timing: str,
                 max_evals: int, time_budget_s: float | None, progress: bool,
                 top_k: int = 1) -> None:
        self.space, self.objective, self.timing = space, objective, timing
        # top-k keeping (top_k > 1): (score, arrival, genome) of distinct mappings, the
        # distinctness keys held, and the k-th score a new row must beat
        self.top_k, self.top_kth = top_k, np.inf
        self.top: list[tuple[float, int, np.ndarray, bytes]] = []
        self.top_keys: set[bytes] = set()
        self._arrivals = 0
        # per-layer constant of the model, computed once instead of once per batch
        self.sparse = statistical_profile(space.layer, space.accel)
        self.max_evals, self.deadline = max_evals, (
            time.perf_counter() + time_budget_s if time_budget_s else None)
        self.evals, self.best_score, self.best = 0, np.inf, None
        self.history: list[tuple[int, float]] = []
        self.space_points: int | None = None   # set by the complete strategies
        self.bar = None
        if progress:
            from tqdm import tqdm
            self.bar = tqdm(total=max_evals, unit="map", desc=space.layer.name,
                            leave=False, file=sys.stderr)

    @property
    def evals_left(self) -> int:
        """Evaluations left by ``max_evals`` alone (the clock ignored): what sizes a
        strategy's first population, so a spent time budget still costs a whole one."""
        return self.max_evals - self.evals

    @property
    def left(self) -> int:
        if self.deadline is not None and time.perf_counter() > self.deadline:
            return 0
        return self.max_evals - self.evals

    def __call__(self, genomes: np.ndarray) -> np.ndarray:
        genomes = genomes[: max(0, self.max_evals - self.evals)]
        scores = np.empty(len(genomes))
        for i in range(0, len(genomes), EVAL_ROWS):
            batch, valid = self.space.decode(genomes[i:i + EVAL_ROWS])
            arr = evaluate_batch(self.space.layer, self.space.accel, batch, self.timing,
                                 detail=False, sparse=self.sparse)
            scores[i:i + EVAL_ROWS] = self.objective.score(arr, valid)
        self.evals += len(genomes)
        if self.top_k > 1 and len(scores):
            self._keep_top(genomes, scores)
        if len(scores):
            i = int(np.argmin(scores))
            if scores[i] < self.best_score:
                self.best_score, self.best = float(scores[i]), genomes[i].copy()
                self.history.append((self.evals, self.best_score))
        if self.bar is not None:
            self.bar.update(len(genomes))
            self.bar.set_postfix(best=f"{self.best_score:.4g}", refresh=False)
        return scores

    def _keep_top(self, genomes: np.ndarray, scores: np.ndarray) -> None:
        """Merge this batch's rows that beat the k-th best into the top-k list."""
        cand = np.flatnonzero(scores < self.top_kth)      # inf (illegal) never enters
        if not cand.size:
            return
        limit = 2 * self.top_k                 # a few spare for duplicates of each other
        if cand.size > limit:
            cand = np.sort(cand[np.argpartition(scores[cand], limit - 1)[:limit]])
        for i, key in zip(cand.tolist(), self._keys(genomes[cand])):
            score = float(scores[i])
            if key in self.top_keys:
                continue
            self.top_keys.add(key)
            self.top.append((score, self._arrivals, genomes[i].copy(), key))
            self._arrivals += 1
        self.top.sort(key=lambda t: (t[0], t[1]))
        self.top_keys.difference_update(t[3] for t in self.top[self.top_k:])
        del self.top[self.top_k:]
        if len(self.top) == self.top_k:
            self.top_kth = self.top[-1][0]

    def _keys(self, genomes: np.ndarray) -> list[bytes]:
        """A distinctness key per genome: its factors and, per level, the order of its
        non-unit loops only (the order of unit loops changes no cost)."""
        batch, _ = self.space.decode(genomes)
        unit = np.take_along_axis(batch.temporal == 1, batch.order, axis=2)  # [n, 3, dims]
        order = np.where(unit, -1, batch.order)       # unit loops out, the rest in order
        order = np.take_along_axis(order, np.argsort(unit, axis=2, kind="stable"), axis=2)
        parts = np.concatenate([batch.rows, batch.cols, batch.temporal.reshape(len(genomes), -1),
                                order.reshape(len(genomes), -1)], axis=1)
        return [row.tobytes() for row in np.ascontiguousarray(parts, dtype=np.int64)]

    def top_mappings(self) -> tuple[tuple[float, Mapping], ...]:
        """(score, mapping) of the best (first) and the other kept distinct mappings."""
        assert self.best is not None
        best_key = self._keys(self.best[None, :])[0]
        out = [(self.best_score, self.space.to_mapping(self.best))]
        out += [(s, self.space.to_mapping(g)) for s, _, g, key in self.top if key != best_key]
        return tuple(out[:self.top_k])

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _exhaustive(space: MappingSpace, ev: _Evaluator, rng: np.random.Generator) -> None:
    total, chunks = space.genome_chunks(EXHAUSTIVE_LIMIT, EVAL_ROWS)
    ev.space_points = total
    ev.max_evals = min(ev.max_evals, total) if ev.max_evals else total
    for i, genomes in enumerate(chunks):
        if i and not ev.left:               # the first chunk is costed whatever the clock
            return
        ev(genomes)


def _exact(space: MappingSpace, ev: _Evaluator, rng: np.random.Generator) -> None:
    total, chunks = exact_chunks(space, rows=EVAL_ROWS)
    ev.space_points = ev.max_evals = total    # the proof needs every point, whatever the cap
    for genomes in chunks:
        if not ev.left:
            raise SearchError(f"layer {space.layer.name!r}: exact was stopped by the time "
                              f"budget after {ev.evals:,} of {total:,} points, so no optimum "
                              f"is proven; give it more time (or none), or use annealing")
        ev(genomes)


def _random(space: MappingSpace, ev: _Evaluator, rng: np.random.Generator) -> None:
    ev(space.random_genomes(rng, min(EVAL_ROWS, ev.evals_left)))   # whatever the clock
    while ev.left:
        ev(space.random_genomes(rng, min(EVAL_ROWS, ev.left)))


def _mutate(space: MappingSpace, genomes: np.ndarray, rng: np.random.Generator,
            rows: np.ndarray | None = None) -> np.ndarray:
    """One move per genome, never a no-op: resample one dimension's split to a different
    one (2/3) or swap two positions of the GLB or the DRAM loop order (1/3).

    Returns mutated copies; with ``rows`` (indices into a C-contiguous int64
    ``genomes``), mutates those rows in place instead and returns ``genomes``.
    """
    if rows is None:
        out = np.array(genomes, dtype=np.int64)      # a C-contiguous copy
        base = np.arange(0, out.size, GENOME_LEN)
    else:
        out = genomes
        assert out.flags.c_contiguous and out.dtype == np.int64   # mutated through a view
        base = rows * GENOME_LEN
    n = len(base)
    if not n:
        return out
    flat = out.reshape(-1)
    movable = space.movable_dims
    u = rng.random((4, n))
    split_move = u[0] < (2 / 3 if movable.size else 0.0)
    # split move: a movable dimension, then one of its other count - 1 splits
    if movable.size:
        dim = np.take(movable, (u[1] * movable.size).astype(np.int64))
        count = np.take(space.split_counts, dim)
        new = np.minimum((u[2] * (count - 1)).astype(np.int64), count - 2)
        new += new >= np.take(flat, base + dim)
    else:
        dim = new = np.zeros(n, dtype=np.int64)
    # swap move: level 1 (GLB) or 2 (DRAM) and two distinct positions a != b
    pairs = N_DIMS * (N_DIMS - 1)
    pos = (u[3] * (2 * pairs)).astype(np.int64)
    level, pair = pos // pairs + 1, pos % pairs
    a, b = pair // (N_DIMS - 1), pair % (N_DIMS - 1)
    b += b >= a
    ia, ib = base + level * N_DIMS + a, base + level * N_DIMS + b
    va, vb = np.take(flat, ia), np.take(flat, ib)
    np.put(flat, np.where(split_move, base + dim, ia), np.where(split_move, new, vb))
    np.put(flat, np.where(split_move, ia, ib), va)   # split moves rewrite ia unchanged
    return out


def _annealing(space: MappingSpace, ev: _Evaluator, rng: np.random.Generator) -> None:
    """Parallel Metropolis chains; each step moves every chain once, a slice of
    ``EVAL_ROWS`` chains at a time (the chains are independent, so slicing only keeps
    the working set in cache)."""
    chains = min(ANNEALING_CHAINS, max(1, ev.evals_left // 50))   # >= 50 steps per chain
    cur = space.random_genomes(rng, chains)
    with np.errstate(divide="ignore"):
        cur_log = np.log(ev(cur))                  # acceptance works on log(score)
    total = max(1, ev.left)
    t0, t1 = 1.0, 1e-3                              # on log(score): relative changes
    while ev.left:
        frac = 1 - ev.left / total
        temp = t0 * (t1 / t0) ** frac
        for i in range(0, chains, EVAL_ROWS):
            if not ev.left:
                break
            part, part_log = cur[i:i + EVAL_ROWS], cur_log[i:i + EVAL_ROWS]
            cand = _mutate(space, part, rng)
            cand_s = ev(cand)
            k = len(cand_s)
            with np.errstate(invalid="ignore", divide="ignore"):
                cand_log = np.log(cand_s)
                # Metropolis: accept when rand < exp(-delta / temp), i.e. delta < -temp
                # * log(rand) (always when delta <= 0). inf - inf is nan: an illegal move
                # from an illegal point is refused, a legal one from an illegal point taken.
                accept = cand_log - part_log[:k] < -temp * np.log(rng.random(k))
            np.copyto(part[:k], cand[:k], where=accept[:, None])
            np.copyto(part_log[:k], cand_log, where=accept)


def _genetic(space: MappingSpace, ev: _Evaluator, rng: np.random.Generator) -> None:
    """Tournament selection, uniform crossover, mutation, (mu + lambda) elitism; the
    children of a generation are bred and scored ``EVAL_ROWS`` at a time."""
    size = min(GENETIC_POPULATION, max(8, ev.evals_left // 50))   # >= 50 generations
    pop = space.random_genomes(rng, size)
    fit = ev(pop)
    # crossover mask bits: one per split gene, one per level's whole loop order
    bit = np.concatenate([1 << np.arange(N_DIMS), np.repeat(1 << np.arange(N_DIMS, N_DIMS + 2),
                                                             N_DIMS)])
    kids, kid_fit = np.empty_like(pop), np.empty(len(pop))
    while ev.left:
        n = len(pop)
        bred = 0
        for start in range(0, n, EVAL_ROWS):
            if not ev.left:
                break
            m = min(EVAL_ROWS, n - start)
            a, b = rng.integers(0, n, (2, m)), rng.integers(0, n, (2, m))
            pa = np.where(fit[a[0]] <= fit[a[1]], a[0], a[1])
            pb = np.where(fit[b[0]] <= fit[b[1]], b[0], b[1])
            # uniform crossover: each split gene, and each level's whole loop order (a
            # mix of two permutations is not one), from either parent
            mask = (rng.integers(0, 1 << (N_DIMS + 2), m)[:, None] & bit) != 0
            child = np.where(mask, np.take(pop, pa, axis=0), np.take(pop, pb, axis=0))
            _mutate(space, child, rng, rows=np.flatnonzero(rng.random(m) < 0.3))
            child_fit = ev(child)
            k = len(child_fit)
            kids[bred:bred + k], kid_fit[bred:bred + k] = child[:k], child_fit
            bred += k
        # elitist (mu + lambda): the n best of parents and children. A stable sort, not
        # np.argpartition: a converging population holds many equal scores, on which
        # introselect is ~10x slower than timsort on its runs.
        merged_fit = np.concatenate([fit, kid_fit[:bred]])
        keep = np.argsort(merged_fit, kind="stable")[:n]
        parents, children = keep[keep < n], keep[keep >= n] - n
        pop = np.concatenate([np.take(pop, parents, axis=0),
                              np.take(kids, children, axis=0)])
        fit = np.concatenate([fit[parents], kid_fit[children]])


_STRATEGY_FNS: dict[str, Callable[[MappingSpace, _Evaluator, np.random.Generator], None]] = {
    "exhaustive": _exhaustive, "random": _random, "annealing": _annealing,
    "genetic": _genetic, "exact": _exact,
}


def search(layer: Layer, accel: Accelerator, strategy: str = "annealing",
           objective: Objective | str = "edp", max_evals: int = 20_000,
           time_budget_s: float | None = None, seed: int = 0, timing: str = "native",
           imperfect: bool = True, progress: bool | None = None,
           top_k: int = 1) -> SearchResult:
    """Search the mapping space of ``layer`` on ``accel``; see the module docstring.

    ``max_evals`` caps the evaluations (``exhaustive`` ignores a larger cap);
    ``imperfect`` admits padded spatial factors (a partly used last fold), as every
    systolic array runs them -- without it a 36-deep reduction cannot fill 8 rows;
    ``progress`` shows a tqdm bar (default: when stderr is a terminal); ``top_k`` > 1
    keeps that many best distinct mappings in :attr:`SearchResult.top`.
    """
    if strategy not in STRATEGIES:
        raise SearchError(f"strategy must be one of {list(STRATEGIES)}, not {strategy!r}")
    if not isinstance(max_evals, int) or max_evals < 1:
        raise SearchError(f"max_evals must be a positive integer, not {max_evals!r}")
    if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1:
        raise SearchError(f"top_k must be a positive integer, not {top_k!r}")
    obj = Objective(objective) if isinstance(objective, str) else objective
    space = MappingSpace(layer, accel, imperfect)
    show = sys.stderr.isatty() if progress is None else progress
    start = time.perf_counter()
    ev = _Evaluator(space, obj, timing, max_evals, time_budget_s, show, top_k)
    try:
        _STRATEGY_FNS[strategy](space, ev, np.random.default_rng(seed))
    finally:
        ev.close()
    if ev.best is None:
        late = ev.deadline is not None and time.perf_counter() > ev.deadline \
            and ev.evals < ev.max_evals
        raise SearchError(f"layer {layer.name!r}: no legal mapping found on {accel.name!r} "
                          f"by {strategy} in {ev.evals:,} evaluations " + (
                              "before the time budget ran out; give --time-budget more "
                              "time, or drop it (then a layer that no mapping fits says "
                              "so)" if late else
                              "(capacity, array size or a constraint rules them all out)"))
    mapping = space.to_mapping(ev.best)
    top = ev.top_mappings() if top_k > 1 else ((ev.best_score, mapping),)
    return SearchResult(
        layer=layer.name, strategy=strategy, objective=obj.name, seed=seed,
        evaluations=ev.evals, space_size=space.size, elapsed_s=time.perf_counter() - start,
        best_score=ev.best_score, mapping=mapping,
        result=evaluate(layer, accel, mapping, timing), history=tuple(ev.history),
        proven_optimal=None if ev.space_points is None else ev.evals == ev.space_points,
        top=top)
