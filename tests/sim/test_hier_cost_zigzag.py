"""The per-operand (ZigZag-semantics) access rules of ``sim.hier_cost_zigzag``, checked
without ZigZag: brute-force enumeration of small loop nests, and hand arithmetic."""

from __future__ import annotations

import itertools
import math
import random

from sim.hier_cost_zigzag import OperandNest, _pr_size, word_accesses

DIRS = ("rd_out_to_low", "wr_in_by_low", "rd_out_to_high", "wr_in_by_high")


def ports(mems: dict[str, tuple[str, ...]], bits: dict[str, tuple[int, int]]):
    """Every memory serves every direction of its operands with (max, min) ``bits``."""
    out: dict = {}
    for op, chain in mems.items():
        for m in chain:
            out.setdefault(m, {})[op] = dict.fromkeys(DIRS, bits[m])
    return out


def nest(temporal, spatial=None, sizes=None, mems=None, bits=None) -> OperandNest:
    mems = mems or {"W": ("rf", "top"), "I": ("top",), "O": ("top",)}
    flat = [lp for lvl in temporal["W"] for lp in lvl]
    sizes = sizes or {d: 1 for d in ("B", "K", "G", "OX", "OY", "C", "FX", "FY")}
    for d, f in flat:
        sizes[d] = sizes.get(d, 1) * f if d not in sizes or sizes[d] == 1 else sizes[d] * f
    spatial = spatial or {op: [[] for _ in range(len(mems[op]) + 1)] for op in mems}
    return OperandNest(memories=mems, temporal=temporal, spatial=spatial, loop_sizes=sizes,
                       scale={"IX": (1, 1), "IY": (1, 1)}, pr_sizes={"IX": 99, "IY": 99},
                       bits=bits or {"W": 8, "I": 8, "O": 16, "O_final": 8})


def test_pr_size_is_the_distinct_rows() -> None:
    """Distinct ``s*i + j`` (i < a, j < b): the formula equals enumeration (dilation 1)."""
    for s, a, b in itertools.product(range(1, 4), range(1, 7), range(1, 6)):
        assert _pr_size(s, a, 1, b) == len({s * i + j for i in range(a) for j in range(b)})


def _changes(seq) -> int:
    return sum(1 for i, x in enumerate(seq) if i == 0 or x != seq[i - 1])


def test_weight_reads_and_refills_brute_force() -> None:
    """Random nests of K, C, OX (weights: K, C relevant, OX not) split over a weight
    register and the top memory: the register's reads are the changes of the weight
    index over the MAC sequence (a word read once while it stays: stationarity), its
    refills the changes of the index of the loops above it times the tile it holds."""
    rng = random.Random(7)
    for _ in range(60):
        loops = [(d, rng.choice((2, 3))) for d in rng.sample(["K", "C", "OX", "OY"], 4)]
        cut = rng.randint(0, 4)
        split = [loops[:cut], loops[cut:]]
        t = {"W": split, "I": [loops], "O": [loops]}
        got = word_accesses(nest(t), ports(nest(t).memories, {"rf": (8, 8), "top": (8, 8)}))
        idx = list(itertools.product(*[range(f) for _, f in reversed(loops)]))  # outer first
        names = [d for d, _ in reversed(loops)]

        def key(it, dims, names=names):
            return tuple(v for d, v in zip(names, it) if d in dims)
        reads = _changes([key(it, {"K", "C"}) for it in idx])
        above = {d for d, _ in loops[cut:]} & {"K", "C"}
        upper_w = [key(it, above) for it in idx]
        tile = math.prod(f for d, f in loops[:cut] if d in ("K", "C"))
        # the tile changes whenever a loop above the register that is relevant changes
        refills = _changes(upper_w) * tile if above else tile
        assert got["W"]["rf"]["rd_out_to_low"] == reads, (split, got["W"]["rf"], reads)
        assert got["W"]["rf"]["wr_in_by_high"] == refills, (split, got["W"]["rf"], refills)
        assert got["W"]["top"]["rd_out_to_low"] == refills


