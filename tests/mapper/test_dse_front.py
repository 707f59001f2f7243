"""Pareto fronts with ties, the hypervolume curve and constraint bounds of the co-search.

Every expected value here is computed independently of ``mapper.dse``: fronts by a
brute-force dominance check written below (or listed by hand), hypervolumes by hand
(staircase areas), constraint outcomes from the operator's meaning.
"""

from __future__ import annotations

import math
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from dataflows import Network, conv
from mapper.dse import (
    Constraint,
    DseError,
    DseSettings,
    hypervolume_curve,
    pareto_rows,
    run_dse,
)
from mapper.hw_space import load_hw_space
from mapper.store import ResultStore


def _row(key: str, lat: float, en: float, area: float = 1.0, feasible: int = 1,
         **extra: Any) -> dict[str, Any]:
    return {"key": key, "feasible": feasible, "latency_ms": lat, "energy_mj": en,
            "area_mm2": area} | extra


def _two(**kw: Any) -> DseSettings:
    return DseSettings(network="x", objectives=("latency", "energy"), **kw)


def _brute_front(points: list[tuple[float, ...]]) -> list[int]:
    """Indices kept by the definition: drop i if some j is <= everywhere and < somewhere,
    or if an earlier j has exactly the same vector (duplicates: keep the first)."""
    keep = []
    for i, p in enumerate(points):
        dominated = any(all(a <= b for a, b in zip(q, p)) and any(a < b for a, b in zip(q, p))
                        for q in points)
        duplicate = any(points[j] == p for j in range(i))
        if not dominated and not duplicate:
            keep.append(i)
    return keep


# -- item 1: Pareto fronts with ties ------------------------------------------------------

def test_front_with_ties_is_exact_and_excludes_weakly_dominated_points() -> None:
    rows = [_row("a", 1, 5), _row("b", 1, 6),      # b ties a in latency, worse energy
            _row("c", 2, 3), _row("d", 3, 3),      # d ties c in energy, worse latency
            _row("e", 4, 1), _row("f", 4, 1),      # f duplicates e exactly: keep e
            _row("g", 2, 3),                       # g duplicates c (after d)
            _row("h", 5, 1),                       # h ties e in energy, worse latency
            _row("i", 0.5, 9, feasible=0),         # infeasible: never on the front
            _row("j", 6, 0.5)]
    front = pareto_rows(rows, _two())
    # by hand: a (1,5), c (2,3), e (4,1), j (6,0.5); sorted by (latency, energy)
    assert [r["key"] for r in front] == ["a", "c", "e", "j"]
    pts = [(r["latency_ms"], r["energy_mj"]) for r in rows if r["feasible"]]
    keys = [r["key"] for r in rows if r["feasible"]]
    assert sorted(r["key"] for r in front) == sorted(keys[i] for i in _brute_front(pts))


def test_front_of_identical_designs_keeps_the_first() -> None:
    rows = [_row("x", 2, 2), _row("y", 2, 2), _row("z", 2, 2)]
    assert [r["key"] for r in pareto_rows(rows, _two())] == ["x"]
    assert pareto_rows([], _two()) == []
    assert pareto_rows([_row("x", 2, 2, feasible=0)], _two()) == []


def test_front_with_a_maximised_objective_and_ties() -> None:
    st_ = DseSettings(network="x", objectives=("latency", "fmax"), target="ecp5-85k")
    rows = [_row("a", 1, 0, fmax_mhz=100), _row("b", 1, 0, fmax_mhz=90),   # b: lower fmax
            _row("c", 2, 0, fmax_mhz=150), _row("d", 3, 0, fmax_mhz=150),  # d: slower
            _row("e", 3, 0, fmax_mhz=160)]
    # by hand: a (fastest), c (beats a on fmax), e (best fmax); b, d dominated
    assert [r["key"] for r in pareto_rows(rows, st_)] == ["a", "c", "e"]


@hsettings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4), st.integers(0, 4)),
                min_size=1, max_size=25))
def test_front_equals_brute_force_on_many_ties(points: list[tuple[int, int, int]]) -> None:
    # small integer grids force ties in one or two objectives and exact duplicates
    rows = [_row(str(i), *p) for i, p in enumerate(points)]
    st_ = DseSettings(network="x", objectives=("latency", "energy", "area"))
    got = [r["key"] for r in pareto_rows(rows, st_)]
    want = [str(i) for i in _brute_front([tuple(map(float, p)) for p in points])]
    assert sorted(got, key=int) == want
    assert got == sorted(got, key=lambda k: points[int(k)])       # sorted by objectives


# -- item 2: hypervolume curve -----------------------------------------------------------

def test_hypervolume_curve_on_a_hand_computed_front() -> None:
    # Final admissible set: (1,10), (4,4), (5,5), (10,1) -> ideal lo = (1,1), worst (10,10),
    # reference hi = 10 + 0.1 * 10 = 11, scale 10: scaled points (0,.9), (.3,.3), (.4,.4),
    # (.9,0) against the reference (1,1).
    rows = [_row("p", 10, 1),                 # {(.9,0)}: 0.1 x 1 = 0.1
            _row("bad", 0.1, 0.1, feasible=0),
            _row("q", 4, 4),                  # + (.3,.3): [.3,.9) x [.3,1] = 0.42 -> 0.52
            _row("big", 2, 2, area=9),        # breaks area_mm2<5: ignored
            _row("r", 5, 5),                  # dominated by q: still 0.52
            _row("s", 1, 10)]                 # + (0,.9): [0,.3) x [.9,1] = 0.03 -> 0.55
    curve = hypervolume_curve(rows, _two(constraints=(Constraint.parse("area_mm2<5"),)))
    assert curve == pytest.approx([0.1, 0.1, 0.52, 0.52, 0.52, 0.55], abs=1e-12)
    assert hypervolume_curve([_row("n", 1, 1, feasible=0)], _two()) == [0.0]


