"""The YAML schema of an accelerator spec as pydantic v2 input models.

Each section of the spec file is a model with ``extra="forbid"`` (an unknown key is an
error listing the allowed keys) and strictly typed fields (no ``"8"`` for 8, no ``1``
for ``true``). :func:`validate_spec` checks a parsed YAML mapping against
:class:`SpecModel` and turns pydantic's errors into coforge's one-line
:class:`~sim.spec.SpecError`: ``<key path> must be <rule>, not <value>``,
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
import types
import typing
from collections.abc import Callable
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, PlainValidator,
                      StrictBool, StrictStr, ValidationError)
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from dataflows.dataflow import DATAFLOWS, OPERANDS
from sim.energy import DEFAULT_ADD_PJ_PER_BIT, DEFAULT_DRAM_PJ_PER_BIT
from sim.spec import (PE_MODES, SPARSE_FORMATS, SPARSE_POLICIES, VECTOR_OPS, SpecError)
from sim.yaml_io import key_path

#: Bounds that keep every derived count finite (cycles and energies stay far below
#: float and int64 overflow): integers, bandwidths, clock and per-operation energies.
MAX_INT = 2**53
MIN_BYTES_PER_CYCLE = 1e-3
CLOCK_MHZ_RANGE = (1e-3, 1e6)
MAX_PJ = 1e6


# -- scalar types ------------------------------------------------------------------------
def _fail(message: str) -> PydanticCustomError:
    """A rule broken by a value of the right type: ``message`` follows the key path."""
    return PydanticCustomError("coforge", "{message}", {"message": message})


def _type_error(rule: str, value: object) -> PydanticCustomError:
    """A value of the wrong type; a field's own ``rule`` (``_rule``) replaces ``rule``."""
    return PydanticCustomError("coforge_type", "must be {rule}, not {value}",
                               {"rule": rule, "value": repr(value)})


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _type_error("an integer", value)
    if abs(value) > MAX_INT:
        raise _fail(f"must be an integer <= 2**53, not {value!r}")
    return value


