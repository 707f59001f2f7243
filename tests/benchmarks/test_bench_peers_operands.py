"""benchmarks/bench_peers.py's DRAM traffic per operand (AccelForge's and coforge's side of
the ws_16x16 rows), on the recorded AccelForge run (``tests/data/accelforge_1.0.467``).

Expected values are hand arithmetic on the ResNet-50 layer shapes: AccelForge's einsum
``H: p*stride + r`` spans the padded rows, and its MainMemory moves 8-bit values.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("bench_peers", ROOT / "benchmarks" /
                                               "bench_peers.py")
bp = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bp)                    # type: ignore[union-attr]


def _records() -> dict[str, dict]:
    rec = json.loads((bp.AF_DIR / "ws_16x16.json").read_text())
    return {r["layer"]: r for r in rec["layers"]}


def test_accelforge_dram_per_operand_by_hand() -> None:
    """conv2_1b (3x3, stride 1, 64 -> 64 channels, 56x56 out): the padded input once,
    64 x 58 x 58; the weights once, 64 x 64 x 9; the outputs written once, 64 x 56 x 56.
    conv3_1b (3x3, stride 2, 128 -> 128, 28x28 out): input rows (28 - 1) x 2 + 3 = 57,
    128 x 57 x 57 read once; weights 128 x 128 x 9 read once; outputs 28 x 28 x 128 =
    100,352 written 4 times and read back 3 times (partial sums spilled at AccelForge's
    8 bits): 7 x 100,352. All 8 bits a value."""
    from mapper.accelforge_import import load_accelforge
    conv = load_accelforge(bp.AF_DIR / "ws_16x16.yaml")
    top = conv.hierarchy.levels[0].name
    recs = _records()
    assert bp.af_dram_op_bits(recs["conv2_1b"], conv, top) == {
        "input": 64 * 58 * 58 * 8, "weight": 64 * 64 * 9 * 8, "output": 64 * 56 * 56 * 8}
    got = bp.af_dram_op_bits(recs["conv3_1b"], conv, top)
    assert got == {"input": 128 * 57 * 57 * 8, "weight": 128 * 128 * 9 * 8,
                   "output": 7 * 28 * 28 * 128 * 8}
    for r in recs.values():
        assert sum(bp.af_dram_op_bits(r, conv, top).values()) == bp.af_dram_bits(r, conv, top)


@pytest.fixture(scope="module")
def row() -> dict:
    rec = json.loads((bp.AF_DIR / "ws_16x16.json").read_text())
    rec["layers"] = [r for r in rec["layers"] if r["layer"] == "conv2_1b"]
    return bp.accelforge_arch("ws_16x16", rec, "recorded", max_evals=2000)


def test_coforge_dram_per_operand(row: dict) -> None:
    """coforge's per-operand DRAM bits add up to its total, each at least the compulsory
    (weights 64 x 64 x 9 read, unpadded input 64 x 56 x 56 read, outputs written once),
    and the table prints both sides per operand."""
    (r,) = row["layers"]
    c = r["coforge"]
    by = c["dram_bits_by_operand"]
    assert sum(by.values()) == c["dram_bits"]
    assert by["weight"] >= 64 * 64 * 9 * 8 and by["input"] >= 64 * 56 * 56 * 8
    assert by["output"] >= 64 * 56 * 56 * 8
    # the bench's elements at the top level, x 8 bits, are the same traffic
    el = c["dram_elements"]
    assert by == {o: 8.0 * (el[o]["reads"] + el[o]["writes"]) for o in bp.OPS}
    text = bp.accelforge_table(row)
    assert "conv2_1b I 1722.4/" in text and "W 294.9/" in text
