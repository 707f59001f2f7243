"""An on-disk result store (SQLite, standard library) that makes long runs resumable.

One row per evaluated design, written and committed as soon as it is known, keyed by
the design's text key (``UNIQUE``: a design is never stored twice). A run killed
with ``kill -9`` loses only the designs in flight; rerun with the same settings and
``resume=True`` and the search replays stored designs from the store instead of
evaluating them. The ``meta`` table pins the run's settings (network, space, seed,
objectives, ...): resuming with different settings is an error, not a silent mix.

Every stored field is declared once, in :class:`DesignRecord`: the table's
``CREATE TABLE``, the ``ALTER TABLE`` that brings an older store up to date, the
dict rows of :meth:`StoreReader.rows` and the CSV columns of ``pareto.csv``
(:func:`mapper.dse_report.csv_columns`) are all derived from its fields.
:class:`StoreReader` reads a store without changing it (``coforge validate``).
"""

from __future__ import annotations

import dataclasses
import json
import numbers
import sqlite3
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

from dataflows.errors import CoforgeError

#: Which designs a field is filled for: ``store`` (assigned by the store), ``always``
#: (every design; None only where a design could not run), ``fpga`` (runs with an FPGA
#: target), ``accuracy`` (runs that measure accuracy: ``--onnx M --data D``).
Group = Literal["store", "always", "fpga", "accuracy"]
GROUPS: tuple[str, ...] = ("store", "always", "fpga", "accuracy")


def _f(group: Group, doc: str, *, csv: bool = False, default: Any = None,
       required: bool = False) -> Any:
    meta = {"group": group, "doc": doc, "csv": csv}
    return field(metadata=meta) if required else field(default=default, metadata=meta)


@dataclass(frozen=True, kw_only=True)
class DesignRecord:
    """One stored design: every column of the ``designs`` table, declared once.

    Field order is the order of ``pareto.csv``'s metric columns (those marked ``csv``,
    per group). Values are normalised on construction: integer fields hold ``int``,
    real fields ``float`` (numpy scalars are converted), text fields ``str``; a wrong
    type is a :class:`StoreError` naming the field and the value."""

    seq: int | None = _f("store", "evaluation order in the store, from 1 (the #N of "
                                  "report.txt); None until stored")
    key: str = _f("always", "the design's text key (JSON of its parameters)", csv=True,
                  required=True)
    latency_ms: float | None = _f("always", "network latency at clock_mhz (ms)", csv=True)
    energy_mj: float | None = _f("always", "network energy (mJ)", csv=True)
    edp: float | None = _f("always", "energy-delay product, latency_ms * energy_mj "
                                     "(ms * mJ)", csv=True)
    area_mm2: float | None = _f("always", "accelerator area (mm2)", csv=True)
    spec_hash: str | None = _f("always", "hash of the accelerator spec (None when the "
                                         "spec could not be built)", csv=True)
    seed: int = _f("always", "the run's seed (the design's own is "
                             "mapper.dse.design_seed(seed, key))", required=True)
    coforge_version: str = _f("always", "coforge version that evaluated the design",
                              required=True)
    params: str = _f("always", "JSON object of the design's parameters", required=True)
    feasible: int = _f("always", "1 if the design ran, 0 if it could not (see error)",
                       required=True)
    error: str | None = _f("always", "why the design could not run (None if feasible)")
    elapsed_s: float = _f("always", "wall time of the evaluation (s)", required=True)
    lut: int | None = _f("fpga", "predicted LUTs (sim.fpga_model)", csv=True)
    ff: int | None = _f("fpga", "predicted flip-flops", csv=True)
    dsp: int | None = _f("fpga", "predicted DSP blocks", csv=True)
    bram: int | None = _f("fpga", "predicted block RAMs", csv=True)
    fmax_mhz: float | None = _f("fpga", "predicted Fmax (MHz)", csv=True)
    clock_mhz: float | None = _f(
        "fpga", "the clock latency_ms used (MHz): min(spec clock, fmax_mhz) with a "
                "target, the spec's clock without one (written for every design that "
                "ran; reported with the FPGA columns, the only case where it differs "
                "from the spec)", csv=True)
    accuracy: float | None = _f("accuracy", "integer-engine top-1 on the user's data "
                                            "(fraction, 0..1)", csv=True)
    accuracy_proxy: float | None = _f("accuracy", "additive sensitivity proxy of top-1 "
                                                  "(None without a sensitivity table or "
                                                  "with pruning)", csv=True)
    weight_bytes: int | None = _f("accuracy", "compressed weight storage (bytes)", csv=True)
    analytic_cycles: int | None = _f("always", "network cycles of the chosen mappings on "
                                               "the analytic model (runs with --rerank)")
    cycle_cycles: int | None = _f("always", "the same mappings' cycles on the cycle model "
                                            "(runs with --rerank)")

    def __post_init__(self) -> None:
        for name, (kind, optional) in _kinds().items():
            value = getattr(self, name)
            if value is None:
                if not optional:
                    raise StoreError(f"design record: {name} must be set, not None")
                continue
            object.__setattr__(self, name, _coerce(name, kind, value))
        if self.feasible not in (0, 1):
            raise StoreError(f"design record: feasible must be 0 or 1, not {self.feasible!r}")

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> DesignRecord:
        """The record of a row dict; unknown keys are an error, absent ones None."""
        unknown = sorted(set(row) - set(FIELDS))
        if unknown:
            raise StoreError(f"design record: unknown field(s) {unknown}; the fields are "
                             f"{list(FIELDS)}")
        missing = [f.name for f in dataclasses.fields(cls)
                   if f.default is dataclasses.MISSING and f.name not in row]
        if missing:
            raise StoreError(f"design record: missing field(s) {missing}")
        return cls(**row)

    def as_row(self) -> dict[str, Any]:
        """The record as a dict, keys in field order (the form search code uses)."""
        return {name: getattr(self, name) for name in FIELDS}


