"""The AccelForge side of ``benchmarks/bench_peers.py``: AccelForge 1.0.467 run live in its
own venv (``build/peers/accelforge-venv``, ``benchmarks/accelforge_runner.py``) or read
from its recordings in ``tests/data/accelforge_1.0.467``, and coforge's searched optimum
and its cost of AccelForge's own mapping per layer (the rules: bench_peers' docstring)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from dataflows.layer import Layer
from peers_common import OPS, BenchError, compulsory_bits, ratio

ROOT = Path(__file__).resolve().parents[1]
AF_DIR = ROOT / "tests" / "data" / "accelforge_1.0.467"
AF_PY = ROOT / "build" / "peers" / "accelforge-venv" / "bin" / "python"
AF_VERSION = "1.0.467"
PEER_RTOL = 1e-6


def af_layer(rec: dict) -> Layer:
    """The ResNet-50 conv layer of a runner record (padding (R - 1) / 2, as torchvision;
    AccelForge's einsum ``H: p*stride + r`` spans the padded rows)."""
    s = rec["shape"]
    return Layer(name=rec["layer"], K=s["m"], C=s["c"], P=s["p"], Q=s["q"], R=s["r"],
                 S=s["s"], H=s["p"] * s["stride"], W=s["q"] * s["stride"],
                 stride_h=s["stride"], stride_w=s["stride"], pad_h=(s["r"] - 1) // 2,
                 pad_w=(s["s"] - 1) // 2)


def af_arch(name: str) -> tuple[Path, str]:
    """(the arch file coforge imports, the runner's --arch) for ``ws_16x16`` or a shipped
    example (its copy ``arch_<name>.yaml``)."""
    if name == "ws_16x16":
        path = AF_DIR / "ws_16x16.yaml"
        return path, str(path.relative_to(ROOT))
    return AF_DIR / f"arch_{name}.yaml", f"shipped:{name}"


def run_accelforge_live(name: str, layers: list[str]) -> dict:
    """AccelForge's runner in its venv on ``layers`` of one arch; its JSON object."""
    if not AF_PY.exists():
        raise BenchError(f"{AF_PY} missing: python3.12 -m venv build/peers/accelforge-venv "
                         f"&& build/peers/accelforge-venv/bin/pip install "
                         f"accelforge=={AF_VERSION}")
    path, arch = af_arch(name)
    with tempfile.TemporaryDirectory(prefix="bench_peers_af_") as wd:
        # run in the temporary directory: AccelForge's mapper renders a mapping.svg there
        cmd = [str(AF_PY), str(ROOT / "benchmarks" / "accelforge_runner.py"), "--arch",
               arch if arch.startswith("shipped:") else str(path), "--out-dir", wd] \
            + [a for x in layers for a in ("--layer", x)]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=wd)
        if proc.returncode:
            raise BenchError(f"AccelForge {name} failed: {proc.stderr.strip()[-400:]}")
        return json.loads((Path(wd) / f"{name}.json").read_text())


def accelforge_differences(live: dict, rec: dict) -> list[str]:
    out = []
    if live["arch"]["sha256"] != rec["arch"]["sha256"]:
        out.append(f"arch sha256 {live['arch']['sha256']} vs recorded {rec['arch']['sha256']}")
    recorded = {r["layer"]: r for r in rec["layers"]}
    for a in live["layers"]:
        b = recorded.get(a["layer"])
        if "error" in a or b is None:
            out.append(f"{a['layer']}: {a.get('error', 'not in the recording')}")
            continue
        if abs(a["energy"] - b["energy"]) > PEER_RTOL * abs(b["energy"]) \
                or a["actions"] != b["actions"] or a["mapping_text"] != b["mapping_text"]:
            out.append(f"{a['layer']}: energy {a['energy']} vs recorded {b['energy']} "
                       f"(or its actions / mapping differ)")
    return out




def af_dram_op_bits(rec: dict, conv: Any, top: str) -> dict[str, float]:
    """AccelForge's MainMemory actions (reads + writes) x bits per action, per operand."""
    from mapper.accelforge_exchange import accelforge_actions
    per = accelforge_actions(rec).get(top, {})
    return {o: float(sum(per.get(o, (0, 0))) * conv.action_bits[top]) for o in OPS}


def af_dram_bits(rec: dict, conv: Any, top: str) -> float:
    """AccelForge's MainMemory actions (reads + writes, every tensor) x bits per action."""
    return float(sum(v for t, acts in rec["actions"].get(top, {}).items() if t != "compute"
                     for v in acts.values()) * conv.action_bits[top])


def coforge_dram_op_bits(res: Any, hier: Any, layer: Layer) -> dict[str, float]:
    """coforge's top-level words (reads + writes) x the level's word bits, per operand."""
    from mapper.zigzag_import import hierarchy_word_accesses
    top = hier.levels[0]
    words = hierarchy_word_accesses(res, hier, layer)[top.name]
    return {o: float(sum(words.get(o, (0, 0))) * top.word_bits) for o in OPS}


def coforge_dram_bits(res: Any, hier: Any, layer: Layer) -> float:
    return sum(coforge_dram_op_bits(res, hier, layer).values())


def af_layer_row(rec: dict, conv: Any, pj_scale: float, max_evals: int, seed: int) -> dict:
    """coforge's searched optimum and its cost of AccelForge's mapping, for one layer."""
    from mapper.accelforge_exchange import accelforge_nest_mapping
    from mapper.nest_search import search_factors
    from sim.hier_cost import capacity_report, evaluate
    hier = conv.hierarchy
    layer = af_layer(rec)
    w0, c0 = time.perf_counter(), time.process_time()
    best = search_factors(layer, hier, "evolution", "energy", max_evals, seed=seed)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    chosen = best.hierarchy or hier         # the bypass choice (may_bypass levels)
    res = evaluate(layer, chosen, best.mapping)
    # AccelForge's FFM explores perfect factors only (explore_imperfect_*_loops default
    # False): coforge's exact-factor half is the like-for-like optimum
    ex = best.exact or best
    ex_h = ex.hierarchy or hier
    res_ex = evaluate(layer, ex_h, ex.mapping)
    lm = accelforge_nest_mapping(conv, rec)
    theirs = evaluate(layer, lm.hierarchy, lm.mapping)
    top = hier.levels[0].name
    af_e = rec["energy"] * pj_scale
    af_dram = af_dram_bits(rec, conv, top)
    c_dram = coforge_dram_bits(res, chosen, layer)
    return {
        "layer": rec["layer"], "macs": layer.macs,
        "accelforge": {"energy_pj": af_e, "latency": rec["latency"], "dram_bits": af_dram,
                       "dram_bits_by_operand": af_dram_op_bits(rec, conv, top),
                       "wall_s": rec["wall_s"], "cpu_s": rec["cpu_s"],
                       "mapping": rec["mapping_text"],
                       "reservations": rec.get("reservations"), "usage": rec.get("usage")},
        "coforge": {"energy_pj": res.energy_pj, "latency_cycles": res.total_cycles,
                    "dram_bits": c_dram, "wall_s": wall, "cpu_s": cpu, "legal": res.legal,
                    "exact_wall_s": ex.wall_s,
                    "dram_bits_by_operand": coforge_dram_op_bits(res, chosen, layer),
                    "bypassed": best.bypassed,
                    "evaluations": best.evaluations,
                    "dram_elements": {o: dict(v) for o, v in res.accesses[top].items()},
                    "compulsory_dram_bits": compulsory_bits(layer),
                    "mapping": best.mapping.to_dict(chosen)},
        "coforge_exact_factors": {"energy_pj": res_ex.energy_pj,
                                  "latency_cycles": res_ex.total_cycles,
                                  "dram_bits": coforge_dram_bits(res_ex, ex_h, layer),
                                  "legal": res_ex.legal, "mapping": ex.mapping.to_dict(ex_h)},
        "af_mapping_in_coforge": {
            "energy_pj": theirs.energy_pj, "dram_bits": coforge_dram_bits(
                theirs, lm.hierarchy, layer), "legal": theirs.legal,
            "capacity": capacity_report(layer, lm.hierarchy, lm.mapping)},
        "ratio": {"energy": ratio(res.energy_pj, af_e), "dram": ratio(c_dram, af_dram),
                  "energy_exact": ratio(res_ex.energy_pj, af_e),
                  "dram_exact": ratio(coforge_dram_bits(res_ex, ex_h, layer), af_dram),
                  "energy_vs_af_mapping_in_coforge": ratio(res.energy_pj, theirs.energy_pj),
                  "speedup": ratio(rec["wall_s"], wall),
                  "speedup_exact": ratio(rec["wall_s"], ex.wall_s)}}


def accelforge_arch(name: str, peer: dict, source: str, max_evals: int, seed: int = 0
                    ) -> dict:
    """coforge on one AccelForge arch next to AccelForge's layers ``peer``."""
    from mapper.accelforge_import import load_accelforge
    path, _ = af_arch(name)
    if hashlib.sha256(path.read_bytes()).hexdigest() != peer["arch"]["sha256"]:
        raise BenchError(f"{path.name}: not the file AccelForge ran (sha256 differs)")
    conv = load_accelforge(path)
    joules = any("joules" in n for n in conv.notes)
    per_second = any("per second" in n for n in conv.notes)
    rows = [af_layer_row(rec, conv, 1e12 if joules else 1.0, max_evals, seed)
            for rec in peer["layers"] if "error" not in rec]
    return {"arch": name, "source": source, "energy_unit": "J" if joules else "pJ",
            "latency_unit": "s" if per_second else "cycles", "layers": rows}
