"""cocotb 2.x testbench of the generated Verilog (loaded by the cocotb runner, see
:mod:`hdl.cocotb_run`; not collected by pytest).

One :class:`TB` owns the clock, the reset and the stream drivers/monitors; the
stimulus and checks of each case are those of :class:`hdl.driver.GemmDriver`, the same
state machine the Amaranth backend runs. Cases arrive as JSON in the file named by
``COFORGE_CASES``; measured results go to ``COFORGE_RESULTS``.

Cost per clock (what makes Verilator worth running): the compute phase is not polled.
From the edge that samples ``start``, the testbench waits for ``RisingEdge(done)`` (or
the case's cycle budget as a :class:`~cocotb.triggers.Timer`), one more edge (the one
at which the driver samples ``done``), and reads ``cycles`` there; its own busy-cycle
count is the time ``busy`` was high in between (logged by a task woken only when
``busy`` changes) divided by the clock period. Cases without idle inputs and without
backpressure (``idle == backpressure == 0``: no random stimulus at all) load and
unload in a tight loop: cached handles, one write per changed input, the two
``ready`` (``o.valid``/``o.payload``) reads per cycle. Cases with random stimulus run
the :class:`GemmDriver` every cycle of loading and unloading (its random sequence is
the Amaranth backend's, cycle for cycle) and get the compute phase replayed into it
from the waveform. Every path gives the :class:`~hdl.driver.RunResult` the per-cycle
driver would.
"""

from __future__ import annotations

import json
import os
import time

import cocotb
from cocotb.clock import Clock
from cocotb.simtime import get_sim_time
from cocotb.triggers import ClockCycles, First, RisingEdge, Timer
from cocotb.utils import get_sim_steps

from hdl.driver import INPUTS, GemmCase, GemmDriver, RunResult

#: Driver name -> Verilog port (Amaranth flattens stream members with ``__``).
PORTS: dict[str, str] = {
    "a_payload": "a__payload", "a_valid": "a__valid", "a_ready": "a__ready",
    "b_payload": "b__payload", "b_valid": "b__valid", "b_ready": "b__ready",
    "o_payload": "o__payload", "o_valid": "o__valid", "o_ready": "o__ready",
    "m": "m", "k": "k", "n": "n", "order": "order", "start": "start",
    "busy": "busy", "done": "done", "cycles": "cycles"}
_SIGNED = {"o_payload"}   # sampled as signed, only while o_valid
_RUN = GemmDriver.NEEDS["run"]


def _timeout(case: GemmCase, budget: int, phase: str) -> TimeoutError:
    """The driver's timeout error, word for word."""
    return TimeoutError(f"GEMM {case.m}x{case.k}x{case.n} did not finish in {budget} "
                        f"cycles (phase {phase})")


