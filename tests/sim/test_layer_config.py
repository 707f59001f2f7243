"""``sim.layer_config`` and ``coforge simulate --layer-config``: exact effects of per-layer
bits, densities, pruning patterns and .npy tensors, and one one-line error per rule.

The two-layer network ``t`` (layers ``a``: 16 -> 32 channels and ``b``: 32 -> 32, both
3x3 on a padded 8x8 map, so ``P = Q = 8``) is small enough to hand-count:

* ``b``'s weights are ``32 x 32 x 3 x 3 = 9216`` elements, read from DRAM once;
* on an 8x8 WS array ``b`` lowers to ``Sr = 64`` pixels, ``T = 288`` reduction rows and
  ``Sc = 32`` filters: ``288 / 8 = 36`` reduction folds x ``32 / 8 = 4`` filter folds =
  144 passes of ``2R + C - 1 = 23`` fill/drain + 64 streamed pixels = ``144 x 87 =
  12528`` compute cycles (native timing).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from dataflows.layer import conv, gemm
from dataflows.network import Network
from mapper.cli import main
from sim.layer_config import (LayerConfigError, apply_layer_config, configure,
                              load_layer_config)
from sim.simulate import simulate
from sim.sparse import prune_nm
from sim.spec import Accelerator, Buffer, SparseConfig
from sim.spec_io import load_accelerator

def net() -> Network:
    return Network.chain("t", [conv("a", in_ch=16, out_ch=32, in_hw=8, kernel=3, padding=1),
                               conv("b", in_ch=32, out_ch=32, in_hw=8, kernel=3, padding=1)])


def unlimited(policy: str = "skipping", fmt: str = "bitmap") -> Accelerator:
    """8x8 WS, buffers large and unlimited in bandwidth: nothing stalls on memory."""
    return Accelerator(name="u8", rows=8, cols=8, dataflow="ws",
                       glb=(Buffer("glb", capacity_bytes=1 << 22),),
                       sparse=SparseConfig(policy=policy, operands=("weight",), format=fmt))


def write(tmp_path: Path, text: str, name: str = "lc.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


# -- precision and density ------------------------------------------------------------------
def test_4_bit_weights_halve_that_layers_weight_dram_bytes(tmp_path: Path) -> None:
    """9216 weights of b: 9216 bytes at 8 bits, 4608 at 4; layer a is untouched."""
    cfg = write(tmp_path, "layers:\n  b: {precision: {weight_bits: 4}}\n")
    conf = configure(cfg, net())
    assert conf.network["b"].precision.weight_bits == 4
    assert conf.network["a"].precision.weight_bits == 8 and conf.tensors == {}
    accel = load_accelerator("edge_8x8_ws")
    base, low = simulate(net(), accel), simulate(conf.network, accel)
    assert [r.bytes["dram"]["weight"]["reads"] for r in base.layers] == [4608, 9216]
    assert [r.bytes["dram"]["weight"]["reads"] for r in low.layers] == [4608, 4608]
    assert low.layers[0] == base.layers[0]


def test_defaults_then_entries_in_file_order_later_wins(tmp_path: Path) -> None:
    cfg = write(tmp_path, """
defaults: {precision: {input_bits: 4, weight_bits: 4}, density: {input: 0.9}}
layers:
  "*": {precision: {weight_bits: 2}, density: {weight: 0.5}}
  b: {precision: {weight_bits: 8}, density: {weight: 0.25}}
