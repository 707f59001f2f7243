"""The one owner of how a YAML file's *shape* is checked and how a break is worded.

Every file kind coforge reads (accelerator spec :mod:`sim.spec_schema`, N-level hierarchy
:mod:`sim.hierarchy_schema`, layer config :mod:`sim.layer_config_schema`, design space
:mod:`mapper.hw_space_schema`) is a tree of pydantic v2 models built on :class:`Section`
(``extra="forbid"``, strict types, frozen). :func:`validate` checks parsed YAML (from
:mod:`sim.yaml_io`) against a root model and turns the first pydantic error into ONE line
raised as the caller's :class:`~dataflows.errors.CoforgeError` subclass:

* ``<section>: unknown key 'x' (did you mean 'y'?); allowed keys: [...]`` (the
  suggestion only when one allowed key is close, :data:`CLOSE`);
* ``<key path> must be <rule>, not <value>`` (wrong type; ``rule`` from the field's
  :func:`rule` or the type's own :func:`type_error`);
* ``<key path> must be one of [...], not <value>`` (a ``Literal``);
* ``<key path> is required (<rule>)`` / ``missing required key 'name'``;
* a validator's own text, :func:`fail` (``<key path> <text>``) or :func:`fail_key`
  (``<key path>: <text>``), optionally at a key path below the model (``at=``).

The key path is :func:`sim.yaml_io.key_path` (``hierarchy.levels[2].storage.keeps``);
the reader then adds the file name in front and ``(line N)`` behind
(:meth:`sim.yaml_io.YamlDocument.locate`), and the CLI prints it as ``coforge: error:``
with exit status 2 (:func:`mapper.cli.main`).
"""

from __future__ import annotations

import difflib
import math
import types
import typing
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal, TypeVar, Union

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from dataflows.errors import CoforgeError
from sim.yaml_io import Named, key_path

#: Largest integer accepted anywhere (beyond it floats are not exact).
MAX_INT = 2**53
#: How close (difflib ratio) an unknown key must be to an allowed one to be suggested.
CLOSE = 0.75

M = TypeVar("M", bound=BaseModel)


class Section(BaseModel):
    """A mapping of a file: unknown keys are errors, types are strict, values frozen."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# -- raising from validators -----------------------------------------------------------------
def fail(message: str, at: Sequence[object] = ()) -> PydanticCustomError:
    """A value of the right type that breaks a rule: reads ``<key path> <message>``;
    ``at``: the key path below the validated model the message is about."""
    return PydanticCustomError("coforge", "{message}",
                               {"message": message, "at": tuple(at), "sep": " "})


def fail_key(message: str, at: Sequence[object] = ()) -> PydanticCustomError:
    """As :func:`fail`, reading ``<key path>: <message>`` (a rule about a whole mapping)."""
    return PydanticCustomError("coforge", "{message}",
                               {"message": message, "at": tuple(at), "sep": ": "})


def type_error(rule_text: str, value: object) -> PydanticCustomError:
    """A value of the wrong type; the field's own :func:`rule` text wins over ``rule_text``."""
    return PydanticCustomError("coforge_type", "must be {rule}, not {value}",
                               {"rule": rule_text, "value": repr(value)})


def rule(rule_text: str, doc: str, **kwargs: Any) -> Any:
    """A field whose type errors read ``<path> must be <rule_text>, not <value>``."""
    return Field(description=doc, json_schema_extra={"rule": rule_text}, **kwargs)


# -- scalar types --------------------------------------------------------------------------
def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise type_error("an integer", value)
    if abs(value) > MAX_INT:
        raise fail(f"must be an integer <= 2**53, not {value!r}")
    return value


