"""The analytic cost model, vectorised over a batch of mappings.

``evaluate_batch(layer, accel, batch)`` takes mappings as numpy arrays and returns
arrays; :func:`evaluate` is the same code on a batch of one, returning a frozen
:class:`~sim.result.Result`. Both are pure functions of (layer, accelerator, mapping,
timing).

Model (all counts in elements unless named ``*_bytes``/``*_cycles``/``*_pj``):

* Tile footprints: at level ``l`` a dimension's extent is the product of its spatial
  factors and temporal factors at levels ``<= l`` (capped at the bound). Weights span
  G,K,C,R,S; outputs G,N,K,P,Q; inputs G,N,C and the distinct rows the windows read
  (likewise columns): the halo ``(p-1)*stride + (r-1)*dilation + 1`` when they are
  contiguous, fewer when a stride or dilation skips rows (:func:`_window_rows`). For a conv
  lowered to im2col, the GLB tile of inputs (what DRAM moves and what the GLB holds)
  is the conv window the tile touches (:func:`_conv_input_footprint`); the array
  side streams the im2col matrix.
* Fetches across a boundary (Timeloop-style reuse): walking the loops above the
  boundary from the innermost outwards, the factors of loops irrelevant to an operand
  that come before its first relevant loop (factor > 1) are reuse; every other factor
  multiplies the fetches. Streamed operands are not held in the PEs: they are fetched
  from the GLB on every iteration above the PE level.
* Partial sums: output writes up a boundary beyond the number of distinct outputs are
  read back (``reads = writes - distinct``); partial sums move at accumulator width,
  final outputs at output width.
* Cycles: ``compute = tiles * overhead + iterations + offset`` (see
  :mod:`sim.timing`), ``iterations = prod_d ceil(bound_d / spatial_d)`` (partial
  temporal tiles are skipped; padded ones only count towards ``tiles`` and traffic,
  an upper bound for imperfect multi-level splits); memory time per buffer is
  ``max(read_bytes / read_bw, write_bytes / write_bw)``; ``t = max(compute, slowest GLB)``;
  DRAM time overlaps ``t`` when every GLB is double-buffered, else adds to it.
  ``stall = total - compute``.
* Energy: MACs at the energy table's cost + bits moved at each level times that
  level's pJ/bit.
* Sparse engines (:mod:`sim.sparse`, statistical here: expected values of the
  layer's densities, no tensors): weights/inputs the engine exploits move and occupy
  their compressed stored bits per element (data + metadata of ``sparse.format``) at
  DRAM and in the GLB (capacity checks included; the PE level stays dense); with
  ``gating`` or ``skipping`` MAC energy is multiplied by the effectual fraction (the
  product of the exploited densities). Cycles stay dense here: skipping's shorter
  folds and their load imbalance are the cycle model's (:func:`sim.sparse.skip_schedule`).
* Legality needing sizes: every GLB holds, within its usable capacity, the level-1
  tile of each operand it reuses (the array reads it more often than DRAM delivers
  it; outputs at accumulator width) and one array wavefront of each operand that
  merely streams through; the PE register file holds the per-PE stationary tile.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from dataflows.dataflow import MAP_DIMS, OPERANDS, RELEVANT, get_dataflow
from dataflows.errors import CoforgeError
from dataflows.layer import Layer
from dataflows.mapping import LEVELS, Mapping
from sim.datapath import mac_energy_pj, multiplier_bits
from sim.result import Result
from sim.sparse.engine import SparseProfile, statistical_profile
from sim.spec import Accelerator
from sim.timing import check_timing, layer_offset_cycles, tile_overhead_cycles

_REL = {op: np.array([d in RELEVANT[op] for d in MAP_DIMS]) for op in OPERANDS}
_ORDER_INDEX = {d: i for i, d in enumerate(MAP_DIMS)}


class CostError(CoforgeError):
    """The mapping cannot run on this accelerator (capacity or precision)."""


@dataclass(frozen=True)
class MappingBatch:
    """A batch of B mappings as int64 arrays (dimension axis in ``MAP_DIMS`` order).

    ``rows``/``cols``: [B, 8] spatial factors; ``temporal``: [B, 3, 8] factors per
    level (pe, glb, dram); ``order``: [B, 3, 8] dimension indices, outermost first.
    """

    rows: np.ndarray
    cols: np.ndarray
    temporal: np.ndarray
    order: np.ndarray

    @classmethod
    def from_mappings(cls, mappings: list[Mapping]) -> "MappingBatch":
        return cls(
            rows=np.array([m.rows for m in mappings], dtype=np.int64),
            cols=np.array([m.cols for m in mappings], dtype=np.int64),
            temporal=np.array([m.temporal for m in mappings], dtype=np.int64),
            order=np.array([[[_ORDER_INDEX[d] for d in o] for o in m.order]
                            for m in mappings], dtype=np.int64))

    def __len__(self) -> int:
        return self.rows.shape[0]


def _footprint(op: str, e: np.ndarray, layer: Layer) -> np.ndarray:
    """Elements of ``op`` touched by per-dimension extents ``e`` ([B, 8])."""
    g, n, k, c, p, q, r, s = (e[:, i] for i in range(8))
    if op == "weight":
        return g * k * c * r * s
    if op == "output":
        return g * n * k * p * q
    h = np.minimum(_window_rows(p, r, layer.stride_h, layer.dilation_h), layer.needed_in_h)
    w = np.minimum(_window_rows(q, s, layer.stride_w, layer.dilation_w), layer.needed_in_w)
    return g * n * c * h * w


def _window_rows(p: np.ndarray, r: np.ndarray, stride: int, dilation: int) -> np.ndarray:
    """Distinct input rows ``i * stride + j * dilation`` of ``p`` consecutive outputs
    and ``r`` consecutive kernel rows (``0 <= i < p``, ``0 <= j < r``).

    The halo ``(p - 1) * stride + (r - 1) * dilation + 1`` when the rows are contiguous;
    fewer when a stride or dilation skips rows. With ``g = gcd(stride, dilation)``,
    ``s = stride / g``, ``d = dilation / g``: ``(i, j)`` and ``(i - d, j + s)`` read the
    same row, so the distinct rows are the pairs with ``i < d`` or ``j >= r - s``:
    ``p * r - max(0, p - d) * max(0, r - s)``.
    """
    g = np.gcd(stride, dilation)
    s, d = stride // g, dilation // g
    return p * r - np.maximum(0, p - d) * np.maximum(0, r - s)


def _conv_input_footprint(e: np.ndarray, layer: Layer) -> np.ndarray:
    """Distinct input elements of an im2col-lowered tile, read from the original conv.

    A lowered tile spans ``g`` groups, ``p`` consecutive output pixels (raster order
    N, P, Q) and ``t`` consecutive reduction indices (order C, R, S). The GLB stores
    the conv input and expands im2col on chip (as SCALE-Sim does), so DRAM moves
    ``channels x rows x cols`` of the window the tile touches, never more than the
    im2col tile itself nor more than the input rows/columns any window reads. Tiles
    are taken as aligned to pixel rows and channels (an approximation for partial
    ones).
    """
    g, p, t = e[:, 0], e[:, 4], e[:, 3]
    rs = layer.R * layer.S
    cs = np.maximum(1, np.minimum(layer.C // layer.G, -(-t // rs)))
    rr = np.where(t >= rs, layer.R, np.minimum(layer.R, -(-t // layer.S)))
    ss = np.where(t >= layer.S, layer.S, t)
    pq = layer.P * layer.Q
    n = np.minimum(layer.N, -(-p // pq))
    ps = np.minimum(layer.P, -(-p // layer.Q))
    qs = np.minimum(layer.Q, p)
    hs = np.minimum(np.minimum((ps - 1) * layer.stride_h + (rr - 1) * layer.dilation_h + 1,
                               ps * rr), _touched(layer.P, layer.stride_h, layer.R,
                                                  layer.dilation_h, layer.pad_h, layer.H))
    ws = np.minimum(np.minimum((qs - 1) * layer.stride_w + (ss - 1) * layer.dilation_w + 1,
                               qs * ss), _touched(layer.Q, layer.stride_w, layer.S,
                                                  layer.dilation_w, layer.pad_w, layer.W))
    return np.minimum(g * n * cs * hs * ws, g * p * t)


def _touched(out: int, stride: int, kernel: int, dilation: int, pad: int, size: int) -> int:
    """Input rows (or columns) any window reads: strides wider than the kernel skip
    rows, padding and SCALE-Sim's rounded-up outputs read outside ``[0, size)``."""
    return len({o * stride + k * dilation - pad for o in range(out) for k in range(kernel)}
               & set(range(size)))


