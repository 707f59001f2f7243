"""Quantization parameters and maps of dataflows.compress.quantize, checked against hand
arithmetic, onnxruntime's documented formulas and brute-force threshold searches."""

from __future__ import annotations

import re

import numpy as np
import pytest

from dataflows.compress.quantize import (Observer, QuantError, QuantParams,
                                         activation_qparams, dequantize, fake_quant,
                                         quantize, weight_qparams)


def mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((a - b) ** 2))


# -- hand values ------------------------------------------------------------------------
def test_asymmetric_uint8_hand_values() -> None:
    """onnxruntime / ONNX: scale = (max - min) / (qmax - qmin), zp = round(qmin - min/scale)."""
    qp = activation_qparams(np.array([-1.0, 0.0, 2.0, 3.0]))
    assert (qp.qmin, qp.qmax, qp.signed) == (0, 255, False)
    assert qp.scale == pytest.approx(4 / 255)
    assert int(qp.zero_point) == 64                          # round(0 + 1 / (4/255)) = round(63.75)
    # x / scale = [-63.75, 0, 127.5, 191.25]; + 64 with half-to-even: [0, 64, 192, 255]
    assert quantize(np.array([-1.0, 0.0, 2.0, 3.0]), qp).tolist() == [0, 64, 192, 255]


def test_symmetric_int8_hand_values() -> None:
    """Symmetric int8: restricted range [-127, 127], scale = max|x| / 127, zp = 0."""
    x = np.array([-1.0, 0.0, 2.0, 3.0])
    qp = weight_qparams(x, per_channel=False)
    assert (qp.qmin, qp.qmax, int(qp.zero_point)) == (-127, 127, 0)
    assert qp.scale == pytest.approx(3 / 127)
    assert quantize(x, qp).tolist() == [-42, 0, 85, 127]    # rint(-42.33), rint(84.67)
    assert quantize(-x, qp).tolist() == [42, 0, -85, -127]  # negation is safe


def test_per_channel_hand_values() -> None:
    w = np.array([[0.5, -1.0], [4.0, 2.0]])
    qp = weight_qparams(w, bits=4)                          # per channel along axis 0
    assert qp.axis == 0 and qp.scale.shape == (2,)
    np.testing.assert_allclose(qp.scale, [1.0 / 7, 4.0 / 7])
    assert quantize(w, qp).tolist() == [[4, -7], [7, 4]]    # rint(3.5)=4, rint(3.5)=4
    qa = weight_qparams(w, bits=8, symmetric=False)         # asymmetric signed int8
    np.testing.assert_allclose(qa.scale, [1.5 / 255, 4.0 / 255])
    # zp = round(-128 - min/scale): ch0 -128 + 170 = 42, ch1 (min 0) = -128
    assert qa.zero_point.tolist() == [42, -128]


def test_two_bit_weights_are_ternary() -> None:
    x = np.array([-0.9, -0.2, 0.3, 0.6])
    qp = weight_qparams(x, bits=2, per_channel=False)
    assert (qp.qmin, qp.qmax) == (-1, 1) and qp.scale == pytest.approx(0.9)
    assert quantize(x, qp).tolist() == [-1, 0, 0, 1]
    qa = weight_qparams(x, bits=2, per_channel=False, symmetric=False)
    assert (qa.qmin, qa.qmax) == (-2, 1) and qa.scale == pytest.approx(1.5 / 3)
    assert int(qa.zero_point) == 0                          # round(-2 + 0.9 / 0.5) = round(-0.2)


def test_rounding_is_half_to_even_and_clamps() -> None:
    qp = QuantParams(8, True, np.array(1.0), np.array(0), None, True)
    assert quantize(np.array([0.5, 1.5, 2.5, -0.5, -2.5, 300.0, -300.0]), qp).tolist() \
        == [0, 2, 2, 0, -2, 127, -127]


@pytest.mark.parametrize("qtype,symmetric", [("uint8", False), ("int8", True),
                                             ("int8", False), ("uint16", False)])
def test_agrees_with_onnxruntime_compute_scale_zp(qtype: str, symmetric: bool) -> None:
    """Peer: onnxruntime.quantization.quant_utils (the formulas its quantize_static uses)."""
    import onnx
    from onnxruntime.quantization import quant_utils as qu
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(1000) * 2 + 0.7).astype(np.float32)
    onnx_type = {"uint8": onnx.TensorProto.UINT8, "int8": onnx.TensorProto.INT8,
                 "uint16": onnx.TensorProto.UINT16}[qtype]
    qmin, qmax = qu.get_qmin_qmax_for_qType(onnx_type, symmetric=symmetric)
    zp_ref, scale_ref = qu.compute_scale_zp(x.min(), x.max(), qmin, qmax, symmetric=symmetric)
    bits = 16 if qtype == "uint16" else 8
    qp = activation_qparams(x, bits=bits, symmetric=symmetric, signed=qtype.startswith("int"))
    assert (qp.qmin, qp.qmax) == (int(qmin), int(qmax))
    assert float(qp.scale) == pytest.approx(float(scale_ref), rel=1e-6)
    assert int(qp.zero_point) == int(zp_ref)


