"""YAML specs: the shipped ones load, dump/load round-trips, and every error is one line
naming the file and the field."""

from __future__ import annotations

import math
import re
from dataclasses import replace
from pathlib import Path

import pytest

from sim.energy import DEFAULT_MULT_PJ, EnergyTable
from sim.spec import Accelerator, Buffer, PEConfig, SpecError
from sim.spec_io import (DEFAULT_SPEC, SPECS_DIR, accelerator_from_dict, dump_accelerator,
                         load_accelerator, shipped_specs)

SHIPPED = ["edge_4x4_ws_bitfusion", "edge_4x4_ws_bitserial", "edge_4x4_ws_sparse24",
           "edge_8x8_ws", "edge_npu_16x16_ws", "edge_npu_4x4_ws_ecp5", "edge_npu_8x8_ws_ecp5",
           "eyeriss_12x14_rs", "gemmini_16x16_ws", "os_32x32", "scalesim_32x32_ws",
           "tpu1_256x256_ws", "tpu_128x128_ws"]  # sources: tests/sim/test_shipped_specs.py

MINIMAL = "name: t\narray: {rows: 8, cols: 8}\n"


def _write(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _load_error(tmp_path: Path, text: str) -> str:
    """Load ``text`` as a spec file; return the one-line error (file name stripped)."""
    path = _write(tmp_path, text)
    with pytest.raises(SpecError) as info:
        load_accelerator(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: "), message
    return _without_line(message[len(f"{path}: "):], text)


def _without_line(message: str, text: str) -> str:
    """``message`` without the ``" (line N)"`` the loader adds; line N of ``text`` must
    hold a key the message names (its key path's parts, or the unknown key)."""
    m = re.search(r" \(line (\d+)\)", message)
    if m is None:
        return message
    line = text.splitlines()[int(m.group(1)) - 1]
    head = message.split(" must ")[0].split(" is required")[0]
    names = re.findall(r"[A-Za-z_]\w*", head.split("; allowed")[0])
    assert any(n in line for n in names if n not in ("top", "level", "unknown", "key")), \
        (message, line)
    return message[:m.start()] + message[m.end():]


# -- shipped specs ----------------------------------------------------------------------
def test_shipped_spec_names() -> None:
    assert shipped_specs() == SHIPPED
    assert DEFAULT_SPEC in SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_spec_loads(name: str) -> None:
    by_name = load_accelerator(name)
    by_path = load_accelerator(SPECS_DIR / f"{name}.yaml")
    assert by_name == by_path
    assert by_name.name == name
    assert by_name.description


def test_shipped_spec_values() -> None:
    edge = load_accelerator("edge_8x8_ws")
    assert (edge.rows, edge.cols, edge.dataflow, edge.clock_mhz) == (8, 8, "ws", 200.0)
    assert edge.glb[0].double_buffered and edge.glb[0].capacity_bytes == 65536
    assert edge.dram.read_bytes_per_cycle == 16.0
    eyeriss = load_accelerator("eyeriss_12x14_rs")
    assert (eyeriss.rows, eyeriss.cols, eyeriss.dataflow) == (12, 14, "rs")
    assert eyeriss.pe.operand_bits == 16 and eyeriss.rf.capacity_bytes == 512
    tpu = load_accelerator("tpu_128x128_ws")
    assert [b.name for b in tpu.glb] == ["weight_buf", "act_buf"]
    assert tpu.glb_for("output").name == "act_buf"
    scalesim = load_accelerator("scalesim_32x32_ws")
    assert scalesim.dram.read_bytes_per_cycle == math.inf  # CALC: SCALE-Sim never stalls


@pytest.mark.parametrize("name", SHIPPED)
def test_dump_load_round_trip(name: str, tmp_path: Path) -> None:
    accel = load_accelerator(name)
    again = load_accelerator(_write(tmp_path, dump_accelerator(accel)))
    assert again == accel
    assert again.spec_hash == accel.spec_hash


def test_round_trip_of_python_built_spec(tmp_path: Path) -> None:
    accel = Accelerator(
        name="custom", rows=3, cols=5, dataflow="os", clock_mhz=333.5,
        pe=PEConfig(operand_bits=16, accumulator_bits=40, product_register=True),
        rf=Buffer("rf", capacity_bytes=64, word_bits=16, access_pj=0.25),
        glb=(Buffer("w", operands=("weight",), capacity_bytes=4096, double_buffered=True),
             Buffer("io", operands=("output", "input"), capacity_bytes=8192,
                    read_bytes_per_cycle=12.5)),
        dram=Buffer("dram", word_bits=32, read_bytes_per_cycle=3.0),
        energy=EnergyTable(mult_pj=dict(DEFAULT_MULT_PJ) | {16: 1.0}, dram_pj_per_bit=7.0),
        description="built in Python")
    assert load_accelerator(_write(tmp_path, dump_accelerator(accel))) == accel


def test_from_dict_prefixes_source() -> None:
    accel = accelerator_from_dict({"name": "t", "array": {"rows": 2, "cols": 3}})
    assert (accel.rows, accel.cols) == (2, 3)
    with pytest.raises(SpecError, match=r"^mine: array\.rows must be a positive integer, "
                                        r"not 0$"):
        accelerator_from_dict({"name": "t", "array": {"rows": 0, "cols": 3}}, source="mine")


def test_single_glb_mapping_is_accepted(tmp_path: Path) -> None:
    path = _write(tmp_path, MINIMAL + "glb: {name: g, capacity_bytes: 1024}\n")
    assert [b.name for b in load_accelerator(path).glb] == ["g"]


def test_glb_default_names(tmp_path: Path) -> None:
    path = _write(tmp_path, MINIMAL + "glb:\n  - {operands: [weight], capacity_bytes: 64}\n"
                                      "  - {operands: [input, output], capacity_bytes: 64}\n")
    assert [b.name for b in load_accelerator(path).glb] == ["glb0", "glb1"]


def test_energy_mult_pj_merges_with_defaults(tmp_path: Path) -> None:
    path = _write(tmp_path, MINIMAL + "energy: {mult_pj: {8: 0.5}, dram_pj_per_bit: 10}\n")
    energy = load_accelerator(path).energy
    assert energy.mult_pj == DEFAULT_MULT_PJ | {8: 0.5}
    assert energy.dram_pj_per_bit == 10


def test_ints_accepted_for_float_fields(tmp_path: Path) -> None:
    path = _write(tmp_path, MINIMAL + "dram: {read_bytes_per_cycle: 8}\nclock_mhz: 100\n")
    accel = load_accelerator(path)
    assert accel.dram.read_bytes_per_cycle == 8.0 and accel.clock_mhz == 100


# -- errors: one line, file and field named ---------------------------------------------
def test_missing_file() -> None:
    with pytest.raises(SpecError, match=r"^no/such\.yaml: no such file; give a YAML path or "
                                        r"one of \['edge_4x4_ws_bitfusion', .*'tpu_128x128_ws'\]$"):
        load_accelerator("no/such.yaml")


def test_unknown_bare_name() -> None:
    with pytest.raises(SpecError, match=r"^edge_9x9: no such file"):
        load_accelerator("edge_9x9")


def test_unknown_top_level_key(tmp_path: Path) -> None:
    msg = _load_error(tmp_path, MINIMAL + "colour: red\n")
    assert re.fullmatch(r"top level: unknown key 'colour'; allowed keys: \['name', "
                        r"'description', 'dataflow', 'array', .*\]", msg), msg


def test_unknown_nested_key(tmp_path: Path) -> None:
    msg = _load_error(tmp_path, MINIMAL + "glb:\n  - {name: g, capacity_bytes: 1024, "
                                          "colour: red}\n")
    assert re.fullmatch(r"glb\[0\]: unknown key 'colour'; allowed keys: \['name', "
                        r"'operands', 'capacity_bytes', .*\]", msg), msg


@pytest.mark.parametrize("section, text, where", [
    ("array", "array: {rows: 8, cols: 8, depth: 2}", "array"),
    ("pe", "pe: {operand_bits: 8, accumulator_bits: 32, pipeline: 2}", "pe"),
    ("rf", "rf: {capacity_bytes: 4, colour: red}", "rf"),
    ("dram", "dram: {word_bits: 64, colour: red}", "dram"),
    ("energy", "energy: {sram_pj: 1}", "energy"),
])
def test_unknown_key_in_each_section(tmp_path: Path, section: str, text: str,
                                     where: str) -> None:
    array = "" if section == "array" else "array: {rows: 8, cols: 8}\n"
    body = "name: t\n" + text + "\n" + array
    msg = _load_error(tmp_path, body)
    assert msg.startswith(f"{where}: unknown key "), msg


def test_second_glb_unknown_key_names_index(tmp_path: Path) -> None:
    msg = _load_error(tmp_path, MINIMAL + "glb:\n  - {name: a, operands: [weight], "
                                          "capacity_bytes: 64}\n"
                                          "  - {name: b, operands: [input, output], "
                                          "capacity_bytes: 64, size: 3}\n")
    assert msg.startswith("glb[1]: unknown key 'size'"), msg


def test_duplicate_top_level_key(tmp_path: Path) -> None:
    msg = _load_error(tmp_path, MINIMAL + "array: {rows: 4, cols: 4}\n")
    assert msg == "array: duplicate key 'array' at line 3 (first given at line 2); keep one"


def test_duplicate_nested_key(tmp_path: Path) -> None:
    msg = _load_error(tmp_path, "name: t\narray: {rows: 8, rows: 4, cols: 8}\n")
    assert msg == "array.rows: duplicate key 'rows' at line 2 (first given at line 2); keep one"


def test_rows_wrong_type(tmp_path: Path) -> None:
    msg = _load_error(tmp_path, 'name: t\narray: {rows: "8", cols: 8}\n')
    assert msg == "array.rows must be a positive integer, not '8'"


@pytest.mark.parametrize("rows", [0, -1])
def test_rows_not_positive(tmp_path: Path, rows: int) -> None:
    msg = _load_error(tmp_path, f"name: t\narray: {{rows: {rows}, cols: 8}}\n")
    assert msg == f"array.rows must be a positive integer, not {rows}"


def test_rows_too_large(tmp_path: Path) -> None:
    msg = _load_error(tmp_path, "name: t\narray: {rows: 1025, cols: 8}\n")
    assert msg == "array.rows must be <= 1024, not 1025"


def test_cols_missing(tmp_path: Path) -> None:
    msg = _load_error(tmp_path, "name: t\narray: {rows: 8}\n")
    assert msg == "array.cols is required (a positive integer)"


@pytest.mark.parametrize("text, expected", [
    ("array: {rows: 8, cols: 8}\n", "missing required key 'name'"),
    ("name: t\n", "missing required key 'array'"),
    ("", "empty file; give a YAML spec (schema in sim/spec_io.py)"),
    ("- 1\n- 2\n", "the top level must be a mapping of keys to values, not a list; give a "
                   "YAML spec (schema in sim/spec_io.py)"),
    ("name: t\narray: [8, 8]\n", "array must be a mapping of keys to values, not list"),
    ("name: 7\narray: {rows: 8, cols: 8}\n", "name must be a string, not 7"),
    (MINIMAL + "glb: []\n", "glb must be a buffer mapping or a non-empty list of them, "
                           "not []"),
    (MINIMAL + "glb: {name: g, capacity_bytes: 1024, word_bits: 8.5}\n",
     "glb[0].word_bits must be an integer, not 8.5"),
    (MINIMAL + "glb: {name: g, capacity_bytes: 1024, double_buffered: 'yes'}\n",
     "glb[0].double_buffered must be true or false, not 'yes'"),
    (MINIMAL + "glb: {name: g, capacity_bytes: 1024, operands: weight}\n",
     "glb[0].operands must be a list of names, not 'weight'"),
    (MINIMAL + "glb: {name: g, capacity_bytes: -4}\n",
     "glb[0]: capacity_bytes must be an integer >= 0, not -4"),
    (MINIMAL + "dram: {read_bytes_per_cycle: fast}\n",
     "dram.read_bytes_per_cycle must be a number, not 'fast'"),
    (MINIMAL + "dram: {read_bytes_per_cycle: 0}\n",
     "dram: read_bytes_per_cycle must be a number > 0 (.inf for unlimited), not 0.0"),
    (MINIMAL + "pe: {operand_bits: 8, product_register: 1}\n",
     "pe.product_register must be true or false, not 1"),
    (MINIMAL + "clock_mhz: .inf\n", "clock_mhz must be a finite number, not inf"),
    (MINIMAL + "energy: {mult_pj: {8: -1}}\n",
     "energy.mult_pj entries must be <bits>: <pJ >= 0>, got 8: -1"),
])
def test_field_errors(tmp_path: Path, text: str, expected: str) -> None:
    assert _load_error(tmp_path, text) == expected


def test_malformed_yaml(tmp_path: Path) -> None:
    msg = _load_error(tmp_path, "name: t\narray: {rows: 8, cols: 8\n")
    assert re.fullmatch(r"malformed YAML at line 3, column 1: .+; give a YAML spec "
                        r"\(schema in sim/spec_io\.py\)", msg), msg


def test_malformed_yaml_tab(tmp_path: Path) -> None:
    msg = _load_error(tmp_path, "name: t\narray:\n\trows: 8\n")
    assert msg.startswith("malformed YAML at line 3"), msg


def test_operand_held_by_two_buffers(tmp_path: Path) -> None:
    msg = _load_error(tmp_path, MINIMAL + "glb:\n  - {name: a, capacity_bytes: 1024}\n"
                                          "  - {name: b, operands: [weight], "
                                          "capacity_bytes: 1024}\n")
    assert msg == "glb: operand 'weight' must be held by exactly one buffer, found ['a', 'b']"


def test_operand_held_by_no_buffer(tmp_path: Path) -> None:
    msg = _load_error(tmp_path, MINIMAL + "glb:\n  - {name: a, operands: [input, output], "
                                          "capacity_bytes: 1024}\n")
    assert msg == "glb: operand 'weight' must be held by exactly one buffer, found none"


def test_accumulator_too_narrow(tmp_path: Path) -> None:
    msg = _load_error(tmp_path, MINIMAL + "pe: {operand_bits: 16, accumulator_bits: 24}\n")
    assert msg == ("pe.accumulator_bits (24) must be at least 2 x operand_bits (32) "
                   "to hold one product")


def test_bad_dataflow(tmp_path: Path) -> None:
    msg = _load_error(tmp_path, MINIMAL + "dataflow: xs\n")
    assert msg == "dataflow must be one of ['is', 'os', 'rs', 'ws'], not 'xs'"


def test_bad_operand_name(tmp_path: Path) -> None:
    msg = _load_error(tmp_path, MINIMAL + "glb: {name: g, capacity_bytes: 64, "
                                          "operands: [weight, inputs, output]}\n")
    assert msg == ("glb[0]: operands must be distinct names from ['weight', 'input', "
                   "'output'], not ['weight', 'inputs', 'output']")


def test_energy_bool_rejected(tmp_path: Path) -> None:
    msg = _load_error(tmp_path, MINIMAL + "energy: {add_pj_per_bit: true}\n")
    assert msg.startswith("energy.add_pj_per_bit must be a number")


def test_replace_of_loaded_spec_keeps_validation() -> None:
    accel = load_accelerator("edge_8x8_ws")
    with pytest.raises(SpecError, match=r"^array\.cols must be <= 1024, not 4096$"):
        replace(accel, cols=4096)


def test_binary_file_is_a_spec_error(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_bytes(b"\xff\xfename: t\n")
    with pytest.raises(SpecError, match=rf"^{re.escape(str(path))}: "):
        load_accelerator(path)


# -- PE mode and sparse engine sections --------------------------------------------------
@pytest.mark.parametrize("section,message", [
    ({"pe": {"mode": "serial"}}, "pe.mode must be one of ['fixed', 'bitfusion', 'bitserial']"),
    ({"sparse": {"policy": "gate"}}, "sparse.policy must be one of"),
    ({"sparse": {"policy": "skipping", "format": "coo"}}, "sparse.format must be one of"),
    ({"sparse": {"format": "csr"}}, "needs a sparse policy"),
    ({"sparse": {"policy": "gating", "operands": ["output"]}}, "sparse.operands must be"),
    ({"sparse": {"policy": "gating", "bogus": 1}}, "sparse: unknown key 'bogus'"),
    ({"sparse": {"policy": "skipping", "format": "nm", "nm_n": 4, "nm_m": 4}},
     "sparse.nm_n must be below sparse.nm_m"),
    ({"sparse": {"policy": "skipping", "rle_run_bits": 0}}, "sparse.rle_run_bits must be"),
])
def test_pe_mode_and_sparse_sections_are_validated(section, message):
    from sim.spec_io import accelerator_from_dict
    with pytest.raises(SpecError, match=re.escape(message)):
        accelerator_from_dict({"name": "x", "array": {"rows": 2, "cols": 2}, **section})


def test_pe_mode_and_sparse_round_trip():
    import yaml
    from sim.spec_io import accelerator_from_dict, dump_accelerator
    a = accelerator_from_dict({"name": "x", "array": {"rows": 2, "cols": 2},
                               "pe": {"mode": "bitfusion"},
                               "sparse": {"policy": "skipping", "format": "nm",
                                          "operands": ["weight", "input"], "nm_n": 1,
                                          "nm_m": 8, "rle_run_bits": 3}})
    assert (a.sparse.nm_n, a.sparse.nm_m, a.sparse.rle_run_bits) == (1, 8, 3)
    assert a.pe.mode == "bitfusion" and a.sparse.operands == ("weight", "input")
    assert accelerator_from_dict(yaml.safe_load(dump_accelerator(a))) == a
