"""Convert an AccelForge arch YAML into a coforge :class:`~sim.hierarchy.Hierarchy`.

AccelForge (pip ``accelforge``, the successor of Timeloop; Python >= 3.12) describes an
architecture as ``arch.nodes``, outermost first: ``!Memory`` nodes (``size`` in bits,
``tensors: {keep, may_keep}`` set expressions over tensor names, ``actions`` with
``energy`` per action of ``bits_per_action`` bits and a ``throughput``), ``!Container``
nodes whose ``spatial`` list replicates everything below (``fanout``, ``reuse``: the
tensors a parent access can serve every child with) and ``!Compute`` nodes. The file is
read as data here (AccelForge is never imported): its few Jinja lines are rendered
(``{% set X = X | default(V) %}`` and ``{{X}}`` only; other control blocks are refused),
the ``!Node`` tags become a ``_node`` key, and the text goes through coforge's one YAML
loader (:func:`sim.yaml_io.loads_yaml`: duplicate keys are errors).

Translation (AccelForge -> coforge):

* ``!Memory`` -> a :class:`~sim.hierarchy.StorageLevel` of the same name keeping
  ``keep | may_keep``, the ``may_keep`` tensors beyond ``keep`` as its ``may_bypass``
  (the search tries each choice; not on the first memory, which keeps every tensor)
  (for a one-einsum workload: ``All``/``~Intermediates`` = every
  operand, ``Inputs`` = input and weight, ``Outputs`` = output, ``~X`` = all but X,
  ``<Memory>`` = what that memory keeps); capacity ``size / 8`` bytes (the first
  memory, ``inf``, is unbounded; an inner ``inf`` becomes 2**50 bytes, noted);
  ``word_bits`` = the read action's ``bits_per_action`` (AccelForge's default: 1 bit;
  energies and throughputs are per action);
  ``read_pj``/``write_pj`` = the actions' ``energy`` (in J when below 1e-6, scaled to pJ,
  noted); bandwidth ``throughput x bits_per_action / 8`` B/cycle when the throughput is
  a per-cycle number (<= 1e6), else unlimited (per-second rates need a clock, noted).
  A memory's own ``spatial`` list becomes a fanout just above it.
* ``!Container``/``spatial`` -> one 1-D :class:`~sim.hierarchy.Fanout` per entry
  (named ``<node>.<entry>``, outermost first as listed; a 2-D array is two fanouts so
  each axis keeps its own reuse): ``multicast`` = the entry's ``may_reuse`` tensors
  (AccelForge's default: its ``reuse``, else ``All``), ``reduction`` = whether outputs
  are among them. The loop dimensions it may unroll (``dims``) follow AccelForge's
  loop-validity rules: ``reuse`` (default ``Nothing``) admits only loops every listed
  tensor is reused across, i.e. dimensions irrelevant to all of them
  (:data:`dataflows.dataflow.RELEVANT`: ``reuse: output`` -> C, R, S; ``input`` -> K;
  ``weight`` -> N, P, Q); a ``loop_bounds`` entry bounding rank variables to one
  iteration (``==``/``<=``/``product==``/``product<=`` 1; rank variables as
  :data:`RANK_DIM`, set expressions like ``~m``) removes them; any other bound is
  refused (coforge's fanouts do not bound a factor). ``min_usage`` (AccelForge's
  minimum spatial utilization) -> the fanout's ``min_usage`` (noted): a mapping must
  unroll that share of it, or as much as exact factors of the layer reach (AccelForge
  relaxes per mapping template, coforge per layer: the stricter of the two).
* ``!Compute`` -> the MAC energy (the last enabled compute node; its ``throughput``
  must be 1 compute per cycle, coforge's MAC, or a per-second rate, noted); a memory, compute or
  action whose energy comes from an AccelForge component model (``component_class``
  other than ``Dummy``) is left to coforge's defaults and noted; ``Dummy`` costs 0.
  A given energy is multiplied by the component's and the action's ``energy_scale``, as
  AccelForge does. Fields that change AccelForge's numbers with no coforge counterpart
  are refused unless neutral: nonzero ``leak_power``, ``actions_scale``,
  ``n_parallel_instances``, ``values_per_action``, ``throughput_scale``,
  ``latency_scale``, ``skip_initial_output_write: false``; a ``total_latency``
  expression is noted (coforge's bandwidths apply).
* Tensor sizes, AccelForge's semantics: each memory stores each tensor at its own
  ``bits_per_value`` (8 bits, AccelForge's examples' workload width, unless the memory
  sets ``bits_per_value`` for it; keys are tensor set expressions) -> the level's
  ``value_bits``: every access there, a
  spilled partial sum included, and its capacity at that width (not coforge's default
  of partial sums at the accumulator width). ``compute.accumulator_bits`` = the largest
  ``bits_per_value.output`` of any memory, 8 when none is given.
* Partial sums at the innermost memory keeping outputs, AccelForge's counting:
  ``compute.psum_access: separate_no_first_read`` (a write per partial sum refilled
  from above, a read per one drained up, no read before an output's first accumulation:
  its default ``skip_initial_output_write``).
* Latency, AccelForge's model: every component's time overlaps the others (the
  slowest sets the pace, whatever the buffering): ``compute.overlap: always``, so
  coforge's analytic cycles are the max of the levels' port times and the compute
  (the cycle model, with the same setting, does not stall either).

Unrepresentable input raises :class:`AccelforgeImportError`, one line naming the file
and the node. A mapping AccelForge recorded, in coforge terms: :mod:`mapper.accelforge_exchange`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dataflows.dataflow import MAP_DIMS, OPERANDS, RELEVANT
from dataflows.errors import CoforgeError
from sim.hierarchy import Compute, Fanout, Hierarchy, StorageLevel
from sim.yaml_io import loads_yaml

#: Inner ``size: inf`` memories (sizing studies) get this capacity.
HUGE_BYTES = 1 << 50
#: Per-cycle throughputs are at most this (larger numbers are per second).
MAX_PER_CYCLE = 1e6
#: AccelForge rank variables of ``benchmarks/accelforge_runner.py``'s conv workload.
RANK_DIM = {"g": "G", "n": "N", "b": "N", "m": "K", "k": "K", "c": "C", "p": "P", "q": "Q",
            "r": "R", "s": "S"}
_TENSOR = {"weight": "weight", "input": "input", "output": "output", "W": "weight",
           "I": "input", "O": "output"}


class AccelforgeImportError(CoforgeError):
    """The AccelForge arch uses something coforge cannot represent, or is malformed."""


@dataclass(frozen=True)
class AccelforgeConversion:
    """The hierarchy, the fanout of each spatial entry (``(node, entry) -> (fanout,
    axis)``), every approximation that applied (``notes``), each level's bits per
    read action and bits per value of each kept operand."""

    hierarchy: Hierarchy
    axis_of: dict[tuple[str, str], tuple[str, int]]
    notes: tuple[str, ...]
    source: str
    action_bits: dict[str, int]
    value_bits: dict[str, dict[str, int]]


# -- reading ---------------------------------------------------------------------------
def _render(text: str, source: str, variables: dict[str, object]) -> str:
    env = dict(variables)
    out = []
    for i, line in enumerate(text.splitlines(), 1):
        m = re.fullmatch(r"\s*\{%\s*set\s+(\w+)\s*=\s*\w+\s*\|\s*default\((.*)\)\s*%\}\s*",
                         line)
        if m:
            env.setdefault(m.group(1), m.group(2).strip().strip("\"'"))
            continue
        if "{%" in line:
            raise AccelforgeImportError(f"{source}: line {i}: Jinja control blocks are not "
                                        f"supported (only '{{% set X = X | default(V) %}}' and "
                                        f"'{{{{X}}}}'); render the file first")

        for name in re.findall(r"\{\{\s*(\w+)\s*\}\}", line):
            if name not in env:
                raise AccelforgeImportError(f"{source}: line {i}: '{{{{{name}}}}}' has no "
                                            f"value; set it with a default")
        out.append(re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda mm: str(env[mm.group(1)]), line))
    text = "\n".join(out)
    return re.sub(r"-\s+!(\w+)[ \t]*(#[^\n]*)?\n(\s+)", r"- _node: \1\n\3", text)


def read_arch(path: str | Path, variables: dict[str, object] | None = None) -> dict[str, Any]:
    """The ``arch`` mapping of an AccelForge YAML file (Jinja defaults rendered)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as err:
        raise AccelforgeImportError(f"{p}: cannot read ({err.strerror})") from None
    except UnicodeDecodeError as err:
        raise AccelforgeImportError(f"{p}: not a UTF-8 text file (byte {err.object[err.start]:#x} "
                                    f"at offset {err.start}); give an AccelForge arch YAML"
                                    ) from None
    jinja = set(re.findall(r"\{%\s*set\s+(\w+)", text)) | \
        set(re.findall(r"\{\{\s*(\w+)\s*\}\}", text))
    unused = sorted(set(variables or {}) - jinja)
    if unused:
        raise AccelforgeImportError(f"{p}: --set {unused[0]}: the file uses no Jinja variable "
                                    f"{unused[0]!r}; check the name")
    data = loads_yaml(_render(text, str(p), variables or {}), str(p),
                      error=AccelforgeImportError, what="an AccelForge arch YAML")
    if "arch" not in data or not isinstance(data["arch"], dict):
        raise AccelforgeImportError(f"{p}: no 'arch:' mapping; give an AccelForge arch YAML")
    return data["arch"]


