"""Write a :class:`~dataflows.network.Network` as an ONNX model (zero-valued weights).

Each compute layer becomes one ONNX node named after it: ``conv``/``depthwise`` ->
``Conv``, ``fc`` -> ``Gemm`` (``transB=1``), ``gemm`` -> ``MatMul`` with a constant
``B`` (both read back as ``fc``), a grouped fc/gemm -> ``MatMul`` with a ``[G, C/G, K/G]``
constant, attention matmuls -> ``MatMul`` of two activations shaped ``[N,] G, rows, cols``.
Passive nodes: a join -> ``Add``; after a ``matmul_qk`` -> ``Softmax``; pooling ->
``GlobalAveragePool``, ``MaxPool`` (kernel and stride recovered from the sizes) or
``Identity``. Where a producer's tensor does not have the shape its consumer reads,
a ``Reshape`` (zero-padded or sliced when the element counts differ) links them, so
:func:`~dataflows.onnx_import.from_onnx` reads every compute layer back with the same
dims. The tensors carry shapes only; the data layout is not meaningful.
"""

from __future__ import annotations

import math
from os import PathLike

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from dataflows.layer import Layer
from dataflows.network import Network

#: ONNX opset and IR version written (opset 17 is IR 8; onnxruntime >= 1.12 reads it).
OPSET = 17
IR_VERSION = 8

Dims = tuple[int, ...]


