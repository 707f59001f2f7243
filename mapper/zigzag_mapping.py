"""ZigZag's recorded per-layer mappings as coforge nest mappings
(:func:`zigzag_nest_mapping`, one tile boundary per level: :mod:`sim.hier_cost`'s
semantics), and the word-access views both sides are compared in. The exact,
per-operand exchange is :mod:`mapper.zigzag_exchange`. Importable from
:mod:`mapper.zigzag_import`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dataflows.nest_mapping import NestMapping
from mapper.zigzag_hierarchy import (
    _COFORGE_OF_LAYER_OP, _NEST_DIM, ZigzagHierarchy, convert_zigzag_hierarchy)
from mapper.zigzag_read import ZigzagImportError, _read_yaml
from sim.hierarchy import Hierarchy


def _parse_loops(text: str) -> dict[str, list[list[tuple[str, float]]]]:
    """ZigZag's printed mapping ``{O: [[(C, 2), (FY, 3)], [...]], W: ...}`` as data."""
    import re
    out: dict[str, list[list[tuple[str, float]]]] = {}
    for op, body in re.findall(r"(\w+): (\[.*?\]\])(?=, \w+: \[|\}\)?$)", text.strip()):
        levels = []
        for level in re.findall(r"\[((?:\([^()]*\)(?:, )?)*)\]", body[1:-1]):
            levels.append([(d, float(f)) for d, f in re.findall(r"\((\w+), ([\d.]+)\)", level)])
        out[op] = levels
    if not out:
        raise ZigzagImportError(f"cannot read the ZigZag mapping {text[:60]!r}")
    return out


def _record_loops(record: dict[str, Any], key: str, text_key: str
                  ) -> dict[str, list[list[tuple[str, float]]]]:
    if key in record:
        return {op: [[(str(d), float(f)) for d, f in lvl] for lvl in levels]
                for op, levels in record[key].items()}
    text = record[text_key]
    if text.startswith("SpatialMapping("):
        text = text[len("SpatialMapping("):]
    return _parse_loops(text)


@dataclass(frozen=True)
class ZigzagLayerMapping:
    """One ZigZag layer mapping in coforge terms: the hierarchy with its levels in the
    order this mapping needs, the :class:`~dataflows.nest_mapping.NestMapping`, notes."""

    hierarchy: Hierarchy
    mapping: NestMapping
    notes: tuple[str, ...]


