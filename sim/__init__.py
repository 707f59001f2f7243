"""What it costs: the accelerator spec and the cost models (analytic, cycle-approximate)."""

from sim.analytic import CostError, MappingBatch, evaluate, evaluate_batch
from sim.default_mapping import default_mapping
from sim.energy import EnergyTable
from sim.result import NetworkResult, Result
from sim.simulate import simulate, simulate_layer
from sim.spec import Accelerator, Buffer, PEConfig, SpecError
from sim.spec_io import load_accelerator, shipped_specs

__all__ = [
    "Accelerator", "Buffer", "CostError", "EnergyTable", "MappingBatch", "NetworkResult",
    "PEConfig", "Result", "SpecError", "default_mapping", "evaluate", "evaluate_batch",
    "load_accelerator", "shipped_specs", "simulate", "simulate_layer",
]
