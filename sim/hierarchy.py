"""The N-level accelerator spec: storage levels of any depth and spatial fanouts between them.

A :class:`Hierarchy` is an ordered list, **outermost first**, of :class:`StorageLevel`
and :class:`Fanout` nodes ending at the MAC units (:class:`Compute`). The first node is
a storage level that keeps every operand (DRAM, usually unbounded); every storage level
keeps some operands and lets the others bypass it; a fanout replicates everything below
it ``prod(size)`` times (2 cores x 4 clusters x 8x8 PEs is three fanouts). Capacities,
bandwidths and energies are **per instance** of a level; the cost model
(:mod:`sim.hier_cost`) multiplies by the instance count (the product of the fanouts
above the level). Today's 3-level :class:`~sim.spec.Accelerator` is the special case
``dram, glb..., fanout(rows x cols), rf`` (:func:`from_accelerator`).

Where things live (this module re-exports them all): the runtime dataclasses in
:mod:`sim.hierarchy_nodes`, the YAML schema (pydantic models, one-line errors naming the
file, key path and line) with :func:`load_hierarchy` / :func:`dump_hierarchy` in
:mod:`sim.hierarchy_schema`, the 3-level conversion in :mod:`sim.hierarchy_convert`.

YAML schema (a file whose only top-level keys are ``hierarchy`` and optionally
``description``; loaded by :func:`load_hierarchy`, which also accepts every 3-level
spec of ``sim/specs`` and converts it; an unknown key, a level that keeps no operand, a
fanout of 0 or a capacity that cannot hold one word is an error such as
``h.yaml: hierarchy.levels[3].fanout.size[0] is 0; a fanout has at least one child
(give 1 or more) (line 12)``)::

    hierarchy:
      name: edge-2core-4cluster-8x8
      clock_mhz: 500                        # optional, default 200
      compute:                              # optional; the MAC units at the bottom
        mac_pj: 0.3                         #   energy per MAC (pJ), default 8-bit H14
        accumulator_bits: 32                #   partial sums move at this width
        psum_access: fused                  #   accumulator counts: fused (default),
                                            #   separate, separate_no_first_read
        overlap: double_buffered            #   fills of single-buffered levels stall the
                                            #   MACs (default); always: nothing stalls
      levels:                               # outermost first; items are one-key maps
        - storage:
            name: dram
            keeps: [weight, input, output]  # operands stored here; others bypass
            capacity_bytes: null            # null = unbounded (DRAM only)
            word_bits: 64
            read_bytes_per_cycle: 16        # per instance; .inf = never limits
            write_bytes_per_cycle: 16
            read_pj: 1300                   # pJ per word read (default: SRAM law of
            write_pj: 1300                  #   capacity/width, or DRAM 20.3 pJ/bit)
        - storage:
            name: l2
            keeps: [weight, input, output]
            capacity_bytes: 1048576         # shared by the kept operands, or per operand:
            word_bits: 128                  #   {weight: 524288, input: 262144, ...}
            double_buffered: true           # a tile may use half the capacity
            ports: 2                        # recorded for importers/area; the bandwidths
            banks: 8                        #   above are already the totals
            may_bypass: [input]             # optional: kept operands the mapper may
                                    #   leave out here (each choice is searched)
            value_bits: {output: 16}        # optional: bits this level stores an operand at
                                    #   (every access, spills included, and capacity;
                                    #   default: precision, partial sums at the
                                    #   accumulator width, finals into DRAM at output)
        - fanout:
            name: cores
            size: [2]                       # 1-D [n] or 2-D [rows, cols]
            dims: [K, P]                    # 1-D: dims allowed; 2-D: [[C], [K]] per axis
            multicast: [weight, input]      # operands a parent read broadcasts (or true)
            reduction: false                # partial sums summed across children?
        - storage: {name: l1, keeps: [weight, input, output], capacity_bytes: 65536,
                    word_bits: 64}
        - fanout: {name: clusters, size: [4], dims: [K, C], multicast: true,
                   reduction: true}
        - fanout: {name: pes, size: [8, 8], dims: [[C], [K]], multicast: true,
                   reduction: true}
        - storage:
            name: rf
            keeps: [weight, input, output]
            capacity_bytes: 16
            word_bits: 8
            streams: [input, output]        # held only while this level's own loops run
            temporal_dims: [N, P, Q]        # dims that may loop at this level (default all)

Semantics the cost model relies on: ``streams`` operands are pipeline registers (a
systolic PE's forwarded input/psum): they get no reuse across the parent's loops and
take no capacity. Loop dimensions are :data:`dataflows.dataflow.MAP_DIMS`
(G,N,K,C,P,Q,R,S; K and C per group).
"""

from __future__ import annotations

from sim.hierarchy_convert import from_accelerator
from sim.hierarchy_nodes import (DEFAULT_MAC_PJ, MAX_FANOUT, OVERLAP, PSUM_ACCESS, Compute, Fanout,
                                 Hierarchy, Node, StorageLevel)
from sim.hierarchy_schema import dump_hierarchy, hierarchy_from_dict, load_hierarchy

__all__ = ["DEFAULT_MAC_PJ", "MAX_FANOUT", "OVERLAP", "PSUM_ACCESS", "Compute", "Fanout",
           "Hierarchy", "Node",
           "StorageLevel", "dump_hierarchy", "from_accelerator", "hierarchy_from_dict",
           "load_hierarchy"]
