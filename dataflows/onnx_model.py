"""An ONNX model as an executable graph of typed nodes with their weights attached.

:func:`load_model` reads a float ONNX file into a :class:`Model`: a topologically sorted
tuple of frozen node records (:class:`Conv`, :class:`Gemm`, :class:`Relu`, :class:`Clip`,
:class:`MaxPool`, :class:`AveragePool`, :class:`GlobalAveragePool`, :class:`Add`,
:class:`Flatten`, :class:`Reshape`, :class:`Softmax`) whose initializers are read-only
numpy arrays. Rewrites done at load, so that every executor sees the same graph:

- ``BatchNormalization`` right after a ``Conv`` or ``Gemm``/``MatMul`` (whose output
  feeds only it) is folded into that node's weight and bias (in float64, stored in the
  weight's dtype); ``Conv.folded_bn`` names it. A BN anywhere else is an error.
- ``MatMul`` with a constant 2-D right operand followed by an ``Add`` of a constant
  vector is one :class:`Gemm` with a bias (``Gemm.folded_add`` names the Add); a
  ``Gemm``'s ``transB``, ``alpha`` and ``beta`` are applied to the stored weight/bias.
  A constant ``Add`` right after a ``Conv`` is folded into its bias the same way.
- ``Identity``, ``Dropout`` (inference) and ``Constant`` nodes disappear: their
  outputs are aliases of their inputs (or constants).
- ``auto_pad`` is resolved into explicit ``pads``.

Conventions: activations are NCHW (or N x features); every node's ``out_shape`` and the
model's ``input_shape`` omit the batch dimension, which may be any size. A
:class:`Conv` weight is ``K x C/G x R x S``; a :class:`Gemm` weight is ``K x C``
(out x in features, like a 1x1 convolution), so per-output-channel quantization is
axis 0 of every MAC weight; ``y = x @ weight.T + bias``.

Executing: :func:`run_float` is the numpy float reference (float32 or float64, follows
the input's dtype). :func:`execute` runs the same graph with any per-node compute
function ``compute(node, inputs) -> output`` — the hook a quantized or integer engine
uses: handle the nodes it cares about and delegate the rest to :func:`float_compute`::

    def compute(node, inputs):
        if isinstance(node, Conv):
            return my_integer_conv(node, inputs[0])
        return float_compute(node, inputs)

    logits = execute(model, x, compute)

:func:`trace` returns every tensor (for calibration). The primitives :func:`conv2d`,
:func:`patches`, :func:`max_pool2d` and :func:`avg_pool2d` keep the input dtype, so an
integer engine can reuse them on integer arrays.

Mapping to the cost model: :func:`mac_nodes` lists the Conv/Gemm nodes in graph order;
each carries ``layer_name``, the :class:`~dataflows.layer.Layer` name that
:func:`dataflows.onnx_import.from_onnx` gives the same node of the same file, so a
layer config written against the Network's names applies to the model.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import replace
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import numpy_helper

from dataflows.layer import PASSIVE_KINDS
# The records and the executor live beside this loader; they are re-exported so that
# ``dataflows.onnx_model`` stays the one import of the whole API.
from dataflows.onnx_exec import (
    Compute, avg_pool2d, conv2d, execute, float_compute, max_pool2d, patches, run_float, trace)
from dataflows.onnx_nodes import (
    SUPPORTED_OPS, Add, AveragePool, Clip, Conv, Flatten, Gemm, GlobalAveragePool, MaxPool,
    Model, ModelError, Node, Relu, Reshape, Softmax, layer_names, mac_nodes)

__all__ = [
    "SUPPORTED_OPS",
    "Add",
    "AveragePool",
    "Clip",
    "Compute",
    "Conv",
    "Flatten",
    "Gemm",
    "GlobalAveragePool",
    "MaxPool",
    "Model",
    "ModelError",
    "Node",
    "Relu",
    "Reshape",
    "Softmax",
    "avg_pool2d",
    "conv2d",
    "execute",
    "float_compute",
    "layer_names",
    "load_model",
    "mac_nodes",
    "max_pool2d",
    "patches",
    "run_float",
    "trace",
]


# -- loading --------------------------------------------------------------------------------

def _read(source: str | PathLike[str] | onnx.ModelProto) -> tuple[onnx.ModelProto, str]:
    if isinstance(source, onnx.ModelProto):
        return source, f"<onnx model {source.graph.name or 'unnamed'}>"
    path = Path(source)
    if not path.is_file():
        raise ModelError(f"{path}: no such ONNX file; give the path of an .onnx model")
    if path.stat().st_size == 0:
        raise ModelError(f"{path}: empty file; give an ONNX model exported with its weights")
    try:
        proto = onnx.load(str(path))
    except (DecodeError, OSError, ValueError, RuntimeError) as err:
        raise ModelError(f"{path}: not a readable ONNX model ({type(err).__name__}); "
                         "give an .onnx file exported with its weights") from None
    if not proto.graph.node:
        raise ModelError(f"{path}: the graph has no nodes; give an ONNX model with weights")
    return proto, str(path)


def _attrs(node: onnx.NodeProto) -> dict[str, Any]:
    out = {}
    for a in node.attribute:
        value = onnx.helper.get_attribute_value(a)
        out[a.name] = value.decode() if isinstance(value, bytes) else value
    return out


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


def _out_size(size: int, kernel: int, stride: int, pad: int, dilation: int) -> int:
    return (size + pad - dilation * (kernel - 1) - 1) // stride + 1


class _Loader:
    """One pass over the ONNX nodes (topologically sorted first)."""

    def __init__(self, proto: onnx.ModelProto, label: str) -> None:
        self.proto, self.label, self.graph = proto, label, proto.graph
        self.opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")),
                          0)
        self.consts: dict[str, np.ndarray] = {}
        for init in self.graph.initializer:
            self.consts[init.name] = numpy_helper.to_array(init)
        self.shapes: dict[str, tuple[int, ...]] = {}  # activation -> shape without batch
        self.alias: dict[str, str] = {}  # Identity/Dropout output -> its input
        self.nodes: list[Node] = []
        self.index_of: dict[str, int] = {}  # record name -> node index in the file
        self.input_name, self.input_shape = self._graph_input()

    # -- helpers ----------------------------------------------------------------------------
    def fail(self, node: onnx.NodeProto, index: int, why: str) -> ModelError:
        name = node.name or f"{node.op_type}_{index}"
        return ModelError(f"{self.label}: node {name} (op {node.op_type}) {why}")

    def _graph_input(self) -> tuple[str, tuple[int, ...]]:
        inputs = [i for i in self.graph.input if i.name not in self.consts]
        if len(inputs) != 1:
            raise ModelError(f"{self.label}: the graph has {len(inputs)} non-constant inputs "
                             f"({', '.join(i.name for i in inputs) or 'none'}); coforge runs "
                             "models with exactly one input tensor")
        info = inputs[0]
        ttype = info.type.tensor_type
        if ttype.elem_type not in (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE):
            raise ModelError(f"{self.label}: input {info.name!r} has element type "
                             f"{onnx.TensorProto.DataType.Name(ttype.elem_type)}; "
                             "give a float32 model")
        if not ttype.HasField("shape") or len(ttype.shape.dim) < 2:
            raise ModelError(f"{self.label}: input {info.name!r} has no static shape; export "
                             "it as N x C x H x W (or N x features) with only N symbolic")
        dims = []
        for axis, d in enumerate(ttype.shape.dim[1:], start=1):
            if not d.HasField("dim_value") or d.dim_value <= 0:
                shown = d.dim_param or (d.dim_value if d.HasField("dim_value") else "?")
                raise ModelError(f"{self.label}: input {info.name!r} dimension {axis} is "
                                 f"{shown!r}; only the batch dimension (0) may be symbolic, "
                                 "export the other dimensions as positive integers")
            dims.append(int(d.dim_value))
        self.shapes[info.name] = tuple(dims)
        first = ttype.shape.dim[0]
        #: The batch size fixed in the file (None when symbolic).
        self.fixed_batch = int(first.dim_value) if first.HasField("dim_value") else None
        return info.name, tuple(dims)

    def resolve(self, tensor: str) -> str:
        while tensor in self.alias:
            tensor = self.alias[tensor]
        return tensor

    def const(self, node: onnx.NodeProto, index: int, pos: int, what: str,
              optional: bool = False) -> np.ndarray | None:
        """The constant input ``pos`` of ``node`` (an initializer or Constant output)."""
        if pos >= len(node.input) or node.input[pos] == "":
            if optional:
                return None
            raise self.fail(node, index, f"has no {what} input; give it as an initializer")
        tensor = self.resolve(node.input[pos])
        if tensor in self.consts:
            return self.consts[tensor]
        if tensor in self.shapes:
            raise self.fail(node, index, f"takes its {what} {tensor!r} from an activation; "
                                         "only constant (initializer) weights are supported")
        raise self.fail(node, index, f"reads {what} {tensor!r}, which is neither an "
                                     "initializer nor produced by any node (missing "
                                     "initializer); re-export the model with its weights")

    def act(self, node: onnx.NodeProto, index: int, pos: int = 0) -> str:
        """The activation input ``pos`` of ``node``, alias-resolved."""
        if pos >= len(node.input) or node.input[pos] == "":
            raise self.fail(node, index, f"has no input {pos}")
        tensor = self.resolve(node.input[pos])
        if tensor not in self.shapes:
            if tensor in self.consts:
                raise self.fail(node, index, f"has the constant {tensor!r} as its data input; "
                                             "constant subgraphs are not supported")
            raise self.fail(node, index, f"reads {tensor!r}, which no node produces and is "
                                         "not an initializer (missing initializer)")
        return tensor

    def emit(self, record: Node) -> None:
        self.shapes[record.output] = record.out_shape
        self.nodes.append(record)

    # -- the pass ---------------------------------------------------------------------------
    def order(self) -> list[int]:
        """Indices of the file's nodes in a topological order (file order where legal)."""
        nodes = list(self.graph.node)
        producer = {t: i for i, n in enumerate(nodes) for t in n.output if t}
        waiting = [len({producer[t] for t in n.input if t in producer and producer[t] != i})
                   for i, n in enumerate(nodes)]
        readers: dict[int, set[int]] = {}
        for i, n in enumerate(nodes):
            for t in n.input:
                if t in producer and producer[t] != i:
                    readers.setdefault(producer[t], set()).add(i)
        ready = [i for i, w in enumerate(waiting) if w == 0]
        heapq.heapify(ready)
        out: list[int] = []
        while ready:
            i = heapq.heappop(ready)
            out.append(i)
            for j in readers.get(i, ()):
                waiting[j] -= 1
                if waiting[j] == 0:
                    heapq.heappush(ready, j)
        if len(out) < len(nodes):
            i = min(set(range(len(nodes))) - set(out))
            raise self.fail(nodes[i], i, "is part of a cycle; ONNX graphs must be acyclic")
        return out

    def run(self) -> Model:
        nodes = list(self.graph.node)
        self.consumers: dict[str, list[int]] = {}
        for i, n in enumerate(nodes):
            for t in n.input:
                self.consumers.setdefault(t, []).append(i)
        outputs = {o.name for o in self.graph.output}
        self.graph_outputs = outputs
        self.folded: set[int] = set()
        for i, node in enumerate(nodes):
            if node.op_type not in SUPPORTED_OPS or node.domain not in ("", "ai.onnx"):
                raise self.fail(node, i, f"is not supported; supported ops: "
                                         f"{', '.join(sorted(SUPPORTED_OPS))}")
        order = self.order()
        for i in order:  # constants first: a BN folded early may read a later Constant
            if nodes[i].op_type == "Constant":
                self.op_Constant(nodes[i], i)
        for i in order:
            if i not in self.folded and nodes[i].op_type != "Constant":
                getattr(self, f"op_{nodes[i].op_type}")(nodes[i], i)
        if len(self.graph.output) != 1:
            raise ModelError(f"{self.label}: the graph has {len(self.graph.output)} outputs; "
                             "coforge runs models with exactly one output")
        out = self.resolve(self.graph.output[0].name)
        if out not in self.shapes or out == self.input_name:
            raise ModelError(f"{self.label}: output {self.graph.output[0].name!r} is not "
                             "computed from the input by any supported node")
        layer_of = self.layer_names()
        records = tuple(replace(r, layer_name=layer_of[self.index_of[r.name]])
                        if isinstance(r, (Conv, Gemm)) else r for r in self.nodes)
        return Model(source=self.label, nodes=records, input_name=self.input_name,
                     input_shape=self.input_shape, output_name=out,
                     output_shape=self.shapes[out], opset=self.opset,
                     _by_name={r.name: r for r in records})

    # -- layer names from the Network importer ----------------------------------------------
    def layer_names(self) -> dict[int, str]:
        """File index of each Conv/Gemm/MatMul -> the Layer name ``from_onnx`` gives it."""
        from dataflows.onnx_import import from_onnx  # the one source of layer names

        macs = [i for i, n in enumerate(self.graph.node)
                if n.op_type in ("Conv", "Gemm", "MatMul")]
        if not macs:  # nothing to cost (from_onnx refuses such graphs)
            return {}
        net = from_onnx(self.proto if self.label.startswith("<") else self.label)
        computes = [net.graph.nodes[n]["layer"].name for n in net.graph.nodes
                    if net.graph.nodes[n]["layer"].kind not in PASSIVE_KINDS]
        if len(computes) != len(macs):
            raise ModelError(f"{self.label}: from_onnx finds {len(computes)} compute layers "
                             f"but the graph has {len(macs)} Conv/Gemm/MatMul nodes")
        return dict(zip(macs, computes))

    def name_of(self, node: onnx.NodeProto, index: int) -> str:
        """The record name: the ONNX name (``<op>_<index>`` if empty), made unique."""
        base = node.name or f"{node.op_type}_{index}"
        name, k = base, 1
        while name in self.index_of:
            name, k = f"{base}_{k}", k + 1
        self.index_of[name] = index
        return name

    # -- folding helpers --------------------------------------------------------------------
    def only_consumer(self, tensor: str, op_types: tuple[str, ...]) -> int | None:
        """Index of the single consumer of ``tensor`` when it is one of ``op_types``."""
        if tensor in self.graph_outputs:
            return None
        users = self.consumers.get(tensor, [])
        if len(users) == 1 and self.graph.node[users[0]].op_type in op_types:
            return users[0]
        return None

    def fold_following(self, node: onnx.NodeProto, index: int, weight: np.ndarray,
                       bias: np.ndarray) -> tuple[np.ndarray, np.ndarray, str, str | None,
                                                  str | None]:
        """Fold a following BatchNormalization and/or constant Add into weight and bias."""
        out, bn_name, add_name = node.output[0], None, None
        k = weight.shape[0]
        nxt = self.only_consumer(out, ("BatchNormalization", "Add"))
        # BN normalises axis 1: the channels of a conv output, the features of N x K only
        bn_axis_ok = weight.ndim == 4 or len(self.shapes[self.resolve(node.input[0])]) == 1
        if nxt is not None and self.graph.node[nxt].op_type == "BatchNormalization" \
                and bn_axis_ok:
            bn = self.graph.node[nxt]
            a = _attrs(bn)
            if a.get("training_mode", 0):
                raise self.fail(bn, nxt, "is in training mode; export the model in eval mode")
            params = [self.const(bn, nxt, p, w) for p, w in
                      enumerate(["", "scale", "bias", "mean", "var"]) if p]
            for p, what in zip(params, ["scale", "bias", "mean", "var"]):
                if p.shape != (k,):
                    raise self.fail(bn, nxt, f"has {what} of shape {list(p.shape)}, but the "
                                             f"preceding node has {k} output channels")
            gamma, beta, mean, var = (p.astype(np.float64) for p in params)
            scale = gamma / np.sqrt(var + float(a.get("epsilon", 1e-5)))
            shape = (k,) + (1,) * (weight.ndim - 1)
            weight = (weight.astype(np.float64) * scale.reshape(shape)).astype(weight.dtype)
            bias = ((bias.astype(np.float64) - mean) * scale + beta).astype(bias.dtype)
            self.folded.add(nxt)
            bn_name, out = bn.name or f"BatchNormalization_{nxt}", bn.output[0]
            nxt = self.only_consumer(out, ("Add",))
        if nxt is not None and self.graph.node[nxt].op_type == "Add":
            add = self.graph.node[nxt]
            other = [t for t in add.input if self.resolve(t) != out]
            if len(other) == 1 and self.resolve(other[0]) in self.consts:
                c = self.consts[self.resolve(other[0])].astype(np.float64)
                vec = _channel_vector(c, k, weight.ndim == 4)
                if vec is not None:
                    bias = (bias.astype(np.float64) + vec).astype(bias.dtype)
                    self.folded.add(nxt)
                    add_name, out = add.name or f"Add_{nxt}", add.output[0]
        return weight, bias, out, bn_name, add_name

    # -- ops --------------------------------------------------------------------------------
    def op_Constant(self, node: onnx.NodeProto, index: int) -> None:
        a = _attrs(node)
        if "value" not in a:
            raise self.fail(node, index, "has no 'value' tensor attribute; only tensor "
                                         "constants are supported")
        self.consts[node.output[0]] = numpy_helper.to_array(a["value"])

    def op_Identity(self, node: onnx.NodeProto, index: int) -> None:
        tensor = node.input[0] if node.input else ""
        resolved = self.resolve(tensor)
        if resolved in self.consts:
            self.consts[node.output[0]] = self.consts[resolved]
        else:
            self.act(node, index)
            self.alias[node.output[0]] = resolved

    def op_Dropout(self, node: onnx.NodeProto, index: int) -> None:
        if len(node.output) > 1 and node.output[1] and node.output[1] in self.consumers:
            raise self.fail(node, index, "has its mask output used; only inference-mode "
                                         "Dropout (a passthrough) is supported")
        self.op_Identity(node, index)

    def op_Conv(self, node: onnx.NodeProto, index: int) -> None:
        x = self.act(node, index)
        w = self.const(node, index, 1, "weight")
        b = self.const(node, index, 2, "bias", optional=True)
        shape = self.shapes[x]
        if len(shape) != 3 or w.ndim != 4:
            raise self.fail(node, index, f"has input of shape {['N', *shape]} and weight of "
                                         f"shape {list(w.shape)}; only 2-D convolutions "
                                         "(N x C x H x W) are supported")
        a = _attrs(node)
        groups = int(a.get("group", 1))
        c, h, wd = shape
        k, cg, r, s = w.shape
        if groups < 1 or c % groups or k % groups:
            raise self.fail(node, index, f"has group={groups}, which must divide the input "
                                         f"channels ({c}) and output channels ({k})")
        if cg * groups != c:
            raise self.fail(node, index, f"has weight of shape {list(w.shape)} for {cg * groups}"
                                         f" input channels, but its input {x!r} has {c} "
                                         "channels; the weight must be K x C/group x R x S")
        if "kernel_shape" in a and tuple(a["kernel_shape"]) != (r, s):
            raise self.fail(node, index, f"has kernel_shape {list(a['kernel_shape'])} but "
                                         f"weight {r}x{s}; drop kernel_shape or fix the weight")
        if b is None:
            b = np.zeros(k, w.dtype)
        elif b.shape != (k,):
            raise self.fail(node, index, f"has bias of shape {list(b.shape)}; it must have "
                                         f"one value per output channel ({k})")
        strides, dilations = _pair(a.get("strides", [1, 1])), _pair(a.get("dilations", [1, 1]))
        pads = self.pads(node, index, a, (h, wd), (r, s), strides, dilations)
        p = _out_size(h, r, strides[0], pads[0] + pads[2], dilations[0])
        q = _out_size(wd, s, strides[1], pads[1] + pads[3], dilations[1])
        if p < 1 or q < 1:
            raise self.fail(node, index, f"has an empty output ({p}x{q}) for input {h}x{wd}")
        w, b, out, bn, add = self.fold_following(node, index, w, b.astype(w.dtype))
        self.emit(Conv(name=self.name_of(node, index), inputs=(x,), output=out,
                       out_shape=(k, p, q), weight=_readonly(w), bias=_readonly(b),
                       strides=strides, pads=pads, dilations=dilations, groups=groups,
                       layer_name="", folded_bn=bn, folded_add=add))

    def pads(self, node: onnx.NodeProto, index: int, a: dict[str, Any],
             size: tuple[int, int], kernel: tuple[int, int], strides: tuple[int, int],
             dilations: tuple[int, int]) -> tuple[int, int, int, int]:
        auto = a.get("auto_pad", "NOTSET")
        if auto in ("NOTSET", ""):
            pads = [int(v) for v in a.get("pads", [0, 0, 0, 0])]
            if len(pads) != 4 or min(pads) < 0:
                raise self.fail(node, index, f"has pads {pads}; give 4 non-negative values "
                                             "(top, left, bottom, right)")
            return (pads[0], pads[1], pads[2], pads[3])
        if auto == "VALID":
            return (0, 0, 0, 0)
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            begin, end = [], []
            for n, k, st, d in zip(size, kernel, strides, dilations):
                total = max((math.ceil(n / st) - 1) * st + d * (k - 1) + 1 - n, 0)
                small, large = total // 2, total - total // 2
                begin.append(small if auto == "SAME_UPPER" else large)
                end.append(large if auto == "SAME_UPPER" else small)
            return (begin[0], begin[1], end[0], end[1])
        raise self.fail(node, index, f"has auto_pad {auto!r}; allowed: NOTSET, VALID, "
                                     "SAME_UPPER, SAME_LOWER")

    def op_Gemm(self, node: onnx.NodeProto, index: int) -> None:
        x = self.act(node, index)
        a = _attrs(node)
        if a.get("transA", 0):
            raise self.fail(node, index, "has transA=1; only activations as N x features "
                                         "(transA=0) are supported")
        w = self.const(node, index, 1, "weight")
        c_in = self.const(node, index, 2, "bias", optional=True)
        if w.ndim != 2:
            raise self.fail(node, index, f"has a {w.ndim}-D weight; Gemm needs 2-D")
        w = w if a.get("transB", 0) else w.T  # now K x C
        self.dense(node, index, x, w * np.asarray(a.get("alpha", 1.0), w.dtype),
                   c_in, float(a.get("beta", 1.0)), "Gemm")

    def op_MatMul(self, node: onnx.NodeProto, index: int) -> None:
        x = self.act(node, index)
        w = self.const(node, index, 1, "weight")
        if w.ndim != 2:
            raise self.fail(node, index, f"has a {w.ndim}-D constant operand; only x @ W "
                                         "with a 2-D W is supported")
        self.dense(node, index, x, w.T, None, 1.0, "MatMul")

    def dense(self, node: onnx.NodeProto, index: int, x: str, w: np.ndarray,
              c_in: np.ndarray | None, beta: float, onnx_op: str) -> None:
        shape = self.shapes[x]
        k, c = w.shape
        if not shape or shape[-1] != c:
            raise self.fail(node, index, f"has weight for {c} input features, but its input "
                                         f"{x!r} has shape {['N', *shape]}; the last "
                                         f"dimension must be {c}")
        if onnx_op == "Gemm" and len(shape) != 1:
            raise self.fail(node, index, f"has input of shape {['N', *shape]}; Gemm needs "
                                         "N x features (add a Flatten)")
        if c_in is None:
            bias = np.zeros(k, w.dtype)
        else:
            vec = _channel_vector(c_in.astype(np.float64), k, False)
            if vec is None or (c_in.ndim == 2 and c_in.shape[0] != 1):
                raise self.fail(node, index, f"has C of shape {list(c_in.shape)}; only a "
                                             f"bias of {k} values (or a scalar) is supported")
            bias = (vec * beta).astype(w.dtype)
        w, bias, out, bn, add = self.fold_following(node, index, np.ascontiguousarray(w), bias)
        self.emit(Gemm(name=self.name_of(node, index), inputs=(x,), output=out,
                       out_shape=(*shape[:-1], k), weight=_readonly(w), bias=_readonly(bias),
                       onnx_op=onnx_op, layer_name="", folded_bn=bn, folded_add=add))

    def op_BatchNormalization(self, node: onnx.NodeProto, index: int) -> None:
        raise self.fail(node, index, "does not follow a Conv or Gemm/MatMul whose output "
                                     "feeds only it; only BatchNormalization folded into the "
                                     "preceding Conv/Gemm is supported")

    def simple(self, node: onnx.NodeProto, index: int, cls: type[Node], **extra: Any) -> None:
        x = self.act(node, index)
        self.emit(cls(name=self.name_of(node, index), inputs=(x,), output=node.output[0],
                      out_shape=self.shapes[x], **extra))

    def op_Relu(self, node: onnx.NodeProto, index: int) -> None:
        self.simple(node, index, Relu)

    def op_Clip(self, node: onnx.NodeProto, index: int) -> None:
        a = _attrs(node)
        if self.opset and self.opset < 11:
            lo, hi = a.get("min"), a.get("max")
        else:
            lo_t = self.const(node, index, 1, "min", optional=True)
            hi_t = self.const(node, index, 2, "max", optional=True)
            for t, what in ((lo_t, "min"), (hi_t, "max")):
                if t is not None and t.size != 1:
                    raise self.fail(node, index, f"has a {what} of shape {list(t.shape)}; "
                                                 "give a scalar")
            lo = None if lo_t is None else float(lo_t.reshape(()))
            hi = None if hi_t is None else float(hi_t.reshape(()))
        self.simple(node, index, Clip, min=None if lo is None else float(lo),
                    max=None if hi is None else float(hi))

    def pool(self, node: onnx.NodeProto, index: int) -> tuple[str, dict[str, Any]]:
        x = self.act(node, index)
        shape = self.shapes[x]
        if len(shape) != 3:
            raise self.fail(node, index, f"has input of shape {['N', *shape]}; only 2-D "
                                         "pooling (N x C x H x W) is supported")
        if len(node.output) > 1 and node.output[1]:
            raise self.fail(node, index, "has an Indices output; only the pooled values are "
                                         "supported")
        a = _attrs(node)
        kernel = _pair(a.get("kernel_shape", []) or [0, 0])
        if min(kernel) < 1:
            raise self.fail(node, index, "has no 2-D kernel_shape")
        strides = _pair(a.get("strides", [1, 1]))
        dilations = _pair(a.get("dilations", [1, 1]))
        c, h, w = shape
        pads = self.pads(node, index, a, (h, w), kernel, strides, dilations)
        p = _out_size(h, kernel[0], strides[0], pads[0] + pads[2], dilations[0])
        q = _out_size(w, kernel[1], strides[1], pads[1] + pads[3], dilations[1])
        if a.get("ceil_mode", 0):
            pc = -(-(h + pads[0] + pads[2] - dilations[0] * (kernel[0] - 1) - 1)
                   // strides[0]) + 1
            qc = -(-(w + pads[1] + pads[3] - dilations[1] * (kernel[1] - 1) - 1)
                   // strides[1]) + 1
            if (pc, qc) != (p, q):
                raise self.fail(node, index, "has ceil_mode=1 with a partial last window; "
                                             "export with ceil_mode=0 (or pad explicitly)")
        if p < 1 or q < 1:
            raise self.fail(node, index, f"has an empty output ({p}x{q}) for input {h}x{w}")
        return x, {"kernel": kernel, "strides": strides, "pads": pads, "dilations": dilations,
                   "out_shape": (c, p, q),
                   "count_include_pad": bool(a.get("count_include_pad", 0))}

    def op_MaxPool(self, node: onnx.NodeProto, index: int) -> None:
        x, p = self.pool(node, index)
        if _attrs(node).get("storage_order", 0):
            raise self.fail(node, index, "has storage_order=1; only row-major is supported")
        self.emit(MaxPool(name=self.name_of(node, index), inputs=(x,), output=node.output[0],
                          out_shape=p["out_shape"], kernel=p["kernel"], strides=p["strides"],
                          pads=p["pads"], dilations=p["dilations"]))

    def op_AveragePool(self, node: onnx.NodeProto, index: int) -> None:
        x, p = self.pool(node, index)
        if p["dilations"] != (1, 1):
            raise self.fail(node, index, "has dilations; dilated AveragePool is not supported")
        self.emit(AveragePool(name=self.name_of(node, index), inputs=(x,),
                              output=node.output[0], out_shape=p["out_shape"],
                              kernel=p["kernel"], strides=p["strides"], pads=p["pads"],
                              count_include_pad=p["count_include_pad"]))

    def op_GlobalAveragePool(self, node: onnx.NodeProto, index: int) -> None:
        x = self.act(node, index)
        shape = self.shapes[x]
        if len(shape) < 2:
            raise self.fail(node, index, f"has input of shape {['N', *shape]}; it needs "
                                         "N x C x spatial...")
        self.emit(GlobalAveragePool(name=self.name_of(node, index), inputs=(x,),
                                    output=node.output[0],
                                    out_shape=(shape[0],) + (1,) * (len(shape) - 1)))

    def op_Add(self, node: onnx.NodeProto, index: int) -> None:
        tensors = [self.resolve(t) for t in node.input]
        if len(tensors) != 2 or any(t in self.consts for t in tensors):
            raise self.fail(node, index, "adds a constant that is not the bias of a preceding "
                                         "Conv/Gemm/MatMul; only Add of two activations or a "
                                         "bias Add folded into the preceding node is supported")
        a, b = (self.act(node, index, i) for i in (0, 1))
        sa, sb = self.shapes[a], self.shapes[b]
        try:
            out = np.broadcast_shapes((2, *sa), (2, *sb))[1:]
        except ValueError:
            raise self.fail(node, index, f"adds shapes {['N', *sa]} and {['N', *sb]}, which "
                                         "do not broadcast") from None
        if len(sa) != len(sb):
            raise self.fail(node, index, f"adds shapes {['N', *sa]} and {['N', *sb]} of "
                                         "different rank; give both the batch dimension first")
        self.emit(Add(name=self.name_of(node, index), inputs=(a, b), output=node.output[0],
                      out_shape=tuple(out)))

    def op_Flatten(self, node: onnx.NodeProto, index: int) -> None:
        x = self.act(node, index)
        shape = self.shapes[x]
        axis = int(_attrs(node).get("axis", 1))
        if axis not in (1, -len(shape)):  # axis 1 of a rank len(shape)+1 tensor
            raise self.fail(node, index, f"has axis={axis}; only axis=1 (keep the batch "
                                         "dimension) is supported")
        self.emit(Flatten(name=self.name_of(node, index), inputs=(x,), output=node.output[0],
                          out_shape=(math.prod(shape),)))

    def op_Reshape(self, node: onnx.NodeProto, index: int) -> None:
        x = self.act(node, index)
        target = self.const(node, index, 1, "shape")
        target = [int(v) for v in np.asarray(target).reshape(-1)]
        shape = self.shapes[x]
        if _attrs(node).get("allowzero", 0) and 0 in target:
            raise self.fail(node, index, "has allowzero=1 with a 0 in its shape; zero-size "
                                         "tensors are not supported")
        if target and self.fixed_batch is not None and target[0] == self.fixed_batch:
            target[0] = 0  # a model exported with a fixed batch: its leading dim is the batch
        outs = []
        for batch in (2, 3):  # the batch must stay the first dimension for any batch size
            full = (batch, *shape)
            dims = [full[i] if v == 0 else v for i, v in enumerate(target)]
            try:
                outs.append(np.empty(full, np.int8).reshape(dims).shape)
            except ValueError:
                outs.append(())
        if len(outs[0]) < 1 or outs[0][0] != 2 or outs[1][:1] != (3,) \
                or outs[0][1:] != outs[1][1:]:
            raise self.fail(node, index, f"reshapes {['N', *shape]} to {target}, which does "
                                         "not keep the batch dimension first for every batch "
                                         "size; give shape [0 or -1, per-sample dims...] of "
                                         f"the same per-sample size ({math.prod(shape)})")
        self.emit(Reshape(name=self.name_of(node, index), inputs=(x,), output=node.output[0],
                          out_shape=tuple(outs[0][1:])))

    def op_Softmax(self, node: onnx.NodeProto, index: int) -> None:
        x = self.act(node, index)
        rank = len(self.shapes[x]) + 1
        default = -1 if not self.opset or self.opset >= 13 else 1
        axis = int(_attrs(node).get("axis", default))
        axis = axis + rank if axis < 0 else axis
        if not 1 <= axis < rank:
            raise self.fail(node, index, f"has axis={axis}; softmax over the batch dimension "
                                         "is not supported")
        # Before opset 13 Softmax normalises over the flattened dims axis.. (so any axis);
        # from 13 on over the one axis ``axis``, which is the same when it is the last.
        if (not self.opset or self.opset >= 13) and axis != rank - 1:
            raise self.fail(node, index, f"has axis={axis}; only the last axis is supported "
                                         "from opset 13 on")
        self.simple(node, index, Softmax, axis=axis)


def _pair(values: Any) -> tuple[int, int]:
    values = [int(v) for v in values]
    if len(values) != 2:
        raise ModelError(f"expected a 2-D attribute (two values), not {values}")
    return (values[0], values[1])


def _channel_vector(c: np.ndarray, k: int, spatial: bool) -> np.ndarray | None:
    """``c`` as a length-``k`` per-channel vector, or None if it is not one."""
    if c.size == 1:
        return np.full(k, float(c.reshape(())))
    if spatial:  # broadcast against N x K x P x Q: shapes (K,1,1) or (1,K,1,1)
        squeezed = c.reshape(c.shape[-3:]) if c.ndim >= 3 and math.prod(c.shape[:-3]) == 1 \
            else None
        if squeezed is not None and squeezed.shape == (k, 1, 1):
            return squeezed.reshape(k)
        return None
    if c.shape in ((k,), (1, k)):
        return c.reshape(k)
    return None


def load_model(path: str | PathLike[str] | onnx.ModelProto) -> Model:
    """Load an ONNX file (or ``ModelProto``) into an executable :class:`Model`.

    Raises :class:`ModelError` (one line naming the file, the node, its op and the fix)
    for a missing, empty or unreadable file, an unsupported op, a missing initializer,
    channel/feature mismatches and symbolic dimensions other than the batch.
    """
    proto, label = _read(path)
    return _Loader(proto, label).run()
