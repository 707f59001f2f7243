"""hdl/waveform.py: the VCD reader on a hand-written file, and on an Amaranth run where
``busy`` must stay high for exactly the cycles the RTL counted."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from hdl.waveform import WaveformError, plot_waves, read_vcd

VCD = """$timescale 1 ns $end
$scope module bench $end
$scope module top $end
$var wire 1 ! clk $end
$var wire 4 " data $end
$upscope $end
$var wire 1 # data_valid $end
$upscope $end
$enddefinitions $end
#0
0!
b0 "
0#
#5
1!
#10
0!
b1x10 "
1#
#20
bz "
"""


def test_read_vcd_hand_written(tmp_path: Path) -> None:
    path = tmp_path / "w.vcd"
    path.write_text(VCD)
    w = read_vcd(path, ["clk", "data", "data_valid"])
    assert w["data"].name == "bench.top.data" and w["data"].width == 4
    assert w["data"].changes == ((0, 0), (10, 0b1010), (20, 0))   # x and z read as 0
    assert w["data_valid"].changes == ((0, 0), (10, 1))
    assert [w["clk"].value_at(t) for t in (0, 5, 7, 10)] == [0, 1, 1, 0]
    assert w["data"].value_at(15) == 10 and w["data"].value_at(-1) == 0


def test_missing_signal_and_file(tmp_path: Path) -> None:
    path = tmp_path / "w.vcd"
    path.write_text(VCD)
    with pytest.raises(WaveformError, match="no signal 'busy'"):
        read_vcd(path, ["busy"])
    with pytest.raises(WaveformError, match="cannot read the VCD file"):
        read_vcd(tmp_path / "nope.vcd", ["clk"])


def test_busy_lasts_the_counted_cycles(tmp_path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    from hdl.driver import random_case
    from hdl.params import HdlParams
    from hdl.plan import plan_gemm, sim_cycles
    from hdl.sim_amaranth import run_amaranth
    from sim.spec_io import load_accelerator
    accel = dataclasses.replace(load_accelerator("edge_8x8_ws"), rows=2, cols=3)
    params = HdlParams.from_accelerator(accel)
    plan = plan_gemm(params, 3, 5, 4)
    case = random_case(params, plan, seed=3, idle=0.0, backpressure=0.0)
    vcd = tmp_path / "run.vcd"
    result = run_amaranth(params, [case], vcd_path=str(vcd))[0]
    w = read_vcd(vcd, ["clk", "busy", "done"])
    period = w["clk"].changes[2][0] - w["clk"].changes[0][0]       # 0 -> 1 -> 0
    rises = [t for t, v in w["busy"].changes if v == 1]
    falls = [t for t, v in w["busy"].changes if v == 0 and t > 0]
    assert len(rises) == 1 and len(falls) == 1
    assert (falls[0] - rises[0]) // period == result.rtl_cycles == sim_cycles(plan, accel)
    ax = plot_waves({k: w[k] for k in ("busy", "done")}, period, 0, 40)
    assert len(ax.lines) == 2
