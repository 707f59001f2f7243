"""Decoder LLM workloads: published parameter totals, KV and weight bytes by hand,
phase networks, Hugging Face configs and one-line errors."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from dataflows import zoo
from dataflows.llm import (
    CONFIGS,
    PUBLISHED_PARAMETERS,
    DecoderConfig,
    LLMError,
    LLMQuant,
    active_parameters,
    causal_attention_macs,
    decode_step_network,
    from_hf_config,
    kv_cache_bytes,
    load_config,
    parameters,
    prefill_network,
    scale_bytes,
    weight_bytes,
)
from mapper.cli import main

#: Published totals (Hugging Face safetensors metadata), written out independently of
#: dataflows.llm.PUBLISHED_PARAMETERS.
PUBLISHED = {"qwen2.5_0.5b": 494_032_768, "llama3.2_1b": 1_235_814_400,
             "tinyllama_1.1b": 1_100_048_384}

#: A small config whose counts are easy by hand: head_dim 64, kv_dim 128, tied.
TINY = DecoderConfig("tiny", layers=1, hidden=256, heads=4, kv_heads=2, ffn=512, vocab=1000,
                     tied_embeddings=True)


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_parameters_match_published(name: str) -> None:
    n = parameters(load_config(name))
    assert abs(n - PUBLISHED[name]) <= 0.005 * PUBLISHED[name]
    assert n == PUBLISHED[name]                       # exact: norms and biases counted
    assert PUBLISHED_PARAMETERS[name] == PUBLISHED[name]


def test_qwen_parameters_by_hand() -> None:
    # Per layer: q 896x896 + 896 bias, k and v 128x896 + 128 bias each, o 896x896,
    # SwiGLU 3 x 896 x 4864, two RMSNorm weights of 896; tied embedding 151936 x 896;
    # final norm 896.
    per_layer = (896 * 896 + 896) + 2 * (128 * 896 + 128) + 896 * 896 \
        + 3 * 896 * 4864 + 2 * 896
    assert parameters(CONFIGS["qwen2.5_0.5b"]) == 24 * per_layer + 151936 * 896 + 896


def test_tinyllama_counts_its_untied_head() -> None:
    cfg = CONFIGS["tinyllama_1.1b"]
    assert parameters(cfg) - parameters(replace(cfg, tied_embeddings=True)) == 32000 * 2048


def test_moe_counts_every_expert_and_the_router() -> None:
    moe = replace(TINY, experts=4, top_k=2)
    ffn = 3 * 256 * 512
    assert parameters(moe) == parameters(TINY) + 3 * ffn + 256 * 4
    assert active_parameters(moe) == parameters(moe) - 2 * ffn


def test_kv_cache_bytes_formula() -> None:
    qwen, llama = CONFIGS["qwen2.5_0.5b"], CONFIGS["llama3.2_1b"]
    assert kv_cache_bytes(qwen, 1024, 16) == 2 * 24 * 2 * 64 * 1024 * 2 == 12_582_912
    assert kv_cache_bytes(llama, 640, 8, batch=3) == 2 * 16 * 8 * 64 * 640 * 1 * 3
    assert kv_cache_bytes(llama, 3, 4) == 2 * 16 * 8 * 64 * 3 // 2


def test_weight_bytes_are_params_times_bits_plus_scales() -> None:
    # Parameters: q 256x256, k, v 128x256, o 256x256, gate, up 512x256, down 256x512,
    # embedding 1000x256; three RMSNorms of 256.
    params = 65536 + 2 * 32768 + 65536 + 3 * 131072 + 256000 + 3 * 256
    assert parameters(TINY) == params == 846_592
    # Groups of 128 inputs per output row: q 256*2, k, v 128*2, o 256*2, gate, up 512*2,
    # down 256*4, embedding 1000*2 = 6608 groups of a 16-bit scale + 4-bit zero-point.
    w4 = LLMQuant(weight_bits=4, act_bits=16, group_size=128)
    assert scale_bytes(TINY, w4) == 6608 * 20 // 8 == 16_520
    assert weight_bytes(TINY, w4) == params * 4 // 8 + 16_520
    # Symmetric W8, per channel: one 16-bit scale per output row (3456 + 1000 rows).
    w8 = LLMQuant(weight_bits=8, act_bits=8, zero_point=False)
    rows = 256 + 128 + 128 + 256 + 512 + 512 + 256 + 1000
    assert weight_bytes(TINY, w8) == params + rows * 2
    assert weight_bytes(TINY, LLMQuant()) == 2 * params            # fp16: no scales
    qwen = CONFIGS["qwen2.5_0.5b"]
    assert weight_bytes(qwen, w4) == 494_032_768 // 2 + scale_bytes(qwen, w4)


def test_decode_step_is_gemv_over_the_kv_cache() -> None:
    cfg = CONFIGS["llama3.2_1b"]
    net = decode_step_network(cfg, context_tokens=99, batch=2)
    q = net["layers.0.q_proj"]
    assert (q.kind, q.P, q.C, q.K) == ("gemm", 2, 2048, 2048)       # GEMV: M = batch
    assert net["layers.3.k_proj"].K == 8 * 64
    scores, ctx = net["layers.0.scores"], net["layers.0.context"]
    # The weight-role operand is exactly the K (V) cache of 100 positions, 2 sequences.
    assert scores.weight_elems == ctx.weight_elems == 2 * 8 * 64 * 100
    assert scores.macs == ctx.macs == 2 * 32 * 64 * 100
    attn = sum(lay.macs for lay in net if lay.kind in ("matmul_qk", "matmul_av"))
    assert attn == 16 * 2 * (2 * 32 * 64 * 100)
    # GEMMs: the active parameters' matrices once per token (tied head = embedding).
    gemm_macs = sum(lay.macs for lay in net if lay.kind == "gemm")
    vectors = 16 * 2 * 2048 + 2048
    assert gemm_macs == 2 * (parameters(cfg) - vectors)


def test_prefill_attention_convention() -> None:
    cfg = CONFIGS["qwen2.5_0.5b"]
    net = prefill_network(cfg, 128)
    scores = net["layers.0.scores"]
    assert scores.macs == 14 * 64 * 128 * 128                       # the full square
    assert net["layers.0.q_proj"].P == 128 and net["lm_head"].P == 1
    # The exact causal count: query i attends to i + 1 keys.
    assert causal_attention_macs(cfg, 128) == 2 * 24 * 14 * 64 * (128 * 129 // 2)


def test_zoo_entries() -> None:
    assert zoo.LLM_NAMES == ("qwen2.5_0.5b", "llama3.2_1b", "tinyllama_1.1b")
    net = zoo.load("tinyllama_1.1b")
    assert net["layers.21.mlp.down_proj"].C == 5632
    assert zoo.llm_config("resnet18") is None
    assert zoo.load("qwen2.5_0.5b", batch=2).total_macs == 2 * zoo.load("qwen2.5_0.5b").total_macs


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_zoo_show_json_gives_parameters(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["zoo", "show", name, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["parameters"] == PUBLISHED[name]


QWEN_HF = {
    "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_act": "silu",
    "hidden_size": 896, "intermediate_size": 4864, "num_attention_heads": 14,
    "num_hidden_layers": 24, "num_key_value_heads": 2, "vocab_size": 151936,
    "tie_word_embeddings": True, "rms_norm_eps": 1e-06, "torch_dtype": "bfloat16",
}
TINYLLAMA_HF = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu",
    "hidden_size": 2048, "intermediate_size": 5632, "num_attention_heads": 32,
    "num_hidden_layers": 22, "num_key_value_heads": 4, "vocab_size": 32000,
    "tie_word_embeddings": False,
}


@pytest.mark.parametrize("doc,name", [(QWEN_HF, "qwen2.5_0.5b"),
                                      (TINYLLAMA_HF, "tinyllama_1.1b")])
def test_from_hf_config(tmp_path: Path, doc: dict, name: str) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(doc))
    cfg = from_hf_config(path)
    assert parameters(cfg) == PUBLISHED[name]
    assert replace(cfg, name=name) == CONFIGS[name]


@pytest.mark.parametrize("edit,match", [
    ({"hidden_size": None}, r"config\.json: missing field 'hidden_size'"),
    ({"num_key_value_heads": 3}, r"config\.json: decoder 'qwen2': kv_heads \(3\) must "
                                 r"divide heads \(14\)$"),
    ({"num_attention_heads": 0}, r"num_attention_heads must be a positive integer, not 0"),
    ({"hidden_act": "relu"}, r"hidden_act must be silu or gelu\*, not 'relu'"),
    ({"tie_word_embeddings": "yes"}, r"tie_word_embeddings must be true or false"),
])
def test_from_hf_config_errors(tmp_path: Path, edit: dict, match: str) -> None:
    doc = {k: v for k, v in (QWEN_HF | edit).items() if v is not None}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(LLMError, match=match) as info:
        from_hf_config(path)
    assert "\n" not in str(info.value)


def test_from_hf_config_unreadable(tmp_path: Path) -> None:
    bad = tmp_path / "config.json"
    bad.write_text("{not json")
    with pytest.raises(LLMError, match=r"config\.json: not JSON"):
        from_hf_config(bad)
    with pytest.raises(LLMError, match=r"missing\.json: cannot read"):
        from_hf_config(tmp_path / "missing.json")


@pytest.mark.parametrize("edit,match", [
    ({"heads": 5}, r"^decoder 'tiny': heads \(5\) must divide hidden \(256\), or give "
                   r"head_dim$"),
    ({"kv_heads": 3}, r"^decoder 'tiny': kv_heads \(3\) must divide heads \(4\)$"),
    ({"layers": 0}, r"^decoder 'tiny': layers must be a positive integer, not 0$"),
    ({"ffn_kind": "relu"}, r"ffn_kind must be one of \['swiglu', 'gelu'\], not 'relu'"),
    ({"experts": 4, "top_k": 5}, r"top_k must be in \[1, experts=4\], not 5"),
])
def test_bad_configs_are_one_line_errors(edit: dict, match: str) -> None:
    with pytest.raises(LLMError, match=match):
        replace(TINY, **edit)


def test_head_dim_frees_heads_from_dividing_hidden() -> None:
    cfg = replace(TINY, heads=5, kv_heads=1, head_dim=64)
    assert (cfg.q_dim, cfg.kv_dim, cfg.group) == (320, 64, 5)


def test_bad_phase_and_quant_arguments() -> None:
    with pytest.raises(LLMError, match=r"^prompt_tokens must be a positive integer, not 0$"):
        prefill_network(TINY, 0)
    with pytest.raises(LLMError, match=r"^context_tokens must be an integer >= 0, not -1$"):
        decode_step_network(TINY, -1)
    with pytest.raises(LLMError, match=r"^kv_bits must be one of \[4, 8, 16\], not 3$"):
        kv_cache_bytes(TINY, 10, 3)
    with pytest.raises(LLMError, match=r"^quant.weight_bits must be one of \[4, 8, 16\]"):
        LLMQuant(weight_bits=2)
    with pytest.raises(LLMError, match=r"^unknown LLM 'gpt5'; available: qwen2.5_0.5b"):
        load_config("gpt5")


def test_moe_decode_runs_the_routed_experts() -> None:
    moe = replace(TINY, experts=8, top_k=2)
    one = decode_step_network(moe, 10, batch=1)
    names = [lay.name for lay in one]
    assert "layers.0.router" in names and one["layers.0.router"].K == 8
    # Batch 1, top-2: two experts run one row each; batch 8 reaches all 8 experts.
    assert sum(n.endswith("down_proj") for n in names) == 2
    assert one["layers.0.experts.1.up_proj"].P == 1
    eight = decode_step_network(moe, 10, batch=8)
    assert sum(lay.name.endswith("down_proj") for lay in eight) == 8
    assert eight["layers.0.experts.7.gate_proj"].P == 2            # 8 x 2 / 8 rows each


def test_gelu_mlp_and_layernorm_counts() -> None:
    gpt = DecoderConfig("gelu", layers=2, hidden=128, heads=2, kv_heads=2, ffn=512, vocab=100,
                        ffn_kind="gelu", norm="layernorm", qkv_bias=True, o_bias=True,
                        mlp_bias=True, tied_embeddings=True)
    per_layer = 4 * (128 * 128 + 128) + (128 * 512 + 512) + (512 * 128 + 128) + 2 * 256
    assert parameters(gpt) == 2 * per_layer + 100 * 128 + 256
    net = decode_step_network(gpt, 5)
    assert net["layers.1.mlp.fc1"].K == 512 and net["layers.1.mlp.fc2"].K == 128


def test_from_hf_config_reads_moe_fields(tmp_path: Path) -> None:
    doc = TINYLLAMA_HF | {"num_local_experts": 8, "num_experts_per_tok": 2}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(doc))
    cfg = from_hf_config(path)
    assert (cfg.experts, cfg.top_k) == (8, 2)
