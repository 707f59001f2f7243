"""A ZigZag accelerator description as an N-level :class:`~sim.hierarchy.Hierarchy`
(:func:`convert_zigzag_hierarchy`, :func:`load_zigzag_hierarchy`); the rules are in
:func:`convert_zigzag_hierarchy`'s docstring. Importable from :mod:`mapper.zigzag_import`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dataflows.dataflow import MAP_DIMS, OPERANDS
from mapper.zigzag_read import (
    _ARRAY_KEYS, _DEFAULT_LINKS, _TOP_KEYS, ZigzagImportError, ZigzagMemory, _keys, _map,
    _number, _parse_memory, _read_yaml, latency_notes, _spatial_hint)
from sim.hierarchy import Hierarchy


# -- the N-level conversion (sim.hierarchy) ----------------------------------------------
#: ZigZag loop dimensions -> coforge's MAP_DIMS (OY/OX output rows/cols, FY/FX filter).
_NEST_DIM = {"G": "G", "B": "N", "K": "K", "C": "C", "OY": "P", "OX": "Q", "FY": "R",
             "FX": "S"}
_COFORGE_OF_LAYER_OP = {"W": "weight", "I": "input", "O": "output"}


@dataclass(frozen=True)
class ZigzagHierarchy:
    """A ZigZag description as a :class:`sim.hierarchy.Hierarchy`, with the bookkeeping
    the mapping exchange needs.

    ``chains`` maps each coforge operand to the ZigZag memories holding it, innermost
    first (ZigZag's file order); ``axis_of`` maps each array dimension (``D1``...) to
    ``(fanout name, axis)``; ``unrolls`` maps it to the layer dimensions the mapping
    file's ``default`` entry unrolls there (empty without a mapping file); ``segment``
    gives each memory the number of fanouts above it.
    """

    hierarchy: Hierarchy
    memories: tuple[ZigzagMemory, ...]
    chains: dict[str, tuple[str, ...]]
    axis_of: dict[str, tuple[str, int]]
    unrolls: dict[str, tuple[str, ...]]
    segment: dict[str, int]
    links: dict[str, str]
    notes: tuple[str, ...]
    source: str
    dim_orders: tuple[tuple[str, ...], ...] = ()
    data: tuple[Any, Any] = (None, None)


def _nest_array(hw: dict[str, Any], source: str) -> tuple[list[str], list[int], float, int]:
    where = f"{source}: operational_array"
    arr = _map(hw["operational_array"], where)
    _keys(arr, _ARRAY_KEYS, where)
    if arr.get("is_imc"):
        raise ZigzagImportError(f"{where}.is_imc: in-memory-compute arrays have no coforge "
                                f"counterpart")
    dims, sizes = arr.get("dimensions"), arr.get("sizes")
    if not isinstance(dims, list) or not isinstance(sizes, list) or len(dims) != len(sizes) \
            or not dims or not all(isinstance(s, int) and s >= 1 for s in sizes) \
            or not all(isinstance(d, str) for d in dims) or len(set(dims)) != len(dims):
        raise ZigzagImportError(f"{where}: dimensions and sizes must be non-empty lists of "
                                f"equal length (dimensions distinct names, sizes positive "
                                f"integers)")
    precision = arr.get("input_precision", [8, 8])
    if not isinstance(precision, list) or len(precision) != 2 \
            or not all(isinstance(b, int) and not isinstance(b, bool) for b in precision):
        raise ZigzagImportError(f"{where}.input_precision must be two integers (bits), "
                                f"not {precision!r}")
    return dims, sizes, _number(arr, "unit_energy", where, positive=False), max(precision)


def _dim_orders(dims: list[str], mems: tuple[ZigzagMemory, ...]) -> list[tuple[str, ...]]:
    """Every order of the array dimensions (outermost first), those under which most
    memories are shared along exactly their ``served_dimensions`` (a suffix of the
    order) first; ties in permutation order of the file's dimensions."""
    import itertools

    def exact(perm: tuple[str, ...]) -> int:
        return sum(1 for m in mems if set(m.served_dimensions) == set(
            perm[len(perm) - len(m.served_dimensions):]))
    perms = list(itertools.permutations(dims))
    return sorted(perms, key=lambda p: -exact(p))


def convert_zigzag_hierarchy(hw: object, mapping: object = None, *,
                             source: str = "<hardware>", mapping_source: str = "<mapping>",
                             clock_mhz: float = 200.0, duplicates: tuple[str, ...] = (),
                             order: tuple[str, ...] | None = None,
                             dim_order: tuple[str, ...] | None = None) -> ZigzagHierarchy:
    """Convert parsed ZigZag YAML into an N-level hierarchy.

    Rules: every ZigZag memory becomes one :class:`~sim.hierarchy.StorageLevel` (same
    name; keeps the coforge operands of its memory operands; capacity ``size / 8``
    bytes, ``None`` for the top memory; ``word_bits`` the bandwidth_max of the port
    reading towards the array, which is the word ZigZag counts accesses in; read/write
    bandwidth those ports' bandwidth_max / 8; ``read_pj``/``write_pj`` = r_cost/w_cost
    per word; double-buffered only with ``force_double_buffering``, noted: LOMA fits
    whole tiles otherwise). Each array dimension becomes a
    fanout axis (pairs of adjacent dimensions one 2-D fanout, multicast of every operand,
    spatial reduction of partial sums, dims = the layer dimensions the mapping file's
    ``default`` entry unrolls there: its ``spatial_mapping``, else its
    ``spatial_mapping_hint``, else all, as ZigZag's generator; see
    :func:`mapper.zigzag_read._spatial_hint`). A memory sits below the array dimensions
    it does not serve and above those it does (``served_dimensions``); the dimension
    order is chosen so that this holds for as many memories as possible, the others
    (non-nested sharing, e.g. edge_tpu_like's weight register shared along D3, D4 and
    output register along D2) sit below every dimension they do not serve and are
    noted. Between two fanouts the levels follow ``order`` (memory names, outermost
    first) or the reverse file order; see :func:`zigzag_nest_mapping` for the order one
    mapping needs (``dim_order`` overrides the order of the array dimensions). MACs cost
    ``unit_energy``; partial sums move at twice the operand width (ZigZag's ONNX
    partial-sum precision); the innermost output memory counts the partial sums it
    drains up and is refilled with besides the MACs' read-modify-writes
    (``compute.psum_access: separate``: ZigZag's ``rd_out_to_high``/``wr_in_by_high``).
    """
    from sim.hierarchy import Compute, Fanout, Hierarchy, StorageLevel

    hw = _map(hw, source)
    _keys(hw, _TOP_KEYS, source)
    for key in ("name", "memories", "operational_array"):
        if key not in hw:
            raise ZigzagImportError(f"{source}: missing required key {key!r}")
    notes = [f"key {d} is given twice; the last value is used, as yaml.safe_load "
             f"(ZigZag's reader) does" for d in duplicates]
    dims, sizes, unit_pj, operand_bits = _nest_array(hw, source)
    unrolls: dict[str, tuple[str, ...]] = {d: () for d in dims}
    caps: dict[str, dict[str, int]] = {d: {} for d in dims}   # per array dim, coforge dim
    links = dict(_DEFAULT_LINKS)
    if mapping is not None or "dataflows" in hw:
        spatial, links, _, paths = _spatial_hint(mapping, hw, source, mapping_source)
        for d, entries in spatial.items():
            if d not in dims:
                raise ZigzagImportError(f"{paths[d]}: not a dimension of the "
                                        f"operational array {dims}")
            if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
                raise ZigzagImportError(f"{paths[d]} must be a list like ['K, 32'], "
                                        f"not {entries!r}")
            layer_dims = tuple(e.split(",")[0].strip() for e in entries)
            bad = [x for x in layer_dims if x not in _NEST_DIM]
            if bad:
                raise ZigzagImportError(f"{paths[d]}: unrolling {bad[0]!r} has no "
                                        f"coforge counterpart (not a ZigZag conv/ONNX layer "
                                        f"dimension; a custom workload's dimension names "
                                        f"cannot be matched); use one of {sorted(_NEST_DIM)}")
            unrolls[d] = layer_dims
            size = sizes[dims.index(d)]
            for e in entries:               # 'K, 32': ZigZag unrolls K by exactly 32
                parts = [x.strip() for x in e.split(",")]
                if len(parts) == 2 and parts[1].isdigit() and int(parts[1]) >= 1:
                    nd = _NEST_DIM[parts[0]]
                    caps[d][nd] = caps[d].get(nd, 1) * int(parts[1])
            if any(v < size for v in caps[d].values()):
                notes.append(f"{paths[d]}: ZigZag unrolls exactly {entries} on the "
                             f"{size}-wide {d} (clipped to a layer's size); the fanout "
                             f"caps those factors (max_factors {caps[d]}), so coforge's "
                             f"search unrolls at most them there")
    if sorted(links) != ["I", "O", "W"]:
        raise ZigzagImportError(f"{mapping_source}: memory_operand_links must link W, I and "
                                f"O, not {sorted(links)}")
    mem_op = {_COFORGE_OF_LAYER_OP[k]: v for k, v in links.items()}     # coforge -> I1/I2/O
    op_of = {v: k for k, v in mem_op.items()}

    raw = _map(hw["memories"], f"{source}: memories")
    mems = tuple(_parse_memory(n, d, f"{source}: memories.{n}") for n, d in raw.items())
    notes.extend(latency_notes(mems))
    everyone = set(dims)
    for m in mems:
        bad = [d for d in m.served_dimensions if d not in everyone]
        if bad:
            raise ZigzagImportError(f"{source}: memories.{m.name}.served_dimensions: "
                                    f"{bad[0]!r} is not an array dimension {dims}")
        unknown = [o for o in m.operands if o not in op_of]
        if unknown:
            raise ZigzagImportError(f"{source}: memories.{m.name}.operands: {unknown[0]!r} "
                                    f"is linked to no layer operand ({links})")
    chains = {op: tuple(m.name for m in mems if mem_op[op] in m.operands) for op in OPERANDS}
    for op in OPERANDS:
        if not chains[op]:
            raise ZigzagImportError(f"{source}: memories: no memory holds {mem_op[op]} "
                                    f"({op}s)")
    top = chains[OPERANDS[0]][-1]
    if any(chains[op][-1] != top for op in OPERANDS):
        raise ZigzagImportError(f"{source}: memories: the top memory must hold every operand; "
                                f"the chains end in {[chains[o][-1] for o in OPERANDS]}")
    by_name = {m.name: m for m in mems}
    top_mem = by_name[top]
    if set(top_mem.served_dimensions) != everyone:
        notes.append(f"memories.{top}: serves {list(top_mem.served_dimensions)}, not the whole "
                     f"array {dims}; the top level is one instance above every fanout")
        top_mem = ZigzagMemory(**{**top_mem.__dict__, "served_dimensions": tuple(dims)})
        by_name[top] = top_mem
        mems = tuple(top_mem if m.name == top else m for m in mems)
    orders = _dim_orders(dims, mems)
    if dim_order is not None and sorted(dim_order) != sorted(dims):
        raise ZigzagImportError(f"{source}: dim_order {list(dim_order)} must order the array "
                                f"dimensions {dims}")
    dim_order = list(dim_order or orders[0])
    rank = {d: i for i, d in enumerate(dim_order)}
    segment: dict[str, int] = {}
    for m in mems:
        above = [rank[d] for d in dims if d not in m.served_dimensions]
        seg = max(above) + 1 if above else 0
        if set(dim_order[seg:]) != set(m.served_dimensions):
            theirs = math.prod(s for d, s in zip(dims, sizes) if d not in m.served_dimensions)
            notes.append(f"memories.{m.name}: shared along {list(m.served_dimensions)}, which "
                         f"no linear order of fanouts gives together with the other "
                         f"memories' sharing; it sits below {dim_order[:seg]} "
                         f"({math.prod(sizes[dims.index(d)] for d in dim_order[:seg])} "
                         f"instances, ZigZag: "
                         f"{theirs})")
        segment[m.name] = seg
    names = list(order) if order is not None else [m.name for m in reversed(mems)]
    if sorted(names) != sorted(by_name):
        raise ZigzagImportError(f"{source}: level order {names} must name every memory "
                                f"{sorted(by_name)} once")
    levels_by_seg: dict[int, list[str]] = {}
    for n in names:
        levels_by_seg.setdefault(segment[n], []).append(n)
    for op in OPERANDS:                       # each operand's chain stays bottom-up
        pos = [(segment[n], names.index(n)) for n in chains[op]]
        if pos != sorted(pos, reverse=True):
            raise ZigzagImportError(f"{source}: level order {names} puts {op}s' memories "
                                    f"{list(chains[op])} out of ZigZag's bottom-up order")
    axis_of: dict[str, tuple[str, int]] = {}
    nodes: list[Any] = []
    seg, n_dims = 0, len(dim_order)
    while True:
        for n in levels_by_seg.get(seg, []):
            m = by_name[n]
            db = raw[n].get("force_double_buffering", False)
            if not isinstance(db, bool):
                raise ZigzagImportError(f"{source}: memories.{n}.force_double_buffering must "
                                        f"be true or false, not {db!r}")
            db = db and n != top
            if db:
                notes.append(f"memories.{n}: force_double_buffering: a tile may use half its "
                             f"capacity (ZigZag's LOMA also lets one tile holding all the "
                             f"remaining loops use the whole memory)")
            nodes.append(StorageLevel(
                name=m.name, keeps=tuple(op_of[o] for o in m.operands),
                capacity_bytes=None if n == top else max(1, m.size_bits // 8),
                word_bits=m.read_bits, read_bytes_per_cycle=m.read_bits / 8,
                write_bytes_per_cycle=m.write_bits / 8, read_pj=m.r_cost_pj,
                write_pj=m.w_cost_pj, ports=max(1, len(raw[n].get("ports", []))),
                double_buffered=db))
            if m.write_bits != m.read_bits:
                notes.append(f"memories.{n}: writes are {m.write_bits}-bit words, reads "
                             f"{m.read_bits}-bit; the level counts both in {m.read_bits}-bit "
                             f"words")
        if seg == n_dims:
            break
        pair = [dim_order[seg]]
        if seg + 1 < n_dims and not levels_by_seg.get(seg + 1):
            pair.append(dim_order[seg + 1])
        fname = "x".join(pair)
        fdims = []
        for i, d in enumerate(pair):
            axis_of[d] = (fname, i)
            hinted = tuple(dict.fromkeys(_NEST_DIM[x] for x in unrolls[d]))
            fdims.append(hinted or tuple(MAP_DIMS))
        nodes.append(Fanout(name=fname, size=tuple(sizes[dims.index(d)] for d in pair),
                            dims=tuple(fdims), multicast=OPERANDS, reduction=True,
                            max_factors=tuple(caps[d] for d in pair)))
        seg += len(pair)
    name = str(hw["name"])
    hier = Hierarchy(name=f"zigzag_{name}", nodes=tuple(nodes),
                     compute=Compute(mac_pj=unit_pj, accumulator_bits=2 * operand_bits,
                                     psum_access="separate"),   # rd_out_to_high, wr_in_by_high
                     clock_mhz=clock_mhz,
                     description=f"ZigZag '{name}' converted by mapper.zigzag_import "
                                 f"({source})")
    return ZigzagHierarchy(hierarchy=hier, memories=mems, chains=chains, axis_of=axis_of,
                           unrolls=unrolls, segment=segment,
                           links={op: mem_op[op] for op in OPERANDS}, notes=tuple(notes),
                           source=source, dim_orders=tuple(orders), data=(hw, mapping))


def load_zigzag_hierarchy(hardware: str | Path, mapping: str | Path | None = None, *,
                          clock_mhz: float = 200.0,
                          order: tuple[str, ...] | None = None) -> ZigzagHierarchy:
    """Read a ZigZag hardware YAML (and its mapping YAML) into an N-level hierarchy."""
    hw_path = Path(hardware)
    hw, dups = _read_yaml(hw_path)
    mp = None
    if mapping is not None:
        mp, mdups = _read_yaml(Path(mapping))
        dups = dups + [f"{Path(mapping).name}: {d}" for d in mdups]
    return convert_zigzag_hierarchy(
        hw, mp, source=str(hw_path),
        mapping_source=str(mapping) if mapping is not None else "<mapping>",
        clock_mhz=clock_mhz, duplicates=tuple(dups), order=order)


__all__ = ["ZigzagHierarchy", "convert_zigzag_hierarchy", "load_zigzag_hierarchy"]
