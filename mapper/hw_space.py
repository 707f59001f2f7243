"""Hardware design spaces: which accelerator parameters a co-search may change.

A space is YAML, validated on load (pydantic models: :mod:`mapper.hw_space_schema`):
unknown or duplicate keys, a missing ``base``, empty,
ill-typed or repeated value lists, and any value outside its parameter's range (rows and
cols 1..1024, a known dataflow and PE mode, glb_kib >= 1, a finite clock, a bandwidth
>= 0.001 or .inf) are one-line errors naming the file and the field -- before any design
runs. Combinations (accumulator narrower than two operands) are checked per candidate,
which is then stored as one that cannot run::

    base: edge_8x8_ws                  # required: a shipped spec name or a spec YAML
                                       # path (relative paths also beside this file)
    parameters:                        # each a list of allowed values
      rows: [4, 8, 16]
      cols: [4, 8, 16]
      dataflow: [ws, os]
      glb_kib: [32, 64, 128]           # total GLB; split over buffers like the base
      dram_bytes_per_cycle: [8, 16]
      operand_bits: [8, 16]
      accumulator_bits: [32]
      product_register: [false, true]
      pe_mode: [fixed, bitfusion, bitserial]   # what narrow operands buy (sim.datapath)
      clock_mhz: [200, 400]

A candidate is one value index per parameter; :meth:`HardwareSpace.accelerator` builds
it by editing the base spec in memory (``dataclasses.replace``), so every candidate is
validated exactly like a spec file.

Per-layer operand precision (optional ``precision`` section)::

    precision:
      weight_bits: [4, 8]              # allowed for every compute layer
      input_bits: [8]
      first_last: {weight_bits: [8], input_bits: [8]}   # first and last compute layer
      layers:                          # per-layer-name overrides (win over first_last)
        fc: {weight_bits: [8]}

Each compute layer may take any (weight, input) pair from its allowed lists; a layer
with more than one pair becomes a search axis ``bits:<layer>`` whose values are
``"w<W>a<A>"`` (:meth:`HardwareSpace.for_network` adds them once the network is known),
a layer with one pair is fixed (still recorded in every design's key). The candidate's
network is the input network with ``dataclasses.replace(layer, precision=...)`` per
layer (output bits stay the layer's own). Accuracy is not modelled: the bit widths are
the user's constraint on what is acceptable, and the search picks among them for
latency/energy/area -- it is not an accuracy-aware quantization search.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from dataflows.errors import CoforgeError
from mapper.hw_space_schema import (BitsModel, CompressionFileModel, CompressionModel,
                                    PrecisionFileModel, PrecisionSpaceModel, SpaceModel)
from dataflows.layer import SUPPORTED_BITS, Layer
from dataflows.network import Network
from sim.spec import DATAFLOWS, MAX_ARRAY_SIDE, PE_MODES, Accelerator
from sim.spec_io import CLOCK_MHZ_RANGE, MIN_BYTES_PER_CYCLE, load_accelerator
from sim.schema import validate
from sim.yaml_io import read_yaml_document

#: Parameter name -> allowed Python type of its values.
PARAMETERS: dict[str, type] = {
    "rows": int, "cols": int, "dataflow": str, "glb_kib": int,
    "dram_bytes_per_cycle": float, "operand_bits": int, "accumulator_bits": int,
    "product_register": bool, "pe_mode": str, "clock_mhz": float,
}


#: Parameter name -> (rule of one value, as text; the check). Checked at load, so a typo
#: is an error before the search instead of a space of designs that "cannot run".
_RULES: dict[str, tuple[str, Any]] = {
    "rows": (f"integers from 1 to {MAX_ARRAY_SIDE}", lambda v: 1 <= v <= MAX_ARRAY_SIDE),
    "cols": (f"integers from 1 to {MAX_ARRAY_SIDE}", lambda v: 1 <= v <= MAX_ARRAY_SIDE),
    "dataflow": (f"one of {sorted(DATAFLOWS)}", lambda v: v in DATAFLOWS),
    "glb_kib": ("integers >= 1 (KiB of total GLB) and <= 2**43", lambda v: 1 <= v <= 2**43),
    "dram_bytes_per_cycle": (f"numbers >= {MIN_BYTES_PER_CYCLE:g} or .inf (unlimited)",
                             lambda v: v == math.inf or MIN_BYTES_PER_CYCLE <= v < math.inf),
    "operand_bits": ("one of [2, 4, 8, 16, 32]", lambda v: v in (2, 4, 8, 16, 32)),
    "accumulator_bits": ("integers from 1 to 64", lambda v: 1 <= v <= 64),
    "product_register": ("true or false", lambda v: True),
    "pe_mode": (f"one of {list(PE_MODES)}", lambda v: v in PE_MODES),
    "clock_mhz": ((f"finite numbers of MHz from {CLOCK_MHZ_RANGE[0]:g} to "
                   f"{CLOCK_MHZ_RANGE[1]:g}"),
                  lambda v: CLOCK_MHZ_RANGE[0] <= v <= CLOCK_MHZ_RANGE[1]),
}


#: Prefix of the per-layer precision axes (``bits:<layer name>``).
BITS_PREFIX = "bits:"
#: Prefixes of the per-layer compression axes (``prune:<layer>``, ``rank:<layer>``).
PRUNE_PREFIX = "prune:"
RANK_PREFIX = "rank:"
LAYER_PREFIXES: tuple[str, ...] = (BITS_PREFIX, PRUNE_PREFIX, RANK_PREFIX)
_CHOICE = re.compile(r"w(\d+)a(\d+)")


class HardwareSpaceError(CoforgeError):
    """A design-space file or value breaks a rule."""


def bits_choice(weight_bits: int, input_bits: int) -> str:
    """The text value of one per-layer precision choice, e.g. ``"w4a8"``."""
    return f"w{weight_bits}a{input_bits}"


def parse_bits_choice(text: str) -> tuple[int, int]:
    """``"w4a8"`` -> (weight bits 4, input bits 8); one-line error otherwise."""
    m = _CHOICE.fullmatch(str(text))
    if not m or int(m.group(1)) not in SUPPORTED_BITS or int(m.group(2)) not in SUPPORTED_BITS:
        raise HardwareSpaceError(f"a layer precision must look like 'w4a8' with bits from "
                                 f"{list(SUPPORTED_BITS)}, not {text!r}")
    return int(m.group(1)), int(m.group(2))


@dataclass(frozen=True)
class BitsRule:
    """Allowed weight and input bits (empty tuple: inherit from the enclosing rule)."""

    weight_bits: tuple[int, ...] = ()
    input_bits: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        for name in ("weight_bits", "input_bits"):
            for b in getattr(self, name):
                if isinstance(b, bool) or b not in SUPPORTED_BITS:
                    raise HardwareSpaceError(f"precision {name} values must be from "
                                             f"{list(SUPPORTED_BITS)}, not {b!r}")
            if len(set(getattr(self, name))) != len(getattr(self, name)):
                raise HardwareSpaceError(f"precision {name} lists a value twice: "
                                         f"{list(getattr(self, name))}")

    def over(self, base: "BitsRule") -> "BitsRule":
        return BitsRule(self.weight_bits or base.weight_bits, self.input_bits or base.input_bits)

    def to_dict(self) -> dict[str, list[int]]:
        return {k: list(v) for k, v in (("weight_bits", self.weight_bits),
                                          ("input_bits", self.input_bits)) if v}


@dataclass(frozen=True)
class PrecisionSpace:
    """Per-layer operand bit widths a co-search may choose (see the module docstring).

    ``default`` applies to every compute layer, ``first_last`` (if given) to the first
    and last compute layer in topological order, ``layers`` to layers by name (it wins).
    A list left empty inherits the enclosing one; a layer whose resulting list is empty
    keeps its own precision for that operand.
    """

    default: BitsRule = BitsRule()
    first_last: BitsRule | None = None
    layers: tuple[tuple[str, BitsRule], ...] = ()

    def choices(self, net: Network) -> dict[str, tuple[str, ...]]:
        """Layer name -> its allowed ``"w<W>a<A>"`` choices, for every compute layer."""
        layers = net.layers()
        names = {layer.name for layer in layers}
        unknown = sorted(n for n, _ in self.layers if n not in names)
        if unknown:
            raise HardwareSpaceError(f"precision.layers: network {net.name!r} has no compute "
                                     f"layer {unknown[0]!r}")
        override = dict(self.layers)
        out = {}
        for i, layer in enumerate(layers):
            rule = self.default
            if self.first_last is not None and i in (0, len(layers) - 1):
                rule = self.first_last.over(rule)
            if layer.name in override:
                rule = override[layer.name].over(rule)
            ws = rule.weight_bits or (layer.precision.weight_bits,)
            ins = rule.input_bits or (layer.precision.input_bits,)
            out[layer.name] = tuple(bits_choice(w, a) for w in ws for a in ins)
        return out

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = self.default.to_dict()
        if self.first_last is not None:
            d["first_last"] = self.first_last.to_dict()
        if self.layers:
            d["layers"] = {n: r.to_dict() for n, r in self.layers}
        return d


def quantize(net: Network, bits: dict[str, str]) -> Network:
    """``net`` with each named layer's weight/input bits set from its ``"w<W>a<A>"``."""
    def one(layer: Layer) -> Layer:
        if layer.name not in bits:
            return layer
        w, a = parse_bits_choice(bits[layer.name])
        return replace(layer, precision=replace(layer.precision, weight_bits=w, input_bits=a))
    return net.replace_layers(one)


