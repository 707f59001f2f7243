"""The per-op handlers of the ONNX loader (:func:`dataflows.onnx_model.load_model`): how
each supported op (``Constant``, ``Identity``, ``Dropout``, ``Conv``, ``Gemm``,
``MatMul``, ``BatchNormalization``, ``Relu``, ``Clip``, the pools, ``Add``, ``Flatten``,
``Reshape``, ``Softmax``) becomes a node record of :mod:`dataflows.onnx_nodes`, and the
attribute helpers they share. The graph walk, naming and folding are the loader's.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from dataflows.onnx_nodes import (Add, AveragePool, Clip, Conv, Flatten, Gemm,
                                  GlobalAveragePool, MaxPool, ModelError, Node, Relu,
                                  Reshape, Softmax)


def node_attrs(node: onnx.NodeProto) -> dict[str, Any]:
    out = {}
    for a in node.attribute:
        value = onnx.helper.get_attribute_value(a)
        out[a.name] = value.decode() if isinstance(value, bytes) else value
    return out


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


def _out_size(size: int, kernel: int, stride: int, pad: int, dilation: int) -> int:
    return (size + pad - dilation * (kernel - 1) - 1) // stride + 1


def _pair(values: Any) -> tuple[int, int]:
    values = [int(v) for v in values]
    if len(values) != 2:
        raise ModelError(f"expected a 2-D attribute (two values), not {values}")
    return (values[0], values[1])


def channel_vector(c: np.ndarray, k: int, spatial: bool) -> np.ndarray | None:
    """``c`` as a length-``k`` per-channel vector, or None if it is not one."""
    if c.size == 1:
        return np.full(k, float(c.reshape(())))
    if spatial:  # broadcast against N x K x P x Q: shapes (K,1,1) or (1,K,1,1)
        squeezed = c.reshape(c.shape[-3:]) if c.ndim >= 3 and math.prod(c.shape[:-3]) == 1 \
            else None
        if squeezed is not None and squeezed.shape == (k, 1, 1):
            return squeezed.reshape(k)
        return None
    if c.shape in ((k,), (1, k)):
        return c.reshape(k)
    return None


class OnnxOps:
    """The handlers ``op_<OpType>(node, index)`` of the ONNX ops coforge reads, one per
    op, mixed into :class:`dataflows.onnx_model._Loader`, whose graph state and helpers
    (``fail``, ``const``, ``act``, ``emit``, ``name_of``, ``fold_following``, ``shapes``,
    ``alias``, ``consts``, ``opset``) they use."""

    def op_Constant(self, node: onnx.NodeProto, index: int) -> None:
        a = node_attrs(node)
        if "value" not in a:
            raise self.fail(node, index, "has no 'value' tensor attribute; only tensor "
                                         "constants are supported")
        self.consts[node.output[0]] = numpy_helper.to_array(a["value"])

    def op_Identity(self, node: onnx.NodeProto, index: int) -> None:
        tensor = node.input[0] if node.input else ""
        resolved = self.resolve(tensor)
        if resolved in self.consts:
            self.consts[node.output[0]] = self.consts[resolved]
        else:
            self.act(node, index)
            self.alias[node.output[0]] = resolved

    def op_Dropout(self, node: onnx.NodeProto, index: int) -> None:
        if len(node.output) > 1 and node.output[1] and node.output[1] in self.consumers:
            raise self.fail(node, index, "has its mask output used; only inference-mode "
                                         "Dropout (a passthrough) is supported")
        self.op_Identity(node, index)

    def op_Conv(self, node: onnx.NodeProto, index: int) -> None:
        x = self.act(node, index)
        w = self.const(node, index, 1, "weight")
        b = self.const(node, index, 2, "bias", optional=True)
        shape = self.shapes[x]
        if len(shape) != 3 or w.ndim != 4:
            raise self.fail(node, index, f"has input of shape {['N', *shape]} and weight of "
                                         f"shape {list(w.shape)}; only 2-D convolutions "
                                         "(N x C x H x W) are supported")
        a = node_attrs(node)
        groups = int(a.get("group", 1))
        c, h, wd = shape
        k, cg, r, s = w.shape
        if groups < 1 or c % groups or k % groups:
            raise self.fail(node, index, f"has group={groups}, which must divide the input "
                                         f"channels ({c}) and output channels ({k})")
        if cg * groups != c:
            raise self.fail(node, index, f"has weight of shape {list(w.shape)} for {cg * groups}"
                                         f" input channels, but its input {x!r} has {c} "
                                         "channels; the weight must be K x C/group x R x S")
        if "kernel_shape" in a and tuple(a["kernel_shape"]) != (r, s):
            raise self.fail(node, index, f"has kernel_shape {list(a['kernel_shape'])} but "
                                         f"weight {r}x{s}; drop kernel_shape or fix the weight")
        if b is None:
            b = np.zeros(k, w.dtype)
        elif b.shape != (k,):
            raise self.fail(node, index, f"has bias of shape {list(b.shape)}; it must have "
                                         f"one value per output channel ({k})")
        strides, dilations = _pair(a.get("strides", [1, 1])), _pair(a.get("dilations", [1, 1]))
        pads = self.pads(node, index, a, (h, wd), (r, s), strides, dilations)
        p = _out_size(h, r, strides[0], pads[0] + pads[2], dilations[0])
        q = _out_size(wd, s, strides[1], pads[1] + pads[3], dilations[1])
        if p < 1 or q < 1:
            raise self.fail(node, index, f"has an empty output ({p}x{q}) for input {h}x{wd}")
        w, b, out, bn, add = self.fold_following(node, index, w, b.astype(w.dtype))
        self.emit(Conv(name=self.name_of(node, index), inputs=(x,), output=out,
                       out_shape=(k, p, q), weight=_readonly(w), bias=_readonly(b),
                       strides=strides, pads=pads, dilations=dilations, groups=groups,
                       layer_name="", folded_bn=bn, folded_add=add))

    def pads(self, node: onnx.NodeProto, index: int, a: dict[str, Any],
             size: tuple[int, int], kernel: tuple[int, int], strides: tuple[int, int],
             dilations: tuple[int, int]) -> tuple[int, int, int, int]:
        auto = a.get("auto_pad", "NOTSET")
        if auto in ("NOTSET", ""):
            pads = [int(v) for v in a.get("pads", [0, 0, 0, 0])]
            if len(pads) != 4 or min(pads) < 0:
                raise self.fail(node, index, f"has pads {pads}; give 4 non-negative values "
                                             "(top, left, bottom, right)")
            return (pads[0], pads[1], pads[2], pads[3])
        if auto == "VALID":
            return (0, 0, 0, 0)
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            begin, end = [], []
            for n, k, st, d in zip(size, kernel, strides, dilations):
                total = max((math.ceil(n / st) - 1) * st + d * (k - 1) + 1 - n, 0)
                small, large = total // 2, total - total // 2
                begin.append(small if auto == "SAME_UPPER" else large)
                end.append(large if auto == "SAME_UPPER" else small)
            return (begin[0], begin[1], end[0], end[1])
        raise self.fail(node, index, f"has auto_pad {auto!r}; allowed: NOTSET, VALID, "
                                     "SAME_UPPER, SAME_LOWER")

    def op_Gemm(self, node: onnx.NodeProto, index: int) -> None:
        x = self.act(node, index)
        a = node_attrs(node)
        if a.get("transA", 0):
            raise self.fail(node, index, "has transA=1; only activations as N x features "
                                         "(transA=0) are supported")
        w = self.const(node, index, 1, "weight")
        c_in = self.const(node, index, 2, "bias", optional=True)
        if w.ndim != 2:
            raise self.fail(node, index, f"has a {w.ndim}-D weight; Gemm needs 2-D")
        w = w if a.get("transB", 0) else w.T  # now K x C
        self.dense(node, index, x, w * np.asarray(a.get("alpha", 1.0), w.dtype),
                   c_in, float(a.get("beta", 1.0)), "Gemm")

    def op_MatMul(self, node: onnx.NodeProto, index: int) -> None:
        x = self.act(node, index)
        w = self.const(node, index, 1, "weight")
        if w.ndim != 2:
            raise self.fail(node, index, f"has a {w.ndim}-D constant operand; only x @ W "
                                         "with a 2-D W is supported")
        self.dense(node, index, x, w.T, None, 1.0, "MatMul")

    def dense(self, node: onnx.NodeProto, index: int, x: str, w: np.ndarray,
              c_in: np.ndarray | None, beta: float, onnx_op: str) -> None:
        shape = self.shapes[x]
        k, c = w.shape
        if not shape or shape[-1] != c:
            raise self.fail(node, index, f"has weight for {c} input features, but its input "
                                         f"{x!r} has shape {['N', *shape]}; the last "
                                         f"dimension must be {c}")
        if onnx_op == "Gemm" and len(shape) != 1:
            raise self.fail(node, index, f"has input of shape {['N', *shape]}; Gemm needs "
                                         "N x features (add a Flatten)")
        if c_in is None:
            bias = np.zeros(k, w.dtype)
        else:
            vec = channel_vector(c_in.astype(np.float64), k, False)
            if vec is None or (c_in.ndim == 2 and c_in.shape[0] != 1):
                raise self.fail(node, index, f"has C of shape {list(c_in.shape)}; only a "
                                             f"bias of {k} values (or a scalar) is supported")
            bias = (vec * beta).astype(w.dtype)
        w, bias, out, bn, add = self.fold_following(node, index, np.ascontiguousarray(w), bias)
        self.emit(Gemm(name=self.name_of(node, index), inputs=(x,), output=out,
                       out_shape=(*shape[:-1], k), weight=_readonly(w), bias=_readonly(bias),
                       onnx_op=onnx_op, layer_name="", folded_bn=bn, folded_add=add))

    def op_BatchNormalization(self, node: onnx.NodeProto, index: int) -> None:
        raise self.fail(node, index, "does not follow a Conv or Gemm/MatMul whose output "
                                     "feeds only it; only BatchNormalization folded into the "
                                     "preceding Conv/Gemm is supported")

    def simple(self, node: onnx.NodeProto, index: int, cls: type[Node], **extra: Any) -> None:
        x = self.act(node, index)
        self.emit(cls(name=self.name_of(node, index), inputs=(x,), output=node.output[0],
                      out_shape=self.shapes[x], **extra))

    def op_Relu(self, node: onnx.NodeProto, index: int) -> None:
        self.simple(node, index, Relu)

    def op_Clip(self, node: onnx.NodeProto, index: int) -> None:
        a = node_attrs(node)
        if self.opset and self.opset < 11:
            lo, hi = a.get("min"), a.get("max")
        else:
            lo_t = self.const(node, index, 1, "min", optional=True)
            hi_t = self.const(node, index, 2, "max", optional=True)
            for t, what in ((lo_t, "min"), (hi_t, "max")):
                if t is not None and t.size != 1:
                    raise self.fail(node, index, f"has a {what} of shape {list(t.shape)}; "
                                                 "give a scalar")
            lo = None if lo_t is None else float(lo_t.reshape(()))
            hi = None if hi_t is None else float(hi_t.reshape(()))
        self.simple(node, index, Clip, min=None if lo is None else float(lo),
                    max=None if hi is None else float(hi))

    def pool(self, node: onnx.NodeProto, index: int) -> tuple[str, dict[str, Any]]:
        x = self.act(node, index)
        shape = self.shapes[x]
        if len(shape) != 3:
            raise self.fail(node, index, f"has input of shape {['N', *shape]}; only 2-D "
                                         "pooling (N x C x H x W) is supported")
        if len(node.output) > 1 and node.output[1]:
            raise self.fail(node, index, "has an Indices output; only the pooled values are "
                                         "supported")
        a = node_attrs(node)
        kernel = _pair(a.get("kernel_shape", []) or [0, 0])
        if min(kernel) < 1:
            raise self.fail(node, index, "has no 2-D kernel_shape")
        strides = _pair(a.get("strides", [1, 1]))
        dilations = _pair(a.get("dilations", [1, 1]))
        c, h, w = shape
        pads = self.pads(node, index, a, (h, w), kernel, strides, dilations)
        p = _out_size(h, kernel[0], strides[0], pads[0] + pads[2], dilations[0])
        q = _out_size(w, kernel[1], strides[1], pads[1] + pads[3], dilations[1])
        if a.get("ceil_mode", 0):
            pc = -(-(h + pads[0] + pads[2] - dilations[0] * (kernel[0] - 1) - 1)
                   // strides[0]) + 1
            qc = -(-(w + pads[1] + pads[3] - dilations[1] * (kernel[1] - 1) - 1)
                   // strides[1]) + 1
            if (pc, qc) != (p, q):
                raise self.fail(node, index, "has ceil_mode=1 with a partial last window; "
                                             "export with ceil_mode=0 (or pad explicitly)")
        if p < 1 or q < 1:
            raise self.fail(node, index, f"has an empty output ({p}x{q}) for input {h}x{w}")
        return x, {"kernel": kernel, "strides": strides, "pads": pads, "dilations": dilations,
                   "out_shape": (c, p, q),
                   "count_include_pad": bool(a.get("count_include_pad", 0))}

    def op_MaxPool(self, node: onnx.NodeProto, index: int) -> None:
        x, p = self.pool(node, index)
        if node_attrs(node).get("storage_order", 0):
            raise self.fail(node, index, "has storage_order=1; only row-major is supported")
        self.emit(MaxPool(name=self.name_of(node, index), inputs=(x,), output=node.output[0],
                          out_shape=p["out_shape"], kernel=p["kernel"], strides=p["strides"],
                          pads=p["pads"], dilations=p["dilations"]))

    def op_AveragePool(self, node: onnx.NodeProto, index: int) -> None:
        x, p = self.pool(node, index)
        if p["dilations"] != (1, 1):
            raise self.fail(node, index, "has dilations; dilated AveragePool is not supported")
        self.emit(AveragePool(name=self.name_of(node, index), inputs=(x,),
                              output=node.output[0], out_shape=p["out_shape"],
                              kernel=p["kernel"], strides=p["strides"], pads=p["pads"],
                              count_include_pad=p["count_include_pad"]))

    def op_GlobalAveragePool(self, node: onnx.NodeProto, index: int) -> None:
        x = self.act(node, index)
        shape = self.shapes[x]
        if len(shape) < 2:
            raise self.fail(node, index, f"has input of shape {['N', *shape]}; it needs "
                                         "N x C x spatial...")
        self.emit(GlobalAveragePool(name=self.name_of(node, index), inputs=(x,),
                                    output=node.output[0],
                                    out_shape=(shape[0],) + (1,) * (len(shape) - 1)))

    def op_Add(self, node: onnx.NodeProto, index: int) -> None:
        tensors = [self.resolve(t) for t in node.input]
        if len(tensors) != 2 or any(t in self.consts for t in tensors):
            raise self.fail(node, index, "adds a constant that is not the bias of a preceding "
                                         "Conv/Gemm/MatMul; only Add of two activations or a "
                                         "bias Add folded into the preceding node is supported")
        a, b = (self.act(node, index, i) for i in (0, 1))
        sa, sb = self.shapes[a], self.shapes[b]
        try:
            out = np.broadcast_shapes((2, *sa), (2, *sb))[1:]
        except ValueError:
            raise self.fail(node, index, f"adds shapes {['N', *sa]} and {['N', *sb]}, which "
                                         "do not broadcast") from None
        if len(sa) != len(sb):
            raise self.fail(node, index, f"adds shapes {['N', *sa]} and {['N', *sb]} of "
                                         "different rank; give both the batch dimension first")
        self.emit(Add(name=self.name_of(node, index), inputs=(a, b), output=node.output[0],
                      out_shape=tuple(out)))

    def op_Flatten(self, node: onnx.NodeProto, index: int) -> None:
        x = self.act(node, index)
        shape = self.shapes[x]
        axis = int(node_attrs(node).get("axis", 1))
        if axis not in (1, -len(shape)):  # axis 1 of a rank len(shape)+1 tensor
            raise self.fail(node, index, f"has axis={axis}; only axis=1 (keep the batch "
                                         "dimension) is supported")
        self.emit(Flatten(name=self.name_of(node, index), inputs=(x,), output=node.output[0],
                          out_shape=(math.prod(shape),)))

    def op_Reshape(self, node: onnx.NodeProto, index: int) -> None:
        x = self.act(node, index)
        target = self.const(node, index, 1, "shape")
        target = [int(v) for v in np.asarray(target).reshape(-1)]
        shape = self.shapes[x]
        if node_attrs(node).get("allowzero", 0) and 0 in target:
            raise self.fail(node, index, "has allowzero=1 with a 0 in its shape; zero-size "
                                         "tensors are not supported")
        if target and self.fixed_batch is not None and target[0] == self.fixed_batch:
            target[0] = 0  # a model exported with a fixed batch: its leading dim is the batch
        outs = []
        for batch in (2, 3):  # the batch must stay the first dimension for any batch size
            full = (batch, *shape)
            dims = [full[i] if v == 0 else v for i, v in enumerate(target)]
            try:
                outs.append(np.empty(full, np.int8).reshape(dims).shape)
            except ValueError:
                outs.append(())
        if len(outs[0]) < 1 or outs[0][0] != 2 or outs[1][:1] != (3,) \
                or outs[0][1:] != outs[1][1:]:
            raise self.fail(node, index, f"reshapes {['N', *shape]} to {target}, which does "
                                         "not keep the batch dimension first for every batch "
                                         "size; give shape [0 or -1, per-sample dims...] of "
                                         f"the same per-sample size ({math.prod(shape)})")
        self.emit(Reshape(name=self.name_of(node, index), inputs=(x,), output=node.output[0],
                          out_shape=tuple(outs[0][1:])))

    def op_Softmax(self, node: onnx.NodeProto, index: int) -> None:
        x = self.act(node, index)
        rank = len(self.shapes[x]) + 1
        default = -1 if not self.opset or self.opset >= 13 else 1
        axis = int(node_attrs(node).get("axis", default))
        axis = axis + rank if axis < 0 else axis
        if not 1 <= axis < rank:
            raise self.fail(node, index, f"has axis={axis}; softmax over the batch dimension "
                                         "is not supported")
        # Before opset 13 Softmax normalises over the flattened dims axis.. (so any axis);
        # from 13 on over the one axis ``axis``, which is the same when it is the last.
        if (not self.opset or self.opset >= 13) and axis != rank - 1:
            raise self.fail(node, index, f"has axis={axis}; only the last axis is supported "
                                         "from opset 13 on")
        self.simple(node, index, Softmax, axis=axis)
