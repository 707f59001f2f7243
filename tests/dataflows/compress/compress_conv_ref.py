"""A brute-force 2-D convolution for the compression tests (independent of coforge):
one output element at a time, straight from the loop nest of :mod:`dataflows.layer`."""

from __future__ import annotations

import numpy as np


def conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None,
           stride: tuple[int, int] = (1, 1), pad: tuple[int, int] = (0, 0),
           dilation: tuple[int, int] = (1, 1), groups: int = 1) -> np.ndarray:
    """``x``: C x H x W, ``w``: K x C/G x R x S -> K x P x Q (float64)."""
    c_in, h, wd = x.shape
    k_out, c_per, r_size, s_size = w.shape
    assert c_per * groups == c_in and k_out % groups == 0
    xp = np.zeros((c_in, h + 2 * pad[0], wd + 2 * pad[1]))
    xp[:, pad[0]:pad[0] + h, pad[1]:pad[1] + wd] = x
    p_size = (h + 2 * pad[0] - dilation[0] * (r_size - 1) - 1) // stride[0] + 1
    q_size = (wd + 2 * pad[1] - dilation[1] * (s_size - 1) - 1) // stride[1] + 1
    out = np.zeros((k_out, p_size, q_size))
    k_per = k_out // groups
    for k in range(k_out):
        g = k // k_per
        for p in range(p_size):
            for q in range(q_size):
                acc = 0.0 if b is None else float(b[k])
                for c in range(c_per):
                    for r in range(r_size):
                        for s in range(s_size):
                            acc += w[k, c, r, s] * xp[g * c_per + c,
                                                      p * stride[0] + r * dilation[0],
                                                      q * stride[1] + s * dilation[1]]
                out[k, p, q] = acc
    return out
