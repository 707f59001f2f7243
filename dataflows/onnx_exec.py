"""Running a :class:`~dataflows.onnx_nodes.Model`: the numpy float reference and the hook
another engine (e.g. :mod:`sim.int_network`) runs the same graph through.

:func:`run_float` is the float reference (float32 or float64, following the input);
:func:`execute` runs the graph with any per-node ``compute(node, inputs) -> output``;
:func:`trace` returns every tensor. The primitives :func:`conv2d`, :func:`patches`,
:func:`max_pool2d` and :func:`avg_pool2d` keep the input dtype, so an integer engine can
reuse them on integer arrays.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dataflows.onnx_nodes import (
    Add, AveragePool, Clip, Conv, Flatten, Gemm, GlobalAveragePool, MaxPool, Model, ModelError,
    Node, Relu, Reshape, Softmax)

def _windows(x: np.ndarray, kernel: tuple[int, int], strides: tuple[int, int],
             pads: tuple[int, int, int, int], dilations: tuple[int, int],
             pad_value: float) -> np.ndarray:
    """Sliding windows of ``x`` (N x C x H x W) as a view ``C x P x Q x N x R x S``.

    The batch goes last (one transposing copy of ``x``) so that every window tap is a
    run of ``Q * N`` contiguous elements: im2col copies and tap loops then move long
    runs instead of 3-element rows.
    """
    n, c, h, w = x.shape
    t, left, b, right = pads
    xt = np.full((c, h + t + b, w + left + right, n), pad_value, x.dtype)
    xt[:, t:t + h, left:left + w, :] = x.transpose(1, 2, 3, 0)
    r, s = kernel
    dh, dw = dilations
    win = np.lib.stride_tricks.sliding_window_view(
        xt, ((r - 1) * dh + 1, (s - 1) * dw + 1), axis=(1, 2))  # C P' Q' N R' S'
    return win[:, ::strides[0], ::strides[1], :, ::dh, ::dw]


def patches(x: np.ndarray, kernel: tuple[int, int], strides: tuple[int, int],
            pads: tuple[int, int, int, int], dilations: tuple[int, int] = (1, 1),
            pad_value: float = 0) -> np.ndarray:
    """Sliding windows of ``x`` (N x C x H x W) as a view ``N x C x P x Q x R x S``."""
    return _windows(x, kernel, strides, pads, dilations, pad_value).transpose(3, 0, 1, 2, 4, 5)


def _to_nchw(out_cpqn: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(out_cpqn.transpose(3, 0, 1, 2))


def conv2d(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None,
           strides: tuple[int, int] = (1, 1), pads: tuple[int, int, int, int] = (0, 0, 0, 0),
           dilations: tuple[int, int] = (1, 1), groups: int = 1) -> np.ndarray:
    """Grouped 2-D convolution by im2col + one (batched over groups) matmul.

    ``x`` is N x C x H x W, ``weight`` K x C/G x R x S; returns N x K x P x Q in the
    operands' dtype (integer arrays give exact integer sums).
    """
    k, cg, r, s = weight.shape
    win = _windows(x, (r, s), strides, pads, dilations, 0)  # C P Q N R S
    _, p, q, n = win.shape[:4]
    if cg == 1 and k == groups:  # depthwise: a multiply-add per tap, no im2col copy
        out = np.zeros((k, p, q, n), np.result_type(x.dtype, weight.dtype))
        for i in range(r):
            for j in range(s):
                out += weight[:, 0, i, j].reshape(k, 1, 1, 1) * win[..., i, j]
        out = _to_nchw(out)
        if bias is not None:
            out += bias.reshape(1, k, 1, 1).astype(out.dtype, copy=False)
        return out
    cols = np.ascontiguousarray(win.transpose(0, 4, 5, 1, 2, 3))  # C R S P Q N: the copy
    cols = cols.reshape(groups, cg * r * s, p * q * n)
    out = np.matmul(weight.reshape(groups, k // groups, cg * r * s), cols)  # G K/G PQN
    out = _to_nchw(out.reshape(k, p, q, n))
    if bias is not None:
        out += bias.reshape(1, k, 1, 1).astype(out.dtype, copy=False)
    return out


def max_pool2d(x: np.ndarray, kernel: tuple[int, int], strides: tuple[int, int],
               pads: tuple[int, int, int, int], dilations: tuple[int, int] = (1, 1)
               ) -> np.ndarray:
    """Max over each window; padding never wins (``-inf``, or the dtype's minimum)."""
    low = -np.inf if np.issubdtype(x.dtype, np.floating) else np.iinfo(x.dtype).min
    win = _windows(x, kernel, strides, pads, dilations, low)
    out = win[..., 0, 0].copy()
    for i in range(kernel[0]):  # a loop over the window's taps, each a whole-tensor op
        for j in range(kernel[1]):
            np.maximum(out, win[..., i, j], out=out)
    return _to_nchw(out)


def avg_pool2d(x: np.ndarray, kernel: tuple[int, int], strides: tuple[int, int],
               pads: tuple[int, int, int, int], count_include_pad: bool) -> np.ndarray:
    """Mean over each window (float result); padding counts only with ``count_include_pad``."""
    def window_sum(a: np.ndarray) -> np.ndarray:
        win = _windows(a, kernel, strides, pads, (1, 1), 0)
        total = win[..., 0, 0].astype(np.result_type(a.dtype, np.float32))
        for i in range(kernel[0]):
            for j in range(kernel[1]):
                if i or j:
                    total += win[..., i, j]
        return total

    total = window_sum(x)
    if count_include_pad or not any(pads):
        return _to_nchw(total / (kernel[0] * kernel[1]))
    count = window_sum(np.ones((1, 1, *x.shape[2:]), x.dtype))  # 1 x P x Q x 1
    return _to_nchw(total / count)


def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    flat = x.reshape(*x.shape[:axis], -1)
    e = np.exp(flat - flat.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).reshape(x.shape)


#: A per-node compute function: ``(node, input arrays in node.inputs order) -> output``.
Compute = Callable[[Node, list[np.ndarray]], np.ndarray]


def float_compute(node: Node, inputs: list[np.ndarray]) -> np.ndarray:
    """The float reference of one node; the weights are cast to the input's dtype."""
    x = inputs[0]
    dt = x.dtype
    if isinstance(node, Conv):
        return conv2d(x, node.weight.astype(dt, copy=False), node.bias.astype(dt, copy=False),
                      node.strides, node.pads, node.dilations, node.groups)
    if isinstance(node, Gemm):
        return x @ node.weight.T.astype(dt, copy=False) + node.bias.astype(dt, copy=False)
    if isinstance(node, Relu):
        return np.maximum(x, 0)
    if isinstance(node, Clip):
        return np.clip(x, node.min, node.max).astype(dt, copy=False) \
            if node.min is not None or node.max is not None else x
    if isinstance(node, MaxPool):
        return max_pool2d(x, node.kernel, node.strides, node.pads, node.dilations)
    if isinstance(node, AveragePool):
        return avg_pool2d(x, node.kernel, node.strides, node.pads,
                          node.count_include_pad).astype(dt, copy=False)
    if isinstance(node, GlobalAveragePool):
        return x.mean(axis=tuple(range(2, x.ndim)), keepdims=True, dtype=dt)
    if isinstance(node, Add):
        return inputs[0] + inputs[1]
    if isinstance(node, (Flatten, Reshape)):
        return x.reshape(x.shape[0], *node.out_shape)
    if isinstance(node, Softmax):
        return _softmax(x, node.axis)
    raise ModelError(f"node {node.name} (op {node.op}) has no float compute")


def _check_input(model: Model, x: np.ndarray) -> None:
    if x.ndim != len(model.input_shape) + 1 or tuple(x.shape[1:]) != model.input_shape:
        raise ModelError(f"{model.source}: input {model.input_name!r} must be N x "
                         f"{' x '.join(map(str, model.input_shape))}, not "
                         f"{' x '.join(map(str, x.shape))}")


def trace(model: Model, x: np.ndarray, compute: Compute = float_compute) -> dict[str, np.ndarray]:
    """Every tensor (input and each node's output, by tensor name) of one run."""
    _check_input(model, x)
    values = {model.input_name: x}
    for node in model.nodes:
        values[node.output] = compute(node, [values[t] for t in node.inputs])
    return values


def execute(model: Model, x: np.ndarray, compute: Compute = float_compute) -> np.ndarray:
    """Run ``model`` on the batch ``x`` with ``compute`` for every node; the output.

    Nodes run in ``model.nodes`` order; a tensor is freed after its last reader.
    """
    _check_input(model, x)
    last: dict[str, int] = {}
    for i, node in enumerate(model.nodes):
        for t in node.inputs:
            last[t] = i
    values = {model.input_name: x}
    for i, node in enumerate(model.nodes):
        values[node.output] = compute(node, [values[t] for t in node.inputs])
        for t in node.inputs:
            if last[t] == i and t != model.output_name:
                values.pop(t, None)
    return values[model.output_name]


def run_float(model: Model, x: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """The numpy float reference: float32 or float64, following ``x``'s dtype.

    Runs ``batch_size`` samples at a time (small working tensors stay in cache; the
    result does not depend on it).
    """
    x = np.asarray(x)
    if x.dtype not in (np.float32, np.float64):
        raise ModelError(f"{model.source}: input {model.input_name!r} has dtype {x.dtype}; "
                         "give float32 or float64 data")
    if batch_size < 1:
        raise ModelError(f"run_float: batch_size must be >= 1, not {batch_size}")
    _check_input(model, x)
    if len(x) <= batch_size:
        return execute(model, x, float_compute)
    return np.concatenate([execute(model, x[i:i + batch_size], float_compute)
                           for i in range(0, len(x), batch_size)])


__all__ = ["Compute", "avg_pool2d", "conv2d", "execute", "float_compute", "max_pool2d",
           "patches", "run_float", "trace"]
