"""Apply a :class:`~dataflows.compress.plan.CompressionPlan` to a model: a new, smaller
:class:`~dataflows.onnx_model.Model` that every executor (float reference, integer
engine) and :func:`dataflows.model_network.model_network` (the cost model's workload)
take like any other.

:func:`compress_model` is pure: the input model is not modified; nodes are rebuilt with
:func:`dataclasses.replace`. Per MAC layer (by its Layer name, ``Conv.layer_name``) and in
this order:

1. **Filter pruning** (``filters`` = kept fraction, to a multiple of ``filter_multiple``;
   :func:`~dataflows.compress.prune.select_filters` keeps the largest L1 norms): the
   layer's output channels are removed (weight rows and bias), and so are the matching
   channels of every node they flow through -- Relu, Clip, MaxPool, AveragePool,
   GlobalAveragePool and depthwise Convs (their filters, channel multiplier kept) -- up
   to the next MAC layers, whose input channels are removed; through a Flatten (or a
   Reshape to one dimension) into a Gemm the blocks of ``H*W`` feature columns of the
   removed channels go. Every affected node's ``out_shape`` shrinks. Layers are processed
   in graph order, so a consumer that is itself filter-pruned chooses its filters from
   its already-shrunk weight.
2. **Pruning** (``prune``): the weight tensor is replaced by its pruned copy (zeros kept,
   shapes unchanged).
3. **Low-rank factorization** (``rank``): a Gemm becomes two Gemms (SVD); a 1x1 Conv two
   1x1 Convs (SVD; stride/padding on the first); a K x K Conv three Convs (Tucker-2: 1x1,
   K x K core with the stride/padding/dilation, 1x1) or, with ``lowrank="spatial"``, two
   (R x 1 then 1 x S, the height parts of stride/padding/dilation on the first). The new
   nodes are ``<node>.lr0``, ``.lr1``, ... with ``layer_name`` ``<layer>.lr0``, ... -- the
   names :func:`~dataflows.compress.lowrank.factorized_layers` gives -- and intermediate
   tensors ``<output>.lr0``, ...; the bias (and the folded BN/Add record) is on the last
   factor, whose output is the original tensor, so at full rank the model's outputs are
   reproduced. Factor weights keep the original weight's dtype.

Errors (:class:`CompressionError`, one line naming the layer and why): a plan name that is
no layer (the known Layer names are listed) or not a MAC layer; factorizing a grouped or
depthwise conv; a rank out of range; ``kernel_row`` on a Gemm; filter pruning of a
depthwise conv, or whose channels reach an ``Add`` (a residual join), a Softmax, a
non-flattening Reshape or the graph output.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from dataflows.compress.lowrank import (
    factor_name,
    spatial_separate,
    svd_factorize,
    tucker2_factorize,
)
from dataflows.compress.plan import CompressionPlan, LayerCompression
from dataflows.compress.prune import select_filters
from dataflows.errors import CoforgeError
from dataflows.onnx_model import (
    AveragePool,
    Clip,
    Conv,
    Flatten,
    Gemm,
    GlobalAveragePool,
    MaxPool,
    Model,
    Node,
    Relu,
    Reshape,
    mac_nodes,
)

__all__ = ["CompressionError", "compress_model", "lowrank_method"]

#: Nodes that act on each channel separately (a removed channel is simply absent).
_CHANNELWISE = (Relu, Clip, MaxPool, AveragePool, GlobalAveragePool)


class CompressionError(CoforgeError):
    """A plan cannot be applied to a model; the message names the layer and why."""


def _ro(a: np.ndarray, dtype: np.dtype) -> np.ndarray:
    out = np.ascontiguousarray(a, dtype=dtype)
    out.setflags(write=False)
    return out


def _is_depthwise(node: Conv) -> bool:
    return node.groups > 1 and node.weight.shape[1] == 1


def lowrank_method(node: Conv | Gemm, lc: LayerCompression) -> str:
    """The factorization ``compress_model`` uses for ``node``: svd, tucker2 or spatial."""
    if isinstance(node, Gemm):
        return "svd"
    r, s = node.weight.shape[2:]
    if lc.lowrank != "auto":
        return lc.lowrank
    return "svd" if (r, s) == (1, 1) else "tucker2"


# -- the graph being rewritten ------------------------------------------------------------
@dataclass
class _Graph:
    """Mutable working copy: nodes by name in order, plus tensor -> consumers."""

    model: Model
    nodes: dict[str, Node]

    @classmethod
    def of(cls, model: Model) -> _Graph:
        return cls(model, {n.name: n for n in model.nodes})

    def consumers(self, tensor: str) -> list[Node]:
        return [n for n in self.nodes.values() if tensor in n.inputs]

    def tensors(self) -> set[str]:
        return {self.model.input_name} | {n.output for n in self.nodes.values()}


# -- filter pruning -------------------------------------------------------------------------
def _filter_prune(g: _Graph, node: Conv | Gemm, lc: LayerCompression) -> None:
    where = f"layer {node.layer_name!r}"
    if isinstance(node, Conv) and _is_depthwise(node):
        raise CompressionError(f"{where}: filter pruning of a depthwise conv is not supported "
                               "(its filters are tied to its input channels); prune the "
                               "layer that produces its input instead")
    total = node.weight.shape[0]
    kept = select_filters(node.weight, lc.filters, lc.filter_multiple)
    if len(kept) == total:
        return
    # Walk the channels downstream first, so an error leaves nothing half-done.
    updates: dict[str, Node] = {}
    todo: list[tuple[str, np.ndarray, int, str]] = [(node.output, kept, total, node.name)]
    while todo:
        tensor, idx, count, src = todo.pop()
        if tensor == g.model.output_name:
            raise CompressionError(f"{where}: filter pruning removes channels of the graph "
                                   f"output {tensor!r} (through {src!r}); the model's "
                                   "output shape must stay, do not filter-prune this layer")
        for c in g.consumers(tensor):
            cur = updates.get(c.name, c)
            if isinstance(c, _CHANNELWISE):
                updates[c.name] = replace(cur, out_shape=(len(idx), *cur.out_shape[1:]))
                todo.append((c.output, idx, count, c.name))
            elif isinstance(c, (Flatten, Reshape)):
                shape = _shape_of(g, tensor)
                if isinstance(c, Reshape) and len(c.out_shape) != 1:
                    raise CompressionError(f"{where}: filter pruning reaches Reshape "
                                           f"{c.name!r} to {list(c.out_shape)}; only a "
                                           "reshape to one dimension (a flatten) is supported")
                block = math.prod(shape[1:])
                feats = (idx[:, None] * block + np.arange(block)[None, :]).ravel()
                updates[c.name] = replace(cur, out_shape=(len(feats),))
                todo.append((c.output, feats, count * block, c.name))
            elif isinstance(c, Conv) and _is_depthwise(c):
                mult = c.weight.shape[0] // count
                rows = (idx[:, None] * mult + np.arange(mult)[None, :]).ravel()
                updates[c.name] = replace(
                    cur, weight=_ro(cur.weight[rows], cur.weight.dtype),
                    bias=_ro(cur.bias[rows], cur.bias.dtype), groups=len(idx),
                    out_shape=(len(rows), *cur.out_shape[1:]))
                todo.append((c.output, rows, c.weight.shape[0], c.name))
            elif isinstance(c, Conv):
                updates[c.name] = replace(cur, weight=_ro(_drop_inputs(c, cur, idx, where),
                                                          cur.weight.dtype))
            elif isinstance(c, Gemm):
                updates[c.name] = replace(cur, weight=_ro(cur.weight[:, idx], cur.weight.dtype))
            else:
                why = " (a residual join)" if c.op == "Add" else ""
                raise CompressionError(f"{where}: filter pruning reaches {c.op} {c.name!r}"
                                       f"{why}, which channel removal cannot pass; only Relu, "
                                       "Clip, pooling, depthwise Conv and Flatten may sit "
                                       "between the layer and the next Conv/Gemm")
    keep_out = replace(node, weight=_ro(node.weight[kept], node.weight.dtype),
                       bias=_ro(node.bias[kept], node.bias.dtype),
                       out_shape=(len(kept), *node.out_shape[1:]))
    g.nodes[node.name] = keep_out
    g.nodes.update(updates)


def _drop_inputs(orig: Conv, cur: Conv, idx: np.ndarray, where: str) -> np.ndarray:
    """``cur``'s weight without the input channels not in ``idx`` (grouped: per group)."""
    if cur.groups == 1:
        return cur.weight[:, idx]
    per = cur.weight.shape[1]
    counts = np.bincount(idx // per, minlength=cur.groups)
    if np.any(counts != counts[0]):
        raise CompressionError(f"{where}: filter pruning leaves {counts.tolist()} channels in "
                               f"the {cur.groups} groups of the grouped conv "
                               f"{orig.layer_name!r}; the kept count must be equal per group")
    k_per = cur.weight.shape[0] // cur.groups
    local = (idx % per).reshape(cur.groups, counts[0])
    return np.concatenate([cur.weight[i * k_per:(i + 1) * k_per][:, local[i]]
                           for i in range(cur.groups)], axis=0)


def _shape_of(g: _Graph, tensor: str) -> tuple[int, ...]:
    """Per-sample shape of ``tensor`` in the original model."""
    if tensor == g.model.input_name:
        return g.model.input_shape
    return next(n.out_shape for n in g.model.nodes if n.output == tensor)


# -- factorization --------------------------------------------------------------------------
def _unique(base: str, taken: set[str]) -> str:
    name, k = base, 1
    while name in taken:
        name, k = f"{base}_{k}", k + 1
    taken.add(name)
    return name


def _factorize(g: _Graph, node: Conv | Gemm, lc: LayerCompression) -> list[Node]:
    where = f"layer {node.layer_name!r}"
    if isinstance(node, Conv) and node.groups != 1:
        raise CompressionError(f"{where}: a grouped conv (group={node.groups}) cannot be "
                               "factorized (its per-group weights are already thin); drop "
                               "its rank")
    method = lowrank_method(node, lc)
    w, dt = node.weight, node.weight.dtype
    rank = lc.rank
    if method == "svd" and isinstance(node, Conv) and w.shape[2:] != (1, 1):
        raise CompressionError(f"{where}: lowrank 'svd' needs a 1x1 conv, not "
                               f"{w.shape[2]}x{w.shape[3]}; use tucker2 or spatial")
    if isinstance(node, Gemm) and lc.lowrank not in ("auto", "svd"):
        raise CompressionError(f"{where}: a Gemm factorizes by svd only, not lowrank "
                               f"{lc.lowrank!r}")
    if method in ("svd", "spatial") and isinstance(rank, tuple):
        raise CompressionError(f"{where}: rank must be one integer for {method}, not {rank!r}")
    try:
        if method == "svd":
            weights = list(svd_factorize(w, rank))
        elif method == "tucker2":
            r_in, r_out = rank if isinstance(rank, tuple) else (rank, rank)
            weights = list(tucker2_factorize(w, r_in, r_out))
        else:
            weights = list(spatial_separate(w, rank))
    except CoforgeError as err:
        raise CompressionError(f"{where}: {method} factorization: {err}") from None
    taken_nodes = set(g.nodes)
    taken_tensors = g.tensors()
    count = len(weights)
    names = [_unique(factor_name(node.name, i), taken_nodes) for i in range(count)]
    outs = [_unique(factor_name(node.output, i), taken_tensors) for i in range(count - 1)]
    outs.append(node.output)
    inputs = [node.inputs] + [(o,) for o in outs[:-1]]
    new: list[Node] = []
    for i, wi in enumerate(weights):
        last = i == count - 1
        k = wi.shape[0]
        bias = node.bias if last else np.zeros(k, node.bias.dtype)
        common = {"name": names[i], "inputs": inputs[i], "output": outs[i],
                      "weight": _ro(wi, dt), "bias": _ro(bias, node.bias.dtype),
                      "layer_name": factor_name(node.layer_name, i),
                      "folded_bn": node.folded_bn if last else None,
                      "folded_add": node.folded_add if last else None}
        if isinstance(node, Gemm):
            new.append(replace(node, out_shape=(*node.out_shape[:-1], k), **common))
            continue
        st, pd, dl = _placement(node, method, i)
        _, h, wd = _in_hw(g, new, node, i)
        p = (h + pd[0] + pd[2] - dl[0] * (wi.shape[2] - 1) - 1) // st[0] + 1
        q = (wd + pd[1] + pd[3] - dl[1] * (wi.shape[3] - 1) - 1) // st[1] + 1
        new.append(replace(node, out_shape=(k, p, q), strides=st, pads=pd, dilations=dl,
                           groups=1, **common))
    if new[-1].out_shape != node.out_shape:  # a placement bug, never a user error
        raise AssertionError(f"{where}: factors end at {new[-1].out_shape}, "
                             f"not {node.out_shape}")
    return new


def _in_hw(g: _Graph, new: list[Node], node: Conv, i: int) -> tuple[int, ...]:
    return _shape_of(g, node.inputs[0]) if i == 0 else new[i - 1].out_shape


def _placement(node: Conv, method: str, i: int) -> tuple[tuple[int, int],
                                                         tuple[int, int, int, int],
                                                         tuple[int, int]]:
    """(strides, pads, dilations) of factor ``i`` (those of factorized_layers)."""
    one, none = (1, 1), (0, 0, 0, 0)
    st, pd, dl = node.strides, node.pads, node.dilations
    if method == "svd":
        return (st, pd, dl) if i == 0 else (one, none, one)
    if method == "tucker2":
        return (st, pd, dl) if i == 1 else (one, none, one)
    if i == 0:  # spatial: vertical R x 1 takes the height parts
        return (st[0], 1), (pd[0], 0, pd[2], 0), (dl[0], 1)
    return (1, st[1]), (0, pd[1], 0, pd[3]), (1, dl[1])


# -- the entry point ------------------------------------------------------------------------
def _check_names(model: Model, plan: CompressionPlan) -> dict[str, Conv | Gemm]:
    macs = {n.layer_name: n for n in mac_nodes(model)}
    others = {n.name: n for n in model.nodes if not isinstance(n, (Conv, Gemm))}
    for name in plan.layers:
        if name in macs:
            continue
        if name in others:
            raise CompressionError(f"{model.source}: layer {name!r} is a {others[name].op}, "
                                   "not a MAC layer (Conv/Gemm); compressible layers: "
                                   + ", ".join(macs))
        raise CompressionError(f"{model.source}: the plan names no layer {name!r}; known "
                               "layers: " + ", ".join(macs))
    return macs


def compress_model(model: Model, plan: CompressionPlan) -> Model:
    """A new :class:`Model` with ``plan`` applied (module docstring); ``model`` is unchanged.

    Raises :class:`CompressionError` naming the layer for a plan that cannot apply.
    """
    if not isinstance(plan, CompressionPlan):
        raise CompressionError(f"plan must be a CompressionPlan, not {type(plan).__name__}")
    macs = _check_names(model, plan)
    g = _Graph.of(model)
    order = [n.layer_name for n in mac_nodes(model) if n.layer_name in plan.layers]
    node_of = {ln: macs[ln].name for ln in order}
    for ln in order:  # 1. filters (graph order)
        lc = plan.layers[ln]
        if lc.filters is not None:
            _filter_prune(g, g.nodes[node_of[ln]], lc)
    for ln in order:  # 2. pruning
        lc = plan.layers[ln]
        if lc.prune is not None:
            cur = g.nodes[node_of[ln]]
            if lc.prune.pattern == "kernel_row" and isinstance(cur, Gemm):
                raise CompressionError(f"layer {ln!r}: prune 'kernel_row' needs a conv with "
                                       "R x S kernels, not a Gemm; use another pattern")
            try:
                pruned = lc.prune.apply(cur.weight)
            except CoforgeError as err:
                raise CompressionError(f"layer {ln!r}: prune {lc.prune.text!r}: {err}") from None
            g.nodes[cur.name] = replace(cur, weight=_ro(pruned, cur.weight.dtype))
    factors: dict[str, list[Node]] = {}
    for ln in order:  # 3. factorization
        lc = plan.layers[ln]
        if lc.rank is not None:
            factors[node_of[ln]] = _factorize(g, g.nodes[node_of[ln]], lc)
    nodes: list[Node] = []
    for name, n in g.nodes.items():
        nodes.extend(factors.get(name, [n]))
    return replace(model, nodes=tuple(nodes), _by_name=_by_name(nodes))


def _by_name(nodes: list[Node]) -> Mapping[str, Node]:
    return {n.name: n for n in nodes}
