"""Convert a ZigZag accelerator description into a coforge :class:`~sim.spec.Accelerator`
(2-D arrays, 3 levels) or an N-level :class:`~sim.hierarchy.Hierarchy` (any ZigZag
non-IMC description: :func:`convert_zigzag_hierarchy`), and ZigZag's per-layer mappings
into :class:`~dataflows.nest_mapping.NestMapping` (:func:`zigzag_nest_mapping`).

This module holds the 3-level conversion; the others live in :mod:`mapper.zigzag_read`
(reading and validating the YAML), :mod:`mapper.zigzag_hierarchy` (the N-level
conversion), :mod:`mapper.zigzag_mapping` (recorded mappings as nest mappings) and
:mod:`mapper.zigzag_exchange` (ZigZag's mappings costed with its per-operand rules,
:mod:`sim.hier_cost_zigzag`: exact to ZigZag's access counts); their public names are
importable from here.

ZigZag (KU Leuven, ``pip install zigzag-dse``) describes hardware in two YAML files,
read here as data (ZigZag itself is never imported):

* the *hardware* file -- ``memories`` (size in bits, ``r_cost``/``w_cost`` in pJ per
  access of one port-width word, ports with ``bandwidth_min``/``bandwidth_max`` in
  bits/cycle, the memory operands ``I1``/``I2``/``O`` they hold and the array
  dimensions each instance is shared along, ``served_dimensions``) and
  ``operational_array`` (dimensions ``D1, D2, ...``, their sizes, ``unit_energy`` pJ
  per MAC);
* the *mapping* file -- per operator type a ``spatial_mapping`` hint (which layer
  dimension is unrolled on which array dimension) and ``memory_operand_links``
  (layer operand ``W``/``I``/``O`` -> memory operand).

Translation (ZigZag -> coforge):

* array: the two ``operational_array`` dimensions become rows and columns, oriented
  by the dataflow below (rows = the dimension carrying C for ws/is, P for os, R for rs);
* dataflow, from the ``default`` entry's spatial unrolling (or the hardware file's
  ``dataflows``): {C, K} -> ``ws``; {OX|OY|B, K} -> ``os``; {C, OX|OY|B} -> ``is``;
  {FX|FY, anything} -> ``rs``. ZigZag unrolls the conv loops themselves, coforge's
  systolic dataflows their im2col GEMM (C = C*R*S, P = N*P*Q), so "C on rows" means
  the same array wiring with a longer reduction;
* memories, per operand in ZigZag's bottom-up (file) order: the memory with
  ``served_dimensions: []`` (one per PE) holding the dataflow's stationary operand
  is the coforge ``rf``; a memory shared by the whole array below the top is a
  ``glb`` buffer (operands grouped as in ZigZag); the top memory (holding every
  operand) is DRAM. Capacities are ``size / 8`` bytes, bandwidths ``bandwidth_max /
  8`` bytes/cycle of the port serving the array side (reads ``tl``, writes ``fh``),
  ``word_bits`` the port width, ``access_pj`` the per-word cost, DRAM's
  ``dram_pj_per_bit`` the per-word cost over the port width;
* energy: ``mult_pj`` = ``unit_energy`` at every width up to the operand width and
  ``add_pj_per_bit`` = 0, so one coforge MAC costs exactly ZigZag's ``unit_energy``;
* PE datapath: operands ``input_precision`` bits (else 8, ZigZag's ONNX default),
  accumulator twice that (ZigZag's partial-sum precision for ONNX layers).

Approximations (each recorded in :attr:`ZigzagConversion.notes` when it applies):
a read cost differing from the write cost becomes their mean (coforge has one cost
per access); an operand with no global-level memory (tpu_like's weights go from DRAM
straight into the PE registers) gets a pass-through GLB holding the aggregate of its
PE memories, with zero access energy so nothing is counted twice; PE memories of
non-stationary operands are not separate levels (coforge charges every operand's
PE-level traffic at the rf's cost per bit); a read/write DRAM port shared by both
directions becomes equal read and write bandwidths; access granularity
(``bandwidth_min``), ``area``, ``systolic_dimensions`` and ``latency`` are not
represented (a latency other than 1 is noted; ZigZag 3.9.1's cost model never reads
it either). A memory whose
operands are read towards the array through ports of different widths is refused (one
word width per level). Global buffers are double-buffered, which is what
ZigZag assumes whenever a tile fills at most half of a memory. A key given twice in
the YAML keeps its last value, as ``yaml.safe_load`` (ZigZag's reader) does -- the one
documented exception to coforge's duplicate-key rule (:mod:`sim.yaml_io`) -- and is
recorded in the notes with its key path and both lines.

Anything with no coforge counterpart raises :class:`ZigzagImportError`, one line
naming the file and the field: in-memory-compute arrays, arrays of other than two
dimensions, mixed spatial unrolling, memories shared along part of the array, two
global levels for one operand, costs left to CACTI, and the like.
"""


