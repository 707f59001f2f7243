"""``value_bits`` on a storage level: the width that level stores an operand at.

AccelForge's semantics (each memory stores each tensor at its own ``bits_per_value``,
spilled partial sums included) as an opt-in per level; without it, partial sums move at
``compute.accumulator_bits`` and final outputs enter the outermost level at the output
width. Expected values are hand arithmetic on one small spilling case.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dataflows.layer import Layer
from dataflows.nest_mapping import NestBatch, NestMapping
from mapper.zigzag_mapping import hierarchy_word_accesses
from sim.cycle.hier_cycle import simulate_hier
from sim.hier_cost import evaluate, evaluate_batch
from sim.hierarchy import Compute, Hierarchy, StorageLevel, hierarchy_from_dict, load_hierarchy
from sim.spec import SpecError

#: C=4 split 2 x 2 between DRAM and the buffer, P=2 looping inside C at DRAM: each
#: output tile (K 2 x P 1) leaves the buffer after each C pass and comes back once.
#: 16 MACs; 8 weights, 8 inputs, 4 outputs.
LAYER = Layer("spill", C=4, K=2, P=2)


def _hier(dram_out: int | None, buf_out: int | None, cap: int = 64) -> Hierarchy:
    def vb(b: int | None) -> dict:
        return {} if b is None else {"output": b}
    return Hierarchy("vb", (
        StorageLevel("dram", word_bits=8, read_pj=10.0, write_pj=10.0, value_bits=vb(dram_out)),
        StorageLevel("buf", capacity_bytes=cap, word_bits=8, read_pj=1.0, write_pj=1.0,
                     value_bits=vb(buf_out))), compute=Compute(mac_pj=0.0))


def _mapping(h: Hierarchy) -> NestMapping:
    return NestMapping.build(h, temporal={"dram": {"C": 2, "P": 2}, "buf": {"C": 2, "K": 2}},
                             order={"dram": ["C", "P"]})


def _words(h: Hierarchy) -> dict:
    return hierarchy_word_accesses(evaluate(LAYER, h, _mapping(h)), h, LAYER)


def test_counts_do_not_depend_on_widths() -> None:
    """Elements: DRAM reads 8 weights (kept across P), 8 inputs and 4 refills, writes
    2 passes x 4 outputs; the buffer serves each of the 16 MACs and one
    read-modify-write per MAC, and is filled with 8 weights and 8 inputs."""
    expect = {"dram": {"weight": (8, 0), "input": (8, 0), "output": (4, 8)},
              "buf": {"weight": (16, 8), "input": (16, 8), "output": (16, 16)}}
    for h in (_hier(None, None), _hier(8, 16)):
        acc = evaluate(LAYER, h, _mapping(h)).accesses
        assert {lv: {o: (d["reads"], d["writes"]) for o, d in per.items()}
                for lv, per in acc.items()} == expect


def test_default_widths_by_hand() -> None:
    """Partial sums at 32 bits; the 4 final outputs written into DRAM (and read for that
    from the buffer) at 8: DRAM output 4 x 32 = 128 read bits, 8 x 32 - 4 x 24 = 160
    written; buffer output 16 x 32 - 4 x 24 = 416 read, 512 written (8-bit words)."""
    w = _words(_hier(None, None))
    assert w["dram"]["output"] == (16.0, 20.0)
    assert w["buf"]["output"] == (52.0, 64.0)


def test_value_bits_by_hand() -> None:
    """DRAM stores outputs at 8 bits, the buffer at 16, every access: DRAM 4 x 8 read,
    8 x 8 written; buffer 16 x 16 each way. Energy (pJ per 8-bit word; MACs free):
    DRAM (64 + 64 + 32) / 8 x 10 + 64 / 8 x 10 = 280; buffer (128 + 128 + 256) / 8 x 1
    + (64 + 64 + 256) / 8 x 1 = 112."""
    h = _hier(8, 16)
    w = _words(h)
    assert w["dram"]["output"] == (4.0, 8.0)
    assert w["buf"]["output"] == (32.0, 32.0)
    r = evaluate(LAYER, h, _mapping(h))
    assert r.energy_pj_by_level == {"dram": pytest.approx(280.0), "buf": pytest.approx(112.0)}
    assert r.energy_pj == pytest.approx(392.0)


def test_capacity_at_the_stored_width() -> None:
    """The buffer's tiles: 4 weights (C 2 x K 2) + 2 inputs (C 2 x P 1) at 8 bits and
    2 outputs (K 2 x P 1) x 32 bits = 14 B by default, x 16 bits = 10 B with
    value_bits: a 10 B buffer fits only the latter."""
    r0 = evaluate(LAYER, _hier(None, None, 10), _mapping(_hier(None, None, 10)))
    assert not r0.legal and r0.need_bytes["buf"] == 14.0
    r = evaluate(LAYER, _hier(None, 16, 10), _mapping(_hier(None, 16, 10)))
    assert r.legal and r.need_bytes["buf"] == 10.0


def test_batched_and_cycle_model_agree() -> None:
    for h in (_hier(8, 16), _hier(None, 16), _hier(8, None)):
        m = _mapping(h)
        r = evaluate(LAYER, h, m)
        b = evaluate_batch(LAYER, h, NestBatch.from_mappings([m]), detail=True)
        assert float(b["energy_pj"][0]) == pytest.approx(r.energy_pj, rel=1e-12)
        assert bool(b["legal"][0]) == r.legal
        assert np.isclose(b["buf_output_read_words"][0], _words(h)["buf"]["output"][0])
        c = simulate_hier(LAYER, h, m)
        assert c.total_cycles >= c.analytic_total_cycles


def test_yaml_round_trip_and_errors(tmp_path: Path) -> None:
    h = _hier(8, 16)
    assert hierarchy_from_dict(h.to_dict()["hierarchy"]) == h
    text = ("hierarchy:\n  name: x\n  levels:\n    - storage: {name: dram}\n"
            "    - storage: {name: buf, keeps: [weight], capacity_bytes: 64,"
            " value_bits: {input: 4}}\n")
    p = tmp_path / "h.yaml"
    p.write_text(text)
    with pytest.raises(SpecError) as err:
        load_hierarchy(p)
    msg = str(err.value)
    assert "\n" not in msg and "value_bits" in msg and "'input'" in msg and str(p) in msg
    p.write_text(text.replace("keeps: [weight]", "keeps: [input]").replace("4}", "0}"))
    with pytest.raises(SpecError, match=r"value_bits.input must be an integer of bits"):
        load_hierarchy(p)
    with pytest.raises(SpecError, match="does not keep"):
        StorageLevel("buf", keeps=("weight",), capacity_bytes=64, value_bits={"output": 8})
