"""Issue 10 check: one decode-step GEMV tile of Qwen2.5-0.5B (a slice of ``q_proj``)
runs on the generated RTL of ``edge_8x8_ws`` (Amaranth backend) with outputs equal to
``sim.intref.int_gemm`` and RTL cycles equal to ``hdl.plan.sim_cycles``.

The tile's shape comes from the decode-step network: ``q_proj`` of a decode step is
``M = batch`` (one new token per sequence) x ``K = hidden`` (896) x ``N = q_dim`` (896);
the tile keeps ``M`` and slices ``K``/``N`` to what the engine's buffers hold (the
weight buffer has 1365 words: ``ceil(N/8) * K <= 1365``, so the whole 896-long
reduction fits with one 8-column fold, or half of it with two).
"""

from __future__ import annotations

import numpy as np
import pytest

from dataflows.llm import LLMQuant, decode_step_network, load_config
from hdl.driver import GemmCase
from hdl.params import HdlParams
from hdl.plan import plan_gemm, sim_cycles
from sim import intref
from sim.spec_io import load_accelerator

W8A8 = LLMQuant(weight_bits=8, act_bits=8, kv_bits=8)


def _q_proj(batch: int, context: int = 16):
    net = decode_step_network(load_config("qwen2.5_0.5b"), context, batch, W8A8)
    return next(lay for lay in net.layers() if lay.name == "layers.0.q_proj")


def test_decode_q_proj_is_a_gemv_at_batch_rows() -> None:
    for batch in (1, 3):
        q = _q_proj(batch)
        # dataflows.layer.gemm(name, M, N, K): P = M, K = N, C = K (reduction).
        assert (q.P, q.C, q.K) == (batch, 896, 896)     # hidden 896 = 14 heads x 64


@pytest.mark.parametrize("k_slice,n_slice", [(896, 8), (448, 16)])
def test_qwen_decode_gemv_tile_on_rtl(k_slice: int, n_slice: int) -> None:
    from hdl.sim_amaranth import run_amaranth
    accel = load_accelerator("edge_8x8_ws")
    params = HdlParams.from_accelerator(accel)
    q = _q_proj(batch=1)
    m, k, n = q.P, min(k_slice, q.C), min(n_slice, q.K)     # the GEMV's M = batch = 1
    assert (m, k, n) == (1, k_slice, n_slice)
    rng = np.random.default_rng(20260 + k)
    a = rng.integers(-128, 128, size=(m, k), dtype=np.int64)          # activations int8
    b = rng.integers(-128, 128, size=(k, n), dtype=np.int64)          # weights int8
    plan = plan_gemm(params, m, k, n)
    case = GemmCase(m, k, n, a.tolist(), b.tolist(), idle=0.3, backpressure=0.3, seed=7)
    res = run_amaranth(params, [case])[0]
    got = np.array(res.outputs, dtype=np.int64)
    assert np.array_equal(got, intref.int_gemm(a, b, params.accumulator_bits))
    # By hand (native WS timing): ceil(K/8) x ceil(N/8) weight tiles, each a preload of
    # R = 8 rows, the one-row stream (M = 1) and R + C - 1 = 15 cycles of skew/drain:
    # 24 cycles per tile, i.e. utilization K*N / (64 * 24 * tiles) = 1/24 at batch 1.
    tiles = -(-k // 8) * -(-n // 8)
    per_tile = 8 + m + (8 + 8 - 1)
    assert per_tile == 24
    assert res.rtl_cycles == res.busy_cycles == sim_cycles(plan, accel) == per_tile * tiles, \
        (res.rtl_cycles, sim_cycles(plan, accel), per_tile * tiles)
