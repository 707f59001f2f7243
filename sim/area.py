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
* Bit-fusion and bit-serial PEs (``pe.mode``): see :func:`pe_datapath_um2`; the
  bit-fusion shift-add tree cost is an assumption (``FUSION_TREE_NODE_BITS_PER_B``).
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
#: Bit-fusion shift-add tree node cost, in ``B``-bit adders per node (an assumption:
#: a node adds two shifted partial sums about ``B`` bits wide and muxes the shift).
FUSION_TREE_NODE_BITS_PER_B = 1


@dataclass(frozen=True)
class AreaBreakdown:
    """Area per part (mm^2); ``total_mm2`` is their sum."""

    pe_datapath_mm2: float
    pe_rf_mm2: float
    glb_mm2: float

    @property
    def total_mm2(self) -> float:
        return self.pe_datapath_mm2 + self.pe_rf_mm2 + self.glb_mm2


def pe_datapath_um2(operand_bits: int, accumulator_bits: int, product_register: bool,
                    mode: str = "fixed") -> float:
    """One PE: multiplier, accumulator adder, operand/partial-sum/product registers.

    ``mode`` (``pe.mode``, see :mod:`sim.datapath`), with ``B = operand_bits``:

    * ``fixed``: a ``B x B`` multiplier, the accumulator adder, two ``B``-bit operand
      registers, the accumulator register (+ a ``2B``-bit product register).
    * ``bitfusion``: the ``(B/2)^2`` 2x2 BitBricks have the partial-product cells of the
      ``B x B`` multiplier (counted as one); the fusion overhead is (a) operand registers
      as wide as the widest fused word, ``B^2/2`` bits each (``(B/2)^2`` 2-bit lanes),
      and (b) the mode-configurable shift-add tree, an *assumption*:
      ``(B/2)^2 - 1`` nodes, each costed as one ``B``-bit adder
      (:data:`FUSION_TREE_NODE_BITS_PER_B`).
    * ``bitserial``: no multiplier; one ``B``-bit shift-add adder, the accumulator
      adder, a ``B``-bit weight register, a ``B``-bit input shift register and the
      accumulator register (+ the ``2B``-bit product register).
    """
    b = operand_bits
    add = ADD32_UM2 * accumulator_bits / 32
    product_bits = 2 * b if product_register else 0
    if mode == "bitserial":
        shift_add = ADD32_UM2 * b / 32
        return shift_add + add + (2 * b + accumulator_bits + product_bits) * REG_BIT_UM2
    mult = MULT32_UM2 * (b / 32) ** 2
    if mode == "bitfusion":
        lanes = max(1, (b // 2) ** 2)
        tree = (lanes - 1) * ADD32_UM2 * FUSION_TREE_NODE_BITS_PER_B * b / 32
        operand_reg_bits = 2 * max(b, b * b // 2)
        return mult + tree + add + (operand_reg_bits + accumulator_bits + product_bits) \
            * REG_BIT_UM2
    reg_bits = 2 * b + accumulator_bits + product_bits
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
                         accel.pe.product_register, accel.pe.mode)
    return AreaBreakdown(pe_datapath_mm2=accel.pes * pe / 1e6,
                         pe_rf_mm2=accel.pes * storage_um2(accel.rf) / 1e6,
                         glb_mm2=sum(storage_um2(b) for b in accel.glb) / 1e6)
