"""Low-rank factorization of weights into chains of smaller layers.

Three factorizations, each returning the new weights (biases stay with the caller: a
bias belongs on the *last* factor, which then reproduces the original layer exactly at
full rank), and :func:`factorized_layers` giving the matching workload layers so the
cost model prices them like any other:

* :func:`svd_factorize` -- FC ``N_out x N_in`` (or 1x1 conv ``K x C x 1 x 1``) into
  ``w1`` (``rank x N_in``) then ``w2`` (``N_out x rank``) from the truncated SVD
  ``W = U S V^T``: ``w1 = sqrt(S_r) V_r^T``, ``w2 = U_r sqrt(S_r)``, so ``w2 @ w1`` is
  the best rank-r approximation in the Frobenius norm (Eckart-Young).
* :func:`tucker2_factorize` -- ``K x C x R x S`` conv into a 1x1 conv ``C -> r_in``,
  an ``R x S`` core conv ``r_in -> r_out`` and a 1x1 conv ``r_out -> K``, by truncated
  HOSVD (Tucker-2 on the channel modes, Kim et al. ICLR'16): ``U_in`` = the first
  ``r_in`` left singular vectors of the mode-C unfolding, ``U_out`` those of the
  mode-K unfolding, core ``G = W x_K U_out^T x_C U_in^T``; no HOOI refinement, so it is
  exact at full rank and quasi-optimal (within sqrt(2) of the best) below it.
* :func:`spatial_separate` -- ``K x C x R x S`` into a vertical ``R x 1`` conv
  ``C -> rank`` then a horizontal ``1 x S`` conv ``rank -> K`` (Jaderberg et al.
  BMVC'14, scheme 2), from the SVD of ``W`` rearranged as a ``(C*R) x (K*S)`` matrix;
  exact at ``rank = min(C*R, K*S)``.

Singular vectors are sign-normalised (the largest-magnitude entry of each left vector
is positive) so a result depends only on the weights. Grouped/depthwise layers are not
factorized (their per-group weights are already thin). Inputs are not modified.
"""

from __future__ import annotations

import re

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from dataflows.errors import CoforgeError
from dataflows.layer import Density, Layer

#: Factorization methods of :func:`factorized_layers`.
LOWRANK_METHODS: tuple[str, ...] = ("auto", "svd", "tucker2", "spatial")


def factor_name(name: str, i: int) -> str:
    """Name of factor ``i`` of a factorized layer or node: ``fc`` -> ``fc.lr0``."""
    return f"{name}.lr{i}"


_FACTOR = re.compile(r"^(.*)\.lr\d+$")


def source_layer(name: str) -> str:
    """The layer a factor came from (``fc.lr1`` -> ``fc``); other names unchanged."""
    m = _FACTOR.match(name)
    return m.group(1) if m else name


class LowRankError(CoforgeError):
    """A factorization argument is out of range; the message names it and the allowed values."""