# -- error bounds and method comparisons ------------------------------------------------
@pytest.mark.parametrize("bits", [2, 4, 8, 16])
@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("per_channel", [True, False])
def test_round_trip_error_is_at_most_half_a_step(bits: int, symmetric: bool,
                                                 per_channel: bool) -> None:
    w = np.random.default_rng(bits).standard_normal((4, 3, 3, 3)) * np.array(
        [0.1, 1.0, 3.0, 10.0])[:, None, None, None]
    qp = weight_qparams(w, bits=bits, per_channel=per_channel, symmetric=symmetric)
    step = qp.scale.reshape(-1, 1, 1, 1) if per_channel else qp.scale
    assert np.all(np.abs(fake_quant(w, qp) - w) <= step / 2 * (1 + 1e-9))


def test_zero_is_exact_in_asymmetric_ranges() -> None:
    x = np.array([0.3, 1.7, 0.0, 2.9, 0.11])
    for bits in (4, 8, 16):
        qp = activation_qparams(x, bits=bits)
        assert fake_quant(np.array([0.0]), qp)[0] == 0.0


def test_per_channel_beats_per_tensor_on_unequal_channels() -> None:
    w = np.random.default_rng(2).standard_normal((3, 64)) * np.array([[0.01], [1.0], [100.0]])
    per_c = weight_qparams(w, bits=4)
    per_t = weight_qparams(w, bits=4, per_channel=False)
    assert mse(fake_quant(w, per_c), w) < mse(fake_quant(w, per_t), w)
    # channel 0 (|w| ~ 0.01) is all zeros per tensor (step ~ 40), kept per channel
    assert np.all(fake_quant(w, per_t)[0] == 0) and np.any(fake_quant(w, per_c)[0] != 0)


def test_percentile_clipping_ignores_an_outlier() -> None:
    x = np.concatenate([np.random.default_rng(3).uniform(-1, 1, 100_000), [1000.0]])
    mm = activation_qparams(x, symmetric=True)
    pc = activation_qparams(x, symmetric=True, method="percentile", percentile=99.9)
    assert float(mm.scale) == pytest.approx(1000 / 127)
    # 99.9th percentile of |U(-1, 1)| is ~0.999: the outlier does not set the scale
    assert float(pc.scale) == pytest.approx(0.999 / 127, rel=2e-3)
    wq = weight_qparams(x.reshape(1, -1), bits=8, method="percentile", percentile=99.9)
    assert float(wq.scale[0]) == pytest.approx(0.999 / 127, rel=2e-3)


def _brute_symmetric_mse(x: np.ndarray, t: float, qmax: int) -> float:
    """Independent: symmetric fake quantization with clipping threshold t."""
    s = t / qmax
    return float(np.mean((np.clip(np.round(x / s), -qmax, qmax) * s - x) ** 2))


def test_mse_method_beats_minmax_on_a_heavy_tailed_tensor() -> None:
    x = np.random.default_rng(4).standard_t(df=2, size=20_000)
    qmax = 7                                                 # int4 symmetric
    mm = weight_qparams(x, bits=4, per_channel=False)
    ms = weight_qparams(x, bits=4, per_channel=False, method="mse")
    err_mm, err_ms = mse(fake_quant(x, mm), x), mse(fake_quant(x, ms), x)
    assert err_ms < 0.85 * err_mm          # outliers dominate the error: ~19 % better here
    amax = np.abs(x).max()
    fine = min(_brute_symmetric_mse(x, t, qmax) for t in np.linspace(amax / 2000, amax, 2000))
    coarse = [_brute_symmetric_mse(x, amax * k / 100, qmax) for k in range(1, 101)]
    assert err_ms == pytest.approx(min(coarse), rel=1e-12)  # the best of the stated grid
    assert err_ms <= 1.25 * fine                             # near the fine-grid optimum


def test_mse_per_channel_picks_each_channel_threshold() -> None:
    rng = np.random.default_rng(5)
    w = np.stack([rng.standard_t(df=2, size=4000), rng.uniform(-1, 1, 4000)])
    ms = weight_qparams(w, bits=4, method="mse")
    mm = weight_qparams(w, bits=4)
    for ch in (0, 1):                       # each channel: the best of the stated grid
        amax = np.abs(w[ch]).max()
        errs = [_brute_symmetric_mse(w[ch], amax * k / 100, 7) for k in range(1, 101)]
        best = amax * (int(np.argmin(errs)) + 1) / 100
        assert ms.scale[ch] == pytest.approx(best / 7, rel=1e-12)
    # both clip below min-max; the heavy-tailed channel clips harder than the uniform one
    assert ms.scale[0] / mm.scale[0] < ms.scale[1] / mm.scale[1] < 1.0


def test_activation_bits_and_signedness() -> None:
    x = np.array([-0.5, 0.25, 1.0])
    assert activation_qparams(x, bits=4).qmax == 15
    assert activation_qparams(x, bits=16).qmax == 65535
    s = activation_qparams(x, symmetric=True)
    assert s.signed and (s.qmin, s.qmax) == (-127, 127)
    u = activation_qparams(np.array([0.0, 2.0]), symmetric=True)
    assert not u.signed and u.qmax == 255 and float(u.scale) == pytest.approx(2 / 255)


