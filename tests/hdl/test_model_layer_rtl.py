"""A layer of a shipped model, with its real quantized weights and activations, on the
generated RTL (issue 9 check): the engine's raw GEMM of the im2col operands plus the
host's zero-point/bias correction equals the integer engine's accumulator, the
requantized output equals the integer engine's, and the RTL's cycles equal the cycle
model's."""

from __future__ import annotations

import numpy as np
import pytest

from dataflows.dataset import load_npz, shipped
from dataflows.onnx_model import load_model
from hdl.driver import GemmCase
from hdl.params import HdlParams
from hdl.plan import plan_gemm, sim_cycles
from sim import intref
from sim.int_network import QuantSettings, integer_trace, quantize_model
from sim.intref import IntegerDatapath
from sim.spec_io import load_accelerator


@pytest.mark.parametrize("layer", ["conv1", "conv2"])
def test_digits_cnn_layer_on_rtl_equals_integer_engine(layer: str) -> None:
    accel = load_accelerator("edge_8x8_ws")
    params = HdlParams.from_accelerator(accel)
    model = load_model(shipped("digits_cnn.onnx"))
    calib = load_npz(shipped("digits_calib.npz"), model)
    test = load_npz(shipped("digits_test.npz"), model)
    qm = quantize_model(model, calib.x, QuantSettings(datapath=IntegerDatapath.from_spec(accel)))
    node = next(n for n in model.nodes if getattr(n, "layer_name", None) == layer)
    ql = qm.layers[node.name]
    values = integer_trace(qm, test.x[:1])
    x = values[node.name + ".in"]
    zx = int(ql.input_qp.zero_point)
    r, s = ql.weight_q.shape[2:]
    # im2col by hand (independent of sim.intref): pad with the input zero point
    p_, q_ = node.out_shape[1:]
    xp = np.pad(x[0], ((0, 0), (node.pads[0], node.pads[2]), (node.pads[1], node.pads[3])),
                constant_values=zx)
    cols = np.stack([xp[:, i * node.strides[0]:i * node.strides[0] + r,
                        j * node.strides[1]:j * node.strides[1] + s].reshape(-1)
                     for i in range(p_) for j in range(q_)])
    cols = np.asarray(cols).reshape(-1, ql.weight_q[0].size)
    b = ql.weight_q.reshape(ql.weight_q.shape[0], -1).T            # (C*R*S) x K
    m, k = cols.shape
    n = b.shape[1]
    plan = plan_gemm(params, m, k, n)
    from hdl.sim_amaranth import run_amaranth
    res = run_amaranth(params, [GemmCase(m, k, n, cols.tolist(), b.tolist(), seed=0)])[0]
    raw = np.array(res.outputs, dtype=np.int64)
    # host side: bias minus the zero-point correction, wrapped at the accumulator
    corr = ql.bias_q - zx * b.sum(axis=0)
    acc = intref.wrap(raw + corr[None, :], params.accumulator_bits)
    want_acc = values[node.name + ".acc"][0].reshape(n, -1).T
    assert np.array_equal(acc, want_acc)
    y = intref.requantize(acc, ql.multiplier, ql.shift, int(ql.output_qp.zero_point),
                          ql.output_qp.bits, True, qm.settings.datapath.rounding, axis=1,
                          clamp=ql.clamp)
    assert np.array_equal(y, values[node.output][0].reshape(n, -1).T)
    assert res.rtl_cycles == sim_cycles(plan, accel) == res.busy_cycles, \
        (res.rtl_cycles, sim_cycles(plan, accel))
