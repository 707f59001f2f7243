"""ONNX import from small hand-built models, the error messages, and zoo round trips."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import networkx as nx
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from dataflows.errors import CoforgeError
from dataflows.layer import (Layer, Precision, attention_av, attention_qk, conv, fc, gemm,
                             passive)
from dataflows.network import Network
from dataflows.onnx_io import SUPPORTED_OPS, OnnxImportError, from_onnx, to_onnx
from dataflows.zoo import load


def _model(nodes: list[onnx.NodeProto], inputs: dict[str, list[int]],
           weights: dict[str, tuple[int, ...]] | None = None,
           name: str = "test") -> onnx.ModelProto:
    """A float model whose outputs are the outputs nobody consumes (shapes inferred)."""
    consumed = {t for n in nodes for t in n.input}
    outs = [t for n in nodes for t in n.output if t not in consumed]
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info(k, TensorProto.FLOAT, v) for k, v in inputs.items()],
        [helper.make_tensor_value_info(t, TensorProto.FLOAT, None) for t in outs],
        [numpy_helper.from_array(np.zeros(s, np.float32), k)
         for k, s in (weights or {}).items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _int64(name: str, values: list[int]) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], name=f"{name}_const",
                            value=numpy_helper.from_array(np.array(values, np.int64)))


# -- convolutions -----------------------------------------------------------------------
def test_grouped_padded_strided_conv() -> None:
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="conv", group=4,
                            strides=[2, 2], pads=[1, 1, 1, 1], kernel_shape=[3, 3])
    net = from_onnx(_model([node], {"x": [1, 8, 10, 10]}, {"w": (16, 2, 3, 3)}))
    layer = net["conv"]
    assert layer.kind == "conv"
    assert layer.dims == {"N": 1, "K": 16, "C": 8, "P": 5, "Q": 5, "R": 3, "S": 3, "G": 4}
    assert (layer.H, layer.stride_h, layer.pad_h) == (10, 2, 1)
    assert net.total_macs == 16 * 2 * 9 * 25
    assert layer.precision == Precision()  # 8-bit default


def test_depthwise_dilated_conv() -> None:
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="dw", group=32,
                            pads=[2, 2, 2, 2], dilations=[2, 2])
    layer = from_onnx(_model([node], {"x": [2, 32, 14, 14]}, {"w": (32, 1, 3, 3)}))["dw"]
    assert layer.kind == "depthwise"
    assert (layer.N, layer.G, layer.P, layer.Q, layer.dilation_h) == (2, 32, 14, 14, 2)
    assert layer.macs == 2 * 32 * 9 * 14 * 14


def test_asymmetric_pads_use_begin_pad_and_inferred_output() -> None:
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="tf_same", strides=[2, 2],
                            pads=[0, 0, 1, 1])
    layer = from_onnx(_model([node], {"x": [1, 3, 10, 10]}, {"w": (4, 3, 3, 3)}))["tf_same"]
    assert (layer.pad_h, layer.pad_w, layer.P, layer.Q) == (0, 0, 5, 5)  # (10+1-3)//2+1


def test_auto_pad_same_upper() -> None:
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="same", strides=[2, 2],
                            auto_pad="SAME_UPPER")
    layer = from_onnx(_model([node], {"x": [1, 3, 10, 10]}, {"w": (4, 3, 3, 3)}))["same"]
    assert (layer.P, layer.pad_h) == (5, 0)  # total pad 1 -> begin 0, end 1


def test_conv1d() -> None:
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="c1", pads=[1, 1])
    layer = from_onnx(_model([node], {"x": [1, 4, 16]}, {"w": (8, 4, 3)}))["c1"]
    assert (layer.P, layer.Q, layer.R, layer.S, layer.pad_w) == (1, 16, 1, 3, 1)


# -- matrix multiplies ------------------------------------------------------------------
def test_gemm_trans_b_is_fc() -> None:
    node = helper.make_node("Gemm", ["a", "w", "bias"], ["y"], name="fc", transB=1)
    net = from_onnx(_model([node], {"a": [4, 32]}, {"w": (16, 32), "bias": (16,)}))
    assert net["fc"].kind == "fc"
    assert net["fc"].dims == {"N": 1, "K": 16, "C": 32, "P": 4, "Q": 1, "R": 1, "S": 1, "G": 1}


def test_gemm_trans_a_of_two_activations() -> None:
    node = helper.make_node("Gemm", ["a", "b"], ["y"], name="mm", transA=1)
    layer = from_onnx(_model([node], {"a": [32, 4], "b": [32, 8]}))["mm"]
    assert (layer.kind, layer.P, layer.C, layer.K) == ("gemm", 4, 32, 8)


def test_matmul_2d_with_weight_is_fc() -> None:
    node = helper.make_node("MatMul", ["a", "w"], ["y"], name="proj")
    layer = from_onnx(_model([node], {"a": [10, 64]}, {"w": (64, 48)}))["proj"]
    assert (layer.kind, layer.P, layer.C, layer.K, layer.macs) == ("fc", 10, 64, 48, 30720)


def test_matmul_batched_activation_times_weight_folds_batch_into_rows() -> None:
    node = helper.make_node("MatMul", ["a", "w"], ["y"], name="proj")
    layer = from_onnx(_model([node], {"a": [2, 8, 32]}, {"w": (32, 16)}))["proj"]
    assert (layer.kind, layer.N, layer.P, layer.C, layer.K) == ("fc", 1, 16, 32, 16)


def test_matmul_with_batched_weight_is_grouped_gemm() -> None:
    node = helper.make_node("MatMul", ["a", "w"], ["y"], name="experts")
    layer = from_onnx(_model([node], {"a": [4, 8, 32]}, {"w": (4, 32, 16)}))["experts"]
    assert (layer.kind, layer.G, layer.P, layer.C, layer.K) == ("gemm", 4, 8, 128, 64)
    assert layer.macs == 4 * 8 * 32 * 16


def test_matmul_2d_of_activations_is_gemm() -> None:
    node = helper.make_node("MatMul", ["a", "b"], ["y"], name="mm")
    layer = from_onnx(_model([node], {"a": [6, 5], "b": [5, 7]}))["mm"]
    assert (layer.kind, layer.P, layer.C, layer.K, layer.G) == ("gemm", 6, 5, 7, 1)


def test_batched_attention_matmuls() -> None:
    nodes = [
        helper.make_node("MatMul", ["q", "kt"], ["s"], name="scores"),
        helper.make_node("Div", ["s", "scale"], ["s2"], name="scale"),
        helper.make_node("Softmax", ["s2"], ["p"], name="softmax", axis=-1),
        helper.make_node("MatMul", ["p", "v"], ["ctx"], name="context"),
    ]
    net = from_onnx(_model(nodes, {"q": [2, 12, 8, 64], "kt": [2, 12, 64, 8],
                                   "v": [2, 12, 8, 64]}, {"scale": ()}))
    qk, av = net["scores"], net["context"]
    assert (qk.kind, qk.N, qk.G, qk.P, qk.C, qk.K) == ("matmul_qk", 2, 12, 8, 12 * 64, 12 * 8)
    assert (av.kind, av.N, av.G, av.P, av.C, av.K) == ("matmul_av", 2, 12, 8, 12 * 8, 12 * 64)
    assert qk.macs == av.macs == 2 * 12 * 8 * 8 * 64
    assert list(net.graph.edges) == [("scores", "softmax"), ("softmax", "context")]
    assert net["softmax"].kind == "elementwise"


# -- topology ---------------------------------------------------------------------------
def test_residual_add_is_a_join_and_relu_is_transparent() -> None:
    nodes = [
        helper.make_node("Conv", ["x", "w0"], ["a"], name="stem", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["a"], ["a1"], name="relu0"),
        helper.make_node("Conv", ["a1", "w1"], ["b"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["b", "g", "be", "m", "var"], ["b1"],
                         name="bn1"),
        helper.make_node("Relu", ["b1"], ["b2"], name="relu1"),
        helper.make_node("Conv", ["b2", "w1"], ["c"], name="conv2", pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["c", "a1"], ["d"], name="add"),
        helper.make_node("Add", ["d", "bias"], ["d1"], name="bias_add"),
        helper.make_node("GlobalAveragePool", ["d1"], ["e"], name="gap"),
        helper.make_node("Flatten", ["e"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "wf"], ["y"], name="fc", transB=1),
    ]
    weights = {"w0": (8, 3, 3, 3), "w1": (8, 8, 3, 3), "g": (8,), "be": (8,), "m": (8,),
               "var": (8,), "bias": (1, 8, 1, 1), "wf": (10, 8)}
    net = from_onnx(_model(nodes, {"x": [1, 3, 6, 6]}, weights))
    assert [n.name for n in net.nodes()] == ["stem", "conv1", "conv2", "add", "gap", "fc"]
    assert set(net.graph.predecessors("add")) == {"conv2", "stem"}
    assert list(net.graph.predecessors("fc")) == ["gap"]
    assert (net["add"].kind, net["add"].K, net["add"].P) == ("elementwise", 8, 6)
    assert (net["gap"].kind, net["gap"].P, net["gap"].Q) == ("pool", 1, 1)
    assert net["fc"].C == 8
    assert net.total_macs == (8 * 3 * 9 + 2 * 8 * 8 * 9) * 36 + 80


def test_reshape_and_transpose_pass_through() -> None:
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["a"], name="conv"),
        helper.make_node("MaxPool", ["a"], ["b"], name="pool", kernel_shape=[2, 2],
                         strides=[2, 2]),
        _int64("shape", [1, 4 * 2 * 2]),
        helper.make_node("Reshape", ["b", "shape"], ["c"], name="reshape"),
        helper.make_node("Transpose", ["c"], ["d"], name="t", perm=[1, 0]),
        helper.make_node("Transpose", ["d"], ["e"], name="t2", perm=[1, 0]),
        helper.make_node("MatMul", ["e", "wf"], ["y"], name="head"),
    ]
    net = from_onnx(_model(nodes, {"x": [1, 3, 5, 5]}, {"w": (4, 3, 2, 2), "wf": (16, 5)}),
                    name="tiny")
    assert net.name == "tiny"
    assert list(net.graph.edges) == [("conv", "pool"), ("pool", "head")]
    assert (net["pool"].P, net["head"].C, net["head"].K) == (2, 16, 5)


def test_shape_computation_does_not_add_edges() -> None:
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["a"], name="conv"),
        helper.make_node("Shape", ["a"], ["s"], name="shape"),
        helper.make_node("Reshape", ["a", "s"], ["b"], name="reshape"),
        helper.make_node("Relu", ["b"], ["y"], name="relu"),
    ]
    net = from_onnx(_model(nodes, {"x": [1, 3, 4, 4]}, {"w": (2, 3, 1, 1)}))
    assert [n.name for n in net.nodes()] == ["conv"]


def test_unnamed_nodes_get_unique_names() -> None:
    nodes = [helper.make_node("MatMul", ["a", "w"], ["b"]),
             helper.make_node("MatMul", ["b", "w"], ["c"])]
    net = from_onnx(_model(nodes, {"a": [2, 4]}, {"w": (4, 4)}))
    assert [n.name for n in net.nodes()] == ["MatMul_0", "MatMul_1"]


def test_precision_argument() -> None:
    node = helper.make_node("MatMul", ["a", "w"], ["y"], name="mm")
    net = from_onnx(_model([node], {"a": [2, 4]}, {"w": (4, 4)}),
                    precision=Precision(weight_bits=4))
    assert net["mm"].precision.weight_bits == 4


# -- errors -----------------------------------------------------------------------------
def test_unsupported_op_message(tmp_path: Path) -> None:
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="relu"),
             helper.make_node("Einsum", ["a", "a"], ["y"], name="einsum0",
                              equation="ij,jk->ik")]
    path = tmp_path / "model.onnx"
    onnx.save(_model(nodes, {"x": [4, 4]}), str(path))
    with pytest.raises(OnnxImportError) as info:
        from_onnx(path)
    message = str(info.value)
    assert message.startswith(f"{path}: node einsum0 (op Einsum) is not supported; "
                              "supported ops: Abs, Add, AveragePool, ")
    assert "\n" not in message
    assert all(op in message for op in SUPPORTED_OPS)
    assert issubclass(OnnxImportError, CoforgeError)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.onnx"
    with pytest.raises(OnnxImportError, match=rf"^{path}: no such ONNX file$"):
        from_onnx(path)


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "junk.onnx"
    path.write_bytes(b"\xff\x00not a protobuf" * 10)
    with pytest.raises(OnnxImportError, match=rf"^{path}: not a readable ONNX model"):
        from_onnx(path)


def test_model_object_errors_name_the_graph() -> None:
    node = helper.make_node("TopK", ["x", "k"], ["v", "i"], name="topk")
    with pytest.raises(OnnxImportError, match=r"^<onnx model ranker>: node topk \(op TopK\) "
                                              r"is not supported"):
        from_onnx(_model([_int64("k", [3]), node], {"x": [1, 10]}, name="ranker"))


def test_unknown_shape_is_reported() -> None:
    node = helper.make_node("MatMul", ["a", "w"], ["y"], name="mm")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info(
        "a", TensorProto.FLOAT, None)], [], [numpy_helper.from_array(
            np.zeros((4, 4), np.float32), "w")])
    with pytest.raises(OnnxImportError, match=r"node mm \(op MatMul\) has input/output 'a' "
                                              r"of unknown shape"):
        from_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))


# -- round trips ------------------------------------------------------------------------
def _check_round_trip(net: Network, path: Path) -> Network:
    to_onnx(net, path)
    onnx.checker.check_model(str(path))
    back = from_onnx(path)
    assert back.name == net.name
    assert back.total_macs == net.total_macs
    assert [layer.name for layer in back] == [layer.name for layer in net]
    for layer in net:
        assert back[layer.name].to_dict() == layer.to_dict()
    assert nx.is_weakly_connected(back.graph)
    for u, v in back.graph.edges:  # every imported edge is a path in the original
        assert nx.has_path(net.graph, u, v), (u, v)
    return back


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2"])
def test_zoo_round_trip(name: str, tmp_path: Path) -> None:
    net = load(name)
    back = _check_round_trip(net, tmp_path / f"{name}.onnx")
    adds = [n.name for n in net.nodes() if n.kind == "elementwise"]
    assert adds and all(set(back.graph.predecessors(a)) == set(net.graph.predecessors(a))
                        for a in adds)


def test_small_transformer_round_trip(tmp_path: Path) -> None:
    net = Network("mini_encoder")
    x = net.add(passive("embed", "elementwise", 64, (8, 1), batch=2))
    q = net.add(fc("query", 64, 64, batch=16), [x])
    k = net.add(fc("key", 64, 64, batch=16), [x])
    v = net.add(fc("value", 64, 64, batch=16), [x])
    s = net.add(replace(attention_qk("scores", seq_len=8, head_dim=16, heads=4), N=2), [q, k])
    s = net.add(passive("softmax", "elementwise", 32, (8, 1), batch=2), [s])
    a = net.add(replace(attention_av("context", seq_len=8, head_dim=16, heads=4), N=2), [s, v])
    a = net.add(fc("out", 64, 64, batch=16), [a])
    net.add(passive("add", "elementwise", 64, (8, 1), batch=2), [a, x])
    back = _check_round_trip(net, tmp_path / "mini.onnx")
    assert [layer.kind for layer in back] == ["fc", "fc", "fc", "matmul_qk", "matmul_av", "fc"]


def test_gemm_exports_read_back_as_fc_with_same_dims(tmp_path: Path) -> None:
    grouped = Layer("experts", kind="gemm", K=4 * 16, C=4 * 32, P=8, G=4)
    net = Network.chain("mm", [gemm("mm", M=6, N=10, K=12), grouped])
    to_onnx(net, tmp_path / "mm.onnx")
    back = from_onnx(tmp_path / "mm.onnx")
    assert back["mm"].kind == "fc" and back["mm"].dims == net["mm"].dims
    assert back["experts"].to_dict() == grouped.to_dict()
    assert back.total_macs == net.total_macs


def test_export_pools_and_reshapes(tmp_path: Path) -> None:
    net = Network.chain("mini_alex", [
        conv("conv1", 3, 8, 35, 11, stride=4, padding=2),        # 8x8
        passive("pool1", "pool", 8, 3),                          # 3x3/2 max pool
        passive("same", "pool", 8, 3),                           # adaptive, no-op
        fc("fc6", 8 * 3 * 3, 16),
    ])
    path = tmp_path / "mini_alex.onnx"
    to_onnx(net, path)
    nodes = {n.name: n for n in onnx.load(str(path)).graph.node}
    assert {name: n.op_type for name, n in nodes.items()} == {
        "conv1": "Conv", "pool1": "MaxPool", "same": "Identity", "fc6.reshape": "Reshape",
        "fc6": "Gemm"}
    # 8 -> 3: stride 8 // 3 = 2, kernel 8 - (3 - 1) * 2 = 4.
    assert {a.name: list(a.ints) for a in nodes["pool1"].attribute} == {
        "kernel_shape": [4, 4], "strides": [2, 2]}
    back = _check_round_trip(net, path)
    assert list(back.graph.edges) == [("conv1", "pool1"), ("pool1", "fc6")]
