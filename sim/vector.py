"""Non-GEMM operators (softmax, norms, activations, RoPE, residual adds, pooling) on the
spec's vector unit (:class:`sim.spec.VectorUnit`), in closed form.

Every passive node of a network (``kind`` ``elementwise`` or ``pool``, zero MACs) runs
on the vector unit as one or more operator kinds (:func:`vector_ops`). For a node with
``out`` output elements and ``in`` input elements (the output elements of the nodes
that feed it in the graph, summed; its own ``out`` when nothing feeds it or it is
costed alone), each kind ``op`` processes ``e = in`` elements for ``pool`` (one
compare/add per element of the window) and ``e = out`` for every other kind, and:

* ``compute_cycles = ceil(sum over ops of ceil(e / lanes) * cycles_per_element[op])``;
* the unit streams its operands from the GLB holding ``input`` and its results to the
  GLB holding ``output`` (``read_bytes = ceil(in * input_bits / 8)``, ``write_bytes =
  ceil(out * output_bits / 8)``), overlapped with its lanes, so
  ``total_cycles = max(compute_cycles, ceil(max(read_bytes / read_bytes_per_cycle,
  write_bytes / write_bytes_per_cycle)))`` and ``stall_cycles = total - compute``
  (a GLB port slower than the lanes);
* ``energy_pj = sum over ops of e * energy_pj_per_op[op]`` (level ``vector``) ``+
  (read_bytes * 8) * pJ/bit of the input GLB + (write_bytes * 8) * pJ/bit of the output
  GLB`` (level ``glb``). No DRAM traffic: the operands are the neighbouring layers'
  activations, taken as resident in the GLB.

Both fidelities use this same closed form (a cycle-fidelity result books its stall as
``glb_bandwidth``). Without a vector unit nothing is costed and reports say
:data:`NO_VECTOR_UNIT` instead of showing zeros.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from dataflows.dataflow import OPERANDS
from dataflows.errors import CoforgeError
from dataflows.layer import PASSIVE_KINDS, Layer
from dataflows.network import Network
from sim.cycle.supply import CAUSES
from sim.result import NetworkResult, Result
from sim.spec import VECTOR_OPS, Accelerator

#: What result.json and the report say for a spec without a vector unit.
NO_VECTOR_UNIT: str = NetworkResult.vector_unit   # "none: non-GEMM operators not costed"

#: Operator kinds of a passive node by the last part of its name (after the last
#: ``.``), first match wins: (test on the lower-cased name part, kinds). Norms take
#: the ``norm`` argument of :func:`vector_ops` (``layernorm`` unless told).
_NAME_RULES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("in", "softmax", ("softmax",)),
    ("in", "rope", ("rope",)),
    ("in", "silu_mul", ("silu", "mul")),        # SwiGLU: silu(gate) * up
    ("in", "silu", ("silu",)),
    ("in", "gelu", ("gelu",)),
    ("in", "relu", ("relu",)),
    ("in", "rmsnorm", ("rmsnorm",)),
    ("eq", "embed_tokens", ("copy",)),          # embedding gather
    ("eq", "embeddings", ("add", "add", "layernorm")),  # BERT: 3 lookups summed + LN
    ("in", "embed", ("add",)),                  # ViT: class token + position add
    ("in", "norm", ("<norm>",)),
    ("eq", "ln", ("<norm>",)),
    ("start", "add", ("add",)),
    ("start", "mul", ("mul",)),
)


class VectorError(CoforgeError):
    """A non-GEMM operator cannot be costed (not a passive node, unknown kind)."""


def vector_ops(layer: Layer, norm: str = "layernorm") -> tuple[str, ...]:
    """The vector-unit operator kinds of passive node ``layer``: ``pool`` for pooling,
    else from its name (:data:`_NAME_RULES`); an elementwise node no rule names (e.g.
    an ONNX ``Add``/``Mul`` join) is one ``add``."""
    if layer.kind not in PASSIVE_KINDS:
        raise VectorError(f"layer {layer.name!r} is a {layer.kind!r} layer; only passive "
                          f"nodes {sorted(PASSIVE_KINDS)} run on the vector unit")
    if norm not in ("layernorm", "rmsnorm"):
        raise VectorError(f"norm must be 'layernorm' or 'rmsnorm', not {norm!r}")
    if layer.kind == "pool":
        return ("pool",)
    part = layer.name.rsplit(".", 1)[-1].lower()
    for how, text, ops in _NAME_RULES:
        if (how == "in" and text in part) or (how == "eq" and part == text) \
                or (how == "start" and part.startswith(text)):
            return tuple(norm if op == "<norm>" else op for op in ops)
    return ("add",)


def _zeros() -> dict[str, dict[str, dict[str, int]]]:
    return {lv: {op: {"reads": 0, "writes": 0} for op in OPERANDS}
            for lv in ("pe", "glb", "dram")}


def vector_layer(layer: Layer, accel: Accelerator, input_elems: int | None = None,
                 ops: tuple[str, ...] | None = None, fidelity: str = "analytic",
                 timing: str = "native") -> Result:
    """Cost passive node ``layer`` on ``accel.vector`` (module docstring). ``input_elems``
    defaults to the node's output elements; ``ops`` to :func:`vector_ops`."""
    unit = accel.vector
    if unit is None:
        raise VectorError(f"{accel.name!r} has no vector unit ({NO_VECTOR_UNIT}); add a "
                          f"'vector:' section to the spec (sim/spec_io.py)")
    ops = ops if ops is not None else vector_ops(layer)
    bad = [op for op in ops if op not in VECTOR_OPS]
    if bad or not ops:
        raise VectorError(f"layer {layer.name!r}: vector operator kinds must be a non-empty "
                          f"list from {list(VECTOR_OPS)}, not {list(ops)!r}")
    out = layer.output_elems
    inp = out if input_elems is None else input_elems
    if not isinstance(inp, int) or isinstance(inp, bool) or inp < 1:
        raise VectorError(f"layer {layer.name!r}: input_elems must be a positive integer, "
                          f"not {inp!r}")
    lane_cycles = 0.0
    op_pj = 0.0
    for op in ops:
        e = inp if op == "pool" else out
        lane_cycles += math.ceil(e / unit.lanes) * unit.cycles_per_element[op]
        op_pj += e * unit.energy_pj_per_op[op]
    compute = math.ceil(lane_cycles)
    src, dst = accel.glb_for("input"), accel.glb_for("output")
    read_bytes = (inp * layer.precision.input_bits + 7) // 8
    write_bytes = (out * layer.precision.output_bits + 7) // 8
    port = max(read_bytes / src.read_bytes_per_cycle, write_bytes / dst.write_bytes_per_cycle)
    total = max(compute, math.ceil(port))
    glb_pj = read_bytes * 8 * src.pj_per_bit() + write_bytes * 8 * dst.pj_per_bit()
    accesses, nbytes = _zeros(), _zeros()
    accesses["glb"]["input"]["reads"] = inp
    accesses["glb"]["output"]["writes"] = out
    nbytes["glb"]["input"]["reads"] = read_bytes
    nbytes["glb"]["output"]["writes"] = write_bytes
    causes = None
    if fidelity == "cycle":
        causes = {c: 0 for c in CAUSES} | {"glb_bandwidth": total - compute}
    return Result(
        layer=layer.name, macs=0, compute_cycles=compute, stall_cycles=total - compute,
        total_cycles=total, utilization=0.0, energy_pj=op_pj + glb_pj,
        energy_pj_by_level={"mac": 0.0, "pe": 0.0, "glb": glb_pj, "dram": 0.0,
                            "vector": op_pj},
        accesses=accesses, bytes=nbytes, tiles=0, iterations=compute,
        timing=timing, fidelity=fidelity, mapping={}, stall_cycles_by_cause=causes,
        kind=layer.kind, vector_ops=ops)


