"""The structural features of the FPGA resource/Fmax model: bit counts the RTL generator
fixes exactly (:func:`features`, :func:`engine_features`), and which of them each
metric's linear model uses, per family and engine kind. Units: bits (or 1 for the
constant terms, ``log2`` of a count for the routing and fusion-depth terms)."""

from __future__ import annotations

import math

from sim.fpga_geometry import (EngineGeometry, FpgaTarget, bram_blocks, dsp_multipliers)

# -- the fitted part: features --------------------------------------------------------------
#: Feature names of each fitted metric (the model is their dot product with coefficients).
FEATURES: dict[str, tuple[str, ...]] = {
    "ff": ("pe_reg_bits", "edge_reg_bits", "dim_bits", "one"),
    "lut": ("pe_lut_bits", "edge_lut_bits", "dim_bits", "one"),
    "period_ns": ("one", "no_product_register", "log2_pes"),
}
#: LUT4s of one signed ``n x n`` multiplier built from logic (no DSP), by operand width:
#: measured by synthesizing a registered multiplier alone with ``synth_ice40`` (yowasp-
#: yosys 0.70: 37 / 176 / 776 SB_LUT4 for 4 / 8 / 16 bits). Added to the LUT model as an
#: exact term (coefficient 1), so the fit need not extrapolate from the int4 engines of
#: the sweep to 8- and 16-bit LUT multipliers.
LUT_MULTIPLIER_LUT4: dict[int, int] = {4: 37, 8: 176, 16: 776}
#: Per-family exceptions to :data:`FEATURES`. iCE40: the engine's critical path is the
#: controller's and the stream walkers' LUT logic (the multiplier sits in an SB_MAC16 or,
#: for int4, in a few LUTs), so its period is one constant: across the sweep's iCE40
#: configurations Fmax spans 30-37 MHz with no trend in size or product register.
FAMILY_FEATURES: dict[str, dict[str, tuple[str, ...]]] = {"ice40": {"period_ns": ("one",)}}


def features_of(family: str, metric: str) -> tuple[str, ...]:
    """Feature names of ``metric``'s model on ``family``."""
    return FAMILY_FEATURES.get(family, {}).get(metric, FEATURES[metric])


#: Extra features of each non-dense engine kind, per metric: the kind's model is the
#: dense model on the same geometry (:func:`features`, which already leaves out the
#: multipliers a kind does not have) plus these terms, fitted on that kind's training
#: configurations only (:func:`fit_engines`), so the dense coefficients do not move.
#: Counts from the RTL (see :func:`engine_features`).
ENGINE_FEATURES: dict[str, dict[str, tuple[str, ...]]] = {
    "bitserial": {"ff": ("serial_bits", "kind_one"),
                  "lut": ("serial_bits", "serial_os_bits", "serial_pr_bits", "kind_one"),
                  "period_ns": ("kind_one", "kind_os")},
    "bitfusion": {"ff": ("fused_reg_bits", "kind_one"), "lut": ("brick_bits", "kind_one"),
                  "period_ns": ("kind_one", "fusion_levels", "kind_os")},
    "sparse_nm": {"ff": ("nm_reg_bits", "kind_one"), "lut": ("nm_mux_bits", "kind_one"),
                  "period_ns": ("kind_one",)},
}


#: Per-family exceptions to :data:`ENGINE_FEATURES` (same form: extra terms over the
#: family's dense model, fitted on that family's training configurations of the kind).
#: iCE40 (UP5K, fitted on 3-4 small engines per kind, so fewer terms): the period is the
#: dense constant plus one per-kind offset, and the LUT/FF terms are the kind's main bit
#: count plus a constant. (The ECP5 terms scaled by one per-family factor do not fit: the
#: ECP5 bit-serial LUT extra of a 2x2 int8 engine is -85 LUTs, the iCE40 one +246 LCs.)
FAMILY_ENGINE_FEATURES: dict[str, dict[str, dict[str, tuple[str, ...]]]] = {
    "ice40": {
        "bitserial": {"ff": ("serial_bits", "kind_one"),
                      "lut": ("serial_bits", "serial_os_bits", "kind_one"),
                      "period_ns": ("kind_one",)},
        "bitfusion": {"ff": ("fused_reg_bits", "kind_one"), "lut": ("brick_bits", "kind_one"),
                      "period_ns": ("kind_one", "fusion_levels")},
        "sparse_nm": {"ff": ("nm_reg_bits", "kind_one"), "lut": ("nm_mux_bits", "kind_one"),
                      "period_ns": ("kind_one",)},
    },
}


