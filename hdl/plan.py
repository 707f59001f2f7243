"""From a GEMM (and optionally a :class:`~dataflows.mapping.Mapping`) to what the engine runs.

The engine executes exactly one family of mappings per dataflow (``R x C`` array):

* WS: ``rows={"C": min(K, R)}, cols={"K": min(N, C)}, pe={"P": M}``, folds
  ``C: ceil(K/R)`` and ``K: ceil(N/C)`` at the GLB or DRAM level;
* OS: ``rows={"P": min(M, R)}, cols={"K": min(N, C)}, pe={"C": K}``, folds
  ``P: ceil(M/R)`` and ``K: ceil(N/C)``.

(GEMM names: ``O[M x N] = A[M x K] . B[K x N]``; the layer is
``dataflows.layer.gemm(name, M, N, K)``, i.e. ``P = M``, ``C = K``, ``K = N``.)
The only freedom is the order of the two fold loops (dram loops outer, then glb
loops, outermost first), which becomes the engine's ``order`` input. Any other
mapping is refused with a one-line :class:`~hdl.params.HdlError`.
"""

from __future__ import annotations

from dataclasses import dataclass

from dataflows.layer import Layer, Precision, gemm
from dataflows.mapping import Mapping
from hdl.golden import busy_cycles, tile_counts
from hdl.params import CYCLE_COUNTER_BITS, HdlError, HdlParams
from sim.spec import Accelerator

_ROW_DIM = {"ws": "C", "os": "P"}
_STREAM_DIM = {"ws": "P", "os": "C"}
_COL_DIM = "K"


@dataclass(frozen=True)
class GemmPlan:
    """One GEMM on one engine: sizes, fold ``order`` (0: N fold outer) and its mapping."""

    params: HdlParams
    m: int
    k: int
    n: int
    order: int
    mapping: Mapping

    @property
    def rtl_busy_cycles(self) -> int:
        """The controller's busy period by construction (closed form)."""
        return busy_cycles(self.params, self.m, self.k, self.n)

    def layer(self, name: str = "gemm") -> Layer:
        """The GEMM as a :mod:`dataflows` layer, at the engine's operand width."""
        ob = self.params.operand_bits
        out_bits = next(b for b in (8, 16, 32) if b >= min(self.params.accumulator_bits, 32))
        return gemm(name, self.m, self.n, self.k,
                    precision=Precision(input_bits=ob, weight_bits=ob, output_bits=out_bits))


def _bounds(dataflow: str, m: int, k: int, n: int) -> dict[str, int]:
    return {"ws": {"C": k, "P": m}, "os": {"P": m, "C": k}}[dataflow] | {"K": n}


def canonical_mapping(params: HdlParams, m: int, k: int, n: int, order: int = 0) -> Mapping:
    """The engine's mapping of an ``M x K x N`` GEMM; folds at the GLB level, ``order``
    0 = N fold outer, 1 = row fold outer."""
    df = params.dataflow
    row, stream = _ROW_DIM[df], _STREAM_DIM[df]
    b = _bounds(df, m, k, n)
    rf, cf, _ = tile_counts(params, m, k, n)
    glb = {d: f for d, f in ((row, rf), (_COL_DIM, cf)) if f > 1}
    loops = [_COL_DIM, row] if order == 0 else [row, _COL_DIM]
    return Mapping.build(rows={row: min(b[row], params.rows)},
                         cols={_COL_DIM: min(n, params.cols)}, pe={stream: b[stream]},
                         glb=glb, order={"glb": loops})