# -- expressions -----------------------------------------------------------------------
class _NameSet(frozenset):
    """Names closed under AccelForge's set operators (``~``, ``|``, ``&``, ``-``) within
    ``universe``; each operator returns the subclass's own set (:meth:`_wrap`)."""

    universe: tuple[str, ...] = ()

    def _wrap(self, names: Any) -> "_NameSet":
        raise NotImplementedError

    def __invert__(self) -> "_NameSet":
        return self._wrap(set(self.universe) - self)

    def __or__(self, o: Any) -> "_NameSet":
        return self._wrap(frozenset.__or__(self, o))

    def __and__(self, o: Any) -> "_NameSet":
        return self._wrap(frozenset.__and__(self, o))

    def __sub__(self, o: Any) -> "_NameSet":
        return self._wrap(frozenset.__sub__(self, o))


class _Set(_NameSet):
    """A set of coforge operands (AccelForge tensors)."""

    universe = OPERANDS

    def _wrap(self, names: Any) -> "_Set":
        return _Set(names)


class _Dims(_NameSet):
    """A set of coforge loop dimensions (AccelForge rank variables, :data:`RANK_DIM`)."""

    universe = MAP_DIMS

    def _wrap(self, names: Any) -> "_Dims":
        return _Dims(names)


_DIM_NAMES: dict[str, Any] = {"All": _Dims(MAP_DIMS), "Nothing": _Dims(),
                              **{rv: _Dims((d,)) for rv, d in RANK_DIM.items()}}
