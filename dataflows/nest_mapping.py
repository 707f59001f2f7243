"""Mappings of a layer onto an N-level hierarchy (:mod:`sim.hierarchy`): a loop nest.

A :class:`NestMapping` gives, per storage level (outermost first, as the hierarchy
lists them), temporal factors over :data:`~dataflows.dataflow.MAP_DIMS` and a loop
order (outermost first), and per fanout (outermost first) the spatial factors of each
of its axes. The loops of level ``l`` iterate over the tiles of the levels below it
while level ``l`` holds its own tile; the loop nest from the outside in is
``level 0 loops, [fanouts], level 1 loops, [fanouts], ...``.

Factors use ceiling semantics, as :class:`dataflows.mapping.Mapping` does: the
product of a dimension's factors over every level and fanout axis covers its bound,
temporal iterations past the bound are skipped (a partial last tile) and spatial ones
leave children idle; the outermost non-unit factor must not have a fully idle last
iteration. The module lives in ``dataflows`` (it needs nothing of ``sim``): legality
takes the hierarchy duck-typed -- anything with ``levels`` (``name``,
``temporal_dims``) and ``fanouts`` (``name``, ``size``, ``dims``), i.e. a
:class:`sim.hierarchy.Hierarchy` -- so ``sim`` may import it without a cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Any, Protocol, Sequence

import numpy as np

from dataflows.dataflow import MAP_DIMS
from dataflows.mapping import Mapping, MappingError

_DIM = {d: i for i, d in enumerate(MAP_DIMS)}
ONES = (1,) * len(MAP_DIMS)


class _Level(Protocol):
    name: str
    temporal_dims: tuple[str, ...] | None


class _Fanout(Protocol):
    name: str
    size: tuple[int, ...]
    dims: tuple[tuple[str, ...], ...]


class HierarchyLike(Protocol):
    @property
    def levels(self) -> Sequence[_Level]: ...

    @property
    def fanouts(self) -> Sequence[_Fanout]: ...


def _factors(d: dict[str, int] | None, where: str) -> tuple[int, ...]:
    d = dict(d or {})
    unknown = sorted(set(d) - set(MAP_DIMS))
    if unknown:
        raise MappingError(f"{where}: unknown dimensions {unknown}; allowed: {list(MAP_DIMS)}")
    out = tuple(d.get(dim, 1) for dim in MAP_DIMS)
    for dim, f in zip(MAP_DIMS, out):
        if not isinstance(f, int) or isinstance(f, bool) or f < 1:
            raise MappingError(f"{where}: factor of {dim} must be a positive integer, "
                               f"not {f!r}")
    return out


def _order(given: Sequence[str] | None, where: str) -> tuple[str, ...]:
    given = list(given or [])
    bad = [d for d in given if d not in MAP_DIMS]
    if bad or len(set(given)) != len(given):
        raise MappingError(f"{where} must list distinct dimensions from {list(MAP_DIMS)}, "
                           f"got {given}")
    return tuple(given + [d for d in MAP_DIMS if d not in given])


@dataclass(frozen=True)
class NestMapping:
    """Factors as tuples in :data:`MAP_DIMS` order; levels and fanouts outermost first.

    ``temporal[l]``: factors of storage level ``l``; ``order[l]``: its loop order,
    outermost first (a permutation of MAP_DIMS); ``spatial[f][a]``: factors on axis
    ``a`` of fanout ``f``.
    """

    temporal: tuple[tuple[int, ...], ...]
    order: tuple[tuple[str, ...], ...]
    spatial: tuple[tuple[tuple[int, ...], ...], ...]

    @classmethod
    def build(cls, hier: HierarchyLike, temporal: dict[str, dict[str, int]] | None = None,
              spatial: dict[str, Sequence[dict[str, int]]] | None = None,
              order: dict[str, Sequence[str]] | None = None) -> "NestMapping":
        """Readable constructor: ``temporal={level: {dim: f}}``, ``spatial={fanout:
        [{dim: f} per axis]}``, ``order={level: [dims outermost first]}`` (partial orders
        are completed canonically). Names not in ``hier`` are refused."""
        temporal, spatial, order = dict(temporal or {}), dict(spatial or {}), dict(order or {})
        lnames = [lv.name for lv in hier.levels]
        fnames = [f.name for f in hier.fanouts]
        for what, given, names in (("temporal", temporal, lnames), ("order", order, lnames),
                                   ("spatial", spatial, fnames)):
            bad = sorted(set(given) - set(names))
            if bad:
                raise MappingError(f"mapping {what} names unknown {bad[0]!r}; the hierarchy "
                                   f"has {names}")
        sp = []
        for f in hier.fanouts:
            axes = list(spatial.get(f.name, [{}] * len(f.size)))
            if len(axes) != len(f.size):
                raise MappingError(f"mapping spatial.{f.name} needs {len(f.size)} axes, "
                                   f"got {len(axes)}")
            sp.append(tuple(_factors(a, f"spatial.{f.name}[{i}]") for i, a in enumerate(axes)))
        return cls(temporal=tuple(_factors(temporal.get(n), f"temporal.{n}") for n in lnames),
                   order=tuple(_order(order.get(n), f"order.{n}") for n in lnames),
                   spatial=tuple(sp))

    @classmethod
    def from_mapping(cls, m: Mapping, glb_levels: int = 1) -> "NestMapping":
        """The nest mapping of a 3-level :class:`Mapping` on the hierarchy
        :func:`sim.hierarchy.from_accelerator` builds for a spec with ``glb_levels``
        buffers: dram, the GLB levels (the mapping's GLB loops on the innermost one,
        the others all 1), the array fanout (rows, cols) and the rf."""
        if glb_levels < 1:
            raise MappingError(f"glb_levels must be >= 1, not {glb_levels!r}")
        pe, glb, dram = m.temporal
        pe_o, glb_o, dram_o = m.order
        temporal = (dram,) + (ONES,) * (glb_levels - 1) + (glb, pe)
        order = (dram_o,) + (tuple(MAP_DIMS),) * (glb_levels - 1) + (glb_o, pe_o)
        return cls(temporal=temporal, order=order, spatial=((m.rows, m.cols),))

    # -- views -------------------------------------------------------------------------
    def spatial_product(self, fanout: int) -> tuple[int, ...]:
        """Per dimension, the product of fanout ``fanout``'s axis factors."""
        return tuple(prod(a[i] for a in self.spatial[fanout]) for i in range(len(MAP_DIMS)))

    def coverage(self) -> dict[str, int]:
        """Product of every factor of each dimension (>= its bound when legal)."""
        return {d: prod(t[i] for t in self.temporal)
                * prod(prod(a[i] for a in f) for f in self.spatial)
                for i, d in enumerate(MAP_DIMS)}

    def to_dict(self, hier: HierarchyLike) -> dict[str, Any]:
        """JSON-ready form listing only non-unit factors, keyed by level/fanout name."""
        def nz(f: tuple[int, ...]) -> dict[str, int]:
            return {d: v for d, v in zip(MAP_DIMS, f) if v != 1}
        return {"temporal": {lv.name: nz(t) for lv, t in zip(hier.levels, self.temporal)},
                "order": {lv.name: list(o) for lv, o in zip(hier.levels, self.order)},
                "spatial": {f.name: [nz(a) for a in ax]
                            for f, ax in zip(hier.fanouts, self.spatial)}}

    # -- legality ----------------------------------------------------------------------
    def check(self, hier: HierarchyLike, bounds: dict[str, int], where: str = "mapping") -> None:
        """Raise :class:`MappingError` unless the mapping is structurally legal on ``hier``
        for loop ``bounds`` (``{dim: bound}``, per-group K and C; e.g.
        :func:`dataflows.dataflow.map_bounds`). Capacities are checked by the cost model
        (:mod:`sim.hier_cost`), which knows the operand sizes."""
        levels, fanouts = list(hier.levels), list(hier.fanouts)
        if len(self.temporal) != len(levels) or len(self.order) != len(levels):
            raise MappingError(f"{where}: {len(self.temporal)} temporal levels for a "
                               f"hierarchy of {len(levels)} storage levels")
        if len(self.spatial) != len(fanouts):
            raise MappingError(f"{where}: {len(self.spatial)} spatial entries for a "
                               f"hierarchy of {len(fanouts)} fanouts")
        for lv, t, o in zip(levels, self.temporal, self.order):
            if len(t) != len(MAP_DIMS) or any(not isinstance(f, int) or f < 1 for f in t):
                raise MappingError(f"{where}: temporal.{lv.name} must be {len(MAP_DIMS)} "
                                   f"positive integers, got {t}")
            if sorted(o) != sorted(MAP_DIMS):
                raise MappingError(f"{where}: order.{lv.name} must be a permutation of "
                                   f"{list(MAP_DIMS)}, got {list(o)}")
            allowed = lv.temporal_dims
            if allowed is not None:
                bad = [d for d, f in zip(MAP_DIMS, t) if f > 1 and d not in allowed]
                if bad:
                    raise MappingError(f"{where}: {bad[0]} cannot loop at level {lv.name!r}; "
                                       f"allowed: {list(allowed)}")
        for fo, axes in zip(fanouts, self.spatial):
            if len(axes) != len(fo.size):
                raise MappingError(f"{where}: spatial.{fo.name} needs {len(fo.size)} axes, "
                                   f"got {len(axes)}")
            for a, (fac, size, allowed) in enumerate(zip(axes, fo.size, fo.dims)):
                bad = [d for d, f in zip(MAP_DIMS, fac) if f > 1 and d not in allowed]
                if bad:
                    raise MappingError(f"{where}: {bad[0]} cannot be unrolled on axis {a} of "
                                       f"fanout {fo.name!r}; allowed: {list(allowed)}")
                if prod(fac) > size:
                    raise MappingError(f"{where}: spatial.{fo.name}[{a}] factors multiply to "
                                       f"{prod(fac)} > its size {size}")
                for d, cap in fo.max_factors[a] if fo.max_factors else ():
                    if fac[MAP_DIMS.index(d)] > cap:
                        raise MappingError(f"{where}: spatial.{fo.name}[{a}] unrolls {d} by "
                                           f"{fac[MAP_DIMS.index(d)]} > its max_factors "
                                           f"{cap}")
        for i, dim in enumerate(MAP_DIMS):
            parts = self._parts_outermost_first(hier, i)
            total, bound = prod(parts), bounds[dim]
            if total < bound:
                raise MappingError(f"{where}: factors of {dim} multiply to {total}, which "
                                   f"does not cover its bound {bound}")
            outer = next((f for f in parts if f > 1), 1)
            if total - total // outer >= bound:
                raise MappingError(
                    f"{where}: factors of {dim} multiply to {total} for bound {bound}; the "
                    f"outermost factor {outer} then has a fully idle last iteration "
                    f"(use a smaller factor)")

    def _parts_outermost_first(self, hier: HierarchyLike, i: int) -> list[int]:
        """Dimension ``i``'s factors in nest order (levels and fanouts interleaved)."""
        nodes = getattr(hier, "nodes", None)
        if nodes is None:              # no interleaving known: temporal, then spatial
            return [t[i] for t in self.temporal] + [a[i] for f in self.spatial for a in f]
        out, li, fi = [], 0, 0
        for n in nodes:
            if hasattr(n, "keeps"):
                out.append(self.temporal[li][i])
                li += 1
            else:
                out.extend(a[i] for a in self.spatial[fi])
                fi += 1
        return out


