"""The accelerator spec: frozen dataclasses validated on construction.

An :class:`Accelerator` is a PE array (rows x cols) running one dataflow, a PE
datapath, a per-PE register file, one or more global buffers (each serving some
operands), DRAM, a clock and an energy table. Build it in Python or load it from YAML
with :func:`sim.spec_io.load_accelerator`; variants via ``dataclasses.replace``.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field

from dataflows.dataflow import DATAFLOWS, OPERANDS
from dataflows.errors import CoforgeError
from sim.energy import EnergyTable, sram_access_pj

#: Largest array side coforge accepts (a 1024x1024 array is already far past any part).
MAX_ARRAY_SIDE = 1024


class SpecError(CoforgeError):
    """The accelerator spec breaks a rule; the message names the field and the fix."""


def _positive_int(where: str, value: object, limit: int | None = None) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise SpecError(f"{where} must be a positive integer, not {value!r}")
    if limit is not None and value > limit:
        raise SpecError(f"{where} must be <= {limit}, not {value!r}")


def _positive_number(where: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 \
            or math.isnan(value):
        raise SpecError(f"{where} must be a number > 0 (.inf for unlimited), not {value!r}")


@dataclass(frozen=True)
class PEConfig:
    """PE datapath: widest operand it multiplies, accumulator width, pipeline depth, mode.

    ``mode`` says what narrower operands buy (see :mod:`sim.datapath`): ``fixed`` -- a
    full-width MAC per cycle whatever the operand widths; ``bitfusion`` -- the multiplier
    decomposes (one 8x8 = four 4x4 = sixteen 2x2 products per cycle, summed);
    ``bitserial`` -- one operand is fed one bit per cycle (cycles scale with its width).
    """

    operand_bits: int = 8
    accumulator_bits: int = 32
    product_register: bool = False
    mode: str = "fixed"

    def __post_init__(self) -> None:
        if self.operand_bits not in (2, 4, 8, 16, 32):
            raise SpecError(f"pe.operand_bits must be one of [2, 4, 8, 16, 32], "
                            f"not {self.operand_bits!r}")
        _positive_int("pe.accumulator_bits", self.accumulator_bits, 64)
        if self.accumulator_bits < 2 * self.operand_bits:
            raise SpecError(f"pe.accumulator_bits ({self.accumulator_bits}) must be at least "
                            f"2 x operand_bits ({2 * self.operand_bits}) to hold one product")
        if not isinstance(self.product_register, bool):
            raise SpecError(f"pe.product_register must be true or false, "
                            f"not {self.product_register!r}")
        if self.mode not in PE_MODES:
            raise SpecError(f"pe.mode must be one of {list(PE_MODES)}, not {self.mode!r}")


#: PE datapath modes (:class:`PEConfig`).
PE_MODES = ("fixed", "bitfusion", "bitserial")
#: Sparse engine policies (:class:`SparseConfig`).
SPARSE_POLICIES = ("none", "gating", "skipping")
#: Compressed formats of sparse operands (:class:`SparseConfig`).
SPARSE_FORMATS = ("dense", "bitmap", "csr", "csc", "rle", "nm")


@dataclass(frozen=True)
class SparseConfig:
    """The sparse engine: what it does with zero operands and how they are stored.

    ``policy``: ``none`` (dense: zeros cost like anything else), ``gating`` (a zero
    operand skips the MAC's energy but not its cycle), ``skipping`` (zero work is
    removed from the schedule; load imbalance across PEs follows). ``operands``: which
    operands the engine exploits (``weight``, ``input``). ``format``: how those operands
    are stored on chip and in DRAM (metadata bits counted by :mod:`sim.sparse`).
    ``nm_n``/``nm_m``: the ``nm`` format keeps at most N nonzeros in every group of M
    consecutive reduction elements (2:4 by default). ``rle_run_bits``: width of the
    zero-run field of the ``rle`` format (a longer run costs extra entries).
    Invariant: ``policy == "none"`` implies ``format == "dense"``.
    """

    policy: str = "none"
    operands: tuple[str, ...] = ("weight",)
    format: str = "dense"
    nm_n: int = 2
    nm_m: int = 4
    rle_run_bits: int = 4

    def __post_init__(self) -> None:
        if self.policy not in SPARSE_POLICIES:
            raise SpecError(f"sparse.policy must be one of {list(SPARSE_POLICIES)}, "
                            f"not {self.policy!r}")
        if self.format not in SPARSE_FORMATS:
            raise SpecError(f"sparse.format must be one of {list(SPARSE_FORMATS)}, "
                            f"not {self.format!r}")
        object.__setattr__(self, "operands", tuple(self.operands))
        bad = [o for o in self.operands if o not in ("weight", "input")]
        if bad or not self.operands:
            raise SpecError(f"sparse.operands must be a non-empty list of 'weight' and "
                            f"'input', not {list(self.operands)!r}")
        if self.policy == "none" and self.format != "dense":
            raise SpecError(f"sparse.format {self.format!r} needs a sparse policy: set "
                            f"sparse.policy to 'gating' or 'skipping', or format to 'dense'")
        _positive_int("sparse.nm_m", self.nm_m, 64)
        _positive_int("sparse.nm_n", self.nm_n)
        if not 2 <= self.nm_m or self.nm_n >= self.nm_m:
            raise SpecError(f"sparse.nm_n must be below sparse.nm_m (N:M keeps N of every M, "
                            f"e.g. 2:4), not {self.nm_n}:{self.nm_m}")
        _positive_int("sparse.rle_run_bits", self.rle_run_bits, 32)


@dataclass(frozen=True)
class Buffer:
    """One storage element: capacity (bytes; 0 = unbounded, DRAM only), word width (bits),
    bandwidth (bytes/cycle; ``inf`` = never limits), double buffering, access energy.

    ``access_pj`` (per word access) defaults to :func:`sim.energy.sram_access_pj`
    of capacity and width; DRAM uses the energy table's pJ/bit instead.
    """

    name: str
    operands: tuple[str, ...] = OPERANDS
    capacity_bytes: int = 0
    word_bits: int = 64
    read_bytes_per_cycle: float = math.inf
    write_bytes_per_cycle: float = math.inf
    double_buffered: bool = False
    access_pj: float | None = None

    def __post_init__(self) -> None:
        where = f"buffer {self.name!r}"
        object.__setattr__(self, "operands", tuple(self.operands))
        bad = [op for op in self.operands if op not in OPERANDS]
        if bad or not self.operands or len(set(self.operands)) != len(self.operands):
            raise SpecError(f"{where}: operands must be distinct names from {list(OPERANDS)}, "
                            f"not {list(self.operands)}")
        if not isinstance(self.capacity_bytes, int) or self.capacity_bytes < 0:
            raise SpecError(f"{where}: capacity_bytes must be an integer >= 0, "
                            f"not {self.capacity_bytes!r}")
        _positive_int(f"{where}: word_bits", self.word_bits, 4096)
        _positive_number(f"{where}: read_bytes_per_cycle", self.read_bytes_per_cycle)
        _positive_number(f"{where}: write_bytes_per_cycle", self.write_bytes_per_cycle)
        if not isinstance(self.double_buffered, bool):
            raise SpecError(f"{where}: double_buffered must be true or false, "
                            f"not {self.double_buffered!r}")
        if self.access_pj is not None and (not isinstance(self.access_pj, (int, float))
                                           or self.access_pj < 0):
            raise SpecError(f"{where}: access_pj must be a number >= 0, not {self.access_pj!r}")

    @property
    def usable_bytes(self) -> float:
        """Capacity one tile may use: half when double-buffered; inf when unbounded."""
        if self.capacity_bytes == 0:
            return math.inf
        return self.capacity_bytes / (2 if self.double_buffered else 1)

    def pj_per_bit(self) -> float:
        """Energy per bit moved in or out (pJ/bit) for an on-chip buffer."""
        pj = self.access_pj if self.access_pj is not None else \
            sram_access_pj(self.capacity_bytes, self.word_bits)
        return pj / self.word_bits


#: Operator kinds of the vector unit (:class:`VectorUnit`, costed by :mod:`sim.vector`).
VECTOR_OPS: tuple[str, ...] = ("add", "mul", "relu", "gelu", "silu", "softmax", "layernorm",
                               "rmsnorm", "rope", "pool", "copy")
#: Default cycles per element per lane. Stated assumptions (no published unit behind
#: them): one pipelined lane does one simple operation per cycle -- ``add``, ``mul``,
#: ``relu`` (compare/select), ``copy`` (move) and ``pool`` (one compare or add per
#: input element of the window) take 1; ``rope`` 3 (x*cos, rot(x)*sin, add);
#: ``silu`` 3 (exp by table lookup, 1 + e, reciprocal-multiply); ``gelu`` 4 (tanh
#: form: cube, multiply-add, tanh lookup, multiply); ``softmax`` 4 (a max pass, an exp
#: + sum pass counted 2, a scale pass); ``layernorm`` 4 (mean, variance, normalise,
#: gamma/beta); ``rmsnorm`` 3 (sum of squares, normalise, gamma). Per-row reciprocals
#: and square roots are not counted (one per row, not per element).
DEFAULT_VECTOR_CYCLES: dict[str, float] = {
    "add": 1.0, "mul": 1.0, "relu": 1.0, "gelu": 4.0, "silu": 3.0, "softmax": 4.0,
    "layernorm": 4.0, "rmsnorm": 3.0, "rope": 3.0, "pool": 1.0, "copy": 1.0}
#: Default energy per element (pJ), from fp16 arithmetic at 45 nm (M. Horowitz, ISSCC
#: 2014: fp16 add 0.4 pJ, fp16 multiply 1.1 pJ; an exp = 2 multiplies + 1 add = 2.6;
#: a compare/select ~ an 8-bit add, 0.03; a move 0). add 0.4, mul 1.1, relu 0.03,
#: pool 0.4 (a compare/add), rope 2 mul + 1 add = 2.6, silu exp + add + reciprocal
#: (~ mul) + mul = 5.2, gelu cube (2 mul) + mul-add + tanh (~exp) + mul + add = 7.9,
#: softmax max 0.4 + exp 2.6 + sum 0.4 + scale 1.1 = 4.5, layernorm mean 0.4 + sub 0.4
#: + square-add 1.5 + normalise 1.1 + gamma/beta 1.5 = 4.9, rmsnorm square-add 1.5 +
#: normalise 1.1 + gamma 1.1 = 3.7.
DEFAULT_VECTOR_PJ: dict[str, float] = {
    "add": 0.4, "mul": 1.1, "relu": 0.03, "gelu": 7.9, "silu": 5.2, "softmax": 4.5,
    "layernorm": 4.9, "rmsnorm": 3.7, "rope": 2.6, "pool": 0.4, "copy": 0.0}


@dataclass(frozen=True)
class VectorUnit:
    """The vector unit that runs non-GEMM operators (:mod:`sim.vector`): ``lanes``
    elements per cycle, ``cycles_per_element[op]`` cycles per element per lane,
    ``energy_pj_per_op[op]`` pJ per element. It reads its operands from the GLB holding
    ``input`` and writes results to the GLB holding ``output``, at those buffers'
    bandwidth and energy per bit. Tables given partially keep the defaults
    (:data:`DEFAULT_VECTOR_CYCLES`, :data:`DEFAULT_VECTOR_PJ`) for the other kinds."""

    lanes: int = 16
    cycles_per_element: dict[str, float] = field(
        default_factory=lambda: dict(DEFAULT_VECTOR_CYCLES))
    energy_pj_per_op: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_VECTOR_PJ))

    def __post_init__(self) -> None:
        _positive_int("vector.lanes", self.lanes, 65536)
        for table, default in (("cycles_per_element", DEFAULT_VECTOR_CYCLES),
                               ("energy_pj_per_op", DEFAULT_VECTOR_PJ)):
            given = getattr(self, table)
            if not isinstance(given, dict):
                raise SpecError(f"vector.{table} must be a mapping of operator kinds "
                                f"{list(VECTOR_OPS)} to numbers, not {given!r}")
            bad = [k for k in given if k not in VECTOR_OPS]
            if bad:
                raise SpecError(f"vector.{table}: unknown operator kind {bad[0]!r}; "
                                f"allowed: {list(VECTOR_OPS)}")
            merged = dict(default) | given
            for op, v in merged.items():
                ok = not isinstance(v, bool) and isinstance(v, (int, float)) \
                    and math.isfinite(v) and (v > 0 if table == "cycles_per_element"
                                              else v >= 0)
                if not ok:
                    rule = "> 0" if table == "cycles_per_element" else ">= 0"
                    raise SpecError(f"vector.{table}.{op} must be a finite number {rule}, "
                                    f"not {v!r}")
            object.__setattr__(self, table, {op: float(merged[op]) for op in VECTOR_OPS})


@dataclass(frozen=True)
class Accelerator:
    """A complete accelerator. Invariant: every operand is held by exactly one GLB."""

    name: str
    rows: int
    cols: int
    dataflow: str = "ws"
    clock_mhz: float = 200.0
    pe: PEConfig = field(default_factory=PEConfig)
    rf: Buffer = field(default_factory=lambda: Buffer("rf", capacity_bytes=4, word_bits=8))
    glb: tuple[Buffer, ...] = field(default_factory=lambda: (
        Buffer("glb", capacity_bytes=64 * 1024, word_bits=64),))
    dram: Buffer = field(default_factory=lambda: Buffer("dram", word_bits=64))
    energy: EnergyTable = field(default_factory=EnergyTable)
    description: str = ""
    sparse: SparseConfig = field(default_factory=SparseConfig)
    vector: VectorUnit | None = None
    """The vector unit for non-GEMM operators; None: they are not costed (and reports
    say so, :data:`sim.vector.NO_VECTOR_UNIT`)."""

    def __post_init__(self) -> None:
        _positive_int("array.rows", self.rows, MAX_ARRAY_SIDE)
        _positive_int("array.cols", self.cols, MAX_ARRAY_SIDE)
        if self.dataflow not in DATAFLOWS:
            raise SpecError(f"dataflow must be one of {sorted(DATAFLOWS)}, "
                            f"not {self.dataflow!r}")
        _positive_number("clock_mhz", self.clock_mhz)
        if self.clock_mhz == math.inf:
            raise SpecError("clock_mhz must be finite")
        object.__setattr__(self, "glb", tuple(self.glb))
        if self.rf.capacity_bytes == 0:
            raise SpecError("rf.capacity_bytes must be > 0 (bytes per PE)")
        for buf in self.glb:
            if buf.capacity_bytes == 0:
                raise SpecError(f"glb buffer {buf.name!r}: capacity_bytes must be > 0")
        for op in OPERANDS:
            holders = [b.name for b in self.glb if op in b.operands]
            if len(holders) != 1:
                raise SpecError(f"glb: operand {op!r} must be held by exactly one buffer, "
                                f"found {holders or 'none'}")
        names = [b.name for b in self.glb]
        if len(set(names)) != len(names):
            raise SpecError(f"glb: buffer names must be distinct, got {names}")
        if self.vector is not None and not isinstance(self.vector, VectorUnit):
            raise SpecError(f"vector must be a VectorUnit or None, not {self.vector!r}")

    def glb_for(self, operand: str) -> Buffer:
        """The global buffer that holds ``operand``."""
        return next(b for b in self.glb if operand in b.operands)

    @property
    def pes(self) -> int:
        """Number of processing elements."""
        return self.rows * self.cols

    @property
    def peak_macs_per_cycle(self) -> int:
        """One MAC per PE per cycle."""
        return self.rows * self.cols

    def to_dict(self) -> dict[str, object]:
        """Plain-data form (the YAML schema; ``inf`` stays a float). Without a vector unit
        the ``vector`` key is left out, so the hashes of specs without one do not change."""
        d = asdict(self)
        if self.vector is None:
            del d["vector"]
        return d

    @property
    def spec_hash(self) -> str:
        """First 16 hex digits of the SHA-256 of the canonical JSON of the spec."""
        text = json.dumps(self.to_dict(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]
