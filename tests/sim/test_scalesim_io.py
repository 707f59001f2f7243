"""Reading SCALE-Sim v3 inputs: .cfg architecture files and topology CSVs."""

from __future__ import annotations

import math
import re
from dataclasses import replace
from pathlib import Path

import pytest

from dataflows.errors import CoforgeError
from sim.scalesim_io import (SCALESIM_CLOCK_MHZ, ScaleSimFormatError, load_scalesim_config,
                             load_scalesim_topology)
from sim.spec_io import load_accelerator

PEERS = Path(__file__).parents[1] / "data" / "scalesim"  # SCALE-Sim's files, vendored

ARCH = """[architecture_presets]
ArrayHeight: {rows}
ArrayWidth: {cols}
IfmapSramSzkB: 4
FilterSramSzkB: 8
OfmapSramSzkB: 2
Bandwidth: 12
Dataflow: {dataflow}
"""


def _cfg(tmp_path: Path, text: str, name: str = "arch.cfg") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _good(rows: int | str = 8, cols: int = 4, dataflow: str = "os", iface: str = "USER",
          general: bool = True) -> str:
    head = "[general]\nrun_name = my_run\n\n" if general else ""
    return head + ARCH.format(rows=rows, cols=cols, dataflow=dataflow) + \
        f"\n[run_presets]\nInterfaceBandwidth: {iface}\n"


# -- .cfg -------------------------------------------------------------------------------
def test_config_fields(tmp_path: Path) -> None:
    accel = load_scalesim_config(_cfg(tmp_path, _good()))
    assert (accel.name, accel.rows, accel.cols, accel.dataflow) == ("my_run", 8, 4, "os")
    assert accel.clock_mhz == SCALESIM_CLOCK_MHZ == 1000.0
    sizes = {b.operands[0]: b.capacity_bytes for b in accel.glb}
    assert sizes == {"input": 4096, "weight": 8192, "output": 2048}
    assert all(b.double_buffered and b.word_bits == 8 for b in accel.glb)
    assert [b.name for b in accel.glb] == ["ifmap_sram", "filter_sram", "ofmap_sram"]
    # USER: the configured bandwidth (1-byte words per cycle) on both DRAM ports
    assert accel.dram.read_bytes_per_cycle == accel.dram.write_bytes_per_cycle == 12.0
    assert "USER" in accel.description


def test_calc_means_unlimited_bandwidth(tmp_path: Path) -> None:
    accel = load_scalesim_config(_cfg(tmp_path, _good(iface="calc")))
    assert accel.dram.read_bytes_per_cycle == accel.dram.write_bytes_per_cycle == math.inf


def test_dataflow_case_insensitive_and_run_name_fallback(tmp_path: Path) -> None:
    accel = load_scalesim_config(_cfg(tmp_path, _good(dataflow="WS", general=False),
                                      name="fallback.cfg"))
    assert accel.dataflow == "ws" and accel.name == "fallback"


def test_scale_cfg_is_the_shipped_scalesim_spec() -> None:
    from_cfg = load_scalesim_config(PEERS / "configs" / "scale.cfg")
    shipped = load_accelerator("scalesim_32x32_ws")
    assert replace(from_cfg, name=shipped.name, description=shipped.description) == shipped


def test_every_scalesim_config_loads() -> None:
    configs = sorted((PEERS / "configs").glob("*.cfg"))
    assert len(configs) == 13   # every .cfg of the vendored SCALE-Sim commit
    for cfg in configs:
        accel = load_scalesim_config(cfg)
        assert accel.dataflow in ("ws", "os", "is")


def test_missing_config_file(tmp_path: Path) -> None:
    path = tmp_path / "none.cfg"
    with pytest.raises(ScaleSimFormatError,
                       match=rf"^{re.escape(str(path))}: no such SCALE-Sim config file$"):
        load_scalesim_config(path)


@pytest.mark.parametrize("text, match", [
    (ARCH.format(rows=8, cols=8, dataflow="ws"),
     r"missing section \[run_presets\] \(SCALE-Sim requires it\)$"),
    ("[run_presets]\nInterfaceBandwidth: CALC\n",
     r"missing section \[architecture_presets\] \(SCALE-Sim requires it\)$"),
    (_good().replace("ArrayWidth: 4\n", ""), r"\[architecture_presets\] is missing ArrayWidth$"),
    (_good(rows="eight"), r"\[architecture_presets\] ArrayHeight must be an integer, "
                          r"not 'eight'$"),
    (_good(cols=0), r"\[architecture_presets\] ArrayWidth must be an integer from 1 to 1024, "
                    r"not 0$"),
    (_good(dataflow="rs"), r"\[architecture_presets\] Dataflow must be ws, os or is, "
                           r"not 'rs'$"),
    (_good(iface="AUTO"), r"\[run_presets\] InterfaceBandwidth must be CALC or USER, "
                          r"not 'AUTO'$"),
    (_good() + "[run_presets]\nx: 1\n", r"malformed \.cfg: "),
    ("ArrayHeight: 8\n", r"malformed \.cfg: "),
])
def test_config_errors(tmp_path: Path, text: str, match: str) -> None:
    path = _cfg(tmp_path, text)
    with pytest.raises(ScaleSimFormatError,
                       match=rf"^{re.escape(str(path))}: " + match) as info:
        load_scalesim_config(path)
    assert "\n" not in str(info.value)