def _check_weight(w: np.ndarray, name: str, ndims: tuple[int, ...]) -> np.ndarray:
    arr = np.asarray(w)
    if arr.ndim not in ndims or arr.size == 0:
        raise LowRankError(f"{name} must be a non-empty {' or '.join(f'{d}-D' for d in ndims)} "
                           f"array, not shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise LowRankError(f"{name} must hold real numbers, not dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise LowRankError(f"{name} must be finite (found NaN or inf)")
    return arr


def _check_rank(name: str, rank: object, top: int) -> int:
    if not isinstance(rank, (int, np.integer)) or isinstance(rank, bool) \
            or not 1 <= rank <= top:
        raise LowRankError(f"{name} must be an integer in [1, {top}], not {rank!r}")
    return int(rank)


def _svd(m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Thin SVD with sign-normalised singular vectors."""
    u, s, vt = np.linalg.svd(m, full_matrices=False)
    pivot = np.argmax(np.abs(u), axis=0)
    signs = np.sign(u[pivot, np.arange(u.shape[1])])
    signs[signs == 0] = 1.0
    return u * signs, s, vt * signs[:, None]


def svd_factorize(w_fc: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """``(w1, w2)`` with ``w2 @ w1`` the best rank-``rank`` approximation of ``w_fc``.

    ``w_fc`` is ``N_out x N_in`` (then ``w1`` is ``rank x N_in``, ``w2`` ``N_out x rank``)
    or a 1x1 conv ``K x C x 1 x 1`` (then two 1x1 convs ``rank x C x 1 x 1`` and
    ``K x rank x 1 x 1``). ``rank`` in ``[1, min(N_out, N_in)]``.
    """
    arr = _check_weight(w_fc, "w_fc", (2, 4))
    if arr.ndim == 4 and arr.shape[2:] != (1, 1):
        raise LowRankError(f"w_fc must be N_out x N_in or a 1x1 conv K x C x 1 x 1, "
                           f"not shape {arr.shape}; use tucker2_factorize or spatial_separate")
    m = arr.reshape(arr.shape[0], arr.shape[1])
    rank = _check_rank("rank", rank, min(m.shape))
    u, s, vt = _svd(m)
    root = np.sqrt(s[:rank])
    w1, w2 = root[:, None] * vt[:rank], u[:, :rank] * root[None, :]
    if arr.ndim == 4:
        return w1[:, :, None, None], w2[:, :, None, None]
    return w1, w2


def tucker2_factorize(w_conv: np.ndarray, rank_in: int,
                      rank_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(first, core, last)``: 1x1 ``rank_in x C x 1 x 1``, ``rank_out x rank_in x R x S``
    and 1x1 ``K x rank_out x 1 x 1`` by truncated HOSVD (module docstring);
    ``rank_in`` in ``[1, C]``, ``rank_out`` in ``[1, K]``."""
    w = _check_weight(w_conv, "w_conv", (4,))
    k, c, r, s = w.shape
    rank_in = _check_rank("rank_in", rank_in, c)
    rank_out = _check_rank("rank_out", rank_out, k)
    u_out = _svd(w.reshape(k, -1))[0][:, :rank_out]                         # K x r_out
    u_in = _svd(np.moveaxis(w, 1, 0).reshape(c, -1))[0][:, :rank_in]        # C x r_in
    core = np.einsum("kcrs,ko,ci->oirs", w, u_out, u_in)
    return u_in.T[:, :, None, None].copy(), core, u_out[:, :, None, None].copy()


def spatial_separate(w: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """``(vertical, horizontal)``: ``rank x C x R x 1`` then ``K x rank x 1 x S`` with
    ``w[k, c, r, s] ~ sum_t horizontal[k, t, 0, s] * vertical[t, c, r, 0]``;
    ``rank`` in ``[1, min(C*R, K*S)]``."""
    arr = _check_weight(w, "w", (4,))
    k, c, r, s = arr.shape
    m = arr.transpose(1, 2, 0, 3).reshape(c * r, k * s)                     # (c, r) x (k, s)
    rank = _check_rank("rank", rank, min(m.shape))
    u, sv, vt = _svd(m)
    root = np.sqrt(sv[:rank])
    vertical = (u[:, :rank] * root).T.reshape(rank, c, r, 1)
    horizontal = (root[:, None] * vt[:rank]).reshape(rank, k, s).transpose(1, 0, 2)
    return vertical, horizontal[:, :, None, :].copy()


# -- workload layers --------------------------------------------------------------------
def _conv_like(base: Layer, name: str, k: int, c: int, h: int, w: int, p: int, q: int,
               r: int = 1, s: int = 1, stride: tuple[int, int] = (1, 1),
               pad: tuple[int, int] = (0, 0), dilation: tuple[int, int] = (1, 1),
               density: Density | None = None) -> Layer:
    return replace(base, name=name, kind="conv", K=k, C=c, H=h, W=w, P=p, Q=q, R=r, S=s,
                   G=1, stride_h=stride[0], stride_w=stride[1], pad_h=pad[0], pad_w=pad[1],
                   dilation_h=dilation[0], dilation_w=dilation[1],
                   density=density or Density())


def factorized_layers(layer: Layer, ranks: int | Sequence[int],
                      method: str = "auto") -> list[Layer]:
    """The workload layers of a factorized ``layer`` (names ``<name>.lr0``, ``.lr1``, ...).

    ``method`` "svd" (FC/GEMM or 1x1 conv, ``ranks`` = r: two layers), "tucker2" (``ranks``
    = (r_in, r_out): 1x1, R x S core, 1x1), "spatial" (``ranks`` = r: R x 1 then 1 x S);
    "auto" picks svd for R = S = 1, tucker2 when ``ranks`` is a pair, else spatial.
    Stride, padding and dilation go where the factorized weights reproduce the original
    (bias-free factors, bias on the last): svd puts them on the first 1x1 layer; tucker2
    on the core; spatial splits them, the height part on the vertical and the width part
    on the horizontal layer. Every factor keeps ``N`` and the precision; the first keeps
    the input density, the factors' weights and outputs are dense. FC/GEMM factors keep
    their kind; conv factors are ``conv`` layers.
    """
    if method not in LOWRANK_METHODS:
        raise LowRankError(f"method must be one of {list(LOWRANK_METHODS)}, not {method!r}")
    where = f"layer {layer.name!r}"
    if layer.kind not in ("conv", "fc", "gemm") or layer.G != 1:
        raise LowRankError(f"{where}: kind must be conv, fc or gemm with G=1 to factorize, "
                           f"not kind {layer.kind!r} with G={layer.G}")
    pair = not isinstance(ranks, (int, np.integer)) and isinstance(ranks, Sequence)
    if layer.kind in ("fc", "gemm") and method not in ("auto", "svd"):
        raise LowRankError(f"{where}: a {layer.kind} layer factorizes by svd only, "
                           f"not method {method!r}")
    if method == "auto":
        method = "svd" if (layer.R, layer.S) == (1, 1) else ("tucker2" if pair else "spatial")
    if method == "tucker2":
        if not pair or len(ranks) != 2:
            raise LowRankError(f"{where}: ranks must be (rank_in, rank_out) for tucker2, "
                               f"not {ranks!r}")
        r_in = _check_rank("rank_in", ranks[0], layer.C)
        r_out = _check_rank("rank_out", ranks[1], layer.K)
    elif pair:
        raise LowRankError(f"{where}: ranks must be one integer for {method}, not {ranks!r}")
    in_density = Density(input=layer.density.input)
    stride, pad = (layer.stride_h, layer.stride_w), (layer.pad_h, layer.pad_w)
    dil = (layer.dilation_h, layer.dilation_w)
    if method == "svd":
        if (layer.R, layer.S) != (1, 1):
            raise LowRankError(f"{where}: svd needs R = S = 1, not {layer.R}x{layer.S}; "
                               f"use tucker2 or spatial")
        rank = _check_rank("rank", ranks, min(layer.K, layer.C))
        first = replace(layer, name=factor_name(layer.name, 0), K=rank, density=in_density)
        second = replace(layer, name=factor_name(layer.name, 1), C=rank, H=layer.P, W=layer.Q,
                         stride_h=1, stride_w=1, pad_h=0, pad_w=0,
                         dilation_h=1, dilation_w=1, density=Density())
        return [first, second]
    if method == "tucker2":
        return [
            _conv_like(layer, factor_name(layer.name, 0), r_in, layer.C, layer.H, layer.W,
                       layer.H, layer.W, density=in_density),
            _conv_like(layer, factor_name(layer.name, 1), r_out, r_in, layer.H, layer.W,
                       layer.P, layer.Q, layer.R, layer.S, stride, pad, dil),
            _conv_like(layer, factor_name(layer.name, 2), layer.K, r_out, layer.P, layer.Q,
                       layer.P, layer.Q),
        ]
    rank = _check_rank("rank", ranks, min(layer.C * layer.R, layer.K * layer.S))
    return [
        _conv_like(layer, factor_name(layer.name, 0), rank, layer.C, layer.H, layer.W,
                   layer.P, layer.W, layer.R, 1, (stride[0], 1), (pad[0], 0), (dil[0], 1),
                   density=in_density),
        _conv_like(layer, factor_name(layer.name, 1), layer.K, rank, layer.P, layer.W,
                   layer.P, layer.Q, 1, layer.S, (1, stride[1]), (0, pad[1]), (1, dil[1])),
    ]


__all__ = ["LOWRANK_METHODS", "LowRankError", "factor_name", "factorized_layers",
           "source_layer", "spatial_separate",
           "svd_factorize", "tucker2_factorize"]
