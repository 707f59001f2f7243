"""Objectives and constraints of a mapping search, scored on evaluate_batch arrays.

Scores are minimised. An illegal mapping (array overflow, capacity, precision) or
one breaking a constraint scores ``inf``. ``latency`` is total cycles, ``energy`` pJ,
``edp`` pJ x cycles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dataflows.errors import CoforgeError

OBJECTIVES: dict[str, str] = {"latency": "total_cycles", "energy": "energy_pj", "edp": "edp"}


class ObjectiveError(CoforgeError):
    """Unknown objective or malformed constraint."""


@dataclass(frozen=True)
class Objective:
    """What to minimise and the caps a mapping must respect (cycles, pJ)."""

    name: str = "edp"
    max_cycles: float = math.inf
    max_energy_pj: float = math.inf

    def __post_init__(self) -> None:
        if self.name not in OBJECTIVES:
            raise ObjectiveError(f"objective must be one of {sorted(OBJECTIVES)}, "
                                 f"not {self.name!r}")
        for field in ("max_cycles", "max_energy_pj"):
            value = getattr(self, field)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise ObjectiveError(f"{field} must be a number > 0, not {value!r}")

    def score(self, arr: dict[str, np.ndarray], valid: np.ndarray) -> np.ndarray:
        """Score per mapping (inf when invalid, illegal or over a cap)."""
        ok = valid & arr["legal"]
        if self.max_cycles < math.inf:
            ok &= arr["total_cycles"] <= self.max_cycles
        if self.max_energy_pj < math.inf:
            ok &= arr["energy_pj"] <= self.max_energy_pj
        return np.where(ok, arr[OBJECTIVES[self.name]].astype(np.float64, copy=False), np.inf)
