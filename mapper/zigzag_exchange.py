"""ZigZag's recorded per-layer mappings costed with ZigZag's per-operand access rules.

:func:`operand_nest` turns one recorded layer (a ``layers[i]`` entry of
``benchmarks/zigzag_runner.py``'s JSON: per operand the memories, the temporal loops
per memory and the spatial loops per arch level) and the ZigZag hardware YAML into a
:class:`sim.hier_cost_zigzag.OperandNest` and the port widths;
:func:`exchange_word_accesses` costs it with :func:`sim.hier_cost_zigzag.word_accesses`.
The layer's strides and unpadded input size come from coforge's :class:`Layer` (the zoo
layer ZigZag's ONNX node names, :func:`mapper.zigzag_import.zoo_layer_name`), never
from ZigZag's results.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dataflows.layer import Layer
from sim.hier_cost_zigzag import DIRS, OperandNest, word_accesses

#: ZigZag port allocation directions -> data directions.
_DIR = {"tl": "rd_out_to_low", "fl": "wr_in_by_low", "th": "rd_out_to_high",
        "fh": "wr_in_by_high"}
_DEFAULT_LINKS = {"O": "O", "W": "I2", "I": "I1"}


def zigzag_ports(hw: dict[str, Any], links: dict[str, str] | None = None
                 ) -> dict[str, dict[str, dict[str, tuple[int, int]]]]:
    """``{memory: {W|I|O: {direction: (bandwidth_max, bandwidth_min)}}}`` from the
    hardware YAML's port allocations (``'I1, tl'`` ...), memory operands linked to
    layer operands by ``links`` (layer -> memory operand; ZigZag's default)."""
    links = links or _DEFAULT_LINKS
    layer_of = {v: k for k, v in links.items()}
    out: dict[str, dict[str, dict[str, tuple[int, int]]]] = {}
    for name, mem in hw["memories"].items():
        per = out.setdefault(name, {})
        for port in mem["ports"]:
            for alloc in port.get("allocation", []):
                mop, d = (x.strip() for x in alloc.split(","))
                if mop in layer_of:
                    per.setdefault(layer_of[mop], {})[_DIR[d]] = (
                        int(port["bandwidth_max"]), int(port["bandwidth_min"]))
    return out


def _loops(record: dict[str, Any], key: str) -> dict[str, list[list[tuple[str, float]]]]:
    return {op: [[(str(d), float(f)) for d, f in lvl] for lvl in levels]
            for op, levels in record[key].items()}


def operand_nest(record: dict[str, Any], layer: Layer) -> OperandNest:
    """The recorded layer's mapping as an :class:`OperandNest` (sizes from the record's
    ``loop_sizes``, strides/dilations and the unpadded input from ``layer``)."""
    prec = record["operand_precision"]
    return OperandNest(
        memories={op: tuple(m) for op, m in record["memory_levels"].items()},
        temporal=_loops(record, "temporal_loops"), spatial=_loops(record, "spatial_loops"),
        loop_sizes={k: int(v) for k, v in record["loop_sizes"].items()},
        scale={"IX": (layer.stride_w, layer.dilation_w), "IY": (layer.stride_h,
                                                                layer.dilation_h)},
        pr_sizes={"IX": layer.W, "IY": layer.H},
        bits={"W": prec["W"], "I": prec["I"], "O": prec["O"], "O_final": prec["O_final"]})


def exchange_word_accesses(record: dict[str, Any], layer: Layer, hw: dict[str, Any],
                           links: dict[str, str] | None = None
                           ) -> dict[str, dict[str, dict[str, float]]]:
    """coforge's ``{W|I|O: {memory: {direction: words}}}`` for the recorded mapping."""
    return word_accesses(operand_nest(record, layer), zigzag_ports(hw, links))


def compare(record: dict[str, Any], ours: dict[str, dict[str, dict[str, float]]]
            ) -> list[tuple[str, str, str, float, float]]:
    """(operand, memory, direction, coforge, ZigZag) of every count that differs."""
    out = []
    for op, per in record["word_accesses"].items():
        for mem, d in per.items():
            for k in DIRS:
                if abs(ours[op][mem][k] - d[k]) > 1e-6:
                    out.append((op, mem, k, ours[op][mem][k], d[k]))
    return out


def load_hardware(path: str | Path) -> dict[str, Any]:
    """The hardware YAML as ZigZag reads it (``yaml.safe_load``: a repeated key's last
    value wins; see :mod:`mapper.zigzag_import`)."""
    from mapper.zigzag_read import _read_yaml
    return _read_yaml(Path(path))[0]


__all__ = ["compare", "exchange_word_accesses", "load_hardware", "operand_nest",
           "zigzag_ports"]
