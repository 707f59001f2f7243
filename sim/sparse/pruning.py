"""Deterministic pruning helpers that produce sparse tensors for the sparse engines.

Every helper works on the *2-D view* of a tensor: ``t.reshape(t.shape[0], -1)``, one
row per leading index. For a weight tensor ``K x C/G x R x S`` that is one row per
filter and the reduction ``(c, r, s)`` along the row, in the order the im2col GEMM
uses (:func:`dataflows.dataflow.lower_to_gemm`), so N:M groups run along the
reduction dimension as sparse tensor cores expect. A copy is returned; the input is
not modified. Ties in magnitude are broken by position (the earlier element wins:
stable sorts), so a result depends only on the tensor and the arguments.

* :func:`prune_magnitude` -- unstructured: keep the ``round(density * size)``
  largest magnitudes over the whole tensor.
* :func:`prune_nm` -- N:M structured: in every group of ``m`` consecutive elements
  of a row keep the ``n`` largest magnitudes (a partial last group of ``L < m``
  elements keeps ``min(n, L)``).
* :func:`prune_blocks` -- block-wise: tile the 2-D view into ``block`` =
  (rows, cols) blocks (partial edge blocks included), score each by the sum of
  its magnitudes, keep the ``round(density * blocks)`` highest.
* :func:`prune_rows` -- row-wise (whole filters): :func:`prune_blocks` with one
  block per row.

Already-zero elements count as pruned candidates like any other (a magnitude of 0
ranks last), so a tensor with many zeros may end below the target density.
"""

from __future__ import annotations

import numpy as np

from dataflows.errors import CoforgeError


class PruningError(CoforgeError):
    """A pruning argument is out of range; the message names it and the allowed values."""


def _check_tensor(tensor: np.ndarray) -> np.ndarray:
    arr = np.asarray(tensor)
    if arr.ndim < 1 or arr.size == 0:
        raise PruningError(f"tensor must be a non-empty array, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise PruningError(f"tensor must hold real numbers, not dtype {arr.dtype}")
    return arr


def _check_density(density: float) -> None:
    if isinstance(density, bool) or not isinstance(density, (int, float)) \
            or not 0.0 <= float(density) <= 1.0:
        raise PruningError(f"density must be a number in [0, 1], not {density!r}")


def _keep_top(scores: np.ndarray, keep: int) -> np.ndarray:
    """Boolean mask of the ``keep`` highest scores (earlier positions win ties)."""
    flat = scores.ravel()
    order = np.argsort(-flat, kind="stable")
    mask = np.zeros(flat.size, dtype=bool)
    mask[order[:keep]] = True
    return mask.reshape(scores.shape)


def prune_magnitude(tensor: np.ndarray, density: float) -> np.ndarray:
    """Unstructured magnitude pruning: keep the ``round(density * size)`` largest |x|."""
    arr = _check_tensor(tensor)
    _check_density(density)
    keep = int(round(float(density) * arr.size))
    return np.where(_keep_top(np.abs(arr), keep), arr, 0).astype(arr.dtype)


def prune_nm(tensor: np.ndarray, n: int = 2, m: int = 4) -> np.ndarray:
    """N:M pruning along each row of the 2-D view: at most ``n`` nonzeros per ``m``."""
    arr = _check_tensor(tensor)
    for name, v in (("n", n), ("m", m)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise PruningError(f"{name} must be a positive integer, not {v!r}")
    if n >= m:
        raise PruningError(f"n must be below m (N:M keeps n of every m), not {n}:{m}")
    view = arr.reshape(arr.shape[0], -1)
    rows, cols = view.shape
    groups = -(-cols // m)
    padded = np.zeros((rows, groups * m))
    padded[:, :cols] = np.abs(view)
    padded[:, cols:] = -1.0                       # padding never wins a slot
    g = padded.reshape(rows, groups, m)
    order = np.argsort(-g, axis=2, kind="stable")
    keep = np.zeros(g.shape, dtype=bool)
    np.put_along_axis(keep, order[:, :, :n], True, axis=2)
    mask = keep.reshape(rows, groups * m)[:, :cols]
    return np.where(mask, view, 0).astype(arr.dtype).reshape(arr.shape)


def prune_blocks(tensor: np.ndarray, density: float,
                 block: tuple[int, int] = (4, 4)) -> np.ndarray:
    """Block pruning of the 2-D view: keep the ``round(density * blocks)`` blocks with
    the largest sum of magnitudes; ``block`` = (rows, cols) per block."""
    arr = _check_tensor(tensor)
    _check_density(density)
    if len(block) != 2 or any(not isinstance(b, int) or isinstance(b, bool) or b < 1
                              for b in block):
        raise PruningError(f"block must be two positive integers (rows, cols), not {block!r}")
    view = arr.reshape(arr.shape[0], -1)
    rows, cols = view.shape
    br, bc = block
    nr, nc = -(-rows // br), -(-cols // bc)
    padded = np.zeros((nr * br, nc * bc))
    padded[:rows, :cols] = np.abs(view)
    scores = padded.reshape(nr, br, nc, bc).sum(axis=(1, 3))
    kept = _keep_top(scores, int(round(float(density) * nr * nc)))
    mask = np.repeat(np.repeat(kept, br, axis=0), bc, axis=1)[:rows, :cols]
    return np.where(mask, view, 0).astype(arr.dtype).reshape(arr.shape)


def prune_rows(tensor: np.ndarray, density: float) -> np.ndarray:
    """Row-wise pruning (whole filters of a weight tensor): keep the
    ``round(density * rows)`` rows of the 2-D view with the largest L1 norm."""
    arr = _check_tensor(tensor)
    cols = int(np.prod(arr.shape[1:], dtype=np.int64)) if arr.ndim > 1 else 1
    return prune_blocks(arr, density, (1, cols))


__all__ = ["PruningError", "prune_blocks", "prune_magnitude", "prune_nm", "prune_rows"]
