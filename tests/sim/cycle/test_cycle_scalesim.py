"""The cycle model in SCALE-Sim compatibility mode against SCALE-Sim 3.0.0 itself.

``timing="scalesim"`` + :class:`sim.cycle.ScaleSimMemory` (SCALE-Sim's USER-bandwidth
memory system) + SCALE-Sim's own fold order, each case read through SCALE-Sim's
``.cfg``/topology files (:mod:`sim.scalesim_io` for the accelerator and layer,
``ScaleSimMemory.from_cfg`` for the ``[layout]`` bank bandwidths it does not carry).

* The 24 USER cases of ``tests/data/scalesim_3.0.0_reference.json``: coforge's total
  cycles equal SCALE-Sim's 'Total Cycles' (compute + stall) exactly -- 0.00 % on every
  case, far inside the 5 % asked for -- and so do the stall cycles and SCALE-Sim's DRAM
  ifmap/filter read counts.
* 92 random USER cases recorded by ``gen_scalesim_user_random.py`` (arrays 2-16 a
  side, 1-4 KiB SRAMs, ofmap bandwidth 1-16, bank bandwidth 10/20, GEMMs and strided
  convolutions) and 9 ResNet-18 layers on SCALE-Sim's scale.cfg (32x32 ws, 64 KiB
  SRAMs) with USER bandwidth (up to 5e6 cycles, 97 % of them stalls): the same five
  numbers (also the DRAM ofmap writes), exactly.

Why exact: the model follows SCALE-Sim's memory semantics (see sim/cycle/scalesim.py),
including its artefacts -- the streaming SRAMs re-fetch whenever the demand order
leaves the window (SCALE-Sim reads fold boundaries along stacked anti-diagonals, which
thrashes the window: 35 prefetches instead of 12 for the ws 64x32x48 case) and a late
prefetch counts twice. The analytic model (its own tile-buffer memory and default
mapping) is pinned alongside for contrast: it is off by -74 % to +74 % on these cases.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from scalesim_case_files import write_case_files

from dataflows.layer import Layer, gemm
from dataflows.network import Network
from sim.cycle import build_demand, simulate_cycle
from sim.cycle.scalesim import (ScaleSimMemory, ScaleSimSupply, fetch_orders, fold_lines,
                                operand_matrices, scalesim_mapping)
from sim.cycle.supply import MemoryModelError
from sim.scalesim_io import load_scalesim_config, load_scalesim_topology
from sim.simulate import simulate
from sim.spec import Accelerator

HERE = Path(__file__).parent
REFERENCE = json.loads((HERE.parents[1] / "data" / "scalesim_3.0.0_reference.json").read_text())
USER = [c for c in REFERENCE["cases"] if c["interface_bandwidth"] == "USER"]
CALC = [c for c in REFERENCE["cases"] if c["interface_bandwidth"] == "CALC" and "run" not in c]
RANDOM = json.loads((HERE / "data" / "scalesim_user_random.json").read_text())

#: case -> (coforge cycle model, SCALE-Sim 'Total Cycles', coforge analytic model).
PINNED = {
    "user_bw4_ws_8x8_sram2k_g64_32_48": (3827, 3827, 3840),
    "user_bw4_ws_8x8_sram2k_g33_33_33": (7418, 7418, 1924),
    "user_bw4_ws_8x8_sram2k_c8x8_f3x3_ch4_nf8_s1": (289, 289, 399),
    "user_bw4_ws_8x8_sram4k_g64_32_48": (2409, 2409, 3456),
    "user_bw4_ws_8x8_sram4k_g33_33_33": (1374, 1374, 1374),
    "user_bw4_ws_8x8_sram4k_c8x8_f3x3_ch4_nf8_s1": (289, 289, 289),
    "user_bw4_bank20_ws_8x8_sram2k_g64_32_48": (2879, 2879, 3840),
    "user_bw16_ws_8x8_sram2k_g64_32_48": (3827, 3827, 2591),
    "user_bw4_os_8x8_sram2k_g64_32_48": (1983, 1983, 3456),
    "user_bw4_os_8x8_sram2k_g33_33_33": (7462, 7462, 1634),
    "user_bw4_os_8x8_sram2k_c8x8_f3x3_ch4_nf8_s1": (249, 249, 249),
    "user_bw4_os_8x8_sram4k_g64_32_48": (2227, 2227, 1983),
    "user_bw4_os_8x8_sram4k_g33_33_33": (1174, 1174, 1174),
    "user_bw4_os_8x8_sram4k_c8x8_f3x3_ch4_nf8_s1": (249, 249, 249),
    "user_bw4_bank20_os_8x8_sram2k_g64_32_48": (1983, 1983, 3456),
    "user_bw16_os_8x8_sram2k_g64_32_48": (1983, 1983, 1983),
    "user_bw4_is_8x8_sram2k_g64_32_48": (2922, 2922, 3840),
    "user_bw4_is_8x8_sram2k_g33_33_33": (7418, 7418, 2474),
    "user_bw4_is_8x8_sram2k_c8x8_f3x3_ch4_nf8_s1": (749, 749, 749),
    "user_bw4_is_8x8_sram4k_g64_32_48": (2591, 2591, 2591),
    "user_bw4_is_8x8_sram4k_g33_33_33": (1374, 1374, 1374),
    "user_bw4_is_8x8_sram4k_c8x8_f3x3_ch4_nf8_s1": (749, 749, 749),
    "user_bw4_bank20_is_8x8_sram2k_g64_32_48": (2922, 2922, 3840),
    "user_bw16_is_8x8_sram2k_g64_32_48": (2591, 2591, 2591),
}


def _ids(cases: list[dict[str, Any]]) -> list[str]:
    return [c["id"] for c in cases]


def _from_files(case: dict[str, Any], tmp: Path) -> tuple[Layer, Accelerator, ScaleSimMemory]:
    """The case as SCALE-Sim would read it: .cfg and one-line topology, read back."""
    cfg, topo, is_gemm = write_case_files(case, tmp)
    net = load_scalesim_topology(topo, gemm_format=is_gemm)
    return net.layers()[0], load_scalesim_config(cfg), ScaleSimMemory.from_cfg(cfg)


def _run(case: dict[str, Any], tmp: Path) -> tuple[int, int, int, int, int]:
    """(total, stall, DRAM ifmap reads, DRAM filter reads, DRAM ofmap writes)."""
    layer, accel, mem = _from_files(case, tmp)
    mapping = scalesim_mapping(layer, accel)
    res = simulate_cycle(layer, accel, mapping, "scalesim", mem).result
    sup = ScaleSimSupply(mem, accel, build_demand(layer, accel, mapping, "scalesim"))
    return (res.total_cycles, res.stall_cycles, sup.ifmap_dram_words, sup.filter_dram_words,
            sup.ofmap_dram_words)


def test_pinned_table_covers_the_user_cases() -> None:
    assert sorted(PINNED) == sorted(_ids(USER)) and len(USER) == 24
    for case in USER:
        assert PINNED[case["id"]][1] == case["compute_cycles"]


@pytest.mark.parametrize("case", USER, ids=_ids(USER))
def test_user_case_total_within_5_percent(case: dict[str, Any], tmp_path: Path) -> None:
    ours, theirs, analytic = PINNED[case["id"]]
    total, stall, ifmap, filt, _ = _run(case, tmp_path)
    assert total == ours
    assert abs(total / theirs - 1) <= 0.05
    assert abs(total / theirs - 1) == 0.0            # what this model reaches: exact
    assert stall == case["stall_cycles"]
    assert (ifmap, filt) == (case["dram_ifmap_reads"], case["dram_filter_reads"])
    # the analytic model (default mapping, tile buffers) for contrast
    layer, accel, _ = _from_files(case, tmp_path)
    assert simulate(layer, accel, timing="scalesim").total_cycles == analytic


@pytest.mark.parametrize("case", RANDOM["cases"], ids=_ids(RANDOM["cases"]))
def test_random_user_cases_exact(case: dict[str, Any], tmp_path: Path) -> None:
    assert _run(case, tmp_path) == (case["compute_cycles"], case["stall_cycles"],
                                    case["dram_ifmap_reads"], case["dram_filter_reads"],
                                    case["dram_ofmap_writes"])


@pytest.mark.parametrize("case", RANDOM["resnet18"], ids=_ids(RANDOM["resnet18"]))
def test_resnet18_user_layers_exact(case: dict[str, Any], tmp_path: Path) -> None:
    assert _run(case, tmp_path) == (case["compute_cycles"], case["stall_cycles"],
                                    case["dram_ifmap_reads"], case["dram_filter_reads"],
                                    case["dram_ofmap_writes"])


def test_random_data_provenance() -> None:
    assert RANDOM["tool"] == "scalesim" and RANDOM["version"] == "3.0.0"
    assert len(RANDOM["cases"]) == 92 and len(RANDOM["resnet18"]) == 9
    stalled = [c for c in RANDOM["cases"] if c["stall_cycles"]]
    assert len(stalled) >= 20                      # the stall paths are exercised
    assert {c["dataflow"] for c in stalled} == {"ws", "os", "is"}


@pytest.mark.parametrize("case", CALC[::25], ids=_ids(CALC[::25]))
def test_calc_cases_never_stall_and_equal_analytic(case: dict[str, Any], tmp_path: Path) -> None:
    layer, accel, mem = _from_files(case, tmp_path)
    assert mem.interface == "CALC"
    mapping = scalesim_mapping(layer, accel)
    res = simulate_cycle(layer, accel, mapping, "scalesim", mem).result
    assert (res.total_cycles, res.stall_cycles) == (case["compute_cycles"], 0)


def test_simulate_picks_scalesim_mapping(tmp_path: Path) -> None:
    case = next(c for c in USER if c["id"] == "user_bw4_ws_8x8_sram2k_g64_32_48")
    layer, accel, mem = _from_files(case, tmp_path)
    res = simulate(Network.chain("n", [layer]), accel, timing="scalesim", fidelity="cycle",
                   memory=mem)
    assert (res.total_cycles, res.stall_cycles) == (3827, 1764)
    assert res.layers[0].mapping == scalesim_mapping(layer, accel).to_dict()


def test_stalls_by_cause(tmp_path: Path) -> None:
    """ws 64x32x48, 2 KiB: the ifmap prefetches are late (dram_read); is 64x32x48 with
    an ofmap drain of 4 words/cycle: the ofmap buffer fills (write_back)."""
    def causes(case_id: str) -> dict[str, int]:
        case = next(c for c in USER if c["id"] == case_id)
        layer, accel, mem = _from_files(case, tmp_path)
        run = simulate_cycle(layer, accel, scalesim_mapping(layer, accel), "scalesim", mem)
        return {k: v for k, v in run.stall_by_cause().items() if v}

    assert causes("user_bw4_ws_8x8_sram2k_g64_32_48") == {"dram_read": 1764}
    assert causes("user_bw4_is_8x8_sram2k_g64_32_48") == {"write_back": 331}


def test_fetch_and_demand_orders_tiny() -> None:
    """GEMM M=3, N=2, K=2 on a 2x2 ws array: ifmap addresses p*K + t, filter t + T*n.

    The ifmap is fetched along anti-diagonals of its one fold (3x2), each from its
    lowest row: 0 | 2 1 | 4 3 | 5; the filter fold row by row: 0 2 1 3. The ifmap
    demand is the fold skewed one line per lane after R = 2 preload lines."""
    ifmap, filt, ofmap = operand_matrices(gemm("g", M=3, N=2, K=2))
    assert ifmap.tolist() == [[0, 1], [2, 3], [4, 5]]
    assert filt.tolist() == [[0, 2], [1, 3]]
    fi, ff = fetch_orders("ws", ifmap, filt, 2, 2)
    assert fi.tolist() == [0, 2, 1, 4, 3, 5] and ff.tolist() == [0, 2, 1, 3]
    (li, lf, lo), = fold_lines("ws", ifmap, filt, ofmap, 2, 2)
    assert len(li) == len(lf) == len(lo) == 2 * 2 + 2 + 3 - 2
    assert li.tolist() == [[-1, -1], [-1, -1], [0, -1], [2, 1], [4, 3], [-1, 5], [-1, -1]]
    assert lf.tolist()[:2] == [[1, 3], [0, 2]]               # filter rows bottom-up
    assert (lo >= 0).sum() == 6


def test_errors(tmp_path: Path) -> None:
    case = USER[0]
    layer, accel, mem = _from_files(case, tmp_path)
    mapping = scalesim_mapping(layer, accel)
    with pytest.raises(MemoryModelError, match=r"^ScaleSimMemory reproduces SCALE-Sim: use "
                                               r"timing='scalesim'$"):
        simulate_cycle(layer, accel, mapping, "native", mem)
    other = replace(mapping, order=(mapping.order[0], mapping.order[1],
                                    ("C", "K", "G", "N", "P", "Q", "R", "S")))
    with pytest.raises(MemoryModelError, match=r"own fold order; use "
                                               r"sim.cycle.scalesim_mapping"):
        simulate_cycle(layer, accel, other, "scalesim", mem)
    with pytest.raises(MemoryModelError, match=r"SCALE-Sim words are 8-bit, the layer is "
                                               r"4/8/8-bit$"):
        low = layer.with_precision(input_bits=4)
        simulate_cycle(low, accel, scalesim_mapping(low, accel), "scalesim", mem)
    with pytest.raises(MemoryModelError, match=r"^ifmap_bank_bandwidth must be a positive "
                                               r"integer \(words/cycle\), not 0$"):
        ScaleSimMemory(ifmap_bank_bandwidth=0)
    with pytest.raises(MemoryModelError, match=r"^interface must be 'USER' or 'CALC', "
                                               r"not 'AUTO'$"):
        ScaleSimMemory(interface="AUTO")
    bad = tmp_path / "bad.cfg"
    bad.write_text("[layout]\nIfmapSRAMBankBandwidth: ten\n")
    with pytest.raises(MemoryModelError, match=r"bad.cfg: \[layout\] IfmapSRAMBankBandwidth "
                                               r"must be an integer, not 'ten'$"):
        ScaleSimMemory.from_cfg(bad)
    with pytest.raises(MemoryModelError, match=r"^SCALE-Sim has ws/os/is dataflows, not 'rs'$"):
        scalesim_mapping(layer, replace(accel, dataflow="rs"))
    assert not math.isinf(accel.dram.write_bytes_per_cycle)
