"""Co-search with an FPGA target: RTL-unbuildable and unfittable candidates are stored
infeasible with the reason; resources, Fmax and the clock come from sim.fpga_model."""

from __future__ import annotations

from pathlib import Path

import pytest

from dataflows import Network, conv
from mapper.dse import Constraint, DseError, DseSettings, evaluate_design
from mapper.hw_space import HardwareSpace, load_hw_space
from sim.spec_io import load_accelerator


def _space(tmp_path: Path, params: str):  # noqa: ANN202
    p = tmp_path / "space.yaml"
    p.write_text(f"base: edge_8x8_ws\nparameters: {params}\n")
    return load_hw_space(p)


NET = Network.chain("one", [conv("a", 8, 8, 8, 3)])


@pytest.mark.parametrize("params, reason", [
    ("{dataflow: [rs]}", "dataflow must be one of ['ws', 'os'] for RTL, not 'rs'"),
    ("{operand_bits: [32], accumulator_bits: [64]}",
     "pe.operand_bits must be one of [4, 8, 16] for RTL, not 32"),
    ("{pe_mode: [bitfusion]}", "pe.mode must be 'fixed' for RTL"),
    ("{rows: [16], cols: [16], dataflow: [os]}",     # one DSP per PE: 256 > 72
     "the 16x16 array needs 256 MULT18X18D (one per 8x8-bit multiplier), the part has 72"),
])
def test_candidates_that_cannot_be_built_or_fit_are_infeasible(
        tmp_path: Path, params: str, reason: str) -> None:
    st = DseSettings(network="one", strategy="grid", map_evals=50, target="ecp5-45k")
    space = _space(tmp_path, params)
    row = evaluate_design(space, (0,) * len(space.sizes), NET, st)
    assert row["feasible"] == 0 and reason in row["error"]
    assert row["latency_ms"] is None and row["dsp"] is None


def test_fpga_metrics_need_a_target() -> None:
    with pytest.raises(DseError, match=r"'fmax' is an FPGA resource: give a target"):
        DseSettings(network="x", objectives=("latency", "fmax"))
    with pytest.raises(DseError, match=r"'bram<=10' is an FPGA resource"):
        DseSettings(network="x", constraints=(Constraint.parse("bram<=10"),))
    st = DseSettings(network="x", objectives=("latency", "lut"), target="ice40-up5k",
                     constraints=(Constraint.parse("dsp<=8"),))
    space = HardwareSpace(load_accelerator("edge_8x8_ws"), (("rows", (4,)),))
    assert st.meta(space)["target"] == "ice40-up5k"
    assert "target" not in DseSettings(network="x").meta(space)   # old stores still resume
