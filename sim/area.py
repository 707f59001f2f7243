"""Silicon area of an accelerator (mm^2): PE datapaths, register files, SRAM buffers.

Sources and assumptions (every default is named here):

* [A14] Y. S. Shao et al., "Aladdin: a pre-RTL, power-performance accelerator
  simulator", ISCA 2014 -- its 40 nm standard-cell characterisation (the table the
  Accelergy "aladdin" plug-in ships): 32-bit integer multiplier 6351 um^2, 32-bit
  adder 278 um^2, one register bit 5.98 um^2.
* Multiplier area scales as (bits/32)^2 (array multiplier), adders linearly with width
  -- the same laws as the energy model (sim/energy.py).
* [I07] Intel 45 nm 6T SRAM bit cell, 0.346 um^2 (Mistry et al., IEDM 2007).
* ``SRAM_ARRAY_EFFICIENCY`` 0.7 -- an *assumption*: the fraction of a macro that is
  bit cells (decoders, sense amplifiers, I/O take the rest; CACTI reports 0.5-0.8 for
  the 8-256 KiB sizes used here). Register files up to ``RF_FLOP_MAX_BYTES`` are built
  from flip-flops (register-bit area), larger ones as SRAM.
* DRAM is off chip: zero area.
The numbers mix 40 and 45 nm; treat results as 40/45 nm estimates, for comparing
designs rather than for sign-off.
"""

from __future__ import annotations

from dataclasses import dataclass

from sim.spec import Accelerator, Buffer

MULT32_UM2 = 6351.0
ADD32_UM2 = 278.0
REG_BIT_UM2 = 5.98
SRAM_BITCELL_UM2 = 0.346
SRAM_ARRAY_EFFICIENCY = 0.7
RF_FLOP_MAX_BYTES = 64


@dataclass(frozen=True)
class AreaBreakdown:
    """Area per part (mm^2); ``total_mm2`` is their sum."""

    pe_datapath_mm2: float
    pe_rf_mm2: float
    glb_mm2: float

    @property
    def total_mm2(self) -> float:
        return self.pe_datapath_mm2 + self.pe_rf_mm2 + self.glb_mm2


def pe_datapath_um2(operand_bits: int, accumulator_bits: int, product_register: bool) -> float:
    """One PE: multiplier, accumulator adder, operand/partial-sum/product registers."""
    mult = MULT32_UM2 * (operand_bits / 32) ** 2
    add = ADD32_UM2 * accumulator_bits / 32
    reg_bits = 2 * operand_bits + accumulator_bits + (2 * operand_bits if product_register else 0)
    return mult + add + reg_bits * REG_BIT_UM2


def storage_um2(buf: Buffer) -> float:
    """A buffer's area: flip-flops when small, SRAM macro otherwise."""
    bits = buf.capacity_bytes * 8
    if buf.capacity_bytes <= RF_FLOP_MAX_BYTES:
        return bits * REG_BIT_UM2
    return bits * SRAM_BITCELL_UM2 / SRAM_ARRAY_EFFICIENCY


def area(accel: Accelerator) -> AreaBreakdown:
    """Area of ``accel``'s PE array and on-chip buffers (DRAM excluded)."""
    pe = pe_datapath_um2(accel.pe.operand_bits, accel.pe.accumulator_bits,
                         accel.pe.product_register)
    return AreaBreakdown(pe_datapath_mm2=accel.pes * pe / 1e6,
                         pe_rf_mm2=accel.pes * storage_um2(accel.rf) / 1e6,
                         glb_mm2=sum(storage_um2(b) for b in accel.glb) / 1e6)
