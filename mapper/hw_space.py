"""Hardware design spaces: which accelerator parameters a co-search may change.

A space is YAML, validated on load (unknown keys, empty or ill-typed value lists are
one-line errors naming the file and the field)::

    base: edge_8x8_ws                  # a shipped spec name or a spec YAML path
    parameters:                        # each a list of allowed values
      rows: [4, 8, 16]
      cols: [4, 8, 16]
      dataflow: [ws, os]
      glb_kib: [32, 64, 128]           # total GLB; split over buffers like the base
      dram_bytes_per_cycle: [8, 16]
      operand_bits: [8, 16]
      accumulator_bits: [32]
      product_register: [false, true]
      clock_mhz: [200, 400]

A candidate is one value index per parameter; :meth:`HardwareSpace.accelerator` builds
it by editing the base spec in memory (``dataclasses.replace``), so every candidate is
validated exactly like a spec file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from dataflows.errors import CoforgeError
from sim.spec import Accelerator
from sim.spec_io import load_accelerator

#: Parameter name -> allowed Python type of its values.
PARAMETERS: dict[str, type] = {
    "rows": int, "cols": int, "dataflow": str, "glb_kib": int,
    "dram_bytes_per_cycle": float, "operand_bits": int, "accumulator_bits": int,
    "product_register": bool, "clock_mhz": float,
}


class HardwareSpaceError(CoforgeError):
    """A design-space file or value breaks a rule."""


@dataclass(frozen=True)
class HardwareSpace:
    """A base accelerator and the values each named parameter may take."""

    base: Accelerator
    parameters: tuple[tuple[str, tuple[Any, ...]], ...]

    def __post_init__(self) -> None:
        for name, values in self.parameters:
            if name not in PARAMETERS:
                raise HardwareSpaceError(f"parameters: unknown parameter {name!r}; "
                                         f"allowed: {sorted(PARAMETERS)}")
            if not values:
                raise HardwareSpaceError(f"parameters.{name} must list at least one value")
            kind = PARAMETERS[name]
            for v in values:
                ok = isinstance(v, bool) if kind is bool else (
                    isinstance(v, (int, float)) and not isinstance(v, bool)
                    if kind is float else isinstance(v, kind) and not isinstance(v, bool))
                if not ok:
                    raise HardwareSpaceError(f"parameters.{name} values must be "
                                             f"{kind.__name__}, not {v!r}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(n for n, _ in self.parameters)

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(len(v) for _, v in self.parameters)

    @property
    def size(self) -> int:
        out = 1
        for n in self.sizes:
            out *= n
        return out

    def values(self, index: tuple[int, ...]) -> dict[str, Any]:
        """The parameter values of candidate ``index`` (one index per parameter)."""
        return {name: vals[i] for (name, vals), i in zip(self.parameters, index)}

    def key(self, index: tuple[int, ...]) -> str:
        """A stable text key of the candidate (its values as sorted JSON)."""
        return json.dumps(self.values(index), sort_keys=True)

    def accelerator(self, index: tuple[int, ...]) -> Accelerator:
        """The candidate as a validated :class:`Accelerator` (the base, edited)."""
        v = self.values(index)
        a = self.base
        kw: dict[str, Any] = {k: v[k] for k in ("rows", "cols", "dataflow", "clock_mhz")
                              if k in v}
        pe = {k: v[k] for k in ("operand_bits", "accumulator_bits", "product_register")
              if k in v}
        if pe:
            kw["pe"] = replace(a.pe, **pe)
        if "glb_kib" in v:
            total = sum(b.capacity_bytes for b in a.glb)
            kw["glb"] = tuple(replace(b, capacity_bytes=max(1, round(
                v["glb_kib"] * 1024 * b.capacity_bytes / total))) for b in a.glb)
        if "dram_bytes_per_cycle" in v:
            bw = float(v["dram_bytes_per_cycle"])
            kw["dram"] = replace(a.dram, read_bytes_per_cycle=bw, write_bytes_per_cycle=bw)
        name = a.name + "+" + ",".join(f"{k}={v[k]}" for k in sorted(v))
        try:
            return replace(a, name=name, **kw)
        except CoforgeError as err:
            raise HardwareSpaceError(f"candidate {self.key(index)}: {err}") from None


def load_hw_space(path: str | Path) -> HardwareSpace:
    """Load and validate a design-space YAML file."""
    p = Path(path)
    if not p.is_file():
        raise HardwareSpaceError(f"{p}: no such design-space file")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise HardwareSpaceError(f"{p}: malformed YAML ({type(err).__name__})") from None
    try:
        if not isinstance(data, dict):
            raise HardwareSpaceError("the file must be a mapping with 'base' and 'parameters'")
        unknown = sorted(set(data) - {"base", "parameters"})
        if unknown:
            raise HardwareSpaceError(f"unknown key {unknown[0]!r}; allowed: ['base', "
                                     f"'parameters']")
        params = data.get("parameters")
        if not isinstance(params, dict) or not params:
            raise HardwareSpaceError("parameters must map parameter names to value lists")
        items = []
        for name, values in params.items():
            if not isinstance(values, list):
                raise HardwareSpaceError(f"parameters.{name} must be a list of values")
            items.append((name, tuple(values)))
        base = load_accelerator(str(data.get("base", "edge_8x8_ws")))
        return HardwareSpace(base, tuple(items))
    except CoforgeError as err:
        raise HardwareSpaceError(f"{p}: {err}") from None