class StoreError(CoforgeError):
    """The store cannot be opened or belongs to a different run."""


_SQL_TYPES: dict[type, str] = {int: "INTEGER", float: "REAL", str: "TEXT"}


@cache
def _kinds() -> dict[str, tuple[type, bool]]:
    """Field name -> (base type, whether None is allowed), from the annotations."""
    out = {}
    for name, hint in typing.get_type_hints(DesignRecord).items():
        args = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
        base = [a for a in args if a is not type(None)]
        assert len(base) == 1 and base[0] in _SQL_TYPES, (name, hint)
        out[name] = (base[0], type(None) in args)
    return out


def _coerce(name: str, kind: type, value: Any) -> Any:
    if kind is int and isinstance(value, numbers.Integral) and (
            not isinstance(value, bool) or name == "feasible"):
        return int(value)
    if kind is float and isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    if kind is str and isinstance(value, str):
        return value
    raise StoreError(f"design record: {name} must be {kind.__name__}, not {value!r}")


#: Every stored field, in declaration order.
FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(DesignRecord))


def fields_of(group: str, csv: bool = False) -> tuple[str, ...]:
    """The fields of ``group`` (one of :data:`GROUPS`), only those in ``pareto.csv``
    with ``csv``."""
    if group not in GROUPS:
        raise StoreError(f"group must be one of {list(GROUPS)}, not {group!r}")
    return tuple(f.name for f in dataclasses.fields(DesignRecord)
                 if f.metadata["group"] == group and (f.metadata["csv"] or not csv))


def column_sql(name: str) -> str:
    """The column definition of field ``name`` in ``CREATE TABLE``."""
    kind, _ = _kinds()[name]
    extra = {"seq": " PRIMARY KEY AUTOINCREMENT", "key": " UNIQUE NOT NULL"}.get(name, "")
    return f"{name} {_SQL_TYPES[kind]}{extra}"


CREATE_DESIGNS: str = (f"CREATE TABLE IF NOT EXISTS designs "
                       f"({', '.join(column_sql(n) for n in FIELDS)})")
#: Fields a store may lack (older stores): added by ALTER TABLE on opening for writing.
_ADDABLE: tuple[str, ...] = tuple(n for n in FIELDS if n not in ("seq", "key"))


