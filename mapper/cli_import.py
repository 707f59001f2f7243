"""``coforge import``: peer-tool accelerator descriptions -> coforge N-level hierarchy YAML.

``coforge import zigzag --hardware H.yaml [--mapping M.yaml] --out spec.yaml`` converts a
ZigZag description (:func:`mapper.zigzag_import.load_zigzag_hierarchy`);
``coforge import accelforge ARCH.yaml --out spec.yaml`` an AccelForge arch
(:func:`mapper.accelforge_import.load_accelforge`). The output is a ``hierarchy:`` spec
(:mod:`sim.hierarchy`; :func:`sim.hierarchy.load_hierarchy` reads it back) headed by the
conversion notes as comments; the notes are also printed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dataflows.errors import CoforgeError


class ImportCommandError(CoforgeError):
    """A bad ``coforge import`` argument."""


def _write(hier: object, notes: tuple[str, ...], source: str, out: str) -> int:
    from sim.hierarchy import dump_hierarchy
    head = [f"# converted from {source} by coforge import"]
    head += [f"# note: {n}" for n in notes]
    path = Path(out)
    if path.is_dir():
        raise ImportCommandError(f"--out {out}: a directory; give the spec file to write, "
                                 f"e.g. {path / 'spec.yaml'}")
    path.parent.mkdir(parents=True, exist_ok=True)      # like map --out, make its folder
    path.write_text("\n".join(head) + "\n" + dump_hierarchy(hier), encoding="utf-8")
    levels = [lv.name for lv in hier.levels]                       # type: ignore[attr-defined]
    fans = [f"{f.name}={'x'.join(map(str, f.size))}" for f in hier.fanouts]  # type: ignore
    print(f"{out}: {len(levels)} levels {levels}, fanouts {fans}, {len(notes)} notes")
    for n in notes:
        print(f"  note: {n}")
    return 0


def _zigzag(args: argparse.Namespace) -> int:
    from mapper.zigzag_import import load_zigzag_hierarchy
    conv = load_zigzag_hierarchy(args.hardware, args.mapping, clock_mhz=args.clock_mhz)
    return _write(conv.hierarchy, conv.notes, args.hardware, args.out)


def _accelforge(args: argparse.Namespace) -> int:
    from mapper.accelforge_import import load_accelforge
    variables = {}
    for item in args.set or []:
        name, sep, value = item.partition("=")
        if not sep or not name.isidentifier():
            raise ImportCommandError(f"--set {item!r}: give NAME=VALUE (a Jinja variable of "
                                     f"the arch file)")
        variables[name] = value
    conv = load_accelforge(args.arch, variables, clock_mhz=args.clock_mhz)
    return _write(conv.hierarchy, conv.notes, args.arch, args.out)


def add_import_command(sub: argparse._SubParsersAction) -> None:
    """Register ``coforge import {zigzag,accelforge}``."""
    p = sub.add_parser("import", help="convert a ZigZag or AccelForge accelerator "
                                      "description into a coforge hierarchy spec")
    isub = p.add_subparsers(dest="import_command", required=True)
    z = isub.add_parser("zigzag", help="ZigZag hardware (+ mapping) YAML")
    z.add_argument("--hardware", required=True, help="ZigZag hardware YAML")
    z.add_argument("--mapping", help="ZigZag mapping YAML (its 'default' spatial hint and "
                                     "operand links)")
    z.add_argument("--out", required=True, help="hierarchy spec YAML to write")
    z.add_argument("--clock-mhz", type=float, default=200.0,
                   help="clock (ZigZag gives none; default: %(default)s)")
    z.set_defaults(func=_zigzag)
    a = isub.add_parser("accelforge", help="AccelForge arch YAML")
    a.add_argument("arch", help="AccelForge arch YAML")
    a.add_argument("--out", required=True, help="hierarchy spec YAML to write")
    a.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="value of a Jinja variable of the arch file (repeatable)")
    a.add_argument("--clock-mhz", type=float, default=200.0,
                   help="clock (default: %(default)s)")
    a.set_defaults(func=_accelforge)


__all__ = ["ImportCommandError", "add_import_command"]
