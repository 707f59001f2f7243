"""One on-chip operand buffer: an ``amaranth.lib.memory.Memory`` of ``depth`` words of
``lanes`` elements, one lane-granular write port and one synchronous read port.

A simple-dual-port RAM with a registered read (data one cycle after the address,
held while ``r_en`` is low) and per-lane write enables is what FPGA block RAM
implements, so synthesis infers BRAM. A read and a write of the same address in one
cycle return the old word unless ``transparent`` (then the lanes being written read as
their new values; synthesis emulates that with a comparator and a mux behind the RAM).
The engine uses non-transparent ports and handles its one possible collision itself
(:mod:`hdl.top`), so the memory carries Yosys' ``no_rw_check`` attribute: without it
Yosys emulates the old-data collision behaviour with about one LUT and two flip-flops
per word bit (an 8x8 int8 engine: ~1k LUTs and ~1.5k FFs for nothing).
"""

from __future__ import annotations

from amaranth import Module, unsigned
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from hdl.params import MAX_DEPTH, HdlError


class OperandBuffer(wiring.Component):
    """``depth`` x (``lanes`` x ``lane_bits``) RAM. Ports: ``w_addr``, ``w_data``, ``w_en``
    (one bit per lane), ``r_addr``, ``r_en``, ``r_data`` (lane ``i`` = bits
    ``[i*lane_bits, (i+1)*lane_bits)``)."""

    def __init__(self, lanes: int, lane_bits: int, depth: int,
                 transparent: bool = False) -> None:
        for name, v, hi in (("lanes", lanes, 64), ("lane_bits", lane_bits, 64),
                            ("depth", depth, MAX_DEPTH)):
            if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= hi:
                raise HdlError(f"buffer {name} must be an integer in [1, {hi}], not {v!r}")
        self._lanes, self._lane_bits, self._depth = lanes, lane_bits, depth
        self._transparent = bool(transparent)
        aw = max(1, ceil_log2(depth))
        word = unsigned(lanes * lane_bits)
        super().__init__({"w_addr": In(aw), "w_data": In(word), "w_en": In(lanes),
                          "r_addr": In(aw), "r_en": In(1), "r_data": Out(word)})

    @property
    def lanes(self) -> int:
        return self._lanes

    @property
    def lane_bits(self) -> int:
        return self._lane_bits

    @property
    def depth(self) -> int:
        return self._depth

    @property
    def addr_bits(self) -> int:
        return max(1, ceil_log2(self._depth))

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.mem = mem = memory.Memory(
            shape=unsigned(self._lanes * self._lane_bits), depth=self._depth, init=[],
            attrs={"no_rw_check": 1})
        wp = mem.write_port(granularity=self._lane_bits)
        rp = mem.read_port(transparent_for=(wp,) if self._transparent else ())
        addr_w = len(wp.addr)
        m.d.comb += [wp.addr.eq(self.w_addr[:addr_w]), wp.data.eq(self.w_data),
                     wp.en.eq(self.w_en),
                     rp.addr.eq(self.r_addr[:addr_w]), rp.en.eq(self.r_en),
                     self.r_data.eq(rp.data)]
        return m


__all__ = ["OperandBuffer"]