def zigzag_nest_mapping(conv: ZigzagHierarchy, record: dict[str, Any],
                        hw: object = None) -> ZigzagLayerMapping:
    """Convert one recorded ZigZag layer (a ``layers[i]`` entry of
    ``benchmarks/zigzag_runner.py``'s JSON) into a nest mapping on ``conv``'s hierarchy.

    ZigZag gives each operand its own split of one loop nest over that operand's
    memories (``temporal_mapping``, innermost loop first) and its spatial unrolling per
    architecture level. The loops up to a memory's top are the tile it holds; a memory
    holding several operands must end at the same loop for each (else
    :class:`ZigzagImportError`). Storage levels between two fanouts are ordered by that
    top (outermost first), which is why the hierarchy is rebuilt per mapping (``hw`` is
    the parsed hardware YAML; default: re-read ``conv.source``); a level's loops are
    those between the next level in and its own top, a dimension split twice inside one
    level merges into one factor (noted: the order in between is lost). Spatial factors:
    the product of each array dimension's hinted layer dimension's unrollings.
    """
    notes: list[str] = []
    temporal = _record_loops(record, "temporal_loops", "temporal_mapping")
    spatial = _record_loops(record, "spatial_loops", "spatial_mapping")
    op_of_layer = {k: _COFORGE_OF_LAYER_OP[k] for k in ("W", "I", "O")}
    flat = {op: [lp for lvl in levels for lp in lvl] for op, levels in temporal.items()}
    ref = flat["O"]
    for op, loops in flat.items():
        if loops != ref:
            raise ZigzagImportError(f"layer {record.get('name')!r}: operand {op}'s loop nest "
                                    f"differs from O's; ZigZag's nest is one for all operands")
    tops: dict[str, int] = {}
    for op_l, levels in temporal.items():
        chain = conv.chains[op_of_layer[op_l]]
        if len(levels) != len(chain):
            raise ZigzagImportError(f"layer {record.get('name')!r}: {op_l} has {len(levels)} "
                                    f"temporal levels, the hierarchy {len(chain)} memories "
                                    f"{list(chain)}")
        acc = 0
        for mem, lvl in zip(chain, levels):
            acc += len(lvl)
            if mem in tops and tops[mem] != acc and mem != chain[-1]:
                raise ZigzagImportError(
                    f"layer {record.get('name')!r}: memory {mem!r} ends at loop {tops[mem]} "
                    f"for one operand and {acc} for {op_l}; one coforge level holds one tile "
                    f"boundary for all its operands")
            tops[mem] = len(ref) if mem == chain[-1] else acc
    # Level order: by segment (fanouts above), then top (outermost first), then file
    # order. A level below a fanout must not end outside a level above it; when the
    # default order of the array dimensions makes it so, the next orders are tried.
    file_rank = {m.name: i for i, m in enumerate(conv.memories)}
    hw_data, map_data = conv.data
    if hw_data is None:
        hw_data = hw if hw is not None else _read_yaml(Path(conv.source))[0]
    problem = ""
    for k, dim_order in enumerate(conv.dim_orders or ((),)):
        cand = conv if k == 0 else convert_zigzag_hierarchy(
            hw_data, map_data, source=conv.source, dim_order=dim_order)
        names = sorted(tops, key=lambda m: (cand.segment[m], -tops[m], -file_rank[m]))
        bad = [(a, b) for a in names for b in names
               if cand.segment[a] < cand.segment[b] and tops[a] < tops[b]]
        if not bad:
            break
        if not problem:
            a, b = bad[0]
            problem = (f"layer {record.get('name')!r}: {b!r} (below a fanout) holds loops up "
                       f"to {tops[b]}, outside {a!r}'s top {tops[a]}; a level below a fanout "
                       f"cannot own loops outer to a level above it, under any order of the "
                       f"array dimensions")
    else:
        raise ZigzagImportError(problem)
    if k:
        notes.append(f"fanouts ordered {list(dim_order)} for this mapping: "
                     + "; ".join(n for n in cand.notes if "no linear order" in n))
    rebuilt = convert_zigzag_hierarchy(hw_data, map_data, source=conv.source,
                                       order=tuple(names), dim_order=dim_order or None)
    hier, conv = rebuilt.hierarchy, rebuilt
    temporal_f: dict[str, dict[str, int]] = {}
    order_f: dict[str, list[str]] = {}
    for i, name in enumerate(names):
        lo = tops[names[i + 1]] if i + 1 < len(names) else 0
        loops = ref[lo:tops[name]]
        factors: dict[str, int] = {}
        outer_first: list[str] = []
        for d, f in reversed(loops):
            dim = _NEST_DIM[d]
            if dim in factors:
                notes.append(f"layer {record.get('name')!r}: {d} loops twice at {name!r}; "
                             f"merged into one factor")
            factors[dim] = factors.get(dim, 1) * math.ceil(f - 1e-9)   # uneven: ceiling
            if dim not in outer_first:
                outer_first.append(dim)
        temporal_f[name] = {d: f for d, f in factors.items() if f > 1}
        order_f[name] = outer_first
    unrolled: dict[str, int] = {}
    for lvl in spatial["O"]:
        for d, f in lvl:
            dim = _NEST_DIM[d]
            unrolled[dim] = unrolled.get(dim, 1) * math.ceil(f - 1e-9)
    spatial_f: dict[str, list[dict[str, int]]] = {f.name: [{} for _ in f.size]
                                                   for f in hier.fanouts}
    used: set[str] = set()
    for d, (fname, axis) in conv.axis_of.items():
        hinted = [_NEST_DIM[x] for x in conv.unrolls[d]]
        for dim in hinted:
            if dim in unrolled and dim not in used:
                spatial_f[fname][axis][dim] = unrolled[dim]
                used.add(dim)
    left = sorted(set(unrolled) - used)
    if left:
        raise ZigzagImportError(f"layer {record.get('name')!r}: ZigZag unrolls {left} on no "
                                f"array dimension the mapping file hints "
                                f"({dict(conv.unrolls)})")
    m = NestMapping.build(hier, temporal=temporal_f, spatial=spatial_f, order=order_f)
    return ZigzagLayerMapping(hierarchy=hier, mapping=m, notes=tuple(dict.fromkeys(notes)))


def zigzag_word_accesses(record: dict[str, Any], links: dict[str, str] | None = None
                         ) -> dict[str, dict[str, tuple[float, float]]]:
    """ZigZag's recorded accesses as ``{memory: {coforge operand: (reads, writes)}}`` in
    port-width words: reads = rd_out_to_low + rd_out_to_high, writes = wr_in_by_low +
    wr_in_by_high."""
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for op_l, per_mem in record["word_accesses"].items():
        op = _COFORGE_OF_LAYER_OP[op_l]
        for mem, d in per_mem.items():
            out.setdefault(mem, {})[op] = (d["rd_out_to_low"] + d["rd_out_to_high"],
                                           d["wr_in_by_low"] + d["wr_in_by_high"])
    return out


def hierarchy_word_accesses(result: Any, hier: Hierarchy, layer: Any
                            ) -> dict[str, dict[str, tuple[float, float]]]:
    """A :class:`sim.hier_cost.HierResult`'s accesses as ``{level: {operand: (reads,
    writes)}}`` in each level's words (elements x bits / ``word_bits``), with the widths
    :mod:`sim.hier_cost` prices (:func:`sim.hier_plan.access_bits`: a level's
    ``value_bits``, else partial sums at the accumulator width and the distinct final
    outputs written into the top level, and read for that from the level below it, at
    the output width)."""
    from sim.hier_plan import access_bits
    d_out = layer.N * layer.K * layer.P * layer.Q
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for i, lv in enumerate(hier.levels):
        for op, d in result.accesses[lv.name].items():
            rb, wb = access_bits(hier, layer, i, op, d["reads"], d["writes"], d_out)
            out.setdefault(lv.name, {})[op] = (rb / lv.word_bits, wb / lv.word_bits)
    return out


__all__ = ["ZigzagLayerMapping", "hierarchy_word_accesses", "zigzag_nest_mapping",
           "zigzag_word_accesses"]
