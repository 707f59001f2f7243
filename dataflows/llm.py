"""Decoder-only language models: configs, exact parameter counts, prefill and decode.

A :class:`DecoderConfig` describes a Llama/Qwen-style decoder (or a GELU-MLP one):
layers, hidden size, query heads and KV heads (MHA ``kv_heads == heads``, GQA, MQA
``kv_heads == 1``), head size, FFN kind and size, vocabulary, tied embeddings,
optional mixture of experts. :func:`parameters` counts every stored parameter exactly
(embeddings, projections and their biases, FFN, every norm's weight and bias).

The two inference phases are :class:`~dataflows.network.Network` s of ordinary
:mod:`dataflows.layer` layers:

* :func:`prefill_network` -- ``P`` prompt tokens of ``batch`` sequences: projections
  and FFN are GEMMs with ``M = batch * P``; logits only for the last position
  (``M = batch``), as an engine computes to emit the first token.
* :func:`decode_step_network` -- one new token per sequence with ``context`` tokens
  already in the KV cache: every projection is a GEMV written as a GEMM with
  ``M = batch``; attention reads ``context + 1`` keys and values.

Attention layers are grouped per (sequence, KV head): ``G = batch * kv_heads`` groups,
each with the ``heads / kv_heads`` query heads that share a KV head stacked on ``M``,
so the weight-role operand of ``matmul_qk``/``matmul_av`` is exactly the K/V cache
(``kv_heads * head_dim * tokens`` per sequence) and GQA/MQA's smaller cache shows.

Causal-attention convention: prefill attention layers compute the full ``P x P`` score
square (what an array without mask skipping executes; the masked half is discarded);
:func:`causal_attention_macs` gives the exact causal count ``heads * head_dim *
P (P + 1) / 2`` per matmul per sequence beside it. Norms, RoPE, softmax, activations
and residual adds are zero-MAC ``elementwise`` nodes (their cost belongs to a vector
unit).

Quantization (:class:`LLMQuant`): weight bits 4/8/16, activation bits 8/16, weight-only
group quantization (one scale and, if asymmetric, one zero-point per ``group_size``
consecutive input elements of each output row of every weight matrix), KV-cache bits
4/8/16. :func:`weight_bytes` = ``ceil(parameters * weight_bits / 8)`` + scale and
zero-point bytes; :func:`kv_cache_bytes` is
``2 * layers * kv_heads * head_dim * tokens * kv_bits / 8 * batch``.

>>> cfg = load_config("qwen2.5_0.5b")
>>> parameters(cfg)
494032768
>>> kv_cache_bytes(cfg, tokens=1024, kv_bits=16)
12582912
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from dataflows.errors import CoforgeError
from dataflows.layer import Layer, Precision, gemm, passive
from dataflows.network import Network

FFN_KINDS: tuple[str, ...] = ("swiglu", "gelu")
NORM_KINDS: tuple[str, ...] = ("rmsnorm", "layernorm")
WEIGHT_BITS: tuple[int, ...] = (4, 8, 16)
ACT_BITS: tuple[int, ...] = (8, 16)
KV_BITS: tuple[int, ...] = (4, 8, 16)


class LLMError(CoforgeError):
    """A decoder config, phase or quantization argument breaks a rule (one line)."""


def _positive(where: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise LLMError(f"{where} must be a positive integer, not {value!r}")


@dataclass(frozen=True)
class DecoderConfig:
    """A decoder-only transformer. Sizes are element counts.

    Invariants: every size positive; ``heads`` divides ``hidden`` unless ``head_dim``
    is given; ``kv_heads`` divides ``heads``; ``experts == 0`` (dense) or
    ``1 <= top_k <= experts``.
    """

    name: str
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    ffn: int
    vocab: int
    head_dim: int | None = None
    """Per-head size as given; ``None`` means ``hidden // heads`` (see :attr:`head_size`;
    kept as given so that ``dataclasses.replace(cfg, heads=...)`` re-derives it)."""
    ffn_kind: str = "swiglu"
    """``swiglu`` (gate, up, down) or ``gelu`` (fc1, fc2)."""
    tied_embeddings: bool = False
    """The LM head reuses the token-embedding matrix (counted once)."""
    qkv_bias: bool = False
    o_bias: bool = False
    mlp_bias: bool = False
    norm: str = "rmsnorm"
    """``rmsnorm`` (weight only) or ``layernorm`` (weight and bias)."""
    experts: int = 0
    """Mixture of experts: FFN copies per layer (0 = dense FFN)."""
    top_k: int = 0
    """Experts each token runs (MoE only)."""

    def __post_init__(self) -> None:
        where = f"decoder {self.name!r}"
        if not isinstance(self.name, str) or not self.name:
            raise LLMError("decoder name must be a non-empty string")
        for f in ("layers", "hidden", "heads", "kv_heads", "ffn", "vocab"):
            _positive(f"{where}: {f}", getattr(self, f))
        if self.head_dim is None:
            if self.hidden % self.heads:
                raise LLMError(f"{where}: heads ({self.heads}) must divide hidden "
                               f"({self.hidden}), or give head_dim")
        else:
            _positive(f"{where}: head_dim", self.head_dim)
        if self.heads % self.kv_heads:
            raise LLMError(f"{where}: kv_heads ({self.kv_heads}) must divide heads "
                           f"({self.heads})")
        if self.ffn_kind not in FFN_KINDS:
            raise LLMError(f"{where}: ffn_kind must be one of {list(FFN_KINDS)}, "
                           f"not {self.ffn_kind!r}")
        if self.norm not in NORM_KINDS:
            raise LLMError(f"{where}: norm must be one of {list(NORM_KINDS)}, "
                           f"not {self.norm!r}")
        for f in ("tied_embeddings", "qkv_bias", "o_bias", "mlp_bias"):
            if not isinstance(getattr(self, f), bool):
                raise LLMError(f"{where}: {f} must be true or false, not {getattr(self, f)!r}")
        for f in ("experts", "top_k"):
            v = getattr(self, f)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise LLMError(f"{where}: {f} must be an integer >= 0, not {v!r}")
        if self.experts == 0 and self.top_k:
            raise LLMError(f"{where}: top_k ({self.top_k}) needs experts > 0")
        if self.experts and not 1 <= self.top_k <= self.experts:
            raise LLMError(f"{where}: top_k must be in [1, experts={self.experts}], "
                           f"not {self.top_k!r}")

    @property
    def head_size(self) -> int:
        """Per-head size: ``head_dim`` if given, else ``hidden // heads``."""
        return self.head_dim if self.head_dim is not None else self.hidden // self.heads

    @property
    def q_dim(self) -> int:
        """Width of the query projection output: ``heads * head_size``."""
        return self.heads * self.head_size

    @property
    def kv_dim(self) -> int:
        """Width of each of the K and V projection outputs: ``kv_heads * head_size``."""
        return self.kv_heads * self.head_size

    @property
    def group(self) -> int:
        """Query heads per KV head (1 = MHA, ``heads`` = MQA)."""
        return self.heads // self.kv_heads


