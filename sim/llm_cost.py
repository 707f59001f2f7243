"""Cost an LLM generation: prefill once, then G decode steps with a growing KV cache.

:func:`cost_generation` runs the ordinary cost model (:func:`sim.simulate.simulate`,
either fidelity) on the phase networks of :mod:`dataflows.llm`:

* **Prefill**: :func:`~dataflows.llm.prefill_network` of ``P`` tokens, costed once
  (identical layer shapes once, as ``simulate`` always does). ``ttft_ms`` is its
  latency: the first token's logits come out of prefill.
* **Decode**, step ``s = 0 .. G-1`` attends to ``P + s`` cached positions plus its own
  (``P + s + 1`` keys). A step's layers depend on the context only through the two
  attention matmuls of each decoder layer; every projection, the FFN and the LM head
  (GEMVs at ``M = batch``) are costed **once** for all steps. The attention matmuls are
  costed at ``samples`` contexts spread evenly over ``[P + 1, P + G]`` keys (the ends
  included) and every other step's cost is the piecewise-linear interpolation between
  the two neighbouring samples (numpy, vectorised over all G steps). When the sampled
  costs are affine in the context the interpolation is exact;
  ``attention_interpolation_error`` reports the largest relative deviation of an
  interior sample from the straight line through the end samples (0.0: affine, so
  exact), and with ``samples >= G`` every step is costed directly.
* **KV cache**: ``kv_cache_bytes`` of :mod:`dataflows.llm` at ``kv_bits``. Its home is
  the GLB holding the attention's weight-role operand when the whole cache at the end
  of generation fits in that buffer's usable capacity (half of it when double
  buffered), else DRAM. With a DRAM home the attention layers stream K/V from DRAM
  (the cost model's weight operand) and each step reads the cache and writes the new
  token's K and V (``kv_read_bytes_per_step``/``kv_write_bytes_per_step``); with a GLB
  home they run on the spec with DRAM's bandwidth and energy per bit replaced by the
  GLB's (the cache never leaves the chip) and DRAM KV traffic is zero.
* **Quantization scales**: the cost model moves weights at their bit width; the scale
  and zero-point bytes of group quantization (:func:`dataflows.llm.scale_bytes`, for
  the matrices a phase reads) are added as DRAM reads: their transfer time is added to
  the phase's cycles (conservative: not overlapped) and their bits to DRAM energy.
* **Rooflines** per decode step: DRAM -- the weight, scale and (DRAM-home) KV bytes a
  step must read over the DRAM read bandwidth; compute -- each layer's MACs over the
  array's peak at its precision (``sim.datapath``: bit-fusion lanes, bit-serial steps).
* **Vector unit** (norms, softmax over the scores, RoPE, SiLU/GELU, residual adds;
  :mod:`sim.vector`): when the spec has one, prefill's passive nodes are costed with
  its layers (norm nodes as ``cfg.norm``) and each decode step's at the same sampled
  contexts as attention (softmax grows with the keys), interpolated the same way and
  added to the step's cycles and energy; ``breakdown["vector"]`` has their totals.
  Without one, ``breakdown["vector"]`` is :data:`sim.vector.NO_VECTOR_UNIT`. The
  rooflines count array work and DRAM bytes only.

Units: cycles, pJ inside; ``*_ms``, ``*_mj``, ``*_bytes``, tokens/s at the spec clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from dataflows.errors import CoforgeError
from dataflows.layer import Layer
from dataflows.llm import (
    DecoderConfig,
    LLMQuant,
    decode_step_network,
    kv_cache_bytes,
    parameters,
    prefill_network,
    weight_bytes,
)
from dataflows.network import Network
from sim.datapath import plan_datapath
from sim.result import NetworkResult
from sim.simulate import simulate
from sim.spec import Accelerator
from sim.vector import NO_VECTOR_UNIT, network_vector

ATTENTION_KINDS = frozenset({"matmul_qk", "matmul_av"})


class LLMCostError(CoforgeError):
    """A generation cannot be costed (bad token counts, samples, fidelity)."""


@dataclass(frozen=True)
class LLMCost:
    """Cost of prefilling ``prompt_tokens`` and decoding ``gen_tokens`` steps."""

    model: str
    arch: str
    spec_hash: str
    quant: str
    fidelity: str
    prompt_tokens: int
    gen_tokens: int
    batch: int
    parameters: int
    weight_bytes: int
    kv_cache_bytes: int
    """At the end of generation (``P + G`` positions)."""
    kv_home: str
    peak_memory_bytes: int
    """Weights + scales + KV cache at the end + the largest layer's activations."""
    ttft_ms: float
    prefill_energy_mj: float
    decode_tokens_per_s: float
    """``batch * G`` tokens over the G steps' total time (mean rate)."""
    energy_per_token_mj: float
    """Decode energy over the ``batch * G`` generated tokens."""
    decode_step_ms: tuple[float, ...]
    kv_read_bytes_per_step: tuple[int, ...]
    kv_write_bytes_per_step: int
    dram_roofline_tokens_per_s: tuple[float, ...]
    compute_roofline_tokens_per_s: tuple[float, ...]
    prefill_compute_bound_ms: float
    prefill_macs: int
    prefill_dram_read_bytes: int
    """Weights, scales and activations read from DRAM by prefill."""
    decode_macs_per_step: tuple[int, ...]
    decode_dram_read_bytes_per_step: tuple[float, ...]
    """Cost-model DRAM reads of each step (attention interpolated like its cycles)."""
    attention_samples: tuple[int, ...]
    """Key counts at which the attention matmuls were costed."""
    attention_interpolation_error: float
    breakdown: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record (tuples as lists)."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


