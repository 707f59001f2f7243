"""``coforge llm``: cost prefill and decode of a decoder LLM on an accelerator.

Writes ``DIR/llm.json`` (the :class:`sim.llm_cost.LLMCost` record plus the run's
version, spec hash and arguments), ``DIR/roofline.png`` (prefill and decode on the
DRAM/compute roofline) and ``DIR/decode_rate.png`` (decode tokens/s against context).

``--compare-dataflows`` (issue 10 item 6) also costs one decode step (context = the
prompt length) on the spec with its dataflow replaced by ws, os and is (everything else
kept), with the default mapping and with the mapper's (annealing, latency objective,
``--compare-evals`` evaluations per distinct layer shape), analytic model, and writes
``dataflows: [{dataflow, decode_step_cycles_default, decode_step_cycles_mapped,
decode_step_cycles, utilization, gemv_utilization}]`` to llm.json and a line
``decode suits <df>: ...``. ``decode_step_cycles`` is the better of the two mappings and
the winner is its argmin (first in ws, os, is order on a tie). Cycles are the array
layers' plus the vector unit's (norm kind of the model's config; the same for every
dataflow); the KV cache is read as the attention's weight operand, as from DRAM (no
GLB-home or scale adjustments: those are the same for every dataflow).
``utilization`` is the step's array MACs over (PEs x array cycles) of the mapped step;
``gemv_utilization`` the same over its GEMV layers (projections, FFN, LM head: ``M =
batch``). On a WS array only the streamed dims (P, Q, N) may loop inside the PE, so a
GEMV's stationary tile serves ``M = batch`` input rows: per tile ``R x C x batch`` MACs
at most in ``batch + 2R + C - 1`` cycles (native timing), i.e. ``gemv_utilization <=
batch / (batch + 2R + C - 1)``, ``1 / (2R + C) <= 1/R`` at batch 1.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dataflows.errors import CoforgeError

if TYPE_CHECKING:
    from matplotlib.figure import Figure


class LLMCliError(CoforgeError):
    """Conflicting or missing ``coforge llm`` options."""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text!r}")
    return value


def roofline_figure(cost: Any, accel: Any) -> Figure:
    """Prefill and the decode steps as (MACs per DRAM byte, MACs/s) on the spec's
    roofline ``min(peak, DRAM bandwidth x intensity)``."""
    import numpy as np
    hz = accel.clock_mhz * 1e6
    peak = accel.pes * hz
    bw = accel.dram.read_bytes_per_cycle * hz
    from matplotlib.figure import Figure    # here: matplotlib costs ~0.3 s to import
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    pre_i = cost.prefill_macs / max(cost.prefill_dram_read_bytes, 1)
    pre_p = cost.prefill_macs / (cost.ttft_ms * 1e-3)
    dec_i = np.array(cost.decode_macs_per_step) / np.maximum(
        cost.decode_dram_read_bytes_per_step, 1)
    dec_p = np.array(cost.decode_macs_per_step) / (np.array(cost.decode_step_ms) * 1e-3)
    lo, hi = min(dec_i.min(), pre_i) / 4, max(dec_i.max(), pre_i) * 4
    xs = np.geomspace(lo, hi, 200)
    ax.loglog(xs, np.minimum(peak, bw * xs), "k-", label="roofline (fixed-width peak)")
    ax.loglog(dec_i, dec_p, "o", ms=3, label="decode steps")
    ax.loglog([pre_i], [pre_p], "s", label="prefill")
    ax.set_xlabel("MACs per DRAM byte")
    ax.set_ylabel("MACs / s")
    ax.set_title(f"{cost.model} on {cost.arch} ({cost.quant})")
    ax.legend()
    fig.tight_layout()
    return fig


def decode_rate_figure(cost: Any) -> Figure:
    """Decode tokens/s of each step against its context, with the two rooflines."""
    import numpy as np
    ctx = cost.prompt_tokens + np.arange(cost.gen_tokens)
    rate = cost.batch / (np.array(cost.decode_step_ms) * 1e-3)
    from matplotlib.figure import Figure
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    ax.plot(ctx, rate, label="decode (cost model)")
    ax.plot(ctx, cost.dram_roofline_tokens_per_s, "--", label="DRAM roofline")
    comp = np.array(cost.compute_roofline_tokens_per_s)
    if comp.max() < 10 * rate.max():
        ax.plot(ctx, comp, ":", label="compute roofline")
    ax.set_xlabel("context (cached tokens)")
    ax.set_ylabel("tokens / s")
    ax.set_ylim(bottom=0)
    ax.set_title(f"{cost.model} on {cost.arch} ({cost.quant}, batch {cost.batch})")
    ax.legend()
    fig.tight_layout()
    return fig


DATAFLOW_CHOICES: tuple[str, ...] = ("ws", "os", "is")


def compare_dataflows(cfg: Any, accel: Any, context: int, batch: int, quant: Any,
                      max_evals: int = 300, seed: int = 0) -> list[dict[str, Any]]:
    """One decode step at ``context`` on ``accel`` with each of ws/os/is (module doc)."""
    from dataclasses import replace

    from dataflows.llm import decode_step_network
    from mapper.network_map import map_network
    from sim.llm_cost import ATTENTION_KINDS
    from sim.simulate import simulate
    from sim.vector import network_vector
    net = decode_step_network(cfg, context, batch, quant)
    kinds = {lay.name: lay.kind for lay in net.nodes()}

    def array(res: Any, gemv_only: bool = False) -> list[Any]:
        return [r for r in res.layers if r.vector_ops is None
                and not (gemv_only and kinds[r.layer] in ATTENTION_KINDS)]

    def util(rs: list[Any]) -> float:
        return sum(r.macs for r in rs) / (accel.pes * max(1, sum(r.total_cycles for r in rs)))
    rows = []
    for df in DATAFLOW_CHOICES:
        acc = replace(accel, dataflow=df)
        vec = 0 if acc.vector is None else sum(
            r.total_cycles for r in network_vector(net, acc, "analytic", norm=cfg.norm).values())
        default = simulate(net, acc)
        mapped = map_network(net, acc, "annealing", objective="latency",
                             max_evals=max_evals, seed=seed, progress=False).result
        cyc_d = sum(r.total_cycles for r in array(default)) + vec
        cyc_m = sum(r.total_cycles for r in array(mapped)) + vec
        rows.append({"dataflow": df, "context": context, "batch": batch,
                     "decode_step_cycles_default": int(cyc_d),
                     "decode_step_cycles_mapped": int(cyc_m),
                     "decode_step_cycles": int(min(cyc_d, cyc_m)),
                     "utilization": util(array(mapped)),
                     "gemv_utilization": util(array(mapped, gemv_only=True))})
    return rows


def _llm(args: argparse.Namespace) -> int:
    from dataflows.llm import LLMQuant, config_dict, from_hf_config, load_config
    from mapper.report import coforge_version
    from sim.llm_cost import cost_generation
    from sim.spec_io import DEFAULT_SPEC, load_accelerator
    if bool(args.model) == bool(args.hf_config):
        raise LLMCliError("give exactly one model: --model NAME or --hf-config FILE")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise LLMCliError(f"--out {out}: exists and is not a directory; give a directory path")
    cfg = load_config(args.model) if args.model else from_hf_config(args.hf_config)
    accel = load_accelerator(args.arch or DEFAULT_SPEC)
    act = args.act_bits or (16 if accel.pe.operand_bits >= 16 else 8)   # the PE's width
    quant = LLMQuant(weight_bits=args.weight_bits, act_bits=act, group_size=args.group_size,
                     kv_bits=args.kv_bits or act)
    cost = cost_generation(cfg, accel, args.prompt_tokens, args.gen_tokens, args.batch, quant,
                           fidelity=args.fidelity, samples=args.samples)
    out.mkdir(parents=True, exist_ok=True)
    doc = {"coforge_version": coforge_version(), "spec_hash": accel.spec_hash,
           "config": config_dict(cfg),
           "quantization": {"weight_bits": quant.weight_bits, "act_bits": quant.act_bits,
                            "group_size": quant.group_size, "kv_bits": quant.kv_bits,
                            "scale_bits": quant.scale_bits, "zero_point": quant.zero_point},
           } | cost.to_dict()
    if args.compare_dataflows:
        doc["dataflows"] = compare_dataflows(cfg, accel, args.prompt_tokens, args.batch,
                                             quant, args.compare_evals)
    path = out / "llm.json"
    path.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    roofline_figure(cost, accel).savefig(out / "roofline.png", dpi=110)
    decode_rate_figure(cost).savefig(out / "decode_rate.png", dpi=110)
    print(f"{cost.model} on {cost.arch} ({cost.quant}, batch {cost.batch}): "
          f"{cost.parameters:,} parameters, weights {cost.weight_bytes:,} B, "
          f"KV cache {cost.kv_cache_bytes:,} B ({cost.kv_home})")
    print(f"TTFT {cost.ttft_ms:.1f} ms (prefill {cost.prompt_tokens} tokens; compute bound "
          f"{cost.prefill_compute_bound_ms:.1f} ms); decode {cost.decode_tokens_per_s:.2f} "
          f"tokens/s (DRAM roofline {min(cost.dram_roofline_tokens_per_s):.2f}-"
          f"{max(cost.dram_roofline_tokens_per_s):.2f}); "
          f"{cost.energy_per_token_mj:.2f} mJ/token; peak memory "
          f"{cost.peak_memory_bytes / 2**20:.1f} MiB")
    if args.compare_dataflows:
        rows = doc["dataflows"]
        best = min(rows, key=lambda r: r["decode_step_cycles"])
        each = ", ".join(f"{r['dataflow']} {r['decode_step_cycles']:,} cycles "
                         f"(GEMV utilization {r['gemv_utilization']:.4f})" for r in rows)
        print(f"decode suits {best['dataflow']}: one decode step at context "
              f"{args.prompt_tokens}, batch {args.batch}: {each}")
    print(f"wrote {path}, {out / 'roofline.png'}, {out / 'decode_rate.png'}")
    return 0


def add_llm_command(sub: Any) -> None:
    """Register ``coforge llm`` on the top-level subparsers ``sub``."""
    p = sub.add_parser("llm", help="cost prefill and decode of a decoder LLM (TTFT, "
                                   "tokens/s, energy/token, KV cache); writes llm.json")
    p.add_argument("--model", help="zoo LLM: qwen2.5_0.5b, llama3.2_1b, tinyllama_1.1b")
    p.add_argument("--hf-config", metavar="FILE", help="Hugging Face config.json instead")
    p.add_argument("--arch", help="accelerator YAML or shipped spec name "
                                  "(default: edge_8x8_ws)")
    p.add_argument("--prompt-tokens", type=_positive_int, required=True, help="prefill length P")
    p.add_argument("--gen-tokens", type=_positive_int, required=True, help="decode steps G")
    p.add_argument("--batch", type=_positive_int, default=1, help="sequences (default 1)")
    p.add_argument("--weight-bits", type=int, choices=[4, 8, 16], default=8,
                   help="weight width (default 8)")
    p.add_argument("--act-bits", type=int, choices=[8, 16],
                   help="activation width (default: the PE's operand width, 8 or 16: "
                        "W4A8/W8A8 on int8 arrays, W4A16/W8A16 on 16-bit PEs)")
    p.add_argument("--group-size", type=_positive_int,
                   help="weight-only quantization group (default: one scale per row)")
    p.add_argument("--kv-bits", type=int, choices=[4, 8, 16],
                   help="KV-cache width (default: the activation width)")
    p.add_argument("--fidelity", choices=["analytic", "cycle"], default="analytic",
                   help="cost model: analytic or cycle-approximate (default: %(default)s)")
    p.add_argument("--samples", type=_positive_int, default=5,
                   help="contexts at which attention is costed, interpolated between "
                        "(default 5; >= gen-tokens costs every step)")
    p.add_argument("--compare-dataflows", action="store_true",
                   help="also cost one decode step (context = prompt length) with the "
                        "spec's dataflow set to ws, os and is, default and mapped, and "
                        "say which suits decode (llm.json 'dataflows')")
    p.add_argument("--compare-evals", type=_positive_int, default=300,
                   help="mapper evaluations per distinct layer shape for "
                        "--compare-dataflows (default %(default)s)")
    p.add_argument("--out", required=True, help="output directory")
    p.set_defaults(func=_llm)


__all__ = ["DATAFLOW_CHOICES", "add_llm_command", "compare_dataflows", "decode_rate_figure",
           "roofline_figure"]
