"""sim.jit_cache.refresh: a compiled function that calls one in another file sees an edit
of that file alone (numba's cache stamps the caller's own file only). Two throwaway
modules in a temporary directory, each run in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CALLEE = "from numba import njit\n\n\n@njit(cache=True)\ndef f(x):\n    return x + {k}\n"
CALLER = ("from numba import njit\n\nimport callee\nfrom sim.jit_cache import refresh\n\n\n"
          "@njit(cache=True)\ndef g(x):\n    return callee.f(x) * 10\n\n\n"
          "refresh(globals(), [__file__, callee.__file__])\n")


def _run(where: Path) -> int:
    code = "import caller; print(caller.g(1))"
    out = subprocess.run([sys.executable, "-c", code], cwd=where, capture_output=True,
                         text=True, env={"PYTHONPATH": f"{where}:{ROOT}", "PATH": ""},
                         check=True)
    return int(out.stdout.strip())


def test_callee_edit_reaches_cached_caller(tmp_path: Path) -> None:
    (tmp_path / "callee.py").write_text(CALLEE.format(k=1))
    (tmp_path / "caller.py").write_text(CALLER)
    assert _run(tmp_path) == 20                 # compiled and cached
    assert _run(tmp_path) == 20                 # loaded from the cache
    (tmp_path / "callee.py").write_text(CALLEE.format(k=2) + "# edited\n")
    assert _run(tmp_path) == 30                 # the caller's cache was emptied


def test_without_refresh_the_cache_is_stale(tmp_path: Path) -> None:
    """The failure refresh guards against (numba 0.6x), so the test above can fail."""
    (tmp_path / "callee.py").write_text(CALLEE.format(k=1))
    (tmp_path / "caller.py").write_text(CALLER.replace(
        "refresh(globals(), [__file__, callee.__file__])\n", ""))
    assert _run(tmp_path) == 20
    (tmp_path / "callee.py").write_text(CALLEE.format(k=2) + "# edited\n")
    assert _run(tmp_path) == 20                 # stale: the old callee's machine code
