"""YAML in, typed :class:`~sim.spec.Accelerator` out. Nothing downstream sees a dict.

The loader rejects duplicate keys, unknown keys and wrong types, and every error is
one line naming the file, the field and what is allowed, e.g.
``specs/x.yaml: glb[0].capacity_bytes must be an integer >= 0, not -4``. Numbers are
finite (``.inf`` only for a bandwidth: unlimited) and in range -- integers <= 2**53,
``clock_mhz`` in [0.001, 1e6], bandwidths >= 0.001 bytes/cycle, energies <= 1e6 pJ --
so no result derived from a spec holds NaN or Infinity.

Schema (all sections but ``name`` and ``array`` are optional)::

    name: edge-8x8-ws
    description: free text
    dataflow: ws                      # ws | os | is | rs
    array: {rows: 8, cols: 8}
    clock_mhz: 200
    pe: {operand_bits: 8, accumulator_bits: 32, product_register: false,
         mode: fixed}                 # fixed | bitfusion | bitserial (sim/datapath.py)
    rf: {capacity_bytes: 4, word_bits: 8}                   # per PE
    glb:                                                    # one or more buffers
      - {name: glb, operands: [weight, input, output], capacity_bytes: 65536,
         word_bits: 64, read_bytes_per_cycle: 16, write_bytes_per_cycle: 16,
         double_buffered: true}
    dram: {word_bits: 64, read_bytes_per_cycle: 8, write_bytes_per_cycle: 8}
    energy: {mult_pj: {8: 0.2}, add_pj_per_bit: 0.003125, dram_pj_per_bit: 20.3}
    sparse: {policy: skipping, operands: [weight], format: nm,  # none | gating | skipping
             nm_n: 2, nm_m: 4, rle_run_bits: 4}       # dense|bitmap|csr|csc|rle|nm
    vector: {lanes: 16,                     # non-GEMM operators (sim/vector.py); absent:
             cycles_per_element: {softmax: 4, add: 1},   # not costed, and reports say so
             energy_pj_per_op: {softmax: 4.5}}  # kinds: sim.spec.VECTOR_OPS; rest default
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import yaml

from dataflows.errors import CoforgeError
from sim.energy import DEFAULT_MULT_PJ, EnergyTable
from sim.spec import (VECTOR_OPS, Accelerator, Buffer, PEConfig, SparseConfig, SpecError,
                      VectorUnit)

#: Directory of the example specs shipped with coforge.
SPECS_DIR = Path(__file__).parent / "specs"
#: The built-in default accelerator used by ``coforge simulate`` and ``make demo``.
DEFAULT_SPEC = "edge_8x8_ws"


#: Defaults of every optional section (a partial section keeps the rest of these).
_DEFAULT = Accelerator(name="defaults", rows=1, cols=1)


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys."""


def _no_duplicates(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise SpecError(f"duplicate key {key!r} (line {key_node.start_mark.line + 1})")
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


def _expect_map(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SpecError(f"{where} must be a mapping of keys to values, "
                        f"not {type(value).__name__}")
    return value


def _check_keys(data: dict[str, Any], allowed: list[str], where: str) -> None:
    unknown = [k for k in data if k not in allowed]
    if unknown:
        raise SpecError(f"{where}: unknown key {unknown[0]!r}; allowed keys: {allowed}")


def _typed(cls: type, data: dict[str, Any], where: str, skip: tuple[str, ...] = ()) -> dict:
    """Check keys and scalar types of ``data`` against dataclass ``cls``'s fields."""
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name not in skip}
    _check_keys(data, list(fields), where)
    out: dict[str, Any] = {}
    for key, value in data.items():
        kind = str(fields[key].type)
        label = f"{where}.{key}" if where else key
        if kind.startswith("int") and (not isinstance(value, int) or isinstance(value, bool)):
            raise SpecError(f"{label} must be an integer, not {value!r}")
        if kind.startswith("int") and abs(value) > MAX_INT:
            raise SpecError(f"{label} must be an integer <= 2**53, not {value!r}")
        if kind.startswith("float") and (isinstance(value, bool)
                                         or not isinstance(value, (int, float))):
            if value is None and "None" in kind:
                pass
            else:
                raise SpecError(f"{label} must be a number, not {value!r}")
        if kind == "bool" and not isinstance(value, bool):
            raise SpecError(f"{label} must be true or false, not {value!r}")
        if kind == "str" and not isinstance(value, str):
            raise SpecError(f"{label} must be a string, not {value!r}")
        if kind.startswith("tuple"):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise SpecError(f"{label} must be a list of names, not {value!r}")
            value = tuple(value)
        if isinstance(value, int) and kind.startswith("float") and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, float):
            bandwidth = key.endswith("_bytes_per_cycle")
            _finite(value, label, unlimited=bandwidth,
                    low=MIN_BYTES_PER_CYCLE if bandwidth else None,
                    high=MAX_PJ if key.endswith("_pj") else None)
        out[key] = value
    return out


