"""``coforge compare A B [...]``: two or more ``result.json`` files side by side.

The first result is the baseline ``A``; every other (``B``, ``C``, ...) is compared with
it: network totals (cycles, latency, energy, utilization) and their ratios ``X/A``, then
per layer the ratios of total cycles and energy, layers matched by name (a layer present
in only some of the results is listed as such, never matched by position). A ratio
``X/A`` below 1 means ``X`` needs fewer cycles or less energy; it is None (``-``) when
``A``'s figure is 0 and ``X``'s is not.

Inputs are checked before anything is compared: a missing file, a file that is not
JSON, or JSON that is not a coforge ``result.json`` (no ``coforge_version``, ``totals``
with the four figures, ``layers`` with names, cycles and energy) is a
:class:`CompareError` naming the file (one line, exit 2 from the CLI). A directory
stands for the ``result.json`` inside it (a ``simulate``/``map`` ``--out``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from dataflows.errors import CoforgeError

#: Totals compared, with how the text shows them: (key, label, scale, format).
TOTALS: tuple[tuple[str, str, float, str], ...] = (
    ("total_cycles", "total cycles", 1.0, ",.0f"),
    ("latency_ms", "latency ms", 1.0, ".4f"),
    ("energy_pj", "energy mJ", 1e-9, ".4f"),
    ("utilization", "utilization", 100.0, ".1f"),
)
#: Per-layer figures whose ratios are compared.
LAYER_FIGURES: tuple[str, ...] = ("total_cycles", "energy_pj")


class CompareError(CoforgeError):
    """An input of ``coforge compare`` is missing or not a coforge result.json."""


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value)


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not strict JSON")


def load_result(path: str | Path) -> dict[str, Any]:
    """The checked ``result.json`` document at ``path`` (see the module docstring)."""
    p = Path(path)
    if p.is_dir():
        p = p / "result.json"
    if not p.is_file():
        raise CompareError(f"{p}: no such file; give a result.json written by coforge "
                           f"simulate/map --out (or that --out directory)")
    try:
        doc = json.loads(p.read_text(encoding="utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as err:
        raise CompareError(f"{p}: not JSON ({' '.join(str(err).split())}); give a "
                           f"result.json written by coforge simulate/map --out") from None
    what = f"{p}: not a coforge result.json"
    if not isinstance(doc, dict) or not isinstance(doc.get("coforge_version"), str):
        raise CompareError(f"{what} (no \"coforge_version\"); give a result.json written by "
                           f"coforge simulate/map --out")
    totals = doc.get("totals")
    if not isinstance(totals, dict):
        raise CompareError(f"{what} (no \"totals\" object)")
    for key, *_ in TOTALS:
        if not _number(totals.get(key)):
            raise CompareError(f"{what}: totals.{key} must be a finite number, not "
                               f"{totals.get(key)!r}")
    layers = doc.get("layers")
    if not isinstance(layers, list):
        raise CompareError(f"{what} (no \"layers\" list)")
    for i, layer in enumerate(layers):
        if not isinstance(layer, dict) or not isinstance(layer.get("name"), str):
            raise CompareError(f"{what}: layers[{i}] has no \"name\"")
        for key in LAYER_FIGURES:
            if not _number(layer.get(key)):
                raise CompareError(f"{what}: layers[{i}] ({layer['name']!r}).{key} must be "
                                   f"a finite number, not {layer.get(key)!r}")
    return doc


def ratio(b: float, a: float) -> float | None:
    """``b / a``; 1 when both are 0, None when only ``a`` is."""
    if a == 0:
        return 1.0 if b == 0 else None
    return b / a


def _labels(n: int) -> list[str]:
    return [chr(ord("A") + i) if i < 26 else f"R{i + 1}" for i in range(n)]


@dataclass(frozen=True)
class Comparison:
    """Results compared with the first: ``labels`` (A, B, ...), ``paths``, ``docs``;
    ``layers`` in the baseline's order, then those only in later results."""

    labels: tuple[str, ...]
    paths: tuple[str, ...]
    docs: tuple[dict[str, Any], ...]
    layers: tuple[str, ...]

    def layer(self, i: int, name: str) -> dict[str, Any] | None:
        """Result ``i``'s entry of layer ``name`` (None if it has no such layer)."""
        for entry in self.docs[i]["layers"]:
            if entry["name"] == name:
                return entry
        return None

    def presence(self, name: str) -> list[str]:
        """Labels of the results that have layer ``name``."""
        return [lab for i, lab in enumerate(self.labels) if self.layer(i, name) is not None]

    def layer_ratio(self, i: int, name: str, key: str) -> float | None:
        """Layer ``name``'s ``key`` in result ``i`` over the baseline's (None when either
        lacks the layer)."""
        a, b = self.layer(0, name), self.layer(i, name)
        if a is None or b is None:
            return None
        return ratio(b[key], a[key])

    def to_dict(self) -> dict[str, Any]:
        """The comparison as plain data (``compare.json``)."""
        runs = [{"label": lab, "path": p, "network": d.get("network"), "arch": d.get("arch"),
                 "fidelity": d.get("fidelity"), "timing": d.get("timing"),
                 "spec_hash": d.get("spec_hash"),
                 "totals": {k: d["totals"][k] for k, *_ in TOTALS}}
                for lab, p, d in zip(self.labels, self.paths, self.docs)]
        ratios = {lab: {k: ratio(d["totals"][k], self.docs[0]["totals"][k])
                        for k, *_ in TOTALS}
                  for lab, d in zip(self.labels[1:], self.docs[1:])}
        layers = [{"name": n, "in": self.presence(n),
                   "ratios": {lab: {k: self.layer_ratio(i, n, k) for k in LAYER_FIGURES}
                              for i, lab in enumerate(self.labels) if i}}
                  for n in self.layers]
        return {"baseline": self.labels[0], "runs": runs, "totals_ratio": ratios,
                "layers": layers}


