"""Sparse engines: pruning helpers, compressed formats, and the engine model.

* :mod:`sim.sparse.pruning` -- deterministic magnitude, N:M, block and row pruning;
* :mod:`sim.sparse.formats` -- data + metadata bits of bitmap, CSR/CSC, RLE and N:M,
  for a tensor (exact) or a density (expected);
* :mod:`sim.sparse.engine` -- per-layer :class:`SparseProfile` (stored bits, effectual
  MACs) from tensors or densities, and the per-fold :func:`skip_schedule` of a
  skipping array with its load imbalance.

The analytic model (:mod:`sim.analytic`) applies the statistical profile; the cycle
model (:mod:`sim.cycle`) the tensor-driven one and the skipping schedule.
"""

from sim.sparse.engine import (GemmMasks, SkipSchedule, SparseModelError, SparseProfile,
                               TensorError, check_tensors, expected_max_binomial,
                               gemm_masks, skip_schedule, statistical_profile,
                               tensor_profile)
from sim.sparse.formats import (FORMATS, FormatError, FormatParams, StoredBits,
                                expected_bits, tensor_bits)
from sim.sparse.pruning import (PruningError, prune_blocks, prune_magnitude, prune_nm,
                                prune_rows)

__all__ = ["FORMATS", "FormatError", "FormatParams", "GemmMasks", "PruningError",
           "SkipSchedule", "SparseModelError", "SparseProfile", "StoredBits", "TensorError",
           "check_tensors", "expected_bits", "expected_max_binomial", "gemm_masks",
           "prune_blocks", "prune_magnitude", "prune_nm", "prune_rows", "skip_schedule",
           "statistical_profile", "tensor_bits", "tensor_profile"]