@dataclass(frozen=True)
class NestBatch:
    """B nest mappings as int64 arrays (dimension axis in ``MAP_DIMS`` order).

    ``temporal``: [B, L, 8] factors per storage level (outermost first); ``order``:
    [B, L, 8] dimension indices per level, outermost first; ``spatial``: [B, F, 8]
    factors per fanout (the product over its axes; legality per axis is the
    generator's job, or :meth:`NestMapping.check`'s).
    """

    temporal: np.ndarray
    order: np.ndarray
    spatial: np.ndarray

    @classmethod
    def from_mappings(cls, mappings: Sequence[NestMapping]) -> "NestBatch":
        if not mappings:
            raise MappingError("an empty list of mappings makes no batch")
        f = len(mappings[0].spatial)
        return cls(
            temporal=np.array([m.temporal for m in mappings], dtype=np.int64),
            order=np.array([[[_DIM[d] for d in o] for o in m.order] for m in mappings],
                           dtype=np.int64),
            spatial=np.array([[m.spatial_product(j) for j in range(f)] for m in mappings],
                             dtype=np.int64).reshape(len(mappings), f, len(MAP_DIMS)))

    @classmethod
    def from_three_level(cls, rows: np.ndarray, cols: np.ndarray, temporal: np.ndarray,
                         order: np.ndarray, glb_levels: int = 1) -> "NestBatch":
        """The batch form of :meth:`NestMapping.from_mapping` from the arrays of a
        :class:`sim.analytic.MappingBatch` (``temporal``/``order`` [B, 3, 8] innermost
        level first: pe, glb, dram; ``rows``/``cols`` [B, 8])."""
        b = rows.shape[0]
        t = np.ones((b, glb_levels + 2, len(MAP_DIMS)), dtype=np.int64)
        o = np.broadcast_to(np.arange(len(MAP_DIMS), dtype=np.int64),
                            (b, glb_levels + 2, len(MAP_DIMS))).copy()
        t[:, 0], t[:, -2], t[:, -1] = temporal[:, 2], temporal[:, 1], temporal[:, 0]
        o[:, 0], o[:, -2], o[:, -1] = order[:, 2], order[:, 1], order[:, 0]
        return cls(temporal=t, order=o, spatial=(rows * cols)[:, None, :].astype(np.int64))

    def __len__(self) -> int:
        return self.temporal.shape[0]

    def rows(self, sl: slice) -> "NestBatch":
        """A slice of the batch (views, no copies)."""
        return NestBatch(self.temporal[sl], self.order[sl], self.spatial[sl])


__all__ = ["NestBatch", "NestMapping"]
