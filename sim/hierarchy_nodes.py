"""The N-level accelerator's runtime objects: storage levels, fanouts, compute, hierarchy.

Frozen dataclasses (outermost first; YAML schema and semantics in :mod:`sim.hierarchy`).
Capacities (bytes), bandwidths (bytes/cycle) and energies (pJ per word) are **per
instance** of a level. Each constructor checks its own invariants, so an importer
building them directly (:mod:`mapper.zigzag_import`, :mod:`mapper.accelforge_import`)
gets the same rules as a file; a file is checked first by :mod:`sim.hierarchy_schema`,
whose errors name the key path and line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from dataflows.dataflow import MAP_DIMS, OPERANDS
from sim.energy import DEFAULT_DRAM_PJ_PER_BIT, EnergyTable, sram_access_pj
from sim.spec import SpecError

#: Default energy per 8-bit MAC with a 32-bit accumulator (pJ): [H14] multiply + add.
DEFAULT_MAC_PJ = EnergyTable().mac_pj(8, 32)
#: Largest fanout side, word width (bits), port and bank count, accumulator width (bits).
MAX_FANOUT = 4096
MAX_WORD_BITS = 1 << 16
MAX_PORTS = 1024
MAX_BANKS = 1 << 16
MAX_ACCUMULATOR_BITS = 128
#: Most bypass choices (product over levels of 2 ** len(may_bypass)) a search tries.
MAX_BYPASS_CHOICES = 64


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
    ``value_bits``: ``((operand, bits), ...)`` (a dict is accepted) -- the width this
    level stores the listed kept operands at, every access and the capacity at that width
    (AccelForge's per-memory ``bits_per_value``). An unlisted operand takes the layer's
    precision; unlisted outputs move as partial sums at ``compute.accumulator_bits`` and
    as final outputs at the output width where they enter the outermost level.
    ``may_bypass``: kept operands the mapper may choose to leave out of this level
    (AccelForge's ``may_keep``): :meth:`Hierarchy.bypass_choices` lists every choice and
    :func:`mapper.nest_search.search` searches each. ``bypassed``: in such a choice, the
    operands it left out (then ``keeps`` may be empty: the level's loops stay in the nest).
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
    value_bits: tuple[tuple[str, int], ...] = ()
    may_bypass: tuple[str, ...] = ()
    bypassed: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise SpecError(f"storage level name must be a non-empty string, not {self.name!r}")
        where = f"level {self.name!r}"
        object.__setattr__(self, "bypassed", _operands(f"{where}: bypassed", self.bypassed)
                           if self.bypassed else ())
        if isinstance(self.keeps, (list, tuple)) and not self.keeps and self.bypassed:
            object.__setattr__(self, "keeps", ())
        elif isinstance(self.keeps, (list, tuple)) and not self.keeps:
            raise SpecError(f"{where}: keeps no operand; list at least one of "
                            f"{list(OPERANDS)} or remove the level")
        if self.keeps:
            object.__setattr__(self, "keeps", _operands(f"{where}: keeps", self.keeps))
        if set(self.bypassed) & set(self.keeps):
            raise SpecError(f"{where}: bypassed {list(self.bypassed)} must not be kept")
        mb = _operands(f"{where}: may_bypass", self.may_bypass) if self.may_bypass else ()
        if any(o not in self.keeps for o in mb):
            raise SpecError(f"{where}: may_bypass {list(mb)} must be kept operands "
                            f"{list(self.keeps)}")
        object.__setattr__(self, "may_bypass", mb)
        _pos_int(f"{where}: word_bits", self.word_bits, MAX_WORD_BITS)
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
        _pos_int(f"{where}: ports", self.ports, MAX_PORTS)
        _pos_int(f"{where}: banks", self.banks, MAX_BANKS)
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
        vb = self.value_bits
        vb = dict(vb.items() if isinstance(vb, dict) else vb or ())
        bad = [o for o in vb if o not in self.keeps]
        if bad:
            raise SpecError(f"{where}: value_bits names {bad[0]!r}, which the level does not "
                            f"keep; name kept operands {list(self.keeps)}")
        for op, b in vb.items():
            _pos_int(f"{where}: value_bits.{op}", b, MAX_ACCUMULATOR_BITS)
        object.__setattr__(self, "value_bits", tuple((o, vb[o]) for o in self.keeps if o in vb))

    def _check_capacity(self, where: str, value: object) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise SpecError(f"{where} must be a positive integer of bytes (null = unbounded), "
                            f"not {value!r}")
        if value * 8 < self.word_bits * (2 if self.double_buffered else 1):
            raise SpecError(f"{where} = {value} B cannot hold one {self.word_bits}-bit word"
                            f"{' per buffer half' if self.double_buffered else ''}; "
                            f"enlarge it or narrow word_bits")

    def bypassing(self, gone: tuple[str, ...]) -> StorageLevel:
        """This level with the kept operands ``gone`` left out (into ``bypassed``): the
        per-operand capacities, streams and ``value_bits`` of what is left (everything
        left out: the partitions' total, shared), no ``may_bypass``."""
        from dataclasses import replace
        keeps = tuple(o for o in self.keeps if o not in gone)
        cap = self.capacity_bytes
        if isinstance(cap, tuple):
            cap = tuple((o, b) for o, b in cap if o in keeps) if keeps else \
                sum(b for _, b in cap)
        return replace(self, keeps=keeps, capacity_bytes=cap, may_bypass=(),
                       bypassed=tuple(o for o in self.keeps if o in gone),
                       streams=tuple(o for o in self.streams if o in keeps),
                       value_bits=tuple((o, b) for o, b in self.value_bits if o in keeps))

    def stored_bits(self, operand: str) -> int | None:
        """The width ``value_bits`` gives ``operand`` here, ``None`` when unlisted."""
        return dict(self.value_bits).get(operand)

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


def _max_factors(where: str, fo: "Fanout") -> tuple:
    """``fo.max_factors`` checked and canonical (:class:`Fanout`): () when nothing is
    capped below an axis size, else per axis the ``(dim, n)`` pairs in MAP_DIMS order."""
    raw = fo.max_factors
    if raw is None or (isinstance(raw, (list, tuple, dict)) and not raw):
        return ()
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, (list, tuple)) or len(raw) != len(fo.size):
        raise SpecError(f"{where}: max_factors must give one {{dim: n}} mapping per axis "
                        f"({len(fo.size)}; 1-D: {{K: 8}}), not {fo.max_factors!r}")
    out = []
    for a, caps in enumerate(raw):
        if isinstance(caps, (list, tuple)) and all(isinstance(c, (list, tuple)) and
                                                   len(c) == 2 for c in caps):
            caps = dict(caps)               # the canonical form read back
        if not isinstance(caps, dict):
            raise SpecError(f"{where}: max_factors[{a}] must map dimensions to factors "
                            f"({{K: 8}}), not {caps!r}")
        for d, n in caps.items():
            if d not in fo.dims[a]:
                raise SpecError(f"{where}: max_factors[{a}] caps {d!r}, which axis {a} does "
                                f"not unroll; its dims are {list(fo.dims[a])}")
            _pos_int(f"{where}: max_factors[{a}].{d}", n)
        out.append(tuple((d, int(caps[d])) for d in MAP_DIMS
                         if d in caps and caps[d] < fo.size[a]))
    if not any(out):
        return ()
    if fo.min_usage:
        raise SpecError(f"{where}: max_factors with a min_usage is not supported (the "
                        f"usage repair of the mapper ignores caps); drop one of them")
    return tuple(out)


