"""Quantization-aware PE datapaths: what narrow operands buy in each ``pe.mode``.

A layer stores each operand at its own width (``layer.precision``: 2, 4, 8, 16 bits;
fp16 counts as 16-bit storage -- the integer datapath models below do not model
floating-point MAC energy beyond the 16-bit entry of the energy table). The PE
multiplies operands of up to ``B = pe.operand_bits`` bits. :func:`plan_datapath` turns
(layer, accelerator) into a :class:`DatapathPlan`: the *timing* layer and accelerator
that the unchanged cost models (analytic and cycle-approximate, any dataflow) and the
mapper run, and :meth:`DatapathPlan.finish`, which turns their :class:`~sim.result.Result`
back into the true layer's (true MAC count, cycles, utilization). ``sim.simulate`` and
``mapper.network_map.map_network`` go through it, so both fidelities and the mapper
see the same transform. ``sim.evaluate``/``evaluate_batch`` cost the workload they are
given: with a ``bitfusion``/``bitserial`` accelerator they need the plan's layer (they
raise :class:`DatapathError` for a plain layer rather than return fixed-width numbers).

Modes (``B`` = ``pe.operand_bits``; ``b_in``, ``b_w`` the layer's input/weight bits):

* ``fixed`` -- narrower operands are sign-extended into the full-width MAC: no
  speed-up (the plan is the identity), and each MAC costs a ``B``-bit multiply plus an
  accumulator add (:meth:`sim.energy.EnergyTable.mac_pj` at ``B`` bits): the
  multiplier's width is fixed in silicon, whatever the values fed to it.
* ``bitfusion`` (Sharma et al., "Bit Fusion", ISCA 2018) -- a ``B``-bit fusion unit
  splits into ``f = (B / b_in) * (B / b_w)`` narrow multipliers (one 8x8 = four 4x4 =
  sixteen 2x2 = two 8x4) whose products are *summed*: each cycle it computes a
  length-``f`` dot product along the reduction. Modelled as a workload transform: ``f``
  consecutive input channels of a group are packed into one *fused* element, so the
  timing layer has ``C' = ceil((C/G) / f) * G`` channels whose elements are words of
  ``f * b_in`` (inputs) and ``f * b_w`` (weights) bits -- the same bytes as the narrow
  operands -- and runs on the unchanged array with the unchanged mapping machinery.
  Cycles, traffic and storage come from the timing layer (the mapping reported is the
  timing layer's: its ``C`` counts fused words). The fusion unit's ports are ``f``
  lanes wide, so the per-PE register file holds fused words (``f * b`` bits each).
  When ``C/G`` is not a multiple of ``f`` the last word of each group has idle,
  zero-padded lanes: they are stored and moved (a packed layout) and counted as idle
  in utilization; no energy is charged for their products. When ``C/G < f``
  (depthwise: ``C/G = 1``) there is nothing to fuse along the channels: one lane of
  ``f`` works and the layer runs no faster than at full width. (Fusing along the
  im2col reduction ``C/G * R * S`` instead would help depthwise layers on lowered
  dataflows but breaks the convolution-window geometry the traffic model uses; it is
  not modelled.) Energy: each true narrow product costs
  :meth:`~sim.energy.EnergyTable.product_pj` at the narrow widths (the fusion unit's
  shift-add tree is the multiplier's own partial-product reduction, included in the
  table's multiply entry); each fused step adds its sum into the accumulator once.
* ``bitserial`` (Stripes, Judd et al., MICRO 2016) -- the *input* (activation) is fed
  one bit per cycle, the weight in parallel (up to ``B`` bits). Every step of the
  array (a wavefront entering, an operand or partial sum moving one PE, a preload
  word) takes ``s = b_in`` cycles, so compute cycles are ``s`` times the schedule of
  the same layer on a one-cycle-per-step array. Modelled as a time dilation: the
  models run in *steps* on a timing accelerator whose GLB and DRAM bandwidths are
  ``s`` times the spec's per-cycle figures (per step), and :meth:`DatapathPlan.finish`
  multiplies every cycle count by ``s``: the array and the memory synchronise at step
  boundaries, so a stall lasts whole steps (a transfer of ``x`` bytes at ``bw``
  bytes/cycle holds the array ``ceil(x / (bw * s))`` steps). The weight's width buys
  nothing (gated lanes of a ``B``-bit adder). Energy per MAC: ``b_in`` shift-adds of
  the ``B``-bit adder (``b_in * B * add_pj_per_bit``, the bit-serial multiply) plus one
  accumulator add. Only ``native`` timing (SCALE-Sim has no bit-serial PEs) and the
  :class:`~sim.cycle.supply.BufferedMemory` memory model (its DRAM latency rounded up
  to whole steps) are supported.

Utilization in every mode is the fraction of the array's peak *at this layer's
precision* that does useful work: ``macs / (cycles * PEs * f / s)`` (``f = 1`` unless
bit-fusion, ``s = 1`` unless bit-serial), so it never exceeds 1.

Accumulator: a signed sum of ``T = C/G * R * S`` products of ``b_in x b_w``-bit signed
integers fits in ``b_in + b_w + ceil(log2 T)`` bits (each product in ``b_in + b_w``,
doubling the count adds at most one bit); :func:`check_accumulator` raises when
``pe.accumulator_bits`` is narrower, in every mode.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import Any

from dataflows.errors import CoforgeError
from dataflows.layer import SUPPORTED_BITS, Layer, Precision
from sim.result import Result
from sim.spec import Accelerator, Buffer


class DatapathError(CoforgeError):
    """A layer cannot run on this PE datapath (widths, accumulator, mode options)."""


@dataclass(frozen=True)
class WordPrecision(Precision):
    """Bits of the *stored words* of a timing layer: a fused bit-fusion word packs ``f``
    narrow operands, so its width is ``f`` times theirs and may exceed 32 bits."""

    def __post_init__(self) -> None:
        for name in ("input_bits", "weight_bits"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise DatapathError(f"word {name} must be a positive integer, not {value!r}")
        if self.output_bits not in SUPPORTED_BITS:
            raise DatapathError(f"precision.output_bits must be one of {list(SUPPORTED_BITS)}, "
                                f"not {self.output_bits!r}")


@dataclass(frozen=True)
class DatapathLayer(Layer):
    """The timing layer of a :class:`DatapathPlan` (a :class:`Layer` the cost models run).

    ``lanes``: narrow products per PE per step (bit-fusion ``f``, else 1);
    ``step_cycles``: clock cycles per array step (bit-serial ``b_in``, else 1);
    ``narrow``: the true layer's precision; ``narrow_macs``: its true MAC count.
    ``macs`` (inherited) counts fused steps of the PEs, which is what the PE register
    traffic and the accumulator adds follow.
    """

    lanes: int = 1
    step_cycles: int = 1
    narrow: Precision = field(default_factory=Precision)
    narrow_macs: int = 0


def required_accumulator_bits(layer: Layer) -> int:
    """``b_in + b_w + ceil(log2 T)`` bits for the signed sum over ``T = C/G * R * S``."""
    _, _, t, _ = layer.gemm_shape
    prec = layer.precision
    return prec.input_bits + prec.weight_bits + math.ceil(math.log2(t))


def check_accumulator(layer: Layer, accel: Accelerator) -> None:
    """Raise :class:`DatapathError` when ``pe.accumulator_bits`` could overflow on ``layer``."""
    need = required_accumulator_bits(layer)
    have = accel.pe.accumulator_bits
    if have < need:
        p = layer.precision
        t = layer.gemm_shape[2]
        raise DatapathError(
            f"layer {layer.name!r}: pe.accumulator_bits {have} would overflow: "
            f"{p.input_bits}-bit inputs x {p.weight_bits}-bit weights summed over {t} terms "
            f"need {need} bits ({p.input_bits} + {p.weight_bits} + ceil(log2 {t})); set "
            f"pe.accumulator_bits >= {need} or quantize the layer")


def multiplier_bits(layer: Layer) -> int:
    """Widest operand the PE's multiplier sees: the narrow widths of a timing layer."""
    prec = layer.narrow if isinstance(layer, DatapathLayer) else layer.precision
    return max(prec.input_bits, prec.weight_bits)


