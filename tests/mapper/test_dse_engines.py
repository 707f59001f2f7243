"""Co-search and validation reach the engine kinds beyond dense: ``coforge dse --target``
costs bit-serial / bit-fusion / N:M designs with the FPGA model of their kind (a kind
without a calibrated model stays infeasible with the reason), and ``validate`` runs its
representative tile on the kind's RTL."""

from __future__ import annotations

from pathlib import Path

import pytest

import sim.fpga_model as fm
from dataflows import Network, Precision, conv
from mapper.dse import DseSettings, evaluate_design, fpga_resources
from mapper.hw_space import load_hw_space
from mapper.validate import map_design, passed, validate
from sim.fpga_model import estimate
from sim.spec_io import load_accelerator

NET = Network.chain("one", [conv("a", 8, 8, 8, 3, precision=Precision(4, 4, 8))])


def _space(tmp_path: Path, params: str):  # noqa: ANN202
    p = tmp_path / "space.yaml"
    p.write_text(f"base: edge_npu_4x4_ws_ecp5\nparameters: {params}\n")
    return load_hw_space(p)


@pytest.mark.parametrize("spec, dsp", [("edge_4x4_ws_bitserial", 0),
                                       ("edge_4x4_ws_bitfusion", 0),
                                       ("edge_4x4_ws_sparse24", 16)])
def test_fpga_resources_of_each_kind(spec: str, dsp: int) -> None:
    """No multiplier in a bit-serial PE, 2-bit bricks in LUTs for bit fusion, one
    MULT18X18D per N:M PE (16 PEs)."""
    accel = load_accelerator(spec)
    res = fpga_resources(accel, "ecp5-85k")
    est = estimate(accel, "ecp5-85k")
    assert res == {"lut": est.lut, "ff": est.ff, "dsp": est.dsp, "bram": est.bram,
                   "fmax_mhz": est.fmax_mhz}
    assert res["dsp"] == dsp and res["lut"] > 0 and res["fmax_mhz"] > 0


def test_dse_target_accepts_bitserial_and_bitfusion(tmp_path: Path) -> None:
    st = DseSettings(network="one", strategy="grid", map_evals=50, target="ecp5-85k")
    space = _space(tmp_path, "{pe_mode: [fixed, bitserial, bitfusion]}")
    rows = [evaluate_design(space, (i,), NET, st) for i in range(3)]
    assert [r["feasible"] for r in rows] == [1, 1, 1], [r["error"] for r in rows]
    for i, row in enumerate(rows):
        est = estimate(space.accelerator((i,)), "ecp5-85k")
        assert (row["lut"], row["dsp"], row["fmax_mhz"]) == (est.lut, est.dsp, est.fmax_mhz)
    assert [r["dsp"] for r in rows] == [16, 0, 0]


def test_uncalibrated_kind_is_infeasible_with_the_reason(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(fm.ENGINE_COEFFICIENTS, "ecp5",
                        {k: v for k, v in fm.ENGINE_COEFFICIENTS.get("ecp5", {}).items()
                         if k != "bitfusion"})
    st = DseSettings(network="one", strategy="grid", map_evals=50, target="ecp5-85k")
    row = evaluate_design(_space(tmp_path, "{pe_mode: [bitfusion]}"), (0,), NET, st)
    assert row["feasible"] == 0 and row["lut"] is None and row["latency_ms"] is None
    assert "the FPGA model has no calibrated 'bitfusion' engine for ecp5 yet" in row["error"]


def test_validate_runs_the_tile_on_the_bitserial_rtl() -> None:
    """conv a (C=8, K=8, 6x6 outputs, 3x3): GEMM M=36, K=72, N=8; on the 4x4 WS array at
    4-bit inputs every step takes 4 cycles. The engine's cycles must equal the cycle
    model's and its outputs numpy's."""
    design = map_design(load_accelerator("edge_4x4_ws_bitserial"), NET, max_evals=100)
    doc = validate(design, backend="amaranth")
    rtl = doc["rtl"]
    assert "skipped" not in rtl, rtl
    assert (rtl["engine"], rtl["bits"]) == ("bitserial", "w4a4")
    m, k, n = rtl["tile_mkn"]
    tiles = -(-k // 4) * -(-n // 4)
    assert rtl["rtl_cycles"] == rtl["sim_cycles"] == 4 * tiles * (m + 2 * 4 + 4 - 1)
    assert rtl["cycles_match"] and rtl["outputs_match"] and passed(doc)
