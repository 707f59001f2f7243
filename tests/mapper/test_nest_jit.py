"""mapper.nest_jit's compiled helpers equal the numpy rules they replace, row for row, on
random hierarchies and layers (imperfect factors: the rows the idle rule changes)."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from dataflows.layer import Layer
from mapper.nest_space import NestSpace
from sim.hierarchy import Hierarchy
from tests.sim.test_hierarchy_props import SETTINGS, hierarchies, layers


@SETTINGS
@given(hierarchies(), layers(), st.integers(0, 2**31))
def test_fix_idle_equals_numpy(hier: Hierarchy, layer: Layer, seed: int) -> None:
    space = NestSpace(layer, hier, imperfect=True)
    rng = np.random.default_rng(seed)
    g = space.random(rng, 40, fit=False)
    # unfixed rows: every factor of a random dimension scattered over its slots
    t, ax = g.temporal.copy(), g.axes.copy()
    t[:, :, rng.integers(0, 8)] *= rng.integers(1, 4, size=t.shape[:2])
    ax[:, :, :, rng.integers(0, 8)] *= rng.integers(1, 3, size=ax.shape[:3])
    a_t, a_ax, b_t, b_ax = t.copy(), ax.copy(), t.copy(), ax.copy()
    space._fix_idle(a_t, a_ax)                     # compiled
    space._fix_idle(b_t, b_ax, numpy=True)         # the numpy reference
    assert (a_t == b_t).all() and (a_ax == b_ax).all()


def test_fix_idle_hand_case() -> None:
    """K = 3 split 2 (dram loop) x 4 (fanout): the dram loop's second iteration would run
    K 4..7, all idle (8 - 8 // 2 = 4 >= 3), so K is looped whole at dram instead; K = 5
    keeps the split (4 < 5: its second iteration runs K 4)."""
    from sim.hierarchy import Fanout, StorageLevel
    hier = Hierarchy("h", (StorageLevel("dram"), Fanout("f", size=(4,), dims=(("K",),)),
                           StorageLevel("buf", capacity_bytes=4096)))
    for k, fixed in ((3, True), (5, False)):
        space = NestSpace(Layer("l", K=k, C=2), hier, imperfect=True)
        t = np.ones((1, 2, 8), dtype=np.int64)
        ax = np.ones((1, 1, 2, 8), dtype=np.int64)
        t[0, 0, 2], ax[0, 0, 0, 2] = 2, 4          # K: dram 2, fanout 4
        t[0, 0, 3] = 2                              # C: dram 2
        space._fix_idle(t, ax)
        assert (t[0, 0, 2], ax[0, 0, 0, 2]) == ((k, 1) if fixed else (2, 4))
        assert t[0, 0, 3] == 2                      # C untouched