@dataclass(frozen=True)
class Fanout:
    """A spatial fanout: ``prod(size)`` children (1-D ``(n,)`` or 2-D ``(rows, cols)``).

    ``dims[a]``: the loop dimensions that may be unrolled on axis ``a``. ``multicast``:
    operands one parent read delivers to every child that needs the same word (others
    are read once per child). ``reduction``: partial sums of children working on the
    same outputs are summed in the fanout before they are written up (else each child
    writes its own and the parent accumulates). ``min_usage`` (0..1, AccelForge's): a
    mapping must unroll at least this share of the children (the product of its spatial
    factors here, idle positions included), or, where the layer's dimensions cannot
    fill that many with exact factors, as many as they can (``sim.hier_plan``).
    ``max_factors[a]``: per dimension the largest factor axis ``a`` may unroll it by (a
    fixed-function array wired for K 32 x OX 8, ZigZag's ``spatial_mapping``); a
    dimension not named is bounded by the axis size alone. Given as ``{dim: n}`` (1-D) or
    one such mapping per axis; held as per-axis ``((dim, n), ...)``, only caps below the
    axis size. Not combinable with a ``min_usage`` (the usage repair ignores caps).
    """

    name: str
    size: tuple[int, ...]
    dims: tuple[tuple[str, ...], ...]
    multicast: tuple[str, ...] = OPERANDS
    reduction: bool = True
    min_usage: float = 0.0
    max_factors: tuple = ()

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
        u = self.min_usage
        if isinstance(u, bool) or not isinstance(u, (int, float)) or not 0 <= u <= 1:
            raise SpecError(f"{where}: min_usage must be a number from 0 to 1 (a share of "
                            f"its children), not {u!r}")
        object.__setattr__(self, "max_factors", _max_factors(where, self))

    def cap(self, axis: int, dim: str) -> int:
        """The largest factor ``axis`` may unroll ``dim`` by (its size when not capped)."""
        for d, n in self.max_factors[axis] if self.max_factors else ():
            if d == dim:
                return n
        return self.size[axis]

    @property
    def children(self) -> int:
        return math.prod(self.size)