from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dataflows.dataflow import OPERANDS, get_dataflow
from mapper.zigzag_hierarchy import (  # noqa: F401  (re-exported)
    ZigzagHierarchy, convert_zigzag_hierarchy, load_zigzag_hierarchy)
from mapper.zigzag_mapping import (  # noqa: F401  (re-exported)
    ZigzagLayerMapping, hierarchy_word_accesses, zigzag_nest_mapping, zigzag_word_accesses)
from mapper.zigzag_read import (  # noqa: F401  (re-exported)
    _ARRAY_KEYS, _DEFAULT_LINKS, _LAYER_OPERAND, _TOP_KEYS, ZigzagImportError, ZigzagMemory,
    _keys, _map, _number, _parse_memory, _read_yaml, latency_notes, _spatial_hint, zoo_layer_name)
from sim.energy import DEFAULT_MULT_PJ, EnergyTable
from sim.spec import Accelerator, Buffer, PEConfig, SpecError

#: ZigZag loop dimensions -> the coforge dimension their unrolling corresponds to.
_DIM_CLASS = {"K": "K", "C": "C", "OX": "P", "OY": "P", "B": "P", "FX": "R", "FY": "R"}
#: (row class, column class) -> dataflow, and the reverse orientation.
_DATAFLOW_OF = {("C", "K"): "ws", ("P", "K"): "os", ("C", "P"): "is", ("R", "P"): "rs",
                ("R", "K"): "rs"}



@dataclass(frozen=True)
class ZigzagConversion:
    """A converted description: the spec, where each ZigZag memory went, the caveats.

    ``level_of`` maps every ZigZag memory name to ``"pe"``, ``"glb"`` or ``"dram"``;
    ``links`` maps coforge operands to ZigZag memory operands; ``notes`` lists every
    approximation that applied, one sentence each.
    """

    accelerator: Accelerator
    memories: tuple[ZigzagMemory, ...]
    level_of: dict[str, str]
    links: dict[str, str]
    notes: tuple[str, ...]
    source: str


