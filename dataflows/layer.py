"""One DNN layer as a 7-D convolution loop nest.

Every compute layer coforge knows is written in one vocabulary, the loop nest

    for n < N, for k < K, for c < C/G, for p < P, for q < Q, for r < R, for s < S:
        O[n, k, p, q] += I[n, g*C/G + c, p*stride_h + r*dil_h, q*stride_w + s*dil_w]
                         * W[k, c, r, s]          (g = k // (K/G))

with ``K`` and ``C`` the *total* output and input channels and ``G`` the groups.
Fully connected layers and GEMMs ``O[M x Nout] = A[M x Kred] . B[Kred x Nout]`` are
``P = M, C = Kred, K = Nout`` (all else 1); attention matmuls use groups for heads.
``macs`` is exact: ``N * K * (C / G) * P * Q * R * S``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from dataflows.errors import CoforgeError

#: The loop dimensions, in the canonical order used by mappings and arrays.
DIMS: tuple[str, ...] = ("N", "K", "C", "P", "Q", "R", "S")

#: Layer kinds. ``conv`` includes grouped convolutions; ``depthwise`` is groups == C.
KINDS: tuple[str, ...] = (
    "conv", "depthwise", "fc", "gemm", "matmul_qk", "matmul_av", "elementwise", "pool",
)
#: Kinds with zero MACs that only carry tensor shapes through a network graph.
PASSIVE_KINDS: frozenset[str] = frozenset({"elementwise", "pool"})

#: Operand bit widths coforge models (fp16 counts as 16-bit storage).
SUPPORTED_BITS: tuple[int, ...] = (2, 4, 8, 16, 32)


class LayerError(CoforgeError):
    """A layer definition breaks a rule; the message names the field and the fix."""


@dataclass(frozen=True)
class Precision:
    """Stored bit width of each operand (bits per element)."""

    input_bits: int = 8
    weight_bits: int = 8
    output_bits: int = 8

    def __post_init__(self) -> None:
        for name in ("input_bits", "weight_bits", "output_bits"):
            value = getattr(self, name)
            if value not in SUPPORTED_BITS:
                raise LayerError(
                    f"precision.{name} must be one of {list(SUPPORTED_BITS)}, not {value!r}"
                )


@dataclass(frozen=True)
class Density:
    """Fraction of nonzero elements per operand (1.0 = dense)."""

    input: float = 1.0
    weight: float = 1.0
    output: float = 1.0

    def __post_init__(self) -> None:
        for name in ("input", "weight", "output"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not 0.0 < float(value) <= 1.0:
                raise LayerError(f"density.{name} must be in (0, 1], not {value!r}")


@dataclass(frozen=True)
class Layer:
    """A compute layer (or a zero-MAC passive node). All sizes are element counts.

    ``H``/``W`` are the unpadded input height/width; ``P``/``Q`` the output height/width.
    Invariant: every loop bound is a positive int, ``G`` divides ``C`` and ``K``.
    """

    name: str
    kind: str = "conv"
    N: int = 1
    K: int = 1
    C: int = 1
    P: int = 1
    Q: int = 1
    R: int = 1
    S: int = 1
    G: int = 1
    H: int = 0
    W: int = 0
    stride_h: int = 1
    stride_w: int = 1
    dilation_h: int = 1
    dilation_w: int = 1
    pad_h: int = 0
    pad_w: int = 0
    precision: Precision = field(default_factory=Precision)
    density: Density = field(default_factory=Density)

    def __post_init__(self) -> None:
        where = f"layer {self.name!r}"
        if not isinstance(self.name, str) or not self.name:
            raise LayerError("layer name must be a non-empty string")
        if self.kind not in KINDS:
            raise LayerError(f"{where}: kind must be one of {list(KINDS)}, not {self.kind!r}")
        for dim in DIMS + ("G", "stride_h", "stride_w", "dilation_h", "dilation_w"):
            value = getattr(self, dim)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise LayerError(f"{where}: {dim} must be a positive integer, not {value!r}")
        for dim in ("pad_h", "pad_w", "H", "W"):
            value = getattr(self, dim)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise LayerError(f"{where}: {dim} must be a non-negative integer, not {value!r}")
        if self.C % self.G or self.K % self.G:
            raise LayerError(
                f"{where}: groups G={self.G} must divide C={self.C} and K={self.K}"
            )
        if self.kind == "depthwise" and self.G != self.C:
            raise LayerError(f"{where}: a depthwise layer needs G == C, got G={self.G}, C={self.C}")
        # Fill in the input extent when the caller gave only the output size.
        if self.H == 0:
            object.__setattr__(self, "H", self.needed_in_h - 2 * self.pad_h)
        if self.W == 0:
            object.__setattr__(self, "W", self.needed_in_w - 2 * self.pad_w)
        if self.H < 1 or self.W < 1:
            raise LayerError(f"{where}: padding ({self.pad_h}, {self.pad_w}) exceeds the input "
                             f"the output needs ({self.needed_in_h}x{self.needed_in_w}); "
                             f"reduce pad_h/pad_w or give H and W")
    # -- derived sizes -------------------------------------------------------------
    @property
    def macs(self) -> int:
        """Exact multiply-accumulate count (dense; density does not change it)."""
        if self.kind in PASSIVE_KINDS:
            return 0
        return self.N * self.K * (self.C // self.G) * self.P * self.Q * self.R * self.S

    @property
    def dims(self) -> dict[str, int]:
        """Loop bounds by name; ``C`` and ``K`` are the totals over all groups."""
        return {d: getattr(self, d) for d in DIMS} | {"G": self.G}

    @property
    def needed_in_h(self) -> int:
        """Input rows read (including padding): (P-1)*stride + (R-1)*dilation + 1."""
        return (self.P - 1) * self.stride_h + (self.R - 1) * self.dilation_h + 1

    @property
    def needed_in_w(self) -> int:
        """Input columns read (including padding)."""
        return (self.Q - 1) * self.stride_w + (self.S - 1) * self.dilation_w + 1

    @property
    def gemm_shape(self) -> tuple[int, int, int, int]:
        """Lowered (im2col) GEMM per group: (groups, Sr, T, Sc).

        ``Sr = N*P*Q`` output pixels, ``T = (C/G)*R*S`` reduction length,
        ``Sc = K/G`` filters -- the shape SCALE-Sim and a systolic array see.
        """
        return (self.G, self.N * self.P * self.Q, (self.C // self.G) * self.R * self.S,
                self.K // self.G)

    @property
    def weight_elems(self) -> int:
        """Elements of the second (weight-role) operand; for attention matmuls that is the
        K or V activation, for passive nodes it is meaningless."""
        return self.K * (self.C // self.G) * self.R * self.S

    @property
    def input_elems(self) -> int:
        """Number of input elements read, padding included."""
        return self.N * self.C * self.needed_in_h * self.needed_in_w

    @property
    def output_elems(self) -> int:
        """Number of output elements produced."""
        return self.N * self.K * self.P * self.Q

    def with_precision(self, **bits: int) -> "Layer":
        """Copy with some operand widths changed, e.g. ``weight_bits=4``."""
        return replace(self, precision=replace(self.precision, **bits))

    def with_density(self, **density: float) -> "Layer":
        """Copy with some operand densities changed, e.g. ``weight=0.5``."""
        return replace(self, density=replace(self.density, **density))

    def shape_key(self) -> tuple:
        """Everything but the name, as a sortable tuple: layers with equal keys cost the
        same, so a mapper searches each key once."""
        d = self.to_dict()
        d.pop("name")
        return tuple(sorted((k, str(v)) for k, v in d.items()))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (the ``dims`` block of ``zoo show``)."""
        return {
            "name": self.name, "kind": self.kind, "macs": self.macs,
            "dims": self.dims,
            "stride": [self.stride_h, self.stride_w],
            "dilation": [self.dilation_h, self.dilation_w],
            "padding": [self.pad_h, self.pad_w],
            "input_hw": [self.H, self.W],
            "precision": {"input_bits": self.precision.input_bits,
                          "weight_bits": self.precision.weight_bits,
                          "output_bits": self.precision.output_bits},
            "density": {"input": self.density.input, "weight": self.density.weight,
                        "output": self.density.output},
        }


