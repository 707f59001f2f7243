"""The YAML schema of an N-level hierarchy spec (``hierarchy:``) as pydantic v2 models,
and its reader and writer.

The models own the file's shape and every rule a single file can break, each error one
line naming the key path, the value and what is allowed (wording: :mod:`sim.schema`),
e.g. ``h.yaml: hierarchy.levels[3].fanout.size[0] is 0; a fanout has at least one
child (line 12)``. The frozen dataclasses of :mod:`sim.hierarchy_nodes` stay the runtime
type (they re-check their own invariants for importers that build them directly).
Units: bytes, bits, bytes/cycle, pJ per word, MHz. Schema: :mod:`sim.hierarchy`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

import yaml
from pydantic import Field, PlainValidator, StrictBool, StrictStr, model_validator

from dataflows.dataflow import MAP_DIMS, OPERANDS
from dataflows.errors import CoforgeError
from sim.hierarchy_nodes import (MAX_ACCUMULATOR_BITS, MAX_BANKS, MAX_FANOUT, MAX_PORTS,
                                 MAX_WORD_BITS, OVERLAP, PSUM_ACCESS, Compute, Fanout,
                                 Hierarchy, Node, StorageLevel)
from sim.schema import Name, Section, fail, given, int_range, number, rule, type_error, validate
from sim.spec import SpecError
from sim.spec_schema import CLOCK_MHZ_RANGE, MAX_PJ
from sim.yaml_io import read_yaml_document

#: What a hierarchy file is, ending every file-level error.
HIERARCHY_WHAT = "a YAML spec with a 'hierarchy:' section (schema in sim/hierarchy.py)"


# -- value types ---------------------------------------------------------------------------
def _names_problem(value: object, allowed: tuple[str, ...], what: str,
                   empty: str | None) -> str | None:
    """What is wrong with ``value`` as a list of distinct names from ``allowed`` (None:
    nothing); ``empty``: the fix when an empty list is not allowed."""
    if not isinstance(value, (list, tuple)):
        return f"must be a list of {what} from {list(allowed)}, not {value!r}"
    items = list(value)
    if not items and empty is not None:
        return f"is empty; {empty}"
    bad = [v for v in items if not isinstance(v, str) or v not in allowed]
    if bad or len(set(items)) != len(items):
        reason = f"{bad[0]!r} is not one" if bad else "a name repeats"
        return f"must list distinct {what} from {list(allowed)}, not {items} ({reason})"
    return None


def _names(allowed: tuple[str, ...], what: str, empty: str | None = None):  # noqa: ANN202
    """A validator of a list of distinct names from ``allowed`` (see :func:`_names_problem`)."""
    def check(value: object) -> tuple[str, ...]:
        problem = _names_problem(value, allowed, what, empty)
        if problem is not None:
            raise fail(problem)
        return tuple(value)                                    # type: ignore[arg-type]
    return check


def _canonical(ops: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(o for o in OPERANDS if o in ops)


_CAPACITY = "a positive integer of bytes, a mapping operand -> bytes, or null (unbounded)"


def _capacity(value: object) -> int | None | dict[str, int]:
    if value is None:
        return None
    if isinstance(value, dict):
        out = {}
        for op, b in value.items():
            if op not in OPERANDS:
                raise fail(f"names operand {op!r}; per-operand capacities name operands "
                           f"from {list(OPERANDS)}")
            if isinstance(b, bool) or not isinstance(b, int) or b < 1:
                raise fail(f"must be a positive integer of bytes, not {b!r}", at=(op,))
            out[op] = b
        return out
    if isinstance(value, bool) or not isinstance(value, int):
        raise type_error(_CAPACITY, value)
    if value < 1:
        raise fail(f"must be {_CAPACITY}, not {value!r}")
    return value


def _value_bits(value: object) -> dict[str, int]:
    if not isinstance(value, dict):
        raise type_error("a mapping operand -> bits", value)
    out = {}
    for op, b in value.items():
        if op not in OPERANDS:
            raise fail(f"names operand {op!r}; value_bits names operands from "
                       f"{list(OPERANDS)}")
        if isinstance(b, bool) or not isinstance(b, int) or not 1 <= b <= MAX_ACCUMULATOR_BITS:
            raise fail(f"must be an integer of bits from 1 to {MAX_ACCUMULATOR_BITS}, "
                       f"not {b!r}", at=(op,))
        out[op] = b
    return out


def _bandwidth(value: object) -> float:
    number(unlimited=True)(value)
    if not float(value) > 0:                                   # type: ignore[arg-type]
        raise fail(f"must be a number > 0 of bytes/cycle (.inf for unlimited), not {value!r}")
    return float(value)                                        # type: ignore[arg-type]


def _energy(value: object) -> float:
    number(high=MAX_PJ)(value)
    if value < 0:                                              # type: ignore[operator]
        raise fail(f"must be a finite number >= 0 of pJ, not {value!r}")
    return value                                               # type: ignore[return-value]


def _clock(value: object) -> float:
    number()(value)
    low, high = CLOCK_MHZ_RANGE
    if not low <= value <= high:                               # type: ignore[operator]
        raise fail(f"must be a number of MHz from {low:g} to {high:g}, not {value!r}")
    return float(value)                                        # type: ignore[arg-type]


def _size(value: object) -> tuple[int, ...]:
    size = [value] if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(size, list) or len(size) not in (1, 2):
        raise fail(f"must be [n] or [rows, cols], not {value!r}")
    for i, n in enumerate(size):
        if isinstance(n, bool) or not isinstance(n, int):
            raise fail(f"must be a positive integer, not {n!r}", at=(i,))
        if n == 0:
            raise fail("is 0; a fanout has at least one child (give 1 or more)", at=(i,))
        if not 1 <= n <= MAX_FANOUT:
            raise fail(f"must be an integer from 1 to {MAX_FANOUT}, not {n!r}", at=(i,))
    return tuple(size)


def _multicast(value: object) -> tuple[str, ...]:
    if value is True:
        return OPERANDS
    if value is False or value is None:
        return ()
    return _canonical(_names(OPERANDS, "operands")(value))


Operands = Annotated[tuple[str, ...], PlainValidator(
    _names(OPERANDS, "operands", f"list at least one of {list(OPERANDS)} or remove the level"))]
Streams = Annotated[tuple[str, ...], PlainValidator(_names(OPERANDS, "operands"))]
Dims = Annotated[tuple[str, ...], PlainValidator(_names(MAP_DIMS, "dimensions"))]
Capacity = Annotated[Any, PlainValidator(_capacity)]
Bandwidth = Annotated[float, PlainValidator(_bandwidth)]
Energy = Annotated[float, PlainValidator(_energy)]
ValueBits = Annotated[dict, PlainValidator(_value_bits)]


# -- the models ------------------------------------------------------------------------------
class StorageModel(Section):
    """``storage:`` -- one level (per instance), :class:`sim.hierarchy_nodes.StorageLevel`."""

    name: Name = rule("a non-empty string", "level name, distinct in the hierarchy")
    keeps: Operands = Field(OPERANDS, description="operands stored here; others bypass")
    capacity_bytes: Capacity = Field(None, description=_CAPACITY)
    word_bits: Annotated[int, PlainValidator(int_range(1, MAX_WORD_BITS, " bits"))] = 64
    read_bytes_per_cycle: Bandwidth = math.inf
    write_bytes_per_cycle: Bandwidth = math.inf
    ports: Annotated[int, PlainValidator(int_range(1, MAX_PORTS))] = 1
    banks: Annotated[int, PlainValidator(int_range(1, MAX_BANKS))] = 1
    double_buffered: StrictBool = rule("true or false", "a tile may use half", default=False)
    read_pj: Optional[Energy] = Field(None, description="pJ per word read")  # noqa: UP045
    write_pj: Optional[Energy] = Field(None, description="pJ per word written")  # noqa: UP045
    streams: Streams = Field((), description="kept operands held only while own loops run")
    temporal_dims: Optional[Dims] = Field(None, description="dims that may loop here")  # noqa: UP045
    value_bits: ValueBits = Field({}, description="operand -> bits stored here")
    may_bypass: Streams = Field((), description="kept operands the mapper may leave out")

    @model_validator(mode="after")
    def _rules(self) -> StorageModel:
        keeps = _canonical(self.keeps)
        cap = self.capacity_bytes
        if isinstance(cap, dict) and sorted(cap) != sorted(keeps):
            raise fail(f"must name exactly the kept operands {list(keeps)}, not {sorted(cap)}",
                       at=("capacity_bytes",))
        halves = 2 if self.double_buffered else 1
        need = -(-self.word_bits * halves // 8)
        parts = cap.items() if isinstance(cap, dict) else [(None, cap)]
        for op, b in parts:
            if b is not None and b * 8 < self.word_bits * halves:
                at = ("capacity_bytes",) if op is None else ("capacity_bytes", op)
                half = " per buffer half (double_buffered)" if halves == 2 else ""
                raise fail(f"= {b} B cannot hold one {self.word_bits}-bit word{half}; give "
                           f">= {need} B or narrow word_bits", at=at)
        extra = [o for o in self.streams if o not in keeps]
        if extra:
            raise fail(f"names {extra[0]!r}, which the level does not keep; streams must be "
                       f"kept operands {list(keeps)}", at=("streams",))
        extra = [o for o in self.may_bypass if o not in keeps]
        if extra:
            raise fail(f"names {extra[0]!r}, which the level does not keep; may_bypass "
                       f"names kept operands {list(keeps)}", at=("may_bypass",))
        extra = [o for o in self.value_bits if o not in keeps]
        if extra:
            raise fail(f"names {extra[0]!r}, which the level does not keep; value_bits "
                       f"names kept operands {list(keeps)}", at=("value_bits", extra[0]))
        return self


def _share(value: object) -> float:
    """A share from 0 to 1 (``min_usage``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not 0 <= value <= 1:
        raise fail(f"must be a number from 0 to 1 (a share of the children), not {value!r}")
    return float(value)


class FanoutModel(Section):
    """``fanout:`` -- ``prod(size)`` children, :class:`sim.hierarchy_nodes.Fanout`."""

    name: Name = rule("a non-empty string", "fanout name, distinct in the hierarchy")
    size: Annotated[tuple[int, ...], PlainValidator(_size)] = rule(
        "[n] or [rows, cols]", "children per axis")
    dims: Any = rule("a list of dimensions (1-D) or one list per axis (2-D)",
                     "dims unrollable on each axis")
    multicast: Annotated[tuple[str, ...], PlainValidator(_multicast)] = Field(
        OPERANDS, description="operands one parent read broadcasts (true: all)")
    reduction: StrictBool = rule("true or false", "partial sums summed across children",
                                 default=True)
    min_usage: Annotated[float, PlainValidator(_share)] = Field(
        0.0, description="share of the children a mapping must unroll (0..1)")
    max_factors: Any = Field(
        (), description="per axis {dim: n}: the largest factor it unrolls dim by "
                        "(1-D: {K: 8}); checked by sim.hierarchy_nodes.Fanout")

    @model_validator(mode="after")
    def _axes(self) -> FanoutModel:
        dims = self.dims
        if len(self.size) == 1 and isinstance(dims, list) and dims \
                and all(isinstance(d, str) for d in dims):
            dims = [dims]
        if not isinstance(dims, list) or len(dims) != len(self.size):
            raise fail(f"must give the unrollable dimensions of each of its {len(self.size)} "
                       f"axes (1-D: [K, P]; 2-D: [[C], [K]]), not {self.dims!r}", at=("dims",))
        for i, d in enumerate(dims):
            problem = _names_problem(d, MAP_DIMS, "dimensions",
                                     f"an axis unrolls at least one of {list(MAP_DIMS)}")
            if problem is not None:
                raise fail(problem, at=("dims", i))
        out = [tuple(d) for d in dims]
        object.__setattr__(self, "dims", tuple(out))
        return self


class ComputeModel(Section):
    """``compute:`` -- the MAC units, :class:`sim.hierarchy_nodes.Compute`."""

    mac_pj: Energy = Field(Compute().mac_pj, description="pJ per MAC")
    accumulator_bits: Annotated[int, PlainValidator(
        int_range(1, MAX_ACCUMULATOR_BITS, " bits"))] = 32
    psum_access: Literal[PSUM_ACCESS] = Field(  # type: ignore[valid-type]
        "fused", description="how the accumulator counts partial sums moving in and out "
        "(sim.hierarchy_nodes.PSUM_ACCESS)")
    overlap: Literal[OVERLAP] = Field(  # type: ignore[valid-type]
        "double_buffered", description="which transfers overlap the MACs "
        "(sim.hierarchy_nodes.OVERLAP)")


class LevelModel(Section):
    """One item of ``levels``: a one-key mapping ``storage: {...}`` or ``fanout: {...}``."""

    storage: Optional[StorageModel] = None  # noqa: UP045
    fanout: Optional[FanoutModel] = None  # noqa: UP045

    @model_validator(mode="before")
    @classmethod
    def _one_key(cls, value: object) -> object:
        if isinstance(value, dict) and len(value) != 1:
            raise fail(f"must be a one-key mapping 'storage: {{...}}' or 'fanout: {{...}}', "
                       f"not {value!r}")
        if isinstance(value, dict) and next(iter(value.values())) is None:
            key = next(iter(value))
            raise fail(f"is empty; give the {key}'s keys (at least its name)", at=(key,))
        return value

    @property
    def node(self) -> StorageModel | FanoutModel:
        return self.storage if self.storage is not None else self.fanout  # type: ignore


class HierarchyModel(Section):
    """``hierarchy:`` -- the levels and fanouts, outermost first."""

    name: Name = rule("a non-empty string", "hierarchy name")
    clock_mhz: Annotated[float, PlainValidator(_clock)] = 200.0
    compute: ComputeModel = Field(default_factory=ComputeModel)
    levels: list[LevelModel] = rule("a non-empty list of {storage: ...} and {fanout: ...} "
                                    "items, outermost first", "nodes", min_length=1)
    description: StrictStr = rule("a string", "free text", default="")

    @model_validator(mode="after")
    def _nodes(self) -> HierarchyModel:
        first = self.levels[0]
        if first.storage is None:
            raise fail(f"is a fanout ({first.node.name!r}); the outermost node must be a "
                       f"storage level keeping {list(OPERANDS)} (DRAM)", at=("levels", 0))
        missing = [o for o in OPERANDS if o not in first.storage.keeps]
        if missing:
            raise fail(f"must be {list(OPERANDS)} at the outermost level (every operand's "
                       f"home), not {list(first.storage.keeps)}; {missing[0]!r} would reach "
                       f"the compute level from no storage", at=("levels", 0, "storage", "keeps"))
        seen: dict[str, int] = {}
        for i, item in enumerate(self.levels):
            kind = "storage" if item.storage is not None else "fanout"
            if i and item.storage is not None and item.storage.capacity_bytes is None:
                raise fail("is null (unbounded); only the outermost level may be: give a "
                           "capacity in bytes", at=("levels", i, kind, "capacity_bytes"))
            name = item.node.name
            if name in seen:
                raise fail(f"{name!r} repeats hierarchy.levels[{seen[name]}]; node names must "
                           f"be distinct", at=("levels", i, kind, "name"))
            seen[name] = i
        return self


class HierarchyFileModel(Section):
    """A whole file: the ``hierarchy:`` section and an optional ``description``."""

    hierarchy: HierarchyModel = rule("a mapping of keys to values", "the N-level spec")
    description: StrictStr = rule("a string", "free text", default="")


# -- building --------------------------------------------------------------------------------
def _node(model: StorageModel | FanoutModel) -> Node:
    kw = given(model)
    if isinstance(model, StorageModel):
        kw["keeps"] = _canonical(model.keeps)
        return StorageLevel(**kw)
    kw["dims"] = model.dims
    return Fanout(**kw)


def _build(model: HierarchyFileModel) -> Hierarchy:
    h = model.hierarchy
    kw: dict[str, Any] = {"name": h.name, "description": model.description}
    kw.update({k: v for k, v in given(h).items() if k in ("clock_mhz", "description")})
    if "compute" in h.model_fields_set:
        kw["compute"] = Compute(**given(h.compute))
    nodes = []
    for i, item in enumerate(h.levels):
        kind = "storage" if item.storage is not None else "fanout"
        try:
            nodes.append(_node(item.node))
        except SpecError as err:              # a runtime rule the schema did not state
            raise SpecError(f"hierarchy.levels[{i}].{kind}: {err}") from None
    return Hierarchy(nodes=tuple(nodes), **kw)


def hierarchy_file(data: object, source: str, locate: Any = None) -> Hierarchy:
    """A :class:`Hierarchy` from a parsed file (``{hierarchy: ..., description: ...}``);
    errors are one :class:`SpecError` line ``<source>: <key path> ...`` (``locate``:
    :meth:`sim.yaml_io.YamlDocument.locate`, adding the line)."""
    try:
        return _build(validate(HierarchyFileModel, data, SpecError, top="the spec"))
    except CoforgeError as err:
        message = locate(str(err)) if locate is not None else str(err)
        raise SpecError(f"{source}: {message}") from None


def hierarchy_from_dict(data: object, source: str = "<hierarchy>") -> Hierarchy:
    """Build a :class:`Hierarchy` from the parsed ``hierarchy:`` section; every error is
    one line prefixed by ``source`` and the key path."""
    return hierarchy_file({"hierarchy": data}, source)


def load_hierarchy(path: str | Path) -> Hierarchy:
    """Load a hierarchy spec: a YAML file with a ``hierarchy:`` section, or any 3-level
    :class:`~sim.spec.Accelerator` spec (a path or a shipped name such as
    ``edge_8x8_ws``), converted by :func:`sim.hierarchy.from_accelerator`."""
    from sim.hierarchy_convert import from_accelerator
    from sim.spec_io import SPECS_DIR, load_accelerator
    p = Path(path)
    if not p.exists() and not p.suffix and (SPECS_DIR / f"{p.name}.yaml").exists():
        p = SPECS_DIR / f"{p.name}.yaml"
    if not p.exists():
        raise SpecError(f"{path}: no such file; give a YAML path with a 'hierarchy:' section "
                        f"or a shipped spec name")
    doc = read_yaml_document(p, error=SpecError, what=HIERARCHY_WHAT)
    if "hierarchy" in doc.data:
        return hierarchy_file(doc.data, str(p), doc.locate)
    return from_accelerator(load_accelerator(p))


def dump_hierarchy(h: Hierarchy) -> str:
    """YAML text that :func:`load_hierarchy` reads back to an equal hierarchy."""
    return yaml.safe_dump(h.to_dict(), sort_keys=False)


__all__ = ["ComputeModel", "FanoutModel", "HIERARCHY_WHAT", "HierarchyFileModel",
           "HierarchyModel", "LevelModel", "StorageModel", "dump_hierarchy", "hierarchy_file",
           "hierarchy_from_dict", "load_hierarchy"]