""")
    n = configure(cfg, net()).network
    assert [(la.precision.input_bits, la.precision.weight_bits, la.precision.output_bits)
            for la in n.layers()] == [(4, 2, 8), (4, 8, 8)]
    assert [(la.density.input, la.density.weight) for la in n.layers()] == \
        [(0.9, 0.5), (0.9, 0.25)]


def test_patterns_match_zoo_layer_names(tmp_path: Path) -> None:
    from dataflows import zoo
    cfg = write(tmp_path, 'layers:\n  "layer1.*": {precision: {weight_bits: 4, '
                          'input_bits: 4}}\n  "layer1.1.conv?": {precision: {input_bits: 8}}\n')
    n = configure(cfg, zoo.load("resnet18")).network
    bits = {la.name: (la.precision.weight_bits, la.precision.input_bits) for la in n.layers()}
    assert bits["layer1.0.conv1"] == bits["layer1.0.conv2"] == (4, 4)
    assert bits["layer1.1.conv1"] == bits["layer1.1.conv2"] == (4, 8)
    assert bits["conv1"] == bits["layer2.0.conv1"] == bits["fc"] == (8, 8)


# -- pruning patterns and tensors -----------------------------------------------------------
def test_2_4_pruned_layer_on_a_skipping_array_halves_its_compute(tmp_path: Path) -> None:
    """2:4 leaves exactly 144 of 288 weights per filter: every column needs
    ceil(144 / 8) = 18 of the 36 reduction folds -> 72 passes x 87 = 6264 cycles, no
    imbalance; MAC energy halves; layer a is unchanged."""
    cfg = write(tmp_path, 'layers:\n  b: {prune: {weight: {pattern: "2:4"}}}\n')
    conf = configure(cfg, net())
    w = conf.tensors["b"]["weight"]
    assert w.shape == (32, 32, 3, 3) and np.count_nonzero(w) == 4608
    assert conf.network["b"].density.weight == 0.5
    assert conf.sources == {"b": {"weight": "2:4 of random(seed 0)"}}
    assert conf.origins == {"b": {"weight": "layers['b']"}}
    accel = unlimited()
    dense = simulate(net(), accel, fidelity="cycle")
    sparse = simulate(conf.network, accel, fidelity="cycle", tensors=conf.tensors)
    assert [(r.compute_cycles, r.stall_cycles) for r in dense.layers] == [(6264, 0), (12528, 0)]
    assert [(r.compute_cycles, r.stall_cycles) for r in sparse.layers] == [(6264, 0), (6264, 0)]
    assert sparse.layers[1].energy_pj_by_level["mac"] == pytest.approx(
        dense.layers[1].energy_pj_by_level["mac"] / 2, rel=1e-12)
    gated = simulate(conf.network, unlimited("gating"), fidelity="cycle", tensors=conf.tensors)
    assert gated.layers[1].total_cycles == 12528


def test_unquoted_2_4_is_the_pattern_not_base_60(tmp_path: Path) -> None:
    """YAML 1.1 reads a bare 2:4 as 2 * 60 + 4 = 124; the loader keeps it as "2:4"."""
    cfg = write(tmp_path, "layers:\n  b: {prune: {weight: {pattern: 2:4}}}\n")
    spec = load_layer_config(cfg).layers[0].prune["weight"]
    assert (spec.pattern, spec.n, spec.m) == ("nm", 2, 4)


def test_random_tensors_are_seeded_per_layer_and_operand(tmp_path: Path) -> None:
    """Same seed, same tensors; another seed, other tensors; magnitude keeps exactly
    round(0.25 * 9216) = 2304 weights of b and round(0.5 * 2048) = 1024 inputs of b."""
    cfg = load_layer_config(write(tmp_path, """
layers:
  "*":
    prune:
      weight: {pattern: magnitude, density: 0.25}
      input: {pattern: magnitude, density: 0.5}
"""))
    one, again, other = (apply_layer_config(cfg, net(), seed=s).tensors for s in (0, 0, 1))
    for name in ("a", "b"):
        for op in ("weight", "input"):
            assert np.array_equal(one[name][op], again[name][op])
            assert not np.array_equal(one[name][op], other[name][op])
    assert np.count_nonzero(one["b"]["weight"]) == 2304
    assert np.count_nonzero(one["b"]["input"]) == 1024
    assert one["b"]["input"].shape == (1, 32, 8, 8)


def test_a_pattern_that_keeps_nothing_is_an_error(tmp_path: Path) -> None:
    """Row pruning works on the 2-D view's rows: an input with N = 1 has one row, and
    round(0.4 * 1) = 0 keeps none of it."""
    cfg = write(tmp_path, "layers:\n  b: {prune: {input: {pattern: row, density: 0.4}}}\n")
    with pytest.raises(LayerConfigError, match=re.escape(
            f"{cfg}: layers['b']: the input tensor of layer 'b' (row 0.4 of random(seed 0)) "
            f"is all zeros; keep some nonzeros (density in (0, 1])")):
        configure(cfg, net())


def test_block_and_row_patterns(tmp_path: Path) -> None:
    """row 0.25 keeps 8 of b's 32 filters; block [4, 4] 0.5 keeps 288 of 576 blocks of
    its 32 x 288 view; magnitude on the input keeps round(0.5 * 2048) = 1024."""
    conf = configure(write(tmp_path, """
layers:
  a: {prune: {weight: {pattern: row, density: 0.25}, input: {pattern: magnitude, density: 0.5}}}
  b: {prune: {weight: {pattern: block, block: [4, 4], density: 0.5}}}