def check_parameter(name: str, values: tuple[Any, ...]) -> None:
    """The rule of one axis of a space: a known parameter, a non-empty list of distinct
    values each of its type and range (:data:`_RULES`); the per-layer ``bits:`` axes take
    ``"w<W>a<A>"`` texts. One :class:`HardwareSpaceError` line naming
    ``parameters.<name>`` otherwise."""
    if name.startswith(BITS_PREFIX):
        for v in values:
            parse_bits_choice(v)
        return
    if name.startswith((PRUNE_PREFIX, RANK_PREFIX)):
        return                             # validated by CompressionSpace
    if name not in PARAMETERS:
        raise HardwareSpaceError(f"parameters: unknown parameter {name!r}; "
                                 f"allowed: {sorted(PARAMETERS)}")
    if not values:
        raise HardwareSpaceError(f"parameters.{name} must list at least one value")
    kind = PARAMETERS[name]
    rule, check = _RULES[name]
    for v in values:
        ok = isinstance(v, bool) if kind is bool else (
            isinstance(v, (int, float)) and not isinstance(v, bool)
            if kind is float else isinstance(v, kind) and not isinstance(v, bool))
        if ok and isinstance(v, int) and not isinstance(v, bool) and abs(v) > 2**53:
            ok = False                       # beyond exact floats: not a size
        if not ok:
            hint = " (YAML reads yes/no/on/off as true/false)" if isinstance(v, bool) else ""
            raise HardwareSpaceError(f"parameters.{name} values must be {rule}, "
                                     f"not {v!r}{hint}")
        if (isinstance(v, float) and math.isnan(v)) or not check(v):
            raise HardwareSpaceError(f"parameters.{name} values must be {rule}, not {v!r}")
    if len(set(values)) != len(values):
        raise HardwareSpaceError(f"parameters.{name} lists a value twice: "
                                 f"{list(values)}; keep each once")


