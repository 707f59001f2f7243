"""``coforge verify --bits/--prune`` and the dispatch on the engine kind (hdl/verify.py):
flag parsing with one-line errors, the dense engine at narrow widths and with pruned
weights (dense cycles), which prune patterns each engine runs, and the hand-off to the
engine modules' ``verify_gemm``.

Expected cycles are hand arithmetic on the dense WS schedule (one stationary tile per
fold: ``M + 2R + C - 1`` cycles each); pruning and ranges are checked by brute force."""

from __future__ import annotations

import json
import sys
import types

import numpy as np
import pytest

from hdl.driver import random_case
from hdl.params import HdlError, HdlParams
from hdl.plan import plan_gemm
from hdl.verify import dense_case, parse_bits, parse_prune, verify
from hdl_helpers import needs_icarus
from mapper.cli import main
from sim.spec_io import load_accelerator

RECORD_KEYS = {"rtl_cycles", "sim_cycles", "cycles_match", "outputs_match", "max_abs_error",
               "engine", "bits", "prune"}


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize("argv, fragment", [
    (["--bits", "w3a8"], "--bits must be wXaY (weight X bits, input Y bits) with X, Y in "
                         "[2, 4, 8] (at most pe.operand_bits 8 of 'edge_8x8_ws'), not 'w3a8'"),
    (["--bits", "w16a16"], "with X, Y in [2, 4, 8]"),
    (["--bits", "8"], "not '8'"),
    (["--prune", "4:2"], "--prune must be N:M with 1 <= N < M (e.g. 2:4) or magnitude:D "
                         "with the kept fraction D in (0, 1] (e.g. magnitude:0.5), not '4:2'"),
    (["--prune", "magnitude:1.5"], "not 'magnitude:1.5'"),
    (["--prune", "random"], "not 'random'"),
])
def test_bad_bits_and_prune_are_one_line(argv: list[str], fragment: str,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = _run(capsys, "verify", "--arch", "edge_8x8_ws", "--gemm", "2,2,2",
                        "--backend", "amaranth", *argv)
    assert rc == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and fragment in err, err


def test_parsers() -> None:
    accel = load_accelerator("edge_8x8_ws")
    assert parse_bits(None, accel) == (8, 8) and parse_bits("w2a8", accel) == (2, 8)
    assert parse_prune(None) is None and parse_prune("2:4") == "2:4"
    assert parse_prune(" 1:8 ") == "1:8" and parse_prune("magnitude:0.25") == ("magnitude", 0.25)


def test_dense_narrow_pruned_gemm_keeps_dense_cycles(
        capsys: pytest.CaptureFixture[str]) -> None:
    """edge_8x8_ws (8x8 WS), 5x13x9: ceil(13/8) * ceil(9/8) = 4 tiles of 5 + 16 + 7 = 28
    cycles = 112, whatever the widths and the zeros (fixed-width PEs; gating is energy)."""
    for extra in (["--bits", "w4a2", "--prune", "2:4"], ["--prune", "magnitude:0.3"], []):
        rc, out, _ = _run(capsys, "verify", "--arch", "edge_8x8_ws", "--gemm", "5,13,9",
                          "--backend", "amaranth", "--seed", "3", *extra)
        rec = json.loads(out)
        assert set(rec) == RECORD_KEYS and rc == 0
        assert rec["rtl_cycles"] == rec["sim_cycles"] == 4 * (5 + 2 * 8 + 8 - 1)
        assert rec["cycles_match"] and rec["outputs_match"] and rec["engine"] == "dense"
    assert (rec["bits"], rec["prune"]) == ("w8a8", None)


def test_dense_case_ranges_and_pruning() -> None:
    accel = load_accelerator("edge_8x8_ws")
    params = HdlParams.from_accelerator(accel)
    plan = plan_gemm(params, 6, 23, 10)
    full = dense_case(params, plan, 5, 8, 8)
    same = random_case(params, plan, 5)                  # the stimulus before --bits
    assert (full.a, full.b) == (same.a, same.b)
    case = dense_case(params, plan, 5, 4, 2, prune="2:4")
    a, b = np.array(case.a), np.array(case.b)
    assert a.min() >= -2 and a.max() <= 1 and b.min() >= -8 and b.max() <= 7
    assert a.min() == -2 and b.min() == -8               # the extremes are drawn
    for col in b.T:                                      # 2:4 along the reduction K
        for g in range(0, len(col), 4):
            assert np.count_nonzero(col[g:g + 4]) <= 2
    mag = np.array(dense_case(params, plan, 5, 8, 8, prune=("magnitude", 0.25)).b)
    dense_b = np.array(full.b)
    kept = round(0.25 * dense_b.size)
    assert np.count_nonzero(mag) <= kept
    assert np.abs(mag[mag != 0]).min() >= np.sort(np.abs(dense_b).ravel())[-kept]


@needs_icarus
def test_dense_narrow_on_icarus(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = _run(capsys, "verify", "--arch", "edge_npu_4x4_ws_ecp5", "--gemm", "6,9,5",
                      "--bits", "w2a4", "--prune", "1:4")
    rec = json.loads(out)
    # 4x4 WS with product register: 3 x 2 tiles of 6 + 8 + 3 + 1 = 18 cycles
    assert rc == 0 and rec["rtl_cycles"] == rec["sim_cycles"] == 6 * 18
    assert rec["outputs_match"] and (rec["bits"], rec["prune"]) == ("w2a4", "1:4")


def test_sparse_nm_engine_prune_rules() -> None:
    """A 2:4 format holds 2:4, 1:4, 1:2, 2:8, 1:8 (at most 2 nonzeros in any aligned
    group of 4, by counting); 3:4, 3:8, 2:3 and unstructured pruning can exceed it."""
    from hdl.verify import engine_prune
    accel = load_accelerator("edge_4x4_ws_sparse24")
    params = HdlParams.from_accelerator(accel)
    for ok in ("2:4", "1:4", "1:2", "2:8", "1:8"):
        assert engine_prune(params, accel, ok) == ok
    assert engine_prune(params, accel, None) == "2:4"
    for prune, fragment in ((("magnitude", 0.5), "cannot run unstructured (magnitude) "
                                                 "pruning: it stores 2:4 weights"),
                            ("3:4", "--prune 3:4: the 'edge_4x4_ws_sparse24' sparse_nm "
                                    "engine stores 2:4 weights"),
                            ("3:8", "which 3:8 can exceed in a group of 4"),
                            ("2:3", "which 2:3 can exceed")):
        with pytest.raises(HdlError, match=r"give --prune 2:4") as exc:
            verify(accel, 4, 8, 4, backend="amaranth", prune=prune)
        assert fragment in str(exc.value)


def _fake_engine(monkeypatch: pytest.MonkeyPatch, module: str) -> list[dict]:
    calls: list[dict] = []

    def verify_gemm(accel, m, k, n, **kw):  # noqa: ANN001, ANN003, ANN202
        calls.append({"accel": accel.name, "mkn": (m, k, n)} | kw)
        return {"rtl_cycles": 7, "sim_cycles": 7, "cycles_match": True,
                "outputs_match": True, "max_abs_error": 0}
    monkeypatch.setitem(sys.modules, module,
                        types.SimpleNamespace(verify_gemm=verify_gemm))  # type: ignore[arg-type]
    return calls


@pytest.mark.parametrize("spec, module, prune, want_prune", [
    ("edge_4x4_ws_bitserial", "hdl.bitserial", None, None),
    ("edge_4x4_ws_bitfusion", "hdl.bitfusion", "2:4", "2:4"),
    ("edge_4x4_ws_sparse24", "hdl.sparse_nm", None, "2:4"),      # the spec's N:M
])
def test_other_kinds_go_to_their_module(monkeypatch: pytest.MonkeyPatch, spec: str,
                                        module: str, prune: str | None,
                                        want_prune: str | None) -> None:
    calls = _fake_engine(monkeypatch, module)
    rec = verify(load_accelerator(spec), 5, 6, 7, seed=9, backend="verilator", bits=(4, 2),
                 prune=prune, idle=0.1, backpressure=0.2)
    assert calls == [{"accel": spec, "mkn": (5, 6, 7), "w_bits": 4, "a_bits": 2,
                      "prune": want_prune, "seed": 9, "backend": "verilator",
                      "build_dir": None, "idle": 0.1, "backpressure": 0.2}]
    kind = {"hdl.bitserial": "bitserial", "hdl.bitfusion": "bitfusion",
            "hdl.sparse_nm": "sparse_nm"}[module]
    assert rec == {"rtl_cycles": 7, "sim_cycles": 7, "cycles_match": True,
                   "outputs_match": True, "max_abs_error": 0, "engine": kind,
                   "bits": "w4a2", "prune": want_prune}


def test_missing_generator_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "hdl.bitserial", None)   # import fails as if absent
    with pytest.raises(HdlError, match=r"^the 'bitserial' engine generator "
                                       r"\(hdl.bitserial.verify_gemm\) is not available"):
        verify(load_accelerator("edge_4x4_ws_bitserial"), 2, 2, 2, backend="amaranth")


@pytest.mark.parametrize("spec, extra, cycles, fields", [
    # 4x4 WS, 7x12x6, dense tile = 7 + 2*4 + 4 - 1 = 18 cycles:
    # bit-serial a4: ceil(12/4) * ceil(6/4) = 6 tiles x 18 steps x 4 cycles
    ("edge_4x4_ws_bitserial", ["--bits", "w8a4"], 6 * 18 * 4,
     {"engine": "bitserial", "bits": "w8a4", "prune": None}),
    # bit-fusion w4a4: f = (8/4)^2 = 4 products per step, K' = ceil(12/4) = 3: 1 x 2 tiles
    ("edge_4x4_ws_bitfusion", ["--bits", "w4a4"], 1 * 2 * 18,
     {"engine": "bitfusion", "bits": "w4a4", "prune": None}),
    # 2:4: slots(12) = ceil(12/4) * 2 = 6 reduction rows: ceil(6/4) * 2 = 4 tiles
    ("edge_4x4_ws_sparse24", [], 4 * 18, {"engine": "sparse_nm", "prune": "2:4"}),
    ("edge_4x4_ws_sparse24", ["--prune", "1:4"], 4 * 18, {"prune": "1:4"}),
])
def test_every_engine_kind_from_the_cli(capsys: pytest.CaptureFixture[str], spec: str,
                                        extra: list[str], cycles: int,
                                        fields: dict) -> None:
    rc, out, _ = _run(capsys, "verify", "--arch", spec, "--gemm", "7,12,6",
                      "--backend", "amaranth", *extra)
    rec = json.loads(out)
    assert rc == 0 and RECORD_KEYS <= set(rec)
    assert rec["rtl_cycles"] == rec["sim_cycles"] == cycles
    assert rec["cycles_match"] and rec["outputs_match"] and rec["max_abs_error"] == 0
    assert {k: rec[k] for k in fields} == fields


@pytest.mark.slow          # the engine's own tests run it on Icarus and Verilator by default
@needs_icarus
def test_bitserial_on_icarus_from_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    # 4x4 WS, 5x6x3 at a2: 2 x 1 tiles of 5 + 11 = 16 steps x 2 cycles
    rc, out, _ = _run(capsys, "verify", "--arch", "edge_4x4_ws_bitserial", "--gemm", "5,6,3",
                      "--bits", "w4a2", "--seed", "2")
    rec = json.loads(out)
    assert rc == 0 and rec["rtl_cycles"] == rec["sim_cycles"] == 2 * 16 * 2
    assert rec["outputs_match"] and rec["engine"] == "bitserial"
