"""Robustness probe of ``coforge import accelforge`` on AccelForge 1.0.467 inputs the other
tests do not cover (session 23): spatial loop-validity rules, energy scales and the
component fields coforge cannot follow.

Expected values are read off AccelForge's own definitions (its
``frontend/arch/spatialable.py`` and ``components.py`` docstrings, quoted in the tests)
and the files, with hand arithmetic; none comes from coforge's earlier output.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dataflows.dataflow import MAP_DIMS, OPERANDS
from dataflows.nest_mapping import MappingError, NestMapping
from mapper.accelforge_exchange import accelforge_nest_mapping
from mapper.accelforge_import import AccelforgeImportError, load_accelforge
from sim.hierarchy import Fanout

DATA = Path(__file__).resolve().parents[1] / "data"
PROBE = DATA / "import_probe"
AF = DATA / "accelforge_1.0.467"


def fanouts(conv: object) -> dict[str, Fanout]:
    return {f.name: f for f in conv.hierarchy.fanouts}                 # type: ignore


def test_loop_bounds_to_one_leave_only_m() -> None:
    """at_mac_with_constraints: ``loop_bounds: [{expression: ~m, operator: ==, value: 1}]``
    bounds every rank variable but m (the conv's output channels, coforge's K) to one
    iteration on MACArray.X, so only K may be unrolled there; no reuse/may_reuse: every
    tensor may be reused (multicast) and outputs reduced."""
    f = fanouts(load_accelforge(PROBE / "accelforge_at_mac_with_constraints.yaml"))
    assert f["MACArray.X"].dims == (("K",),)
    assert (f["MACArray.X"].size, f["MACArray.X"].multicast, f["MACArray.X"].reduction) == \
        ((4,), OPERANDS, True)


def test_reuse_restricts_the_unrolled_loops() -> None:
    """AccelForge: "Spatial loops may only be placed that reuse ALL tensors given here"
    (``reuse``). A loop reuses a tensor when the tensor's index does not depend on it:
    output O[n,k,p,q] -> C, R, S; input I[n,c,p+r,q+s] -> K; weight W[k,c,r,s] -> N, P,
    Q. No ``reuse`` (default Nothing): any loop. ``may_reuse`` defaults to ``reuse``."""
    simba = fanouts(load_accelforge(AF / "arch_simba.yaml"))
    assert simba["VectorMAC.reuse_output"].dims == (("C", "R", "S"),)
    assert simba["VectorMAC.reuse_output"].multicast == ("output",)
    assert simba["VectorMAC.reuse_input"].dims == (("K",),)
    assert simba["VectorMAC.reuse_input"].multicast == ("input",)
    assert simba["ProcessingElement.reuse_all"].dims == (MAP_DIMS,)
    eyeriss = fanouts(load_accelforge(AF / "arch_eyeriss.yaml"))
    assert eyeriss["ProcessingElement.reuse_weight"].dims == (("N", "P", "Q"),)


def test_constrained_fanout_refuses_a_forbidden_unrolling() -> None:
    """The constraint reaches the mapping space: C on MACArray.X is no legal mapping."""
    h = load_accelforge(PROBE / "accelforge_at_mac_with_constraints.yaml").hierarchy
    m = NestMapping.build(h, spatial={"MACArray.X": [{"C": 4}]})
    with pytest.raises(MappingError, match=r"C cannot be unrolled on axis 0 of fanout "
                                           r"'MACArray.X'; allowed: \['K'\]"):
        m.check(h, {d: 4 if d == "C" else 1 for d in MAP_DIMS})


@pytest.mark.parametrize("arch, record", [("ws_16x16", "ws_16x16"), ("arch_simple", "simple"),
                                          ("arch_nvdla", "nvdla"), ("arch_tpu_v4i", "tpu_v4i")])
def test_accelforge_own_optima_obey_the_restricted_fanouts(arch: str, record: str) -> None:
    """Every mapping AccelForge's FFM mapper recorded (its space obeys ``reuse``) is a legal
    nest mapping of the restricted fanouts: the restriction cuts nothing AccelForge
    allows."""
    from tests.mapper.test_accelforge_import import layer_of
    conv = load_accelforge(AF / f"{arch}.yaml")
    for rec in json.loads((AF / f"{record}.json").read_text())["layers"]:
        lm = accelforge_nest_mapping(conv, rec)
        layer = layer_of(rec)
        lm.mapping.check(lm.hierarchy, {d: getattr(layer, d) for d in MAP_DIMS})


def _arch(tmp_path: Path, spatial: str = "", memory: str = "", compute: str = "",
          action: str = "") -> Path:
    p = tmp_path / "arch.yaml"
    p.write_text(f"""arch:
  nodes:
  - !Memory
    name: MainMemory
    size: inf
    tensors: {{keep: ~Intermediates, may_keep: All}}
    actions:
    - {{name: read, energy: 1, throughput: inf}}
    - {{name: write, energy: 1, throughput: inf}}
  - !Memory
    name: Buffer
    size: 8192
    tensors: {{keep: All}}
{memory}    actions:
    - {{name: read, energy: 3, throughput: inf{action}}}
    - {{name: write, energy: 3, throughput: inf}}
  - !Container
    name: Array
    spatial:
    - {{name: X, fanout: 4{spatial}}}
  - !Compute
    name: MAC
{compute}    actions:
    - {{name: compute, energy: 0.5, throughput: 1}}