@dataclass(frozen=True)
class _LoopsAbove:
    """The temporal loops above a boundary, innermost first, for a batch.

    ``prefix[:, j]`` is the product of the ``j`` innermost factors, ``per_dim`` the
    product of each dimension's factors above the boundary.
    """

    facs: np.ndarray      # [B, n] factors, innermost first
    dims: np.ndarray      # [B, n] uint8 dimension indices
    prefix: np.ndarray    # [B, n + 1] prefix products (prefix[:, 0] == 1)
    per_dim: np.ndarray   # [B, 8]
    big: np.ndarray       # [B, n] factor > 1

    @property
    def total(self) -> np.ndarray:
        return self.prefix[:, -1]

    @classmethod
    def build(cls, batch: MappingBatch, level: int) -> "_LoopsAbove":
        b = len(batch)
        order = batch.order[:, level + 1:, ::-1].reshape(b, -1)   # innermost first
        temporal = np.ascontiguousarray(batch.temporal)
        facs = np.take(temporal.reshape(-1), order + _flat_offsets(b, level))
        return cls(facs, order.astype(np.uint8), _prefix(facs),
                   _levels_product(batch.temporal, level + 1), facs > 1)

    def outer(self, batch: MappingBatch, level: int) -> "_LoopsAbove":
        """The loops above a higher ``level``: the outer columns of this table."""
        n = (len(LEVELS) - 1 - level) * len(MAP_DIMS)
        facs = self.facs[:, -n:]
        return _LoopsAbove(facs, self.dims[:, -n:], _prefix(facs),
                           _levels_product(batch.temporal, level + 1), self.big[:, -n:])


