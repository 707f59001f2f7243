"""Fidelity in search: re-rank a search's best mappings with the cycle model, and the
analytic-vs-cycle gap of what was chosen.

The mapper's inner loop costs mappings with the analytic model (:mod:`sim.analytic`),
which is optimistic where DRAM transfers cannot overlap compute (first fills, final
write-backs, a long transfer behind a short tile: :mod:`sim.cycle.engine`). So the
analytic best need not be the cycle model's best. :func:`rerank` takes the
:attr:`~mapper.search.SearchResult.top` list of one search (the K best distinct
mappings by the analytic score), costs each with the cycle-approximate model and picks
the lowest cycle-model value of the *same* objective (``latency``: total cycles,
``energy``: pJ, ``edp``: pJ x cycles; the objective's caps apply to the cycle model's
figures). Ties keep the analytic order, so with K = 1 re-ranking changes nothing.

:func:`cycle_result` is the cycle model of one (layer, accelerator, mapping) exactly as
``sim.simulate(layer, accel, mapping, fidelity="cycle")`` computes it, through the
layer's PE datapath plan (the mapping is the timing layer's, the result the true
layer's; the accumulator-range check always applies there). :class:`LayerGap` and
:func:`gap_doc` are the report of the gap:
``gap = cycle_cycles / analytic_cycles - 1`` (positive: the analytic model promised
fewer cycles than the cycle model delivers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dataflows.errors import CoforgeError
from dataflows.mapping import Mapping
from mapper.objective import Objective
from dataflows.layer import Layer
from sim.result import NetworkResult, Result
from sim.spec import Accelerator

#: Models a search can re-rank with (``--rerank``).
RERANK_MODELS: tuple[str, ...] = ("cycle",)
#: Candidates re-ranked per distinct layer shape by default (``--top``).
DEFAULT_TOP = 8


class RerankError(CoforgeError):
    """Unknown re-rank model or a malformed ``top``."""


def check_rerank(rerank: str | None, top: int) -> None:
    """One-line :class:`RerankError` for an unknown model or a ``top`` below 1."""
    if rerank is not None and rerank not in RERANK_MODELS:
        raise RerankError(f"rerank must be one of {list(RERANK_MODELS)} or None, "
                          f"not {rerank!r}")
    if not isinstance(top, int) or isinstance(top, bool) or top < 1:
        raise RerankError(f"top (--top) must be a positive integer, not {top!r}")


def cycle_result(layer: Layer, accel: Accelerator, mapping: Mapping,
                 timing: str = "native") -> Result:
    """The cycle model's result of ``layer`` on ``accel`` under ``mapping`` (a mapping of
    the layer's datapath timing layer): the very code ``sim.simulate(layer, accel,
    mapping, fidelity="cycle")`` runs, so the two can never differ."""
    from sim.simulate import _cycle_layer     # simulate's own per-layer cycle run
    return _cycle_layer(layer, accel, mapping, timing, None).result


def scores(objective: Objective, results: list[Result]) -> np.ndarray:
    """The objective's score of each result (inf over a cap), from its own cycles."""
    cycles = np.array([r.total_cycles for r in results], dtype=np.float64)
    energy = np.array([r.energy_pj for r in results], dtype=np.float64)
    arr = {"legal": np.ones(len(results), dtype=bool), "total_cycles": cycles,
           "energy_pj": energy, "edp": cycles * energy}
    return objective.score(arr, np.ones(len(results), dtype=bool))


@dataclass(frozen=True)
class Rerank:
    """One shape's re-rank: the candidates (analytic order), both models' scores of each,
    and which one was chosen (index into ``candidates``)."""

    layer: str
    candidates: tuple[Mapping, ...]
    analytic_scores: tuple[float, ...]
    cycle_scores: tuple[float, ...]
    cycle_results: tuple[Result, ...]
    chosen: int

    @property
    def mapping(self) -> Mapping:
        return self.candidates[self.chosen]

    def to_dict(self) -> dict[str, Any]:
        return {"layer": self.layer, "candidates": len(self.candidates),
                "chosen": self.chosen,
                "analytic_scores": [float(s) for s in self.analytic_scores],
                "cycle_scores": [float(s) for s in self.cycle_scores],
                "cycle_total_cycles": [r.total_cycles for r in self.cycle_results]}