# -- observer ---------------------------------------------------------------------------
def _batches(seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(3000) * scale for scale in (0.2, 1.0, 0.5, 4.0, 2.0)]


def test_observer_minmax_equals_all_samples() -> None:
    batches = _batches(6)
    obs = Observer(bins=256)
    for b in batches:
        obs = obs.observe(b)
    allx = np.concatenate(batches)
    assert obs.count == allx.size and int(obs.hist.sum()) == allx.size
    assert obs.min == allx.min() and obs.max == allx.max()
    for sym in (True, False):
        assert activation_qparams(obs, symmetric=sym) == activation_qparams(allx, symmetric=sym)


def test_observer_histogram_counts_survive_range_doubling() -> None:
    obs = Observer(bins=16).observe(np.array([0.0, 0.0])).observe(np.array([-1.0, 0.5, 1.0]))
    assert obs.half_range == 1.0 and obs.hist.tolist() == \
        [1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 1]    # width 1/8: -1, 0, 0, 0.5, 1
    big = obs.observe(np.array([3.0]))                       # doubles twice: [-4, 4)
    assert big.half_range == 4.0
    # width 1/2: -1 -> bin 6, the zeros -> 8, 0.5 -> 9, 3 -> 14; the 1.0 counted in the
    # last bin [7/8, 1) of the first range stays in [0.5, 1) -> bin 9
    assert big.hist.tolist() == [0, 0, 0, 0, 0, 0, 1, 0, 2, 2, 0, 0, 0, 0, 1, 0]
    assert obs.hist.sum() == 5                               # the old observer is unchanged


def test_observer_percentile_and_mse_are_within_a_bin_of_all_samples() -> None:
    batches = _batches(7)
    obs = Observer(bins=4096)
    for b in batches:
        obs = obs.observe(b)
    allx = np.concatenate(batches)
    for sym in (True, False):
        exact = activation_qparams(allx, symmetric=sym, method="percentile", percentile=99.0)
        approx = activation_qparams(obs, symmetric=sym, method="percentile", percentile=99.0)
        qrange_ = exact.qmax - exact.qmin
        assert abs(float(approx.scale) - float(exact.scale)) * qrange_ <= 2 * obs.bin_width
    exact = activation_qparams(allx, bits=4, symmetric=True, method="mse")
    approx = activation_qparams(obs, bits=4, symmetric=True, method="mse")
    assert mse(fake_quant(allx, approx), allx) <= 1.02 * mse(fake_quant(allx, exact), allx)


# -- purity and errors ------------------------------------------------------------------
def test_inputs_untouched_and_params_read_only() -> None:
    w = np.random.default_rng(8).standard_normal((4, 5))
    before = w.copy()
    qp = weight_qparams(w, method="mse")
    fake_quant(w, qp)
    assert np.array_equal(w, before) and qp == weight_qparams(w, method="mse")
    with pytest.raises(ValueError):
        qp.scale[0] = 1.0


@pytest.mark.parametrize("call,message", [
    (lambda: weight_qparams(np.ones(4), bits=3), "bits must be one of [2, 4, 8, 16], not 3"),
    (lambda: activation_qparams(np.ones(4), bits=2), "bits must be one of [4, 8, 16], not 2"),
    (lambda: weight_qparams(np.ones(4), method="kl"),
     "method must be one of ['minmax', 'percentile', 'mse'], not 'kl'"),
    (lambda: weight_qparams(np.ones((2, 2)), axis=2), "axis must be an int in [-2, 1] for a 2-D"),
    (lambda: weight_qparams(np.ones(4), percentile=40), "percentile must be a number in (50, 100]"),
    (lambda: activation_qparams(np.array([1.0, np.nan])),
     "samples must be finite (found NaN or inf)"),
    (lambda: activation_qparams(Observer()), "samples: the observer has seen no batch"),
    (lambda: Observer(bins=10), "bins must be a multiple of 4, at least 16, not 10"),
    (lambda: QuantParams(8, True, np.array(0.0), np.array(0)), "scale must be finite and > 0"),
    (lambda: QuantParams(8, True, np.array(1.0), np.array(3), None, True),
     "zero_point must be 0 when symmetric, not 3"),
    (lambda: QuantParams(8, False, np.array(1.0), np.array(300)), "zero_point must be in [0, 255]"),
    (lambda: QuantParams(8, True, np.ones(2), np.zeros(2, int)),
     "scale must be a scalar (shape ())"),
    (lambda: quantize(np.ones((3, 2)), weight_qparams(np.ones((2, 2)))),
     "x must have 2 channels along axis 0 (the per-channel parameters), not shape (3, 2)"),
    (lambda: dequantize(np.array([300]), weight_qparams(np.ones(2), per_channel=False)),
     "q must hold codes in [-127, 127], found [300, 300]"),
])
def test_errors_name_the_argument_and_the_allowed_values(call, message: str) -> None:
    with pytest.raises(QuantError, match=f"^{re.escape(message)}"):
        call()
