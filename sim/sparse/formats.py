"""Bits a compressed operand occupies: data (the stored values) plus metadata.

Every format is counted on a 2-D view of the operand, ``rows x cols`` (see
:func:`operand_view`): weights ``K x (C/G * R * S)`` (one row per filter, the
reduction along the row), inputs ``(N * C) x (H * W)`` (one row per channel plane).
Values are ``value_bits`` wide; ``n = rows * cols`` elements, ``nnz`` nonzeros;
``w(x) = max(1, ceil(log2 x))`` is the width of a field that holds ``x`` distinct
values (at least one wire).

* ``dense``  -- data ``n * b``; no metadata.
* ``bitmap`` -- data ``nnz * b``; metadata one bit per element: ``n``.
* ``csr``    -- data ``nnz * b``; metadata a column index per nonzero,
  ``nnz * w(cols)``, plus ``rows + 1`` row pointers of ``w(n + 1)`` bits (a pointer
  ranges over 0..n; the width is fixed by the dimensions, not by this tensor's nnz).
* ``csc``    -- the transpose: ``nnz * w(rows) + (cols + 1) * w(n + 1)``.
* ``rle``    -- the row-major element stream as (run, value) entries: each nonzero is
  one entry whose ``r``-bit run field counts the zeros before it. A run of ``z``
  zeros longer than the field holds needs ``floor(z / 2**r)`` extra entries (run
  ``2**r - 1`` plus a stored zero value cover ``2**r`` zeros each). Zeros after the
  last nonzero cost nothing (the decoder knows the length). Data
  ``entries * b``, metadata ``entries * r``.
* ``nm``     -- each row is cut into ``ceil(cols / M)`` groups of M; every group
  stores N value slots and N indices of ``ceil(log2 M)`` bits, whatever its nonzeros
  (a fixed-size format; a group with fewer than N nonzeros stores zeros). Data
  ``groups * N * b``, metadata ``groups * N * ceil(log2 M)``. A tensor with more than
  N nonzeros in some group cannot be stored: :class:`FormatError`.

:func:`tensor_bits` counts a given tensor exactly; :func:`expected_bits` gives the
expectation for i.i.d. nonzeros of density ``d`` (``nnz = d * n``): bitmap, CSR, CSC
and N:M are linear in ``nnz`` so the expectation is the formula at ``d * n``. For
RLE the run before a nonzero is geometric, ``P(z = k) = (1-d)**k * d``, so
``E[floor(z / L)] = q**L / (1 - q**L)`` with ``q = 1 - d``, ``L = 2**r``, and
``E[entries] = d * n / (1 - q**L)`` (runs taken as unbounded: in a finite tensor
they are cut at its start, so this slightly overcounts the extra entries).
N:M above its densest pattern (``N/M``, a little more with a partial last group)
cannot be stored: :class:`FormatError`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dataflows.errors import CoforgeError

#: Formats counted here (the names of :data:`sim.spec.SPARSE_FORMATS`).
FORMATS: tuple[str, ...] = ("dense", "bitmap", "csr", "csc", "rle", "nm")


class FormatError(CoforgeError):
    """An operand cannot be stored in the configured format; the message says why."""


@dataclass(frozen=True)
class FormatParams:
    """Format parameters: N:M group (``n`` of every ``m``) and the RLE run-field width."""

    n: int = 2
    m: int = 4
    run_bits: int = 4


@dataclass(frozen=True)
class StoredBits:
    """Size of one stored operand: ``elements`` dense elements take ``data_bits`` of
    values and ``meta_bits`` of metadata (floats: expectations may be fractional)."""

    elements: int
    data_bits: float
    meta_bits: float

    @property
    def total_bits(self) -> float:
        return self.data_bits + self.meta_bits

    @property
    def bits_per_element(self) -> float:
        """Average stored bits per dense element: what a moved element costs."""
        return self.total_bits / self.elements


def field_bits(values: int) -> int:
    """Bits of a field holding ``values`` distinct values (at least 1)."""
    return max(1, math.ceil(math.log2(values))) if values > 1 else 1


def operand_view(tensor: np.ndarray) -> np.ndarray:
    """The 2-D view formats are counted on: ``tensor.reshape(tensor.shape[0], -1)``.

    Weights ``K x C/G x R x S`` -> filters x reduction; inputs ``N x C x H x W`` are
    viewed as ``(N*C) x (H*W)`` by the caller (:func:`sim.sparse.engine`)."""
    arr = np.asarray(tensor)
    return arr.reshape(arr.shape[0], -1)


def _nm_bits(rows: int, cols: int, b: int, p: FormatParams) -> tuple[float, float]:
    groups = rows * -(-cols // p.m)
    return groups * p.n * b, groups * p.n * math.ceil(math.log2(p.m))


def _linear_bits(fmt: str, rows: int, cols: int, nnz: float, b: int) -> tuple[float, float]:
    """(data, meta) bits of the formats linear in nnz (dense, bitmap, csr, csc)."""
    n = rows * cols
    if fmt == "dense":
        return n * b, 0
    if fmt == "bitmap":
        return nnz * b, n
    if fmt == "csr":
        return nnz * b, nnz * field_bits(cols) + (rows + 1) * field_bits(n + 1)
    if fmt == "csc":
        return nnz * b, nnz * field_bits(rows) + (cols + 1) * field_bits(n + 1)
    raise FormatError(f"sparse.format must be one of {list(FORMATS)}, not {fmt!r}")


def tensor_bits(fmt: str, matrix: np.ndarray, value_bits: int,
                params: FormatParams = FormatParams(), what: str = "tensor") -> StoredBits:
    """Exact stored size of the 2-D ``matrix`` (rows x cols) in format ``fmt``."""
    nz = np.asarray(matrix) != 0
    rows, cols = nz.shape
    n = rows * cols
    nnz = int(nz.sum())
    if fmt == "rle":
        flat = nz.ravel()
        pos = np.flatnonzero(flat)
        runs = np.diff(np.concatenate(([-1], pos))) - 1   # zeros before each nonzero
        entries = nnz + int((runs >> params.run_bits).sum())   # floor(z / 2**r)
        return StoredBits(n, entries * value_bits, entries * params.run_bits)
    if fmt == "nm":
        groups = -(-cols // params.m)
        padded = np.zeros((rows, groups * params.m), dtype=bool)
        padded[:, :cols] = nz
        worst = int(padded.reshape(rows, groups, params.m).sum(axis=2).max())
        if worst > params.n:
            raise FormatError(f"{what} has {worst} nonzeros in a group of {params.m}: not "
                              f"{params.n}:{params.m} sparse; prune it with "
                              f"sim.sparse.prune_nm(t, {params.n}, {params.m}) or pick "
                              f"another sparse.format")
        data, meta = _nm_bits(rows, cols, value_bits, params)
        return StoredBits(n, data, meta)
    data, meta = _linear_bits(fmt, rows, cols, nnz, value_bits)
    return StoredBits(n, data, meta)


def expected_bits(fmt: str, rows: int, cols: int, density: float, value_bits: int,
                  params: FormatParams = FormatParams(), what: str = "operand") -> StoredBits:
    """Expected stored size of a ``rows x cols`` operand with i.i.d. nonzeros of
    probability ``density`` (see the module docstring for each formula)."""
    n = rows * cols
    nnz = density * n
    if fmt == "rle":
        q_l = (1.0 - density) ** (2 ** params.run_bits)
        entries = nnz / (1.0 - q_l)
        return StoredBits(n, entries * value_bits, entries * params.run_bits)
    if fmt == "nm":
        # the densest N:M row: N per full group, min(N, L) in a partial one of L
        cap = (params.n * (cols // params.m) + min(params.n, cols % params.m)) / cols
        if density > cap + 1e-12:
            raise FormatError(f"{what} has density {density:g}, above the {params.n}:"
                              f"{params.m} format's {cap:g}; set the layer's density to "
                              f"<= {cap:g}, prune the tensor, or pick another sparse.format")
        data, meta = _nm_bits(rows, cols, value_bits, params)
        return StoredBits(n, data, meta)
    data, meta = _linear_bits(fmt, rows, cols, nnz, value_bits)
    return StoredBits(n, data, meta)


__all__ = ["FORMATS", "FormatError", "FormatParams", "StoredBits", "expected_bits",
           "field_bits", "operand_view", "tensor_bits"]