# -- parameters --------------------------------------------------------------------
def _matrices(cfg: DecoderConfig) -> list[tuple[str, int, int, int]]:
    """Every weight matrix as (name, out_features, in_features, copies)."""
    h, f = cfg.hidden, cfg.ffn
    per_layer = [("q_proj", cfg.q_dim, h), ("k_proj", cfg.kv_dim, h),
                 ("v_proj", cfg.kv_dim, h), ("o_proj", h, cfg.q_dim)]
    ffn = [("gate_proj", f, h), ("up_proj", f, h), ("down_proj", h, f)] \
        if cfg.ffn_kind == "swiglu" else [("fc1", f, h), ("fc2", h, f)]
    mats = [(n, o, i, cfg.layers) for n, o, i in per_layer]
    mats += [(n, o, i, cfg.layers * max(1, cfg.experts)) for n, o, i in ffn]
    if cfg.experts:
        mats.append(("router", cfg.experts, h, cfg.layers))
    mats.append(("embed_tokens", cfg.vocab, h, 1))
    if not cfg.tied_embeddings:
        mats.append(("lm_head", cfg.vocab, h, 1))
    return mats


def _vectors(cfg: DecoderConfig) -> int:
    """Parameters in biases and norm weights/biases."""
    norm = cfg.hidden * (2 if cfg.norm == "layernorm" else 1)
    n = (2 * cfg.layers + 1) * norm
    if cfg.qkv_bias:
        n += cfg.layers * (cfg.q_dim + 2 * cfg.kv_dim)
    if cfg.o_bias:
        n += cfg.layers * cfg.hidden
    if cfg.mlp_bias:
        per = 2 * cfg.ffn + cfg.hidden if cfg.ffn_kind == "swiglu" else cfg.ffn + cfg.hidden
        n += cfg.layers * max(1, cfg.experts) * per
    return n


