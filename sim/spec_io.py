"""YAML in, typed :class:`~sim.spec.Accelerator` out. Nothing downstream sees a dict.

The file is read by :func:`sim.yaml_io.read_yaml_document` (duplicate keys, bad UTF-8,
parse errors), its shape checked by the pydantic models of :mod:`sim.spec_schema`
(unknown keys, wrong types, number ranges), then the frozen dataclasses of
:mod:`sim.spec` are built (the design rules). Every error is one line naming the file,
the key path, what is allowed and the line of the key, e.g.
``specs/x.yaml: glb[0]: capacity_bytes must be an integer >= 0, not -4 (line 9)`` or
``specs/x.yaml: rf: unknown key 'colour'; allowed keys: ['name', ...] (line 5)``. Numbers are
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from dataflows.errors import CoforgeError
from sim.energy import DEFAULT_MULT_PJ, EnergyTable
from sim.spec import Accelerator, Buffer, PEConfig, SparseConfig, SpecError, VectorUnit
from sim.spec_schema import (CLOCK_MHZ_RANGE, MAX_INT, MAX_PJ, MIN_BYTES_PER_CYCLE,
                             BufferModel, SpecModel, validate_spec)
from sim.yaml_io import read_yaml_document

#: Directory of the example specs shipped with coforge.
SPECS_DIR = Path(__file__).parent / "specs"
#: The built-in default accelerator used by ``coforge simulate`` and ``make demo``.
DEFAULT_SPEC = "edge_8x8_ws"


#: Defaults of every optional section (a partial section keeps the rest of these).
_DEFAULT = Accelerator(name="defaults", rows=1, cols=1)


def _given(model: BaseModel) -> dict[str, Any]:
    """The fields the file gave (the rest keep the dataclass defaults)."""
    return {k: getattr(model, k) for k in model.model_fields_set}


def _buffer(model: BufferModel, where: str, base: Buffer) -> Buffer:
    """A buffer section; keys it leaves out keep ``base``'s values (the spec defaults)."""
    fields = _given(model)
    if "operands" in fields:
        fields["operands"] = tuple(fields["operands"])
    try:
        return dataclasses.replace(base, **fields)
    except SpecError as err:
        raise SpecError(f"{where}: {_strip_prefix(str(err))}") from None


def _strip_prefix(message: str) -> str:
    return message.split(": ", 1)[1] if message.startswith("buffer ") else message


def accelerator_from_dict(data: object, source: str = "<spec>", *,
                          locate: Callable[[str], str] | None = None) -> Accelerator:
    """Build an :class:`Accelerator` from parsed YAML: the shape is checked by
    :func:`sim.spec_schema.validate_spec` (unknown keys, types, number ranges), the design
    rules by :mod:`sim.spec`'s dataclasses. Errors are one line prefixed by ``source``;
    ``locate`` (:meth:`sim.yaml_io.YamlDocument.locate`) adds the line of the key."""
    try:
        return _build(validate_spec(data))
    except CoforgeError as err:
        message = locate(str(err)) if locate is not None else str(err)
        raise SpecError(f"{source}: {message}") from None


def _build(spec: SpecModel) -> Accelerator:
    given = _given(spec)
    kwargs: dict[str, Any] = {"name": spec.name, "rows": spec.array.rows,
                              "cols": spec.array.cols}
    for key in ("description", "dataflow", "clock_mhz"):
        if key in given:
            kwargs[key] = given[key]
    if "pe" in given:
        kwargs["pe"] = PEConfig(**_given(spec.pe))
    if "rf" in given:
        kwargs["rf"] = _buffer(spec.rf, "rf", _DEFAULT.rf)
    if "glb" in given:
        kwargs["glb"] = tuple(_buffer(b, f"glb[{i}]", dataclasses.replace(_DEFAULT.glb[0],
                                                                           name=f"glb{i}"))
                              for i, b in enumerate(spec.glb))
    if "dram" in given:
        kwargs["dram"] = _buffer(spec.dram, "dram", _DEFAULT.dram)
    if "energy" in given:
        energy = _given(spec.energy)
        if "mult_pj" in energy:
            energy["mult_pj"] = dict(DEFAULT_MULT_PJ) | energy["mult_pj"]
        kwargs["energy"] = EnergyTable(**energy)
    if "sparse" in given:
        sparse = _given(spec.sparse)
        if "operands" in sparse:
            sparse["operands"] = tuple(sparse["operands"])
        kwargs["sparse"] = SparseConfig(**sparse)
    if "vector" in given:
        vector = _given(spec.vector)
        for table in ("cycles_per_element", "energy_pj_per_op"):
            if table in vector:
                vector[table] = {op: float(v) for op, v in vector[table].items()}
        kwargs["vector"] = VectorUnit(**vector)
    return Accelerator(**kwargs)


#: What a spec file is, ending every file-level error.
SPEC_WHAT = "a YAML spec (schema in sim/spec_io.py)"


def load_accelerator(path: str | Path) -> Accelerator:
    """Load and validate a YAML spec. A bare name (``edge_8x8_ws``) means a shipped spec."""
    p = Path(path)
    if not p.exists() and not p.suffix and (SPECS_DIR / f"{p.name}.yaml").exists():
        p = SPECS_DIR / f"{p.name}.yaml"
    if not p.exists():
        shipped = sorted(f.stem for f in SPECS_DIR.glob("*.yaml"))
        raise SpecError(f"{path}: no such file; give a YAML path or one of {shipped}")
    doc = read_yaml_document(p, error=SpecError, what=SPEC_WHAT)
    if isinstance(doc.data, dict) and "hierarchy" in doc.data:
        raise SpecError(f"{p}: a hierarchy spec (a 'hierarchy:' section, the N-level model); "
                        f"this command takes a 3-level array spec (shipped: "
                        f"{', '.join(shipped_specs()[:3])}, ...); a hierarchy is searched "
                        f"and costed by coforge map --arch {p}")
    return accelerator_from_dict(doc.data, str(p), locate=doc.locate)


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


__all__ = ["CLOCK_MHZ_RANGE", "DEFAULT_SPEC", "MAX_INT", "MAX_PJ", "MIN_BYTES_PER_CYCLE",
           "SPECS_DIR", "SPEC_WHAT", "accelerator_from_dict", "dump_accelerator",
           "load_accelerator", "shipped_specs"]