#: Bounds that keep every derived count finite (cycles and energies stay far below
#: float and int64 overflow): integers, bandwidths, clock and per-operation energies.
MAX_INT = 2**53
MIN_BYTES_PER_CYCLE = 1e-3
CLOCK_MHZ_RANGE = (1e-3, 1e6)
MAX_PJ = 1e6


def _finite(value: float, label: str, unlimited: bool = False,
            low: float | None = None, high: float | None = None) -> None:
    """Refuse NaN, infinity unless the field means "unlimited" by it (bandwidths), and
    finite values outside ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return              # the spec's own rule names the type
    if isinstance(value, int):
        if abs(value) > MAX_INT:
            raise SpecError(f"{label} must be a number <= 2**53, not {value!r}")
        value = float(value)
    if math.isinf(value) and unlimited and value > 0:
        return
    if math.isnan(value) or math.isinf(value):
        allowed = "a finite number or .inf (unlimited)" if unlimited else "a finite number"
        raise SpecError(f"{label} must be {allowed}, not {value!r}")
    if value <= 0:
        return              # the spec's own rule names the sign (e.g. "a number >= 0")
    if low is not None and value < low:
        raise SpecError(f"{label} must be >= {low:g} (or .inf), not {value!r}")
    if high is not None and value > high:
        raise SpecError(f"{label} must be <= {high:g}, not {value!r}")


def _buffer(data: object, where: str, base: Buffer) -> Buffer:
    """A buffer section; keys it leaves out keep ``base``'s values (the spec defaults)."""
    fields = _typed(Buffer, _expect_map(data, where), where)
    try:
        return dataclasses.replace(base, **fields)
    except SpecError as err:
        raise SpecError(f"{where}: {_strip_prefix(str(err))}") from None


def _strip_prefix(message: str) -> str:
    return message.split(": ", 1)[1] if message.startswith("buffer ") else message


def accelerator_from_dict(data: object, source: str = "<spec>") -> Accelerator:
    """Build an :class:`Accelerator` from parsed YAML; errors are prefixed by ``source``."""
    try:
        return _from_dict(data)
    except CoforgeError as err:
        raise SpecError(f"{source}: {err}") from None


def _from_dict(data: object) -> Accelerator:
    data = _expect_map(data, "the spec")
    allowed = ["name", "description", "dataflow", "array", "clock_mhz", "pe", "rf", "glb",
               "dram", "energy", "sparse", "vector"]
    _check_keys(data, allowed, "top level")
    for required in ("name", "array"):
        if required not in data:
            raise SpecError(f"missing required key {required!r}")
    array = _expect_map(data["array"], "array")
    _check_keys(array, ["rows", "cols"], "array")
    for key in ("rows", "cols"):
        if key not in array:
            raise SpecError(f"array.{key} is required (a positive integer)")
    kwargs: dict[str, Any] = {"name": data["name"], "rows": array["rows"],
                              "cols": array["cols"]}
    if not isinstance(data["name"], str):
        raise SpecError(f"name must be a string, not {data['name']!r}")
    for key in ("description", "dataflow"):
        if key in data:
            if not isinstance(data[key], str):
                raise SpecError(f"{key} must be a string, not {data[key]!r}")
            kwargs[key] = data[key]
    if "clock_mhz" in data:
        clock = data["clock_mhz"]
        if isinstance(clock, bool) or not isinstance(clock, (int, float)):
            raise SpecError(f"clock_mhz must be a number of MHz > 0, not {clock!r}")
        _finite(clock, "clock_mhz")
        if not CLOCK_MHZ_RANGE[0] <= clock <= CLOCK_MHZ_RANGE[1] and clock > 0:
            raise SpecError(f"clock_mhz must be between {CLOCK_MHZ_RANGE[0]:g} and "
                            f"{CLOCK_MHZ_RANGE[1]:g} MHz, not {clock!r}")
        kwargs["clock_mhz"] = clock
    if "pe" in data:
        kwargs["pe"] = PEConfig(**_typed(PEConfig, _expect_map(data["pe"], "pe"), "pe"))
    if "rf" in data:
        kwargs["rf"] = _buffer(data["rf"], "rf", _DEFAULT.rf)
    if "glb" in data:
        glb = data["glb"]
        if isinstance(glb, dict):
            glb = [glb]
        if not isinstance(glb, list) or not glb:
            raise SpecError("glb must be a buffer mapping or a non-empty list of them")
        kwargs["glb"] = tuple(_buffer(b, f"glb[{i}]", dataclasses.replace(_DEFAULT.glb[0],
                                                                           name=f"glb{i}"))
                              for i, b in enumerate(glb))
    if "dram" in data:
        kwargs["dram"] = _buffer(data["dram"], "dram", _DEFAULT.dram)
    if "energy" in data:
        kwargs["energy"] = _energy(data["energy"])
    if "sparse" in data:
        kwargs["sparse"] = SparseConfig(**_typed(SparseConfig,
                                                 _expect_map(data["sparse"], "sparse"),
                                                 "sparse"))
    if "vector" in data:
        kwargs["vector"] = _vector(data["vector"])
    return Accelerator(**kwargs)


