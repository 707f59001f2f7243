"""The layer-config schema (:mod:`sim.layer_config_schema`): each bad file is ONE line naming
the file, the key path (layer names in brackets), the value, the fix and the line, and
``coforge simulate --layer-config`` exits 2 with it. Expected texts are written by hand
from each case's YAML."""

from __future__ import annotations

from pathlib import Path

import pytest

from mapper.cli import main
from sim.layer_config import LayerConfigError, load_layer_config

ENTRY_KEYS = "['precision', 'density', 'prune', 'rank', 'tensors']"
PATTERNS = "['magnitude', 'block', 'row', 'kernel_row', 'group', 'tile']"

CASES = [
    ("unknown key, close match", "layers:\n  fc8: {presicion: {weight_bits: 4}}\n",
     f"layers['fc8']: unknown key 'presicion' (did you mean 'precision'?); allowed keys: "
     f"{ENTRY_KEYS} (line 2)"),
    ("unknown operand", "layers:\n  fc8: {density: {weights: 0.5}}\n",
     "layers['fc8'].density: unknown key 'weights' (did you mean 'weight'?); allowed keys: "
     "['weight', 'input'] (line 2)"),
    ("unknown prune operand", "layers:\n  fc8: {prune: {output: {pattern: '2:4'}}}\n",
     "layers['fc8'].prune: unknown key 'output'; allowed keys: ['weight', 'input'] (line 2)"),
    ("wrong bit width", "defaults:\n  precision: {weight_bits: 5}\n",
     "defaults.precision.weight_bits must be one of [2, 4, 8, 16, 32], not 5 (line 2)"),
    ("wrong type", "layers:\n  fc8:\n    rank: two\n",
     "layers['fc8'].rank must be a positive integer, not 'two' (line 3)"),
    ("zero density", "layers:\n  fc8:\n    density: {input: 0}\n",
     "layers['fc8'].density.input must be a number in (0, 1], not 0 (line 3)"),
    ("key a pattern does not take",
     "layers:\n  fc8: {prune: {weight: {pattern: row, density: 0.5, keep: 2}}}\n",
     "layers['fc8'].prune.weight: unknown key 'keep'; allowed keys: ['pattern', 'density'] "
     "(line 2)"),
    ("N:M keeping all", "layers:\n  fc8: {prune: {weight: {pattern: 4:4}}}\n",
     "layers['fc8'].prune.weight.pattern '4:4' must keep N of every M with 1 <= N < M, e.g. "
     "\"2:4\" (line 2)"),
    ("unknown pattern", "layers:\n  fc8: {prune: {weight: {pattern: lottery}}}\n",
     f"layers['fc8'].prune.weight.pattern must be \"N:M\" (e.g. \"2:4\") or one of "
     f"{PATTERNS}, not 'lottery' (line 2)"),
    ("density missing", "layers:\n  fc8:\n    prune:\n      weight: {pattern: block}\n",
     "layers['fc8'].prune.weight.density is required for pattern 'block' (the kept "
     "fraction, in (0, 1]) (line 4)"),
    ("zero block", "layers:\n  fc8: {prune: {weight: {pattern: block, density: 0.5, "
                   "block: [0, 4]}}}\n",
     "layers['fc8'].prune.weight.block must be two positive integers [rows, cols], not "
     "[0, 4] (line 2)"),
    ("sparsity given twice", "layers:\n  fc8:\n    density: {weight: 0.5}\n"
                             "    tensors: {weight: w.npy}\n",
     "layers['fc8']: density.weight and tensors.weight both set the weight sparsity; keep "
     "one (a tensor's density is measured from it) (line 2)"),
    ("tensor path", "layers:\n  fc8: {tensors: {weight: ''}}\n",
     "layers['fc8'].tensors.weight must be a .npy file path (relative to the YAML file), "
     "not '' (line 2)"),
    ("layers not a mapping", "layers: [fc8]\n",
     "layers must be a mapping of layer names or fnmatch patterns to entries, not ['fc8'] "
     "(line 1)"),
    ("duplicate key", "layers:\n  fc8: {rank: 2}\n  fc8: {rank: 3}\n",
     "layers.fc8: duplicate key 'fc8' at line 3 (first given at line 2); keep one"),
]


@pytest.mark.parametrize("text, message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_layer_config_is_one_line(tmp_path: Path, text: str, message: str) -> None:
    p = tmp_path / "lc.yaml"
    p.write_text(text)
    with pytest.raises(LayerConfigError) as err:
        load_layer_config(p)
    assert str(err.value) == f"{p}: {message}"


@pytest.mark.parametrize("name", ["unknown key, close match", "wrong bit width",
                                  "zero density", "duplicate key"])
def test_bad_layer_config_through_the_cli_exits_2(tmp_path: Path, name: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    _, text, message = next(c for c in CASES if c[0] == name)
    p = tmp_path / "lc.yaml"
    p.write_text(text)
    rc = main(["simulate", "--network", "alexnet", "--layer-config", str(p)])
    assert rc == 2
    assert capsys.readouterr().err == f"coforge: error: {p}: {message}\n"


def test_every_pattern_loads_to_its_spec(tmp_path: Path) -> None:
    p = tmp_path / "lc.yaml"
    p.write_text("defaults: {precision: {weight_bits: 4}}\nlayers:\n"
                 "  a: {prune: {weight: {pattern: 2:4}}}\n"
                 "  b: {prune: {weight: {pattern: kernel_row, keep: 2}}}\n"
                 "  c: {prune: {weight: {pattern: group, density: 0.5, group: 8}}}\n"
                 "  d: {prune: {input: {pattern: tile, density: 0.25, tile: [2, 3]}}}\n"
                 "  e: {prune: {weight: {pattern: block, density: 0.5}}, rank: null}\n")
    cfg = load_layer_config(p)
    assert cfg.defaults is not None and cfg.defaults.precision == {"weight_bits": 4}
    got = [(o.where, op, s.describe()) for o in cfg.layers for op, s in o.prune.items()]
    assert got == [("layers['a']", "weight", "2:4"), ("layers['b']", "weight", "kernel_row 2"),
                   ("layers['c']", "weight", "group 0.5 group 8"),
                   ("layers['d']", "input", "tile 0.25 tile [2, 3]"),
                   ("layers['e']", "weight", "block 0.5 block [4, 4]")]
