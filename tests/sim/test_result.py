"""Frozen result records (sim/result.py)."""

from __future__ import annotations

import dataclasses

import pytest

from dataflows.layer import gemm
from sim.result import NetworkResult
from sim.simulate import simulate
from sim.spec_io import load_accelerator


def test_records_are_frozen_and_serialisable() -> None:
    res = simulate(gemm("g", 8, 8, 8), load_accelerator("edge_8x8_ws"))
    layer = res.layers[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        layer.total_cycles = 0  # type: ignore[misc]
    d = layer.to_dict()
    assert d["name"] == "g" and d["total_cycles"] == layer.total_cycles
    assert d["energy_pj_by_level"] == layer.energy_pj_by_level
    assert d["energy_pj_by_level"] is not layer.energy_pj_by_level  # a copy
    assert (layer.fidelity, layer.timing) == ("analytic", "native")


def test_empty_network_result() -> None:
    res = NetworkResult(network="n", arch="a", spec_hash="0" * 16, timing="native",
                        fidelity="analytic", clock_mhz=100.0, pes=4, layers=())
    assert (res.macs, res.total_cycles, res.energy_pj) == (0, 0, 0)
    assert res.utilization == 0.0 and res.latency_ms == 0.0


def test_latency_uses_the_clock() -> None:
    res = simulate(gemm("g", 64, 64, 64), load_accelerator("tpu_128x128_ws"))
    assert res.latency_ms == pytest.approx(res.total_cycles / 700e3)
