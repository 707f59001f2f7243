"""The YAML schema of an accelerator spec as pydantic v2 input models.

Each section of the spec file is a model with ``extra="forbid"`` (an unknown key is an
error listing the allowed keys) and strictly typed fields (no ``"8"`` for 8, no ``1``
for ``true``). :func:`validate_spec` checks a parsed YAML mapping against
:class:`SpecModel` and turns pydantic's errors into coforge's one-line
:class:`~sim.spec.SpecError` (the wording is :mod:`sim.schema`'s, shared by every file
kind): ``<key path> must be <rule>, not <value>``,
``<section>: unknown key 'x'; allowed keys: [...]``, ``missing required key 'name'``
-- the path written by :func:`sim.yaml_io.key_path` (``glb[1].capacity_bytes``).

What lives where: these models own the *shape* of the file (keys, types, finiteness
and the numeric ranges that keep derived counts finite); the frozen dataclasses of
:mod:`sim.spec` own the *rules of a design* (rows <= 1024, an operand held by exactly
one GLB, ...) and stay the runtime type -- :func:`sim.spec_io.accelerator_from_dict`
validates with :func:`validate_spec`, then builds them. Values keep the Python type the
YAML gave (an integer ``clock_mhz: 200`` stays ``200``) except buffer bandwidths and
``access_pj``, which become floats, so spec hashes do not depend on this module.

Numbers: integers <= 2**53; no NaN; infinity only for a bandwidth (``.inf``: unlimited);
``clock_mhz`` in [0.001, 1e6] MHz; bandwidths >= 0.001 bytes/cycle; energies <= 1e6 pJ.
A value <= 0 passes here and gets the spec's own rule (e.g. "a number > 0").
"""

from __future__ import annotations

import math
from typing import Annotated, Literal, Optional

from pydantic import BeforeValidator, Field, PlainValidator, StrictBool, StrictStr

from dataflows.dataflow import DATAFLOWS, OPERANDS
from sim.energy import DEFAULT_ADD_PJ_PER_BIT, DEFAULT_DRAM_PJ_PER_BIT
from sim.schema import MAX_INT, Int, Section, fail, number, validate
from sim.schema import rule as _rule
from sim.spec import PE_MODES, SPARSE_FORMATS, SPARSE_POLICIES, VECTOR_OPS, SpecError

#: Bounds that keep every derived count finite (cycles and energies stay far below
#: float and int64 overflow): bandwidths, clock and per-operation energies
#: (integers: :data:`sim.schema.MAX_INT`).
MIN_BYTES_PER_CYCLE = 1e-3
CLOCK_MHZ_RANGE = (1e-3, 1e6)
MAX_PJ = 1e6


# -- scalar types ------------------------------------------------------------------------
def _clock(value: object) -> float:
    number()(value)
    if value > 0 and not CLOCK_MHZ_RANGE[0] <= value <= CLOCK_MHZ_RANGE[1]:  # type: ignore
        raise fail(f"must be between {CLOCK_MHZ_RANGE[0]:g} and {CLOCK_MHZ_RANGE[1]:g} "
                   f"MHz, not {value!r}")
    return value                                   # type: ignore[return-value]


#: Energies (pJ), kept as given.
Pj = Annotated[float, PlainValidator(number(high=MAX_PJ))]
#: A buffer's per-access energy (pJ), as a float.
AccessPj = Annotated[float, PlainValidator(number(high=MAX_PJ, as_float=True))]
#: Bytes per cycle, as a float; ``.inf``: never limits.
Bandwidth = Annotated[float, PlainValidator(number(unlimited=True, low=MIN_BYTES_PER_CYCLE,
                                                   as_float=True))]
ClockMhz = Annotated[float, PlainValidator(_clock)]


def _as_list(value: object) -> object:
    return [value] if isinstance(value, dict) else value


_Section = Section

# -- the sections ------------------------------------------------------------------------
class ArrayModel(_Section):
    """``array``: the PE array."""

    rows: Int = _rule("a positive integer", "PE rows (1..1024)")
    cols: Int = _rule("a positive integer", "PE columns (1..1024)")


class PEModel(_Section):
    """``pe``: the PE datapath (:class:`sim.spec.PEConfig`)."""

    operand_bits: Int = _rule("an integer", "widest operand multiplied (2, 4, 8, 16, 32)",
                              default=8)
    accumulator_bits: Int = _rule("an integer", "accumulator width, >= 2 x operand_bits",
                                  default=32)
    product_register: StrictBool = _rule("true or false", "a pipeline register after the "
                                         "multiplier", default=False)
    mode: Literal[PE_MODES] = Field("fixed", description="what narrower operands buy "  # type: ignore[valid-type]
                                    "(sim/datapath.py)")


