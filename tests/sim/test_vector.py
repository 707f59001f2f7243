"""The vector unit (sim/vector.py): hand-computed cycles and energy of non-GEMM nodes,
both fidelities, the spec section (validation, round trip, hash), result.json and the
report with and without a unit, and the LLM operators in cost_generation."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from dataflows import zoo
from dataflows.layer import conv, passive
from dataflows.llm import DecoderConfig, LLMQuant, decode_step_network
from dataflows.network import Network
from mapper.report import result_dict, table
from sim.llm_cost import cost_generation
from sim.simulate import simulate
from sim.spec import Accelerator, Buffer, SpecError, VectorUnit
from sim.spec_io import accelerator_from_dict, dump_accelerator, load_accelerator
from sim.vector import NO_VECTOR_UNIT, VectorError, network_vector, vector_layer, vector_ops

#: One GLB, 16 B/cycle each way, 6.4 pJ per 64-bit word = 0.1 pJ/bit; a 16-lane unit
#: with the default tables (add 1 cycle 0.4 pJ, softmax 4 cycles 4.5 pJ, pool 1 / 0.4,
#: silu 3 / 5.2, mul 1 / 1.1).
GLB = Buffer("glb", capacity_bytes=64 * 1024, word_bits=64, read_bytes_per_cycle=16,
             write_bytes_per_cycle=16, access_pj=6.4)
ACCEL = Accelerator("v", rows=4, cols=4, glb=(GLB,), vector=VectorUnit(lanes=16))


def test_softmax_lane_bound_by_hand() -> None:
    # 4 heads x 128 keys x 128 queries = 65,536 elements, costed alone (input = output).
    r = vector_layer(passive("l.softmax", "elementwise", 4 * 128, (128, 1)), ACCEL)
    assert r.vector_ops == ("softmax",)
    assert r.compute_cycles == 65536 // 16 * 4 == 16384      # 4 cycles per element
    assert r.stall_cycles == 0                               # reads 65,536 B / 16 = 4,096
    assert r.energy_pj_by_level["vector"] == pytest.approx(65536 * 4.5)       # 294,912
    assert r.energy_pj_by_level["glb"] == pytest.approx(2 * 65536 * 8 * 0.1)  # 104,857.6
    assert r.energy_pj == pytest.approx(399769.6)
    assert (r.macs, r.utilization, r.kind) == (0, 0.0, "elementwise")


def test_residual_add_is_glb_port_bound_by_hand() -> None:
    # Two 64 x 8 x 8 operands in, one out: 4,096 adds = 256 lane cycles, but 8,192 B
    # read at 16 B/cycle = 512 cycles: total 512, stall 256.
    r = vector_layer(passive("b.add", "elementwise", 64, 8), ACCEL, input_elems=2 * 4096)
    assert (r.compute_cycles, r.stall_cycles, r.total_cycles) == (256, 256, 512)
    assert r.energy_pj == pytest.approx(4096 * 0.4 + (8192 + 4096) * 8 * 0.1)  # 11,468.8
    assert r.bytes["glb"]["input"]["reads"] == 8192
    assert r.bytes["glb"]["output"]["writes"] == 4096


def test_composite_silu_mul_by_hand() -> None:
    # 300 elements: silu ceil(300/16) = 19 x 3 = 57 cycles, mul 19 x 1: 76 cycles.
    r = vector_layer(passive("mlp.silu_mul", "elementwise", 100, (3, 1)), ACCEL)
    assert r.vector_ops == ("silu", "mul")
    assert r.compute_cycles == 76
    assert r.energy_pj_by_level["vector"] == pytest.approx(300 * (5.2 + 1.1))


def _conv_pool() -> Network:
    net = Network("cp")
    net.add(conv("c", 3, 16, 16, 3, padding=1))         # 16 x 16 x 16 = 4,096 outputs
    net.add(passive("pool", "pool", 16, 8))             # 2x2 max pool: 1,024 outputs
    return net


def test_pool_counts_its_window_inputs_in_both_fidelities() -> None:
    # 4,096 inputs (the conv's outputs) / 16 lanes = 256 cycles; reads 4,096 B / 16 = 256.
    by = {}
    for fidelity in ("analytic", "cycle"):
        res = simulate(_conv_pool(), ACCEL, fidelity=fidelity)
        assert [r.layer for r in res.layers] == ["c", "pool"]
        pool = res.layers[1]
        assert (pool.compute_cycles, pool.stall_cycles) == (256, 0)
        assert pool.energy_pj == pytest.approx(4096 * 0.4 + (4096 + 1024) * 8 * 0.1)
        assert res.total_cycles == res.layers[0].total_cycles + 256       # totals include it
        by[fidelity] = pool
    assert replace(by["cycle"], fidelity="analytic", stall_cycles_by_cause=None) == \
        by["analytic"]                                   # the same closed form
    assert by["cycle"].stall_cycles_by_cause["glb_bandwidth"] == 0


def test_resnet18_pool_and_adds_in_result_json_and_flagged_without_a_unit() -> None:
    a = load_accelerator("edge_npu_16x16_ws")
    res = simulate(zoo.load("resnet18"), a)
    doc = json.loads(json.dumps(result_dict(res)))
    layers = {entry["name"]: entry for entry in doc["layers"]}
    pool = layers["maxpool"]
    assert (pool["kind"], pool["vector_ops"]) == ("pool", ["pool"])
    assert pool["compute_cycles"] == 64 * 112 * 112 // 16 == 50176   # conv1's outputs
    assert layers["layer1.0.add"]["compute_cycles"] == 64 * 56 * 56 // 16 == 12544
    assert len(doc["layers"]) == 21 + 10          # 21 array layers, 2 pools, 8 adds
    assert doc["totals"]["total_cycles"] == sum(e["total_cycles"] for e in doc["layers"])
    assert doc["totals"]["energy_pj_by_level"]["vector"] > 0
    assert "16 lanes" in doc["vector_unit"]
    bare = simulate(zoo.load("resnet18"), replace(a, vector=None))
    bare_doc = result_dict(bare)
    assert bare_doc["vector_unit"] == NO_VECTOR_UNIT == "none: non-GEMM operators not costed"
    assert len(bare_doc["layers"]) == 21 and "maxpool" not in [e["name"]
                                                                for e in bare_doc["layers"]]
    assert res.total_cycles - bare.total_cycles == sum(
        r.total_cycles for r in res.layers if r.vector_ops is not None)
    assert "vector unit: none: non-GEMM operators not costed" in table(bare)
    assert "vector uJ" in table(res).splitlines()[0]


def test_llm_node_kinds() -> None:
    cfg = DecoderConfig("t", layers=1, hidden=64, heads=4, kv_heads=2, ffn=128, vocab=100)
    net = decode_step_network(cfg, 7)
    kinds = {n: r.vector_ops for n, r in network_vector(net, ACCEL, norm="rmsnorm").items()}
    assert kinds == {"embed_tokens": ("copy",), "layers.0.input_norm": ("rmsnorm",),
                     "layers.0.rope": ("rope",), "layers.0.softmax": ("softmax",),
                     "layers.0.add1": ("add",), "layers.0.post_norm": ("rmsnorm",),
                     "layers.0.mlp.silu_mul": ("silu", "mul"), "layers.0.add2": ("add",),
                     "norm": ("rmsnorm",)}
    vec = network_vector(net, ACCEL, norm="rmsnorm")
    # softmax of one token over 8 keys, 4 heads: 32 elements = 2 lane steps x 4 cycles
    assert vec["layers.0.softmax"].compute_cycles == 8
    # rope of q (64) and k (2 x 16 = 32): 96 elements = 6 x 3 cycles
    assert vec["layers.0.rope"].compute_cycles == 18


def test_llm_cost_adds_the_vector_unit() -> None:
    cfg = DecoderConfig("tiny", layers=2, hidden=256, heads=4, kv_heads=2, ffn=512,
                        vocab=1000, tied_embeddings=True)
    q = LLMQuant(weight_bits=8, act_bits=8, kv_bits=8)
    a = load_accelerator("edge_npu_16x16_ws")
    with_unit = cost_generation(cfg, a, 16, 8, quant=q, samples=8)
    without = cost_generation(cfg, replace(a, vector=None), 16, 8, quant=q, samples=8)
    assert without.breakdown["vector"] == NO_VECTOR_UNIT
    v = with_unit.breakdown["vector"]
    assert v["prefill_cycles"] > 0
    # Only softmax grows with the keys: 4 heads x 17 keys = 68 elements -> 5 lane steps,
    # x 24 keys = 96 -> 6 steps, 4 cycles each, in 2 layers: +8 cycles over the steps.
    assert v["decode_cycles_last_step"] - v["decode_cycles_first_step"] == 8
    clock_khz = a.clock_mhz * 1e3
    assert with_unit.ttft_ms - without.ttft_ms == pytest.approx(v["prefill_cycles"] / clock_khz)
    assert with_unit.decode_step_ms[0] - without.decode_step_ms[0] == pytest.approx(
        v["decode_cycles_first_step"] / clock_khz)
    # per decode step: 2 layers x softmax of 4 heads x (16 + 1) keys = 68 elements,
    # ceil(68/16) = 5 lane steps x 4 cycles = 20 cycles per layer
    net = decode_step_network(cfg, 16, 1, q)
    assert network_vector(net, a, norm="rmsnorm")["layers.1.softmax"].compute_cycles == 20


# -- the spec section ------------------------------------------------------------------
def test_spec_validation_messages() -> None:
    with pytest.raises(SpecError, match=r"vector.lanes must be a positive integer, not 0"):
        VectorUnit(lanes=0)
    with pytest.raises(SpecError, match=r"unknown operator kind 'tanh'"):
        VectorUnit(cycles_per_element={"tanh": 2})
    with pytest.raises(SpecError, match=r"vector.cycles_per_element.add must be a finite "
                                        r"number > 0, not 0"):
        VectorUnit(cycles_per_element={"add": 0})
    base = {"name": "t", "array": {"rows": 4, "cols": 4}}
    with pytest.raises(SpecError, match=r"x.yaml: vector: unknown key 'width'"):
        accelerator_from_dict(base | {"vector": {"width": 4}}, "x.yaml")
    with pytest.raises(SpecError, match=r"vector.energy_pj_per_op.add must be a number, "
                                        r"not 'big'"):
        accelerator_from_dict(base | {"vector": {"energy_pj_per_op": {"add": "big"}}})
    with pytest.raises(VectorError, match="has no vector unit"):
        vector_layer(passive("p", "pool", 4), replace(ACCEL, vector=None))
    with pytest.raises(VectorError, match="only passive nodes"):
        vector_ops(conv("c", 3, 4, 8, 3))


def test_partial_tables_keep_defaults_and_round_trip(tmp_path: Path) -> None:
    a = accelerator_from_dict({"name": "t", "array": {"rows": 4, "cols": 4},
                               "vector": {"lanes": 8, "cycles_per_element": {"softmax": 6}}})
    assert a.vector.lanes == 8 and a.vector.cycles_per_element["softmax"] == 6.0
    assert a.vector.cycles_per_element["add"] == 1.0
    p = tmp_path / "t.yaml"
    p.write_text(dump_accelerator(a))
    again = load_accelerator(p)
    assert again == a and again.spec_hash == a.spec_hash


def test_no_vector_key_without_a_unit() -> None:
    """Specs without a unit hash as before: their plain-data form has no ``vector`` key."""
    a = load_accelerator("edge_8x8_ws")
    assert a.vector is None and "vector" not in a.to_dict()
    assert "vector" not in dump_accelerator(a)
