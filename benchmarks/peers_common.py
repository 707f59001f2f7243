"""What ``benchmarks/bench_peers.py``'s ZigZag and AccelForge sides share: its error, the
ratio rule, the compulsory DRAM traffic of a layer, and the printed tables (one ZigZag
pair, one AccelForge arch: the dicts ``zigzag_pair`` and ``accelforge_arch`` build)."""

from __future__ import annotations

import math

from dataflows.layer import Layer

#: the operands of the per-operand DRAM columns, in print order
OPS = ("input", "weight", "output")


class BenchError(Exception):
    """A broken run: a peer differing from its recording or a conversion that breaks."""


def ratio(a: float, b: float) -> float:
    return a / b if b else math.inf


# -- ZigZag ------------------------------------------------------------------------------


def _touched(out: int, kernel: int, stride: int, dilation: int, pad: int, size: int) -> int:
    """Input rows (columns) some window reads, padding excluded."""
    return len({o * stride + k * dilation - pad for o in range(out) for k in range(kernel)}
               & set(range(size)))


def compulsory_bits(layer: Layer) -> int:
    """Bits DRAM must move at least: every weight and every input element some window
    touches (unpadded) read once, every output written once."""
    p = layer.precision
    inputs = layer.input_elems
    if layer.kind in ("conv", "depthwise"):
        rows = _touched(layer.P, layer.R, layer.stride_h, layer.dilation_h, layer.pad_h, layer.H)
        cols = _touched(layer.Q, layer.S, layer.stride_w, layer.dilation_w, layer.pad_w, layer.W)
        inputs = layer.N * layer.C * rows * cols
    return (layer.weight_elems * p.weight_bits + inputs * p.input_bits
            + layer.output_elems * p.output_bits)


def zigzag_table(pair: dict, per_layer: bool = True) -> str:
    head = (f"{'layer':<24}{'ZZ cycles':>12}{'cf cycles':>12}{'cf/ZZ':>7}{'ZZ uJ':>10}"
            f"{'cf uJ':>10}{'cf/ZZ':>7}{'ZZ DRAM kB':>12}{'cf DRAM kB':>12}{'cf/ZZ':>7}")
    lines = [f"--- ZigZag {pair['accelerator']} x {pair['network']} "
             f"[{pair['source']} ZigZag run]", head]
    rows = pair["layers"] if per_layer else []
    for r in rows + [{"layer": "TOTAL", "zigzag": {
            k: v["zigzag"] for k, v in pair["totals"].items()},
            "coforge": {k: v["coforge"] for k, v in pair["totals"].items()},
            "ratio": {"latency": pair["ratio"]["latency_cycles"],
                      "energy": pair["ratio"]["energy_pj"], "dram": pair["ratio"]["dram_bits"]}}]:
        z, c, q = r["zigzag"], r["coforge"], r["ratio"]
        lines.append(f"{r['layer'][:23]:<24}{z['latency_cycles']:>12,.0f}"
                     f"{c['latency_cycles']:>12,.0f}{q['latency']:>7.3f}"
                     f"{z['energy_pj'] / 1e6:>10.2f}{c['energy_pj'] / 1e6:>10.2f}"
                     f"{q['energy']:>7.3f}{z['dram_bits'] / 8e3:>12.1f}"
                     f"{c['dram_bits'] / 8e3:>12.1f}{q['dram']:>7.3f}")
    lv = "; ".join(f"{k} {v['zigzag']:.3g}/{v['coforge']:.3g}"
                   for k, v in pair["level_words"].items())
    t = pair["timing"]
    lines.append(f"words per level, ZigZag/coforge (reads + writes, all operands): {lv}")
    lines.append(f"wall: ZigZag {t['zigzag']['wall_s']:.1f} s ({t['zigzag']['source']}; "
                 f"CPU {t['zigzag']['cpu_s'] or 0:.1f} s) = {t['zigzag']['per_layer_wall_s']:.2f}"
                 f" s/layer; coforge {t['coforge']['wall_s']:.2f} s (CPU "
                 f"{t['coforge']['cpu_s']:.2f} s, {t['coforge']['searches']} searches for "
                 f"{t['coforge']['layers']} layers, {t['coforge']['evaluations']:,} "
                 f"evaluations) = {t['coforge']['per_search_wall_s'] * 1e3:.1f} ms/search; "
                 f"ZigZag per layer / coforge per search = {t['speedup_per_layer']:.0f}x")
    return "\n".join(lines)


