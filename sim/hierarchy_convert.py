"""The 3-level :class:`~sim.spec.Accelerator` as the special case of a
:class:`~sim.hierarchy.Hierarchy` (``dram, glb..., fanout(rows x cols), rf``)."""

from __future__ import annotations

from dataflows.dataflow import OPERANDS, get_dataflow
from sim.hierarchy_nodes import Compute, Fanout, Hierarchy, Node, StorageLevel
from sim.spec import Accelerator


def from_accelerator(accel: Accelerator) -> Hierarchy:
    """The :class:`Hierarchy` equivalent to a 3-level :class:`~sim.spec.Accelerator`.

    ``dram`` (unbounded, keeps all) -> one level per GLB (outermost first in spec order;
    each keeps its operands, the others bypass it) -> the ``array`` fanout
    ``rows x cols`` (dims of the dataflow's rows/cols, multicast of every operand --
    systolic forwarding -- and spatial reduction of partial sums down the columns) ->
    ``rf`` per PE (keeps all; the non-stationary operands only ``stream`` through it;
    only the dataflow's stream dims loop there). Per-word energies are the spec's
    pJ/bit x word width (DRAM: the energy table's ``dram_pj_per_bit``).
    """
    df = get_dataflow(accel.dataflow)
    dram = accel.dram
    dram_pj = accel.energy.dram_pj_per_bit * dram.word_bits
    nodes: list[Node] = [StorageLevel(
        name="dram", keeps=OPERANDS, capacity_bytes=None, word_bits=dram.word_bits,
        read_bytes_per_cycle=dram.read_bytes_per_cycle,
        write_bytes_per_cycle=dram.write_bytes_per_cycle, double_buffered=False,
        read_pj=dram_pj, write_pj=dram_pj)]
    names = {"dram", "array", "rf"}
    for buf in accel.glb:
        pj = buf.pj_per_bit() * buf.word_bits
        name = buf.name if buf.name not in names else f"glb_{buf.name}"
        names.add(name)
        nodes.append(StorageLevel(
            name=name, keeps=buf.operands, capacity_bytes=buf.capacity_bytes,
            word_bits=buf.word_bits, read_bytes_per_cycle=buf.read_bytes_per_cycle,
            write_bytes_per_cycle=buf.write_bytes_per_cycle,
            double_buffered=buf.double_buffered, read_pj=pj, write_pj=pj))
    nodes.append(Fanout(name="array", size=(accel.rows, accel.cols),
                        dims=(df.row_dims, df.col_dims), multicast=OPERANDS, reduction=True))
    rf = accel.rf
    rf_pj = rf.pj_per_bit() * rf.word_bits
    rf_bits = max(rf.word_bits, 1)
    nodes.append(StorageLevel(
        name="rf", keeps=OPERANDS, capacity_bytes=max(rf.capacity_bytes, -(-rf_bits // 8)),
        word_bits=rf.word_bits, read_bytes_per_cycle=rf.read_bytes_per_cycle,
        write_bytes_per_cycle=rf.write_bytes_per_cycle, double_buffered=False,
        read_pj=rf_pj, write_pj=rf_pj,
        streams=tuple(o for o in OPERANDS if o != df.stationary),
        temporal_dims=df.stream_dims))
    return Hierarchy(name=accel.name, nodes=tuple(nodes),
                     compute=Compute(mac_pj=accel.energy.mac_pj(accel.pe.operand_bits,
                                                                accel.pe.accumulator_bits),
                                     accumulator_bits=accel.pe.accumulator_bits),
                     clock_mhz=accel.clock_mhz, description=accel.description)


__all__ = ["from_accelerator"]
