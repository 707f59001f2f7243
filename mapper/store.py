"""An on-disk result store (SQLite, standard library) that makes long runs resumable.

One row per evaluated design, written and committed as soon as it is known, keyed by
the design's text key (``PRIMARY KEY``: a design is never stored twice). A run killed
with ``kill -9`` loses only the designs in flight; rerun with the same settings and
``resume=True`` and the search replays stored designs from the store instead of
evaluating them. The ``meta`` table pins the run's settings (network, space, seed,
objectives, ...): resuming with different settings is an error, not a silent mix.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from dataflows.errors import CoforgeError

METRICS: tuple[str, ...] = ("latency_ms", "energy_mj", "edp", "area_mm2")
#: Columns filled only by runs with an FPGA target (None otherwise): predicted
#: resources, Fmax and the clock the latency used (mapper.dse).
FPGA_METRICS: dict[str, str] = {"lut": "INTEGER", "ff": "INTEGER", "dsp": "INTEGER",
                                "bram": "INTEGER", "fmax_mhz": "REAL", "clock_mhz": "REAL"}


#: Columns filled only by runs that measure accuracy (``coforge dse --onnx M --data D``):
#: the integer engine's top-1, the additive proxy (when a sensitivity table exists) and
#: the compressed weight bytes (mapper.accuracy).
ACCURACY_METRICS: dict[str, str] = {"accuracy": "REAL", "accuracy_proxy": "REAL",
                                    "weight_bytes": "INTEGER"}


class StoreError(CoforgeError):
    """The store cannot be opened or belongs to a different run."""


class ResultStore:
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
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS designs (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
                "key TEXT UNIQUE NOT NULL, spec_hash TEXT, seed INTEGER, "
                "coforge_version TEXT, params TEXT, latency_ms REAL, energy_mj REAL, "
                "edp REAL, area_mm2 REAL, feasible INTEGER, error TEXT, elapsed_s REAL)")
            have = {r[1] for r in self.db.execute("PRAGMA table_info(designs)")}
            for col, kind in (FPGA_METRICS | ACCURACY_METRICS).items():  # older stores
                if col not in have:
                    self.db.execute(f"ALTER TABLE designs ADD COLUMN {col} {kind}")
        except sqlite3.DatabaseError as err:
            raise StoreError(f"{self.path}: not a coforge result store ({err})") from None
        stored = dict(self.db.execute("SELECT k, v FROM meta").fetchall())
        want = {k: json.dumps(v, sort_keys=True) for k, v in meta.items()}
        if stored and stored != want:
            diff = sorted(k for k in set(stored) | set(want) if stored.get(k) != want.get(k))
            raise StoreError(f"{self.path} holds a run with different settings ({', '.join(diff)}); "
                             f"use another --out or the same settings")
        if not stored:
            self.db.executemany("INSERT INTO meta VALUES (?, ?)", want.items())
            self.db.commit()

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored row of a design, or None."""
        cur = self.db.execute("SELECT * FROM designs WHERE key = ?", (key,))
        row = cur.fetchone()
        return dict(zip([c[0] for c in cur.description], row)) if row else None

    def put(self, row: dict[str, Any]) -> None:
        """Store one design (ignored if its key is already stored) and commit."""
        cols = ["key", "spec_hash", "seed", "coforge_version", "params", *METRICS,
                *FPGA_METRICS, *ACCURACY_METRICS, "feasible", "error", "elapsed_s"]
        self.db.execute(f"INSERT OR IGNORE INTO designs ({', '.join(cols)}) VALUES "
                        f"({', '.join('?' * len(cols))})", [row.get(c) for c in cols])
        self.db.commit()

    def rows(self) -> list[dict[str, Any]]:
        """Every stored design in evaluation order."""
        cur = self.db.execute("SELECT * FROM designs ORDER BY seq")
        names = [c[0] for c in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]

    def __len__(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM designs").fetchone()[0])

    def close(self) -> None:
        self.db.close()