def _fold_order(params: HdlParams, mapping: Mapping, m: int, k: int, n: int) -> int:
    """The engine ``order`` a mapping asks for; :class:`HdlError` if it is not the
    engine's mapping family."""
    df = params.dataflow
    row, stream = _ROW_DIM[df], _STREAM_DIM[df]
    want = canonical_mapping(params, m, k, n)
    if mapping.rows != want.rows or mapping.cols != want.cols:
        raise HdlError(f"the RTL {df} engine unrolls {row} on rows and K on columns as "
                       f"{want.to_dict()['spatial']}; the mapping has "
                       f"{mapping.to_dict()['spatial']}")
    if mapping.temporal[0] != want.temporal[0]:
        raise HdlError(f"the RTL {df} engine streams {stream} whole inside the PE level "
                       f"({want.to_dict()['temporal']['pe']}); the mapping has "
                       f"{mapping.to_dict()['temporal']['pe']}")
    rf, cf, _ = tile_counts(params, m, k, n)
    folds = {row: rf, _COL_DIM: cf}
    nest = [(d, mapping.factor(level, d)) for level in ("dram", "glb")
            for d in mapping.order[("pe", "glb", "dram").index(level)]
            if mapping.factor(level, d) > 1]
    dims = [d for d, _ in nest]
    if len(set(dims)) != len(dims) or any(d not in folds or f != folds[d] for d, f in nest) \
            or sorted(dims) != sorted(d for d, f in folds.items() if f > 1):
        raise HdlError(f"the RTL {df} engine loops over whole folds {folds} (each at one "
                       f"level, any order); the mapping has {nest}")
    return 1 if len(dims) == 2 and dims[0] == row else 0


def plan_gemm(params: HdlParams, m: int, k: int, n: int,
              mapping: Mapping | None = None) -> GemmPlan:
    """Validate an ``M x K x N`` GEMM (and mapping) against the engine's buffers and ports."""
    for name, v in (("M", m), ("K", k), ("N", n)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise HdlError(f"GEMM {name} must be a positive integer, not {v!r}")
        if v >= 1 << params.dim_bits:
            raise HdlError(f"GEMM {name}={v} exceeds the engine's {params.dim_bits}-bit "
                           f"size ports")
    rf, cf, _ = tile_counts(params, m, k, n)
    a_words = rf * (m if params.dataflow == "ws" else k)
    need = {"input (A)": (a_words, params.depth_a), "weight (B)": (cf * k, params.depth_b),
            "output (O)": (cf * m, params.depth_o)}
    for what, (words, depth) in need.items():
        if words > depth:
            raise HdlError(f"GEMM {m}x{k}x{n} (MxKxN) needs {words} words of the {what} "
                           f"buffer, which has {depth}; enlarge the GLB or split the GEMM")
    order = 0 if mapping is None else _fold_order(params, mapping, m, k, n)
    plan = GemmPlan(params, m, k, n, order,
                    mapping if mapping is not None else canonical_mapping(params, m, k, n))
    if plan.rtl_busy_cycles >= 1 << CYCLE_COUNTER_BITS:
        raise HdlError(f"GEMM {m}x{k}x{n} takes {plan.rtl_busy_cycles} cycles, more than "
                       f"the {CYCLE_COUNTER_BITS}-bit cycle counter holds")
    return plan


def sim_cycles(plan: GemmPlan, accel: Accelerator) -> int:
    """``sim.analytic.evaluate(..., timing="native").compute_cycles`` for this plan."""
    from sim.analytic import evaluate
    return evaluate(plan.layer(), accel, plan.mapping, timing="native").compute_cycles


def gemm_fits(params: HdlParams, m: int, k: int, n: int) -> bool:
    """Whether :func:`plan_gemm` accepts the GEMM (for test generators)."""
    try:
        plan_gemm(params, m, k, n)
    except HdlError:
        return False
    return True


def max_square_gemm(params: HdlParams) -> int:
    """Largest ``S`` such that an ``S x S x S`` GEMM fits (0 if none)."""
    lo = 0
    while gemm_fits(params, lo + 1, lo + 1, lo + 1) and lo < 4096:
        lo += 1
    return lo


__all__ = ["GemmPlan", "canonical_mapping", "gemm_fits", "max_square_gemm", "plan_gemm",
           "sim_cycles"]

