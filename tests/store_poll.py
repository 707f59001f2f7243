"""Watch a running ``coforge dse`` store from a test without disturbing it."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def stored_designs(out: Path) -> int:
    """Designs stored so far in ``out/dse.sqlite`` (0 before it exists). Read-only: a
    plain connect would create an empty dse.sqlite before the run does, and the run
    would then refuse it (no --resume)."""
    path = out / "dse.sqlite"
    if not path.exists():
        return 0
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)
        try:
            return int(db.execute("SELECT COUNT(*) FROM designs").fetchone()[0])
        finally:
            db.close()
    except sqlite3.Error:
        return 0
