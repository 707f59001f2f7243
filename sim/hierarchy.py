"""The N-level accelerator spec: storage levels of any depth and spatial fanouts between them.

A :class:`Hierarchy` is an ordered list, **outermost first**, of :class:`StorageLevel`
and :class:`Fanout` nodes ending at the MAC units (:class:`Compute`). The first node is
a storage level that keeps every operand (DRAM, usually unbounded); every storage level
keeps some operands and lets the others bypass it; a fanout replicates everything below
it ``prod(size)`` times (2 cores x 4 clusters x 8x8 PEs is three fanouts). Capacities,
bandwidths and energies are **per instance** of a level; the cost model
(:mod:`sim.hier_cost`) multiplies by the instance count (the product of the fanouts
above the level). Today's 3-level :class:`~sim.spec.Accelerator` is the special case
``dram, glb..., fanout(rows x cols), rf`` (:func:`from_accelerator`).

YAML schema (a file whose only top-level keys are ``hierarchy`` and optionally
``description``; loaded by :func:`load_hierarchy`, which also accepts every 3-level
spec of ``sim/specs`` and converts it)::

    hierarchy:
      name: edge-2core-4cluster-8x8
      clock_mhz: 500                        # optional, default 200
      compute:                              # optional; the MAC units at the bottom
        mac_pj: 0.3                         #   energy per MAC (pJ), default 8-bit H14
        accumulator_bits: 32                #   partial sums move at this width
      levels:                               # outermost first; items are one-key maps
        - storage:
            name: dram
            keeps: [weight, input, output]  # operands stored here; others bypass
            capacity_bytes: null            # null = unbounded (DRAM only)
            word_bits: 64
            read_bytes_per_cycle: 16        # per instance; .inf = never limits
            write_bytes_per_cycle: 16
            read_pj: 1300                   # pJ per word read (default: SRAM law of
            write_pj: 1300                  #   capacity/width, or DRAM 20.3 pJ/bit)
        - storage:
            name: l2
            keeps: [weight, input, output]
            capacity_bytes: 1048576         # shared by the kept operands, or per operand:
            word_bits: 128                  #   {weight: 524288, input: 262144, ...}
            double_buffered: true           # a tile may use half the capacity
            ports: 2                        # recorded for importers/area; the bandwidths
            banks: 8                        #   above are already the totals
        - fanout:
            name: cores
            size: [2]                       # 1-D [n] or 2-D [rows, cols]
            dims: [K, P]                    # 1-D: dims allowed; 2-D: [[C], [K]] per axis
            multicast: [weight, input]      # operands a parent read broadcasts (or true)
            reduction: false                # partial sums summed across children?
        - storage: {name: l1, keeps: [weight, input, output], capacity_bytes: 65536,
                    word_bits: 64}
        - fanout: {name: clusters, size: [4], dims: [K, C], multicast: true,
                   reduction: true}
        - fanout: {name: pes, size: [8, 8], dims: [[C], [K]], multicast: true,
                   reduction: true}
        - storage:
            name: rf
            keeps: [weight, input, output]
            capacity_bytes: 16
            word_bits: 8
            streams: [input, output]        # held only while this level's own loops run
            temporal_dims: [N, P, Q]        # dims that may loop at this level (default all)

Semantics the cost model relies on: ``streams`` operands are pipeline registers (a
systolic PE's forwarded input/psum): they get no reuse across the parent's loops and
take no capacity. Loop dimensions are :data:`dataflows.dataflow.MAP_DIMS`
(G,N,K,C,P,Q,R,S; K and C per group).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dataflows.dataflow import MAP_DIMS, OPERANDS, get_dataflow
from dataflows.errors import CoforgeError
from sim.energy import DEFAULT_DRAM_PJ_PER_BIT, EnergyTable, sram_access_pj
from sim.spec import Accelerator, SpecError

#: Default energy per 8-bit MAC with a 32-bit accumulator (pJ): [H14] multiply + add.
DEFAULT_MAC_PJ = EnergyTable().mac_pj(8, 32)
#: Largest fanout side accepted.
MAX_FANOUT = 4096


def _pos_int(where: str, value: object, limit: int | None = None) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise SpecError(f"{where} must be a positive integer, not {value!r}")
    if limit is not None and value > limit:
        raise SpecError(f"{where} must be <= {limit}, not {value!r}")


def _bandwidth(where: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) \
            or not value > 0:
        raise SpecError(f"{where} must be a number > 0 of bytes/cycle (.inf for unlimited), "
                        f"not {value!r}")


def _energy(where: str, value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not math.isfinite(value) or value < 0:
        raise SpecError(f"{where} must be a finite number >= 0 of pJ per word, not {value!r}")


def _operands(where: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise SpecError(f"{where} must be a list of operands from {list(OPERANDS)}, "
                        f"not {value!r}")
    ops = tuple(value)
    bad = [o for o in ops if o not in OPERANDS]
    if bad or len(set(ops)) != len(ops):
        raise SpecError(f"{where} must list distinct operands from {list(OPERANDS)}, "
                        f"not {list(ops)}")
    return tuple(o for o in OPERANDS if o in ops)     # canonical order


def _dims(where: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise SpecError(f"{where} must be a list of dimensions from {list(MAP_DIMS)}, "
                        f"not {value!r}")
    dims = tuple(value)
    bad = [d for d in dims if d not in MAP_DIMS]
    if bad or len(set(dims)) != len(dims):
        raise SpecError(f"{where} must list distinct dimensions from {list(MAP_DIMS)}, "
                        f"not {list(dims)}")
    return dims


@dataclass(frozen=True)
class StorageLevel:
    """One storage level (per instance): what it keeps, how big, how fast, how costly.

    ``capacity_bytes``: ``None`` = unbounded (DRAM), an int shared by the kept operands,
    or per operand as ``((operand, bytes), ...)`` (a dict is accepted and normalised)
    covering exactly ``keeps``. ``read_pj``/``write_pj``: energy per word access
    (``None``: the SRAM law :func:`sim.energy.sram_access_pj` of capacity and width, or
    DRAM's 20.3 pJ/bit when unbounded). ``streams``: kept operands held only while this
    level's own loops run (no reuse across the parent's loops, no capacity).
    ``temporal_dims``: dimensions that may loop at this level (``None``: all).
    ``ports``/``banks`` are recorded, not costed (the bandwidths are totals).
    """

    name: str
    keeps: tuple[str, ...] = OPERANDS
    capacity_bytes: int | None | tuple[tuple[str, int], ...] = None
    word_bits: int = 64
    read_bytes_per_cycle: float = math.inf
    write_bytes_per_cycle: float = math.inf
    ports: int = 1
    banks: int = 1
    double_buffered: bool = False
    read_pj: float | None = None
    write_pj: float | None = None
    streams: tuple[str, ...] = ()
    temporal_dims: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise SpecError(f"storage level name must be a non-empty string, not {self.name!r}")
        where = f"level {self.name!r}"
        if isinstance(self.keeps, (list, tuple)) and not self.keeps:
            raise SpecError(f"{where}: keeps no operand; list at least one of "
                            f"{list(OPERANDS)} or remove the level")
        object.__setattr__(self, "keeps", _operands(f"{where}: keeps", self.keeps))
        _pos_int(f"{where}: word_bits", self.word_bits, 1 << 16)
        cap = self.capacity_bytes
        if isinstance(cap, dict):
            cap = tuple(cap.items())
        if isinstance(cap, (list, tuple)):
            parts = dict(cap)
            if sorted(parts) != sorted(self.keeps):
                raise SpecError(f"{where}: per-operand capacity_bytes must name exactly the "
                                f"kept operands {list(self.keeps)}, not {sorted(parts)}")
            for op, b in parts.items():
                self._check_capacity(f"{where}: capacity_bytes.{op}", b)
            cap = tuple((op, parts[op]) for op in self.keeps)
        elif cap is not None:
            self._check_capacity(f"{where}: capacity_bytes", cap)
        object.__setattr__(self, "capacity_bytes", cap)
        _bandwidth(f"{where}: read_bytes_per_cycle", self.read_bytes_per_cycle)
        _bandwidth(f"{where}: write_bytes_per_cycle", self.write_bytes_per_cycle)
        _pos_int(f"{where}: ports", self.ports, 1024)
        _pos_int(f"{where}: banks", self.banks, 1 << 16)
        if not isinstance(self.double_buffered, bool):
            raise SpecError(f"{where}: double_buffered must be true or false, "
                            f"not {self.double_buffered!r}")
        _energy(f"{where}: read_pj", self.read_pj)
        _energy(f"{where}: write_pj", self.write_pj)
        streams = _operands(f"{where}: streams", self.streams) if self.streams else ()
        if any(o not in self.keeps for o in streams):
            raise SpecError(f"{where}: streams {list(streams)} must be kept operands "
                            f"{list(self.keeps)}")
        object.__setattr__(self, "streams", streams)
        if self.temporal_dims is not None:
            object.__setattr__(self, "temporal_dims",
                               _dims(f"{where}: temporal_dims", self.temporal_dims))

    def _check_capacity(self, where: str, value: object) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise SpecError(f"{where} must be a positive integer of bytes (null = unbounded), "
                            f"not {value!r}")
        if value * 8 < self.word_bits * (2 if self.double_buffered else 1):
            raise SpecError(f"{where} = {value} B cannot hold one {self.word_bits}-bit word"
                            f"{' per buffer half' if self.double_buffered else ''}; "
                            f"enlarge it or narrow word_bits")

    @property
    def bounded(self) -> bool:
        return self.capacity_bytes is not None

    def usable_bytes(self, operand: str | None = None) -> float:
        """Bytes one tile may use (half when double-buffered): the shared capacity, or
        ``operand``'s partition; ``inf`` when unbounded."""
        cap = self.capacity_bytes
        if cap is None:
            return math.inf
        if isinstance(cap, tuple):
            if operand is None:
                raise SpecError(f"level {self.name!r} has per-operand capacities; name one")
            cap = dict(cap)[operand]
        return cap / (2 if self.double_buffered else 1)

    @property
    def partitioned(self) -> bool:
        return isinstance(self.capacity_bytes, tuple)

    def _default_pj(self) -> float:
        if self.capacity_bytes is None:
            return DEFAULT_DRAM_PJ_PER_BIT * self.word_bits
        cap = self.capacity_bytes
        total = sum(b for _, b in cap) if isinstance(cap, tuple) else cap
        return sram_access_pj(total, self.word_bits)

    @property
    def read_pj_per_word(self) -> float:
        return self.read_pj if self.read_pj is not None else self._default_pj()

    @property
    def write_pj_per_word(self) -> float:
        return self.write_pj if self.write_pj is not None else self._default_pj()


