"""benchmarks/bench_peers.py's coforge side on the recorded peer runs: table structure and
invariants (no timing assertions; the peers themselves are not run).

Expected values are hand arithmetic on the layer shapes and on the recorded peer numbers
(``tests/data/accelforge_1.0.467/ws_16x16.json``, ``tests/data/zigzag_3.9.1_tpu_like.json``).
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


def test_touched_rows_by_hand() -> None:
    # 1x1 stride 2 over 56 rows: rows 0, 2, ..., 54 -> 28; 3x3 pad 1 stride 1: all 56;
    # 7x7 stride 2 pad 3 over 224 (ResNet conv1): rows -3..223+... -> all 224
    assert bp._touched(28, 1, 2, 1, 0, 56) == 28
    assert bp._touched(56, 3, 1, 1, 1, 56) == 56
    assert bp._touched(112, 7, 2, 1, 3, 224) == 224


@pytest.fixture(scope="module")
def af_arch() -> dict:
    rec = json.loads((bp.AF_DIR / "ws_16x16.json").read_text())
    rec["layers"] = [r for r in rec["layers"] if r["layer"] == "conv2_1a"]
    return bp.accelforge_arch("ws_16x16", rec, "recorded", max_evals=2000)


def test_accelforge_row(af_arch: dict) -> None:
    assert af_arch["source"] == "recorded" and af_arch["energy_unit"] == "pJ"
    assert af_arch["latency_unit"] == "cycles"
    (row,) = af_arch["layers"]
    a, c, q = row["accelforge"], row["coforge"], row["ratio"]
    # AccelForge's MainMemory actions (8-bit): I 200,704 read, O 200,704 written, W 4,096
    assert a["dram_bits"] == (200704 + 200704 + 4096) * 8
    assert a["energy_pj"] == 89823656                      # the recorded total
    # compulsory: W 64x64, I 56x56x64, O 56x56x64, 8 bits each
    assert c["compulsory_dram_bits"] == (4096 + 200704 + 200704) * 8
    assert c["dram_bits"] >= c["compulsory_dram_bits"] and c["legal"]
    assert q["energy"] == c["energy_pj"] / a["energy_pj"]
    assert q["dram"] == c["dram_bits"] / a["dram_bits"]
    assert q["speedup"] == a["wall_s"] / c["wall_s"]
    assert q["speedup_exact"] == a["wall_s"] / c["exact_wall_s"]
    assert 0 < c["exact_wall_s"] < c["wall_s"]           # the exact half is part of the whole
    assert c["evaluations"] <= 2000                      # search_factors on --max-evals
    ex = row["coforge_exact_factors"]                    # AccelForge's space: perfect factors
    assert ex["legal"] and c["energy_pj"] <= ex["energy_pj"] * (1 + 1e-12)
    assert q["energy_exact"] == ex["energy_pj"] / a["energy_pj"]
    text = bp.accelforge_table(af_arch)
    assert "conv2_1a" in text and "recorded AccelForge run" in text


def test_zigzag_pair_structure() -> None:
    peer = bp.zigzag_record("tpu_like", "resnet18")
    pair = bp.zigzag_pair("tpu_like", "resnet18", peer, "recorded", max_evals=1000)
    rows = pair["layers"]
    assert [r["zigzag_layer"] for r in rows] == [x["name"] for x in peer["layers"]]
    assert len(rows) == 21 and pair["timing"]["coforge"]["searches"] == 12
    conv1 = rows[0]
    assert conv1["layer"] == "conv1"
    # conv1: W 64x3x7x7 = 9,408; I 3x224x224 = 150,528; O 64x112x112 = 802,816
    assert conv1["coforge"]["compulsory_dram_bits"] == (9408 + 150528 + 802816) * 8
    for r in rows:
        c, z = r["coforge"], r["zigzag"]
        assert c["dram_bits"] >= c["compulsory_dram_bits"] and c["legal"]
        assert r["ratio"]["energy"] == c["energy_pj"] / z["energy_pj"]
        assert r["ratio"]["latency"] == c["latency_cycles"] / z["latency_cycles"]
    tot = pair["totals"]
    assert tot["energy_pj"]["zigzag"] == sum(x["energy_pj"] for x in peer["layers"])
    assert tot["latency_cycles"]["coforge"] == sum(r["coforge"]["latency_cycles"] for r in rows)
    assert pair["ratio"]["dram_bits"] == tot["dram_bits"]["coforge"] / tot["dram_bits"]["zigzag"]
    t = pair["timing"]
    assert t["speedup_per_layer"] == (peer["wall_s"] / 21) / t["coforge"]["per_search_wall_s"]
    assert bp.invariant_errors([pair], []) == []
    verdicts = bp.targets([pair], [])
    assert [v["verdict"] for v in verdicts[:2]] == ["not measured", "not measured"]
    assert verdicts[4]["verdict"].startswith("not measured")      # a recorded ZigZag run


def test_targets_from_numbers(af_arch: dict) -> None:
    """The verdicts follow the printed ratios (a live-labelled copy of the row)."""
    arch = dict(af_arch, source="live")
    e, d, sx, s, _ = bp.targets([], [arch])
    (row,) = arch["layers"]
    q = row["ratio"]
    assert e["verdict"] == ("PASS" if abs(q["energy_exact"] - 1) <= 0.02 else "MISS")
    assert d["verdict"] == ("PASS" if max(q["dram"], q["dram_exact"]) <= 1 else "MISS")
    assert s["value"] == row["ratio"]["speedup"]
    assert s["verdict"] == ("PASS" if row["ratio"]["speedup"] >= 100 else "MISS")
    assert sx["value"] == row["ratio"]["speedup_exact"] and "exact-factor" in sx["target"]
    assert sx["verdict"] == ("PASS" if row["ratio"]["speedup_exact"] >= 100 else "MISS")


def test_zoo_mismatch_is_an_error() -> None:
    peer = bp.zigzag_record("tpu_like", "resnet18")
    bad = [dict(peer["layers"][0], macs=1)] + peer["layers"][1:]
    with pytest.raises(bp.BenchError, match="no zoo layer matches"):
        bp.zoo_layers("resnet18", bad)