class TB:
    """Clock, reset and drive/sample of the GEMM engine's ports."""

    def __init__(self, dut: object, period_ns: int = 10) -> None:
        self.dut = dut
        self.period_ns = period_ns
        self._period_steps = get_sim_steps(period_ns, "ns")
        self._h = {name: getattr(dut, port) for name, port in PORTS.items()}
        self._ins = {name: self._h[name] for name in INPUTS}
        self._outs = {name: h for name, h in self._h.items() if name not in INPUTS}
        self._last: dict[str, int] = {}
        self._edge = RisingEdge(dut.clk)
        self.cycles = 0

    async def start(self) -> None:
        """Start the clock and reset the DUT for two cycles."""
        Clock(self.dut.clk, self.period_ns, unit="ns").start()
        self.dut.rst.value = 1
        self.drive({name: 0 for name in INPUTS})
        await ClockCycles(self.dut.clk, 2)
        self.dut.rst.value = 0
        await self._edge

    def drive(self, values: dict[str, int]) -> None:
        """Apply inputs for the coming cycle (only the ones that change)."""
        for name, value in values.items():
            if self._last.get(name) != value:
                if name not in self._ins:         # an engine kind's static input
                    self._ins[name] = getattr(self.dut, PORTS.get(name, name))
                self._ins[name].value = value
                self._last[name] = value

    def sample(self, names: tuple[str, ...] | None = None) -> dict[str, int]:
        """Outputs (all, or ``names``) as they were at the clock edge just passed; the
        payload only while valid (the buffer's read register is undefined before its
        first read)."""
        out = {name: int(self._outs[name].value)
               for name in (names or tuple(self._outs)) if name not in _SIGNED}
        if "o_valid" in out:
            out["o_payload"] = (self._outs["o_payload"].value.to_signed()
                                if out["o_valid"] else 0)
        return out

    async def run_case(self, case: GemmCase, timeout_cycles: int) -> RunResult:
        if case.idle == 0 and case.backpressure == 0:
            res = await self._run_plain(case, timeout_cycles)
        else:
            res = await self._run_driver(case, timeout_cycles)
        self.cycles += res.sim_cycles
        return res

    async def _compute(self, case: GemmCase, left_cycles: int,
                       budget: int) -> tuple[int, int, int]:
        """The compute phase, from the edge that sampled ``start`` (now) to the edge at
        which ``done`` is first sampled high: (edges, busy cycles, ``cycles`` there).
        ``left_cycles``: edges the case may still take within its ``budget``."""
        busy, done, period = self._h["busy"], self._h["done"], self._period_steps
        t0 = get_sim_time("step")
        log = [(t0, int(busy.value))]           # (time, busy from then on)

        async def watch() -> None:
            while True:
                await busy.value_change
                log.append((get_sim_time("step"), int(busy.value)))

        watcher = cocotb.start_soon(watch())
        done_edge = RisingEdge(done)
        fired = await First(done_edge, Timer(max(left_cycles, 1) * period, unit="step"))
        if fired is not done_edge:
            watcher.cancel()
            raise _timeout(case, budget, "run")
        await self._edge                         # the edge that samples done high
        t1 = get_sim_time("step")
        cycles = int(self._h["cycles"].value)
        watcher.cancel()
        high = 0
        for (t, v), (t_next, _) in zip(log, log[1:] + [(t1, 0)]):
            if v:
                high += min(t_next, t1) - min(t, t1)
        return (t1 - t0) // period, high // period, cycles

    async def _run_driver(self, case: GemmCase, timeout_cycles: int) -> RunResult:
        """Random stimulus: the driver every cycle of loading and unloading; the compute
        phase waited for, then replayed into the driver edge by edge."""
        drv = GemmDriver(case, timeout_cycles)
        edge, cyc = self._edge, 0
        while not drv.finished:
            self.drive(drv.inputs())
            needs = drv.needs()
            if needs == _RUN:
                edges, busy_cycles, cycles = await self._compute(
                    case, timeout_cycles - cyc, timeout_cycles)
                cyc += edges
                # the driver only sums the busy samples: the high ones first
                for i in range(1, edges + 1):
                    drv.edge({"busy": int(i <= busy_cycles), "done": int(i == edges),
                              "cycles": cycles})
                continue
            await edge
            cyc += 1
            drv.edge(self.sample(needs))
        return drv.result

    async def _run_plain(self, case: GemmCase, budget: int) -> RunResult:
        """No idle inputs, no backpressure: the driver's stimulus without its random
        draws (``random() >= 0`` always holds), in tight loops."""
        h, edge = self._h, self._edge
        a = [int(x) for row in case.a for x in row]
        b = [int(x) for row in case.b for x in row]
        na, nb = len(a), len(b)
        self.drive({"m": case.m, "k": case.k, "n": case.n, "order": case.order,
                    "start": 0, "o_ready": 0, "a_valid": int(na > 0), "b_valid": int(nb > 0)}
                   | {name: int(v) for name, v in case.ports.items()})
        ap, ar, bp, br = h["a_payload"], h["a_ready"], h["b_payload"], h["b_ready"]
        la, lb = self._last.get("a_payload"), self._last.get("b_payload")
        ai = bi = cyc = 0
        while ai < na or bi < nb:                       # -- loading
            if ai < na and a[ai] != la:
                la = a[ai]
                ap.value = la
            if bi < nb and b[bi] != lb:
                lb = b[bi]
                bp.value = lb
            await edge
            cyc += 1
            if cyc > budget:
                raise _timeout(case, budget, "load")
            if ai < na and int(ar.value):
                ai += 1
                if ai == na:
                    la = 0
                    ap.value = 0
                    h["a_valid"].value = 0
            if bi < nb and int(br.value):
                bi += 1
                if bi == nb:
                    lb = 0
                    bp.value = 0
                    h["b_valid"].value = 0
        self._last.update(a_payload=la, b_payload=lb, a_valid=0, b_valid=0)
        self.drive({"start": 1})                        # -- start
        await edge
        cyc += 1
        if cyc > budget:
            raise _timeout(case, budget, "start")
        self.drive({"start": 0})
        edges, busy_cycles, cycles = await self._compute(case, budget - cyc, budget)
        cyc += edges
        if cyc > budget:
            raise _timeout(case, budget, "run")
        self.drive({"o_ready": 1})                       # -- unloading
        ov, op = h["o_valid"], h["o_payload"]
        out: list[int] = []
        need = case.m * case.n
        while len(out) < need:
            await edge
            cyc += 1
            if cyc > budget:
                raise _timeout(case, budget, "unload")
            if int(ov.value):
                out.append(op.value.to_signed())
        self.drive({"o_ready": 0})
        rows = [out[i * case.n:(i + 1) * case.n] for i in range(case.m)]
        return RunResult(rows, cycles, busy_cycles, cyc)


@cocotb.test()
async def gemm_cases(dut: object) -> None:
    """Run every case of ``COFORGE_CASES`` back to back; write ``COFORGE_RESULTS``."""
    with open(os.environ["COFORGE_CASES"], encoding="utf-8") as f:
        spec = json.load(f)
    tb = TB(dut)
    await tb.start()
    t0 = time.perf_counter()
    results = []
    for item in spec:
        res = await tb.run_case(GemmCase.from_json(item["case"]), item["timeout"])
        results.append(res.to_json())
    wall = time.perf_counter() - t0
    with open(os.environ["COFORGE_RESULTS"], "w", encoding="utf-8") as f:
        json.dump({"results": results, "wall_s": wall, "cycles": tb.cycles}, f)