def _number(*, unlimited: bool = False, low: float | None = None, high: float | None = None,
            as_float: bool = False) -> Callable[[object], float]:
    """A number check: finite (or ``.inf`` when ``unlimited``), ``low <= v <= high`` when
    ``v > 0``; the value keeps its YAML type unless ``as_float``."""
    def check(value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _type_error("a number", value)
        if isinstance(value, int) and abs(value) > MAX_INT and not as_float:
            raise _fail(f"must be a number <= 2**53, not {value!r}")
        v = float(value)
        if not (math.isinf(v) and unlimited and v > 0):
            if math.isnan(v) or math.isinf(v):
                allowed = "a finite number or .inf (unlimited)" if unlimited \
                    else "a finite number"
                raise _fail(f"must be {allowed}, not {value!r}")
            if v > 0 and low is not None and v < low:
                raise _fail(f"must be >= {low:g} (or .inf), not {value!r}")
            if v > 0 and high is not None and v > high:
                raise _fail(f"must be <= {high:g}, not {value!r}")
        return v if as_float else value            # type: ignore[return-value]
    return check


def _clock(value: object) -> float:
    _number()(value)
    if value > 0 and not CLOCK_MHZ_RANGE[0] <= value <= CLOCK_MHZ_RANGE[1]:  # type: ignore
        raise _fail(f"must be between {CLOCK_MHZ_RANGE[0]:g} and {CLOCK_MHZ_RANGE[1]:g} "
                    f"MHz, not {value!r}")
    return value                                   # type: ignore[return-value]


Int = Annotated[int, PlainValidator(_int)]
#: Energies (pJ), kept as given.
Pj = Annotated[float, PlainValidator(_number(high=MAX_PJ))]
#: A buffer's per-access energy (pJ), as a float.
AccessPj = Annotated[float, PlainValidator(_number(high=MAX_PJ, as_float=True))]
#: Bytes per cycle, as a float; ``.inf``: never limits.
Bandwidth = Annotated[float, PlainValidator(_number(unlimited=True, low=MIN_BYTES_PER_CYCLE,
                                                    as_float=True))]
ClockMhz = Annotated[float, PlainValidator(_clock)]


def _rule(rule: str, doc: str, **kwargs: Any) -> Any:
    """A field whose type errors read ``<path> must be <rule>, not <value>``."""
    return Field(description=doc, json_schema_extra={"rule": rule}, **kwargs)


def _as_list(value: object) -> object:
    return [value] if isinstance(value, dict) else value


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


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
def _unwrap(tp: Any) -> Any:
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            tp = next(a for a in typing.get_args(tp) if a is not type(None))
        else:
            return tp


def _resolve(loc: tuple[Any, ...]) -> tuple[Any, FieldInfo | None]:
    """The type at ``loc`` inside :class:`SpecModel` and the field it is (if one)."""
    tp: Any = SpecModel
    info: FieldInfo | None = None
    for part in loc:
        tp = _unwrap(tp)
        origin = typing.get_origin(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel) and part in tp.model_fields:
            info = tp.model_fields[part]
            tp = info.annotation
        elif origin in (list, tuple):
            tp, info = typing.get_args(tp)[0], None
        elif origin is dict:
            tp, info = typing.get_args(tp)[1], None
        else:
            return None, None
    return _unwrap(tp), info


def _message(err: dict[str, Any]) -> str:
    loc = tuple(err["loc"])
    kind, value = err["type"], err.get("input")
    if loc and loc[-1] == "[key]":                       # a key of a table
        table, key = loc[:-2], loc[-2]
        tp, _ = _resolve(table)
        key_type = _unwrap(typing.get_args(tp)[0]) if typing.get_origin(tp) is dict else None
        if typing.get_origin(key_type) is Literal:
            return (f"{key_path(table)}: unknown key {key!r}; allowed keys: "
                    f"{list(typing.get_args(key_type))}")
        return f"{key_path(table)}: key {key!r} must be an integer, not {key!r}"
    path = key_path(loc)
    tp, info = _resolve(loc)
    rule = (info.json_schema_extra or {}).get("rule") if info is not None \
        and isinstance(info.json_schema_extra, dict) else None
    if kind == "extra_forbidden":
        parent, _ = _resolve(loc[:-1])
        allowed = list(parent.model_fields) if isinstance(parent, type) \
            and issubclass(parent, BaseModel) else []
        return f"{key_path(loc[:-1]) or 'top level'}: unknown key {loc[-1]!r}; " \
               f"allowed keys: {allowed}"
    if kind == "missing":
        if len(loc) == 1:
            return f"missing required key {loc[0]!r}"
        return f"{path} is required ({rule})" if rule else f"{path} is required"
    if kind == "literal_error":
        return f"{path} must be one of {list(typing.get_args(tp))}, not {value!r}"
    if kind == "coforge":
        return f"{path} {err['msg']}"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"{path or 'the spec'} must be a mapping of keys to values, " \
               f"not {type(value).__name__}"
    default = {"coforge_type": (err.get("ctx") or {}).get("rule", "valid"),
               "bool_type": "true or false", "string_type": "a string",
               "list_type": "a list", "too_short": "non-empty"}.get(kind)
    if rule and kind in ("coforge_type", "bool_type", "string_type", "list_type",
                         "too_short"):
        return f"{path} must be {rule}, not {value!r}"
    if default:
        return f"{path} must be {default}, not {value!r}"
    return f"{path}: {err['msg']}, not {value!r}"


def validate_spec(data: object) -> SpecModel:
    """``data`` (parsed YAML) as a :class:`SpecModel`, or one :class:`SpecError` line for
    the first problem (unknown keys first), with ``(+N more)`` when there are others."""
    try:
        return SpecModel.model_validate(data)
    except ValidationError as exc:
        errors = sorted(exc.errors(include_url=False),
                        key=lambda e: e["type"] != "extra_forbidden")
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        raise SpecError(_message(dict(errors[0])) + more) from None


__all__ = ["CLOCK_MHZ_RANGE", "MAX_INT", "MAX_PJ", "MIN_BYTES_PER_CYCLE", "ArrayModel",
           "BufferModel", "EnergyModel", "PEModel", "SparseModel", "SpecModel",
           "VectorModel", "validate_spec"]