# -- constructors -----------------------------------------------------------------------
def _out_size(extent: int, kernel: int, stride: int, pad: int, dilation: int,
              name: str, field_name: str) -> int:
    out = (extent + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1
    if out < 1:
        raise LayerError(
            f"layer {name!r}: {field_name}: kernel {kernel} (dilation {dilation}) does not fit "
            f"an input of {extent} with padding {pad}; enlarge the input or pad it"
        )
    return out


def conv(name: str, in_ch: int, out_ch: int, in_hw: int | tuple[int, int],
         kernel: int | tuple[int, int], stride: int | tuple[int, int] = 1,
         padding: int | tuple[int, int] = 0, dilation: int | tuple[int, int] = 1,
         groups: int = 1, batch: int = 1, precision: Precision | None = None,
         density: Density | None = None) -> Layer:
    """A 2-D convolution; output size follows PyTorch/ONNX floor rounding."""
    def pair(v: int | tuple[int, int]) -> tuple[int, int]:
        return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))

    (h, w), (r, s), (sh, sw) = pair(in_hw), pair(kernel), pair(stride)
    (ph, pw), (dh, dw) = pair(padding), pair(dilation)
    for label, v in (("in_hw", h), ("in_hw", w), ("kernel", r), ("kernel", s),
                     ("stride", sh), ("stride", sw), ("dilation", dh), ("dilation", dw),
                     ("in_ch", in_ch), ("out_ch", out_ch), ("groups", groups), ("batch", batch)):
        if not isinstance(v, int) or v < 1:
            raise LayerError(f"layer {name!r}: {label} must be a positive integer, not {v!r}")
    p = _out_size(h, r, sh, ph, dh, name, "height")
    q = _out_size(w, s, sw, pw, dw, name, "width")
    kind = "depthwise" if groups == in_ch and groups > 1 else "conv"
    return Layer(name=name, kind=kind, N=batch, K=out_ch, C=in_ch, P=p, Q=q, R=r, S=s,
                 G=groups, H=h, W=w, stride_h=sh, stride_w=sw, dilation_h=dh, dilation_w=dw,
                 pad_h=ph, pad_w=pw, precision=precision or Precision(),
                 density=density or Density())