def fusion_lanes(precision: Precision, operand_bits: int) -> int:
    """``f = (B / b_in) * (B / b_w)``: narrow products a ``B``-bit fusion unit makes per step."""
    return (operand_bits // precision.input_bits) * (operand_bits // precision.weight_bits)


def mac_energy_pj(layer: Layer, accel: Accelerator) -> float:
    """Energy of all of ``layer``'s MACs (pJ) on ``accel``'s datapath (module docstring).

    fixed: ``macs * (mult_pj[B] + acc * add)``; bitfusion: ``narrow_macs *
    product_pj(b_in, b_w) + fused_steps * acc * add``; bitserial: ``macs * (b_in * B * add
    + acc * add)``, with ``add = add_pj_per_bit`` and ``acc = pe.accumulator_bits``.
    """
    pe, table = accel.pe, accel.energy
    if isinstance(layer, DatapathLayer):
        narrow, narrow_macs = layer.narrow, layer.narrow_macs
    elif pe.mode != "fixed":
        raise DatapathError(f"layer {layer.name!r}: pe.mode {pe.mode!r} needs the datapath "
                            f"transform: cost it with sim.simulate or mapper.map_network, or "
                            f"pass sim.datapath.plan_datapath(layer, accel).layer")
    else:
        narrow, narrow_macs = layer.precision, layer.macs
    acc_add = table.add_pj(pe.accumulator_bits)
    if pe.mode == "fixed":
        return narrow_macs * table.mac_pj(pe.operand_bits, pe.accumulator_bits)
    if pe.mode == "bitfusion":
        return (narrow_macs * table.product_pj(narrow.input_bits, narrow.weight_bits)
                + layer.macs * acc_add)
    return narrow_macs * (table.add_pj(narrow.input_bits * pe.operand_bits) + acc_add)


@dataclass(frozen=True)
class DatapathPlan:
    """What the cost models run for one layer on one accelerator, and how to read back.

    ``source``: the true layer; ``layer``: the timing layer (``source`` itself in
    ``fixed`` mode); ``accel``: the timing accelerator (bit-serial: bandwidths per
    step; otherwise the spec itself).
    """

    source: Layer
    layer: Layer
    accel: Accelerator

    @property
    def lanes(self) -> int:
        return self.layer.lanes if isinstance(self.layer, DatapathLayer) else 1

    @property
    def step_cycles(self) -> int:
        return self.layer.step_cycles if isinstance(self.layer, DatapathLayer) else 1

    def finish(self, result: Result) -> Result:
        """The timing layer's result as the true layer's: true MACs, cycles (steps x
        ``step_cycles``) and utilization against the peak at this precision."""
        if self.layer is self.source:
            return result
        s = self.step_cycles
        timing_macs = self.layer.macs
        util = result.utilization * self.source.macs / (timing_macs * self.lanes)
        return replace(result, layer=self.source.name, macs=self.source.macs,
                       compute_cycles=result.compute_cycles * s,
                       stall_cycles=result.stall_cycles * s,
                       total_cycles=result.total_cycles * s, utilization=util)

    def finish_columns(self, columns: dict[str, Any]) -> dict[str, Any]:
        """A cycle-model per-pass breakdown in cycles (its cycle columns are in steps)."""
        s = self.step_cycles
        if s == 1:
            return columns
        return {k: v * s if k.endswith("_cycles") or k.endswith("_cycle") else v
                for k, v in columns.items()}

    def memory(self, memory: Any) -> Any:
        """The cycle model's memory model in steps (bit-serial) or unchanged: the model's
        own ``in_steps(step_cycles)`` (so ``sim.datapath`` needs nothing of ``sim.cycle``)."""
        s = self.step_cycles
        if s == 1:
            return memory
        if memory is None:
            return None
        in_steps = getattr(memory, "in_steps", None)
        if in_steps is None:
            raise DatapathError(f"pe.mode 'bitserial' runs with the BufferedMemory memory "
                                f"model only, not {type(memory).__name__}")
        return in_steps(s)


def _timing_layer(layer: Layer, precision: Precision, c: int, lanes: int,
                  step_cycles: int) -> DatapathLayer:
    base = {f.name: getattr(layer, f.name) for f in fields(Layer)}
    base.update(C=c, precision=precision)
    return DatapathLayer(**base, lanes=lanes, step_cycles=step_cycles,
                         narrow=layer.precision, narrow_macs=layer.macs)


def _step_accel(accel: Accelerator, s: int) -> Accelerator:
    """``accel`` with every GLB and DRAM bandwidth counted per ``s``-cycle step."""
    def per_step(buf: Buffer) -> Buffer:
        return replace(buf, read_bytes_per_cycle=buf.read_bytes_per_cycle * s,
                       write_bytes_per_cycle=buf.write_bytes_per_cycle * s)
    return replace(accel, glb=tuple(per_step(b) for b in accel.glb), dram=per_step(accel.dram))


def plan_datapath(layer: Layer, accel: Accelerator, timing: str = "native",
                  check_overflow: bool = True) -> DatapathPlan:
    """Check ``layer``'s widths and accumulator against ``accel.pe`` and build the plan.

    Raises :class:`DatapathError` (one line) when an operand is wider than
    ``pe.operand_bits``, the accumulator could overflow, or the mode does not support
    ``timing``. ``check_overflow=False`` skips the accumulator check, for reproducing a
    peer model that stores partial sums narrower than their range (ZigZag's 16-bit
    partial sums of 8-bit layers, :mod:`mapper.zigzag_import`); the numbers are then
    those of that convention, not of a working datapath.
    """
    if isinstance(layer, DatapathLayer):
        raise DatapathError(f"layer {layer.name!r} is already a timing layer; plan the "
                            f"true layer")
    if layer.macs == 0:
        return DatapathPlan(layer, layer, accel)
    pe = accel.pe
    wide = max(layer.precision.input_bits, layer.precision.weight_bits)
    if wide > pe.operand_bits:
        raise DatapathError(f"layer {layer.name!r} needs {wide}-bit operands but "
                            f"{accel.name!r} has pe.operand_bits {pe.operand_bits}; widen "
                            f"the PE or quantize the layer")
    if check_overflow:
        check_accumulator(layer, accel)
    prec = layer.precision
    if pe.mode == "fixed":
        return DatapathPlan(layer, layer, accel)
    if pe.mode == "bitfusion":
        f = fusion_lanes(prec, pe.operand_bits)
        groups = -(-(layer.C // layer.G) // f)
        word = WordPrecision(input_bits=f * prec.input_bits, weight_bits=f * prec.weight_bits,
                             output_bits=prec.output_bits)
        return DatapathPlan(layer, _timing_layer(layer, word, groups * layer.G, f, 1), accel)
    if timing != "native":
        raise DatapathError(f"pe.mode 'bitserial' needs timing 'native', not {timing!r} "
                            f"(SCALE-Sim has no bit-serial PEs)")
    s = prec.input_bits
    return DatapathPlan(layer, _timing_layer(layer, prec, layer.C, 1, s),
                        _step_accel(accel, s))


__all__ = ["DatapathError", "DatapathLayer", "DatapathPlan", "WordPrecision",
           "check_accumulator", "fusion_lanes", "mac_energy_pj", "multiplier_bits",
           "plan_datapath", "required_accumulator_bits"]
