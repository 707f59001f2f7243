"""The YAML schema of a layer config (``simulate --layer-config``) as pydantic v2 models.

The models own the file's shape and the rules one entry can break (unknown keys with
the allowed ones, bit widths from :data:`dataflows.layer.SUPPORTED_BITS`, densities in
(0, 1], pruning patterns and their keys, a sparsity source given twice); the wording is
:mod:`sim.schema`'s, layer names written in brackets (``layers['fc'].density.weight``).
Checks that need the network (layer names, tensor shapes) stay in
:func:`sim.layer_config.apply_layer_config`. Schema: :mod:`sim.layer_config`.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, Optional

from pydantic import Field, PlainValidator, StrictStr, model_validator

from dataflows.layer import SUPPORTED_BITS
from sim.schema import Section, fail, fail_key, int_range, rule, type_error, unknown_key

#: Operands a layer config may give densities, patterns or tensors for (index = rng key).
OPERANDS: tuple[str, ...] = ("weight", "input")
#: Named pruning patterns (besides ``"N:M"``).
PATTERNS: tuple[str, ...] = ("magnitude", "block", "row", "kernel_row", "group", "tile")
#: Keys each pattern takes besides ``pattern`` (``"N:M"``: none).
PATTERN_KEYS: dict[str, tuple[str, ...]] = {
    "nm": (), "magnitude": ("density",), "block": ("density", "block"),
    "row": ("density",), "kernel_row": ("keep",), "group": ("density", "group"),
    "tile": ("density", "tile")}
NM = re.compile(r"^\s*(\d+)\s*:\s*(\d+)\s*$")
_PATTERN_RULE = f'"N:M" (e.g. "2:4") or one of {list(PATTERNS)}'

Bits = Literal[SUPPORTED_BITS]  # type: ignore[valid-type]
Operand = Literal[OPERANDS]  # type: ignore[valid-type]
PositiveInt = Annotated[int, PlainValidator(int_range(1))]


def _fraction(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not 0.0 < float(value) <= 1.0:
        raise fail(f"must be a number in (0, 1], not {value!r}")
    return float(value)


def _pattern(value: object) -> str:
    if isinstance(value, str) and (NM.match(value) or value in PATTERNS):
        return value
    raise fail(f"must be {_PATTERN_RULE}, not {value!r}")


def _pair(what: str):  # noqa: ANN202
    def check(value: object) -> tuple[int, int]:
        if not isinstance(value, list) or len(value) != 2 or any(
                isinstance(b, bool) or not isinstance(b, int) or b < 1 for b in value):
            raise fail(f"must be two positive integers {what}, not {value!r}")
        return (value[0], value[1])
    return check


def _npy(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise type_error("a .npy file path (relative to the YAML file)", value)
    return value


Fraction = Annotated[float, PlainValidator(_fraction)]


class PrecisionModel(Section):
    """``precision``: operand bit widths; unnamed ones keep the layer's."""

    input_bits: Bits = 8
    weight_bits: Bits = 8
    output_bits: Bits = 8


class DensityModel(Section):
    """``density``: statistical nonzero fraction per operand, in (0, 1]."""

    weight: Fraction = 1.0
    input: Fraction = 1.0


class PruneModel(Section):
    """One pruning pattern of one operand; which keys it takes depends on ``pattern``
    (:data:`PATTERN_KEYS`)."""

    pattern: Annotated[str, PlainValidator(_pattern)] = rule(_PATTERN_RULE, "the pattern")
    density: Fraction = 1.0
    block: Annotated[tuple[int, int], PlainValidator(_pair("[rows, cols]"))] = (4, 4)
    keep: Annotated[int, PlainValidator(int_range(1, what=" (kernel rows kept per "
                                                     "kernel)"))] = 1
    group: Annotated[int, PlainValidator(int_range(1, what=" (weights per group)"))] = 4
    tile: Annotated[tuple[int, int], PlainValidator(_pair("[filters, channels] (one "
                                                          "buffer tile)"))] = (1, 1)

    @property
    def kind(self) -> str:
        return "nm" if NM.match(self.pattern) else self.pattern

    @property
    def nm(self) -> tuple[int, int]:
        m = NM.match(self.pattern)
        assert m is not None
        return int(m.group(1)), int(m.group(2))

    @model_validator(mode="after")
    def _keys(self) -> PruneModel:
        allowed = ("pattern",) + PATTERN_KEYS[self.kind]
        for k in self.model_fields_set:
            if k not in allowed:
                raise fail_key(unknown_key(k, list(allowed)))
        if self.kind == "nm":
            n, m = self.nm
            if not 1 <= n < m:
                raise fail(f"{self.pattern!r} must keep N of every M with 1 <= N < M, e.g. "
                           f"\"2:4\"", at=("pattern",))
        elif "density" in allowed and "density" not in self.model_fields_set:
            raise fail(f"is required for pattern {self.pattern!r} (the kept fraction, in "
                       f"(0, 1])", at=("density",))
        return self


class DefaultsModel(Section):
    """``defaults``: applied to every compute layer first."""

    precision: PrecisionModel = Field(default_factory=PrecisionModel)
    density: DensityModel = Field(default_factory=DensityModel)
    prune: dict[Operand, PruneModel] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_source(self) -> DefaultsModel:
        tensors = getattr(self, "tensors", {})
        for op in self.density.model_fields_set:
            if op in self.prune or op in tensors:
                other = "prune" if op in self.prune else "tensors"
                raise fail_key(f"density.{op} and {other}.{op} both set the {op} sparsity; "
                               f"keep one (a tensor's density is measured from it)")
        if getattr(self, "rank", None) is not None and (self.prune or tensors):
            raise fail_key("rank and prune/tensors both set the weight; keep one "
                           "(factorizing a pruned weight loses its pattern)")
        return self


class EntryModel(DefaultsModel):
    """One entry of ``layers``: also a low-rank ``rank`` and ``.npy`` ``tensors``."""

    rank: Optional[PositiveInt] = Field(None, description="low-rank factorization rank")  # noqa: UP045
    tensors: dict[Operand, Annotated[str, PlainValidator(_npy)]] = Field(default_factory=dict)


class LayerConfigModel(Section):
    """A whole layer-config file."""

    defaults: Optional[DefaultsModel] = None  # noqa: UP045
    layers: dict[StrictStr, EntryModel] = rule("a mapping of layer names or fnmatch "
                                               "patterns to entries", "per-layer entries",
                                               default_factory=dict)


#: Tables whose keys the user chose (written in brackets in key paths).
NAMED = (("layers",),)

__all__ = ["NAMED", "NM", "OPERANDS", "PATTERNS", "PATTERN_KEYS", "DefaultsModel",
           "DensityModel", "EntryModel", "LayerConfigModel", "PrecisionModel", "PruneModel"]