def test_error_type() -> None:
    assert issubclass(ScaleSimFormatError, CoforgeError)


# -- topologies -------------------------------------------------------------------------
CONV_HEAD = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, " \
            "Num Filter, Strides,\n"


def _topo(tmp_path: Path, body: str, head: str = CONV_HEAD, name: str = "net.csv") -> Path:
    path = tmp_path / name
    path.write_text(head + body)
    return path


def test_conv_topology(tmp_path: Path) -> None:
    net = load_scalesim_topology(_topo(tmp_path, "Conv1, 224, 224, 7, 7, 3, 64, 2,\n"
                                                 "\n"
                                                 "Conv2,56,56,3,3,64,64,1\n"))
    assert net.name == "net"
    c1, c2 = net.layers()
    assert (c1.name, c1.kind, c1.C, c1.K, c1.R, c1.S, c1.stride_h, c1.stride_w) == \
        ("Conv1", "conv", 3, 64, 7, 7, 2, 2)
    assert (c1.H, c1.W, c1.pad_h) == (224, 224, 0)
    assert (c1.P, c1.Q) == (110, 110)   # ceil((224 - 7 + 2) / 2), SCALE-Sim rounds up
    assert (c2.P, c2.Q) == (54, 54)
    assert list(net.graph.edges) == [("Conv1", "Conv2")]


def test_conv_output_rounded_up(tmp_path: Path) -> None:
    layer = load_scalesim_topology(_topo(tmp_path, "c, 12, 10, 5, 3, 2, 3, 3,\n")).layers()[0]
    assert (layer.P, layer.Q) == (math.ceil((12 - 5 + 3) / 3), math.ceil((10 - 3 + 3) / 3))
    assert (layer.P, layer.Q) == (4, 4)   # PyTorch floor rounding would give 3 and 3


def test_gemm_topology(tmp_path: Path) -> None:
    net = load_scalesim_topology(_topo(tmp_path, "Test 1, 256, 128, 64,\nfc, 1, 10, 3,\n",
                                       head="Layer Name, M, N, K,\n"), gemm_format=True)
    a, b = net.layers()
    assert (a.name, a.kind, a.gemm_shape) == ("Test 1", "gemm", (1, 256, 64, 128))
    assert a.macs == 256 * 128 * 64 and b.macs == 30


def test_duplicate_names_get_line_suffix(tmp_path: Path) -> None:
    net = load_scalesim_topology(_topo(tmp_path, "c, 8, 8, 3, 3, 1, 1, 1,\n"
                                                 "c, 8, 8, 3, 3, 1, 1, 1,\n"))
    assert [layer.name for layer in net.layers()] == ["c", "c_3"]


@pytest.mark.parametrize("body, gemm_format, match", [
    ("c, 8, 8, 3, 3, 1, 1,\n", False,
     r"line 2 has 7 fields, needs 8: name, IFMAP H, IFMAP W, Filter H, Filter W, Channels, "
     r"Num Filter, Stride \(pass --gemm for M,N,K topologies\)$"),
    ("g, 8, 8,\n", True, r"line 1 is a conv topology header .* drop --gemm$"),
    ("c, 8, 8, 3, x, 1, 1, 1,\n", False,
     r"line 2: Filter Width must be an integer, not 'x' \(sizes are never rounded\)$"),
    ("ok, 8, 8, 3, 3, 1, 1, 1,\nc, 8, 8, 3, 3, 0, 1, 1,\n", False,
     r"line 3: Channels must be an integer from 1 to 16777216, not 0$"),
    ("c, 4, 8, 5, 3, 1, 1, 1,\n", False,
     r"line 2: filter 5x3 is larger than the 4x8 ifmap \(SCALE-Sim has no padding\)$"),
    ("", False, r"the topology has no layers; add one line per layer after the header$"),
])
def test_topology_errors(tmp_path: Path, body: str, gemm_format: bool, match: str) -> None:
    path = _topo(tmp_path, body)
    with pytest.raises(ScaleSimFormatError, match=rf"^{re.escape(str(path))}: " + match):
        load_scalesim_topology(path, gemm_format=gemm_format)


def test_missing_topology(tmp_path: Path) -> None:
    path = tmp_path / "none.csv"
    with pytest.raises(ScaleSimFormatError,
                       match=rf"^{re.escape(str(path))}: no such topology file$"):
        load_scalesim_topology(path)


@pytest.mark.parametrize("name, layers", [
    ("conv_nets/Resnet18.csv", 21), ("conv_nets/Resnet50.csv", 54),
    ("conv_nets/alexnet.csv", 5), ("conv_nets/yolo_tiny.csv", 9),
])
def test_scalesim_conv_topologies_load(name: str, layers: int) -> None:
    net = load_scalesim_topology(PEERS / "topologies" / name)
    assert len(net) == layers and net.total_macs > 0


def test_scalesim_gemm_topology_loads() -> None:
    net = load_scalesim_topology(PEERS / "topologies" / "GEMM_mnk" / "test_mnk_input.csv",
                                 gemm_format=True)
    assert [layer.gemm_shape for layer in net] == [(1, 256, 256, 128)]
