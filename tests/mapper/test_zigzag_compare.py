"""coforge vs ZigZag 3.9.1: ResNet-18 on ZigZag's own ``tpu_like`` accelerator.

Reference: ``tests/data/zigzag_3.9.1_resnet18.json`` -- ZigZag's per-layer numbers from
``benchmarks/zigzag_runner.py`` (its API ``get_hardware_performance_zigzag`` on the
``resnet18.onnx``, ``hardware/tpu_like.yaml`` and ``mapping/tpu_like.yaml`` shipped in
the wheel; LOMA temporal mapping, ``lpf_limit`` 6, objective EDP). coforge side: the
same description converted by ``mapper.zigzag_import`` (a 32x32 ws array, see that
module), the zoo's ``resnet18`` (same 21 layers, same shapes), each distinct layer
shape mapped by ``map_network`` (annealing, objective EDP, 20,000 evaluations, seed 0).
Both tools therefore search mappings for the same objective on the same hardware
numbers; the ratios below are coforge / ZigZag.

Where the two agree, it is asserted exactly:

* MAC energy: both price a MAC at tpu_like's ``unit_energy`` (0.04 pJ).
* DRAM traffic: on every layer both move exactly the same bytes between DRAM and the
  chip (each tensor crosses once: the 2 MiB SRAM holds any ResNet-18 activation tile
  and the 128 KiB of weight registers the weight tiles both mappers choose).
* DRAM energy: hence identical up to pricing -- coforge charges ZigZag's DRAM words at
  the mean of its read and write costs (725 pJ per 64-bit word; ZigZag 700 / 750).
* Global-buffer input reads: the same bytes on every layer (both stream each input
  once per filter tap and output-channel fold, the im2col volume), except conv1, where
  ZigZag rounds its 24-bit reads up to the SRAM's 64-bit granularity (exactly 8/3x).

Latency differs, for these reasons (per-layer ratios pinned in ``LATENCY``):

* conv1 (0.10): ZigZag's tpu_like spatial mapping unrolls the conv loop C -- 3 input
  channels -- on the 32 rows (3/32 used: 1,229,312 temporal cycles for 115,248 ideal);
  coforge's ws dataflow runs the im2col GEMM and unrolls C*R*S = 147 on the rows.
* 56x56 and 28x28 layers (0.66-1.01): ZigZag adds ``data_onloading`` -- the first
  tiles fetched from DRAM before any MAC (25,088 cycles = the 200,704-byte 56x56x64
  input at 8 B/cycle) -- and its 1x1 stride-2 layers also ``data_offloading``; coforge
  overlaps all DRAM traffic with compute (double-buffered GLBs, no initial fill) but
  charges each 32x32 weight tile a 2R + C - 1 = 95-cycle preload and skew (the RTL's
  timing): 36 tiles in layer1 convs, 144 in layer2's.
* 14x14 layers (1.21-1.35): the same per-tile overhead weighs more, since a weight
  tile streams only 196 pixels (576 tiles x 95 cycles); ZigZag reloads the 128 B
  weight registers while computing and charges a 62-cycle systolic drain once a layer.
* 7x7 layers (1.08-1.10): ZigZag is DRAM-bound -- 2.36 MB of weights through one
  64-bit port (178,224 stall cycles); coforge's DRAM time (301,184 cycles) is hidden
  behind 2,304 tiles x (49 streamed + 95 overhead) = 331,776 compute cycles.
* 1x1 stride-2 downsamples (0.66-0.94): little compute (6,272 cycles); ZigZag adds
  on-loading before it and off-loading after it through tpu_like's single read_write
  DRAM port (18,879 cycles in layer2.0); coforge overlaps all three and, giving reads
  and writes 8 B/cycle each (a converter note), is bound by the 100,352 output bytes
  (12,544 cycles).
* fc (1.005): both DRAM-bound on the 512 KB of weights.

Energy is higher in coforge (1.04-2.3 per layer, ``ENERGY``) because of two model
differences, both at levels whose cost tables agree:

* PE level: coforge charges every operand's PE-level traffic at the rf's 0.0119 pJ/bit
  (tpu_like's 128 B weight register): an 8-bit weight read, an 8-bit input read and a
  16-bit partial-sum read and write per MAC = 0.57 pJ. ZigZag charges the weight
  register read (0.095 pJ), its 2-byte output register (0.021 pJ read + write) and
  nothing for inputs, which the array reads from the SRAM: ~0.14 pJ per MAC.
* Global buffer, outputs: ZigZag's mappings put the C and filter loops under the PE's
  2-byte output register, accumulating in place, so each output reaches the SRAM once
  (200,704 B in layer1), or once per filter column where FX sits above that register
  (layer3/4: 3 x 16-bit partial sums); coforge's ws array passes partial sums out once
  per row fold (ceil(C*R*S / 32) = 18 in layer1) and accumulates them in the GLB at
  16 bits (7.2 MB).

The energy gap therefore shrinks where DRAM dominates (fc 1.04, layer4 1.26-1.33) and
peaks on compute-heavy 3x3 layers (2.07-2.25).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dataflows.zoo import load
from mapper.network_map import NetworkMapping, map_network
from mapper.zigzag_import import ZigzagConversion, load_zigzag, zoo_layer_name

TESTS = Path(__file__).resolve().parents[1]
REFERENCE = json.loads((TESTS / "data" / "zigzag_3.9.1_resnet18.json").read_text())
RUNS = {run["opt"]: run for run in REFERENCE["runs"]}
ZZ = {zoo_layer_name(layer["name"]): layer for layer in RUNS["EDP"]["layers"]}

#: coforge's search, fixed: strategy, objective, evaluations per distinct shape, seed.
SEARCH = {"strategy": "annealing", "objective": "edp", "max_evals": 20_000, "seed": 0}

#: coforge / ZigZag total cycles per layer (reasons: module docstring, "Latency").
LATENCY = {
    "conv1": 0.101,
    "layer1.0.conv1": 0.843, "layer1.0.conv2": 0.843,
    "layer1.1.conv1": 0.843, "layer1.1.conv2": 0.843,
    "layer2.0.conv1": 0.776, "layer2.0.conv2": 1.009, "layer2.0.downsample": 0.664,
    "layer2.1.conv1": 1.009, "layer2.1.conv2": 1.009,
    "layer3.0.conv1": 1.214, "layer3.0.conv2": 1.352, "layer3.0.downsample": 0.893,
    "layer3.1.conv1": 1.352, "layer3.1.conv2": 1.352,
    "layer4.0.conv1": 1.076, "layer4.0.conv2": 1.104, "layer4.0.downsample": 0.941,
    "layer4.1.conv1": 1.104, "layer4.1.conv2": 1.104,
    "fc": 1.005,
}
#: coforge / ZigZag energy per layer (reasons: module docstring, "Energy").
ENERGY = {
    "conv1": 1.468,
    "layer1.0.conv1": 2.069, "layer1.0.conv2": 2.069,
    "layer1.1.conv1": 2.069, "layer1.1.conv2": 2.069,
    "layer2.0.conv1": 1.768, "layer2.0.conv2": 2.251, "layer2.0.downsample": 1.205,
    "layer2.1.conv1": 2.251, "layer2.1.conv2": 2.251,
    "layer3.0.conv1": 1.702, "layer3.0.conv2": 1.827, "layer3.0.downsample": 1.331,
    "layer3.1.conv1": 1.827, "layer3.1.conv2": 1.827,
    "layer4.0.conv1": 1.318, "layer4.0.conv2": 1.333, "layer4.0.downsample": 1.259,
    "layer4.1.conv1": 1.333, "layer4.1.conv2": 1.333,
    "fc": 1.042,
}
#: Relative tolerance on each pinned ratio: the search is deterministic for its seed
#: and budget, so this only absorbs small model refinements; a larger move means a
#: changed model and needs a new ratio with its reason.
TOLERANCE = 0.02
TOTAL_LATENCY, TOTAL_ENERGY = 0.746, 1.616


@pytest.fixture(scope="module")
def conversion() -> ZigzagConversion:
    return load_zigzag(TESTS / "data" / "zigzag" / "tpu_like.yaml",
                       TESTS / "data" / "zigzag" / "tpu_like_mapping.yaml")


@pytest.fixture(scope="module")
def mapped(conversion: ZigzagConversion) -> NetworkMapping:
    # ZigZag keeps 8-bit layers' partial sums at 16 bits (no overflow model): reproduce it.
    return map_network(load("resnet18"), conversion.accelerator, progress=False,
                       check_accumulator=False, **SEARCH)


def _by_level(layer: dict, conversion: ZigzagConversion, what: str) -> dict[str, float]:
    """ZigZag's per-memory energies (pJ) or word accesses summed per coforge level."""
    out = {"pe": 0.0, "glb": 0.0, "dram": 0.0}
    for per_memory in layer[what].values():
        for memory, value in per_memory.items():
            out[conversion.level_of[memory]] += value if what == "energy_pj_by_memory" \
                else sum(value.values())
    return out


