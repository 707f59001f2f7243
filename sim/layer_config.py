"""Per-layer overrides of a network from a small YAML file (``coforge simulate
--layer-config FILE``): operand bit widths, statistical densities, pruning patterns and
actual tensors from ``.npy`` files.

Schema (every key optional; anything else is an error naming the file and key path)::

    defaults:                        # applied to every compute layer first
      precision: {input_bits: 8, weight_bits: 8, output_bits: 8}
    layers:                          # applied in file order: later entries win
      conv1: {precision: {weight_bits: 8}}
      "layer1.*":                    # fnmatch pattern (* ? [...]) over compute layer names
        precision: {weight_bits: 4, input_bits: 4}
        density: {weight: 0.5}       # statistical density in (0, 1] (weight, input)
      fc:
        prune: {weight: {pattern: "2:4"}}          # N:M along the reduction
      layer2.0.conv1:
        tensors: {weight: w.npy, input: x.npy}     # relative to this YAML file
        prune: {weight: {pattern: magnitude, density: 0.3}}   # prunes w.npy
      fc: {rank: 4}                  # low-rank factorization (coforge accuracy only)

``precision``: ``input_bits``/``weight_bits``/``output_bits``, each one of
:data:`dataflows.layer.SUPPORTED_BITS`; unnamed fields keep the layer's. ``density``:
``weight``/``input`` in (0, 1] -- the expected nonzero fraction the statistical sparse
model uses (:func:`sim.sparse.statistical_profile`; no tensors are made). ``prune``: per
operand (``weight``, ``input``) one pattern of :mod:`sim.sparse.pruning`:

* ``{pattern: "N:M"}`` (e.g. ``"2:4"``; also accepted unquoted) -- :func:`prune_nm`;
* ``{pattern: magnitude, density: d}`` -- :func:`prune_magnitude`;
* ``{pattern: block, density: d, block: [rows, cols]}`` (block default ``[4, 4]``) --
  :func:`prune_blocks`;
* ``{pattern: row, density: d}`` -- :func:`prune_rows` (whole filters for weights);
* ``{pattern: kernel_row, keep: 1}`` -- one (``keep``) row per R x S kernel;
* ``{pattern: group, density: d, group: 4}`` -- Scalpel SIMD groups;
* ``{pattern: tile, density: d, tile: [filters, channels]}`` -- buffer-tile blocks
  (the last three: :mod:`dataflows.compress.prune`).

``tensors``: per operand a ``.npy`` file (``numpy.save``; shapes as
:func:`sim.sparse.engine.check_tensors` accepts them: weights ``K x C/G x R x S``,
inputs ``N x C x H x W``), read with ``allow_pickle=False``. A pruned operand starts from
its file when one is given, else (weights of ``simulate --onnx M``) from the model's own
weight, else from a deterministic random tensor: standard normal
values from ``numpy.random.default_rng([seed, crc32(layer name), operand])`` (operand
0 = weight, 1 = input), so a run depends only on the file and ``seed`` (the CLI's
``--seed``), never on the order layers are visited.

Merging, per layer: ``precision`` fields override one by one. For each operand the
*sparsity source* is either a ``density`` or a *tensor* (a file, a pruning pattern, or
both: the file pruned); a later ``density.X`` replaces an earlier tensor of ``X`` and a
later ``prune.X``/``tensors.X`` replaces an earlier ``density.X`` (a later file or
pattern replaces only the earlier file or pattern). One entry may not give both
``density.X`` and ``prune.X``/``tensors.X``. A layer name that is not a compute layer of
the network, or a pattern that matches none, is an error (a typo would otherwise change
nothing silently).

:func:`apply_layer_config` returns the network with the overrides applied and the
tensors dict of :func:`sim.simulate` (``{layer: {"weight": array, "input": array}}``).
A layer with a tensor also gets its measured nonzero fraction as its statistical
``density`` for that operand, so both views of the layer agree on the density. Tensors
need ``fidelity="cycle"`` (the analytic model is the statistical one); the CLI says so.
"""

from __future__ import annotations

