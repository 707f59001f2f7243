"""The N:M structured-sparse weight-stationary engine (``engine_kind == "sparse_nm"``).

Weights are stored **compressed**: along the reduction (``K``) every group of ``M``
consecutive weights of a column keeps exactly ``N`` *slots*, each a value and its
``log2(M)``-bit position in the group (a group with fewer nonzeros pads with zero
values, as NVIDIA's 2:4 sparse tensor cores and :mod:`sim.sparse.formats`' ``nm``
format do). A column of ``K`` weights becomes ``slots(K) = ceil(K / M) * N`` slots,
and the array holds slots instead of weights: PE row ``r`` of reduction fold ``f``
holds slot ``f * R + r``, which belongs to group ``f * R / N + r // N`` (``N`` must
divide ``R``, so a group never straddles two folds). Each PE *selects* its streamed
input by the slot's index from the ``M`` inputs of its group (an ``M``-way mux, retimed
one register before the multiplier: :class:`SparseWSPE`); the ``M`` inputs of a group
pass right along the PE row together, so rows ``r`` with equal ``r // N`` (a row pair
for 2:4) see the same ``M`` inputs and each PE picks its own.

Streams (payload meaning; the port protocol is :class:`hdl.top.GemmTop`'s):

* ``a``: ``A[M x K]`` row-major, one signed operand per beat, as dense;
* ``b``: the compressed weights ``Bc[slots(K) x N]`` row-major (slot ``s`` of column
  ``j`` = row ``s``), each beat ``value | index << operand_bits`` (``value`` in two's
  complement, ``operand_bits + log2(M)`` bits, unsigned port): exactly the data +
  metadata bits of :func:`sim.sparse.formats.tensor_bits` (``nm``), so the stored
  bits the sim moves are the bits this stream carries;
* ``o``: ``O = A . B`` (``B`` the decompressed ``K x N`` weights), signed, wrapped at
  ``accumulator_bits``.

The A buffer's word is the ``R * M / N`` inputs fold ``f`` needs (``k`` from ``f * R
* M / N``): the dense loader layout (``col_lanes``) with wider words, so fold ``f``'s
word ``f * m + i`` is row ``i`` of its slice. Input lanes past ``K`` are never written
for this GEMM; they meet zero-valued slots only. The engine then *is* the dense WS
engine run on a reduction of ``slots(K)`` (:class:`hdl.controller.Controller` with
``k = slots(K)``): busy cycles ``ceil(slots(K) / R) * ceil(N / C) * (m + 2R + C - 1 +
pr)``. The cycle model agrees: :func:`sim.sparse.skip_schedule` on format ``nm``
counts each column's fixed slots (see its docstring), and :func:`expected_cycles`
asks it with the actual weight tensor.

Buffers: the A and B words are wider than the dense engine's (A ``R * M / N``
operands, B ``C`` slots of ``operand_bits + log2 M`` bits), so their depths are the
spec's shares re-cut into these words (:func:`buffer_depths`); :func:`check_fit` refuses
a GEMM that does not fit them.

RTL limits (one-line :class:`~hdl.params.HdlError`): ``M`` a power of two, ``N`` divides
the array rows. Costs not in the sim (its stated optimism): the ``M``-wide input path
through every PE row (``M`` operand registers per PE instead of one, and the wider A
word) and the selection mux.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hdl.buffer import OperandBuffer
from hdl.controller import Controller
from hdl.engine_shell import (check_top_params, connect_shell, early, gemm_ports, lanes,
                              replay, write_back)
from hdl.driver import GemmCase, RunResult
from hdl.golden import gemm_ref, wrap
from hdl.params import CYCLE_COUNTER_BITS, HdlError, HdlParams
from hdl.pe import check_pe_params
from hdl.stream_io import StreamLoader, StreamUnloader
from sim.spec import Accelerator


# -- the format ---------------------------------------------------------------------------
def index_bits(m: int) -> int:
    """Bits of a slot's position in its group of ``m`` (``m`` a power of two >= 2)."""
    if not isinstance(m, int) or isinstance(m, bool) or m < 2 or m & (m - 1):
        raise HdlError(f"the sparse_nm RTL needs sparse.nm_m a power of two >= 2, not {m!r}")
    return m.bit_length() - 1