#: ``loop_bounds`` operators that, with value 1, bound a loop to one iteration.
_TO_ONE = ("==", "<=", "product==", "product<=")


class _Kept(_Set):
    """A memory name in an expression: what it keeps (``X.tensors`` is the same)."""

    @property
    def tensors(self) -> "_Set":
        return _Set(self)


def _eval(expr: object, where: str, names: dict[str, Any]) -> Any:
    if isinstance(expr, (int, float)) and not isinstance(expr, bool):
        return expr
    if not isinstance(expr, str) or not re.fullmatch(r"[\w\s.*+/()|&~<>=-]+", expr):
        raise AccelforgeImportError(f"{where}: cannot evaluate {expr!r}")
    try:
        return eval(expr, {"__builtins__": {}}, names)  # noqa: S307 (checked characters)
    except Exception as err:                            # noqa: BLE001
        raise AccelforgeImportError(f"{where}: cannot evaluate {expr!r} "
                                    f"({type(err).__name__}: {err})") from None


def _count(expr: object, where: str, names: dict[str, Any] | None = None) -> int:
    """A positive whole number (a fanout, a bit width) an expression evaluates to."""
    v = _eval(expr, where, names or {})
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
            or v < 1 or v != int(v):
        raise AccelforgeImportError(f"{where}: {expr!r} must be a positive whole number, "
                                    f"not {v!r}")
    return int(v)


def _enabled(node: dict[str, Any], where: str) -> bool:
    """A component's ``enabled`` for coforge's one 3-tensor einsum (``len(All)`` is 3)."""
    enabled = node.get("enabled", True)
    if isinstance(enabled, str):
        enabled = _eval(enabled.replace("len(All)", "3"), f"{where}.enabled", {})
    return bool(enabled)