@dataclass(frozen=True)
class Fanout:
    """A spatial fanout: ``prod(size)`` children (1-D ``(n,)`` or 2-D ``(rows, cols)``).

    ``dims[a]``: the loop dimensions that may be unrolled on axis ``a``. ``multicast``:
    operands one parent read delivers to every child that needs the same word (others
    are read once per child). ``reduction``: partial sums of children working on the
    same outputs are summed in the fanout before they are written up (else each child
    writes its own and the parent accumulates).
    """

    name: str
    size: tuple[int, ...]
    dims: tuple[tuple[str, ...], ...]
    multicast: tuple[str, ...] = OPERANDS
    reduction: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise SpecError(f"fanout name must be a non-empty string, not {self.name!r}")
        where = f"fanout {self.name!r}"
        size = self.size
        if isinstance(size, int) and not isinstance(size, bool):
            size = (size,)
        if not isinstance(size, (list, tuple)) or len(size) not in (1, 2):
            raise SpecError(f"{where}: size must be [n] or [rows, cols], not {self.size!r}")
        for i, n in enumerate(size):
            if isinstance(n, int) and not isinstance(n, bool) and n == 0:
                raise SpecError(f"{where}: size[{i}] is 0; a fanout has at least one child")
            _pos_int(f"{where}: size[{i}]", n, MAX_FANOUT)
        object.__setattr__(self, "size", tuple(size))
        dims = self.dims
        if len(size) == 1 and isinstance(dims, (list, tuple)) and dims \
                and all(isinstance(d, str) for d in dims):
            dims = (tuple(dims),)
        if not isinstance(dims, (list, tuple)) or len(dims) != len(size):
            raise SpecError(f"{where}: dims must give the unrollable dimensions of each of "
                            f"its {len(size)} axes (1-D: [K, P]; 2-D: [[C], [K]]), "
                            f"not {self.dims!r}")
        dims = tuple(_dims(f"{where}: dims[{i}]", d) for i, d in enumerate(dims))
        for i, d in enumerate(dims):
            if not d:
                raise SpecError(f"{where}: dims[{i}] allows no dimension; list one from "
                                f"{list(MAP_DIMS)}")
        object.__setattr__(self, "dims", dims)
        mc = self.multicast
        if mc is True:
            mc = OPERANDS
        elif mc is False or mc is None:
            mc = ()
        object.__setattr__(self, "multicast",
                           _operands(f"{where}: multicast", mc) if mc else ())
        if not isinstance(self.reduction, bool):
            raise SpecError(f"{where}: reduction must be true or false, not {self.reduction!r}")

    @property
    def children(self) -> int:
        return math.prod(self.size)


