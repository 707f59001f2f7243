"""Read SCALE-Sim v3 inputs: its ``.cfg`` architecture files and topology CSVs.

Formats (as SCALE-Sim 3.0.0 reads them; checked by running it):

* ``.cfg`` (INI): ``[architecture_presets]`` gives ``ArrayHeight`` (rows),
  ``ArrayWidth`` (cols), ``IfmapSramSzkB``/``FilterSramSzkB``/``OfmapSramSzkB``
  (KiB), ``Dataflow`` (ws|os|is) and ``Bandwidth`` (words/cycle);
  ``[run_presets] InterfaceBandwidth`` is ``CALC`` (SCALE-Sim sizes DRAM bandwidth
  itself, so it never stalls: coforge uses unlimited bandwidth) or ``USER`` (the
  configured bandwidth). SCALE-Sim's words are 1 byte and it has no clock; coforge
  uses 1000 MHz so that ``latency_ms`` = cycles / 1e6. Its SRAMs are double-buffered.
* Conv topology: header, then ``name, IFMAP H, IFMAP W, Filter H, Filter W,
  Channels, Num Filter, Stride,`` per row (a trailing comma is customary). There is
  no padding and SCALE-Sim rounds the output size *up*:
  ``P = ceil((H - R + stride) / stride)``; coforge does the same here.
* GEMM topology (``--gemm``): header, then ``name, M, N, K,`` per row.

Every size cell is a decimal integer from 1 to :data:`MAX_DIM` (``8.7``, ``inf`` or an
empty cell is an error naming the line and column, never rounded or shifted); a header
of the other format (a conv topology read with ``--gemm``, or the reverse) and a first
line of sizes instead of a header are errors too.
"""

from __future__ import annotations

import configparser
import csv
import math
import re
from pathlib import Path

from dataflows.errors import CoforgeError
from dataflows.layer import Layer, gemm
from dataflows.network import Network
from sim.spec import MAX_ARRAY_SIDE, Accelerator, Buffer

#: SCALE-Sim has no clock; this one makes ``latency_ms`` read as mega-cycles.
SCALESIM_CLOCK_MHZ = 1000.0
#: Largest size a topology cell may give (2**24: far past any real layer).
MAX_DIM = 2**24
#: Largest MAC count of one layer (2**53: cycle and access counts stay exact in float64
#: and far below int64 overflow).
MAX_MACS = 2**53

#: Columns of each topology format after the layer name (SCALE-Sim's header names).
CONV_COLUMNS = ("IFMAP Height", "IFMAP Width", "Filter Height", "Filter Width", "Channels",
                "Num Filter", "Strides")
GEMM_COLUMNS = ("M", "N", "K")
_INTEGER = re.compile(r"\+?\d+")


class ScaleSimFormatError(CoforgeError):
    """A SCALE-Sim .cfg or topology file is malformed; names file, field and fix."""


def _get(cfg: configparser.ConfigParser, path: Path, section: str, key: str) -> str:
    if not cfg.has_section(section):
        raise ScaleSimFormatError(f"{path}: missing section [{section}] "
                                  f"(SCALE-Sim requires it)")
    if not cfg.has_option(section, key):
        raise ScaleSimFormatError(f"{path}: [{section}] is missing {key}")
    return cfg.get(section, key).strip()


def _int(cfg: configparser.ConfigParser, path: Path, section: str, key: str,
         limit: int = MAX_DIM) -> int:
    raw = _get(cfg, path, section, key)
    if not _INTEGER.fullmatch(raw.lstrip("-")):
        raise ScaleSimFormatError(f"{path}: [{section}] {key} must be an integer, "
                                  f"not {raw!r}")
    value = int(raw)
    if not 1 <= value <= limit:
        raise ScaleSimFormatError(f"{path}: [{section}] {key} must be an integer from 1 to "
                                  f"{limit}, not {value}")
    return value


