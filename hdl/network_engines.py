"""How each engine kind takes the GEMM calls of a whole network (:mod:`hdl.network_rtl`).

:func:`engine_calls` returns an :class:`EngineCalls` for the spec's engine kind and one
MAC layer's operand widths (``w_bits``/``a_bits``: the layer's quantized weight and
input widths). It owns, per kind, the three things that differ between engines:

* ``fits(m, k, n)``: whether one call of that shape runs on the engine (its buffers,
  size ports and cycle counter; the dense limits of :func:`hdl.plan.plan_gemm`, the
  fused-word buffers of :func:`hdl.bitfusion.plan_fused`, the compressed slots of
  :func:`hdl.sparse_nm.check_fit`); ``k_unit``: reduction parts of a split must be
  multiples of it (the N:M group, so every part keeps whole groups);
* ``case(a, b, order)``: the :class:`~hdl.driver.GemmCase` of real operands (``A`` at
  ``a_bits``, ``B`` at ``w_bits``, the engine's width ports; N:M weights compressed
  with their indices on the ``b`` stream);
* ``sim_cycles(case)``: the cycle model's start-to-done figure of that call -- the
  engine module's ``expected_cycles`` (the dense engine: :func:`hdl.plan.sim_cycles`),
  the same number ``coforge verify`` checks.

Every kind computes the raw product ``A . B`` wrapped at ``accumulator_bits`` (the
bit-serial engine reads ``A`` at ``a_bits`` exactly when ``A`` fits that width, which
is checked), so the host's zero-point correction and requantization are the same for
all of them. Refusals are one-line :class:`~hdl.params.HdlError`\\ s naming the layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from hdl.driver import GemmCase
from hdl.params import CYCLE_COUNTER_BITS, HdlError, HdlParams
from hdl.plan import gemm_fits, plan_gemm, sim_cycles
from sim import intref
from sim.spec import Accelerator


@dataclass(frozen=True)
class EngineCalls:
    """One engine kind's rules for the GEMM calls of one MAC layer (module docstring)."""

    kind: str
    fits: Callable[[int, int, int], bool]
    case: Callable[[np.ndarray, np.ndarray, int], GemmCase]
    sim_cycles: Callable[[GemmCase], int]
    k_unit: int = 1
    cache: dict[Any, int] = field(default_factory=dict, compare=False)


def _dense(accel: Accelerator, params: HdlParams) -> EngineCalls:
    def case(a: np.ndarray, b: np.ndarray, order: int) -> GemmCase:
        return GemmCase(a.shape[0], a.shape[1], b.shape[1], a.tolist(), b.tolist(), order)

    def cycles(c: GemmCase) -> int:        # fixed-width PEs: the values change no cycle
        key = (c.m, c.k, c.n, c.order)
        if key not in calls.cache:
            calls.cache[key] = sim_cycles(plan_gemm(params, c.m, c.k, c.n), accel)
        return calls.cache[key]
    calls = EngineCalls("dense", lambda m, k, n: gemm_fits(params, m, k, n), case, cycles)
    return calls


def _bitserial(accel: Accelerator, params: HdlParams, a_bits: int) -> EngineCalls:
    from hdl import bitserial
    from hdl.plan import canonical_mapping

    def fits(m: int, k: int, n: int) -> bool:
        if not gemm_fits(params, m, k, n):
            return False
        plan = plan_gemm(params, m, k, n, canonical_mapping(params, m, k, n, 0))
        return a_bits * plan.rtl_busy_cycles < 1 << CYCLE_COUNTER_BITS

    def case(a: np.ndarray, b: np.ndarray, order: int) -> GemmCase:
        m, k, n = a.shape[0], a.shape[1], b.shape[1]
        busy = a_bits * plan_gemm(params, m, k, n).rtl_busy_cycles
        return GemmCase(m, k, n, a.tolist(), b.tolist(), order,
                        ports={"abits": a_bits},
                        timeout_cycles=10 * (m * k + k * n + m * n) + 2 * busy + 1000)
    return EngineCalls("bitserial", fits, case,
                       lambda c: bitserial.expected_cycles(accel, c))