import fnmatch
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from dataflows.errors import CoforgeError
from dataflows.layer import Layer
from dataflows.network import Network
from sim.sparse.engine import expected_shapes
from sim.sparse.pruning import prune_blocks, prune_magnitude, prune_nm, prune_rows
from sim.layer_config_schema import (NAMED, OPERANDS, PATTERNS, DefaultsModel,
                                     LayerConfigModel, PruneModel)
from sim.schema import validate
from sim.yaml_io import Named, YamlDocument, key_path, read_yaml_document


class LayerConfigError(CoforgeError):
    """A layer config breaks a rule; the message names the file, the key path and the fix."""


# -- typed form -------------------------------------------------------------------------
@dataclass(frozen=True)
class PruneSpec:
    """One pruning pattern: ``nm`` (``n`` of every ``m``), ``magnitude``, ``block`` or
    ``row`` (with ``density`` in (0, 1]; ``block`` = (rows, cols) for ``block``)."""

    pattern: str
    density: float = 1.0
    n: int = 2
    m: int = 4
    block: tuple[int, int] = (4, 4)
    keep: int = 1
    """``kernel_row``: kernel rows kept per R x S kernel."""
    group: int = 4
    """``group``: Scalpel group size (consecutive weights along the reduction)."""
    tile: tuple[int, int] = (1, 1)
    """``tile``: (filters, channels) of one buffer tile."""

    def apply(self, tensor: np.ndarray) -> np.ndarray:
        """The pruned copy of ``tensor`` (helpers of :mod:`dataflows.compress.prune`)."""
        from dataflows.compress import prune as cp
        if self.pattern == "nm":
            return prune_nm(tensor, self.n, self.m)
        if self.pattern == "magnitude":
            return prune_magnitude(tensor, self.density)
        if self.pattern == "block":
            return prune_blocks(tensor, self.density, self.block)
        if self.pattern == "kernel_row":
            return cp.prune_kernel_rows(tensor, self.keep)
        if self.pattern == "group":
            return cp.prune_groups(tensor, self.density, self.group)
        if self.pattern == "tile":
            return cp.prune_tile_blocks(tensor, self.density, *self.tile)
        return prune_rows(tensor, self.density)

    def describe(self) -> str:
        if self.pattern == "nm":
            return f"{self.n}:{self.m}"
        if self.pattern == "kernel_row":
            return f"kernel_row {self.keep}"
        extra = {"block": f" block {list(self.block)}", "group": f" group {self.group}",
                 "tile": f" tile {list(self.tile)}"}.get(self.pattern, "")
        return f"{self.pattern} {self.density:g}{extra}"

    @property
    def plan_text(self) -> str:
        """The same pattern in :class:`dataflows.compress.plan.Prune`'s text form."""
        if self.pattern == "nm":
            return f"{self.n}:{self.m}"
        if self.pattern == "kernel_row":
            return f"kernel_row:{self.keep}"
        if self.pattern == "block":
            return f"block:{self.density!r}:{self.block[0]}x{self.block[1]}"
        if self.pattern == "group":
            return f"group:{self.density!r}:{self.group}"
        if self.pattern == "tile":
            return f"tile:{self.density!r}:{self.tile[0]}x{self.tile[1]}"
        return f"{self.pattern}:{self.density!r}"


@dataclass(frozen=True)
class Override:
    """One entry of the file: what it sets on every layer ``key`` names or matches.

    ``where``: its key path for messages (``layers['fc']``); ``tensors``: resolved paths.
    """

    key: str
    where: str
    precision: dict[str, int] = field(default_factory=dict)
    density: dict[str, float] = field(default_factory=dict)
    prune: dict[str, PruneSpec] = field(default_factory=dict)
    tensors: dict[str, Path] = field(default_factory=dict)
    rank: int | None = None
    """Low-rank factorization rank (``coforge accuracy``; the cost model of
    ``simulate`` does not read it: factorize with dataflows.compress first)."""

    @property
    def is_pattern(self) -> bool:
        return any(ch in self.key for ch in "*?[")

    def matches(self, names: list[str]) -> list[str]:
        """Compute-layer names this entry applies to (exact name, else fnmatch)."""
        if self.key in names:
            return [self.key]
        if self.is_pattern:
            return [n for n in names if fnmatch.fnmatchcase(n, self.key)]
        return []