def load_scalesim_config(path: str | Path) -> Accelerator:
    """An :class:`Accelerator` equivalent to a SCALE-Sim ``.cfg`` file."""
    p = Path(path)
    if not p.is_file():
        raise ScaleSimFormatError(f"{p}: no such SCALE-Sim config file")
    cfg = configparser.ConfigParser()
    try:
        cfg.read_string(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ScaleSimFormatError(f"{p}: not a UTF-8 text file; give a SCALE-Sim .cfg") \
            from None
    except configparser.Error as err:
        raise ScaleSimFormatError(f"{p}: malformed .cfg: {err.message.splitlines()[0]}") \
            from None
    sec = "architecture_presets"
    rows = _int(cfg, p, sec, "ArrayHeight", MAX_ARRAY_SIDE)
    cols = _int(cfg, p, sec, "ArrayWidth", MAX_ARRAY_SIDE)
    dataflow = _get(cfg, p, sec, "Dataflow").lower()
    if dataflow not in ("ws", "os", "is"):
        raise ScaleSimFormatError(f"{p}: [{sec}] Dataflow must be ws, os or is, "
                                  f"not {dataflow!r}")
    sizes = {op: _int(cfg, p, sec, key) * 1024 for op, key in
             (("input", "IfmapSramSzkB"), ("weight", "FilterSramSzkB"),
              ("output", "OfmapSramSzkB"))}
    mode = _get(cfg, p, "run_presets", "InterfaceBandwidth").upper()
    if mode not in ("CALC", "USER"):
        raise ScaleSimFormatError(f"{p}: [run_presets] InterfaceBandwidth must be CALC or "
                                  f"USER, not {mode!r}")
    bw = math.inf if mode == "CALC" else float(_int(cfg, p, sec, "Bandwidth"))
    run_name = cfg.get("general", "run_name", fallback=p.stem).strip()
    glb = tuple(Buffer(f"{name}_sram", operands=(op,), capacity_bytes=sizes[op], word_bits=8,
                       double_buffered=True)
                for name, op in (("ifmap", "input"), ("filter", "weight"), ("ofmap", "output")))
    return Accelerator(
        name=run_name, rows=rows, cols=cols, dataflow=dataflow, clock_mhz=SCALESIM_CLOCK_MHZ,
        glb=glb, dram=Buffer("dram", word_bits=8, read_bytes_per_cycle=bw,
                             write_bytes_per_cycle=bw),
        description=f"from SCALE-Sim config {p.name} ({mode} interface bandwidth)")


def _rows(path: Path) -> list[list[str]]:
    """Every line's cells, stripped, with trailing empty cells dropped (the customary
    trailing comma); line 1 is the header. Empty cells *inside* a row are kept."""
    if not path.is_file():
        raise ScaleSimFormatError(f"{path}: no such topology file")
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = [[c.strip() for c in row] for row in csv.reader(f)]
    except UnicodeDecodeError:
        raise ScaleSimFormatError(f"{path}: not a UTF-8 text file; give a SCALE-Sim "
                                  f"topology CSV") from None
    except csv.Error as err:
        raise ScaleSimFormatError(f"{path}: malformed CSV: {err}") from None
    for row in rows:
        while row and row[-1] == "":
            row.pop()
    return rows


def _check_header(path: Path, header: list[str], gemm_format: bool) -> None:
    """Refuse a header of the other format (a conv topology read as GEMMs, or the
    reverse) and a first line that is data rather than a header."""
    if not header:
        raise ScaleSimFormatError(f"{path}: line 1 is empty; a SCALE-Sim topology starts "
                                  f"with a header row (layer name, then its columns)")
    text = " ".join(header).lower()
    if len(header) > 1 and all(_INTEGER.fullmatch(c) for c in header[1:]):
        raise ScaleSimFormatError(f"{path}: line 1 holds sizes, not the header; add the "
                                  f"header row SCALE-Sim expects (layer name, then columns)")
    is_conv = "ifmap" in text or "filter" in text
    is_gemm = [c.lower() for c in header[1:4]] == ["m", "n", "k"]
    if gemm_format and is_conv:
        raise ScaleSimFormatError(f"{path}: line 1 is a conv topology header "
                                  f"({', '.join(header[1:3])}, ...) but --gemm reads M, N, K "
                                  f"rows; drop --gemm")
    if not gemm_format and is_gemm:
        raise ScaleSimFormatError(f"{path}: line 1 is a GEMM topology header "
                                  f"({', '.join(header[:4])}); pass --gemm")


def load_scalesim_topology(path: str | Path, gemm_format: bool = False) -> Network:
    """A :class:`Network` (a chain) from a SCALE-Sim conv or GEMM topology CSV.

    Each data line needs the layer name and every column of its format (cells after
    them, such as Resnet50's sparsity columns, are ignored); every size is a decimal
    integer from 1 to :data:`MAX_DIM`, never truncated or shifted."""
    p = Path(path)
    layers: list[Layer] = []
    columns = GEMM_COLUMNS if gemm_format else CONV_COLUMNS
    want = 1 + len(columns)
    rows = _rows(p)
    if rows:
        _check_header(p, rows[0], gemm_format)
    for i, row in enumerate(rows[1:], start=2):
        if not row:
            continue                                  # a blank line
        if len(row) < want:
            fields = "name, M, N, K" if gemm_format else \
                "name, IFMAP H, IFMAP W, Filter H, Filter W, Channels, Num Filter, Stride"
            raise ScaleSimFormatError(f"{p}: line {i} has {len(row)} fields, needs {want}: "
                                      f"{fields} (pass --gemm for M,N,K topologies)")
        if not row[0]:
            raise ScaleSimFormatError(f"{p}: line {i}: the layer name (column 1) is empty; "
                                      f"give every layer a name")
        nums = []
        for col, cell in zip(columns, row[1:want]):
            if cell == "":
                raise ScaleSimFormatError(f"{p}: line {i}: {col} is empty; give an integer "
                                          f">= 1 (columns are not shifted)")
            if not _INTEGER.fullmatch(cell.lstrip("-")):
                raise ScaleSimFormatError(f"{p}: line {i}: {col} must be an integer, not "
                                          f"{cell!r} (sizes are never rounded)")
            value = int(cell)
            if not 1 <= value <= MAX_DIM:
                raise ScaleSimFormatError(f"{p}: line {i}: {col} must be an integer from 1 "
                                          f"to {MAX_DIM}, not {value}")
            nums.append(value)
        name = row[0] if row[0] not in {layer.name for layer in layers} else f"{row[0]}_{i}"
        if math.prod(nums[:-1] if not gemm_format else nums) > MAX_MACS:
            raise ScaleSimFormatError(f"{p}: line {i}: the sizes {nums} make more than "
                                      f"2**53 MACs; give a smaller layer")
        if gemm_format:
            m, n, k = nums
            layers.append(gemm(name, M=m, N=n, K=k))
            continue
        h, w, r, s, c, k, stride = nums
        if r > h or s > w:
            raise ScaleSimFormatError(f"{p}: line {i}: filter {r}x{s} is larger than the "
                                      f"{h}x{w} ifmap (SCALE-Sim has no padding)")
        layers.append(Layer(
            name=name, kind="conv", K=k, C=c, P=math.ceil((h - r + stride) / stride),
            Q=math.ceil((w - s + stride) / stride), R=r, S=s, H=h, W=w,
            stride_h=stride, stride_w=stride))
    if not layers:
        raise ScaleSimFormatError(f"{p}: the topology has no layers; add one line per layer "
                                  f"after the header")
    return Network.chain(p.stem, layers)
