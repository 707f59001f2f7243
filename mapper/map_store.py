"""The on-disk store that makes ``coforge map`` on a 3-level spec resumable.

``OUT/map_shapes.jsonl`` (the file's rules: :class:`mapper.line_store.LineStore`). Line 1
pins the settings (:func:`run_meta`: the accelerator's ``spec_hash``, the network's
name and the sha256 of its layers, strategy, objective, ``--max-evals``,
``--time-budget``, seed, timing, ``--rerank`` and ``--top``, coforge's version and the
sha256 of its source code). A run has two phases per distinct layer shape and stores
each result as soon as it is known:

* ``{"shape": K, "search": ...}``: the search's record (:class:`SearchResult`: its
  mapping, its analytic result, the evaluations, the best-so-far history, the top
  mappings kept for a re-rank);
* ``{"shape": K, "cycle": ...}`` (the chosen mapping's cycle-model result) or
  ``{"shape": K, "rerank": ...}`` (the re-rank: every candidate's cycle-model result
  and the choice) -- the slow phase (a cycle run of a large layer takes tens of seconds).

``--resume`` reads both instead of running them again and runs the rest. Every search is
seeded with the run's seed alone and the cycle model is deterministic, so a resumed run
gives the uninterrupted run's result. A stored search is checked on reading: its
mapping, costed again by the analytic model, must give its stored result (a store edited
by hand is an error naming it, not a silently wrong figure).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from dataflows.mapping import Mapping
from mapper.line_store import LineStore, code_sha256, layers_sha256
from mapper.rerank import Rerank
from mapper.search import SearchResult
from sim.result import Result

KIND = "coforge map, 3-level: a search and a cycle-model run per distinct layer shape"


def run_meta(*, spec_hash: str, network: str, layers: list[dict[str, Any]], strategy: str,
             objective: str, max_evals: int, time_budget_s: float | None, seed: int,
             timing: str, rerank: str | None, top: int, coforge_version: str
             ) -> dict[str, Any]:
    """The settings the stored records depend on (the store's first line)."""
    return {"spec_hash": spec_hash, "network": network, "layers_sha256": layers_sha256(layers),
            "strategy": strategy, "objective": objective, "max_evals": max_evals,
            "time_budget_s": time_budget_s, "seed": seed, "timing": timing,
            "rerank": rerank, "top": top if rerank else None,
            "coforge_version": coforge_version, "code_sha256": code_sha256()}


def _plain(value: Any) -> Any:
    """``value`` with numpy scalars as Python numbers and tuples as lists (JSON-ready)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def mapping_doc(m: Mapping) -> dict[str, Any]:
    return {"rows": list(m.rows), "cols": list(m.cols),
            "temporal": [list(t) for t in m.temporal], "order": [list(o) for o in m.order]}


def mapping_from(d: dict[str, Any]) -> Mapping:
    return Mapping(rows=tuple(d["rows"]), cols=tuple(d["cols"]),
                   temporal=tuple(tuple(t) for t in d["temporal"]),
                   order=tuple(tuple(o) for o in d["order"]))


def result_doc(r: Result) -> dict[str, Any]:
    return _plain(dataclasses.asdict(r))


def result_from(d: dict[str, Any]) -> Result:
    d = dict(d)
    if d.get("vector_ops") is not None:
        d["vector_ops"] = tuple(d["vector_ops"])
    return Result(**d)


def search_doc(s: SearchResult) -> dict[str, Any]:
    doc = {f.name: getattr(s, f.name) for f in dataclasses.fields(s)}
    doc["mapping"] = mapping_doc(s.mapping)
    doc["result"] = result_doc(s.result)
    doc["top"] = [[float(score), mapping_doc(m)] for score, m in s.top]
    return _plain(doc)


def search_from(d: dict[str, Any]) -> SearchResult:
    d = dict(d)
    d["mapping"] = mapping_from(d["mapping"])
    d["result"] = result_from(d["result"])
    d["history"] = tuple((int(n), float(v)) for n, v in d["history"])
    d["top"] = tuple((float(score), mapping_from(m)) for score, m in d["top"])
    return SearchResult(**d)


def rerank_doc(r: Rerank) -> dict[str, Any]:
    return _plain({"layer": r.layer, "candidates": [mapping_doc(m) for m in r.candidates],
                   "analytic_scores": [float(x) for x in r.analytic_scores],
                   "cycle_scores": [float(x) for x in r.cycle_scores],
                   "cycle_results": [result_doc(x) for x in r.cycle_results],
                   "chosen": r.chosen})


def rerank_from(d: dict[str, Any]) -> Rerank:
    return Rerank(layer=d["layer"], candidates=tuple(mapping_from(m) for m in d["candidates"]),
                  analytic_scores=tuple(float(x) for x in d["analytic_scores"]),
                  cycle_scores=tuple(float(x) for x in d["cycle_scores"]),
                  cycle_results=tuple(result_from(x) for x in d["cycle_results"]),
                  chosen=int(d["chosen"]))


_READERS = {"search": search_from, "cycle": result_from, "rerank": rerank_from}


class MapStore(LineStore):
    """``OUT/map_shapes.jsonl`` of a 3-level map (module doc): :meth:`search` and
    :meth:`cycle` read a stored record (None if not stored), :meth:`put_search` and
    :meth:`put_cycle` append one, :meth:`finish` ends a run."""

    KIND = KIND
    RECORDS, RECORD = "records (searches and cycle-model runs of layer shapes)", \
        "search or cycle-model record"

    def __init__(self, out_dir: Any, meta: dict[str, Any], resume: bool) -> None:
        self._objs: dict[str, Any] = {}
        super().__init__(out_dir, meta, resume)

    def accept(self, rec: object) -> str | None:
        if not isinstance(rec, dict) or not isinstance(rec.get("shape"), str) \
                or len(rec) != 2:
            return None
        (what,) = set(rec) - {"shape"}
        if what not in _READERS or not isinstance(rec[what], dict):
            return None
        try:
            obj = _READERS[what](rec[what])
        except (KeyError, TypeError, ValueError, AttributeError):
            return None
        if what == "rerank" and not 0 <= obj.chosen < len(obj.candidates):
            return None
        key = f"{'search' if what == 'search' else 'cycle'}:{rec['shape']}"
        self._objs[key] = obj
        return key

    def search(self, shape: str) -> SearchResult | None:
        """The stored search of ``shape`` (``repr`` of its shape key), or None."""
        return self._objs.get(f"search:{shape}")

    def cycle(self, shape: str) -> Result | Rerank | None:
        """The stored cycle-model result (or re-rank) of ``shape``, or None."""
        return self._objs.get(f"cycle:{shape}")

    def put_search(self, shape: str, sr: SearchResult) -> None:
        """Append one search record and force it to disk."""
        self.append(f"search:{shape}", {"shape": shape, "search": search_doc(sr)})
        self._objs[f"search:{shape}"] = sr

    def put_cycle(self, shape: str, value: Result | Rerank) -> None:
        """Append one cycle-model result (or re-rank) and force it to disk."""
        what, doc = ("rerank", rerank_doc(value)) if isinstance(value, Rerank) else \
            ("cycle", result_doc(value))
        self.append(f"cycle:{shape}", {"shape": shape, what: doc})
        self._objs[f"cycle:{shape}"] = value

    def edited(self, layer: str, what: str) -> Exception:
        """The error for a stored record the model does not reproduce."""
        return self.fail(f"the stored {what} of layer {layer!r}'s shape is not what the "
                         f"model gives", "drop --resume to start anew (was the store "
                         "edited?)")


__all__ = ["KIND", "MapStore", "mapping_from", "result_from", "run_meta", "search_from"]
