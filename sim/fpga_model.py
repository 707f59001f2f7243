"""FPGA resources and Fmax of the generated GEMM engine: the area side of the cost model
for FPGA targets, a pure function of an :class:`~sim.spec.Accelerator` and a target.

:func:`estimate` predicts what ``coforge synth`` measures (LUT4 slots, flip-flops, DSP
blocks, block RAMs, Fmax); :func:`check_fit` turns the rule-based parts (DSPs, block
RAMs, pins) plus the predicted LUTs into a go/no-go with one-line
:class:`FpgaFitError` messages that carry the numbers, before any tool runs.

How each quantity is obtained:

* **DSP** -- exact rule (all 28 sweep configurations): one multiplier per PE; it goes
  to a DSP block when the product is wide enough for Yosys to map it (ECP5 ``MULT18X18D``:
  operands <= 18 bits; iCE40 ``SB_MAC16``: product >= 11 bits, i.e. not int4) and, on iCE40,
  when all of them fit the part (``synth_ice40 -dsp`` maps every multiplier or none); otherwise
  the multipliers are built from LUTs.
* **BRAM** -- rule: each operand buffer (one RAM of ``depth`` words; A and B written
  one lane at a time, O a whole word at once) takes the cheapest block geometry, as
  Yosys' ``memory_libmap`` picks it: ECP5 ``DP16KD`` as 2048x9/1024x18/512x36 with
  9-bit byte enables or 4096x4/8192x2/16384x1 with one enable; iCE40 ``SB_RAM40_4K``
  with a 256x16 bit-masked write port and a 256x16/512x8/1024x4/2048x2 read port, or
  512x8/1024x4/2048x2 with one enable. Against the calibration sweep: equal on 26 of
  28 configurations (all held-out ones), one block off on two (int4 lanes on ECP5:
  +1; 40-bit accumulators on ECP5: -1).
* **LUT, FF** -- a linear model over bit counts derived from the RTL structure, fitted
  by least squares on a calibration sweep (features in :func:`features`; coefficients
  in :data:`COEFFICIENTS`, one set per FPGA family)::

      FF  = a_pe * pe_reg_bits + a_edge * edge_reg_bits + a_dim * dim_bits + a_0
      LUT = b_pe * pe_lut_bits + b_edge * edge_lut_bits + b_dim * dim_bits + b_0

  ``pe_reg_bits``: registers of all PEs (operands passing through, the stationary
  value, the accumulator, the product register); ``edge_reg_bits``: registers around
  the array (input skew, output de-skew / OS output row, the registered early reads,
  the replay of a write colliding with the first read);
  ``pe_lut_bits``: per-PE logic (the accumulator adder, OS's drain mux, LUT
  multipliers when no DSP takes them); ``edge_lut_bits``: array-edge logic (WS
  partial-sum adders and output lane mux, the replay muxes and address comparators,
  block-RAM depth cascade muxes); ``dim_bits``: width of the runtime GEMM sizes, which
  sets every counter of the controller and the stream walkers (on iCE40 it also
  carries the pin-reducing wrapper's configuration shift register). Why this form: a PE array is
  ``R*C`` copies of one datapath plus a ring of edge logic plus a controller whose size
  follows its counter width; each term is a count the generator fixes exactly, and the
  coefficients only absorb how the tools pack bits (carry cells, shared sign bits, FFs
  merged or dropped; Yosys trims a one- or two-row WS partial-sum chain to its real
  width, which :func:`features` counts). Four numbers per metric, fitted on 12 ECP5 and
  6 iCE40 training configurations; held-out worst errors (10 configurations): LUT
  8.7 %, FF 8.0 %, DSP 0, Fmax 11.2 %.
* **Fmax** -- ECP5: ``1 / Fmax = t_0 + t_mac * [no product register] + t_route *
  log2(R*C)`` (ns): a fixed register-to-register budget, the multiplier-plus-adder path
  that the product register splits, and routing that lengthens as the array spreads
  out (the critical path of the 8x8 engines is a PE's DSP with ~7 ns of routing to
  and from it). iCE40: one constant period (:data:`FAMILY_FEATURES`).

* **Other engine kinds** (bit-serial, bit-fusion, N:M): the dense model on the same
  geometry plus per-kind terms per family (``sim.fpga_features.engine_features_of``,
  :data:`ENGINE_COEFFICIENTS`), fitted on that kind's training engines only, so the
  dense coefficients do not move. ECP5: 3-7 training engines per kind; iCE40 UP5K: 3-4
  small ones per kind with fewer terms. A kind without terms on a family has no
  estimate (:func:`uncalibrated_reason` says so) and synthesizes without a LUT check.

Modules: :mod:`sim.fpga_geometry` (targets, geometry, pins, DSP/BRAM rules),
:mod:`sim.fpga_features` (bit-count features), :mod:`sim.fpga_calibration`
(coefficients and fits); this module predicts and checks, and re-exports them.

Calibration: ``tests/data/fpga_baselines/<tool versions>/sweep.json`` (run by
``python -m hdl.synth_sweep``); :func:`fit` reproduces :data:`COEFFICIENTS` from its
training configurations, and ``tests/sim/test_fpga_model.py`` checks the held-out ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sim.fpga_calibration import (CALIBRATION, COEFFICIENTS, ENGINE_COEFFICIENTS, Measurement,
                                  fit, fit_engines)
from sim.fpga_features import (ENGINE_FEATURES, FAMILY_ENGINE_FEATURES, FAMILY_FEATURES,
                               FEATURES, LUT_MULTIPLIER_LUT4, engine_features,
                               engine_features_of, features, features_of)
from sim.fpga_geometry import (CYCLE_COUNTER_BITS, ENGINE_KINDS, MAX_DEPTH, MAX_RTL_SIDE,
                               RTL_DATAFLOWS, RTL_OPERAND_BITS, TARGETS, EngineGeometry,
                               FpgaFitError, FpgaTarget, b_payload_bits, bare_pins, bram_blocks,
                               brams_needed, dsp_multipliers, dsps_needed, engine_kind,
                               extra_port_bits, geometry, get_target, narrow_pins)
from sim.spec import Accelerator


@dataclass(frozen=True)
class FitPlan:
    """How the engine goes onto the part (decided before synthesis)."""

    top: str                  # "bare" or "narrow" (the pin-reducing wrapper)
    io_pins: int
    dsp_multipliers: bool
    dsps: int
    brams: int
    lut_predicted: int        # 0 when the kind has no LUT model on the family
    #: why there is no LUT prediction (:func:`uncalibrated_reason`); "" when there is one
    lut_model_missing: str = ""


@dataclass(frozen=True)
class FpgaEstimate:
    """Predicted resources and Fmax of the engine on one target."""

    target: str
    lut: int
    ff: int
    dsp: int
    bram: int
    fmax_mhz: float
    io_pins: int
    top: str
    features: Mapping[str, float]


def _predict(family: str, metric: str, feats: Mapping[str, float],
             engine: str = "dense") -> float:
    coef = COEFFICIENTS.get(family, {}).get(metric)
    if coef is None:
        raise FpgaFitError(f"no calibrated {metric} model for the {family} family")
    fixed = feats["lut_multiplier_luts"] if metric == "lut" else 0.0
    base = fixed + float(sum(c * feats[name]
                             for c, name in zip(coef, features_of(family, metric))))
    if engine == "dense":
        return base
    extra = ENGINE_COEFFICIENTS.get(family, {}).get(engine, {}).get(metric)
    if extra is None:
        raise FpgaFitError(f"no calibrated {metric} model of the {engine!r} engine for the "
                           f"{family} family")
    names = engine_features_of(family, engine)[metric]
    return base + float(sum(c * feats[name] for c, name in zip(extra, names)))


def calibrated(g: EngineGeometry, family: str) -> bool:
    """Whether the LUT/FF/Fmax model of ``family`` covers ``g``'s engine kind."""
    return family in COEFFICIENTS and (
        g.engine == "dense" or g.engine in ENGINE_COEFFICIENTS.get(family, {}))


