"""``compute.psum_access``: how the innermost level keeping outputs (the accumulator)
counts partial sums moving in and out (sim.hierarchy_nodes.PSUM_ACCESS), by hand.

GEMM K 2 x C 4 (8 MACs, 2 outputs) on dram -> acc (outputs only, 32-bit words): dram
loops C 2 (outer) then K 2, acc loops C 2, so acc holds one output at a time and every
change of K evicts it. Timeline: out0 fresh, 2 MACs; drain out0, out1 fresh, 2 MACs;
drain out1, refill out0, 2 MACs; drain out0, refill out1, 2 MACs; drain out1. So acc
sees 8 accumulations, 4 drains, 2 refills, 2 fresh starts; dram is written the 4 drains
and read the 2 refills.

* fused: acc reads 8, writes 8 (the drains and refills ride the MACs' read-modify-write);
* separate (ZigZag): reads 8 + 4 drains = 12, writes 8 + 2 refills = 10;
* separate_no_first_read (AccelForge): reads 8 - 2 fresh + 4 drains = 10, writes 10.

At 1 pJ per 32-bit acc read and 2 pJ per write that is 24, 32 and 30 pJ, less 1.5 pJ:
the 2 final outputs are read out of acc for dram at the 8-bit output width, not the
32-bit accumulator width (sim.hier_plan.access_bits), 2 x 24/32 x 1 pJ.
"""

from __future__ import annotations

import dataclasses

import pytest

from dataflows.layer import Layer
from dataflows.nest_mapping import NestBatch, NestMapping
from sim.cycle.hier_cycle import simulate_hier
from sim.hier_cost import evaluate, evaluate_batch
from sim.hierarchy import Compute, Fanout, Hierarchy, StorageLevel
from sim.spec import SpecError

LAYER = Layer("g", K=2, C=4)
WANT = {"fused": (8, 8, 24.0 - 1.5), "separate": (12, 10, 32.0 - 1.5),
        "separate_no_first_read": (10, 10, 30.0 - 1.5)}


def _h(psum: str) -> Hierarchy:
    return Hierarchy("p", (
        StorageLevel("dram", word_bits=32, read_pj=0.0, write_pj=0.0),
        StorageLevel("acc", keeps=("output",), capacity_bytes=4, word_bits=32,
                     read_pj=1.0, write_pj=2.0)),
        compute=Compute(mac_pj=0.0, accumulator_bits=32, psum_access=psum))


def _m(h: Hierarchy) -> NestMapping:
    return NestMapping.build(h, temporal={"dram": {"C": 2, "K": 2}, "acc": {"C": 2}},
                             order={"dram": ["C", "K"]})


@pytest.mark.parametrize("psum", sorted(WANT))
def test_accumulator_counts_by_hand(psum: str) -> None:
    h = _h(psum)
    r = evaluate(LAYER, h, _m(h))
    reads, writes, pj = WANT[psum]
    assert r.legal
    assert (r.accesses["acc"]["output"]["reads"], r.accesses["acc"]["output"]["writes"]) \
        == (reads, writes)
    assert (r.accesses["dram"]["output"]["reads"], r.accesses["dram"]["output"]["writes"]) \
        == (2, 4)
    assert r.energy_pj == pytest.approx(pj)
    c = simulate_hier(LAYER, h, _m(h))          # the cycle model splits the same counts
    assert c.accesses["acc"]["output"] == {"reads": reads, "writes": writes}


def test_top_level_accumulation() -> None:
    """Outputs accumulated straight in the top level (nothing above to drain to): the
    first accumulation of each of the 2 outputs is written without a read, except under
    ``separate`` (ZigZag reads every accumulation)."""
    for psum, reads in (("fused", 6), ("separate", 8), ("separate_no_first_read", 6)):
        h = Hierarchy("t", (StorageLevel("dram", word_bits=32),),
                      compute=Compute(psum_access=psum))
        r = evaluate(LAYER, h, NestMapping.build(h, temporal={"dram": {"C": 4, "K": 2}}))
        assert r.accesses["dram"]["output"] == {"reads": reads, "writes": 8}, psum


def test_bad_psum_access_is_one_line() -> None:
    with pytest.raises(SpecError, match=r"compute.psum_access must be one of \['fused', "):
        Compute(psum_access="split")
    assert dataclasses.replace(Compute(), psum_access="separate").psum_access == "separate"


def test_partly_idle_reduction_group_is_one_arrival() -> None:
    """GEMM K 1 x C 3 (3 MACs, 1 output): 2 PEs, each with its own accumulator, and 2
    reducing lanes under each accumulator, C split 2 x 2 (imperfect: 4 >= 3). C = pe x 2
    + lane: PE 0 sums c 0, 1 (one arrival), PE 1 sums c 2 with lane 3 idle (one arrival
    too, not half of one): the accumulators see 2 arrivals, not 3 // 2 = 1. Each drains
    its partial once; the PE fanout sums the two on the way to dram: 1 write there."""
    h = Hierarchy("i", (
        StorageLevel("dram", word_bits=32),
        Fanout("pe", size=(2,), dims=(("C",),), reduction=True),
        StorageLevel("acc", keeps=("output",), capacity_bytes=4, word_bits=32),
        Fanout("lanes", size=(2,), dims=(("C",),), reduction=True)),
        compute=Compute(accumulator_bits=32))
    m = NestMapping.build(h, spatial={"pe": [{"C": 2}], "lanes": [{"C": 2}]})
    layer = Layer("g", K=1, C=3)
    r = evaluate(layer, h, m)
    assert r.accesses["acc"]["output"] == {"reads": 2, "writes": 2}
    assert r.accesses["dram"]["output"] == {"reads": 0, "writes": 1}
    arr = evaluate_batch(layer, h, NestBatch.from_mappings([m]))
    assert (int(arr["acc_output_reads"][0]), int(arr["acc_output_writes"][0])) == (2, 2)