@dataclass(frozen=True)
class LayerConfig:
    """A parsed layer config: ``defaults`` (or None) then ``layers`` in file order."""

    source: str
    defaults: Override | None
    layers: tuple[Override, ...]


@dataclass(frozen=True)
class ConfiguredNetwork:
    """The result of :func:`apply_layer_config`.

    ``network``: the overridden copy; ``tensors``: ``{layer: {operand: ndarray}}`` for
    :func:`sim.simulate`; ``origins``: ``{layer: {operand: key path}}`` of the entry that
    made each tensor; ``sources``: ``{layer: {operand: description}}`` (e.g.
    ``"2:4 of random(seed 0)"``, ``"w.npy"``) for reports.
    """

    network: Network
    tensors: dict[str, dict[str, np.ndarray]]
    origins: dict[str, dict[str, str]]
    sources: dict[str, dict[str, str]]


# -- YAML ---------------------------------------------------------------------------------
def _read(path: Path) -> YamlDocument:
    """The file, read by :func:`sim.yaml_io.read_yaml_document` with ``N:M`` kept as
    text (``2:4``; YAML 1.1 would read the base-60 integer 124)."""
    if not path.is_file():
        raise LayerConfigError(f"{path}: no such file; give the layer-config YAML path")
    return read_yaml_document(path, error=LayerConfigError, ratios=True,
                              what="a YAML layer config (schema in sim/layer_config.py)")


def _prune_spec(model: PruneModel) -> PruneSpec:
    kind = model.kind
    if kind == "nm":
        n, m = model.nm
        return PruneSpec("nm", n=n, m=m)
    if kind == "kernel_row":
        return PruneSpec("kernel_row", keep=model.keep)
    if kind == "group":
        return PruneSpec("group", density=model.density, group=model.group)
    if kind == "tile":
        return PruneSpec("tile", density=model.density, tile=model.tile)
    return PruneSpec(kind, density=model.density, block=model.block)


def _override(key: str, model: DefaultsModel, where: str, base: Path) -> Override:
    """One validated entry as an :class:`Override` (``.npy`` paths resolved from ``base``)."""
    return Override(
        key, where,
        {k: getattr(model.precision, k) for k in model.precision.model_fields_set},
        {k: getattr(model.density, k) for k in model.density.model_fields_set},
        {op: _prune_spec(p) for op, p in model.prune.items()},
        {op: base / v for op, v in getattr(model, "tensors", {}).items()},
        getattr(model, "rank", None))


def load_layer_config(path: str | Path) -> LayerConfig:
    """Parse and validate a layer-config YAML (schema in the module docstring; models in
    :mod:`sim.layer_config_schema`). Each error is one line naming the file, the key path,
    the value, what is allowed and the line.

    Checks that need the network (layer names, tensor shapes) happen in
    :func:`apply_layer_config`."""
    p = Path(path)
    doc = _read(p)
    src = str(p)
    try:
        model = validate(LayerConfigModel, doc.data, LayerConfigError, named=NAMED)
    except LayerConfigError as err:
        raise LayerConfigError(f"{src}: {doc.locate(str(err))}") from None
    defaults = None if model.defaults is None else \
        _override("*", model.defaults, "defaults", p.parent)
    layers = tuple(_override(key, entry, key_path(("layers", Named(key))), p.parent)
                   for key, entry in model.layers.items())
    return LayerConfig(src, defaults, layers)


# -- applying -----------------------------------------------------------------------------
@dataclass
class _Sparsity:
    """The merged sparsity source of one operand of one layer (see the module docstring)."""

    density: float | None = None
    file: Path | None = None
    prune: PruneSpec | None = None
    where: str = ""


def _random_tensor(shape: tuple[int, ...], seed: int, layer: str, op: str) -> np.ndarray:
    rng = np.random.default_rng([seed, zlib.crc32(layer.encode()), OPERANDS.index(op)])
    return rng.standard_normal(shape, dtype=np.float32)


