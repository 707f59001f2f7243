"""Mapping a whole network: distinct shapes searched once, simulate's schema kept."""

from __future__ import annotations

from dataflows import Network, conv, fc, zoo
from mapper.network_map import map_network
from sim import evaluate, load_accelerator, simulate


def _net() -> Network:
    net = Network("tiny")
    net.add(conv("a", 8, 16, 12, 3, padding=1))
    net.add(conv("b", 16, 16, 12, 3, padding=1))
    net.add(conv("c", 16, 16, 12, 3, padding=1))      # same shape as b: searched once
    net.add(fc("fc", 16 * 144, 10))
    return net


def test_shapes_searched_once_and_names_kept() -> None:
    accel = load_accelerator("edge_8x8_ws")
    out = map_network(_net(), accel, "random", max_evals=1500, seed=2, progress=False)
    assert [r.layer for r in out.result.layers] == ["a", "b", "c", "fc"]
    assert len(out.searches) == 3
    b, c = out.result.layers[1], out.result.layers[2]
    assert b.mapping == c.mapping and b.total_cycles == c.total_cycles
    assert out.result.macs == _net().total_macs


def test_chosen_mappings_are_legal_and_costed_by_the_model() -> None:
    accel = load_accelerator("os_32x32")
    net = _net()
    out = map_network(net, accel, "genetic", max_evals=1500, seed=0, progress=False)
    for layer, res, search in zip(net.layers(), out.result.layers,
                                  [out.searches[0], out.searches[1], out.searches[1],
                                   out.searches[2]]):
        again = evaluate(layer, accel, search.mapping)
        assert again.total_cycles == res.total_cycles and again.energy_pj == res.energy_pj


def test_deterministic_for_a_seed() -> None:
    accel = load_accelerator("edge_8x8_ws")
    a = map_network(_net(), accel, "annealing", max_evals=1000, seed=5, progress=False)
    b = map_network(_net(), accel, "annealing", max_evals=1000, seed=5, progress=False)
    assert a.result == b.result


def test_searching_beats_the_default_mapping_on_resnet18_energy() -> None:
    accel = load_accelerator("eyeriss_12x14_rs")
    net = zoo.load("resnet18")
    mapped = map_network(net, accel, "annealing", max_evals=4000, seed=0, progress=False)
    default = simulate(net, accel)
    assert mapped.result.energy_pj * mapped.result.total_cycles < \
        default.energy_pj * default.total_cycles