def engine_features_of(family: str, kind: str) -> dict[str, tuple[str, ...]]:
    """Extra feature names per metric of engine ``kind``'s model on ``family``."""
    return FAMILY_ENGINE_FEATURES.get(family, {}).get(kind, ENGINE_FEATURES[kind])


def engine_features(g: EngineGeometry) -> dict[str, float]:
    """Bit counts of what a kind adds to the dense engine's structure:

    * ``serial_bits`` (bit-serial, hdl/bitserial.py): per PE the logic that replaces the
      multiplier -- the delay line's bit select and the gated weight (``ob`` bits each
      way) plus a width-independent part (the step/first-cycle control of the shift-add
      ``term = first ? -bw : 2 part + bw`` and of the step-enabled registers), counted
      as 8 bit-equivalents: ``P (ob + 8)``. (``P * 2 ob`` alone, fitted on the four
      training configurations, missed the held-out 8x8 by +12 % LUTs: the int4 4x8
      engine costs per PE more than half of what an int8 PE does); ``serial_os_bits``:
      the same count on OS arrays (0 on WS): the OS PE's accumulator takes the finished
      product through a valid/drain mux on the step edge (measured: the OS engines
      need 6-13 % more LUTs than the WS terms predict); ``serial_pr_bits``: with the
      product register, per PE the ``2 ob``-bit step-enabled ``prod_q`` (hdl/bitserial.py
      ``_SerialPE._serial``): the shift-add ``term`` then fans out to two registers
      (``part`` every cycle, ``prod_q`` on the step edge) and the accumulator adds the
      registered product: ``P 2 ob`` (0 without it; fitted on three training engines
      to about 0 LUT/bit: on ECP5 the step enable goes to the FFs' clock enable);
    * ``fused_reg_bits`` (bit-fusion, hdl/bitfusion.py): the operand paths carry fused
      words of ``W = ob^2 / 2`` bits instead of ``ob``: per PE the passing and held
      operands, at the edge the input skew, the registered early reads and the replay:
      ``(W - ob) * (2 P + R (R - 1) / 2 + R + 3 C)``;
    * ``brick_bits`` (bit-fusion): ``(ob / 2)^2`` 2-bit bricks per PE, each with its
      mode mux and a ``2 ob``-bit shifted term into the adder tree: ``P (ob / 2)^2 2 ob``;
    * ``fusion_levels`` (bit-fusion): levels of the fusion unit's combinational adder
      tree, ``log2((ob / 2)^2)`` (4 for int8): the brick, its shift mux and the tree
      sit in one cycle in front of the accumulator (measured: the int8 engines close
      at 40-48 MHz, the int4 one at 92);
    * ``nm_reg_bits`` (N:M, hdl/sparse_nm.py): each PE passes the ``M`` inputs of its
      group (``M - 1`` more ``ob``-bit registers than dense) and holds a slot's
      ``log2 M``-bit index; the edge skews ``M`` lanes per row:
      ``P ((M - 1) ob + log2 M) + (M - 1) ob R (R - 1) / 2``;
    * ``nm_mux_bits`` (N:M): the ``M``-way input select in front of each multiplier:
      ``P M ob``;
    * ``kind_one``: 1 (what the kind adds whatever its size: e.g. the bit-serial step
      counter and its own cycle counter, the bit-fusion mode decode); ``kind_os``: 1 on
      OS (the serial / fused OS PE's accumulator path is the longer one: measured, the
      bit-serial 4x4 OS engine closes at 79 MHz, the WS one at 93)."""
    P, R, C, ob = g.pes, g.rows, g.cols, g.operand_bits
    w = ob * ob // 2
    m = max(g.nm_m, 1)
    ib = (m - 1).bit_length()
    return {"nm_reg_bits": float(P * ((m - 1) * ob + ib) + (m - 1) * ob * R * (R - 1) // 2),
            "nm_mux_bits": float(P * m * ob),
            "serial_bits": float(P * (ob + 8)),
            "serial_os_bits": float(P * (ob + 8) * (g.dataflow == "os")),
            "serial_pr_bits": float(P * 2 * ob * int(g.product_register)),
            "fused_reg_bits": float((w - ob) * (2 * P + R * (R - 1) // 2 + R + 3 * C)),
            "brick_bits": float(P * (ob // 2) ** 2 * 2 * ob), "kind_one": 1.0,
            "fusion_levels": math.log2((ob // 2) ** 2),
            "kind_os": float(g.dataflow == "os")}


def features(g: EngineGeometry, target: FpgaTarget) -> dict[str, float]:
    """Structural bit counts of the engine (see the module docstring)."""
    R, C, P = g.rows, g.cols, g.pes
    ob, ab, pr = g.operand_bits, g.accumulator_bits, int(g.product_register)
    ws = g.dataflow == "ws"
    tri_r, tri_c = R * (R - 1) // 2, C * (C - 1) // 2
    addr = {op: max(1, (d - 1).bit_length()) for op, d in
            (("a", g.depth_a), ("b", g.depth_b))}
    early_reg = R * ob + C * ob + C * ab            # registered A, B, O reads (hdl.top)

    def replay(lanes: int, op: str) -> tuple[int, int]:
        """(FF, LUT bits) of hdl.top's replay of a colliding write into the read word:
        registered write address/data/enable and read address, patch mask and data; a
        lane mux and an address comparator."""
        return 2 * lanes * ob + 2 * lanes + 2 * addr[op], lanes * ob + addr[op]
    if ws:   # stationary weight, passing operand, partial sum, product register
        # Yosys trims the partial-sum chain of a one- or two-row array to what it can
        # hold (row r adds a signed 2*ob-bit product to row r-1's sum: 2*ob + r bits),
        # de-skew included; from three rows on it keeps the full accumulator width
        # (measured: the de-skew registers of every R >= 3 configuration of the sweep
        # are ab bits wide, those of R <= 2 are 2*ob + R - 1)
        psum = [min(ab, 2 * ob + r) if R <= 2 else ab for r in range(R)]
        rb_reg, rb_lut = replay(C, "b")
        edge_reg = ob * tri_r + psum[-1] * tri_c + early_reg + rb_reg  # skew, de-skew, reads
        pe_reg_total = C * sum(2 * ob + w + pr * 2 * ob for w in psum)
        pe_lut_total = P * ab                                  # partial-sum adders
        edge_lut = 2 * C * ab + rb_lut                         # psum adders + output mux
    else:    # two passing operands + valid, accumulator, product register (+ valid)
        pe_reg = 2 * ob + 1 + ab + pr * (2 * ob + 1)
        ra_reg, ra_lut = replay(R, "a")
        rb_reg, rb_lut = replay(C, "b")
        edge_reg = (ob + 1) * tri_r + ob * tri_c + C * ab + early_reg + ra_reg + rb_reg
        pe_reg_total = P * pe_reg
        pe_lut_total = P * 2 * ab                              # adder + drain mux
        edge_lut = C * ab + ra_lut + rb_lut                    # output mux + replays
    has_mult = g.engine in ("dense", "sparse_nm")       # one ob x ob multiplier per PE
    lut_mult = 0 if dsp_multipliers(g, target) or not has_mult \
        else P * LUT_MULTIPLIER_LUT4[ob]
    edge_lut += sum(bram_blocks(lanes, bits, depth, target.family)[1]
                    for lanes, bits, depth in g.buffers())
    return {"pe_reg_bits": pe_reg_total, "edge_reg_bits": edge_reg,
            "pe_lut_bits": pe_lut_total,
            "edge_lut_bits": edge_lut, "dim_bits": g.dim_bits, "one": 1.0,
            "no_product_register": 1.0 - pr, "log2_pes": math.log2(P),
            "lut_multiplier_luts": float(lut_mult)} | engine_features(g)


__all__ = ["ENGINE_FEATURES", "FAMILY_ENGINE_FEATURES", "FAMILY_FEATURES", "FEATURES",
           "LUT_MULTIPLIER_LUT4", "engine_features", "engine_features_of", "features",
           "features_of"]
