"""LLM generation cost: rooflines, KV-cache home and traffic, context dependence, and
the decomposition (context-independent GEMVs once + interpolated attention) against
costing every decode step's whole network directly."""

from __future__ import annotations

from functools import lru_cache

import pytest

from dataflows.llm import (
    CONFIGS,
    DecoderConfig,
    LLMQuant,
    decode_step_network,
    kv_cache_bytes,
    scale_bytes,
    weight_bytes,
)
from sim.llm_cost import LLMCost, LLMCostError, cost_generation
from sim.simulate import simulate
from sim.spec_io import load_accelerator

TINY = DecoderConfig("tiny", layers=2, hidden=256, heads=4, kv_heads=2, ffn=512, vocab=1000,
                     tied_embeddings=True)
W8A8 = LLMQuant(weight_bits=8, act_bits=8, kv_bits=8)
W4A8 = LLMQuant(weight_bits=4, act_bits=8, group_size=128, kv_bits=8)


@lru_cache(maxsize=None)
def _qwen(spec: str, quant: LLMQuant = W8A8, prompt: int = 128, gen: int = 16) -> LLMCost:
    return cost_generation(CONFIGS["qwen2.5_0.5b"], load_accelerator(spec), prompt, gen,
                           quant=quant)


@pytest.mark.parametrize("spec", ["edge_8x8_ws", "os_32x32", "gemmini_16x16_ws"])
def test_decode_never_beats_the_rooflines(spec: str) -> None:
    c = _qwen(spec)
    for ms, dram, comp in zip(c.decode_step_ms, c.dram_roofline_tokens_per_s,
                              c.compute_roofline_tokens_per_s):
        rate = c.batch / (ms * 1e-3)
        assert rate <= dram * (1 + 1e-9) and rate <= comp * (1 + 1e-9)
    assert c.decode_tokens_per_s <= max(c.dram_roofline_tokens_per_s) * (1 + 1e-9)
    assert c.ttft_ms >= c.prefill_compute_bound_ms


def test_dram_roofline_by_hand() -> None:
    a = load_accelerator("os_32x32")
    c = _qwen("os_32x32")
    # A decode step reads every matrix once (tied: the embedding is the LM head) at 8
    # bits plus one 16-bit scale per output row, and the K/V cache of the context.
    cfg = CONFIGS["qwen2.5_0.5b"]
    vectors = 24 * (2 * 896 + 896 + 2 * 128) + 896
    step_bytes = (494_032_768 - vectors) + scale_bytes(cfg, W8A8)
    kv = 2 * 24 * 2 * 64 * 128 * 1                                  # 128 cached, 8-bit
    bw = a.dram.read_bytes_per_cycle * a.clock_mhz * 1e6
    assert c.dram_roofline_tokens_per_s[0] == pytest.approx(bw / (step_bytes + kv), rel=1e-12)
    assert c.kv_read_bytes_per_step[0] == kv
    # An array large enough to be memory-bound decodes within 10 % of the roofline.
    assert c.decode_tokens_per_s >= 0.9 * min(c.dram_roofline_tokens_per_s)


def test_prefill_compute_bound_by_hand() -> None:
    a = load_accelerator("os_32x32")
    c = _qwen("os_32x32")
    from dataflows.llm import prefill_network
    macs = prefill_network(CONFIGS["qwen2.5_0.5b"], 128).total_macs
    assert c.prefill_compute_bound_ms == pytest.approx(macs / (1024 * a.clock_mhz * 1e3))


def test_longer_context_decodes_slower() -> None:
    a = load_accelerator("os_32x32")
    c = cost_generation(TINY, a, 64, 64, quant=W8A8)
    steps = c.decode_step_ms
    assert all(b >= x for x, b in zip(steps, steps[1:])) and steps[-1] > steps[0]
    long = cost_generation(TINY, a, 2048, 64, quant=W8A8)
    assert long.decode_tokens_per_s < c.decode_tokens_per_s