@dataclass(frozen=True)
class HardwareSpace:
    """A base accelerator and the values each named parameter may take."""

    base: Accelerator
    parameters: tuple[tuple[str, tuple[Any, ...]], ...]
    precision: PrecisionSpace | None = None
    #: Per-layer precision of layers with a single choice (set by :meth:`for_network`).
    fixed_bits: tuple[tuple[str, str], ...] = ()
    #: Name of the network the ``bits:`` axes were made for (None: not bound yet).
    network: str | None = field(default=None)
    #: Per-layer pruning / low-rank choices (optional ``compression`` section).
    compression: "CompressionSpace | None" = None

    def __post_init__(self) -> None:
        for name, values in self.parameters:
            check_parameter(name, values)

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
        """A stable text key of the candidate (its values, plus the fixed per-layer bits,
        as sorted JSON)."""
        return json.dumps(self.values(index) | {BITS_PREFIX + n: c for n, c in self.fixed_bits},
                          sort_keys=True)

    def index_of(self, values: dict[str, Any]) -> tuple[int, ...]:
        """The candidate index of stored ``values`` (the inverse of :meth:`key`)."""
        out = []
        for name, allowed in self.parameters:
            if name not in values or values[name] not in allowed:
                raise HardwareSpaceError(f"design value {name}={values.get(name)!r} is not "
                                         f"in the space's list {list(allowed)}")
            out.append(allowed.index(values[name]))
        return tuple(out)

    @property
    def hardware_parameters(self) -> tuple[tuple[str, tuple[Any, ...]], ...]:
        """The parameters without the per-layer ``bits:`` axes."""
        return tuple((n, v) for n, v in self.parameters if not n.startswith(LAYER_PREFIXES))

    def for_network(self, net: Network) -> "HardwareSpace":
        """The space with one ``bits:<layer>`` axis per layer of ``net`` that has a
        choice (itself when it has no precision section or is already bound)."""
        if (self.precision is None and self.compression is None) or self.network is not None:
            return self
        axes: tuple[tuple[str, tuple[Any, ...]], ...] = ()
        fixed: tuple[tuple[str, str], ...] = ()
        if self.precision is not None:
            choices = self.precision.choices(net)
            axes = tuple((BITS_PREFIX + n, c) for n, c in choices.items() if len(c) > 1)
            fixed = tuple((n, c[0]) for n, c in choices.items() if len(c) == 1)
        if self.compression is not None:
            axes += self.compression.axes(net)
        return HardwareSpace(self.base, self.parameters + axes, self.precision, fixed,
                             net.name, self.compression)

    def layer_bits(self, index: tuple[int, ...]) -> dict[str, str]:
        """Layer name -> chosen ``"w<W>a<A>"`` of candidate ``index`` (bound spaces)."""
        chosen = {n[len(BITS_PREFIX):]: v for n, v in self.values(index).items()
                  if n.startswith(BITS_PREFIX)}
        return dict(self.fixed_bits) | chosen

    def layer_compression(self, index: tuple[int, ...]) -> dict[str, dict[str, Any]]:
        """Layer name -> ``{"prune": text, "rank": int}`` chosen by candidate ``index``
        (only layers with a prune other than ``none`` or a rank)."""
        out: dict[str, dict[str, Any]] = {}
        for n, v in self.values(index).items():
            if n.startswith(PRUNE_PREFIX) and v != "none":
                out.setdefault(n[len(PRUNE_PREFIX):], {})["prune"] = v
            elif n.startswith(RANK_PREFIX) and v is not None:
                out.setdefault(n[len(RANK_PREFIX):], {})["rank"] = v
        return out

    def quantized(self, net: Network, index: tuple[int, ...]) -> Network:
        """``net`` at candidate ``index``'s per-layer precision (``net`` itself without a
        precision section)."""
        if self.precision is None:
            return net
        if self.network != net.name:
            raise HardwareSpaceError(f"the space's precision axes belong to network "
                                     f"{self.network!r}, not {net.name!r}; call "
                                     f"for_network(net) first")
        return quantize(net, self.layer_bits(index))

    def accelerator(self, index: tuple[int, ...]) -> Accelerator:
        """The candidate as a validated :class:`Accelerator` (the base, edited)."""
        v = {k: x for k, x in self.values(index).items() if not k.startswith(LAYER_PREFIXES)}
        a = self.base
        kw: dict[str, Any] = {k: v[k] for k in ("rows", "cols", "dataflow", "clock_mhz")
                              if k in v}
        pe = {k: v[k] for k in ("operand_bits", "accumulator_bits", "product_register")
              if k in v}
        if "pe_mode" in v:
            pe["mode"] = v["pe_mode"]
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
            desc = (f"{a.name} with " + ", ".join(f"{k}={v[k]}" for k in sorted(v))
                    if v else a.description)   # the base's prose would describe the base
            return replace(a, name=name, description=desc, **kw)
        except CoforgeError as err:
            raise HardwareSpaceError(f"candidate {self.key(index)}: {err}") from None