def parameters(cfg: DecoderConfig) -> int:
    """Exact stored parameter count (tied embeddings counted once)."""
    return sum(o * i * c for _, o, i, c in _matrices(cfg)) + _vectors(cfg)


def active_parameters(cfg: DecoderConfig) -> int:
    """Parameters one token touches (MoE: ``top_k`` of the experts; the embedding
    matrix counted once as the LM head when tied)."""
    if not cfg.experts:
        return parameters(cfg)
    dense = parameters(cfg)
    ffn = sum(o * i for n, o, i, _ in _matrices(cfg)
              if n in ("gate_proj", "up_proj", "down_proj", "fc1", "fc2"))
    return dense - cfg.layers * (cfg.experts - cfg.top_k) * ffn


# -- quantization ------------------------------------------------------------------
@dataclass(frozen=True)
class LLMQuant:
    """Weight, activation and KV-cache precision of an LLM deployment.

    ``W4A16``: ``LLMQuant(weight_bits=4, act_bits=16, group_size=128)``; ``W8A8``:
    ``LLMQuant(8, 8)`` (per-output-channel scales). Weight-only group quantization
    stores, per ``group_size`` consecutive input elements of each output row, one
    ``scale_bits`` scale and (``zero_point=True``) one ``weight_bits`` zero-point;
    ``group_size=None`` is one group per row (per channel). 16-bit weights carry none.
    """

    weight_bits: int = 16
    act_bits: int = 16
    group_size: int | None = None
    kv_bits: int = 16
    scale_bits: int = 16
    zero_point: bool = True

    def __post_init__(self) -> None:
        for f, allowed in (("weight_bits", WEIGHT_BITS), ("act_bits", ACT_BITS),
                           ("kv_bits", KV_BITS), ("scale_bits", (8, 16, 32))):
            if getattr(self, f) not in allowed:
                raise LLMError(f"quant.{f} must be one of {list(allowed)}, "
                               f"not {getattr(self, f)!r}")
        if self.group_size is not None:
            _positive("quant.group_size", self.group_size)
        if not isinstance(self.zero_point, bool):
            raise LLMError(f"quant.zero_point must be true or false, not {self.zero_point!r}")

    @property
    def label(self) -> str:
        """``W4A16 g128 KV16``-style name."""
        g = f" g{self.group_size}" if self.group_size and self.weight_bits < 16 else ""
        return f"W{self.weight_bits}A{self.act_bits}{g} KV{self.kv_bits}"


def scale_bytes(cfg: DecoderConfig, quant: LLMQuant) -> int:
    """Bytes of the scales and zero-points of every quantized weight matrix."""
    if quant.weight_bits >= 16:
        return 0
    per_group = quant.scale_bits + (quant.weight_bits if quant.zero_point else 0)
    bits = 0
    for _, out, inp, copies in _matrices(cfg):
        groups = math.ceil(inp / quant.group_size) if quant.group_size else 1
        bits += out * groups * copies * per_group
    return (bits + 7) // 8


def weight_bytes(cfg: DecoderConfig, quant: LLMQuant) -> int:
    """Stored weight bytes: ``ceil(parameters * weight_bits / 8)`` plus
    :func:`scale_bytes` (norms and biases are counted at the weight width too: a
    convention; they are under 0.1 % of any zoo model)."""
    return (parameters(cfg) * quant.weight_bits + 7) // 8 + scale_bytes(cfg, quant)


