"""Dataflow templates: which loops go on array rows/columns and which operand stays put.

Mapping dimensions are the 7-D loop nest plus groups, with ``K`` and ``C`` counted
*per group* (see :data:`MAP_DIMS`). Systolic dataflows (``ws``, ``os``, ``is``) run a
convolution as its im2col-lowered GEMM (``P`` = output pixels ``N*P*Q``, ``C`` =
reduction ``C/G*R*S``, ``K`` = filters), exactly as SCALE-Sim and the generated RTL
do; row-stationary (``rs``, Eyeriss) keeps the convolution's own R/S/P/Q loops.
"""

from __future__ import annotations

from dataclasses import dataclass

from dataflows.errors import CoforgeError
from dataflows.layer import Layer

#: Loop dimensions of a mapping, outermost-canonical order. K and C are per group.
MAP_DIMS: tuple[str, ...] = ("G", "N", "K", "C", "P", "Q", "R", "S")
DIM_INDEX: dict[str, int] = {d: i for i, d in enumerate(MAP_DIMS)}

#: Operands and the loop dimensions each one's index depends on ("relevant" dims).
OPERANDS: tuple[str, ...] = ("weight", "input", "output")
RELEVANT: dict[str, frozenset[str]] = {
    "weight": frozenset({"G", "K", "C", "R", "S"}),
    "input": frozenset({"G", "N", "C", "P", "Q", "R", "S"}),
    "output": frozenset({"G", "N", "K", "P", "Q"}),
}


class DataflowError(CoforgeError):
    """An unknown dataflow name or a layer the dataflow cannot run."""


@dataclass(frozen=True)
class Dataflow:
    """A dataflow template.

    ``row_dims``/``col_dims``: dimensions that may be unrolled over array rows/columns.
    ``stream_dims``: dimensions iterated in time while the stationary tile stays in the
    PEs (irrelevant to the stationary operand). ``stationary``: operand held in a PE.
    ``lowered``: whether the layer runs as its im2col GEMM.
    """

    name: str
    long_name: str
    row_dims: tuple[str, ...]
    col_dims: tuple[str, ...]
    stream_dims: tuple[str, ...]
    stationary: str
    lowered: bool
    systolic: bool

    def map_view(self, layer: Layer) -> Layer:
        """The layer as this dataflow's array sees it (the im2col GEMM when lowered)."""
        return lower_to_gemm(layer) if self.lowered else layer

    def bounds(self, layer: Layer) -> dict[str, int]:
        """Loop bounds (per-group K and C) of ``layer`` in this dataflow's view."""
        return map_bounds(self.map_view(layer))


def map_bounds(layer: Layer) -> dict[str, int]:
    """Per-group loop bounds of a layer, keyed by :data:`MAP_DIMS`."""
    return {"G": layer.G, "N": layer.N, "K": layer.K // layer.G, "C": layer.C // layer.G,
            "P": layer.P, "Q": layer.Q, "R": layer.R, "S": layer.S}


def lower_to_gemm(layer: Layer) -> Layer:
    """im2col lowering: a conv becomes G GEMMs of Sr x T times T x Sc (stride 1, no halo).

    The lowered input is the im2col matrix (``Sr * T`` elements per group), which is
    what a systolic array streams and what SCALE-Sim counts.
    """
    if layer.N == layer.Q == layer.R == layer.S == 1 and layer.stride_h == 1 \
            and layer.dilation_h == 1 and layer.pad_h == 0:
        return layer
    groups, sr, t, sc = layer.gemm_shape
    kind = "conv" if layer.kind == "depthwise" else layer.kind   # now G GEMMs, not G == C
    return Layer(name=layer.name, kind=kind, N=1, K=sc * groups, C=t * groups, P=sr,
                 Q=1, R=1, S=1, G=groups, precision=layer.precision, density=layer.density)


DATAFLOWS: dict[str, Dataflow] = {
    "ws": Dataflow("ws", "weight stationary", row_dims=("C",), col_dims=("K",),
                   stream_dims=("N", "P", "Q"), stationary="weight", lowered=True,
                   systolic=True),
    "os": Dataflow("os", "output stationary", row_dims=("P",), col_dims=("K",),
                   stream_dims=("C", "R", "S"), stationary="output", lowered=True,
                   systolic=True),
    "is": Dataflow("is", "input stationary", row_dims=("C",), col_dims=("P",),
                   stream_dims=("K",), stationary="input", lowered=True, systolic=True),
    "rs": Dataflow("rs", "row stationary (Eyeriss)", row_dims=("R", "C"), col_dims=("P", "K"),
                   stream_dims=("S", "Q", "N"), stationary="weight", lowered=False,
                   systolic=False),
}


def get_dataflow(name: str) -> Dataflow:
    """Look a template up by its short name; the error lists the allowed names."""
    try:
        return DATAFLOWS[name]
    except KeyError:
        raise DataflowError(
            f"dataflow must be one of {sorted(DATAFLOWS)}, not {name!r}") from None
