"""Mappings: how a layer's loops are split over memory levels, in time and in space.

A :class:`Mapping` has three temporal levels, innermost first:

* level 0 -- *PE/array*: loops run while the stationary tile stays in the PEs
  (the systolic stream; only the dataflow's ``stream_dims`` may appear here);
* level 1 -- *global buffer*: loops over array passes whose data the buffer holds;
* level 2 -- *DRAM*: loops over global-buffer tiles.

plus the spatial factors on array rows and columns (between levels 0 and 1).
Factors use ceiling semantics: the product of a dimension's factors over all levels
and both spatial axes must cover its bound, and the outermost non-unit factor must
not have a fully idle last iteration (``total - total / outer < bound``). Temporal
iterations past a bound are skipped (a partial last tile streams fewer elements);
spatial ones leave PEs idle. ``order[level]`` lists the eight dimensions outermost first.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

from dataflows.dataflow import MAP_DIMS, Dataflow
from dataflows.errors import CoforgeError
from dataflows.layer import Layer

#: Temporal level names, innermost first.
LEVELS: tuple[str, ...] = ("pe", "glb", "dram")


class MappingError(CoforgeError):
    """The mapping breaks a legality rule; the message names the rule and the values."""


def _factors(d: dict[str, int] | None) -> tuple[int, ...]:
    d = dict(d or {})
    unknown = set(d) - set(MAP_DIMS)
    if unknown:
        raise MappingError(f"mapping names unknown dimensions {sorted(unknown)}; "
                           f"allowed: {list(MAP_DIMS)}")
    out = tuple(d.get(dim, 1) for dim in MAP_DIMS)
    for dim, f in zip(MAP_DIMS, out):
        if not isinstance(f, int) or isinstance(f, bool) or f < 1:
            raise MappingError(f"mapping factor for {dim} must be a positive integer, not {f!r}")
    return out


@dataclass(frozen=True)
class Mapping:
    """Factors per dimension (tuples in :data:`MAP_DIMS` order) and loop orders."""

    rows: tuple[int, ...]
    cols: tuple[int, ...]
    temporal: tuple[tuple[int, ...], ...]
    order: tuple[tuple[str, ...], ...]

    @classmethod
    def build(cls, rows: dict[str, int] | None = None, cols: dict[str, int] | None = None,
              pe: dict[str, int] | None = None, glb: dict[str, int] | None = None,
              dram: dict[str, int] | None = None,
              order: dict[str, list[str]] | None = None) -> "Mapping":
        """Readable constructor: factors as ``{dim: factor}``, orders outermost first.

        An order may list only some dimensions; the rest follow in canonical order.
        """
        orders = []
        for level in LEVELS:
            given = list((order or {}).get(level, []))
            bad = [d for d in given if d not in MAP_DIMS]
            if bad or len(set(given)) != len(given):
                raise MappingError(f"order.{level} must list distinct dimensions from "
                                   f"{list(MAP_DIMS)}, got {given}")
            orders.append(tuple(given + [d for d in MAP_DIMS if d not in given]))
        return cls(rows=_factors(rows), cols=_factors(cols),
                   temporal=(_factors(pe), _factors(glb), _factors(dram)),
                   order=tuple(orders))

    # -- readable views -----------------------------------------------------------
    def factor(self, level: str, dim: str) -> int:
        """Temporal factor of ``dim`` at ``level`` ('pe', 'glb' or 'dram')."""
        return self.temporal[LEVELS.index(level)][MAP_DIMS.index(dim)]

    @property
    def rows_used(self) -> int:
        """PE rows the mapping occupies (product of the row factors)."""
        return prod(self.rows)

    @property
    def cols_used(self) -> int:
        """PE columns the mapping occupies."""
        return prod(self.cols)

    def coverage(self) -> dict[str, int]:
        """Product of every factor of each dimension (>= its bound when legal)."""
        return {d: self.rows[i] * self.cols[i] * prod(t[i] for t in self.temporal)
                for i, d in enumerate(MAP_DIMS)}

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form listing only non-unit factors."""
        def nz(f: tuple[int, ...]) -> dict[str, int]:
            return {d: v for d, v in zip(MAP_DIMS, f) if v != 1}
        return {"spatial": {"rows": nz(self.rows), "cols": nz(self.cols)},
                "temporal": {lvl: nz(t) for lvl, t in zip(LEVELS, self.temporal)},
                "order": {lvl: list(o) for lvl, o in zip(LEVELS, self.order)}}

    # -- legality -----------------------------------------------------------------
    def check(self, layer: Layer, dataflow: Dataflow, array_rows: int, array_cols: int,
              bounds: dict[str, int]) -> None:
        """Raise :class:`MappingError` unless the mapping is legal for this layer/array.

        ``bounds`` are the per-group loop bounds in the dataflow's view
        (``dataflow.bounds(layer)``). Capacity is checked by ``sim`` (it needs sizes).
        """
        where = f"layer {layer.name!r} ({dataflow.name})"
        if len(self.temporal) != len(LEVELS) or len(self.order) != len(LEVELS):
            raise MappingError(f"{where}: a mapping has {len(LEVELS)} levels {LEVELS}")
        for level, order in zip(LEVELS, self.order):
            if sorted(order) != sorted(MAP_DIMS):
                raise MappingError(f"{where}: order.{level} must be a permutation of "
                                   f"{list(MAP_DIMS)}, got {list(order)}")
        for axis, factors, allowed, size in (
                ("rows", self.rows, dataflow.row_dims, array_rows),
                ("cols", self.cols, dataflow.col_dims, array_cols)):
            for dim, f in zip(MAP_DIMS, factors):
                if f > 1 and dim not in allowed:
                    raise MappingError(f"{where}: {dim} cannot be unrolled over array {axis} "
                                       f"in {dataflow.name}; allowed: {list(allowed)}")
            if prod(factors) > size:
                raise MappingError(f"{where}: spatial {axis} factors multiply to "
                                   f"{prod(factors)} > array {axis} {size}")
        for dim, f in zip(MAP_DIMS, self.temporal[0]):
            if f > 1 and dim not in dataflow.stream_dims:
                raise MappingError(
                    f"{where}: only {list(dataflow.stream_dims)} may loop inside the PE "
                    f"level of {dataflow.name} ({dataflow.stationary} stays in the PE); "
                    f"{dim} has factor {f}")
        for i, dim in enumerate(MAP_DIMS):
            # outermost first: dram, glb, pe (by level), then the spatial factors
            parts = [t[i] for t in reversed(self.temporal)] + [self.cols[i], self.rows[i]]
            total, bound = prod(parts), bounds[dim]
            if total < bound:
                raise MappingError(f"{where}: factors of {dim} multiply to {total}, "
                                   f"which does not cover its bound {bound}")
            outer = next((f for f in parts if f > 1), 1)
            if total - total // outer >= bound:
                raise MappingError(
                    f"{where}: factors of {dim} multiply to {total} for bound {bound}; "
                    f"the outermost factor {outer} then has a fully idle last iteration "
                    f"(use a smaller factor)")