class _GraphWriter:
    """Accumulates ONNX nodes, initializers and graph inputs for one network."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[TensorProto] = []
        self.inputs: dict[Dims, str] = {}
        self.names: set[str] = set()

    def fresh(self, base: str) -> str:
        name, n = base, 1
        while name in self.names:
            name, n = f"{base}.{n}", n + 1
        self.names.add(name)
        return name

    def const(self, base: str, value: np.ndarray) -> str:
        name = self.fresh(base)
        self.initializers.append(numpy_helper.from_array(value, name))
        return name

    def node(self, op: str, inputs: list[str], name: str, **attrs: object) -> str:
        """Add a node named ``name`` (made unique) and return its output tensor name."""
        node_name = self.fresh(name)
        out = self.fresh(f"{node_name}:0")
        self.nodes.append(helper.make_node(op, inputs, [out], name=node_name, **attrs))
        return out

    def graph_input(self, shape: Dims) -> str:
        """One graph input per distinct shape read by a source layer."""
        if shape not in self.inputs:
            self.inputs[shape] = self.fresh(f"input{len(self.inputs) or ''}")
        return self.inputs[shape]

    def adapt(self, tensor: str, have: Dims, want: Dims, owner: str) -> str:
        """``tensor`` of shape ``have`` reshaped (padded/sliced if needed) to ``want``."""
        if have == want:
            return tensor
        size, need = math.prod(have), math.prod(want)
        if size != need:
            flat = self.reshape(tensor, (size,), owner)
            if size < need:
                zeros = self.const(f"{owner}.fill", np.zeros(need - size, np.float32))
                tensor = self.node("Concat", [flat, zeros], f"{owner}.concat", axis=0)
            else:
                ends = self.const(f"{owner}.ends", np.array([need], np.int64))
                starts = self.const(f"{owner}.starts", np.array([0], np.int64))
                tensor = self.node("Slice", [flat, starts, ends], f"{owner}.slice")
        return self.reshape(tensor, want, owner)

    def reshape(self, tensor: str, shape: Dims, owner: str) -> str:
        target = self.const(f"{owner}.shape", np.array(shape, np.int64))
        return self.node("Reshape", [tensor, target], f"{owner}.reshape")


def _rows_major(layer: Layer) -> bool:
    """fc/gemm without groups: a plain 2-D ``[rows, C] . [C, K]``."""
    return layer.kind in ("fc", "gemm") and layer.G == 1


def _in_shape(layer: Layer) -> Dims:
    """Shape of the (first) operand a compute layer reads."""
    if layer.kind in ("conv", "depthwise"):
        return (layer.N, layer.C, layer.H, layer.W)
    if _rows_major(layer):
        return (layer.N * layer.P * layer.Q, layer.C)
    lead = (layer.N,) if layer.N > 1 else ()
    return (*lead, layer.G, layer.P * layer.Q, layer.C // layer.G)


def _out_shape(layer: Layer) -> Dims:
    if layer.kind in ("conv", "depthwise"):
        return (layer.N, layer.K, layer.P, layer.Q)
    if _rows_major(layer):
        return (layer.N * layer.P * layer.Q, layer.K)
    lead = (layer.N,) if layer.N > 1 else ()
    return (*lead, layer.G, layer.P * layer.Q, layer.K // layer.G)


def _onnx_pads(layer: Layer) -> list[int]:
    """Symmetric pads, or another end pad when the layer's H/W need one for exact P/Q.

    ONNX gives ``P`` output rows iff ``0 <= H + begin + end - needed_in_h < stride``.
    """
    ends = []
    for extent, pad, needed, stride in (
            (layer.H, layer.pad_h, layer.needed_in_h, layer.stride_h),
            (layer.W, layer.pad_w, layer.needed_in_w, layer.stride_w)):
        fits = 0 <= extent + 2 * pad - needed < stride
        ends.append(pad if fits else max(needed - extent - pad, 0))
    return [layer.pad_h, layer.pad_w, *ends]


class _Exporter:
    def __init__(self, network: Network) -> None:
        self.net, self.w = network, _GraphWriter()
        self.out: dict[str, tuple[str, Dims]] = {}  # layer name -> (tensor, shape)

    def operand(self, preds: list[str], want: Dims, owner: str) -> str:
        """The producers' tensors (concatenated if several) shaped as ``want``."""
        if not preds:
            return self.w.graph_input(want)
        if len(preds) == 1:
            tensor, have = self.out[preds[0]]
            return self.w.adapt(tensor, have, want, owner)
        flats = [self.w.reshape(self.out[p][0], (math.prod(self.out[p][1]),), owner)
                 for p in preds]
        joined = self.w.node("Concat", flats, f"{owner}.concat", axis=0)
        size = sum(math.prod(self.out[p][1]) for p in preds)
        return self.w.adapt(joined, (size,), want, owner)

    def export(self, layer: Layer) -> tuple[str, Dims]:
        preds = list(self.net.graph.predecessors(layer.name))
        w, name = self.w, layer.name
        if layer.kind in ("conv", "depthwise"):
            x = self.operand(preds, _in_shape(layer), name)
            weight = w.const(f"{name}.weight", np.zeros(
                (layer.K, layer.C // layer.G, layer.R, layer.S), np.float32))
            y = w.node("Conv", [x, weight], name, group=layer.G,
                       kernel_shape=[layer.R, layer.S], strides=[layer.stride_h, layer.stride_w],
                       dilations=[layer.dilation_h, layer.dilation_w], pads=_onnx_pads(layer))
        elif _rows_major(layer):
            x = self.operand(preds, _in_shape(layer), name)
            if layer.kind == "fc":
                weight = w.const(f"{name}.weight", np.zeros((layer.K, layer.C), np.float32))
                y = w.node("Gemm", [x, weight], name, transB=1)
            else:
                weight = w.const(f"{name}.weight", np.zeros((layer.C, layer.K), np.float32))
                y = w.node("MatMul", [x, weight], name)
        elif layer.kind in ("fc", "gemm"):  # grouped: one weight matrix per group
            x = self.operand(preds, _in_shape(layer), name)
            weight = w.const(f"{name}.weight", np.zeros(
                (layer.G, layer.C // layer.G, layer.K // layer.G), np.float32))
            y = w.node("MatMul", [x, weight], name)
        elif layer.kind in ("matmul_qk", "matmul_av"):
            lead = (layer.N,) if layer.N > 1 else ()
            b_shape = (*lead, layer.G, layer.C // layer.G, layer.K // layer.G)
            a = self.operand(preds[:1], _in_shape(layer), name)
            b = self.operand(preds[1:] or preds[:1], b_shape, name)
            y = w.node("MatMul", [a, b], name)
        elif layer.kind == "pool":
            return self.pool(layer, preds)
        else:
            return self.elementwise(layer, preds)
        return y, _out_shape(layer)

    def pool(self, layer: Layer, preds: list[str]) -> tuple[str, Dims]:
        want = (layer.N, layer.K, layer.P, layer.Q)
        have = self.out[preds[0]][1] if len(preds) == 1 else ()
        if len(have) != 4 or have[:2] != want[:2] or have[2] < layer.P or have[3] < layer.Q:
            x = self.operand(preds, want, layer.name)
            return self.w.node("Identity", [x], layer.name), want
        x, (h, w) = self.out[preds[0]][0], have[2:]
        if (h, w) == (layer.P, layer.Q):
            return self.w.node("Identity", [x], layer.name), want
        if (layer.P, layer.Q) == (1, 1):
            return self.w.node("GlobalAveragePool", [x], layer.name), want
        sh, sw = h // layer.P, w // layer.Q
        kernel = [h - (layer.P - 1) * sh, w - (layer.Q - 1) * sw]
        return self.w.node("MaxPool", [x], layer.name, kernel_shape=kernel,
                           strides=[sh, sw]), want

    def elementwise(self, layer: Layer, preds: list[str]) -> tuple[str, Dims]:
        declared = (layer.N, layer.K, layer.P, layer.Q)
        if not preds:
            return self.w.node("Identity", [self.w.graph_input(declared)], layer.name), declared
        first, have = self.out[preds[0]]
        shape = have if math.prod(have) == math.prod(declared) else declared
        acc = self.w.adapt(first, have, shape, layer.name)
        if len(preds) == 1:
            op = "Softmax" if self.net[preds[0]].kind == "matmul_qk" else "Identity"
            return self.w.node(op, [acc], layer.name), shape
        for i, p in enumerate(preds[1:], start=2):
            other = self.w.adapt(*self.out[p], shape, layer.name)
            acc = self.w.node("Add", [acc, other],
                              layer.name if i == len(preds) else f"{layer.name}.add{i}")
        return acc, shape

    def model(self) -> onnx.ModelProto:
        for layer in self.net.nodes():
            self.w.names.add(layer.name)
        for layer in self.net.nodes():
            self.w.names.discard(layer.name)
            self.out[layer.name] = self.export(layer)
        inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(s))
                  for s, n in self.w.inputs.items()]
        outputs = [helper.make_tensor_value_info(self.out[n][0], TensorProto.FLOAT,
                                                 list(self.out[n][1]))
                   for n in self.net.graph if self.net.graph.out_degree(n) == 0]
        graph = helper.make_graph(self.w.nodes, self.net.name, inputs, outputs,
                                  self.w.initializers)
        model = helper.make_model(graph, producer_name="coforge",
                                  opset_imports=[helper.make_opsetid("", OPSET)])
        model.ir_version = IR_VERSION
        return model


def to_onnx(network: Network, path: str | PathLike[str]) -> None:
    """Write ``network`` to ``path`` as an ONNX model with zero-valued weights."""
    onnx.save(_Exporter(network).model(), str(path))
