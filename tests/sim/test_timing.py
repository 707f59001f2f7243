"""The two timing conventions' per-tile overheads and their errors (sim/timing.py)."""

from __future__ import annotations

import pytest

from dataflows.dataflow import get_dataflow
from dataflows.errors import CoforgeError
from sim.timing import (TIMINGS, TimingError, check_timing, layer_offset_cycles,
                        tile_overhead_cycles)


def test_timings() -> None:
    assert TIMINGS == ("native", "scalesim")
    assert issubclass(TimingError, CoforgeError)


@pytest.mark.parametrize("rows, cols", [(1, 1), (4, 4), (3, 5), (32, 8)])
def test_native_overheads(rows: int, cols: int) -> None:
    for name in ("ws", "is", "os"):
        df = get_dataflow(name)
        assert tile_overhead_cycles("native", df, rows, cols) == 2 * rows + cols - 1
        assert tile_overhead_cycles("native", df, rows, cols, product_register=True) \
            == 2 * rows + cols
    # rs: only the vertical psum accumulation; the analytic model adds the preload words
    assert tile_overhead_cycles("native", get_dataflow("rs"), rows, cols) == rows - 1


@pytest.mark.parametrize("rows, cols", [(1, 1), (4, 4), (3, 5), (32, 8)])
def test_scalesim_overheads(rows: int, cols: int) -> None:
    assert tile_overhead_cycles("scalesim", get_dataflow("ws"), rows, cols) == 2 * rows + cols - 2
    assert tile_overhead_cycles("scalesim", get_dataflow("is"), rows, cols) == 2 * rows + cols - 2
    assert tile_overhead_cycles("scalesim", get_dataflow("os"), rows, cols) == rows + cols - 2
    # SCALE-Sim has no product register: the flag changes nothing
    assert tile_overhead_cycles("scalesim", get_dataflow("ws"), rows, cols, True) \
        == 2 * rows + cols - 2


def test_layer_offsets() -> None:
    assert layer_offset_cycles("native") == 0
    assert layer_offset_cycles("scalesim") == -1


def test_unknown_timing() -> None:
    with pytest.raises(TimingError, match=r"^timing must be one of \['native', 'scalesim'\], "
                                          r"not 'exact'$"):
        check_timing("exact", get_dataflow("ws"))
    with pytest.raises(TimingError, match=r"not 'exact'$"):
        tile_overhead_cycles("exact", get_dataflow("ws"), 4, 4)


def test_scalesim_does_not_cover_rs() -> None:
    with pytest.raises(TimingError, match=r"^timing 'scalesim' covers SCALE-Sim's ws/os/is "
                                          r"dataflows, not 'rs'; use --timing native$"):
        check_timing("scalesim", get_dataflow("rs"))
    for name in ("ws", "os", "is"):
        check_timing("scalesim", get_dataflow(name))