#: How the innermost level keeping outputs (the accumulator) counts the partial sums that
#: enter and leave it (:class:`Compute` ``psum_access``):
#:
#: * ``fused`` -- one read and one write per accumulation (MAC arrival) and nothing else: a
#:   partial sum refilled from the level above or drained to it passes through the MAC's
#:   read-modify-write (a psum path into the adder, as in a systolic PE; sim.analytic's
#:   and the RTL's rule). Where that level is the top one, the first accumulation of each
#:   output is written without a read.
#: * ``separate`` -- also one write per partial sum refilled from above and one read per
#:   partial sum drained to above (ZigZag's counting: ``wr_in_by_high``,
#:   ``rd_out_to_high``).
#: * ``separate_no_first_read`` -- as ``separate``, and the first accumulation of each
#:   fresh output (not a refill) is written without a read (AccelForge's counting).
PSUM_ACCESS = ("fused", "separate", "separate_no_first_read")

#: Which data movement overlaps the MACs (:class:`Compute` ``overlap``):
#:
#: * ``double_buffered`` -- a level's fills and drains overlap compute only where it is
#:   double-buffered (the next tile loads into the other half) or the operand streams
#:   through it; a single-buffered level holding a tile cannot replace it while the MACs
#:   use it, so its fills and drains (its own writes and reads, its parent's reads and
#:   writes for it) stall the compute. The cycle model's rule (and ZigZag's stalls).
#: * ``always`` -- every transfer overlaps compute whatever the buffering: latency is the
#:   slowest component (AccelForge's and Timeloop's latency model).
OVERLAP = ("double_buffered", "always")


