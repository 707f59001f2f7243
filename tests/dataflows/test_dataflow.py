"""Dataflow templates and the im2col lowering systolic arrays run."""

from __future__ import annotations

import pytest

from dataflows.dataflow import (DATAFLOWS, RELEVANT, DataflowError, get_dataflow,
                                lower_to_gemm, map_bounds)
from dataflows.layer import conv, gemm


def test_four_templates_with_their_roles() -> None:
    assert sorted(DATAFLOWS) == ["is", "os", "rs", "ws"]
    ws, os_, is_, rs = (DATAFLOWS[k] for k in ("ws", "os", "is", "rs"))
    assert (ws.row_dims, ws.col_dims, ws.stationary) == (("C",), ("K",), "weight")
    assert (os_.row_dims, os_.col_dims, os_.stationary) == (("P",), ("K",), "output")
    assert (is_.row_dims, is_.col_dims, is_.stationary) == (("C",), ("P",), "input")
    assert rs.stationary == "weight" and not rs.lowered and not rs.systolic
    for df in DATAFLOWS.values():      # streamed loops never index the stationary operand
        if df.systolic:
            assert not set(df.stream_dims) & RELEVANT[df.stationary]


def test_unknown_dataflow_lists_the_allowed() -> None:
    with pytest.raises(DataflowError, match=r"^dataflow must be one of \['is', 'os', 'rs', "
                                            r"'ws'\], not 'xs'$"):
        get_dataflow("xs")


def test_im2col_lowering_keeps_macs_and_shape() -> None:
    layer = conv("c", in_ch=3, out_ch=64, in_hw=224, kernel=7, stride=2, padding=3)
    low = lower_to_gemm(layer)
    assert low.macs == layer.macs
    assert (low.P, low.C, low.K, low.G) == (112 * 112, 3 * 49, 64, 1)
    assert low.R == low.S == low.stride_h == 1


def test_depthwise_lowers_to_groups_of_gemms() -> None:
    dw = conv("dw", in_ch=32, out_ch=32, in_hw=56, kernel=3, padding=1, groups=32)
    low = lower_to_gemm(dw)
    assert low.kind == "conv" and low.G == 32 and low.macs == dw.macs
    assert map_bounds(low) == {"G": 32, "N": 1, "K": 1, "C": 9, "P": 56 * 56, "Q": 1,
                               "R": 1, "S": 1}


def test_gemm_is_already_lowered() -> None:
    g = gemm("g", M=10, N=20, K=30)
    assert lower_to_gemm(g) is g
    assert DATAFLOWS["ws"].bounds(g) == {"G": 1, "N": 1, "K": 20, "C": 30, "P": 10,
                                         "Q": 1, "R": 1, "S": 1}