def test_steps_equal_whole_step_networks_costed_directly() -> None:
    # samples >= G: every step's attention is costed; the context-independent GEMVs once.
    # The sum must equal costing each decode step's full network (plus the scales' DRAM
    # transfer, which the layer model does not see).
    a = load_accelerator("edge_8x8_ws")
    p, g = 40, 4
    c = cost_generation(TINY, a, p, g, quant=W8A8, samples=g)
    scales = scale_bytes(TINY, W8A8) / a.dram.read_bytes_per_cycle
    for s, ms in enumerate(c.decode_step_ms):
        direct = simulate(decode_step_network(TINY, p + s, quant=W8A8), a).total_cycles
        assert ms == pytest.approx((direct + scales) / (a.clock_mhz * 1e3), rel=1e-12)
    assert c.attention_samples == (41, 42, 43, 44)


def test_interpolation_error_is_reported_and_small() -> None:
    a = load_accelerator("edge_8x8_ws")
    exact = cost_generation(TINY, a, 100, 32, quant=W8A8, samples=32)
    fast = cost_generation(TINY, a, 100, 32, quant=W8A8, samples=5)
    assert len(fast.attention_samples) == 5 and fast.attention_samples[0] == 101
    worst = max(abs(x - y) / y for x, y in zip(fast.decode_step_ms, exact.decode_step_ms))
    assert worst <= 0.02
    assert fast.attention_interpolation_error >= 0.0


def test_kv_cache_home_and_traffic() -> None:
    a = load_accelerator("gemmini_16x16_ws")           # 256 KiB scratchpad holds weights
    small = cost_generation(TINY, a, 16, 8, quant=W8A8)
    # 2 x 2 layers x 2 kv heads x 64 x 24 tokens x 1 byte = 12288 B: fits on chip.
    assert small.kv_cache_bytes == kv_cache_bytes(TINY, 24, 8) == 12_288
    assert small.kv_home == "glb"
    assert small.kv_read_bytes_per_step == (0,) * 8 and small.kv_write_bytes_per_step == 0
    big = cost_generation(TINY, a, 4000, 8, quant=W8A8)
    assert big.kv_home == "dram"
    assert big.kv_read_bytes_per_step == tuple(kv_cache_bytes(TINY, 4000 + s, 8)
                                               for s in range(8))
    assert big.kv_write_bytes_per_step == kv_cache_bytes(TINY, 1, 8) == 512


def test_record_fields() -> None:
    c = _qwen("os_32x32")
    cfg = CONFIGS["qwen2.5_0.5b"]
    assert c.parameters == 494_032_768
    assert c.weight_bytes == weight_bytes(cfg, W8A8)
    assert c.kv_cache_bytes == kv_cache_bytes(cfg, 128 + 16, 8)
    assert c.peak_memory_bytes > c.weight_bytes + c.kv_cache_bytes
    assert c.energy_per_token_mj > 0 and c.prefill_energy_mj > 0
    assert len(c.decode_step_ms) == 16 and c.quant == "W8A8 KV8"
    assert "not costed" in c.breakdown["vector"]
    assert set(c.to_dict()) >= {"ttft_ms", "decode_tokens_per_s", "energy_per_token_mj",
                                "peak_memory_bytes", "kv_cache_bytes", "weight_bytes"}


def test_four_bit_weights_decode_faster_when_memory_bound() -> None:
    w8, w4 = _qwen("os_32x32"), _qwen("os_32x32", W4A8)
    assert w4.weight_bytes < w8.weight_bytes
    assert w4.decode_tokens_per_s > 1.5 * w8.decode_tokens_per_s
    assert w4.energy_per_token_mj < w8.energy_per_token_mj


@pytest.mark.parametrize("kwargs,match", [
    ({"gen_tokens": 0}, r"^gen_tokens must be a positive integer, not 0$"),
    ({"prompt_tokens": -3}, r"^prompt_tokens must be a positive integer, not -3$"),
    ({"samples": 1}, r"^samples must be >= 2 to interpolate over 8 decode steps, not 1$"),
    ({"quant": LLMQuant(8, 8, kv_bits=16)}, r"^W8A8 KV16 needs 16-bit operands but "
                                            r"'edge_8x8_ws' has pe.operand_bits 8; lower "),
])
def test_bad_arguments_are_one_line_errors(kwargs: dict, match: str) -> None:
    args = {"prompt_tokens": 8, "gen_tokens": 8, "quant": W8A8} | kwargs
    with pytest.raises(LLMCostError, match=match):
        cost_generation(TINY, load_accelerator("edge_8x8_ws"), **args)