def _vector(data: object) -> VectorUnit:
    data = _expect_map(data, "vector")
    _check_keys(data, ["lanes", "cycles_per_element", "energy_pj_per_op"], "vector")
    kwargs: dict[str, Any] = {}
    if "lanes" in data:
        lanes = data["lanes"]
        if not isinstance(lanes, int) or isinstance(lanes, bool):
            raise SpecError(f"vector.lanes must be an integer, not {lanes!r}")
        kwargs["lanes"] = lanes
    for key in ("cycles_per_element", "energy_pj_per_op"):
        if key in data:
            table = _expect_map(data[key], f"vector.{key}")
            _check_keys(table, list(VECTOR_OPS), f"vector.{key}")
            for op, v in table.items():
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    raise SpecError(f"vector.{key}.{op} must be a number, not {v!r}")
                _finite(v, f"vector.{key}.{op}", high=MAX_PJ)
            kwargs[key] = {op: float(v) for op, v in table.items()}
    return VectorUnit(**kwargs)


def _energy(data: object) -> EnergyTable:
    data = _expect_map(data, "energy")
    _check_keys(data, ["mult_pj", "add_pj_per_bit", "dram_pj_per_bit"], "energy")
    kwargs: dict[str, Any] = {}
    if "mult_pj" in data:
        table = _expect_map(data["mult_pj"], "energy.mult_pj")
        for bits, pj in table.items():
            _finite(pj, f"energy.mult_pj[{bits!r}] (pJ per multiply)", high=MAX_PJ)
        kwargs["mult_pj"] = dict(DEFAULT_MULT_PJ) | table
    for key in ("add_pj_per_bit", "dram_pj_per_bit"):
        if key in data:
            _finite(data[key], f"energy.{key}", high=MAX_PJ)
            kwargs[key] = data[key]
    return EnergyTable(**kwargs)


def read_strict_yaml(p: Path, error: type[CoforgeError] = SpecError,
                     what: str = "a YAML spec (schema in sim/spec_io.py)") -> object:
    """Parse ``p`` with duplicate keys refused; every failure is one ``error`` line that
    starts with the path and ends with what to give instead (``what``)."""
    if p.is_dir():
        raise error(f"{p}: is a directory; give {what}")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise error(f"{p}: not a UTF-8 text file; give {what}") from None
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - strict safe loader
    except SpecError as err:                # duplicate key
        raise error(f"{p}: {err}; keep one") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(err, "problem", None) or getattr(err, "reason", None)
        detail = f": {problem}" if problem else ""
        raise error(f"{p}: malformed YAML{line}{detail}; give {what}") from None


def load_accelerator(path: str | Path) -> Accelerator:
    """Load and validate a YAML spec. A bare name (``edge_8x8_ws``) means a shipped spec."""
    p = Path(path)
    if not p.exists() and not p.suffix and (SPECS_DIR / f"{p.name}.yaml").exists():
        p = SPECS_DIR / f"{p.name}.yaml"
    if not p.exists():
        shipped = sorted(f.stem for f in SPECS_DIR.glob("*.yaml"))
        raise SpecError(f"{path}: no such file; give a YAML path or one of {shipped}")
    return accelerator_from_dict(read_strict_yaml(p), str(p))


def shipped_specs() -> list[str]:
    """Names of the example specs in ``sim/specs``."""
    return sorted(f.stem for f in SPECS_DIR.glob("*.yaml"))


def dump_accelerator(accel: Accelerator) -> str:
    """YAML text that :func:`load_accelerator` reads back to an equal spec."""
    def clean(buf: Buffer) -> dict[str, Any]:
        d = dataclasses.asdict(buf)
        d["operands"] = list(buf.operands)
        if d["access_pj"] is None:
            del d["access_pj"]
        return d
    data = {
        "name": accel.name, "description": accel.description, "dataflow": accel.dataflow,
        "array": {"rows": accel.rows, "cols": accel.cols}, "clock_mhz": accel.clock_mhz,
        "pe": dataclasses.asdict(accel.pe), "rf": clean(accel.rf),
        "glb": [clean(b) for b in accel.glb], "dram": clean(accel.dram),
        "energy": {"mult_pj": dict(accel.energy.mult_pj),
                   "add_pj_per_bit": accel.energy.add_pj_per_bit,
                   "dram_pj_per_bit": accel.energy.dram_pj_per_bit},
        "sparse": {"policy": accel.sparse.policy, "operands": list(accel.sparse.operands),
                   "format": accel.sparse.format, "nm_n": accel.sparse.nm_n,
                   "nm_m": accel.sparse.nm_m, "rle_run_bits": accel.sparse.rle_run_bits},
    }
    if accel.vector is not None:
        data["vector"] = {"lanes": accel.vector.lanes,
                          "cycles_per_element": dict(accel.vector.cycles_per_element),
                          "energy_pj_per_op": dict(accel.vector.energy_pj_per_op)}
    return yaml.safe_dump(data, sort_keys=False)


__all__ = ["DEFAULT_SPEC", "SPECS_DIR", "accelerator_from_dict", "dump_accelerator",
           "load_accelerator", "read_strict_yaml", "shipped_specs"]
