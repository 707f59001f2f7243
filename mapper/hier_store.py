"""The on-disk store that makes ``coforge map --arch H.yaml`` (a hierarchy spec) resumable.

``OUT/map_shapes.jsonl``: one JSON object per line. The first line pins the run's
settings (:func:`run_meta`: the spec file's sha256, the network's name and the sha256
of its layers, strategy, objective, ``--max-evals``, ``--time-budget``, seed, input
rule, coforge's version and the sha256 of its source code). Every further line is one
distinct layer shape's search result, appended, flushed and fsync'ed as soon as the
search ends: the shape's key, the mapping found (its factor tuples), the bypass choice
it is for (per level the operands left out) and the evaluations spent. A finished run
appends ``{"done": true}``.

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

import hashlib
import json
import os
from functools import cache
from pathlib import Path
from typing import Any

from dataflows.dataflow import MAP_DIMS
from dataflows.errors import CoforgeError
from dataflows.nest_mapping import NestMapping
from sim.hierarchy import Hierarchy

STORE_NAME = "map_shapes.jsonl"
#: What the first line's ``kind`` says (a store of another kind is not resumed).
KIND = "coforge map, hierarchy: one line per distinct layer shape"
#: The packages whose source decides a stored shape's result (hashed into the settings).
_CODE = ("dataflows", "sim", "mapper")


class ShapeStoreError(CoforgeError):
    """A store that cannot be written or resumed (missing, other settings, malformed)."""


@cache
def code_sha256() -> str:
    """sha256 of coforge's ``dataflows``, ``sim`` and ``mapper`` sources (every ``.py``,
    by relative path): a store written by other code is not resumed."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for pkg in _CODE:
        for path in sorted((root / pkg).rglob("*.py")):
            h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def run_meta(*, spec_sha256: str, network: str, layers: list[dict[str, Any]],
             strategy: str, objective: str, max_evals: int, seed: int, input_reuse: str,
             coforge_version: str, time_budget_s: float | None = None) -> dict[str, Any]:
    """The settings a stored shape's result depends on (the store's first line)."""
    text = json.dumps(layers, sort_keys=True, default=str)
    return {"kind": KIND, "spec_sha256": spec_sha256, "network": network,
            "layers_sha256": hashlib.sha256(text.encode()).hexdigest(),
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


class ShapeStore:
    """``OUT/map_shapes.jsonl`` (module doc): :meth:`get` a stored shape, :meth:`put` a
    searched one, :meth:`finish` a run. ``resume``: continue the store in ``out_dir``
    (it must exist with the same ``meta``); otherwise start a new one."""

    def __init__(self, out_dir: str | Path, meta: dict[str, Any], resume: bool) -> None:
        self.path = Path(out_dir) / STORE_NAME
        self._shapes: dict[str, dict[str, Any]] = {}
        self._choices: tuple[Hierarchy, tuple[Hierarchy, ...]] | None = None
        if resume:
            self._load(meta)
        else:
            self._refuse_unfinished()
            self._write([json.dumps(meta, sort_keys=True)])
        self.resumed = len(self._shapes)

    def _fail(self, what: str, fix: str) -> ShapeStoreError:
        return ShapeStoreError(f"{self.path}: {what}; {fix}")

    def _read(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise self._fail("not UTF-8 text, so not a coforge map store",
                             "delete it or give another --out") from None
        except OSError as err:
            raise self._fail(f"cannot be read ({err.strerror})",
                             "give an --out you can read and write") from None

    def _write(self, lines: list[str]) -> None:
        """Replace the store by ``lines`` atomically (a temporary file, then rename)."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "w", encoding="utf-8") as f:
                f.write("".join(x + "\n" for x in lines))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except OSError as err:
            raise self._fail(f"cannot be written ({err.strerror})",
                             "give an --out on a writable disk with free space") from None

    def _refuse_unfinished(self) -> None:
        if self.path.is_dir():
            raise self._fail("is a directory", "remove it or give another --out")
        if not self.path.exists():
            return
        lines = [x for x in self._read().split("\n") if x.strip()]
        done = any(x.strip() == '{"done": true}' for x in lines[1:])
        if len(lines) > 1 and not done:
            raise self._fail(f"holds an unfinished run ({len(lines) - 1} layer shapes "
                             f"stored)", "pass --resume to continue it, or delete the file "
                             "or give another --out to start anew")

    def _load(self, meta: dict[str, Any]) -> None:
        if self.path.is_dir():
            raise self._fail("is a directory", "remove it or give another --out")
        if not self.path.is_file():
            raise ShapeStoreError(f"--resume: {self.path} does not exist; run without "
                                  f"--resume first (it is written as the shapes are found)")
        text = self._read()
        lines = text.split("\n")
        if text.endswith("\n"):
            lines = lines[:-1]
        cut = None
        if not text.endswith("\n") and lines:
            try:
                json.loads(lines[-1])
            except json.JSONDecodeError:
                cut = lines.pop()           # a line cut short by a kill: ignored
        try:
            head = json.loads(lines[0]) if lines else None
        except json.JSONDecodeError:
            head = None
        if not isinstance(head, dict) or head.get("kind") != KIND:
            raise self._fail("line 1 is not a coforge map store's settings", "give the --out "
                             "of an earlier coforge map run on a hierarchy spec, or drop "
                             "--resume")
        for key in meta:
            if head.get(key) != meta[key]:
                raise self._fail(f"the stored run has {key} {head.get(key)!r}, this one "
                                 f"{meta[key]!r}", "resume with the same settings and "
                                 "code, or drop --resume to start anew")
        kept = [lines[0]]
        for i, line in enumerate(lines[1:], start=2):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                rec = None
            if rec == {"done": True}:
                continue
            if not _valid(rec):
                raise self._fail(f"line {i} is not a stored layer shape", "drop --resume "
                                 "to start anew (or delete that line)")
            self._shapes[rec["shape"]] = rec
            kept.append(line)
        if cut is not None or len(kept) < len(lines):   # rewrite without the cut/done lines
            self._write(kept)

    def __len__(self) -> int:
        return len(self._shapes)

    def get(self, shape: str, hier: Hierarchy) -> tuple[NestMapping, Hierarchy, int] | None:
        """(mapping, the bypass choice it is for, evaluations) of a stored shape, or None.
        A mapping that does not fit ``hier``'s structure is an error naming the store."""
        rec = self._shapes.get(shape)
        if rec is None:
            return None
        bypassed = {k: tuple(v) for k, v in rec["bypassed"].items()}
        if self._choices is None or self._choices[0] is not hier:   # built once per spec
            self._choices = (hier, hier.bypass_choices())
        chosen = next((h for h in self._choices[1] if h.bypassed == bypassed), None)
        if chosen is None:
            raise self._fail(f"shape {shape!r} was mapped with bypass choice "
                             f"{rec['bypassed']}, which the spec does not offer",
                             "drop --resume to start anew")
        mapping = NestMapping(
            temporal=tuple(tuple(v) for v in rec["temporal"]),
            order=tuple(tuple(o) for o in rec["order"]),
            spatial=tuple(tuple(tuple(a) for a in f) for f in rec["spatial"]))
        return mapping, chosen, rec["evaluations"]

    def bad_mapping(self, layer: str, why: str) -> ShapeStoreError:
        """The error for a stored mapping (of ``layer``'s shape) the cost model refuses."""
        return self._fail(f"the stored mapping of layer {layer!r}'s shape is not legal "
                          f"({why})", "drop --resume to start anew (was the store edited?)")

    def put(self, shape: str, mapping: NestMapping, chosen: Hierarchy, evaluations: int
            ) -> None:
        """Append one searched shape and force it to disk."""
        rec = {"shape": shape, "temporal": mapping.temporal, "order": mapping.order,
               "spatial": mapping.spatial,
               "bypassed": {k: list(v) for k, v in chosen.bypassed.items()},
               "evaluations": int(evaluations)}
        self._append(json.dumps(rec))
        self._shapes[shape] = rec

    def finish(self) -> None:
        """Mark the run finished (a later run without ``--resume`` may replace it)."""
        self._append(json.dumps({"done": True}))

    def _append(self, line: str) -> None:
        try:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(line + "\n")
                f.flush()
                os.fsync(f.fileno())
        except OSError as err:
            raise self._fail(f"cannot be written ({err.strerror})",
                             "give an --out on a writable disk with free space; the shapes "
                             "stored so far are kept (--resume)") from None


__all__ = ["KIND", "STORE_NAME", "ShapeStore", "ShapeStoreError", "code_sha256", "run_meta"]