@dataclass(frozen=True)
class Compute:
    """The MAC units under the last node: energy per MAC (pJ), accumulator width (bits)
    and how the accumulator counts partial sums moving in and out (:data:`PSUM_ACCESS`);
    ``overlap``: which transfers overlap the MACs (:data:`OVERLAP`)."""

    mac_pj: float = DEFAULT_MAC_PJ
    accumulator_bits: int = 32
    psum_access: str = "fused"
    overlap: str = "double_buffered"

    def __post_init__(self) -> None:
        if isinstance(self.mac_pj, bool) or not isinstance(self.mac_pj, (int, float)) or \
                not math.isfinite(self.mac_pj) or self.mac_pj < 0:
            raise SpecError(f"compute.mac_pj must be a finite number >= 0, not {self.mac_pj!r}")
        _pos_int("compute.accumulator_bits", self.accumulator_bits, MAX_ACCUMULATOR_BITS)
        if self.psum_access not in PSUM_ACCESS:
            raise SpecError(f"compute.psum_access must be one of {list(PSUM_ACCESS)}, not "
                            f"{self.psum_access!r}")
        if self.overlap not in OVERLAP:
            raise SpecError(f"compute.overlap must be one of {list(OVERLAP)}, not "
                            f"{self.overlap!r}")


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
        if nodes[0].may_bypass:
            raise SpecError(f"hierarchy {self.name!r}: the outermost level "
                            f"{nodes[0].name!r} keeps every operand; it may not bypass "
                            f"{list(nodes[0].may_bypass)}")
        choices = math.prod(2 ** len(n.may_bypass) for n in nodes
                            if isinstance(n, StorageLevel))
        if choices > MAX_BYPASS_CHOICES:
            raise SpecError(f"hierarchy {self.name!r}: may_bypass allows {choices} choices; "
                            f"at most {MAX_BYPASS_CHOICES} are searched (list fewer operands)")
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
    @cached_property
    def levels(self) -> tuple[StorageLevel, ...]:
        """Storage levels, outermost first."""
        return tuple(n for n in self.nodes if isinstance(n, StorageLevel))

    @cached_property
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

    @cached_property
    def fanout_positions(self) -> tuple[int, ...]:
        """Per fanout (outermost first), the number of storage levels above it."""
        out, li = [], 0
        for n in self.nodes:
            if isinstance(n, StorageLevel):
                li += 1
            else:
                out.append(li)
        return tuple(out)

    def instances(self, level: int) -> int:
        """Copies of storage level ``level`` (product of the fanouts above it)."""
        return math.prod(self.fanouts[f].children for f in self.fanouts_above(level))

    @property
    def pes(self) -> int:
        """MAC units: the product of every fanout."""
        return math.prod(f.children for f in self.fanouts)

    def bypass_choices(self) -> tuple[Hierarchy, ...]:
        """Every choice of the levels' ``may_bypass`` operands to leave out, this
        hierarchy's keeps first (the empty choice): each a hierarchy with the same nodes,
        the chosen operands removed from ``keeps`` into ``bypassed`` and no
        ``may_bypass`` left. One element when no level may bypass."""
        import itertools
        from dataclasses import replace
        idx = [i for i, n in enumerate(self.nodes)
               if isinstance(n, StorageLevel) and n.may_bypass]
        if not idx:
            return (self,)
        per = [[c for k in range(len(self.nodes[i].may_bypass) + 1)
                for c in itertools.combinations(self.nodes[i].may_bypass, k)] for i in idx]
        out = []
        for pick in itertools.product(*per):
            nodes = list(self.nodes)
            for i, gone in zip(idx, pick):
                nodes[i] = nodes[i].bypassing(gone)
            out.append(replace(self, nodes=tuple(nodes)))
        return tuple(out)

    @property
    def bypassed(self) -> dict[str, tuple[str, ...]]:
        """Per level of a bypass choice, the operands it leaves out (empty: none)."""
        return {lv.name: lv.bypassed for lv in self.levels if lv.bypassed}

    def to_dict(self) -> dict[str, Any]:
        """The YAML form (:func:`sim.hierarchy.hierarchy_from_dict` reads it back equal)."""
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
                if n.value_bits:
                    d["value_bits"] = dict(n.value_bits)
                if n.may_bypass:
                    d["may_bypass"] = list(n.may_bypass)
                items.append({"storage": d})
            else:
                fo = {"name": n.name, "size": list(n.size),
                      "dims": [list(a) for a in n.dims] if len(n.size) == 2 else list(n.dims[0]),
                      "multicast": list(n.multicast), "reduction": n.reduction}
                if n.min_usage:
                    fo["min_usage"] = n.min_usage
                if n.max_factors:
                    caps = [dict(a) for a in n.max_factors]
                    fo["max_factors"] = caps if len(n.size) == 2 else caps[0]
                items.append({"fanout": fo})
        return {"hierarchy": {"name": self.name, "clock_mhz": self.clock_mhz,
                              "compute": {"mac_pj": self.compute.mac_pj,
                                          "accumulator_bits": self.compute.accumulator_bits,
                                          "psum_access": self.compute.psum_access,
                                          "overlap": self.compute.overlap},
                              "levels": items}, "description": self.description}


__all__ = ["DEFAULT_MAC_PJ", "MAX_ACCUMULATOR_BITS", "MAX_BANKS", "MAX_BYPASS_CHOICES",
           "MAX_FANOUT", "MAX_PORTS", "MAX_WORD_BITS", "OVERLAP", "PSUM_ACCESS", "Compute",
           "Fanout", "Hierarchy", "Node", "StorageLevel"]
