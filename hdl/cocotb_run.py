"""Run :class:`~hdl.driver.GemmCase` s under cocotb 2.1 + Icarus Verilog on the emitted
Verilog (``cocotb_tools.runner``; ``timescale=("1ns", "1ps")``, without which Icarus
runs at 1 s precision and the 10 ns clock fails).

Build products go under ``<build root>/hdl/<verilog hash>/``: the Verilog once per
configuration, the Icarus build and the case/result files per process (parallel
pytest workers never share a simulator build directory). The build root is the
caller's ``build_dir`` (``coforge validate``: under its ``--out``), else
:func:`build_root` -- never the source tree, so a read-only install works.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from itertools import count
from pathlib import Path

from hdl.driver import GemmCase, RunResult, timeout_for
from hdl.export import TOP_NAME, generate_verilog
from hdl.params import HdlError, HdlParams
from hdl.plan import plan_gemm

_RUN_IDS = count()


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

    @property
    def cycles_per_s(self) -> float:
        return self.cycles / self.wall_s if self.wall_s > 0 else 0.0


def icarus_available() -> bool:
    return shutil.which("iverilog") is not None and shutil.which("vvp") is not None


def run_cocotb(params: HdlParams, cases: list[GemmCase], waves: bool = False,
               build_dir: Path | None = None) -> CocotbRun:
    """Simulate ``cases`` back to back on the Verilog of ``params`` under Icarus
    (build products under ``build_dir``, default :func:`build_root`)."""
    if not icarus_available():
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
    items = [{"case": c.to_json(), "timeout": timeout_for(plan_gemm(params, c.m, c.k, c.n))}
             for c in cases]
    cases_path, results_path = run_dir / "cases.json", run_dir / "results.json"
    cases_path.write_text(json.dumps(items))
    results_path.unlink(missing_ok=True)

    runner = get_runner("icarus")
    log = run_dir / "sim.log"
    runner.build(sources=[v_path], hdl_toplevel=TOP_NAME, build_dir=run_dir,
                 timescale=("1ns", "1ps"), waves=waves, log_file=run_dir / "build.log")
    runner.test(test_module="hdl.cocotb_tb", hdl_toplevel=TOP_NAME, build_dir=run_dir,
                test_dir=run_dir, waves=waves, log_file=log,
                results_xml=str(run_dir / "results.xml"),
                extra_env={"COFORGE_CASES": str(cases_path),
                           "COFORGE_RESULTS": str(results_path)})
    if not results_path.exists():
        tail = log.read_text(errors="replace").splitlines()[-5:] if log.exists() else []
        raise HdlError(f"cocotb run produced no results (log {log}): {' | '.join(tail)}")
    data = json.loads(results_path.read_text())
    return CocotbRun([RunResult.from_json(r) for r in data["results"]], data["wall_s"],
                     data["cycles"])


__all__ = ["CocotbRun", "build_root", "icarus_available", "run_cocotb"]
