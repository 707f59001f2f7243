"""The mapping space of one layer on one accelerator, and its compact encoding.

A point of the space is a *genome*, a row of int64: for every mapping dimension the
index of a *split* -- its factors ``(rows, cols, pe, glb, dram)`` -- then the GLB and
the DRAM loop order themselves (dimension indices, outermost first; the PE-level
order is fixed). Genomes decode to :class:`sim.analytic.MappingBatch` arrays in bulk
with a handful of table look-ups (no per-candidate Python, no sorting), so every
search strategy evaluates whole populations with the vectorised analytic model.

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
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache, cached_property
from itertools import permutations

import numpy as np

from dataflows.dataflow import MAP_DIMS, Dataflow, get_dataflow
from dataflows.errors import CoforgeError
from dataflows.factors import divisors
from dataflows.layer import Layer
from dataflows.mapping import Mapping
from sim.analytic import MappingBatch
from sim.spec import Accelerator

N_DIMS = len(MAP_DIMS)
#: Genome layout (int64): [split index x 8 | GLB loop order x 8 | DRAM loop order x 8],
#: orders as dimension indices (``MAP_DIMS``), outermost first.
GENOME_LEN = 3 * N_DIMS


@cache
def permutation_table() -> np.ndarray:
    """All ``8!`` orders of the mapping dimensions, int64 [40320, 8] (lexicographic)."""
    table = np.array(list(permutations(range(N_DIMS))), dtype=np.int64)
    table.flags.writeable = False                 # shared by every space
    return table


class SpaceError(CoforgeError):
    """The space cannot be built or enumerated as asked (e.g. too large)."""


def _exact_triples(n: int, pe_allowed: bool) -> list[tuple[int, int, int]]:
    """All (pe, glb, dram) with pe * glb * dram == n (pe == 1 unless allowed)."""
    out = []
    for pe in (divisors(n) if pe_allowed else [1]):
        rest = n // pe
        out.extend((pe, g, rest // g) for g in divisors(rest))
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

    @cached_property
    def movable_dims(self) -> np.ndarray:
        """Indices of the dimensions with more than one split (the others stay at 0)."""
        return np.flatnonzero(self.split_counts > 1)

    @cached_property
    def _tables(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(offsets [8], factor table [5, S], level table [3 * S]) for decoding.

        Every dimension's splits are concatenated: split ``i`` of dimension ``d`` is
        column ``offsets[d] + i``; the level table is the (pe, glb, dram) rows of the
        factor table one after another, so one ``take`` yields ``temporal`` directly.
        """
        counts = self.split_counts
        offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        table = np.ascontiguousarray(np.concatenate([self.splits[d] for d in MAP_DIMS]).T)
        return offsets, table, table[2:].ravel().copy()

    @cached_property
    def _level_offsets(self) -> np.ndarray:
        """Offsets of the pe/glb/dram rows in the level table, int64 [1, 3, 1]."""
        s = int(self.split_counts.sum())
        return np.arange(3, dtype=np.int64).reshape(1, 3, 1) * s

    @cached_property
    def _spatial_dims(self) -> tuple[list[int], list[int]]:
        """Indices of the dimensions that may unroll over rows, and over columns."""
        df = self.dataflow
        return ([i for i, d in enumerate(MAP_DIMS) if d in df.row_dims],
                [i for i, d in enumerate(MAP_DIMS) if d in df.col_dims])

    # -- genomes -----------------------------------------------------------------------
    def random_genomes(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` uniform random genomes, int64 [n, GENOME_LEN]: split indices uniform per
        dimension, each loop order uniform over the ``8!`` permutations."""
        g = np.zeros((n, GENOME_LEN), dtype=np.int64)
        movable = self.movable_dims
        if movable.size:
            g[:, movable] = rng.integers(0, self.split_counts[movable], size=(n, movable.size))
        perms = permutation_table()
        g[:, N_DIMS:] = np.take(perms, rng.integers(0, len(perms), size=2 * n),
                                axis=0).reshape(n, 2 * N_DIMS)
        return g

    def decode(self, genomes: np.ndarray) -> tuple[MappingBatch, np.ndarray]:
        """(batch, valid): the mappings and whether their spatial factors fit the array."""
        n = len(genomes)
        offsets, table, levels = self._tables
        flat = genomes[:, :N_DIMS] + offsets
        rows, cols = np.take(table[0], flat), np.take(table[1], flat)
        temporal = np.take(levels, flat[:, None, :] + self._level_offsets)
        order = np.empty((n, 3, N_DIMS), dtype=np.int64)
        order[:, 0, :] = np.arange(N_DIMS)
        order[:, 1:, :] = genomes[:, N_DIMS:].reshape(n, 2, N_DIMS)
        valid = np.ones(n, dtype=bool)
        for factors, dims, size in ((rows, self._spatial_dims[0], self.accel.rows),
                                    (cols, self._spatial_dims[1], self.accel.cols)):
            if len(dims) > 1:               # one dimension alone never exceeds the side
                prod = factors[:, dims[0]].copy()
                for i in dims[1:]:
                    prod *= factors[:, i]
                valid &= prod <= size
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
        """Every distinct point as genomes (loop orders over non-unit loops only), in
        the order :meth:`genome_chunks` yields them. Raises :class:`SpaceError` when the
        space exceeds ``limit`` points."""
        out = list(self.genome_chunks(limit)[1])
        return np.concatenate(out) if out else np.empty((0, GENOME_LEN), dtype=np.int64)

    def genome_chunks(self, limit: int, rows: int = 4096) -> tuple[int, Iterator[np.ndarray]]:
        """(number of points, iterator over them in genome arrays of about ``rows``).

        Vectorised: split combinations that fit the array, grouped by which loops are
        non-unit at the GLB and DRAM levels, each group crossed with its distinct
        orders; the points are produced lazily, so a space of millions never sits in
        memory at once. Raises :class:`SpaceError` (before any point is produced) when
        the space exceeds ``limit`` points.
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
        inverse = inverse.ravel()
        sizes = [math.factorial(bin(g).count("1")) * math.factorial(bin(d).count("1"))
                 for g, d in groups]
        members = np.bincount(inverse, minlength=len(groups))
        total = int(np.dot(members, sizes))
        if total > limit:
            raise SpaceError(f"layer {self.layer.name!r}: {total:,} mappings with loop orders "
                             f"exceed the exhaustive limit {limit:,}; use a heuristic strategy")
        # the split combinations of each group, in enumeration order
        by_group = np.split(idx[np.argsort(inverse, kind="stable")], np.cumsum(members)[:-1])

        def chunks() -> Iterator[np.ndarray]:
            for (gcode, dcode), pts in zip(groups, by_group):
                glb, dram = _orders_for(int(gcode)), _orders_for(int(dcode))
                orders = np.concatenate([np.repeat(glb, len(dram), axis=0),
                                         np.tile(dram, (len(glb), 1))], axis=1)
                per = max(1, rows // len(orders))         # split combinations per chunk
                for i in range(0, len(pts), per):
                    part = pts[i:i + per]
                    g = np.empty((len(part) * len(orders), GENOME_LEN), dtype=np.int64)
                    g[:, :N_DIMS] = np.repeat(part, len(orders), axis=0)
                    g[:, N_DIMS:] = np.tile(orders, (len(part), 1))
                    yield g

        return total, chunks()


def _orders_for(code: int) -> np.ndarray:
    """Every distinct order [n, 8] of the loops whose bit is set (outermost first; the
    unit loops follow in dimension order -- where they sit does not change the cost)."""
    moving = [i for i in range(N_DIMS) if code >> i & 1]
    fixed = [i for i in range(N_DIMS) if not code >> i & 1]
    return np.array([list(perm) + fixed for perm in permutations(moving)], dtype=np.int64)
