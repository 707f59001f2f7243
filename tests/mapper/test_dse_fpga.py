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
    ("{pe_mode: [bitfusion], dataflow: [rs]}",    # a kind of PE, but no rs array
     "dataflow must be one of ['ws', 'os'] for RTL, not 'rs'"),
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


def test_target_rows_carry_the_model_and_run_at_min_clock_fmax(tmp_path: Path) -> None:
    from mapper.dse import design_seed, pareto_rows, run_dse
    from mapper.dse_report import write_dse_reports
    from mapper.network_map import map_network
    from mapper.store import ResultStore
    from sim.fpga_model import estimate
    space = _space(tmp_path, "{rows: [2, 4], cols: [4], glb_kib: [8]}")
    st = DseSettings(network="one", strategy="grid", map_evals=100, target="ecp5-85k",
                     objectives=("latency", "lut", "fmax"),
                     constraints=(Constraint.parse("dsp<=8"),))
    store = ResultStore(tmp_path / "s.sqlite", st.meta(space), resume=False)
    assert run_dse(space, NET, st, store) == 2
    rows = store.rows()
    for ix, row in zip(((0, 0, 0), (1, 0, 0)), rows):
        accel = space.accelerator(ix)
        est = estimate(accel, "ecp5-85k")
        assert (row["lut"], row["ff"], row["dsp"], row["bram"], row["fmax_mhz"]) == \
            (est.lut, est.ff, est.dsp, est.bram, est.fmax_mhz)
        assert row["clock_mhz"] == min(accel.clock_mhz, est.fmax_mhz)
        res = map_network(NET, accel, "annealing", "edp", 100, None,
                          design_seed(0, row["key"]), progress=False).result
        assert row["latency_ms"] == res.total_cycles / (row["clock_mhz"] * 1e3)
    assert [r["dsp"] for r in rows] == [8, 16]               # one MULT18X18D per PE
    assert [r["params"] for r in pareto_rows(rows, st)] == [rows[0]["params"]]  # dsp<=8
    txt = write_dse_reports(rows, st, tmp_path)["txt"].read_text()
    assert "FPGA target ecp5-85k" in txt and f"LUT {rows[0]['lut']} " in txt
    assert "lut" in (tmp_path / "pareto.csv").read_text().splitlines()[0].split(",")


def test_lut_multipliers_that_overflow_the_part_are_infeasible(tmp_path: Path) -> None:
    # 64 int8 multipliers on an iCE40 UP5K (8 SB_MAC16): all go to LUTs, too many LUTs
    st = DseSettings(network="one", strategy="grid", map_evals=50, target="ice40-up5k")
    row = evaluate_design(_space(tmp_path, "{glb_kib: [4]}"), (0,), NET, st)
    assert row["feasible"] == 0
    assert "LUTs (64 8x8-bit multipliers in LUTs: the part's 8 SB_MAC16 cannot take all " \
           "of them), the part has 5280" in row["error"]


def test_cli_dse_with_a_target(capsys, tmp_path: Path) -> None:  # noqa: ANN001
    from mapper.cli import main
    space = tmp_path / "space.yaml"
    space.write_text("base: edge_8x8_ws\nparameters: {rows: [2, 4], cols: [4], "
                     "glb_kib: [8], pe_mode: [fixed, bitserial]}\n")
    rc = main(["dse", "--network", "alexnet", "--space", str(space), "--target", "ecp5-85k",
               "--objectives", "latency,lut", "--constraint", "dsp<=8", "--strategy", "grid",
               "--map-evals", "50", "--workers", "1", "--out", str(tmp_path / "o")])
    out = capsys.readouterr().out
    assert rc == 0 and "4 designs evaluated now" in out
    # bit-serial designs are costed too (sim.fpga_model's bitserial model): no DSP
    assert "(0 could not run)" in out and out.count(" DSP 0 ") == 2
    assert "Pareto front: 1 designs" in out and " DSP 8 " in out