@dataclass(frozen=True)
class Compute:
    """The MAC units under the last node: energy per MAC (pJ) and accumulator width."""

    mac_pj: float = DEFAULT_MAC_PJ
    accumulator_bits: int = 32

    def __post_init__(self) -> None:
        if isinstance(self.mac_pj, bool) or not isinstance(self.mac_pj, (int, float)) or \
                not math.isfinite(self.mac_pj) or self.mac_pj < 0:
            raise SpecError(f"compute.mac_pj must be a finite number >= 0, not {self.mac_pj!r}")
        _pos_int("compute.accumulator_bits", self.accumulator_bits, 128)


Node = StorageLevel | Fanout


@dataclass(frozen=True)
class Hierarchy:
    """Storage levels and fanouts, outermost first, above the MAC units.

    Invariants (checked here): the first node is a storage level keeping every operand
    (so each operand has a home and reaches the compute level through the levels that
    keep it), names are distinct, at least one storage level.
    """

    name: str
    nodes: tuple[Node, ...]
    compute: Compute = field(default_factory=Compute)
    clock_mhz: float = 200.0
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise SpecError(f"hierarchy name must be a non-empty string, not {self.name!r}")
        nodes = tuple(self.nodes)
        object.__setattr__(self, "nodes", nodes)
        for n in nodes:
            if not isinstance(n, (StorageLevel, Fanout)):
                raise SpecError(f"hierarchy {self.name!r}: nodes must be StorageLevel or "
                                f"Fanout, not {type(n).__name__}")
        if not any(isinstance(n, StorageLevel) for n in nodes):
            raise SpecError(f"hierarchy {self.name!r}: no storage level; the outermost node "
                            f"must be a storage level keeping {list(OPERANDS)}")
        if not isinstance(nodes[0], StorageLevel):
            raise SpecError(f"hierarchy {self.name!r}: the outermost node {nodes[0].name!r} "
                            f"is a fanout; start with a storage level (DRAM)")
        missing = [o for o in OPERANDS if o not in nodes[0].keeps]
        if missing:
            raise SpecError(f"hierarchy {self.name!r}: operand {missing[0]!r} reaches the "
                            f"compute level from no storage: the outermost level "
                            f"{nodes[0].name!r} must keep {list(OPERANDS)}")
        for n in nodes[1:]:
            if isinstance(n, StorageLevel) and not n.bounded:
                raise SpecError(f"hierarchy {self.name!r}: level {n.name!r} is unbounded "
                                f"(capacity_bytes null); only the outermost level may be")
        names = [n.name for n in nodes]
        dup = sorted({x for x in names if names.count(x) > 1})
        if dup:
            raise SpecError(f"hierarchy {self.name!r}: node names must be distinct, "
                            f"{dup[0]!r} repeats")
        if isinstance(self.clock_mhz, bool) or not isinstance(self.clock_mhz, (int, float)) \
                or not math.isfinite(self.clock_mhz) or self.clock_mhz <= 0:
            raise SpecError(f"clock_mhz must be a finite number > 0, not {self.clock_mhz!r}")

    # -- views -------------------------------------------------------------------------
    @property
    def levels(self) -> tuple[StorageLevel, ...]:
        """Storage levels, outermost first."""
        return tuple(n for n in self.nodes if isinstance(n, StorageLevel))

    @property
    def fanouts(self) -> tuple[Fanout, ...]:
        """Fanouts, outermost first."""
        return tuple(n for n in self.nodes if isinstance(n, Fanout))

    def fanouts_above(self, level: int) -> tuple[int, ...]:
        """Indices (into :attr:`fanouts`) of the fanouts above storage level ``level``."""
        out, li, fi = [], -1, -1
        for n in self.nodes:
            if isinstance(n, StorageLevel):
                li += 1
                if li == level:
                    return tuple(out)
            else:
                fi += 1
                out.append(fi)
        raise SpecError(f"hierarchy {self.name!r} has {li + 1} storage levels, not {level + 1}")

    def instances(self, level: int) -> int:
        """Copies of storage level ``level`` (product of the fanouts above it)."""
        return math.prod(self.fanouts[f].children for f in self.fanouts_above(level))

    @property
    def pes(self) -> int:
        """MAC units: the product of every fanout."""
        return math.prod(f.children for f in self.fanouts)

    def to_dict(self) -> dict[str, Any]:
        """The YAML form (what :func:`hierarchy_from_dict` reads back to an equal spec)."""
        items: list[dict[str, Any]] = []
        for n in self.nodes:
            if isinstance(n, StorageLevel):
                cap = n.capacity_bytes
                d: dict[str, Any] = {
                    "name": n.name, "keeps": list(n.keeps),
                    "capacity_bytes": dict(cap) if isinstance(cap, tuple) else cap,
                    "word_bits": n.word_bits, "read_bytes_per_cycle": n.read_bytes_per_cycle,
                    "write_bytes_per_cycle": n.write_bytes_per_cycle, "ports": n.ports,
                    "banks": n.banks, "double_buffered": n.double_buffered}
                if n.read_pj is not None:
                    d["read_pj"] = n.read_pj
                if n.write_pj is not None:
                    d["write_pj"] = n.write_pj
                if n.streams:
                    d["streams"] = list(n.streams)
                if n.temporal_dims is not None:
                    d["temporal_dims"] = list(n.temporal_dims)
                items.append({"storage": d})
            else:
                items.append({"fanout": {
                    "name": n.name, "size": list(n.size),
                    "dims": [list(a) for a in n.dims] if len(n.size) == 2 else list(n.dims[0]),
                    "multicast": list(n.multicast), "reduction": n.reduction}})
        return {"hierarchy": {"name": self.name, "clock_mhz": self.clock_mhz,
                              "compute": {"mac_pj": self.compute.mac_pj,
                                          "accumulator_bits": self.compute.accumulator_bits},
                              "levels": items}, "description": self.description}


