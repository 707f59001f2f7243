"""Integer inference of a whole model: the bit-exact reference of the quantized network.

:func:`quantize_model` turns a float :class:`dataflows.onnx_model.Model` (already pruned
or factorized, if it is compressed) into a :class:`QuantizedModel` by post-training
static quantization on calibration data; :func:`run_integer` runs it with the integer
operators of :mod:`sim.intref` -- the arithmetic the RTL implements -- and returns the
dequantized output. The reported accuracy of a design is this engine's.

Quantization scheme (stated, so a peer can reproduce it):

* **Weights** of every Conv/Gemm: signed, symmetric (zero point 0, restricted range),
  per output channel or per tensor, ``weight_bits`` in {2, 4, 8, 16}
  (:func:`dataflows.compress.quantize.weight_qparams`). A pruned weight stays exactly 0.
* **Activations**: signed, asymmetric, per tensor, ``bits`` in {4, 8, 16}, calibrated
  (min-max, percentile or MSE) from the float model's tensors on the calibration set.
  Signed because the PE multiplies signed two's-complement operands (the RTL's
  convention); int8 activations live in [-128, 127] with an integer zero point.
* A tensor's activation bits are those of the MAC layers that read it (through
  pooling, ReLU, Flatten, Reshape and Add, which keep or rescale it); a tensor read by
  layers of different input bits is stored at the widest and requantized (integer
  multiplier and shift) for the narrower reader; the graph output has ``output_bits``.
* **Bias**: ``round_half_even(bias / (s_x * s_w[k]))`` in accumulator precision.
* **MAC layer**: ``acc = wrap(sum (x_q - z_x) * w_q + bias_q)`` at the datapath's
  ``accumulator_bits`` (:func:`sim.intref.int_conv2d`: im2col GEMM of the raw operands
  with the zero-point correction folded into the bias, padding with ``z_x``), then
  ``y_q = saturate(round(acc * M_k / 2**shift_k) + z_y)`` with ``M_k / 2**shift_k ~=
  s_x s_w[k] / s_y`` (:func:`sim.intref.requantize`, the datapath's multiplier width and
  rounding). A Relu/Clip that is the only reader of a MAC or Add output is fused as a
  clamp of that requantization (its output tensor's scale is the one calibrated).
* **Other nodes**: MaxPool, Relu and Clip (unfused), Flatten, Reshape keep the scale
  and zero point; AveragePool/GlobalAveragePool average ``q - z`` with integer rounding
  (:func:`sim.intref.int_avgpool`); Add rescales both operands to a common scale
  (:func:`sim.intref.int_add`, TFLite's scheme). Softmax runs in float on the
  dequantized input and must be the last node (top-1 is the argmax either way).
* The graph input is quantized on the host (``QuantizeLinear``'s round half to even).

Every operand of a MAC layer must fit the datapath's signed ``operand_bits``; a layer
asking for more is an error naming it. Deterministic: the result depends only on the
model, the calibration data and the settings.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
import numpy as np

from dataflows.compress.quantize import (
    ACTIVATION_BITS, METHODS, WEIGHT_BITS, Observer, QuantParams, activation_qparams,
    quantize, weight_qparams)
from dataflows.errors import CoforgeError
from dataflows.onnx_model import (
    Add, AveragePool, Clip, Conv, Flatten, Gemm, GlobalAveragePool, MaxPool, Model, Node,
    Relu, Reshape, Softmax, float_compute, mac_nodes)
from sim import intref
from sim.intref import IntegerDatapath

__all__ = ["LayerQuant", "QuantSettings", "QuantizedLayer", "QuantizedModel",
           "IntNetworkError", "observe", "quantize_model", "quantize_input", "run_integer",
           "integer_trace", "mac_input", "run_node", "with_layers"]


class IntNetworkError(CoforgeError):
    """A model cannot be quantized or run in integers; the message names node and fix."""


@dataclass(frozen=True)
class LayerQuant:
    """How one MAC layer is quantized: weight bits, the bits of its input activation."""

    weight_bits: int = 8
    input_bits: int = 8
    per_channel: bool = True
    weight_method: str = "minmax"

    def __post_init__(self) -> None:
        if self.weight_bits not in WEIGHT_BITS:
            raise IntNetworkError(f"weight_bits must be one of {list(WEIGHT_BITS)}, "
                                  f"not {self.weight_bits!r}")
        if self.input_bits not in ACTIVATION_BITS:
            raise IntNetworkError(f"input_bits must be one of {list(ACTIVATION_BITS)} "
                                  f"(activations), not {self.input_bits!r}")
        if self.weight_method not in METHODS:
            raise IntNetworkError(f"weight_method must be one of {list(METHODS)}, "
                                  f"not {self.weight_method!r}")


@dataclass(frozen=True)
class QuantSettings:
    """Quantization of a whole model: a default, per-layer overrides (by Layer name)."""

    default: LayerQuant = LayerQuant()
    layers: Mapping[str, LayerQuant] = field(default_factory=dict)
    activation_method: str = "minmax"
    percentile: float = 99.99
    output_bits: int = 8
    datapath: IntegerDatapath = IntegerDatapath()

    def __post_init__(self) -> None:
        if self.activation_method not in METHODS:
            raise IntNetworkError(f"activation_method must be one of {list(METHODS)}, "
                                  f"not {self.activation_method!r}")
        if self.output_bits not in ACTIVATION_BITS:
            raise IntNetworkError(f"output_bits must be one of {list(ACTIVATION_BITS)}, "
                                  f"not {self.output_bits!r}")

    def of(self, layer_name: str) -> LayerQuant:
        """The quantization of the MAC layer called ``layer_name``."""
        return self.layers.get(layer_name, self.default)


@dataclass(frozen=True, eq=False)
class QuantizedLayer:
    """The integer operands of one MAC layer (what the RTL's engine is given)."""

    node: str
    layer_name: str
    weight_q: np.ndarray
    """``K x C/G x R x S`` (Conv) or ``K x C`` (Gemm) signed integers."""
    weight_qp: QuantParams
    bias_q: np.ndarray
    """``K`` integers in accumulator precision."""
    input_qp: QuantParams
    output_qp: QuantParams
    multiplier: np.ndarray
    shift: np.ndarray
    clamp: tuple[int, int] | None
    """Fused ReLU/Clip bounds of the requantized output, if any."""

    @property
    def weight_bytes(self) -> int:
        """Stored weight size: ``ceil(nonzero-or-all codes * bits / 8)`` of the dense tensor."""
        return math.ceil(self.weight_q.size * self.weight_qp.bits / 8)


@dataclass(frozen=True, eq=False)
class QuantizedModel:
    """A model with every tensor's quantization and every MAC layer's integer operands."""

    model: Model
    settings: QuantSettings
    tensor_qp: Mapping[str, QuantParams]
    """Scale/zero point of every activation tensor the integer graph holds."""
    layers: Mapping[str, QuantizedLayer]
    """By ONNX node name."""
    fused: Mapping[str, str]
    """Relu/Clip node name -> the MAC/Add node it is fused into."""
    reader_qp: Mapping[tuple[str, int], QuantParams]
    """(node, input index) -> the narrower view that reader gets, where it differs."""


# -- quantization ---------------------------------------------------------------------------
_SAME_SCALE = (MaxPool, Relu, Clip, Flatten, Reshape, AveragePool, GlobalAveragePool)


def _readers(model: Model) -> dict[str, list[tuple[Node, int]]]:
    out: dict[str, list[tuple[Node, int]]] = {}
    for node in model.nodes:
        for i, t in enumerate(node.inputs):
            out.setdefault(t, []).append((node, i))
    return out


def _fusions(model: Model, readers: dict[str, list[tuple[Node, int]]]) -> dict[str, str]:
    """Relu/Clip nodes that are the only reader of a MAC or Add output."""
    fused = {}
    for node in model.nodes:
        if isinstance(node, (Conv, Gemm, Add)) and node.output != model.output_name:
            rd = readers.get(node.output, [])
            if len(rd) == 1 and isinstance(rd[0][0], (Relu, Clip)):
                fused[rd[0][0].name] = node.name
    return fused


def _tensor_bits(model: Model, settings: QuantSettings,
                 readers: dict[str, list[tuple[Node, int]]]) -> dict[str, int]:
    """Bits of every tensor: the widest its readers need (module docstring)."""
    bits: dict[str, int] = {}
    for node in reversed(model.nodes):
        out = node.output
        bits[out] = _need(out, model, settings, readers, bits)
    bits[model.input_name] = _need(model.input_name, model, settings, readers, bits)
    return bits


def _need(t: str, model: Model, settings: QuantSettings,
          readers: dict[str, list[tuple[Node, int]]], bits: dict[str, int]) -> int:
    needs = [settings.output_bits] if t == model.output_name else []
    for node, _ in readers.get(t, []):
        if isinstance(node, (Conv, Gemm)):
            needs.append(settings.of(node.layer_name).input_bits)
        elif isinstance(node, Softmax):
            needs.append(settings.output_bits)
        else:
            needs.append(bits[node.output])
    return max(needs) if needs else settings.output_bits


def observe(model: Model, calib: np.ndarray, batch: int = 256) -> dict[str, Observer]:
    """Min/max (+ histogram) of every tensor of the float model over the calibration set.

    Pass the result to :func:`quantize_model` (``observers=``) to quantize the same
    float model several ways without re-running the calibration set."""
    obs: dict[str, Observer] = {}
    x = np.asarray(calib)
    for start in range(0, len(x), batch):
        values = {model.input_name: x[start:start + batch]}
        for node in model.nodes:
            values[node.output] = float_compute(node, [values[t] for t in node.inputs])
        for name, v in values.items():
            obs[name] = obs.get(name, Observer()).observe(np.asarray(v, dtype=np.float64))
    return obs


def _act_qp(obs: Observer, bits: int, settings: QuantSettings) -> QuantParams:
    return activation_qparams(obs, bits, symmetric=False, method=settings.activation_method,
                              signed=True, percentile=settings.percentile)


def quantize_model(model: Model, calib: np.ndarray | None,
                   settings: QuantSettings = QuantSettings(),
                   observers: Mapping[str, Observer] | None = None) -> QuantizedModel:
    """Post-training static quantization of ``model`` calibrated on the inputs ``calib``.

    ``settings.layers`` keys are Layer names (:attr:`Conv.layer_name`); an unknown key is
    an error. See the module docstring for the scheme.
    """
    known = {n.layer_name for n in mac_nodes(model)}
    unknown = sorted(set(settings.layers) - known)
    if unknown:
        raise IntNetworkError(f"{model.source}: no MAC layer {unknown[0]!r}; layers: "
                              + ", ".join(sorted(known)))
    for node in model.nodes:
        if isinstance(node, Softmax) and node.output != model.output_name:
            raise IntNetworkError(f"{model.source}: Softmax node {node.name} is not the last "
                                  "node; the integer engine runs Softmax only at the output")
    dp = settings.datapath
    readers = _readers(model)
    fused = _fusions(model, readers)
    fused_into = {v: k for k, v in fused.items()}
    bits = _tensor_bits(model, settings, readers)
    if observers is None:
        if calib is None:
            raise IntNetworkError("quantize_model needs calibration inputs or observers")
        observers = observe(model, calib)
    obs = observers
    by_name = {n.name: n for n in model.nodes}

    tensor_qp: dict[str, QuantParams] = {}
    tensor_qp[model.input_name] = _act_qp(obs[model.input_name], bits[model.input_name],
                                          settings)
    for node in model.nodes:
        if isinstance(node, Softmax):
            continue
        if node.name in fused:                       # the fused op's tensor was set
            tensor_qp[node.output] = tensor_qp[by_name[fused[node.name]].output]
            continue
        if isinstance(node, (Conv, Gemm, Add)):
            src = by_name[fused_into[node.name]].output if node.name in fused_into \
                else node.output
            tensor_qp[node.output] = _act_qp(obs[src], bits[node.output], settings)
        elif isinstance(node, _SAME_SCALE):
            qp_in = tensor_qp[node.inputs[0]]
            tensor_qp[node.output] = qp_in if qp_in.bits == bits[node.output] else \
                _act_qp(obs[node.output], bits[node.output], settings)
        else:                                         # pragma: no cover - loader's ops
            raise IntNetworkError(f"{model.source}: node {node.name} (op {node.op}) has no "
                                  "integer implementation")

    reader_qp: dict[tuple[str, int], QuantParams] = {}
    layers: dict[str, QuantizedLayer] = {}
    for node in model.nodes:
        if not isinstance(node, (Conv, Gemm)):
            continue
        lq = settings.of(node.layer_name)
        qp_in = tensor_qp[node.inputs[0]]
        if qp_in.bits != lq.input_bits:
            qp_in = _act_qp(obs[node.inputs[0]], lq.input_bits, settings)
            reader_qp[(node.name, 0)] = qp_in
        widest = max(lq.weight_bits, lq.input_bits)
        if widest > dp.operand_bits:
            raise IntNetworkError(
                f"{model.source}: layer {node.layer_name} needs {widest}-bit operands "
                f"(w{lq.weight_bits}a{lq.input_bits}) but the datapath multiplies "
                f"{dp.operand_bits}-bit operands; lower its bits or use a spec with "
                f"pe.operand_bits >= {widest}")
        w = np.asarray(node.weight, dtype=np.float64)
        wqp = weight_qparams(w, lq.weight_bits, per_channel=lq.per_channel, symmetric=True,
                             axis=0, method=lq.weight_method)
        wq = quantize(w, wqp).astype(np.int64)
        s_w = np.broadcast_to(wqp.scale, (w.shape[0],)).astype(np.float64)
        s_x = float(qp_in.scale)
        qp_out = tensor_qp[node.output]
        bias_q = np.rint(np.asarray(node.bias, dtype=np.float64) / (s_x * s_w)).astype(np.int64)
        lo, hi = intref.int_range(dp.accumulator_bits, True)
        if bias_q.size and (bias_q.min() < lo or bias_q.max() > hi):
            raise IntNetworkError(f"{model.source}: layer {node.layer_name}: the quantized "
                                  f"bias does not fit the {dp.accumulator_bits}-bit "
                                  "accumulator; use a wider accumulator or more weight bits")
        real = s_x * s_w / float(qp_out.scale)
        mult, shift = intref.quantize_multipliers(real, dp.multiplier_bits)
        layers[node.name] = QuantizedLayer(
            node.name, node.layer_name, wq, wqp, bias_q, qp_in, qp_out, mult, shift,
            _clamp(by_name.get(fused_into.get(node.name, "")), qp_out))
    return QuantizedModel(model, settings, tensor_qp, layers, fused, reader_qp)


def _clamp(act: Node | None, qp: QuantParams) -> tuple[int, int] | None:
    if act is None:
        return None
    if isinstance(act, Relu):
        return intref.activation_bounds(float(qp.scale), int(qp.zero_point), qp.bits, True, 0.0)
    assert isinstance(act, Clip)
    return intref.activation_bounds(float(qp.scale), int(qp.zero_point), qp.bits, True,
                                    act.min, act.max)


# -- execution ------------------------------------------------------------------------------
def _rescale(q: np.ndarray, src: QuantParams, dst: QuantParams, dp: IntegerDatapath
             ) -> np.ndarray:
    """Requantize codes of ``src`` into ``dst`` (integer multiplier and shift)."""
    if src == dst:
        return q
    m, s = intref.quantize_multiplier(float(src.scale) / float(dst.scale), dp.multiplier_bits)
    return intref.requantize(q - int(src.zero_point), m, s, int(dst.zero_point), dst.bits,
                             True, dp.rounding)


def _mac(qm: QuantizedModel, node: Conv | Gemm, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(accumulator, requantized output) of one MAC layer on integer input ``x``."""
    ql = qm.layers[node.name]
    dp = qm.settings.datapath
    z_x = int(ql.input_qp.zero_point)
    if isinstance(node, Conv):
        acc = intref.int_conv2d(x, ql.weight_q, node.strides, node.pads, node.dilations,
                                node.groups, dp.accumulator_bits, x_zero_point=z_x,
                                bias=ql.bias_q)
    else:
        acc = intref.int_gemm(x, ql.weight_q.T, dp.accumulator_bits, a_zero_point=z_x)
        acc = intref.add_bias(acc, ql.bias_q, dp.accumulator_bits, axis=1)
    y = intref.requantize(acc, ql.multiplier, ql.shift, int(ql.output_qp.zero_point),
                          ql.output_qp.bits, True, dp.rounding, axis=1, clamp=ql.clamp)
    return acc, y


def _step(qm: QuantizedModel, node: Node, inputs: list[np.ndarray]) -> np.ndarray:
    dp = qm.settings.datapath
    tq = qm.tensor_qp
    if node.name in qm.fused:
        return inputs[0]
    if isinstance(node, (Conv, Gemm)):
        x = inputs[0]
        if (node.name, 0) in qm.reader_qp:
            x = _rescale(x, tq[node.inputs[0]], qm.reader_qp[(node.name, 0)], dp)
        return _mac(qm, node, x)[1]
    if isinstance(node, Softmax):
        qp = tq[node.inputs[0]]
        real = (inputs[0] - qp.zero_point) * qp.scale
        return float_compute(node, [real])
    qp_in = tq[node.inputs[0]]
    qp_out = tq[node.output]
    z = int(qp_in.zero_point)
    if isinstance(node, Add):
        qa, qb = tq[node.inputs[0]], tq[node.inputs[1]]
        params = intref.add_params(float(qa.scale), float(qb.scale), float(qp_out.scale),
                                   multiplier_bits=dp.multiplier_bits)
        act = next((qm.model.node(a) for a, m in qm.fused.items() if m == node.name), None)
        return intref.int_add(inputs[0], int(qa.zero_point), inputs[1], int(qb.zero_point),
                              params, int(qp_out.zero_point), qp_out.bits, True, dp.rounding,
                              clamp=_clamp(act, qp_out))
    x = inputs[0]
    if isinstance(node, Relu):
        y = np.maximum(x, z)
    elif isinstance(node, Clip):
        y = intref.int_clip(x, *_clamp(node, qp_in))
    elif isinstance(node, MaxPool):
        y = intref.int_maxpool(x, node.kernel, node.strides, node.pads, node.dilations)
    elif isinstance(node, AveragePool):
        y = intref.int_avgpool(x, node.kernel, node.strides, node.pads,
                               node.count_include_pad, z, dp.rounding)
    elif isinstance(node, GlobalAveragePool):
        y = intref.int_global_avgpool(x, z, dp.rounding)
    elif isinstance(node, (Flatten, Reshape)):
        y = x.reshape(x.shape[0], *node.out_shape)
    else:                                             # pragma: no cover
        raise IntNetworkError(f"node {node.name} (op {node.op}) has no integer implementation")
    return _rescale(y, qp_in, qp_out, dp)


def run_node(qm: QuantizedModel, node: Node, inputs: list[np.ndarray]) -> np.ndarray:
    """One node of the integer graph on integer ``inputs`` (its output tensor's codes);
    a MAC node runs its whole layer here (the host's reference of one step)."""
    return _step(qm, node, inputs)


def mac_input(qm: QuantizedModel, node: Conv | Gemm, x: np.ndarray) -> np.ndarray:
    """The integer operand a MAC node multiplies (``<node>.in`` of :func:`integer_trace`):
    ``x`` requantized to the layer's input view where that is narrower."""
    if (node.name, 0) in qm.reader_qp:
        return _rescale(x, qm.tensor_qp[node.inputs[0]], qm.reader_qp[(node.name, 0)],
                        qm.settings.datapath)
    return x


def quantize_input(qm: QuantizedModel, x: np.ndarray) -> np.ndarray:
    """The graph input's integer codes (host side, round half to even)."""
    return quantize(np.asarray(x, dtype=np.float64), qm.tensor_qp[qm.model.input_name]
                    ).astype(np.int64)


def integer_trace(qm: QuantizedModel, x: np.ndarray) -> dict[str, np.ndarray]:
    """Every integer tensor of one run, by tensor name (MAC accumulators as ``<node>.acc``)."""
    values: dict[str, np.ndarray] = {qm.model.input_name: quantize_input(qm, x)}
    for node in qm.model.nodes:
        ins = [values[t] for t in node.inputs]
        if isinstance(node, (Conv, Gemm)):
            xin = ins[0]
            if (node.name, 0) in qm.reader_qp:
                xin = _rescale(xin, qm.tensor_qp[node.inputs[0]],
                               qm.reader_qp[(node.name, 0)], qm.settings.datapath)
            values[node.name + ".in"] = xin
            values[node.name + ".acc"], values[node.output] = _mac(qm, node, xin)
        else:
            values[node.output] = _step(qm, node, ins)
    return values


def run_integer(qm: QuantizedModel, x: np.ndarray, batch: int = 512) -> np.ndarray:
    """The dequantized output of the integer engine on float inputs ``x`` (N x ...)."""
    model = qm.model
    x = np.asarray(x)
    if x.ndim != len(model.input_shape) + 1 or tuple(x.shape[1:]) != model.input_shape:
        raise IntNetworkError(f"{model.source}: input must be N x "
                              f"{' x '.join(map(str, model.input_shape))}, not "
                              f"{' x '.join(map(str, x.shape))}")
    outs = []
    for start in range(0, len(x), batch):
        values = {model.input_name: quantize_input(qm, x[start:start + batch])}
        for node in model.nodes:
            values[node.output] = _step(qm, node, [values[t] for t in node.inputs])
        y = values[model.output_name]
        last = model.nodes[-1]
        if not isinstance(last, Softmax):
            qp = qm.tensor_qp[model.output_name]
            y = (y - qp.zero_point) * qp.scale
        outs.append(np.asarray(y, dtype=np.float64))
    return np.concatenate(outs)


def with_layers(settings: QuantSettings, changes: Mapping[str, LayerQuant]) -> QuantSettings:
    """``settings`` with some layers' quantization replaced (by Layer name)."""
    return replace(settings, layers={**settings.layers, **changes})
