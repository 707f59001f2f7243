"""Timing conventions: what one stationary tile costs on top of its stream.

Both conventions share one structure. A layer's compute cycles are

    compute_cycles = tiles * overhead(dataflow, R, C) + iterations + layer_offset

where ``iterations`` is the product of every temporal loop factor of the mapping
(one wavefront enters the array per cycle), ``tiles`` is the number of times the
stationary tile changes (the loads of the stationary operand into the PEs), and
``R x C`` is the *physical* array (skew and de-skew chains span the whole array even
when a fold uses part of it).

``native`` -- the convention coforge's generated RTL reproduces cycle for cycle:

* ws / is: preload R cycles (one row of the stationary operand per cycle down the
  columns) + stream + R + C - 1 cycles for the skewed wavefront to leave the array
  => overhead ``2R + C - 1``; ``+1`` with a PE product register.
* os: stream + R + C - 1 skew + R cycles to shift the finished outputs out
  => overhead ``2R + C - 1``; ``+1`` with a product register.
* rs: the PE's filter-row words are preloaded one per cycle (``pe_weight_words``),
  then ``R - 1`` cycles of vertical partial-sum accumulation => overhead
  ``pe_weight_words + R - 1``.
* layer_offset 0.

``scalesim`` -- reproduces SCALE-Sim v3.0.0's "Total Cycles" (its compute cycles),
fitted to and checked against 525 CALC-bandwidth runs of SCALE-Sim itself
(``tests/data/scalesim_3.0.0_reference.json``):

* ws / is: overhead ``2R + C - 2`` per fold; os: ``R + C - 2`` per fold
  (SCALE-Sim's OS has no separate output drain), layer_offset ``-1``.
* rs is not a SCALE-Sim dataflow: requesting it is an error.
"""

from __future__ import annotations

from dataflows.dataflow import Dataflow
from dataflows.errors import CoforgeError

TIMINGS: tuple[str, ...] = ("native", "scalesim")


class TimingError(CoforgeError):
    """Unknown timing convention, or one that does not cover the dataflow."""


def check_timing(timing: str, dataflow: Dataflow) -> None:
    """Raise unless ``timing`` is known and covers ``dataflow``."""
    if timing not in TIMINGS:
        raise TimingError(f"timing must be one of {list(TIMINGS)}, not {timing!r}")
    if timing == "scalesim" and not dataflow.systolic:
        raise TimingError(f"timing 'scalesim' covers SCALE-Sim's ws/os/is dataflows, not "
                          f"{dataflow.name!r}; use --timing native")


def tile_overhead_cycles(timing: str, dataflow: Dataflow, rows: int, cols: int,
                         product_register: bool = False) -> int:
    """Cycles each stationary-tile change adds beyond its stream (systolic dataflows).

    For ``rs`` this returns the part independent of the mapping (``R - 1``); the
    analytic model adds the per-PE preload words.
    """
    check_timing(timing, dataflow)
    if timing == "scalesim":
        return rows + cols - 2 if dataflow.name == "os" else 2 * rows + cols - 2
    if not dataflow.systolic:
        return rows - 1
    return 2 * rows + cols - 1 + (1 if product_register else 0)


def layer_offset_cycles(timing: str) -> int:
    """Constant added once per layer (SCALE-Sim counts from cycle 0 to the last cycle)."""
    return -1 if timing == "scalesim" else 0