def fc(name: str, in_features: int, out_features: int, batch: int = 1,
       precision: Precision | None = None, density: Density | None = None) -> Layer:
    """A fully connected layer: ``batch`` rows of ``in_features`` times a weight matrix."""
    return Layer(name=name, kind="fc", K=out_features, C=in_features, P=batch,
                 precision=precision or Precision(), density=density or Density())


def gemm(name: str, M: int, N: int, K: int, precision: Precision | None = None,
         density: Density | None = None) -> Layer:
    """``O[M x N] = A[M x K] . B[K x N]`` (B plays the weight role)."""
    return Layer(name=name, kind="gemm", K=N, C=K, P=M,
                 precision=precision or Precision(), density=density or Density())


def attention_qk(name: str, seq_len: int, head_dim: int, heads: int,
                 precision: Precision | None = None) -> Layer:
    """Scores ``Q . K^T`` per head: M = seq, reduction = head_dim, N = seq; heads as groups."""
    return Layer(name=name, kind="matmul_qk", K=heads * seq_len, C=heads * head_dim,
                 P=seq_len, G=heads, precision=precision or Precision())


def attention_av(name: str, seq_len: int, head_dim: int, heads: int,
                 precision: Precision | None = None) -> Layer:
    """Context ``softmax(S) . V`` per head: M = seq, reduction = seq, N = head_dim."""
    return Layer(name=name, kind="matmul_av", K=heads * head_dim, C=heads * seq_len,
                 P=seq_len, G=heads, precision=precision or Precision())


def passive(name: str, kind: str, channels: int, hw: int | tuple[int, int] = 1,
            batch: int = 1) -> Layer:
    """A zero-MAC node (elementwise add, pooling) that keeps graph shapes visible."""
    h, w = (hw, hw) if isinstance(hw, int) else hw
    if kind not in PASSIVE_KINDS:
        raise LayerError(f"layer {name!r}: passive kind must be one of "
                         f"{sorted(PASSIVE_KINDS)}, not {kind!r}")
    return Layer(name=name, kind=kind, N=batch, K=channels, C=channels, P=h, Q=w, G=channels)
