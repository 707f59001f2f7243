"""The N-level hierarchy file's schema (:mod:`sim.hierarchy_schema`): each bad input is ONE
line naming the file, the key path, the value and the fix, and ``coforge map --arch``
exits 2 with it; every shipped hierarchy file and 3-level spec still loads.

Expected messages are written by hand from the YAML of each case (line numbers counted
in :data:`GOOD`, whose lines are 1 ``hierarchy:``, 2 ``name``, 3 ``levels``, 4 the dram
level, 5 the fanout, 6 the rf level).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mapper.cli import main
from sim.hierarchy import load_hierarchy
from sim.spec import SpecError
from sim.spec_io import SPECS_DIR

DATA = Path(__file__).parents[1] / "data" / "hierarchy"
DRAM = "    - storage: {name: dram}\n"
FAN = "    - fanout: {name: pes, size: [4], dims: [K]}\n"
RF = "    - storage: {name: rf, capacity_bytes: 64, word_bits: 8}\n"
HEAD = "hierarchy:\n  name: x\n  levels:\n"
GOOD = HEAD + DRAM + FAN + RF
OPS = "['weight', 'input', 'output']"
STORAGE_KEYS = ("['name', 'keeps', 'capacity_bytes', 'word_bits', 'read_bytes_per_cycle', "
                "'write_bytes_per_cycle', 'ports', 'banks', 'double_buffered', 'read_pj', "
                "'write_pj', 'streams', 'temporal_dims', 'value_bits', 'may_bypass']")


def _with(dram: str = DRAM, fan: str = FAN, rf: str = RF, tail: str = "") -> str:
    return HEAD + dram + fan + rf + tail


CASES = [
    ("fanout of 0", _with(fan="    - fanout: {name: pes, size: [0], dims: [K]}\n"),
     "hierarchy.levels[1].fanout.size[0] is 0; a fanout has at least one child (give 1 or "
     "more) (line 5)"),
    ("2-D fanout of 0", _with(fan="    - fanout: {name: pes, size: [4, 0], dims: [[C], [K]]}\n"),
     "hierarchy.levels[1].fanout.size[1] is 0; a fanout has at least one child (give 1 or "
     "more) (line 5)"),
    ("fanout too large", _with(fan="    - fanout: {name: pes, size: [5000], dims: [K]}\n"),
     "hierarchy.levels[1].fanout.size[0] must be an integer from 1 to 4096, not 5000 "
     "(line 5)"),
    ("level keeps no operand",
     _with(rf="    - storage: {name: rf, keeps: [], capacity_bytes: 64, word_bits: 8}\n"),
     f"hierarchy.levels[2].storage.keeps is empty; list at least one of {OPS} or remove "
     f"the level (line 6)"),
    ("capacity below one word", _with(rf="    - storage: {name: rf, capacity_bytes: 1, "
                                         "word_bits: 16}\n"),
     "hierarchy.levels[2].storage.capacity_bytes = 1 B cannot hold one 16-bit word; give "
     ">= 2 B or narrow word_bits (line 6)"),
    ("double-buffered capacity below two words",
     _with(rf="    - storage: {name: rf, capacity_bytes: 2, word_bits: 16, "
              "double_buffered: true}\n"),
     "hierarchy.levels[2].storage.capacity_bytes = 2 B cannot hold one 16-bit word per "
     "buffer half (double_buffered); give >= 4 B or narrow word_bits (line 6)"),
    ("per-operand capacity below one word",
     _with(rf="    - storage: {name: rf, keeps: [weight, input], word_bits: 64,\n"
              "                capacity_bytes: {weight: 64, input: 4}}\n"),
     "hierarchy.levels[2].storage.capacity_bytes.input = 4 B cannot hold one 64-bit word; "
     "give >= 8 B or narrow word_bits (line 7)"),
    ("negative bandwidth", _with(dram="    - storage: {name: dram, read_bytes_per_cycle: -1}\n"),
     "hierarchy.levels[0].storage.read_bytes_per_cycle must be a number > 0 of bytes/cycle "
     "(.inf for unlimited), not -1 (line 4)"),
    ("NaN energy", _with(dram="    - storage: {name: dram, read_pj: .nan}\n"),
     "hierarchy.levels[0].storage.read_pj must be a finite number, not nan (line 4)"),
    ("unknown key, close match",
     _with(rf="    - storage: {name: rf, keps: [weight], capacity_bytes: 64, word_bits: 8}\n"),
     f"hierarchy.levels[2].storage: unknown key 'keps' (did you mean 'keeps'?); allowed "
     f"keys: {STORAGE_KEYS} (line 6)"),
    ("unknown item kind", _with(fan="    - fanuot: {name: pes, size: [4], dims: [K]}\n"),
     "hierarchy.levels[1]: unknown key 'fanuot' (did you mean 'fanout'?); allowed keys: "
     "['storage', 'fanout'] (line 5)"),
    ("wrong type", _with(rf="    - storage: {name: rf, capacity_bytes: 64, word_bits: '8'}\n"),
     "hierarchy.levels[2].storage.word_bits must be an integer from 1 to 65536 bits, not "
     "'8' (line 6)"),
    ("operand name", _with(rf="    - storage: {name: rf, keeps: [weights], capacity_bytes: "
                              "64}\n"),
     f"hierarchy.levels[2].storage.keeps must list distinct operands from {OPS}, not "
     f"['weights'] ('weights' is not one) (line 6)"),
    ("unknown dimension", _with(fan="    - fanout: {name: pes, size: [4], dims: [X]}\n"),
     "hierarchy.levels[1].fanout.dims[0] must list distinct dimensions from ['G', 'N', "
     "'K', 'C', 'P', 'Q', 'R', 'S'], not ['X'] ('X' is not one) (line 5)"),
    ("2-D fanout, 1-D dims", _with(fan="    - fanout: {name: pes, size: [4, 4], dims: [K]}\n"),
     "hierarchy.levels[1].fanout.dims must give the unrollable dimensions of each of its 2 "
     "axes (1-D: [K, P]; 2-D: [[C], [K]]), not ['K'] (line 5)"),
    ("stream not kept", _with(rf="    - storage: {name: rf, keeps: [weight], streams: [input], "
                                 "capacity_bytes: 64}\n"),
     "hierarchy.levels[2].storage.streams names 'input', which the level does not keep; "
     "streams must be kept operands ['weight'] (line 6)"),
    ("two-key item", _with(rf="    - {storage: {name: rf}, fanout: {name: f}}\n"),
     "hierarchy.levels[2] must be a one-key mapping 'storage: {...}' or 'fanout: {...}', "
     "not {'storage': {'name': 'rf'}, 'fanout': {'name': 'f'}} (line 6)"),
    ("empty item", _with(rf="    - storage:\n"),
     "hierarchy.levels[2].storage is empty; give the storage's keys (at least its name) "
     "(line 6)"),
    ("outermost is a fanout", HEAD + FAN + DRAM + RF,
     f"hierarchy.levels[0] is a fanout ('pes'); the outermost node must be a storage level "
     f"keeping {OPS} (DRAM) (line 4)"),
    ("outermost keeps too little",
     _with(dram="    - storage: {name: dram, keeps: [weight, input]}\n"),
     f"hierarchy.levels[0].storage.keeps must be {OPS} at the outermost level (every "
     f"operand's home), not ['weight', 'input']; 'output' would reach the compute level "
     f"from no storage (line 4)"),
    ("inner level unbounded", _with(rf="    - storage: {name: rf, word_bits: 8}\n"),
     "hierarchy.levels[2].storage.capacity_bytes is null (unbounded); only the outermost "
     "level may be: give a capacity in bytes (line 6)"),
    ("repeated name", _with(rf="    - storage: {name: dram, capacity_bytes: 64}\n"),
     "hierarchy.levels[2].storage.name 'dram' repeats hierarchy.levels[0]; node names must "
     "be distinct (line 6)"),
    ("no levels", HEAD.replace("levels:\n", "levels: []\n"),
     "hierarchy.levels must be a non-empty list of {storage: ...} and {fanout: ...} items, "
     "outermost first, not [] (line 3)"),
    ("missing name", "hierarchy:\n  levels:\n" + DRAM,
     "hierarchy.name is required (a non-empty string) (line 1)"),
    ("unknown top-level key", GOOD + "rows: 3\n",
     "top level: unknown key 'rows'; allowed keys: ['hierarchy', 'description'] (line 7)"),
    ("zero clock", GOOD + "  clock_mhz: 0\n",
     "hierarchy.clock_mhz must be a number of MHz from 0.001 to 1e+06, not 0 (line 7)"),
    ("duplicate key", HEAD.replace("name: x\n", "name: x\n  name: y\n") + DRAM,
     "hierarchy.name: duplicate key 'name' at line 3 (first given at line 2); keep one"),
]


@pytest.mark.parametrize("text, message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_hierarchy_is_one_line(tmp_path: Path, text: str, message: str) -> None:
    p = tmp_path / "h.yaml"
    p.write_text(text)
    with pytest.raises(SpecError) as err:
        load_hierarchy(p)
    assert str(err.value) == f"{p}: {message}"


@pytest.mark.parametrize("name", ["fanout of 0", "level keeps no operand",
                                  "capacity below one word", "negative bandwidth",
                                  "unknown key, close match", "duplicate key"])
def test_bad_hierarchy_through_the_cli_exits_2(tmp_path: Path, name: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    _, text, message = next(c for c in CASES if c[0] == name)
    p = tmp_path / "h.yaml"
    p.write_text(text)
    rc = main(["map", "--network", "alexnet", "--arch", str(p)])
    captured = capsys.readouterr()
    assert rc == 2
    assert captured.err == f"coforge: error: {p}: {message}\n"


def test_good_file_loads_with_its_numbers(tmp_path: Path) -> None:
    p = tmp_path / "h.yaml"
    p.write_text(GOOD)
    h = load_hierarchy(p)
    assert [n.name for n in h.nodes] == ["dram", "pes", "rf"]
    assert h.pes == 4 and h.instances(1) == 4
    assert h.levels[1].capacity_bytes == 64 and h.levels[1].word_bits == 8


@pytest.mark.parametrize("path", sorted(DATA.glob("*.yaml")) + sorted(SPECS_DIR.glob("*.yaml")),
                         ids=lambda p: p.name)
def test_every_shipped_file_loads(path: Path) -> None:
    h = load_hierarchy(path)
    assert h.levels and h.levels[0].keeps == ("weight", "input", "output")


def _paths(node: object, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    items = node.items() if isinstance(node, dict) else \
        enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        out += _paths(value, prefix + (key,))
    return out


def test_every_single_edit_of_the_example_loads_or_is_one_line(tmp_path: Path) -> None:
    """Each key of the 5-level example set to each of a few bad values: the file loads
    or fails with one SpecError line naming the file -- never another exception."""
    import copy

    import yaml
    base = yaml.safe_load((DATA / "edge_2core_4cluster_8x8.yaml").read_text())
    p = tmp_path / "h.yaml"
    for loc in _paths(base)[1:]:
        for value in (None, 0, "x", []):
            data = copy.deepcopy(base)
            node = data
            for key in loc[:-1]:
                node = node[key]
            node[loc[-1]] = value
            p.write_text(yaml.safe_dump(data))
            try:
                load_hierarchy(p)
            except SpecError as err:
                assert str(err).startswith(f"{p}: ") and "\n" not in str(err), (loc, value)