# -- YAML --------------------------------------------------------------------------------
_STORAGE_KEYS = ["name", "keeps", "capacity_bytes", "word_bits", "read_bytes_per_cycle",
                 "write_bytes_per_cycle", "ports", "banks", "double_buffered", "read_pj",
                 "write_pj", "streams", "temporal_dims"]
_FANOUT_KEYS = ["name", "size", "dims", "multicast", "reduction"]


def _map(value: object, where: str, allowed: list[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SpecError(f"{where} must be a mapping with keys {allowed}, "
                        f"not {type(value).__name__}")
    unknown = [k for k in value if k not in allowed]
    if unknown:
        raise SpecError(f"{where}: unknown key {unknown[0]!r}; allowed keys: {allowed}")
    return value


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(f"{where} must be a number, not {value!r}")
    return float(value)


def hierarchy_from_dict(data: object, source: str = "<hierarchy>") -> Hierarchy:
    """Build a :class:`Hierarchy` from the parsed ``hierarchy:`` section (module schema);
    every error is one line prefixed by ``source`` and the key path."""
    try:
        return _from_dict(data)
    except CoforgeError as err:
        raise SpecError(f"{source}: {err}") from None


def _from_dict(data: object, description: str = "") -> Hierarchy:
    top = _map(data, "hierarchy", ["name", "clock_mhz", "compute", "levels", "description"])
    for key in ("name", "levels"):
        if key not in top:
            raise SpecError(f"hierarchy.{key} is required")
    levels = top["levels"]
    if not isinstance(levels, list) or not levels:
        raise SpecError("hierarchy.levels must be a non-empty list of {storage: ...} and "
                        "{fanout: ...} items, outermost first")
    nodes: list[Node] = []
    for i, item in enumerate(levels):
        where = f"hierarchy.levels[{i}]"
        if not isinstance(item, dict) or len(item) != 1 or \
                next(iter(item)) not in ("storage", "fanout"):
            raise SpecError(f"{where} must be a one-key mapping 'storage: {{...}}' or "
                            f"'fanout: {{...}}', not {item!r}")
        kind, body = next(iter(item.items()))
        allowed = _STORAGE_KEYS if kind == "storage" else _FANOUT_KEYS
        body = _map(body, f"{where}.{kind}", allowed)
        if "name" not in body:
            raise SpecError(f"{where}.{kind}.name is required")
        try:
            if kind == "storage":
                kw = dict(body)
                for key in ("read_bytes_per_cycle", "write_bytes_per_cycle"):
                    if key in kw:
                        kw[key] = _number(kw[key], key)
                for key in ("keeps", "streams", "temporal_dims"):
                    if key in kw and isinstance(kw[key], list):
                        kw[key] = tuple(kw[key])
                nodes.append(StorageLevel(**kw))
            else:
                for key in ("size", "dims"):
                    if key not in body:
                        raise SpecError(f"{key} is required")
                kw = dict(body)
                if isinstance(kw.get("multicast"), list):
                    kw["multicast"] = tuple(kw["multicast"])
                if isinstance(kw["size"], list):
                    kw["size"] = tuple(kw["size"])
                nodes.append(Fanout(**kw))
        except SpecError as err:
            raise SpecError(f"{where}.{kind}: {err}") from None
    kwargs: dict[str, Any] = {"name": top["name"], "nodes": tuple(nodes),
                              "description": top.get("description", description)}
    if "compute" in top:
        comp = _map(top["compute"], "hierarchy.compute", ["mac_pj", "accumulator_bits"])
        kwargs["compute"] = Compute(**comp)
    if "clock_mhz" in top:
        kwargs["clock_mhz"] = _number(top["clock_mhz"], "hierarchy.clock_mhz")
    return Hierarchy(**kwargs)


def load_hierarchy(path: str | Path) -> Hierarchy:
    """Load a hierarchy spec: a YAML file with a ``hierarchy:`` section (module schema), or
    any 3-level :class:`~sim.spec.Accelerator` spec (a path or a shipped name such as
    ``edge_8x8_ws``), converted by :func:`from_accelerator`."""
    from sim.spec_io import SPECS_DIR, load_accelerator, read_strict_yaml
    p = Path(path)
    if not p.exists() and not p.suffix and (SPECS_DIR / f"{p.name}.yaml").exists():
        p = SPECS_DIR / f"{p.name}.yaml"
    if not p.exists():
        raise SpecError(f"{path}: no such file; give a YAML path with a 'hierarchy:' section "
                        f"or a shipped spec name")
    data = read_strict_yaml(p, what="a YAML spec with a 'hierarchy:' section "
                                    "(schema in sim/hierarchy.py)")
    if isinstance(data, dict) and "hierarchy" in data:
        extra = [k for k in data if k not in ("hierarchy", "description")]
        if extra:
            raise SpecError(f"{p}: unknown top-level key {extra[0]!r} beside 'hierarchy'; "
                            f"allowed: ['hierarchy', 'description']")
        desc = data.get("description", "")
        if not isinstance(desc, str):
            raise SpecError(f"{p}: description must be a string, not {desc!r}")
        try:
            return _from_dict(data["hierarchy"], desc)
        except CoforgeError as err:
            raise SpecError(f"{p}: {err}") from None
    return from_accelerator(load_accelerator(p))


def dump_hierarchy(h: Hierarchy) -> str:
    """YAML text that :func:`load_hierarchy` reads back to an equal hierarchy."""
    import yaml
    return yaml.safe_dump(h.to_dict(), sort_keys=False)


# -- the 3-level special case ---------------------------------------------------------------
def from_accelerator(accel: Accelerator) -> Hierarchy:
    """The :class:`Hierarchy` equivalent to a 3-level :class:`~sim.spec.Accelerator`.

    ``dram`` (unbounded, keeps all) -> one level per GLB (outermost first in spec order;
    each keeps its operands, the others bypass it) -> the ``array`` fanout
    ``rows x cols`` (dims of the dataflow's rows/cols, multicast of every operand --
    systolic forwarding -- and spatial reduction of partial sums down the columns) ->
    ``rf`` per PE (keeps all; the non-stationary operands only ``stream`` through it;
    only the dataflow's stream dims loop there). Per-word energies are the spec's
    pJ/bit x word width (DRAM: the energy table's ``dram_pj_per_bit``).
    """
    df = get_dataflow(accel.dataflow)
    dram = accel.dram
    dram_pj = accel.energy.dram_pj_per_bit * dram.word_bits
    nodes: list[Node] = [StorageLevel(
        name="dram", keeps=OPERANDS, capacity_bytes=None, word_bits=dram.word_bits,
        read_bytes_per_cycle=dram.read_bytes_per_cycle,
        write_bytes_per_cycle=dram.write_bytes_per_cycle, double_buffered=False,
        read_pj=dram_pj, write_pj=dram_pj)]
    names = {"dram", "array", "rf"}
    for buf in accel.glb:
        pj = buf.pj_per_bit() * buf.word_bits
        name = buf.name if buf.name not in names else f"glb_{buf.name}"
        names.add(name)
        nodes.append(StorageLevel(
            name=name, keeps=buf.operands, capacity_bytes=buf.capacity_bytes,
            word_bits=buf.word_bits, read_bytes_per_cycle=buf.read_bytes_per_cycle,
            write_bytes_per_cycle=buf.write_bytes_per_cycle,
            double_buffered=buf.double_buffered, read_pj=pj, write_pj=pj))
    nodes.append(Fanout(name="array", size=(accel.rows, accel.cols),
                        dims=(df.row_dims, df.col_dims), multicast=OPERANDS, reduction=True))
    rf = accel.rf
    rf_pj = rf.pj_per_bit() * rf.word_bits
    rf_bits = max(rf.word_bits, 1)
    nodes.append(StorageLevel(
        name="rf", keeps=OPERANDS, capacity_bytes=max(rf.capacity_bytes, -(-rf_bits // 8)),
        word_bits=rf.word_bits, read_bytes_per_cycle=rf.read_bytes_per_cycle,
        write_bytes_per_cycle=rf.write_bytes_per_cycle, double_buffered=False,
        read_pj=rf_pj, write_pj=rf_pj,
        streams=tuple(o for o in OPERANDS if o != df.stationary),
        temporal_dims=df.stream_dims))
    return Hierarchy(name=accel.name, nodes=tuple(nodes),
                     compute=Compute(mac_pj=accel.energy.mac_pj(accel.pe.operand_bits,
                                                                accel.pe.accumulator_bits),
                                     accumulator_bits=accel.pe.accumulator_bits),
                     clock_mhz=accel.clock_mhz, description=accel.description)


__all__ = ["Compute", "Fanout", "Hierarchy", "StorageLevel", "dump_hierarchy",
           "from_accelerator", "hierarchy_from_dict", "load_hierarchy"]
