"""SCALE-Sim 3.0.0's USER interface-bandwidth memory system, as a coforge memory model.

:class:`ScaleSimMemory` plugs into :func:`sim.cycle.simulate_cycle` like
:class:`~sim.cycle.supply.BufferedMemory` and reproduces the stall cycles SCALE-Sim
reports with ``InterfaceBandwidth: USER``; with ``CALC`` SCALE-Sim never stalls and
neither does this model. Use it with ``timing="scalesim"`` and SCALE-Sim's own fold
order (:func:`scalesim_mapping`, which ``simulate`` picks when ``memory`` is a
:class:`ScaleSimMemory`).

What SCALE-Sim does, as established by running it (``tests/peers``) and written here
in coforge's terms (no SCALE-Sim code is used):

* The array's demand is one *line* per cycle of the stall-free schedule: per fold,
  ``fill + stream`` lines, each listing the addresses every array row/column asks of
  each operand that cycle (skewed wavefronts; the stationary tile's addresses at the
  start of the fold). Folds run columns-outer, rows-inner.
* The ifmap and filter SRAMs are *streaming* buffers, not tile buffers. Each operand
  has a fetch order (its operand matrix cut into array-wide folds, stacked, and -- for
  the operands that enter skewed -- read along anti-diagonals) cut into *sets* of
  ``ceil(capacity / 100)`` words. Half the SRAM (``A`` sets) is the active window,
  starting at set 0; the other half (``P`` sets) is the prefetch. An address hits when
  a set holding it lies in the window (circularly); on a miss the window slides by
  ``P`` sets (repeatedly, until the address hits) and each slide is one prefetch of
  ``ceil(P_words / bank_bw)`` DRAM lines at the ``[layout] *SRAMBankBandwidth`` rate.
  Prefetch ``k`` completes at ``T_k = -1 + k * (ceil(P_words / bank_bw) + 1)``,
  back to back whatever the array does (prefetches never idle, never run ahead of a
  miss). A read line that misses at cycle ``c`` waits ``2 * (T_k - c - 1)`` cycles if
  positive (SCALE-Sim adds the lateness twice), each further miss in the same line
  measured from the delayed cycle; an on-time prefetch (negative lateness) moves the
  line's later misses earlier by as much.
* The ofmap SRAM is a write buffer drained at ``Bandwidth`` words per cycle: when more
  than half of it is occupied and no drain is running, a drain of half its size starts
  (``ceil(half / bw)`` cycles; the space counts as free at once); a write that finds
  the buffer full during a drain waits for the drain to end. Partial lines are padded.
* Per line the array stalls ``max(ifmap, filter, ofmap stall)``, and every later line
  runs that much later. ``Total Cycles`` = lines - 1 + stalls; the final drain and the
  initial prefetch (before cycle 0) are not counted.

SCALE-Sim's words are one byte; coforge layers must be 8-bit, ungrouped, unpadded,
undilated (SCALE-Sim's vocabulary). The model walks the demand lines of every fold
(vectorised per fold and skipping to the next miss), so unlike
:class:`~sim.cycle.supply.BufferedMemory` its cost grows with the cycle count: it is
meant for comparisons with SCALE-Sim, not for design-space sweeps.
"""

from __future__ import annotations

import configparser
import math
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from dataflows.dataflow import get_dataflow
from dataflows.layer import Layer
from dataflows.mapping import Mapping
from sim.cycle.demand import Demand
from sim.cycle.supply import MemoryModelError
from sim.spec import Accelerator

#: Active fraction of every SCALE-Sim SRAM (the rest prefetches or drains).
ACTIVE_FRACTION = 0.5
#: A streaming buffer's sets: ceil(capacity / SETS_PER_BUFFER) words each.
SETS_PER_BUFFER = 100


