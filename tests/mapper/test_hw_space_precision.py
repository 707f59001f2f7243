"""Per-layer precision in hardware design spaces: axes, quantized networks, DSE rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dataflows import Network, conv, fc
from mapper.dse import DseSettings, evaluate_design, run_dse
from mapper.dse_report import write_dse_reports
from mapper.hw_space import HardwareSpaceError, load_hw_space, parse_bits_choice
from mapper.network_map import map_network
from mapper.store import ResultStore

SPACE = """base: edge_8x8_ws
parameters:
  rows: [4]
precision:
  weight_bits: [4, 8]
  input_bits: [8]
  first_last: {weight_bits: [8]}
"""


def _net() -> Network:
    net = Network("tiny")
    net.add(conv("a", 8, 16, 12, 3, padding=1))
    net.add(conv("b", 16, 16, 12, 3, padding=1))
    net.add(conv("c", 16, 16, 12, 3, padding=1))
    net.add(fc("fc", 16 * 144, 10))
    return net


def _space(tmp_path: Path, text: str = SPACE):  # noqa: ANN202
    p = tmp_path / "space.yaml"
    p.write_text(text)
    return load_hw_space(p)


def test_first_last_fixed_middle_layers_become_axes(tmp_path: Path) -> None:
    space = _space(tmp_path).for_network(_net())
    assert space.parameters == (("rows", (4,)), ("bits:b", ("w4a8", "w8a8")),
                                ("bits:c", ("w4a8", "w8a8")))
    assert space.fixed_bits == (("a", "w8a8"), ("fc", "w8a8"))
    assert space.size == 4
    assert json.loads(space.key((0, 0, 1))) == {"rows": 4, "bits:a": "w8a8", "bits:b": "w4a8",
                                                "bits:c": "w8a8", "bits:fc": "w8a8"}
    q = space.quantized(_net(), (0, 0, 1))
    assert [(ly.precision.weight_bits, ly.precision.input_bits) for ly in q.layers()] == \
        [(8, 8), (4, 8), (8, 8), (8, 8)]
    assert space.accelerator((0, 0, 1)).name == "edge_8x8_ws+rows=4"
    assert space.index_of(json.loads(space.key((0, 1, 0)))) == (0, 1, 0)
    assert space.for_network(_net()) is space                # binding is idempotent


def test_layer_overrides_win_and_unset_operands_keep_the_layer_precision(
        tmp_path: Path) -> None:
    text = ("base: edge_8x8_ws\nparameters: {rows: [4]}\nprecision:\n"
            "  weight_bits: [2, 4]\n  layers: {c: {weight_bits: [8], input_bits: [4, 8]}}\n")
    space = _space(tmp_path, text).for_network(_net())
    assert dict(space.parameters)["bits:a"] == ("w2a8", "w4a8")     # input: layer's own 8
    assert dict(space.parameters)["bits:c"] == ("w8a4", "w8a8")


def test_meta_is_the_same_before_and_after_binding(tmp_path: Path) -> None:
    space = _space(tmp_path)
    st = DseSettings(network="tiny")
    assert st.meta(space) == st.meta(space.for_network(_net()))
    assert st.meta(space)["precision"] == {"weight_bits": [4, 8], "input_bits": [8],
                                           "first_last": {"weight_bits": [8]}}


def test_a_design_is_the_quantized_network_mapped(tmp_path: Path) -> None:
    space = _space(tmp_path).for_network(_net())
    st = DseSettings(network="tiny", strategy="grid", map_evals=200)
    narrow, wide = (evaluate_design(space, ix, _net(), st) for ix in ((0, 0, 0), (0, 1, 1)))
    from mapper.dse import design_seed
    want = map_network(space.quantized(_net(), (0, 0, 0)), space.accelerator((0, 0, 0)),
                       "annealing", "edp", 200, None,
                       design_seed(0, space.key((0, 0, 0))), progress=False).result
    assert narrow["energy_mj"] == want.energy_pj / 1e9
    assert narrow["latency_ms"] == want.total_cycles / (want.clock_mhz * 1e3)
    # 4-bit weights in b and c halve their weight traffic: less energy than all 8-bit
    assert narrow["energy_mj"] < wide["energy_mj"]


def test_operands_wider_than_the_pe_are_infeasible_with_the_reason(tmp_path: Path) -> None:
    text = "base: edge_8x8_ws\nparameters: {operand_bits: [4, 8], accumulator_bits: [32]}\n" \
           "precision: {weight_bits: [4, 8], input_bits: [4]}\n"
    net = Network.chain("two", [conv("a", 8, 8, 8, 3), conv("b", 8, 8, 6, 3)])
    space = _space(tmp_path, text)
    st = DseSettings(network="two", strategy="grid", max_designs=8, population=4,
                     map_evals=100)
    store = ResultStore(tmp_path / "s.sqlite", st.meta(space), resume=False)
    assert run_dse(space, net, st, store) == 8
    rows = store.rows()
    bad = [r for r in rows if not r["feasible"]]
    # operand_bits 4 with any 8-bit weight layer: 3 of the 4 bit combinations
    assert len(bad) == 3 and all('"operand_bits": 4' in r["params"] for r in bad)
    assert "has 8-bit weights and 4-bit inputs but pe.operand_bits is 4" in bad[0]["error"]
    txt = write_dse_reports(rows, st, tmp_path)["txt"].read_text()
    assert "bits (weight/input per layer): a=w" in txt
    assert "accuracy not measured: give --onnx MODEL --data D.npz" in txt
    header = (tmp_path / "pareto.csv").read_text().splitlines()[0].split(",")
    assert {"bits:a", "bits:b"} <= set(header)


@pytest.mark.parametrize("precision, message", [
    ("{weight_bits: [3]}", r"precision\.weight_bits values must be from \[2, 4, 8, 16, 32\], "
                           r"not 3 \(line 3\)$"),
    ("{weight_bits: []}", r"precision\.weight_bits must be a non-empty list"),
    ("{bits: [4]}", r"precision: unknown key 'bits'"),
    ("{layers: {nope: {weight_bits: [4]}}}", None),
    ("{first_last: [8]}", r"precision\.first_last must be a mapping of weight_bits/input_bits "
                          r"to lists of bits, not \[8\] \(line 3\)$"),
    ("{weight_bits: [4, 4]}", r"lists a value twice"),
])
def test_precision_errors(tmp_path: Path, precision: str, message: str | None) -> None:
    text = f"base: edge_8x8_ws\nparameters: {{rows: [4]}}\nprecision: {precision}\n"
    if message is None:             # a layer name is only checked against the network
        with pytest.raises(HardwareSpaceError, match=r"network 'tiny' has no compute layer "
                                                     r"'nope'"):
            _space(tmp_path, text).for_network(_net())
        return
    with pytest.raises(HardwareSpaceError, match=message):
        _space(tmp_path, text)


def test_bits_choice_text() -> None:
    assert parse_bits_choice("w4a16") == (4, 16)
    with pytest.raises(HardwareSpaceError, match=r"must look like 'w4a8'"):
        parse_bits_choice("w3a8")


def test_unbound_space_refuses_to_quantize(tmp_path: Path) -> None:
    with pytest.raises(HardwareSpaceError, match=r"call for_network\(net\) first"):
        _space(tmp_path).quantized(_net(), (0,))


def test_pe_mode_axis_turns_narrow_bits_into_speed(tmp_path: Path) -> None:
    text = ("base: edge_8x8_ws\nparameters: {pe_mode: [fixed, bitfusion]}\n"
            "precision: {weight_bits: [4], input_bits: [4]}\n")
    net = Network.chain("two", [conv("a", 16, 16, 8, 3), conv("b", 16, 16, 6, 3)])
    space = _space(tmp_path, text).for_network(net)
    assert space.accelerator((1,)).pe.mode == "bitfusion"
    st = DseSettings(network="two", strategy="grid", map_evals=300)
    fixed, fused = (evaluate_design(space, (i,), net, st) for i in (0, 1))
    assert fixed["feasible"] == fused["feasible"] == 1
    assert fused["latency_ms"] < fixed["latency_ms"]      # 4x4-bit products fused 4 per MAC


def test_rtl_unbuildable_candidates_on_a_target_are_infeasible(tmp_path: Path) -> None:
    text = "base: edge_8x8_ws\nparameters: {pe_mode: [bitserial], dataflow: [ws, rs]}\n"
    net = Network.chain("one", [conv("a", 8, 8, 8, 3)])
    space = _space(tmp_path, text)
    st = DseSettings(network="one", strategy="grid", map_evals=100, target="ecp5-85k")
    ws, rs = (evaluate_design(space, ix, net, st) for ix in ((0, 0), (0, 1)))
    assert ws["feasible"] == 1 and ws["dsp"] == 0        # the bit-serial engine: no DSP
    assert rs["feasible"] == 0 and rs["lut"] is None and rs["latency_ms"] is None
    assert "dataflow must be one of ['ws', 'os'] for RTL, not 'rs'" in rs["error"]
