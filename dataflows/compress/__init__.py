"""Compression operators: pure functions on tensors and layers (quantize, prune, factorize).

* :mod:`dataflows.compress.quantize` -- :class:`~dataflows.compress.quantize.QuantParams`,
  weight/activation calibration (min-max, percentile, MSE; per-tensor or per-channel,
  symmetric or asymmetric), a batch-wise ``Observer``, ``quantize``/``dequantize``/``fake_quant``;
* :mod:`dataflows.compress.prune` -- magnitude, N:M, block/buffer-tile, row, row-scale
  kernel and Scalpel group masks, and filter/channel removal that shrinks arrays and layers;
* :mod:`dataflows.compress.lowrank` -- SVD, Tucker-2 and spatial separation, and the
  factorized workload layers.

Names are imported from the submodules (``from dataflows.compress.quantize import
quantize``); this package does not re-export them, so ``dataflows.compress.quantize``
stays the module.
"""
