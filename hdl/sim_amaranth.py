"""Run :class:`~hdl.driver.GemmCase` s on Amaranth's Python simulator (small sizes only:
a few thousand cycles per second)."""

from __future__ import annotations

from amaranth.sim import Simulator

from hdl.driver import INPUTS, GemmCase, GemmDriver, RunResult, timeout_for
from hdl.params import HdlParams
from hdl.plan import plan_gemm
from hdl.engines import build_top
from hdl.top import GemmTop


def _ports(dut: GemmTop) -> tuple[dict, dict]:
    ins = {"a_payload": dut.a.payload, "a_valid": dut.a.valid, "b_payload": dut.b.payload,
           "b_valid": dut.b.valid, "o_ready": dut.o.ready, "m": dut.m, "k": dut.k,
           "n": dut.n, "order": dut.order, "start": dut.start}
    outs = {"a_ready": dut.a.ready, "b_ready": dut.b.ready, "o_valid": dut.o.valid,
            "o_payload": dut.o.payload, "busy": dut.busy, "done": dut.done,
            "cycles": dut.cycles}
    assert set(ins) == set(INPUTS)
    return ins, outs


def run_amaranth(params: HdlParams, cases: list[GemmCase],
                 vcd_path: str | None = None) -> list[RunResult]:
    """Simulate ``cases`` back to back on one :class:`~hdl.top.GemmTop`."""
    dut = build_top(params)
    ins, outs = _ports(dut)
    results: list[RunResult] = []

    async def testbench(ctx) -> None:  # noqa: ANN001 - amaranth SimulatorContext
        for case in cases:
            for name in case.ports:               # the engine kind's static inputs
                ins.setdefault(name, getattr(dut, name))
            drv = GemmDriver(case, case.timeout_cycles
                             or timeout_for(plan_gemm(params, case.m, case.k, case.n)))
            while not drv.finished:
                for name, value in drv.inputs().items():
                    ctx.set(ins[name], value)
                sampled = {name: ctx.get(sig) for name, sig in outs.items()}
                await ctx.tick()
                drv.edge(sampled)
            results.append(drv.result)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    if vcd_path:
        with sim.write_vcd(vcd_path):
            sim.run()
    else:
        sim.run()
    return results


__all__ = ["run_amaranth"]
