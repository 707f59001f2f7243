"""cocotb 2.x testbench of the generated Verilog (loaded by the cocotb runner, see
:mod:`hdl.cocotb_run`; not collected by pytest).

One :class:`TB` owns the clock, the reset and the stream drivers/monitors; the
stimulus and checks of each case come from :class:`hdl.driver.GemmDriver`, the same
state machine the Amaranth backend runs. Cases arrive as JSON in the file named by
``COFORGE_CASES``; measured results go to ``COFORGE_RESULTS``.
"""

from __future__ import annotations

import json
import os
import time

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge

from hdl.driver import INPUTS, GemmCase, GemmDriver, RunResult

#: Driver name -> Verilog port (Amaranth flattens stream members with ``__``).
PORTS: dict[str, str] = {
    "a_payload": "a__payload", "a_valid": "a__valid", "a_ready": "a__ready",
    "b_payload": "b__payload", "b_valid": "b__valid", "b_ready": "b__ready",
    "o_payload": "o__payload", "o_valid": "o__valid", "o_ready": "o__ready",
    "m": "m", "k": "k", "n": "n", "order": "order", "start": "start",
    "busy": "busy", "done": "done", "cycles": "cycles"}
_SIGNED = {"o_payload"}   # sampled as signed, only while o_valid


class TB:
    """Clock, reset and per-cycle drive/sample of the GEMM engine's ports."""

    def __init__(self, dut: object, period_ns: int = 10) -> None:
        self.dut = dut
        self.period_ns = period_ns
        self._ins = {name: getattr(dut, PORTS[name]) for name in INPUTS}
        self._outs = {name: getattr(dut, port) for name, port in PORTS.items()
                      if name not in INPUTS}
        self._last: dict[str, int] = {}
        self.cycles = 0

    async def start(self) -> None:
        """Start the clock and reset the DUT for two cycles."""
        Clock(self.dut.clk, self.period_ns, unit="ns").start()
        self.dut.rst.value = 1
        self.drive({name: 0 for name in INPUTS})
        await ClockCycles(self.dut.clk, 2)
        self.dut.rst.value = 0
        await RisingEdge(self.dut.clk)

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
        drv = GemmDriver(case, timeout_cycles)
        edge = RisingEdge(self.dut.clk)
        while not drv.finished:
            self.drive(drv.inputs())
            needs = drv.needs()
            await edge
            drv.edge(self.sample(needs))
        self.cycles += drv.result.sim_cycles
        return drv.result


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
