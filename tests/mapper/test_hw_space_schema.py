"""The design-space schema (:mod:`mapper.hw_space_schema`): each bad file is ONE line naming
the file, the key path, the value, what is allowed and the line, and ``coforge dse
--space`` exits 2 with it before any design runs; every shipped space loads. Expected
texts are written by hand from each case's YAML."""

from __future__ import annotations

from pathlib import Path

import pytest

from mapper.cli import main
from mapper.hw_space import HardwareSpaceError, load_hw_space

SPACES = Path(__file__).parents[2] / "mapper" / "spaces"
BASE = "base: edge_8x8_ws\n"
PARAMS = "parameters:\n  rows: [4, 8]\n"
PARAMETERS = ("['accumulator_bits', 'clock_mhz', 'cols', 'dataflow', 'dram_bytes_per_cycle', "
              "'glb_kib', 'operand_bits', 'pe_mode', 'product_register', 'rows']")

CASES = [
    ("unknown top-level key, close match", BASE + PARAMS + "precison: {weight_bits: [4]}\n",
     "top level: unknown key 'precison' (did you mean 'precision'?); allowed keys: ['base', "
     "'compression', 'parameters', 'precision'] (line 4)"),
    ("unknown parameter", BASE + PARAMS + "  colour: [1]\n",
     f"parameters: unknown parameter 'colour'; allowed: {PARAMETERS} (line 2)"),
    ("value out of range", BASE + "parameters:\n  rows: [4, 0]\n",
     "parameters.rows values must be integers from 1 to 1024, not 0 (line 3)"),
    ("wrong value type", BASE + "parameters:\n  clock_mhz: [fast]\n",
     "parameters.clock_mhz values must be finite numbers of MHz from 0.001 to 1e+06, not "
     "'fast' (line 3)"),
    ("negative bandwidth", BASE + "parameters:\n  dram_bytes_per_cycle: [8, -1]\n",
     "parameters.dram_bytes_per_cycle values must be numbers >= 0.001 or .inf (unlimited), "
     "not -1 (line 3)"),
    ("not a list", BASE + "parameters:\n  rows: 4\n",
     "parameters.rows must be a list of values, not 4 (e.g. rows: [4]) (line 3)"),
    ("value twice", BASE + "parameters:\n  rows: [4, 4]\n",
     "parameters.rows lists a value twice: [4, 4]; keep each once (line 3)"),
    ("no parameters", BASE + "parameters: {}\n",
     "parameters must be a mapping of parameter names to value lists, not {} (line 2)"),
    ("missing base", PARAMS,
     "base is required: the spec the parameters edit, a shipped spec name or a spec YAML "
     "path (e.g. base: edge_8x8_ws)"),
    ("base not a name", "base: 5\n" + PARAMS,
     "base must be a shipped spec name or a spec YAML path (e.g. base: edge_8x8_ws), not 5 "
     "(line 1)"),
    ("precision bits", BASE + PARAMS + "precision:\n  input_bits: [8, 6]\n",
     "precision.input_bits values must be from [2, 4, 8, 16, 32], not 6 (line 5)"),
    ("precision layer key", BASE + PARAMS + "precision:\n  layers:\n    fc: {weight: [4]}\n",
     "precision.layers.fc: unknown key 'weight'; allowed keys: ['weight_bits', "
     "'input_bits'] (line 6)"),
    ("rank value", BASE + PARAMS + "compression:\n  rank:\n    layers: {fc: [null, 0]}\n",
     "compression.rank.layers.fc values must be positive integers or null, not 0 (line 6)"),
    ("compression key", BASE + PARAMS + "compression: {prnue: {default: [none]}}\n",
     "compression: unknown key 'prnue' (did you mean 'prune'?); allowed keys: ['prune', "
     "'rank'] (line 4)"),
    ("duplicate key", BASE + PARAMS + "  rows: [16]\n",
     "parameters.rows: duplicate key 'rows' at line 4 (first given at line 3); keep one"),
]


@pytest.mark.parametrize("text, message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_space_is_one_line(tmp_path: Path, text: str, message: str) -> None:
    p = tmp_path / "space.yaml"
    p.write_text(text)
    with pytest.raises(HardwareSpaceError) as err:
        load_hw_space(p)
    assert str(err.value) == f"{p}: {message}"


@pytest.mark.parametrize("name", ["unknown top-level key, close match", "value out of range",
                                  "negative bandwidth", "duplicate key"])
def test_bad_space_through_the_cli_exits_2(tmp_path: Path, name: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    _, text, message = next(c for c in CASES if c[0] == name)
    p = tmp_path / "space.yaml"
    p.write_text(text)
    out = tmp_path / "run"
    rc = main(["dse", "--network", "alexnet", "--space", str(p), "--out", str(out),
               "--workers", "1"])
    assert rc == 2
    assert capsys.readouterr().err == f"coforge: error: {p}: {message}\n"
    assert not (out / "dse.sqlite").exists()


@pytest.mark.parametrize("path", sorted(SPACES.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_space_loads(path: Path) -> None:
    space = load_hw_space(path)
    assert space.size >= 1 and space.base.name


def test_compression_section_values() -> None:
    """digits_hw_precision_compression.yaml by hand: prune default [none, 2:4,
    magnitude:0.5], fc pruned only by none, fc ranks [null, 4]."""
    space = load_hw_space(SPACES / "digits_hw_precision_compression.yaml")
    assert space.compression is not None
    assert space.compression.prune_default == ("none", "2:4", "magnitude:0.5")
    assert space.compression.prune_layers == (("fc", ("none",)),)
    assert space.compression.rank_layers == (("fc", (None, 4)),)
    assert space.precision is not None
    assert space.precision.first_last is not None
    assert space.precision.first_last.weight_bits == (4, 8)