def network_vector(net: Network, accel: Accelerator, fidelity: str = "analytic",
                   timing: str = "native",
                   ops: Mapping[str, tuple[str, ...]] | None = None,
                   norm: str = "layernorm") -> dict[str, Result]:
    """:func:`vector_layer` of every passive node of ``net`` by name, each node's input
    elements from the nodes feeding it in the graph; ``ops`` overrides the kinds of named
    nodes, ``norm`` is the kind of its norm nodes (:func:`vector_ops`)."""
    ops = ops or {}
    out: dict[str, Result] = {}
    for layer in net.nodes():
        if layer.kind not in PASSIVE_KINDS:
            continue
        preds = [net[p] for p in net.graph.predecessors(layer.name)]
        inp = sum(p.output_elems for p in preds) or None
        out[layer.name] = vector_layer(layer, accel, inp,
                                       ops.get(layer.name) or vector_ops(layer, norm),
                                       fidelity, timing)
    return out


def with_vector_layers(net: Network, accel: Accelerator, results: Sequence[Result],
                       fidelity: str = "analytic", timing: str = "native",
                       ops: Mapping[str, tuple[str, ...]] | None = None,
                       norm: str = "layernorm") -> tuple[Result, ...]:
    """``results`` (one per compute layer of ``net``, in :meth:`Network.layers` order)
    with the passive nodes' vector results (:func:`network_vector`) inserted in graph
    order; unchanged without a vector unit."""
    if accel.vector is None:
        return tuple(results)
    vec = network_vector(net, accel, fidelity, timing, ops, norm)
    arrays = iter(results)
    return tuple(vec[n.name] if n.name in vec else next(arrays) for n in net.nodes())


def vector_unit_line(accel: Accelerator) -> str:
    """The ``vector_unit`` entry of result.json: :data:`NO_VECTOR_UNIT` or the unit."""
    if accel.vector is None:
        return NO_VECTOR_UNIT
    return (f"{accel.vector.lanes} lanes: non-GEMM operators costed (sim/vector.py), "
            f"reading and writing the GLB")


__all__ = ["NO_VECTOR_UNIT", "VectorError", "network_vector", "vector_layer", "vector_ops",
           "vector_unit_line", "with_vector_layers"]
