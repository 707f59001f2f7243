"""Golden models of every generator, in plain Python/numpy.

* :class:`WSPEModel` / :class:`OSPEModel`: cycle-accurate models of the PEs
  (``outputs()`` = register outputs this cycle, ``tick(inputs)`` = clock edge);
* :func:`ws_array_ref` / :func:`os_array_ref` and the latency functions: what an array
  computes and when;
* :func:`gemm_ref`: the top level -- ``A . B`` in exact integers, wrapped to the
  accumulator width (two's complement), as the RTL's wrapping adders produce it;
* :func:`busy_cycles`: the closed form of the controller's busy period (equal to
  ``sim.timing``'s native convention; the tests compare both with the RTL);
* :func:`im2col`: host-side lowering of a convolution to the GEMM the engine runs;
* the bit-serial engine's (:mod:`hdl.bitserial`): :func:`serial_product` (the PE's
  Horner product), :func:`bitserial_gemm_ref` (what the engine outputs) and
  :class:`BitSerialPEModel` (its PE, cycle by cycle).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil

import numpy as np

from hdl.params import HdlParams
from sim import intref


def wrap(x: np.ndarray | int, bits: int) -> np.ndarray | int:
    """Two's-complement wrap of integers to ``bits`` (numpy int64 or Python int):
    :func:`sim.intref.wrap`, the integer engine's."""
    return intref.wrap(x, bits)


def gemm_ref(a: np.ndarray, b: np.ndarray, accumulator_bits: int) -> np.ndarray:
    """``A . B`` wrapped at ``accumulator_bits``, exactly: :func:`sim.intref.int_gemm`
    (the one integer engine accuracy evaluation also runs)."""
    return intref.int_gemm(a, b, accumulator_bits)


def ws_array_ref(a: np.ndarray, w: np.ndarray, accumulator_bits: int) -> np.ndarray:
    """Rows ``a`` (S x R) through a WS array holding ``w`` (R x C): S x C outputs."""
    return gemm_ref(a, w, accumulator_bits)


def os_array_ref(a: np.ndarray, b: np.ndarray, accumulator_bits: int) -> np.ndarray:
    """An OS array after streaming ``a`` (R x K, one column per cycle) and ``b`` (K x C)."""
    return gemm_ref(a, b, accumulator_bits)


def ws_array_latency(rows: int, cols: int, product_register: bool) -> int:
    """Cycles from an unskewed input row to its de-skewed output row in a WS array."""
    return rows + cols - 1 + (1 if product_register else 0)


def os_drain_start(stream_cycles: int, rows: int, cols: int, product_register: bool) -> int:
    """Cycle at which an OS array's drain must start (stream presented at 0 .. K-1)."""
    return stream_cycles + rows + cols - 2 + (1 if product_register else 0)


def tile_counts(params: HdlParams, m: int, k: int, n: int) -> tuple[int, int, int]:
    """(row folds, column folds, stream length) of a GEMM on this engine."""
    if params.dataflow == "ws":
        return ceil(k / params.rows), ceil(n / params.cols), m
    return ceil(m / params.rows), ceil(n / params.cols), k


def busy_cycles(params: HdlParams, m: int, k: int, n: int) -> int:
    """The controller's busy period: ``tiles * (S + 2R + C - 1 + pr)``."""
    rf, cf, s = tile_counts(params, m, k, n)
    return rf * cf * (s + params.tile_overhead_cycles)


def im2col(x: np.ndarray, kernel: tuple[int, int], stride: int = 1,
           padding: int = 0) -> np.ndarray:
    """Lower an input ``x[C][H][W]`` to the im2col matrix ``[P*Q][C*R*S]`` (host side).

    With filters ``w[K][C][R][S]`` reshaped to ``B = w.reshape(K, -1).T``, the engine's
    ``A . B`` is the convolution output ``[P*Q][K]`` (pixel-major).
    """
    c, h, w_ = x.shape
    r, s = kernel
    xp = np.pad(x, ((0, 0), (padding, padding), (padding, padding)))
    p = (h + 2 * padding - r) // stride + 1
    q = (w_ + 2 * padding - s) // stride + 1
    cols = np.empty((p * q, c * r * s), dtype=x.dtype)
    for i in range(p):
        for j in range(q):
            patch = xp[:, i * stride:i * stride + r, j * stride:j * stride + s]
            cols[i * q + j] = patch.reshape(-1)
    return cols


