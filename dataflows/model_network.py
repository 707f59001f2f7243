"""The cost model's workload of a :class:`~dataflows.onnx_model.Model`.

:func:`model_network` builds the :class:`~dataflows.network.Network` that
:func:`dataflows.onnx_import.from_onnx` builds from the model's file, but from the
Model's own nodes -- so a model rewritten by
:func:`dataflows.compress.apply.compress_model` (filters removed, layers factorized) is
costed with its real, smaller or factorized shapes.

Rules (those of ``from_onnx`` on the ops a Model holds): every Conv/Gemm is a compute
layer named by its ``layer_name`` (a Conv is ``depthwise`` when ``groups == C > 1``,
else ``conv``, with its exact kernel, stride, dilation, groups and the top/left padding
as ``pad_h``/``pad_w``; a Gemm is ``fc`` with ``P`` the product of its leading
dimensions); MaxPool/AveragePool/GlobalAveragePool are passive ``pool`` nodes, Softmax
and an Add of activations from different layers passive ``elementwise`` nodes, named by
the node name; Relu, Clip, Flatten and Reshape are transparent (edges pass through
them). The batch is 1.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from dataflows.layer import Density, Layer, Precision, fc, passive
from dataflows.network import Network
from dataflows.onnx_model import (
    Add,
    AveragePool,
    Conv,
    Gemm,
    GlobalAveragePool,
    MaxPool,
    Model,
    Softmax,
)

__all__ = ["model_network"]


def _weight_density(w: np.ndarray) -> Density:
    nonzero = int(np.count_nonzero(w))
    return Density(weight=max(nonzero, 1) / w.size)


def _passive(name: str, kind: str, out_shape: tuple[int, ...]) -> Layer:
    """The passive node of ``from_onnx`` for an output of per-sample ``out_shape``."""
    shape = [1, *out_shape]
    if len(shape) == 2:
        return passive(name, kind, shape[1], (shape[0], 1))
    if len(shape) == 3:
        return passive(name, kind, shape[2], (shape[1], 1), batch=shape[0])
    return passive(name, kind, shape[1], (math.prod(shape[2:-1]), shape[-1]), batch=shape[0])


def model_network(model: Model, name: str, precision: Precision | None = None,
                  measured_density: bool = False) -> Network:
    """The workload of ``model`` as a Network called ``name`` (module docstring).

    ``precision`` applies to every layer (default 8-bit operands, as ``from_onnx``).
    With ``measured_density`` each compute layer's ``density.weight`` is the nonzero
    fraction of its weight tensor (at least one element), so a pruned model's sparsity
    reaches the cost model; by default layers are dense, as ``from_onnx`` makes them.
    """
    prec = precision or Precision()
    net = Network(name)
    shapes: dict[str, tuple[int, ...]] = {model.input_name: model.input_shape}
    producers: dict[str, tuple[str, ...]] = {model.input_name: ()}

    def sources(tensors: tuple[str, ...]) -> list[str]:
        out: list[str] = []
        for t in tensors:
            for p in producers[t]:
                if p not in out:
                    out.append(p)
        return out

    def unique(base: str) -> str:
        n, k = base, 1
        while n in net.graph:
            n, k = f"{base}_{k}", k + 1
        return n

    for node in model.nodes:
        layer: Layer | None = None
        if isinstance(node, Conv):
            c, h, w = shapes[node.inputs[0]]
            k, _, r, s = node.weight.shape
            kind = "depthwise" if node.groups == c and node.groups > 1 else "conv"
            layer = Layer(name=node.layer_name, kind=kind, N=1, K=k, C=c, P=node.out_shape[1],
                          Q=node.out_shape[2], R=r, S=s, G=node.groups, H=h, W=w,
                          stride_h=node.strides[0], stride_w=node.strides[1],
                          dilation_h=node.dilations[0], dilation_w=node.dilations[1],
                          pad_h=node.pads[0], pad_w=node.pads[1], precision=prec)
        elif isinstance(node, Gemm):
            k, c = node.weight.shape
            layer = fc(node.layer_name, c, k, batch=math.prod(node.out_shape[:-1]),
                       precision=prec)
        elif isinstance(node, (MaxPool, AveragePool, GlobalAveragePool)):
            layer = _passive(unique(node.name), "pool", node.out_shape)
        elif isinstance(node, Softmax) or (
                isinstance(node, Add) and len({producers[t] for t in node.inputs}) > 1):
            layer = _passive(unique(node.name), "elementwise", node.out_shape)
        if layer is not None and measured_density and isinstance(node, (Conv, Gemm)):
            layer = replace(layer, density=_weight_density(node.weight))
        if layer is None:
            producers[node.output] = tuple(sources(node.inputs))
        else:
            net.add(layer, sources(node.inputs))
            producers[node.output] = (layer.name,)
        shapes[node.output] = node.out_shape
    return net
