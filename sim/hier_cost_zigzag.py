"""Per-operand loop nests costed with ZigZag's access-count rules (an explicit rule set).

:mod:`sim.hier_cost` gives every storage level one tile boundary for all its operands
(Timeloop's semantics). ZigZag (KU Leuven, 3.9.1) instead splits the one loop nest
separately per operand over that operand's own memory chain, and counts accesses in
closed form from the loops' relevance. :func:`word_accesses` implements those
rules for an :class:`OperandNest` so that a mapping ZigZag found reproduces its
per-memory, per-operand, per-direction word counts; it is selected explicitly (the
ZigZag exchange), never by :func:`sim.hier_cost.evaluate_batch`.

Rules (``W``/``I``/``O`` layer operands; loops innermost first; counts in words of the
port serving the direction; "arch level" ``a`` = the spatial loops below memory ``a``,
``a = 0`` the MACs):

* Stationarity: an irrelevant loop at the bottom of a memory's loops moves into the
  memory below (repeatedly); at the innermost memory it stays and sets the *stationary
  cycles* (an input word is read once per change, not once per MAC).
* Partially relevant loops (OX, FX for inputs: ``IX = s*OX + d*FX``) split into a
  relevant part (growth of the window's distinct rows, capped at the unpadded input)
  and an irrelevant part (the rest of the factor): fractional factors.
* Tile (elements per instance) of arch level ``a`` = product of the relevant factors of
  every loop below it (the memory's own temporal loops and the spatial loops below).
* Output partial sums: a memory holds partial sums while an irrelevant loop (C, FX,
  FY) with factor > 1 remains at or above it; they move at the partial-sum precision,
  final outputs at the final precision; reads back to the level below
  (``rd_out_to_low``) exist only for partial sums.
* Word accesses per direction = ``ceil(tile x bits / bw_min) x bw_min / bw_max x
  periods x instances``: ``periods`` = total cycles / the cycles one tile stays
  (``bw_min`` rounds narrow accesses up to whole units), the tile multiplied by the
  number of distinct children it feeds (``mem_bw_boost``); the top memory's traffic to
  the outside is 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dataflows.dataflow import MAP_DIMS, map_bounds

if TYPE_CHECKING:
    from dataflows.layer import Layer
    from dataflows.nest_mapping import NestMapping
    from sim.hierarchy_nodes import Hierarchy

#: ZigZag loop dimensions relevant (r) / irrelevant (ir) to each operand; the input's
#: OX, FX, OY, FY are partially relevant (IX = s*OX + d*FX, IY = s*OY + d*FY).
R = {"W": {"K", "C", "FX", "FY", "G"}, "I": {"B", "C", "G"}, "O": {"B", "K", "OX", "OY", "G"}}
PR = {"I": {"IX": ("OX", "FX"), "IY": ("OY", "FY")}}
DIRS = ("rd_out_to_low", "wr_in_by_low", "rd_out_to_high", "wr_in_by_high")

Loops = list[list[tuple[str, float]]]


@dataclass(frozen=True)
class OperandNest:
    """One layer's mapping as ZigZag holds it: per operand (``W``, ``I``, ``O``) the
    memories innermost first, the temporal loops of each (innermost first) and the
    spatial loops of each arch level (``len(memories) + 1`` lists, the MACs' first).

    ``loop_sizes``: the layer's dimension sizes; ``scale``: per pr dimension (``IX``,
    ``IY``) the (output, filter) scaling factors (stride, dilation); ``pr_sizes``: the
    unpadded input rows/cols; ``bits``: ``W``, ``I``, ``O`` (partial sums), ``O_final``.
    """

    memories: dict[str, tuple[str, ...]]
    temporal: dict[str, Loops]
    spatial: dict[str, Loops]
    loop_sizes: dict[str, int]
    scale: dict[str, tuple[int, int]]
    pr_sizes: dict[str, int]
    bits: dict[str, int]

    @property
    def macs(self) -> int:
        return math.prod(self.loop_sizes.values())


def _pr_size(sa: int, a: int, sb: int, b: int) -> int:
    """Distinct values of ``sa*i + sb*j`` (i < a, j < b): ZigZag's pr dimension size."""
    g = math.gcd(sa, sb)
    return a * b - max(0, b - sa // g) * (a - sb // g)


def _decouple(nest: OperandNest, op: str, levels: Loops) -> Loops:
    """Replace the input's pr loops by their relevant ("r") and irrelevant ("ir") parts,
    ZigZag's ``decouple_pr_loop``: cumulative over the levels innermost first."""
    if op not in PR:
        return levels
    cum = {dim: {lp: 1.0 for lp in pair} for dim, pair in PR[op].items()}
    prev = {dim: (1.0, 1.0) for dim in PR[op]}
    out: Loops = []
    for lvl in levels:
        new: list[tuple[str, float]] = []
        for d, f in lvl:
            dim = next((x for x, pair in PR[op].items() if d in pair), None)
            if dim is None:
                new.append((d, f))
                continue
            cum[dim][d] *= f
            (oa, fa), (sa, sb) = PR[op][dim], nest.scale[dim]
            size = min(nest.pr_sizes[dim], _pr_size(sa, int(cum[dim][oa]), sb,
                                                     int(cum[dim][fa])))
            reuse = math.prod(cum[dim].values()) / size
            ps, pr = prev[dim]
            new += [("r", size / ps), ("ir", reuse / pr)]
            prev[dim] = (size, reuse)
        out.append(new)
    return out


def _rel(op: str, d: str) -> bool:
    return d == "r" if d in ("r", "ir") else d in R[op]


def _stationary(op: str, levels: Loops) -> tuple[Loops, float]:
    """ZigZag's ``innermost_stationary_loop_merge_down`` and the MAC-level stationary
    cycles of ``op``."""
    prev = [list(x) for x in levels]
    while True:
        st: Loops = [[] for _ in prev]
        mac = 1.0
        for lv, loops in enumerate(prev):
            k = 0
            while k < len(loops) and loops[k][0] not in R[op] | ({"OX", "OY", "FX", "FY"}
                                                                 if op == "I" else set()):
                if lv == 0:
                    mac *= loops[k][1]
                    st[0].append(loops[k])
                else:
                    st[lv - 1].append(loops[k])
                k += 1
            st[lv].extend(loops[k:])
        if st == prev:
            return st, mac
        prev = st


def word_accesses(nest: OperandNest, ports: dict[str, dict[str, dict[str, tuple[int, int]]]]
                         ) -> dict[str, dict[str, dict[str, float]]]:
    """``{operand: {memory: {direction: words}}}`` by the rules in the module docstring.

    ``ports[memory][operand][direction]`` = (bw_max, bw_min) bits of the port serving that
    direction (``tl`` = rd_out_to_low, ``fl`` = wr_in_by_low, ``th`` = rd_out_to_high,
    ``fh`` = wr_in_by_high), absent when no port serves it.
    """
    ops = ("W", "I", "O")
    tm: dict[str, Loops] = {}
    mac_st: dict[str, float] = {}
    for op in ops:
        tm[op], mac_st[op] = _stationary(op, nest.temporal[op])
    total_cycle = math.prod(f for lvl in tm["O"] for _, f in lvl)
    out: dict[str, dict[str, dict[str, float]]] = {}
    for op in ops:
        mems = nest.memories[op]
        n = len(mems)
        su = [list(x) for x in nest.spatial[op]]
        seed = [[]] + tm[op] + [[]]
        s1 = [seed[a] + su[a] for a in range(n + 1)]            # 1s1t
        s2 = [[]] + [seed[a + 1] + su[a] for a in range(n)]     # 1s2t
        s1, s2 = _decouple(nest, op, s1), _decouple(nest, op, s2)
        sud = _decouple(nest, op, su)

        def prod_rel(loops: list[tuple[str, float]], rel: bool, op: str = op) -> float:
            return math.prod(f for d, f in loops if _rel(op, d) == rel)
        r2 = [prod_rel(x, True) for x in s2]
        ir1 = [prod_rel(x, False) for x in s1]
        tile = [round(math.prod(r2[:a + 1])) for a in range(n + 1)]   # elements per unit
        unroll_r = [prod_rel(x, True) for x in sud]
        unroll_t = [math.prod(f for _, f in x) for x in sud]
        unique = [math.prod(unroll_r[a:]) for a in range(n + 1)]
        count = [round(round(math.prod(unroll_t[a:]), 3)) for a in range(n + 1)]
        boost = [round(unique[a] / unique[a + 1]) for a in range(n)] + [1]
        cyc_lv = [math.prod(f for _, f in lvl) for lvl in tm[op]]
        cabl = [math.prod(cyc_lv[:m + 1]) for m in range(n)]
        cycles = [mac_st[op] if op != "O" else 1] + cabl
        # psum flags (outputs): an ir loop > 1 at or above arch level a
        ir_flag = [any(not _rel("O", d) and f > 1 for d, f in x) for x in s1] if op == "O" \
            else [False] * (n + 1)
        psum = [any(ir_flag[a:]) for a in range(1, n + 1)] + [False]
        caal = [math.prod(ir1[a:]) for a in range(n + 1)] + [1, 1]
        res: dict[str, dict[str, float]] = {}
        for m, mem in enumerate(mems):
            amount = dict.fromkeys(DIRS, 0.0)
            period = dict.fromkeys(DIRS, 0)
            prec = dict.fromkeys(DIRS, 0)
            if op != "O":
                amount["rd_out_to_low"] = tile[m] * boost[m]
                period["rd_out_to_low"] = int(total_cycle // cycles[m])
                prec["rd_out_to_low"] = nest.bits[op]
                if m + 1 < n:
                    amount["wr_in_by_high"] = tile[m + 1]
                    period["wr_in_by_high"] = int(total_cycle // cycles[m + 1])
                    prec["wr_in_by_high"] = nest.bits[op]
            else:
                size_o = math.prod(nest.loop_sizes.get(d, 1) for d in R["O"])
                rd_low = int(size_o * (caal[m + 1] - 1))
                wr_high = int(size_o * (caal[m + 2] - 1))
                pb, fb = nest.bits["O"], nest.bits["O_final"]
                prec["wr_in_by_low"] = pb if rd_low else fb
                prec["rd_out_to_low"] = pb if rd_low else 0
                prec["wr_in_by_high"] = pb if wr_high else 0
                prec["rd_out_to_high"] = pb if wr_high else fb
                amount["wr_in_by_low"] = int(tile[m] * boost[m])
                period["wr_in_by_low"] = int(total_cycle // cycles[m])
                if psum[m]:
                    amount["rd_out_to_low"] = amount["wr_in_by_low"]
                    period["rd_out_to_low"] = period["wr_in_by_low"]
                if m + 1 < n:
                    amount["rd_out_to_high"] = tile[m + 1]
                    period["rd_out_to_high"] = int(total_cycle // cycles[m + 1])
                    if psum[m + 1]:
                        amount["wr_in_by_high"] = tile[m + 1]
                        period["wr_in_by_high"] = period["rd_out_to_high"]
            words = {}
            for d in DIRS:
                if not amount[d] or not prec[d]:
                    words[d] = 0.0
                    continue
                bw_max, bw_min = ports[mem][op][d]
                words[d] = float(int(math.ceil(amount[d] * prec[d] / bw_min) * (bw_min / bw_max)
                                     * period[d] * count[m + 1]))
            res[mem] = words
        out[op] = res
    return out


#: coforge's MAP_DIMS -> ZigZag's loop dimensions.
ZZ_DIM = {"G": "G", "N": "B", "K": "K", "C": "C", "P": "OY", "Q": "OX", "R": "FY", "S": "FX"}
_OP = {"weight": "W", "input": "I", "output": "O"}


def operand_nest_of(layer: Layer, hier: Hierarchy, mapping: NestMapping) -> OperandNest:
    """A coforge :class:`~dataflows.nest_mapping.NestMapping` on a
    :class:`~sim.hierarchy.Hierarchy` as an :class:`OperandNest` (memory names are the
    level names): every operand's memories are the levels keeping it; a level's loops
    (factor > 1, innermost first) belong to the innermost level at or above it that
    keeps the operand; a fanout's factors sit at the arch level of the operand's
    memories below it. Partial sums at the accumulator width."""
    levels = hier.levels
    pos, li = [], 0
    for n in hier.nodes:
        if hasattr(n, "keeps"):
            li += 1
        else:
            pos.append(li)
    mems, temporal, spatial = {}, {}, {}
    for o, op in _OP.items():
        chain = [i for i, lv in enumerate(levels) if o in lv.keeps]      # outermost first
        inner_first = list(reversed(chain))
        t: Loops = []
        for k, c in enumerate(inner_first):
            upto = len(levels) if k == 0 else inner_first[k - 1]
            loops: list[tuple[str, float]] = []
            for lv in range(upto - 1, c - 1, -1):                     # innermost level first
                for d in reversed(mapping.order[lv]):
                    f = mapping.temporal[lv][MAP_DIMS.index(d)]
                    if f > 1:
                        loops.append((ZZ_DIM[d], float(f)))
            t.append(loops)
        su: Loops = [[] for _ in range(len(chain) + 1)]
        for f, p in enumerate(pos):
            a = sum(1 for c in chain if c >= p)
            for i, d in enumerate(MAP_DIMS):
                v = mapping.spatial_product(f)[i]
                if v > 1:
                    su[a].append((ZZ_DIM[d], float(v)))
        mems[op] = tuple(levels[c].name for c in inner_first)
        temporal[op], spatial[op] = t, su
    prec = layer.precision
    b = map_bounds(layer)
    sizes = {ZZ_DIM[d]: int(b[d]) for d in MAP_DIMS}
    return OperandNest(memories=mems, temporal=temporal, spatial=spatial, loop_sizes=sizes,
                       scale={"IX": (layer.stride_w, layer.dilation_w),
                              "IY": (layer.stride_h, layer.dilation_h)},
                       pr_sizes={"IX": layer.W, "IY": layer.H},
                       bits={"W": prec.weight_bits, "I": prec.input_bits,
                             "O": hier.compute.accumulator_bits, "O_final": prec.output_bits})


def level_ports(hier: Hierarchy) -> dict[str, dict[str, dict[str, tuple[int, int]]]]:
    """Ports of a coforge hierarchy for :func:`word_accesses`: every direction of every
    kept operand served in the level's ``word_bits`` words (no narrower unit)."""
    return {lv.name: {_OP[o]: dict.fromkeys(DIRS, (lv.word_bits, lv.word_bits))
                      for o in lv.keeps} for lv in hier.levels}


__all__ = ["OperandNest", "level_ports", "operand_nest_of", "word_accesses"]