def test_reference_provenance() -> None:
    """The recorded run used the files the tests convert, and reproduces ZigZag's own
    regression numbers for this workload (tests/main/test_origin/test_tpu_like.py in
    the zigzag-dse 3.9.1 wheel: latency objective, 3,865,041 cycles, 1.8714e9 pJ)."""
    import hashlib
    assert (REFERENCE["tool"], REFERENCE["version"]) == ("zigzag-dse", "3.9.1")
    assert "benchmarks/zigzag_runner.py" in REFERENCE["command"]
    for key, name in (("hardware", "tpu_like.yaml"), ("mapping", "tpu_like_mapping.yaml")):
        digest = hashlib.sha256((TESTS / "data" / "zigzag" / name).read_bytes()).hexdigest()
        assert REFERENCE["inputs"][key]["sha256"] == digest
    assert RUNS["latency"]["total"]["latency_cycles"] == 3865041
    assert RUNS["latency"]["total"]["energy_pj"] == pytest.approx(1871436380.656, rel=1e-9)
    run = RUNS["EDP"]
    assert run["total"]["latency_cycles"] == sum(x["latency_cycles"] for x in run["layers"])
    assert run["total"]["energy_pj"] == pytest.approx(sum(x["energy_pj"] for x in run["layers"]))


def test_same_layers_and_shapes() -> None:
    net = load("resnet18")
    assert sorted(ZZ) == sorted(layer.name for layer in net.layers() if layer.macs)
    for name, z in ZZ.items():
        layer = net[name]
        size = z["loop_sizes"]                    # ZigZag's Gemm calls the batch D
        batch = size.get("B", size.get("D"))
        assert (batch, size["K"], size["C"], size.get("OY", 1), size.get("OX", 1)) == \
            (layer.N, layer.K, layer.C, layer.P, layer.Q), name
        assert (size.get("FY", 1), size.get("FX", 1)) == (layer.R, layer.S), name
        assert z["macs"] == layer.macs