def test_partial_sums_hand_arithmetic() -> None:
    """Outputs in a 16-bit register below the top, loops K 2 (register) and C 3 (top).
    C at the bottom of the top memory is irrelevant to outputs: it merges into the
    register (stationarity), so the register holds partial sums: 6 MAC updates write it
    and read it back (ZigZag reads back on every update, the first per output too), and
    the 2 final outputs leave once at 8 bits (one 16-bit word) into an 8-bit top."""
    t = {"W": [[("K", 2), ("C", 3)]], "I": [[("K", 2), ("C", 3)]],
         "O": [[("K", 2)], [("C", 3)]]}
    mems = {"W": ("top",), "I": ("top",), "O": ("rf", "top")}
    n = nest(t, mems=mems)
    got = word_accesses(n, ports(mems, {"rf": (16, 16), "top": (8, 8)}))
    assert got["O"]["rf"] == {"rd_out_to_low": 6, "wr_in_by_low": 6, "rd_out_to_high": 1,
                              "wr_in_by_high": 0}
    assert got["O"]["top"] == {"rd_out_to_low": 0, "wr_in_by_low": 2, "rd_out_to_high": 0,
                               "wr_in_by_high": 0}
    # C above the register instead (the register loops C, then K at the top): no C loop
    # remains above it, the outputs it holds are final; the top reads nothing back
    t["O"] = [[("C", 3)], [("K", 2)]]
    got = word_accesses(nest(t, mems=mems), ports(mems, {"rf": (16, 16), "top": (8, 8)}))
    assert got["O"]["rf"]["rd_out_to_low"] == 6      # psums inside the register
    assert got["O"]["top"]["rd_out_to_low"] == 0 and got["O"]["top"]["wr_in_by_low"] == 2


def test_read_granularity_rounds_up() -> None:
    """3 weights of 8 bits per read from a port 256 bits wide with 64-bit units cost one
    64-bit unit, a quarter word: ceil(24 / 64) x 64 / 256 per read; the top is read once
    per register refill (K 3 in the register, C 8 on top: 8 refills) = 2 words, where
    the bits alone would be 8 x 24 / 256 = 0.75. The total is truncated to an integer
    (ZigZag's ``int``): with C 2 it is int(0.5) = 0."""
    for c, want in ((8, 2), (2, 0)):
        t = {"W": [[("K", 3)], [("C", c)]], "I": [[("K", 3), ("C", c)]],
             "O": [[("K", 3), ("C", c)]]}
        n = nest(t)
        got = word_accesses(n, ports(n.memories, {"rf": (8, 8), "top": (256, 64)}))
        assert got["W"]["top"]["rd_out_to_low"] == want


def test_input_window_rows() -> None:
    """Inputs with OX 4 in the top memory and FX 3 below: the top's reads per period are
    the 3-row window; over the 4 OX steps 4 x 3 = 12 rows are read (no halo reuse across
    steps in ZigZag), while the distinct rows are 6."""
    t = {"W": [[("FX", 3), ("OX", 4)]], "I": [[("FX", 3)], [("OX", 4)]],
         "O": [[("FX", 3), ("OX", 4)]]}
    mems = {"W": ("top",), "I": ("rf", "top"), "O": ("top",)}
    n = nest(t, mems=mems)
    got = word_accesses(n, ports(mems, {"rf": (8, 8), "top": (8, 8)}))
    assert got["I"]["top"]["rd_out_to_low"] == 12
    assert got["I"]["rf"]["wr_in_by_high"] == 12
    assert _pr_size(1, 4, 1, 3) == 6


