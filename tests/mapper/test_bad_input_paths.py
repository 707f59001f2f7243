"""Output paths are checked before the run, and nothing is built in the source tree:
``--trace`` inside ``--out``, a missing trace directory, an ``--out`` that is a file,
and the simulator build / tool cache directories of ``verify`` and ``validate``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hdl import cocotb_run, synth
from mapper.cli import main

REPO = Path(__file__).resolve().parents[2]


def _error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    rc = main(argv)
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and "Traceback" not in err, (rc, err)
    assert out == ""                                   # refused before the run printed
    return lines[0]


def test_trace_inside_out_gets_its_directory(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    trace = out / "traces" / "t.csv"
    rc = main(["simulate", "--network", "alexnet", "--fidelity", "cycle",
               "--trace", str(trace), "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    assert trace.stat().st_size > 0 and (out / "result.json").exists()


def test_trace_in_a_missing_directory_is_refused_before_the_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace = tmp_path / "nodir" / "t.csv"
    line = _error(capsys, ["simulate", "--network", "alexnet", "--fidelity", "cycle",
                           "--trace", str(trace)])
    assert line == (f"coforge: error: --trace {trace}: directory {trace.parent} does not "
                    f"exist; create it or give a path inside --out")


def test_trace_that_is_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = _error(capsys, ["simulate", "--network", "alexnet", "--fidelity", "cycle",
                           "--trace", str(tmp_path)])
    assert line.endswith("is a directory; give a CSV file path")


def test_trace_in_a_read_only_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The directory is made read-only and, because root (CI) writes anywhere, the
    permission check is also told so: the test runs for every user, never skips."""
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, *a, **k: False
                        if Path(p).resolve() == ro.resolve() and mode & os.W_OK
                        else real_access(p, mode, *a, **k))
    try:
        line = _error(capsys, ["simulate", "--network", "alexnet", "--fidelity", "cycle",
                               "--trace", str(ro / "t.csv")])
    finally:
        ro.chmod(0o700)
    assert "cannot write in" in line and "writable directory" in line


@pytest.mark.parametrize("command", [["simulate", "--network", "alexnet"],
                                     ["map", "--network", "alexnet", "--max-evals", "10"]])
def test_out_that_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                            command: list[str]) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    line = _error(capsys, command + ["--out", str(afile)])
    assert line == f"coforge: error: --out {afile}: exists and is not a directory; give a " \
                   f"directory path"


# -- build and cache directories --------------------------------------------------------
def test_build_root_is_the_user_cache_not_the_source_tree(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    monkeypatch.delenv("COFORGE_BUILD_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    root = cocotb_run.build_root()
    assert root == tmp_path / "cache" / "coforge" / "build" and root.is_dir()
    assert REPO not in root.parents


def test_build_root_falls_back_to_a_temp_dir(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")                  # a cache "directory" that cannot be made
    monkeypatch.delenv("COFORGE_BUILD_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    monkeypatch.setattr(cocotb_run.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    assert cocotb_run.build_root() == tmp_path / "tmp" / f"coforge-build-{os.getuid()}"


def test_build_root_env_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COFORGE_BUILD_DIR", str(tmp_path / "b"))
    assert cocotb_run.build_root() == tmp_path / "b"


def test_unwritable_build_dir_is_a_one_line_hdl_error(tmp_path: Path) -> None:
    from hdl.driver import random_case
    from hdl.params import HdlError, HdlParams
    from hdl.plan import plan_gemm
    from sim.spec_io import load_accelerator
    if not cocotb_run.icarus_available():
        pytest.fail("Icarus Verilog (iverilog, vvp) is not on PATH; install it with: "
                    "make install (apt-get install iverilog)")
    params = HdlParams.from_accelerator(load_accelerator("edge_8x8_ws"))
    case = random_case(params, plan_gemm(params, 2, 2, 2), 0)
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(HdlError, match=r"cannot create the simulator build directory .*"
                                       r"set COFORGE_BUILD_DIR to a writable directory$"):
        cocotb_run.run_cocotb(params, [case], build_dir=blocker)


def test_validate_builds_the_rtl_simulation_under_out(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import hdl.verify
    from dataflows import Network, fc
    from mapper.validate import _rtl, map_design
    from sim.spec_io import load_accelerator
    seen: dict[str, object] = {}

    def fake_verify(*args: object, build_dir: Path | None = None, **kw: object) -> dict:
        seen["build_dir"] = build_dir                  # the simulator run itself is slow
        return {"rtl_cycles": 0, "sim_cycles": 0, "cycles_match": False,
                "outputs_match": False, "max_abs_error": -1}

    monkeypatch.setattr(hdl.verify, "verify", fake_verify)
    net = Network.chain("one", [fc("fc", 16, 8)])
    design = map_design(load_accelerator("edge_8x8_ws"), net, "random", 20)
    _rtl(design, tmp_path / "v", "cocotb", 0)
    assert seen["build_dir"] == tmp_path / "v" / "rtl" / "build"


def test_yowasp_cache_only_where_it_exists_and_is_writable(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    fake = tmp_path / "pkg" / "hdl" / "synth.py"
    monkeypatch.setattr(synth, "__file__", str(fake))
    assert synth.default_cache_dir() is None          # an install: YoWASP's own cache
    (tmp_path / "pkg" / "build" / "yowasp-cache").mkdir(parents=True)
    assert synth.default_cache_dir() == tmp_path / "pkg" / "build" / "yowasp-cache"
