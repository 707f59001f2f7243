"""What the GEMM engine generator builds on an FPGA part: the supported targets, the
engine's geometry from a spec (:func:`geometry`, the single source ``hdl.params`` uses),
its pins, and the exact rules for DSP blocks and block RAMs (see :mod:`sim.fpga_model`
for how they were checked against the calibration sweep). Counts are bits, words, pins
and blocks; no fitted number lives here."""

from __future__ import annotations

from dataclasses import dataclass

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


__all__ = ["CYCLE_COUNTER_BITS", "ENGINE_KINDS", "EngineGeometry", "FpgaFitError",
           "FpgaTarget", "MAX_DEPTH", "MAX_RTL_SIDE", "RTL_DATAFLOWS", "RTL_OPERAND_BITS",
           "TARGETS", "b_payload_bits", "bare_pins", "bram_blocks", "brams_needed",
           "dsp_multipliers", "dsps_needed", "engine_kind", "extra_port_bits", "geometry",
           "get_target", "narrow_pins"]
