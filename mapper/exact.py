"""The exact mapping search: the optimum of the real analytic model, proven by enumeration.

``search(..., strategy="exact")`` minimises the user's objective (latency, energy,
EDP, with its caps) as :func:`sim.analytic.evaluate_batch` computes it, over the
whole :class:`~mapper.space.MappingSpace` (every split of every dimension that fits
the array, every GLB and DRAM loop order). It costs every factor split and, per
split, one loop order of each *order class*: two orders of a class have the same
cost, so the minimum over the classes is the minimum over all orders -- no
surrogate, no heuristic, the result is optimal on the model's numbers.

Why a class determines the cost. The analytic model reads a loop order only
through Timeloop-style reuse (``sim.tiling.reuse_factors``) and, at the DRAM level,
the sliding-window reuse of inputs (``sim.tiling.sliding_input_elems``: whether the
innermost input-relevant loop is P or Q, so DRAM classes are also split by it): for
an operand at a boundary,
the product of the irrelevant non-unit loops innermost of its first relevant one.
The dimensions irrelevant to each operand are disjoint -- N, P, Q for weights;
C, R, S for outputs; K for inputs; G is relevant to all -- so the innermost
*run* of a level (the maximal block of non-unit loops, innermost first, of one of
those classes) gives reuse to at most one operand, and everything else in the order
is invisible to the model. What matters is:

* at the DRAM level (traffic DRAM <-> GLB of all three operands): the innermost run,
  i.e. a class and the subset of its loops that forms the run (or a G loop
  innermost: no run);
* at the GLB level (only the stationary operand keeps a tile across it; streamed
  operands are fetched on every iteration): the run of loops irrelevant to the
  stationary operand; when the whole GLB level is such a run, it continues into the
  DRAM level's run, which the DRAM class already fixes.

Each run is realised by one order: the run's loops innermost, then a loop outside
its class to end it, then the rest (:func:`class_orders`). A level with ``n``
non-unit loops has ``n!`` orders but at most ``2**3`` GLB and ``3 * (2**3 - 1) + 1``
DRAM runs (each DRAM run at most three times over: P, Q or neither as the innermost
input-relevant loop); on a weight-stationary GEMM (K, C, P) the 36 orders per split
shrink to a handful. ``tests/mapper/test_exact.py`` checks the claim against every order, and the
result against brute force over the full space.

The enumeration is complete, so the result is proven optimal when it finishes;
``search`` raises rather than return an unproven point if a time budget stops it. Its
cost is ``split combinations x classes`` evaluations (for ResNet-50 on a 16x16
weight-stationary array, up to about 10 M per layer, seconds at the model's
~1 M/s); spaces beyond :data:`EXACT_LIMIT` are refused with a clear error rather
than searched partially.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from functools import cache
from itertools import combinations

import numpy as np

from dataflows.dataflow import MAP_DIMS, OPERANDS, RELEVANT
from mapper.space import GENOME_LEN, N_DIMS, MappingSpace, SpaceError

#: Most (split combination, order class) points ``exact`` costs, and most split
#: combinations it enumerates: beyond them the proof would take too long.
EXACT_LIMIT = 50_000_000

#: Per operand, the dimension indices irrelevant to it (disjoint; G is in none).
_IRRELEVANT: dict[str, frozenset[int]] = {
    op: frozenset(i for i, d in enumerate(MAP_DIMS) if d not in RELEVANT[op])
    for op in OPERANDS}


def _run_of(order: list[int], classes: tuple[frozenset[int], ...]) -> tuple | None:
    """(class index, loops) of the innermost run of ``order`` (innermost first), or
    None when its innermost loop is in none of ``classes`` (or it has no loops)."""
    for c, cls in enumerate(classes):
        if order and order[0] in cls:
            run = []
            for d in order:
                if d not in cls:
                    break
                run.append(d)
            return c, frozenset(run)
    return None


#: Dimension indices an input tile slides along (sim.tiling's sliding-window rule).
_SLIDING = frozenset(MAP_DIMS.index(d) for d in ("P", "Q"))


def _slide_of(order: list[int]) -> int | None:
    """The sliding dimension (P or Q) when it is the innermost input-relevant loop of
    ``order`` (innermost first); None otherwise."""
    for d in order:
        if d not in _IRRELEVANT["input"]:
            return d if d in _SLIDING else None
    return None


def _runs(moving: tuple[int, ...], classes: tuple[frozenset[int], ...],
          slide: bool = False) -> list[list[int]]:
    """Orders of ``moving`` (innermost first), one for every innermost run of a loop
    class in ``classes`` that some order has (a subset of the class's loops, or none),
    and with ``slide`` (the DRAM level) one per run and innermost input-relevant loop
    that is a sliding dimension (P, Q) or not (:func:`_slide_of`): the sliding-window
    reuse of inputs depends on it.

    The run ``S`` of class ``A`` is followed by every loop outside ``A`` (the first of
    them ends the run), then by ``A``'s remaining loops; a proper subset of ``A``'s
    loops cannot be a run when no loop outside ``A`` exists to end it. With ``slide``,
    each loop of the run may come first and each loop outside ``A`` may end it. Orders
    with the same actual run (:func:`_run_of`) and sliding loop are kept once.
    """
    out: list[list[int]] = []
    seen: set[tuple] = set()
    for cls in classes:
        members = [d for d in moving if d in cls]
        others = [d for d in moving if d not in cls]
        for k in range(len(members) + 1):
            for run in combinations(members, k):
                rest = [d for d in members if d not in run]
                if rest and not others:
                    continue                     # nothing can end a shorter run
                firsts = run if slide and run else run[:1]
                enders = others if slide and others else others[:1]
                for first in firsts or (None,):
                    head = [first] + [d for d in run if d != first] if run else []
                    for end in enders or (None,):
                        tail = [end] + [d for d in others if d != end] if others else []
                        order = head + tail + rest
                        key = (_run_of(order, classes), _slide_of(order) if slide else None)
                        if key not in seen:
                            seen.add(key)
                            out.append(order)
    return out


@cache
def class_orders(code: int, level: str, stationary: str) -> np.ndarray:
    """One order per order class of a level whose non-unit loops are the set bits of
    ``code``: int64 [n, 8], outermost first as in a genome, unit loops after (where
    they sit does not change the cost). ``level`` is ``"glb"`` or ``"dram"``."""
    moving = tuple(i for i in range(N_DIMS) if code >> i & 1)
    fixed = [i for i in range(N_DIMS) if not code >> i & 1]
    classes = ((_IRRELEVANT[stationary],) if level == "glb"
               else tuple(_IRRELEVANT[op] for op in OPERANDS))
    rows = [order[::-1] + fixed for order in _runs(moving, classes, level == "dram")] \
        or [fixed]
    table = np.array(rows, dtype=np.int64)
    table.flags.writeable = False
    return table


def exact_chunks(space: MappingSpace, limit: int = EXACT_LIMIT,
                 rows: int = 4096) -> tuple[int, Iterator[np.ndarray]]:
    """(number of points, iterator over genome arrays of about ``rows``): every split
    combination that fits the array, each crossed with one order per order class.

    Split combinations are enumerated a block at a time (never all in memory); the
    count is taken in a first pass, so :class:`~mapper.space.SpaceError` is raised
    before any point is produced when the space exceeds ``limit`` points.
    """
    counts = [int(c) for c in space.split_counts]
    combos = math.prod(counts)
    if combos > limit:
        raise SpaceError(f"layer {space.layer.name!r}: {combos:,} factor splits exceed the "
                         f"exact limit {limit:,}: optimality cannot be proven in "
                         f"reasonable time; use annealing or genetic")
    stat = space.dataflow.stationary
    weights = 1 << np.arange(N_DIMS)
    block = 1 << 16

    def groups(start: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(split indices, GLB codes, DRAM codes) of the fitting combos of a block."""
        flat = np.arange(start, min(combos, start + block))
        idx = np.stack(np.unravel_index(flat, counts), axis=1).astype(np.int64)
        fac = np.stack([space.splits[d][idx[:, i]] for i, d in enumerate(MAP_DIMS)], axis=1)
        fits = (fac[:, :, 0].prod(axis=1) <= space.accel.rows) & \
            (fac[:, :, 1].prod(axis=1) <= space.accel.cols)
        fac = fac[fits]
        return idx[fits], (fac[:, :, 3] > 1) @ weights, (fac[:, :, 4] > 1) @ weights

    def n_orders(g: int, d: int) -> int:
        return len(class_orders(g, "glb", stat)) * len(class_orders(d, "dram", stat))

    total = 0
    for start in range(0, combos, block):
        _, gc, dc = groups(start)
        pairs, members = np.unique(np.stack([gc, dc], axis=1), axis=0, return_counts=True)
        total += sum(int(m) * n_orders(int(g), int(d)) for (g, d), m in zip(pairs, members))
        if total > limit:
            raise SpaceError(f"layer {space.layer.name!r}: more than {limit:,} (split, "
                             f"order class) points exceed the exact limit: optimality "
                             f"cannot be proven in reasonable time; use annealing or "
                             f"genetic")

    def chunks() -> Iterator[np.ndarray]:
        for start in range(0, combos, block):
            idx, gc, dc = groups(start)
            codes = np.stack([gc, dc], axis=1)
            pairs, inverse = np.unique(codes, axis=0, return_inverse=True)
            inverse = inverse.ravel()
            for p, (g, d) in enumerate(pairs):
                glb, dram = class_orders(int(g), "glb", stat), class_orders(int(d), "dram", stat)
                orders = np.concatenate([np.repeat(glb, len(dram), axis=0),
                                         np.tile(dram, (len(glb), 1))], axis=1)
                pts = idx[inverse == p]
                per = max(1, rows // len(orders))
                for i in range(0, len(pts), per):
                    part = pts[i:i + per]
                    out = np.empty((len(part) * len(orders), GENOME_LEN), dtype=np.int64)
                    out[:, :N_DIMS] = np.repeat(part, len(orders), axis=0)
                    out[:, N_DIMS:] = np.tile(orders, (len(part), 1))
                    yield out

    return total, chunks()


__all__ = ["EXACT_LIMIT", "class_orders", "exact_chunks"]
