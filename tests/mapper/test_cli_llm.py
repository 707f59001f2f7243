"""``coforge llm``: llm.json fields, plots, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dataflows.llm import kv_cache_bytes, load_config, weight_bytes, LLMQuant
from mapper.cli import main

FIELDS = {"parameters", "weight_bytes", "kv_cache_bytes", "peak_memory_bytes", "ttft_ms",
          "decode_tokens_per_s", "energy_per_token_mj", "breakdown", "coforge_version",
          "spec_hash", "kv_home", "decode_step_ms", "dram_roofline_tokens_per_s"}


def test_llm_writes_json_and_plots(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    rc = main(["llm", "--model", "tinyllama_1.1b", "--arch", "os_32x32", "--prompt-tokens",
               "32", "--gen-tokens", "8", "--weight-bits", "4", "--group-size", "64",
               "--act-bits", "8", "--kv-bits", "8", "--out", str(out)])
    assert rc == 0
    doc = json.loads((out / "llm.json").read_text())
    assert FIELDS <= set(doc)
    cfg = load_config("tinyllama_1.1b")
    assert doc["parameters"] == 1_100_048_384
    assert doc["weight_bytes"] == weight_bytes(cfg, LLMQuant(4, 8, 64, kv_bits=8))
    assert doc["kv_cache_bytes"] == kv_cache_bytes(cfg, 40, 8) == 2 * 22 * 4 * 64 * 40
    assert doc["quantization"]["group_size"] == 64 and doc["quant"] == "W4A8 g64 KV8"
    assert doc["decode_tokens_per_s"] <= max(doc["dram_roofline_tokens_per_s"])
    assert (out / "roofline.png").stat().st_size > 0
    assert (out / "decode_rate.png").stat().st_size > 0
    assert "tokens/s" in capsys.readouterr().out


def _one_line(rc: int, err: str, fragment: str) -> None:
    assert rc == 2
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("coforge: error: "), err
    assert fragment in lines[0], lines[0]


@pytest.mark.parametrize("argv,fragment", [
    (["--model", "gpt5"], "unknown LLM 'gpt5'; available: qwen2.5_0.5b"),
    ([], "give exactly one model: --model NAME or --hf-config FILE"),
    (["--model", "llama3.2_1b", "--hf-config", "x.json"], "give exactly one model"),
    (["--hf-config", "missing.json"], "missing.json: cannot read"),
])
def test_llm_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                       fragment: str) -> None:
    rc = main(["llm", *argv, "--prompt-tokens", "8", "--gen-tokens", "2",
               "--out", str(tmp_path / "o")])
    _one_line(rc, capsys.readouterr().err, fragment)


def test_llm_zero_tokens_is_a_usage_error(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["llm", "--model", "qwen2.5_0.5b", "--prompt-tokens", "0", "--gen-tokens", "2",
              "--out", str(tmp_path)])
    assert info.value.code == 2
    _one_line(2, capsys.readouterr().err, "must be a positive integer, not '0'")