def int_range(low: int, high: int = MAX_INT, what: str = "") -> Callable[[object], int]:
    """An integer in ``[low, high]`` (``what``: its unit, e.g. ``" bits"``)."""
    def check(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise type_error(_range_text(low, high, what), value)
        if not low <= value <= high:
            raise fail(f"must be {_range_text(low, high, what)}, not {value!r}")
        return value
    return check


def _range_text(low: int, high: int, what: str) -> str:
    if high >= MAX_INT:
        return "a positive integer" + what if low == 1 else f"an integer >= {low}{what}"
    return f"an integer from {low} to {high}{what}"


def number(*, unlimited: bool = False, low: float | None = None, high: float | None = None,
           as_float: bool = False) -> Callable[[object], float]:
    """A number check: finite (or ``.inf`` when ``unlimited``), ``low <= v <= high`` when
    ``v > 0``; the value keeps its YAML type unless ``as_float``."""
    def check(value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise type_error("a number", value)
        if isinstance(value, int) and abs(value) > MAX_INT and not as_float:
            raise fail(f"must be a number <= 2**53, not {value!r}")
        v = float(value)
        if not (math.isinf(v) and unlimited and v > 0):
            if math.isnan(v) or math.isinf(v):
                allowed = "a finite number or .inf (unlimited)" if unlimited \
                    else "a finite number"
                raise fail(f"must be {allowed}, not {value!r}")
            if v > 0 and low is not None and v < low:
                raise fail(f"must be >= {low:g} (or .inf), not {value!r}")
            if v > 0 and high is not None and v > high:
                raise fail(f"must be <= {high:g}, not {value!r}")
        return v if as_float else value            # type: ignore[return-value]
    return check


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise type_error("a string", value)
    if not value:
        raise fail("must be a non-empty string, not ''")
    return value


Int = Annotated[int, PlainValidator(_int)]
#: A non-empty string.
Name = Annotated[str, PlainValidator(_text)]


# -- errors -> one line ----------------------------------------------------------------------
def _unwrap(tp: Any) -> Any:
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
            tp = (models or args)[0]
        else:
            return tp


def _resolve(root: type[BaseModel], loc: tuple[Any, ...]) -> tuple[Any, FieldInfo | None]:
    """The type at ``loc`` inside ``root`` and the field it is (if one)."""
    tp: Any = root
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


def unknown_key(key: object, allowed: Sequence[object]) -> str:
    """``unknown key 'x' (did you mean 'y'?); allowed keys: [...]`` -- the one wording."""
    close = difflib.get_close_matches(key, [a for a in allowed if isinstance(a, str)], 1,
                                      CLOSE) if isinstance(key, str) else []
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown key {key!r}{hint}; allowed keys: {list(allowed)}"


_MAPPING = "a mapping of keys to values"


def _named(loc: tuple[Any, ...], named: Sequence[tuple[str, ...]]) -> tuple[Any, ...]:
    """``loc`` with the user-chosen key after each prefix in ``named`` marked
    :class:`~sim.yaml_io.Named` (written in brackets: ``layers['b']``)."""
    out = list(loc)
    for prefix in named:
        n = len(prefix)
        if tuple(out[:n]) == prefix and len(out) > n and isinstance(out[n], str):
            out[n] = Named(out[n])
    return tuple(out)


def message(root: type[BaseModel], err: dict[str, Any], top: str = "the file",
            named: Sequence[tuple[str, ...]] = ()) -> str:
    """One pydantic error of ``root`` as coforge's one-line text (module docstring)."""
    loc = tuple(err["loc"])
    kind, value = err["type"], err.get("input")
    ctx = err.get("ctx") or {}
    if kind == "coforge":
        loc = loc + tuple(ctx.get("at", ()))
    shown = _named(loc, named)
    if loc and loc[-1] == "[key]":                       # a key of a table
        table, key = loc[:-2], loc[-2]
        tp, _ = _resolve(root, table)
        key_type = _unwrap(typing.get_args(tp)[0]) if typing.get_origin(tp) is dict else None
        where = key_path(shown[:-2]) or "top level"
        if typing.get_origin(key_type) is Literal:
            return f"{where}: {unknown_key(key, typing.get_args(key_type))}"
        want = "an integer" if key_type is int else "a string"
        return f"{where}: key {key!r} must be {want}, not {key!r}"
    path = key_path(shown)
    tp, info = _resolve(root, loc)
    extra = info.json_schema_extra if info is not None else None
    field_rule = extra.get("rule") if isinstance(extra, dict) else None
    if kind == "extra_forbidden":
        parent, _ = _resolve(root, loc[:-1])
        allowed = list(parent.model_fields) if isinstance(parent, type) \
            and issubclass(parent, BaseModel) else []
        return f"{key_path(shown[:-1]) or 'top level'}: {unknown_key(loc[-1], allowed)}"
    if kind == "missing":
        if len(loc) == 1:
            return f"missing required key {loc[0]!r}"
        return f"{path} is required ({field_rule})" if field_rule else f"{path} is required"
    if kind == "literal_error":
        return f"{path} must be one of {list(typing.get_args(tp))}, not {value!r}"
    if kind == "coforge":
        if not path:
            return f"top level: {err['msg']}" if ctx.get("sep") == ": " else err["msg"]
        return f"{path}{ctx.get('sep', ' ')}{err['msg']}"
    if kind in ("dict_type", "model_type") and field_rule and field_rule != _MAPPING:
        return f"{path} must be {field_rule}, not {value!r}"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"{path or top} must be {_MAPPING}, not {type(value).__name__}"
    default = {"coforge_type": ctx.get("rule", "valid"), "bool_type": "true or false",
               "string_type": "a string", "list_type": "a list",
               "too_short": "non-empty"}.get(kind)
    if field_rule and kind in ("coforge_type", "bool_type", "string_type", "list_type",
                               "too_short"):
        return f"{path} must be {field_rule}, not {value!r}"
    if default:
        return f"{path} must be {default}, not {value!r}"
    return f"{path}: {err['msg']}, not {value!r}"


def validate(root: type[M], data: object, error: type[CoforgeError], *,
             top: str = "the file", named: Sequence[tuple[str, ...]] = ()) -> M:
    """``data`` (parsed YAML) as a ``root`` model, or one ``error`` line for the first
    problem (unknown keys first), with ``(+N more)`` when there are others.

    ``top``: what the whole document is called when it is not a mapping; ``named``: key
    paths of tables whose keys the user chose (layer names), written in brackets."""
    try:
        return root.model_validate(data)
    except ValidationError as exc:
        errors = sorted(exc.errors(include_url=False),
                        key=lambda e: e["type"] != "extra_forbidden")
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        raise error(message(root, dict(errors[0]), top, named) + more) from None


def given(model: BaseModel) -> dict[str, Any]:
    """The fields the file gave (the rest keep their defaults elsewhere)."""
    return {k: getattr(model, k) for k in model.model_fields_set}


__all__ = ["CLOSE", "Int", "MAX_INT", "Name", "Section", "fail", "fail_key", "given",
           "int_range", "message", "number", "rule", "type_error", "unknown_key",
           "validate"]