def kv_cache_bytes(cfg: DecoderConfig, tokens: int, kv_bits: int = 16, batch: int = 1) -> int:
    """K and V of ``tokens`` positions: ``2 x layers x kv_heads x head_dim x tokens x
    kv_bits / 8 x batch`` (exact; rounded up to whole bytes)."""
    _positive("tokens", tokens)
    _positive("batch", batch)
    if kv_bits not in KV_BITS:
        raise LLMError(f"kv_bits must be one of {list(KV_BITS)}, not {kv_bits!r}")
    return (2 * cfg.layers * cfg.kv_dim * tokens * kv_bits * batch + 7) // 8


def causal_attention_macs(cfg: DecoderConfig, prompt_tokens: int, batch: int = 1) -> int:
    """Exact MACs of causal prefill attention (QK and AV, all layers): query ``i``
    attends to ``i + 1`` keys, so ``2 x layers x heads x head_dim x P (P + 1) / 2``."""
    _positive("prompt_tokens", prompt_tokens)
    p = prompt_tokens
    return 2 * cfg.layers * cfg.q_dim * p * (p + 1) // 2 * batch


# -- phases as networks --------------------------------------------------------------
def _precisions(quant: LLMQuant) -> tuple[Precision, Precision]:
    """(projection precision, attention precision): attention's weight-role operand is
    the KV cache at ``kv_bits``; its other operand the activations."""
    a = quant.act_bits
    return (Precision(input_bits=a, weight_bits=quant.weight_bits, output_bits=a),
            Precision(input_bits=a, weight_bits=quant.kv_bits, output_bits=a))


def _attention(name: str, kind: str, cfg: DecoderConfig, batch: int, queries: int,
               keys: int, prec: Precision) -> Layer:
    """QK (reduction head_dim, N = keys) or AV (reduction keys, N = head_dim), one group
    per (sequence, KV head), the group's query heads stacked on M."""
    g, d = batch * cfg.kv_heads, cfg.head_size
    if kind == "matmul_qk":
        return Layer(name=name, kind=kind, K=g * keys, C=g * d, P=cfg.group * queries, G=g,
                     precision=prec)
    return Layer(name=name, kind=kind, K=g * d, C=g * keys, P=cfg.group * queries, G=g,
                 precision=prec)


def _build(cfg: DecoderConfig, name: str, batch: int, queries: int, keys: int,
           quant: LLMQuant) -> Network:
    lin, att = _precisions(quant)
    rows = batch * queries
    h = cfg.hidden
    net = Network(name)
    x = net.add(passive("embed_tokens", "elementwise", h, (queries, 1), batch=batch))

    def vec(label: str, width: int, inputs: list[str]) -> str:
        return net.add(passive(label, "elementwise", width, (queries, 1), batch=batch), inputs)

    for i in range(cfg.layers):
        pre = f"layers.{i}"
        n1 = vec(f"{pre}.input_norm", h, [x])
        q = net.add(gemm(f"{pre}.q_proj", rows, cfg.q_dim, h, lin), [n1])
        k = net.add(gemm(f"{pre}.k_proj", rows, cfg.kv_dim, h, lin), [n1])
        v = net.add(gemm(f"{pre}.v_proj", rows, cfg.kv_dim, h, lin), [n1])
        r = vec(f"{pre}.rope", cfg.q_dim + cfg.kv_dim, [q, k])
        s = net.add(_attention(f"{pre}.scores", "matmul_qk", cfg, batch, queries, keys, att),
                    [r])
        s = net.add(passive(f"{pre}.softmax", "elementwise", cfg.heads * keys, (queries, 1),
                            batch=batch), [s])
        a = net.add(_attention(f"{pre}.context", "matmul_av", cfg, batch, queries, keys, att),
                    [s, v])
        o = net.add(gemm(f"{pre}.o_proj", rows, h, cfg.q_dim, lin), [a])
        res = vec(f"{pre}.add1", h, [o, x])
        n2 = vec(f"{pre}.post_norm", h, [res])
        outs = []
        if cfg.experts:
            net.add(gemm(f"{pre}.router", rows, cfg.experts, h, lin), [n2])
            # Tokens routed: rows * top_k over the experts they can reach (balanced).
            active = min(cfg.experts, rows * cfg.top_k)
            per = math.ceil(rows * cfg.top_k / active)
        else:
            active, per = 1, rows
        for e in range(active):
            ep = f"{pre}.experts.{e}" if cfg.experts else f"{pre}.mlp"
            if cfg.ffn_kind == "swiglu":
                gt = net.add(gemm(f"{ep}.gate_proj", per, cfg.ffn, h, lin), [n2])
                up = net.add(gemm(f"{ep}.up_proj", per, cfg.ffn, h, lin), [n2])
                act = vec(f"{ep}.silu_mul", cfg.ffn, [gt, up])
                outs.append(net.add(gemm(f"{ep}.down_proj", per, h, cfg.ffn, lin), [act]))
            else:
                f1 = net.add(gemm(f"{ep}.fc1", per, cfg.ffn, h, lin), [n2])
                act = vec(f"{ep}.gelu", cfg.ffn, [f1])
                outs.append(net.add(gemm(f"{ep}.fc2", per, h, cfg.ffn, lin), [act]))
        x = vec(f"{pre}.add2", h, outs + [res])
    x = net.add(passive("norm", "elementwise", h, (1, 1), batch=batch), [x])
    net.add(gemm("lm_head", batch, cfg.vocab, h, lin), [x])
    return net


