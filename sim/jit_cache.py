"""Keeps numba's on-disk cache of a module's compiled functions true to every file they
call into. numba stamps a cached function with its own source file only, so when a
compiled function calls one defined in another file (``mapper.nest_jit`` calls
``sim.hier_cost_jit``, which calls ``sim.hier_rows_jit``), editing the callee alone
would leave the caller running its old machine code. :func:`refresh` records a digest
of those files beside the cache and empties the module's cache when it changed.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any


def refresh(namespace: dict[str, Any], deps: list[str]) -> None:
    """Empty the numba cache of every ``cache=True`` function in ``namespace`` (a
    module's ``globals()``, called at its end) unless the files ``deps`` (the module
    itself and the modules whose compiled functions it calls) still have the digest
    recorded when the cache was filled; then record theirs."""
    funcs = [v for v in namespace.values()
             if getattr(v, "_cache", None) is not None and hasattr(v._cache, "flush")
             and getattr(v, "py_func", None) is not None
             and v.py_func.__module__ == namespace["__name__"]]
    if not funcs:
        return
    h = hashlib.sha256()
    for dep in deps:
        h.update(Path(dep).read_bytes())
    digest = h.hexdigest()
    stem = Path(namespace["__file__"]).stem
    stamp = Path(funcs[0]._cache.cache_path) / f"{stem}.deps-sha256"
    try:
        if stamp.read_text() == digest:
            return
    except OSError:
        pass
    for f in funcs:
        f._cache.flush()                    # numba's own: an empty index, recompiled on use
    try:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        tmp = stamp.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(digest)
        tmp.replace(stamp)
    except OSError:                         # a read-only cache: numba then compiles anew
        pass
