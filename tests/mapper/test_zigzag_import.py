"""ZigZag accelerator descriptions -> coforge specs (mapper.zigzag_import).

Uses the copy of ZigZag 3.9.1's shipped ``tpu_like`` hardware and mapping files in
tests/data/zigzag/ (see its README); ZigZag itself is not needed.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from dataflows.zoo import load
from mapper.zigzag_import import (
    ZigzagImportError,
    convert_zigzag,
    load_zigzag,
    zigzag_to_accelerator,
    zoo_layer_name,
)
from sim import default_mapping, evaluate
from sim.spec_io import accelerator_from_dict, dump_accelerator

DATA = Path(__file__).resolve().parents[1] / "data" / "zigzag"
HW = DATA / "tpu_like.yaml"
MAPPING = DATA / "tpu_like_mapping.yaml"


def _hw() -> dict[str, Any]:
    return yaml.safe_load(HW.read_text())


def _mapping() -> list[dict[str, Any]]:
    return yaml.safe_load(MAPPING.read_text())


def test_tpu_like_array_and_dataflow() -> None:
    accel = zigzag_to_accelerator(HW, MAPPING)
    # D1 carries K (columns), D2 carries C (rows): a 32x32 weight-stationary array.
    assert (accel.rows, accel.cols, accel.dataflow) == (32, 32, "ws")
    assert (accel.pe.operand_bits, accel.pe.accumulator_bits) == (8, 16)
    assert accel.name == "zigzag_tpu_like"


def test_tpu_like_memories() -> None:
    conv = load_zigzag(HW, MAPPING)
    accel = conv.accelerator
    assert conv.level_of == {"rf_128B": "pe", "rf_2B": "pe", "sram_2MB": "glb",
                             "dram": "dram"}
    assert conv.links == {"weight": "I2", "input": "I1", "output": "O"}
    # rf: the per-PE weight register, 1024 bits, one 8-bit port each way.
    assert (accel.rf.name, accel.rf.capacity_bytes, accel.rf.word_bits) == ("rf_128B", 128, 8)
    assert accel.rf.read_bytes_per_cycle == accel.rf.write_bytes_per_cycle == 1
    # The 2 MiB SRAM holds inputs and outputs; weights bypass it (DRAM -> rf_128B) and
    # get a pass-through buffer: the 1024 registers together, costing nothing.
    act = accel.glb_for("input")
    assert act is accel.glb_for("output")
    assert (act.name, act.capacity_bytes, act.word_bits) == ("sram_2MB", 2 * 1024 * 1024, 2048)
    assert act.read_bytes_per_cycle == act.write_bytes_per_cycle == 256
    assert act.double_buffered
    wbuf = accel.glb_for("weight")
    assert (wbuf.name, wbuf.capacity_bytes, wbuf.access_pj) == ("rf_128B_x1024", 131072, 0.0)
    assert wbuf.write_bytes_per_cycle == 1024
    # DRAM: one shared 64-bit port.
    assert accel.dram.read_bytes_per_cycle == accel.dram.write_bytes_per_cycle == 8
    assert accel.dram.word_bits == 64


def test_energy_tables_agree() -> None:
    """Each coforge level's pJ/bit equals ZigZag's (mean of r_cost, w_cost) / port width,
    and a coforge MAC costs ZigZag's unit_energy exactly."""
    conv = load_zigzag(HW, MAPPING)
    accel = conv.accelerator
    mems = {m.name: m for m in conv.memories}
    zz_pj_per_bit = {n: (m.r_cost_pj + m.w_cost_pj) / 2 / m.read_bits for n, m in mems.items()}
    assert accel.rf.pj_per_bit() == pytest.approx(zz_pj_per_bit["rf_128B"], rel=1e-12)
    assert accel.glb_for("input").pj_per_bit() == pytest.approx(zz_pj_per_bit["sram_2MB"],
                                                                rel=1e-12)
    assert accel.energy.dram_pj_per_bit == pytest.approx(zz_pj_per_bit["dram"], rel=1e-12)
    assert accel.energy.dram_pj_per_bit == pytest.approx(725 / 64)
    assert accel.energy.mac_pj(8, 16) == pytest.approx(0.04, rel=1e-12)
    assert accel.energy.mac_pj(4, 16) == pytest.approx(0.04, rel=1e-12)