def _dataflow(spatial: dict[str, Any], dims: list[str], sizes: list[int],
              where: str, paths: dict[str, str] | None = None) -> tuple[str, int, int]:
    """(dataflow, rows, cols): the array dimension carrying the dataflow's row loop
    becomes the rows. ``paths``: each array dimension's key path (default
    ``<where>.<dim>``)."""
    paths = paths or {}
    classes: dict[str, str] = {}
    for dim in dims:
        entries = spatial.get(dim, [])
        path = paths.get(dim, f"{where}.{dim}")
        if not isinstance(entries, list) or len(entries) != 1 or not isinstance(entries[0], str):
            raise ZigzagImportError(f"{path}: coforge unrolls exactly one layer "
                                    f"dimension per array side, not {entries!r}")
        layer_dim = entries[0].split(",")[0].strip()
        if layer_dim not in _DIM_CLASS:
            raise ZigzagImportError(f"{path}: unrolling {layer_dim!r} has no coforge "
                                    f"counterpart; allowed: {sorted(_DIM_CLASS)}")
        classes[dim] = _DIM_CLASS[layer_dim]
    extra = [d for d in spatial if d not in dims]
    if extra:
        raise ZigzagImportError(f"{where}.{extra[0]}: not a dimension of the operational "
                                f"array {dims}")
    a, b = dims
    for row, col in ((a, b), (b, a)):
        name = _DATAFLOW_OF.get((classes[row], classes[col]))
        if name is not None:
            size = dict(zip(dims, sizes))
            return name, size[row], size[col]
    raise ZigzagImportError(
        f"{where}: unrolling {classes[a]} on {a} and {classes[b]} on {b} matches no coforge "
        f"dataflow; allowed pairs: (C, K) ws, (OX|OY|B, K) os, (C, OX|OY|B) is, (FX|FY, *) rs")


# -- conversion -------------------------------------------------------------------------
@dataclass(frozen=True)
class _Array:
    dims: list[str]
    sizes: list[int]
    unit_pj: float
    operand_bits: int


@dataclass(frozen=True)
class _Hierarchy:
    """Per coforge operand: its per-PE and global ZigZag memories; the DRAM."""

    dram: ZigzagMemory
    pe: dict[str, ZigzagMemory]
    glb: dict[str, ZigzagMemory]
    first: dict[str, ZigzagMemory]          # the memory the array reads it from
    level_of: dict[str, str]


def _array(hw: dict[str, Any], source: str, notes: list[str]) -> _Array:
    where = f"{source}: operational_array"
    arr = _map(hw["operational_array"], where)
    _keys(arr, _ARRAY_KEYS, where)
    if arr.get("is_imc"):
        raise ZigzagImportError(f"{where}.is_imc: in-memory-compute arrays have no coforge "
                                f"counterpart")
    dims, sizes = arr.get("dimensions"), arr.get("sizes")
    if not isinstance(dims, list) or not isinstance(sizes, list) or len(dims) != len(sizes):
        raise ZigzagImportError(f"{where}: dimensions and sizes must be lists of equal length")
    if not all(isinstance(d, str) for d in dims) or len(set(dims)) != len(dims) \
            or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in sizes):
        raise ZigzagImportError(f"{where}: dimensions must be distinct names (D1, D2) and "
                                f"sizes positive integers, not {dims!r} and {sizes!r}")
    if len(dims) != 2:
        raise ZigzagImportError(f"{where}.dimensions: coforge arrays are 2-D (rows x cols), "
                                f"not {len(dims)}-D {dims}")
    unit_pj = _number(arr, "unit_energy", where, positive=False)
    precision = arr.get("input_precision", [8, 8])
    if not isinstance(precision, list) or len(precision) != 2 \
            or not all(isinstance(b, int) and not isinstance(b, bool) for b in precision):
        raise ZigzagImportError(f"{where}.input_precision must be two integers (bits), "
                                f"not {precision!r}")
    if arr.get("systolic_dimensions"):
        notes.append("operational_array.systolic_dimensions: ZigZag adds one drain cycle per "
                     "unit along them per layer; coforge's ws timing has its own fill/drain "
                     "per tile")
    return _Array(dims, sizes, unit_pj, max(precision))


