"""glibc freed-memory retention (``mallopt``) is an explicit opt-in of the CLI and the
benchmarks: importing or calling the search API never changes the process's
allocator (DESIGN invariant 4: no hidden global state).

Each check runs in a fresh interpreter, so what another test did to this process
cannot hide or fake the result. ``ctypes.CDLL`` is wrapped before anything of
coforge is imported, so a libc load from any code path is seen, not only the one
through ``retain_freed_memory``.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

PRELUDE = """
import ctypes
loads = []
_cdll = ctypes.CDLL
class Spy(_cdll):
    def __init__(self, name, *a, **k):
        loads.append(str(name))
        super().__init__(name, *a, **k)
ctypes.CDLL = Spy
"""


def _run(body: str) -> str:
    code = PRELUDE + textwrap.dedent(body)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1]


def test_the_search_api_never_tunes_the_allocator() -> None:
    out = _run("""
        import mapper.search as ms
        from dataflows.layer import gemm
        from sim import load_accelerator
        accel = load_accelerator("edge_8x8_ws")
        for strategy in ("exhaustive", "random", "annealing", "genetic", "exact"):
            ms.search(gemm("g", 12, 8, 16), accel, strategy, max_evals=300, progress=False)
        print(ms._allocator_tuned, [n for n in loads if "libc" in n])
    """)
    assert out == "None []"


def test_coforge_map_opts_in_and_the_flag_opts_out() -> None:
    body = """
        import mapper.search as ms
        from mapper.cli import main
        rc = main(["map", "--network", "alexnet", "--arch", "edge_8x8_ws", "--strategy",
                   "random", "--max-evals", "50"{extra}])
        print(rc, ms._allocator_tuned is not None, any("libc" in n for n in loads))
    """
    assert _run(body.format(extra="")) == "0 True True"
    assert _run(body.format(extra=', "--no-retain-freed-memory"')) == "0 False False"
