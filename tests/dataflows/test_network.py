"""Network DAG building, ordering, totals and graph-level errors."""

from __future__ import annotations

import pytest

from dataflows.layer import conv, fc, passive
from dataflows.network import Network, NetworkError


def _residual() -> Network:
    net = Network("res")
    x = net.add(conv("stem", 3, 8, 8, 3, padding=1))
    y = net.add(conv("a", 8, 8, 8, 3, padding=1), [x])
    y = net.add(conv("b", 8, 8, 8, 3, padding=1), [y])
    short = net.add(conv("short", 8, 8, 8, 1), [x])
    net.add(passive("add", "elementwise", 8, 8), [y, short])
    net.add(passive("pool", "pool", 8, 1))
    net.add(fc("fc", 8, 10))
    return net


def test_add_defaults_to_previous_node() -> None:
    net = Network.chain("c", [fc("a", 4, 4), fc("b", 4, 4), fc("c", 4, 2)])
    assert list(net.graph.edges) == [("a", "b"), ("b", "c")]
    assert [layer.name for layer in net] == ["a", "b", "c"]
    assert len(net) == 3


def test_branches_and_join() -> None:
    net = _residual()
    assert set(net.graph.predecessors("add")) == {"b", "short"}
    assert list(net.graph.predecessors("pool")) == ["add"]
    assert [n.name for n in net.nodes()] == ["stem", "a", "b", "short", "add", "pool", "fc"]


def test_layers_skip_passive_nodes_and_total_macs() -> None:
    net = _residual()
    assert [layer.name for layer in net.layers()] == ["stem", "a", "b", "short", "fc"]
    assert net.total_macs == sum(layer.macs for layer in net.layers())
    assert net.total_macs == (8 * 3 * 9 + 2 * 8 * 8 * 9 + 8 * 8) * 64 + 80


def test_getitem_and_missing_name() -> None:
    net = _residual()
    assert net["short"].R == 1
    with pytest.raises(KeyError, match=r"network 'res' has no layer 'nope'"):
        net["nope"]


def test_duplicate_name_rejected() -> None:
    net = Network("n")
    net.add(fc("a", 4, 4))
    with pytest.raises(NetworkError, match=r"network 'n': duplicate layer name 'a'"):
        net.add(fc("a", 4, 4))


def test_unknown_input_rejected() -> None:
    net = Network("n")
    net.add(fc("a", 4, 4))
    with pytest.raises(NetworkError, match=r"layer 'b' reads unknown input 'zz'"):
        net.add(fc("b", 4, 4), ["zz"])
    assert "b" not in net.graph  # nothing half-added


def test_cycle_detected() -> None:
    net = Network.chain("n", [fc("a", 4, 4), fc("b", 4, 4)])
    net.graph.add_edge("b", "a")
    with pytest.raises(NetworkError, match=r"network 'n' has a cycle"):
        net.nodes()


def test_explicit_empty_inputs_make_a_source() -> None:
    net = Network("n")
    net.add(fc("a", 4, 4))
    net.add(fc("b", 4, 4), [])
    assert net.graph.number_of_edges() == 0


def test_replace_layers_keeps_graph_and_names() -> None:
    net = _residual()
    low = net.replace_layers(lambda layer: layer.with_precision(weight_bits=4))
    assert all(layer.precision.weight_bits == 4 for layer in low.nodes())
    assert list(low.graph.edges) == list(net.graph.edges)
    assert net["a"].precision.weight_bits == 8  # original untouched
    with pytest.raises(NetworkError, match=r"replace_layers must keep names: 'stem' -> 'x'"):
        net.replace_layers(lambda layer: fc("x", 4, 4))


def test_repr() -> None:
    assert repr(Network.chain("tiny", [fc("a", 1000, 1000)])) == (
        "Network('tiny', 1 compute layers, 0.001 GMACs)")
