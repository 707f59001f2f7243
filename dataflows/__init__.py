"""What is computed and how loops land on an array: layers, networks, dataflows, mappings."""

from dataflows.errors import CoforgeError
from dataflows.layer import (DIMS, Density, Layer, LayerError, Precision, attention_av,
                             attention_qk, conv, fc, gemm, passive)
from dataflows.network import Network, NetworkError

__all__ = [
    "CoforgeError", "DIMS", "Density", "Layer", "LayerError", "Network", "NetworkError", "Precision",
    "attention_av", "attention_qk", "conv", "fc", "gemm", "passive",
]
