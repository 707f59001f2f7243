"""Mapping construction and legality: every rule has its error message pinned."""

from __future__ import annotations

import pytest

from dataflows.dataflow import DATAFLOWS, MAP_DIMS, get_dataflow
from dataflows.layer import conv, gemm
from dataflows.mapping import LEVELS, Mapping, MappingError

WS = get_dataflow("ws")
GEMM = gemm("g", M=17, N=9, K=23)           # bounds P=17, K=9, C=23 in the lowered view


def _ws(**kw: object) -> Mapping:
    args = dict(rows={"C": 4}, cols={"K": 4}, pe={"P": 17}, glb={"C": 6, "K": 3})
    args.update(kw)
    return Mapping.build(**args)  # type: ignore[arg-type]


def _check(m: Mapping, rows: int = 4, cols: int = 4) -> None:
    m.check(GEMM, WS, rows, cols, WS.bounds(GEMM))


def test_scalesim_like_mapping_is_legal() -> None:
    m = _ws()
    _check(m)
    assert m.coverage() == {"G": 1, "N": 1, "K": 12, "C": 24, "P": 17, "Q": 1, "R": 1, "S": 1}
    assert (m.rows_used, m.cols_used) == (4, 4)
    assert m.factor("glb", "C") == 6 and m.factor("pe", "P") == 17


def test_build_fills_orders_and_defaults() -> None:
    m = Mapping.build(order={"dram": ["K", "C"]})
    assert m.order[LEVELS.index("dram")][:2] == ("K", "C")
    assert sorted(m.order[0]) == sorted(MAP_DIMS)
    assert m.temporal == ((1,) * 8,) * 3


def test_to_dict_lists_only_non_unit_factors() -> None:
    d = _ws().to_dict()
    assert d["spatial"] == {"rows": {"C": 4}, "cols": {"K": 4}}
    assert d["temporal"] == {"pe": {"P": 17}, "glb": {"K": 3, "C": 6}, "dram": {}}


@pytest.mark.parametrize("kwargs, message", [
    ({"rows": {"X": 2}}, r"mapping names unknown dimensions \['X'\]; allowed: "),
    ({"pe": {"P": 0}}, r"mapping factor for P must be a positive integer, not 0"),
    ({"glb": {"K": 1.5}}, r"mapping factor for K must be a positive integer, not 1.5"),
    ({"order": {"glb": ["K", "K"]}}, r"order\.glb must list distinct dimensions"),
    ({"order": {"dram": ["Z"]}}, r"order\.dram must list distinct dimensions from"),
])
def test_build_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(MappingError, match=message):
        Mapping.build(**kwargs)


def test_spatial_dimension_not_allowed_by_dataflow() -> None:
    with pytest.raises(MappingError, match=r"^layer 'g' \(ws\): P cannot be unrolled over "
                                           r"array rows in ws; allowed: \['C'\]$"):
        _check(_ws(rows={"C": 4, "P": 1} | {"P": 2}))


def test_spatial_factors_exceed_the_array() -> None:
    with pytest.raises(MappingError, match=r"spatial cols factors multiply to 8 > array "
                                           r"cols 4$"):
        _check(_ws(cols={"K": 8}, glb={"C": 6, "K": 2}))


def test_only_stream_dims_loop_inside_the_pe_level() -> None:
    with pytest.raises(MappingError, match=r"only \['N', 'P', 'Q'\] may loop inside the PE "
                                           r"level of ws \(weight stays in the PE\); C has "
                                           r"factor 6"):
        _check(_ws(pe={"P": 17, "C": 6}, glb={"K": 3}))


def test_factors_must_cover_the_bound() -> None:
    with pytest.raises(MappingError, match=r"factors of C multiply to 20, which does not "
                                           r"cover its bound 23$"):
        _check(_ws(glb={"C": 5, "K": 3}))


def test_outermost_factor_may_not_idle_a_whole_iteration() -> None:
    with pytest.raises(MappingError, match=r"factors of C multiply to 28 for bound 23; the "
                                           r"outermost factor 7 then has a fully idle last "
                                           r"iteration"):
        _check(_ws(glb={"C": 7, "K": 3}))


def test_imperfect_but_minimal_factors_are_legal() -> None:
    # 9 over 4 rows x 3 folds = 12: the last fold uses one row, but none is empty
    layer = gemm("g", M=5, N=4, K=9)
    m = Mapping.build(rows={"C": 4}, cols={"K": 4}, pe={"P": 5}, dram={"C": 3})
    m.check(layer, WS, 4, 4, WS.bounds(layer))


def test_order_must_be_a_permutation() -> None:
    m = _ws()
    bad = Mapping(m.rows, m.cols, m.temporal, (m.order[0], m.order[1][:-1], m.order[2]))
    with pytest.raises(MappingError, match=r"order\.glb must be a permutation of"):
        _check(bad)


def test_row_stationary_keeps_conv_loops() -> None:
    rs = DATAFLOWS["rs"]
    layer = conv("c", in_ch=4, out_ch=6, in_hw=10, kernel=3, padding=1)
    b = rs.bounds(layer)
    assert (b["R"], b["S"], b["P"], b["Q"], b["C"], b["K"]) == (3, 3, 10, 10, 4, 6)
    m = Mapping.build(rows={"R": 3, "C": 4}, cols={"P": 10}, pe={"S": 3, "Q": 10},
                      glb={"K": 6})
    m.check(layer, rs, 12, 14, b)