def _hierarchy(mems: tuple[ZigzagMemory, ...], dims: list[str], mem_op: dict[str, str],
               source: str) -> _Hierarchy:
    """Sort each operand's memories (ZigZag's file order is bottom-up) into rf/glb/dram."""
    everyone = set(dims)
    for m in mems:
        bad = [d for d in m.served_dimensions if d not in everyone]
        if bad:
            raise ZigzagImportError(f"{source}: memories.{m.name}.served_dimensions: {bad[0]!r} "
                                    f"is not an array dimension {dims}")
        if m.served_dimensions and set(m.served_dimensions) != everyone:
            raise ZigzagImportError(
                f"{source}: memories.{m.name}.served_dimensions: {list(m.served_dimensions)} "
                f"shares one instance along part of the array; coforge has per-PE (rf) and "
                f"whole-array (glb) memories only")
    chain = {op: [m for m in mems if mem_op[op] in m.operands] for op in OPERANDS}
    for op in OPERANDS:
        if not chain[op]:
            raise ZigzagImportError(f"{source}: memories: no memory holds {mem_op[op]} "
                                    f"({op}s)")
    dram = chain[OPERANDS[0]][-1]
    for op in OPERANDS:
        if chain[op][-1] is not dram:
            raise ZigzagImportError(f"{source}: memories: the top memory must hold every "
                                    f"operand; {op}s end in {chain[op][-1].name!r}, weights "
                                    f"in {dram.name!r}")
    if not dram.served_dimensions:
        raise ZigzagImportError(f"{source}: memories.{dram.name}: the top memory (DRAM) must "
                                f"serve the whole array")
    level_of = {dram.name: "dram"}
    pe: dict[str, ZigzagMemory] = {}
    glb: dict[str, ZigzagMemory] = {}
    for op in OPERANDS:
        below = chain[op][:-1]
        per_pe = [m for m in below if not m.served_dimensions]
        shared = [m for m in below if m.served_dimensions]
        if below[:len(per_pe)] != per_pe:
            raise ZigzagImportError(f"{source}: memories.{per_pe[-1].name}: a per-PE memory "
                                    f"above a shared one ({op}s); coforge's rf is innermost")
        if len(per_pe) > 1:
            raise ZigzagImportError(f"{source}: memories.{per_pe[1].name}: {op}s have two "
                                    f"per-PE memories ({per_pe[0].name}, {per_pe[1].name}); "
                                    f"coforge has one register file level")
        if len(shared) > 1:
            raise ZigzagImportError(f"{source}: memories.{shared[1].name}: {op}s have two "
                                    f"global levels ({shared[0].name}, {shared[1].name}); "
                                    f"coforge has one GLB level per operand")
        if not below:
            raise ZigzagImportError(f"{source}: memories: {mem_op[op]} has neither a per-PE "
                                    f"nor a global memory between DRAM and the array")
        for m, kind, table in ((per_pe, "pe", pe), (shared, "glb", glb)):
            if m:
                table[op] = m[0]
                level_of[m[0].name] = kind
    return _Hierarchy(dram, pe, glb, {op: chain[op][0] for op in OPERANDS}, level_of)


def _rw_note(m: ZigzagMemory, notes: list[str]) -> None:
    if m.r_cost_pj != m.w_cost_pj:
        notes.append(f"memories.{m.name}: r_cost {m.r_cost_pj:g} and w_cost "
                     f"{m.w_cost_pj:g} pJ become one access cost of {m.access_pj:g} pJ "
                     f"(their mean)")


def _rf(h: _Hierarchy, stationary: str, mem_op: dict[str, str], notes: list[str]) -> Buffer:
    """The stationary operand's per-PE memory; notes on how the others are priced."""
    m = h.pe[stationary]
    _rw_note(m, notes)
    rf = Buffer(m.name, operands=(stationary,), capacity_bytes=m.size_bits // 8,
                word_bits=m.read_bits, read_bytes_per_cycle=m.read_bits / 8,
                write_bytes_per_cycle=m.write_bits / 8, access_pj=m.access_pj)
    for op in OPERANDS:
        other = h.pe.get(op)
        if other is None:
            notes.append(f"memories: {mem_op[op]} has no per-PE memory (the array reads it "
                         f"from {h.first[op].name}); coforge still charges {op} reads at "
                         f"the PE level at {rf.pj_per_bit():.4g} pJ/bit")
        elif other is not m:
            notes.append(f"memories.{other.name}: the per-PE {mem_op[op]} memory is not a "
                         f"separate level; coforge charges {op} traffic at the PE level at "
                         f"{m.name}'s {rf.pj_per_bit():.4g} pJ/bit (ZigZag: "
                         f"{other.access_pj / other.read_bits:.4g} pJ/bit)")
    return rf


