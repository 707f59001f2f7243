"""ZigZag's own mappings, imported into coforge, reproduce ZigZag's word accesses exactly.

Peer data: ``tests/data/zigzag_3.9.1_<accelerator>.json`` (ZigZag 3.9.1, zigzag-dse
from PyPI, LOMA, EDP; written by ``benchmarks/zigzag_runner.py``; see
``tests/data/zigzag/README.md``): per ResNet-18 layer ZigZag's chosen mapping (per
operand: memories, temporal loops per memory, spatial loops per arch level) and its
word accesses per memory, operand and direction. The mapping is costed by
:func:`sim.hier_cost_zigzag.word_accesses` (the per-operand rule set) with port widths
read from the hardware YAML copies in ``tests/data/zigzag`` and strides/unpadded input
sizes from coforge's zoo layer -- nothing of ZigZag's results enters except the mapping.

Result: every count (4 directions x every memory x every operand) of all 21 ResNet-18
layers and all 53 MobileNet-V2 layers equals ZigZag's on all six shipped non-IMC
accelerators, and of all 21 ResNet-18 layers on a seventh, the wheel's
generic_array_cacti (256 x 256). No difference remains to pin. (The Timeloop-style
:mod:`sim.hier_cost` differs from ZigZag by the reasons pinned in
``test_zigzag_hierarchy.py``; that model stays the mapper's.)

The rules themselves are checked without ZigZag in ``tests/sim/test_hier_cost_zigzag.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from dataflows.zoo import load
from mapper.zigzag_exchange import compare, exchange_word_accesses, load_hardware
from mapper.zigzag_import import zoo_layer_name

DATA = Path(__file__).resolve().parents[1] / "data"
ZZ = DATA / "zigzag"
SIX = ("tpu_like", "edge_tpu_like", "ascend_like", "meta_prototype", "tesla_npu_like",
       "eyeriss_like")
LAYERS = {layer.name: layer for layer in load("resnet18").layers()}


def _links(name: str) -> dict[str, str]:
    entries = yaml.safe_load((ZZ / f"{name}_mapping.yaml").read_text())
    return next(e for e in entries if e.get("name") == "default")["memory_operand_links"]


def _records(name: str, net: str = "resnet18") -> tuple[str, list[dict]]:
    data = json.loads((DATA / f"zigzag_3.9.1_{name}.json").read_text())
    return data["version"], data["networks"][net]["runs"][0]["layers"]


@pytest.mark.parametrize("name", SIX)
def test_resnet18_word_accesses_exact(name: str) -> None:
    version, records = _records(name)
    assert version == "3.9.1"
    assert len(records) == 21
    hw = load_hardware(ZZ / f"{name}.yaml")
    links = _links(name)
    counts = 0
    for rec in records:
        ours = exchange_word_accesses(rec, LAYERS[zoo_layer_name(rec["name"])], hw, links)
        assert compare(rec, ours) == [], rec["name"]
        counts += sum(len(d) for per in rec["word_accesses"].values() for d in per.values())
    assert counts >= 21 * 4 * 6            # at least two memories per operand


def test_generic_array_cacti_word_accesses_exact() -> None:
    """A seventh ZigZag accelerator, outside the six the importer was built on: the
    wheel's 256 x 256 generic_array_cacti (its DRAM latency 10 is not read by ZigZag,
    and not by coforge), run with the generic default mapping
    (``tests/data/zigzag_3.9.1_generic_array_cacti_resnet18.json``, see
    tests/data/zigzag/README.md). Every count of all 21 ResNet-18 layers equals ZigZag's."""
    data = json.loads((DATA / "zigzag_3.9.1_generic_array_cacti_resnet18.json").read_text())
    assert data["version"] == "3.9.1"
    records = data["runs"][0]["layers"]
    assert len(records) == 21
    hw = load_hardware(DATA / "import_probe" / "zigzag_generic_array_cacti.yaml")
    links = _links("eyeriss_like")          # the same file: the wheel's default.yaml
    counts = 0
    for rec in records:
        ours = exchange_word_accesses(rec, LAYERS[zoo_layer_name(rec["name"])], hw, links)
        assert compare(rec, ours) == [], rec["name"]
        counts += sum(len(d) for per in rec["word_accesses"].values() for d in per.values())
    assert counts == 756                    # 21 layers x 36 (memory, operand, direction)


@pytest.mark.parametrize("name", SIX)
def test_mobilenet_v2_word_accesses_exact(name: str) -> None:
    """MobileNet-V2 (53 layers, depthwise ones included): ZigZag names torchvision's
    ONNX nodes differently from the zoo, so records and zoo layers pair up in network
    order, each pair checked to have the same output width, kernel width and output
    channels (K x G)."""
    _, records = _records(name, "mobilenetv2")
    layers = list(load("mobilenet_v2").layers())
    assert len(records) == len(layers) == 53
    hw, links = load_hardware(ZZ / f"{name}.yaml"), _links(name)
    for rec, layer in zip(records, layers):
        s = rec["loop_sizes"]
        assert (s.get("OX", 1), s.get("FX", 1), s["K"] * s.get("G", 1)) == \
            (layer.Q, layer.S, layer.K), (rec["name"], layer.name)
        assert compare(rec, exchange_word_accesses(rec, layer, hw, links)) == [], layer.name


def test_a_changed_mapping_changes_the_counts() -> None:
    """The exchange is not echoing ZigZag: moving the weight register's two outermost
    loops (OX 56, then K 2) to DRAM as K inside OX makes DRAM refetch all weights once
    per OX: 56 x the 36,864 weights = 2,064,384 bytes, 258,048 64-bit words."""
    _, records = _records("tpu_like")
    rec = json.loads(json.dumps(records[1]))
    hw = load_hardware(ZZ / "tpu_like.yaml")
    layer = LAYERS[zoo_layer_name(rec["name"])]
    base = exchange_word_accesses(rec, layer, hw, _links("tpu_like"))
    w = rec["temporal_loops"]["W"]
    assert w[0][-2:] == [["OX", 56], ["K", 2]] and w[1] == []
    k, ox = w[0].pop(), w[0].pop()
    w[1] += [k, ox]
    moved = exchange_word_accesses(rec, layer, hw, _links("tpu_like"))
    assert base["W"]["dram"]["rd_out_to_low"] == 36864 * 8 / 64
    assert moved["W"]["dram"]["rd_out_to_low"] == 56 * 36864 * 8 / 64
    assert moved["O"] == base["O"]
