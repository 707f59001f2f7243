"""dataflows.model_network: the workload built from a Model equals from_onnx's on the
shipped files (every node, every edge), and a compressed model's workload has the
factorized layers of ``factorized_layers`` and the hand-computed shrunk shapes and MACs."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from dataflows.compress.apply import compress_model
from dataflows.compress.lowrank import factorized_layers
from dataflows.compress.plan import CompressionPlan, LayerCompression
from dataflows.dataset import shipped
from dataflows.layer import Layer, Precision
from dataflows.model_network import model_network
from dataflows.network import Network
from dataflows.onnx_import import from_onnx
from dataflows.onnx_model import Model, load_model

SHAPE_FIELDS = ("kind", "N", "K", "C", "P", "Q", "R", "S", "G", "H", "W", "stride_h",
                "stride_w", "dilation_h", "dilation_w", "pad_h", "pad_w")


def shape(layer: Layer) -> tuple[object, ...]:
    return tuple(getattr(layer, f) for f in SHAPE_FIELDS)


@pytest.mark.parametrize("name", ["digits_cnn", "digits_dwsep", "digits_mlp"])
def test_equals_from_onnx_on_the_shipped_models(name: str) -> None:
    path = shipped(f"{name}.onnx")
    ref, got = from_onnx(path), model_network(load_model(path), name)
    assert got.name == name
    assert [layer.name for layer in got.layers()] == [layer.name for layer in ref.layers()]
    assert got.nodes() == ref.nodes()                 # every field, passive nodes included
    assert sorted(got.graph.edges) == sorted(ref.graph.edges)
    assert got.total_macs == ref.total_macs


def test_hand_values_of_the_digits_cnn() -> None:
    net = model_network(load_model(shipped("digits_cnn.onnx")), "cnn")
    # conv1 8x1x3x3 over 8x8, conv2 16x8x3x3 over 8x8 (pad 1), fc 256 -> 10
    assert [(layer.name, layer.macs) for layer in net.layers()] == [
        ("conv1", 8 * 9 * 64), ("conv2", 16 * 8 * 9 * 64), ("fc", 2560)]
    assert sorted(net.graph.edges) == [("conv1", "conv2"), ("conv2", "pool"), ("pool", "fc")]


def test_precision_and_measured_density() -> None:
    model = load_model(shipped("digits_cnn.onnx"))
    pruned = compress_model(model, CompressionPlan({
        "conv2": LayerCompression(prune="2:4"), "fc": LayerCompression(prune="magnitude:0.3")}))
    net = model_network(pruned, "cnn", precision=Precision(4, 4, 8), measured_density=True)
    assert net["conv2"].density.weight == 0.5            # 2 of every 4 of 1152 weights
    assert net["fc"].density.weight == 768 / 2560         # round(0.3 * 2560)
    assert net["conv1"].density.weight == 1.0
    assert all(layer.precision == Precision(4, 4, 8) for layer in net.layers())
    assert model_network(pruned, "cnn")["conv2"].density.weight == 1.0


def test_factorized_layers_match_factorized_layers() -> None:
    model = load_model(shipped("digits_cnn.onnx"))
    base = from_onnx(shipped("digits_cnn.onnx"))
    cases = [("conv2", LayerCompression(rank=(4, 6)), (4, 6), "tucker2"),
             ("conv2", LayerCompression(rank=5, lowrank="spatial"), 5, "spatial"),
             ("conv1", LayerCompression(rank=(1, 3)), (1, 3), "tucker2"),
             ("fc", LayerCompression(rank=7), 7, "svd")]
    for name, lc, ranks, method in cases:
        net = model_network(compress_model(model, CompressionPlan({name: lc})), "cnn")
        expected = factorized_layers(base[name], ranks, method)
        got = [layer for layer in net.layers() if layer.name.startswith(f"{name}.")]
        assert [layer.name for layer in got] == [layer.name for layer in expected]
        assert [shape(layer) for layer in got] == [shape(layer) for layer in expected]
        assert [layer.macs for layer in got] == [layer.macs for layer in expected]
    # hand arithmetic of conv2 (C=8, K=16, 3x3, 8x8 out) at Tucker-2 ranks (4, 6):
    # 1x1 8->4, 3x3 4->6, 1x1 6->16, each over 64 positions
    net = model_network(compress_model(model, CompressionPlan(
        {"conv2": LayerCompression(rank=(4, 6))})), "cnn")
    assert [net[f"conv2.lr{i}"].macs for i in range(3)] == [
        4 * 8 * 64, 6 * 4 * 9 * 64, 16 * 6 * 64]
    assert sorted(net.graph.edges) == [("conv1", "conv2.lr0"), ("conv2.lr0", "conv2.lr1"),
                                       ("conv2.lr1", "conv2.lr2"), ("conv2.lr2", "pool"),
                                       ("pool", "fc")]
    # spatial rank 5: 3x1 8->5 over 8x8, 1x3 5->16 over 8x8
    net = model_network(compress_model(model, CompressionPlan(
        {"conv2": LayerCompression(rank=5, lowrank="spatial")})), "cnn")
    assert [net["conv2.lr0"].macs, net["conv2.lr1"].macs] == [5 * 8 * 3 * 64, 16 * 5 * 3 * 64]


def test_filter_pruning_shrinks_k_and_c() -> None:
    model = load_model(shipped("digits_cnn.onnx"))
    net = model_network(compress_model(model, CompressionPlan({
        "conv1": LayerCompression(filters=0.5, filter_multiple=4),
        "conv2": LayerCompression(filters=0.5, filter_multiple=8)})), "cnn")
    assert (net["conv1"].K, net["conv2"].C, net["conv2"].K, net["fc"].C) == (4, 4, 8, 128)
    assert (net["pool"].K, net["pool"].P, net["pool"].Q) == (8, 4, 4)
    assert [layer.macs for layer in net.layers()] == [4 * 9 * 64, 8 * 4 * 9 * 64, 10 * 128]
    dw = load_model(shipped("digits_dwsep.onnx"))
    net = model_network(compress_model(dw, CompressionPlan(
        {"stem": LayerCompression(filters=0.5, filter_multiple=8)})), "dw")
    assert (net["stem"].K, net["dw1"].C, net["dw1"].G, net["dw1"].kind, net["pw1"].C) == (
        8, 8, 8, "depthwise", 8)


def _conv_chain_with_add_of_one_source() -> onnx.ModelProto:
    """x -> conv (asymmetric pads, stride 2) -> relu -> add(relu, relu) -> maxpool."""
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((4, 2, 3, 3)).astype(np.float32), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 0, 0, 1],
                              strides=[2, 2]),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("Add", ["r", "r"], ["a"], name="double"),
             helper.make_node("MaxPool", ["a"], ["y"], name="pool", kernel_shape=[2, 2])]
    graph = helper.make_graph(
        nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 9, 9])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_asymmetric_pads_and_an_add_of_one_source_follow_from_onnx() -> None:
    proto = _conv_chain_with_add_of_one_source()
    ref: Network = from_onnx(proto, name="chain")
    got = model_network(load_model(proto), "chain")
    assert got.nodes() == ref.nodes()
    assert sorted(got.graph.edges) == sorted(ref.graph.edges) == [("conv", "pool")]
    # (9 + 1 + 0 - 3) // 2 + 1 = 4 rows, (9 + 0 + 1 - 3) // 2 + 1 = 4 columns
    assert (got["conv"].P, got["conv"].Q, got["conv"].pad_h, got["conv"].pad_w) == (4, 4, 1, 0)


def test_model_is_not_modified() -> None:
    model: Model = load_model(shipped("digits_cnn.onnx"))
    before = [n.out_shape for n in model.nodes]
    model_network(model, "cnn", measured_density=True)
    assert [n.out_shape for n in model.nodes] == before
