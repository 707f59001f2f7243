"""The default mapping: legal and fitting for real networks on every shipped spec,
SCALE-Sim-like (array filled, one stationary tile per fold), and a one-line error naming
what is too small."""

from __future__ import annotations

from dataclasses import replace
from math import ceil, prod

import pytest

from dataflows import zoo
from dataflows.dataflow import get_dataflow
from dataflows.layer import Layer, Precision, conv, fc, gemm
from sim.analytic import CostError, capacity_report, evaluate
from sim.default_mapping import default_mapping
from sim.spec import Accelerator, Buffer
from sim.spec_io import load_accelerator, shipped_specs
from sim.simulate import simulate

NETWORKS = ("resnet18", "mobilenet_v2", "bert_base")
#: Shipped specs whose layers map as given: the bit-serial / bit-fusion and N:M-skipping
#: examples (edge_4x4_ws_*) cost a transformed layer (sim.datapath.plan_datapath) or a
#: pruned one (sim.sparse), which sim.simulate and mapper.map_network build.
PLAIN_SPECS = [s for s in shipped_specs() if load_accelerator(s).pe.mode == "fixed"
               and load_accelerator(s).sparse.policy != "skipping"]


@pytest.mark.parametrize("network", NETWORKS)
@pytest.mark.parametrize("spec", PLAIN_SPECS)
def test_legal_and_fits_on_every_shipped_spec(spec: str, network: str) -> None:
    accel = load_accelerator(spec)
    df = get_dataflow(accel.dataflow)
    checked = 0
    for layer in zoo.load(network).layers():
        m = default_mapping(layer, accel)
        m.check(layer, df, accel.rows, accel.cols, df.bounds(layer))  # raises if illegal
        assert capacity_report(layer, accel, m) == [], layer.name
        assert m.rows_used <= accel.rows and m.cols_used <= accel.cols
        checked += 1
    assert checked >= 21


@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
def test_depthwise_conv_on_lowered_dataflows(dataflow: str) -> None:
    """Regression: lowering a depthwise conv used to keep kind='depthwise' with
    C = G * 9, which Layer rejects ('a depthwise layer needs G == C')."""
    layer = conv("dw", 8, 8, 10, 3, padding=1, groups=8)
    accel = replace(load_accelerator("edge_8x8_ws"), dataflow=dataflow)
    view = get_dataflow(dataflow).map_view(layer)
    assert view.gemm_shape == (8, 100, 9, 1)
    res = simulate(layer, accel)
    assert res.macs == 8 * 9 * 10 * 10 and res.total_cycles > 0


def test_depthwise_conv_on_rs_works() -> None:
    layer = conv("dw", 8, 8, 10, 3, padding=1, groups=8)
    res = simulate(layer, load_accelerator("eyeriss_12x14_rs"))
    assert res.macs == 8 * 9 * 10 * 10 and res.total_cycles > 0


@pytest.mark.parametrize("layer, rows, cols, folds", [
    # WS: reduction T = C*R*S on rows, filters on columns, pixels streamed
    (gemm("g", M=50, N=20, K=40), {"C": 8}, {"K": 8}, ceil(40 / 8) * ceil(20 / 8)),
    (conv("c", 3, 16, 12, 3), {"C": 8}, {"K": 8}, ceil(27 / 8) * 2),
    (gemm("small", M=3, N=2, K=5), {"C": 5}, {"K": 2}, 1),
])
def test_ws_fills_the_array_and_keeps_one_tile_per_fold(layer: Layer, rows: dict,
                                                         cols: dict, folds: int) -> None:
    accel = load_accelerator("edge_8x8_ws")
    m = default_mapping(layer, accel)
    assert m.to_dict()["spatial"] == {"rows": rows, "cols": cols}
    view = get_dataflow("ws").map_view(layer)
    assert m.factor("pe", "P") == view.P                    # the stream runs whole
    res = evaluate(layer, accel, m)
    assert res.tiles == folds


