"""A compression plan: what to do to each MAC layer of a model, as validated frozen records.

* :class:`Prune` -- one weight-pruning pattern of :mod:`dataflows.compress.prune`, with a
  one-string text form (``Prune.parse`` / ``Prune.text`` round trip):

  ================================  ====================================================
  text                              pattern
  ================================  ====================================================
  ``"2:4"``                         ``nm``: keep ``n`` of every ``m`` along the reduction
  ``"magnitude:0.5"``               ``magnitude``: unstructured, keep density 0.5
  ``"block:0.5"``, ``"block:0.5:8x4"``  ``block``: blocks of the 2-D view (default 4x4)
  ``"row:0.5"``                     ``row``: whole filters
  ``"kernel_row"``, ``"kernel_row:2"``  ``kernel_row``: keep 1 (or 2) rows per R x S kernel
  ``"group:0.5"``, ``"group:0.5:8"``  ``group``: Scalpel groups of 4 (or 8) weights
  ``"tile:0.5:16x8"``               ``tile``: buffer tiles of 16 filters x 8 channels
  ``"none"``                        no pruning (``Prune.parse`` returns ``None``)
  ================================  ====================================================

* :class:`LayerCompression` -- for one layer: a :class:`Prune`, a low-rank ``rank``
  (and ``lowrank`` method), and filter pruning (``filters`` = kept fraction, rounded to a
  multiple of ``filter_multiple``, e.g. the array's rows or columns).
* :class:`CompressionPlan` -- ``layers``: Layer name (``Conv.layer_name``, the name
  :func:`dataflows.onnx_import.from_onnx` gives) -> :class:`LayerCompression`.

:func:`dataflows.compress.apply.compress_model` applies a plan to a
:class:`~dataflows.onnx_model.Model`. Every record validates in ``__post_init__``; a bad
value is a one-line :class:`PlanError` naming the field, the value and what is allowed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from dataflows.compress.prune import (
    prune_blocks,
    prune_groups,
    prune_kernel_rows,
    prune_magnitude,
    prune_nm,
    prune_rows,
    prune_tile_blocks,
)
from dataflows.errors import CoforgeError

__all__ = ["LOWRANK_CHOICES", "PRUNE_PATTERNS", "CompressionPlan", "LayerCompression",
           "PlanError", "Prune"]

#: Pruning patterns of :class:`Prune`.
PRUNE_PATTERNS: tuple[str, ...] = ("magnitude", "nm", "block", "row", "kernel_row", "group",
                                   "tile")
#: Low-rank methods of :class:`LayerCompression` (``auto``: svd for FC and 1x1 convs,
#: tucker2 for K x K convs).
LOWRANK_CHOICES: tuple[str, ...] = ("auto", "svd", "tucker2", "spatial")

_DEFAULT_BLOCK = (4, 4)
_DEFAULT_GROUP = 4
_DEFAULT_KEEP = 1
#: Fields each pattern takes (the others must be None).
_FIELDS: dict[str, tuple[str, ...]] = {
    "magnitude": ("density",), "nm": ("n", "m"), "block": ("density", "block"),
    "row": ("density",), "kernel_row": ("keep",), "group": ("density", "group"),
    "tile": ("density", "tile"),
}
_OPTIONAL = ("density", "n", "m", "block", "group", "keep", "tile")
_TEXT_FORMS = ('"N:M" (e.g. "2:4"), "magnitude:D", "block:D[:RxC]", "row:D", '
               '"kernel_row[:KEEP]", "group:D[:SIZE]", "tile:D:KxC" or "none" '
               "(D a density in (0, 1])")


class PlanError(CoforgeError):
    """A compression plan breaks a rule; the message names the field and the allowed values."""


def _is_int(v: object) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _positive_int(where: str, v: object) -> int:
    if not _is_int(v) or v < 1:
        raise PlanError(f"{where} must be a positive integer, not {v!r}")
    return int(v)


def _pair(where: str, v: object) -> tuple[int, int]:
    if not isinstance(v, (tuple, list)) or len(v) != 2 or not all(_is_int(x) and x >= 1
                                                                  for x in v):
        raise PlanError(f"{where} must be two positive integers (rows, cols), not {v!r}")
    return (int(v[0]), int(v[1]))


@dataclass(frozen=True)
class Prune:
    """One weight-pruning pattern (see the module docstring for the text forms)."""

    pattern: str
    """One of :data:`PRUNE_PATTERNS`."""
    density: float | None = None
    """Kept fraction in (0, 1] (magnitude, block, row, group, tile)."""
    n: int | None = None
    """``nm``: nonzeros kept in each group of ``m``."""
    m: int | None = None
    """``nm``: group length along the reduction (``n < m``)."""
    block: tuple[int, int] | None = None
    """``block``: (rows, cols) of a block of the weight's 2-D view; default (4, 4)."""
    group: int | None = None
    """``group``: weights per Scalpel group along the reduction; default 4."""
    keep: int | None = None
    """``kernel_row``: kernel rows kept per R x S kernel; default 1."""
    tile: tuple[int, int] | None = None
    """``tile``: (k_tile filters, c_tile input channels) of one weight buffer tile."""

    def __post_init__(self) -> None:
        if self.pattern not in PRUNE_PATTERNS:
            raise PlanError(f"prune.pattern must be one of {list(PRUNE_PATTERNS)}, "
                            f"not {self.pattern!r}")
        where = f"prune ({self.pattern})"
        allowed = _FIELDS[self.pattern]
        for name in _OPTIONAL:
            if name not in allowed and getattr(self, name) is not None:
                raise PlanError(f"{where}: {name} does not apply (pattern {self.pattern!r} "
                                f"takes {', '.join(allowed)}), not {getattr(self, name)!r}")
        defaults = {"block": _DEFAULT_BLOCK, "group": _DEFAULT_GROUP, "keep": _DEFAULT_KEEP}
        for name, default in defaults.items():
            if name in allowed and getattr(self, name) is None:
                object.__setattr__(self, name, default)
        if "density" in allowed:
            d = self.density
            if isinstance(d, bool) or not isinstance(d, (int, float, np.floating)) \
                    or not math.isfinite(float(d)) or not 0.0 < float(d) <= 1.0:
                raise PlanError(f"{where}: density must be a number in (0, 1], not {d!r}")
            object.__setattr__(self, "density", float(d))
        if self.pattern == "nm":
            n = _positive_int(f"{where}: n", self.n)
            m = _positive_int(f"{where}: m", self.m)
            if n >= m:
                raise PlanError(f"{where}: n must be below m (keep n of every m), not {n}:{m}")
            object.__setattr__(self, "n", n)
            object.__setattr__(self, "m", m)
        if "block" in allowed:
            object.__setattr__(self, "block", _pair(f"{where}: block", self.block))
        if "tile" in allowed:
            object.__setattr__(self, "tile", _pair(f"{where}: tile (k_tile, c_tile)",
                                                   self.tile))
        if "group" in allowed:
            object.__setattr__(self, "group", _positive_int(f"{where}: group", self.group))
        if "keep" in allowed:
            object.__setattr__(self, "keep", _positive_int(f"{where}: keep", self.keep))

    # -- text form ------------------------------------------------------------------------
    @classmethod
    def parse(cls, text: str) -> Prune | None:
        """The pattern written as ``text`` (module docstring); ``"none"`` is ``None``."""
        if not isinstance(text, str):
            raise PlanError(f"prune must be a string: {_TEXT_FORMS}; not {text!r}")
        t = text.strip()
        if t.lower() == "none":
            return None
        parts = t.split(":")
        head, args = parts[0], parts[1:]

        def bad(why: str) -> PlanError:
            return PlanError(f"prune {text!r}: {why}; write {_TEXT_FORMS}")

        def density(s: str) -> float:
            try:
                return float(s)
            except ValueError:
                raise bad(f"density {s!r} is not a number") from None

        def pair(s: str, what: str) -> tuple[int, int]:
            m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", s)
            if not m:
                raise bad(f"{what} {s!r} must be two positive integers as AxB")
            return (int(m[1]), int(m[2]))

        def integer(s: str, what: str) -> int:
            if not re.fullmatch(r"\s*\d+\s*", s):
                raise bad(f"{what} {s!r} must be a positive integer")
            return int(s)

        if re.fullmatch(r"\s*\d+\s*", head) and len(args) == 1:
            return cls("nm", n=integer(head, "n"), m=integer(args[0], "m"))
        counts = {"magnitude": (1, 1), "row": (1, 1), "block": (1, 2), "group": (1, 2),
                  "kernel_row": (0, 1), "tile": (2, 2)}
        if head not in counts:
            raise bad(f"unknown pattern {head!r}")
        lo, hi = counts[head]
        if not lo <= len(args) <= hi:
            raise bad(f"pattern {head!r} takes {lo}" + (f" to {hi}" if hi != lo else "")
                      + f" ':'-separated value(s), not {len(args)}")
        if head in ("magnitude", "row"):
            return cls(head, density=density(args[0]))
        if head == "block":
            return cls(head, density=density(args[0]),
                       block=pair(args[1], "block") if len(args) > 1 else None)
        if head == "group":
            return cls(head, density=density(args[0]),
                       group=integer(args[1], "group") if len(args) > 1 else None)
        if head == "kernel_row":
            return cls(head, keep=integer(args[0], "keep") if args else None)
        return cls(head, density=density(args[0]), tile=pair(args[1], "tile"))

    @property
    def text(self) -> str:
        """The text form; ``Prune.parse(p.text) == p``."""
        d = repr(self.density)
        if self.pattern == "nm":
            return f"{self.n}:{self.m}"
        if self.pattern in ("magnitude", "row"):
            return f"{self.pattern}:{d}"
        if self.pattern == "block":
            extra = "" if self.block == _DEFAULT_BLOCK else f":{self.block[0]}x{self.block[1]}"
            return f"block:{d}{extra}"
        if self.pattern == "group":
            return f"group:{d}" + ("" if self.group == _DEFAULT_GROUP else f":{self.group}")
        if self.pattern == "kernel_row":
            return "kernel_row" + ("" if self.keep == _DEFAULT_KEEP else f":{self.keep}")
        return f"tile:{d}:{self.tile[0]}x{self.tile[1]}"

    def apply(self, weight: np.ndarray) -> np.ndarray:
        """The pruned copy of ``weight`` (``K x ...``; zeros where pruned)."""
        p = self.pattern
        if p == "nm":
            return prune_nm(weight, self.n, self.m)
        if p == "magnitude":
            return prune_magnitude(weight, self.density)
        if p == "block":
            return prune_blocks(weight, self.density, self.block)
        if p == "row":
            return prune_rows(weight, self.density)
        if p == "kernel_row":
            return prune_kernel_rows(weight, self.keep)
        if p == "group":
            return prune_groups(weight, self.density, self.group)
        return prune_tile_blocks(weight, self.density, *self.tile)