def _bitfusion(accel: Accelerator, params: HdlParams, a_bits: int,
               w_bits: int) -> EngineCalls:
    from hdl import bitfusion
    bitfusion.check_bits(params.operand_bits, a_bits, w_bits)

    def fits(m: int, k: int, n: int) -> bool:
        try:
            bitfusion.plan_fused(params, m, k, n, a_bits, w_bits)
        except HdlError:
            return False
        return True

    def case(a: np.ndarray, b: np.ndarray, order: int) -> GemmCase:
        m, k, n = a.shape[0], a.shape[1], b.shape[1]
        plan = bitfusion.plan_fused(params, m, k, n, a_bits, w_bits, order)
        timeout = 10 * (m * k + k * n + m * n) + 2 * bitfusion.busy_bound(plan) + 1000
        return GemmCase(m, k, n, a.tolist(), b.tolist(), order,
                        ports={"abits": a_bits, "wbits": w_bits}, timeout_cycles=timeout)
    return EngineCalls("bitfusion", fits, case,
                       lambda c: bitfusion.expected_cycles(accel, c))


def _sparse_nm(accel: Accelerator, params: HdlParams) -> EngineCalls:
    from hdl import sparse_nm as nm

    def fits(m: int, k: int, n: int) -> bool:
        try:
            nm.check_fit(params, m, k, n)
        except HdlError:
            return False
        return True

    def case(a: np.ndarray, b: np.ndarray, order: int) -> GemmCase:
        m, k, n = a.shape[0], a.shape[1], b.shape[1]
        vals, idx = nm.compress_nm(b, params.nm_n, params.nm_m)
        budget = 10 * (m * k + vals.size + m * n) + 2 * nm.rtl_busy_cycles(params, m, k, n) \
            + 1000
        return GemmCase(m, k, n, a.tolist(), nm.pack_b(vals, idx, params.operand_bits),
                        order, timeout_cycles=budget)
    return EngineCalls("sparse_nm", fits, case, lambda c: nm.expected_cycles(accel, c),
                       k_unit=params.nm_m)


def nm_violations(b: np.ndarray, n: int, m: int) -> int:
    """Groups of ``m`` consecutive reduction rows of ``B[K x cols]`` (per column) holding
    more than ``n`` nonzeros (a last partial group of ``L`` rows: more than ``min(n, L)``)."""
    k = b.shape[0]
    pad = (-k) % m
    nz = np.concatenate([b != 0, np.zeros((pad, b.shape[1]), dtype=bool)])
    return int(np.count_nonzero(nz.reshape(-1, m, b.shape[1]).sum(axis=1) > n))


def engine_calls(accel: Accelerator, layer: str, w_bits: int, a_bits: int) -> EngineCalls:
    """The :class:`EngineCalls` of ``accel``'s engine for a MAC layer named ``layer``
    whose quantized weights/inputs are ``w_bits``/``a_bits`` wide."""
    params = HdlParams.from_accelerator(accel)
    ob = params.operand_bits
    for what, bits in (("weight", w_bits), ("input", a_bits)):
        if bits > ob:
            raise HdlError(f"layer {layer!r}: {bits}-bit {what}s do not fit the engine's "
                           f"{ob}-bit operands (pe.operand_bits); quantize to <= {ob} bits")
    kind = params.engine
    if kind == "dense":
        return _dense(accel, params)
    if kind == "bitserial":
        if a_bits not in (2, 4, 8):
            raise HdlError(f"layer {layer!r}: the bit-serial cycle model takes 2-, 4- or "
                           f"8-bit inputs, not {a_bits}")
        return _bitserial(accel, params, a_bits)
    if kind == "bitfusion":
        try:
            return _bitfusion(accel, params, a_bits, w_bits)
        except HdlError as err:
            raise HdlError(f"layer {layer!r}: {err}") from None
    if kind == "sparse_nm":
        return _sparse_nm(accel, params)
    raise HdlError(f"layer {layer!r}: no whole-network path for the {kind!r} engine")


def check_operands(calls: EngineCalls, accel: Accelerator, layer: str, a: np.ndarray,
                   b: np.ndarray, w_bits: int, a_bits: int) -> None:
    """One-line :class:`HdlError` unless ``A``/``B`` fit the widths the engine runs them
    at, and (N:M engine) ``B`` is N:M along the reduction."""
    for name, x, bits in (("input (A)", a, a_bits), ("weights (B)", b, w_bits)):
        try:
            intref.check_int_range(x, bits, True, f"layer {layer!r} {name}")
        except intref.IntRefError as err:
            raise HdlError(str(err)) from None
    if calls.kind == "sparse_nm":
        params = HdlParams.from_accelerator(accel)
        bad = nm_violations(b, params.nm_n, params.nm_m)
        if bad:
            raise HdlError(f"layer {layer!r}: {bad} groups of {params.nm_m} weights along the "
                           f"reduction (C*R*S) hold more than {params.nm_n} nonzeros; prune "
                           f"the model {params.nm_n}:{params.nm_m} before running it on "
                           f"this engine")


__all__ = ["EngineCalls", "check_operands", "engine_calls", "nm_violations"]
