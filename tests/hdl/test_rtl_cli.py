"""``coforge rtl`` and ``coforge verify`` (mapper/cli.py over hdl/export.py, hdl/verify.py):
outputs, the manifest, JSON records, exit codes and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from amaranth.lib import wiring

from hdl_helpers import needs_icarus
from mapper.cli import main
from sim.spec_io import load_accelerator


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_rtl_writes_verilog_and_manifest(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = _run(capsys, "rtl", "--arch", "edge_8x8_ws", "--out", str(tmp_path))
    assert rc == 0 and "manifest.json" in out
    man = json.loads((tmp_path / "manifest.json").read_text())
    accel = load_accelerator("edge_8x8_ws")
    assert man["spec_hash"] == accel.spec_hash and man["top"] == "coforge_gemm"
    assert man["amaranth_version"].startswith("0.5") and man["coforge_version"]
    assert man["parameters"]["rows"] == 8 and man["parameters"]["dataflow"] == "ws"
    names = {p["name"]: p for p in man["ports"]}
    assert {"clk", "rst", "a__payload", "a__valid", "a__ready", "o__payload", "start", "busy",
            "done", "cycles", "m", "k", "n", "order"} <= set(names)
    assert names["o__payload"]["width"] == 32 and names["o__payload"]["signed"]
    assert sum(p["width"] for p in man["ports"]) < 200         # fits a real package
    verilog = (tmp_path / man["verilog"]).read_text()
    assert "module coforge_gemm(" in verilog
    for p in man["ports"]:
        assert p["name"] in verilog


@needs_icarus
def test_verify_prints_the_record(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = _run(capsys, "verify", "--arch", "edge_8x8_ws", "--gemm", "11,13,9",
                      "--seed", "4")
    rec = json.loads(out)
    assert set(rec) == {"rtl_cycles", "sim_cycles", "cycles_match", "outputs_match",
                        "max_abs_error", "engine", "bits", "prune"}
    assert (rec["engine"], rec["bits"], rec["prune"]) == ("dense", "w8a8", None)
    assert rc == 0 and rec["cycles_match"] and rec["outputs_match"]
    assert rec["rtl_cycles"] == rec["sim_cycles"] == 2 * 2 * (11 + 2 * 8 + 8 - 1)
    assert rec["max_abs_error"] == 0


def test_verify_amaranth_backend(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = _run(capsys, "verify", "--arch", "edge_8x8_ws", "--gemm", "3,9,2",
                      "--backend", "amaranth")
    assert rc == 0 and json.loads(out)["cycles_match"]


@pytest.mark.parametrize("argv, fragment", [
    (["verify", "--arch", "edge_8x8_ws", "--gemm", "3,0,2"], "three positive integers"),
    (["verify", "--arch", "edge_8x8_ws", "--gemm", "3,2"], "not '3,2'"),
    (["verify", "--arch", "edge_8x8_ws", "--gemm", "5000,5000,1"],
     "needs 3125000 words of the input (A) buffer, which has 1365"),
    (["verify", "--arch", "eyeriss_12x14_rs", "--gemm", "2,2,2"],
     "dataflow must be one of ['ws', 'os'] for RTL, not 'rs'"),
    (["rtl", "--arch", "tpu_128x128_ws", "--out", "unused"], "array rows must be <= 64"),
    (["rtl", "--arch", "no_such_spec", "--out", "unused"], "no such file"),
])
def test_bad_input_is_one_line(argv: list[str], fragment: str,
                               capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = _run(capsys, *argv)
    assert rc == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and fragment in err


def test_verify_mismatch_exits_nonzero(monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    import hdl.verify as hv
    monkeypatch.setattr(hv, "sim_cycles", lambda plan, accel: plan.rtl_busy_cycles + 1)
    rc, out, _ = _run(capsys, "verify", "--arch", "edge_8x8_ws", "--gemm", "2,2,2",
                      "--backend", "amaranth")
    rec = json.loads(out)
    assert rc == 1 and not rec["cycles_match"] and rec["sim_cycles"] == rec["rtl_cycles"] + 1


def test_port_list_matches_signature() -> None:
    from hdl.export import port_list
    from hdl.params import HdlParams
    from hdl.top import GemmTop
    top = GemmTop(HdlParams("os", 2, 3, 4, 8, False, 8, 8, 8))
    ports = port_list(top)
    assert len(ports) == 2 + len(list(top.signature.flatten(top)))
    assert isinstance(top.signature, wiring.Signature)
    from amaranth.hdl import Fragment
    Fragment.get(top, None)                     # elaborates (and marks it used)
