"""The on-disk store that makes ``coforge map --arch H.yaml`` (a hierarchy spec) resumable.

``OUT/map_shapes.jsonl``: one JSON object per line. The first line pins the run's
settings (:func:`run_meta`: the spec file's sha256, the network's name and the sha256
of its layers, strategy, objective, ``--max-evals``, ``--time-budget``, seed, input
rule, coforge's version). Every further line is one distinct layer shape's search
result, appended, flushed and fsync'ed as soon as the search ends: the shape's key,
the mapping found (its factor tuples), the bypass choice it is for (per level the
operands left out) and the evaluations spent.

A run stopped at any point (SIGINT, SIGTERM, ``kill -9``) loses only the shape being
searched; ``coforge map ... --resume`` reads the stored shapes instead of searching
them again and searches the rest. Every search is seeded with the run's seed alone
(never with the order of the shapes), so a resumed run gives the same mappings,
figures and evaluation counts as an uninterrupted one (under a ``--time-budget`` the
searches depend on the clock, so only as a rerun would).

Without ``--resume`` a run starts a new store (an earlier one in ``OUT`` is replaced, as
``result.json`` is). Resuming with other settings is an error naming the first setting
that differs; a last line cut short by a kill is ignored (that shape is searched again).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from dataflows.errors import CoforgeError
from dataflows.nest_mapping import NestMapping
from sim.hierarchy import Hierarchy

STORE_NAME = "map_shapes.jsonl"
#: What the first line's ``kind`` says (a store of another kind is not resumed).
KIND = "coforge map, hierarchy: one line per distinct layer shape"


class ShapeStoreError(CoforgeError):
    """A store that cannot be resumed (missing, other settings, malformed)."""


def run_meta(*, spec_sha256: str, network: str, layers: list[dict[str, Any]],
             strategy: str, objective: str, max_evals: int, seed: int, input_reuse: str,
             coforge_version: str, time_budget_s: float | None = None) -> dict[str, Any]:
    """The settings a stored shape's result depends on (the store's first line)."""
    text = json.dumps(layers, sort_keys=True, default=str)
    return {"kind": KIND, "spec_sha256": spec_sha256, "network": network,
            "layers_sha256": hashlib.sha256(text.encode()).hexdigest(),
            "strategy": strategy, "objective": objective, "max_evals": max_evals,
            "seed": seed, "input_reuse": input_reuse, "coforge_version": coforge_version,
            "time_budget_s": time_budget_s}


class ShapeStore:
    """``OUT/map_shapes.jsonl`` (module doc): :meth:`get` a stored shape, :meth:`put` a
    searched one. ``resume``: continue the store in ``out_dir`` (it must exist with the
    same ``meta``); otherwise start a new one."""

    def __init__(self, out_dir: str | Path, meta: dict[str, Any], resume: bool) -> None:
        self.path = Path(out_dir) / STORE_NAME
        self._shapes: dict[str, dict[str, Any]] = {}
        if resume:
            self._load(meta)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps(meta, sort_keys=True) + "\n")
        self.resumed = len(self._shapes)

    def _load(self, meta: dict[str, Any]) -> None:
        if not self.path.is_file():
            raise ShapeStoreError(f"--resume: {self.path} does not exist; run without "
                                  f"--resume first (it is written as the shapes are found)")
        text = self.path.read_text()
        lines = text.split("\n")
        whole = lines[:-1] if not text.endswith("\n") else lines   # a cut last line: ignored
        try:
            head = json.loads(whole[0]) if whole and whole[0] else None
        except json.JSONDecodeError:
            head = None
        if not isinstance(head, dict) or head.get("kind") != KIND:
            raise ShapeStoreError(f"--resume: {self.path}: line 1 is not a coforge map store's "
                                  f"settings; give the --out of an earlier coforge map run "
                                  f"on a hierarchy spec")
        for key in meta:
            if head.get(key) != meta[key]:
                raise ShapeStoreError(f"--resume: {self.path}: the stored run has {key} "
                                      f"{head.get(key)!r}, this one {meta[key]!r}; resume with "
                                      f"the same settings, or drop --resume to start anew")
        for i, line in enumerate(whole[1:], start=2):
            if not line:
                continue
            try:
                rec = json.loads(line)
                self._shapes[rec["shape"]] = rec
            except (json.JSONDecodeError, KeyError, TypeError):
                raise ShapeStoreError(f"--resume: {self.path}: line {i} is not a stored "
                                      f"shape; drop --resume to start anew") from None
        if len(whole) < len(lines):     # drop the cut line, so appends start on a new one
            self.path.write_text("\n".join(whole) + "\n" if whole else "")

    def __len__(self) -> int:
        return len(self._shapes)

    def get(self, shape: str, hier: Hierarchy) -> tuple[NestMapping, Hierarchy, int] | None:
        """(mapping, the bypass choice it is for, evaluations) of a stored shape, or None."""
        rec = self._shapes.get(shape)
        if rec is None:
            return None
        bypassed = {k: tuple(v) for k, v in rec["bypassed"].items()}
        chosen = next((h for h in hier.bypass_choices() if h.bypassed == bypassed), None)
        if chosen is None:
            raise ShapeStoreError(f"--resume: {self.path}: shape {shape!r} was mapped with "
                                  f"bypass choice {rec['bypassed']}, which the spec does not "
                                  f"offer; drop --resume to start anew")
        mapping = NestMapping(
            temporal=tuple(tuple(int(v) for v in t) for t in rec["temporal"]),
            order=tuple(tuple(str(d) for d in o) for o in rec["order"]),
            spatial=tuple(tuple(tuple(int(v) for v in a) for a in f) for f in rec["spatial"]))
        return mapping, chosen, int(rec["evaluations"])

    def put(self, shape: str, mapping: NestMapping, chosen: Hierarchy, evaluations: int
            ) -> None:
        """Append one searched shape and force it to disk."""
        rec = {"shape": shape, "temporal": mapping.temporal, "order": mapping.order,
               "spatial": mapping.spatial,
               "bypassed": {k: list(v) for k, v in chosen.bypassed.items()},
               "evaluations": int(evaluations)}
        with open(self.path, "a") as f:
            f.write(json.dumps(rec) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self._shapes[shape] = rec


__all__ = ["KIND", "STORE_NAME", "ShapeStore", "ShapeStoreError", "run_meta"]
