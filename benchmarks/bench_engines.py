#!/usr/bin/env python3
"""The engine kinds side by side: dense vs 2:4, bit-serial throughput vs input bits,
Fmax per kind.

    .venv/bin/python benchmarks/bench_engines.py [--gemm M,K,N] [--backend B] [--seed S]
                                                 [--quick] [--json OUT]

What it measures (nothing here is a wall-clock speed; wall times are printed beside
each simulation for information only):

1. **dense vs 2:4** -- one random ``--gemm`` (default 32x64x16) on the 4x4 WS arrays of
   ``edge_4x4_ws_sparse24`` and of its dense twin (the same spec with ``sparse.policy:
   none``), through :func:`hdl.verify.verify` (the 2:4 engine's weights pruned 2:4):
   **RTL cycles** counted by the engine from start to done (each checked equal to the
   cycle model's and the outputs to numpy), and their ratio. Beside them the **LUT, FF,
   DSP, BRAM and Fmax** *measured* by ``python -m hdl.synth_sweep`` for the same 4x4
   int8 16 KiB array on ECP5-85k (``ws-4x4-int8-16k@ecp5-85k`` vs
   ``ws-4x4-int8-16k-sparse_nm@ecp5-85k`` in the stored baseline
   ``tests/data/fpga_baselines/<tools>/sweep.json``; no synthesis runs here).
2. **bit-serial throughput vs input bits** -- the same GEMM on ``edge_4x4_ws_bitserial``
   at ``--bits w8a{2,4,8}``: RTL cycles and **MACs per cycle** = ``M*K*N / cycles``, next
   to the dense twin's of part 1 (same array, layout and GEMM).
3. **Fmax per engine kind** -- from the stored baseline: every ECP5 configuration of each
   kind with its measured Fmax, and the 4x4 int8 WS 16 KiB configuration of each kind.

Exit 1 when any RTL run's cycles differ from the cycle model's or its outputs from numpy.
``--quick``: a 12x24x8 GEMM and a2/a8 only.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _run(accel, m: int, k: int, n: int, seed: int, backend: str,  # noqa: ANN001
         **kw: object) -> dict:
    from hdl.verify import verify
    t0 = time.perf_counter()
    rec = verify(accel, m, k, n, seed=seed, backend=backend, **kw)  # type: ignore[arg-type]
    rec["wall_s"] = round(time.perf_counter() - t0, 2)
    rec["ok"] = bool(rec["cycles_match"] and rec["outputs_match"])
    return rec


def _baseline() -> dict[str, dict]:
    from hdl.synth_sweep import baseline_path, load_baseline
    path = baseline_path()
    if not path.exists():
        return {}
    return {cfg.name: {"engine": cfg.engine, **m} for cfg, m in load_baseline(path)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gemm", default=None, help="M,K,N (default 32,64,16; --quick 12,24,8)")
    ap.add_argument("--backend", default="amaranth",
                    help="hdl.verify backend (default amaranth: no simulator build)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = ap.parse_args(argv)

    from hdl.verify import parse_gemm
    from sim.spec import SparseConfig
    from sim.spec_io import load_accelerator

    m, k, n = parse_gemm(args.gemm or ("12,24,8" if args.quick else "32,64,16"))
    macs = m * k * n
    ok = True
    out: dict[str, object] = {"gemm_mkn": [m, k, n], "backend": args.backend,
                              "seed": args.seed}

    # 1. dense vs 2:4 -------------------------------------------------------------------
    sparse = load_accelerator("edge_4x4_ws_sparse24")
    dense = replace(sparse, name="edge_4x4_ws_dense", sparse=SparseConfig())
    d = _run(dense, m, k, n, args.seed, args.backend)
    s = _run(sparse, m, k, n, args.seed, args.backend, prune="2:4")
    ok &= d["ok"] and s["ok"]
    synth = _baseline()
    pair = {kind: synth.get(name) for kind, name in
            (("dense", "ws-4x4-int8-16k@ecp5-85k"),
             ("sparse_nm", "ws-4x4-int8-16k-sparse_nm@ecp5-85k"))}
    print(f"1. dense vs 2:4 on the 4x4 WS array, GEMM {m}x{k}x{n} ({args.backend}):")
    for kind, rec in (("dense", d), ("2:4", s)):
        print(f"   {kind:<6} RTL {rec['rtl_cycles']:>7} cycles (cycle model "
              f"{rec['sim_cycles']}, outputs {'match' if rec['outputs_match'] else 'DIFFER'}"
              f"; {rec['wall_s']} s wall)")
    print(f"   2:4 / dense cycles = {s['rtl_cycles'] / d['rtl_cycles']:.3f}")
    for kind, r in pair.items():
        if r is None:
            print(f"   {kind:<9} ECP5-85k: not in the stored baseline (run python -m "
                  f"hdl.synth_sweep --update-baseline)")
        else:
            print(f"   {kind:<9} ECP5-85k measured: LUT {r['lut']} FF {r['ff']} DSP {r['dsp']} "
                  f"BRAM {r['bram']} Fmax {r['fmax_mhz']} MHz")
    out["dense_vs_nm"] = {"dense": d, "2:4": s, "cycle_ratio": s["rtl_cycles"] / d["rtl_cycles"],
                          "synth_ecp5_85k": pair}

    # 2. bit-serial throughput vs input bits ---------------------------------------------
    bs = load_accelerator("edge_4x4_ws_bitserial")
    print(f"2. bit-serial 4x4 WS, GEMM {m}x{k}x{n}: MACs/cycle vs input bits "
          f"(dense 4x4: {macs / d['rtl_cycles']:.3f})")
    serial = {}
    for a_bits in ((2, 8) if args.quick else (2, 4, 8)):
        r = _run(bs, m, k, n, args.seed, args.backend, bits=(8, a_bits))
        ok &= r["ok"]
        r["macs_per_cycle"] = macs / r["rtl_cycles"]
        serial[f"a{a_bits}"] = r
        print(f"   a{a_bits}: RTL {r['rtl_cycles']:>7} cycles = cycle model "
              f"{r['sim_cycles']}, {r['macs_per_cycle']:.3f} MACs/cycle, outputs "
              f"{'match' if r['outputs_match'] else 'DIFFER'} ({r['wall_s']} s wall)")
    out["bitserial"] = serial | {"dense_macs_per_cycle": macs / d["rtl_cycles"]}

    # 3. Fmax per engine kind (stored measurements) -----------------------------------
    print("3. Fmax per engine kind on ECP5 (measured, stored baseline):")
    per_kind: dict[str, list] = {}
    for name, r in synth.items():
        if "ecp5" in name:
            per_kind.setdefault(r["engine"], []).append((name, r["fmax_mhz"]))
    for kind, rows in sorted(per_kind.items()):
        fmax = [f for _, f in rows]
        want = f"ws-4x4-int8-16k{'' if kind == 'dense' else '-' + kind}@ecp5-85k"
        same = dict(rows).get(want)
        print(f"   {kind:<10} {len(rows):>2} configs: {min(fmax):.1f} .. {max(fmax):.1f} MHz"
              f"; ws-4x4-int8-16k: {same if same is not None else 'not measured'}")
    out["fmax_by_kind"] = {kind: dict(rows) for kind, rows in per_kind.items()}
    out["summary"] = (f"2:4 / dense cycles {s['rtl_cycles'] / d['rtl_cycles']:.2f}; "
                      f"bit-serial MACs/cycle " + ", ".join(
                          f"{key} {r['macs_per_cycle']:.2f}" for key, r in serial.items())
                      + f" (dense {macs / d['rtl_cycles']:.2f}); checks "
                      + ("passed" if ok else "FAILED"))
    print(out["summary"])
    if args.json:
        args.json.write_text(json.dumps(out, indent=1, default=str) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
