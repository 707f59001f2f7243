"""dataflows.compress.apply.compress_model on the shipped digits models.

References are independent of the code under test: N:M and kernel-row counts by brute
force over the groups, kept filters by sorting L1 norms by hand, the original model's
numpy float reference (itself checked against onnxruntime in test_onnx_model) for full-
rank factorizations, and the original model with the pruned filters' weights *and*
biases zeroed (so that, with ReLU/Clip, they output exactly 0) for filter pruning.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from dataflows.compress.apply import CompressionError, compress_model
from dataflows.compress.plan import CompressionPlan, LayerCompression
from dataflows.dataset import load_npz, shipped
from dataflows.errors import CoforgeError
from dataflows.onnx_model import Conv, Gemm, Model, load_model, mac_nodes, run_float


@pytest.fixture(scope="module")
def cnn() -> Model:
    return load_model(shipped("digits_cnn.onnx"))


@pytest.fixture(scope="module")
def dwsep() -> Model:
    return load_model(shipped("digits_dwsep.onnx"))


@pytest.fixture(scope="module")
def mlp() -> Model:
    return load_model(shipped("digits_mlp.onnx"))


@pytest.fixture(scope="module")
def x64() -> np.ndarray:
    with np.load(shipped("digits_test.npz")) as npz:
        return npz["x"][:64].astype(np.float64)


def plan(**layers: LayerCompression) -> CompressionPlan:
    return CompressionPlan(layers)


def mac(model: Model, layer_name: str) -> Conv | Gemm:
    return next(n for n in mac_nodes(model) if n.layer_name == layer_name)


def zero_filters(model: Model, zeroed: dict[str, list[int]]) -> Model:
    """``model`` with the weights and biases of some output channels of nodes set to 0."""
    nodes = []
    for n in model.nodes:
        if n.name in zeroed:
            w, b = n.weight.copy(), n.bias.copy()
            w[zeroed[n.name]] = 0
            b[zeroed[n.name]] = 0
            n = replace(n, weight=w, bias=b)
        nodes.append(n)
    return replace(model, nodes=tuple(nodes), _by_name={n.name: n for n in nodes})


def top_l1(w: np.ndarray, count: int) -> list[int]:
    norms = [(-float(np.abs(w[k]).sum()), k) for k in range(w.shape[0])]
    return sorted(k for _, k in sorted(norms)[:count])


# -- pruning --------------------------------------------------------------------------------
def test_nm_via_the_plan_keeps_exactly_n_of_every_m(cnn: Model) -> None:
    out = compress_model(cnn, plan(conv2=LayerCompression(prune="2:4")))
    orig, new = mac(cnn, "conv2").weight, mac(out, "conv2").weight
    assert new.shape == orig.shape and new.dtype == orig.dtype
    view_o, view_n = orig.reshape(16, -1), new.reshape(16, -1)   # 16 x 72 (c, r, s)
    for k in range(16):
        for start in range(0, 72, 4):
            go, gn = view_o[k, start:start + 4], view_n[k, start:start + 4]
            assert np.count_nonzero(gn) == 2
            largest = sorted(range(4), key=lambda i: -abs(go[i]))[:2]
            for i in range(4):
                assert gn[i] == (go[i] if i in largest else 0.0)
    # other layers untouched, the input model unchanged
    assert np.array_equal(mac(out, "conv1").weight, mac(cnn, "conv1").weight)
    assert np.array_equal(mac(out, "fc").weight, mac(cnn, "fc").weight)
    assert np.count_nonzero(mac(cnn, "conv2").weight) == 16 * 72
    assert [n.name for n in out.nodes] == [n.name for n in cnn.nodes]
    assert out.node("conv2") is mac(out, "conv2")


def test_kernel_rows_and_magnitude_via_the_plan(cnn: Model) -> None:
    out = compress_model(cnn, plan(conv2=LayerCompression(prune="kernel_row"),
                                   fc=LayerCompression(prune="magnitude:0.25")))
    w = mac(out, "conv2").weight
    for k in range(16):
        for c in range(8):
            rows = [r for r in range(3) if np.any(w[k, c, r])]
            assert len(rows) == 1 and np.count_nonzero(w[k, c]) == 3
    assert np.count_nonzero(mac(out, "fc").weight) == 640  # 0.25 * 10 * 256


def test_pruning_90_percent_lowers_top1(cnn: Model) -> None:
    data = load_npz(shipped("digits_test.npz"), cnn)
    names = [n.layer_name for n in mac_nodes(cnn)]
    pruned = compress_model(cnn, CompressionPlan.uniform(
        names, LayerCompression(prune="magnitude:0.1")))
    total = sum(n.weight.size for n in mac_nodes(cnn))
    kept = sum(np.count_nonzero(n.weight) for n in mac_nodes(pruned))
    assert kept == round(0.1 * 72) + round(0.1 * 1152) + round(0.1 * 2560)
    assert kept / total < 0.11

    def top1(m: Model) -> float:
        return float(np.mean(run_float(m, data.x).argmax(axis=1) == data.y))

    base, low = top1(cnn), top1(pruned)
    assert base > 0.95
    assert low < base - 0.3


# -- low rank -------------------------------------------------------------------------------
def test_full_rank_factorization_reproduces_the_outputs(cnn: Model, x64: np.ndarray) -> None:
    out = compress_model(cnn, plan(conv1=LayerCompression(rank=(1, 8)),
                                   conv2=LayerCompression(rank=(8, 16)),
                                   fc=LayerCompression(rank=10)))
    np.testing.assert_allclose(run_float(out, x64), run_float(cnn, x64), rtol=0, atol=1e-5)
    assert [n.layer_name for n in mac_nodes(out)] == [
        "conv1.lr0", "conv1.lr1", "conv1.lr2", "conv2.lr0", "conv2.lr1", "conv2.lr2",
        "fc.lr0", "fc.lr1"]
    c2 = [mac(out, f"conv2.lr{i}") for i in range(3)]
    assert [n.weight.shape for n in c2] == [(8, 8, 1, 1), (16, 8, 3, 3), (16, 16, 1, 1)]
    assert [n.pads for n in c2] == [(0, 0, 0, 0), (1, 1, 1, 1), (0, 0, 0, 0)]
    assert not np.any(c2[0].bias) and not np.any(c2[1].bias)
    assert np.array_equal(c2[2].bias, mac(cnn, "conv2").bias)
    assert c2[2].output == mac(cnn, "conv2").output      # the graph downstream is unchanged
    assert len({n.output for n in out.nodes}) == len(out.nodes)
    assert all(out.node(n.name) is n for n in out.nodes)
    assert out.output_name == cnn.output_name and out.output_shape == cnn.output_shape

    def macs(m: Model) -> int:  # per sample, from the weights and output shapes
        return sum(int(np.prod(n.weight.shape)) * int(np.prod(n.out_shape[1:]))
                   if isinstance(n, Conv) else n.weight.size for n in mac_nodes(m))

    assert macs(cnn) == 4608 + 73728 + 2560
    # hand: conv1 64 + 4608 + 4096, conv2 4096 + 73728 + 16384, fc 2560 + 100
    assert macs(out) == 64 + 4608 + 4096 + 4096 + 73728 + 16384 + 2660 > macs(cnn)


def test_full_rank_spatial_and_low_rank(cnn: Model, x64: np.ndarray) -> None:
    full = compress_model(cnn, plan(conv2=LayerCompression(rank=24, lowrank="spatial")))
    np.testing.assert_allclose(run_float(full, x64), run_float(cnn, x64), rtol=0, atol=1e-5)
    v, h = mac(full, "conv2.lr0"), mac(full, "conv2.lr1")
    assert (v.weight.shape, v.pads, v.out_shape) == ((24, 8, 3, 1), (1, 0, 1, 0), (24, 8, 8))
    assert (h.weight.shape, h.pads, h.out_shape) == ((16, 24, 1, 3), (0, 1, 0, 1), (16, 8, 8))
    low = compress_model(cnn, plan(conv2=LayerCompression(rank=(2, 2))))
    err_low = np.abs(run_float(low, x64) - run_float(cnn, x64)).max()
    assert err_low > 1e-2   # a real approximation, not a copy


def test_full_rank_svd_of_1x1_and_gemm(dwsep: Model, mlp: Model, x64: np.ndarray) -> None:
    out = compress_model(dwsep, plan(pw1=LayerCompression(rank=16),
                                     pw2=LayerCompression(rank=32), fc=LayerCompression(rank=10)))
    np.testing.assert_allclose(run_float(out, x64), run_float(dwsep, x64), rtol=0, atol=1e-5)
    assert [n.weight.shape for n in mac_nodes(out) if n.layer_name.startswith("pw1")] == [
        (16, 16, 1, 1), (32, 16, 1, 1)]
    out = compress_model(mlp, plan(fc1=LayerCompression(rank=32), fc2=LayerCompression(rank=10)))
    np.testing.assert_allclose(run_float(out, x64), run_float(mlp, x64), rtol=0, atol=1e-5)
    assert [(n.weight.shape, n.out_shape) for n in mac_nodes(out)] == [
        ((32, 64), (32,)), ((32, 32), (32,)), ((10, 32), (10,)), ((10, 10), (10,))]


# -- filter pruning -------------------------------------------------------------------------
def test_filters_keep_all_is_identity(cnn: Model, x64: np.ndarray) -> None:
    out = compress_model(cnn, plan(conv1=LayerCompression(filters=1.0),
                                   conv2=LayerCompression(filters=1.0, filter_multiple=8)))
    assert [n.out_shape for n in out.nodes] == [n.out_shape for n in cnn.nodes]
    for a, b in zip(mac_nodes(out), mac_nodes(cnn)):
        assert np.array_equal(a.weight, b.weight) and np.array_equal(a.bias, b.bias)
    assert np.array_equal(run_float(out, x64), run_float(cnn, x64))


def test_conv1_filters_to_multiples_of_8(cnn: Model, x64: np.ndarray) -> None:
    # conv1 has only 8 filters: any kept fraction rounds to one multiple of 8 = all of them
    out = compress_model(cnn, plan(conv1=LayerCompression(filters=0.3, filter_multiple=8)))
    assert mac(out, "conv1").weight.shape[0] == 8
    assert np.array_equal(run_float(out, x64), run_float(cnn, x64))
    # to multiples of 4: 0.5 * 8 = 4 filters of largest L1 norm; conv2 loses those inputs
    w1 = mac(cnn, "conv1").weight
    kept = top_l1(w1, 4)
    out = compress_model(cnn, plan(conv1=LayerCompression(filters=0.5, filter_multiple=4)))
    c1, c2 = mac(out, "conv1"), mac(out, "conv2")
    assert np.array_equal(c1.weight, w1[kept]) and c1.out_shape == (4, 8, 8)
    assert out.node("relu1").out_shape == (4, 8, 8)
    assert np.array_equal(c2.weight, mac(cnn, "conv2").weight[:, kept])
    ref = zero_filters(cnn, {"conv1": [k for k in range(8) if k not in kept]})
    np.testing.assert_allclose(run_float(out, x64), run_float(ref, x64), rtol=0, atol=1e-12)


def test_conv2_filters_through_pool_and_flatten_into_the_gemm(cnn: Model,
                                                              x64: np.ndarray) -> None:
    w2 = mac(cnn, "conv2").weight
    kept = top_l1(w2, 8)
    out = compress_model(cnn, plan(conv2=LayerCompression(filters=0.4, filter_multiple=8)))
    assert mac(out, "conv2").weight.shape == (8, 8, 3, 3)
    assert [out.node(n).out_shape for n in ("conv2", "relu2", "pool", "flatten")] == [
        (8, 8, 8), (8, 8, 8), (8, 4, 4), (128,)]
    cols = [c * 16 + i for c in kept for i in range(16)]          # 4x4 features per channel
    assert np.array_equal(mac(out, "fc").weight, mac(cnn, "fc").weight[:, cols])
    ref = zero_filters(cnn, {"conv2": [k for k in range(16) if k not in kept]})
    np.testing.assert_allclose(run_float(out, x64), run_float(ref, x64), rtol=0, atol=1e-12)


def test_filters_through_a_depthwise_conv(dwsep: Model, x64: np.ndarray) -> None:
    kept = top_l1(mac(dwsep, "stem").weight, 8)
    out = compress_model(dwsep, plan(stem=LayerCompression(filters=0.5, filter_multiple=8)))
    dw1, pw1 = mac(out, "dw1"), mac(out, "pw1")
    assert dw1.groups == 8 and dw1.weight.shape == (8, 1, 3, 3) and dw1.out_shape == (8, 4, 4)
    assert pw1.weight.shape == (32, 8, 1, 1)
    dropped = [k for k in range(16) if k not in kept]
    ref = zero_filters(dwsep, {"stem": dropped, "dw1": dropped})  # dw1's bias too
    np.testing.assert_allclose(run_float(out, x64), run_float(ref, x64), rtol=0, atol=1e-12)


def test_filters_of_a_gemm_and_combined_plans(mlp: Model, cnn: Model,
                                              x64: np.ndarray) -> None:
    kept = top_l1(mac(mlp, "fc1").weight, 16)
    out = compress_model(mlp, plan(fc1=LayerCompression(filters=0.5, filter_multiple=8)))
    assert mac(out, "fc2").weight.shape == (10, 16) and out.node("relu1").out_shape == (16,)
    ref = zero_filters(mlp, {"fc1": [k for k in range(32) if k not in kept]})
    np.testing.assert_allclose(run_float(out, x64), run_float(ref, x64), rtol=0, atol=1e-12)
    # filters then factorization of the same layer, and a pruned consumer
    both = compress_model(cnn, plan(conv1=LayerCompression(filters=0.5, filter_multiple=4),
                                    conv2=LayerCompression(rank=(4, 16)),
                                    fc=LayerCompression(prune="2:4")))
    assert mac(both, "conv2.lr0").weight.shape == (4, 4, 1, 1)
    only_filters = compress_model(cnn, plan(conv1=LayerCompression(filters=0.5,
                                                                   filter_multiple=4)))
    np.testing.assert_allclose(
        run_float(both, x64),
        run_float(compress_model(only_filters, plan(fc=LayerCompression(prune="2:4"))), x64),
        rtol=0, atol=1e-5)  # (4, 16) is full rank for the shrunk conv2


# -- errors ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("model", "layers", "match"), [
    ("cnn", {"conv3": LayerCompression(prune="2:4")},
     r"the plan names no layer 'conv3'; known layers: conv1, conv2, fc$"),
    ("cnn", {"pool": LayerCompression(prune="2:4")},
     (r"layer 'pool' is a MaxPool, not a MAC layer \(Conv/Gemm\); compressible layers: "
     r"conv1, conv2, fc$")),
    ("cnn", {"fc": LayerCompression(filters=0.5)},
     r"layer 'fc': filter pruning removes channels of the graph output 'logits'"),
    ("cnn", {"fc": LayerCompression(prune="kernel_row")},
     r"layer 'fc': prune 'kernel_row' needs a conv with R x S kernels, not a Gemm"),
    ("cnn", {"conv2": LayerCompression(rank=(9, 16))},
     r"layer 'conv2': tucker2 factorization: rank_in must be an integer in \[1, 8\], not 9"),
    ("cnn", {"conv2": LayerCompression(rank=4, lowrank="svd")},
     r"layer 'conv2': lowrank 'svd' needs a 1x1 conv, not 3x3; use tucker2 or spatial"),
    ("cnn", {"fc": LayerCompression(rank=4, lowrank="tucker2")},
     r"layer 'fc': a Gemm factorizes by svd only, not lowrank 'tucker2'"),
    ("dwsep", {"dw1": LayerCompression(rank=4)},
     r"layer 'dw1': a grouped conv \(group=16\) cannot be factorized"),
    ("dwsep", {"dw1": LayerCompression(filters=0.5)},
     r"layer 'dw1': filter pruning of a depthwise conv is not supported"),
    ("dwsep", {"pw2": LayerCompression(filters=0.5)},
     r"layer 'pw2': filter pruning reaches Add 'residual' \(a residual join\)"),
    ("dwsep", {"pw1": LayerCompression(filters=0.5)},
     r"layer 'pw1': filter pruning reaches Add 'residual' \(a residual join\)"),
    ("mlp", {"fc2": LayerCompression(filters=0.5)},
     r"layer 'fc2': filter pruning reaches Softmax 'softmax'"),
])
def test_bad_plans_are_one_line_errors(model: str, layers: dict, match: str,
                                       request: pytest.FixtureRequest) -> None:
    m = request.getfixturevalue(model)
    before = [(n.name, n.out_shape) for n in m.nodes]
    with pytest.raises(CompressionError, match=match) as info:
        compress_model(m, CompressionPlan(layers))
    assert "\n" not in str(info.value) and isinstance(info.value, CoforgeError)
    assert [(n.name, n.out_shape) for n in m.nodes] == before


def test_plan_must_be_a_plan(cnn: Model) -> None:
    with pytest.raises(CompressionError, match="plan must be a CompressionPlan, not dict"):
        compress_model(cnn, {"conv1": LayerCompression()})  # type: ignore[arg-type]