@dataclass(frozen=True)
class ScaleSimMemory:
    """SCALE-Sim's USER-mode memory: what coforge's spec does not carry.

    ``ifmap_bank_bandwidth``/``filter_bank_bandwidth``: words per cycle filling the
    ifmap/filter SRAMs (``[layout] IfmapSRAMBankBandwidth``/``FilterSRAMBankBandwidth``).
    SRAM sizes come from the accelerator's GLB buffers holding input/weight/output and
    the ofmap drain rate from ``dram.write_bytes_per_cycle`` (``Bandwidth``), as
    :func:`sim.scalesim_io.load_scalesim_config` sets them. ``interface`` is ``USER``
    or ``CALC`` (no stalls).
    """

    ifmap_bank_bandwidth: int = 10
    filter_bank_bandwidth: int = 10
    interface: str = "USER"
    #: SCALE-Sim streams operands through its SRAMs: tiles need not fit.
    fits_tiles = False

    def __post_init__(self) -> None:
        for name in ("ifmap_bank_bandwidth", "filter_bank_bandwidth"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise MemoryModelError(f"{name} must be a positive integer (words/cycle), "
                                       f"not {value!r}")
        if self.interface not in ("USER", "CALC"):
            raise MemoryModelError(f"interface must be 'USER' or 'CALC', "
                                   f"not {self.interface!r}")

    @classmethod
    def from_cfg(cls, path: str | Path) -> "ScaleSimMemory":
        """The parameters :func:`sim.scalesim_io.load_scalesim_config` does not read:
        ``[layout]`` bank bandwidths and ``[run_presets] InterfaceBandwidth``."""
        p = Path(path)
        cfg = configparser.ConfigParser()
        try:
            cfg.read_string(p.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, configparser.Error) as err:
            raise MemoryModelError(f"{p}: cannot read the SCALE-Sim config: "
                                   f"{str(err).splitlines()[0]}") from None
        interface = cfg.get("run_presets", "InterfaceBandwidth", fallback="CALC").strip()
        out = {}
        for key, name in (("IfmapSRAMBankBandwidth", "ifmap_bank_bandwidth"),
                          ("FilterSRAMBankBandwidth", "filter_bank_bandwidth")):
            raw = cfg.get("layout", key, fallback="10").strip()
            try:
                out[name] = int(raw)
            except ValueError:
                raise MemoryModelError(f"{p}: [layout] {key} must be an integer, "
                                       f"not {raw!r}") from None
        return cls(interface=interface.upper(), **out)

    def mapping_for(self, layer: Layer, accel: Accelerator) -> Mapping:
        """SCALE-Sim's own mapping (the only one this model times)."""
        return scalesim_mapping(layer, accel)

    def supply(self, accel: Accelerator, demand: Demand) -> "ScaleSimSupply":
        return ScaleSimSupply(self, accel, demand)


# -- SCALE-Sim's mapping ------------------------------------------------------------------
#: (rows dim, cols dim, stream dim) of the lowered GEMM per dataflow; folds run
#: columns-outer, rows-inner.
_DIMS = {"ws": ("C", "K", "P"), "os": ("P", "K", "C"), "is": ("C", "P", "K")}


def scalesim_mapping(layer: Layer, accel: Accelerator) -> Mapping:
    """SCALE-Sim's mapping: fill the array, stream whole, one stationary tile per fold,
    folds columns-outer at the DRAM level."""
    df = get_dataflow(accel.dataflow)
    if df.name not in _DIMS:
        raise MemoryModelError(f"SCALE-Sim has ws/os/is dataflows, not {df.name!r}")
    b = df.bounds(layer)
    rd, cd, sd = _DIMS[df.name]
    rows, cols = min(b[rd], accel.rows), min(b[cd], accel.cols)
    dram = {cd: math.ceil(b[cd] / cols), rd: math.ceil(b[rd] / rows)}
    groups = {"G": b["G"]} if b["G"] > 1 else {}
    return Mapping.build(rows={rd: rows}, cols={cd: cols}, pe={sd: b[sd]},
                         dram=groups | dram, order={"dram": ["G", cd, rd]})


# -- SCALE-Sim's operand matrices, fetch orders and demand lines -----------------------------
def operand_matrices(layer: Layer) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Word addresses of ifmap [Sr, T] (im2col; -1 outside the input), filter [T, Sc]
    and ofmap [Sr, Sc], each operand in its own address space, as SCALE-Sim numbers
    them (ifmap HWC, filter column-major, ofmap row-major)."""
    if layer.G != 1 or layer.N != 1 or layer.pad_h or layer.pad_w \
            or layer.dilation_h != 1 or layer.dilation_w != 1:
        raise MemoryModelError(f"layer {layer.name!r}: SCALE-Sim layers have no groups, "
                               f"batch, padding or dilation")
    _, sr, t, sc = layer.gemm_shape
    pix, win = np.meshgrid(np.arange(sr), np.arange(t), indexing="ij")
    orow, ocol = np.divmod(pix, layer.Q)
    frow, rest = np.divmod(win, layer.S * layer.C)
    fcol, ch = np.divmod(rest, layer.C)
    y, x = orow * layer.stride_h + frow, ocol * layer.stride_w + fcol
    ifmap = np.where((y < layer.H) & (x < layer.W), (y * layer.W + x) * layer.C + ch, -1)
    filt = (np.arange(sc)[None, :] * t + np.arange(t)[:, None]).astype(np.int64)
    ofmap = np.arange(sr * sc, dtype=np.int64).reshape(sr, sc)
    return ifmap, filt, ofmap


def _pad(block: np.ndarray, rows: int | None = None, cols: int | None = None) -> np.ndarray:
    """``block`` padded with -1 to ``rows`` x ``cols`` (None keeps that side)."""
    r = block.shape[0] if rows is None else rows
    c = block.shape[1] if cols is None else cols
    out = np.full((r, c), -1, dtype=np.int64)
    out[:block.shape[0], :block.shape[1]] = block
    return out


def _gap(rows: int, lanes: int) -> np.ndarray:
    return np.full((rows, lanes), -1, dtype=np.int64)


def _skew(block: np.ndarray) -> np.ndarray:
    """Lane ``c`` delayed by ``c`` lines (a systolic wavefront)."""
    rows, lanes = block.shape
    out = np.full((rows + lanes - 1, lanes), -1, dtype=np.int64)
    for c in range(lanes):
        out[c:c + rows, c] = block[:, c]
    return out


def _diagonal(mat: np.ndarray) -> np.ndarray:
    """``mat`` read along anti-diagonals, each from its lowest row upwards."""
    r, c = np.indices(mat.shape)
    order = np.lexsort((-r.ravel(), (r + c).ravel()))
    return mat.ravel()[order]


def _stack(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts, axis=0)


def fetch_orders(dataflow: str, ifmap: np.ndarray, filt: np.ndarray, rows: int,
                 cols: int) -> tuple[np.ndarray, np.ndarray]:
    """The order the ifmap and filter SRAMs fetch their operands in (-1 = padding)."""
    sr, t = ifmap.shape
    sc = filt.shape[1]
    if dataflow == "ws":
        fi = _diagonal(_stack([_pad(ifmap[:, f * rows:(f + 1) * rows], cols=rows)
                               for f in range(math.ceil(t / rows))]))
        ff = _stack([_pad(filt[:, f * cols:(f + 1) * cols], cols=cols)
                     for f in range(math.ceil(sc / cols))]).ravel()
    elif dataflow == "os":
        fi = _diagonal(_stack([_pad(ifmap[f * rows:(f + 1) * rows].T, cols=rows)
                               for f in range(math.ceil(sr / rows))]))
        ff = _diagonal(_stack([_pad(filt[:, f * cols:(f + 1) * cols], cols=cols)
                               for f in range(math.ceil(sc / cols))]))
    else:
        fi = _stack([_pad(ifmap[f * cols:(f + 1) * cols].T, cols=cols)
                     for f in range(math.ceil(sr / cols))]).ravel()
        ff = _diagonal(_stack([_pad(filt[f * rows:(f + 1) * rows].T, cols=rows)
                               for f in range(math.ceil(t / rows))]))
    return fi, ff


def fold_lines(dataflow: str, ifmap: np.ndarray, filt: np.ndarray, ofmap: np.ndarray,
               rows: int, cols: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per fold (columns outer, rows inner): the ifmap, filter and ofmap address lines
    (one row per cycle of the stall-free schedule, one column per array lane)."""
    sr, t = ifmap.shape
    sc = filt.shape[1]
    R, C = rows, cols
    if dataflow == "ws":
        for fc in range(math.ceil(sc / C)):
            of = _skew(np.vstack([_gap(2 * R - 1, C), _pad(ofmap[:, fc * C:(fc + 1) * C],
                                                          cols=C)]))
            for fr in range(math.ceil(t / R)):
                fi = _skew(np.vstack([_gap(R, R), _pad(ifmap[:, fr * R:(fr + 1) * R], cols=R),
                                      _gap(C - 1, R)]))
                tile = _pad(filt[fr * R:(fr + 1) * R, fc * C:(fc + 1) * C], R, C)[::-1]
                ff = np.vstack([tile, _gap(R + C + sr - 2, C)])
                yield fi, ff, of
    elif dataflow == "os":
        for fc in range(math.ceil(sc / C)):
            ff = _skew(np.vstack([_pad(filt[:, fc * C:(fc + 1) * C], cols=C), _gap(R - 1, C)]))
            for fr in range(math.ceil(sr / R)):
                fi = _skew(np.vstack([_pad(ifmap[fr * R:(fr + 1) * R].T, cols=R),
                                      _gap(C - 1, R)]))
                tile = _pad(ofmap[fr * R:(fr + 1) * R, fc * C:(fc + 1) * C], R, C)[::-1]
                of = _skew(np.vstack([_gap(t - 1, C), tile]))
                yield fi, ff, of
    else:
        for fc in range(math.ceil(sr / C)):
            of = _skew(np.vstack([_gap(2 * R - 1, C),
                                  _pad(ofmap[fc * C:(fc + 1) * C].T, cols=C)]))
            for fr in range(math.ceil(t / R)):
                tile = _pad(ifmap[fc * C:(fc + 1) * C, fr * R:(fr + 1) * R].T, R, C)[::-1]
                fi = np.vstack([tile, _gap(R + C + sc - 2, C)])
                ff = _skew(np.vstack([_gap(R, R), _pad(filt[fr * R:(fr + 1) * R].T, cols=R),
                                      _gap(C - 1, R)]))
                yield fi, ff, of


# -- the streaming read buffer ---------------------------------------------------------
class _ReadBuffer:
    """Which sets hold which address, the sliding window, and the prefetch clock."""

    def __init__(self, order: np.ndarray, capacity_words: int, bank_bw: int) -> None:
        valid = order[order >= 0]
        per_set = math.ceil(capacity_words / SETS_PER_BUFFER)
        self.lines = len(valid) // per_set + 1          # SCALE-Sim keeps a last (empty) set
        active = math.ceil(capacity_words * ACTIVE_FRACTION)
        prefetch = capacity_words - active
        self.window = min(math.ceil(active / per_set), self.lines)
        self.slide = min(math.ceil(prefetch / per_set), self.lines - self.window)
        self.start = 0
        self.prefetches = 0
        self.period = math.ceil(prefetch / bank_bw) + 1  # cycles per prefetch
        self.words_per_prefetch = math.ceil(prefetch / bank_bw) * bank_bw
        self.initial_words = min(math.ceil(active / bank_bw),
                                 math.ceil(len(order) / bank_bw)) * bank_bw
        # Sets holding each address: CSR over addresses (repeats in im2col ifmaps).
        sets = np.arange(len(valid)) // per_set
        by_addr = np.argsort(valid, kind="stable")
        self.addr_sorted = valid[by_addr]
        self.set_sorted = sets[by_addr]

    @property
    def dram_words(self) -> int:
        """Words this buffer read from DRAM (SCALE-Sim's 'DRAM ... Reads')."""
        return self.initial_words + self.prefetches * self.words_per_prefetch

    def ready_cycle(self, k: int) -> int:
        """When prefetch ``k`` (0: the initial fill) has arrived."""
        return -1 + k * self.period

    def _inside(self, sets: np.ndarray) -> np.ndarray:
        end = self.start + self.window
        if self.window >= self.lines:
            return np.ones(sets.shape, dtype=bool)
        if end <= self.lines:
            return (sets >= self.start) & (sets < end)
        return (sets >= self.start) | (sets < end - self.lines)

    def _hits(self, addrs: np.ndarray) -> np.ndarray:
        """Per address (-1 always hits): is a set holding it inside the window?"""
        out = np.ones(addrs.shape, dtype=bool)
        real = addrs >= 0
        a = addrs[real]
        lo = np.searchsorted(self.addr_sorted, a, side="left")
        hi = np.searchsorted(self.addr_sorted, a, side="right")
        if (hi - lo == 1).all():
            out[real] = self._inside(self.set_sorted[lo])
            return out
        counts = hi - lo
        idx = np.repeat(lo - np.cumsum(np.r_[0, counts[:-1]]), counts) + np.arange(counts.sum())
        inside = self._inside(self.set_sorted[idx])
        starts = np.r_[0, np.cumsum(counts)[:-1]]
        out[real] = np.logical_or.reduceat(inside, starts) if len(starts) else []
        return out

    def misses(self, lines: np.ndarray) -> list[tuple[int, list[int]]]:
        """Walk one fold's lines: [(line, [prefetch ordinal per slide])] for the lines
        that miss; the window moves on."""
        if self.slide == 0:
            return []
        flat = lines.ravel()
        lanes = lines.shape[1]
        out: dict[int, list[int]] = {}
        pos, chunk = 0, 1024
        while pos < len(flat):
            hit = self._hits(flat[pos:pos + chunk])     # look ahead in growing chunks
            if hit.all():
                pos += chunk
                chunk *= 2
                continue
            chunk = 1024
            e = pos + int(np.argmin(hit))
            ks = out.setdefault(e // lanes, [])
            while not self._hits(flat[e:e + 1])[0]:
                self.start = (self.start + self.slide) % self.lines
                self.prefetches += 1
                ks.append(self.prefetches)
            pos = e + 1
        return sorted(out.items())


# -- the draining write buffer -----------------------------------------------------------
class _WriteBuffer:
    """The ofmap SRAM: fills with the array's writes, drains half at a time."""

    def __init__(self, capacity_words: int, bw: float) -> None:
        self.total = capacity_words
        self.active = math.ceil(capacity_words * ACTIVE_FRACTION)
        self.half = capacity_words - self.active
        self.bw = int(bw) if bw != math.inf else 0
        self.free = capacity_words
        self.drain_end = 0
        self.fill = 0                           # words in the current (open) line
        self.queue: deque[list[int]] = deque()  # [line size, count] runs not yet drained
        self.words = 0

    def _push(self, size: int, count: int = 1) -> None:
        if count <= 0:
            return
        if self.queue and self.queue[-1][0] == size:
            self.queue[-1][1] += count
        else:
            self.queue.append([size, count])

    def _store(self, n: int) -> None:
        self.free -= n
        total = self.fill + n
        self._push(self.bw, total // self.bw)
        self.fill = total % self.bw

    def _drain(self, cycle: int) -> None:
        if self.fill:
            self._push(self.fill)
            self.fill = 0
        want = math.ceil(self.half / self.bw)
        taken, last = 0, 0
        while taken < want and self.queue:
            size, count = self.queue[0]
            k = min(count, want - taken)
            taken += k
            last = size
            if k == count:
                self.queue.popleft()
            else:
                self.queue[0][1] -= k
        if not taken:
            return
        freed = taken * self.bw - (self.bw - last)
        self.words += freed
        self.free += freed
        self.drain_end = cycle + taken - 1

    def flush(self) -> int:
        """Drain what is left after the last line (not timed); all words written."""
        while self.fill or self.queue:
            self._drain(self.drain_end + 1)
        return self.words

    def write(self, cycle: int, n: int) -> int:
        """The array writes ``n`` words at ``cycle``; returns the stall (>= 0)."""
        if n == 0 or self.bw == 0:
            return 0
        if cycle < self.drain_end and self.free - n > 0:
            self._store(n)
            return 0
        if cycle >= self.drain_end and self.free - n >= self.active:
            self._store(n)
            return 0
        now = cycle
        for _ in range(n):
            self._store(1)
            if now < self.drain_end:
                if self.free <= 0:
                    now = self.drain_end
            elif self.free < self.active:
                self._drain(now)
        return now - cycle


class ScaleSimSupply:
    """SCALE-Sim's USER-mode stalls per fold, computed once for the whole layer."""

    def __init__(self, model: ScaleSimMemory, accel: Accelerator, demand: Demand) -> None:
        layer, df = demand.workload, demand.dataflow
        if demand.timing != "scalesim":
            raise MemoryModelError("ScaleSimMemory reproduces SCALE-Sim: use "
                                   "timing='scalesim'")
        if demand.mapping != scalesim_mapping(layer, accel):
            raise MemoryModelError(f"layer {layer.name!r}: ScaleSimMemory times SCALE-Sim's "
                                   f"own fold order; use sim.cycle.scalesim_mapping(layer, "
                                   f"accel)")
        prec = layer.precision
        if (prec.input_bits, prec.weight_bits, prec.output_bits) != (8, 8, 8):
            raise MemoryModelError(f"layer {layer.name!r}: SCALE-Sim words are 8-bit, the "
                                   f"layer is {prec.input_bits}/{prec.weight_bits}/"
                                   f"{prec.output_bits}-bit")
        self.stalls: list[dict[str, int]] = [{} for _ in range(demand.passes)]
        self.ifmap_dram_words = self.filter_dram_words = self.ofmap_dram_words = 0
        if model.interface == "CALC" or math.isinf(accel.dram.write_bytes_per_cycle):
            return
        ifmap, filt, ofmap = operand_matrices(layer)
        fi, ff = fetch_orders(df, ifmap, filt, accel.rows, accel.cols)
        rb_i = _ReadBuffer(fi, accel.glb_for("input").capacity_bytes, model.ifmap_bank_bandwidth)
        rb_f = _ReadBuffer(ff, accel.glb_for("weight").capacity_bytes,
                           model.filter_bank_bandwidth)
        wb = _WriteBuffer(accel.glb_for("output").capacity_bytes,
                          accel.dram.write_bytes_per_cycle)
        line0, stall = 0, 0
        for f, (li, lf, lo) in enumerate(fold_lines(df, ifmap, filt, ofmap, accel.rows,
                                                    accel.cols)):
            events: dict[int, list[tuple[str, list[int]]]] = {}
            for name, rb, lines in (("ifmap", rb_i, li), ("filter", rb_f, lf)):
                for line, ks in rb.misses(lines):
                    events.setdefault(line, []).append((name, ks))
            writes = (lo >= 0).sum(axis=1).tolist()
            fold = {"dram_read": 0, "write_back": 0}
            for line, n in enumerate(writes):
                cycle = line0 + line + stall
                worst, cause = wb.write(cycle, n), "write_back"
                for name, ks in events.get(line, ()):
                    rb = rb_i if name == "ifmap" else rb_f
                    offset = 1
                    for k in ks:
                        late = rb.ready_cycle(k) - (cycle + offset)
                        offset += 2 * late if late > 0 else late
                    if offset - 1 > worst:
                        worst, cause = offset - 1, "dram_read"
                if worst > 0:
                    stall += worst
                    fold[cause] += worst
            line0 += len(writes)
            self.stalls[f] = {k: v for k, v in fold.items() if v}
        self.ifmap_dram_words, self.filter_dram_words = rb_i.dram_words, rb_f.dram_words
        self.ofmap_dram_words = wb.flush()

    def start(self, i: int, now: int) -> tuple[int, str]:
        return now, ""

    def busy(self, i: int, compute: int) -> tuple[int, dict[str, int]]:
        extra = self.stalls[i]
        return compute + sum(extra.values()), extra

    def end(self, i: int, cycle: int) -> None:
        return None

    def finish(self, cycle: int) -> int:
        return cycle


__all__ = ["ScaleSimMemory", "ScaleSimSupply", "fetch_orders", "fold_lines",
           "operand_matrices", "scalesim_mapping"]
