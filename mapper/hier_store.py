"""The on-disk store that makes ``coforge map --arch H.yaml`` (a hierarchy spec) resumable.

``OUT/map_shapes.jsonl``: one JSON object per line. The first line pins the run's
settings (:func:`run_meta`: the spec file's sha256, the network's name and the sha256
of its layers, strategy, objective, ``--max-evals``, ``--time-budget``, seed, input
rule, coforge's version and the sha256 of its source code). Every further line is one
distinct layer shape's search result, appended, flushed and fsync'ed as soon as the
search ends: the shape's key, the mapping found (its factor tuples), the bypass choice
it is for (per level the operands left out) and the evaluations spent. A finished run
appends ``{"done": true}``.

The file's rules (settings line, cut lines, refusing an unfinished store, atomic
rewrites, one-line errors) are :class:`mapper.line_store.LineStore`'s.

A run stopped at any point (SIGINT, SIGTERM, ``kill -9``) loses only the shapes being
searched; ``coforge map ... --resume`` reads the stored shapes instead of searching
them again and searches the rest. Every search is seeded with the run's seed alone
(never with the order of the shapes or the worker that ran it), so a resumed run gives
the same mappings, figures and evaluation counts as an uninterrupted one (under a
``--time-budget`` the searches depend on the clock, so only as a rerun would).

Without ``--resume`` a run starts a new store, replacing a finished one; an unfinished
one (no ``done`` line, at least one shape) is refused, so forgetting ``--resume`` never
discards a stopped run's work. Resuming with other settings (or other code) is an error
naming the first setting that differs; a last line cut short by a kill is ignored (that
shape is searched again); any other line that is not a stored shape is an error naming
the line. Every error is one line naming the file and the fix.
"""

from __future__ import annotations

from typing import Any

from dataflows.dataflow import MAP_DIMS
from dataflows.nest_mapping import NestMapping
from mapper.line_store import (STORE_NAME, LineStore, ShapeStoreError, code_sha256,
                               layers_sha256)
from sim.hierarchy import Hierarchy

#: What the first line's ``kind`` says (a store of another kind is not resumed).
KIND = "coforge map, hierarchy: one line per distinct layer shape"


def run_meta(*, spec_sha256: str, network: str, layers: list[dict[str, Any]],
             strategy: str, objective: str, max_evals: int, seed: int, input_reuse: str,
             coforge_version: str, time_budget_s: float | None = None) -> dict[str, Any]:
    """The settings a stored shape's result depends on (the store's first line)."""
    return {"kind": KIND, "spec_sha256": spec_sha256, "network": network,
            "layers_sha256": layers_sha256(layers),
            "strategy": strategy, "objective": objective, "max_evals": max_evals,
            "seed": seed, "input_reuse": input_reuse, "coforge_version": coforge_version,
            "code_sha256": code_sha256(), "time_budget_s": time_budget_s}


def _ints(value: object, depth: int) -> bool:
    """``value`` is a list nested ``depth`` deep whose leaves are positive ints."""
    if depth == 0:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 1
    return isinstance(value, list) and all(_ints(v, depth - 1) for v in value)


def _valid(rec: object) -> bool:
    """A stored shape's line has every field, of the right type."""
    return (isinstance(rec, dict) and isinstance(rec.get("shape"), str)
            and _ints(rec.get("temporal"), 2) and _ints(rec.get("spatial"), 3)
            and isinstance(rec.get("order"), list)
            and all(isinstance(o, list) and sorted(o) == sorted(MAP_DIMS)
                    for o in rec["order"])
            and isinstance(rec.get("bypassed"), dict)
            and all(isinstance(v, list) and all(isinstance(x, str) for x in v)
                    for v in rec["bypassed"].values())
            and isinstance(rec.get("evaluations"), int)
            and not isinstance(rec["evaluations"], bool) and rec["evaluations"] >= 0)


class ShapeStore(LineStore):
    """``OUT/map_shapes.jsonl`` of a hierarchy map (module doc): :meth:`get` a stored
    shape, :meth:`put` a searched one, :meth:`finish` a run. ``resume``: continue the
    store in ``out_dir`` (it must exist with the same ``meta``); otherwise start anew."""

    KIND = KIND
    RECORDS, RECORD = "layer shapes", "layer shape"

    def __init__(self, out_dir: Any, meta: dict[str, Any], resume: bool) -> None:
        self._choices: tuple[Hierarchy, tuple[Hierarchy, ...]] | None = None
        super().__init__(out_dir, meta, resume)

    def accept(self, rec: object) -> str | None:
        return rec["shape"] if _valid(rec) else None

    def get(self, shape: str, hier: Hierarchy) -> tuple[NestMapping, Hierarchy, int] | None:
        """(mapping, the bypass choice it is for, evaluations) of a stored shape, or None.
        A mapping that does not fit ``hier``'s structure is an error naming the store."""
        rec = self.records.get(shape)
        if rec is None:
            return None
        bypassed = {k: tuple(v) for k, v in rec["bypassed"].items()}
        if self._choices is None or self._choices[0] is not hier:   # built once per spec
            self._choices = (hier, hier.bypass_choices())
        chosen = next((h for h in self._choices[1] if h.bypassed == bypassed), None)
        if chosen is None:
            raise self.fail(f"shape {shape!r} was mapped with bypass choice "
                            f"{rec['bypassed']}, which the spec does not offer",
                            "drop --resume to start anew")
        mapping = NestMapping(
            temporal=tuple(tuple(v) for v in rec["temporal"]),
            order=tuple(tuple(o) for o in rec["order"]),
            spatial=tuple(tuple(tuple(a) for a in f) for f in rec["spatial"]))
        return mapping, chosen, rec["evaluations"]

    def bad_mapping(self, layer: str, why: str) -> ShapeStoreError:
        """The error for a stored mapping (of ``layer``'s shape) the cost model refuses."""
        return self.fail(f"the stored mapping of layer {layer!r}'s shape is not legal "
                         f"({why})", "drop --resume to start anew (was the store edited?)")

    def put(self, shape: str, mapping: NestMapping, chosen: Hierarchy, evaluations: int
            ) -> None:
        """Append one searched shape and force it to disk."""
        self.append(shape, {"shape": shape, "temporal": mapping.temporal,
                            "order": mapping.order, "spatial": mapping.spatial,
                            "bypassed": {k: list(v) for k, v in chosen.bypassed.items()},
                            "evaluations": int(evaluations)})


__all__ = ["KIND", "STORE_NAME", "ShapeStore", "ShapeStoreError", "code_sha256", "run_meta"]