def accelforge_table(arch: dict) -> str:
    unit = arch["latency_unit"]
    head = (f"{'layer':<10}{'AF uJ':>9}{'cf ex uJ':>9}{'cf/AF':>7}{'cf uJ':>9}{'cf/AF':>7}"
            f"{'cf(AFmap)':>10}"
            f"{'cf/that':>8}{'AF lat':>11}{'cf cyc':>11}{'AF DRAM kb':>11}{'cf DRAM kb':>11}"
            f"{'cf/AF':>7}{'AF s':>7}{'cf ex s':>8}{'ex sp-up':>9}{'cf s':>7}{'speedup':>8}")
    lines = [f"--- AccelForge {arch['arch']} [{arch['source']} AccelForge run; AF latency in "
             f"{unit}]", head]
    for r in arch["layers"]:
        a, c, x, q = r["accelforge"], r["coforge"], r["af_mapping_in_coforge"], r["ratio"]
        lines.append(f"{r['layer']:<10}{a['energy_pj'] / 1e6:>9.2f}"
                     f"{r['coforge_exact_factors']['energy_pj'] / 1e6:>9.2f}"
                     f"{q['energy_exact']:>7.3f}{c['energy_pj'] / 1e6:>9.2f}"
                     f"{q['energy']:>7.3f}{x['energy_pj'] / 1e6:>9.2f}"
                     f"{'' if x['legal'] else '*'}{q['energy_vs_af_mapping_in_coforge']:>8.3f}"
                     f"{a['latency']:>11.4g}{c['latency_cycles']:>11,}{a['dram_bits'] / 1e3:>11.1f}"
                     f"{c['dram_bits'] / 1e3:>11.1f}{q['dram']:>7.3f}{a['wall_s']:>7.1f}"
                     f"{c['exact_wall_s']:>8.3f}{q['speedup_exact']:>8.0f}x"
                     f"{c['wall_s']:>7.3f}{q['speedup']:>7.0f}x")
    lines.append("DRAM kb per operand (reads + writes), AccelForge/coforge: " + "; ".join(
        f"{r['layer']} " + " ".join(
            f"{o[0].upper()} {r['accelforge']['dram_bits_by_operand'][o] / 1e3:.1f}/"
            f"{r['coforge']['dram_bits_by_operand'][o] / 1e3:.1f}" for o in OPS)
        for r in arch["layers"]))
    af_s = sum(r["accelforge"]["wall_s"] for r in arch["layers"])
    cf_s = sum(r["coforge"]["wall_s"] for r in arch["layers"])
    lines.append(f"time over the {len(arch['layers'])} layers: AccelForge {af_s:.1f} s, coforge "
                 f"{cf_s:.2f} s: {ratio(af_s, cf_s):.0f}x in total (the speed targets read the "
                 f"slowest layer: exact-factor search "
                 f"{min((r['ratio']['speedup_exact'] for r in arch['layers']), default=0):.1f}x,"
                 f" whole search "
                 f"{min((r['ratio']['speedup'] for r in arch['layers']), default=0):.1f}x)")
    lines.append("cf ex: coforge's exact-factor optimum (AccelForge's FFM searches perfect "
                 "factors only) and its search's time (cf ex s); cf: with imperfect factors "
                 "too (the mapping reported), cf s the whole search_factors")
    lines.append("cf(AFmap): AccelForge's own mapping costed by coforge's model (* = over "
                 "capacity there: " + "; ".join(sorted({x for r in arch["layers"] for x in
                                                       r["af_mapping_in_coforge"]["capacity"]}
                                                      ))[:300] + ")")
    return "\n".join(lines)