def uncalibrated_reason(g: EngineGeometry, family: str) -> str:
    """Why the LUT/FF/Fmax model has no estimate of ``g`` on ``family`` ("" if it has):
    names the kind, the family and where the kind is calibrated."""
    if calibrated(g, family):
        return ""
    where = sorted(f for f, kinds in ENGINE_COEFFICIENTS.items() if g.engine in kinds)
    only = (f"its {g.engine} terms are calibrated for {', '.join(where)} only" if where
            else f"no family has {g.engine} terms yet")
    return f"the FPGA model has no {g.engine!r} LUT/FF/Fmax estimate for {family}: {only}"


def _require_calibrated(g: EngineGeometry, accel: Accelerator, family: str) -> None:
    if not calibrated(g, family):
        known = ["dense", *ENGINE_COEFFICIENTS.get(family, {})]
        raise FpgaFitError(f"accelerator {accel.name!r}: the FPGA model has no calibrated "
                           f"{g.engine!r} engine for {family} yet (only {known}); "
                           f"synthesize it with `coforge synth` to measure it")


def estimate(accel: Accelerator, target: str | FpgaTarget) -> FpgaEstimate:
    """Predicted LUT/FF/DSP/BRAM/Fmax of ``accel``'s engine on ``target``."""
    tgt = get_target(target) if isinstance(target, str) else target
    g = geometry(accel)
    _require_calibrated(g, accel, tgt.family)
    feats = features(g, tgt)
    pins = bare_pins(g)
    top = "bare"
    if pins > tgt.io_pins:
        top, pins = "narrow", narrow_pins(g)
    kind = g.engine
    period = _predict(tgt.family, "period_ns", feats, kind)
    return FpgaEstimate(target=tgt.name, lut=round(_predict(tgt.family, "lut", feats, kind)),
                        ff=round(_predict(tgt.family, "ff", feats, kind)),
                        dsp=dsps_needed(g, tgt), bram=brams_needed(g, tgt),
                        fmax_mhz=round(1000.0 / period, 1), io_pins=pins, top=top,
                        features=feats)