def _positive(where: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise LLMCostError(f"{where} must be a positive integer, not {value!r}")


def _scale_bytes_of(layers: list[Layer], quant: LLMQuant) -> int:
    """Scale + zero-point bytes of the GEMM weights ``layers`` read (``K`` rows of ``C``)."""
    if quant.weight_bits >= 16:
        return 0
    per_group = quant.scale_bits + (quant.weight_bits if quant.zero_point else 0)
    bits = sum(lay.K * (math.ceil(lay.C / quant.group_size) if quant.group_size else 1)
               for lay in layers) * per_group
    return (bits + 7) // 8


def _compute_bound_cycles(layers: list[Layer], accel: Accelerator, timing: str) -> float:
    """Sum of MACs over the array's peak at each layer's precision (cycles)."""
    total = 0.0
    for lay in layers:
        plan = plan_datapath(lay, accel, timing)
        total += lay.macs * plan.step_cycles / (accel.pes * plan.lanes)
    return total


def _kv_on_chip(accel: Accelerator) -> Accelerator:
    """The spec with DRAM served at the KV-holding GLB's bandwidth and energy per bit."""
    glb = accel.glb_for("weight")
    dram = replace(accel.dram, read_bytes_per_cycle=glb.read_bytes_per_cycle,
                   write_bytes_per_cycle=glb.write_bytes_per_cycle)
    return replace(accel, dram=dram, energy=replace(accel.energy,
                                                    dram_pj_per_bit=glb.pj_per_bit()))


def _dram_read_bytes(res: NetworkResult) -> int:
    return sum(v.get("reads", 0) for r in res.layers for v in r.bytes.get("dram", {}).values())


def _classes(res: NetworkResult, net: Network) -> dict[str, dict[str, Any]]:
    """GEMM / attention totals of one phase result, with what bounds them."""
    kinds = {lay.name: lay.kind for lay in net.nodes()}

    def cls_of(r: Any) -> str:
        if r.vector_ops is not None:
            return "vector"
        return "attention" if kinds[r.layer] in ATTENTION_KINDS else "gemm"
    out: dict[str, dict[str, Any]] = {}
    classes = ("gemm", "attention") + (("vector",) if any(r.vector_ops is not None
                                                          for r in res.layers) else ())
    for cls in classes:
        rs = [r for r in res.layers if cls_of(r) == cls]
        comp = sum(r.compute_cycles for r in rs)
        stall = sum(r.stall_cycles for r in rs)
        out[cls] = {"macs": sum(r.macs for r in rs), "compute_cycles": comp,
                    "stall_cycles": stall, "total_cycles": comp + stall,
                    "energy_pj": sum(r.energy_pj for r in rs),
                    "bound": "memory" if stall > comp else "compute"}
    return out


def cost_generation(cfg: DecoderConfig, accel: Accelerator, prompt_tokens: int,
                    gen_tokens: int, batch: int = 1, quant: LLMQuant | None = None,
                    fidelity: str = "analytic", timing: str = "native",
                    samples: int = 5) -> LLMCost:
    """Cost prefill of ``prompt_tokens`` and ``gen_tokens`` decode steps at ``batch``
    (method in the module docstring). A pure function of its arguments."""
    _positive("prompt_tokens", prompt_tokens)
    _positive("gen_tokens", gen_tokens)
    _positive("batch", batch)
    _positive("samples", samples)
    if samples < 2 and gen_tokens > 1:
        raise LLMCostError(f"samples must be >= 2 to interpolate over {gen_tokens} decode "
                           f"steps, not {samples!r}")
    quant = quant or LLMQuant()
    wide = max(quant.act_bits, quant.kv_bits, quant.weight_bits)
    if accel.pe.operand_bits < wide:
        raise LLMCostError(f"{quant.label} needs {wide}-bit operands but {accel.name!r} has "
                           f"pe.operand_bits {accel.pe.operand_bits}; lower act_bits/kv_bits/"
                           f"weight_bits to {accel.pe.operand_bits} or widen the PE")
    clock_hz = accel.clock_mhz * 1e6
    dram_bw = accel.dram.read_bytes_per_cycle            # bytes/cycle (inf = unlimited)
    dram_pj_bit = accel.energy.dram_pj_per_bit

    # -- prefill ------------------------------------------------------------------
    pre_net = prefill_network(cfg, prompt_tokens, batch, quant)
    pre = simulate(pre_net, accel, timing=timing, fidelity=fidelity, norm=cfg.norm)
    pre_gemms = [lay for lay in pre_net.layers() if lay.kind not in ATTENTION_KINDS]
    pre_scales = _scale_bytes_of(pre_gemms, quant)
    pre_cycles = pre.total_cycles + pre_scales / dram_bw
    pre_energy = pre.energy_pj + pre_scales * 8 * dram_pj_bit
    pre_bound = _compute_bound_cycles(pre_net.layers(), accel, timing)

    # -- decode: context-independent layers once -----------------------------------
    ctx0 = prompt_tokens
    step_net = decode_step_network(cfg, ctx0, batch, quant)
    gemms = [lay for lay in step_net.layers() if lay.kind not in ATTENTION_KINDS]
    lin = simulate(Network.chain(f"{cfg.name}.decode.gemms", gemms), accel, timing=timing,
                   fidelity=fidelity)
    step_scales = _scale_bytes_of(gemms, quant)
    lin_cycles = lin.total_cycles + step_scales / dram_bw
    lin_energy = lin.energy_pj + step_scales * 8 * dram_pj_bit
    step_weight_bytes = sum((lay.weight_elems * lay.precision.weight_bits + 7) // 8
                            for lay in gemms) + step_scales
    lin_bound = _compute_bound_cycles(gemms, accel, timing)

    # -- KV cache home ------------------------------------------------------------
    kv_end = kv_cache_bytes(cfg, prompt_tokens + gen_tokens, quant.kv_bits, batch)
    kv_home = "glb" if kv_end <= accel.glb_for("weight").usable_bytes else "dram"
    att_accel = _kv_on_chip(accel) if kv_home == "glb" else accel

    # -- decode: attention at sampled contexts, interpolated --------------------------
    keys = np.arange(gen_tokens, dtype=np.int64) + ctx0 + 1      # keys of step s
    n = min(samples, gen_tokens)
    picks = np.unique(np.round(np.linspace(keys[0], keys[-1], n)).astype(np.int64))
    s_cycles, s_energy, s_bound, s_dram, v_cycles, v_energy = [], [], [], [], [], []
    for k in picks:
        net = decode_step_network(cfg, int(k) - 1, batch, quant)
        if accel.vector is not None:      # every passive node of the step, on the unit
            vec = network_vector(net, accel, fidelity, timing, norm=cfg.norm).values()
            v_cycles.append(sum(r.total_cycles for r in vec))
            v_energy.append(sum(r.energy_pj for r in vec))
        att = [lay for lay in net.layers() if lay.kind in ATTENTION_KINDS][:2]  # one layer
        res = simulate(Network.chain(f"{cfg.name}.decode.attention@{k}", att), att_accel,
                       timing=timing, fidelity=fidelity)
        s_cycles.append(cfg.layers * res.total_cycles)
        s_energy.append(cfg.layers * res.energy_pj)
        # With the cache on chip the variant spec's "DRAM" is the GLB: no DRAM reads.
        s_dram.append(cfg.layers * _dram_read_bytes(res) if kv_home == "dram" else 0)
        s_bound.append(cfg.layers * _compute_bound_cycles(att, accel, timing))
    xs = picks.astype(float)
    att_cycles = np.interp(keys, xs, s_cycles)
    att_energy = np.interp(keys, xs, s_energy)
    att_bound = np.interp(keys, xs, s_bound)
    att_dram = np.interp(keys, xs, s_dram)
    # Attention MACs are exactly 2 x layers x batch x heads x head_size x keys.
    step_macs = lin.macs + 2 * cfg.layers * batch * cfg.q_dim * keys
    err = 0.0
    if len(picks) > 2:
        line = np.interp(xs, xs[[0, -1]], np.asarray(s_cycles)[[0, -1]])
        err = float(np.max(np.abs(line - s_cycles) / np.maximum(s_cycles, 1)))

    vec_cycles = np.interp(keys, xs, v_cycles) if v_cycles else np.zeros(gen_tokens)
    vec_energy = np.interp(keys, xs, v_energy) if v_energy else np.zeros(gen_tokens)
    step_cycles = lin_cycles + att_cycles + vec_cycles
    step_seconds = step_cycles / clock_hz
    step_energy = lin_energy + att_energy + vec_energy
    contexts = keys - 1
    # The cached positions read each step: kv_cache_bytes(cfg, context), vectorised.
    kv_read_steps = (2 * cfg.layers * cfg.kv_dim * contexts * quant.kv_bits * batch + 7) // 8 \
        if kv_home == "dram" else np.zeros(gen_tokens, dtype=np.int64)
    kv_write = kv_cache_bytes(cfg, 1, quant.kv_bits, batch) if kv_home == "dram" else 0
    must_read = step_weight_bytes + kv_read_steps
    dram_roof = batch * dram_bw * clock_hz / must_read
    comp_roof = batch * clock_hz / (lin_bound + att_bound)

    total_s = float(step_seconds.sum())
    acts = max((lay.input_elems * lay.precision.input_bits
                + lay.output_elems * lay.precision.output_bits + 7) // 8
               for lay in pre_net.layers())
    wbytes = weight_bytes(cfg, quant)
    breakdown = {
        "prefill": _classes(pre, pre_net) | {"scale_cycles": pre_scales / dram_bw},
        "decode": {
            "gemm": _classes(lin, Network.chain("g", gemms))["gemm"]
            | {"cycles_per_step": lin_cycles, "scale_bytes_per_step": step_scales},
            "attention": {"cycles_first_step": float(att_cycles[0]),
                          "cycles_last_step": float(att_cycles[-1]),
                          "energy_pj_total": float(att_energy.sum())},
            "bound": "memory" if float(np.mean(dram_roof)) < float(np.mean(comp_roof))
            else "compute",
        },
        "vector": NO_VECTOR_UNIT if accel.vector is None else {
            "prefill_cycles": _classes(pre, pre_net).get("vector", {}).get("total_cycles", 0),
            "decode_cycles_first_step": float(vec_cycles[0]),
            "decode_cycles_last_step": float(vec_cycles[-1]),
            "decode_energy_pj_total": float(vec_energy.sum())},
    }
    return LLMCost(
        model=cfg.name, arch=accel.name, spec_hash=accel.spec_hash, quant=quant.label,
        fidelity=fidelity, prompt_tokens=prompt_tokens, gen_tokens=gen_tokens, batch=batch,
        parameters=parameters(cfg), weight_bytes=wbytes, kv_cache_bytes=kv_end,
        kv_home=kv_home, peak_memory_bytes=wbytes + kv_end + acts,
        ttft_ms=pre_cycles / clock_hz * 1e3, prefill_energy_mj=pre_energy * 1e-9,
        decode_tokens_per_s=batch * gen_tokens / total_s,
        energy_per_token_mj=float(step_energy.sum()) * 1e-9 / (batch * gen_tokens),
        decode_step_ms=tuple(float(x) for x in step_seconds * 1e3),
        kv_read_bytes_per_step=tuple(int(x) for x in kv_read_steps),
        kv_write_bytes_per_step=kv_write,
        dram_roofline_tokens_per_s=tuple(float(x) for x in dram_roof),
        compute_roofline_tokens_per_s=tuple(float(x) for x in comp_roof),
        prefill_compute_bound_ms=pre_bound / clock_hz * 1e3,
        prefill_macs=pre.macs, prefill_dram_read_bytes=_dram_read_bytes(pre) + pre_scales,
        decode_macs_per_step=tuple(int(x) for x in step_macs),
        decode_dram_read_bytes_per_step=tuple(float(x) for x in
                                              att_dram + _dram_read_bytes(lin) + step_scales),
        attention_samples=tuple(int(k) for k in picks),
        attention_interpolation_error=err, breakdown=breakdown)


__all__ = ["LLMCost", "LLMCostError", "cost_generation"]