""")
    return p


def test_may_reuse_moves_data_reuse_restricts_loops(tmp_path: Path) -> None:
    """Both given: data movement (multicast, reduction) follows may_reuse (All), loop
    validity follows reuse (output -> C, R, S)."""
    f = fanouts(load_accelforge(_arch(tmp_path, ", reuse: output, may_reuse: All")))
    assert (f["Array.X"].dims, f["Array.X"].multicast, f["Array.X"].reduction) == \
        ((("C", "R", "S"),), OPERANDS, True)


def test_energy_scales_multiply(tmp_path: Path) -> None:
    """AccelForge multiplies an action's energy by the component's and the action's
    energy_scale: read 3 pJ x 2 x 0.5 = 3 pJ, write 3 pJ x 2 = 6 pJ."""
    h = load_accelforge(_arch(tmp_path, memory="    energy_scale: 2\n",
                              action=", energy_scale: 0.5")).hierarchy
    buf = {lv.name: lv for lv in h.levels}["Buffer"]
    assert (buf.read_pj, buf.write_pj) == (pytest.approx(3.0), pytest.approx(6.0))


@pytest.mark.parametrize("kw, match", [
    ({"spatial": ", loop_bounds: [{expression: c, operator: '<=', value: 4}]"},
     r"Array\.spatial\.X\.loop_bounds\[0\]: c <= 4 has no coforge counterpart"),
    ({"spatial": ", loop_bounds: [{expression: c, operator: '==', value: 2}]"},
     r"loop_bounds\[0\]: c == 2 has no coforge counterpart"),
    ({"spatial": ", reuse: All"},
     r"Array\.spatial\.X: its reuse .* leave no loop dimension to unroll"),
    ({"memory": "    leak_power: 0.5\n"}, r"Buffer\.leak_power: 0\.5 has no coforge counterpart"),
    ({"memory": "    actions_scale: 2\n"}, r"Buffer\.actions_scale: 2 has no coforge"),
    ({"memory": "    n_parallel_instances: 2\n"}, r"Buffer\.n_parallel_instances: 2"),
    ({"memory": "    skip_initial_output_write: false\n"},
     r"Buffer\.skip_initial_output_write: False has no coforge counterpart"),
    ({"action": ", throughput_scale: 2"}, r"Buffer\.read\.throughput_scale: 2"),
    ({"compute": "    spatial: []\n    enabled: true\n    leak_power: 1\n"},
     r"MAC\.leak_power: 1 has no coforge counterpart"),
])
def test_unrepresentable_fields_refused_in_one_line(tmp_path: Path, kw: dict[str, str],
                                                    match: str) -> None:
    with pytest.raises(AccelforgeImportError, match=match) as err:
        load_accelforge(_arch(tmp_path, **kw))
    assert "\n" not in str(err.value) and "arch.yaml" in str(err.value)


def test_compute_throughput_other_than_one_per_cycle_refused(tmp_path: Path) -> None:
    p = _arch(tmp_path)
    p.write_text(p.read_text().replace("energy: 0.5, throughput: 1}",
                                       "energy: 0.5, throughput: 2}"))
    with pytest.raises(AccelforgeImportError, match=r"MAC\.compute\.throughput: 2 computes "
                                                    r"per cycle has no coforge counterpart"):
        load_accelforge(p)
    p.write_text(p.read_text().replace("throughput: 2}", "throughput: 1e9}"))
    assert any("MAC.compute: throughput 1e+09 is per second" in n
               for n in load_accelforge(p).notes)


def test_uncarried_constraints_are_noted() -> None:
    """simba's fanouts all set ``min_usage: 1``; eyeriss gives ``total_latency``
    expressions: neither is carried, both are in the notes."""
    simba = load_accelforge(AF / "arch_simba.yaml").notes
    assert sum("min_usage 1" in n for n in simba) == 3                 # three fanouts
    eyeriss = load_accelforge(AF / "arch_eyeriss.yaml").notes
    assert any(n.startswith("GlobalBuffer: total_latency") for n in eyeriss)


def test_cli_refusal_is_exit_2_one_line(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    from mapper.cli import main
    arch = _arch(tmp_path, memory="    leak_power: 0.5\n")
    assert main(["import", "accelforge", str(arch), "--out", str(tmp_path / "o.yaml")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Buffer.leak_power" in err and "Traceback" not in err


def test_constrained_arch_maps_with_only_k_unrolled(tmp_path: Path) -> None:
    """End to end: the imported spec maps resnet18 (a few evaluations) and every layer's
    MACArray.X carries K only, at most 4 wide; energies are finite."""
    import math

    from mapper.cli import main
    spec, out = tmp_path / "spec.yaml", tmp_path / "map"
    assert main(["import", "accelforge", str(PROBE / "accelforge_at_mac_with_constraints"
                                                     ".yaml"), "--out", str(spec)]) == 0
    assert main(["map", "--network", "resnet18", "--arch", str(spec), "--out", str(out),
                 "--max-evals", "200"]) == 0
    layers = json.loads((out / "result.json").read_text())["layers"]
    assert len(layers) == 21
    for layer in layers:
        (axis,) = layer["mapping"]["spatial"]["MACArray.X"]
        assert set(axis) <= {"K"} and math.prod(axis.values()) <= 4, layer["name"]
        assert math.isfinite(layer["energy_pj"])


def _ws_nodes() -> dict:
    from mapper.accelforge_import import read_arch
    return read_arch(AF / "ws_16x16.yaml")


def _set(arch: dict, path: tuple, value: object) -> dict:
    node = arch
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value
    return arch


@pytest.mark.parametrize("path, value, match", [
    (("nodes", 1, "tensors"), "x", r"Scratchpad\.tensors must be a mapping"),
    (("nodes", 1, "tensors", "keep"), 3, r"Scratchpad\.tensors\.keep: 3 is not a set of "
                                         r"tensors"),
    (("nodes", 3, "spatial", 0, "reuse"), 3, r"PEArray\.spatial\.rows\.reuse: 3 is not a set"),
    (("nodes", 1, "actions"), -1, r"Scratchpad\.actions must be a list"),
    (("nodes", 3, "spatial", 0, "fanout"), 1.5, r"rows\.fanout: 1\.5 must be a positive "
                                                r"whole number"),
    (("nodes", 1, "size"), float("nan"), r"Scratchpad\.size: nan must be a number of bits > 0"),
    (("nodes", 1, "size"), -8, r"Scratchpad\.size: -8 must be a number of bits > 0"),
    (("nodes", 1, "actions", 1, "bits_per_action"), 16,
     r"Scratchpad\.write\.bits_per_action: 16 differs from the read action's 8"),
    (("nodes", 1, "actions", 0, "bits_per_action"), "x", r"read\.bits_per_action: cannot "
                                                         r"evaluate 'x'"),
])
def test_malformed_fields_are_one_line_errors(path: tuple, value: object, match: str) -> None:
    """Found by mutating the shipped files field by field (each used to raise a Python
    TypeError/ValueError, or, for a negative size or different write width, to convert
    to a wrong number silently)."""
    from mapper.accelforge_import import convert_accelforge
    with pytest.raises(AccelforgeImportError, match=match) as err:
        convert_accelforge(_set(_ws_nodes(), path, value), source="ws.yaml")
    assert "\n" not in str(err.value) and str(err.value).startswith("ws.yaml: ")


def test_binary_file_and_unknown_set_variable(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """A non-text file used to end in a UnicodeDecodeError traceback (exit 1); a --set
    name the file never uses was ignored silently. simple's GlobalBufferSize=800 bits
    is 100 bytes."""
    from mapper.cli import main
    binary = tmp_path / "b.yaml"
    binary.write_bytes(b"arch:\n\xd0\xff\n")
    out = str(tmp_path / "o.yaml")
    assert main(["import", "accelforge", str(binary), "--out", out]) == 2
    assert "b.yaml: not a UTF-8 text file" in capsys.readouterr().err
    simple = str(AF / "arch_simple.yaml")
    assert main(["import", "accelforge", simple, "--out", out, "--set", "GlobalBufferSise=8"]) == 2
    assert "--set GlobalBufferSise: the file uses no Jinja variable" in capsys.readouterr().err
    assert main(["import", "accelforge", simple, "--out", out, "--set", "GlobalBufferSize=800"]) \
        == 0
    levels = {lv.name: lv for lv in load_accelforge(AF / "arch_simple.yaml", {
        "GlobalBufferSize": "800"}).hierarchy.levels}
    assert levels["GlobalBuffer"].capacity_bytes == 100


def test_disabled_memory_is_left_out(tmp_path: Path) -> None:
    """AccelForge: "If the expression resolves to False, then the component is disabled"
    (coforge's layers are 3-tensor einsums: ``len(All)`` is 3). The import used to keep a
    disabled memory as a level."""
    h = load_accelforge(_arch(tmp_path, memory="    enabled: len(All) >= 4\n")).hierarchy
    assert [lv.name for lv in h.levels] == ["MainMemory"]
    h = load_accelforge(_arch(tmp_path, memory="    enabled: len(All) >= 3\n")).hierarchy
    assert [lv.name for lv in h.levels] == ["MainMemory", "Buffer"]


def test_bits_per_value_keys_are_tensor_expressions(tmp_path: Path) -> None:
    """AccelForge: bits_per_value "Keys are evaluated as expressions and may reference one
    or more tensors. Tensors not listed use the workload's bits_per_value" (8). The
    import used to read the key ``output`` only: ``weight: 4`` or ``All: 16`` were
    dropped (8 bits assumed)."""
    conv = load_accelforge(_arch(tmp_path, memory="    bits_per_value: {weight: 4, "
                                                  "input | output: 16}\n"))
    assert conv.value_bits["Buffer"] == {"weight": 4, "input": 16, "output": 16}
    assert conv.hierarchy.compute.accumulator_bits == 16
    conv = load_accelforge(_arch(tmp_path, memory="    bits_per_value: {All: 2 * "
                                                  "weight.bits_per_value}\n"))
    assert conv.value_bits["Buffer"] == {"weight": 16, "input": 16, "output": 16}
    with pytest.raises(AccelforgeImportError, match=r"Buffer\.bits_per_value\.weight: 0 must "
                                                    r"be a positive whole number"):
        load_accelforge(_arch(tmp_path, memory="    bits_per_value: {weight: 0}\n"))