def load_hw_space(path: str | Path) -> HardwareSpace:
    """Load and validate a design-space YAML file (models: :mod:`mapper.hw_space_schema`);
    each error is one line naming the file, the key path, what is allowed and the line."""
    p = Path(path)
    if not p.exists():
        raise HardwareSpaceError(f"{p}: no such design-space file; give a YAML path "
                                 f"(schema in mapper/hw_space.py)")
    doc = read_yaml_document(p, error=HardwareSpaceError,
                             what="a design-space YAML (schema in mapper/hw_space.py)")
    try:
        model = validate(SpaceModel, doc.data, HardwareSpaceError, top="the space")
        space = _space(model, p)
    except CoforgeError as err:
        message = str(err)
        if not message.startswith("base: "):     # the base spec's errors name its own lines
            message = doc.locate(message)
        raise HardwareSpaceError(f"{p}: {message}") from None
    return space


def _space(model: SpaceModel, p: Path) -> HardwareSpace:
    items = tuple((name, tuple(values)) for name, values in model.parameters.items())
    base_path = Path(model.base)
    if not base_path.is_absolute() and not base_path.exists() \
            and (p.parent / base_path).is_file():
        base_path = p.parent / base_path           # a spec beside the space file
    try:
        base = load_accelerator(base_path)
    except CoforgeError as err:
        raise HardwareSpaceError(f"base: {err}") from None
    prec = None if model.precision is None else _precision(model.precision)
    comp = None if model.compression is None else _compression(model.compression)
    return HardwareSpace(base, items, prec, compression=comp)