class BufferModel(_Section):
    """``rf``, each ``glb`` entry and ``dram``: one storage element
    (:class:`sim.spec.Buffer`). Keys left out keep the section's defaults, which differ
    per section (the defaults of :class:`sim.spec.Accelerator`'s ``rf``, ``glb`` and
    ``dram``); the defaults written here are :class:`sim.spec.Buffer`'s."""

    name: StrictStr = _rule("a string", "buffer name (GLBs default to glb0, glb1, ...)",
                            default="")
    operands: list[StrictStr] = _rule("a list of names", "operands held: weight, input, "
                                      "output", default_factory=lambda: list(OPERANDS))
    capacity_bytes: Int = _rule("an integer", "bytes (0 = unbounded, DRAM only)", default=0)
    word_bits: Int = _rule("an integer", "access width in bits", default=64)
    read_bytes_per_cycle: Bandwidth = _rule("a number", "bytes/cycle, .inf = unlimited",
                                            default=math.inf)
    write_bytes_per_cycle: Bandwidth = _rule("a number", "bytes/cycle, .inf = unlimited",
                                             default=math.inf)
    double_buffered: StrictBool = _rule("true or false", "half the capacity per tile",
                                        default=False)
    access_pj: Optional[AccessPj] = _rule("a number", "pJ per word access (default: "  # noqa: UP045
                                          "sim.energy.sram_access_pj)", default=None)


class EnergyModel(_Section):
    """``energy``: the energy table (:class:`sim.energy.EnergyTable`); a partial
    ``mult_pj`` keeps the default widths."""

    mult_pj: dict[Int, Pj] = _rule("a mapping of keys to values",
                                   "operand bits -> pJ per multiply", default_factory=dict)
    add_pj_per_bit: Pj = _rule("a number", "pJ per accumulator bit added",
                               default=DEFAULT_ADD_PJ_PER_BIT)
    dram_pj_per_bit: Pj = _rule("a number", "pJ per DRAM bit moved",
                                default=DEFAULT_DRAM_PJ_PER_BIT)


class SparseModel(_Section):
    """``sparse``: the sparse engine (:class:`sim.spec.SparseConfig`)."""

    policy: Literal[SPARSE_POLICIES] = Field("none", description="none | gating | "  # type: ignore[valid-type]
                                             "skipping")
    operands: list[StrictStr] = _rule("a list of names", "operands exploited (weight, "
                                      "input)", default_factory=lambda: ["weight"])
    format: Literal[SPARSE_FORMATS] = Field("dense", description="storage format")  # type: ignore[valid-type]
    nm_n: Int = _rule("an integer", "N of the N:M format", default=2)
    nm_m: Int = _rule("an integer", "M of the N:M format", default=4)
    rle_run_bits: Int = _rule("an integer", "zero-run field width of rle", default=4)


_VectorTable = dict[Literal[VECTOR_OPS], Pj]  # type: ignore[valid-type]


class VectorModel(_Section):
    """``vector``: the vector unit for non-GEMM operators (:class:`sim.spec.VectorUnit`)."""

    lanes: Int = _rule("an integer", "elements per cycle", default=16)
    cycles_per_element: _VectorTable = _rule("a mapping of keys to values", "operator kind "
                                             "-> cycles per element per lane",
                                             default_factory=dict)
    energy_pj_per_op: _VectorTable = _rule("a mapping of keys to values", "operator kind "
                                           "-> pJ per element", default_factory=dict)


class SpecModel(_Section):
    """A whole spec file (schema in :mod:`sim.spec_io`); only ``name`` and ``array`` are
    required."""

    name: StrictStr = _rule("a string", "spec name")
    description: StrictStr = _rule("a string", "free text", default="")
    dataflow: Literal[tuple(sorted(DATAFLOWS))] = Field(  # type: ignore[valid-type]
        "ws", description="which operand stays in the PE")
    array: ArrayModel = _rule("a mapping of keys to values", "rows x cols")
    clock_mhz: ClockMhz = _rule("a number of MHz > 0", "clock (MHz)", default=200.0)
    pe: PEModel = Field(default_factory=PEModel)
    rf: BufferModel = Field(default_factory=BufferModel, description="per-PE register file")
    glb: Annotated[list[BufferModel], BeforeValidator(_as_list)] = _rule(
        "a buffer mapping or a non-empty list of them", "global buffers", min_length=1,
        default_factory=list)
    dram: BufferModel = Field(default_factory=BufferModel)
    energy: EnergyModel = Field(default_factory=EnergyModel)
    sparse: SparseModel = Field(default_factory=SparseModel)
    vector: VectorModel = Field(None, description="vector unit; absent: non-GEMM "  # type: ignore[assignment]
                                "operators are not costed")


# -- errors ------------------------------------------------------------------------------
def validate_spec(data: object) -> SpecModel:
    """``data`` (parsed YAML) as a :class:`SpecModel`, or one :class:`SpecError` line for
    the first problem (unknown keys first), with ``(+N more)`` when there are others
    (wording: :func:`sim.schema.validate`)."""
    return validate(SpecModel, data, SpecError, top="the spec")


__all__ = ["CLOCK_MHZ_RANGE", "MAX_INT", "MAX_PJ", "MIN_BYTES_PER_CYCLE", "ArrayModel",
           "BufferModel", "EnergyModel", "PEModel", "SparseModel", "SpecModel",
           "VectorModel", "validate_spec"]
