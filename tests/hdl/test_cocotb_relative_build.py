"""A relative build directory (e.g. `coforge validate --out out/x` from any cwd) works:
cocotb's runner refuses relative result paths, so run_cocotb resolves them."""

from __future__ import annotations

from pathlib import Path

from hdl.verify import verify
from hdl_helpers import needs_icarus
from sim.spec_io import load_accelerator


@needs_icarus
def test_verify_with_a_relative_build_dir(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    doc = verify(load_accelerator("edge_8x8_ws"), 4, 4, 4, build_dir=Path("relbuild"))
    assert doc["cycles_match"] and doc["outputs_match"]
    assert (tmp_path / "relbuild" / "hdl").is_dir()