def test_os_and_rs_fill_their_dimensions() -> None:
    layer = conv("c", 4, 20, 16, 3)                           # P = Q = 14
    os_map = default_mapping(layer, load_accelerator("os_32x32"))
    assert os_map.to_dict()["spatial"] == {"rows": {"P": 32}, "cols": {"K": 20}}
    rs_map = default_mapping(layer, load_accelerator("eyeriss_12x14_rs"))
    # row stationary: R then C on the 12 rows, P then K on the 14 columns
    assert rs_map.to_dict()["spatial"] == {"rows": {"R": 3, "C": 4}, "cols": {"P": 14}}


def test_small_glb_still_maps_and_fits() -> None:
    layer = gemm("g", M=256, N=64, K=64)
    big = load_accelerator("edge_8x8_ws")
    small = replace(big, glb=(replace(big.glb[0], capacity_bytes=1024),))
    m_big, m_small = default_mapping(layer, big), default_mapping(layer, small)
    assert capacity_report(layer, small, m_small) == []
    assert capacity_report(layer, small, m_big) != []        # the big-GLB tile does not fit
    a, b = evaluate(layer, big, m_big), evaluate(layer, small, m_small)
    assert b.compute_cycles >= a.compute_cycles
    assert b.iterations == a.iterations


def test_default_mapping_is_deterministic() -> None:
    layer = conv("c", 16, 32, 14, 3, padding=1)
    accel = load_accelerator("edge_8x8_ws")
    assert default_mapping(layer, accel) == default_mapping(layer, accel)


# -- errors -------------------------------------------------------------------------------
def _tiny(cap: int) -> Accelerator:
    return Accelerator("tinyglb", 4, 4, glb=(Buffer("tiny", capacity_bytes=cap),))


@pytest.mark.parametrize("layer", [conv("c", 4, 8, 10, 3), gemm("c", 16, 16, 16),
                                   fc("c", 64, 64)])
def test_tile_too_big_for_tiny_glb(layer: Layer) -> None:
    with pytest.raises(CostError, match=r"^layer 'c' cannot map on 'tinyglb': even its "
                                        r"smallest tile does not fit \(glb buffer 'tiny': "
                                        r"tile needs \d+ B but 2 B are usable\); enlarge the "
                                        r"buffer or the rf$"):
        default_mapping(layer, _tiny(2))


def test_tiny_glb_error_reaches_simulate() -> None:
    with pytest.raises(CostError, match=r"glb buffer 'tiny'"):
        simulate(gemm("c", 16, 16, 16), _tiny(2))


def test_rf_too_small() -> None:
    eyeriss = load_accelerator("eyeriss_12x14_rs")
    accel = replace(eyeriss, rf=replace(eyeriss.rf, capacity_bytes=1))
    layer = conv("c", 4, 8, 10, 3, precision=Precision(16, 16, 16))
    with pytest.raises(CostError, match=r"^layer 'c' cannot map on 'eyeriss_12x14_rs': .*"
                                        r"\(rf: the per-PE weight tile needs 2 B but rf "
                                        r"holds 1 B\)"):
        default_mapping(layer, accel)


def test_operands_wider_than_the_pe() -> None:
    layer = gemm("g", 4, 8, 10, precision=Precision(16, 16, 16))
    with pytest.raises(CostError, match=r"^layer 'g' needs 16-bit operands but 'edge_8x8_ws' "
                                        r"has pe\.operand_bits 8; widen the PE or "
                                        r"quantize the layer$"):
        default_mapping(layer, load_accelerator("edge_8x8_ws"))


def test_every_shipped_spec_maps_a_gemm() -> None:
    layer = gemm("g", 100, 70, 90)
    for spec in PLAIN_SPECS:
        accel = load_accelerator(spec)
        m = default_mapping(layer, accel)
        assert prod(m.coverage().values()) >= layer.macs
