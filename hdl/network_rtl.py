"""A whole quantized network run layer by layer on the generated RTL (issue 12 item 4).

:func:`run_network_on_rtl` takes a :class:`sim.int_network.QuantizedModel`, an
accelerator spec and ``N`` samples, and runs every node of the integer graph in graph
order. The input of each node is what the *previous RTL layers* produced (never the
reference's tensors), so one wrong bit anywhere propagates to the end:

* **MAC nodes** (Conv, Gemm) are lowered to GEMMs on the host and the GEMMs run on the
  engine (:mod:`hdl.sim_amaranth` or cocotb + Icarus, :mod:`hdl.cocotb_run`):

  - Conv: im2col of the integer input padded with the input zero point
    (:func:`sim.intref.im2col`; rows are output pixels ``(n, p, q)`` of all samples,
    columns ``(c, r, s)``), ``B = w.reshape(K, -1).T``. A grouped/depthwise conv is
    **one GEMM per group** (``N*P*Q x C/G*R*S x K/G``), not a block-diagonal GEMM:
    the block-diagonal form would multiply ``G - 1`` of every ``G`` weights as zeros
    and cost ``G`` times the cycles.
  - Gemm: ``A = x`` (``N x C``), ``B = weight_q.T``.
  - A GEMM the engine's buffers or size ports refuse (:func:`hdl.plan.plan_gemm`) is
    split by :func:`split_gemm` into engine-sized calls: M and N freely (disjoint
    output blocks), K into parts whose raw products the host adds in wrapping
    ``accumulator_bits`` arithmetic (wrapping is reduction modulo ``2**bits``, so the
    sum of wrapped partials wrapped again equals the wrapped whole). The split chosen
    has the fewest calls, then the fewest busy cycles, among part sizes that are
    balanced or multiples of the array dimension the part is unrolled on.
  - All calls of one layer go to ONE simulator run (a list of cases), with no idle
    input cycles and no output backpressure.
  - The engine computes the raw ``A . B`` (no zero point); the host adds
    ``bias - z_x * colsum(B)`` per output channel, wraps at the accumulator, and
    requantizes with the layer's multiplier, shift, output zero point and fused clamp
    (:func:`sim.intref.requantize`).
* **Other nodes** (pooling, Add, Flatten, Relu/Clip not fused, Softmax at the end) run
  on the host with the integer engine's own step (:func:`sim.int_network.run_node`).

Every tensor (each MAC layer's input, accumulator and output, every other node's
output) is compared with :func:`sim.int_network.integer_trace` on the same samples.

Cycles per MAC layer: ``rtl_cycles`` is the sum over its GEMM calls of the cycles the
DUT's own counter measured from start to done; ``sim_cycles`` is the sum over the same
calls of the cycle model's figure for the engine kind (:mod:`hdl.network_engines`: the
dense engine's :func:`hdl.plan.sim_cycles`, ``sim.analytic.evaluate(...,
timing="native").compute_cycles`` with the canonical mapping; the bit-serial,
bit-fusion and N:M engines' ``expected_cycles`` at the layer's quantized widths, on
the call's real weights for N:M). Every engine kind runs a whole network: bit-serial
at the layer's input width, bit-fusion at its (weight, input) widths, N:M when the
weights are N:M along the reduction (else a one-line refusal). Host work
(im2col, corrections, requantization, non-MAC nodes) and the operand/result streaming
are not counted in either.

Top-1 is the fraction of samples whose largest final output (first on ties) equals the
label, for the RTL pipeline (``rtl_top1``) and the integer reference (``sim_top1``).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil
from pathlib import Path
from typing import Any, Callable

import numpy as np

from dataflows.onnx_model import Conv, Gemm
from hdl.driver import GemmCase, RunResult
from hdl.golden import busy_cycles
from hdl.network_engines import EngineCalls, check_operands, engine_calls
from hdl.params import CYCLE_COUNTER_BITS, HdlError, HdlParams
from hdl.plan import GemmPlan, gemm_fits, plan_gemm
from hdl.verify import BACKENDS, run_cases     # the one backend dispatch
from sim import intref
from sim.int_network import QuantizedModel, integer_trace, mac_input, quantize_input, run_node
from sim.spec import Accelerator



@dataclass(frozen=True)
class GemmTile:
    """One engine call of a split GEMM: the ``m x k x n`` block starting at
    ``(m0, k0, n0)``; ``plan``: the dense engine's :class:`GemmPlan` (None on the other
    kinds, which plan their own schedule)."""

    m0: int
    k0: int
    n0: int
    m: int
    k: int
    n: int
    order: int = 0
    plan: GemmPlan | None = None

    @property
    def rows(self) -> slice:
        return slice(self.m0, self.m0 + self.m)

    @property
    def depth(self) -> slice:
        return slice(self.k0, self.k0 + self.k)

    @property
    def cols(self) -> slice:
        return slice(self.n0, self.n0 + self.n)


def _dense_tile(m0: int, k0: int, n0: int, plan: GemmPlan) -> GemmTile:
    return GemmTile(m0, k0, n0, plan.m, plan.k, plan.n, plan.order, plan)


def _part_sizes(x: int, unit: int) -> list[int]:
    """Candidate part sizes of a dimension of ``x``: the balanced ``ceil(x / s)`` and
    the multiples of the array's ``unit`` along it, largest first."""
    sizes = {ceil(x / s) for s in range(1, x + 1)} | set(range(unit, x, unit))
    return sorted(sizes, reverse=True)