def rerank(layer: Layer, accel: Accelerator, top: tuple[tuple[float, Mapping], ...],
           objective: Objective | str, timing: str = "native") -> Rerank:
    """Cost every (analytic score, mapping) of ``top`` with the cycle model and choose
    the best cycle-model score of ``objective`` (first in analytic order on ties)."""
    obj = Objective(objective) if isinstance(objective, str) else objective
    if not top:
        raise RerankError(f"layer {layer.name!r}: nothing to re-rank")
    results = [cycle_result(layer, accel, m, timing) for _, m in top]
    cyc = scores(obj, results)
    chosen = int(np.argmin(cyc))             # first minimum: the analytic order on ties
    if not np.isfinite(cyc[chosen]):
        chosen = 0                           # every candidate over a cap: keep the analytic
    return Rerank(layer=layer.name, candidates=tuple(m for _, m in top),
                  analytic_scores=tuple(float(s) for s, _ in top),
                  cycle_scores=tuple(float(s) for s in cyc),
                  cycle_results=tuple(results), chosen=chosen)


@dataclass(frozen=True)
class LayerGap:
    """The chosen mapping of one layer under both models (cycles)."""

    layer: str
    analytic_cycles: int
    cycle_cycles: int

    @property
    def gap(self) -> float:
        """cycle / analytic - 1 (0 when both are 0)."""
        return self.cycle_cycles / self.analytic_cycles - 1 if self.analytic_cycles else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.layer, "analytic_cycles": self.analytic_cycles,
                "cycle_cycles": self.cycle_cycles, "gap": self.gap}


def layer_gaps(analytic: NetworkResult, cycle: NetworkResult) -> list[LayerGap]:
    """Per-layer gaps of two results of the same mappings (same layer order)."""
    if [r.layer for r in analytic.layers] != [r.layer for r in cycle.layers]:
        raise RerankError("analytic and cycle results cover different layers")
    return [LayerGap(a.layer, a.total_cycles, c.total_cycles)
            for a, c in zip(analytic.layers, cycle.layers)]


def gap_doc(analytic: NetworkResult, cycle: NetworkResult,
            rerank_model: str | None = None, top: int | None = None) -> dict[str, Any]:
    """The ``fidelity_gap`` section of ``result.json``: per layer and total."""
    gaps = layer_gaps(analytic, cycle)
    total = LayerGap("total", analytic.total_cycles, cycle.total_cycles)
    return {"rerank": rerank_model, "top": top if rerank_model else None,
            "chosen_by": f"{rerank_model} model" if rerank_model else "analytic model",
            "layers": [g.to_dict() for g in gaps],
            "total": {k: v for k, v in total.to_dict().items() if k != "name"}}


def gap_text(analytic: NetworkResult, cycle: NetworkResult, worst: int = 5) -> str:
    """A few lines for the terminal: the total gap and the layers with the largest."""
    gaps = layer_gaps(analytic, cycle)
    total = LayerGap("total", analytic.total_cycles, cycle.total_cycles)
    lines = [f"analytic vs cycle model of the chosen mappings: {total.analytic_cycles:,} vs "
             f"{total.cycle_cycles:,} cycles ({total.gap:+.1%})"]
    ranked = sorted(gaps, key=lambda g: -abs(g.gap))[:worst]
    if ranked:
        lines.append("  largest per-layer gaps: " + ", ".join(
            f"{g.layer} {g.analytic_cycles:,} vs {g.cycle_cycles:,} ({g.gap:+.1%})"
            for g in ranked))
    return "\n".join(lines)


__all__ = ["DEFAULT_TOP", "LayerGap", "RERANK_MODELS", "Rerank", "RerankError",
           "check_rerank", "cycle_result", "gap_doc", "gap_text", "layer_gaps", "rerank",
           "scores"]
