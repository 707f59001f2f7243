"""A default mapping per dataflow, so ``simulate`` works without a search.

The heuristic is SCALE-Sim's mapping, made to fit the buffers:

1. Fill the array: each row/column dimension of the dataflow gets
   ``min(bound, remaining array side)`` (row-stationary fills R then C on rows,
   P then K on columns).
2. Candidates A: the stream dimensions run whole inside the PE level; the folds (and
   the groups) loop at the GLB or DRAM level, one stationary tile per fold -- every
   split of the folds between the two levels and every DRAM loop order.
3. Candidates B: the longest stream dimension cut into chunks at the DRAM level --
   the largest chunk that fits and a few smaller ones, under every DRAM loop order.
   With the chunk loop innermost the stationary tile stays in the PEs (cycles as
   SCALE-Sim's); further out it trades a few preloads for less traffic.
   All candidates are costed in one batch; the fitting one with the fewest total
   cycles (stalls included), then the least energy, wins.
4. If even a one-element stream chunk does not fit, the layer cannot map: a one-line
   error says how many bytes the smallest tile needs and what holds it.
"""

from __future__ import annotations

from itertools import islice, permutations
from math import ceil

import numpy as np

from dataflows.dataflow import get_dataflow
from dataflows.layer import Layer
from dataflows.mapping import Mapping
from sim.analytic import CostError, MappingBatch, capacity_report, evaluate_batch
from sim.datapath import multiplier_bits
from sim.spec import Accelerator


#: DRAM loop orders tried per fold split (all of them for up to four fold loops).
MAX_DRAM_ORDERS = 24


def _fill(dims: tuple[str, ...], bounds: dict[str, int], side: int) -> dict[str, int]:
    out, left = {}, side
    for d in dims:
        f = min(bounds[d], left)
        if f > 1:
            out[d] = f
        left //= max(f, 1)
    return out


def _chunk_sizes(n: int) -> list[int]:
    """Stream chunk lengths to try, largest first: n, ceil(n/2), ceil(n/3), ... , 1."""
    sizes, k = [], 1
    while True:
        c = ceil(n / k)
        if not sizes or c < sizes[-1]:
            sizes.append(c)
        if c == 1:
            return sizes
        k = ceil(n / (c - 1)) if c > 1 else k + 1


def default_mapping(layer: Layer, accel: Accelerator) -> Mapping:
    """SCALE-Sim-like mapping of ``layer`` on ``accel`` that fits its buffers."""
    df = get_dataflow(accel.dataflow)
    wide = multiplier_bits(layer)             # narrow widths (sim.datapath)
    if wide > accel.pe.operand_bits:
        raise CostError(f"layer {layer.name!r} needs {wide}-bit operands but {accel.name!r} "
                        f"has pe.operand_bits {accel.pe.operand_bits}; widen the PE or "
                        f"quantize the layer")
    b = df.bounds(layer)
    rows = _fill(df.row_dims, b, accel.rows)
    cols = _fill(df.col_dims, b, accel.cols)
    spatial = {d: rows.get(d, 1) * cols.get(d, 1) for d in b}
    stream = {d: b[d] for d in df.stream_dims if b[d] > 1}
    folds = {d: ceil(b[d] / spatial[d]) for d in b
             if d not in df.stream_dims and ceil(b[d] / spatial[d]) > 1}
    fold_order = [d for d in ("G", "N", "K", "C", "P", "Q", "R", "S") if d in folds]

    # Stage A: every split of the folds between GLB and DRAM level, and every DRAM
    # loop order (capped). All give the same tiles for the default spatial mapping
    # (every fold loop is relevant to the stationary operand).
    candidates = []
    for mask in range(1 << len(fold_order)):
        at_glb = [d for i, d in enumerate(fold_order) if mask >> i & 1]
        at_dram = [d for d in fold_order if d not in at_glb]
        for perm in islice(permutations(at_dram), MAX_DRAM_ORDERS):
            candidates.append(Mapping.build(
                rows=rows, cols=cols, pe=stream, glb={d: folds[d] for d in at_glb},
                dram={d: folds[d] for d in at_dram},
                order={"glb": at_glb, "dram": list(perm)}))
    smallest = candidates[-1]          # explains the error if nothing fits
    dram = dict(folds)
    # Stage B: cut the longest stream dimension into chunks at the DRAM level (when
    # even one-element chunks do not fit, run it whole at DRAM and cut the next one).
    # Cost every distinct chunk length in one batch, take the largest that fits, then
    # add it and a few smaller chunks under every DRAM loop order: the chunk loop
    # innermost keeps the stationary tile, further out it saves DRAM traffic.
    for d in sorted(stream, key=lambda x: -stream[x]):
        sizes = _chunk_sizes(stream[d])

        def build(chunk: int, order: tuple[str, ...], d: str = d) -> Mapping:
            # `d` bound now (B023); build is only called in this iteration anyway
            return Mapping.build(rows=rows, cols=cols, pe=dict(stream) | {d: chunk},
                                 dram=dram | {d: ceil(stream[d] / chunk)},
                                 order={"dram": list(order)})
        base = tuple(dram) + (d,)
        probe = [build(c, base) for c in sizes]          # largest chunk first
        arr = evaluate_batch(layer, accel, MappingBatch.from_mappings(probe), detail=False)
        fitting = np.flatnonzero(arr["legal"])
        if not fitting.size:
            smallest = probe[-1]
            dram[d], stream[d] = stream[d], 1
            continue
        lo = int(fitting[0])
        chunks = sorted({sizes[lo]} | {max(1, sizes[lo] >> k) for k in range(1, 4)},
                        reverse=True)
        orders = list(islice(permutations(base), MAX_DRAM_ORDERS * 5))
        candidates += [build(c, o) for c in chunks for o in orders]
        break
    best = _cheapest(layer, accel, candidates)
    if best is not None:
        return best
    reasons = capacity_report(layer, accel, smallest)
    raise CostError(f"layer {layer.name!r} cannot map on {accel.name!r}: even its smallest "
                    f"tile does not fit ({reasons[0]}); enlarge the buffer or the rf")


def _cheapest(layer: Layer, accel: Accelerator, candidates: list[Mapping]) -> Mapping | None:
    """The fitting candidate with the fewest total cycles, then the least energy."""
    arr = evaluate_batch(layer, accel, MappingBatch.from_mappings(candidates), detail=False)
    ok = np.flatnonzero(arr["legal"])
    if not ok.size:
        return None
    return candidates[min(ok, key=lambda i: (arr["total_cycles"][i], arr["energy_pj"][i], i))]