"""), net())
    wa = conf.tensors["a"]["weight"]
    assert (wa.reshape(32, -1) != 0).any(axis=1).sum() == 8
    assert np.count_nonzero(wa) == 8 * 16 * 9
    assert np.count_nonzero(conf.tensors["a"]["input"]) == 512
    blocks = (conf.tensors["b"]["weight"].reshape(32, 288) != 0).reshape(8, 4, 72, 4)
    assert blocks.any(axis=(1, 3)).sum() == 288 and blocks.all(axis=(1, 3)).sum() == 288
    assert conf.network["a"].density.input == 0.5
    assert conf.network["a"].density.weight == 0.25


def test_npy_tensors_relative_to_the_yaml_and_pruned_when_asked(tmp_path: Path) -> None:
    """A GEMM's weight may be given as K x C (here 8 x 32) and its input as A (16 x 32);
    prune 2:4 applies to the file's values (not to a random tensor)."""
    sub = tmp_path / "t"
    sub.mkdir()
    w = np.arange(1, 8 * 32 + 1, dtype=np.int64).reshape(8, 32)
    a = np.random.default_rng(5).integers(-3, 4, size=(16, 32))
    np.save(sub / "w.npy", w)
    np.save(sub / "a.npy", a)
    cfg = write(sub, 'layers:\n  g: {tensors: {weight: w.npy, input: a.npy}, '
                     'prune: {weight: {pattern: "2:4"}}}\n')
    g = Network.chain("g", [gemm("g", M=16, N=8, K=32)])
    conf = configure(cfg, g)
    assert np.array_equal(conf.tensors["g"]["weight"].reshape(8, 32), prune_nm(w, 2, 4))
    assert np.array_equal(conf.tensors["g"]["input"].reshape(32, 16), a.T)
    assert conf.network["g"].density.input == np.count_nonzero(a) / a.size
    assert conf.sources["g"] == {"weight": "2:4 of w.npy", "input": "a.npy"}


def test_later_density_replaces_an_earlier_tensor_and_vice_versa(tmp_path: Path) -> None:
    conf = configure(write(tmp_path, """
layers:
  "*": {prune: {weight: {pattern: "2:4"}}}
  a: {density: {weight: 0.75}}
  b: {density: {weight: 0.75}}
  "[b]": {prune: {weight: {pattern: "1:4"}}}
"""), net())
    assert set(conf.tensors) == {"b"}
    assert conf.network["a"].density.weight == 0.75
    assert np.count_nonzero(conf.tensors["b"]["weight"]) == 9216 // 4
    assert conf.origins["b"]["weight"] == "layers['[b]']"