def test_notes_name_every_approximation() -> None:
    notes = "\n".join(load_zigzag(HW, MAPPING).notes)
    assert "memories.sram_2MB.ports (lines 67 and 74) is given twice" in notes
    assert "r_cost 416.16 and w_cost 378.4 pJ become one access cost of 397.28 pJ" in notes
    assert "rf_2B" in notes and "I1 has no per-PE memory" in notes
    assert "pass-through GLB 'rf_128B_x1024'" in notes
    assert "read_write port" in notes and "systolic_dimensions" in notes


def test_converted_spec_is_a_valid_coforge_yaml_spec() -> None:
    accel = zigzag_to_accelerator(HW, MAPPING)
    again = accelerator_from_dict(yaml.safe_load(dump_accelerator(accel)), "roundtrip")
    assert again == accel and again.spec_hash == accel.spec_hash


def test_converted_spec_runs_resnet18_layers() -> None:
    accel = zigzag_to_accelerator(HW, MAPPING)
    layer = load("resnet18")["layer3.0.conv2"]
    res = evaluate(layer, accel, default_mapping(layer, accel))
    assert res.energy_pj_by_level["mac"] == pytest.approx(0.04 * layer.macs)


def test_hardware_dataflows_section_without_mapping() -> None:
    hw = _hw()
    hw["dataflows"] = {"D1": ["K, 32"], "D2": ["C, 32"]}
    assert convert_zigzag(hw).accelerator.dataflow == "ws"


def test_output_stationary_hint_uses_the_output_register() -> None:
    mapping = _mapping()
    mapping[0]["spatial_mapping"] = {"D1": ["K, 32"], "D2": ["OX, 32"]}
    accel = convert_zigzag(_hw(), mapping).accelerator
    assert accel.dataflow == "os"
    assert (accel.rf.name, accel.rf.capacity_bytes, accel.rf.operands) == \
        ("rf_2B", 2, ("output",))


def _mutated(change: str) -> tuple[dict[str, Any], list[dict[str, Any]] | None]:
    hw, mp = _hw(), _mapping()
    mems = hw["memories"]
    if change == "4d":
        hw["operational_array"]["dimensions"] = ["D1", "D2", "D3", "D4"]
        hw["operational_array"]["sizes"] = [8, 8, 4, 4]
    elif change == "imc":
        hw["operational_array"]["is_imc"] = True
    elif change == "partial_served":
        mems["rf_2B"]["served_dimensions"] = ["D2"]
    elif change == "mixed_unroll":
        mp[0]["spatial_mapping"]["D1"] = ["K, 8", "C, 4"]
    elif change == "group_unroll":
        mp[0]["spatial_mapping"]["D1"] = ["G, 32"]
    elif change == "same_class":
        mp[0]["spatial_mapping"] = {"D1": ["K, 32"], "D2": ["K, 32"]}
    elif change == "cacti":
        mems["sram_2MB"]["auto_cost_extraction"] = True
    elif change == "unknown_key":
        mems["dram"]["r_bw"] = 64
    elif change == "odd_size":
        mems["rf_2B"]["size"] = 12
    elif change == "latency":
        mems["sram_2MB"]["latency"] = 0
    elif change == "latency_text":
        mems["sram_2MB"]["latency"] = "2"
    elif change == "two_glb":
        extra = copy.deepcopy(mems["sram_2MB"])
        extra["operands"] = ["I1"]
        extra["ports"] = [p for p in extra["ports"]]
        for p in extra["ports"]:
            p["allocation"] = [a for a in p["allocation"] if a.startswith("I1")]
        hw["memories"] = {"rf_128B": mems["rf_128B"], "rf_2B": mems["rf_2B"],
                          "sram_64KB": extra, "sram_2MB": mems["sram_2MB"],
                          "dram": mems["dram"]}
    elif change == "no_hint":
        mp = None
    elif change == "is_without_input_register":
        mp[0]["spatial_mapping"] = {"D1": ["OX, 32"], "D2": ["C, 32"]}
    elif change == "top_not_shared":
        mems["dram"]["operands"] = ["I1", "O"]
    elif change == "no_r_cost":
        del mems["rf_128B"]["r_cost"]
    return hw, mp


