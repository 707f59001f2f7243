"""Frozen result records shared by every fidelity of the cost model.

Units: cycles are clock cycles of the accelerator, energies are pJ, traffic is in
elements (``accesses``) and bytes (``bytes``). ``accesses[level][operand]`` holds
``{"reads": n, "writes": n}`` for level in ``pe``, ``glb``, ``dram``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Result:
    """Cost of one layer under one mapping. Invariant: total = compute + stall."""

    layer: str
    macs: int
    compute_cycles: int
    stall_cycles: int
    total_cycles: int
    utilization: float
    energy_pj: float
    energy_pj_by_level: dict[str, float]
    accesses: dict[str, dict[str, dict[str, int]]]
    bytes: dict[str, dict[str, dict[str, int]]]
    tiles: int
    iterations: int
    timing: str
    fidelity: str = "analytic"
    mapping: dict[str, Any] = field(default_factory=dict)
    #: Stall cycles per cause (:data:`sim.cycle.supply.CAUSES`) when a cycle run recorded
    #: them (``sim.simulate`` with ``fidelity="cycle"``); None otherwise. Not in
    #: :meth:`to_dict` (``mapper.report`` writes it beside the layer's entry).
    stall_cycles_by_cause: dict[str, int] | None = None
    #: For a non-GEMM node costed on the vector unit (:mod:`sim.vector`): its layer kind
    #: (``elementwise``/``pool``) and the operator kinds it ran as; None for array layers.
    kind: str | None = None
    vector_ops: tuple[str, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The per-layer entry of ``result.json`` (a vector-unit node adds ``kind`` and
        ``vector_ops``)."""
        extra: dict[str, Any] = {}
        if self.vector_ops is not None:
            extra = {"kind": self.kind, "vector_ops": list(self.vector_ops)}
        return {
            "name": self.layer, "macs": self.macs, "compute_cycles": self.compute_cycles,
            "stall_cycles": self.stall_cycles, "total_cycles": self.total_cycles,
            "utilization": self.utilization, "energy_pj": self.energy_pj,
            "energy_pj_by_level": dict(self.energy_pj_by_level),
            "accesses": self.accesses, "bytes": self.bytes,
            "tiles": self.tiles, "iterations": self.iterations, "mapping": self.mapping,
        } | extra


@dataclass(frozen=True)
class NetworkResult:
    """Per-layer results of a network plus totals; ``latency_ms`` uses the spec clock."""

    network: str
    arch: str
    spec_hash: str
    timing: str
    fidelity: str
    clock_mhz: float
    pes: int
    layers: tuple[Result, ...]
    vector_unit: str = "none: non-GEMM operators not costed"
    """How non-GEMM operators were costed (:func:`sim.vector.vector_unit_line`): the
    vector unit, or ``none: ...`` when the spec has none (they are not in ``layers``)."""

    @property
    def macs(self) -> int:
        return sum(r.macs for r in self.layers)

    @property
    def compute_cycles(self) -> int:
        return sum(r.compute_cycles for r in self.layers)

    @property
    def stall_cycles(self) -> int:
        return sum(r.stall_cycles for r in self.layers)

    @property
    def total_cycles(self) -> int:
        """Layers run one after another: cycles add."""
        return sum(r.total_cycles for r in self.layers)

    @property
    def energy_pj(self) -> float:
        return sum(r.energy_pj for r in self.layers)

    @property
    def utilization(self) -> float:
        """The layers' utilizations averaged over their cycles: MACs / (total cycles x
        PEs) for fixed-width PEs (native timing), and like each layer's utilization,
        against the array's peak at that layer's precision for bit-fusion and bit-serial
        PEs (:mod:`sim.datapath`), so it stays <= 1."""
        return sum(r.utilization * r.total_cycles for r in self.layers) \
            / max(1, self.total_cycles)

    @property
    def latency_ms(self) -> float:
        """total_cycles / clock (MHz) in milliseconds."""
        return self.total_cycles / (self.clock_mhz * 1e3)

    def totals(self) -> dict[str, Any]:
        return {"macs": self.macs, "compute_cycles": self.compute_cycles,
                "stall_cycles": self.stall_cycles, "total_cycles": self.total_cycles,
                "utilization": self.utilization, "energy_pj": self.energy_pj,
                "latency_ms": self.latency_ms}