def test_mac_energy_is_identical(mapped: NetworkMapping) -> None:
    for res in mapped.result.layers:
        assert res.energy_pj_by_level["mac"] == pytest.approx(ZZ[res.layer]["mac_energy_pj"],
                                                              rel=1e-12)


def test_dram_traffic_is_identical(mapped: NetworkMapping, conversion: ZigzagConversion) -> None:
    word_bytes = conversion.accelerator.dram.word_bits // 8
    for res in mapped.result.layers:
        zz_words = _by_level(ZZ[res.layer], conversion, "word_accesses")["dram"]
        co_bytes = sum(v for op in res.bytes["dram"].values() for v in op.values())
        assert co_bytes == zz_words * word_bytes, res.layer


def test_dram_energy_differs_only_by_the_read_write_mean(
        mapped: NetworkMapping, conversion: ZigzagConversion) -> None:
    for res in mapped.result.layers:
        zz_words = _by_level(ZZ[res.layer], conversion, "word_accesses")["dram"]
        assert res.energy_pj_by_level["dram"] == pytest.approx(zz_words * 725.0, rel=1e-12)
        zz_dram = _by_level(ZZ[res.layer], conversion, "energy_pj_by_memory")["dram"]
        assert res.energy_pj_by_level["dram"] / zz_dram == pytest.approx(1, abs=0.036)