# -- errors ---------------------------------------------------------------------------------
@pytest.mark.parametrize("text,message", [
    ("bits: 4\n", "top level: unknown key 'bits'; allowed keys: ['defaults', 'layers']"),
    ("layers:\n  b: {bits: 4}\n", "layers['b']: unknown key 'bits'; allowed keys: "
     "['precision', 'density', 'prune', 'rank', 'tensors']"),
    ("defaults: {tensors: {weight: w.npy}}\n", "defaults: unknown key 'tensors'; allowed "
     "keys: ['precision', 'density', 'prune']"),
    ("layers:\n  b: {precision: {weight: 4}}\n", "layers['b'].precision: unknown key "
     "'weight'; allowed keys: ['input_bits', 'weight_bits', 'output_bits']"),
    ("layers:\n  b: {precision: 4}\n", "layers['b'].precision must be a mapping of keys to "
     "values, not int (line 2)"),
    ("layers:\n  b: {precision: {weight_bits: 3}}\n", "layers['b'].precision.weight_bits "
     "must be one of [2, 4, 8, 16, 32], not 3"),
    ("layers:\n  b: {precision: {weight_bits: '8'}}\n", "layers['b'].precision.weight_bits "
     "must be one of [2, 4, 8, 16, 32], not '8'"),
    ("layers:\n  b: {density: {weight: 0}}\n", "layers['b'].density.weight must be a number "
     "in (0, 1], not 0"),
    ("layers:\n  b: {density: {weight: 1.5}}\n", "layers['b'].density.weight must be a "
     "number in (0, 1], not 1.5"),
    ("layers:\n  b: {density: {output: 0.5}}\n", "layers['b'].density: unknown key 'output'; "
     "allowed keys: ['weight', 'input']"),
    ("layers:\n  b: {prune: {weight: {pattern: 4:2}}}\n", "layers['b'].prune.weight.pattern "
     "'4:2' must keep N of every M with 1 <= N < M, e.g. \"2:4\""),
    ("layers:\n  b: {prune: {weight: {pattern: lottery}}}\n", "layers['b'].prune.weight."
     "pattern must be \"N:M\" (e.g. \"2:4\") or one of "
     "['magnitude', 'block', 'row', 'kernel_row', 'group', 'tile'], not 'lottery'"),
    ("layers:\n  b: {prune: {weight: {density: 0.5}}}\n", "layers['b'].prune.weight.pattern "
     "is required"),
    ("layers:\n  b: {prune: {weight: {pattern: magnitude}}}\n", "layers['b'].prune.weight."
     "density is required for pattern 'magnitude' (the kept fraction, in (0, 1])"),
    ("layers:\n  b: {prune: {weight: {pattern: '2:4', density: 0.5}}}\n", "layers['b']."
     "prune.weight: unknown key 'density'; allowed keys: ['pattern']"),
    ("layers:\n  b: {prune: {weight: {pattern: row, density: 0.5, block: [2, 2]}}}\n",
     "layers['b'].prune.weight: unknown key 'block'; allowed keys: ['pattern', 'density']"),
    ("layers:\n  b: {prune: {weight: {pattern: block, density: 0.5, block: [4]}}}\n",
     "layers['b'].prune.weight.block must be two positive integers [rows, cols], not [4]"),
    ("layers:\n  b: {density: {weight: 0.5}, prune: {weight: {pattern: '2:4'}}}\n",
     "layers['b']: density.weight and prune.weight both set the weight sparsity; keep one"),
    ("layers:\n  b: {tensors: {weight: 3}}\n", "layers['b'].tensors.weight must be a .npy "
     "file path (relative to the YAML file), not 3"),
    ("layers:\n  b: {}\n  b: {}\n", "layers.b: duplicate key 'b' at line 3 (first given at "
     "line 2); keep one"),
    ("layers: [b\n", "malformed YAML at line 2, column 1: expected ',' or ']', but got "
     "'<stream end>'; give a YAML layer config (schema in sim/layer_config.py)"),
])
def test_schema_errors_name_file_key_and_fix(tmp_path: Path, text: str, message: str) -> None:
    cfg = write(tmp_path, text)
    with pytest.raises(LayerConfigError) as err:
        configure(cfg, net())
    assert str(err.value).startswith(f"{cfg}: ")
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_names_and_patterns_that_match_nothing(tmp_path: Path) -> None:
    cfg = write(tmp_path, "layers:\n  conv9: {precision: {weight_bits: 4}}\n")
    with pytest.raises(LayerConfigError, match=re.escape(
            f"{cfg}: layers['conv9']: name 'conv9' matches no compute layer of 't' "
            f"(e.g. ['a', 'b']); use a name from `coforge zoo show` or an fnmatch pattern "
            f"such as 'layer1.*'")):
        configure(cfg, net())
    cfg = write(tmp_path, "layers:\n  \"layer1.*\": {precision: {weight_bits: 4}}\n")
    with pytest.raises(LayerConfigError, match=re.escape(
            f"{cfg}: layers['layer1.*']: pattern 'layer1.*' matches no compute layer")):
        configure(cfg, net())


def test_npy_errors(tmp_path: Path) -> None:
    (tmp_path / "bad.npy").write_text("not numpy")
    np.save(tmp_path / "w.npy", np.ones((32, 16, 3, 3)))
    np.save(tmp_path / "z.npy", np.zeros((32, 32, 3, 3)))
    cases = [
        ("missing.npy", f"layers['b'].tensors.weight: no such file "
                        f"{str(tmp_path / 'missing.npy')!r}; give a .npy path relative to "
                        f"the YAML file"),
        ("bad.npy", f"layers['b'].tensors.weight: cannot read {str(tmp_path / 'bad.npy')!r} "
                    f"as a .npy array ("),
        ("w.npy", "layers['b'].tensors.weight: w.npy has shape (32, 16, 3, 3) but layer 'b' "
                  "needs (32, 32, 3, 3)"),
        ("z.npy", "layers['b']: the weight tensor of layer 'b' (z.npy) is all zeros; keep "
                  "some nonzeros"),
    ]
    for name, message in cases:
        cfg = write(tmp_path, f"layers:\n  b: {{tensors: {{weight: {name}}}}}\n")
        with pytest.raises(LayerConfigError) as err:
            configure(cfg, net())
        assert str(err.value).startswith(f"{cfg}: {message}"), str(err.value)