def _load_npy(path: Path, where: str, cache: dict[Path, np.ndarray]) -> np.ndarray:
    if path not in cache:
        try:
            arr = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise LayerConfigError(f"{where}: no such file {str(path)!r}; give a .npy path "
                                   f"relative to the YAML file") from None
        except (OSError, ValueError) as err:
            reason = " ".join(str(err).split())[:120]
            raise LayerConfigError(f"{where}: cannot read {str(path)!r} as a .npy array "
                                   f"({reason}); write it with numpy.save") from None
        if not isinstance(arr, np.ndarray):
            raise LayerConfigError(f"{where}: {str(path)!r} is an .npz archive, not one "
                                   f".npy array; write it with numpy.save")
        if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype,
                                                                    np.complexfloating):
            raise LayerConfigError(f"{where}: {str(path)!r} holds dtype {arr.dtype}; give "
                                   f"real numbers")
        finite = np.isfinite(arr)
        if not finite.all():
            bad = np.argwhere(~finite)[0]
            raise LayerConfigError(
                f"{where}: {str(path)!r} holds {int(arr.size - finite.sum())} non-finite "
                f"values (first {float(arr[tuple(bad)])} at index {tuple(int(i) for i in bad)}); "
                f"give finite numbers (replace NaN/inf, e.g. numpy.nan_to_num)")
        cache[path] = arr
    return cache[path]


def _tensor(layer: Layer, op: str, sp: _Sparsity, seed: int,
            cache: dict[Path, np.ndarray],
            weights: "dict[str, np.ndarray] | None" = None) -> tuple[np.ndarray, str]:
    """The operand's tensor in its canonical shape, and a description of where it came from."""
    shapes = expected_shapes(layer)[op]
    canon = shapes[0]
    if sp.file is not None:
        arr = _load_npy(sp.file, f"{sp.where}.tensors.{op}", cache)
        if arr.shape not in shapes:
            want = " or ".join(str(s) for s in shapes)
            raise LayerConfigError(f"{sp.where}.tensors.{op}: {sp.file.name} has shape "
                                   f"{arr.shape} but layer {layer.name!r} needs {want}")
        if arr.shape != canon:            # GEMM forms: weights K x C, inputs P x C (= A)
            arr = arr.T.reshape(canon) if op == "input" else arr.reshape(canon)
        origin = sp.file.name
    elif op == "weight" and weights is not None and layer.name in weights:
        arr = np.asarray(weights[layer.name], dtype=np.float32)
        if arr.size != int(np.prod(canon)):
            raise LayerConfigError(f"{sp.where}: the model's weight of layer {layer.name!r} "
                                   f"has shape {arr.shape}, the layer needs {canon}")
        arr = arr.reshape(canon)
        origin = "model weights"
    else:
        arr = _random_tensor(canon, seed, layer.name, op)
        origin = f"random(seed {seed})"
    if sp.prune is not None:
        rows, cols = arr.shape[0], arr.size // max(arr.shape[0], 1)   # the 2-D view pruned
        spec = sp.prune
        if spec.pattern == "nm" and spec.m > cols:
            raise LayerConfigError(f"{sp.where}.prune.{op}: pattern {spec.n}:{spec.m} needs M "
                                   f"<= {cols} (the {op} tensor of layer {layer.name!r} has "
                                   f"{cols} values per row); give a smaller M")
        if spec.pattern == "block" and (spec.block[0] > rows or spec.block[1] > cols):
            raise LayerConfigError(f"{sp.where}.prune.{op}.block {list(spec.block)} is larger "
                                   f"than the {rows} x {cols} {op} matrix of layer "
                                   f"{layer.name!r}; give a block within it")
        arr = spec.apply(arr)
        origin = f"{sp.prune.describe()} of {origin}"
    if not np.any(arr):
        raise LayerConfigError(f"{sp.where}: the {op} tensor of layer {layer.name!r} ({origin}) "
                               f"is all zeros; keep some nonzeros (density in (0, 1])")
    return arr, origin