@pytest.mark.parametrize("change, match", [
    ("4d", r"operational_array\.dimensions: coforge arrays are 2-D .* not 4-D"),
    ("imc", r"operational_array\.is_imc"),
    ("partial_served", r"memories\.rf_2B\.served_dimensions: \['D2'\] shares one instance"),
    ("mixed_unroll", r"spatial_mapping\.D1: coforge unrolls exactly one layer dimension"),
    ("group_unroll", r"spatial_mapping\.D1: unrolling 'G' has no coforge counterpart"),
    ("same_class", r"unrolling K on D1 and K on D2 matches no coforge dataflow"),
    ("cacti", r"memories\.sram_2MB\.auto_cost_extraction"),
    ("unknown_key", r"memories\.dram: unknown key 'r_bw'"),
    ("odd_size", r"memories\.rf_2B\.size must be a positive whole number of bytes .* not 12"),
    ("latency", r"memories\.sram_2MB\.latency must be an integer number of cycles >= 1 .* "
                r"not 0"),
    ("latency_text", r"memories\.sram_2MB\.latency must be an integer .* not '2'"),
    ("two_glb", r"memories\.sram_2MB: inputs have two global levels \(sram_64KB, sram_2MB\)"),
    ("no_hint", r"no spatial unrolling given"),
    ("is_without_input_register", r"dataflow 'is' keeps inputs in the PEs, but no memory"),
    ("top_not_shared", r"the top memory must hold every operand"),
    ("no_r_cost", r"memories\.rf_128B\.r_cost must be a number >= 0, not None"),
])
def test_unrepresentable_descriptions_raise_one_line(change: str, match: str) -> None:
    hw, mp = _mutated(change)
    with pytest.raises(ZigzagImportError, match=match) as err:
        convert_zigzag(hw, mp, source="tpu_like.yaml", mapping_source="tpu_like_mapping.yaml")
    assert "\n" not in str(err.value)


def test_a_memory_latency_is_noted_and_changes_nothing() -> None:
    """ZigZag 3.9.1's cost model never reads a memory's ``latency`` (``MemoryInstance``
    keeps it for ``__eq__`` only; its shipped generic_array_cacti gives its DRAM 10), so
    both imports accept any whole latency >= 1, note it, and give the figures of latency
    1: the same spec and the same hierarchy."""
    from mapper.zigzag_import import convert_zigzag_hierarchy
    hw = _hw()
    slow = copy.deepcopy(hw)
    slow["memories"]["sram_2MB"]["latency"] = 10
    base, noted = convert_zigzag(hw, _mapping()), convert_zigzag(slow, _mapping())
    assert noted.accelerator == base.accelerator
    new = [n for n in noted.notes if n not in base.notes]
    assert len(new) == 1 and "memories.sram_2MB: latency 10 is not represented" in new[0]
    hb, hn = convert_zigzag_hierarchy(hw, _mapping()), convert_zigzag_hierarchy(slow, _mapping())
    assert hn.hierarchy == hb.hierarchy
    assert [n for n in hn.notes if n not in hb.notes] == new


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nmemories: [\n")
    with pytest.raises(ZigzagImportError, match=r"bad\.yaml: malformed YAML at line"):
        load_zigzag(bad, MAPPING)
    with pytest.raises(ZigzagImportError, match=r"missing\.yaml: no such file; give a ZigZag "):
        load_zigzag(tmp_path / "missing.yaml", MAPPING)


def test_errors_are_coforge_errors() -> None:
    from dataflows.errors import CoforgeError
    assert issubclass(ZigzagImportError, CoforgeError)
    assert not math.isnan(zigzag_to_accelerator(HW, MAPPING).energy.dram_pj_per_bit)


@pytest.mark.parametrize("node, name", [
    ("/conv1/Conv", "conv1"),
    ("/layer1/layer1.0/conv2/Conv", "layer1.0.conv2"),
    ("/layer2/layer2.0/downsample/downsample.0/Conv", "layer2.0.downsample"),
    ("/fc/Gemm", "fc"),
])
def test_zoo_layer_name(node: str, name: str) -> None:
    assert zoo_layer_name(node) == name
    assert load("resnet18")[name].name == name


def test_zoo_layer_name_rejects_other_names() -> None:
    with pytest.raises(ZigzagImportError, match=r"layer 'Conv_3': not a '/module/\.\.\./Op'"):
        zoo_layer_name("Conv_3")
