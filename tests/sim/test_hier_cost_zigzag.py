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