def test_glb_input_reads_match_except_conv1(mapped: NetworkMapping) -> None:
    """conv1 differs by ZigZag's access granularity: its C-only unrolling reads 3
    channels x 8 bits = 24 bits at a time, rounded up to the SRAM's 64-bit
    bandwidth_min, i.e. 8/3 x the 3.69 MB im2col stream coforge counts (a converter
    note: coforge charges narrow accesses their share of a word)."""
    for res in mapped.result.layers:
        zz_words = ZZ[res.layer]["word_accesses"]["I"]["sram_2MB"]["rd_out_to_low"]
        zz_bytes = zz_words * 2048 // 8
        if res.layer == "conv1":
            assert res.bytes["glb"]["input"]["reads"] * 8 == zz_bytes * 3
        else:
            assert res.bytes["glb"]["input"]["reads"] == zz_bytes, res.layer


def test_partial_sums_explain_the_glb_output_traffic(mapped: NetworkMapping) -> None:
    """coforge's GLB output writes are one 16-bit partial sum per output per row fold;
    ZigZag's reach the SRAM at most once per filter column (accumulated in the 2 B PE
    register over C and the filter rows)."""
    net = load("resnet18")
    for res in mapped.result.layers:
        layer = net[res.layer]
        folds = -(-layer.C * layer.R * layer.S // 32)
        outputs = layer.N * layer.K * layer.P * layer.Q
        assert res.bytes["glb"]["output"]["writes"] == folds * outputs * 2, res.layer
        zo = ZZ[res.layer]["word_accesses"]["O"]["sram_2MB"]
        zz_writes = (zo["wr_in_by_low"] + zo["wr_in_by_high"]) * 2048 / 8
        assert zz_writes <= outputs * 2 * layer.S, res.layer
        assert res.bytes["glb"]["output"]["writes"] >= 2 * zz_writes, res.layer


def test_pe_level_energy_per_mac(mapped: NetworkMapping, conversion: ZigzagConversion) -> None:
    """coforge: 48 bits per MAC at 0.011875 pJ/bit (+ weight loads, < 1 %);
    ZigZag: about 0.095 + 0.042 pJ per MAC."""
    for res in mapped.result.layers:
        if res.layer == "fc":
            continue                                   # weight loads dominate a GEMV
        assert res.energy_pj_by_level["pe"] / res.macs == pytest.approx(0.57, rel=0.01)
        zz_pe = _by_level(ZZ[res.layer], conversion, "energy_pj_by_memory")["pe"]
        assert zz_pe / res.macs == pytest.approx(0.14, abs=0.01), res.layer


@pytest.mark.parametrize("name", list(LATENCY))
def test_layer_latency_ratio(mapped: NetworkMapping, name: str) -> None:
    res = next(r for r in mapped.result.layers if r.layer == name)
    ratio = res.total_cycles / ZZ[name]["latency_cycles"]
    assert ratio == pytest.approx(LATENCY[name], rel=TOLERANCE)


@pytest.mark.parametrize("name", list(ENERGY))
def test_layer_energy_ratio(mapped: NetworkMapping, name: str) -> None:
    res = next(r for r in mapped.result.layers if r.layer == name)
    ratio = res.energy_pj / ZZ[name]["energy_pj"]
    assert ratio == pytest.approx(ENERGY[name], rel=TOLERANCE)


def test_totals(mapped: NetworkMapping) -> None:
    total = RUNS["EDP"]["total"]
    assert mapped.result.total_cycles / total["latency_cycles"] == \
        pytest.approx(TOTAL_LATENCY, rel=TOLERANCE)
    assert mapped.result.energy_pj / total["energy_pj"] == \
        pytest.approx(TOTAL_ENERGY, rel=TOLERANCE)