def _tensors(expr: object, where: str, names: dict[str, Any]) -> set[str]:
    """The tensors a set expression (``All``, ``input | output``, ``~weight``) names."""
    v = _eval(expr, where, names)
    if not isinstance(v, _Set):
        raise AccelforgeImportError(f"{where}: {expr!r} is not a set of tensors (e.g. All, "
                                    f"Nothing, input | output, ~weight)")
    return set(v)


class _Tensor:
    bits_per_value = 8

    def __bool__(self) -> bool:
        return True


def _set_names(kept: dict[str, frozenset[str]]) -> dict[str, Any]:
    ns: dict[str, Any] = {"All": _Set(OPERANDS), "Nothing": _Set(), "Intermediates": _Set(),
                          "Inputs": _Set(("input", "weight")), "Outputs": _Set(("output",))}
    ns.update({t: _Set((t,)) for t in OPERANDS})
    ns.update({k: _Kept(v) for k, v in kept.items()})
    return ns


# -- conversion -------------------------------------------------------------------------
def _actions(node: dict[str, Any], where: str) -> dict[str, dict[str, Any]]:
    acts = node.get("actions") or []
    if not isinstance(acts, list):
        raise AccelforgeImportError(f"{where}.actions must be a list")
    return {str(a.get("name")): a for a in acts if isinstance(a, dict)}


#: Component fields that change AccelForge's energy or action counts and have no coforge
#: counterpart, with the value under which they change nothing (components.py).
_NEUTRAL = {"leak_power": (None, 0), "total_leak_power": (None, 0), "actions_scale": (1,),
            "n_parallel_instances": (1,), "values_per_action": (None, {}),
            "skip_initial_output_write": (True,)}


def _unrepresentable(node: dict[str, Any], where: str, notes: list[str]) -> None:
    """Refuse a component field that would change AccelForge's numbers in a way coforge
    cannot follow; note a ``total_latency`` expression (coforge's bandwidth model
    applies)."""
    fields = [(f"{where}.{k}", v) for k, v in node.items()]
    acts = node.get("actions")
    acts = acts if isinstance(acts, list) else []
    fields += [(f"{where}.{a.get('name')}.{k}", v) for a in acts if isinstance(a, dict)
               for k, v in a.items()]
    for path, v in fields:
        key = path.rsplit(".", 1)[1]
        if key in _NEUTRAL and v not in _NEUTRAL[key]:
            raise AccelforgeImportError(f"{path}: {v!r} has no coforge counterpart (it "
                                        f"changes AccelForge's energy or action counts); "
                                        f"give {_NEUTRAL[key][-1]!r} or leave it out")
        if key in ("throughput_scale", "latency_scale") and v != 1:
            raise AccelforgeImportError(f"{path}: {v!r} has no coforge counterpart; give "
                                        f"1 or fold it into the throughput")
    if "total_latency" in node:
        notes.append(f"{node.get('name')}: total_latency {node['total_latency']!r} is not "
                     f"carried; coforge's per-level read and write bandwidths apply")


