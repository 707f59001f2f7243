"""ONNX models as executable graphs: numpy float reference vs onnxruntime (the peer),
BN/bias folding, layer names shared with from_onnx, the compute hook, and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from dataflows.dataset import load_npz, shipped
from dataflows.onnx_import import from_onnx
from dataflows.onnx_model import (
    Conv,
    Gemm,
    ModelError,
    Node,
    execute,
    float_compute,
    layer_names,
    load_model,
    mac_nodes,
    run_float,
    trace,
)

SHIPPED = ["digits_cnn.onnx", "digits_dwsep.onnx", "digits_mlp.onnx"]
RNG = np.random.default_rng(7)


def _w(*shape: int, scale: float = 0.5) -> np.ndarray:
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def _model(nodes: list[onnx.NodeProto], in_shape: list[int | str],
           inits: dict[str, np.ndarray] | None = None, opset: int = 17,
           name: str = "synthetic") -> onnx.ModelProto:
    """A float model: input 'x' of ``in_shape``, output the last node's first output."""
    graph = helper.make_graph(
        nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
        [helper.make_tensor_value_info(nodes[-1].output[0], TensorProto.FLOAT, None)],
        [numpy_helper.from_array(v, k) for k, v in (inits or {}).items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def _ort(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def _conv(name: str, x: str, w: str, out: str, b: str | None = None, **attrs: object
          ) -> onnx.NodeProto:
    return helper.make_node("Conv", [x, w] + ([b] if b else []), [out], name=name, **attrs)


def _bn(name: str, x: str, out: str, k: int, inits: dict[str, np.ndarray]) -> onnx.NodeProto:
    inits.update({f"{name}.s": _w(k) + 1, f"{name}.b": _w(k), f"{name}.m": _w(k),
                  f"{name}.v": np.abs(_w(k)) + 0.2})
    return helper.make_node("BatchNormalization",
                            [x, f"{name}.s", f"{name}.b", f"{name}.m", f"{name}.v"], [out],
                            name=name, epsilon=1e-3)


def _case_conv_strided_dilated_padded_grouped():
    inits = {"w": _w(6, 2, 3, 3), "b": _w(6)}
    nodes = [_conv("c", "x", "w", "y", "b", group=2, strides=[2, 1], dilations=[1, 2],
                   pads=[1, 0, 2, 1])]
    return nodes, ["N", 4, 9, 10], inits


def _case_depthwise_no_bias():
    inits = {"w": _w(5, 1, 3, 3)}
    return [_conv("dw", "x", "w", "y", group=5, pads=[1, 1, 1, 1])], ["N", 5, 6, 6], inits


def _case_auto_pad_same():
    inits = {"w1": _w(3, 2, 3, 3), "w2": _w(4, 3, 2, 2)}
    nodes = [_conv("c1", "x", "w1", "t", auto_pad="SAME_UPPER", strides=[2, 2]),
             _conv("c2", "t", "w2", "y", auto_pad="SAME_LOWER")]
    return nodes, ["N", 2, 7, 8], inits


def _case_conv_bn_relu():
    inits = {"w": _w(4, 3, 3, 3), "b": _w(4)}
    nodes = [_conv("c", "x", "w", "t", "b", pads=[1, 1, 1, 1]), _bn("bn", "t", "u", 4, inits),
             helper.make_node("Relu", ["u"], ["y"], name="r")]
    return nodes, ["N", 3, 5, 5], inits


def _case_conv_bias_add():
    inits = {"w": _w(4, 3, 1, 1), "cb": _w(4, 1, 1)}
    nodes = [_conv("c", "x", "w", "t"), helper.make_node("Add", ["t", "cb"], ["y"], name="a")]
    return nodes, ["N", 3, 4, 4], inits


def _case_gemm_transb_alpha_beta():
    inits = {"w": _w(5, 6), "c": _w(5), "w2": _w(5, 3), "c2": _w(1, 3)}
    nodes = [helper.make_node("Gemm", ["x", "w", "c"], ["t"], name="g1", transB=1,
                              alpha=0.7, beta=1.5),
             helper.make_node("Gemm", ["t", "w2", "c2"], ["u"], name="g2", beta=0.5),
             helper.make_node("Gemm", ["u", "w3"], ["y"], name="g3", transB=1)]
    inits["w3"] = _w(4, 3)
    return nodes, ["N", 6], inits


def _case_matmul_add_bn():
    inits = {"w": _w(6, 5), "b": _w(5)}
    nodes = [helper.make_node("MatMul", ["x", "w"], ["t"], name="mm"),
             helper.make_node("Add", ["b", "t"], ["u"], name="bias"),
             helper.make_node("Relu", ["u"], ["v"], name="r"),
             helper.make_node("MatMul", ["v", "w2"], ["m2"], name="mm2"),
             _bn("bn", "m2", "y", 4, inits)]
    inits["w2"] = _w(5, 4)
    return nodes, ["N", 6], inits


def _case_clip_variants():
    inits = {"lo": np.array(-0.3, np.float32), "hi": np.array(0.4, np.float32)}
    nodes = [helper.make_node("Clip", ["x", "lo", "hi"], ["t"], name="both"),
             helper.make_node("Clip", ["t", "", "hi"], ["u"], name="max_only"),
             helper.make_node("Clip", ["u", "lo"], ["v"], name="min_only"),
             helper.make_node("Clip", ["v"], ["y"], name="none")]
    return nodes, ["N", 3, 4], inits


def _case_clip_opset10_attributes():
    return ([helper.make_node("Clip", ["x"], ["y"], name="c", min=-0.2, max=0.5)],
            ["N", 7], {}, 10)


def _case_pools():
    nodes = [helper.make_node("MaxPool", ["x"], ["a"], name="mp", kernel_shape=[3, 3],
                              strides=[2, 1], pads=[1, 1, 1, 0], dilations=[1, 2]),
             helper.make_node("AveragePool", ["a"], ["b"], name="ap_incl", kernel_shape=[2, 3],
                              strides=[1, 2], pads=[1, 1, 0, 1], count_include_pad=1),
             helper.make_node("AveragePool", ["b"], ["y"], name="ap_excl", kernel_shape=[3, 2],
                              pads=[1, 0, 1, 1])]
    return nodes, ["N", 3, 9, 9], {}


def _case_residual_add_broadcast_flatten_reshape_softmax():
    inits = {"w": _w(4, 4, 3, 3), "shape": np.array([-1, 2, 6, 8], np.int64)}
    nodes = [_conv("c", "x", "w", "t", pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["t", "x"], ["res"], name="residual"),
             helper.make_node("GlobalAveragePool", ["res"], ["g"], name="gap"),
             helper.make_node("Add", ["res", "g"], ["b"], name="broadcast_add"),
             helper.make_node("Flatten", ["b"], ["f"], name="flat"),
             helper.make_node("Constant", [], ["s0"], name="shape0",
                              value=numpy_helper.from_array(np.array([0, 8, 12], np.int64))),
             helper.make_node("Reshape", ["f", "s0"], ["r0"], name="reshape0"),
             helper.make_node("Reshape", ["r0", "shape"], ["r1"], name="reshape1"),
             helper.make_node("Softmax", ["r1"], ["y"], name="sm", axis=-1)]
    return nodes, ["N", 4, 4, 6], inits


def _case_softmax_opset11_coerced():
    return ([helper.make_node("Softmax", ["x"], ["y"], name="sm", axis=1)], ["N", 3, 2, 2],
            {}, 11)


def _case_identity_dropout_unnamed():
    inits = {"w": _w(3, 4)}
    nodes = [helper.make_node("Identity", ["x"], ["a"]),
             helper.make_node("Dropout", ["a"], ["b"]),
             helper.make_node("Gemm", ["b", "w"], ["c"], transB=1),
             helper.make_node("Relu", ["c"], ["y"])]
    return nodes, ["N", 4], inits


CASES = {name[len("_case_"):]: fn for name, fn in globals().items() if name.startswith("_case_")}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_run_float_equals_onnxruntime(case: str, dtype: type) -> None:
    nodes, shape, inits, *opset = CASES[case]()
    proto = _model(nodes, shape, inits, *opset)
    model = load_model(proto)
    x = RNG.standard_normal((3, *shape[1:])).astype(np.float32)
    ref = _ort(proto, x)
    got = run_float(model, x.astype(dtype))
    assert got.dtype == dtype and got.shape == ref.shape
    assert tuple(got.shape[1:]) == model.output_shape
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


def test_bn_and_bias_adds_are_folded_into_the_mac_node() -> None:
    for case, folded in [("conv_bn_relu", ("bn", None)), ("conv_bias_add", (None, "a")),
                         ("matmul_add_bn", None)]:
        nodes, shape, inits, *_ = CASES[case]()
        model = load_model(_model(nodes, shape, inits))
        assert not any(n.op in ("BatchNormalization",) for n in model.nodes)
        if folded:
            (mac,) = mac_nodes(model)
            assert (mac.folded_bn, mac.folded_add) == folded
    nodes, shape, inits, *_ = CASES["matmul_add_bn"]()
    mm, _, mm2 = load_model(_model(nodes, shape, inits)).nodes
    assert (mm.op, mm.folded_add, mm2.folded_bn) == ("Gemm", "bias", "bn")
    assert mm.weight.shape == (5, 6) and not mm.weight.flags.writeable


def test_gemm_weight_is_out_by_in_with_alpha_applied() -> None:
    nodes, shape, inits, *_ = CASES["gemm_transb_alpha_beta"]()
    g1, g2, g3 = load_model(_model(nodes, shape, inits)).nodes
    np.testing.assert_allclose(g1.weight, 0.7 * inits["w"], rtol=1e-6)
    np.testing.assert_allclose(g1.bias, 1.5 * inits["c"], rtol=1e-6)
    np.testing.assert_array_equal(g2.weight, inits["w2"].T)
    np.testing.assert_array_equal(g3.bias, np.zeros(4, np.float32))


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_equals_onnxruntime_on_digits_test(name: str) -> None:
    model = load_model(shipped(name))
    data = load_npz(shipped("digits_test.npz"), model)
    ref = ort.InferenceSession(str(shipped(name)), providers=["CPUExecutionProvider"]).run(
        None, {model.input_name: data.x})[0]
    got = run_float(model, data.x)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    assert np.array_equal(got.argmax(1), ref.argmax(1))
    # onnxruntime's own top-1 (README target: >= 0.95 for every shipped model)
    assert (ref.argmax(1) == data.y).mean() >= 0.95
    assert (model.input_name, model.input_shape, model.num_classes) == ("input", (1, 8, 8), 10)


def test_shipped_models_fold_bn_and_cover_depthwise_and_residual() -> None:
    cnn = load_model(shipped("digits_cnn.onnx"))
    assert [n.op for n in cnn.nodes] == ["Conv", "Relu", "Conv", "Relu", "MaxPool",
                                         "Flatten", "Gemm"]
    assert mac_nodes(cnn)[0].folded_bn == "bn1"
    dw = load_model(shipped("digits_dwsep.onnx"))
    groups = [n.groups for n in mac_nodes(dw) if isinstance(n, Conv)]
    assert groups == [1, 16, 1, 32, 1]
    assert {"Add", "Clip", "GlobalAveragePool"} <= {n.op for n in dw.nodes}
    mlp = load_model(shipped("digits_mlp.onnx"))
    assert [(n.op, getattr(n, "onnx_op", None)) for n in mac_nodes(mlp)] == \
        [("Gemm", "MatMul"), ("Gemm", "MatMul")]


@pytest.mark.parametrize("name", SHIPPED)
def test_layer_names_match_from_onnx(name: str) -> None:
    model = load_model(shipped(name))
    net = from_onnx(shipped(name))
    macs = mac_nodes(model)
    assert [n.layer_name for n in macs] == [layer.name for layer in net.layers()]
    for node in macs:
        layer = net[node.layer_name]
        k, c = node.weight.shape[:2]
        groups = node.groups if isinstance(node, Conv) else 1
        assert (layer.K, layer.C, layer.G) == (k, c * groups, groups)


def test_layer_names_of_unnamed_and_duplicate_nodes() -> None:
    inits = {"w1": _w(3, 4), "w2": _w(3, 3), "w3": _w(2, 3)}
    nodes = [helper.make_node("Gemm", ["x", "w1"], ["a"], transB=1),
             helper.make_node("Gemm", ["a", "w2"], ["b"], name="fc", transB=1),
             helper.make_node("Gemm", ["b", "w3"], ["y"], name="fc", transB=1)]
    proto = _model(nodes, ["N", 4], inits)
    model = load_model(proto)
    net = from_onnx(proto)
    assert [n.name for n in model.nodes] == ["Gemm_0", "fc", "fc_1"]
    assert layer_names(model) == dict(zip(["Gemm_0", "fc", "fc_1"],
                                          [layer.name for layer in net.layers()]))
    assert all(name in net.graph for name in layer_names(model).values())


def test_execute_hook_replaces_per_node_compute_and_trace_keeps_every_tensor() -> None:
    model = load_model(shipped("digits_cnn.onnx"))
    x = load_npz(shipped("digits_test.npz")).x[:16]
    seen: list[str] = []

    def no_relu(node: Node, inputs: list[np.ndarray]) -> np.ndarray:
        seen.append(node.name)
        return inputs[0] if node.op == "Relu" else float_compute(node, inputs)

    out = execute(model, x, no_relu)
    assert seen == [n.name for n in model.nodes]
    # the peer: onnxruntime on the same file with the Relu nodes bypassed
    proto = onnx.load(str(shipped("digits_cnn.onnx")))
    relu_in = {n.output[0]: n.input[0] for n in proto.graph.node if n.op_type == "Relu"}
    kept = [n for n in proto.graph.node if n.op_type != "Relu"]
    for n in kept:
        n.input[:] = [relu_in.get(t, t) for t in n.input]
    del proto.graph.node[:]
    proto.graph.node.extend(kept)
    np.testing.assert_allclose(out, _ort(proto, x), rtol=1e-5, atol=1e-5)
    tensors = trace(model, x)
    for node in model.nodes:
        assert tensors[node.output].shape == (16, *node.out_shape)
    np.testing.assert_array_equal(tensors[model.output_name], run_float(model, x))


# -- bad input ------------------------------------------------------------------------------

def _save(tmp_path: Path, proto: onnx.ModelProto, name: str = "bad.onnx") -> Path:
    path = tmp_path / name
    onnx.save(proto, path)
    return path


def _one_line_error(path: Path | onnx.ModelProto, match: str) -> str:
    with pytest.raises(ModelError, match=match) as info:
        load_model(path)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_unsupported_op_names_node_op_and_file(tmp_path: Path) -> None:
    path = _save(tmp_path, _model([helper.make_node("Sigmoid", ["x"], ["y"], name="act")],
                                  ["N", 4]))
    msg = _one_line_error(path, r"node act \(op Sigmoid\) is not supported")
    assert msg.startswith(str(path))


def test_missing_initializer(tmp_path: Path) -> None:
    path = _save(tmp_path, _model([_conv("c", "x", "w_gone", "y")], ["N", 3, 4, 4]))
    _one_line_error(path, r"node c \(op Conv\) reads weight 'w_gone'.*missing initializer")


def test_weight_from_an_activation_is_rejected() -> None:
    proto = _model([helper.make_node("Relu", ["x"], ["r"], name="r"),
                    helper.make_node("MatMul", ["x", "r"], ["y"], name="mm")], ["N", 4])
    _one_line_error(proto, r"node mm \(op MatMul\) takes its weight 'r' from an activation")


def test_channel_mismatch(tmp_path: Path) -> None:
    path = _save(tmp_path, _model([_conv("c", "x", "w", "y")], ["N", 4, 5, 5],
                                  {"w": _w(8, 3, 3, 3)}))
    _one_line_error(path, r"node c \(op Conv\) has weight of shape \[8, 3, 3, 3\] for 3 "
                          r"input channels, but its input 'x' has 4 channels")
    _one_line_error(_model([helper.make_node("Gemm", ["x", "w"], ["y"], name="g", transB=1)],
                           ["N", 6], {"w": _w(2, 5)}),
                    r"node g \(op Gemm\) has weight for 5 input features.*\['N', 6\]")
    _one_line_error(_model([_conv("c", "x", "w", "y", group=3)], ["N", 4, 5, 5],
                           {"w": _w(6, 2, 3, 3)}), r"group=3, which must divide")


@pytest.mark.parametrize("dims, shown", [(["N", "C", 8, 8], "'C'"), (["N", 1, 0, 8], "0")])
def test_symbolic_or_zero_dims_other_than_batch(dims: list, shown: str) -> None:
    _one_line_error(_model([helper.make_node("Relu", ["x"], ["y"], name="r")], dims),
                    rf"input 'x' dimension \d is {shown}; only the batch dimension")


def test_fixed_batch_is_accepted() -> None:
    model = load_model(_model([helper.make_node("Relu", ["x"], ["y"], name="r")], [1, 3]))
    assert model.input_shape == (3,)


def test_empty_unreadable_and_absent_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    _one_line_error(empty, r"empty\.onnx: empty file")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\xff\x00 not protobuf \x13\x37" * 7)
    _one_line_error(junk, r"junk\.onnx: not a readable ONNX model")
    _one_line_error(tmp_path / "absent.onnx", r"absent\.onnx: no such ONNX file")


def test_lonely_batchnorm_and_constant_add_are_rejected() -> None:
    inits: dict[str, np.ndarray] = {}
    bn = _bn("bn", "x", "y", 3, inits)
    _one_line_error(_model([bn], ["N", 3, 4, 4], inits),
                    r"node bn \(op BatchNormalization\) does not follow a Conv")
    _one_line_error(_model([helper.make_node("Add", ["x", "c"], ["y"], name="a")], ["N", 3],
                           {"c": _w(3)}), r"node a \(op Add\) adds a constant")


def test_reshape_that_moves_the_batch_is_rejected() -> None:
    _one_line_error(_model([helper.make_node("Reshape", ["x", "s"], ["y"], name="rs")],
                           ["N", 4, 3], {"s": np.array([4, -1], np.int64)}),
                    r"node rs \(op Reshape\) .* does not keep the batch dimension first")


def test_run_float_rejects_wrong_input_shape_and_dtype() -> None:
    model = load_model(shipped("digits_cnn.onnx"))
    with pytest.raises(ModelError, match=r"input 'input' must be N x 1 x 8 x 8, not 5 x 64"):
        run_float(model, np.zeros((5, 64), np.float32))
    with pytest.raises(ModelError, match=r"dtype int64; give float32 or float64"):
        run_float(model, np.zeros((5, 1, 8, 8), np.int64))


def test_num_classes_needs_a_classifier_output() -> None:
    model = load_model(_model([helper.make_node("Relu", ["x"], ["y"], name="r")],
                              ["N", 3, 4]))
    with pytest.raises(ModelError, match=r"output 'y' has shape \[3, 4\] per sample"):
        _ = model.num_classes


def test_mac_nodes_are_conv_and_gemm_in_graph_order() -> None:
    model = load_model(shipped("digits_dwsep.onnx"))
    assert [n.name for n in mac_nodes(model)] == ["stem", "dw1", "pw1", "dw2", "pw2", "fc"]
    assert all(isinstance(n, (Conv, Gemm)) for n in mac_nodes(model))


def test_fixed_batch_model_runs_on_any_batch() -> None:
    inits = {"shape": np.array([1, 16], np.int64), "w": _w(3, 16)}
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="r"),
             helper.make_node("Reshape", ["r", "shape"], ["f"], name="rs"),
             helper.make_node("Gemm", ["f", "w"], ["y"], name="fc", transB=1)]
    proto = _model(nodes, [1, 4, 2, 2], inits)
    model = load_model(proto)
    x = RNG.standard_normal((5, 4, 2, 2)).astype(np.float32)
    ref = np.concatenate([_ort(proto, x[i:i + 1]) for i in range(5)])  # ORT needs batch 1
    np.testing.assert_allclose(run_float(model, x), ref, rtol=1e-5, atol=1e-5)


def test_zoo_resnet18_with_random_weights_equals_onnxruntime(tmp_path: Path) -> None:
    from dataflows import zoo
    from dataflows.onnx_export import to_onnx

    to_onnx(zoo.load("resnet18"), tmp_path / "r18.onnx")
    proto = onnx.load(str(tmp_path / "r18.onnx"))
    rng = np.random.default_rng(3)
    for init in proto.graph.initializer:
        a = numpy_helper.to_array(init)
        if a.dtype == np.float32:
            fan_in = max(int(np.prod(a.shape[1:])), 1)
            init.CopyFrom(numpy_helper.from_array(
                (rng.standard_normal(a.shape) / np.sqrt(fan_in)).astype(np.float32), init.name))
    model = load_model(proto)
    assert len(mac_nodes(model)) == 21
    x = rng.standard_normal((1, *model.input_shape)).astype(np.float32)
    ref = _ort(proto, x)
    np.testing.assert_allclose(run_float(model, x), ref, rtol=1e-5, atol=1e-4)


def test_nodes_out_of_file_order_are_sorted() -> None:
    nodes, shape, inits, *_ = CASES["conv_bn_relu"]()
    ordered = _model(nodes, shape, inits)
    shuffled = onnx.ModelProto()
    shuffled.CopyFrom(ordered)
    del shuffled.graph.node[:]
    shuffled.graph.node.extend(list(ordered.graph.node)[::-1])
    model = load_model(shuffled)
    assert [n.op for n in model.nodes] == ["Conv", "Relu"]
    x = RNG.standard_normal((2, *shape[1:])).astype(np.float32)
    np.testing.assert_allclose(run_float(model, x), _ort(ordered, x), rtol=1e-5, atol=1e-5)


def test_a_cycle_is_rejected() -> None:
    nodes = [helper.make_node("Relu", ["x2"], ["x1"], name="a"),
             helper.make_node("Relu", ["x1"], ["x2"], name="b"),
             helper.make_node("Relu", ["x"], ["y"], name="c")]
    _one_line_error(_model(nodes, ["N", 3]), r"node a \(op Relu\) is part of a cycle")
