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
from dataclasses import replace
from os import PathLike
from pathlib import Path

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
from dataflows.onnx_ops import OnnxOps, channel_vector, node_attrs

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


class _Loader(OnnxOps):
    """One pass over the ONNX nodes (topologically sorted first); the per-op handlers
    are :class:`dataflows.onnx_ops.OnnxOps`'."""

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
            a = node_attrs(bn)
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
                vec = channel_vector(c, k, weight.ndim == 4)
                if vec is not None:
                    bias = (bias.astype(np.float64) + vec).astype(bias.dtype)
                    self.folded.add(nxt)
                    add_name, out = add.name or f"Add_{nxt}", add.output[0]
        return weight, bias, out, bn_name, add_name

    # -- ops --------------------------------------------------------------------------------


def load_model(path: str | PathLike[str] | onnx.ModelProto) -> Model:
    """Load an ONNX file (or ``ModelProto``) into an executable :class:`Model`.

    Raises :class:`ModelError` (one line naming the file, the node, its op and the fix)
    for a missing, empty or unreadable file, an unsupported op, a missing initializer,
    channel/feature mismatches and symbolic dimensions other than the batch.
    """
    proto, label = _read(path)
    return _Loader(proto, label).run()
