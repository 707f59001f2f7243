"""The integer engine of a whole model (sim.int_network) against independent references:
float top-1, onnxruntime's own QDQ PTQ, a pure-Python integer loop per layer, and a
float fake-quantization simulation of the same scheme."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from dataflows.compress.quantize import dequantize
from dataflows.dataset import load_npz, shipped
from dataflows.onnx_model import Conv, Gemm, load_model, mac_nodes, run_float
from sim.int_network import (
    IntNetworkError, LayerQuant, QuantSettings, integer_trace, quantize_model, run_integer)
from sim.intref import IntegerDatapath

DATA = Path(__file__).resolve().parents[1] / "data"
MODELS = ("digits_cnn", "digits_dwsep", "digits_mlp")


def _load(name: str):
    m = load_model(shipped(f"{name}.onnx"))
    return m, load_npz(shipped("digits_test.npz"), m), load_npz(shipped("digits_calib.npz"), m)


def _top1(out: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(out.argmax(1) == y))


@pytest.mark.parametrize("name", MODELS)
def test_int8_ptq_within_one_percent_of_float_and_of_onnxruntime_qdq(name: str) -> None:
    m, te, ca = _load(name)
    qm = quantize_model(m, ca.x, QuantSettings())
    acc = _top1(run_integer(qm, te.x), te.y)
    ref = _top1(run_float(m, te.x), te.y)
    # onnxruntime quantize_static QDQ (int8, per-channel weights, MinMax) on the same
    # calibration set, recorded with its version by tests/peers/gen_ort_qdq_reference.py.
    qdq = json.loads((DATA / "ort_qdq_digits.json").read_text())["models"][name]["qdq_top1"]
    assert abs(acc - ref) <= 0.01, (acc, ref)
    assert abs(acc - qdq) <= 0.01, (acc, qdq)


def _py_round_half_up(v: Fraction) -> int:
    mag = int(abs(v) + Fraction(1, 2))
    return mag if v >= 0 else -mag


def _wrap(v: int, bits: int) -> int:
    return ((v + (1 << (bits - 1))) % (1 << bits)) - (1 << (bits - 1))


@pytest.mark.parametrize("name,acc_bits", [("digits_cnn", 32), ("digits_dwsep", 32),
                                           ("digits_cnn", 16)])
def test_each_mac_layer_equals_a_python_integer_loop(name: str, acc_bits: int) -> None:
    """acc = wrap(sum (x - zx) w + b) then round(acc * M / 2^s) + zy, saturated and
    clamped -- recomputed with Python ints and Fractions on a few output elements."""
    m, te, ca = _load(name)
    qm = quantize_model(m, ca.x, QuantSettings(datapath=IntegerDatapath(8, acc_bits)))
    values = integer_trace(qm, te.x[:2])
    rng = np.random.default_rng(0)
    for node in mac_nodes(m):
        ql = qm.layers[node.name]
        x = values[node.name + ".in"]
        y = values[node.output]
        zx = int(ql.input_qp.zero_point)
        for _ in range(6):
            idx = tuple(int(rng.integers(0, d)) for d in y.shape)
            k = idx[1]
            if isinstance(node, Conv):
                n, _, p, q = idx
                g = node.groups
                cpg = ql.weight_q.shape[1]
                kpg = ql.weight_q.shape[0] // g
                total = int(ql.bias_q[k])
                for c in range(cpg):
                    cin = (k // kpg) * cpg + c
                    for r in range(ql.weight_q.shape[2]):
                        for s in range(ql.weight_q.shape[3]):
                            h = p * node.strides[0] - node.pads[0] + r * node.dilations[0]
                            w = q * node.strides[1] - node.pads[1] + s * node.dilations[1]
                            inside = 0 <= h < x.shape[2] and 0 <= w < x.shape[3]
                            xv = int(x[n, cin, h, w]) if inside else zx
                            total += (xv - zx) * int(ql.weight_q[k, c, r, s])
            else:
                assert isinstance(node, Gemm)
                n = idx[0]
                total = int(ql.bias_q[k]) + sum((int(x[n, c]) - zx) * int(ql.weight_q[k, c])
                                                for c in range(x.shape[1]))
            acc = _wrap(total, acc_bits)
            assert int(values[node.name + ".acc"][idx]) == acc
            v = _py_round_half_up(Fraction(acc * int(ql.multiplier[k]), 2 ** int(ql.shift[k])))
            v += int(ql.output_qp.zero_point)
            lo, hi = -(1 << (ql.output_qp.bits - 1)), (1 << (ql.output_qp.bits - 1)) - 1
            if ql.clamp is not None:
                lo, hi = max(lo, ql.clamp[0]), min(hi, ql.clamp[1])
            assert int(y[idx]) == min(max(v, lo), hi), (node.name, idx)


def test_integer_output_tracks_a_float_fake_quant_simulation() -> None:
    """The dequantized integer logits stay within a few output steps of the float model
    whose every MAC weight is replaced by its dequantized integer weight."""
    m, te, ca = _load("digits_cnn")
    qm = quantize_model(m, ca.x, QuantSettings())
    out_int = run_integer(qm, te.x)
    from dataclasses import replace
    nodes = tuple(replace(n, weight=dequantize(qm.layers[n.name].weight_q,
                                               qm.layers[n.name].weight_qp).astype(np.float32))
                  if n.name in qm.layers else n for n in m.nodes)
    fq = replace(m, nodes=nodes, _by_name={n.name: n for n in nodes})
    out_fq = run_float(fq, te.x.astype(np.float64))
    step = float(qm.tensor_qp[m.output_name].scale)
    err = np.abs(out_int - out_fq)
    assert np.median(err) <= 2 * step and np.mean(err) <= 3 * step, (np.median(err) / step)


def test_narrow_bits_lower_accuracy_monotonically_on_average() -> None:
    m, te, ca = _load("digits_cnn")
    accs = [_top1(run_integer(quantize_model(m, ca.x, QuantSettings(default=LayerQuant(b, 8))),
                              te.x), te.y) for b in (8, 4, 2)]
    assert accs[0] >= accs[1] > accs[2], accs
    assert accs[2] < accs[0] - 0.05, accs


def test_operands_wider_than_the_datapath_are_an_error() -> None:
    m, _, ca = _load("digits_mlp")
    with pytest.raises(IntNetworkError, match="pe.operand_bits >= 16"):
        quantize_model(m, ca.x, QuantSettings(default=LayerQuant(8, 16),
                                              datapath=IntegerDatapath(8, 32)))


def test_unknown_layer_is_an_error_listing_the_layers() -> None:
    m, _, ca = _load("digits_mlp")
    with pytest.raises(IntNetworkError, match="no MAC layer 'fc9'.*fc1, fc2"):
        quantize_model(m, ca.x, QuantSettings(layers={"fc9": LayerQuant()}))
