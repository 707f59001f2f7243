"""Convert a ZigZag accelerator description into a coforge :class:`~sim.spec.Accelerator`
(2-D arrays, 3 levels) or an N-level :class:`~sim.hierarchy.Hierarchy` (any ZigZag
non-IMC description: :func:`convert_zigzag_hierarchy`), and ZigZag's per-layer mappings
into :class:`~dataflows.nest_mapping.NestMapping` (:func:`zigzag_nest_mapping`).

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
represented (latency must be 1). Global buffers are double-buffered, which is what
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

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dataflows.dataflow import MAP_DIMS, OPERANDS, get_dataflow
from dataflows.errors import CoforgeError
from dataflows.nest_mapping import NestMapping
from sim.energy import DEFAULT_MULT_PJ, EnergyTable
from sim.hierarchy import Hierarchy
from sim.spec import Accelerator, Buffer, PEConfig
from sim.yaml_io import read_yaml_last_wins


class ZigzagImportError(CoforgeError):
    """The ZigZag description uses something coforge cannot represent, or is malformed."""


#: Keys ZigZag's accelerator schema allows (zigzag.parser.accelerator_validator).
_TOP_KEYS = ("name", "memories", "operational_array", "dataflows")
_MEMORY_KEYS = ("size", "r_cost", "w_cost", "area", "latency", "mem_type",
                "auto_cost_extraction", "operands", "ports", "served_dimensions",
                "force_double_buffering")
_PORT_KEYS = ("name", "type", "bandwidth_min", "bandwidth_max", "allocation")
_ARRAY_KEYS = ("dimensions", "sizes", "unit_energy", "unit_area", "is_imc",
               "systolic_dimensions", "input_precision", "imc_type", "adc_resolution",
               "bit_serial_precision")
#: ZigZag layer operand -> coforge operand; ZigZag's default memory operand links.
_LAYER_OPERAND = {"W": "weight", "I": "input", "O": "output"}
_DEFAULT_LINKS = {"O": "O", "W": "I2", "I": "I1"}
#: ZigZag loop dimensions -> the coforge dimension their unrolling corresponds to.
_DIM_CLASS = {"K": "K", "C": "C", "OX": "P", "OY": "P", "B": "P", "FX": "R", "FY": "R"}
#: (row class, column class) -> dataflow, and the reverse orientation.
_DATAFLOW_OF = {("C", "K"): "ws", ("P", "K"): "os", ("C", "P"): "is", ("R", "P"): "rs",
                ("R", "K"): "rs"}


@dataclass(frozen=True)
class ZigzagMemory:
    """One ZigZag memory as read from the file (sizes and widths in bits, costs in pJ)."""

    name: str
    size_bits: int
    r_cost_pj: float
    w_cost_pj: float
    operands: tuple[str, ...]
    read_bits: int                 # bandwidth_max of the port reading towards the array
    write_bits: int                # bandwidth_max of the port written from above
    min_bits: int                  # smallest bandwidth_min of those ports
    shared_port: bool              # one read_write port serves both directions
    served_dimensions: tuple[str, ...]

    @property
    def access_pj(self) -> float:
        """One access (mean of read and write: coforge has one cost per access)."""
        return (self.r_cost_pj + self.w_cost_pj) / 2


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


# -- reading ---------------------------------------------------------------------------
_WHAT = "a ZigZag hardware or mapping YAML"


def _read_yaml(path: Path) -> tuple[Any, list[str]]:
    """The file's data and its duplicate keys (``"key.path (lines a and
    b)"``), read by :func:`sim.yaml_io.read_yaml_last_wins`: ZigZag reads its files with
    ``yaml.safe_load``, where the last value wins, so coforge does too (and notes it)."""
    data, dups = read_yaml_last_wins(path, error=ZigzagImportError, what=_WHAT)
    return data, [str(d) for d in dups]


def _map(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ZigzagImportError(f"{where} must be a mapping, not {type(value).__name__}")
    return value


def _keys(data: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
    unknown = [k for k in data if k not in allowed]
    if unknown:
        raise ZigzagImportError(f"{where}: unknown key {unknown[0]!r}; ZigZag allows "
                                f"{list(allowed)}")


def _number(data: dict[str, Any], key: str, where: str, positive: bool = True) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) \
            or value < 0 or (positive and value == 0):
        need = "> 0" if positive else ">= 0"
        raise ZigzagImportError(f"{where}.{key} must be a number {need}, not {value!r}")
    return float(value)


def _parse_memory(name: str, data: object, where: str) -> ZigzagMemory:
    data = _map(data, where)
    _keys(data, _MEMORY_KEYS, where)
    for key in ("size", "operands", "ports", "served_dimensions", "latency"):
        if key not in data:
            raise ZigzagImportError(f"{where}.{key} is required")
    if data.get("auto_cost_extraction"):
        raise ZigzagImportError(f"{where}.auto_cost_extraction: costs from CACTI are not "
                                f"supported; give r_cost and w_cost (pJ per access)")
    size = data["size"]
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0 or size % 8:
        raise ZigzagImportError(f"{where}.size must be a positive whole number of bytes "
                                f"(in bits, a multiple of 8), not {size!r}")
    if data["latency"] != 1:
        raise ZigzagImportError(f"{where}.latency: coforge has no memory latency; only 1 "
                                f"is representable, not {data['latency']!r}")
    r_cost = _number(data, "r_cost", where, positive=False)
    w_cost = _number(data, "w_cost", where, positive=False)
    operands = data["operands"]
    if not isinstance(operands, list) or not operands \
            or any(op not in ("I1", "I2", "O") for op in operands):
        raise ZigzagImportError(f"{where}.operands must list memory operands from "
                                f"['I1', 'I2', 'O'], not {operands!r}")
    served = data["served_dimensions"]
    if not isinstance(served, list) or not all(isinstance(d, str) for d in served):
        raise ZigzagImportError(f"{where}.served_dimensions must be a list of array "
                                f"dimensions, not {served!r}")
    ports = data["ports"]
    if not isinstance(ports, list) or not ports:
        raise ZigzagImportError(f"{where}.ports must be a non-empty list of ports")
    read = write = None
    min_bits, shared = math.inf, False
    for i, port in enumerate(ports):
        pw = f"{where}.ports[{i}]"
        port = _map(port, pw)
        _keys(port, _PORT_KEYS, pw)
        if port.get("type") not in ("read", "write", "read_write"):
            raise ZigzagImportError(f"{pw}.type must be read, write or read_write, "
                                    f"not {port.get('type')!r}")
        bw_max = int(_number(port, "bandwidth_max", pw))
        bw_min = int(_number(port, "bandwidth_min", pw))
        alloc = port.get("allocation")
        if not isinstance(alloc, list) or not all(isinstance(a, str) for a in alloc):
            raise ZigzagImportError(f"{pw}.allocation must be a list like ['I1, tl'], "
                                    f"not {alloc!r}")
        dirs = {a.split(",")[1].strip() for a in alloc if "," in a}
        if "tl" in dirs and port["type"] != "write":
            read = max(read or 0, bw_max)
            min_bits = min(min_bits, bw_min)
        if "fh" in dirs and port["type"] != "read":
            write = max(write or 0, bw_max)
            min_bits = min(min_bits, bw_min)
        shared |= port["type"] == "read_write" and {"tl", "fh"} <= dirs
    if read is None or write is None:
        missing = "read ('<op>, tl')" if read is None else "write ('<op>, fh')"
        raise ZigzagImportError(f"{where}.ports: no {missing} port; coforge needs both")
    return ZigzagMemory(name=name, size_bits=size, r_cost_pj=r_cost, w_cost_pj=w_cost,
                        operands=tuple(operands), read_bits=read, write_bits=write,
                        min_bits=int(min_bits), shared_port=shared,
                        served_dimensions=tuple(served))


def _spatial_hint(mapping: object, hw: dict[str, Any], source: str,
                  mapping_source: str) -> tuple[dict[str, list[str]], dict[str, str], str]:
    """(spatial unrolling per array dimension, memory operand links, where it came from)."""
    if mapping is not None:
        if not isinstance(mapping, list):
            raise ZigzagImportError(f"{mapping_source}: a ZigZag mapping file is a list of "
                                    f"entries with a name, not {type(mapping).__name__}")
        entry = next((e for e in mapping if isinstance(e, dict) and e.get("name") == "default"),
                     None)
        if entry is None:
            raise ZigzagImportError(f"{mapping_source}: no entry named 'default' (the one "
                                    f"ZigZag uses for Conv and Gemm layers)")
        where = f"{mapping_source}: default"
        spatial = _map(entry.get("spatial_mapping"), f"{where}.spatial_mapping")
        links = entry.get("memory_operand_links", _DEFAULT_LINKS)
        links = _map(links, f"{where}.memory_operand_links")
        return spatial, dict(links), f"{where}.spatial_mapping"
    if "dataflows" in hw:
        return _map(hw["dataflows"], f"{source}: dataflows"), dict(_DEFAULT_LINKS), \
            f"{source}: dataflows"
    raise ZigzagImportError(f"{source}: no spatial unrolling given; pass the ZigZag mapping "
                            f"file (its 'default' spatial_mapping) or add 'dataflows'")


def _dataflow(spatial: dict[str, Any], dims: list[str], sizes: list[int],
              where: str) -> tuple[str, int, int]:
    """(dataflow, rows, cols): the array dimension carrying the dataflow's row loop
    becomes the rows."""
    classes: dict[str, str] = {}
    for dim in dims:
        entries = spatial.get(dim, [])
        if not isinstance(entries, list) or len(entries) != 1 or not isinstance(entries[0], str):
            raise ZigzagImportError(f"{where}.{dim}: coforge unrolls exactly one layer "
                                    f"dimension per array side, not {entries!r}")
        layer_dim = entries[0].split(",")[0].strip()
        if layer_dim not in _DIM_CLASS:
            raise ZigzagImportError(f"{where}.{dim}: unrolling {layer_dim!r} has no coforge "
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

    spatial, links, hint_where = _spatial_hint(mapping, hw, source, mapping_source)
    dataflow, rows, cols = _dataflow(spatial, arr.dims, arr.sizes, hint_where)
    stationary = get_dataflow(dataflow).stationary
    if sorted(links) != ["I", "O", "W"]:
        raise ZigzagImportError(f"{hint_where}: memory_operand_links must link W, I and O, "
                                f"not {sorted(links)}")
    mem_op = {_LAYER_OPERAND[k]: v for k, v in links.items()}          # coforge -> I1/I2/O

    raw = _map(hw["memories"], f"{source}: memories")
    mems = tuple(_parse_memory(n, d, f"{source}: memories.{n}") for n, d in raw.items())
    h = _hierarchy(mems, arr.dims, mem_op, source)
    if stationary not in h.pe:
        raise ZigzagImportError(f"{source}: memories: dataflow {dataflow!r} keeps {stationary}s "
                                f"in the PEs, but no memory with served_dimensions [] holds "
                                f"{mem_op[stationary]}")
    rf = _rf(h, stationary, mem_op, notes)
    glb = _glbs(h, rows * cols, mem_op, notes)
    dram = h.dram
    _rw_note(dram, notes)
    if dram.shared_port:
        notes.append(f"memories.{dram.name}: one read_write port of {dram.read_bits} bits/cycle "
                     f"serves both directions; coforge gives reads and writes "
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
    return ZigzagConversion(accelerator=accel, memories=mems, level_of=h.level_of,
                            links={op: mem_op[op] for op in OPERANDS}, notes=tuple(notes),
                            source=source)


def zoo_layer_name(node_name: str) -> str:
    """coforge zoo name of a layer ZigZag names by its torchvision ONNX node.

    ``/layer2/layer2.0/downsample/downsample.0/Conv`` -> ``layer2.0.downsample``;
    ``/conv1/Conv`` -> ``conv1``; ``/fc/Gemm`` -> ``fc``. Each path segment that
    extends the previous one (``layer2`` -> ``layer2.0``) replaces it; the operator
    type (last segment) is dropped; the zoo calls a ``downsample.0`` conv ``downsample``.
    """
    path: list[str] = []
    for seg in node_name.strip("/").split("/")[:-1]:
        if path and seg.startswith(path[-1] + "."):
            path[-1] = seg
        else:
            path.append(seg)
    if not path:
        raise ZigzagImportError(f"layer {node_name!r}: not a '/module/.../Op' ONNX node name")
    return ".".join(path).replace("downsample.0", "downsample")


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
            or not dims or not all(isinstance(s, int) and s >= 1 for s in sizes):
        raise ZigzagImportError(f"{where}: dimensions and sizes must be non-empty lists of "
                                f"equal length (sizes positive integers)")
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
    per word; not double-buffered: LOMA fits whole tiles). Each array dimension becomes a
    fanout axis (pairs of adjacent dimensions one 2-D fanout, multicast of every operand,
    spatial reduction of partial sums, dims = the mapping file's unrolling hint, all
    dimensions without one). A memory sits below the array dimensions it does not serve
    and above those it does (``served_dimensions``); the dimension order is chosen so
    that this holds for as many memories as possible, the others (non-nested sharing,
    e.g. edge_tpu_like's weight register shared along D3, D4 and output register along
    D2) sit below every dimension they do not serve and are noted. Between two fanouts
    the levels follow ``order`` (memory names, outermost first) or the reverse file
    order; see :func:`zigzag_nest_mapping` for the order one mapping needs (``dim_order``
    overrides the order of the array dimensions). MACs cost
    ``unit_energy``; partial sums move at twice the operand width (ZigZag's ONNX
    partial-sum precision).
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
    links = dict(_DEFAULT_LINKS)
    if mapping is not None or "dataflows" in hw:
        spatial, links, hint_where = _spatial_hint(mapping, hw, source, mapping_source)
        for d, entries in spatial.items():
            if d not in dims:
                raise ZigzagImportError(f"{hint_where}.{d}: not a dimension of the "
                                        f"operational array {dims}")
            if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
                raise ZigzagImportError(f"{hint_where}.{d} must be a list like ['K, 32'], "
                                        f"not {entries!r}")
            layer_dims = tuple(e.split(",")[0].strip() for e in entries)
            bad = [x for x in layer_dims if x not in _NEST_DIM]
            if bad:
                raise ZigzagImportError(f"{hint_where}.{d}: unrolling {bad[0]!r} has no "
                                        f"coforge counterpart; allowed: {sorted(_NEST_DIM)}")
            unrolls[d] = layer_dims
    if sorted(links) != ["I", "O", "W"]:
        raise ZigzagImportError(f"{mapping_source}: memory_operand_links must link W, I and "
                                f"O, not {sorted(links)}")
    mem_op = {_COFORGE_OF_LAYER_OP[k]: v for k, v in links.items()}     # coforge -> I1/I2/O
    op_of = {v: k for k, v in mem_op.items()}

    raw = _map(hw["memories"], f"{source}: memories")
    mems = tuple(_parse_memory(n, d, f"{source}: memories.{n}") for n, d in raw.items())
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
            nodes.append(StorageLevel(
                name=m.name, keeps=tuple(op_of[o] for o in m.operands),
                capacity_bytes=None if n == top else max(1, m.size_bits // 8),
                word_bits=m.read_bits, read_bytes_per_cycle=m.read_bits / 8,
                write_bytes_per_cycle=m.write_bits / 8, read_pj=m.r_cost_pj,
                write_pj=m.w_cost_pj, ports=max(1, len(raw[n].get("ports", [])))))
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
                            dims=tuple(fdims), multicast=OPERANDS, reduction=True))
        seg += len(pair)
    name = str(hw["name"])
    hier = Hierarchy(name=f"zigzag_{name}", nodes=tuple(nodes),
                     compute=Compute(mac_pj=unit_pj, accumulator_bits=2 * operand_bits),
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
    :mod:`sim.hier_cost` prices: partial sums at the accumulator width, except the
    distinct final outputs written into the top level (and read for that from the level
    below it) at the output width."""
    acc, ob = hier.compute.accumulator_bits, layer.precision.output_bits
    bits = {"weight": layer.precision.weight_bits, "input": layer.precision.input_bits,
            "output": acc}
    d_out = layer.N * layer.K * layer.P * layer.Q
    chain = [i for i, lv in enumerate(hier.levels) if "output" in lv.keeps]
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for i, lv in enumerate(hier.levels):
        for op, d in result.accesses[lv.name].items():
            rb, wb = d["reads"] * bits[op], d["writes"] * bits[op]
            if op == "output" and i == 0:
                wb -= d_out * (acc - ob)
            if op == "output" and len(chain) > 1 and i == chain[1]:
                rb -= d_out * (acc - ob)
            out.setdefault(lv.name, {})[op] = (rb / lv.word_bits, wb / lv.word_bits)
    return out


__all__ = ["ZigzagConversion", "ZigzagHierarchy", "ZigzagImportError", "ZigzagLayerMapping",
           "ZigzagMemory", "convert_zigzag", "convert_zigzag_hierarchy", "hierarchy_word_accesses",
           "load_zigzag",
           "load_zigzag_hierarchy", "zigzag_nest_mapping", "zigzag_to_accelerator",
           "zigzag_word_accesses", "zoo_layer_name"]
