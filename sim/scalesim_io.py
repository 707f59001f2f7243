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
"""

from __future__ import annotations

import configparser
import csv
import math
from pathlib import Path

from dataflows.errors import CoforgeError
from dataflows.layer import Layer, gemm
from dataflows.network import Network
from sim.spec import Accelerator, Buffer

#: SCALE-Sim has no clock; this one makes ``latency_ms`` read as mega-cycles.
SCALESIM_CLOCK_MHZ = 1000.0


class ScaleSimFormatError(CoforgeError):
    """A SCALE-Sim .cfg or topology file is malformed; names file, field and fix."""


def _get(cfg: configparser.ConfigParser, path: Path, section: str, key: str) -> str:
    if not cfg.has_section(section):
        raise ScaleSimFormatError(f"{path}: missing section [{section}] "
                                  f"(SCALE-Sim requires it)")
    if not cfg.has_option(section, key):
        raise ScaleSimFormatError(f"{path}: [{section}] is missing {key}")
    return cfg.get(section, key).strip()


def _int(cfg: configparser.ConfigParser, path: Path, section: str, key: str) -> int:
    raw = _get(cfg, path, section, key)
    try:
        value = int(raw)
    except ValueError:
        raise ScaleSimFormatError(f"{path}: [{section}] {key} must be an integer, "
                                  f"not {raw!r}") from None
    if value < 1:
        raise ScaleSimFormatError(f"{path}: [{section}] {key} must be >= 1, not {value}")
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
    rows, cols = _int(cfg, p, sec, "ArrayHeight"), _int(cfg, p, sec, "ArrayWidth")
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
    rows = [[c for c in row if c != ""] for row in rows]
    return [row for row in rows[1:] if row]          # drop the header and blank lines


def load_scalesim_topology(path: str | Path, gemm_format: bool = False) -> Network:
    """A :class:`Network` (a chain) from a SCALE-Sim conv or GEMM topology CSV."""
    p = Path(path)
    layers: list[Layer] = []
    want = 4 if gemm_format else 8
    for i, row in enumerate(_rows(p), start=2):
        if len(row) < want:
            fields = "name, M, N, K" if gemm_format else \
                "name, IFMAP H, IFMAP W, Filter H, Filter W, Channels, Num Filter, Stride"
            raise ScaleSimFormatError(f"{p}: line {i} has {len(row)} fields, needs {want}: "
                                      f"{fields} (pass --gemm for M,N,K topologies)")
        try:
            nums = [int(float(v)) for v in row[1:want]]
        except ValueError:
            raise ScaleSimFormatError(f"{p}: line {i}: sizes must be integers, "
                                      f"got {row[1:want]}") from None
        if min(nums) < 1:
            raise ScaleSimFormatError(f"{p}: line {i}: every size must be >= 1, got {nums}")
        name = row[0] if row[0] not in {layer.name for layer in layers} else f"{row[0]}_{i}"
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
        raise ScaleSimFormatError(f"{p}: the topology has no layers")
    return Network.chain(p.stem, layers)
