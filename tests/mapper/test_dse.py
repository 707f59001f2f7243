"""Co-search: space loading, store/resume without duplicates, Pareto fronts, workers."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from dataflows import Network, conv, fc
from mapper.dse import Constraint, DseError, DseSettings, pareto_rows, run_dse
from mapper.dse_report import write_dse_reports
from mapper.hw_space import HardwareSpaceError, load_hw_space
from mapper.store import ResultStore, StoreError

SPACE = """base: edge_8x8_ws
parameters:
  rows: [4, 8]
  cols: [4, 8]
  dataflow: [ws, os]
  glb_kib: [16, 64]
"""


def _net() -> Network:
    net = Network("tiny")
    net.add(conv("a", 8, 16, 12, 3, padding=1))
    net.add(conv("b", 16, 16, 12, 3, padding=1))
    net.add(fc("fc", 16 * 144, 10))
    return net


def _space(tmp_path: Path, text: str = SPACE):  # noqa: ANN202
    p = tmp_path / "space.yaml"
    p.write_text(text)
    return load_hw_space(p)


def _settings(**kw) -> DseSettings:  # noqa: ANN003
    args = dict(network="tiny", strategy="grid", max_designs=16, population=4, map_evals=300)
    return DseSettings(**(args | kw))


def test_grid_stores_every_candidate_once(tmp_path: Path) -> None:
    space = _space(tmp_path)
    st = _settings()
    store = ResultStore(tmp_path / "s.sqlite", st.meta(space), resume=False)
    assert run_dse(space, _net(), st, store) == 16
    rows = store.rows()
    assert len(rows) == 16 == len({r["key"] for r in rows})
    assert all(r["feasible"] == 1 and r["area_mm2"] > 0 for r in rows)
    front = pareto_rows(rows, st)
    assert 1 <= len(front) <= 16
    for r in rows:                                   # nothing beats a front point everywhere
        for p in front:
            assert not all(r[c] < p[c] for c in ("latency_ms", "energy_mj", "area_mm2"))


def test_resume_replays_the_store_and_adds_no_duplicates(tmp_path: Path) -> None:
    space = _space(tmp_path)
    st = _settings(strategy="nsga2", max_designs=12)
    path = tmp_path / "s.sqlite"
    store = ResultStore(path, st.meta(space), resume=False)
    first = run_dse(space, _net(), st, store)
    before = store.rows()
    store.close()
    again = ResultStore(path, st.meta(space), resume=True)
    assert run_dse(space, _net(), st, again) == 0          # every proposal is a store hit
    assert again.rows() == before and first == len(before)
    keys = [k for (k,) in sqlite3.connect(path).execute("SELECT key FROM designs")]
    assert len(keys) == len(set(keys))


def test_interrupted_run_continues_where_it_stopped(tmp_path: Path) -> None:
    space = _space(tmp_path)
    full = _settings(max_designs=16)
    store = ResultStore(tmp_path / "a.sqlite", full.meta(space), resume=False)
    run_dse(space, _net(), full, store)
    # simulate a kill after 5 designs: copy 5 rows into a fresh store, then resume
    part = ResultStore(tmp_path / "b.sqlite", full.meta(space), resume=False)
    for row in store.rows()[:5]:
        part.put(row)
    assert run_dse(space, _net(), full, part) == 11
    strip = lambda rows: sorted((r["key"], r["latency_ms"], r["energy_mj"]) for r in rows)  # noqa: E731
    assert strip(part.rows()) == strip(store.rows())


def test_same_results_with_two_workers(tmp_path: Path) -> None:
    space = _space(tmp_path)
    st = _settings(max_designs=6)
    one = ResultStore(tmp_path / "1.sqlite", st.meta(space), resume=False)
    two = ResultStore(tmp_path / "2.sqlite", st.meta(space), resume=False)
    run_dse(space, _net(), st, one, workers=1)
    run_dse(space, _net(), st, two, workers=2)
    key = lambda r: (r["key"], r["latency_ms"], r["energy_mj"], r["area_mm2"])  # noqa: E731
    assert sorted(map(key, one.rows())) == sorted(map(key, two.rows()))


def test_constraints_filter_the_front(tmp_path: Path) -> None:
    space = _space(tmp_path)
    st = _settings(constraints=(Constraint.parse("area_mm2<=0.15"),))
    store = ResultStore(tmp_path / "s.sqlite", st.meta(space), resume=False)
    run_dse(space, _net(), st, store)
    front = pareto_rows(store.rows(), st)
    assert front and all(r["area_mm2"] <= 0.15 for r in front)
    paths = write_dse_reports(store.rows(), st, tmp_path)
    assert paths["png"].stat().st_size > 0
    assert "constraints: area_mm2<=0.15" in paths["txt"].read_text()
    assert len(paths["csv"].read_text().splitlines()) == len(front) + 1


def test_resume_guards(tmp_path: Path) -> None:
    space = _space(tmp_path)
    path = tmp_path / "s.sqlite"
    ResultStore(path, _settings().meta(space), resume=False).close()
    with pytest.raises(StoreError, match=r"exists: pass --resume to continue that run"):
        ResultStore(path, _settings().meta(space), resume=False)
    with pytest.raises(StoreError, match=r"holds a run with different settings \(seed\)"):
        ResultStore(path, _settings(seed=9).meta(space), resume=True)


@pytest.mark.parametrize("text, message", [
    ("base: edge_8x8_ws\nparameters: {rows: [4], colour: [1]}\n",
     r"unknown parameter 'colour'; allowed: "),
    ("base: edge_8x8_ws\nparameters: {rows: []}\n", r"parameters\.rows must list at least"),
    ("base: edge_8x8_ws\nparameters: {rows: [four]}\n", r"parameters\.rows values must be int"),
    ("base: edge_8x8_ws\nextra: 1\nparameters: {rows: [4]}\n", r"unknown key 'extra'"),
])
def test_space_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(HardwareSpaceError, match=message):
        _space(tmp_path, text)


def test_setting_errors() -> None:
    with pytest.raises(DseError, match=r"must look like 'area_mm2<=2'"):
        Constraint.parse("area=2")
    with pytest.raises(DseError, match=r"metric must be one of"):
        Constraint.parse("luts<=2")
    with pytest.raises(DseError, match=r"objectives must be a non-empty list"):
        DseSettings(network="x", objectives=("speed",))


def test_a_candidate_that_cannot_run_is_stored_infeasible(tmp_path: Path) -> None:
    # each value is legal alone (checked at load); the pair is not: 16-bit products
    space = _space(tmp_path, "base: edge_8x8_ws\nparameters: {operand_bits: [16], "
                             "accumulator_bits: [24]}\n")
    st = _settings(max_designs=1)
    store = ResultStore(tmp_path / "s.sqlite", st.meta(space), resume=False)
    run_dse(space, _net(), st, store)
    (row,) = store.rows()
    assert row["feasible"] == 0 and "accumulator_bits (24) must be at least" in row["error"]


def test_dask_cluster_gives_the_same_designs(tmp_path: Path) -> None:
    import distributed  # dask[distributed] is a dependency: missing is a failure, not a skip
    space = _space(tmp_path)
    st = _settings(max_designs=4)
    local = ResultStore(tmp_path / "l.sqlite", st.meta(space), resume=False)
    run_dse(space, _net(), st, local)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        remote = ResultStore(tmp_path / "d.sqlite", st.meta(space), resume=False)
        run_dse(space, _net(), st, remote, scheduler=cluster.scheduler_address)
    key = lambda r: (r["key"], r["latency_ms"], r["energy_mj"], r["area_mm2"])  # noqa: E731
    assert sorted(map(key, local.rows())) == sorted(map(key, remote.rows()))
