"""Robustness probe of ``coforge import zigzag`` on ZigZag 3.9.1 inputs the other tests do
not cover (session 23): the ``*_mixed`` mapping files (``spatial_mapping_hint``), mapping
entries that override ``default``, the ``gemm_l1*`` and CACTI examples.

Expected values come from ZigZag's own rules, quoted from its source
(``parser/mapping_factory.py``: an entry is picked by layer name, then operator type, then
``default``; ``mapping/spatial_mapping.py``, ``SpatialMappingHint.complete_with_defaults``:
an array dimension without a hint may unroll every layer dimension) and from the files,
read by hand; none comes from coforge's earlier output.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest
import yaml

from dataflows.dataflow import MAP_DIMS
from mapper.zigzag_import import ZigzagImportError, convert_zigzag_hierarchy, load_zigzag
from mapper.zigzag_import import load_zigzag_hierarchy

DATA = Path(__file__).resolve().parents[1] / "data"
PROBE = DATA / "import_probe"
ZZ = DATA / "zigzag"


def axes(conv: object) -> dict[str, frozenset[str]]:
    """Array dimension -> the coforge loop dimensions its fanout axis may unroll."""
    h = conv.hierarchy                                                  # type: ignore
    fan = {f.name: f for f in h.fanouts}
    return {d: frozenset(fan[name].dims[i]) for d, (name, i) in conv.axis_of.items()}  # type: ignore


def test_tesla_mixed_hint_only() -> None:
    """tesla_npu_like_mixed's default entry has no spatial_mapping, only a hint: D1 [K],
    D2 [OX, OY] (coforge Q, P); D3 has none, so ZigZag may unroll any layer dimension
    there. Before: refused ('spatial_mapping must be a mapping, not NoneType')."""
    conv = load_zigzag_hierarchy(ZZ / "tesla_npu_like.yaml",
                                 PROBE / "zigzag_tesla_npu_like_mixed_mapping.yaml")
    assert axes(conv) == {"D1": {"K"}, "D2": {"P", "Q"}, "D3": set(MAP_DIMS)}
    sizes = {f.name: f.size for f in conv.hierarchy.fanouts}
    assert sorted(s for v in sizes.values() for s in v) == [4, 32, 32]   # sizes: [32, 32, 4]


def test_tpu_mixed_spatial_mapping_wins_and_foreign_hints_are_ignored() -> None:
    """tpu_like_mixed: spatial_mapping D1 [K, 32], D2 [C, 2; FX, 3; FY, 3] fixes both axes
    (coforge K; C, S, R); its hint also names D3 and D4, which tpu_like's 2-D array does
    not have and ZigZag never reads (it looks hints up only for unfixed dimensions)."""
    conv = load_zigzag_hierarchy(ZZ / "tpu_like.yaml",
                                 PROBE / "zigzag_tpu_like_mixed_mapping.yaml")
    assert axes(conv) == {"D1": {"K"}, "D2": {"C", "R", "S"}}


def test_meta_mixed_hint_restricts_the_dimension_spatial_mapping_leaves_out() -> None:
    """meta_prototype_like_mixed fixes D1 (K), D3 and D4 (OX, OY) and hints D2: [C]; ZigZag
    unrolls only C on D2 (before: the hint was ignored and D2 could unroll any loop)."""
    conv = load_zigzag_hierarchy(ZZ / "meta_prototype.yaml",
                                 PROBE / "zigzag_meta_prototype_like_mixed_mapping.yaml")
    assert axes(conv) == {"D1": {"K"}, "D2": {"C"}, "D3": {"P", "Q"}, "D4": {"P", "Q"}}


def _tpu() -> tuple[dict, list[dict]]:
    hw = yaml.safe_load((ZZ / "tpu_like.yaml").read_text())
    mp = yaml.safe_load((ZZ / "tpu_like_mapping.yaml").read_text())
    return hw, mp


def test_hint_fills_only_the_dimensions_spatial_mapping_leaves_out() -> None:
    hw, mp = _tpu()
    mp[0]["spatial_mapping"] = {"D1": ["K, 32"]}
    mp[0]["spatial_mapping_hint"] = {"D1": ["C"], "D2": ["OX"]}
    conv = convert_zigzag_hierarchy(hw, mp)
    assert axes(conv) == {"D1": {"K"}, "D2": {"Q"}}


def test_hint_on_the_3_level_import() -> None:
    """The 3-level conversion reads the same merged unrolling: K fixed on D1, C hinted
    on D2 -> weight stationary."""
    hw, mp = _tpu()
    mp[0]["spatial_mapping"] = {"D1": ["K, 32"]}
    mp[0]["spatial_mapping_hint"] = {"D2": ["C"]}
    from mapper.zigzag_import import convert_zigzag
    assert convert_zigzag(hw, mp).accelerator.dataflow == "ws"
    mp[0]["spatial_mapping_hint"] = {"D2": ["OX", "OY"]}
    with pytest.raises(ZigzagImportError, match=r"default\.spatial_mapping_hint\.D2: coforge "
                                                r"unrolls exactly one layer dimension"):
        convert_zigzag(hw, mp, mapping_source="m.yaml")


@pytest.mark.parametrize("op", ["Conv", "Gemm"])
def test_an_overriding_conv_or_gemm_entry_is_refused(op: str) -> None:
    """ZigZag maps Conv (Gemm) layers with an entry of that name, not 'default'; one
    that differs cannot be represented by one set of fanout hints."""
    hw, mp = _tpu()
    other = copy.deepcopy(mp[0])
    other["name"] = op
    other["spatial_mapping"] = {"D1": ["OX, 32"], "D2": ["C, 32"]}
    with pytest.raises(ZigzagImportError, match=rf"m\.yaml: {op}\.spatial_mapping: ZigZag "
                                                rf"maps {op} layers with this entry") as err:
        convert_zigzag_hierarchy(hw, mp + [other], mapping_source="m.yaml")
    assert "\n" not in str(err.value)
    other["spatial_mapping"] = copy.deepcopy(mp[0]["spatial_mapping"])       # equal: fine
    assert axes(convert_zigzag_hierarchy(hw, mp + [other])) == {"D1": {"K"}, "D2": {"C"}}


def test_gemm_l1_operand_port_widths_differ() -> None:
    """gemm_l1's l1 reads I1 and I2 through 512-bit ports and O through a 2048-bit one;
    coforge has one word per level (before: all three counted in 2048-bit words, the
    inputs' energy per bit 4x too low)."""
    hw = yaml.safe_load((PROBE / "zigzag_gemm_l1.yaml").read_text())
    mp = [{"name": "default", "spatial_mapping": {"D1": ["K, 8"], "D2": ["C, 8"]}}]
    with pytest.raises(ZigzagImportError, match=r"g\.yaml: memories\.l1\.ports: its operands "
                       r"are read towards the array through ports of different widths "
                       r"\{'I1': 512, 'I2': 512, 'O': 2048\}") as err:
        convert_zigzag_hierarchy(hw, mp, source="g.yaml")
    assert "\n" not in str(err.value)


def test_gemm_l1_custom_workload_dimensions() -> None:
    """gemm_l1's own mapping unrolls its custom GEMM workload's D0, D1, D2."""
    hw = yaml.safe_load((PROBE / "zigzag_gemm_l1.yaml").read_text())
    mp = [{"name": "default", "spatial_mapping": {"D1": ["D0, 8"], "D2": ["D2, 8"],
                                                   "D3": ["D1, 8"]}}]
    with pytest.raises(ZigzagImportError, match=r"m\.yaml: default\.spatial_mapping\.D1: "
                       r"unrolling 'D0' has no coforge counterpart \(not a ZigZag conv/ONNX"):
        convert_zigzag_hierarchy(hw, mp, source="g.yaml", mapping_source="m.yaml")


def test_cacti_example_imports_with_its_latency_noted() -> None:
    """generic_array_cacti's dram has latency 10, which ZigZag 3.9.1 stores but never
    reads (no cost-model use of MemoryInstance.latency): the hierarchy import notes it
    and converts the rest (read from the file: memories dram, sram_32MB, rf_O, rf_W,
    rf_I; a 256 x 256 array); a layer maps on it with every tile fitting. The 3-level
    import cannot hold its 16,384-bit SRAM port and says so, naming the file and the
    hierarchy import."""
    from dataflows.zoo import load
    from mapper.nest_search import search
    from sim.hier_cost import check_fits, evaluate
    conv = load_zigzag_hierarchy(PROBE / "zigzag_generic_array_cacti.yaml",
                                 ZZ / "tpu_like_mapping.yaml")
    h = conv.hierarchy
    assert [lv.name for lv in h.levels] == ["dram", "sram_32MB", "rf_O", "rf_W", "rf_I"]
    assert [f.size for f in h.fanouts] == [(256, 256)]
    assert [n for n in conv.notes if "latency" in n] == [
        "memories.dram: latency 10 is not represented (ZigZag 3.9.1's cost model never "
        "reads it either: no figure changes)"]
    layer = next(x for x in load("resnet18").layers() if x.name == "layer2.0.conv1")
    res = search(layer, h, max_evals=2000, seed=0)
    check_fits(layer, h, res.mapping)
    assert math.isfinite(evaluate(layer, h, res.mapping).energy_pj)
    with pytest.raises(ZigzagImportError, match=r"generic_array_cacti\.yaml: buffer "
                       r"'sram_32MB': word_bits must be <= 4096, not 16384: a limit of the "
                       r"3-level spec; load_zigzag_hierarchy") as err:
        load_zigzag(PROBE / "zigzag_generic_array_cacti.yaml", ZZ / "tpu_like_mapping.yaml")
    assert "\n" not in str(err.value)


def test_tesla_mixed_maps_end_to_end(tmp_path: Path) -> None:
    """CLI: import, then map resnet18 (4000 evaluations per shape; 200 find no legal mapping
    for layer4.0.conv1 in the 1 KB buffers): every layer legal (map refuses
    otherwise), D1 unrolls K only, energies finite."""
    from mapper.cli import main
    spec, out = tmp_path / "spec.yaml", tmp_path / "map"
    assert main(["import", "zigzag", "--hardware", str(ZZ / "tesla_npu_like.yaml"),
                 "--mapping", str(PROBE / "zigzag_tesla_npu_like_mixed_mapping.yaml"),
                 "--out", str(spec)]) == 0
    assert main(["map", "--network", "resnet18", "--arch", str(spec), "--out", str(out),
                 "--max-evals", "4000"]) == 0
    layers = json.loads((out / "result.json").read_text())["layers"]
    assert len(layers) == 21
    for layer in layers:
        (axis,) = layer["mapping"]["spatial"]["D1"]
        assert set(axis) <= {"K"}, layer["name"]
        assert math.isfinite(layer["energy_pj"]) and layer["energy_pj"] > 0


@pytest.mark.parametrize("where, path, value, match", [
    ("hw", ("operational_array", "dimensions", 0), [], r"dimensions .* distinct names"),
    ("hw", ("operational_array", "sizes", 0), None, r"sizes positive integers"),
    ("hw", ("memories", "sram_2MB", "ports", 0, "bandwidth_max"), float("inf"),
     r"sram_2MB\.ports\[0\]\.bandwidth_max must be a whole number > 0 of bits per cycle, "
     r"not inf"),
    ("hw", ("memories", "sram_2MB", "ports", 0, "bandwidth_min"), 1.5,
     r"bandwidth_min must be a whole number > 0 .* not 1\.5"),
    ("mp", (0, "memory_operand_links", "O"), [], r"memory_operand_links\.O must name a memory "
                                                 r"operand"),
])
def test_malformed_fields_are_one_line_errors(where: str, path: tuple, value: object,
                                              match: str) -> None:
    """Found by mutating the shipped files field by field: each used to raise a Python
    TypeError/OverflowError (or, for a 1.5-bit port, truncate it silently)."""
    from mapper.zigzag_import import convert_zigzag
    hw, mp = _tpu()
    node = hw if where == "hw" else mp
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value
    for convert in (convert_zigzag_hierarchy, convert_zigzag):
        with pytest.raises(ZigzagImportError, match=match) as err:
            convert(hw, mp)
        assert "\n" not in str(err.value)


def test_force_double_buffering_is_carried() -> None:
    """ZigZag's LOMA doubles a tile's size in a memory with ``force_double_buffering``
    (opt/loma/memory_allocator.py, calc_size_slices); the import used to drop the flag
    (gemm_l1_l3's l3 sets it). The top memory is unbounded either way."""
    from sim.hierarchy import StorageLevel
    hw, mp = _tpu()
    hw["memories"]["sram_2MB"]["force_double_buffering"] = True
    hw["memories"]["dram"]["force_double_buffering"] = True
    conv = convert_zigzag_hierarchy(hw, mp)
    db = {n.name: n.double_buffered for n in conv.hierarchy.nodes if isinstance(n, StorageLevel)}
    assert db == {"dram": False, "sram_2MB": True, "rf_2B": False, "rf_128B": False}
    assert any("sram_2MB: force_double_buffering" in n for n in conv.notes)
    hw["memories"]["sram_2MB"]["force_double_buffering"] = "yes"
    with pytest.raises(ZigzagImportError, match=r"sram_2MB\.force_double_buffering must be"):
        convert_zigzag_hierarchy(hw, mp)


def test_hint_factors_smaller_than_the_array_are_caps() -> None:
    """ZigZag's ``spatial_mapping`` fixes the factor (``K, 32`` unrolls exactly 32, clipped
    to a layer's size); the import carries it as the fanout's ``max_factors``, so the
    search unrolls at most that factor there (like for like with ZigZag), and says so
    where a factor is below the array dimension's size. Read from the files:
    generic_array_cacti's default mapping puts K 32 and C 32 on 256-wide D1 and D2;
    tesla_npu_like's own mapping OX 8 on its 32-wide D2; tpu_like's K 32 and C 32 fill
    its 32 x 32 array (no note, no cap)."""
    def noted(hw: Path, mp: Path) -> list[str]:
        return [n for n in load_zigzag_hierarchy(hw, mp).notes if "unrolls exactly" in n]
    generic = noted(PROBE / "zigzag_generic_array_cacti.yaml", ZZ / "eyeriss_like_mapping.yaml")
    assert [n.split(": ZigZag")[0].rsplit(".", 1)[1] for n in generic] == ["D1", "D2"]
    assert "exactly ['K, 32'] on the 256-wide D1" in generic[0] and \
        "max_factors {'K': 32}" in generic[0]
    tesla = noted(ZZ / "tesla_npu_like.yaml", ZZ / "tesla_npu_like_mapping.yaml")
    assert len(tesla) == 1 and "exactly ['OX, 8'] on the 32-wide D2" in tesla[0]
    caps = {fo.name: fo.max_factors for fo in load_zigzag_hierarchy(
        ZZ / "tesla_npu_like.yaml", ZZ / "tesla_npu_like_mapping.yaml").hierarchy.fanouts}
    assert caps == {"D1": (), "D2xD3": ((("Q", 8),), ())}
    assert all(not fo.max_factors for fo in load_zigzag_hierarchy(
        ZZ / "tpu_like.yaml", ZZ / "tpu_like_mapping.yaml").hierarchy.fanouts)
    assert noted(ZZ / "tpu_like.yaml", ZZ / "tpu_like_mapping.yaml") == []