def prefill_network(cfg: DecoderConfig, prompt_tokens: int, batch: int = 1,
                    quant: LLMQuant | None = None) -> Network:
    """The prefill phase: ``prompt_tokens`` tokens of ``batch`` sequences (full-square
    attention, see the module's causal convention; logits of the last position)."""
    _positive("prompt_tokens", prompt_tokens)
    _positive("batch", batch)
    return _build(cfg, f"{cfg.name}.prefill{prompt_tokens}", batch, prompt_tokens,
                  prompt_tokens, quant or LLMQuant())


def decode_step_network(cfg: DecoderConfig, context_tokens: int, batch: int = 1,
                        quant: LLMQuant | None = None) -> Network:
    """One decode step: a new token per sequence attending to ``context_tokens`` cached
    positions plus itself (``context_tokens + 1`` keys); projections are GEMVs
    (``M = batch``)."""
    if not isinstance(context_tokens, int) or isinstance(context_tokens, bool) \
            or context_tokens < 0:
        raise LLMError(f"context_tokens must be an integer >= 0, not {context_tokens!r}")
    _positive("batch", batch)
    return _build(cfg, f"{cfg.name}.decode@{context_tokens}", batch, 1, context_tokens + 1,
                  quant or LLMQuant())


# -- the zoo and Hugging Face configs -----------------------------------------------
#: Published configurations (Hugging Face ``config.json`` of each model) and totals.
CONFIGS: dict[str, DecoderConfig] = {
    # Qwen/Qwen2.5-0.5B config.json; Qwen2 attention has q/k/v biases.
    "qwen2.5_0.5b": DecoderConfig("qwen2.5_0.5b", layers=24, hidden=896, heads=14,
                                  kv_heads=2, ffn=4864, vocab=151936, tied_embeddings=True,
                                  qkv_bias=True),
    # meta-llama/Llama-3.2-1B config.json (head_dim 64).
    "llama3.2_1b": DecoderConfig("llama3.2_1b", layers=16, hidden=2048, heads=32,
                                 kv_heads=8, ffn=8192, vocab=128256, tied_embeddings=True),
    # TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T config.json.
    "tinyllama_1.1b": DecoderConfig("tinyllama_1.1b", layers=22, hidden=2048, heads=32,
                                    kv_heads=4, ffn=5632, vocab=32000),
}

#: Published parameter totals (safetensors metadata of the Hugging Face checkpoints).
PUBLISHED_PARAMETERS: dict[str, int] = {
    "qwen2.5_0.5b": 494_032_768,
    "llama3.2_1b": 1_235_814_400,
    "tinyllama_1.1b": 1_100_048_384,
}

#: The zoo's default prefill length for ``zoo.load`` of an LLM name.
ZOO_PROMPT_TOKENS = 128


def load_config(name: str) -> DecoderConfig:
    """The zoo config ``name``; one-line error naming the choices if unknown."""
    if name not in CONFIGS:
        raise LLMError(f"unknown LLM {name!r}; available: {', '.join(CONFIGS)}")
    return CONFIGS[name]


