"""Malformed ONNX models, one per class of bad input the importer refuses (shared by
the importer's validation tests and the CLI's bad-input tests).

Each entry: name -> (model, words its one-line error must contain)."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def model(nodes: list[onnx.NodeProto], inputs: dict[str, list[int | str]],
          weights: dict[str, tuple[int, ...]] | None = None) -> onnx.ModelProto:
    """A float model whose outputs are the tensors nobody consumes (shapes inferred)."""
    consumed = {t for n in nodes for t in n.input}
    outs = [t for n in nodes for t in n.output if t not in consumed]
    graph = helper.make_graph(
        nodes, "bad",
        [helper.make_tensor_value_info(k, TensorProto.FLOAT, v) for k, v in inputs.items()],
        [helper.make_tensor_value_info(t, TensorProto.FLOAT, None) for t in outs],
        [numpy_helper.from_array(np.ones(s, np.float32), k)
         for k, s in (weights or {}).items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _conv(**attrs: object) -> onnx.NodeProto:
    return helper.make_node("Conv", ["x", "w"], ["y"], name="conv", **attrs)


W = {"w": (4, 3, 3, 3)}

#: name -> (model, words of the error after the file name).
BAD_MODELS: dict[str, tuple[onnx.ModelProto, tuple[str, ...]]] = {
    "symbolic_channels": (model([_conv()], {"x": [1, "C", 8, 8]}, W),
                          ("node conv", "dimension 1 is symbolic ('C')", "only the batch")),
    "symbolic_height": (model([_conv()], {"x": ["N", 3, "H", 8]}, W),
                        ("dimension 2 is symbolic ('H')",)),
    "symbolic_sequence": (model([helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")],
                                {"x": ["N", "T", 16]}, {"w": (16, 8)}),
                          ("node mm", "dimension 1 is symbolic ('T')")),
    "zero_height": (model([_conv()], {"x": [1, 3, 0, 8]}, W),
                    ("dimension 2 of size 0", "must be >= 1")),
    "zero_batch": (model([_conv()], {"x": [0, 3, 8, 8]}, W), ("dimension 0 of size 0",)),
    "channel_mismatch": (model([_conv()], {"x": [1, 5, 8, 8]}, W),
                         ("weight 'w' with 3 input channels", "input 'x' has 5 channels",
                          "K x 5 x R x S")),
    "group_mismatch": (model([_conv(group=2)], {"x": [1, 6, 8, 8]}, {"w": (4, 6, 3, 3)}),
                       ("group=2", "K x 3 x R x S")),
    "zero_stride": (model([_conv(strides=[0, 1])], {"x": [1, 3, 8, 8]}, W),
                    ("strides=[0, 1]", "every stride must be an integer >= 1")),
    "zero_dilation": (model([_conv(dilations=[1, 0])], {"x": [1, 3, 8, 8]}, W),
                      ("dilations=[1, 0]",)),
    "negative_pad": (model([_conv(pads=[-1, 0, 0, 0])], {"x": [1, 3, 8, 8]}, W),
                     ("pads=[-1, 0, 0, 0]", "pads must be >= 0")),
    "kernel_larger_than_input": (model([_conv()], {"x": [1, 3, 2, 2]}, W),
                                 ("empty output", "larger than the padded 2x2 input")),
    "matmul_inner_mismatch": (
        model([helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")], {"x": [4, 16]},
              {"w": (8, 32)}),
        ("node mm (op MatMul)", "inner dimensions 16 and 8 must be equal")),
    "gemm_inner_mismatch": (
        model([helper.make_node("Gemm", ["x", "w"], ["y"], name="g", transB=1)],
              {"x": [4, 16]}, {"w": (8, 32)}),
        ("node g (op Gemm)", "inner dimensions 16 and 32", "transA/transB")),
    "matmul_batch_mismatch": (
        model([helper.make_node("MatMul", ["x", "z"], ["y"], name="bmm")],
              {"x": [2, 4, 16], "z": [3, 16, 8]}),
        ("batch dimensions [2] and [3]", "do not broadcast")),
    "huge_dimension": (model([_conv()], {"x": [1, 3, 2**31, 8]}, W),
                       ("dimension 2 of size 2147483648", "up to 2**31 - 1")),
    "huge_layer": (model([_conv()], {"x": [1, 3, 2**30, 2**30]}, W),
                   ("1.25e+20 MACs", "up to 2**53 MACs")),
}

#: A graph without a compute node: imports (passive nodes), but the CLI refuses to cost it.
NO_COMPUTE = model([helper.make_node("Relu", ["x"], ["y"], name="relu")], {"x": [1, 8]})
