"""The RTL cycle-equality sweep on the fastest backend (``verilator-native``), every
engine kind, random shapes (non-multiples of the array included), idle inputs and
backpressure: outputs bit-exact against numpy, start->done cycles equal to the cycle
model (``sim``). Slow (``make rtl-regress``); the default run keeps one case per kind
on both native simulators (tests/hdl/test_native.py)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from hdl.verify import verify
from sim.spec_io import load_accelerator

# (spec, bits (weight, input) variants, prune variants)
KINDS = [
    ("edge_8x8_ws", [None], [None]),
    ("os", [None], [None]),
    ("edge_4x4_ws_bitserial", [(8, 2), (8, 4), (8, 8), (4, 2)], [None]),
    ("edge_4x4_ws_bitfusion", [(8, 8), (4, 4), (2, 2), (4, 8), (8, 2)], [None]),
    ("edge_4x4_ws_sparse24", [None], [None, "1:4"]),
]


def _accel(spec: str):  # noqa: ANN202 - an Accelerator
    if spec == "os":
        return replace(load_accelerator("edge_8x8_ws"), name="edge_8x8_os", dataflow="os")
    return load_accelerator(spec)


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("native_sweep")


@pytest.mark.slow
@pytest.mark.parametrize("spec, bits_list, prunes", KINDS, ids=[k[0] for k in KINDS])
def test_sweep_on_native_verilator(build: Path, spec: str, bits_list: list,
                                   prunes: list) -> None:
    accel = _accel(spec)
    rng = np.random.default_rng(len(spec))
    bad = []
    for i in range(6):
        m, k, n = (int(x) for x in rng.integers(1, 41, 3))
        bits = bits_list[i % len(bits_list)]
        prune = prunes[i % len(prunes)]
        noise = (0.0, 0.3, 0.6)[i % 3]
        rec = verify(accel, m, k, n, seed=100 + i, backend="verilator-native",
                     build_dir=build, bits=bits, prune=prune, idle=noise,
                     backpressure=noise)
        if not (rec["outputs_match"] and rec["cycles_match"]
                and rec["rtl_cycles"] == rec["sim_cycles"]):
            bad.append(((m, k, n), bits, prune, noise, rec))
    assert not bad, bad