def _max_m_bound(params: HdlParams, m: int, k: int, n: int) -> int:
    """Largest ``mt <= m`` that :func:`plan_gemm`'s limits (buffer words, size ports,
    cycle counter) admit with ``k`` and ``n``, in closed form (0 if none)."""
    top = (1 << params.dim_bits) - 1
    cycles = (1 << CYCLE_COUNTER_BITS) - 1
    cf = ceil(n / params.cols)
    if k > top or n > top or cf * k > params.depth_b:
        return 0
    if params.dataflow == "ws":
        rf = ceil(k / params.rows)
        bound = min(params.depth_a // rf, params.depth_o // cf,
                    cycles // (rf * cf) - params.tile_overhead_cycles)
    else:
        row_folds = min(params.depth_a // k, cycles // (cf * (k + params.tile_overhead_cycles)))
        bound = min(row_folds * params.rows, params.depth_o // cf)
    return max(0, min(m, top, bound))


def _max_m(params: HdlParams, m: int, k: int, n: int,
           fits: Callable[[int, int, int], bool] | None = None) -> int:
    """Largest ``mt <= m`` that ``fits`` (default :func:`plan_gemm`'s limits) accepts
    with ``k`` and ``n`` (0 if none), by bisection (the limits only grow with M)."""
    fits = fits or (lambda mm, kk, nn: gemm_fits(params, mm, kk, nn))
    if not fits(1, k, n):
        return 0
    lo, hi = 1, m
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(mid, k, n):
            lo = mid
        else:
            hi = mid - 1
    return lo


def _parts(x: int, size: int) -> list[tuple[int, int]]:
    """``x`` in chunks of ``size`` (the last one shorter): (start, length)."""
    return [(start, min(size, x - start)) for start in range(0, x, size)]


def _chunks(x: int, size: int) -> list[tuple[int, int]]:
    """The distinct chunk lengths of :func:`_parts` with their counts."""
    full, rest = divmod(x, size)
    return [(size, full)] + ([(rest, 1)] if rest else [])


def split_gemm(params: HdlParams, m: int, k: int, n: int,
               calls: EngineCalls | None = None) -> list[GemmTile]:
    """An ``M x K x N`` GEMM as engine-sized calls (one call if the engine accepts it
    whole): among part sizes that are balanced or multiples of the array dimension they
    unroll on, the fewest calls, then the fewest busy cycles
    (:func:`hdl.golden.busy_cycles`); :class:`HdlError` if not even a ``1 x 1 x 1``
    GEMM fits. ``calls``: a non-dense engine's limits
    (:func:`hdl.network_engines.engine_calls`; K parts in multiples of its ``k_unit``);
    default the dense engine's (:func:`plan_gemm`)."""
    if calls is not None and calls.kind != "dense":
        return _split_engine(params, m, k, n, calls)
    if gemm_fits(params, m, k, n):
        return [_dense_tile(0, 0, 0, plan_gemm(params, m, k, n))]
    sizes = _best_sizes(params, m, k, n, _max_m_bound)
    tiles = _tiles(params, m, k, n, sizes)
    if tiles is None:               # the closed form disagrees with plan_gemm: bisect
        tiles = _tiles(params, m, k, n, _best_sizes(params, m, k, n, _max_m))
    if tiles is None:
        raise HdlError(f"GEMM {m}x{k}x{n} (MxKxN): the engine cannot take even a 1x1x1 "
                       "part of it; enlarge the GLB")
    return tiles


def _split_engine(params: HdlParams, m: int, k: int, n: int,
                  calls: EngineCalls) -> list[GemmTile]:
    """:func:`split_gemm` on a non-dense engine: its own ``fits``, bisection for M."""
    if calls.fits(m, k, n):
        return [GemmTile(0, 0, 0, m, k, n)]
    sizes = _best_sizes(params, m, k, n,
                        lambda p, mm, kk, nn: _max_m(p, mm, kk, nn, calls.fits),
                        calls.k_unit)
    if sizes is not None:
        mt, kt, nt = sizes
        if all(calls.fits(ml, kl, nl) for ml, _ in _chunks(m, mt) for kl, _ in _chunks(k, kt)
               for nl, _ in _chunks(n, nt)):
            return [GemmTile(m0, k0, n0, ml, kl, nl)
                    for m0, ml in _parts(m, mt) for k0, kl in _parts(k, kt)
                    for n0, nl in _parts(n, nt)]
    raise HdlError(f"GEMM {m}x{k}x{n} (MxKxN): the {calls.kind} engine cannot take even a "
                   f"1x1x{calls.k_unit} part of it; enlarge the GLB")


def _best_sizes(params: HdlParams, m: int, k: int, n: int, max_m: Any,
                k_unit: int = 1) -> tuple[int, int, int] | None:
    ws = params.dataflow == "ws"
    unit_m, unit_k = (1, params.rows) if ws else (params.rows, 1)
    best: tuple[tuple[int, int], tuple[int, int, int]] | None = None
    k_sizes = _part_sizes(k, unit_k) if k_unit == 1 else sorted(
        set(_part_sizes(k, unit_k)) | set(range(k_unit, k, k_unit)), reverse=True)
    for kt in k_sizes:
        if kt % k_unit and kt != k:          # a part must keep whole N:M groups
            continue
        pk = ceil(k / kt)
        if best is not None and pk > best[0][0]:
            break
        for nt in _part_sizes(n, params.cols):
            if best is not None and pk * ceil(n / nt) > best[0][0]:
                break
            top = max_m(params, m, kt, nt)
            for mt in {top, top // unit_m * unit_m} - {0}:
                groups = [_chunks(m, mt), _chunks(k, kt), _chunks(n, nt)]
                cost = (pk * ceil(n / nt) * ceil(m / mt),
                        sum(cm * ck * cn * busy_cycles(params, ml, kl, nl)
                            for ml, cm in groups[0] for kl, ck in groups[1]
                            for nl, cn in groups[2]))
                if best is None or cost < best[0]:
                    best = (cost, (mt, kt, nt))
    return None if best is None else best[1]


def _tiles(params: HdlParams, m: int, k: int, n: int,
           sizes: tuple[int, int, int] | None) -> list[GemmTile] | None:
    if sizes is None:
        return None
    mt, kt, nt = sizes
    plans: dict[tuple[int, int, int], GemmPlan] = {}
    try:
        for ml, _ in _chunks(m, mt):
            for kl, _ in _chunks(k, kt):
                for nl, _ in _chunks(n, nt):
                    plans[ml, kl, nl] = plan_gemm(params, ml, kl, nl)
    except HdlError:
        return None
    return [_dense_tile(m0, k0, n0, plans[ml, kl, nl])
            for m0, ml in _parts(m, mt) for k0, kl in _parts(k, kt)
            for n0, nl in _parts(n, nt)]


def _simulate(params: HdlParams, cases: list[GemmCase], backend: str,
              build_dir: Path | None) -> list[RunResult]:
    return run_cases(params, cases, backend, build_dir)


def assemble(tiles: list[GemmTile], outputs: list[np.ndarray], m: int, n: int,
             accumulator_bits: int) -> np.ndarray:
    """The ``M x N`` raw product from the calls' raw outputs: K parts added modulo
    ``2**accumulator_bits`` (uint64 adds, then one wrap)."""
    out = np.zeros((m, n), dtype=np.uint64)
    for tile, raw in zip(tiles, outputs):
        out[tile.rows, tile.cols] += np.asarray(raw, dtype=np.int64).view(np.uint64)
    return np.asarray(intref.wrap(out.view(np.int64), accumulator_bits))


def _lower(qm: QuantizedModel, node: Conv | Gemm, x: np.ndarray
           ) -> tuple[list[tuple[np.ndarray, np.ndarray]], tuple[int, ...]]:
    """(A, B) per group, and the conv output geometry (N, P, Q) (empty for Gemm)."""
    ql = qm.layers[node.name]
    w = ql.weight_q
    if isinstance(node, Gemm):
        return [(x.reshape(x.shape[0], -1), w.T)], ()
    zx = int(ql.input_qp.zero_point)
    g = node.groups
    cols = intref.im2col(x, w.shape[2:], node.strides, node.pads, node.dilations, g,
                         pad_value=zx)                         # G x NPQ x C/G*R*S
    kg = w.shape[0] // g
    gemms = [(cols[i], w[i * kg:(i + 1) * kg].reshape(kg, -1).T) for i in range(g)]
    return gemms, (x.shape[0], *node.out_shape[1:])


@dataclass
class _LayerRun:
    name: str
    layer: str
    gemm_calls: int
    rtl_cycles: int
    sim_cycles: int
    cycles_match: bool
    acc: np.ndarray
    out: np.ndarray


def run_mac_layer(qm: QuantizedModel, node: Conv | Gemm, x: np.ndarray, accel: Accelerator,
                  backend: str = "amaranth", build_dir: Path | None = None) -> _LayerRun:
    """One MAC layer on the RTL from its integer input ``x`` (module docstring); the
    engine kind's calls, widths and cycle figure from
    :func:`hdl.network_engines.engine_calls` (the layer's quantized widths)."""
    params = HdlParams.from_accelerator(accel)
    ql = qm.layers[node.name]
    bits = params.accumulator_bits
    zx = int(ql.input_qp.zero_point)
    w_bits, a_bits = int(ql.weight_qp.bits), int(ql.input_qp.bits)
    calls = engine_calls(accel, node.name, w_bits, a_bits)
    gemms, geom = _lower(qm, node, x)
    cases: list[GemmCase] = []
    splits: list[list[GemmTile]] = []
    for a, b in gemms:
        check_operands(calls, accel, node.name, a, b, w_bits, a_bits)
        tiles = split_gemm(params, a.shape[0], a.shape[1], b.shape[1], calls)
        splits.append(tiles)
        cases += [calls.case(a[t.rows, t.depth], b[t.depth, t.cols], t.order)
                  for t in tiles]
    results = _simulate(params, cases, backend, build_dir)
    rtl = sim = 0
    match = True
    accs = []
    i = 0
    for gi, ((a, b), tiles) in enumerate(zip(gemms, splits)):
        res = results[i:i + len(tiles)]
        cs = cases[i:i + len(tiles)]
        i += len(tiles)
        for c, r in zip(cs, res):
            want = calls.sim_cycles(c)
            rtl += r.rtl_cycles
            sim += want
            match = match and r.rtl_cycles == r.busy_cycles == want
        raw = assemble(tiles, [np.array(r.outputs, dtype=np.int64) for r in res],
                       a.shape[0], b.shape[1], bits)
        kg = b.shape[1]
        bias = ql.bias_q[gi * kg:(gi + 1) * kg]
        # bias - z_x * colsum(B), modulo 2**64 then wrapped with the raw product
        corr = (bias.view(np.uint64) - np.uint64(zx % (1 << 64))
                * b.view(np.uint64).sum(axis=0, dtype=np.uint64)).view(np.int64)
        accs.append(np.asarray(intref.wrap((raw.view(np.uint64) + corr.view(np.uint64)[None])
                                           .view(np.int64), bits)))
    acc = np.concatenate(accs, axis=1)                         # M x K (all groups)
    if geom:
        nb, p, q = geom
        acc = acc.reshape(nb, p, q, -1).transpose(0, 3, 1, 2)
    dp = qm.settings.datapath
    y = intref.requantize(acc, ql.multiplier, ql.shift, int(ql.output_qp.zero_point),
                          ql.output_qp.bits, True, dp.rounding, axis=1, clamp=ql.clamp)
    return _LayerRun(node.name, node.layer_name, len(cases), rtl, sim, match, acc, y)


def _top1(out: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.argmax(np.asarray(out).reshape(len(labels), -1), axis=1)
                         == labels))


def run_network_on_rtl(qm: QuantizedModel, accel: Accelerator, x: np.ndarray,
                       y: np.ndarray, backend: str = "amaranth",
                       build_dir: Path | None = None) -> dict[str, Any]:
    """Run the float inputs ``x`` (labels ``y``) through ``qm`` with every MAC layer on
    the RTL of ``accel`` (module docstring). Returns ``{samples, rtl_top1, sim_top1,
    outputs_match, cycles_match, backend, layers: [{name, layer, rtl_cycles, sim_cycles,
    gemm_calls, cycles_match, outputs_match}], tensors_mismatched}``."""
    if backend not in BACKENDS:
        raise HdlError(f"backend must be one of {list(BACKENDS)}, not {backend!r}")
    x = np.asarray(x)
    labels = np.asarray(y).reshape(-1)
    if len(x) == 0 or len(x) != len(labels):
        raise HdlError(f"need one label per sample and at least one sample, not {len(x)} "
                       f"inputs and {len(labels)} labels")
    model = qm.model
    ref = integer_trace(qm, x)
    values: dict[str, np.ndarray] = {model.input_name: quantize_input(qm, x)}
    layers: list[dict[str, Any]] = []
    bad: list[str] = []

    def check(name: str, got: np.ndarray) -> bool:
        ok = np.array_equal(np.asarray(got), ref[name])
        if not ok:
            bad.append(name)
        return ok

    for node in model.nodes:
        ins = [values[t] for t in node.inputs]
        if isinstance(node, (Conv, Gemm)):
            xin = mac_input(qm, node, ins[0])
            ok = check(node.name + ".in", xin)
            run = run_mac_layer(qm, node, xin, accel, backend, build_dir)
            ok = check(node.name + ".acc", run.acc) and ok
            ok = check(node.output, run.out) and ok
            values[node.output] = run.out
            layers.append({"name": run.name, "layer": run.layer,
                           "rtl_cycles": run.rtl_cycles, "sim_cycles": run.sim_cycles,
                           "gemm_calls": run.gemm_calls, "cycles_match": run.cycles_match,
                           "outputs_match": ok})
        else:
            values[node.output] = run_node(qm, node, ins)
            check(node.output, values[node.output])
    out = values[model.output_name]
    return {"samples": int(len(x)), "backend": backend,
            "rtl_top1": _top1(out, labels), "sim_top1": _top1(ref[model.output_name], labels),
            "predictions_match": bool(np.array_equal(
                np.argmax(out.reshape(len(x), -1), axis=1),
                np.argmax(ref[model.output_name].reshape(len(x), -1), axis=1))),
            "outputs_match": not bad, "tensors_mismatched": bad,
            "cycles_match": all(r["cycles_match"] for r in layers),
            "rtl_cycles": sum(r["rtl_cycles"] for r in layers),
            "sim_cycles": sum(r["sim_cycles"] for r in layers),
            "layers": layers}


def network_on_rtl(onnx: str | Path, data: str | Path, calib: str | Path,
                   accel: Accelerator, samples: int, backend: str = "amaranth",
                   build_dir: Path | None = None) -> dict[str, Any]:
    """Load an ONNX classifier and its data, quantize it on the spec's datapath
    (default :class:`sim.int_network.QuantSettings`: int8 per-channel weights, int8
    activations, calibrated on ``calib``) and run the first ``samples`` of ``data`` on
    the RTL (:func:`run_network_on_rtl`); the record also names the files."""
    from dataflows.dataset import load_npz
    from dataflows.onnx_model import load_model
    from sim.int_network import QuantSettings, quantize_model
    from sim.intref import IntegerDatapath
    if not isinstance(samples, int) or isinstance(samples, bool) or samples < 1:
        raise HdlError(f"--rtl-samples must be a positive integer, not {samples!r}")
    model = load_model(str(onnx))
    test = load_npz(data, model)
    cal = load_npz(calib, model)
    qm = quantize_model(model, cal.x, QuantSettings(datapath=IntegerDatapath.from_spec(accel)))
    n = min(samples, len(test.x))
    doc = run_network_on_rtl(qm, accel, test.x[:n], test.y[:n], backend, build_dir)
    return {"onnx": str(onnx), "data": str(data), "calib": str(calib),
            "requested_samples": samples, **doc}


def text_lines(doc: dict[str, Any]) -> list[str]:
    """The ``validate.txt`` section of a :func:`network_on_rtl` record."""
    lines = [f"(d) whole network on the RTL ({doc['backend']}), {doc['samples']} samples: "
             f"top-1 RTL {doc['rtl_top1']:.4f}, integer reference {doc['sim_top1']:.4f}; "
             f"every tensor {'matches' if doc['outputs_match'] else 'DIFFERS'}"
             + ("" if doc["outputs_match"] else f" ({', '.join(doc['tensors_mismatched'])})"),
             f"  {'layer':<20}{'calls':>7}{'RTL cycles':>14}{'sim cycles':>14}"]
    for r in doc["layers"]:
        lines.append(f"  {r['name']:<20}{r['gemm_calls']:>7}{r['rtl_cycles']:>14,}"
                     f"{r['sim_cycles']:>14,}"
                     + ("" if r["cycles_match"] and r["outputs_match"] else "  DIFFERENT"))
    return lines


__all__ = ["BACKENDS", "GemmTile", "assemble", "network_on_rtl", "run_mac_layer",
           "run_network_on_rtl", "split_gemm", "text_lines"]
