"""Compression operators: pure functions on tensors and layers (quantize, prune, factorize)."""
