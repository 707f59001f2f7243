"""The analytic cost model, vectorised over a batch of mappings.

``evaluate_batch(layer, accel, batch)`` takes mappings as numpy arrays and returns
arrays; :func:`evaluate` is the same code on a batch of one, returning a frozen
:class:`~sim.result.Result`. Both are pure functions of (layer, accelerator, mapping,
timing).

Model (all counts in elements unless named ``*_bytes``/``*_cycles``/``*_pj``):

* Tile footprints (the rules live in :mod:`sim.tiling`, shared with the cycle
  model's demand side): at level ``l`` a dimension's extent is the product of its
  spatial factors and temporal factors at levels ``<= l`` (capped at the bound).
  Weights span G,K,C,R,S; outputs G,N,K,P,Q; inputs G,N,C and the distinct rows the
  windows read (likewise columns): the halo ``(p-1)*stride + (r-1)*dilation + 1`` when
  they are contiguous, fewer when a stride or dilation skips rows
  (:func:`sim.tiling.window_rows`). For a conv lowered to im2col, the GLB tile of
  inputs (what DRAM moves and what the GLB holds) is the conv window the tile touches
  (:func:`sim.tiling.conv_input_footprint_elems`); the array side streams the im2col
  matrix.
* Fetches across a boundary (Timeloop-style reuse, :func:`sim.tiling.reuse_factors`):
  walking the loops above the boundary from the innermost outwards, the factors of
  loops irrelevant to an operand that come before its first relevant loop (factor > 1)
  are reuse; every other factor multiplies the fetches. Streamed operands are not held
  in the PEs: they are fetched from the GLB on every iteration above the PE level.
* Sliding-window (halo) reuse of conv inputs at DRAM -> GLB
  (:func:`sim.tiling.sliding_input_elems`): when the innermost input-relevant DRAM loop
  is P/Q (the pixel loop of a lowered conv, chunks aligned to output rows) and the GLB
  holds every operand's level-1 tile at once, consecutive tiles fetch only what the
  previous one did not hold (``input_window_resident`` says where it applied).
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

import numpy as np

from dataflows.dataflow import MAP_DIMS, OPERANDS, get_dataflow
from dataflows.errors import CoforgeError
from dataflows.layer import Layer
from dataflows.mapping import LEVELS, Mapping
from sim.datapath import mac_energy_pj, multiplier_bits
from sim.result import Result
from sim.sparse.engine import SparseProfile, statistical_profile
from sim.spec import Accelerator
from sim.tiling import (LoopsAbove, columns_product,
                        conv_input_footprint_elems, reuse_factors, sliding_input_elems,
                        tile_footprint_elems, tiles_fit)
from sim.timing import check_timing, layer_offset_cycles, tile_overhead_cycles

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
    fp1 = {op: tile_footprint_elems(op, ext[1], view) for op in OPERANDS}
    if view is not layer:
        fp1["input"] = conv_input_footprint_elems(ext[1], layer)
    distinct_out = int(tile_footprint_elems("output", full[:1], view)[0])

    loops0 = LoopsAbove.build(batch.temporal, batch.order, 0)
    loops1 = loops0.outer(batch.temporal, 1)
    above0, above1 = loops0.total, loops1.total
    # Temporal iterations past a bound are skipped, so every dimension takes exactly
    # ceil(bound / spatial) steps, however its temporal factors are split.
    iterations = columns_product(-(-bounds // spatial), tuple(range(len(MAP_DIMS))))

    out: dict[str, np.ndarray] = {}
    # Separable operands (every dimension indexes them directly) move exactly
    # distinct * (irrelevant factors not reused); inputs with a halo move their tile
    # footprint per load (overlapping halos are re-read).
    separable_in = view.R == view.S == view.stride_h == view.stride_w == 1
    distinct = {op: int(tile_footprint_elems(op, full[:1], view)[0]) for op in OPERANDS}
    # -- DRAM <-> GLB ----------------------------------------------------------------
    prof = sparse if sparse is not None else statistical_profile(layer, accel)
    stored = prof.stored_bits
    acc = accel.pe.accumulator_bits
    moved1 = {}
    out["input_window_resident"] = np.zeros(len(batch), dtype=bool)
    for op in OPERANDS:
        if op == "input" and (view is not layer or not separable_in):
            reuse, irr, slide = reuse_factors(op, loops1, blocking=True)
            loads = above1 // reuse
            moved1[op] = fp1[op] * loads
            # Sliding-window (halo) reuse along P/Q when the GLB holds the tiles.
            halo = sliding_input_elems(layer, view, ext[1], t[:, 2, :], slide, loads)
            idx = np.flatnonzero(halo >= 0)
            if idx.size:
                idx = idx[tiles_fit(
                    {"weight": fp1["weight"][idx] * stored["weight"],
                     "input": fp1["input"][idx] * stored["input"],
                     "output": fp1["output"][idx] * acc},
                    [(buf.operands, buf.usable_bytes) for buf in accel.glb])]
                moved1[op][idx] = halo[idx]
                out["input_window_resident"][idx] = True
        else:
            reuse, irr = reuse_factors(op, loops1)
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
        reuse, irr = reuse_factors(op, loops0, stays=op == stat)
        if op == stat:
            tiles = above0 // reuse
        if op == "input" and not separable_in:
            moved0[op] = tile_footprint_elems(op, ext[0], view) * (above0 // reuse)
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
    bits = {"weight": prec.weight_bits, "input": prec.input_bits}
    # Sparse engine (sim.sparse): compressed operands move and occupy their stored bits
    # (data + metadata) at DRAM and in the GLB (prof, stored above); gated or skipped
    # MACs spend no energy.

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
    wave = {op: tile_footprint_elems(op, wave_ext, view) for op in OPERANDS}
    reused = {"weight": to_array["weight"] > dram_r["weight"],
              "input": to_array["input"] > dram_r["input"],
              "output": out_up0 > out_up1}
    glb_need = {}
    for buf in accel.glb:
        glb_need[buf.name] = sum(np.where(reused[op], fp1[op], wave[op]) * tile_bits[op]
                                 for op in buf.operands) / 8
        legal &= glb_need[buf.name] <= buf.usable_bytes
        out[f"glb_{buf.name}_need_bytes"] = glb_need[buf.name]
    pe_words = tile_footprint_elems(stat, np.minimum(t[:, 0, :], bounds), view)
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
