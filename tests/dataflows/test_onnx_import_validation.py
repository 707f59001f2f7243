"""The ONNX importer refuses malformed models with one line naming the file, the node,
the field and the fix -- it never costs them with made-up sizes or raises a traceback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from bad_onnx_models import BAD_MODELS, NO_COMPUTE, model
from onnx import helper, numpy_helper

from dataflows.onnx_io import OnnxImportError, from_onnx

MODELS = Path(__file__).resolve().parents[2] / "dataflows" / "models"


def _error(source: object) -> str:
    with pytest.raises(OnnxImportError) as info:
        from_onnx(source)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("name", sorted(BAD_MODELS))
def test_bad_model_file_is_one_line_naming_file_node_and_fix(tmp_path: Path,
                                                             name: str) -> None:
    proto, words = BAD_MODELS[name]
    path = tmp_path / f"{name}.onnx"
    onnx.save(proto, path)
    message = _error(path)
    assert message.startswith(f"{path}: "), message
    for word in words:
        assert word in message, (word, message)


@pytest.mark.parametrize("name", ["zero_stride", "matmul_inner_mismatch"])
def test_bad_in_memory_model_is_labelled(name: str) -> None:
    assert _error(BAD_MODELS[name][0]).startswith("<onnx model bad>: ")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.onnx"
    path.write_bytes(b"")
    assert _error(path) == (f"{path}: the file is empty (0 bytes); give an ONNX model "
                            f"(e.g. exported with torch.onnx.export)")


@pytest.mark.parametrize("data", [b"\x08\x07garbage\xff\xff\xff", b"hello world\n"])
def test_unreadable_file(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "junk.onnx"
    path.write_bytes(data)
    message = _error(path)
    assert message.startswith((f"{path}: not a readable ONNX model (",
                               f"{path}: not an ONNX model with a graph")), message
    assert message.endswith("give a .onnx file (e.g. exported with torch.onnx.export)")


def test_a_parsable_file_without_graph_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "nograph.onnx"
    path.write_bytes(onnx.ModelProto(ir_version=8).SerializeToString())
    assert "not an ONNX model with a graph (no nodes)" in _error(path)


def test_missing_file(tmp_path: Path) -> None:
    assert _error(tmp_path / "none.onnx") == f"{tmp_path / 'none.onnx'}: no such ONNX file"


def test_no_compute_node_imports_as_passive_nodes() -> None:
    net = from_onnx(NO_COMPUTE)          # a library caller may read it; the CLI refuses it
    assert net.layers() == [] and len(net.graph) == 0


# -- what stays accepted ------------------------------------------------------------------
def test_symbolic_batch_counts_as_one() -> None:
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="conv")
    net = from_onnx(model([node], {"x": ["N", 3, 8, 8]}, {"w": (4, 3, 3, 3)}))
    assert net["conv"].N == 1 and net["conv"].P == 6


def test_batch_derived_reshape_resolves_with_the_batch_bound_to_one() -> None:
    """``Reshape(x, Shape(x)[0:1] ++ [-1])`` leaves an unknown dimension when the batch
    is symbolic; binding the batch first resolves it instead of failing or guessing."""
    nodes = [
        helper.make_node("Shape", ["x"], ["s"], name="shape"),
        helper.make_node("Slice", ["s", "st", "en"], ["b"], name="batch"),
        helper.make_node("Concat", ["b", "m1"], ["shp"], name="cat", axis=0),
        helper.make_node("Reshape", ["x", "shp"], ["f"], name="flat"),
        helper.make_node("MatMul", ["f", "w"], ["y"], name="fc"),
    ]
    proto = model(nodes, {"x": ["N", 2, 4, 4]}, {"w": (32, 10)})
    for name, value in (("st", [0]), ("en", [1]), ("m1", [-1])):
        proto.graph.initializer.append(numpy_helper.from_array(np.array(value, np.int64),
                                                               name))
    layer = from_onnx(proto)["fc"]
    assert (layer.C, layer.K, layer.P) == (32, 10, 1)


@pytest.mark.parametrize("name", ["digits_cnn", "digits_dwsep", "digits_mlp"])
def test_shipped_models_with_a_symbolic_batch_load(name: str) -> None:
    net = from_onnx(MODELS / f"{name}.onnx")
    assert net.layers() and all(layer.N == 1 for layer in net.layers())
