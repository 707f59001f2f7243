"""Zoo networks: published MAC counts, exact pinned totals, and real topology."""

from __future__ import annotations

import networkx as nx
import pytest

from dataflows.errors import CoforgeError
from dataflows.layer import PASSIVE_KINDS
from dataflows.zoo import PUBLISHED_GMACS, ZOO_NAMES, ZooError, load

#: Exact totals at batch 1 (regression pins; see PUBLISHED_GMACS for the sources).
EXACT_MACS = {
    "alexnet": 714_188_480,
    "vgg16": 15_470_264_320,
    "resnet18": 1_814_073_344,
    "resnet50": 4_089_184_256,
    "mobilenet_v1": 568_740_352,
    "mobilenet_v2": 300_774_272,
    "bert_base": 11_173_625_856,
    "vit_b16": 17_563_828_224,
}
#: Compute layers (nonzero MACs) per network.
COMPUTE_LAYERS = {
    "alexnet": 8, "vgg16": 16, "resnet18": 21, "resnet50": 54, "mobilenet_v1": 28,
    "mobilenet_v2": 53, "bert_base": 96, "vit_b16": 98,
}


def test_names() -> None:
    assert ZOO_NAMES == ("alexnet", "vgg16", "resnet18", "resnet50", "mobilenet_v1",
                         "mobilenet_v2", "bert_base", "vit_b16")
    assert set(PUBLISHED_GMACS) == set(ZOO_NAMES) == set(EXACT_MACS)


@pytest.mark.parametrize("name", ZOO_NAMES)
def test_macs_match_published(name: str) -> None:
    total = load(name).total_macs
    assert total == EXACT_MACS[name]
    assert total / 1e9 == pytest.approx(PUBLISHED_GMACS[name], rel=0.02)


@pytest.mark.parametrize("name", ZOO_NAMES)
def test_graph_is_a_connected_dag_with_unique_names(name: str) -> None:
    net = load(name)
    graph = net.graph
    assert nx.is_directed_acyclic_graph(graph)
    assert nx.is_weakly_connected(graph)
    names = [layer.name for layer in net.nodes()]
    assert len(names) == len(set(names)) == graph.number_of_nodes()
    assert all(graph.nodes[n]["layer"].name == n for n in graph)
    # One input and one output: every branch joins back.
    assert [n for n in graph if graph.in_degree(n) == 0] == [names[0]]
    assert [n for n in graph if graph.out_degree(n) == 0] == [names[-1]]
    assert len(net) == COMPUTE_LAYERS[name]
    # Joins are passive elementwise nodes; compute layers read one tensor (or two: Q, K).
    for n in graph:
        kind = graph.nodes[n]["layer"].kind
        if graph.in_degree(n) > 1:
            assert kind in ("elementwise", "matmul_qk", "matmul_av"), n


@pytest.mark.parametrize("name", ZOO_NAMES)
def test_batch_scales_macs(name: str) -> None:
    assert load(name, batch=2).total_macs == 2 * EXACT_MACS[name]


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_resnet_residuals_and_downsample(name: str) -> None:
    net = load(name)
    last_conv = "conv2" if name == "resnet18" else "conv3"
    g = net.graph
    assert set(g.predecessors("layer1.0.add")) == (
        {f"layer1.0.{last_conv}", "maxpool"} if name == "resnet18"
        else {f"layer1.0.{last_conv}", "layer1.0.downsample"})
    assert set(g.predecessors("layer2.0.add")) == {f"layer2.0.{last_conv}",
                                                   "layer2.0.downsample"}
    assert set(g.predecessors("layer2.1.add")) == {f"layer2.1.{last_conv}", "layer2.0.add"}
    down = net["layer2.0.downsample"]
    assert (down.R, down.stride_h, down.P) == (1, 2, 28)
    assert [n for n in g.successors("avgpool")] == ["fc"]
    assert net["avgpool"].kind == "pool" and net["fc"].dims["C"] == net["avgpool"].K


def test_resnet50_is_v1_5() -> None:
    net = load("resnet50")
    assert net["layer2.0.conv1"].stride_h == 1
    assert net["layer2.0.conv2"].stride_h == 2
    assert net["layer4.2.conv3"].dims["K"] == 2048


def test_mobilenets_use_depthwise() -> None:
    v1, v2 = load("mobilenet_v1"), load("mobilenet_v2")
    assert sum(layer.kind == "depthwise" for layer in v1) == 13
    assert sum(layer.kind == "depthwise" for layer in v2) == 17
    adds = [n.name for n in v2.nodes() if n.kind == "elementwise"]
    assert len(adds) == 10
    assert set(v2.graph.predecessors("features.3.add")) == {"features.3.project",
                                                            "features.2.project"}
    assert v2["features.18"].dims["K"] == 1280


@pytest.mark.parametrize("name,seq,first", [("bert_base", 128, "layer.0"),
                                            ("vit_b16", 197, "encoder.layers.0")])
def test_transformer_blocks(name: str, seq: int, first: str) -> None:
    net = load(name)
    scores, context = net[f"{first}.scores"], net[f"{first}.context"]
    assert (scores.kind, scores.G, scores.P, scores.K, scores.C) == (
        "matmul_qk", 12, seq, 12 * seq, 768)
    assert (context.kind, context.G, context.P, context.K, context.C) == (
        "matmul_av", 12, seq, 768, 12 * seq)
    assert list(net.graph.predecessors(f"{first}.scores")) == [f"{first}.query", f"{first}.key"]
    assert list(net.graph.predecessors(f"{first}.context")) == [f"{first}.softmax",
                                                                f"{first}.value"]
    assert net[f"{first}.ffn1"].dims == {"N": 1, "K": 3072, "C": 768, "P": seq, "Q": 1,
                                         "R": 1, "S": 1, "G": 1}
    kinds = [layer.kind for layer in net]
    assert kinds.count("matmul_qk") == kinds.count("matmul_av") == 12


def test_vit_patch_embedding_and_head() -> None:
    net = load("vit_b16")
    proj = net["conv_proj"]
    assert (proj.R, proj.stride_h, proj.P, proj.K) == (16, 16, 14, 768)
    assert net["heads.head"].dims["K"] == 1000


def test_batched_transformer_keeps_heads_as_groups() -> None:
    scores = load("bert_base", batch=4)["layer.0.scores"]
    assert (scores.N, scores.G, scores.P) == (4, 12, 128)
    assert load("bert_base", batch=4)["layer.0.query"].P == 4 * 128


def test_passive_nodes_have_no_macs() -> None:
    for name in ZOO_NAMES:
        assert all(layer.macs == 0 for layer in load(name).nodes()
                   if layer.kind in PASSIVE_KINDS)


def test_unknown_name() -> None:
    with pytest.raises(ZooError, match=r"^unknown network 'resnet19'; available: alexnet, "
                                       r"vgg16, resnet18, resnet50, mobilenet_v1, "
                                       r"mobilenet_v2, bert_base, vit_b16, qwen2\.5_0\.5b, "
                                       r"llama3\.2_1b, tinyllama_1\.1b$"):
        load("resnet19")
    assert issubclass(ZooError, CoforgeError)


@pytest.mark.parametrize("batch", [0, -1, 1.5, True])
def test_bad_batch(batch: object) -> None:
    with pytest.raises(ZooError, match=r"batch must be a positive integer, not "):
        load("alexnet", batch=batch)  # type: ignore[arg-type]
