"""The mapping space of one layer on one accelerator, and its compact encoding.

A point of the space is a *genome*: for every mapping dimension the index of a
*split* -- its factors ``(rows, cols, pe, glb, dram)`` -- plus one random key per
dimension for the GLB and the DRAM loop order (the order is the keys' argsort,
outermost first). Genomes decode to :class:`sim.analytic.MappingBatch` arrays in
bulk, so every search strategy evaluates whole populations with the vectorised
analytic model.

Splits of a dimension with bound ``b`` (``MappingSpace.splits[d]``):

* spatial factors only on the dataflow's row/column dimensions, at most the array
  side; temporal ``pe`` factors only on its stream dimensions;
* ``imperfect=False``: ``rows * cols * pe * glb * dram == b`` (all factorizations);
* ``imperfect=True``: the spatial factors may also pad (any value up to the array
  side, ``ceil(b / spatial)`` steps left), the temporal ones factorize those steps
  exactly -- every split obeys :meth:`dataflows.mapping.Mapping.check`.

Splits whose row (column) factors multiply past the array are rejected when decoded
(``valid`` is False); so are capacity violations (the model's ``legal`` flag).
Size of the space: ``prod(len(splits[d])) * orders``, with ``orders`` the distinct
GLB x DRAM loop orders (only the relative order of non-unit loops matters).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from itertools import permutations

import numpy as np

from dataflows.dataflow import MAP_DIMS, Dataflow, get_dataflow
from dataflows.errors import CoforgeError
from dataflows.layer import Layer
from dataflows.mapping import Mapping
from sim.analytic import MappingBatch
from sim.spec import Accelerator

N_DIMS = len(MAP_DIMS)
#: Genome layout: [split index x 8 | GLB order keys x 8 | DRAM order keys x 8].
GENOME_LEN = 3 * N_DIMS


class SpaceError(CoforgeError):
    """The space cannot be built or enumerated as asked (e.g. too large)."""


def _divisors(n: int) -> list[int]:
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return sorted(set(small + [n // d for d in small]))


def _exact_triples(n: int, pe_allowed: bool) -> list[tuple[int, int, int]]:
    """All (pe, glb, dram) with pe * glb * dram == n (pe == 1 unless allowed)."""
    out = []
    for pe in (_divisors(n) if pe_allowed else [1]):
        rest = n // pe
        out.extend((pe, g, rest // g) for g in _divisors(rest))
    return out


@dataclass(frozen=True)
class MappingSpace:
    """Every mapping of ``layer`` on ``accel`` coforge searches (see module doc)."""

    layer: Layer
    accel: Accelerator
    imperfect: bool = False

    @cached_property
    def dataflow(self) -> Dataflow:
        return get_dataflow(self.accel.dataflow)

    @cached_property
    def bounds(self) -> dict[str, int]:
        return self.dataflow.bounds(self.layer)

    @cached_property
    def splits(self) -> dict[str, np.ndarray]:
        """Per dimension an int64 array [n_splits, 5] of (rows, cols, pe, glb, dram)."""
        df, out = self.dataflow, {}
        for d in MAP_DIMS:
            b = self.bounds[d]
            r_max = min(b, self.accel.rows) if d in df.row_dims else 1
            c_max = min(b, self.accel.cols) if d in df.col_dims else 1
            rows = []
            for r in range(1, r_max + 1):
                for c in range(1, c_max + 1):
                    if self.imperfect:
                        if r * c > b:
                            continue
                        steps = -(-b // (r * c))
                    elif b % (r * c):
                        continue
                    else:
                        steps = b // (r * c)
                    rows.extend((r, c, *t) for t in _exact_triples(steps, d in df.stream_dims))
            out[d] = np.array(rows, dtype=np.int64)
        return out

    @cached_property
    def split_counts(self) -> np.ndarray:
        return np.array([len(self.splits[d]) for d in MAP_DIMS], dtype=np.int64)

    @property
    def size(self) -> int:
        """Number of (split, order) combinations, before array/capacity pruning."""
        n_orders = math.factorial(sum(1 for d in MAP_DIMS if self.bounds[d] > 1)) ** 2
        return int(np.prod(self.split_counts, dtype=object)) * n_orders

    # -- genomes -----------------------------------------------------------------------
    def random_genomes(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` uniform random genomes, float64 [n, GENOME_LEN]."""
        g = np.empty((n, GENOME_LEN))
        g[:, :N_DIMS] = rng.integers(0, self.split_counts, size=(n, N_DIMS))
        g[:, N_DIMS:] = rng.random((n, 2 * N_DIMS))
        return g

    def decode(self, genomes: np.ndarray) -> tuple[MappingBatch, np.ndarray]:
        """(batch, valid): the mappings and whether their spatial factors fit the array."""
        idx = genomes[:, :N_DIMS].astype(np.int64)
        n = len(genomes)
        fac = np.empty((n, N_DIMS, 5), dtype=np.int64)
        for i, d in enumerate(MAP_DIMS):
            fac[:, i, :] = self.splits[d][idx[:, i]]
        rows, cols = fac[:, :, 0], fac[:, :, 1]
        temporal = np.ascontiguousarray(fac[:, :, 2:].transpose(0, 2, 1))
        order = np.zeros((n, 3, N_DIMS), dtype=np.int64)
        order[:, 0, :] = np.arange(N_DIMS)
        order[:, 1, :] = np.argsort(genomes[:, N_DIMS:2 * N_DIMS], axis=1)
        order[:, 2, :] = np.argsort(genomes[:, 2 * N_DIMS:], axis=1)
        valid = (rows.prod(axis=1) <= self.accel.rows) & (cols.prod(axis=1) <= self.accel.cols)
        return MappingBatch(rows=rows, cols=cols, temporal=temporal, order=order), valid

    def to_mapping(self, genome: np.ndarray) -> Mapping:
        """One genome as a readable :class:`Mapping`."""
        batch, _ = self.decode(genome[None, :])
        return Mapping(rows=tuple(int(v) for v in batch.rows[0]),
                       cols=tuple(int(v) for v in batch.cols[0]),
                       temporal=tuple(tuple(int(v) for v in t) for t in batch.temporal[0]),
                       order=tuple(tuple(MAP_DIMS[int(i)] for i in o) for o in batch.order[0]))

    # -- exhaustive enumeration ---------------------------------------------------------
    def enumerate_genomes(self, limit: int) -> np.ndarray:
        """Every distinct point as genomes (loop orders over non-unit loops only).

        Vectorised: split combinations that fit the array, grouped by which loops are
        non-unit at the GLB and DRAM levels, each group crossed with its distinct
        orders. Raises :class:`SpaceError` when the space exceeds ``limit`` points.
        """
        counts = [int(c) for c in self.split_counts]
        combos = int(np.prod(counts, dtype=object))
        if combos > limit:
            raise SpaceError(f"layer {self.layer.name!r}: {combos:,} factor splits exceed the "
                             f"exhaustive limit {limit:,}; use a heuristic strategy")
        idx = np.indices(counts).reshape(N_DIMS, -1).T
        fac = np.stack([self.splits[d][idx[:, i]] for i, d in enumerate(MAP_DIMS)], axis=1)
        fits = (fac[:, :, 0].prod(axis=1) <= self.accel.rows) & \
            (fac[:, :, 1].prod(axis=1) <= self.accel.cols)
        idx, fac = idx[fits], fac[fits]
        weights = 1 << np.arange(N_DIMS)
        codes = np.stack([(fac[:, :, 3] > 1) @ weights, (fac[:, :, 4] > 1) @ weights], axis=1)
        groups, inverse = np.unique(codes, axis=0, return_inverse=True)
        sizes = [math.factorial(bin(g).count("1")) * math.factorial(bin(d).count("1"))
                 for g, d in groups]
        total = int(np.dot(np.bincount(inverse.ravel(), minlength=len(groups)), sizes))
        if total > limit:
            raise SpaceError(f"layer {self.layer.name!r}: {total:,} mappings with loop orders "
                             f"exceed the exhaustive limit {limit:,}; use a heuristic strategy")
        out = []
        for k, (gcode, dcode) in enumerate(groups):
            pts = idx[inverse.ravel() == k].astype(np.float64)
            glb, dram = _orders_for(int(gcode)), _orders_for(int(dcode))
            n_o = len(glb) * len(dram)
            keys = np.concatenate([np.repeat(glb, len(dram), axis=0),
                                   np.tile(dram, (len(glb), 1))], axis=1)
            out.append(np.concatenate([np.repeat(pts, n_o, axis=0),
                                       np.tile(keys, (len(pts), 1))], axis=1))
        return np.concatenate(out) if out else np.empty((0, GENOME_LEN))


def _orders_for(code: int) -> np.ndarray:
    """Order keys [n, 8] for every distinct order of the loops whose bit is set."""
    return np.array(_orders(np.array([2 if code >> i & 1 else 1 for i in range(N_DIMS)])))


def _orders(factors: np.ndarray) -> list[np.ndarray]:
    """Order keys for every distinct order of the non-unit loops (unit loops last)."""
    moving = [i for i in range(N_DIMS) if factors[i] > 1]
    fixed = [i for i in range(N_DIMS) if factors[i] <= 1]
    keys = []
    for perm in permutations(moving):
        k = np.empty(N_DIMS)
        for rank, i in enumerate(list(perm) + fixed):
            k[i] = rank
        keys.append(k)
    return keys
