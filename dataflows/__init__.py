"""What is computed and how loops land on an array: layers, networks, dataflows, mappings."""

from dataflows.errors import CoforgeError
from dataflows.layer import (DIMS, Density, Layer, LayerError, Precision, attention_av,
                             attention_qk, conv, fc, gemm, passive)
from dataflows.dataflow import DATAFLOWS, Dataflow, get_dataflow
from dataflows.mapping import Mapping, MappingError
from dataflows.network import Network, NetworkError
from dataflows import zoo

__all__ = [
    "CoforgeError", "DATAFLOWS", "DIMS", "Dataflow", "Mapping", "MappingError", "Density",
    "Layer", "LayerError", "Network", "NetworkError", "Precision",
    "attention_av", "attention_qk", "conv", "fc", "gemm", "get_dataflow", "passive", "zoo",
]