def convert_accelforge(arch: dict[str, Any], *, source: str = "<arch>",
                       clock_mhz: float = 200.0) -> AccelforgeConversion:
    """Convert a parsed ``arch`` mapping (see the module docstring for the rules)."""
    nodes = arch.get("nodes")
    if not isinstance(nodes, list) or not nodes:
        raise AccelforgeImportError(f"{source}: arch.nodes must be a non-empty list")
    notes: list[str] = []
    kept: dict[str, frozenset[str]] = {}
    out: list[Any] = []
    axis_of: dict[tuple[str, str], tuple[str, int]] = {}
    mac_pj: float | None = None
    acc_bits = 0
    action_bits: dict[str, int] = {}
    value_bits: dict[str, dict[str, int]] = {}
    scale: float | None = None
    for n in nodes:                         # one energy unit for the file: J or as written
        acts = n.get("actions") if isinstance(n, dict) else None
        for a in acts if isinstance(acts, list) else []:
            e = a.get("energy") if isinstance(a, dict) else None
            if isinstance(e, (int, float)) and 0 < e < 1e-6:
                scale = 1e12
    if scale:
        notes.append("energies below 1e-6 are read as joules: all energies x 1e12 -> pJ")
    scale = scale or 1.0

    def energy(a: dict[str, Any] | None, node: dict[str, Any], where: str) -> float | None:
        if a is not None and a.get("energy") is not None:
            # AccelForge (components.py, calculate_action_energy): an action's energy is
            # multiplied by its component's and its own energy_scale.
            k = float(_eval(node.get("energy_scale", 1), f"{where}.energy_scale", {})) * \
                float(_eval(a.get("energy_scale", 1), f"{where}.energy_scale", {}))
            return float(_eval(a["energy"], f"{where}.energy", {"inf": math.inf})) * scale * k
        cls = node.get("component_class")
        if cls == "Dummy":
            return 0.0
        notes.append(f"{where}: energy from AccelForge's component model "
                     f"{cls or '(default)'} is not reproduced; coforge's default applies")
        return None

    def fanouts(owner: str, spatial: object, where: str) -> None:
        if not isinstance(spatial, list):
            raise AccelforgeImportError(f"{where}.spatial must be a list of fanouts")
        for s in spatial:
            if not isinstance(s, dict) or "name" not in s or "fanout" not in s:
                raise AccelforgeImportError(f"{where}.spatial: each entry needs a name and "
                                            f"a fanout, not {s!r}")
            fname = f"{owner}.{s['name']}"
            sw = f"{where}.spatial.{s['name']}"
            # AccelForge (frontend/arch/spatialable.py): may_reuse moves data (defaults
            # to reuse, else All); reuse (default Nothing) restricts the valid loops.
            may_key = "may_reuse" if "may_reuse" in s else "reuse"
            reuse = _tensors(s.get(may_key, "All"), f"{sw}.{may_key}", _set_names(kept))
            must = _tensors(s.get("reuse", "Nothing"), f"{sw}.reuse", _set_names(kept))
            dims = [d for d in MAP_DIMS if not any(d in RELEVANT[o] for o in must)]
            bounds = s.get("loop_bounds") or []
            if not isinstance(bounds, list):
                raise AccelforgeImportError(f"{sw}.loop_bounds must be a list of "
                                            f"{{expression, operator, value}}")
            for j, lb in enumerate(bounds):
                lw = f"{sw}.loop_bounds[{j}]"
                if not isinstance(lb, dict) or not {"expression", "operator", "value"} <= set(lb):
                    raise AccelforgeImportError(f"{lw}: give expression, operator and value, "
                                                f"not {lb!r}")
                value = _eval(lb["value"], f"{lw}.value", {})
                if lb["operator"] not in _TO_ONE or value != 1:
                    raise AccelforgeImportError(
                        f"{lw}: {lb['expression']} {lb['operator']} {value} has no coforge "
                        f"counterpart (a fanout bounds no loop factor); only a bound to one "
                        f"iteration ({' / '.join(_TO_ONE)} 1) is representable")
                one = _eval(lb["expression"], f"{lw}.expression", _DIM_NAMES)
                if not isinstance(one, _Dims):
                    raise AccelforgeImportError(f"{lw}.expression: {lb['expression']!r} is "
                                                f"not a set of rank variables "
                                                f"{sorted(RANK_DIM)}")
                dims = [d for d in dims if d not in one]
            if not dims:
                raise AccelforgeImportError(f"{sw}: its reuse {sorted(must)} and loop_bounds "
                                            f"leave no loop dimension to unroll")
            usage = _eval(s.get("min_usage", 0), f"{sw}.min_usage", {})
            if isinstance(usage, bool) or not isinstance(usage, (int, float)) \
                    or not 0 <= usage <= 1:
                raise AccelforgeImportError(f"{sw}.min_usage must be a number from 0 to 1, "
                                            f"not {usage!r}")
            if usage > 0:
                notes.append(f"{fname}: min_usage {usage:g} carried per layer (AccelForge "
                             f"relaxes it per mapping template to the best reachable; "
                             f"coforge to the best exact factors of the layer reach)")
            size = _count(s["fanout"], f"{sw}.fanout")
            axis_of[(owner, str(s["name"]))] = (fname, 0)
            out.append(Fanout(name=fname, size=(size,), dims=(tuple(dims),),
                              multicast=tuple(o for o in OPERANDS if o in reuse),
                              reduction="output" in reuse, min_usage=float(usage)))

    for i, n in enumerate(nodes):
        if not isinstance(n, dict) or "_node" not in n:
            raise AccelforgeImportError(f"{source}: arch.nodes[{i}] must be a !Memory, "
                                        f"!Container or !Compute node")
        kind, name = n["_node"], str(n.get("name", f"node{i}"))
        where = f"{source}: {name}"
        if kind in ("Memory", "Compute"):
            _unrepresentable(n, where, notes)
        if kind == "Container":
            fanouts(name, n.get("spatial") or [], where)
            continue
        if kind == "Compute":
            enabled = _enabled(n, where)
            if n.get("spatial"):
                fanouts(name, n["spatial"], where)
            if enabled:
                if mac_pj is not None:
                    notes.append(f"{where}: a second enabled compute node; the last one "
                                 f"costs the MACs")
                act = _actions(n, where).get("compute")
                t = (act or {}).get("throughput")
                rate = math.inf if t is None else float(
                    _eval(t, f"{where}.compute.throughput", {"inf": math.inf}))
                if math.isfinite(rate) and rate > MAX_PER_CYCLE:
                    notes.append(f"{name}.compute: throughput {rate:g} is per second; "
                                 f"coforge's MAC does one compute per cycle at the clock")
                elif math.isfinite(rate) and rate != 1:
                    raise AccelforgeImportError(
                        f"{where}.compute.throughput: {rate:g} computes per cycle has no "
                        f"coforge counterpart (each MAC unit does one per cycle); give 1 or "
                        f"model the extra units as a spatial fanout")
                mac_pj = energy(act, n, f"{where}.compute")
                if mac_pj is None:
                    mac_pj = Compute().mac_pj
            else:
                notes.append(f"{where}: compute node disabled for a 3-tensor einsum; skipped")
            continue
        if kind != "Memory":
            raise AccelforgeImportError(f"{where}: node kind !{kind} has no coforge "
                                        f"counterpart; allowed: !Memory, !Container, !Compute")
        if not _enabled(n, where):
            if n.get("spatial"):
                raise AccelforgeImportError(f"{where}: a disabled memory with a spatial "
                                            f"fanout has no coforge counterpart; move the "
                                            f"fanout to a !Container")
            notes.append(f"{name}: disabled for a 3-tensor einsum; left out")
            continue
        if n.get("spatial"):
            fanouts(name, n["spatial"], where)
        tens = n.get("tensors") or {}
        if not isinstance(tens, dict):
            raise AccelforgeImportError(f"{where}.tensors must be a mapping like {{keep: All}}, "
                                        f"not {tens!r}")
        ns = _set_names(kept)
        keep = _tensors(tens.get("keep", "Nothing"), f"{where}.tensors.keep", ns)
        may = _tensors(tens.get("may_keep", "Nothing"), f"{where}.tensors.may_keep", ns)
        inner = any(isinstance(x, StorageLevel) for x in out)     # not the first memory
        if may - keep and inner:
            notes.append(f"{name}: may keep {sorted(may - keep)} (AccelForge's mapper "
                         f"chooses): may_bypass, coforge's search tries each choice")
        keeps = keep | may
        kept[name] = frozenset(keeps)
        if not keeps:
            notes.append(f"{name}: keeps no tensor; left out")
            continue
        bpv = n.get("bits_per_value") or {}
        if not isinstance(bpv, dict):
            raise AccelforgeImportError(f"{where}.bits_per_value must be a mapping like "
                                        f"{{output: 32}}, not {bpv!r}")
        value_bits[name] = {o: 8 for o in OPERANDS if o in keeps}
        # AccelForge: "Keys are evaluated as expressions and may reference one or more
        # tensors. Tensors not listed use the workload's bits_per_value" (8 here).
        for key, val in bpv.items():
            bw = f"{where}.bits_per_value.{key}"
            bits = _count(val, bw, {t: _Tensor() for t in OPERANDS})
            for o in _tensors(str(key), bw, _set_names(kept)) & keeps:
                value_bits[name][o] = bits
        if "output" in value_bits[name] and "output" in {
                o for k in bpv for o in _tensors(str(k), where, _set_names(kept))}:
            acc_bits = max(acc_bits, value_bits[name]["output"])
        size = _eval(n.get("size", "inf"), f"{where}.size",
                     {"inf": math.inf, **{t: (_Tensor() if t in keeps else None)
                                          for t in OPERANDS}})
        if isinstance(size, bool) or not isinstance(size, (int, float)) or math.isnan(size) \
                or size <= 0:
            raise AccelforgeImportError(f"{where}.size: {n.get('size', 'inf')!r} must be a "
                                        f"number of bits > 0 (inf for unbounded) for a memory "
                                        f"keeping {sorted(keeps)}, not {size!r}")
        first = not out
        if first:
            if size != math.inf:
                notes.append(f"{name}: the outermost memory is {size} bits; coforge's top "
                             f"level is unbounded")
            cap = None
        elif size == math.inf or size > HUGE_BYTES * 8:
            notes.append(f"{name}: size {size} becomes {HUGE_BYTES} bytes (coforge bounds "
                         f"every inner level)")
            cap = HUGE_BYTES
        else:
            cap = max(1, math.ceil(float(size) / 8))
        acts = _actions(n, where)
        rd, wr = acts.get("read"), acts.get("write")
        # AccelForge's default action is one bit (components.py: "1 if bits_per_action
        # is None"); energies and throughputs are per action, so a word is one action.
        word = _count((rd or {}).get("bits_per_action") or n.get("bits_per_action") or 1,
                      f"{where}.read.bits_per_action")
        wbits = (wr or {}).get("bits_per_action")
        if wbits is not None and _count(wbits, f"{where}.write.bits_per_action") != word:
            raise AccelforgeImportError(
                f"{where}.write.bits_per_action: {wbits} differs from the read action's "
                f"{word}; coforge prices reads and writes per one word of a level: give "
                f"both actions one bits_per_action")
        action_bits[name] = word
        bw = {}
        for key, a in (("read", rd), ("write", wr)):
            t = (a or {}).get("throughput")
            v = math.inf if t is None else float(_eval(t, f"{where}.{key}.throughput",
                                                       {"inf": math.inf}))
            if math.isfinite(v) and v > MAX_PER_CYCLE:
                notes.append(f"{name}.{key}: throughput {v:g} is per second; coforge's "
                             f"bandwidth is left unlimited")
                v = math.inf
            bw[key] = v * word / 8 if math.isfinite(v) else math.inf
        out.append(StorageLevel(
            name=name, keeps=tuple(o for o in OPERANDS if o in keeps), capacity_bytes=cap,
            word_bits=word, read_bytes_per_cycle=bw["read"], write_bytes_per_cycle=bw["write"],
            read_pj=energy(rd, n, f"{where}.read"), write_pj=energy(wr, n, f"{where}.write"),
            value_bits=tuple(value_bits[name].items()),
            may_bypass=tuple(o for o in OPERANDS if o in may - keep) if inner else ()))
    if mac_pj is None:
        raise AccelforgeImportError(f"{source}: no enabled !Compute node")
    if not out or not isinstance(out[0], StorageLevel):
        raise AccelforgeImportError(f"{source}: the outermost node must be a !Memory")
    if acc_bits == 0:
        acc_bits = 8
        notes.append("no memory gives bits_per_value for outputs: partial sums move at 8 "
                     "bits, as AccelForge's workload values do")
    h = Hierarchy(name=f"accelforge_{Path(source).stem}", nodes=tuple(out),
                  compute=Compute(mac_pj=mac_pj, accumulator_bits=acc_bits,
                                  psum_access="separate_no_first_read", overlap="always"),
                  clock_mhz=clock_mhz,
                  description=f"AccelForge arch converted by mapper.accelforge_import "
                              f"({source})")
    return AccelforgeConversion(hierarchy=h, axis_of=axis_of, notes=tuple(dict.fromkeys(notes)),
                                source=source, action_bits=action_bits, value_bits=value_bits)


def load_accelforge(path: str | Path, variables: dict[str, object] | None = None, *,
                    clock_mhz: float = 200.0) -> AccelforgeConversion:
    """Read and convert an AccelForge arch YAML file."""
    return convert_accelforge(read_arch(path, variables), source=str(path), clock_mhz=clock_mhz)


__all__ = ["AccelforgeConversion", "AccelforgeImportError", "RANK_DIM", "convert_accelforge",
           "load_accelforge", "read_arch"]
