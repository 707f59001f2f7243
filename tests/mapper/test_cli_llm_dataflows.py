"""``coforge llm --compare-dataflows`` (issue 10 item 6): which dataflow suits decode.

WS GEMV bound by hand, from sim's native WS timing (``sim.timing``: per stationary
tile, ``2R + C - 1`` cycles of preload and skew/drain plus the stream) and the WS
mapping rule (``dataflows.mapping``: only the streamed dims P, Q, N may loop inside
the PE, the weight stays): a GEMV at batch 1 streams ``M = 1`` input row per weight
tile, so each tile does at most ``R x C`` MACs in at least ``1 + 2R + C - 1 = 2R + C``
cycles. Utilization ``<= 1 / (2R + C)``, which is ``<= 1/R``; on the 8x8 array
``1/24``. Stalls only lower it. Every Qwen2.5-0.5B GEMV dim (896, 128, 4864, 151936)
is a multiple of 8 and these layers are compute-bound there, so 1/24 is met exactly.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mapper.cli import main


def test_compare_dataflows_winner_and_ws_gemv_bound(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    rc = main(["llm", "--model", "qwen2.5_0.5b", "--arch", "edge_8x8_ws", "--prompt-tokens",
               "64", "--gen-tokens", "2", "--compare-dataflows", "--compare-evals", "150",
               "--out", str(out)])
    assert rc == 0
    rows = json.loads((out / "llm.json").read_text())["dataflows"]
    assert [r["dataflow"] for r in rows] == ["ws", "os", "is"]
    for r in rows:
        assert r["decode_step_cycles"] == min(r["decode_step_cycles_default"],
                                              r["decode_step_cycles_mapped"])
        assert 0 < r["gemv_utilization"] <= 1 and 0 < r["utilization"] <= 1
    text = capsys.readouterr().out
    won = re.search(r"decode suits (\w+): ", text)
    assert won, text
    cycles = [r["decode_step_cycles"] for r in rows]
    assert won.group(1) == rows[cycles.index(min(cycles))]["dataflow"]
    ws = rows[0]
    rows_, cols_ = 8, 8
    bound = 1 / (2 * rows_ + cols_)                          # 1/24
    assert bound <= 1 / rows_
    assert ws["gemv_utilization"] <= bound * (1 + 1e-12)
    assert ws["gemv_utilization"] == pytest.approx(bound, rel=1e-9)


def test_ws_default_gemv_cycles_by_hand() -> None:
    """The WS row's default cycles contain the hand count of the GEMVs: q_proj of
    Qwen2.5-0.5B at batch 1 is (896/8)^2 tiles x 24 cycles = 301,056 per layer."""
    from dataflows.llm import LLMQuant, decode_step_network, load_config
    from mapper.cli_llm import compare_dataflows
    from sim.simulate import simulate
    from sim.spec_io import load_accelerator
    cfg, accel = load_config("qwen2.5_0.5b"), load_accelerator("edge_8x8_ws")
    quant = LLMQuant(weight_bits=8, act_bits=8, kv_bits=8)
    net = decode_step_network(cfg, 16, 1, quant)
    res = simulate(net, accel)
    q = next(r for r in res.layers if r.layer == "layers.0.q_proj")
    assert q.total_cycles == 112 * 112 * 24 == 301_056
    # GEMVs per layer: q, o (896x896), k, v (128x896), gate, up, down (4864x896); plus
    # the LM head 151936x896: tiles x 24 cycles each (all compute-bound on this spec).
    gemv = cfg.layers * (2 * 112 * 112 + 2 * 16 * 112 + 3 * 608 * 112) + 18992 * 112
    rows = compare_dataflows(cfg, accel, 16, 1, quant, max_evals=50)
    att = sum(r.total_cycles for r in res.layers
              if r.vector_ops is None and r.layer.endswith(("scores", "context")))
    assert rows[0]["decode_step_cycles_default"] == 24 * gemv + att