def test_bad_seed(tmp_path: Path) -> None:
    cfg = load_layer_config(write(tmp_path, "layers: {}\n"))
    with pytest.raises(LayerConfigError, match=re.escape(
            "seed (--seed) must be an integer >= 0, not -1")):
        apply_layer_config(cfg, net(), seed=-1)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(LayerConfigError, match=re.escape(
            f"{tmp_path / 'no.yaml'}: no such file; give the layer-config YAML path")):
        load_layer_config(tmp_path / "no.yaml")


# -- the CLI --------------------------------------------------------------------------------
TOPOLOGY = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, " \
           "Num Filter, Strides,\na, 10, 10, 3, 3, 16, 32, 1,\nb, 10, 10, 3, 3, 32, 32, 1,\n"
SPEC = """name: u8
dataflow: ws
array: {rows: 8, cols: 8}
glb: {capacity_bytes: 4194304, read_bytes_per_cycle: .inf, write_bytes_per_cycle: .inf}
dram: {read_bytes_per_cycle: .inf, write_bytes_per_cycle: .inf}
sparse: {policy: skipping, operands: [weight], format: bitmap}
"""


def test_cli_2_4_layer_reports_the_cycle_drop(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """The SCALE-Sim topology's unpadded 10x10 inputs give the same 8x8 outputs as ``t``:
    b drops from 12528 to 6264 compute cycles; the same --seed reproduces the run."""
    topo = write(tmp_path, TOPOLOGY, "t.csv")
    spec = write(tmp_path, SPEC, "u8.yaml")
    cfg = write(tmp_path, 'layers:\n  b: {prune: {weight: {pattern: "2:4"}}}\n')
    base = ["simulate", "--topology", str(topo), "--arch", str(spec), "--fidelity", "cycle"]
    assert main(base + ["--out", str(tmp_path / "d")]) == 0
    assert main(base + ["--layer-config", str(cfg), "--out", str(tmp_path / "s")]) == 0
    assert main(base + ["--layer-config", str(cfg), "--seed", "0",
                        "--out", str(tmp_path / "s0")]) == 0
    capsys.readouterr()
    dense, sparse, again = (json.loads((tmp_path / d / "result.json").read_text())
                            for d in ("d", "s", "s0"))
    assert [la["compute_cycles"] for la in dense["layers"]] == [6264, 12528]
    assert [la["compute_cycles"] for la in sparse["layers"]] == [6264, 6264]
    assert sparse["totals"]["total_cycles"] == 12528
    assert again["layers"] == sparse["layers"]
    # bitmap: d * 8 + 1 bits per weight: 9 dense (9216 * 9 / 8 = 10368 bytes), 5 at 2:4
    assert dense["layers"][1]["bytes"]["dram"]["weight"]["reads"] == 10368
    assert sparse["layers"][1]["bytes"]["dram"]["weight"]["reads"] == 5760


def test_cli_tensors_need_cycle_fidelity(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    topo = write(tmp_path, TOPOLOGY, "t.csv")
    cfg = write(tmp_path, 'layers:\n  b: {prune: {weight: {pattern: "2:4"}}}\n')
    assert main(["simulate", "--topology", str(topo), "--layer-config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert err == (f"coforge: error: {cfg}: layers['b'] gives layer 'b' a weight tensor "
                   f"(prune/tensors), which needs --fidelity cycle (the analytic model uses "
                   f"statistical densities: give density: instead)\n")


def test_cli_bad_layer_config_is_one_line(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    topo = write(tmp_path, TOPOLOGY, "t.csv")
    cfg = write(tmp_path, "layers:\n  b: {precision: {weight_bits: 3}}\n")
    assert main(["simulate", "--topology", str(topo), "--layer-config", str(cfg)]) == 2
    assert capsys.readouterr().err == (f"coforge: error: {cfg}: layers['b'].precision."
                                       f"weight_bits must be one of [2, 4, 8, 16, 32], not 3 "
                                       f"(line 2)\n")
    cfg = write(tmp_path, "layers:\n  b: {precision: {weight_bits: 4}}\n")
    assert main(["simulate", "--topology", str(topo), "--layer-config", str(cfg)]) == 0
    assert "b " in capsys.readouterr().out
