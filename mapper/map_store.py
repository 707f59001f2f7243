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
gives the uninterrupted run's result. Every record is type-checked field by field when
the store is read (a line that fails is an error naming it), and
:func:`mapper.network_map.map_network` re-costs each stored search's mapping with the
analytic model, which must give its stored result (a store edited by hand is an error
naming it, not a silently wrong figure; the cycle-model records are trusted once typed:
re-running them is what the store saves).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from dataflows.dataflow import MAP_DIMS
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


class _BadRecord(ValueError):
    """A stored record whose fields are missing or of the wrong type."""


def _is_int(v: object, low: int = 0) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= low


def _is_num(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _need(ok: bool) -> None:
    if not ok:
        raise _BadRecord


def _nested_ints(v: object, depth: int) -> bool:
    """A dict nested ``depth`` deep with str keys whose leaves are non-negative ints."""
    if depth == 0:
        return _is_int(v)
    return isinstance(v, dict) and all(isinstance(k, str) and _nested_ints(x, depth - 1)
                                       for k, x in v.items())


def _check_mapping(d: object) -> None:
    _need(isinstance(d, dict) and set(d) == {"rows", "cols", "temporal", "order"})
    for v in (d["rows"], d["cols"], *(d["temporal"] if isinstance(d["temporal"], list)
                                      else [None])):
        _need(isinstance(v, list) and len(v) == len(MAP_DIMS) and all(_is_int(x, 1) for x in v))
    _need(isinstance(d["order"], list) and all(
        isinstance(o, list) and sorted(o) == sorted(MAP_DIMS) for o in d["order"]))


def _check_result(d: object) -> None:
    _need(isinstance(d, dict))
    for k in ("layer", "timing", "fidelity"):
        _need(isinstance(d.get(k), str))
    for k in ("macs", "compute_cycles", "stall_cycles", "total_cycles", "tiles", "iterations"):
        _need(_is_int(d.get(k)))
    _need(_is_num(d.get("utilization")) and _is_num(d.get("energy_pj")))
    by = d.get("energy_pj_by_level")
    _need(isinstance(by, dict) and all(isinstance(k, str) and _is_num(v) for k, v in by.items()))
    _need(_nested_ints(d.get("accesses"), 3) and _nested_ints(d.get("bytes"), 3))
    _need(isinstance(d.get("mapping"), dict))
    causes = d.get("stall_cycles_by_cause")
    _need(causes is None or (isinstance(causes, dict) and all(_is_int(v) for v in causes.values())))
    _need(d.get("kind") is None or isinstance(d["kind"], str))
    ops = d.get("vector_ops")
    _need(ops is None or (isinstance(ops, list) and all(isinstance(x, str) for x in ops)))


def _check_search(d: object) -> None:
    _need(isinstance(d, dict))
    for k in ("layer", "strategy", "objective"):
        _need(isinstance(d.get(k), str))
    _need(_is_int(d.get("seed")) and _is_int(d.get("evaluations")) and
          _is_int(d.get("space_size")))
    _need(_is_num(d.get("elapsed_s")) and _is_num(d.get("best_score")))
    _need(d.get("proven_optimal") is None or isinstance(d["proven_optimal"], bool))
    _check_mapping(d.get("mapping"))
    _check_result(d.get("result"))
    hist, top = d.get("history"), d.get("top")
    _need(isinstance(hist, list) and all(isinstance(h, list) and len(h) == 2 and
                                         _is_int(h[0]) and _is_num(h[1]) for h in hist))
    _need(isinstance(top, list) and bool(top) and all(
        isinstance(t, list) and len(t) == 2 and _is_num(t[0]) for t in top))
    for _, m in top:
        _check_mapping(m)


def _check_rerank(d: object) -> None:
    _need(isinstance(d, dict) and isinstance(d.get("layer"), str))
    cands = d.get("candidates")
    _need(isinstance(cands, list) and bool(cands))
    for m in cands:
        _check_mapping(m)
    n = len(cands)
    for k in ("analytic_scores", "cycle_scores"):
        _need(isinstance(d.get(k), list) and len(d[k]) == n and all(_is_num(x) for x in d[k]))
    _need(isinstance(d.get("cycle_results"), list) and len(d["cycle_results"]) == n)
    for r in d["cycle_results"]:
        _check_result(r)
    _need(_is_int(d.get("chosen")) and d["chosen"] < n)


#: what each record kind holds: (its type check, its reader)
_READERS = {"search": (_check_search, search_from), "cycle": (_check_result, result_from),
            "rerank": (_check_rerank, rerank_from)}


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
        if what not in _READERS:
            return None
        check, read = _READERS[what]
        try:                            # every field of the right type, then built
            check(rec[what])
            obj = read(rec[what])
        except (KeyError, TypeError, ValueError, AttributeError):
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
