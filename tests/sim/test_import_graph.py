"""The ``sim`` package has no import cycle, lazy (function-level) imports included.

Two checks:

* static: every module of ``sim`` is parsed with :mod:`ast`; each ``import`` /
  ``from ... import`` anywhere in it (inside functions too, except under
  ``if TYPE_CHECKING:``, which never runs) is an edge to the ``sim`` modules it makes
  Python execute -- the named module and every package ``__init__`` on the way to it
  that is not an ancestor of the importer (those are already initialising). The graph
  must be a DAG, and ``sim`` imports nothing from ``hdl`` or ``mapper`` (the
  dependency direction ``dataflows -> sim -> hdl -> mapper``).
* dynamic: each module is imported *first* in a fresh interpreter, with ``sim`` (and
  ``sim.cycle``, ``sim.sparse``) standing as empty namespace stubs so their
  ``__init__`` files cannot fix the order; then every other ``sim`` module is
  imported. A cycle of module-level ``from x import y`` shows up as an ImportError;
  lazy ones are the static check's.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SIM = ROOT / "sim"


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(SIM.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imported_names(tree: ast.AST, package: str) -> set[str]:
    """Dotted names every executed import statement of ``tree`` names."""
    names: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            names.add(mod)
            names.update(f"{mod}.{a.name}" for a in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return names


def import_graph() -> dict[str, set[str]]:
    """``{module: sim modules importing it executes}`` (see the module docstring)."""
    mods = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps: set[str] = set()
        for dotted in _imported_names(ast.parse(path.read_text()), package):
            parts = dotted.split(".")
            for i in range(1, len(parts) + 1):
                target = ".".join(parts[:i])
                if target in mods and target != name and \
                        not (name + ".").startswith(target + "."):
                    deps.add(target)
        graph[name] = deps
    return graph


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(u: str) -> list[str] | None:
        state[u] = 1
        stack.append(u)
        for v in sorted(graph[u]):
            if state.get(v) == 1:
                return stack[stack.index(v):] + [v]
            if v not in state:
                found = dfs(v)
                if found:
                    return found
        stack.pop()
        state[u] = 2
        return None

    for u in sorted(graph):
        if u not in state:
            found = dfs(u)
            if found:
                return found
    return None


def test_static_import_graph_is_a_dag() -> None:
    graph = import_graph()
    assert {"sim", "sim.analytic", "sim.tiling", "sim.datapath", "sim.cycle.supply",
            "sim.default_mapping"} <= set(graph)
    cycle = _find_cycle(graph)
    assert cycle is None, "import cycle in sim: " + " -> ".join(cycle or [])


def test_cycle_finder_sees_the_old_cycle() -> None:
    """The checker itself: the cycle this test was written for is found, lazy edge
    included (analytic -> datapath -> cycle.supply (lazily) -> default_mapping ->
    analytic), and a function-level import counts while a TYPE_CHECKING one does not."""
    graph = {"sim.analytic": {"sim.datapath"}, "sim.datapath": {"sim.cycle.supply"},
             "sim.cycle.supply": {"sim.default_mapping"},
             "sim.default_mapping": {"sim.analytic"}}
    assert _find_cycle(graph) == ["sim.analytic", "sim.datapath", "sim.cycle.supply",
                                  "sim.default_mapping", "sim.analytic"]
    src = ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import sim.a\n"
           "def f():\n    from sim.b import c\n")
    assert _imported_names(ast.parse(src), "sim") == {"typing", "typing.TYPE_CHECKING",
                                                      "sim.b", "sim.b.c"}


def test_sim_imports_nothing_upwards() -> None:
    for name, path in _modules().items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        upward = {d for d in _imported_names(ast.parse(path.read_text()), package)
                  if d.split(".")[0] in ("hdl", "mapper")}
        assert not upward, f"{name} imports {sorted(upward)} (sim must not import upwards)"


_FRESH = """
import importlib, sys, types
root, mods = sys.argv[1], sys.argv[2:]
failed = []
for first in mods:
    for name in [m for m in sys.modules if m == "sim" or m.startswith("sim.")]:
        del sys.modules[name]
    for pkg in ("sim", "sim.cycle", "sim.sparse"):
        stub = types.ModuleType(pkg)
        stub.__path__ = [root + "/" + pkg.replace(".", "/")]
        sys.modules[pkg] = stub
    try:
        importlib.import_module(first)
        for name in mods:
            importlib.import_module(name)
    except Exception as err:
        failed.append(f"{first}: {type(err).__name__}: {err}")
print("\\n".join(failed) if failed else "ok")
"""


def test_each_module_imports_first_in_a_fresh_interpreter() -> None:
    """Module-level imports: each module of ``sim`` imported first, then all the others.

    One fresh interpreter; before each module every ``sim`` module is dropped from
    ``sys.modules`` (third-party packages stay loaded, so ~30 orders cost about one
    import of numpy/scipy) and the package ``__init__`` files are stubbed, so the first
    module's own imports run in the order they are written."""
    mods = sorted(m for m, p in _modules().items() if p.name != "__init__.py")
    proc = subprocess.run([sys.executable, "-c", _FRESH, str(ROOT), *mods], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok", "importing first fails:\n" + proc.stdout


def test_package_inits_import_in_a_fresh_interpreter() -> None:
    """The real packages, each first: ``sim.cycle`` before ``sim`` would expose the
    lazy edge datapath -> sim.cycle if it came back at module level."""
    code = "\n".join(["import sys", "firsts = sys.argv[1:]", "for first in firsts:",
                       "    for m in [m for m in sys.modules if m.split('.')[0] == 'sim']:",
                       "        del sys.modules[m]",
                       "    __import__(first)", "    import sim", "print('ok')"])
    proc = subprocess.run([sys.executable, "-c", code, "sim.datapath", "sim.cycle",
                           "sim.analytic", "sim.default_mapping", "sim.sparse", "sim.tiling",
                           "sim.cycle.supply"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
