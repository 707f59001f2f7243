"""What the array demands, pass by pass: the demand side of the cycle-approximate model.

A *pass* is one iteration of the loops above the PE level (the GLB- and DRAM-level
loops of the mapping, outermost first): the array streams the PE-level loops of one
stationary tile. A *block* is one iteration of the DRAM-level loops: the GLB holds one
tile of each operand for all the passes of a block.

:func:`build_demand` turns (layer, accelerator, mapping, timing) into a
:class:`Demand`, numpy arrays with one entry per pass and per block, in execution
order. It says nothing about memory speed (that is :mod:`sim.cycle.supply`):

* per pass -- ``new_tile`` (the stationary operand is (re)loaded: the pass pays
  ``fill_cycles`` of preload and ``drain_cycles`` of skew/drain, together the timing
  convention's per-tile overhead, see :mod:`sim.timing`), ``stream_cycles`` (one
  wavefront per cycle: the product over dimensions of the real PE-level steps of this
  pass, 0 for a fully padded pass), the elements each operand moves between the GLB
  and the array (``glb_reads``/``glb_writes``, psums included) and the widest
  wavefront per operand (``wave_words``: words one cycle of the stream asks for);
* per block -- the elements each operand needs from DRAM before the block
  (``dram_reads``: new GLB tiles, psum refills) and the outputs written back after it
  (``dram_writes``), with which of those are final outputs (output width) rather than
  partial sums (accumulator width), and ``loads``: the ordinal of each operand's
  GLB tile, which tells double buffering which buffer half a tile occupies.

A :class:`Demand` may cover a contiguous range of passes only (``passes=(p0, p1)``;
:func:`demand_chunks` yields consecutive ranges): its pass arrays are then those
passes', its block arrays those of the blocks the range touches, and every index in it
(``block_of``, ``first``, ``last``) stays global; ``pass0``/``block0`` say where it
starts. Each entry is a closed form of the pass or block number (a tile relevant to the
loops changes where the pass number crosses a multiple of the product of the loops
inside its innermost relevant one), so a range costs memory in proportion to its
length, whatever the layer's tile count, and the ranges concatenate to the whole.

The counts follow the analytic model's reuse rules exactly (a tile is reloaded when
a loop relevant to it changes, reuse only across the irrelevant loops inside the
innermost relevant one; separable operands move their exact partial tiles; inputs with
a halo and im2col-lowered GLB input tiles move the full tile footprint per load, except
along a sliding P/Q loop where the GLB keeps the window and a block fetches only the new
part, :func:`sim.tiling.input_step_fetch_elems`), so
summing a :class:`Demand` gives :func:`sim.analytic.evaluate`'s access counts, and
``sum(new_tile) * overhead + sum(stream_cycles) + layer_offset_cycles`` its compute
cycles. A padded pass still pays its tile overhead, as in the analytic model.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Iterator

import numpy as np

from dataflows.dataflow import MAP_DIMS, OPERANDS, RELEVANT, get_dataflow
from dataflows.layer import Layer
from dataflows.mapping import Mapping
from sim.spec import Accelerator
from sim.tiling import (conv_input_footprint_elems, input_step_fetch_elems,
                        tile_footprint_elems, tiles_fit)
from sim.timing import check_timing, layer_offset_cycles, tile_overhead_cycles

_DIM = {d: i for i, d in enumerate(MAP_DIMS)}
_REL = {op: np.array([d in RELEVANT[op] for d in MAP_DIMS]) for op in OPERANDS}


@dataclass(frozen=True)
class Demand:
    """Per-pass and per-block demand of one (layer, accelerator, mapping, timing).

    Pass arrays have length ``passes``, block arrays length ``blocks``; element counts
    are ints (``*_bits`` are bits; ``bits`` per weight/input element are the stored
    bits, fractional for a compressed sparse operand, see :mod:`sim.sparse`).
    ``pass_start``/``pass_extent`` ([passes, 8], ``MAP_DIMS`` order) are the first
    index and the extent of each pass's level-0 tile per dimension (extent 0: fully
    padded), ``span0`` the indices one level-0 tile spans, ``bounds`` the loop bounds
    (what :func:`sim.sparse.skip_schedule` needs). ``block_of[i]`` is the block of pass ``i``;
    ``first[j]``/``last[j]`` the first/last pass of block ``j``. ``workload`` and
    ``mapping`` are what it was built from (a supply may need the layer's geometry).
    ``evict[j]``: the output tile leaves the GLB after block ``j`` (written back).
    ``pass0``/``block0``: global number of the first pass/block here (0 for a whole
    layer); ``total_passes``/``total_blocks``: the layer's (``passes``/``blocks`` are
    this range's).
    """

    layer: str
    workload: Layer
    mapping: Mapping
    dataflow: str
    timing: str
    stationary: str
    fill_cycles: int
    drain_cycles: int
    layer_offset_cycles: int
    new_tile: np.ndarray
    stream_cycles: np.ndarray
    block_of: np.ndarray
    glb_reads: dict[str, np.ndarray]
    glb_writes: dict[str, np.ndarray]
    wave_words: dict[str, int]
    first: np.ndarray
    last: np.ndarray
    dram_reads: dict[str, np.ndarray]
    dram_writes: dict[str, np.ndarray]
    final_writes: np.ndarray
    loads: dict[str, np.ndarray]
    bits: dict[str, float]
    accumulator_bits: int
    output_bits: int
    pass_start: np.ndarray
    pass_extent: np.ndarray
    span0: np.ndarray
    bounds: np.ndarray
    evict: np.ndarray
    pass0: int = 0
    block0: int = 0
    total_passes: int = 0
    total_blocks: int = 0

    @property
    def passes(self) -> int:
        return len(self.stream_cycles)

    @property
    def blocks(self) -> int:
        return len(self.first)

    @property
    def overhead_cycles(self) -> int:
        """Cycles each stationary-tile load adds beyond its stream (fill + drain)."""
        return self.fill_cycles + self.drain_cycles

    @property
    def compute_cycles(self) -> int:
        """Stall-free cycles: tiles x overhead + wavefronts + the layer offset (for a
        range of passes: its tiles and wavefronts plus the whole layer's offset)."""
        return (int(self.new_tile.sum()) * self.overhead_cycles
                + int(self.stream_cycles.sum()) + self.layer_offset_cycles)

    def pass_compute_cycles(self) -> np.ndarray:
        """Stall-free cycles of each pass (overhead where a tile loads, plus its stream)."""
        return self.new_tile * self.overhead_cycles + self.stream_cycles

    def glb_read_bits(self, op: str) -> np.ndarray:
        """Bits the array reads from the GLB per pass (psums at accumulator width)."""
        return self.glb_reads[op] * (self.accumulator_bits if op == "output" else self.bits[op])

    def glb_write_bits(self, op: str) -> np.ndarray:
        """Bits the array writes into the GLB per pass (outputs and psums at acc width)."""
        return self.glb_writes[op] * self.accumulator_bits

    def dram_read_bits(self, op: str) -> np.ndarray:
        """Bits DRAM delivers before each block (psum refills at accumulator width)."""
        return self.dram_reads[op] * (self.accumulator_bits if op == "output" else self.bits[op])

    def dram_write_bits(self) -> np.ndarray:
        """Bits written back after each block: final outputs at output width, psums at
        accumulator width."""
        final = self.final_writes
        return ((self.dram_writes["output"] - final) * self.accumulator_bits
                + final * self.output_bits)


#: Passes per :class:`Demand` range in a chunked run (:func:`demand_chunks`): a few tens
#: of MB of pass arrays and timeline at most, whatever the layer's tile count.
CHUNK_PASSES = 1 << 15


def _digits(numbers: np.ndarray, facs: list[int]) -> np.ndarray:
    """Loop indices [len(facs), n] of iterations ``numbers`` (outermost loop first)."""
    if not facs:
        return np.zeros((0, len(numbers)), dtype=np.int64)
    return np.array(np.unravel_index(numbers, facs), dtype=np.int64).reshape(len(facs), -1)


def _innermost(loop_dims: list[int], op: str) -> int:
    """Position of the innermost (non-unit) loop relevant to ``op``; -1 if none."""
    rel = [p for p, d in enumerate(loop_dims) if _REL[op][d]]
    return rel[-1] if rel else -1


def _period(facs: list[int], loop_dims: list[int], op: str) -> int:
    """Iterations between changes of ``op``'s tile: the product of the loops inside its
    innermost relevant one (all of them when none is relevant: it never changes).

    Iteration ``i`` uses tile ``i // period`` and loads a new one where ``i % period
    == 0``: the tile changes exactly when a relevant loop or one outside it does."""
    return prod(facs[_innermost(loop_dims, op) + 1:])


def _first_visit(idx: np.ndarray, loop_dims: list[int], op: str) -> np.ndarray:
    """Iterations where every loop irrelevant to ``op`` is at index 0."""
    irr = [p for p, d in enumerate(loop_dims) if not _REL[op][d]]
    if not irr:
        return np.ones(idx.shape[1], dtype=bool)
    return (idx[irr] == 0).all(axis=0)


def _last_visit(idx: np.ndarray, loop_dims: list[int], facs: list[int], op: str) -> np.ndarray:
    """Iterations where every loop irrelevant to ``op`` is at its last index."""
    irr = [p for p, d in enumerate(loop_dims) if not _REL[op][d]]
    if not irr:
        return np.ones(idx.shape[1], dtype=bool)
    last = np.array([facs[p] - 1 for p in irr])[:, None]
    return (idx[irr] == last).all(axis=0)


def _loops(mapping: Mapping) -> list[tuple[int, int]]:
    """Loops above the PE level, outermost first: (level, dimension) of the DRAM loops,
    then the GLB loops (unit loops left out)."""
    t = mapping.temporal
    return [(2, _DIM[d]) for d in mapping.order[2] if t[2][_DIM[d]] > 1] + \
           [(1, _DIM[d]) for d in mapping.order[1] if t[1][_DIM[d]] > 1]


def _tiles_fit(full: np.ndarray, view: Layer, accel: Accelerator, layer: Layer,
               fp1_input: np.ndarray, stored_bits: dict[str, float] | None) -> bool:
    """The GLB holds every operand's level-1 tile at once (the analytic model's
    condition for sliding-window reuse, :func:`sim.tiling.tiles_fit`)."""
    prec = layer.precision
    bits = dict(stored_bits) if stored_bits is not None else \
        {"weight": prec.weight_bits, "input": prec.input_bits}
    need = {"weight": tile_footprint_elems("weight", full, view) * bits["weight"],
            "input": fp1_input * bits["input"],
            "output": tile_footprint_elems("output", full, view) * accel.pe.accumulator_bits}
    return bool(tiles_fit(need, [(b.operands, b.usable_bytes) for b in accel.glb])[0])


def pass_count(mapping: Mapping) -> int:
    """Passes of ``mapping``: the product of its GLB- and DRAM-level loops."""
    return prod(mapping.temporal[lvl][d] for lvl, d in _loops(mapping))


def build_demand(layer: Layer, accel: Accelerator, mapping: Mapping,
                 timing: str = "native",
                 stored_bits: dict[str, float] | None = None,
                 passes: tuple[int, int] | None = None) -> Demand:
    """The array's demand for ``mapping`` (assumed legal; see ``Mapping.check``).

    ``stored_bits`` overrides the bits of a weight/input element (a compressed sparse
    operand, :attr:`sim.sparse.SparseProfile.stored_bits`); default the precision's.
    ``passes=(p0, p1)`` builds passes ``p0 .. p1 - 1`` only (and the blocks they touch);
    default all of them."""
    df = get_dataflow(accel.dataflow)
    check_timing(timing, df)
    view = df.map_view(layer)
    bounds = np.array([df.bounds(layer)[d] for d in MAP_DIMS], dtype=np.int64)
    spatial = np.array(mapping.rows, dtype=np.int64) * np.array(mapping.cols, dtype=np.int64)
    t = np.array(mapping.temporal, dtype=np.int64)
    span0 = spatial * t[0]               # indices one level-0 tile spans per dimension
    span1 = span0 * t[1]                 # ... one level-1 (GLB) tile

    loops = _loops(mapping)
    facs = [int(t[lvl, d]) for lvl, d in loops]
    dims = [d for _, d in loops]
    n_dram = sum(1 for lvl, _ in loops if lvl == 2)
    total = prod(facs)
    per_block = prod(facs[n_dram:])
    p0, p1 = (0, total) if passes is None else passes
    if not 0 <= p0 < p1 <= total:
        raise ValueError(f"passes {passes} outside the layer's 0..{total}")
    pnum = np.arange(p0, p1, dtype=np.int64)
    idx = _digits(pnum, facs)
    n = p1 - p0
    dram_idx = np.zeros((8, n), dtype=np.int64)
    glb_idx = np.zeros((8, n), dtype=np.int64)
    for p, (lvl, d) in enumerate(loops):
        (dram_idx if lvl == 2 else glb_idx)[d] = idx[p]

    # Level-0 extents per pass: partial at the bound, 0 when fully padded.
    start0 = (dram_idx * t[1][:, None] + glb_idx) * span0[:, None]
    e0 = np.clip(bounds[:, None] - start0, 0, span0[:, None]).T        # [n, 8]
    steps = -(-e0 // spatial)
    stream = steps.prod(axis=1)

    # Blocks the passes touch; level-1 (GLB tile) extents per block.
    bnum = np.arange(p0 // per_block, (p1 - 1) // per_block + 1, dtype=np.int64)
    nb = len(bnum)
    first = bnum * per_block
    last = first + per_block - 1
    bdims, bfacs = dims[:n_dram], facs[:n_dram]
    bidx = _digits(bnum, bfacs)          # the DRAM loops' indices at each block
    block_dram = np.zeros((8, nb), dtype=np.int64)
    for p, d in enumerate(bdims):
        block_dram[d] = bidx[p]
    start1 = block_dram * span1[:, None]
    e1 = np.clip(bounds[:, None] - start1, 0, span1[:, None]).T         # [nb, 8]

    stat = df.stationary
    stat_period = _period(facs, dims, stat)
    new_tile = pnum % stat_period == 0
    separable_in = view.R == view.S == view.stride_h == view.stride_w == 1

    glb_reads: dict[str, np.ndarray] = {}
    glb_writes: dict[str, np.ndarray] = {}
    zeros = np.zeros(n, dtype=np.int64)
    for op in ("weight", "input"):
        if op == "input" and not separable_in:
            size = np.full(n, int(tile_footprint_elems(op, np.minimum(span0, bounds)[None],
                                                       view)[0]))
        else:
            size = tile_footprint_elems(op, e0, view)
        glb_reads[op] = np.where(new_tile, size, 0) if op == stat else size
        glb_writes[op] = zeros
    out_size = tile_footprint_elems("output", e0, view)
    if stat == "output":
        # The output stays in the PEs for a whole tile: written up at its last pass,
        # its psums read back at its first when it was visited before.
        tile_end = (pnum + 1) % stat_period == 0
        glb_writes["output"] = np.where(tile_end, out_size, 0)
        glb_reads["output"] = np.where(new_tile & ~_first_visit(idx, dims, "output"),
                                       out_size, 0)
    else:
        glb_writes["output"] = out_size
        glb_reads["output"] = np.where(_first_visit(idx, dims, "output"), 0, out_size)

    # Block level: GLB tiles change when a DRAM loop relevant to them changes.
    dram_reads: dict[str, np.ndarray] = {}
    loads: dict[str, np.ndarray] = {}
    period = {op: _period(bfacs, bdims, op) for op in OPERANDS}
    change = {op: bnum % period[op] == 0 for op in OPERANDS}
    for op in ("weight", "input"):
        if op == "input" and (view is not layer or not separable_in):
            full = np.minimum(span1, bounds)[None]
            fp1 = conv_input_footprint_elems(full, layer) if view is not layer else \
                tile_footprint_elems(op, full, view)
            size = np.full(nb, int(fp1[0]))
            pos = _innermost(bdims, op)
            rule = None if pos < 0 else input_step_fetch_elems(layer, view, full[0], t[2],
                                                               bdims[pos])
            if rule is not None and _tiles_fit(full, view, accel, layer, fp1, stored_bits):
                dim, fetch = rule       # sliding-window reuse (sim.tiling), block by block
                size = fetch[block_dram[dim]]
        else:
            size = tile_footprint_elems(op, e1, view)
        dram_reads[op] = np.where(change[op], size, 0)
        loads[op] = bnum // period[op]
    out1 = tile_footprint_elems("output", e1, view)
    dram_reads["output"] = np.where(change["output"] & ~_first_visit(bidx, bdims, "output"),
                                    out1, 0)
    loads["output"] = bnum // period["output"]
    evict = (bnum + 1) % period["output"] == 0
    dram_writes = {"weight": np.zeros(nb, dtype=np.int64), "input": np.zeros(nb, dtype=np.int64),
                   "output": np.where(evict, out1, 0)}
    final = np.where(evict & _last_visit(bidx, bdims, bfacs, "output"), out1, 0)

    if df.systolic:
        overhead = tile_overhead_cycles(timing, df, accel.rows, accel.cols,
                                        accel.pe.product_register)
        fill = 0 if df.name == "os" else accel.rows
    else:
        pe_words = int(tile_footprint_elems(stat, np.minimum(t[0], bounds)[None], view)[0])
        overhead = tile_overhead_cycles(timing, df, accel.rows, accel.cols) + pe_words
        fill = pe_words
    wave = np.minimum(spatial, bounds)[None]
    wave_words = {op: int(tile_footprint_elems(op, wave, view)[0]) for op in OPERANDS}
    prec = layer.precision
    return Demand(
        layer=layer.name, workload=layer, mapping=mapping, dataflow=df.name, timing=timing,
        stationary=stat,
        fill_cycles=fill, drain_cycles=overhead - fill,
        layer_offset_cycles=layer_offset_cycles(timing) * view.G,
        new_tile=new_tile, stream_cycles=stream, block_of=pnum // per_block,
        glb_reads=glb_reads, glb_writes=glb_writes, wave_words=wave_words,
        first=first, last=last, dram_reads=dram_reads, dram_writes=dram_writes,
        final_writes=final, loads=loads,
        bits=dict(stored_bits) if stored_bits is not None else
        {"weight": prec.weight_bits, "input": prec.input_bits},
        accumulator_bits=accel.pe.accumulator_bits, output_bits=prec.output_bits,
        pass_start=start0.T, pass_extent=e0, span0=span0, bounds=bounds, evict=evict,
        pass0=p0, block0=int(bnum[0]), total_passes=total, total_blocks=total // per_block)


def demand_chunks(layer: Layer, accel: Accelerator, mapping: Mapping,
                  timing: str = "native", stored_bits: dict[str, float] | None = None,
                  chunk_passes: int | None = CHUNK_PASSES) -> Iterator[Demand]:
    """The demand in consecutive ranges of at most ``chunk_passes`` passes, in execution
    order (``None``: one range, the whole layer); see :func:`build_demand`."""
    total = pass_count(mapping)
    step = total if chunk_passes is None else chunk_passes
    if step < 1:
        raise ValueError(f"chunk_passes must be >= 1, not {chunk_passes!r}")
    for p0 in range(0, total, step):
        yield build_demand(layer, accel, mapping, timing, stored_bits,
                           (p0, min(total, p0 + step)))


__all__ = ["CHUNK_PASSES", "Demand", "build_demand", "demand_chunks", "pass_count"]
