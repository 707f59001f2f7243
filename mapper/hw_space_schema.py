"""The YAML schema of a hardware design space (``coforge dse --space``) as pydantic v2
models; the file format is documented in :mod:`mapper.hw_space`.

The models own the file's shape (unknown keys with the allowed ones and a close match,
types, non-empty value lists); each parameter's value rule is
:func:`mapper.hw_space.check_parameter`, shared with :class:`~mapper.hw_space.HardwareSpace`
built in code. Wording: :mod:`sim.schema`.
"""

from __future__ import annotations

from typing import Annotated, Any, Optional

from pydantic import Field, PlainValidator, model_validator

from dataflows.layer import SUPPORTED_BITS
from sim.schema import Name, Section, fail, fail_key, rule, type_error

#: What the user should give when ``base`` is missing or not a name.
BASE_RULE = "a shipped spec name or a spec YAML path (e.g. base: edge_8x8_ws)"


def _bits(value: object) -> tuple[int, ...]:
    if not isinstance(value, list) or not value:
        raise fail(f"must be a non-empty list of bits from {list(SUPPORTED_BITS)}, "
                   f"not {value!r}")
    for b in value:
        if isinstance(b, bool) or b not in SUPPORTED_BITS:
            raise fail(f"values must be from {list(SUPPORTED_BITS)}, not {b!r}")
    if len(set(value)) != len(value):
        raise fail(f"lists a value twice: {value}; keep each once")
    return tuple(value)


def _values(value: object) -> tuple[Any, ...]:
    if not isinstance(value, list) or not value:
        raise fail(f"must be a non-empty list, not {value!r}")
    return tuple(value)


def _patterns(value: object) -> tuple[Any, ...]:
    if not isinstance(value, list):
        raise type_error("a list of patterns", value)
    return tuple(value)


Bits = Annotated[tuple[int, ...], PlainValidator(_bits)]
Values = Annotated[tuple[Any, ...], PlainValidator(_values)]


def _ranks(value: object) -> tuple[int | None, ...]:
    values = _values(value)
    for v in values:
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise fail(f"values must be positive integers or null, not {v!r}")
    return values


class BitsModel(Section):
    """Allowed weight and input bits (a list left out inherits the enclosing one)."""

    weight_bits: Bits = ()
    input_bits: Bits = ()


class PrecisionSpaceModel(BitsModel):
    """``precision``: defaults for every compute layer, ``first_last``, per-layer ``layers``."""

    first_last: Optional[BitsModel] = rule(  # noqa: UP045
        "a mapping of weight_bits/input_bits to lists of bits", "first and last layer",
        default=None)
    layers: dict[Name, BitsModel] = rule("a mapping of layer names to {weight_bits, "
                                         "input_bits}", "per-layer", default_factory=dict)


class PruneSpaceModel(Section):
    """``compression.prune``: pattern texts of :class:`dataflows.compress.plan.Prune`."""

    default: Annotated[tuple[Any, ...], PlainValidator(_patterns)] = ()
    layers: dict[Name, Values] = rule("a mapping of layer names to value lists",
                                      "per-layer", default_factory=dict)


class RankSpaceModel(Section):
    """``compression.rank``: per-layer lists of ranks (null: not factorized)."""

    layers: dict[Name, Annotated[tuple[Any, ...], PlainValidator(_ranks)]] = rule(
        "a mapping of layer names to value lists", "per-layer", default_factory=dict)


class CompressionModel(Section):
    """``compression``: per-layer pruning and low-rank choices."""

    prune: PruneSpaceModel = Field(default_factory=PruneSpaceModel)
    rank: RankSpaceModel = Field(default_factory=RankSpaceModel)


class SpaceModel(Section):
    """A whole design-space file (keys in sorted order, as its errors list them)."""

    base: Name = rule(BASE_RULE, "the base spec")
    compression: Optional[CompressionModel] = None  # noqa: UP045
    parameters: dict[Any, Any] = rule("a mapping of parameter names to value lists",
                                      "the hardware axes", min_length=1)
    precision: Optional[PrecisionSpaceModel] = None  # noqa: UP045

    @model_validator(mode="before")
    @classmethod
    def _base_given(cls, value: object) -> object:
        if isinstance(value, dict) and "base" not in value:
            raise fail(f"base is required: the spec the parameters edit, {BASE_RULE}")
        return value

    @model_validator(mode="after")
    def _parameters(self) -> SpaceModel:
        from mapper.hw_space import PARAMETERS, HardwareSpaceError, check_parameter
        for name, values in self.parameters.items():
            if not isinstance(name, str):
                raise fail_key(f"a parameter name must be one of {sorted(PARAMETERS)}, not "
                               f"{name!r}", at=("parameters",))
            if not isinstance(values, list):
                raise fail(f"must be a list of values, not {values!r} (e.g. {name}: "
                           f"[{values}])", at=("parameters", name))
            try:
                check_parameter(name, tuple(values))
            except HardwareSpaceError as err:
                raise fail(str(err)) from None          # names its key path itself
        return self


class PrecisionFileModel(Section):
    """``{precision: ...}`` alone (a stored design's precision section)."""

    precision: PrecisionSpaceModel


class CompressionFileModel(Section):
    """``{compression: ...}`` alone."""

    compression: CompressionModel


__all__ = ["BASE_RULE", "BitsModel", "CompressionFileModel", "CompressionModel",
           "PrecisionFileModel", "PrecisionSpaceModel", "PruneSpaceModel", "RankSpaceModel",
           "SpaceModel"]
