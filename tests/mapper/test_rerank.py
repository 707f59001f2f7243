"""Fidelity in search (issue 14 item 5): top-K search, cycle-model re-rank, the gap."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dataflows import Network, conv, fc
from mapper.cli import main
from mapper.dse import DseSettings, evaluate_design
from mapper.hw_space import load_hw_space
from mapper.network_map import map_network
from mapper.objective import Objective
from mapper.rerank import RerankError, gap_doc
from mapper.search import search
from sim.analytic import MappingBatch, evaluate_batch
from sim.simulate import simulate
from sim.spec_io import load_accelerator

ACC = load_accelerator("edge_8x8_ws")
#: A DRAM-bound fc layer on edge_8x8_ws whose analytic-best EDP mapping (a tie of many)
#: is not the cycle model's best among the top 8 (found by a search over small fc and
#: conv layers: the cycle model charges the first fill and the last write-back).
FC = fc("fc", 64, 64)


def _cycle(layer, mapping):  # noqa: ANN001, ANN202
    """The cycle model of one layer under ``mapping``, through the public simulate."""
    return simulate(layer, ACC, mapping=mapping, fidelity="cycle").layers[0]


def _edp(r) -> float:  # noqa: ANN001
    return float(r.total_cycles) * float(r.energy_pj)


def test_top_k_holds_distinct_best_mappings_with_their_analytic_scores() -> None:
    sr = search(FC, ACC, "exhaustive", "edp", 10**6, progress=False, top_k=8)
    assert len(sr.top) == 8
    assert sr.top[0] == (sr.best_score, sr.mapping)
    scores = [s for s, _ in sr.top]
    assert scores == sorted(scores)
    assert len({m for _, m in sr.top}) == 8
    arr = evaluate_batch(FC, ACC, MappingBatch.from_mappings([m for _, m in sr.top]),
                         "native", detail=False)
    want = Objective("edp").score(arr, np.ones(8, dtype=bool))
    assert np.allclose(want, scores, rtol=1e-12)
    # nothing outside the list scores below its last entry: the list is the top 8
    full = search(FC, ACC, "exhaustive", "edp", 10**6, progress=False, top_k=64)
    assert [s for s, _ in full.top[:8]] == scores


@pytest.mark.parametrize("strategy", ["annealing", "genetic", "random", "exhaustive"])
def test_top_k_does_not_change_the_search(strategy: str) -> None:
    layer = conv("c", 16, 32, 14, 3, padding=1)
    a = search(layer, ACC, strategy, "edp", 3000, seed=3, progress=False)
    b = search(layer, ACC, strategy, "edp", 3000, seed=3, progress=False, top_k=8)
    assert (a.best_score, a.mapping, a.evaluations, a.history) == \
        (b.best_score, b.mapping, b.evaluations, b.history)
    assert a.top == ((a.best_score, a.mapping),)
    assert b.top[0] == (b.best_score, b.mapping) and 1 < len(b.top) <= 8


def test_rerank_picks_the_cycle_best_of_the_top_k() -> None:
    net = Network.chain("n", [FC])
    plain = map_network(net, ACC, "exhaustive", "edp", 10**6, progress=False)
    mapped = map_network(net, ACC, "exhaustive", "edp", 10**6, progress=False,
                         rerank="cycle", top=8)
    top = mapped.searches[0].top
    assert len(top) == 8 and top[0][1] == plain.searches[0].mapping
    # independent brute force over the top-K list with sim.simulate
    runs = [_cycle(FC, m) for _, m in top]
    best = min(range(8), key=lambda i: (_edp(runs[i]), i))
    chosen = mapped.reranks[0].mapping
    assert chosen == top[best][1]
    assert chosen != plain.searches[0].mapping            # the case this layer was chosen for
    analytic_best_cycle = runs[0]
    assert mapped.cycle.layers[0].total_cycles == runs[best].total_cycles
    assert mapped.cycle.layers[0].total_cycles <= analytic_best_cycle.total_cycles
    assert _edp(mapped.cycle.layers[0]) < _edp(analytic_best_cycle)
    # the network's layers carry the chosen mapping, in both models
    assert mapped.result.layers[0].mapping == chosen.to_dict() == mapped.cycle.layers[0].mapping
    assert mapped.chosen is mapped.cycle and plain.chosen is plain.result


@pytest.mark.parametrize("objective", ["latency", "energy"])
def test_rerank_never_worse_on_the_cycle_model(objective: str) -> None:
    layer = conv("cv", 16, 16, 8, 3)
    net = Network.chain("n", [layer])
    plain = map_network(net, ACC, "annealing", objective, 2000, seed=1, progress=False,
                        cycle_check=True)
    mapped = map_network(net, ACC, "annealing", objective, 2000, seed=1, progress=False,
                         rerank="cycle", top=6)
    key = {"latency": lambda r: r.total_cycles, "energy": lambda r: r.energy_pj}[objective]
    assert key(mapped.cycle.layers[0]) <= key(plain.cycle.layers[0])
    assert plain.cycle.layers[0] == _cycle(layer, plain.searches[0].mapping)


def test_top_1_rerank_equals_no_rerank() -> None:
    net = Network.chain("n", [FC, conv("cv", 16, 16, 8, 3)])
    plain = map_network(net, ACC, "annealing", "edp", 1500, seed=4, progress=False,
                        cycle_check=True)
    one = map_network(net, ACC, "annealing", "edp", 1500, seed=4, progress=False,
                      rerank="cycle", top=1)
    assert one.result == plain.result and one.cycle == plain.cycle
    assert all(r.chosen == 0 and len(r.candidates) == 1 for r in one.reranks)


def test_gap_fields_match_an_independent_simulate() -> None:
    net = Network.chain("n", [FC, conv("c1", 16, 16, 8, 3), conv("c2", 16, 16, 8, 3)])
    mapped = map_network(net, ACC, "annealing", "latency", 1500, seed=0, progress=False,
                         rerank="cycle", top=4)
    by_shape = {r.layer: r.mapping for r in mapped.reranks}      # c2 is c1's shape
    assert sorted(by_shape) == ["c1", "fc"]
    given = {"fc": by_shape["fc"], "c1": by_shape["c1"], "c2": by_shape["c1"]}
    assert [r.mapping for r in mapped.result.layers] == [given[n].to_dict() for n in given]
    ana = simulate(net, ACC, mapping=given, fidelity="analytic")
    cyc = simulate(net, ACC, mapping=given, fidelity="cycle")
    doc = gap_doc(mapped.result, mapped.cycle, "cycle", 4)
    assert [g["name"] for g in doc["layers"]] == ["fc", "c1", "c2"]
    for g, a, c in zip(doc["layers"], ana.layers, cyc.layers):
        assert (g["analytic_cycles"], g["cycle_cycles"]) == (a.total_cycles, c.total_cycles)
        assert g["gap"] == pytest.approx(c.total_cycles / a.total_cycles - 1)
    assert doc["total"]["analytic_cycles"] == ana.total_cycles
    assert doc["total"]["cycle_cycles"] == cyc.total_cycles
    assert doc["rerank"] == "cycle" and doc["top"] == 4


def test_bad_rerank_arguments_are_one_line_errors() -> None:
    net = Network.chain("n", [FC])
    with pytest.raises(RerankError, match="rerank must be one of"):
        map_network(net, ACC, "random", max_evals=10, progress=False, rerank="rtl")
    with pytest.raises(RerankError, match="top"):
        map_network(net, ACC, "random", max_evals=10, progress=False, rerank="cycle", top=0)
    with pytest.raises(RerankError, match="rerank must be one of"):
        DseSettings(network="n", rerank="rtl")


def test_cli_map_reports_the_gap_and_reranks(capsys: pytest.CaptureFixture[str],
                                             tmp_path: Path) -> None:
    topo = tmp_path / "mnk.csv"
    topo.write_text("Layer Name, M, N, K,\nfc, 1, 64, 64,\ng2, 16, 32, 48,\n")
    out_dir = tmp_path / "out"
    assert main(["map", "--topology", str(topo), "--gemm", "--strategy", "exhaustive",
                 "--max-evals", "1000000", "--rerank", "cycle", "--top", "8",
                 "--out", str(out_dir)]) == 0
    out = capsys.readouterr().out
    assert "re-ranked the top 8 mappings" in out
    assert "analytic vs cycle model of the chosen mappings" in out
    doc = json.loads((out_dir / "result.json").read_text())
    gap = doc["fidelity_gap"]
    assert gap["rerank"] == "cycle" and gap["top"] == 8 and len(gap["shapes"]) == 2
    assert gap["total"]["analytic_cycles"] == doc["totals"]["total_cycles"]
    assert [g["analytic_cycles"] for g in gap["layers"]] == \
        [r["total_cycles"] for r in doc["layers"]]
    # without --rerank the gap is still reported
    assert main(["map", "--topology", str(topo), "--gemm", "--max-evals", "500",
                 "--out", str(tmp_path / "plain")]) == 0
    out = capsys.readouterr().out
    assert "analytic vs cycle model" in out and "re-ranked" not in out
    plain = json.loads((tmp_path / "plain" / "result.json").read_text())["fidelity_gap"]
    assert plain["rerank"] is None and plain["chosen_by"] == "analytic model"


@pytest.mark.parametrize("top", ["0", "x"])
def test_cli_top_must_be_positive(capsys: pytest.CaptureFixture[str], top: str) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["map", "--network", "alexnet", "--rerank", "cycle", "--top", top])
    assert exc.value.code == 2
    assert "--top" in capsys.readouterr().err


def test_dse_rerank_stores_cycle_model_metrics(tmp_path: Path) -> None:
    p = tmp_path / "space.yaml"
    p.write_text("base: edge_8x8_ws\nparameters:\n  rows: [8]\n  cols: [8]\n")
    space = load_hw_space(p)
    net = Network.chain("tiny", [FC, conv("cv", 16, 16, 8, 3)])
    space = space.for_network(net)
    base = dict(network="tiny", strategy="grid", max_designs=1, population=2,
                map_evals=500)
    plain = evaluate_design(space, (0, 0), net, DseSettings(**base))
    st = DseSettings(**base, rerank="cycle", rerank_top=4)
    row = evaluate_design(space, (0, 0), net, st)
    assert plain["analytic_cycles"] is None and row["feasible"] == 1
    assert st.meta(space)["rerank"] == "cycle" and "rerank" not in \
        DseSettings(**base).meta(space)
    clock = row["clock_mhz"]
    assert row["latency_ms"] == pytest.approx(row["cycle_cycles"] / (clock * 1e3))
    assert row["cycle_cycles"] >= row["analytic_cycles"] > 0


def test_dse_report_shows_the_gap_of_a_reranked_run(tmp_path) -> None:
    """report.txt gives each front design's analytic and cycle-model cycles and their
    relative gap, recomputed here from the stored columns."""
    from mapper.cli import main
    space = tmp_path / "s.yaml"
    space.write_text("base: edge_8x8_ws\nparameters: {rows: [4, 8]}\n")
    out = tmp_path / "o"
    from dataflows.dataset import shipped
    assert main(["dse", "--onnx", str(shipped("digits_cnn.onnx")), "--space", str(space),
                 "--strategy", "grid", "--max-designs", "2", "--map-evals", "30",
                 "--workers", "1", "--rerank", "cycle", "--top", "2", "--out", str(out)]) == 0
    import sqlite3
    db = sqlite3.connect(out / "dse.sqlite")
    rows = db.execute("SELECT analytic_cycles, cycle_cycles FROM designs").fetchall()
    db.close()
    text = (out / "report.txt").read_text()
    for a, c in rows:
        assert f"analytic {a:,} vs cycle model {c:,} cycles ({100 * (c - a) / a:+.1f} %)" in text
    assert "re-ranked with the cycle model" in text
