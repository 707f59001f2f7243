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

Calibration: ``tests/data/fpga_baselines/<tool versions>/sweep.json`` (run by
``python -m hdl.synth_sweep``); :func:`fit` reproduces :data:`COEFFICIENTS` from its
training configurations, and ``tests/sim/test_fpga_model.py`` checks the held-out ones.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from dataflows.errors import CoforgeError
from sim.spec import Accelerator

# -- what the RTL generator builds (hdl.params imports these; sim must not import hdl) -----
#: Dataflows the generator implements.
RTL_DATAFLOWS: tuple[str, ...] = ("ws", "os")
#: Operand widths the PE supports (signed integers).
RTL_OPERAND_BITS: tuple[int, ...] = (4, 8, 16)
#: Largest array side the generator accepts (simulation and synthesis stay tractable).
MAX_RTL_SIDE = 64
#: Deepest buffer generated (words); larger spec capacities are clamped to it.
MAX_DEPTH = 1 << 16
#: Width of the busy-cycle counter port.
CYCLE_COUNTER_BITS = 32


class FpgaFitError(CoforgeError):
    """The engine for this spec cannot be built on this FPGA; the message has the numbers."""


@dataclass(frozen=True)
class FpgaTarget:
    """One FPGA part in one package: capacities and the Fmax constraint used to measure."""

    name: str
    family: str               # "ecp5" | "ice40": Yosys/nextpnr flow and model coefficients
    device: str               # vendor part name
    device_flag: str          # nextpnr device option (without --)
    package: str
    speed: str                # speed grade ("" where the tool has none)
    io_pins: int              # user I/O of the package
    luts: int                 # LUT4s (ECP5) / logic cells (iCE40)
    ffs: int
    dsps: int
    dsp_name: str
    brams: int
    bram_name: str
    freq_mhz: float           # clock constraint given to nextpnr

    def __post_init__(self) -> None:
        if self.family not in ("ecp5", "ice40"):
            raise FpgaFitError(f"target {self.name!r}: family must be 'ecp5' or 'ice40', "
                               f"not {self.family!r}")


#: The supported targets (Lattice data sheets: ECP5 family DS1044, iCE40 UltraPlus DS1056).
TARGETS: dict[str, FpgaTarget] = {t.name: t for t in (
    FpgaTarget("ecp5-85k", "ecp5", "LFE5U-85F", "85k", "CABGA381", "6", 205, 83640, 83640,
               156, "MULT18X18D", 208, "DP16KD", 150.0),
    FpgaTarget("ecp5-45k", "ecp5", "LFE5U-45F", "45k", "CABGA381", "6", 203, 43848, 43848,
               72, "MULT18X18D", 108, "DP16KD", 150.0),
    FpgaTarget("ice40-up5k", "ice40", "iCE40UP5K", "up5k", "sg48", "", 39, 5280, 5280,
               8, "SB_MAC16", 30, "SB_RAM40_4K", 50.0),
)}


def get_target(name: str) -> FpgaTarget:
    """The target called ``name``; one-line error listing the valid names otherwise."""
    try:
        return TARGETS[name]
    except (KeyError, TypeError):
        raise FpgaFitError(f"target must be one of {sorted(TARGETS)}, not {name!r}") from None


