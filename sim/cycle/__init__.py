"""The cycle-approximate model: per-tile array demand, a swappable memory supply, and
an engine that walks the tiles and accounts stalls by cause.

* :mod:`sim.cycle.demand` -- what the array asks for, pass by pass (fill, stream,
  drain cycles; words per operand to and from the GLB; DRAM tiles per block);
* :mod:`sim.cycle.supply` -- what memory delivers: :class:`BufferedMemory` (the
  spec's DRAM/GLB bandwidths, double buffering, DRAM latency, banks);
* :mod:`sim.cycle.scalesim` -- :class:`ScaleSimMemory`, SCALE-Sim 3.0.0's USER
  interface-bandwidth memory system, for comparison with it;
* :mod:`sim.cycle.engine` -- :func:`simulate_cycle`, returning the shared
  :class:`~sim.result.Result` plus a per-pass :class:`TileBreakdown` (CSV trace);
  with a sparse engine (``accel.sparse``) and optional ``tensors`` it applies
  :mod:`sim.sparse` (compressed traffic, effectual MACs, skipping schedule with the
  stall cause ``imbalance``);
* :mod:`sim.cycle.hier_cycle` -- :func:`simulate_hier`, the timeline of a layer on an
  N-level :class:`~sim.hierarchy.Hierarchy` (demand from :mod:`sim.hier_cost`,
  stalls by level, double buffering).

``sim.simulate(..., fidelity="cycle", trace=path, memory=model)`` runs it over a
network; for a SCALE-Sim ``.cfg`` (``--timing scalesim``) pass
``memory=ScaleSimMemory.from_cfg(path)`` with ``timing="scalesim"``.
"""

from sim.cycle.demand import Demand, build_demand
from sim.cycle.engine import COLUMNS, CycleRun, MemoryModel, TileBreakdown, simulate_cycle
from sim.cycle.hier_cycle import HierCycleError, HierCycleResult, StepKind, simulate_hier
from sim.cycle.scalesim import ScaleSimMemory, scalesim_mapping
from sim.cycle.supply import CAUSES, Banking, BufferedMemory, MemoryModelError, Supply

__all__ = ["CAUSES", "COLUMNS", "Banking", "BufferedMemory", "CycleRun", "Demand",
           "HierCycleError", "HierCycleResult", "MemoryModel", "MemoryModelError",
           "ScaleSimMemory", "StepKind", "Supply", "TileBreakdown", "build_demand",
           "scalesim_mapping", "simulate_cycle", "simulate_hier"]