def _glbs(h: _Hierarchy, pes: int, mem_op: dict[str, str],
          notes: list[str]) -> tuple[Buffer, ...]:
    """One double-buffered GLB per shared ZigZag memory; a pass-through for bypassers."""
    out: list[Buffer] = []
    for m in dict.fromkeys(h.glb.values()):
        _rw_note(m, notes)
        ops = tuple(op for op in OPERANDS if h.glb.get(op) is m)
        out.append(Buffer(m.name, operands=ops, capacity_bytes=m.size_bits // 8,
                          word_bits=m.read_bits, read_bytes_per_cycle=m.read_bits / 8,
                          write_bytes_per_cycle=m.write_bits / 8, double_buffered=True,
                          access_pj=m.access_pj))
        if m.min_bits < m.read_bits:
            notes.append(f"memories.{m.name}: accesses narrower than the "
                         f"{m.read_bits}-bit port (down to bandwidth_min {m.min_bits}) cost "
                         f"their share of a word in coforge; ZigZag rounds up to "
                         f"{m.min_bits}-bit units")
    for op in OPERANDS:
        if op in h.glb:
            continue
        m = h.pe[op]
        name, nbytes = f"{m.name}_x{pes}", pes * m.size_bits // 8
        out.append(Buffer(name, operands=(op,), capacity_bytes=nbytes, word_bits=m.write_bits,
                          read_bytes_per_cycle=pes * m.read_bits / 8,
                          write_bytes_per_cycle=pes * m.write_bits / 8,
                          double_buffered=True, access_pj=0.0))
        notes.append(f"memories: {mem_op[op]} goes from {h.dram.name} straight into "
                     f"{m.name}; coforge stages {op}s in a pass-through GLB {name!r} (the "
                     f"{pes} {m.name}s together: {nbytes} B, zero access energy)")
    return tuple(out)


