"""Default energy costs, each with its source. All figures are 45 nm, in pJ.

Sources
-------
* [H14] M. Horowitz, "Computing's energy problem (and what we can do about it)",
  ISSCC 2014, Fig. 1.1.9 (45 nm, 0.9 V): 8-bit integer multiply 0.2 pJ, 32-bit
  integer multiply 3.1 pJ; 8-bit add 0.03 pJ, 32-bit add 0.1 pJ; 64-bit SRAM read
  10 pJ (8 KB), 20 pJ (32 KB), 100 pJ (1 MB); DRAM 1.3-2.6 nJ per 64-bit access.
* [C16] Y.-H. Chen et al., "Eyeriss: A Spatial Architecture for Energy-Efficient
  Dataflow for CNNs", ISCA 2016, Table IV: normalised access energy RF 1x, PE-to-PE
  2x, global buffer 6x, DRAM 200x (relative to one 16-bit MAC). Used as the sanity
  check in tests (DRAM/MAC and buffer/RF ratios), not as the model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from dataflows.errors import CoforgeError

#: Integer multiplier energy per operation by operand width (bits -> pJ).
#: 8 and 32 bits are [H14] measurements; 2, 4 and 16 scale [H14]'s 8-bit figure by
#: (bits/8)^2, the area/energy law of an array multiplier (3.2 pJ predicted at 32 bits
#: against 3.1 measured).
DEFAULT_MULT_PJ: dict[int, float] = {2: 0.0125, 4: 0.05, 8: 0.2, 16: 0.8, 32: 3.1}

#: Adder energy per accumulator bit: [H14] 32-bit add 0.1 pJ -> 0.1/32 pJ per bit.
DEFAULT_ADD_PJ_PER_BIT: float = 0.1 / 32

#: SRAM read energy of one 64-bit word in an 8 KiB array, [H14].
SRAM_64B_8KIB_PJ: float = 10.0

#: DRAM energy per bit: [H14] low end, 1.3 nJ per 64-bit access = 20.3 pJ/bit.
DEFAULT_DRAM_PJ_PER_BIT: float = 1300.0 / 64


class EnergyError(CoforgeError):
    """An energy table entry is missing or invalid."""


def sram_access_pj(capacity_bytes: int, word_bits: int) -> float:
    """Energy of one access (read or write) of ``word_bits`` to an SRAM of that size.

    ``10 pJ * (word_bits / 64) * sqrt(capacity / 8 KiB)`` -- the square-root law of
    bitline length fitted to [H14]'s three points: it gives 10 pJ at 8 KiB, 20 pJ at
    32 KiB (exact) and 113 pJ at 1 MiB (13 % above [H14]'s 100 pJ). Capacities below
    one word are clamped to one word (a register).
    """
    cap = max(capacity_bytes, word_bits / 8)
    return SRAM_64B_8KIB_PJ * (word_bits / 64) * math.sqrt(cap / 8192)


@dataclass(frozen=True)
class EnergyTable:
    """Per-operation energies (pJ). ``mult_pj`` keys are operand widths in bits."""

    mult_pj: dict[int, float] = field(default_factory=lambda: dict(DEFAULT_MULT_PJ))
    add_pj_per_bit: float = DEFAULT_ADD_PJ_PER_BIT
    dram_pj_per_bit: float = DEFAULT_DRAM_PJ_PER_BIT

    def __post_init__(self) -> None:
        for bits, pj in self.mult_pj.items():
            if not isinstance(bits, int) or isinstance(bits, bool) or bits < 1 \
                    or isinstance(pj, bool) or not isinstance(pj, (int, float)) or pj < 0:
                raise EnergyError(f"energy.mult_pj entries must be <bits>: <pJ >= 0>, "
                                  f"got {bits!r}: {pj!r}")
        for name in ("add_pj_per_bit", "dram_pj_per_bit"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise EnergyError(f"energy.{name} must be a number >= 0, not {value!r}")

    def mac_pj(self, operand_bits: int, accumulator_bits: int) -> float:
        """One MAC: a multiply at the wider operand width plus an accumulator add."""
        try:
            mult = self.mult_pj[operand_bits]
        except KeyError:
            raise EnergyError(f"energy.mult_pj has no entry for {operand_bits}-bit operands; "
                              f"add one (have {sorted(self.mult_pj)})") from None
        return mult + self.add_pj_per_bit * accumulator_bits

    def product_pj(self, a_bits: int, b_bits: int) -> float:
        """One ``a_bits x b_bits`` multiply: the table's square entry at the wider width
        scaled by ``narrow / wide`` -- an ``a x b`` array multiplier has ``a * b``
        partial-product cells, the square one ``wide^2`` (the same law as the table's
        own ``(bits/8)^2`` scaling). Equal widths give ``mult_pj[bits]`` exactly."""
        wide, narrow = max(a_bits, b_bits), min(a_bits, b_bits)
        try:
            mult = self.mult_pj[wide]
        except KeyError:
            raise EnergyError(f"energy.mult_pj has no entry for {wide}-bit operands; "
                              f"add one (have {sorted(self.mult_pj)})") from None
        return mult * narrow / wide

    def add_pj(self, bits: int) -> float:
        """One ``bits``-wide add (ripple adder: energy linear in width)."""
        return self.add_pj_per_bit * bits
