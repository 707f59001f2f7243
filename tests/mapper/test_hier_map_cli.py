"""``coforge map --arch H.yaml`` with an N-level hierarchy spec (mapper.hier_map).

ResNet-18 is mapped on the 5-level example and on the spec ``coforge import zigzag``
writes for ZigZag's tpu_like. Every figure of ``result.json`` is checked against an
independent recomputation, not against an earlier run:

* totals are the sums of the per-layer figures (layers run in sequence);
* each layer's reported mapping, rebuilt with ``NestMapping.build`` from its plain data,
  is re-costed with ``sim.hier_cost.evaluate``: cycles, energy and every level's
  per-operand element accesses equal the reported ones, and the mapping fits;
* the reported words are checked through the energy: per level, words read x read
  pJ/word + words written x write pJ/word is the cost model's own energy of that level,
  and bytes are words x word_bits / 8;
* layer names and MACs are the zoo network's.

Bad input exits 2 with one ``coforge: error:`` line.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pytest

from dataflows import zoo
from dataflows.nest_mapping import NestMapping
from dataflows.network import Network
from dataflows.onnx_io import from_onnx
from mapper.cli import build_parser, main
from sim.hier_cost import check_fits, evaluate
from sim.hierarchy import load_hierarchy
from tests.bad_onnx_models import model

DATA = Path(__file__).resolve().parents[1] / "data"
FIVE = DATA / "hierarchy" / "edge_2core_4cluster_8x8.yaml"
ZZ = DATA / "zigzag"


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)


def _check_result(out: Path, spec: Path, seed: int, network: Network | None = None) -> dict:
    doc = json.loads((out / "result.json").read_text())
    hier = load_hierarchy(spec)
    net = {layer.name: layer for layer in (network or zoo.load("resnet18")).layers()}
    assert [e["name"] for e in doc["layers"]] == list(net)
    assert doc["run"]["seed"] == seed
    assert doc["spec_hash"] == hashlib.sha256(spec.read_bytes()).hexdigest()
    assert doc["coforge_version"] and doc["arch"] == hier.name

    t = doc["totals"]
    for key in ("macs", "compute_cycles", "total_cycles"):
        assert t[key] == sum(e[key] for e in doc["layers"]), key
    assert _close(t["energy_pj"], sum(e["energy_pj"] for e in doc["layers"]))
    assert _close(t["latency_ms"], t["total_cycles"] / (hier.clock_mhz * 1e3))
    for lv, v in t["energy_pj_by_level"].items():
        assert _close(v, sum(e["energy_pj_by_level"][lv] for e in doc["layers"])), lv

    for e in doc["layers"]:
        layer = net[e["name"]]
        assert e["macs"] == layer.macs
        mapping = NestMapping.build(hier, **e["mapping"])
        check_fits(layer, hier, mapping)                 # raises unless the tiles fit
        r = evaluate(layer, hier, mapping,               # independent re-costing
                     input_reuse=doc["run"]["input_reuse"])
        assert r.legal
        assert (e["total_cycles"], e["compute_cycles"]) == (r.total_cycles, r.compute_cycles)
        assert _close(e["energy_pj"], r.energy_pj)
        assert e["elements"] == r.accesses
        assert _close(e["energy_pj_by_level"]["mac"], layer.macs * hier.compute.mac_pj)
        for level in hier.levels:
            words, nbytes = e["accesses"][level.name], e["bytes"][level.name]
            assert set(words) == set(level.keeps)
            pj = sum(w["reads"] * level.read_pj_per_word
                     + w["writes"] * level.write_pj_per_word for w in words.values())
            assert _close(pj, r.energy_pj_by_level[level.name]), (e["name"], level.name)
            assert _close(pj, e["energy_pj_by_level"][level.name])
            for o, w in words.items():
                for k in ("reads", "writes"):
                    assert _close(nbytes[o][k], w[k] * level.word_bits / 8)
        cm = e["cycle_model"]           # the tile-by-tile timeline of the same mapping
        assert cm["total_cycles"] >= e["total_cycles"] >= e["compute_cycles"]
        assert cm["stall_cycles"] == cm["total_cycles"] - e["compute_cycles"]
        assert sum(cm["stall_cycles_by_level"].values()) == cm["stall_cycles"]
    assert t["cycle_model_total_cycles"] == sum(e["cycle_model"]["total_cycles"]
                                                for e in doc["layers"])
    assert _close(t["cycle_model_latency_ms"],
                  t["cycle_model_total_cycles"] / (hier.clock_mhz * 1e3))
    text = (out / "report.txt").read_text()
    assert "TOTAL" in text and f"cycle model (sim.cycle.hier_cycle, tile by tile): " \
        f"{t['cycle_model_total_cycles']:,} cycles" in text
    return doc


def test_map_resnet18_on_five_level_hierarchy(tmp_path: Path, capsys) -> None:
    out = tmp_path / "five"
    assert main(["map", "--network", "resnet18", "--arch", str(FIVE), "--objective", "edp",
                 "--max-evals", "1500", "--seed", "7", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "distinct layer shapes searched (evolution, edp, seed 7)" in printed
    assert f"wrote {out / 'result.json'}" in printed
    doc = _check_result(out, FIVE, 7)
    assert doc["run"]["search_strategy"] == "evolution"


def test_map_resnet18_on_imported_zigzag_spec(tmp_path: Path, capsys) -> None:
    spec = tmp_path / "tpu_like.yaml"
    assert main(["import", "zigzag", "--hardware", str(ZZ / "tpu_like.yaml"),
                 "--mapping", str(ZZ / "tpu_like_mapping.yaml"), "--out", str(spec)]) == 0
    out = tmp_path / "tpu"
    # tpu_like's 2 B weight register makes legal mappings rare among random draws: at
    # 1000 evaluations some seeds find none for conv1 (a one-line error); 5000 do
    assert main(["map", "--network", "resnet18", "--arch", str(spec), "--objective",
                 "latency", "--strategy", "random", "--max-evals", "5000", "--seed", "1",
                 "--out", str(out)]) == 0
    assert "(random, latency, seed 1)" in capsys.readouterr().out
    doc = _check_result(out, spec, 1)
    assert doc["run"]["search_objective"] == "cycles"


def test_map_onnx_model_on_five_level_hierarchy(tmp_path: Path) -> None:
    import onnx
    from onnx import helper
    path = tmp_path / "tiny.onnx"
    onnx.save(model([helper.make_node("Conv", ["x", "w"], ["y"], name="conv", pads=[1] * 4),
                     helper.make_node("Flatten", ["y"], ["f"], name="flat"),
                     helper.make_node("Gemm", ["f", "g"], ["z"], name="fc", transB=1)],
                    {"x": [1, 3, 8, 8]}, {"w": (4, 3, 3, 3), "g": (10, 256)}), path)
    out = tmp_path / "onnx"
    assert main(["map", "--onnx", str(path), "--arch", str(FIVE), "--max-evals", "500",
                 "--out", str(out)]) == 0
    doc = _check_result(out, FIVE, 0, from_onnx(str(path)))
    assert len(doc["layers"]) == 2


def _bad_five_level(tmp_path: Path, old: str, new: str) -> Path:
    text = FIVE.read_text()
    assert text.count(old) == 1
    path = tmp_path / "bad.yaml"
    path.write_text(text.replace(old, new))
    return path


@pytest.mark.parametrize("case", ["no_mapping_fits", "unknown_key", "strategy",
                                  "evolution_on_3_level"])
def test_bad_input_exits_2_with_one_line(tmp_path: Path, capsys, case: str) -> None:
    if case == "no_mapping_fits":        # a 64 KiB top level cannot hold conv1's input
        arch = _bad_five_level(tmp_path, "capacity_bytes: null", "capacity_bytes: 65536")
        extra, needle = [], "no legal mapping"
    elif case == "unknown_key":
        arch = _bad_five_level(tmp_path, "clock_mhz: 500", "clock_mhz: 500\n  clock: 1")
        extra, needle = [], "clock"
    elif case == "strategy":
        arch, extra, needle = FIVE, ["--strategy", "annealing"], "--strategy annealing"
    else:
        arch, extra, needle = Path("edge_8x8_ws"), ["--strategy", "evolution"], "genetic"
    rc = main(["map", "--network", "resnet18", "--arch", str(arch), "--max-evals", "200",
               "--out", str(tmp_path / "out")] + extra)
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1 and err.startswith("coforge: error: "), err
    assert needle in err, err
    assert not (tmp_path / "out" / "result.json").exists()


def test_three_level_map_keeps_its_default_strategy() -> None:
    args = build_parser().parse_args(["map", "--network", "resnet18"])
    assert args.strategy == "annealing"


def test_a_kind_the_hierarchy_model_does_not_cost_is_refused() -> None:
    """``Layer`` refuses unknown kinds at load, so the guard is reached only from the
    Python API with a layer forced past it: the error names the layer and the kind."""
    from mapper.hier_map import HierMapError, map_hierarchy
    import copy
    layer = copy.copy(zoo.load("alexnet").layers()[0])     # a copy: the zoo may cache
    object.__setattr__(layer, "kind", "lstm")

    class OneLayer:
        name = "one"

        def layers(self) -> list:
            return [layer]

    with pytest.raises(HierMapError, match="layer 'conv1': kind 'lstm' is not costed"):
        map_hierarchy(OneLayer(), load_hierarchy(FIVE))  # type: ignore[arg-type]


def test_map_with_sliding_window_input_reuse(tmp_path: Path) -> None:
    """``--input-reuse window``: the search and every figure use the window rule (the
    re-costing in _check_result passes it), and on each chosen mapping the top level's
    input reads are at most the refetch rule's of the same mapping (the rule itself is
    checked by hand and against a brute-force walk in tests/sim/test_hier_halo.py)."""
    out = tmp_path / "win"
    assert main(["map", "--network", "resnet18", "--arch", str(FIVE), "--input-reuse",
                 "window", "--max-evals", "800", "--out", str(out)]) == 0
    doc = _check_result(out, FIVE, 0)
    assert doc["run"]["input_reuse"] == "window"
    hier = load_hierarchy(FIVE)
    top = hier.levels[0].name
    net = {layer.name: layer for layer in zoo.load("resnet18").layers()}
    for e in doc["layers"]:
        mapping = NestMapping.build(hier, **e["mapping"])
        refetch = evaluate(net[e["name"]], hier, mapping, input_reuse="refetch")
        assert e["elements"][top]["input"]["reads"] <= \
            refetch.accesses[top]["input"]["reads"], e["name"]


def test_input_reuse_on_a_three_level_spec_is_refused(capsys) -> None:  # noqa: ANN001
    assert main(["map", "--network", "resnet18", "--arch", "edge_8x8_ws",
                 "--input-reuse", "window"]) == 2
    assert "--input-reuse applies to a hierarchy --arch" in capsys.readouterr().err


def test_validate_refuses_a_hierarchy_spec_with_the_fix(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    """coforge validate checks 3-level specs (RTL, FPGA); given a hierarchy spec it names
    what to run instead, one line, exit 2 (it used to report an unknown key 'hierarchy')."""
    assert main(["validate", "--arch", str(FIVE), "--network", "resnet18",
                 "--out", str(tmp_path / "v")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "a hierarchy spec; validate checks 3-level specs" in err[0]
    assert f"coforge map --arch {FIVE}" in err[0]


@pytest.mark.parametrize("argv", [
    ["simulate", "--network", "resnet18"],
    ["llm", "--model", "qwen2.5_0.5b", "--prompt-tokens", "4", "--gen-tokens", "2"],
    ["rtl"],
], ids=["simulate", "llm", "rtl"])
def test_three_level_commands_refuse_a_hierarchy_spec_with_the_fix(
        argv: list[str], tmp_path: Path, capsys) -> None:  # noqa: ANN001
    """The commands that model the 3-level array spec, given a hierarchy spec (e.g. what
    ``coforge import`` wrote), say what it is and what runs it, one line, exit 2 -- not
    "unknown key 'hierarchy'" from the 3-level schema."""
    assert main(argv + ["--arch", str(FIVE), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "a hierarchy spec" in err[0] and "unknown key" not in err[0]
    assert f"coforge map --arch {FIVE}" in err[0]


def test_time_budget_stops_the_searches_by_the_clock(tmp_path: Path) -> None:
    """--time-budget caps the network's search by the wall clock (shared by the distinct
    shapes as their MACs are): with --max-evals 10^7 per shape (hours of costing) and 2 s,
    each shape stops far below its evaluation cap, every layer gets a mapping
    that fits, and result.json records the budget. Not a timing assertion: only that the
    clock, not the evaluation count, ended each search."""
    out = tmp_path / "tb"
    assert main(["map", "--network", "resnet18", "--arch", str(FIVE), "--time-budget", "2s",
                 "--max-evals", "10000000", "--out", str(out)]) == 0
    doc = json.loads((out / "result.json").read_text())
    assert doc["run"]["time_budget_s"] == 2.0
    hier = load_hierarchy(FIVE)
    layers = {x.name: x for x in zoo.load("resnet18").layers()}
    searched = [e for e in doc["layers"] if e["evaluations"]]
    assert len(searched) == doc["run"]["distinct_shapes"] == 12
    from mapper.nest_search import FIRST_CHUNK
    for e in searched:                  # both halves cost the outermost row and a chunk
        assert 2 * (1 + FIRST_CHUNK) <= e["evaluations"] < 10_000_000 // 10, e["name"]
    for e in doc["layers"]:
        check_fits(layers[e["name"]], hier, NestMapping.build(hier, **e["mapping"]))


def test_a_bad_time_budget_is_one_line(capsys) -> None:  # noqa: ANN001
    assert main(["map", "--network", "resnet18", "--arch", str(FIVE),
                 "--time-budget", "0s"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--time-budget must look like 30s, 10m or 1h" in err[0]


def test_workers_give_the_one_process_result(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    """--workers 2 searches the shapes in two processes; each search is seeded alike, so
    result.json (mappings, figures, evaluations) equals the one-process run's."""
    docs = []
    for w in ("1", "2"):
        out = tmp_path / f"w{w}"
        assert main(["map", "--network", "mobilenet_v1", "--arch", str(FIVE), "--max-evals",
                     "1500", "--workers", w, "--out", str(out)]) == 0
        doc = json.loads((out / "result.json").read_text())
        doc["run"].pop("elapsed_s")
        docs.append(doc)
    assert docs[0] == docs[1]
    assert main(["map", "--network", "resnet18", "--arch", str(FIVE), "--workers", "0"]) == 2
    assert "--workers must be >= 1, not 0" in capsys.readouterr().err


def test_workers_give_the_one_process_result_on_a_three_level_spec(tmp_path: Path) -> None:
    """On a 3-level spec --workers runs the cycle-model checks of the chosen mappings (the
    slow part of coforge map: ~50 of vgg16's 54 s) in that many processes; the model is
    deterministic, so result.json is the same for 1 and 2."""
    docs = []
    for w in ("1", "2"):
        out = tmp_path / f"w{w}"
        assert main(["map", "--network", "alexnet", "--arch", "edge_8x8_ws", "--workers", w,
                     "--out", str(out)]) == 0
        doc = json.loads((out / "result.json").read_text())
        doc.pop("run")
        docs.append(doc)
    assert docs[0] == docs[1]
