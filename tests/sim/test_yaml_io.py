"""The one YAML loader (:mod:`sim.yaml_io`) and the spec schema (:mod:`sim.spec_schema`):
every YAML kind coforge reads -- spec, layer config, design space, ZigZag description --
refuses (or, for ZigZag, reports) duplicate keys at any depth with the key path and the
lines, lists the allowed keys of an unknown one, and turns bad UTF-8, an empty file, a
non-mapping top level and parse errors into one line; through the CLI each is
``coforge: error: ...`` with exit status 2.

Expected texts and line/column numbers are written by hand from the YAML in each case.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mapper.cli import main
from mapper.hw_space import HardwareSpaceError, load_hw_space
from mapper.zigzag_import import ZigzagImportError, load_zigzag
from sim.layer_config import LayerConfigError, load_layer_config
from sim.spec import SpecError
from sim.spec_io import SPECS_DIR, accelerator_from_dict, dump_accelerator, load_accelerator
from sim.yaml_io import (Duplicate, YamlDocument, YamlError, key_path, loads_yaml,
                         parse_key_path, read_yaml, read_yaml_document, read_yaml_last_wins)

DATA = Path(__file__).parents[1] / "data" / "zigzag"
SPEC = "name: t\narray: {rows: 8, cols: 8}\n"
SPACE = "base: edge_8x8_ws\nparameters: {rows: [4, 8]}\n"


def _write(tmp_path: Path, text: str | bytes, name: str = "f.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def _cli_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """Run the CLI in-process; assert exit 2 and one ``coforge: error:`` line; return it
    without that prefix."""
    try:
        rc = main(argv)
    except SystemExit as exit_:
        rc = exit_.code                              # type: ignore[assignment]
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1, (rc, err)
    assert lines[0].startswith("coforge: error: "), lines[0]
    return lines[0][len("coforge: error: "):]


# -- the loader itself -----------------------------------------------------------------------
def test_key_path() -> None:
    assert key_path(("memory", "glb", 1, "capacity_bytes")) == "memory.glb[1].capacity_bytes"
    assert key_path(("energy", "mult_pj", 8)) == "energy.mult_pj[8]"
    assert key_path(("layers", "layer1.0.conv1", "prune")) == "layers['layer1.0.conv1'].prune"
    assert key_path(()) == ""


@pytest.mark.parametrize("loc", [("memory", "glb", 1, "capacity_bytes"),
                                 ("energy", "mult_pj", 8), ("layers", "layer1.*", "prune"),
                                 ("a",), ("x", 0, 1, "y")])
def test_parse_key_path_inverts_key_path(loc: tuple[object, ...]) -> None:
    assert parse_key_path(key_path(loc)) == loc


def test_locate_adds_the_line_of_the_key_an_error_names(tmp_path: Path) -> None:
    text = ("name: t\narray:\n  rows: 0\nglb:\n  - {name: a}\n  - name: b\n"
            "    size: 3\nlayers:\n  layer1.0: {x: 1}\ncolour: red\n")
    d: YamlDocument = read_yaml_document(_write(tmp_path, text))
    assert d.locate("array.rows must be a positive integer, not 0") == \
        "array.rows must be a positive integer, not 0 (line 3)"
    assert d.locate("array.cols is required") == "array.cols is required (line 2)"
    assert d.locate("glb[1]: unknown key 'size'; allowed keys: ['name'] (+1 more)") == \
        "glb[1]: unknown key 'size'; allowed keys: ['name'] (line 7) (+1 more)"
    assert d.locate("glb[1]: name must differ") == "glb[1]: name must differ (line 6)"
    assert d.locate("top level: unknown key 'colour'; allowed keys: []") == \
        "top level: unknown key 'colour'; allowed keys: [] (line 10)"
    assert d.locate("layers['layer1.0'].x must be 2") == "layers['layer1.0'].x must be 2 (line 9)"
    for unchanged in ("missing required key 'name'", "the spec must be a mapping",
                      "vector.lanes must be 4", "top level: odd"):
        assert d.locate(unchanged) == unchanged


@pytest.mark.parametrize("text, path, line, first", [
    ("a: 1\nb: 2\na: 3\n", "a", 3, 1),                                   # top level
    ("a:\n  b: 1\n  c: 2\n  b: 3\n", "a.b", 4, 2),                        # depth 2
    ("a:\n  - {x: 1}\n  - {x: 1, y: 2, x: 3}\n", "a[1].x", 3, 3),         # in a list
    ("a:\n  b:\n    - c:\n        d: 1\n        d: 2\n", "a.b[0].c.d", 5, 4),  # depth 4
    ("m:\n  8: 1\n  8: 2\n", "m[8]", 3, 2),                               # integer keys
])
def test_duplicate_keys_at_any_depth(tmp_path: Path, text: str, path: str, line: int,
                                     first: int) -> None:
    p = _write(tmp_path, text)
    key = path.rsplit(".", 1)[-1].split("[")[0] if not path.endswith("]") else 8
    with pytest.raises(YamlError) as info:
        read_yaml(p)
    assert str(info.value) == (f"{p}: {path}: duplicate key {key!r} at line {line} (first "
                               f"given at line {first}); keep one")


def test_equal_keys_of_different_types_are_not_duplicates(tmp_path: Path) -> None:
    assert read_yaml(_write(tmp_path, "8: a\n'8': b\n")) == {8: "a", "8": "b"}


def test_aliases_and_merge_keys_are_not_duplicates(tmp_path: Path) -> None:
    text = "base: &b {x: 1, y: 2}\nuse: *b\nmore: {<<: *b, x: 5}\n"
    assert read_yaml(_write(tmp_path, text)) == {"base": {"x": 1, "y": 2},
                                                 "use": {"x": 1, "y": 2},
                                                 "more": {"x": 5, "y": 2}}


def test_last_wins_is_an_explicit_option_that_reports(tmp_path: Path) -> None:
    p = _write(tmp_path, "a:\n  b: 1\n  b: 2\nc: [3]\nc: [4]\n")
    data, dups = read_yaml_last_wins(p)
    assert data == {"a": {"b": 2}, "c": [4]}
    assert dups == (Duplicate("b", "a.b", 2, 3), Duplicate("c", "c", 4, 5))
    assert str(dups[0]) == "a.b (lines 2 and 3)"


@pytest.mark.parametrize("content, message", [
    ("", "empty file; give a YAML file"),
    ("# only a comment\n\n", "empty file; give a YAML file"),
    ("- 1\n- 2\n", "the top level must be a mapping of keys to values, not a list; give a "
                   "YAML file"),
    ("just text\n", "the top level must be a mapping of keys to values, not a string; give "
                    "a YAML file"),
    ("7\n", "the top level must be a mapping of keys to values, not int; give a YAML file"),
    ("a:\n\tb: 1\n", "malformed YAML at line 2, column 1: found character '\\t' that cannot "
                     "start any token; give a YAML file"),
    ("a: [1, 2\nb: 3\n", "malformed YAML at line 2, column 2: expected ',' or ']', but got "
                         "':'; give a YAML file"),
    ("a: !!python/object:os.system {}\n", "malformed YAML at line 1, column 4: could not "
                                         "determine a constructor for the tag "
                                         "'tag:yaml.org,2002:python/object:os.system'; give "
                                         "a YAML file"),
    (b"a: 1\nb: caf\xe9\n", "not a UTF-8 text file (byte 0xe9 at line 2, column 7); give a "
                            "YAML file"),
    (b"a: \x07\n", "malformed YAML at line 1, column 4: special characters are not allowed "
                   "(#x0007); give a YAML file"),
])
def test_file_errors_are_one_line(tmp_path: Path, content: str | bytes, message: str) -> None:
    p = _write(tmp_path, content)
    with pytest.raises(YamlError) as info:
        read_yaml(p)
    assert str(info.value) == f"{p}: {message}"


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(YamlError, match=r"nope\.yaml: no such file; give a YAML file$"):
        read_yaml(tmp_path / "nope.yaml")
    with pytest.raises(YamlError, match=r": is a directory; give a YAML file$"):
        read_yaml(tmp_path)


def test_ratios_are_opt_in(tmp_path: Path) -> None:
    p = _write(tmp_path, "pattern: 2:4\nn: 12\n")
    assert read_yaml(p) == {"pattern": 2 * 60 + 4, "n": 12}      # YAML 1.1 base 60
    assert read_yaml(p, ratios=True) == {"pattern": "2:4", "n": 12}


def test_the_caller_names_the_error_class_and_what_to_give() -> None:
    with pytest.raises(SpecError, match=r"^stored: a: duplicate key 'a' at line 2 .*keep one"):
        loads_yaml("a: 1\na: 2\n", "stored", error=SpecError, what="a spec")


# -- specs -------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, message", [
    (SPEC + "name: u\n", "name: duplicate key 'name' at line 3 (first given at line 1)"),
    (SPEC + "pe: {mode: fixed, mode: bitfusion}\n",
     "pe.mode: duplicate key 'mode' at line 3 (first given at line 3)"),
    (SPEC + "glb:\n  - {name: a, operands: [weight], capacity_bytes: 64}\n"
            "  - name: b\n    capacity_bytes: 64\n    operands: [input, output]\n"
            "    capacity_bytes: 128\n",
     "glb[1].capacity_bytes: duplicate key 'capacity_bytes' at line 8 (first given at "
     "line 6)"),
    (SPEC + "energy:\n  mult_pj: {8: 0.2, 8: 0.3}\n",
     "energy.mult_pj[8]: duplicate key 8 at line 4 (first given at line 4)"),
])
def test_spec_duplicates(tmp_path: Path, text: str, message: str) -> None:
    p = _write(tmp_path, text)
    with pytest.raises(SpecError) as info:
        load_accelerator(p)
    assert str(info.value) == f"{p}: {message}; keep one"


@pytest.mark.parametrize("data, message", [
    ({"name": "t", "array": {"rows": 2, "cols": 2}, "colour": 1},
     "top level: unknown key 'colour'; allowed keys: ['name', 'description', 'dataflow', "
     "'array', 'clock_mhz', 'pe', 'rf', 'glb', 'dram', 'energy', 'sparse', 'vector']"),
    ({"name": "t", "array": {"rows": 2, "cols": 2},
      "glb": [{"name": "a", "operands": ["weight"], "capacity_bytes": 64},
              {"name": "b", "operands": ["input", "output"], "capacity_bytes": 64,
               "size": 3}]},
     "glb[1]: unknown key 'size'; allowed keys: ['name', 'operands', 'capacity_bytes', "
     "'word_bits', 'read_bytes_per_cycle', 'write_bytes_per_cycle', 'double_buffered', "
     "'access_pj']"),
    ({"name": "t", "array": {"rows": 2, "cols": 2}, "vector": {"cycles_per_element":
                                                               {"tanh": 2}}},
     "vector.cycles_per_element: unknown key 'tanh'; allowed keys: ['add', 'mul', 'relu', "
     "'gelu', 'silu', 'softmax', 'layernorm', 'rmsnorm', 'rope', 'pool', 'copy']"),
    ({"name": "t", "array": {"rows": 2, "cols": 2}, "sparse": {"policy": "gating",
                                                               "nm": 2}},
     "sparse: unknown key 'nm'; allowed keys: ['policy', 'operands', 'format', 'nm_n', "
     "'nm_m', 'rle_run_bits']"),
    # key paths and allowed values
    ({"name": "t", "array": {"rows": 2, "cols": 2},
      "glb": [{"operands": ["weight"], "capacity_bytes": 64},
              {"operands": ["input", 3], "capacity_bytes": 64}]},
     "glb[1].operands[1] must be a string, not 3"),
    ({"name": "t", "array": {"rows": 2, "cols": 2}, "dataflow": "xs"},
     "dataflow must be one of ['is', 'os', 'rs', 'ws'], not 'xs'"),
    ({"name": "t", "array": {"rows": 2, "cols": 2}, "sparse": {"format": "coo"}},
     "sparse.format must be one of ['dense', 'bitmap', 'csr', 'csc', 'rle', 'nm'], "
     "not 'coo'"),
    ({"name": "t", "array": {"rows": 2, "cols": 2}, "energy": {"mult_pj": {"8": 0.2}}},
     "energy.mult_pj: key '8' must be an integer, not '8'"),
    ({"name": "t", "array": {"rows": 2, "cols": 2}, "dram": {"word_bits": True}},
     "dram.word_bits must be an integer, not True"),
    ({"name": "t", "array": {}}, "array.rows is required (a positive integer) (+1 more)"),
    ({"name": "t", "array": {"rows": 2, "cols": 2}, "vector": None},
     "vector must be a mapping of keys to values, not NoneType"),
    ([1, 2], "the spec must be a mapping of keys to values, not list"),
])
def test_spec_schema_errors(data: object, message: str) -> None:
    with pytest.raises(SpecError) as info:
        accelerator_from_dict(data, "s.yaml")
    assert str(info.value) == f"s.yaml: {message}"


def test_every_spec_in_the_specs_folder_loads_and_round_trips(tmp_path: Path) -> None:
    """Globbed, so a spec added to sim/specs later is covered too (an N-level
    ``hierarchy:`` file by :mod:`sim.hierarchy`'s loader, the others as Accelerators)."""
    from sim.hierarchy import dump_hierarchy, load_hierarchy
    paths = sorted(SPECS_DIR.glob("*.yaml"))
    assert len(paths) >= 13
    for path in paths:
        if "hierarchy" in read_yaml(path):
            h = load_hierarchy(path)
            assert load_hierarchy(_write(tmp_path, dump_hierarchy(h), path.name)) == h
            continue
        accel = load_accelerator(path)
        again = load_accelerator(_write(tmp_path, dump_accelerator(accel), path.name))
        assert again == accel and again.spec_hash == accel.spec_hash, path.name


def test_spec_errors_through_the_cli(tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    for text, message in [
        (SPEC + "pe:\n  mode: fixed\n  mode: bitserial\n",
         "pe.mode: duplicate key 'mode' at line 5 (first given at line 4); keep one"),
        (SPEC + "rf: {capacity_bytes: 4, colour: red}\n",
         "rf: unknown key 'colour'; allowed keys: ['name', 'operands', 'capacity_bytes', "
         "'word_bits', 'read_bytes_per_cycle', 'write_bytes_per_cycle', 'double_buffered', "
         "'access_pj'] (line 3)"),
        (SPEC + "glb:\n  - {name: a, capacity_bytes: 64}\n  - name: b\n    word_bits: 8.5\n",
         "glb[1].word_bits must be an integer, not 8.5 (line 6)"),
        (SPEC + "glb:\n  - name: g\n    capacity_bytes: -4\n",
         "glb[0]: capacity_bytes must be an integer >= 0, not -4 (line 5)"),
        (SPEC + "array: {rows: 0, cols: 8}\n",
         "array: duplicate key 'array' at line 3 (first given at line 2); keep one"),
        ("name: t\narray:\n  rows: 0\n  cols: 8\n",
         "array.rows must be a positive integer, not 0 (line 3)"),
        ("", "empty file; give a YAML spec (schema in sim/spec_io.py)"),
        (b"name: \xc3\x28\n", "not a UTF-8 text file (byte 0xc3 at line 1, column 7); give "
                              "a YAML spec (schema in sim/spec_io.py)"),
        ("- name: t\n", "the top level must be a mapping of keys to values, not a list; "
                        "give a YAML spec (schema in sim/spec_io.py)"),
    ]:
        bad = _write(tmp_path, text, "bad.yaml")
        line = _cli_error(capsys, ["simulate", "--network", "alexnet", "--arch", str(bad)])
        assert line == f"{bad}: {message}"


# -- layer configs -----------------------------------------------------------------------------
@pytest.mark.parametrize("text, message", [
    ("layers: {}\nlayers: {}\n", "layers: duplicate key 'layers' at line 2 (first given at "
                                 "line 1)"),
    ("layers:\n  conv1: {precision: {weight_bits: 4}}\n  conv1: {rank: 2}\n",
     "layers.conv1: duplicate key 'conv1' at line 3 (first given at line 2)"),
    ("layers:\n  layer1.0.conv1:\n    precision: {weight_bits: 4, weight_bits: 8}\n",
     "layers['layer1.0.conv1'].precision.weight_bits: duplicate key 'weight_bits' at line "
     "3 (first given at line 3)"),
])
def test_layer_config_duplicates(tmp_path: Path, text: str, message: str) -> None:
    p = _write(tmp_path, text)
    with pytest.raises(LayerConfigError) as info:
        load_layer_config(p)
    assert str(info.value) == f"{p}: {message}; keep one"


def test_layer_config_keeps_ratios_and_lists_allowed_keys(tmp_path: Path) -> None:
    p = _write(tmp_path, "layers:\n  fc: {prune: {weight: {pattern: 2:4}}}\n")
    assert load_layer_config(p).layers[0].prune["weight"].n == 2
    p = _write(tmp_path, "layer: {}\n")
    with pytest.raises(LayerConfigError) as info:
        load_layer_config(p)
    assert str(info.value) == (f"{p}: top level: unknown key 'layer' (did you mean "
                               f"'layers'?); allowed keys: "
                               f"['defaults', 'layers'] (line 1)")


def test_layer_config_errors_through_the_cli(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    what = "give a YAML layer config (schema in sim/layer_config.py)"
    for text, message in [
        ("defaults:\n  precision: {input_bits: 8}\n  precision: {input_bits: 4}\n",
         "defaults.precision: duplicate key 'precision' at line 3 (first given at line 2); "
         "keep one"),
        ("", f"empty file; {what}"),
        (b"layers:\n  conv1: {rank: \xff}\n", f"not a UTF-8 text file (byte 0xff at line 2, "
                                              f"column 17); {what}"),
        ("layers:\n\tconv1: {}\n", f"malformed YAML at line 2, column 1: found character "
                                   f"'\\t' that cannot start any token; {what}"),
        ("[conv1]\n", f"the top level must be a mapping of keys to values, not a list; "
                      f"{what}"),
    ]:
        bad = _write(tmp_path, text, "lc.yaml")
        line = _cli_error(capsys, ["simulate", "--network", "alexnet",
                                   "--layer-config", str(bad)])
        assert line == f"{bad}: {message}"


# -- design spaces -----------------------------------------------------------------------------
@pytest.mark.parametrize("text, message", [
    (SPACE + "base: os_32x32\n", "base: duplicate key 'base' at line 3 (first given at "
                                 "line 1)"),
    ("base: edge_8x8_ws\nparameters:\n  rows: [4]\n  cols: [4]\n  rows: [8]\n",
     "parameters.rows: duplicate key 'rows' at line 5 (first given at line 3)"),
    (SPACE + "precision:\n  layers:\n    conv1: {weight_bits: [4], weight_bits: [8]}\n",
     "precision.layers.conv1.weight_bits: duplicate key 'weight_bits' at line 5 (first "
     "given at line 5)"),
])
def test_design_space_duplicates(tmp_path: Path, text: str, message: str) -> None:
    p = _write(tmp_path, text)
    with pytest.raises(HardwareSpaceError) as info:
        load_hw_space(p)
    assert str(info.value) == f"{p}: {message}; keep one"


def test_design_space_errors_through_the_cli(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    what = "give a design-space YAML (schema in mapper/hw_space.py)"
    for text, message in [
        (SPACE + "parameters: {cols: [4]}\n", "parameters: duplicate key 'parameters' at "
                                              "line 3 (first given at line 2); keep one"),
        (SPACE + "colour: red\n", "top level: unknown key 'colour'; allowed keys: ['base', "
                                  "'compression', 'parameters', 'precision'] (line 3)"),
        ("base: edge_8x8_ws\nparameters:\n  rows: [4]\n  dataflow: [ws, xx]\n",
         "parameters.dataflow values must be one of ['is', 'os', 'rs', 'ws'], not 'xx' "
         "(line 4)"),
        ("", f"empty file; {what}"),
        (b"base: \xfe\n", f"not a UTF-8 text file (byte 0xfe at line 1, column 7); {what}"),
        ("base edge_8x8_ws\n", f"the top level must be a mapping of keys to values, not a "
                               f"string; {what}"),
    ]:
        bad = _write(tmp_path, text, "space.yaml")
        out = tmp_path / "run"
        line = _cli_error(capsys, ["dse", "--network", "alexnet", "--space", str(bad),
                                   "--out", str(out), "--workers", "1"])
        assert line == f"{bad}: {message}"
        assert not (out / "dse.sqlite").exists()


# -- ZigZag descriptions (read as ZigZag reads them: last wins, each duplicate noted) ------
def test_zigzag_duplicates_at_several_depths_are_noted(tmp_path: Path) -> None:
    lines = (DATA / "tpu_like.yaml").read_text().splitlines()
    assert lines[0] == "name: tpu_like" and lines[4] == "    size: 1024"
    edited = [lines[0], "name: tpu_like_again"] + lines[1:5] + ["    size: 1024"] + lines[5:]
    hw = _write(tmp_path, "\n".join(edited) + "\n", "hw.yaml")
    mapping = (DATA / "tpu_like_mapping.yaml").read_text()
    mp = _write(tmp_path, mapping.replace("- name: default\n", "- name: default\n"
                                          "  name: default\n", 1), "mp.yaml")
    conv = load_zigzag(hw, mp)
    assert conv.accelerator.name == "zigzag_tpu_like_again"              # last wins
    notes = "\n".join(conv.notes)
    assert "key name (lines 1 and 2) is given twice" in notes
    assert "key memories.rf_128B.size (lines 6 and 7) is given twice" in notes
    assert "key mp.yaml: [0].name (lines " in notes


def test_zigzag_file_errors_are_one_line(tmp_path: Path) -> None:
    what = "give a ZigZag hardware or mapping YAML"
    for content, message in [
        ("", f"empty file; {what}"),
        (b"name: \xff\n", f"not a UTF-8 text file (byte 0xff at line 1, column 7); {what}"),
        ("name: x\nmemories:\n\tdram: {}\n", f"malformed YAML at line 3, column 1: found "
                                             f"character '\\t' that cannot start any "
                                             f"token; {what}"),
    ]:
        bad = _write(tmp_path, content, "hw.yaml")
        with pytest.raises(ZigzagImportError) as info:
            load_zigzag(bad)
        assert str(info.value) == f"{bad}: {message}"


# -- the schema cannot drift from the runtime dataclasses ------------------------------------
def test_schema_sections_have_the_dataclass_fields_in_order() -> None:
    import dataclasses

    from sim.energy import EnergyTable
    from sim.spec import Buffer, PEConfig, SparseConfig, VectorUnit
    from sim.spec_schema import (BufferModel, EnergyModel, PEModel, SparseModel,
                                 VectorModel)
    for model, cls in [(BufferModel, Buffer), (PEModel, PEConfig), (SparseModel, SparseConfig),
                       (VectorModel, VectorUnit), (EnergyModel, EnergyTable)]:
        assert list(model.model_fields) == [f.name for f in dataclasses.fields(cls)], model


def test_schema_allowed_values_are_the_spec_constants() -> None:
    import typing

    from dataflows.dataflow import DATAFLOWS
    from sim.spec import PE_MODES, SPARSE_FORMATS, SPARSE_POLICIES
    from sim.spec_schema import PEModel, SparseModel, SpecModel
    assert typing.get_args(SpecModel.model_fields["dataflow"].annotation) == \
        tuple(sorted(DATAFLOWS))
    assert typing.get_args(PEModel.model_fields["mode"].annotation) == PE_MODES
    assert typing.get_args(SparseModel.model_fields["policy"].annotation) == SPARSE_POLICIES
    assert typing.get_args(SparseModel.model_fields["format"].annotation) == SPARSE_FORMATS


def test_schema_defaults_are_the_dataclass_defaults() -> None:
    from sim.energy import EnergyTable
    from sim.spec import PEConfig, SparseConfig
    from sim.spec_schema import EnergyModel, PEModel, SparseModel
    pe, sparse = PEConfig(), SparseConfig()
    assert PEModel().model_dump() == {"operand_bits": pe.operand_bits,
                                      "accumulator_bits": pe.accumulator_bits,
                                      "product_register": pe.product_register,
                                      "mode": pe.mode}
    assert SparseModel().model_dump() == {
        "policy": sparse.policy, "operands": list(sparse.operands), "format": sparse.format,
        "nm_n": sparse.nm_n, "nm_m": sparse.nm_m, "rle_run_bits": sparse.rle_run_bits}
    energy = EnergyModel()
    assert (energy.add_pj_per_bit, energy.dram_pj_per_bit) == \
        (EnergyTable().add_pj_per_bit, EnergyTable().dram_pj_per_bit)


# -- any edit of a shipped spec: one SpecError line, or a spec that round-trips ---------------
_SCALARS = st.one_of(
    st.integers(-3, 2**60), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
    st.none(), st.text(max_size=4),
    st.sampled_from(["ws", "rs", "bitserial", "skipping", "gating", "nm", "csr", "weight",
                     "input", "output", "softmax"]),
    st.lists(st.sampled_from(["weight", "input", "output", 3]), max_size=3),
    st.dictionaries(st.sampled_from(["add", "tanh", 8, "rows"]), st.integers(0, 9),
                    max_size=2))


def _paths(data: object, loc: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    items = data.items() if isinstance(data, dict) else \
        enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        out.append(loc + (key,))
        out.extend(_paths(value, loc + (key,)))
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(p.stem for p in SPECS_DIR.glob("*.yaml"))),
       pick=st.integers(0, 10**6), value=_SCALARS,
       action=st.sampled_from(["set", "set", "set", "delete", "add"]))
def test_edited_specs_fail_in_one_line_or_round_trip(name: str, pick: int, value: object,
                                                     action: str) -> None:
    data = read_yaml(SPECS_DIR / f"{name}.yaml")
    if "hierarchy" in data:
        return
    paths = _paths(data)
    loc = paths[pick % len(paths)]
    parent = data
    for part in loc[:-1]:
        parent = parent[part]                                    # type: ignore[index]
    if action == "delete" and isinstance(parent, dict):
        del parent[loc[-1]]
    elif action == "add" and isinstance(parent, dict):
        parent["extra_key"] = value
    else:
        parent[loc[-1]] = value                                  # type: ignore[index]
    try:
        accel = accelerator_from_dict(data, "x.yaml")
    except SpecError as err:
        assert str(err).startswith("x.yaml: ") and "\n" not in str(err)
        return
    again = accelerator_from_dict(loads_yaml(dump_accelerator(accel), "dump"), "dump")
    assert again == accel and again.spec_hash == accel.spec_hash
