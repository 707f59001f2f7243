"""Measured accuracy of a compressed model: float, integer, per-layer sensitivity, proxy.

* :func:`float_outputs_ort` -- the float reference: onnxruntime on the ONNX file itself.
* :func:`measure` -- the exact figure: the integer engine of :mod:`sim.int_network` (the
  arithmetic the RTL implements) on the user's data, after the compression plan
  (:mod:`dataflows.compress.apply`) and post-training quantization calibrated on the
  calibration set. ``top1`` is the fraction of samples whose largest output is the label;
  ``nll`` the mean negative log-likelihood of the label under ``softmax(output)`` (the
  output itself when the model ends in Softmax), a continuous companion of top-1.
* :func:`sensitivity_table` -- per layer and per candidate choice, the accuracy with only
  that layer changed from the baseline (int8 per-channel everywhere, uncompressed), as
  HAWQ/HAQ-style allocators use it.
* :func:`proxy_top1` -- the cheap additive estimate used inside searches:
  ``baseline top1 - sum over layers of (baseline top1 - top1 with only that layer
  changed)``. It is an estimate: every reported front point is re-measured by
  :func:`measure` (DESIGN invariant 7).
* :func:`ort_qdq_top1` -- onnxruntime's own ``quantize_static`` (QDQ, int8, per-channel
  weights, min-max calibration) on the same calibration set: the peer PTQ figure.

Weight bytes: ``sum over MAC layers of size(weight) * weight_bits / 8`` (dense codes of
the compressed shapes; pruned zeros still stored) and ``nonzero_weights`` beside it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from dataflows.dataset import Dataset
from dataflows.errors import CoforgeError
from dataflows.onnx_model import Model, mac_nodes
from sim.int_network import (
    LayerQuant, QuantSettings, observe, quantize_model, run_integer, with_layers)

__all__ = ["AccuracyError", "Measurement", "Choice", "float_outputs_ort", "top1", "nll",
           "measure", "sensitivity_table", "proxy_top1", "ort_qdq_top1"]


class AccuracyError(CoforgeError):
    """An accuracy evaluation cannot run; the message names the input and the fix."""


def top1(outputs: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of rows whose argmax (first on ties, numpy's rule) equals the label."""
    return float(np.mean(np.argmax(outputs.reshape(len(labels), -1), axis=1) == labels))


def nll(outputs: np.ndarray, labels: np.ndarray, probabilities: bool) -> float:
    """Mean ``-log p(label)``; ``p = outputs`` if ``probabilities`` else their softmax."""
    z = np.asarray(outputs, dtype=np.float64).reshape(len(labels), -1)
    if probabilities:
        p = np.clip(z[np.arange(len(labels)), labels], 1e-12, None)
        return float(-np.mean(np.log(p)))
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-np.mean(logp[np.arange(len(labels)), labels]))


def _ends_in_softmax(model: Model) -> bool:
    return type(model.nodes[-1]).__name__ == "Softmax"


def float_outputs_ort(path: str | Path, x: np.ndarray) -> np.ndarray:
    """Outputs of the float ONNX file under onnxruntime (CPU), for inputs ``x``."""
    import onnxruntime as ort
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return np.asarray(sess.run(None, {name: np.asarray(x, dtype=np.float32)})[0])


@dataclass(frozen=True)
class Choice:
    """One layer's compression choice: its quantization and (optional) compression."""

    quant: LayerQuant
    compression: Any = None
    """A :class:`dataflows.compress.plan.LayerCompression` or None."""

    @property
    def label(self) -> str:
        text = f"w{self.quant.weight_bits}a{self.quant.input_bits}"
        c = self.compression
        if c is not None:
            if getattr(c, "prune", None) is not None:
                text += f" prune {c.prune.text}"
            if getattr(c, "rank", None) is not None:
                text += f" rank {c.rank}"
            if getattr(c, "filters", None) is not None:
                text += f" filters {c.filters:g}/{c.filter_multiple}"
        return text


@dataclass(frozen=True)
class Measurement:
    """The exact accuracy of one compressed, quantized model on one data set."""

    top1: float
    nll: float
    samples: int
    weight_bytes: int
    nonzero_weights: int
    weights: int
    layers: tuple[dict[str, Any], ...] = field(default=())
    """Per MAC layer of the compressed model: name, bits, shape, nonzero fraction."""

    def to_dict(self) -> dict[str, Any]:
        return {"top1": self.top1, "nll": self.nll, "samples": self.samples,
                "weight_bytes": self.weight_bytes, "nonzero_weights": self.nonzero_weights,
                "weights": self.weights, "layers": list(self.layers)}


def _compress(model: Model, plan: Any) -> Model:
    if plan is None or not getattr(plan, "layers", None):
        return model
    from dataflows.compress.apply import compress_model
    return compress_model(model, plan)


