"""Reading ZigZag YAML files: the error type, the schema's keys, one memory's fields,
the mapping file's spatial hint and links, and zoo names of ZigZag's ONNX layers.

Shared by the 3-level conversion (:mod:`mapper.zigzag_import`), the N-level one
(:mod:`mapper.zigzag_hierarchy`) and the mapping exchange (:mod:`mapper.zigzag_mapping`,
:mod:`mapper.zigzag_exchange`); see :mod:`mapper.zigzag_import` for the rules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dataflows.errors import CoforgeError
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
    latency: int = 1               # cycles; not represented (see latency_notes)

    @property
    def access_pj(self) -> float:
        """One access (mean of read and write: coforge has one cost per access)."""
        return (self.r_cost_pj + self.w_cost_pj) / 2



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
    latency = data["latency"]
    if not isinstance(latency, int) or isinstance(latency, bool) or latency < 1:
        raise ZigzagImportError(f"{where}.latency must be an integer number of cycles >= 1 "
                                f"(ZigZag's validator requires an integer), not {latency!r}")
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
    read_width: dict[str, int] = {}          # memory operand -> widest port reading it down
    for i, port in enumerate(ports):
        pw = f"{where}.ports[{i}]"
        port = _map(port, pw)
        _keys(port, _PORT_KEYS, pw)
        if port.get("type") not in ("read", "write", "read_write"):
            raise ZigzagImportError(f"{pw}.type must be read, write or read_write, "
                                    f"not {port.get('type')!r}")
        for key in ("bandwidth_max", "bandwidth_min"):       # ZigZag's schema: integers
            v = port.get(key)
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ZigzagImportError(f"{pw}.{key} must be a whole number > 0 of bits per "
                                        f"cycle, not {v!r}")
        bw_max, bw_min = port["bandwidth_max"], port["bandwidth_min"]
        alloc = port.get("allocation")
        if not isinstance(alloc, list) or not all(isinstance(a, str) for a in alloc):
            raise ZigzagImportError(f"{pw}.allocation must be a list like ['I1, tl'], "
                                    f"not {alloc!r}")
        dirs = {a.split(",")[1].strip() for a in alloc if "," in a}
        if "tl" in dirs and port["type"] != "write":
            read = max(read or 0, bw_max)
            min_bits = min(min_bits, bw_min)
            for a in alloc:
                op, _, d = (x.strip() for x in a.partition(","))
                if d == "tl":
                    read_width[op] = max(read_width.get(op, 0), bw_max)
        if "fh" in dirs and port["type"] != "read":
            write = max(write or 0, bw_max)
            min_bits = min(min_bits, bw_min)
        shared |= port["type"] == "read_write" and {"tl", "fh"} <= dirs
    if len(set(read_width.values())) > 1:
        raise ZigzagImportError(f"{where}.ports: its operands are read towards the array "
                                f"through ports of different widths {read_width} (bits); "
                                f"coforge counts and prices one word width per level: give "
                                f"their ports one bandwidth_max")
    if read is None or write is None:
        missing = "read ('<op>, tl')" if read is None else "write ('<op>, fh')"
        raise ZigzagImportError(f"{where}.ports: no {missing} port; coforge needs both")
    return ZigzagMemory(name=name, size_bits=size, r_cost_pj=r_cost, w_cost_pj=w_cost,
                        operands=tuple(operands), read_bits=read, write_bits=write,
                        min_bits=int(min_bits), shared_port=shared,
                        served_dimensions=tuple(served), latency=latency)


def latency_notes(mems: tuple[ZigzagMemory, ...]) -> list[str]:
    """A note per memory whose ``latency`` is not 1: coforge does not represent a memory
    latency, and neither does ZigZag 3.9.1's cost model (``MemoryInstance`` stores it and
    compares it in ``__eq__``; nothing else reads it), so no figure changes."""
    return [f"memories.{m.name}: latency {m.latency} is not represented (ZigZag 3.9.1's cost "
            f"model never reads it either: no figure changes)" for m in mems if m.latency != 1]


#: ONNX operator types of the layers coforge maps (ZigZag's Conv and Gemm parsers name a
#: layer's operator by its ONNX ``op_type``).
_MAPPED_OPS = ("Conv", "Gemm", "MatMul")
_ENTRY_KEYS = ("spatial_mapping", "spatial_mapping_hint", "memory_operand_links")


def _spatial_hint(mapping: object, hw: dict[str, Any], source: str, mapping_source: str
                  ) -> tuple[dict[str, list[str]], dict[str, str], str, dict[str, str]]:
    """(unrolling per array dimension, memory operand links, where it came from, the key
    path of each array dimension's entry).

    ZigZag (``parser/mapping_factory.py``) picks a layer's mapping entry by layer name,
    then operator type, then ``default``; coforge reads ``default`` and refuses a
    ``Conv``/``Gemm``/``MatMul`` entry that differs from it (those would apply to the
    layers coforge maps). Per array dimension, the entry's ``spatial_mapping`` fixes the
    unrolled layer dimensions; a dimension it leaves out is unrolled by ZigZag's
    generator over its ``spatial_mapping_hint`` (``['K']``: layer dimensions without
    factors), else over every layer dimension (``SpatialMappingHint
    .complete_with_defaults``). Hints for dimensions the array does not have are never
    read by ZigZag and are dropped here too.
    """
    if mapping is not None:
        if not isinstance(mapping, list):
            raise ZigzagImportError(f"{mapping_source}: a ZigZag mapping file is a list of "
                                    f"entries with a name, not {type(mapping).__name__}")
        entry = next((e for e in mapping if isinstance(e, dict) and e.get("name") == "default"),
                     None)
        if entry is None:
            raise ZigzagImportError(f"{mapping_source}: no entry named 'default' (the one "
                                    f"ZigZag uses for Conv and Gemm layers)")
        for e in mapping:
            if isinstance(e, dict) and e.get("name") in _MAPPED_OPS and any(
                    e.get(k) != entry.get(k) for k in _ENTRY_KEYS):
                k = next(k for k in _ENTRY_KEYS if e.get(k) != entry.get(k))
                raise ZigzagImportError(
                    f"{mapping_source}: {e['name']}.{k}: ZigZag maps {e['name']} layers "
                    f"with this entry, not 'default', and coforge's import has one spatial "
                    f"hint for every layer; make it equal to default's or remove the entry")
        where = f"{mapping_source}: default"
        fixed = entry.get("spatial_mapping")
        fixed = {} if fixed is None else _map(fixed, f"{where}.spatial_mapping")
        hint = entry.get("spatial_mapping_hint")
        hint = {} if hint is None else _map(hint, f"{where}.spatial_mapping_hint")
        arr = hw.get("operational_array")
        dims = arr.get("dimensions") if isinstance(arr, dict) else None
        dims = dims if isinstance(dims, list) else list(hint)
        spatial: dict[str, Any] = {}
        paths: dict[str, str] = {}
        for d, v in hint.items():
            if d in dims and d not in fixed:
                spatial[d] = v
                paths[d] = f"{where}.spatial_mapping_hint.{d}"
        for d, v in fixed.items():
            spatial[d] = v
            paths[d] = f"{where}.spatial_mapping.{d}"
        links = entry.get("memory_operand_links", _DEFAULT_LINKS)
        links = _map(links, f"{where}.memory_operand_links")
        for k, v in links.items():
            if not isinstance(v, str):
                raise ZigzagImportError(f"{where}.memory_operand_links.{k} must name a memory "
                                        f"operand (I1, I2 or O), not {v!r}")
        return spatial, dict(links), f"{where}.spatial_mapping", paths
    if "dataflows" in hw:
        spatial = _map(hw["dataflows"], f"{source}: dataflows")
        return spatial, dict(_DEFAULT_LINKS), f"{source}: dataflows", \
            {d: f"{source}: dataflows.{d}" for d in spatial}
    raise ZigzagImportError(f"{source}: no spatial unrolling given; pass the ZigZag mapping "
                            f"file (its 'default' spatial_mapping) or add 'dataflows'")



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



__all__ = ["ZigzagImportError", "ZigzagMemory", "zoo_layer_name"]
