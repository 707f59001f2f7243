"""`coforge accuracy` end to end: accuracy.json, layer configs, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dataflows.dataset import shipped
from mapper.cli import main

MODEL = str(shipped("digits_cnn.onnx"))
DATA = str(shipped("digits_test.npz"))
CALIB = str(shipped("digits_calib.npz"))
REF = json.loads((Path(__file__).resolve().parents[1] / "data" / "ort_qdq_digits.json")
                 .read_text())["models"]["digits_cnn"]


def test_default_is_int8_per_channel_within_one_percent_of_float(tmp_path) -> None:
    assert main(["accuracy", "--onnx", MODEL, "--data", DATA, "--calib", CALIB,
                 "--out", str(tmp_path)]) == 0
    doc = json.loads((tmp_path / "accuracy.json").read_text())
    assert doc["samples"] == 540
    assert doc["float_top1"] == pytest.approx(REF["float_top1"])     # onnxruntime 1.32.0
    assert abs(doc["top1"] - doc["float_top1"]) <= 0.01
    assert [r["weight_bits"] for r in doc["layers"]] == [8, 8, 8]
    # digits CNN weights: 72 + 1152 + 2560 int8 bytes (hand arithmetic)
    assert doc["weight_bytes"] == 3784 and doc["float_weight_bytes"] == 4 * 3784


def test_layer_config_bits_prune_and_rank(tmp_path) -> None:
    lc = tmp_path / "lc.yaml"
    lc.write_text("defaults: {precision: {weight_bits: 4}}\n"
                  "layers:\n  conv2: {prune: {weight: {pattern: '2:4'}}}\n"
                  "  fc: {rank: 4, precision: {weight_bits: 8}}\n")
    assert main(["accuracy", "--onnx", MODEL, "--data", DATA, "--calib", CALIB,
                 "--layer-config", str(lc), "--out", str(tmp_path)]) == 0
    doc = json.loads((tmp_path / "accuracy.json").read_text())
    rows = {r["layer"]: r for r in doc["layers"]}
    assert set(rows) == {"conv1", "conv2", "fc.lr0", "fc.lr1"}
    assert rows["conv2"]["density"] <= 0.5 and rows["conv2"]["prune"] == "2:4"
    assert rows["fc.lr0"]["rank"] == 4 and rows["fc.lr0"]["weight_shape"] == [4, 256]
    # 72 * 4/8 + 1152 * 4/8 + (4 * 256 + 10 * 4) * 8/8 bytes
    assert doc["weight_bytes"] == 36 + 576 + 1064


@pytest.mark.parametrize("make,needle", [
    (lambda x, y: (x, y + 10), "label"),
    (lambda x, y: (np.where(x > 0.5, np.nan, x), y), "finite"),
    (lambda x, y: (x[:, :, :4, :4], y), "shape"),
])
def test_bad_data_is_one_line_exit_2(tmp_path, capsys, make, needle) -> None:
    with np.load(DATA) as d:
        x, y = make(d["x"], d["y"])
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=x, y=y)
    assert main(["accuracy", "--onnx", MODEL, "--data", str(bad), "--calib", CALIB,
                 "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "bad.npz" in err and needle in err.lower(), err


def test_layer_config_matching_no_layer_is_one_line_exit_2(tmp_path, capsys) -> None:
    lc = tmp_path / "lc.yaml"
    lc.write_text("layers:\n  conv9: {precision: {weight_bits: 4}}\n")
    assert main(["accuracy", "--onnx", MODEL, "--data", DATA, "--layer-config", str(lc),
                 "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "conv9" in err and "conv1, conv2, fc" in err