def nm_slots(k: int, n: int, m: int) -> int:
    """Slots a column of ``k`` weights occupies: ``ceil(k / m) * n``."""
    return -(-k // m) * n


def check_nm(params: HdlParams) -> None:
    """Raise :class:`HdlError` unless ``params`` describe a buildable sparse_nm engine."""
    if params.engine != "sparse_nm":
        raise HdlError(f"SparseNMTop builds the 'sparse_nm' engine, not {params.engine!r}")
    if params.dataflow != "ws":
        raise HdlError(f"the sparse_nm engine is weight stationary (dataflow: ws), "
                       f"not {params.dataflow!r}")
    index_bits(params.nm_m)
    if not 1 <= params.nm_n < params.nm_m:
        raise HdlError(f"sparse.nm_n must be in [1, nm_m), not {params.nm_n}:{params.nm_m}")
    if params.rows % params.nm_n:
        raise HdlError(f"the sparse_nm RTL needs sparse.nm_n ({params.nm_n}) to divide the "
                       f"array rows ({params.rows}) so no N:M group straddles two folds; "
                       f"change rows or nm_n")


def compress_nm(b: np.ndarray, n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """``B[K x cols]`` -> (values, indices), each ``slots(K) x cols``.

    Slot ``g * n + s`` of a column is the ``s``-th nonzero of group ``g`` (rows ``g*m ..
    g*m + m - 1``) in increasing position, with its position in the group; missing
    nonzeros are zero values with index 0. :class:`HdlError` if a group holds more
    than ``n`` nonzeros."""
    b = np.asarray(b, dtype=np.int64)
    k, cols = b.shape
    groups = -(-k // m)
    vals = np.zeros((groups * n, cols), dtype=np.int64)
    idx = np.zeros((groups * n, cols), dtype=np.int64)
    for g in range(groups):
        blk = b[g * m:(g + 1) * m]
        for j in range(cols):
            pos = np.flatnonzero(blk[:, j])
            if len(pos) > n:
                raise HdlError(f"weight column {j} has {len(pos)} nonzeros in rows "
                               f"{g * m}..{g * m + m - 1}: not {n}:{m} sparse; prune it "
                               f"with dataflows.compress.prune.prune_nm")
            vals[g * n:g * n + len(pos), j] = blk[pos, j]
            idx[g * n:g * n + len(pos), j] = pos
    return vals, idx


def decompress_nm(vals: np.ndarray, idx: np.ndarray, k: int, n: int, m: int) -> np.ndarray:
    """The inverse of :func:`compress_nm`: ``B[k x cols]`` (padding slots add zero)."""
    vals, idx = np.asarray(vals, dtype=np.int64), np.asarray(idx, dtype=np.int64)
    groups = -(-k // m)
    b = np.zeros((groups * m, vals.shape[1]), dtype=np.int64)
    for s in range(vals.shape[0]):
        rows = (s // n) * m + idx[s]
        np.add.at(b, (rows, np.arange(vals.shape[1])), vals[s])
    return b[:k]


def pack_b(vals: np.ndarray, idx: np.ndarray, operand_bits: int) -> list[list[int]]:
    """The ``b`` stream beats: ``value | index << operand_bits`` (value two's complement)."""
    mask = (1 << operand_bits) - 1
    return [[(int(v) & mask) | (int(i) << operand_bits) for v, i in zip(vr, ir)]
            for vr, ir in zip(np.asarray(vals), np.asarray(idx))]


def unpack_b(beats: list[list[int]], operand_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """The inverse of :func:`pack_b`: (values, indices)."""
    raw = np.asarray(beats, dtype=np.int64)
    vals = raw & ((1 << operand_bits) - 1)
    vals = np.where(vals >= 1 << (operand_bits - 1), vals - (1 << operand_bits), vals)
    return vals, raw >> operand_bits


def nm_gemm_ref(a: np.ndarray, vals: np.ndarray, idx: np.ndarray, n: int, m: int,
                accumulator_bits: int) -> np.ndarray:
    """The engine's golden model: ``O[i, j] = sum_s A[i, (s // n) * m + idx[s, j]] *
    vals[s, j]`` (inputs past K read as zero), wrapped at ``accumulator_bits``."""
    a = np.asarray(a, dtype=object)
    groups = -(-a.shape[1] // m)
    ap = np.zeros((a.shape[0], groups * m), dtype=object)
    ap[:, :a.shape[1]] = a
    out = np.zeros((a.shape[0], vals.shape[1]), dtype=object)
    for s in range(vals.shape[0]):
        for j in range(vals.shape[1]):
            out[:, j] += ap[:, (s // n) * m + int(idx[s, j])] * int(vals[s, j])
    return np.array([[int(wrap(int(x), accumulator_bits)) for x in row] for row in out],
                    dtype=object)


# -- the PE, its golden model and the array ---------------------------------------------
class SparseWSPE(wiring.Component):
    """WS PE with index-driven input selection:
    ``psum_out <= psum_in + a_in[w.index] * w.value``; ``w <= w_in`` on ``w_load``.

    Ports: ``a_in[M]``/``a_out[M]`` (the group's inputs passing right, registered),
    ``a_next[M]`` (what ``a_in`` will be in the next cycle: the left neighbour's
    ``a_in``, or the skew chain one stage earlier -- the caller guarantees
    ``a_in(t) == a_next(t - 1)``), ``w_in``/``w_out`` (packed slot ``value | index <<
    operand_bits`` shifting down the column; ``w_out`` is the held slot), ``w_load``,
    ``psum_in``/``psum_out``. With ``product_register`` the product is registered once
    (as :class:`hdl.pe.WSPE`).

    Timing structure: the M-way selection is retimed one stage early -- ``sel <=
    a_next[index of the next cycle's slot]`` -- so the multiplier is fed by two
    registers (selected input, held slot) and no mux sits in front of it; by the
    contract on ``a_next`` the selected register equals ``a_in[w.index]`` in every
    cycle (proved by :func:`hdl.sparse_nm_formal.prove_sparse_pe`)."""

    def __init__(self, operand_bits: int = 8, accumulator_bits: int = 32,
                 product_register: bool = False, group: int = 4) -> None:
        check_pe_params(operand_bits, accumulator_bits, product_register)
        self._ob, self._ab, self._pr = operand_bits, accumulator_bits, product_register
        self._m, self._ib = group, index_bits(group)
        ob, ab, wb = signed(operand_bits), signed(accumulator_bits), \
            unsigned(operand_bits + self._ib)
        super().__init__({"a_in": In(ob).array(group), "a_next": In(ob).array(group),
                          "a_out": Out(ob).array(group),
                          "w_in": In(wb), "w_out": Out(wb), "w_load": In(1),
                          "psum_in": In(ab), "psum_out": Out(ab)})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        ob = self._ob
        w = Signal(unsigned(ob + self._ib), reset_less=True)
        with m.If(self.w_load):
            m.d.sync += w.eq(self.w_in)
        for i in range(self._m):
            a_q = Signal(signed(ob), name=f"a_q{i}", reset_less=True)
            m.d.sync += a_q.eq(self.a_in[i])
            m.d.comb += self.a_out[i].eq(a_q)
        idx_next = Signal(self._ib)                      # the index w holds next cycle
        m.d.comb += idx_next.eq(Mux(self.w_load, self.w_in[ob:], w[ob:]))
        sel = Signal(signed(ob), reset_less=True)        # == a_in[w.index] this cycle
        with m.Switch(idx_next):
            for i in range(self._m):
                with m.Case(i):
                    m.d.sync += sel.eq(self.a_next[i])
        prod = Signal(signed(2 * ob))
        m.d.comb += prod.eq(sel * w[:ob].as_signed())
        if self._pr:
            prod_q = Signal(signed(2 * ob), reset_less=True)
            m.d.sync += prod_q.eq(prod)
            prod = prod_q
        m.d.sync += self.psum_out.eq(self.psum_in + prod)    # wraps at the acc width
        m.d.comb += self.w_out.eq(w)
        return m


@dataclass
class SparseWSPEModel:
    """Cycle model of :class:`SparseWSPE` (inputs: a_in[M], w_in packed, w_load, psum_in)."""

    operand_bits: int = 8
    accumulator_bits: int = 32
    product_register: bool = False
    group: int = 4
    w: int = 0
    a_q: list[int] = field(default_factory=list)
    prod_q: int = 0
    psum_out: int = 0

    def outputs(self) -> dict[str, object]:
        return {"a_out": list(self.a_q) or [0] * self.group, "w_out": self.w,
                "psum_out": self.psum_out}

    def tick(self, a_in: list[int], w_in: int, w_load: int, psum_in: int) -> None:
        ob = self.operand_bits
        value = self.w & ((1 << ob) - 1)
        value -= (value >> (ob - 1)) << ob
        prod = a_in[self.w >> ob] * value
        add = self.prod_q if self.product_register else prod
        self.psum_out = int(wrap(psum_in + add, self.accumulator_bits))
        self.prod_q = prod
        self.a_q = list(a_in)
        if w_load:
            self.w = w_in


def _delay(m: Module, name: str, sig: Signal, cycles: int, reset_less: bool = True) -> Signal:
    for i in range(cycles):
        q = Signal.like(sig, name=f"{name}_d{i}", reset_less=reset_less)
        m.d.sync += q.eq(sig)
        sig = q
    return sig


class SparseWSArray(wiring.Component):
    """``rows x cols`` array of :class:`SparseWSPE`. Ports: ``a[rows * M / N]`` (one
    fold's inputs, unskewed, **one cycle early**: the buffer's read data itself, whose
    first register is inside the array; row ``r`` takes lanes ``(r // N) * M ..`` of
    its group), ``w[cols]`` (packed slots), ``w_load[rows]`` (per-row copies, drive
    alike), ``out[cols]``. Timing is :class:`hdl.array.WSArray`'s counted from ``a``
    registered once: an input row on ``a`` at ``s - 1`` gives its output at ``s + R +
    C - 1 + pr``."""

    def __init__(self, rows: int, cols: int, operand_bits: int, accumulator_bits: int,
                 product_register: bool, n: int, m: int) -> None:
        if rows % n:
            raise HdlError(f"N ({n}) must divide the array rows ({rows})")
        self._r, self._c, self._n, self._m = rows, cols, n, m
        self._args = (operand_bits, accumulator_bits, product_register)
        wb = operand_bits + index_bits(m)
        super().__init__({"a": In(signed(operand_bits)).array(rows * m // n),
                          "w": In(unsigned(wb)).array(cols), "w_load": In(rows),
                          "out": Out(signed(accumulator_bits)).array(cols)})

    def elaborate(self, platform: object) -> Module:
        mod = Module()
        R, C, N, M = self._r, self._c, self._n, self._m
        pe = [[SparseWSPE(*self._args, group=M) for _ in range(C)] for _ in range(R)]
        for r in range(R):
            g = r // N
            # row r: a_in = a delayed r + 1 (the skew plus the read register), a_next one
            # stage earlier (row 0: the read data itself)
            nxt = [_delay(mod, f"skew{r}_{i}", self.a[g * M + i], r) for i in range(M)]
            cur = [_delay(mod, f"skew{r}_{i}_last", x, 1) for i, x in enumerate(nxt)]
            for c in range(C):
                mod.submodules[f"pe_{r}_{c}"] = p = pe[r][c]
                for i in range(M):
                    mod.d.comb += [
                        p.a_in[i].eq(cur[i] if c == 0 else pe[r][c - 1].a_out[i]),
                        p.a_next[i].eq(nxt[i] if c == 0 else pe[r][c - 1].a_in[i])]
                mod.d.comb += [
                    p.w_in.eq(self.w[c] if r == 0 else pe[r - 1][c].w_out),
                    p.w_load.eq(self.w_load[r]),
                    p.psum_in.eq(0 if r == 0 else pe[r - 1][c].psum_out)]
        for c in range(C):
            mod.d.comb += self.out[c].eq(
                _delay(mod, f"deskew{c}", pe[R - 1][c].psum_out, C - 1 - c, reset_less=False))
        return mod


# -- the top --------------------------------------------------------------------------------
class SparseNMTop(wiring.Component):
    """The sparse_nm engine (see the module docstring); ports as :class:`hdl.top.GemmTop`
    with ``b`` carrying packed slots (``operand_bits + log2(M)`` bits, unsigned)."""

    def __init__(self, params: HdlParams) -> None:
        check_top_params(params, None, "SparseNMTop")
        check_nm(params)
        self._p = params
        self._wb = params.operand_bits + index_bits(params.nm_m)
        super().__init__(gemm_ports(params, b_payload=unsigned(self._wb)))

    @property
    def params(self) -> HdlParams:
        return self._p

    def elaborate(self, platform: object) -> Module:
        m = Module()
        p = self._p
        ob, ab, R, C, dw = p.operand_bits, p.accumulator_bits, p.rows, p.cols, p.dim_bits
        N, M, wb = p.nm_n, p.nm_m, self._wb
        la = R * M // N                                  # inputs one fold needs
        depth_a, depth_b = buffer_depths(p)
        m.submodules.buf_a = buf_a = OperandBuffer(la, ob, depth_a)
        m.submodules.buf_b = buf_b = OperandBuffer(C, wb, depth_b)
        m.submodules.buf_o = buf_o = OperandBuffer(C, ab, p.depth_o)
        m.submodules.load_a = load_a = StreamLoader("col_lanes", la, ob, dw, buf_a.addr_bits)
        m.submodules.load_b = load_b = StreamLoader("col_lanes", C, wb, dw, buf_b.addr_bits)
        m.submodules.unload = unload = StreamUnloader(C, ab, dw, buf_o.addr_bits,
                                                      read_latency=2)
        m.submodules.ctrl = ctrl = Controller(p)
        m.submodules.array = arr = SparseWSArray(R, C, ob, ab, p.product_register, N, M)

        # slots(K) = ceil(K / M) * N: the reduction the dense schedule walks. Registered
        # (k is static, so this keeps the adder and multiplier off every path into the
        # controller): the controller needs k steady one cycle before start, which the
        # one-cycle delay keeps, and the B loader's walker reads it only to wrap after
        # its last beat (the beat's own address never depends on it; start rewinds it).
        slots = Signal(dw + 1)
        m.d.sync += slots.eq(((self.k + (M - 1)) >> index_bits(M)) * N)
        connect_shell(m, self, ctrl, load_a, load_b, unload, buf_a, buf_b, buf_o,
                      k=slots, b_rows=slots, busy=ctrl.busy, done=ctrl.done,
                      cycles=ctrl.cycles, finish=ctrl.finish, b_direct=True)
        # A: the array registers the read data itself (its skew chains start with the
        # register hdl.top calls early(); the PEs' retimed selection reads one stage
        # before it)
        b_word = replay(m, buf_b, early(m, buf_b), "b")
        write_back(m, True, arr, ctrl, buf_o, unload, early(m, buf_o), ab,
                   lanes(buf_a.r_data, la, ob), lanes(b_word, C, wb, signed_=False))
        return m


# -- planning, cases and the cycle model ----------------------------------------------
def rtl_busy_cycles(params: HdlParams, m: int, k: int, n: int) -> int:
    """The controller's busy period by construction (closed form; for cycle budgets
    only -- the expected figure comes from the sim, :func:`expected_cycles`)."""
    folds = -(-nm_slots(k, params.nm_n, params.nm_m) // params.rows)
    return folds * -(-n // params.cols) * (m + params.tile_overhead_cycles)


def buffer_depths(params: HdlParams) -> tuple[int, int]:
    """Words of the A and B buffers: the spec's byte shares (``params.depth_a`` words of
    ``rows`` operands, ``depth_b`` of ``cols``) re-cut into this engine's wider words
    (A: ``rows * M / N`` operands; B: ``cols`` slots of ``operand_bits + log2 M`` bits),
    so the RAM bits never exceed the share the spec (and the sim's compressed GLB
    footprint) gives the operand."""
    ob, n, m = params.operand_bits, params.nm_n, params.nm_m
    return (max(1, params.depth_a * n // m),
            max(1, params.depth_b * ob // (ob + index_bits(m))))


def check_fit(params: HdlParams, m: int, k: int, n: int) -> None:
    """Raise :class:`HdlError` unless the GEMM fits the engine's ports and buffers."""
    check_nm(params)
    for name, v in (("M", m), ("K", k), ("N", n)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise HdlError(f"GEMM {name} must be a positive integer, not {v!r}")
        if v >= 1 << params.dim_bits:
            raise HdlError(f"GEMM {name}={v} exceeds the engine's {params.dim_bits}-bit "
                           f"size ports")
    slots = nm_slots(k, params.nm_n, params.nm_m)
    cf = -(-n // params.cols)
    depth_a, depth_b = buffer_depths(params)
    need = {"input (A)": (-(-slots // params.rows) * m, depth_a),
            "weight (B, compressed)": (cf * slots, depth_b),
            "output (O)": (cf * m, params.depth_o)}
    for what, (words, depth) in need.items():
        if words > depth:
            raise HdlError(f"GEMM {m}x{k}x{n} (MxKxN) needs {words} words of the {what} "
                           f"buffer, which has {depth}; enlarge the GLB or split the GEMM")
    if rtl_busy_cycles(params, m, k, n) >= 1 << CYCLE_COUNTER_BITS:
        raise HdlError(f"GEMM {m}x{k}x{n} overflows the {CYCLE_COUNTER_BITS}-bit cycle "
                       f"counter")


def _parse_nm(text: str) -> tuple[int, int]:
    parts = str(text).split(":")
    if len(parts) != 2 or not all(x.isdigit() for x in parts):
        raise HdlError(f"prune must be None, 'N:M' (e.g. '2:4') or ('magnitude', density), "
                       f"not {text!r}")
    return int(parts[0]), int(parts[1])


def prune_weights(params: HdlParams, b: np.ndarray, prune: object) -> np.ndarray:
    """``B[K x N]`` pruned along the reduction so the engine's ``N:M`` format holds it:
    ``None`` -> the engine's N:M; ``"n:m"`` -> that pattern (must be at least as
    sparse per group, e.g. ``"1:4"`` on a 2:4 engine); ``("magnitude", d)`` ->
    unstructured magnitude pruning to density ``d``, then the engine's N:M."""
    from dataflows.compress.prune import prune_magnitude, prune_nm
    wt = np.asarray(b, dtype=np.int64).T                  # N x K: groups along K
    if prune is None:
        wt = prune_nm(wt, params.nm_n, params.nm_m)
    elif isinstance(prune, str):
        pn, pm = _parse_nm(prune)
        wt = prune_nm(wt, pn, pm)
    elif isinstance(prune, tuple) and len(prune) == 2 and prune[0] == "magnitude":
        wt = prune_nm(prune_magnitude(wt, float(prune[1])), params.nm_n, params.nm_m)
    else:
        raise HdlError(f"prune must be None, 'N:M' or ('magnitude', density), "
                       f"not {prune!r}")
    return np.asarray(wt, dtype=np.int64).T


def make_case(params: HdlParams, m: int, k: int, n: int, *, w_bits: int | None = None,
              a_bits: int | None = None, seed: int = 0, idle: float = 0.3,
              backpressure: float = 0.3, prune: object = None, extreme: bool = False,
              order: int = 0) -> GemmCase:
    """A random ``m x k x n`` GEMM with pruned weights, ``b`` already compressed and
    packed (the stream's beats). ``w_bits``/``a_bits`` (default ``operand_bits``)
    bound the random values; ``extreme``: every operand most-negative (then pruned)."""
    check_fit(params, m, k, n)
    ob = params.operand_bits
    rng = np.random.default_rng(seed)

    def rand(bits: int | None, shape: tuple[int, int]) -> np.ndarray:
        bits = ob if bits is None else bits
        if not 2 <= bits <= ob:
            raise HdlError(f"operand bits must be in [2, {ob}], not {bits!r}")
        lo, hi = -(1 << (bits - 1)), 1 << (bits - 1)
        if extreme:
            return np.full(shape, lo, dtype=np.int64)
        x = rng.integers(lo, hi, shape)
        mask = rng.random(shape)
        x[mask < 0.1], x[mask > 0.95] = lo, hi - 1        # the extremes sprinkled in
        return x
    a = rand(a_bits, (m, k))
    b = prune_weights(params, rand(w_bits, (k, n)), prune)
    vals, idx = compress_nm(b, params.nm_n, params.nm_m)
    budget = 10 * (m * k + vals.size + m * n) + 2 * rtl_busy_cycles(params, m, k, n) + 1000
    return GemmCase(m, k, n, a.tolist(), pack_b(vals, idx, ob), order, idle, backpressure,
                    seed, timeout_cycles=budget)


def case_weights(params: HdlParams, case: GemmCase) -> np.ndarray:
    """The dense ``B[K x N]`` a case's packed ``b`` stream encodes."""
    vals, idx = unpack_b(case.b, params.operand_bits)
    return decompress_nm(vals, idx, case.k, params.nm_n, params.nm_m)


def _sim_result(accel: Accelerator, m: int, k: int, n: int, order: int,
                weight: np.ndarray | None):
    """The cycle model's result for the GEMM on ``accel`` (canonical dense mapping;
    ``weight`` = ``B`` transposed, the sim's layout, or None for no tensors)."""
    from hdl.plan import GemmPlan, canonical_mapping
    from sim.simulate import simulate
    params = HdlParams.from_accelerator(accel)
    mapping = canonical_mapping(params, m, k, n, order)
    layer = GemmPlan(params, m, k, n, order, mapping).layer()
    tensors = None if weight is None else {layer.name: {"weight": weight}}
    return simulate(layer, accel, mapping=mapping, timing="native", fidelity="cycle",
                    tensors=tensors).layers[0]


def expected_cycles(accel: Accelerator, case: GemmCase) -> int:
    """The cycle model's start-to-done cycles: :func:`sim.simulate.simulate` (cycle
    fidelity, native timing) with the case's actual weight tensor; compute plus the
    ``imbalance`` stall (the array's own schedule; the RTL has no memory stalls)."""
    params = HdlParams.from_accelerator(accel)
    r = _sim_result(accel, case.m, case.k, case.n, case.order,
                    case_weights(params, case).T)
    return r.compute_cycles + int((r.stall_cycles_by_cause or {}).get("imbalance", 0))


def dense_cycles(accel: Accelerator, m: int, k: int, n: int) -> int:
    """The same GEMM on the dense engine of the same array (sparse policy none), from
    the cycle model: the figure the sparse engine is compared with."""
    from sim.spec import SparseConfig
    dense = replace(accel, sparse=SparseConfig())
    return _sim_result(dense, m, k, n, 0, None).compute_cycles


def verify_gemm(accel: Accelerator, m: int, k: int, n: int, *, w_bits: int | None = None,
                a_bits: int | None = None, prune: object = None, seed: int = 0,
                backend: str = "cocotb", build_dir: Path | None = None, idle: float = 0.3,
                backpressure: float = 0.3, extreme: bool = False) -> dict[str, object]:
    """Run one random pruned GEMM on the engine and compare with numpy and the sim: the
    keys of :func:`hdl.verify.compare` plus ``dense_cycles``, ``nm`` and
    ``weight_density``."""
    from hdl.verify import BACKENDS
    if backend not in BACKENDS:
        raise HdlError(f"backend must be one of {list(BACKENDS)}, not {backend!r}")
    params = HdlParams.from_accelerator(accel)
    case = make_case(params, m, k, n, w_bits=w_bits, a_bits=a_bits, seed=seed, idle=idle,
                     backpressure=backpressure, prune=prune, extreme=extreme)
    result = run_case(params, case, backend, build_dir)
    expected = expected_cycles(accel, case)     # already the cycle fidelity's figure
    rec = compare_case(params, case, result, expected)
    rec["cycle_model_cycles"] = expected
    b = case_weights(params, case)
    rec |= {"dense_cycles": dense_cycles(accel, m, k, n),
            "nm": f"{params.nm_n}:{params.nm_m}",
            "weight_density": float(np.count_nonzero(b)) / b.size}
    return rec


#: The cycle-equality table's cases: (rows, cols, N, M, (M, K, N) of the GEMM, prune).
TABLE_CASES: tuple = (
    (4, 4, 2, 4, (5, 16, 6), None), (4, 4, 2, 4, (7, 13, 9), None),
    (4, 4, 2, 4, (16, 32, 8), None), (4, 4, 2, 4, (6, 12, 4), "1:4"),
    (4, 4, 2, 4, (4, 20, 4), ("magnitude", 0.15)), (4, 4, 2, 4, (1, 1, 1), None),
    (2, 2, 2, 4, (3, 7, 5), None), (4, 2, 1, 4, (4, 10, 3), None),
    (4, 4, 2, 8, (3, 19, 5), None), (4, 4, 4, 8, (9, 24, 7), None),
    (2, 4, 2, 4, (2, 3, 7), None))


def cycle_table(base: Accelerator, cases: tuple = TABLE_CASES,
                backend: str = "amaranth") -> list[dict[str, object]]:
    """One :func:`verify_gemm` record per case on ``base`` resized (rows, cols) and set
    to N:M skipping: rtl vs sim cycles, the dense engine's for comparison."""
    from sim.spec import SparseConfig
    rows = []
    for r, c, n, m, shape, prune in cases:
        accel = replace(base, name=f"{base.name}_{r}x{c}_{n}of{m}", rows=r, cols=c,
                        sparse=SparseConfig(policy="skipping", format="nm",
                                            operands=("weight",), nm_n=n, nm_m=m))
        rec = verify_gemm(accel, *shape, prune=prune, seed=sum(shape), backend=backend)
        rows.append({"array": f"{r}x{c}", "gemm": "x".join(map(str, shape)),
                     "nm": f"{n}:{m}", "prune": prune} | rec)
    return rows


def run_case(params: HdlParams, case: GemmCase, backend: str = "amaranth",
             build_dir: Path | None = None) -> RunResult:
    """Simulate one case on ``backend`` (:data:`hdl.verify.BACKENDS`)."""
    from hdl.verify import run_cases
    return run_cases(params, [case], backend, build_dir)[0]


def compare_case(params: HdlParams, case: GemmCase, result: RunResult,
                 expected: int) -> dict[str, object]:
    """The :func:`hdl.verify.compare` record, the reference being numpy on the dense
    decompressed weights (:func:`hdl.golden.gemm_ref`)."""
    want = gemm_ref(np.array(case.a, dtype=np.int64), case_weights(params, case),
                    params.accumulator_bits).astype(object)
    got = np.array(result.outputs, dtype=object)
    same = got.shape == want.shape
    err = int(np.max(np.abs(got - want))) if same and got.size else -1
    return {"rtl_cycles": result.rtl_cycles, "sim_cycles": expected,
            "cycles_match": result.rtl_cycles == expected == result.busy_cycles,
            "outputs_match": bool(same and err == 0), "max_abs_error": err}


__all__ = ["SparseNMTop", "SparseWSArray",
           "SparseWSPE", "SparseWSPEModel", "TABLE_CASES", "buffer_depths", "case_weights",
           "check_fit", "check_nm", "compare_case", "compress_nm", "cycle_table",
           "decompress_nm", "dense_cycles", "expected_cycles", "index_bits", "make_case",
           "nm_gemm_ref", "nm_slots", "pack_b", "prune_weights",
           "rtl_busy_cycles", "run_case", "unpack_b", "verify_gemm"]
