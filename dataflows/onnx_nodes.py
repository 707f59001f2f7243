"""The executable records of an ONNX model: one frozen node type per supported op, with
its weights attached, and the :class:`Model` that orders them.

Built by :func:`dataflows.onnx_model.load_model`, run by :mod:`dataflows.onnx_exec`
(conventions in :mod:`dataflows.onnx_model`'s docstring: NCHW, shapes without the batch
dimension, MAC weights ``K x ...`` with output channels on axis 0).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from dataflows.errors import CoforgeError

class ModelError(CoforgeError):
    """An ONNX model cannot be executed: the message names the file, the node and the fix."""


# -- node records ---------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True, eq=False)
class Node:
    """One executable node. ``inputs`` are activation tensor names (never initializers)."""

    name: str
    """The ONNX node name (``<op>_<index>`` when the file left it empty)."""
    inputs: tuple[str, ...]
    output: str
    out_shape: tuple[int, ...]
    """Shape of ``output`` without the batch dimension."""

    @property
    def op(self) -> str:
        """The record type's name, e.g. ``"Conv"``."""
        return type(self).__name__


@dataclass(frozen=True, kw_only=True, eq=False)
class Conv(Node):
    """2-D convolution ``y = conv(x, weight) + bias`` over NCHW."""

    weight: np.ndarray
    """``K x C/G x R x S``."""
    bias: np.ndarray
    """``K`` (zeros when the file had none)."""
    strides: tuple[int, int]
    pads: tuple[int, int, int, int]
    """``(top, left, bottom, right)``."""
    dilations: tuple[int, int]
    groups: int
    layer_name: str
    """The :class:`~dataflows.layer.Layer` name ``from_onnx`` gives this node."""
    folded_bn: str | None = None
    """Name of the BatchNormalization folded into ``weight``/``bias``, if any."""
    folded_add: str | None = None
    """Name of the constant Add folded into ``bias``, if any."""


@dataclass(frozen=True, kw_only=True, eq=False)
class Gemm(Node):
    """Fully connected ``y = x @ weight.T + bias`` (from ``Gemm`` or ``MatMul`` [+ ``Add``])."""

    weight: np.ndarray
    """``K x C`` (output features x input features), alpha and transB applied."""
    bias: np.ndarray
    """``K`` (beta applied; zeros when the file had none)."""
    onnx_op: str
    """``"Gemm"`` or ``"MatMul"``."""
    layer_name: str
    folded_bn: str | None = None
    folded_add: str | None = None


@dataclass(frozen=True, kw_only=True, eq=False)
class Relu(Node):
    """``max(x, 0)``."""


@dataclass(frozen=True, kw_only=True, eq=False)
class Clip(Node):
    """``min(max(x, min), max)``; a missing bound is ``None`` (unbounded)."""

    min: float | None
    max: float | None


@dataclass(frozen=True, kw_only=True, eq=False)
class MaxPool(Node):
    """2-D max pooling (padding counts as ``-inf``)."""

    kernel: tuple[int, int]
    strides: tuple[int, int]
    pads: tuple[int, int, int, int]
    dilations: tuple[int, int]


@dataclass(frozen=True, kw_only=True, eq=False)
class AveragePool(Node):
    """2-D average pooling; ``count_include_pad`` divides by the full window everywhere."""

    kernel: tuple[int, int]
    strides: tuple[int, int]
    pads: tuple[int, int, int, int]
    count_include_pad: bool


@dataclass(frozen=True, kw_only=True, eq=False)
class GlobalAveragePool(Node):
    """Mean over every spatial position: ``N x C x H x W -> N x C x 1 x 1``."""


@dataclass(frozen=True, kw_only=True, eq=False)
class Add(Node):
    """Elementwise sum of two activations (numpy broadcasting), e.g. a residual join."""


@dataclass(frozen=True, kw_only=True, eq=False)
class Flatten(Node):
    """``N x ... -> N x prod(...)`` (ONNX ``axis`` = 1)."""


@dataclass(frozen=True, kw_only=True, eq=False)
class Reshape(Node):
    """Reshape each sample to ``out_shape`` (the batch dimension is kept).

    In a model exported with a fixed batch ``B``, a target shape starting with ``B``
    reads as "keep the batch", so the model runs on any batch size."""


@dataclass(frozen=True, kw_only=True, eq=False)
class Softmax(Node):
    """Softmax over the flattened dimensions ``axis..`` (``axis`` counts the batch)."""

    axis: int


#: ONNX op types :func:`load_model` accepts.
SUPPORTED_OPS: frozenset[str] = frozenset({
    "Add", "AveragePool", "BatchNormalization", "Clip", "Constant", "Conv", "Dropout",
    "Flatten", "Gemm", "GlobalAveragePool", "Identity", "MatMul", "MaxPool", "Relu",
    "Reshape", "Softmax",
})


@dataclass(frozen=True, eq=False)
class Model:
    """A loaded model: nodes in a topological order, one input, one output."""

    source: str
    """The file path (or ``<onnx model NAME>``) errors start with."""
    nodes: tuple[Node, ...]
    input_name: str
    input_shape: tuple[int, ...]
    """Input shape without the batch dimension, e.g. ``(1, 8, 8)``."""
    output_name: str
    output_shape: tuple[int, ...]
    """Output shape without the batch dimension, e.g. ``(10,)``."""
    opset: int
    _by_name: Mapping[str, Node] = field(default_factory=dict, repr=False)

    @property
    def num_classes(self) -> int:
        """Number of classes of a classifier: the output's only non-1 dimension."""
        big = [d for d in self.output_shape if d != 1]
        if len(big) > 1:
            raise ModelError(f"{self.source}: output {self.output_name!r} has shape "
                             f"{list(self.output_shape)} per sample, not one score per class; "
                             "give a classifier whose output is N x classes")
        return big[0] if big else 1

    def node(self, name: str) -> Node:
        """The node called ``name``; raises naming the known names."""
        if name not in self._by_name:
            raise ModelError(f"{self.source}: no node {name!r}; nodes: "
                             + ", ".join(n.name for n in self.nodes))
        return self._by_name[name]


def mac_nodes(model: Model) -> list[Conv | Gemm]:
    """The Conv and Gemm nodes (the layers the cost model sees), in graph order."""
    return [n for n in model.nodes if isinstance(n, (Conv, Gemm))]


def layer_names(model: Model) -> dict[str, str]:
    """ONNX node name -> :class:`~dataflows.layer.Layer` name of each MAC node."""
    return {n.name: n.layer_name for n in mac_nodes(model)}


__all__ = ["SUPPORTED_OPS", "Add", "AveragePool", "Clip", "Conv", "Flatten", "Gemm",
           "GlobalAveragePool", "MaxPool", "Model", "ModelError", "Node", "Relu", "Reshape",
           "Softmax", "layer_names", "mac_nodes"]
