# amaranth: UnusedElaboratable=no
"""A whole network on the bit-serial, bit-fusion and 2:4 engines (hdl/network_engines.py
through hdl/network_rtl.py): every tensor equals the integer engine's trace, each
layer's RTL cycles equal the cycle model's, and against the dense engine of the same
array (independent rules, each pinned by hand in the engine's own tests): a bit-serial
step takes ``a_bits`` cycles, so an int8 layer takes 8x the dense cycles; an 8x8
bit-fusion product is one per PE per cycle, so w8a8 takes the dense cycles."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from dataflows.compress.prune import prune_nm
from dataflows.dataset import load_npz, shipped
from dataflows.onnx_model import load_model
from hdl.network_engines import engine_calls, nm_violations
from hdl.network_rtl import run_network_on_rtl, split_gemm
from hdl.params import HdlError, HdlParams
from hdl_helpers import make_accel
from sim.int_network import QuantSettings, quantize_model
from sim.intref import IntegerDatapath
from sim.spec import SparseConfig

DATA, CALIB = shipped("digits_test.npz"), shipped("digits_calib.npz")


def _qm(accel, prune24: bool = False):  # noqa: ANN001, ANN202
    model = load_model(str(shipped("digits_mlp.onnx")))
    cal, test = load_npz(CALIB, model), load_npz(DATA, model)
    qm = quantize_model(model, cal.x, QuantSettings(datapath=IntegerDatapath.from_spec(accel)))
    if prune24:     # 2:4 along each output channel's reduction (C), as the GEMM B sees it
        qm = replace(qm, layers={k: replace(ql, weight_q=prune_nm(ql.weight_q, 2, 4))
                                 for k, ql in qm.layers.items()})
    return qm, test.x[:2], test.y[:2]


def _mode(accel, mode: str):  # noqa: ANN001, ANN202
    return replace(accel, name=f"{accel.name}_{mode}", pe=replace(accel.pe, mode=mode))


def _run(accel, prune24: bool = False) -> dict:  # noqa: ANN001
    qm, x, y = _qm(accel, prune24)
    doc = run_network_on_rtl(qm, accel, x, y, backend="amaranth")
    assert doc["outputs_match"], doc["tensors_mismatched"]
    assert doc["predictions_match"] and doc["cycles_match"]
    for r in doc["layers"]:
        assert r["rtl_cycles"] == r["sim_cycles"] > 0, r
    return doc


@pytest.mark.parametrize("mode, factor", [("bitserial", 8), ("bitfusion", 1)])
def test_precision_engines_run_the_network(mode: str, factor: int) -> None:
    dense = make_accel("ws", 4, 4, glb_kib=16)
    base = {r["name"]: r["rtl_cycles"] for r in _run(dense)["layers"]}
    doc = _run(_mode(dense, mode))
    assert {r["name"]: r["rtl_cycles"] for r in doc["layers"]} == \
        {k: factor * v for k, v in base.items()}


def _nm(accel):  # noqa: ANN001, ANN202
    return replace(accel, name=accel.name + "_nm24",
                   sparse=SparseConfig(policy="skipping", format="nm", operands=("weight",)))


def test_sparse_engine_runs_a_2_4_pruned_network() -> None:
    dense = make_accel("ws", 4, 4, glb_kib=16)
    base = {r["name"]: r["rtl_cycles"] for r in _run(dense, prune24=True)["layers"]}
    doc = _run(_nm(dense), prune24=True)
    # 2 slots per group of 4 reduction rows: at most the dense cycles, fewer on any
    # layer whose reduction spans more than one array fold
    got = {r["name"]: r["rtl_cycles"] for r in doc["layers"]}
    assert all(got[k] <= base[k] for k in base) and got != base


def test_sparse_engine_refuses_unpruned_weights_in_one_line() -> None:
    accel = _nm(make_accel("ws", 4, 4, glb_kib=16))
    qm, x, y = _qm(accel)
    with pytest.raises(HdlError, match=r"^layer 'fc1': \d+ groups of 4 weights along the "
                       r"reduction \(C\*R\*S\) hold more than 2 nonzeros; prune the model 2:4"):
        run_network_on_rtl(qm, accel, x, y, backend="amaranth")


def test_nm_violations_by_hand() -> None:
    b = np.array([[1, 0], [2, 0], [3, 5], [0, 0], [7, 1], [0, 1], [0, 1]])   # K=7, 2 cols
    # col 0: group (1,2,3,0) has 3 > 2; partial (7,0,0) has 1. col 1: (0,0,5,0) 1;
    # partial (1,1,1) has 3 > min(2, 3)
    assert nm_violations(b, 2, 4) == 2
    assert nm_violations(b, 3, 4) == 0


def test_engine_splits_keep_whole_groups_and_cover_once() -> None:
    accel = _nm(make_accel("ws", 4, 4, glb_kib=1))
    params = HdlParams.from_accelerator(accel)
    calls = engine_calls(accel, "x", 8, 8)
    m, k, n = 40, 150, 9
    tiles = split_gemm(params, m, k, n, calls)
    assert len(tiles) > 1 and len({t.k0 for t in tiles}) > 1          # it did split K
    assert all(t.k0 % 4 == 0 for t in tiles) and all(calls.fits(t.m, t.k, t.n) for t in tiles)
    cover = np.zeros((m, k, n), dtype=int)
    for t in tiles:
        cover[t.rows, t.depth, t.cols] += 1
    assert (cover == 1).all()


def test_widths_the_engine_cannot_take_are_one_line_errors() -> None:
    accel = _mode(make_accel("ws", 4, 4, bits=4, glb_kib=16), "bitserial")
    with pytest.raises(HdlError, match=r"^layer 'fc1': 8-bit weights do not fit the "
                       r"engine's 4-bit operands \(pe.operand_bits\)"):
        engine_calls(accel, "fc1", 8, 8)
