"""RTL measurements: ``python -m hdl.bench [--out FILE.json]``.

* the cycle-equality table: for each configuration and GEMM, the busy cycles
  measured in RTL (cocotb + Icarus) next to ``sim``'s native ``compute_cycles``;
* cocotb + Icarus speed (simulated clock cycles per wall second of the testbench
  loop, loading and unloading included) for 4x4 and 8x8 int8 WS engines;
* the wall time of one ``verify``-style 8x8 GEMM regression (generate, build, run).
"""

from __future__ import annotations

import argparse
import json
import time

from hdl.cocotb_run import run_cocotb
from hdl.driver import random_case
from hdl.params import HdlParams
from hdl.plan import plan_gemm, sim_cycles
from hdl.verify import compare
from sim.spec import Accelerator, Buffer, PEConfig

#: (dataflow, rows, cols, operand bits, product register, (M, K, N))
TABLE = [("ws", 2, 2, 8, False, (5, 7, 3)), ("ws", 3, 5, 4, True, (13, 11, 9)),
         ("ws", 5, 3, 16, False, (8, 16, 10)), ("ws", 4, 4, 8, True, (16, 16, 16)),
         ("ws", 8, 8, 8, False, (20, 19, 17)), ("ws", 2, 8, 16, True, (9, 4, 20)),
         ("os", 2, 2, 4, False, (5, 7, 3)), ("os", 3, 5, 8, True, (13, 11, 9)),
         ("os", 5, 3, 8, False, (8, 16, 10)), ("os", 4, 4, 16, True, (16, 16, 16)),
         ("os", 8, 8, 8, True, (20, 19, 17)), ("os", 8, 2, 4, False, (9, 4, 20))]
ACC = {4: 16, 8: 32, 16: 40}


def accel_for(df: str, rows: int, cols: int, bits: int, pr: bool, glb_kib: int = 48,
              ) -> Accelerator:
    return Accelerator(name=f"bench_{df}_{rows}x{cols}", rows=rows, cols=cols, dataflow=df,
                       pe=PEConfig(bits, ACC[bits], pr),
                       rf=Buffer("rf", capacity_bytes=8, word_bits=8),
                       glb=(Buffer("glb", capacity_bytes=glb_kib * 1024, word_bits=64),))


def cycle_table() -> list[dict[str, object]]:
    rows = []
    for df, r, c, bits, pr, (m, k, n) in TABLE:
        accel = accel_for(df, r, c, bits, pr)
        params = HdlParams.from_accelerator(accel)
        plan = plan_gemm(params, m, k, n)
        case = random_case(params, plan, seed=1)
        res = run_cocotb(params, [case]).results[0]
        rec = compare(case.a, case.b, res, params.accumulator_bits, sim_cycles(plan, accel))
        rows.append({"config": f"{df} {r}x{c} int{bits}{' +preg' if pr else ''}",
                     "gemm_mkn": [m, k, n]} | rec)
    return rows


def speed(rows: int, cols: int, gemm: tuple[int, int, int]) -> dict[str, object]:
    accel = accel_for("ws", rows, cols, 8, False)
    params = HdlParams.from_accelerator(accel)
    plan = plan_gemm(params, *gemm)
    case = random_case(params, plan, seed=2, idle=0.0, backpressure=0.0)
    t0 = time.perf_counter()
    run = run_cocotb(params, [case])
    total = time.perf_counter() - t0
    return {"array": f"{rows}x{cols}", "gemm_mkn": list(gemm), "cycles": run.cycles,
            "tb_loop_s": round(run.wall_s, 2), "cycles_per_s": round(run.cycles_per_s),
            "wall_s_incl_generate_build": round(total, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="write the measurements as JSON here")
    args = ap.parse_args()
    doc = {"cycle_table": cycle_table(),
           "speed": [speed(4, 4, (48, 48, 48)), speed(8, 8, (40, 64, 40))]}
    for row in doc["cycle_table"]:
        print(f"{row['config']:<20} MKN={row['gemm_mkn']!s:<14} rtl={row['rtl_cycles']:>6} "
              f"sim={row['sim_cycles']:>6} match={row['cycles_match']} "
              f"outputs={row['outputs_match']}")
    for s in doc["speed"]:
        print(json.dumps(s))
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1)


if __name__ == "__main__":
    main()