@dataclass(frozen=True)
class LayerCompression:
    """What to do to one MAC layer. Applied in the order filters, prune, rank."""

    prune: Prune | None = None
    """Weight pruning (a :class:`Prune`, or its text form, converted); None keeps all."""
    rank: int | tuple[int, ...] | None = None
    """Low-rank factorization: ``r`` (svd, spatial; tucker2 uses ``(r, r)``) or
    ``(r_in, r_out)`` (tucker2); None keeps the layer whole."""
    filters: float | None = None
    """Kept fraction of the output channels (filters) in (0, 1]; None keeps all."""
    filter_multiple: int = 1
    """The kept filter count is a multiple of this (an array dimension)."""
    lowrank: str = "auto"
    """Method for ``rank``, one of :data:`LOWRANK_CHOICES`; ``auto``: svd for FC/1x1,
    tucker2 for K x K convs."""

    def __post_init__(self) -> None:
        if isinstance(self.prune, str):
            object.__setattr__(self, "prune", Prune.parse(self.prune))
        if self.prune is not None and not isinstance(self.prune, Prune):
            raise PlanError(f"prune must be a Prune, its text form or None, not {self.prune!r}")
        r = self.rank
        if isinstance(r, list):
            r = tuple(r)
        if r is not None:
            if _is_int(r):
                r = _positive_int("rank", r)
            elif isinstance(r, tuple) and len(r) == 2 and all(_is_int(v) and v >= 1 for v in r):
                r = (int(r[0]), int(r[1]))
            else:
                raise PlanError(f"rank must be a positive integer or a pair (rank_in, rank_out) "
                                f"of positive integers, not {self.rank!r}")
        object.__setattr__(self, "rank", r)
        if self.lowrank not in LOWRANK_CHOICES:
            raise PlanError(f"lowrank must be one of {list(LOWRANK_CHOICES)}, "
                            f"not {self.lowrank!r}")
        if isinstance(r, tuple) and self.lowrank in ("svd", "spatial"):
            raise PlanError(f"rank must be one integer for lowrank {self.lowrank!r}, not {r!r}")
        if self.prune is not None and r is not None:
            raise PlanError(f"give prune or rank, not both (prune {self.prune.text!r}, rank "
                            f"{r!r}): factorizing a pruned weight loses its pattern")
        f = self.filters
        if f is not None:
            if isinstance(f, bool) or not isinstance(f, (int, float, np.floating)) \
                    or not math.isfinite(float(f)) or not 0.0 < float(f) <= 1.0:
                raise PlanError(f"filters (kept fraction) must be a number in (0, 1], "
                                f"not {f!r}")
            object.__setattr__(self, "filters", float(f))
        object.__setattr__(self, "filter_multiple",
                           _positive_int("filter_multiple", self.filter_multiple))

    @property
    def is_identity(self) -> bool:
        """True when nothing is done to the layer."""
        return self.prune is None and self.rank is None and self.filters in (None, 1.0)


@dataclass(frozen=True)
class CompressionPlan:
    """Layer name -> :class:`LayerCompression`; layers not named are left as they are."""

    layers: Mapping[str, LayerCompression] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.layers, Mapping):
            raise PlanError(f"layers must map layer names to LayerCompression, "
                            f"not {type(self.layers).__name__}")
        for name, lc in self.layers.items():
            if not isinstance(name, str) or not name:
                raise PlanError(f"layers: a layer name must be a non-empty string, not {name!r}")
            if not isinstance(lc, LayerCompression):
                raise PlanError(f"layers[{name!r}] must be a LayerCompression, not {lc!r}")
        object.__setattr__(self, "layers", MappingProxyType(dict(self.layers)))

    @classmethod
    def uniform(cls, names: list[str] | tuple[str, ...],
                compression: LayerCompression) -> CompressionPlan:
        """The same ``compression`` for every layer in ``names``."""
        return cls({n: compression for n in names})