def check_fit(accel: Accelerator, target: str | FpgaTarget) -> FitPlan:
    """Raise :class:`FpgaFitError` (with the numbers) unless the engine fits ``target``."""
    tgt = get_target(target) if isinstance(target, str) else target
    g = geometry(accel)
    where = f"{accel.name!r} on {tgt.name}"
    pins = bare_pins(g)
    top = "bare"
    if pins > tgt.io_pins:
        top, pins = "narrow", narrow_pins(g)
        if pins > tgt.io_pins:
            raise FpgaFitError(f"{where}: the engine needs {pins} I/O pins even behind the "
                               f"pin-reducing wrapper; the {tgt.package} package has "
                               f"{tgt.io_pins}")
    in_dsp = dsp_multipliers(g, tgt)
    mult = f"{g.operand_bits}x{g.operand_bits}-bit"
    if tgt.family == "ecp5" and in_dsp and g.pes > tgt.dsps:
        raise FpgaFitError(f"{where}: the {g.rows}x{g.cols} array needs {g.pes} "
                           f"{tgt.dsp_name} (one per {mult} multiplier), the part has "
                           f"{tgt.dsps}")
    brams = brams_needed(g, tgt)
    if brams > tgt.brams:
        kib = sum(lanes * bits * depth for lanes, bits, depth in g.buffers()) / 8192
        raise FpgaFitError(f"{where}: the operand buffers ({kib:.1f} KiB: depths "
                           f"{g.depth_a}/{g.depth_b}/{g.depth_o} words) need {brams} "
                           f"{tgt.bram_name}, the part has {tgt.brams}; shrink the glb")
    lut = round(_predict(tgt.family, "lut", features(g, tgt), g.engine)) \
        if calibrated(g, tgt.family) else 0           # uncalibrated: no LUT check
    if lut > tgt.luts:
        if g.engine in ("bitserial", "bitfusion"):     # no multiplier to put in a DSP
            why = f" (the {g.engine} engine's {g.pes} PEs are all LUT logic)"
        else:
            why = "" if in_dsp else (f" ({g.pes} {mult} multipliers in LUTs: the part's "
                                     f"{tgt.dsps} {tgt.dsp_name} cannot take all of them)")
        raise FpgaFitError(f"{where}: predicted {lut} LUTs{why}, the part has {tgt.luts}")
    return FitPlan(top=top, io_pins=pins, dsp_multipliers=in_dsp, dsps=dsps_needed(g, tgt),
                   brams=brams, lut_predicted=lut,
                   lut_model_missing=uncalibrated_reason(g, tgt.family))


#: The public API: this module's estimate/check_fit and what it re-exports from the
#: geometry, features and calibration modules (imported from here across the project).
__all__ = ["CALIBRATION", "COEFFICIENTS", "CYCLE_COUNTER_BITS", "ENGINE_COEFFICIENTS",
           "ENGINE_FEATURES", "ENGINE_KINDS", "EngineGeometry", "FAMILY_ENGINE_FEATURES",
           "FAMILY_FEATURES", "FEATURES",
           "FitPlan", "FpgaEstimate", "FpgaFitError", "FpgaTarget", "LUT_MULTIPLIER_LUT4",
           "MAX_DEPTH", "MAX_RTL_SIDE", "Measurement", "RTL_DATAFLOWS", "RTL_OPERAND_BITS",
           "TARGETS", "b_payload_bits", "bare_pins", "bram_blocks", "brams_needed",
           "calibrated", "check_fit", "dsp_multipliers", "dsps_needed", "engine_features",
           "engine_features_of", "engine_kind", "estimate", "extra_port_bits", "features",
           "features_of", "fit", "fit_engines", "geometry", "get_target", "narrow_pins",
           "uncalibrated_reason"]
