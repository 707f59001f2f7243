"""Deterministic pruning operators: sparse copies of weight tensors, and filter/channel
pruning that really removes channels (smaller arrays, smaller :class:`~dataflows.layer.Layer`).

Every mask helper works on the *2-D view* of a tensor: ``t.reshape(t.shape[0], -1)``,
one row per leading index. For a weight tensor ``K x C/G x R x S`` that is one row per
filter and the reduction ``(c, r, s)`` along the row, in the order the im2col GEMM
uses (:func:`dataflows.dataflow.lower_to_gemm`), so N:M and SIMD groups run along the
reduction dimension as sparse tensor cores and SIMD units expect. A copy is returned;
the input is not modified. Ties in a score are broken by position (the earlier element,
group, block or row wins: stable sorts), so a result depends only on the tensor and the
arguments.

Masks (same shape out, zeros where pruned):

* :func:`prune_magnitude` -- unstructured: keep the ``round(density * size)``
  largest magnitudes over the whole tensor.
* :func:`prune_nm` -- N:M structured: in every group of ``m`` consecutive elements
  of a row keep the ``n`` largest magnitudes (a partial last group of ``L < m``
  elements keeps ``min(n, L)``).
* :func:`prune_blocks` -- block-wise: tile the 2-D view into ``block`` =
  (rows, cols) blocks (partial edge blocks included), score each by the sum of
  its magnitudes, keep the ``round(density * blocks)`` highest.
  :func:`tile_block` derives the block from a buffer tile (``k_tile`` filters x
  ``c_tile`` input channels with the whole kernel), :func:`prune_tile_blocks` applies it.
* :func:`prune_rows` -- row-wise (whole filters): :func:`prune_blocks` with one
  block per row.
* :func:`prune_kernel_rows` -- row-scale kernel pruning: in each ``R x S`` kernel
  ``w[k, c]`` keep the ``keep`` kernel rows ``w[k, c, r, :]`` of largest L1 norm.
* :func:`prune_groups` -- SIMD/array-width groups (Scalpel, Yu et al. ISCA'17): each
  row is cut into groups of ``group`` consecutive weights (a partial last group
  included); the ``round(density * groups)`` groups of largest L2 norm over the whole
  tensor are kept, the others zeroed whole.

Already-zero elements count as pruned candidates like any other (a magnitude of 0
ranks last), so a tensor with many zeros may end below the target density.

Channel removal (smaller arrays out):

* :func:`select_filters` -- which filters of a layer to keep: the largest L1 norms,
  a multiple of an array dimension;
* :func:`shrink_conv_pair` -- drop those output channels of layer 1 (weights, bias),
  of any depthwise layers in between, and the matching input channels of the consumer;
* :func:`shrink_layer` -- the :class:`~dataflows.layer.Layer` with the smaller ``K``/``C``
  the cost model sees.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import NamedTuple

import numpy as np

from dataflows.errors import CoforgeError
from dataflows.layer import Layer


class PruningError(CoforgeError):
    """A pruning argument is out of range; the message names it and the allowed values."""


def _check_tensor(tensor: np.ndarray, name: str = "tensor") -> np.ndarray:
    arr = np.asarray(tensor)
    if arr.ndim < 1 or arr.size == 0:
        raise PruningError(f"{name} must be a non-empty array, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise PruningError(f"{name} must hold real numbers, not dtype {arr.dtype}")
    return arr


def _check_density(density: float) -> None:
    if isinstance(density, bool) or not isinstance(density, (int, float)) \
            or not 0.0 <= float(density) <= 1.0:
        raise PruningError(f"density must be a number in [0, 1], not {density!r}")


def _check_positive_int(name: str, value: object) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise PruningError(f"{name} must be a positive integer, not {value!r}")
    return int(value)


def _keep_top(scores: np.ndarray, keep: int) -> np.ndarray:
    """Boolean mask of the ``keep`` highest scores (earlier positions win ties)."""
    flat = scores.ravel()
    order = np.argsort(-flat, kind="stable")
    mask = np.zeros(flat.size, dtype=bool)
    mask[order[:keep]] = True
    return mask.reshape(scores.shape)


# -- masks ------------------------------------------------------------------------------
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


def tile_block(weight_shape: Sequence[int], k_tile: int, c_tile: int) -> tuple[int, int]:
    """The :func:`prune_blocks` block of a weight buffer tile.

    A tile of ``k_tile`` filters x ``c_tile`` input channels (per group) with the whole
    ``R x S`` kernel of a ``K x C/G x R x S`` weight (or ``K x C`` FC weight) is the
    2-D-view block ``(k_tile, c_tile * R * S)``: a kept block is one whole tile the
    buffer loads, a pruned block one it skips. Tiles are clipped to the tensor, so
    ``k_tile >= K`` means all filters.
    """
    shape = tuple(int(d) for d in weight_shape)
    if len(shape) not in (2, 4) or any(d < 1 for d in shape):
        raise PruningError(f"weight_shape must be K x C or K x C x R x S of positive sizes, "
                           f"not {tuple(weight_shape)!r}")
    k_tile = _check_positive_int("k_tile", k_tile)
    c_tile = _check_positive_int("c_tile", c_tile)
    kernel = shape[2] * shape[3] if len(shape) == 4 else 1
    return (min(k_tile, shape[0]), min(c_tile, shape[1]) * kernel)


def prune_tile_blocks(tensor: np.ndarray, density: float, k_tile: int,
                      c_tile: int) -> np.ndarray:
    """Block pruning with blocks of one buffer tile (:func:`tile_block`): keep the
    ``round(density * tiles)`` tiles with the largest sum of magnitudes."""
    arr = _check_tensor(tensor)
    return prune_blocks(arr, density, tile_block(arr.shape, k_tile, c_tile))


def prune_kernel_rows(tensor: np.ndarray, keep: int = 1) -> np.ndarray:
    """Row-scale kernel pruning of a ``K x C/G x R x S`` weight.

    For every kernel ``w[k, c]`` (``R x S``) the ``keep`` kernel rows ``w[k, c, r, :]``
    with the largest L1 norm ``sum_s |w[k, c, r, s]|`` are kept and the other
    ``R - keep`` rows zeroed (the lower ``r`` wins a tie), so each kernel keeps exactly
    ``keep * S`` weight positions (density ``keep / R``) and the array can stream one
    input row per kept kernel row. ``keep`` = 1 is "one kept row per kernel".
    """
    arr = _check_tensor(tensor)
    if arr.ndim != 4:
        raise PruningError(f"tensor must be a K x C x R x S weight (4-D), not shape {arr.shape}")
    r_size = arr.shape[2]
    keep = _check_positive_int("keep", keep)
    if keep > r_size:
        raise PruningError(f"keep must be in [1, R={r_size}] kernel rows, not {keep}")
    scores = np.abs(arr).sum(axis=3)                       # K x C x R
    order = np.argsort(-scores, axis=2, kind="stable")
    mask = np.zeros(scores.shape, dtype=bool)
    np.put_along_axis(mask, order[:, :, :keep], True, axis=2)
    return np.where(mask[..., None], arr, 0).astype(arr.dtype)


def prune_groups(tensor: np.ndarray, density: float, group: int = 4) -> np.ndarray:
    """SIMD/array-width group pruning (Scalpel): groups of ``group`` consecutive weights
    along each row of the 2-D view (the reduction), a partial last group of a row
    included; keep the ``round(density * groups)`` groups with the largest L2 norm over
    the whole tensor and zero the others whole."""
    arr = _check_tensor(tensor)
    _check_density(density)
    group = _check_positive_int("group", group)
    view = arr.reshape(arr.shape[0], -1)
    rows, cols = view.shape
    ng = -(-cols // group)
    padded = np.zeros((rows, ng * group))
    padded[:, :cols] = view
    scores = np.sqrt((padded.reshape(rows, ng, group) ** 2).sum(axis=2))
    kept = _keep_top(scores, int(round(float(density) * rows * ng)))
    mask = np.repeat(kept, group, axis=1)[:, :cols]
    return np.where(mask, view, 0).astype(arr.dtype).reshape(arr.shape)


# -- channel removal --------------------------------------------------------------------
def select_filters(w: np.ndarray, keep_fraction: float, multiple: int = 1) -> np.ndarray:
    """Indices (ascending) of the filters of ``w`` (``K x ...``) to keep.

    The kept count is ``multiple * max(1, floor(keep_fraction * K / multiple + 1/2))``
    (``keep_fraction * K`` rounded half up to a multiple of ``multiple``, at least one
    multiple); if that is ``>= K`` all ``K`` filters are kept (nothing to remove). The
    kept filters are those of largest L1 norm ``sum |w[k]|`` (the lower ``k`` wins a tie).
    """
    arr = _check_tensor(w, "w")
    if isinstance(keep_fraction, bool) or not isinstance(keep_fraction, (int, float)) \
            or not 0.0 < float(keep_fraction) <= 1.0:
        raise PruningError(f"keep_fraction must be a number in (0, 1], not {keep_fraction!r}")
    multiple = _check_positive_int("multiple", multiple)
    k_total = arr.shape[0]
    count = multiple * max(1, int(np.floor(float(keep_fraction) * k_total / multiple + 0.5)))
    if count >= k_total:
        return np.arange(k_total)
    scores = np.abs(arr.reshape(k_total, -1)).sum(axis=1)
    return np.sort(np.argsort(-scores, kind="stable")[:count])


class ShrunkConvs(NamedTuple):
    """Weights after :func:`shrink_conv_pair`: layer 1 (and its bias, or None), the
    depthwise layers in between as ``(weight, bias)`` pairs, and the consumer."""

    w1: np.ndarray
    b1: np.ndarray | None
    between: tuple[tuple[np.ndarray, np.ndarray | None], ...]
    w2: np.ndarray


def _check_kept(kept: np.ndarray, k_total: int) -> np.ndarray:
    idx = np.asarray(kept)
    if idx.ndim != 1 or idx.size == 0 or not np.issubdtype(idx.dtype, np.integer):
        raise PruningError(f"kept must be a non-empty 1-D integer array of filter indices, "
                           f"not {kept!r}")
    if idx.min() < 0 or idx.max() >= k_total or np.any(np.diff(idx) <= 0):
        raise PruningError(f"kept must be strictly increasing indices in [0, {k_total}), "
                           f"not {idx.tolist()}")
    return idx.astype(np.int64)


def shrink_conv_pair(w1: np.ndarray, b1: np.ndarray | None, w2: np.ndarray,
                     kept: np.ndarray, *, w2_groups: int = 1,
                     between: Sequence[tuple[np.ndarray, np.ndarray | None]] = ()
                     ) -> ShrunkConvs:
    """Remove the output channels of layer 1 not in ``kept`` and the matching input
    channels downstream; new arrays are returned, the inputs are not modified.

    ``w1`` is ``K1 x ...`` (conv ``K1 x C x R x S`` or FC ``K1 x C``), ``b1`` its bias
    (``K1``) or None. ``between`` are depthwise layers (weight ``K1*m x 1 x R x S``,
    channel multiplier ``m``, bias or None) that sit between layer 1 and the consumer:
    each loses the same channels (its filters ``c*m + j`` for kept ``c``), so with
    ``m > 1`` the consumer's channels are the kept ones times ``m``. ``w2`` is the
    consumer (``K2 x C2/G2 x ...``, FC ``K2 x C2``); its input channels are dropped.
    With ``w2_groups = G2 > 1`` the consumer is grouped and ``kept`` must keep the same
    number of channels in each of its ``G2`` groups (else the groups would be unequal).
    A depthwise consumer belongs in ``between`` with its own consumer as ``w2``.
    Removing channels whose weights are zero gives the same outputs as the original.
    """
    w1 = _check_tensor(w1, "w1")
    w2 = _check_tensor(w2, "w2")
    k1 = w1.shape[0]
    idx = _check_kept(kept, k1)
    if b1 is not None:
        b1 = _check_tensor(b1, "b1")
        if b1.shape != (k1,):
            raise PruningError(f"b1 must have shape ({k1},) (one bias per filter of w1), "
                               f"not {b1.shape}")
    channels, chan_idx = k1, idx                # channels flowing into the next layer
    new_between: list[tuple[np.ndarray, np.ndarray | None]] = []
    for i, (wd, bd) in enumerate(between):
        wd = _check_tensor(wd, f"between[{i}] weight")
        if wd.ndim != 4 or wd.shape[1] != 1 or wd.shape[0] % channels:
            raise PruningError(f"between[{i}] weight must be depthwise "
                               f"({channels}*m x 1 x R x S), not shape {wd.shape}")
        mult = wd.shape[0] // channels
        rows = (chan_idx[:, None] * mult + np.arange(mult)[None, :]).ravel()
        nb = None
        if bd is not None:
            bd = _check_tensor(bd, f"between[{i}] bias")
            if bd.shape != (wd.shape[0],):
                raise PruningError(f"between[{i}] bias must have shape ({wd.shape[0]},), "
                                   f"not {bd.shape}")
            nb = bd[rows].copy()
        new_between.append((wd[rows].copy(), nb))
        channels, chan_idx = wd.shape[0], rows
    if w2.ndim < 2:
        raise PruningError(f"w2 must be K2 x C2 or K2 x C2/G2 x R x S, not shape {w2.shape}")
    g2 = _check_positive_int("w2_groups", w2_groups)
    if g2 == 1:
        if w2.shape[1] != channels:
            raise PruningError(f"w2 must have {channels} input channels (axis 1) to follow "
                               f"w1, not {w2.shape[1]}")
        new_w2 = w2[:, chan_idx].copy()
    else:
        per = w2.shape[1]
        if per * g2 != channels or w2.shape[0] % g2:
            raise PruningError(f"w2 with w2_groups={g2} must have {channels}/{g2} input "
                               f"channels per group and K2 divisible by {g2}, "
                               f"not shape {w2.shape}")
        if per == 1:
            raise PruningError("w2 is depthwise: pass it in between= with its own consumer "
                               "as w2")
        group_of = chan_idx // per
        counts = np.bincount(group_of, minlength=g2)
        if np.any(counts != counts[0]):
            raise PruningError(f"kept must keep the same number of channels in each of the "
                               f"{g2} groups of w2, not {counts.tolist()}")
        local = (chan_idx % per).reshape(g2, counts[0])       # kept local index per group
        k2_per = w2.shape[0] // g2
        parts = [w2[g * k2_per:(g + 1) * k2_per][:, local[g]] for g in range(g2)]
        new_w2 = np.concatenate(parts, axis=0)
    return ShrunkConvs(w1[idx].copy(), None if b1 is None else b1[idx].copy(),
                       tuple(new_between), new_w2)


def shrink_layer(layer: Layer, k: int | None = None, c: int | None = None) -> Layer:
    """``layer`` with ``k`` output and/or ``c`` input channels (None keeps the current
    value), via :func:`dataclasses.replace`, so the cost model sees the smaller shapes.

    A depthwise layer (``G == C``) keeps ``G == C`` and its channel multiplier
    ``K / C``: give either ``c`` (then ``K = c * K/C``) or a ``k`` consistent with it.
    A grouped layer keeps its ``G``, which must divide the new ``K`` and ``C``.
    """
    for name, v, cur in (("k", k, layer.K), ("c", c, layer.C)):
        if v is not None:
            _check_positive_int(name, v)
            if v > cur:
                raise PruningError(f"layer {layer.name!r}: {name} must be in [1, {cur}] "
                                   f"(shrinking only), not {v}")
    if layer.kind == "depthwise" or (layer.G == layer.C and layer.G > 1):
        mult = layer.K // layer.C
        new_c = c if c is not None else (k // mult if k is not None else layer.C)
        if k is not None and k != new_c * mult:
            raise PruningError(f"layer {layer.name!r}: depthwise k must be c * {mult} "
                               f"(channel multiplier), not k={k} with c={new_c}")
        return replace(layer, K=new_c * mult, C=new_c, G=new_c)
    new_k = layer.K if k is None else int(k)
    new_c = layer.C if c is None else int(c)
    if new_k % layer.G or new_c % layer.G:
        raise PruningError(f"layer {layer.name!r}: k and c must be multiples of G={layer.G}, "
                           f"not k={new_k}, c={new_c}")
    return replace(layer, K=new_k, C=new_c)


__all__ = ["PruningError", "ShrunkConvs", "prune_blocks", "prune_groups",
           "prune_kernel_rows", "prune_magnitude", "prune_nm", "prune_rows",
           "prune_tile_blocks", "select_filters", "shrink_conv_pair", "shrink_layer",
           "tile_block"]
