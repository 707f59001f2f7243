"""`coforge simulate --onnx M --layer-config LC` prunes the model's own weights (issue 9)."""

from __future__ import annotations

import json

import numpy as np

from dataflows.dataset import shipped
from dataflows.onnx_import import from_onnx
from dataflows.onnx_model import load_model, mac_nodes
from mapper.cli import main
from sim.layer_config import configure

MODEL = shipped("digits_cnn.onnx")


def test_pruned_tensors_are_the_model_weights_with_the_pattern_applied(tmp_path) -> None:
    lc = tmp_path / "lc.yaml"
    lc.write_text("layers:\n  conv2: {prune: {weight: {pattern: '2:4'}}}\n")
    weights = {n.layer_name: n.weight for n in mac_nodes(load_model(MODEL))}
    conf = configure(lc, from_onnx(MODEL), weights=weights)
    got = conf.tensors["conv2"]["weight"].reshape(16, -1)
    orig = weights["conv2"].reshape(16, -1)
    # 2:4 along the reduction: in every group of 4 the two largest |w| survive, unchanged
    for row_got, row in zip(got, orig):
        for g in range(0, row.size, 4):
            keep = np.argsort(-np.abs(row[g:g + 4]), kind="stable")[:2]
            want = np.zeros(4, dtype=np.float32)
            want[keep] = row[g:g + 4][keep]
            assert np.array_equal(row_got[g:g + 4], want)
    assert conf.sources["conv2"]["weight"] == "2:4 of model weights"


def test_cli_records_the_weight_source(tmp_path) -> None:
    lc = tmp_path / "lc.yaml"
    lc.write_text("layers:\n  fc: {prune: {weight: {pattern: magnitude, density: 0.25}}}\n")
    assert main(["simulate", "--onnx", str(MODEL), "--layer-config", str(lc), "--arch",
                 "edge_8x8_ws", "--fidelity", "cycle", "--out", str(tmp_path / "o")]) == 0
    doc = json.loads((tmp_path / "o" / "result.json").read_text())
    assert doc["run"]["tensor_sources"] == {"fc": {"weight": "magnitude 0.25 of model weights"}}
    weights = {n.layer_name: n.weight for n in mac_nodes(load_model(MODEL))}
    conf = configure(lc, from_onnx(MODEL), weights=weights)
    fc = next(layer for layer in conf.network.layers() if layer.name == "fc")
    assert fc.density.weight == 640 / 2560             # round(0.25 * 2560) kept
    kept = conf.tensors["fc"]["weight"].reshape(-1)
    w = weights["fc"].reshape(-1)
    assert np.abs(w[kept != 0]).min() >= np.abs(w[kept == 0]).max()   # the largest |w| kept


def test_layer_config_reaches_the_kernel_row_group_and_tile_patterns(tmp_path) -> None:
    lc = tmp_path / "lc.yaml"
    lc.write_text("layers:\n"
                  "  conv2: {prune: {weight: {pattern: kernel_row}}}\n"
                  "  fc: {prune: {weight: {pattern: group, density: 0.5, group: 8}}}\n"
                  "  conv1: {prune: {weight: {pattern: tile, density: 0.5, tile: [4, 1]}}}\n")
    weights = {n.layer_name: n.weight for n in mac_nodes(load_model(MODEL))}
    conf = configure(lc, from_onnx(MODEL), weights=weights)
    w2 = conf.tensors["conv2"]["weight"]                  # 16 x 8 x 3 x 3
    rows_kept = (w2 != 0).any(axis=3).sum(axis=2)        # kernel rows kept per (k, c)
    assert rows_kept.max() == 1
    fc = conf.tensors["fc"]["weight"].reshape(10, -1)    # 256 per row = 32 groups of 8
    groups = (fc.reshape(10, 32, 8) != 0).any(axis=2)
    assert groups.sum() == 160                           # round(0.5 * 320) groups kept
    assert np.array_equal((fc.reshape(10, 32, 8) != 0).all(axis=2), groups)  # whole groups
    c1 = conf.tensors["conv1"]["weight"].reshape(8, -1)  # tiles of 4 filters x 1 channel
    kept = [(c1[i:i + 4] != 0).any() for i in (0, 4)]
    assert kept.count(True) == 1                         # round(0.5 * 2) tiles
