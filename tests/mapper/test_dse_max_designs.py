"""``dse --max-designs`` is exact for NSGA-II (mapper/dse.py ``_nsga2``): the last
generation is cut at the max_designs-th distinct design (issue 14 item 4)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dataflows import Network, conv, fc
from mapper.dse import DseSettings, run_dse
from mapper.hw_space import load_hw_space
from mapper.store import ResultStore

# wide enough that NSGA-II's mating keeps finding new designs (in a 2x2x2x2 space pymoo
# stops itself when crossover and mutation of 0/1 genes give nothing new)
SPACE = """base: edge_8x8_ws
parameters:
  rows: [2, 4, 8, 16]
  cols: [2, 4, 8, 16]
  dataflow: [ws, os]
  glb_kib: [8, 16, 32, 64, 128]
"""


def _net() -> Network:
    net = Network("tiny")
    net.add(conv("a", 8, 16, 12, 3, padding=1))
    net.add(fc("fc", 16 * 144, 10))
    return net


@pytest.mark.parametrize("max_designs, population", [(10, 4), (3, 4)])
def test_nsga2_stops_exactly_at_max_designs(tmp_path: Path, max_designs: int,
                                            population: int) -> None:
    (tmp_path / "space.yaml").write_text(SPACE)
    space = load_hw_space(tmp_path / "space.yaml")
    st = DseSettings(network="tiny", strategy="nsga2", max_designs=max_designs,
                     population=population, map_evals=200)
    store = ResultStore(tmp_path / "s.sqlite", st.meta(space), resume=False)
    assert run_dse(space, _net(), st, store) == max_designs   # not rounded up to 12 / 4
    assert len(store.rows()) == max_designs
    store.close()