def _hf_int(doc: dict[str, Any], key: str, where: str, default: int | None = None) -> int:
    if key not in doc or doc[key] is None:
        if default is None:
            raise LLMError(f"{where}: missing field {key!r} (a positive integer)")
        return default
    v = doc[key]
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise LLMError(f"{where}: {key} must be a positive integer, not {v!r}")
    return v


def from_hf_config(path: str | Path, name: str | None = None) -> DecoderConfig:
    """A :class:`DecoderConfig` from a Hugging Face ``config.json`` (no weights).

    Reads ``num_hidden_layers``, ``hidden_size``, ``num_attention_heads``,
    ``num_key_value_heads`` (default: heads), ``head_dim`` (optional),
    ``intermediate_size``, ``vocab_size``, ``tie_word_embeddings`` (default false),
    ``hidden_act`` (``silu`` -> SwiGLU, ``gelu*`` -> GELU MLP), ``attention_bias``/
    ``mlp_bias`` (``model_type`` ``qwen2`` implies q/k/v biases) and MoE
    ``num_local_experts``/``num_experts`` with ``num_experts_per_tok``.
    """
    where = str(path)
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise LLMError(f"{where}: cannot read ({err.strerror or err})") from None
    except json.JSONDecodeError as err:
        raise LLMError(f"{where}: not JSON ({err.msg} at line {err.lineno})") from None
    if not isinstance(doc, dict):
        raise LLMError(f"{where}: must be a JSON object, not {type(doc).__name__}")
    heads = _hf_int(doc, "num_attention_heads", where)
    act = doc.get("hidden_act", doc.get("hidden_activation", "silu"))
    if not isinstance(act, str):
        raise LLMError(f"{where}: hidden_act must be a string, not {act!r}")
    if act in ("silu", "swish"):
        ffn_kind = "swiglu"
    elif act.startswith("gelu"):
        ffn_kind = "gelu"
    else:
        raise LLMError(f"{where}: hidden_act must be silu or gelu*, not {act!r}")
    flags = {}
    for key in ("tie_word_embeddings", "attention_bias", "mlp_bias"):
        v = doc.get(key, False)
        if not isinstance(v, bool):
            raise LLMError(f"{where}: {key} must be true or false, not {v!r}")
        flags[key] = v
    experts = doc.get("num_local_experts", doc.get("num_experts", 0)) or 0
    top_k = doc.get("num_experts_per_tok", 0) if experts else 0
    head_dim = doc.get("head_dim")
    hidden = _hf_int(doc, "hidden_size", where)
    if head_dim is not None:
        head_dim = _hf_int(doc, "head_dim", where)
        if head_dim * heads == hidden:        # the derived size: keep configs comparable
            head_dim = None
    model_type = doc.get("model_type", "")
    label = name or (str(model_type) or Path(path).stem)
    try:
        return DecoderConfig(
            label,
            layers=_hf_int(doc, "num_hidden_layers", where),
            hidden=hidden, heads=heads,
            kv_heads=_hf_int(doc, "num_key_value_heads", where, default=heads),
            ffn=_hf_int(doc, "intermediate_size", where),
            vocab=_hf_int(doc, "vocab_size", where), head_dim=head_dim, ffn_kind=ffn_kind,
            tied_embeddings=flags["tie_word_embeddings"],
            qkv_bias=flags["attention_bias"] or model_type == "qwen2",
            o_bias=flags["attention_bias"], mlp_bias=flags["mlp_bias"],
            experts=experts, top_k=top_k)
    except LLMError as err:
        raise LLMError(f"{where}: {err}") from None


def config_dict(cfg: DecoderConfig) -> dict[str, Any]:
    """JSON-ready fields of ``cfg``."""
    return {f.name: getattr(cfg, f.name) for f in fields(cfg)}


__all__ = [
    "CONFIGS", "DecoderConfig", "LLMError", "LLMQuant", "PUBLISHED_PARAMETERS",
    "active_parameters", "causal_attention_macs", "config_dict", "decode_step_network",
    "from_hf_config", "kv_cache_bytes", "load_config", "parameters", "prefill_network",
    "scale_bytes", "weight_bytes",
]
