"""The evolution's stopping rule (mapper.nest_search.PATIENCE): it ends after PATIENCE
generations that do not improve a legal best -- so an easy space stops far below the
budget -- but generations before any legal row is found do not count, so a tight space
keeps drawing until its budget is spent (a review's case: 0.1 % of rows legal, seed 2
raised "no legal mapping in 2000 evaluations" whatever the budget)."""

from __future__ import annotations

from dataflows.layer import Layer
from mapper.nest_search import PATIENCE, search
from sim.hier_cost import evaluate
from sim.hierarchy import Fanout, Hierarchy, StorageLevel

TIGHT = Hierarchy("tight", (StorageLevel("dram", temporal_dims=("Q", "R", "S", "N")),
                            Fanout("a", size=(2310,), dims=(("K",),)),
                            Fanout("b", size=(64,), dims=(("C",),)),
                            Fanout("c", size=(64,), dims=(("P",),)),
                            StorageLevel("buf", capacity_bytes=8, word_bits=8)))
LAYER = Layer("t", K=2310, C=64, P=64, Q=4, R=3, S=3)


def test_generations_without_a_legal_row_do_not_count() -> None:
    r = search(LAYER, TIGHT, max_evals=20000, seed=2)
    assert r.evaluations > 500 * (1 + PATIENCE)     # past where the old rule gave up
    assert evaluate(LAYER, TIGHT, r.mapping).legal


def test_an_easy_space_stops_early() -> None:
    easy = Hierarchy("easy", (StorageLevel("dram"), Fanout("f", size=(4,), dims=(("K",),)),
                              StorageLevel("buf", capacity_bytes=4096)))
    r = search(Layer("x", K=8, C=8), easy, max_evals=100_000, polish=False, seed=0)
    # the first population and PATIENCE generations that cannot improve the optimum
    assert r.evaluations <= 500 * (2 + PATIENCE)