# -- PE models --------------------------------------------------------------------------
@dataclass
class WSPEModel:
    """Cycle model of :class:`hdl.pe.WSPE` (inputs: a_in, w_in, w_load, psum_in)."""

    operand_bits: int = 8
    accumulator_bits: int = 32
    product_register: bool = False
    w: int = 0
    a_q: int = 0
    prod_q: int = 0
    psum_out: int = 0

    def outputs(self) -> dict[str, int]:
        return {"a_out": self.a_q, "w_out": self.w, "psum_out": self.psum_out}

    def tick(self, a_in: int, w_in: int, w_load: int, psum_in: int) -> None:
        prod = a_in * self.w
        add = self.prod_q if self.product_register else prod
        self.psum_out = int(wrap(psum_in + add, self.accumulator_bits))
        self.prod_q = prod
        self.a_q = a_in
        if w_load:
            self.w = w_in


@dataclass
class OSPEModel:
    """Cycle model of :class:`hdl.pe.OSPE` (inputs: a_in, b_in, valid_in, drain, acc_in)."""

    operand_bits: int = 8
    accumulator_bits: int = 32
    product_register: bool = False
    a_q: int = 0
    b_q: int = 0
    v_q: int = 0
    prod_q: int = 0
    pv_q: int = 0
    acc: int = 0

    def outputs(self) -> dict[str, int]:
        return {"a_out": self.a_q, "b_out": self.b_q, "valid_out": self.v_q, "acc": self.acc}

    def tick(self, a_in: int, b_in: int, valid_in: int, drain: int, acc_in: int) -> None:
        prod = a_in * b_in
        add, valid = (self.prod_q, self.pv_q) if self.product_register else (prod, valid_in)
        if drain:
            self.acc = acc_in
        elif valid:
            self.acc = int(wrap(self.acc + add, self.accumulator_bits))
        self.prod_q, self.pv_q = prod, valid_in
        self.a_q, self.b_q, self.v_q = a_in, b_in, valid_in


# -- the bit-serial engine (hdl.bitserial) -------------------------------------------
def serial_product(a: int, w: int, a_bits: int) -> int:
    """``a * w`` the way the PE forms it: Horner over the bits of ``a`` (``a_bits``-bit
    two's complement, MSB first, the MSB with negative weight)."""
    part = 0
    for j in range(a_bits):
        bit = (int(a) >> (a_bits - 1 - j)) & 1
        part = -bit * w if j == 0 else 2 * part + bit * w
    return part


def bitserial_gemm_ref(a: np.ndarray, b: np.ndarray, a_bits: int,
                       accumulator_bits: int) -> np.ndarray:
    """What the engine outputs: ``A`` read as ``a_bits``-bit values (wrapped), ``. B``,
    wrapped at ``accumulator_bits`` (exact integers)."""
    return gemm_ref(np.asarray(wrap(np.asarray(a, dtype=np.int64), a_bits)),
                    np.asarray(b, dtype=np.int64), accumulator_bits)


class BitSerialPEModel:
    """Cycle model of :class:`hdl.bitserial.BitSerialWSPE` without product register
    (inputs per cycle: ``a_bit_in``, ``first``, ``step``, ``smax``, ``w_in``,
    ``w_load``, ``psum_in``)."""

    def __init__(self, operand_bits: int = 8, accumulator_bits: int = 32) -> None:
        self.ob, self.ab = operand_bits, accumulator_bits
        self.line = [0] * operand_bits          # line[i]: the bit that entered i+1 ago
        self.part = 0
        self.w = 0
        self.psum_out = 0

    def outputs(self, smax: int) -> dict[str, int]:
        return {"a_bit_out": self.line[smax], "w_out": self.w, "psum_out": self.psum_out}

    def tick(self, a_bit_in: int, first: int, step: int, w_in: int, w_load: int,
             psum_in: int) -> None:
        bw = self.w if a_bit_in else 0
        term = -bw if first else 2 * self.part + bw
        self.part = int(wrap(term, 2 * self.ob))
        if step:
            self.psum_out = int(wrap(psum_in + term, self.ab))
            if w_load:
                self.w = w_in
        self.line = [a_bit_in] + self.line[:-1]


__all__ = ["BitSerialPEModel", "OSPEModel", "WSPEModel", "bitserial_gemm_ref", "busy_cycles",
           "gemm_ref", "im2col", "os_array_ref", "os_drain_start", "serial_product",
           "tile_counts", "wrap", "ws_array_latency", "ws_array_ref"]
