"""ONNX in and out: :func:`from_onnx` reads a model into a Network, :func:`to_onnx`
writes one back. The import lives in :mod:`dataflows.onnx_import`, the export in
:mod:`dataflows.onnx_export`; this module is the public entry point for both.
"""

from dataflows.onnx_export import to_onnx
from dataflows.onnx_import import SUPPORTED_OPS, OnnxImportError, from_onnx

__all__ = ["OnnxImportError", "SUPPORTED_OPS", "from_onnx", "to_onnx"]
