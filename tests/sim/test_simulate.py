"""simulate(): layers and networks, mappings per layer, shape caching, totals."""

from __future__ import annotations

from dataclasses import replace

import pytest

from dataflows import zoo
from dataflows.layer import conv, fc, gemm, passive
from dataflows.mapping import Mapping
from dataflows.network import Network
from sim.analytic import evaluate
from sim.default_mapping import default_mapping
from sim.result import NetworkResult
from sim.simulate import FIDELITIES, SimulateError, simulate, simulate_layer
from sim.spec_io import load_accelerator
from sim.timing import TimingError

EDGE = load_accelerator("edge_8x8_ws")


def test_single_layer() -> None:
    layer = gemm("g", 32, 16, 24)
    res = simulate(layer, EDGE)
    assert isinstance(res, NetworkResult)
    assert (res.network, res.arch, res.spec_hash) == ("g", "edge_8x8_ws", EDGE.spec_hash)
    assert (res.timing, res.fidelity, res.clock_mhz, res.pes) == ("native", "analytic",
                                                                  200.0, 64)
    (only,) = res.layers
    assert only == simulate_layer(layer, EDGE)
    assert only == evaluate(layer, EDGE, default_mapping(layer, EDGE))
    assert only.mapping == default_mapping(layer, EDGE).to_dict()


def test_network_skips_passive_nodes_and_sums() -> None:
    net = Network("n")
    net.add(conv("c1", 3, 8, 16, 3, padding=1))
    net.add(passive("pool", "pool", 8, 8))
    net.add(fc("fc", 8 * 8 * 8, 10))
    res = simulate(net, EDGE)
    assert [r.layer for r in res.layers] == ["c1", "fc"]
    assert res.macs == net.total_macs == sum(r.macs for r in res.layers)
    for total in ("compute_cycles", "stall_cycles", "total_cycles", "energy_pj"):
        assert getattr(res, total) == sum(getattr(r, total) for r in res.layers)
    assert res.total_cycles == res.compute_cycles + res.stall_cycles
    assert res.utilization == pytest.approx(res.macs / (res.total_cycles * 64))
    assert res.latency_ms == pytest.approx(res.total_cycles / 200e3)
    assert res.totals() == {"macs": res.macs, "compute_cycles": res.compute_cycles,
                            "stall_cycles": res.stall_cycles,
                            "total_cycles": res.total_cycles, "utilization": res.utilization,
                            "energy_pj": res.energy_pj, "latency_ms": res.latency_ms}


def test_identical_shapes_cost_the_same() -> None:
    net = Network.chain("twins", [gemm("a", 20, 20, 20), gemm("b", 20, 20, 20),
                                  gemm("c", 20, 20, 21)])
    a, b, c = simulate(net, EDGE).layers
    assert (a.layer, b.layer) == ("a", "b")
    assert replace(b, layer="a") == a
    assert c.macs != a.macs


def test_mapping_for_one_layer() -> None:
    layer = gemm("g", 8, 8, 8)
    m = Mapping.build(rows={"C": 8}, cols={"K": 4}, pe={"P": 8}, dram={"K": 2})
    assert simulate(layer, EDGE, mapping=m).layers[0].mapping == m.to_dict()
    net = Network.chain("two", [gemm("g", 8, 8, 8), gemm("h", 8, 8, 8)])
    res = simulate(net, EDGE, mapping={"g": m})
    assert res.layers[0].mapping == m.to_dict()
    assert res.layers[1].mapping == default_mapping(net["h"], EDGE).to_dict()


def test_single_mapping_for_a_network_is_an_error() -> None:
    net = Network.chain("two", [gemm("g", 8, 8, 8), gemm("h", 8, 8, 8)])
    m = default_mapping(net["g"], EDGE)
    with pytest.raises(SimulateError, match=r"^a single Mapping needs a single layer; pass a "
                                            r"dict \{layer_name: Mapping\} for a network$"):
        simulate(net, EDGE, mapping=m)


def test_unknown_fidelity() -> None:
    assert FIDELITIES == ("analytic", "cycle")   # cycle: tests/sim/cycle/
    with pytest.raises(SimulateError, match=r"^fidelity must be one of \['analytic', "
                                            r"'cycle'\], not 'rtl'$"):
        simulate(gemm("g", 4, 4, 4), EDGE, fidelity="rtl")


def test_timing_passes_through() -> None:
    layer = gemm("g", 16, 16, 16)
    native = simulate(layer, EDGE)
    scalesim = simulate(layer, EDGE, timing="scalesim")
    assert scalesim.timing == scalesim.layers[0].timing == "scalesim"
    # per tile: 2R + C - 1 native, 2R + C - 2 SCALE-Sim; and SCALE-Sim's -1 per layer
    tiles = native.layers[0].tiles
    assert native.compute_cycles - scalesim.compute_cycles == tiles + 1
    with pytest.raises(TimingError, match=r"^timing must be one of"):
        simulate(layer, EDGE, timing="fast")


def test_resnet18_on_the_default_spec() -> None:
    net = zoo.load("resnet18")
    res = simulate(net, EDGE)
    assert len(res.layers) == len(net) == 21
    assert res.macs == net.total_macs == 1_814_073_344
    assert 0 < res.utilization <= 1
    assert res.total_cycles >= res.macs / EDGE.pes
    assert simulate(net, EDGE) == res  # deterministic