def compare(paths: list[str | Path]) -> Comparison:
    """Load and check every result (:func:`load_result`) and compare them with the
    first; at least two are needed."""
    if len(paths) < 2:
        raise CompareError(f"compare needs at least two results (the first is the baseline), "
                           f"got {len(paths)}")
    docs = [load_result(p) for p in paths]
    names: list[str] = []
    for d in docs:
        for entry in d["layers"]:
            if entry["name"] not in names:
                names.append(entry["name"])
    return Comparison(tuple(_labels(len(docs))), tuple(str(p) for p in paths), tuple(docs),
                      tuple(names))


def _r(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def comparison_text(c: Comparison) -> str:
    """The printed comparison: who is who, totals with ratios, per-layer ratios."""
    lines = []
    for lab, p, d in zip(c.labels, c.paths, c.docs):
        lines.append(f"{lab} = {p}: {d.get('network')} on {d.get('arch')} "
                     f"({d.get('fidelity')}, {d.get('timing')} timing, spec "
                     f"{d.get('spec_hash')})")
    nets = {d.get("network") for d in c.docs}
    if len(nets) > 1:
        lines.append(f"note: the results ran different networks ({', '.join(map(str, nets))});"
                     f" layers match by name only")
    others = c.labels[1:]
    head = f"{'':<16}" + "".join(f"{lab:>16}" for lab in c.labels) + \
        "".join(f"{lab + '/A':>10}" for lab in others)
    lines += ["", head, "-" * len(head)]
    for key, label, scale, fmt in TOTALS:
        vals = [d["totals"][key] for d in c.docs]
        shown = "".join(f"{format(v * scale, fmt) + ('%' if key == 'utilization' else ''):>16}"
                        for v in vals)
        lines.append(f"{label:<16}{shown}"
                     + "".join(f"{_r(ratio(v, vals[0])):>10}" for v in vals[1:]))
    lines.append("")
    head = f"{'per layer':<28}" + "".join(f"{lab + '/A cycles':>14}{lab + '/A energy':>14}"
                                          for lab in others)
    lines += [head, "-" * len(head)]
    partial = []
    for name in c.layers:
        have = c.presence(name)
        if len(have) < len(c.labels):
            partial.append((name, have))
            continue
        cells = "".join(f"{_r(c.layer_ratio(i, name, 'total_cycles')):>14}"
                        f"{_r(c.layer_ratio(i, name, 'energy_pj')):>14}"
                        for i in range(1, len(c.labels)))
        lines.append(f"{name[:27]:<28}{cells}")
    for name, have in partial:
        lines.append(f"{name[:27]:<28}  only in {', '.join(have)}")
    return "\n".join(lines)


def comparison_figure(c: Comparison) -> Figure:
    """Totals of each result relative to the baseline, and the per-layer cycle and
    energy ratios ``X/A`` of the layers every result has (log scale, 1 = same)."""
    fig = Figure(figsize=(max(8.0, 0.3 * len(c.layers) + 4), 7), layout="constrained")
    ax_t, ax_l = fig.subplots(2, 1)
    width = 0.8 / len(c.labels)
    for i, (lab, d) in enumerate(zip(c.labels, c.docs)):
        vals = [ratio(d["totals"][k], c.docs[0]["totals"][k]) or 0.0 for k, *_ in TOTALS]
        ax_t.bar([j + i * width for j in range(len(TOTALS))], vals, width, label=lab)
    ax_t.set_xticks([j + 0.4 - width / 2 for j in range(len(TOTALS))],
                    [label for _, label, *_ in TOTALS])
    ax_t.axhline(1.0, color="black", linewidth=0.8)
    ax_t.set_ylabel("relative to A")
    ax_t.set_title(" vs ".join(f"{lab}: {d.get('arch')}" for lab, d in
                               zip(c.labels, c.docs)))
    ax_t.legend()
    common = [n for n in c.layers if len(c.presence(n)) == len(c.labels)]
    x = range(len(common))
    for i, lab in enumerate(c.labels[1:], start=1):
        for key, marker, what in (("total_cycles", "o", "cycles"),
                                  ("energy_pj", "s", "energy")):
            ys = [c.layer_ratio(i, n, key) for n in common]
            ax_l.plot(list(x), [y if y else math.nan for y in ys], marker=marker,
                      linestyle="-", label=f"{lab}/A {what}")
    ax_l.axhline(1.0, color="black", linewidth=0.8)
    if common:
        ax_l.set_yscale("log")
    ax_l.set_ylabel("per-layer ratio X/A")
    ax_l.set_xticks(list(x), common, rotation=90, fontsize=7)
    ax_l.legend()
    return fig


def write_comparison(c: Comparison, out_dir: str | Path) -> dict[str, Path]:
    """Write ``compare.png`` and ``compare.json`` into ``out_dir`` (made if missing)."""
    from mapper.report import strict_json
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise CompareError(f"--out {out_dir}: exists and is not a directory; give a "
                           f"directory path")
    out.mkdir(parents=True, exist_ok=True)
    paths = {"png": out / "compare.png", "json": out / "compare.json"}
    paths["json"].write_text(strict_json(c.to_dict(), "compare.json") + "\n")
    comparison_figure(c).savefig(paths["png"], dpi=110)
    return paths


__all__ = ["CompareError", "Comparison", "compare", "comparison_figure", "comparison_text",
           "load_result", "ratio", "write_comparison"]
