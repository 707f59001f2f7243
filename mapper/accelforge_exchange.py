"""The AccelForge mapping exchange: a mapping AccelForge's mapper recorded
(``benchmarks/accelforge_runner.py``) as a coforge nest mapping on the converted
hierarchy (:func:`accelforge_nest_mapping`), and its recorded actions in coforge's units
(:func:`accelforge_actions`). The arch conversion is :mod:`mapper.accelforge_import`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dataflows.nest_mapping import NestMapping
from mapper.accelforge_import import RANK_DIM, AccelforgeConversion, AccelforgeImportError
from sim.hierarchy import Hierarchy, StorageLevel


# -- mapping exchange --------------------------------------------------------------------
@dataclass(frozen=True)
class AccelforgeLayerMapping:
    """One recorded AccelForge mapping in coforge terms: the hierarchy with each level
    keeping only the tensors the mapping stores there (levels it bypasses entirely
    left out), and the nest mapping."""

    hierarchy: Hierarchy
    mapping: NestMapping


def accelforge_nest_mapping(conv: AccelforgeConversion, record: dict[str, Any]
                            ) -> AccelforgeLayerMapping:
    """The nest mapping of one recorded AccelForge layer (``benchmarks/accelforge_runner.py``:
    ``mapping`` nodes outermost first, ``shape``).

    AccelForge's ``Temporal(rank, tile_shape)`` iterates ``rank`` in tiles of
    ``tile_shape``: its factor is the enclosing extent over the tile. Loops belong to
    the storage level of the nearest ``Storage`` node above them; a level holding its
    tensors from several points of the nest (e.g. weights above a P loop, inputs below
    it) starts at the outermost one, the loops in between staying in that level (its
    tiles of the tensors stored lower then include them: their fills are unchanged when
    no loop above the level re-fetches them, but their footprint grows). A level keeps the
    tensors of its ``Storage`` nodes only (AccelForge's mapper chooses among
    ``may_keep``).
    """
    from dataclasses import replace
    stored: dict[str, set[str]] = {}
    for node in record["mapping"]:
        if node["node"] == "Storage":
            stored.setdefault(node["component"], set()).update(
                _AF_TENSOR.get(t, t) for t in node["tensors"])
    kept_nodes = []
    for n in conv.hierarchy.nodes:
        if isinstance(n, StorageLevel):
            keeps = tuple(o for o in n.keeps if o in stored.get(n.name, set()))
            if not keeps:
                continue
            n = n.bypassing(tuple(o for o in n.keeps if o not in keeps))
        kept_nodes.append(n)
    h = replace(conv.hierarchy, nodes=tuple(kept_nodes))
    shape = record["shape"]
    extent = {"P": shape["p"], "Q": shape["q"], "C": shape["c"], "K": shape["m"],
              "R": shape["r"], "S": shape["s"], "N": 1, "G": 1}
    names = [lv.name for lv in h.levels]
    last_storage: dict[str, int] = {}
    for i, node in enumerate(record["mapping"]):
        if node["node"] == "Storage":
            last_storage.setdefault(node["component"], i)        # the outermost one
    temporal: dict[str, dict[str, int]] = {n: {} for n in names}
    order: dict[str, list[str]] = {n: [] for n in names}
    spatial: dict[str, list[dict[str, int]]] = {f.name: [{} for _ in f.size]
                                                for f in h.fanouts}
    current = names[0]
    for i, node in enumerate(record["mapping"]):
        kind = node["node"]
        if kind == "Storage":
            if last_storage.get(node["component"]) == i and node["component"] in names:
                current = node["component"]
            continue
        if kind not in ("Temporal", "Spatial"):
            continue
        dim = RANK_DIM.get(node["rank_variable"].rstrip("0123456789"))
        if dim is None:
            raise AccelforgeImportError(f"layer {record['layer']!r}: rank variable "
                                        f"{node['rank_variable']!r} is not one of "
                                        f"{sorted(RANK_DIM)}")
        tile = int(node["tile_shape"])
        factor = -(-extent[dim] // tile)
        extent[dim] = tile
        if factor == 1:
            continue
        if kind == "Temporal":
            temporal[current][dim] = temporal[current].get(dim, 1) * factor
            if dim not in order[current]:
                order[current].append(dim)
        else:
            key = (node["component"], node["name"])
            if key not in conv.axis_of:
                raise AccelforgeImportError(f"layer {record['layer']!r}: spatial loop on "
                                            f"{key} is no fanout of the arch")
            fname, axis = conv.axis_of[key]
            spatial[fname][axis][dim] = spatial[fname][axis].get(dim, 1) * factor
    return AccelforgeLayerMapping(hierarchy=h, mapping=NestMapping.build(
        h, temporal=temporal, spatial=spatial, order=order))


_AF_TENSOR = {"W": "weight", "I": "input", "O": "output"}


def accelforge_actions(record: dict[str, Any], conv: AccelforgeConversion | None = None
                       ) -> dict[str, dict[str, tuple[float, float]]]:
    """AccelForge's recorded actions as ``{level: {operand: (reads, writes)}}`` (the
    runner's tensors W, I, O); with ``conv``, in values (actions x bits per action / the
    level's bits per value of the operand), the unit of :mod:`sim.hier_cost`'s counts."""
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for comp, per in record["actions"].items():
        for t, acts in per.items():
            if t in _AF_TENSOR:
                op = _AF_TENSOR[t]
                f = 1.0 if conv is None else \
                    conv.action_bits[comp] / conv.value_bits[comp][op]
                out.setdefault(comp, {})[op] = (acts.get("read", 0) * f,
                                                acts.get("write", 0) * f)
    return out


__all__ = ["AccelforgeLayerMapping", "accelforge_actions", "accelforge_nest_mapping"]
