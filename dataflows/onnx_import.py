"""Read an ONNX model into a :class:`~dataflows.network.Network`.

``Conv``, ``Gemm`` and ``MatMul`` become compute layers. Pooling ops, ``Softmax`` and
elementwise ops that join two different activations (a residual ``Add``) become passive
nodes; every other supported op (activations, normalisation, reshapes, bias adds, ...)
is transparent: edges are rewired through it so the DAG stays connected.

Shapes come from ``onnx.shape_inference``. Only the batch dimension may be symbolic:
a name given to axis 0 of a graph input (and wherever inference carries that name)
counts as 1; any other symbolic, unknown or zero dimension is an error, as are a weight
whose channels do not match its input, a ``MatMul``/``Gemm`` whose inner dimensions
differ, a non-positive stride, dilation or output size, and an empty file. A graph with
no compute node imports as a Network of passive nodes; ``coforge`` refuses to cost it.
Sizes follow the :mod:`dataflows.layer` vocabulary: a ``MatMul`` with a constant
operand is an ``fc`` layer with every batch dimension folded into ``P``; a batched
``MatMul`` of two activations is an attention matmul whose last batch dimension is the
head count ``G`` and whose leading batch dimensions multiply into ``N``.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import onnx
from google.protobuf.message import DecodeError
from onnx import shape_inference

from dataflows.errors import CoforgeError
from dataflows.layer import Layer, Precision, fc, gemm, passive
from dataflows.network import Network


class OnnxImportError(CoforgeError):
    """An ONNX file is missing, unreadable, or uses an operator coforge cannot model."""


COMPUTE_OPS = frozenset({"Conv", "Gemm", "MatMul"})
POOL_OPS = frozenset({"MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool"})
#: Zero-MAC elementwise ops: a passive node when they join different activations.
ELEMENTWISE_OPS = frozenset({
    "Abs", "Add", "BatchNormalization", "Clip", "Div", "Elu", "Erf", "Exp", "Gelu",
    "HardSigmoid", "HardSwish", "InstanceNormalization", "LayerNormalization",
    "LeakyRelu", "Log", "LogSoftmax", "Max", "Mean", "Min", "Mul", "Neg", "Pow", "PRelu",
    "Reciprocal", "Relu", "Selu", "Sigmoid", "Softmax", "Softplus", "Sqrt", "Sub", "Sum",
    "Tanh", "Where",
})
#: Ops that only move, reinterpret, normalise or drop data: always transparent.
SHAPE_OPS = frozenset({
    "Cast", "Concat", "Constant", "ConstantOfShape", "DepthToSpace", "Dropout", "Expand",
    "Flatten", "Gather", "Identity", "Pad", "ReduceMean", "Reshape", "Resize", "Shape",
    "Size", "Slice", "SpaceToDepth", "Split", "Squeeze", "Tile", "Transpose", "Unsqueeze",
})
#: Ops whose outputs describe shapes, not data: treated as constants.
_METADATA_OPS = frozenset({"Shape", "Size", "Constant"})
SUPPORTED_OPS = COMPUTE_OPS | POOL_OPS | ELEMENTWISE_OPS | SHAPE_OPS

#: Largest dimension and largest MAC count of one layer coforge costs (int32 sizes, as
#: exporters write them; 2**53 MACs keep every count exact in float64 and far from int64
#: overflow -- larger sizes would hang the model or overflow, not cost a real network).
MAX_DIM = 2**31 - 1
MAX_MACS = 2**53

#: A dimension as read from the file: a size, a symbolic name, or None (unknown).
Shape = list[int | str | None]


def _load(source: str | PathLike[str] | onnx.ModelProto) -> tuple[onnx.ModelProto, str]:
    """The model and the label that error messages start with (the file path)."""
    if isinstance(source, onnx.ModelProto):
        return source, f"<onnx model {source.graph.name or 'unnamed'}>"
    path = Path(source)
    if not path.is_file():
        raise OnnxImportError(f"{path}: no such ONNX file")
    if path.stat().st_size == 0:
        raise OnnxImportError(f"{path}: the file is empty (0 bytes); give an ONNX model "
                              f"(e.g. exported with torch.onnx.export)")
    try:
        model = onnx.load(str(path))
    except (DecodeError, OSError, ValueError, RuntimeError) as err:
        raise OnnxImportError(
            f"{path}: not a readable ONNX model ({type(err).__name__}); give a .onnx file "
            f"(e.g. exported with torch.onnx.export)") from None
    if not model.HasField("graph") or not model.graph.node:
        raise OnnxImportError(f"{path}: not an ONNX model with a graph (no nodes); give a "
                              f".onnx file (e.g. exported with torch.onnx.export)")
    return model, str(path)


class _Importer:
    """One pass over a shape-inferred graph, in node order (ONNX requires topological)."""

    def __init__(self, model: onnx.ModelProto, label: str, network: Network,
                 precision: Precision) -> None:
        self.graph, self.label, self.net, self.precision = model.graph, label, network, precision
        self.shapes: dict[str, Shape] = {}
        for info in [*self.graph.value_info, *self.graph.input, *self.graph.output]:
            tensor_type = info.type.tensor_type
            if tensor_type.HasField("shape"):
                self.shapes[info.name] = [
                    d.dim_value if d.HasField("dim_value") else d.dim_param or None
                    for d in tensor_type.shape.dim]
        self.const: set[str] = set()
        for init in self.graph.initializer:
            self.shapes[init.name] = list(init.dims)
            self.const.add(init.name)
        # Activation tensor -> the coforge nodes it (transparently) comes from.
        self.producers: dict[str, tuple[str, ...]] = {
            i.name: () for i in self.graph.input if i.name not in self.const}
        self.consumers: dict[str, list[onnx.NodeProto]] = {}
        for node in self.graph.node:
            for t in node.input:
                self.consumers.setdefault(t, []).append(node)

    # -- helpers ------------------------------------------------------------------------
    def fail(self, node: onnx.NodeProto, why: str) -> OnnxImportError:
        name = node.name or f"#{list(self.graph.node).index(node)}"
        return OnnxImportError(f"{self.label}: node {name} (op {node.op_type}) {why}")

    def shape(self, node: onnx.NodeProto, tensor: str) -> list[int]:
        """Static shape of ``tensor``; raises when unknown, zero or symbolic (the symbolic
        batch was bound to 1 before shape inference: :func:`_bind_batch`)."""
        if tensor not in self.shapes:
            raise self.fail(node, f"has input/output {tensor!r} of unknown shape after shape "
                                  "inference; export the model with static shapes")
        out = []
        for axis, d in enumerate(self.shapes[tensor]):
            if isinstance(d, int) and 0 < d <= MAX_DIM:
                out.append(d)
            elif isinstance(d, int) and d > MAX_DIM:
                raise self.fail(node, f"has tensor {tensor!r} with dimension {axis} of size "
                                      f"{d}; coforge costs sizes up to 2**31 - 1")
            elif isinstance(d, int):
                raise self.fail(node, f"has tensor {tensor!r} with dimension {axis} of size "
                                      f"{d}; every size must be >= 1 (fix the export)")
            else:
                what = f"symbolic ({d!r})" if d else "unknown"
                raise self.fail(node, f"has tensor {tensor!r} whose dimension {axis} is "
                                      f"{what}; only the batch (axis 0 of a graph input) may "
                                      f"be symbolic: export the other dimensions as integers")
        return out

    def static(self, tensor: str) -> list[int] | None:
        """The shape of ``tensor`` when every dimension is a size >= 1, else None."""
        dims = self.shapes.get(tensor)
        if not dims or not all(isinstance(d, int) and d > 0 for d in dims):
            return None
        return [int(d) for d in dims]  # type: ignore[arg-type]

    def is_const(self, tensor: str) -> bool:
        return tensor == "" or tensor in self.const

    def sources(self, tensors: list[str]) -> list[str]:
        """Coforge nodes feeding the activation ``tensors``, in order, without repeats."""
        out: list[str] = []
        for t in tensors:
            for p in self.producers.get(t, ()):
                if p not in out:
                    out.append(p)
        return out

    def unique_name(self, node: onnx.NodeProto, index: int) -> str:
        base = node.name or f"{node.op_type}_{index}"
        name, n = base, 1
        while name in self.net.graph:
            name, n = f"{base}_{n}", n + 1
        return name

    def emit(self, node: onnx.NodeProto, layer: Layer, inputs: list[str]) -> None:
        if layer.macs > MAX_MACS:
            raise self.fail(node, f"has {layer.macs:.3g} MACs; coforge costs layers of up to "
                                  f"2**53 MACs (give smaller input sizes)")
        self.net.add(layer, self.sources(inputs))
        for t in node.output:
            self.producers[t] = (layer.name,)

    def attrs(self, node: onnx.NodeProto) -> dict[str, Any]:
        return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}

    # -- the pass -------------------------------------------------------------------------
    def run(self) -> Network:
        for index, node in enumerate(self.graph.node):
            op = node.op_type
            if op not in SUPPORTED_OPS:
                raise self.fail(node, "is not supported; supported ops: "
                                      + ", ".join(sorted(SUPPORTED_OPS)))
            acts = [t for t in node.input if not self.is_const(t)]
            if op in _METADATA_OPS or not acts:
                self.const.update(node.output)
                continue
            name = self.unique_name(node, index)
            try:
                if op == "Conv":
                    self.emit(node, self.conv(node, name), [node.input[0]])
                elif op in ("Gemm", "MatMul"):
                    self.emit(node, self.matmul(node, name), acts)
                elif op in POOL_OPS or op == "Softmax" or (
                        op in ELEMENTWISE_OPS
                        and len({self.producers.get(t, ()) for t in acts}) > 1):
                    kind = "pool" if op in POOL_OPS else "elementwise"
                    self.emit(node, self.passive(node, name, kind), acts)
                else:
                    rewired = tuple(self.sources(acts))
                    for t in node.output:
                        self.producers[t] = rewired
            except CoforgeError as err:
                if isinstance(err, OnnxImportError):
                    raise
                raise self.fail(node, f"cannot be modelled: {err}") from None
        return self.net

    def conv(self, node: onnx.NodeProto, name: str) -> Layer:
        x, w = self.shape(node, node.input[0]), self.shape(node, node.input[1])
        if len(x) not in (3, 4):
            raise self.fail(node, f"has {len(x) - 2} spatial dims; only 1-D and 2-D are supported")
        if len(w) != len(x):
            raise self.fail(node, f"has weight {node.input[1]!r} of shape {w} for input "
                                  f"{node.input[0]!r} of shape {x}; a weight is K x C/group "
                                  f"x kernel with the input's number of spatial dims")
        a = self.attrs(node)
        if len(x) == 3:  # 1-D: a row of width L
            x, w = [x[0], x[1], 1, x[2]], [w[0], w[1], 1, w[2]]
        n, c, h, wd = x
        k, w_c, r, s = w
        group = int(a.get("group", 1))
        if group < 1 or c % group or k % group or w_c * group != c:
            raise self.fail(node, f"has weight {node.input[1]!r} with {w_c} input channels "
                                  f"per group and {k} filters, but input {node.input[0]!r} "
                                  f"has {c} channels and group={group}; the weight must be "
                                  f"K x {c // group if group > 0 and c % group == 0 else 'C/group'}"
                                  f" x R x S with K and C divisible by group")
        for attr, default in (("strides", [1, 1]), ("dilations", [1, 1])):
            values = list(a.get(attr, default))
            if any(int(v) < 1 for v in values):
                raise self.fail(node, f"has {attr}={values}; every {attr[:-1]} must be an "
                                      f"integer >= 1")
        (sh, sw), (dh, dw) = _hw(a.get("strides", [1, 1])), _hw(a.get("dilations", [1, 1]))
        pads = list(a.get("pads", [0] * 2 * (len(x) - 2)))
        if any(int(v) < 0 for v in pads):
            raise self.fail(node, f"has pads={pads}; pads must be >= 0")
        if len(pads) == 2:
            pads = [0, pads[0], 0, pads[1]]
        out = self.static(node.output[0])
        if out and len(out) == len(self.shapes[node.input[0]]):
            p, q = (1, out[2]) if len(out) == 3 else (out[2], out[3])
        else:
            p = (h + pads[0] + pads[2] - dh * (r - 1) - 1) // sh + 1
            q = (wd + pads[1] + pads[3] - dw * (s - 1) - 1) // sw + 1
        if p < 1 or q < 1:
            raise self.fail(node, f"has an empty output ({p} x {q}): the {r}x{s} kernel "
                                  f"(dilation {dh}x{dw}) is larger than the padded {h}x{wd} "
                                  f"input; fix pads or the kernel")
        auto_pad = a.get("auto_pad", b"NOTSET")
        auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            total = [max((p - 1) * sh + dh * (r - 1) + 1 - h, 0),
                     max((q - 1) * sw + dw * (s - 1) + 1 - wd, 0)]
            pads[:2] = [t // 2 if auto_pad == "SAME_UPPER" else (t + 1) // 2 for t in total]
        elif auto_pad == "VALID":
            pads[:2] = [0, 0]
        kind = "depthwise" if group == c and group > 1 else "conv"
        return Layer(name=name, kind=kind, N=n, K=k, C=c, P=p, Q=q, R=r, S=s, G=group,
                     H=h, W=wd, stride_h=sh, stride_w=sw, dilation_h=dh, dilation_w=dw,
                     pad_h=pads[0], pad_w=pads[1], precision=self.precision)

    def matmul(self, node: onnx.NodeProto, name: str) -> Layer:
        a_name, b_name = node.input[0], node.input[1]
        a, b = self.shape(node, a_name), self.shape(node, b_name)
        if node.op_type == "Gemm":
            attrs = self.attrs(node)
            a = a[::-1] if attrs.get("transA", 0) else a
            b = b[::-1] if attrs.get("transB", 0) else b
        a_batch, b_batch = (a[:-2], b[:-2])
        a = [1, a[0]] if len(a) == 1 else a[-2:]
        b = [b[0], 1] if len(b) == 1 else b[-2:]
        m, red, n_out = a[0], a[1], b[1]
        if red != b[0]:
            raise self.fail(node, f"multiplies {a_name!r} (... x {m} x {red}) by {b_name!r} "
                                  f"({b[0]} x {n_out}): the inner dimensions {red} and {b[0]} "
                                  f"must be equal (fix the shapes or transA/transB)")
        bad = [(x, y) for x, y in zip(a_batch[::-1], b_batch[::-1]) if 1 not in (x, y)
               and x != y]
        if bad:
            raise self.fail(node, f"has batch dimensions {a_batch} and {b_batch} that do not "
                                  f"broadcast ({bad[0][0]} vs {bad[0][1]}); make them equal "
                                  f"or 1")
        batch = _broadcast(a_batch, b_batch)
        a_const, b_const = self.is_const(a_name), self.is_const(b_name)
        if b_const and not a_const and math.prod(b_batch) == 1:
            return fc(name, red, n_out, batch=math.prod(batch) * m, precision=self.precision)
        if a_const or b_const or not batch:
            if math.prod(batch) == 1:
                return gemm(name, m, n_out, red, precision=self.precision)
            groups = math.prod(batch)
            return Layer(name=name, kind="gemm", K=groups * n_out, C=groups * red, P=m,
                         G=groups, precision=self.precision)
        heads, lead = batch[-1], math.prod(batch[:-1])
        kind = "matmul_qk" if self.feeds_softmax(node.output[0]) else "matmul_av"
        return Layer(name=name, kind=kind, N=lead, K=heads * n_out, C=heads * red, P=m,
                     G=heads, precision=self.precision)

    def feeds_softmax(self, tensor: str) -> bool:
        """True when ``tensor`` reaches a Softmax through zero-MAC ops (scores, not context)."""
        todo, seen = deque([tensor]), {tensor}
        while todo:
            for node in self.consumers.get(todo.popleft(), []):
                if node.op_type == "Softmax":
                    return True
                if node.op_type in ELEMENTWISE_OPS | SHAPE_OPS:
                    for t in node.output:
                        if t not in seen:
                            seen.add(t)
                            todo.append(t)
        return False

    def passive(self, node: onnx.NodeProto, name: str, kind: str) -> Layer:
        shape = self.shape(node, node.output[0])
        if len(shape) <= 1:
            return passive(name, kind, shape[0] if shape else 1)
        if len(shape) == 2:
            return passive(name, kind, shape[1], (shape[0], 1))
        if len(shape) == 3:
            return passive(name, kind, shape[2], (shape[1], 1), batch=shape[0])
        return passive(name, kind, shape[1], (math.prod(shape[2:-1]), shape[-1]),
                       batch=shape[0])


def _hw(values: Sequence[int]) -> list[int]:
    """(height, width) of a 2-D attribute, or (1, width) of a 1-D one."""
    return [1, int(values[0])] if len(values) == 1 else [int(v) for v in values]


def _broadcast(a: list[int], b: list[int]) -> list[int]:
    """NumPy broadcast of two batch shapes."""
    width = max(len(a), len(b))
    a, b = [1] * (width - len(a)) + a, [1] * (width - len(b)) + b
    return [max(x, y) for x, y in zip(a, b)]


def _bind_batch(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of ``model`` with the symbolic batch (the name of axis 0 of a graph input)
    set to 1 wherever it appears, so shape inference derives every batch-dependent size
    (a ``Reshape`` to ``[N, -1]``, ...) instead of leaving unknown dimensions."""
    inits = {i.name for i in model.graph.initializer}
    names = {i.type.tensor_type.shape.dim[0].dim_param for i in model.graph.input
             if i.name not in inits and i.type.tensor_type.shape.dim
             and i.type.tensor_type.shape.dim[0].dim_param}
    if not names:
        return model
    out = onnx.ModelProto()
    out.CopyFrom(model)
    for info in [*out.graph.input, *out.graph.output, *out.graph.value_info]:
        for d in info.type.tensor_type.shape.dim:
            if d.dim_param in names:
                d.dim_value = 1
    return out


def from_onnx(path_or_model: str | PathLike[str] | onnx.ModelProto, name: str | None = None,
              precision: Precision | None = None) -> Network:
    """Import an ONNX model (a file path or a loaded ``ModelProto``) as a Network.

    ``precision`` applies to every layer (default 8-bit operands). Raises
    :class:`OnnxImportError` for a missing or unreadable file or an unsupported op.
    """
    model, label = _load(path_or_model)
    try:
        model = shape_inference.infer_shapes(_bind_batch(model), strict_mode=False, data_prop=True)
    except (shape_inference.InferenceError, onnx.checker.ValidationError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise OnnxImportError(f"{label}: shape inference failed: {first}") from None
    if name is None:
        name = model.graph.name or (Path(label).stem if label[:1] != "<" else "onnx_model")
    return _Importer(model, label, Network(name), precision or Precision()).run()
