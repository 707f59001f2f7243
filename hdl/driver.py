"""One test definition for every simulator: a GEMM case and the cycle-level driver.

A :class:`GemmCase` is data (sizes, matrices, fold order, idle/backpressure
probabilities, seed). :class:`GemmDriver` is the testbench logic as a pure state
machine: each cycle the simulator backend hands it the DUT outputs as they were at
the clock edge (:data:`OUTPUTS`) and applies the inputs it returns (:data:`INPUTS`)
for the next cycle. The Amaranth backend (:mod:`hdl.sim_amaranth`) and the cocotb
backend (:mod:`hdl.cocotb_tb`) only translate names, so both run the same stimulus
cycle for cycle and must produce the same :class:`RunResult`; the native Verilog
testbench (:mod:`hdl.native_tb`) is this state machine written in Verilog, fed the
driver's own random draws.

Stimulus: A and B are sent concurrently, each beat held back with probability
``idle``; after both are in, ``start`` is pulsed for one cycle; busy cycles are
counted while waiting for ``done``; the outputs are then read with ``o.ready`` low
with probability ``backpressure``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np

from hdl.params import HdlParams
from hdl.plan import GemmPlan

#: DUT inputs the driver sets (abstract names; backends map them to ports).
INPUTS: tuple[str, ...] = ("a_payload", "a_valid", "b_payload", "b_valid", "o_ready",
                           "m", "k", "n", "order", "start")
#: DUT outputs the driver samples at each clock edge.
OUTPUTS: tuple[str, ...] = ("a_ready", "b_ready", "o_valid", "o_payload", "busy", "done",
                            "cycles")


@dataclass(frozen=True)
class GemmCase:
    """A GEMM to run: ``A`` (M x K) and ``B`` (K x N) as nested lists of ints."""

    m: int
    k: int
    n: int
    a: list[list[int]]
    b: list[list[int]]
    order: int = 0
    idle: float = 0.0
    backpressure: float = 0.0
    seed: int = 0
    #: extra static inputs of the engine kind (port name -> value, held like m/k/n),
    #: e.g. the serial input width of the bit-serial engine.
    ports: dict[str, int] = field(default_factory=dict)
    #: cycle budget of the run; 0: :func:`timeout_for` of the dense engine's plan.
    timeout_cycles: int = 0

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "GemmCase":
        return cls(**d)


def random_case(params: HdlParams, plan: GemmPlan, seed: int, extreme: bool = False,
                idle: float = 0.3, backpressure: float = 0.3) -> GemmCase:
    """Random operands over the full signed range (``extreme``: all most-negative)."""
    rng = np.random.default_rng(seed)
    lo, hi = -(1 << (params.operand_bits - 1)), (1 << (params.operand_bits - 1))
    if extreme:
        a = np.full((plan.m, plan.k), lo)
        b = np.full((plan.k, plan.n), lo)
    else:
        a = rng.integers(lo, hi, (plan.m, plan.k))
        b = rng.integers(lo, hi, (plan.k, plan.n))
        # sprinkle the extremes in: most negative x most negative, most positive
        for mat in (a, b):
            mask = rng.random(mat.shape)
            mat[mask < 0.1] = lo
            mat[mask > 0.95] = hi - 1
    return GemmCase(plan.m, plan.k, plan.n, a.tolist(), b.tolist(), plan.order, idle,
                    backpressure, seed)


@dataclass
class RunResult:
    """What one simulation of a case measured."""

    outputs: list[list[int]]
    rtl_cycles: int          # the DUT's cycle counter after done
    busy_cycles: int         # cycles the testbench saw busy high
    sim_cycles: int          # every simulated clock cycle (loading and unloading too)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "RunResult":
        return cls(**d)


class GemmDriver:
    """The testbench as a state machine: ``inputs()`` for this cycle, ``edge(sampled)``
    at the clock edge. ``finished`` once all outputs are read; ``result`` then."""

    def __init__(self, case: GemmCase, timeout_cycles: int) -> None:
        self.case = case
        self._rng = np.random.default_rng(case.seed + 0x5EED)
        self._a = [int(x) for row in case.a for x in row]
        self._b = [int(x) for row in case.b for x in row]
        self._ai = self._bi = 0
        self._phase = "load"
        self._out: list[int] = []
        self._busy = 0
        self._rtl_cycles = -1
        self._cycle = 0
        self._timeout = timeout_cycles
        self._drive = {name: 0 for name in INPUTS} | {"m": case.m, "k": case.k,
                                                      "n": case.n, "order": case.order} \
            | {name: int(v) for name, v in case.ports.items()}
        self._present()

    @property
    def finished(self) -> bool:
        return self._phase == "finished"

    #: Outputs each phase reads at the edge (backends may sample only these).
    NEEDS: dict[str, tuple[str, ...]] = {
        "load": ("a_ready", "b_ready"), "start": ("a_ready", "b_ready"),
        "run": ("busy", "done", "cycles"), "unload": ("o_valid", "o_payload")}

    def needs(self) -> tuple[str, ...]:
        """The outputs :meth:`edge` will read at the coming edge."""
        return self.NEEDS.get(self._phase, ())

    def inputs(self) -> dict[str, int]:
        return self._drive

    def _present(self) -> None:
        """Choose this cycle's stream inputs (random idle cycles and backpressure)."""
        d, c = self._drive, self.case
        for name, data, idx in (("a", self._a, self._ai), ("b", self._b, self._bi)):
            go = self._phase == "load" and idx < len(data) and self._rng.random() >= c.idle
            d[f"{name}_valid"] = int(go)
            d[f"{name}_payload"] = data[idx] if go else 0
        d["o_ready"] = int(self._phase == "unload" and self._rng.random() >= c.backpressure)

    def edge(self, s: dict[str, int]) -> None:
        """The clock edge: ``s`` holds the DUT outputs sampled at it."""
        self._cycle += 1
        if self._cycle > self._timeout:
            raise TimeoutError(f"GEMM {self.case.m}x{self.case.k}x{self.case.n} did not "
                               f"finish in {self._timeout} cycles (phase {self._phase})")
        d = self._drive
        if d["a_valid"] and s.get("a_ready"):
            self._ai += 1
        if d["b_valid"] and s.get("b_ready"):
            self._bi += 1
        if self._phase == "load" and self._ai == len(self._a) and self._bi == len(self._b):
            self._phase = "start"
            d["start"] = 1
        elif self._phase == "start":
            d["start"] = 0
            self._phase = "run"
        elif self._phase == "run":
            self._busy += s["busy"]
            if s["done"]:
                self._rtl_cycles = s["cycles"]
                self._phase = "unload"
        elif self._phase == "unload":
            if d["o_ready"] and s["o_valid"]:
                self._out.append(s["o_payload"])
                if len(self._out) == self.case.m * self.case.n:
                    self._phase = "finished"
        self._present()

    @property
    def result(self) -> RunResult:
        n = self.case.n
        rows = [self._out[i * n:(i + 1) * n] for i in range(self.case.m)]
        return RunResult(rows, self._rtl_cycles, self._busy, self._cycle)


def timeout_for(plan: GemmPlan) -> int:
    """A generous cycle budget for one case (loads and unloads at 10% throughput)."""
    m, k, n = plan.m, plan.k, plan.n
    return 10 * (m * k + k * n + m * n) + 2 * plan.rtl_busy_cycles + 1000


def dump_cases(cases: list[GemmCase]) -> str:
    return json.dumps([c.to_json() for c in cases])


__all__ = ["GemmCase", "GemmDriver", "INPUTS", "OUTPUTS", "RunResult", "dump_cases",
           "random_case", "timeout_for"]
