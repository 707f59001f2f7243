"""RTL parameters derived from an :class:`~sim.spec.Accelerator`: one place, validated once.

:class:`HdlParams` is what every generator takes. It is built from a spec by
:meth:`HdlParams.from_accelerator`, which also sizes the on-chip buffers:

* one buffer (one ``amaranth.lib.memory.Memory``) per operand -- A (inputs, the
  streamed/row operand), B (weights) and O (outputs at accumulator width);
* an operand's buffer gets an equal byte share of the usable capacity of the GLB
  buffer that holds it in the spec (``Buffer.usable_bytes``: half of a double-buffered
  one -- the RTL does not overlap loading with compute, so it uses one half);
* a word is one array row/column of elements (A: ``rows`` lanes, B and O: ``cols``
  lanes), depth = share // word bytes, clamped to :data:`MAX_DEPTH` words.

A GEMM that does not fit these depths is rejected before simulation by
:func:`hdl.plan.plan_gemm` with the numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

from dataflows.errors import CoforgeError
# What the generator implements (dataflows, operand widths, largest side, deepest buffer,
# cycle-counter width) is defined once in sim.fpga_model, which sizes the same engine.
from sim.fpga_model import (CYCLE_COUNTER_BITS, ENGINE_KINDS, MAX_DEPTH, MAX_RTL_SIDE,
                            RTL_DATAFLOWS,
                            RTL_OPERAND_BITS, EngineGeometry)
from sim.spec import Accelerator


class HdlError(CoforgeError):
    """An accelerator, GEMM or mapping the RTL generator cannot build or run."""


def _check_int(name: str, value: object, lo: int, hi: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise HdlError(f"{name} must be an integer in [{lo}, {hi}], not {value!r}")


@dataclass(frozen=True)
class HdlParams(EngineGeometry):
    """Everything a generator needs: the engine's geometry (fields of
    :class:`sim.fpga_model.EngineGeometry`, which sizes the same engine for the FPGA
    model), validated on construction.

    ``depth_a``/``depth_b``/``depth_o`` are buffer depths in words (A word =
    ``rows`` operands, B word = ``cols`` operands, O word = ``cols`` accumulators).
    """

    def __post_init__(self) -> None:
        if self.dataflow not in RTL_DATAFLOWS:
            raise HdlError(f"dataflow must be one of {list(RTL_DATAFLOWS)} for RTL, "
                           f"not {self.dataflow!r}")
        _check_int("rows", self.rows, 1, MAX_RTL_SIDE)
        _check_int("cols", self.cols, 1, MAX_RTL_SIDE)
        if self.operand_bits not in RTL_OPERAND_BITS:
            raise HdlError(f"operand_bits must be one of {list(RTL_OPERAND_BITS)} for RTL, "
                           f"not {self.operand_bits!r}")
        _check_int("accumulator_bits", self.accumulator_bits, 2 * self.operand_bits, 64)
        if not isinstance(self.product_register, bool):
            raise HdlError(f"product_register must be True or False, "
                           f"not {self.product_register!r}")
        for name in ("depth_a", "depth_b", "depth_o"):
            _check_int(name, getattr(self, name), 1, MAX_DEPTH)
        if self.engine not in ENGINE_KINDS:
            raise HdlError(f"engine must be one of {list(ENGINE_KINDS)}, not {self.engine!r}")

    # -- derived -------------------------------------------------------------------
    @property
    def pipeline(self) -> int:
        """Extra MAC pipeline stages (1 with a product register)."""
        return 1 if self.product_register else 0

    @property
    def a_lanes(self) -> int:
        """Operands per A word (one per array row)."""
        return self.rows

    @property
    def b_lanes(self) -> int:
        """Operands per B word (one per array column)."""
        return self.cols

    @property
    def tile_overhead_cycles(self) -> int:
        """Cycles one stationary tile costs beyond its stream: ``2R + C - 1`` (+1)."""
        return 2 * self.rows + self.cols - 1 + self.pipeline

    def to_dict(self) -> dict[str, object]:
        """Plain data for the manifest."""
        return {"dataflow": self.dataflow, "rows": self.rows, "cols": self.cols,
                "operand_bits": self.operand_bits, "accumulator_bits": self.accumulator_bits,
                "product_register": self.product_register, "depth_a": self.depth_a,
                "depth_b": self.depth_b, "depth_o": self.depth_o, "dim_bits": self.dim_bits,
                "engine": self.engine, "nm_n": self.nm_n, "nm_m": self.nm_m}

    # -- construction from a spec -----------------------------------------------
    @classmethod
    def from_accelerator(cls, accel: Accelerator) -> "HdlParams":
        """Parameters of ``accel``; one-line :class:`HdlError` if the RTL cannot build it."""
        from sim.fpga_model import FpgaFitError, geometry
        try:                                # the one source of what the RTL can build
            g = geometry(accel)
        except FpgaFitError as err:
            raise HdlError(str(err)) from None
        return cls(dataflow=g.dataflow, rows=g.rows, cols=g.cols,
                   operand_bits=g.operand_bits, accumulator_bits=g.accumulator_bits,
                   product_register=g.product_register,
                   depth_a=g.depth_a, depth_b=g.depth_b, depth_o=g.depth_o,
                   engine=g.engine, nm_n=g.nm_n, nm_m=g.nm_m)


__all__ = ["CYCLE_COUNTER_BITS", "HdlError", "HdlParams", "MAX_DEPTH", "RTL_DATAFLOWS",
           "RTL_OPERAND_BITS"]