def _precision(model: PrecisionSpaceModel) -> PrecisionSpace:
    def bits(m: BitsModel) -> BitsRule:
        return BitsRule(m.weight_bits, m.input_bits)
    return PrecisionSpace(bits(model), None if model.first_last is None
                          else bits(model.first_last),
                          tuple((n, bits(r)) for n, r in model.layers.items()))


def precision_from_dict(data: object) -> PrecisionSpace:
    """The ``precision`` section (see the module docstring), validated."""
    model = validate(PrecisionFileModel, {"precision": data}, HardwareSpaceError)
    return _precision(model.precision)


@dataclass(frozen=True)
class CompressionSpace:
    """Per-layer pruning and low-rank choices a co-search may make (``compression``).

    ``prune``: text forms of :class:`dataflows.compress.plan.Prune` (``none``, ``"2:4"``,
    ``"magnitude:0.5"``, ...), a default list for every MAC layer and per-layer lists;
    ``rank``: per-layer lists of ranks (``null``: not factorized). A layer with more than
    one choice becomes an axis ``prune:<layer>`` / ``rank:<layer>``. Compression needs
    the model's weights: the co-search must be given ``--onnx`` and ``--data``.
    """

    prune_default: tuple[str, ...] = ()
    prune_layers: tuple[tuple[str, tuple[str, ...]], ...] = ()
    rank_layers: tuple[tuple[str, tuple[int | None, ...]], ...] = ()

    def __post_init__(self) -> None:
        from dataflows.compress.plan import Prune
        for where, values in [("compression.prune.default", self.prune_default)] + [
                (f"compression.prune.layers.{n}", v) for n, v in self.prune_layers]:
            for v in values:
                try:
                    Prune.parse(str(v))
                except CoforgeError as err:
                    raise HardwareSpaceError(f"{where}: {err}") from None
        for n, values in self.rank_layers:
            for v in values:
                if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                    raise HardwareSpaceError(f"compression.rank.layers.{n} values must be "
                                             f"positive integers or null, not {v!r}")

    def axes(self, net: Network) -> tuple[tuple[str, tuple[Any, ...]], ...]:
        """The ``prune:``/``rank:`` axes of ``net``'s compute layers."""
        names = [layer.name for layer in net.layers() if layer.kind not in ("pool", "add")]
        known = set(names)
        for n, _ in self.prune_layers + self.rank_layers:   # type: ignore[operator]
            if n not in known:
                raise HardwareSpaceError(f"compression: network {net.name!r} has no compute "
                                         f"layer {n!r}")
        per = dict(self.prune_layers)
        out: list[tuple[str, tuple[Any, ...]]] = []
        for n in names:
            choices = per.get(n, self.prune_default)
            if len(choices) > 1:
                out.append((PRUNE_PREFIX + n, tuple(choices)))
        for n, ranks in self.rank_layers:
            if len(ranks) > 1:
                out.append((RANK_PREFIX + n, tuple(ranks)))
        return tuple(out)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        if self.prune_default or self.prune_layers:
            d["prune"] = {"default": list(self.prune_default),
                          "layers": {n: list(v) for n, v in self.prune_layers}}
        if self.rank_layers:
            d["rank"] = {"layers": {n: list(v) for n, v in self.rank_layers}}
        return d


def _compression(model: CompressionModel) -> CompressionSpace:
    prune = model.prune
    return CompressionSpace(tuple(str(v) for v in prune.default),
                            tuple((n, tuple(str(x) for x in v)) for n, v in prune.layers.items()),
                            tuple(model.rank.layers.items()))


def compression_from_dict(data: object) -> CompressionSpace:
    """The ``compression`` section (see :class:`CompressionSpace`), validated."""
    model = validate(CompressionFileModel, {"compression": data}, HardwareSpaceError)
    return _compression(model.compression)