class StoreReader:
    """A result store opened read-only: its meta and its designs, unchanged on disk.
    A store written before some field existed reads that field as None."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise StoreError(f"{self.path}: no such result store")
        try:
            self.db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
            self._load_columns()
        except sqlite3.DatabaseError as err:
            raise StoreError(f"{self.path}: not a coforge result store ({err})") from None

    def _load_columns(self) -> None:
        tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master")}
        if not {"meta", "designs"} <= tables:
            raise sqlite3.DatabaseError("no meta and designs tables")
        have = {r[1] for r in self.db.execute("PRAGMA table_info(designs)")}
        self._columns = [n for n in FIELDS if n in have]

    def meta(self) -> dict[str, Any]:
        """The run's settings as stored (JSON values decoded)."""
        return {k: json.loads(v) for k, v in self.db.execute("SELECT k, v FROM meta")}

    def _select(self, where: str = "", args: tuple[Any, ...] = ()) -> list[DesignRecord]:
        cur = self.db.execute(f"SELECT {', '.join(self._columns)} FROM designs {where}",
                              args)
        return [DesignRecord(**dict(zip(self._columns, r))) for r in cur.fetchall()]

    def record(self, key: str) -> DesignRecord | None:
        """The stored design with text key ``key``, or None."""
        found = self._select("WHERE key = ?", (key,))
        return found[0] if found else None

    def record_at(self, seq: int) -> DesignRecord | None:
        """Stored design number ``seq`` (the #N of report.txt), or None."""
        found = self._select("WHERE seq = ?", (int(seq),))
        return found[0] if found else None

    def records(self) -> list[DesignRecord]:
        """Every stored design in evaluation order."""
        return self._select("ORDER BY seq")

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored row (dict of :data:`FIELDS`) of a design, or None."""
        rec = self.record(key)
        return rec.as_row() if rec is not None else None

    def rows(self) -> list[dict[str, Any]]:
        """Every stored design in evaluation order, as dicts of :data:`FIELDS`."""
        return [r.as_row() for r in self.records()]

    def __len__(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM designs").fetchone()[0])

    def close(self) -> None:
        self.db.close()


class ResultStore(StoreReader):
    """Designs evaluated so far, persisted in ``path`` (SQLite)."""

    def __init__(self, path: str | Path, meta: dict[str, Any], resume: bool) -> None:
        self.path = Path(path)
        if self.path.exists() and not resume:
            raise StoreError(f"{self.path} exists: pass --resume to continue that run, or "
                             f"choose another --out")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(self.path)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT)")
            self.db.execute(CREATE_DESIGNS)
            have = {r[1] for r in self.db.execute("PRAGMA table_info(designs)")}
            for name in _ADDABLE:                          # older stores
                if name not in have:
                    self.db.execute(f"ALTER TABLE designs ADD COLUMN {column_sql(name)}")
            self._load_columns()
        except sqlite3.DatabaseError as err:
            raise StoreError(f"{self.path}: not a coforge result store ({err})") from None
        stored = dict(self.db.execute("SELECT k, v FROM meta").fetchall())
        want = {k: json.dumps(v, sort_keys=True) for k, v in meta.items()}
        if stored and stored != want:
            diff = sorted(k for k in set(stored) | set(want) if stored.get(k) != want.get(k))
            raise StoreError(f"{self.path} holds a run with different settings "
                             f"({', '.join(diff)}); use another --out or the same settings")
        if not stored:
            self.db.executemany("INSERT INTO meta VALUES (?, ?)", want.items())
            self.db.commit()

    def put(self, design: DesignRecord | Mapping[str, Any]) -> None:
        """Store one design (ignored if its key is already stored) and commit. Its
        ``seq`` is the store's to assign: a given one is ignored."""
        rec = design if isinstance(design, DesignRecord) else DesignRecord.from_row(design)
        cols = [n for n in FIELDS if n != "seq"]
        self.db.execute(f"INSERT OR IGNORE INTO designs ({', '.join(cols)}) VALUES "
                        f"({', '.join('?' * len(cols))})", [getattr(rec, c) for c in cols])
        self.db.commit()


__all__ = ["CREATE_DESIGNS", "DesignRecord", "FIELDS", "GROUPS", "ResultStore", "StoreError",
           "StoreReader", "column_sql", "fields_of"]
