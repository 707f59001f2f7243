"""dataflows.compress.plan: the text forms of Prune (parse/text round trip), defaults, and
one-line validation errors naming the field and the allowed values."""

from __future__ import annotations

import numpy as np
import pytest

from dataflows.compress.plan import CompressionPlan, LayerCompression, PlanError, Prune
from dataflows.errors import CoforgeError


@pytest.mark.parametrize(("text", "expected"), [
    ("2:4", Prune("nm", n=2, m=4)),
    ("1:8", Prune("nm", n=1, m=8)),
    ("magnitude:0.5", Prune("magnitude", density=0.5)),
    ("block:0.5", Prune("block", density=0.5, block=(4, 4))),
    ("block:0.25:8x2", Prune("block", density=0.25, block=(8, 2))),
    ("row:0.5", Prune("row", density=0.5)),
    ("kernel_row", Prune("kernel_row", keep=1)),
    ("kernel_row:2", Prune("kernel_row", keep=2)),
    ("group:0.5", Prune("group", density=0.5, group=4)),
    ("group:0.75:8", Prune("group", density=0.75, group=8)),
    ("tile:0.5:16x8", Prune("tile", density=0.5, tile=(16, 8))),
])
def test_parse_and_text_round_trip(text: str, expected: Prune) -> None:
    parsed = Prune.parse(text)
    assert parsed == expected
    assert parsed.text == text
    assert Prune.parse(parsed.text) == parsed


def test_defaults_are_filled_in() -> None:
    assert Prune("block", density=0.5).block == (4, 4)
    assert Prune("group", density=0.5).group == 4
    assert Prune("kernel_row").keep == 1
    assert Prune("block", density=0.5) == Prune.parse("block:0.5")


def test_none_parses_to_no_pruning() -> None:
    assert Prune.parse("none") is None
    assert LayerCompression(prune="none").prune is None
    assert LayerCompression(prune="2:4").prune == Prune("nm", n=2, m=4)


def test_density_text_keeps_every_digit() -> None:
    p = Prune("magnitude", density=1 / 3)
    assert Prune.parse(p.text) == p


def test_apply_is_the_pattern() -> None:
    w = np.arange(1.0, 17.0).reshape(2, 8)
    # 2:4 keeps the two largest of each 4 (hand: 3,4 | 7,8 | 11,12 | 15,16)
    out = Prune.parse("2:4").apply(w)
    assert out.tolist() == [[0, 0, 3, 4, 0, 0, 7, 8], [0, 0, 11, 12, 0, 0, 15, 16]]
    assert np.count_nonzero(Prune.parse("magnitude:0.25").apply(w)) == 4


@pytest.mark.parametrize(("text", "match"), [
    ("4:4", r"n must be below m .* not 4:4"),
    ("0:4", r"n must be a positive integer, not 0"),
    ("magnitude:1.5", r"density must be a number in \(0, 1\], not 1.5"),
    ("magnitude:0", r"density must be a number in \(0, 1\], not 0.0"),
    ("magnitude:x", r"prune 'magnitude:x': density 'x' is not a number"),
    ("magnitude", r"prune 'magnitude': pattern 'magnitude' takes 1 ':'-separated value"),
    ("foo:0.5", r"prune 'foo:0.5': unknown pattern 'foo'; write \"N:M\""),
    ("block:0.5:4", r"block '4' must be two positive integers as AxB"),
    ("tile:0.5", r"pattern 'tile' takes 2 ':'-separated value\(s\), not 1"),
    ("group:0.5:0", r"group must be a positive integer, not 0"),
])
def test_bad_text_is_a_one_line_error(text: str, match: str) -> None:
    with pytest.raises(PlanError, match=match) as info:
        Prune.parse(text)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, CoforgeError)


def test_bad_fields() -> None:
    with pytest.raises(PlanError, match=r"prune.pattern must be one of \['magnitude', 'nm', "
                                        r"'block', 'row', 'kernel_row', 'group', 'tile'\], "
                                        r"not 'nmm'"):
        Prune("nmm")
    with pytest.raises(PlanError, match=r"prune \(nm\): density does not apply \(pattern 'nm' "
                                        r"takes n, m\), not 0.5"):
        Prune("nm", n=2, m=4, density=0.5)
    with pytest.raises(PlanError, match=r"prune \(tile\): tile \(k_tile, c_tile\) must be two "
                                        r"positive integers"):
        Prune("tile", density=0.5)
    with pytest.raises(PlanError, match=r"prune \(magnitude\): density must be a number in "
                                        r"\(0, 1\], not True"):
        Prune("magnitude", density=True)
    with pytest.raises(PlanError, match=r"prune must be a string"):
        Prune.parse(0.5)  # type: ignore[arg-type]


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"filters": 0.0}, r"filters \(kept fraction\) must be a number in \(0, 1\], not 0.0"),
    ({"filters": 1.5}, r"filters \(kept fraction\) must be a number in \(0, 1\], not 1.5"),
    ({"filter_multiple": 0}, r"filter_multiple must be a positive integer, not 0"),
    ({"rank": 0}, r"rank must be a positive integer, not 0"),
    ({"rank": (1, 2, 3)}, r"rank must be a positive integer or a pair \(rank_in, rank_out\)"),
    ({"rank": 2.0}, r"rank must be a positive integer or a pair"),
    ({"rank": 2, "lowrank": "qr"},
     r"lowrank must be one of \['auto', 'svd', 'tucker2', 'spatial'\], not 'qr'"),
    ({"rank": (2, 3), "lowrank": "spatial"}, r"rank must be one integer for lowrank 'spatial'"),
    ({"rank": 2, "prune": "2:4"}, r"give prune or rank, not both \(prune '2:4', rank 2\)"),
    ({"prune": 3}, r"prune must be a Prune, its text form or None, not 3"),
])
def test_bad_layer_compression(kwargs: dict, match: str) -> None:
    with pytest.raises(PlanError, match=match) as info:
        LayerCompression(**kwargs)
    assert "\n" not in str(info.value)


def test_layer_compression_normalises() -> None:
    lc = LayerCompression(rank=[3, 4], filters=1)
    assert lc.rank == (3, 4) and lc.filters == 1.0 and lc.is_identity is False
    assert LayerCompression(filters=1.0).is_identity


def test_plan_validation_and_uniform() -> None:
    with pytest.raises(PlanError, match=r"layers\['conv1'\] must be a LayerCompression, "
                                        r"not '2:4'"):
        CompressionPlan({"conv1": "2:4"})  # type: ignore[dict-item]
    with pytest.raises(PlanError, match=r"layers must map layer names"):
        CompressionPlan([("conv1", LayerCompression())])  # type: ignore[arg-type]
    lc = LayerCompression(prune="2:4")
    plan = CompressionPlan.uniform(["a", "b"], lc)
    assert dict(plan.layers) == {"a": lc, "b": lc}
    with pytest.raises(TypeError):
        plan.layers["c"] = lc  # type: ignore[index]