# -- the engine's geometry, from the spec -------------------------------------------------
@dataclass(frozen=True)
class EngineGeometry:
    """Sizes of the generated engine (``hdl.params.HdlParams`` is this, validated)."""

    dataflow: str
    rows: int
    cols: int
    operand_bits: int
    accumulator_bits: int
    product_register: bool
    depth_a: int
    depth_b: int
    depth_o: int
    #: engine kind (:data:`ENGINE_KINDS`): which PE array the generator builds.
    engine: str = "dense"
    #: N:M of the ``sparse_nm`` engine (N kept of every M reduction elements); 0 otherwise.
    nm_n: int = 0
    nm_m: int = 0

    @property
    def pes(self) -> int:
        return self.rows * self.cols

    @property
    def dim_bits(self) -> int:
        """Width of the runtime GEMM-size ports ``m``, ``k``, ``n`` (and their counters)."""
        biggest = max(self.depth_a, self.depth_b, self.depth_o) * max(self.rows, self.cols)
        return biggest.bit_length() + 1

    def buffers(self) -> tuple[tuple[int, int, int], ...]:
        """(write-enable lanes, lane bits, depth) of the A, B and O buffers.

        The loaders write A and B one lane (operand) at a time; the controller writes a
        whole O word at once (one enable), so O counts as a single lane."""
        ob, ab = self.operand_bits, self.accumulator_bits
        if self.engine == "sparse_nm":
            # hdl/sparse_nm.py: an A word is the R * M / N inputs of one fold, a B lane
            # one slot (value and its log2(M)-bit index). An upper bound: Yosys packs
            # the wide A buffer tighter than one enable per lane (measured: 14 DP16KD
            # where this rule counts 16 (4x4 int8) and 18 (4x8 int4))
            ib = (max(self.nm_m, 1) - 1).bit_length()
            return ((self.rows * self.nm_m // max(self.nm_n, 1), ob, self.depth_a),
                    (self.cols, ob + ib, self.depth_b), (1, self.cols * ab, self.depth_o))
        if self.engine == "bitfusion":
            # hdl/bitfusion.py FusedBuffer: a lane is one fused word of W = ob^2 / 2 bits,
            # written in 2-bit granules; the depth holds the dense depth's bytes
            w = ob * ob // 2
            scale = w // ob
            return ((self.rows * w // 2, 2, max(1, self.depth_a // scale)),
                    (self.cols * w // 2, 2, max(1, self.depth_b // scale)),
                    (1, self.cols * ab, self.depth_o))
        return ((self.rows, ob, self.depth_a), (self.cols, ob, self.depth_b),
                (1, self.cols * ab, self.depth_o))


#: Engine kinds the generator knows: ``dense`` (fixed-width PEs; ``pe.mode: fixed``,
#: sparse policy ``none`` or ``gating`` -- gating changes energy, not cycles),
#: ``bitserial`` / ``bitfusion`` (``pe.mode``), ``sparse_nm`` (``ws``, ``sparse.policy:
#: skipping``, ``format: nm``, ``operands: [weight]``: weights stored N:M-compressed).
ENGINE_KINDS = ("dense", "bitserial", "bitfusion", "sparse_nm")


def engine_kind(accel: Accelerator) -> str:
    """The engine kind ``accel`` asks for; :class:`FpgaFitError` naming the field if the
    generator has no such engine (e.g. skipping of inputs, or a non-N:M format)."""
    where = f"accelerator {accel.name!r}"
    sp = accel.sparse
    if sp.policy == "skipping":
        if (sp.format != "nm" or tuple(sp.operands) != ("weight",)
                or accel.dataflow != "ws"):
            raise FpgaFitError(f"{where}: the RTL's only skipping engine is N:M weights on "
                               f"ws (sparse.format: nm, sparse.operands: [weight], "
                               f"dataflow: ws), not format {sp.format!r}, operands "
                               f"{list(sp.operands)}, dataflow {accel.dataflow!r}")
        if accel.pe.mode != "fixed":
            raise FpgaFitError(f"{where}: a sparse engine needs pe.mode: fixed for RTL, "
                               f"not {accel.pe.mode!r}")
        return "sparse_nm"
    return "dense" if accel.pe.mode == "fixed" else accel.pe.mode


def geometry(accel: Accelerator) -> EngineGeometry:
    """The engine ``hdl`` generates for ``accel``; :class:`FpgaFitError` if it cannot.

    The single source of what the RTL generator can build: ``hdl.params.HdlParams
    .from_accelerator`` is built from this geometry (and re-raises its errors)."""
    where = f"accelerator {accel.name!r}"
    kind = engine_kind(accel)
    if accel.dataflow not in RTL_DATAFLOWS:
        raise FpgaFitError(f"{where}: dataflow must be one of {list(RTL_DATAFLOWS)} for RTL, "
                           f"not {accel.dataflow!r}")
    if accel.pe.operand_bits not in RTL_OPERAND_BITS:
        raise FpgaFitError(f"{where}: pe.operand_bits must be one of {list(RTL_OPERAND_BITS)} "
                           f"for RTL, not {accel.pe.operand_bits!r}")
    for side in ("rows", "cols"):
        if getattr(accel, side) > MAX_RTL_SIDE:
            raise FpgaFitError(f"{where}: array {side} must be <= {MAX_RTL_SIDE} for RTL, "
                               f"not {getattr(accel, side)}")
    ob, ab = accel.pe.operand_bits, accel.pe.accumulator_bits
    word_bits = {"input": accel.rows * ob, "weight": accel.cols * ob,
                 "output": accel.cols * ab}
    depth = {}
    for op, bits in word_bits.items():
        buf = accel.glb_for(op)
        share_bytes = buf.usable_bytes / len(buf.operands)
        words = int(share_bytes * 8 // bits)
        if words < 1:
            raise FpgaFitError(f"{where}: glb buffer {buf.name!r} gives the {op} buffer "
                               f"{int(share_bytes)} B, less than one {bits}-bit word "
                               f"(one array {'row' if op == 'input' else 'column'} set)")
        depth[op] = min(words, MAX_DEPTH)
    nm = (accel.sparse.nm_n, accel.sparse.nm_m) if kind == "sparse_nm" else (0, 0)
    return EngineGeometry(accel.dataflow, accel.rows, accel.cols, ob, ab,
                          accel.pe.product_register, depth["input"], depth["weight"],
                          depth["output"], kind, *nm)


def extra_port_bits(g: EngineGeometry) -> int:
    """Bits of the static input ports an engine kind adds to the dense top's: the
    bit-serial input width ``abits`` (hdl/bitserial.py), the bit-fusion ``abits`` and
    ``wbits`` (hdl/bitfusion.py), each ``operand_bits.bit_length()`` wide."""
    width = g.operand_bits.bit_length()
    return {"bitserial": width, "bitfusion": 2 * width}.get(g.engine, 0)


def b_payload_bits(g: EngineGeometry) -> int:
    """Width of the ``b`` stream's payload: an operand, or for the N:M engine a slot
    (value and its ``log2 M``-bit index in the group, hdl/sparse_nm.py)."""
    if g.engine == "sparse_nm":
        return g.operand_bits + (max(g.nm_m, 1) - 1).bit_length()
    return g.operand_bits


def bare_pins(g: EngineGeometry) -> int:
    """I/O pins of the bare top (streams, sizes, start/busy/done, cycles, clk, rst, and
    the engine kind's static inputs)."""
    return 2 + (g.operand_bits + 2) + (b_payload_bits(g) + 2) + (g.accumulator_bits + 2) \
        + 3 * g.dim_bits + 4 + CYCLE_COUNTER_BITS + extra_port_bits(g)


def narrow_pins(g: EngineGeometry) -> int:
    """I/O pins of the pin-reducing wrapper (hdl.synth_wrapper.NarrowTop): its input
    beat carries the wider of the ``a`` and ``b`` payloads."""
    return b_payload_bits(g) + 22


# -- exact rules: DSP and block RAM ---------------------------------------------------------
def dsp_multipliers(g: EngineGeometry, target: FpgaTarget) -> bool:
    """Whether synthesis puts the PE multipliers in DSP blocks (else LUTs). The
    bit-serial PE has no multiplier (a shift-add adder forms the product) and the
    bit-fusion PE's 2-bit bricks are LUT logic (Yosys maps no product that narrow)."""
    if g.engine in ("bitserial", "bitfusion"):
        return False
    if target.family == "ecp5":
        return g.operand_bits <= 18
    # synth_ice40 -dsp maps products of >= 11 bits, and all of them or none
    return 2 * g.operand_bits >= 11 and g.pes <= target.dsps


def dsps_needed(g: EngineGeometry, target: FpgaTarget) -> int:
    """DSP blocks the engine occupies (one per PE multiplier that goes to a DSP)."""
    return g.pes if dsp_multipliers(g, target) else 0


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def bram_blocks(lanes: int, lane_bits: int, depth: int, family: str) -> tuple[int, int]:
    """(blocks, cascade-mux bits) of one lane-granular RAM on ``family``'s block RAM.

    The cheapest geometry wins (ties: the shallower one); a RAM deeper than one block
    needs a read mux over the cascaded blocks (``word bits x (cascade - 1)``)."""
    options: list[tuple[int, int]] = []                    # (blocks, blocks deep)
    if family == "ecp5":
        nbytes = lanes * _ceil(lane_bits, 9)               # 9-bit byte enables
        for per_block, d in ((4, 512), (2, 1024), (1, 2048)):
            options.append((_ceil(nbytes, per_block) * _ceil(depth, d), _ceil(depth, d)))
        narrow = ((4, 4096), (2, 8192), (1, 16384))
    else:
        # the 256x16 write port has a per-bit mask; the read port may be narrower and
        # deeper (Yosys maps mixed-width ports: write 256x16 masked, read 512x8, ...)
        bits = lanes * lane_bits
        for width, d in ((16, 256), (8, 512), (4, 1024), (2, 2048)):
            options.append((_ceil(bits, width) * _ceil(depth, d), _ceil(depth, d)))
        narrow = ((8, 512), (4, 1024), (2, 2048))
    for width, d in narrow:                                 # one write enable per block
        options.append((lanes * _ceil(lane_bits, width) * _ceil(depth, d), _ceil(depth, d)))
    blocks, deep = min(options)
    return blocks, lanes * lane_bits * (deep - 1)


def brams_needed(g: EngineGeometry, target: FpgaTarget) -> int:
    return sum(bram_blocks(lanes, bits, depth, target.family)[0]
               for lanes, bits, depth in g.buffers())


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


#: Fitted coefficients per family and metric, in FEATURES order (see :func:`fit`).
#: Calibration: tests/data/fpga_baselines/<CALIBRATION[family]>/sweep.json, train split.
COEFFICIENTS: dict[str, dict[str, tuple[float, ...]]] = {
    "ecp5": {
        "ff": (0.919975, 0.778626, 22.702, 162.519),
        "lut": (1.11071, 0.566478, 48.7718, 1109.21),
        "period_ns": (5.9087, 1.7805, 0.846808),
    },
    "ice40": {
        "ff": (0.395222, 1.27981, -27.6758, 903.368),
        "lut": (1.33426, 1.51411, -3.45404, 1350.66),
        "period_ns": (29.3619,),
    },
}

#: Fitted extra coefficients per family, engine kind and metric, in ENGINE_FEATURES
#: order (see :func:`fit_engines`); a kind missing here has no calibrated model.
ENGINE_COEFFICIENTS: dict[str, dict[str, dict[str, tuple[float, ...]]]] = {
    "ecp5": {
        "bitfusion": {
            "ff": (1.07363, -16.448),
            "lut": (6.48744, -524.675),
            "period_ns": (-6.73572, 4.6036, 2.11347),
        },
        "bitserial": {
            "ff": (0.62429, 25.5947),
            "lut": (4.57909, 0.938021, -0.197086, -377.769),
            "period_ns": (-0.406998, 2.15543),
        },
        "sparse_nm": {
            "ff": (0.434377, 11.572),
            "lut": (1.29544, -165.948),
            "period_ns": (-0.545789,),
        },
    },
}

_SWEEP_KEY = "yosys-0.70.0.0.post1259_nextpnr-0.11.1.0.post826"
CALIBRATION: dict[str, str] = {"ecp5": _SWEEP_KEY, "ice40": _SWEEP_KEY}


@dataclass(frozen=True)
class FitPlan:
    """How the engine goes onto the part (decided before synthesis)."""

    top: str                  # "bare" or "narrow" (the pin-reducing wrapper)
    io_pins: int
    dsp_multipliers: bool
    dsps: int
    brams: int
    lut_predicted: int


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
    return base + float(sum(c * feats[name]
                            for c, name in zip(extra, ENGINE_FEATURES[engine][metric])))


def calibrated(g: EngineGeometry, family: str) -> bool:
    """Whether the LUT/FF/Fmax model of ``family`` covers ``g``'s engine kind."""
    return family in COEFFICIENTS and (
        g.engine == "dense" or g.engine in ENGINE_COEFFICIENTS.get(family, {}))


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
        why = "" if in_dsp else (f" ({g.pes} {mult} multipliers in LUTs: the part's "
                                 f"{tgt.dsps} {tgt.dsp_name} cannot take all of them)")
        raise FpgaFitError(f"{where}: predicted {lut} LUTs{why}, the part has {tgt.luts}")
    return FitPlan(top=top, io_pins=pins, dsp_multipliers=in_dsp, dsps=dsps_needed(g, tgt),
                   brams=brams, lut_predicted=lut)


# -- fitting ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Measurement:
    """One synthesized configuration: its spec and what the tools reported."""

    accel: Accelerator
    target: str
    lut: int
    ff: int
    dsp: int
    bram: int
    fmax_mhz: float


def _targets_of(rows: Sequence[Measurement]) -> list[FpgaTarget]:
    return [get_target(r.target) for r in rows]


def fit(rows: Iterable[Measurement]) -> dict[str, dict[str, tuple[float, ...]]]:
    """Least-squares coefficients per family and metric from measured configurations.

    LUT and FF are fitted in relative terms (each row weighted by 1/measured), so small
    and large configurations count alike -- the acceptance test is a relative error.
    """
    rows = [r for r in rows if engine_kind(r.accel) == "dense"]   # other kinds: fit_engines
    out: dict[str, dict[str, tuple[float, ...]]] = {}
    for family in sorted({get_target(r.target).family for r in rows}):
        mine = [r for r in rows if get_target(r.target).family == family]
        feats = [features(geometry(r.accel), t) for r, t in zip(mine, _targets_of(mine))]
        out[family] = {}
        for metric in FEATURES:
            x = np.array([[f[n] for n in features_of(family, metric)] for f in feats],
                         dtype=float)
            if metric == "period_ns":
                meas = np.array([1000.0 / r.fmax_mhz for r in mine])
            else:
                meas = np.array([float(getattr(r, metric)) for r in mine])
            y = meas.copy()
            if metric == "lut":           # the exact LUT-multiplier term is not fitted
                y -= np.array([f["lut_multiplier_luts"] for f in feats])
            w = 1.0 / meas
            coef, *_ = np.linalg.lstsq(x * w[:, None], y * w, rcond=None)
            out[family][metric] = tuple(float(f"{c:.6g}") for c in coef)
    return out


def fit_engines(rows: Iterable[Measurement],
                base: Mapping[str, Mapping[str, tuple[float, ...]]] | None = None,
                ) -> dict[str, dict[str, dict[str, tuple[float, ...]]]]:
    """Least-squares extra coefficients (:data:`ENGINE_FEATURES`) per family and
    non-dense kind: what the dense model (``base``, default :data:`COEFFICIENTS`) leaves
    of each measurement of that kind, weighted like :func:`fit` (LUT/FF relative)."""
    base = COEFFICIENTS if base is None else base
    out: dict[str, dict[str, dict[str, tuple[float, ...]]]] = {}
    groups: dict[tuple[str, str], list[Measurement]] = {}
    for r in rows:
        kind = engine_kind(r.accel)
        if kind != "dense":
            groups.setdefault((get_target(r.target).family, kind), []).append(r)
    for (family, kind), mine in sorted(groups.items()):
        feats = [features(geometry(r.accel), t) for r, t in zip(mine, _targets_of(mine))]
        coefs: dict[str, tuple[float, ...]] = {}
        for metric, names in ENGINE_FEATURES[kind].items():
            if metric == "period_ns":
                meas = np.array([1000.0 / r.fmax_mhz for r in mine])
            else:
                meas = np.array([float(getattr(r, metric)) for r in mine])
            fixed = np.array([f["lut_multiplier_luts"] if metric == "lut" else 0.0
                              for f in feats])
            dense = np.array([sum(c * f[n] for c, n in
                                  zip(base[family][metric], features_of(family, metric)))
                              for f in feats])
            x = np.array([[f[n] for n in names] for f in feats], dtype=float)
            w = 1.0 / meas
            coef, *_ = np.linalg.lstsq(x * w[:, None], (meas - fixed - dense) * w, rcond=None)
            coefs[metric] = tuple(float(f"{c:.6g}") for c in coef)
        out.setdefault(family, {})[kind] = coefs
    return out


__all__ = ["CALIBRATION", "COEFFICIENTS", "EngineGeometry", "FEATURES", "FitPlan",
           "FpgaEstimate", "FpgaFitError", "FpgaTarget", "Measurement", "TARGETS",
           "bare_pins", "bram_blocks", "brams_needed", "check_fit", "dsp_multipliers",
           "dsps_needed", "estimate", "features", "fit", "geometry", "get_target",
           "ENGINE_COEFFICIENTS", "ENGINE_FEATURES", "b_payload_bits", "calibrated",
           "engine_features", "extra_port_bits", "fit_engines",
           "narrow_pins"]