def apply_layer_config(config: LayerConfig, net: Network, seed: int = 0,
                       weights: "dict[str, np.ndarray] | None" = None) -> ConfiguredNetwork:
    """Apply ``config`` to ``net``: the overridden network and the operand tensors.

    ``weights`` (layer name -> the model's real weight, e.g. from an ONNX file's
    initializers) replace the seeded random weight a pruning pattern starts from.

    Raises :class:`LayerConfigError` naming the file and key path when an entry names
    no compute layer of ``net``, a tensor file is unreadable or does not fit a layer it
    applies to, or a pruned tensor ends all zeros."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise LayerConfigError(f"seed (--seed) must be an integer >= 0, not {seed!r}")
    names = [layer.name for layer in net.layers()]
    precision: dict[str, dict[str, int]] = {n: {} for n in names}
    sparsity: dict[str, dict[str, _Sparsity]] = {n: {} for n in names}
    entries = ([config.defaults] if config.defaults is not None else []) + list(config.layers)
    for entry in entries:
        if entry.rank is not None:
            raise LayerConfigError(
                f"{config.source}: {entry.where}.rank: simulate costs the network's layers "
                f"as they are; a factorized layer is measured by `coforge accuracy` and "
                f"costed by `coforge dse` with a compression.rank axis")
        hits = names if entry is config.defaults else entry.matches(names)
        if not hits:
            what = "pattern" if entry.is_pattern else "name"
            raise LayerConfigError(
                f"{config.source}: {entry.where}: {what} {entry.key!r} matches no compute "
                f"layer of {net.name!r} (e.g. {names[:4]}); use a name from `coforge zoo "
                f"show` or an fnmatch pattern such as 'layer1.*'")
        for name in hits:
            precision[name].update(entry.precision)
            for op in OPERANDS:
                cur = sparsity[name].get(op)
                if op in entry.density:
                    sparsity[name][op] = _Sparsity(density=entry.density[op], where=entry.where)
                elif op in entry.prune or op in entry.tensors:
                    new = _Sparsity(where=entry.where) if cur is None or cur.density is not None \
                        else replace(cur, where=entry.where)
                    if op in entry.tensors:
                        new.file = entry.tensors[op]
                    if op in entry.prune:
                        new.prune = entry.prune[op]
                    sparsity[name][op] = new
    tensors: dict[str, dict[str, np.ndarray]] = {}
    origins: dict[str, dict[str, str]] = {}
    sources: dict[str, dict[str, str]] = {}
    cache: dict[Path, np.ndarray] = {}
    new_layers: dict[str, Layer] = {}
    try:
        for layer in net.layers():
            name = layer.name
            out = layer
            if precision[name]:
                out = replace(out, precision=replace(out.precision, **precision[name]))
            dens: dict[str, float] = {}
            for op, sp in sparsity[name].items():
                if sp.density is not None:
                    dens[op] = sp.density
                    continue
                arr, origin = _tensor(layer, op, sp, seed, cache, weights)
                tensors.setdefault(name, {})[op] = arr
                origins.setdefault(name, {})[op] = sp.where
                sources.setdefault(name, {})[op] = origin
                dens[op] = float(np.count_nonzero(arr)) / arr.size
            if dens:
                out = replace(out, density=replace(out.density, **dens))
            if out is not layer:
                new_layers[name] = out
    except LayerConfigError as err:
        raise LayerConfigError(f"{config.source}: {err}") from None
    network = net.replace_layers(lambda layer: new_layers.get(layer.name, layer))
    return ConfiguredNetwork(network, tensors, origins, sources)


def configure(path: str | Path, net: Network, seed: int = 0,
              weights: "dict[str, np.ndarray] | None" = None) -> ConfiguredNetwork:
    """:func:`load_layer_config` then :func:`apply_layer_config`."""
    return apply_layer_config(load_layer_config(path), net, seed, weights)


__all__ = ["ConfiguredNetwork", "LayerConfig", "LayerConfigError", "OPERANDS", "Override",
           "PATTERNS", "PruneSpec", "apply_layer_config", "configure", "load_layer_config"]