def measure(model: Model, data: Dataset, calib: Dataset, settings: QuantSettings,
            plan: Any = None, observers: Mapping[str, Any] | None = None) -> Measurement:
    """Exact top-1 (and NLL) of ``model`` compressed by ``plan`` and quantized by
    ``settings`` on ``data``, calibrated on ``calib`` (module docstring)."""
    from dataflows.compress.lowrank import source_layer
    cm = _compress(model, plan)
    if cm is not model:      # a factor "fc.lr0" takes the quantization of "fc"
        names = [n.layer_name for n in mac_nodes(cm)]
        settings = replace(settings, layers={
            n: settings.layers[source_layer(n)] for n in names
            if source_layer(n) in settings.layers})
    qm = quantize_model(cm, calib.x, settings, observers=observers)
    out = run_integer(qm, data.x)
    rows = []
    wbytes = nz = total = 0
    for node in mac_nodes(cm):
        ql = qm.layers[node.name]
        nonzero = int(np.count_nonzero(ql.weight_q))
        rows.append({"layer": node.layer_name, "weight_bits": ql.weight_qp.bits,
                     "input_bits": ql.input_qp.bits, "output_bits": ql.output_qp.bits,
                     "weight_shape": list(ql.weight_q.shape),
                     "density": nonzero / ql.weight_q.size, "weight_bytes": ql.weight_bytes})
        wbytes += ql.weight_bytes
        nz += nonzero
        total += ql.weight_q.size
    return Measurement(top1(out, data.y), nll(out, data.y, _ends_in_softmax(cm)), len(data),
                       wbytes, nz, total, tuple(rows))


def sensitivity_table(model: Model, data: Dataset, calib: Dataset,
                      choices: Mapping[str, Sequence[Choice]],
                      base: QuantSettings = QuantSettings()) -> dict[str, Any]:
    """Accuracy with only one layer changed, for every (layer, choice) in ``choices``.

    Returns ``{"baseline": {top1, nll}, "rows": [{layer, choice, top1, nll, delta_top1,
    delta_nll}]}`` with deltas = baseline - changed (positive: the change loses
    accuracy). The baseline is ``base`` on the uncompressed model. Calibration statistics
    of the uncompressed float model are computed once and shared by every bits-only
    choice.
    """
    known = {n.layer_name for n in mac_nodes(model)}
    bad = sorted(set(choices) - known)
    if bad:
        raise AccuracyError(f"{model.source}: no MAC layer {bad[0]!r}; layers: "
                            + ", ".join(sorted(known)))
    obs = observe(model, calib.x)
    ref = measure(model, data, calib, base, observers=obs)
    rows = []
    for layer, options in choices.items():
        for choice in options:
            settings = with_layers(base, {layer: choice.quant})
            plan = None
            if choice.compression is not None:
                from dataflows.compress.plan import CompressionPlan
                plan = CompressionPlan({layer: choice.compression})
            m = measure(model, data, calib, settings, plan,
                        observers=obs if plan is None else None)
            rows.append({"layer": layer, "choice": choice.label, "top1": m.top1,
                         "nll": m.nll, "delta_top1": ref.top1 - m.top1,
                         "delta_nll": m.nll - ref.nll, "weight_bytes": m.weight_bytes})
    return {"baseline": {"top1": ref.top1, "nll": ref.nll, "weight_bytes": ref.weight_bytes},
            "rows": rows}


def proxy_top1(table: Mapping[str, Any], picks: Mapping[str, str]) -> float:
    """Additive estimate of top-1 for per-layer ``picks`` (layer -> choice label).

    A layer not in ``picks`` (or picked at a label with no row: the baseline) adds 0.
    """
    index = {(r["layer"], r["choice"]): r for r in table["rows"]}
    drop = sum(index[(layer, label)]["delta_top1"] for layer, label in picks.items()
               if (layer, label) in index)
    return float(table["baseline"]["top1"] - drop)


def ort_qdq_top1(path: str | Path, data: Dataset, calib: Dataset) -> dict[str, Any]:
    """onnxruntime's ``quantize_static`` (QDQ; int8 activations and per-channel weights;
    min-max calibration over ``calib`` one sample at a time) and its top-1 on ``data``."""
    import onnxruntime as ort
    from onnxruntime.quantization import (
        CalibrationDataReader, QuantFormat, QuantType, quantize_static)

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            xs = np.asarray(calib.x, dtype=np.float32)
            self._it = iter([{name: xs[i:i + 1]} for i in range(len(xs))])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._it, None)

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "qdq.onnx"
        quantize_static(str(path), str(out), _Reader(), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QInt8,
                        weight_type=QuantType.QInt8)
        y = float_outputs_ort(out, data.x)
    return {"top1": top1(y, data.y), "onnxruntime": ort.__version__,
            "scheme": "quantize_static QDQ, QInt8 activations, per-channel QInt8 weights, "
                      "MinMax calibration"}