@lru_cache(maxsize=16)
def _flat_offsets(b: int, level: int) -> np.ndarray:
    """[b, n] flat index of (row, level, dimension 0) in a C-contiguous [b, 3, 8]
    ``temporal`` for each column of the loops above ``level`` (add the dimension)."""
    levels = np.repeat(np.arange(level + 1, len(LEVELS)), len(MAP_DIMS)) * len(MAP_DIMS)
    out = np.arange(b)[:, None] * (len(LEVELS) * len(MAP_DIMS)) + levels[None, :]
    out.flags.writeable = False
    return out


def _prefix(facs: np.ndarray) -> np.ndarray:
    """[B, n + 1] prefix products of ``facs`` [B, n] (column 0 is 1)."""
    prefix = np.empty((facs.shape[0], facs.shape[1] + 1), dtype=np.int64)
    prefix[:, 0] = 1
    for j in range(facs.shape[1]):          # column by column: numpy's cumprod along a
        np.multiply(prefix[:, j], facs[:, j], out=prefix[:, j + 1])   # short axis is slower
    return prefix


def _levels_product(temporal: np.ndarray, first: int) -> np.ndarray:
    """Per dimension, the product of the temporal factors of levels ``first..`` ([B, 8])."""
    out = temporal[:, first, :].copy()
    for lvl in range(first + 1, temporal.shape[1]):
        out *= temporal[:, lvl, :]
    return out


def _columns_product(a: np.ndarray, columns: tuple[int, ...]) -> np.ndarray:
    """Product of the given columns of ``a`` [B, n] (a row-wise ``prod`` over them)."""
    out = a[:, columns[0]].copy()
    for j in columns[1:]:
        out *= a[:, j]
    return out


_REL_MASK = {op: np.uint8(sum(1 << i for i, d in enumerate(MAP_DIMS) if d in RELEVANT[op]))
             for op in OPERANDS}
_REL_COLUMNS = {op: tuple(i for i, d in enumerate(MAP_DIMS) if d in RELEVANT[op])
                for op in OPERANDS}