# -- a coforge nest mapping as a per-operand nest (operand_nest_of, level_ports) ----------
def _two_level():
    from sim.hierarchy_nodes import Compute, Fanout, Hierarchy, StorageLevel
    return Hierarchy("t", (StorageLevel("dram"),
                           Fanout("pe", size=(2,), dims=(("K",),)),
                           StorageLevel("rf", keeps=("weight", "output"), capacity_bytes=64,
                                        word_bits=8)),
                     compute=Compute(accumulator_bits=24))


def test_operand_nest_of_by_hand() -> None:
    """dram loops P 4; the 2-way fanout unrolls K 2; the rf (weights, outputs) loops
    C 3 and Q 2, Q outermost. By hand: weights and outputs have memories (rf, dram),
    rf's loops innermost first C 3, OX 2 (Q -> OX), dram's OY 4 (P -> OY), and the
    fanout at arch level 1 (between rf and dram); inputs live in dram alone: one
    memory holding every loop (rf's then dram's) and the fanout at arch level 0 (right
    above the MACs). Sizes are map_bounds in ZigZag's names; IY scales by the stride 2;
    partial sums at the 24-bit accumulator width."""
    from dataflows.layer import Layer
    from dataflows.nest_mapping import NestMapping
    from sim.hier_cost_zigzag import level_ports, operand_nest_of
    hier = _two_level()
    layer = Layer("l", K=2, C=3, P=4, Q=2, stride_h=2)
    m = NestMapping.build(hier, temporal={"dram": {"P": 4}, "rf": {"C": 3, "Q": 2}},
                          spatial={"pe": [{"K": 2}]}, order={"rf": ["Q", "C"]})
    n = operand_nest_of(layer, hier, m)
    wo = [[("C", 3.0), ("OX", 2.0)], [("OY", 4.0)]]
    assert n.memories == {"W": ("rf", "dram"), "I": ("dram",), "O": ("rf", "dram")}
    assert n.temporal == {"W": wo, "I": [[("C", 3.0), ("OX", 2.0), ("OY", 4.0)]], "O": wo}
    assert n.spatial == {"W": [[], [("K", 2.0)], []], "I": [[("K", 2.0)], []],
                         "O": [[], [("K", 2.0)], []]}
    assert n.loop_sizes == {"G": 1, "B": 1, "K": 2, "C": 3, "OY": 4, "OX": 2, "FY": 1,
                            "FX": 1}
    assert n.scale == {"IX": (1, 1), "IY": (2, 1)}
    assert n.pr_sizes == {"IX": 2, "IY": 7} and n.macs == 48
    assert n.bits == {"W": 8, "I": 8, "O": 24, "O_final": 8}
    ports8 = dict.fromkeys(DIRS, (8, 8))
    assert level_ports(hier) == {"dram": {op: dict.fromkeys(DIRS, (64, 64)) for op in "WIO"},
                                 "rf": {"W": ports8, "O": ports8}}
    # counts: each PE's rf is filled once with its 3 weights (dram's OY 4 is irrelevant
    # to weights: stationary) = 6 words; with C innermost the weight changes every one
    # of the 24 cycles: 2 x 24 = 48 reads. With Q innermost instead each weight stays 2
    # cycles (OX is irrelevant to weights): 24 reads, the same 6 fills.
    got = word_accesses(n, level_ports(hier))
    assert got["W"]["rf"]["wr_in_by_high"] == 6 and got["W"]["rf"]["rd_out_to_low"] == 48
    m2 = NestMapping.build(hier, temporal={"dram": {"P": 4}, "rf": {"C": 3, "Q": 2}},
                           spatial={"pe": [{"K": 2}]}, order={"rf": ["C", "Q"]})
    n2 = operand_nest_of(layer, hier, m2)
    assert n2.temporal["W"] == [[("OX", 2.0), ("C", 3.0)], [("OY", 4.0)]]
    got2 = word_accesses(n2, level_ports(hier))
    assert got2["W"]["rf"]["wr_in_by_high"] == 6 and got2["W"]["rf"]["rd_out_to_low"] == 24
