"""A `coforge dse` run killed with SIGKILL mid-way resumes with --resume: the final store
holds the same designs with the same numbers as an uninterrupted run, each once.

The run is a real subprocess of the installed CLI (random strategy, one worker so the
kill lands between designs at an arbitrary point); it is killed as soon as the store
holds at least 3 designs, then resumed to completion.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from store_poll import stored_designs

SPACE = """base: edge_8x8_ws
parameters:
  rows: [4, 8, 16]
  cols: [4, 8, 16]
  dataflow: [ws, os]
  glb_kib: [16, 64]
"""
DESIGNS = 14


def _args(space: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "mapper.cli", "dse", "--network", "alexnet", "--space",
            str(space), "--strategy", "random", "--max-designs", str(DESIGNS),
            "--map-evals", "400", "--workers", "1", "--seed", "3", "--out", str(out)]


def _rows(out: Path) -> list[tuple]:
    with sqlite3.connect(out / "dse.sqlite") as db:
        cols = [r[1] for r in db.execute("PRAGMA table_info(designs)")]
        keep = [c for c in ("key", "feasible", "latency_ms", "energy_mj", "area_mm2")
                if c in cols]
        return sorted(db.execute(f"SELECT {', '.join(keep)} FROM designs").fetchall())


def test_sigkill_then_resume_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    space = tmp_path / "space.yaml"
    space.write_text(SPACE)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    full, cut = tmp_path / "full", tmp_path / "cut"
    subprocess.run(_args(space, full), check=True, capture_output=True, env=env, timeout=900)
    proc = subprocess.Popen(_args(space, cut), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 600
    while stored_designs(cut) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed: make it longer"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    killed_at = stored_designs(cut)
    assert 3 <= killed_at < DESIGNS
    res = subprocess.run(_args(space, cut) + ["--resume"], capture_output=True, text=True,
                         env=env, timeout=900)
    assert res.returncode == 0, res.stderr
    assert f"{killed_at} resumed" in res.stdout, res.stdout
    want, got = _rows(full), _rows(cut)
    assert len(got) == len({r[0] for r in got}) == DESIGNS      # each design once
    assert got == want                                          # same designs, same numbers