def _reuse(op: str, loops: _LoopsAbove, stays: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(reuse, irrelevant): the product of the loop factors inside the innermost
    relevant loop with a factor > 1 (irrelevant ones only, since relevant ones there
    are 1: the tile stays; 1 when ``stays`` is False) and the product of all
    irrelevant factors above the boundary.

    A tile is loaded ``total / reuse`` times; a separable operand moves
    ``distinct * irrelevant / reuse`` elements (partial tiles counted exactly).
    """
    relevant = _columns_product(loops.per_dim, _REL_COLUMNS[op])
    irrelevant = loops.total // relevant
    if not stays:
        return np.ones_like(irrelevant), irrelevant
    b, n = loops.dims.shape
    blocking = np.empty((b, n + 1), dtype=bool)
    blocking[:, n] = True                   # sentinel: no blocking loop -> first == n
    np.logical_and((_REL_MASK[op] >> loops.dims) & 1, loops.big, out=blocking[:, :n])
    first = blocking.argmax(axis=1)
    return np.take(loops.prefix, np.arange(0, b * (n + 1), n + 1) + first), irrelevant


#: Rows costed at a time: keeps the working set in cache (about 1.5x faster at 1M).
CHUNK_ROWS = 16384


def evaluate_batch(layer: Layer, accel: Accelerator, batch: MappingBatch,
                   timing: str = "native", detail: bool = True,
                   sparse: SparseProfile | None = None) -> dict[str, np.ndarray]:
    """Cost every mapping of ``batch`` (structurally legal ones; see Mapping.check).

    Returns arrays of length B: ``legal`` (capacity and precision), ``compute_cycles``,
    ``stall_cycles``, ``total_cycles``, ``tiles``, ``iterations``, ``utilization``,
    ``energy_pj``, ``edp`` (pJ x cycles), the energy per level ``energy_<level>_pj``
    and per-operand traffic ``<level>_<operand>_<reads|writes>`` (elements) and
    ``..._<read|write>_bytes``. ``detail=False`` (the mapper's inner loop) computes
    the same model but returns only the per-mapping totals, not the 36 traffic arrays.
    """
    if len(batch) <= CHUNK_ROWS:
        return _evaluate_chunk(layer, accel, batch, timing, detail, sparse)
    out: dict[str, np.ndarray] = {}
    for i in range(0, len(batch), CHUNK_ROWS):
        part = _evaluate_chunk(layer, accel, MappingBatch(
            batch.rows[i:i + CHUNK_ROWS], batch.cols[i:i + CHUNK_ROWS],
            batch.temporal[i:i + CHUNK_ROWS], batch.order[i:i + CHUNK_ROWS]), timing, detail,
            sparse)
        if not out:
            out = {k: np.empty(len(batch), dtype=v.dtype) for k, v in part.items()}
        for k, v in part.items():
            out[k][i:i + CHUNK_ROWS] = v
    return out


def _evaluate_chunk(layer: Layer, accel: Accelerator, batch: MappingBatch,
                    timing: str, detail: bool,
                    sparse: SparseProfile | None = None) -> dict[str, np.ndarray]:
    df = get_dataflow(accel.dataflow)
    check_timing(timing, df)
    view = df.map_view(layer)
    layer_bounds = df.bounds(layer)
    bounds = np.array([layer_bounds[d] for d in MAP_DIMS], dtype=np.int64)
    spatial = batch.rows * batch.cols
    t = batch.temporal
    ext = [np.minimum(spatial * t[:, 0, :], bounds)]
    ext.append(np.minimum(ext[0] * t[:, 1, :], bounds))
    full = np.broadcast_to(bounds, ext[0].shape)
    fp1 = {op: _footprint(op, ext[1], view) for op in OPERANDS}
    if view is not layer:
        fp1["input"] = _conv_input_footprint(ext[1], layer)
    distinct_out = int(_footprint("output", full[:1], view)[0])

    loops0 = _LoopsAbove.build(batch, 0)
    loops1 = loops0.outer(batch, 1)
    above0, above1 = loops0.total, loops1.total
    # Temporal iterations past a bound are skipped, so every dimension takes exactly
    # ceil(bound / spatial) steps, however its temporal factors are split.
    iterations = _columns_product(-(-bounds // spatial), tuple(range(len(MAP_DIMS))))

    out: dict[str, np.ndarray] = {}
    # Separable operands (every dimension indexes them directly) move exactly
    # distinct * (irrelevant factors not reused); inputs with a halo move their tile
    # footprint per load (overlapping halos are re-read).
    separable_in = view.R == view.S == view.stride_h == view.stride_w == 1
    distinct = {op: int(_footprint(op, full[:1], view)[0]) for op in OPERANDS}
    # -- DRAM <-> GLB ----------------------------------------------------------------
    moved1 = {}
    for op in OPERANDS:
        reuse, irr = _reuse(op, loops1)
        if op == "input" and (view is not layer or not separable_in):
            moved1[op] = fp1[op] * (above1 // reuse)
        else:
            moved1[op] = distinct[op] * (irr // reuse)
    dram_r = {"weight": moved1["weight"], "input": moved1["input"],
              "output": moved1["output"] - distinct_out}
    out_up1 = moved1["output"]
    dram_w = {"weight": np.zeros_like(out_up1), "input": np.zeros_like(out_up1),
              "output": out_up1}
    # -- GLB <-> array: streamed operands are not kept in the PEs -------------------
    stat = df.stationary
    moved0, tiles = {}, above0
    for op in OPERANDS:
        reuse, irr = _reuse(op, loops0, stays=op == stat)
        if op == stat:
            tiles = above0 // reuse
        if op == "input" and not separable_in:
            moved0[op] = _footprint(op, ext[0], view) * (above0 // reuse)
        else:
            moved0[op] = distinct[op] * (irr // reuse)
    to_array = {op: moved0[op] for op in ("weight", "input")}
    out_up0 = moved0["output"]
    psum_back = out_up0 - distinct_out
    glb_r = {"weight": to_array["weight"], "input": to_array["input"],
             "output": psum_back + out_up1}
    glb_w = {"weight": dram_r["weight"], "input": dram_r["input"],
             "output": out_up0 + dram_r["output"]}
    macs = layer.macs
    pe_r = {op: np.full_like(out_up0, macs) for op in OPERANDS}
    pe_w = {"weight": to_array["weight"], "input": to_array["input"],
            "output": np.full_like(out_up0, macs)}

    # -- bits per element ----------------------------------------------------------
    prec = layer.precision
    acc = accel.pe.accumulator_bits
    bits = {"weight": prec.weight_bits, "input": prec.input_bits}
    # Sparse engine (sim.sparse): compressed operands move and occupy their stored bits
    # (data + metadata) at DRAM and in the GLB; gated or skipped MACs spend no energy.
    prof = sparse if sparse is not None else statistical_profile(layer, accel)
    stored = prof.stored_bits

    def out_bits(reads: np.ndarray, writes: np.ndarray, final: int) -> tuple:
        """(read bits, write bits): psums at acc width, ``final`` outputs at out width."""
        return reads * acc, (writes - final) * acc + final * prec.output_bits

    level_bits: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    level_bits["dram"] = {op: (dram_r[op] * stored[op], dram_w[op] * stored[op])
                          for op in ("weight", "input")}
    level_bits["dram"]["output"] = out_bits(dram_r["output"], dram_w["output"], distinct_out)
    level_bits["glb"] = {op: (glb_r[op] * stored[op], glb_w[op] * stored[op])
                         for op in ("weight", "input")}
    # GLB output reads: psums to the array + data written back to DRAM (final ones at
    # output width); writes: psums from the array + refills from DRAM.
    level_bits["glb"]["output"] = (
        psum_back * acc + dram_w["output"] * acc - distinct_out * (acc - prec.output_bits),
        glb_w["output"] * acc)
    level_bits["pe"] = {op: (pe_r[op] * bits[op], pe_w[op] * bits[op])
                        for op in ("weight", "input")}
    level_bits["pe"]["output"] = (pe_r["output"] * acc, pe_w["output"] * acc)

    # -- legality: precision and capacity -----------------------------------------
    legal = np.ones(len(batch), dtype=bool)
    if multiplier_bits(layer) > accel.pe.operand_bits:    # narrow widths (sim.datapath)
        legal[:] = False
    # A GLB keeps an operand's level-1 tile only when the array reads it more often
    # than DRAM delivers it (reuse in the GLB); otherwise it streams through a window
    # of one array wavefront. Outputs count at accumulator width.
    tile_bits = {"weight": stored["weight"], "input": stored["input"], "output": acc}
    wave_ext = np.minimum(spatial, bounds)
    wave = {op: _footprint(op, wave_ext, view) for op in OPERANDS}
    reused = {"weight": to_array["weight"] > dram_r["weight"],
              "input": to_array["input"] > dram_r["input"],
              "output": out_up0 > out_up1}
    glb_need = {}
    for buf in accel.glb:
        glb_need[buf.name] = sum(np.where(reused[op], fp1[op], wave[op]) * tile_bits[op]
                                 for op in buf.operands) / 8
        legal &= glb_need[buf.name] <= buf.usable_bytes
        out[f"glb_{buf.name}_need_bytes"] = glb_need[buf.name]
    pe_words = _footprint(stat, np.minimum(t[:, 0, :], bounds), view)
    out["pe_need_bytes"] = pe_words * tile_bits[stat] / 8
    legal &= out["pe_need_bytes"] <= accel.rf.capacity_bytes

    # -- cycles ----------------------------------------------------------------------
    overhead = tile_overhead_cycles(timing, df, accel.rows, accel.cols,
                                    accel.pe.product_register)
    if not df.systolic:
        overhead = overhead + pe_words
    compute = tiles * overhead + iterations + layer_offset_cycles(timing) * view.G
    with np.errstate(divide="ignore", invalid="ignore"):
        glb_cycles = np.zeros(len(batch))
        for buf in accel.glb:
            rb = sum(level_bits["glb"][op][0] for op in buf.operands) / 8
            wb = sum(level_bits["glb"][op][1] for op in buf.operands) / 8
            glb_cycles = np.maximum(glb_cycles, np.maximum(rb / buf.read_bytes_per_cycle,
                                                           wb / buf.write_bytes_per_cycle))
        dram_rb = sum(level_bits["dram"][op][0] for op in OPERANDS) / 8
        dram_wb = sum(level_bits["dram"][op][1] for op in OPERANDS) / 8
        dram_cycles = np.maximum(dram_rb / accel.dram.read_bytes_per_cycle,
                                 dram_wb / accel.dram.write_bytes_per_cycle)
    busy = np.maximum(compute, np.ceil(glb_cycles).astype(np.int64))
    dram_int = np.ceil(dram_cycles).astype(np.int64)
    if all(b.double_buffered for b in accel.glb):
        total = np.maximum(busy, dram_int)
    else:
        total = busy + dram_int

    # -- energy ----------------------------------------------------------------------
    e_mac = mac_energy_pj(layer, accel)       # per pe.mode: see sim.datapath
    e_mac = e_mac * prof.effectual           # sparse: effectual MACs only (sim.sparse)
    e_pe = sum(r + w for r, w in level_bits["pe"].values()) * accel.rf.pj_per_bit()
    e_glb = np.zeros(len(batch))
    for buf in accel.glb:
        e_glb = e_glb + sum(level_bits["glb"][op][0] + level_bits["glb"][op][1]
                            for op in buf.operands) * buf.pj_per_bit()
    e_dram = sum(r + w for r, w in level_bits["dram"].values()) * accel.energy.dram_pj_per_bit
    energy = e_mac + e_pe + e_glb + e_dram

    out.update(legal=legal, compute_cycles=compute, stall_cycles=total - compute,
               total_cycles=total, tiles=tiles, iterations=iterations,
               # SCALE-Sim's offset makes its "cycles" the index of the last cycle;
               # utilization counts cycles, so it never exceeds 1 in either timing.
               utilization=macs / ((total - layer_offset_cycles(timing) * view.G)
                                   * accel.rows * accel.cols),
               energy_pj=energy, edp=energy * total, energy_mac_pj=np.full(len(batch), e_mac),
               energy_pe_pj=e_pe, energy_glb_pj=e_glb, energy_dram_pj=e_dram)
    if not detail:
        return out
    for level, reads, writes in (("pe", pe_r, pe_w), ("glb", glb_r, glb_w),
                                 ("dram", dram_r, dram_w)):
        for op in OPERANDS:
            out[f"{level}_{op}_reads"] = reads[op]
            out[f"{level}_{op}_writes"] = writes[op]
            out[f"{level}_{op}_read_bytes"] = level_bits[level][op][0] // 8
            out[f"{level}_{op}_write_bytes"] = level_bits[level][op][1] // 8
    return out


def _unfit_reasons(layer: Layer, accel: Accelerator, arr: dict[str, np.ndarray],
                   i: int = 0) -> list[str]:
    """Why row ``i`` of an :func:`evaluate_batch` output is not legal (empty if it is)."""
    reasons = []
    if multiplier_bits(layer) > accel.pe.operand_bits:
        reasons.append(f"layer {layer.name!r} needs {multiplier_bits(layer)}-bit "
                       f"operands but pe.operand_bits is {accel.pe.operand_bits}")
    for buf in accel.glb:
        need = float(arr[f"glb_{buf.name}_need_bytes"][i])
        if need > buf.usable_bytes:
            reasons.append(f"glb buffer {buf.name!r}: tile needs {need:.0f} B but "
                           f"{buf.usable_bytes:.0f} B are usable"
                           f"{' (double-buffered)' if buf.double_buffered else ''}")
    if arr["pe_need_bytes"][i] > accel.rf.capacity_bytes:
        reasons.append(f"rf: the per-PE {get_dataflow(accel.dataflow).stationary} tile needs "
                       f"{float(arr['pe_need_bytes'][i]):.0f} B but rf holds "
                       f"{accel.rf.capacity_bytes} B")
    return reasons


def capacity_report(layer: Layer, accel: Accelerator, mapping: Mapping) -> list[str]:
    """Human-readable reasons a structurally legal mapping does not fit (empty if it fits)."""
    arr = evaluate_batch(layer, accel, MappingBatch.from_mappings([mapping]))
    return _unfit_reasons(layer, accel, arr)


def evaluate(layer: Layer, accel: Accelerator, mapping: Mapping,
             timing: str = "native", sparse: SparseProfile | None = None) -> Result:
    """Cost one (layer, accelerator, mapping); raises a one-line error if illegal.

    ``sparse``: the layer's sparse profile (default: the statistical one from its
    densities, :func:`sim.sparse.statistical_profile`)."""
    df = get_dataflow(accel.dataflow)
    mapping.check(layer, df, accel.rows, accel.cols, df.bounds(layer))
    arr = evaluate_batch(layer, accel, MappingBatch.from_mappings([mapping]), timing,
                         sparse=sparse)
    reasons = _unfit_reasons(layer, accel, arr)
    if reasons:
        raise CostError(f"layer {layer.name!r} cannot run with this mapping on "
                        f"{accel.name!r}: {reasons[0]}")
    return result_from_arrays(layer, arr, 0, timing, mapping)


def result_from_arrays(layer: Layer, arr: dict[str, np.ndarray], i: int, timing: str,
                       mapping: Mapping | None = None) -> Result:
    """Row ``i`` of an :func:`evaluate_batch` output as a frozen :class:`Result`."""
    accesses: dict[str, dict[str, dict[str, int]]] = {}
    nbytes: dict[str, dict[str, dict[str, int]]] = {}
    for level in LEVELS:
        accesses[level] = {op: {"reads": int(arr[f"{level}_{op}_reads"][i]),
                                "writes": int(arr[f"{level}_{op}_writes"][i])}
                           for op in OPERANDS}
        nbytes[level] = {op: {"reads": int(arr[f"{level}_{op}_read_bytes"][i]),
                              "writes": int(arr[f"{level}_{op}_write_bytes"][i])}
                         for op in OPERANDS}
    by_level = {lvl: float(arr[f"energy_{lvl}_pj"][i]) for lvl in ("mac", "pe", "glb", "dram")}
    return Result(
        layer=layer.name, macs=layer.macs, compute_cycles=int(arr["compute_cycles"][i]),
        stall_cycles=int(arr["stall_cycles"][i]), total_cycles=int(arr["total_cycles"][i]),
        utilization=float(arr["utilization"][i]), energy_pj=float(arr["energy_pj"][i]),
        energy_pj_by_level=by_level, accesses=accesses, bytes=nbytes,
        tiles=int(arr["tiles"][i]), iterations=int(arr["iterations"][i]), timing=timing,
        mapping=mapping.to_dict() if mapping is not None else {})


__all__ = ["CostError", "MappingBatch", "capacity_report", "evaluate", "evaluate_batch",
           "result_from_arrays"]
