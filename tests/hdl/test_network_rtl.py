"""Whole networks on the generated RTL (issue 12 item 4): every layer's input,
accumulator and output of the RTL pipeline equal the integer engine's trace, top-1 on
the RTL equals the integer reference's, and each layer's RTL cycles equal the cycle
model's; engine-sized splits (K parts added on the host in wrapping arithmetic) equal
the wrapped integer GEMM."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dataflows.dataset import load_npz, shipped
from dataflows.onnx_model import load_model
from hdl.driver import GemmCase
from hdl.network_rtl import assemble, network_on_rtl, run_network_on_rtl, split_gemm
from hdl.params import HdlParams
from hdl.plan import gemm_fits
from sim import intref
from sim.int_network import QuantSettings, quantize_model
from sim.intref import IntegerDatapath
from sim.spec_io import load_accelerator

DATA, CALIB = shipped("digits_test.npz"), shipped("digits_calib.npz")


def _check(doc: dict, macs: list[str]) -> None:
    assert doc["outputs_match"], doc["tensors_mismatched"]
    assert doc["rtl_top1"] == doc["sim_top1"]
    assert doc["predictions_match"]
    assert [r["name"] for r in doc["layers"]] == macs
    for r in doc["layers"]:
        assert r["outputs_match"], r
        assert r["rtl_cycles"] == r["sim_cycles"] > 0, r
        assert r["cycles_match"] and r["gemm_calls"] >= 1
    assert doc["cycles_match"]


@pytest.mark.parametrize("name, macs", [("digits_cnn", ["conv1", "conv2", "fc"]),
                                        ("digits_mlp", ["fc1", "fc2"])])
def test_digits_network_on_rtl_amaranth(name: str, macs: list[str]) -> None:
    doc = network_on_rtl(shipped(f"{name}.onnx"), DATA, CALIB,
                         load_accelerator("edge_8x8_ws"), 2, backend="amaranth")
    assert doc["samples"] == 2
    _check(doc, macs)


def test_digits_mlp_on_rtl_cocotb(tmp_path: Path) -> None:
    doc = network_on_rtl(shipped("digits_mlp.onnx"), DATA, CALIB,
                         load_accelerator("edge_8x8_ws"), 2, backend="cocotb",
                         build_dir=tmp_path)
    _check(doc, ["fc1", "fc2"])


def _small_glb(capacity_bytes: int):  # noqa: ANN202 - an Accelerator
    import dataclasses
    a = load_accelerator("edge_8x8_ws")
    return dataclasses.replace(a, glb=(dataclasses.replace(a.glb[0],
                                                           capacity_bytes=capacity_bytes),))


def test_mlp_with_small_glb_splits_layers_and_still_matches() -> None:
    accel = _small_glb(2048)           # fc1 64x32 weights no longer fit: K and N split
    model = load_model(shipped("digits_mlp.onnx"))
    qm = quantize_model(model, load_npz(CALIB, model).x,
                        QuantSettings(datapath=IntegerDatapath.from_spec(accel)))
    test = load_npz(DATA, model)
    params = HdlParams.from_accelerator(accel)
    assert len({t.k0 for t in split_gemm(params, 2, 64, 32)}) > 1        # a K split
    doc = run_network_on_rtl(qm, accel, test.x[:2], test.y[:2], backend="amaranth")
    _check(doc, ["fc1", "fc2"])
    assert doc["layers"][0]["gemm_calls"] > 1


def _params(dataflow: str, accumulator_bits: int = 32) -> HdlParams:
    """A 4x4 engine with tiny buffers (24/24/12 words): most GEMMs must be split."""
    return HdlParams(dataflow=dataflow, rows=4, cols=4, operand_bits=8,
                     accumulator_bits=accumulator_bits, product_register=False,
                     depth_a=24, depth_b=24, depth_o=12)


def _covers_once(tiles: list, m: int, k: int, n: int) -> bool:
    seen = np.zeros((m, k, n), dtype=np.int64)
    for t in tiles:
        seen[t.rows, t.depth, t.cols] += 1
    return bool(np.all(seen == 1))


@pytest.mark.parametrize("dataflow", ["ws", "os"])
def test_split_gemm_covers_the_gemm_once_with_engine_sized_calls(dataflow: str) -> None:
    params = _params(dataflow)
    for m, k, n in [(1, 1, 1), (6, 40, 10), (37, 5, 9), (3, 97, 2), (50, 50, 50)]:
        tiles = split_gemm(params, m, k, n)
        assert _covers_once(tiles, m, k, n)
        assert all(gemm_fits(params, t.plan.m, t.plan.k, t.plan.n) for t in tiles)
    whole = split_gemm(params, 2, 4, 4)
    assert len(whole) == 1 and (whole[0].plan.m, whole[0].plan.k, whole[0].plan.n) == (2, 4, 4)


def test_split_gemm_splits_only_m_when_only_m_is_too_big() -> None:
    params = _params("ws")
    tiles = split_gemm(params, 5000, 4, 4)
    assert len(tiles) > 1 and all(t.k0 == t.n0 == 0 for t in tiles)
    assert sum(t.plan.m for t in tiles) == 5000


def test_k_split_on_rtl_equals_wrapped_int_gemm() -> None:
    """A K split with a 16-bit accumulator that wraps: the host's modular sum of the
    RTL's wrapped partial products is the wrapped GEMM."""
    from hdl.sim_amaranth import run_amaranth
    params = _params("ws", 16)
    m, k, n = 3, 40, 6
    rng = np.random.default_rng(7)
    a = rng.integers(-128, 128, (m, k))
    b = rng.integers(-128, 128, (k, n))
    a[0] = -128
    b[:, 0] = -128                       # 40 * 2**14: far beyond 16 bits
    tiles = split_gemm(params, m, k, n)
    assert len({t.k0 for t in tiles}) > 1
    cases = [GemmCase(t.plan.m, t.plan.k, t.plan.n, a[t.rows, t.depth].tolist(),
                      b[t.depth, t.cols].tolist(), t.plan.order) for t in tiles]
    res = run_amaranth(params, cases)
    got = assemble(tiles, [np.array(r.outputs) for r in res], m, n, 16)
    want = intref.int_gemm(a, b, 16)
    assert np.array_equal(got, want)
    assert not np.array_equal(want, a @ b)                        # it did wrap
    assert all(r.rtl_cycles == t.plan.rtl_busy_cycles for r, t in zip(res, tiles))


def test_cli_validate_rtl_samples_writes_network_on_rtl(tmp_path: Path) -> None:
    from mapper.cli import main
    rc = main(["validate", "--arch", "edge_8x8_ws", "--onnx", str(shipped("digits_mlp.onnx")),
               "--data", str(DATA), "--calib", str(CALIB), "--rtl-samples", "2",
               "--backend", "amaranth", "--map-evals", "50", "--out", str(tmp_path)])
    assert rc == 0
    doc = json.loads((tmp_path / "validate.json").read_text())
    net = doc["network_on_rtl"]
    assert net["samples"] == 2 and net["outputs_match"] and net["cycles_match"]
    assert [r["name"] for r in net["layers"]] == ["fc1", "fc2"]
    assert "whole network on the RTL" in (tmp_path / "validate.txt").read_text()


def test_cli_rtl_samples_needs_a_model(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    from mapper.cli import main
    assert main(["validate", "--arch", "edge_8x8_ws", "--network", "tiny",
                 "--rtl-samples", "2", "--out", str(tmp_path)]) == 2
    assert "--rtl-samples N runs a model on the RTL" in capsys.readouterr().err