@hsettings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.floats(0.1, 10), st.floats(0.1, 10), st.booleans()),
                min_size=1, max_size=20))
def test_hypervolume_curve_never_decreases(points: list[tuple[float, float, bool]]) -> None:
    rows = [_row(str(i), a, b, feasible=int(ok)) for i, (a, b, ok) in enumerate(points)]
    curve = hypervolume_curve(rows, _two())
    assert len(curve) == len(rows)
    assert all(b >= a for a, b in pairwise(curve))
    assert all(0.0 <= v <= 1.0 for v in curve)


# -- item 3: constraint bounds -------------------------------------------------------------

@pytest.mark.parametrize("text, value, ok", [
    ("area_mm2<=2", 2.0, True), ("area_mm2<=2", 2.0000001, False),
    ("area_mm2<2", 2.0, False), ("area_mm2<2", 1.9999999, True),
    ("fmax_mhz>=100", 100.0, True), ("fmax_mhz>=100", 99.9, False),
    ("fmax_mhz>100", 100.0, False), ("fmax_mhz>100", 100.0001, True),
    ("dsp<8", 8, False), ("dsp<8", 7, True), ("dsp>8", 8, False), ("dsp>=8", 8, True),
    ("fmax_mhz > 100", math.nextafter(100.0, math.inf), True),
    ("area_mm2 < 2", math.nextafter(2.0, -math.inf), True),
])
def test_constraint_bounds_are_strict_or_not_as_written(text: str, value: float,
                                                        ok: bool) -> None:
    c = Constraint.parse(text)
    row = {c.metric: value}
    assert (c.violation(row) <= 0) is ok                # pymoo's G <= 0 convention
    assert c.satisfied(row) is ok


def test_constraint_parse_and_validation() -> None:
    assert Constraint.parse("fmax_mhz>=100") == Constraint("fmax_mhz", ">=", 100.0)
    assert Constraint.parse("area_mm2 > 0.5") == Constraint("area_mm2", ">", 0.5)
    with pytest.raises(DseError, match=r"operator must be one of \['<=', '>=', '<', '>'\], "
                                       r"not '=='"):
        Constraint("area_mm2", "==", 1.0)
    with pytest.raises(DseError, match=r"metric must be one of .* not 'area'"):
        Constraint("area", "<=", 1.0)
    with pytest.raises(DseError, match=r"'x' is not a number"):
        Constraint.parse("area_mm2>=x")
    with pytest.raises(DseError, match=r"the bound must be a number, not nan"):
        Constraint.parse("area_mm2>=nan")


def test_lower_and_strict_bounds_filter_the_front() -> None:
    rows = [_row("a", 1, 9, fmax_mhz=80), _row("b", 2, 5, fmax_mhz=100),
            _row("c", 3, 3, fmax_mhz=120), _row("d", 4, 1, fmax_mhz=100)]
    def front(*cs: Constraint) -> list[str]:
        return [r["key"] for r in pareto_rows(rows, _two(constraints=cs, target="ecp5-85k"))]

    assert front() == ["a", "b", "c", "d"]
    assert front(Constraint.parse("fmax_mhz>=100")) == ["b", "c", "d"]   # 100 is on the bound
    assert front(Constraint.parse("fmax_mhz>100")) == ["c"]
    assert front(Constraint.parse("latency_ms<3")) == ["a", "b"]         # 3 is not < 3
    assert front(Constraint.parse("latency_ms<=3")) == ["a", "b", "c"]
    assert front(Constraint.parse("latency_ms>1"), Constraint.parse("energy_mj>1")) == \
        ["b", "c"]


SPACE = "base: edge_8x8_ws\nparameters:\n  rows: [4, 8]\n  cols: [4, 8]\n"


def test_run_dse_front_respects_bounds_on_the_value_of_a_stored_design(
        tmp_path: Path) -> None:
    (tmp_path / "space.yaml").write_text(SPACE)
    space = load_hw_space(tmp_path / "space.yaml")
    net = Network.chain("one", [conv("a", 8, 16, 8, 3, padding=1)])
    base = DseSettings(network="one", strategy="grid", max_designs=4, population=4,
                       map_evals=100)
    store = ResultStore(tmp_path / "s.sqlite", base.meta(space), resume=False)
    assert run_dse(space, net, base, store) == 4
    rows = store.rows()
    areas = sorted({r["area_mm2"] for r in rows})
    assert len(areas) >= 3                       # 4x4 < 4x8 = 8x4 < 8x8 PEs
    bound = areas[1]                             # a value some stored design has exactly
    for op, admitted in ((">=", lambda a: a >= bound), (">", lambda a: a > bound),
                         ("<=", lambda a: a <= bound), ("<", lambda a: a < bound)):
        st_ = DseSettings(network="one", strategy="grid", max_designs=4, population=4,
                          map_evals=100, constraints=(Constraint.parse(f"area_mm2{op}{bound!r}"),))
        front = pareto_rows(rows, st_)
        allowed = [r for r in rows if admitted(r["area_mm2"])]
        pts = [(r["latency_ms"], r["energy_mj"], r["area_mm2"]) for r in allowed]
        assert sorted(r["key"] for r in front) == \
            sorted(allowed[i]["key"] for i in _brute_front(pts)), op
        curve = hypervolume_curve(rows, st_)
        assert all(b >= a for a, b in pairwise(curve))