def convert_zigzag(hw: object, mapping: object = None, *, source: str = "<hardware>",
                   mapping_source: str = "<mapping>", clock_mhz: float = 200.0,
                   duplicates: tuple[str, ...] = ()) -> ZigzagConversion:
    """Convert parsed ZigZag YAML data (see the module docstring for the rules)."""
    hw = _map(hw, source)
    _keys(hw, _TOP_KEYS, source)
    for key in ("name", "memories", "operational_array"):
        if key not in hw:
            raise ZigzagImportError(f"{source}: missing required key {key!r}")
    notes = [f"key {d} is given twice; the last value is used, as yaml.safe_load "
             f"(ZigZag's reader) does" for d in duplicates]
    arr = _array(hw, source, notes)

    spatial, links, hint_where, paths = _spatial_hint(mapping, hw, source, mapping_source)
    dataflow, rows, cols = _dataflow(spatial, arr.dims, arr.sizes, hint_where, paths)
    stationary = get_dataflow(dataflow).stationary
    if sorted(links) != ["I", "O", "W"]:
        raise ZigzagImportError(f"{hint_where}: memory_operand_links must link W, I and O, "
                                f"not {sorted(links)}")
    mem_op = {_LAYER_OPERAND[k]: v for k, v in links.items()}          # coforge -> I1/I2/O

    raw = _map(hw["memories"], f"{source}: memories")
    mems = tuple(_parse_memory(n, d, f"{source}: memories.{n}") for n, d in raw.items())
    notes.extend(latency_notes(mems))
    h = _hierarchy(mems, arr.dims, mem_op, source)
    if stationary not in h.pe:
        raise ZigzagImportError(f"{source}: memories: dataflow {dataflow!r} keeps {stationary}s "
                                f"in the PEs, but no memory with served_dimensions [] holds "
                                f"{mem_op[stationary]}")
    try:
        rf = _rf(h, stationary, mem_op, notes)
        glb = _glbs(h, rows * cols, mem_op, notes)
        dram = h.dram
        _rw_note(dram, notes)
        if dram.shared_port:
            notes.append(f"memories.{dram.name}: one read_write port of {dram.read_bits} "
                         f"bits/cycle serves both directions; coforge gives reads and writes "
                         f"{dram.read_bits // 8} B/cycle each")
        dram_buf = Buffer(dram.name, capacity_bytes=0, word_bits=dram.read_bits,
                          read_bytes_per_cycle=dram.read_bits / 8,
                          write_bytes_per_cycle=dram.write_bits / 8)
        # Widths above the datapath's never run; they keep coforge's defaults (as a YAML
        # spec's partial mult_pj table does), so the spec round-trips through YAML.
        mult = DEFAULT_MULT_PJ | {b: arr.unit_pj for b in DEFAULT_MULT_PJ if b <= arr.operand_bits}
        energy = EnergyTable(mult_pj=mult, add_pj_per_bit=0.0,
                             dram_pj_per_bit=dram.access_pj / dram.read_bits)
        name = str(hw["name"])
        accel = Accelerator(
            name=f"zigzag_{name}", rows=rows, cols=cols, dataflow=dataflow, clock_mhz=clock_mhz,
            pe=PEConfig(operand_bits=arr.operand_bits, accumulator_bits=2 * arr.operand_bits),
            rf=rf, glb=glb, dram=dram_buf, energy=energy,
            description=f"ZigZag '{name}' converted by mapper.zigzag_import ({source})")
    except SpecError as err:          # a limit of the 3-level spec, not of the file
        raise ZigzagImportError(f"{source}: {err}: a limit of the 3-level spec; "
                                f"load_zigzag_hierarchy (coforge import zigzag) converts "
                                f"it as a hierarchy") from None
    return ZigzagConversion(accelerator=accel, memories=mems, level_of=h.level_of,
                            links={op: mem_op[op] for op in OPERANDS}, notes=tuple(notes),
                            source=source)


def load_zigzag(hardware: str | Path, mapping: str | Path | None = None, *,
                clock_mhz: float = 200.0) -> ZigzagConversion:
    """Read a ZigZag hardware YAML (and its mapping YAML) and convert it.

    ZigZag descriptions carry no clock; ``clock_mhz`` only sets coforge's
    milliseconds, never its cycle counts.
    """
    hw_path = Path(hardware)
    hw, dups = _read_yaml(hw_path)
    mp = None
    if mapping is not None:
        mp, mdups = _read_yaml(Path(mapping))
        dups = dups + [f"{Path(mapping).name}: {d}" for d in mdups]
    return convert_zigzag(hw, mp, source=str(hw_path),
                          mapping_source=str(mapping) if mapping is not None else "<mapping>",
                          clock_mhz=clock_mhz, duplicates=tuple(dups))


def zigzag_to_accelerator(hardware: str | Path, mapping: str | Path | None = None, *,
                          clock_mhz: float = 200.0) -> Accelerator:
    """The coforge spec of a ZigZag description (see :func:`load_zigzag`)."""
    return load_zigzag(hardware, mapping, clock_mhz=clock_mhz).accelerator


__all__ = ["ZigzagConversion", "ZigzagHierarchy", "ZigzagImportError", "ZigzagLayerMapping",
           "ZigzagMemory", "convert_zigzag", "convert_zigzag_hierarchy", "hierarchy_word_accesses",
           "load_zigzag",
           "load_zigzag_hierarchy", "zigzag_nest_mapping", "zigzag_to_accelerator",
           "zigzag_word_accesses", "zoo_layer_name"]
