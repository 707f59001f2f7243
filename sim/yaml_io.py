"""The one YAML reader of coforge: every YAML file or text the project reads (accelerator
specs, layer configs, design spaces, ZigZag descriptions, specs coforge stored itself)
goes through :func:`read_yaml` / :func:`read_yaml_document` / :func:`loads_yaml` here,
so there is one set of rules and one error format.

Rules:

* safe types only (PyYAML's ``SafeLoader``: scalars, lists, mappings, timestamps; no
  Python object tags);
* the top level must be a non-empty mapping: an empty (or comment-only) file and a
  top-level list or scalar are errors (:func:`read_yaml_last_wins` accepts a list);
* **duplicate keys are an error**, at any depth, naming the key path and both lines.
  Why one strict policy: YAML 1.2 says mapping keys are unique, PyYAML silently keeps
  the last value, and a key given twice in a spec is almost always an edit that left the
  old value behind -- the value that wins should never depend on which line the reader
  happens to keep. The single documented exception is :func:`read_yaml_last_wins`, for
  a peer tool's own files (ZigZag) that the peer reads with ``yaml.safe_load``
  (last wins): coforge must read them as the peer does to reproduce its numbers, so it
  returns the duplicates for the importer to report instead of refusing the file;
* ``ratios=True`` (opt-in; layer configs) reads an unquoted ``N:M`` scalar such as
  ``2:4`` as the string ``"2:4"`` (YAML 1.1 would read it as the base-60 integer 124);
* bad UTF-8, tabs and other parse errors are one line with the line and column.

Every error is one line, ``<file>: ...; give <what>``, raised as the caller's
:class:`~dataflows.errors.CoforgeError` subclass (``error=``), so the CLI prints it as
``coforge: error: ...`` and exits 2. Key paths are written by :func:`key_path`:
``memory.glb[1].capacity_bytes`` (mapping keys joined by dots, list indices and
non-identifier keys in brackets). A reader that validates the data afterwards keeps the
:class:`YamlDocument` and passes its validation errors through
:meth:`YamlDocument.locate`, which appends ``(line N)`` of the key the error names.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dataflows.errors import CoforgeError


class YamlError(CoforgeError):
    """A YAML file is unreadable, malformed, empty, not a mapping or has a key twice."""


@dataclass(frozen=True)
class Duplicate:
    """A mapping key given twice: the key, its key path and the (1-based) lines of both."""

    key: object
    key_path: str
    first_line: int
    line: int

    def __str__(self) -> str:
        return f"{self.key_path} (lines {self.first_line} and {self.line})"


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class Named(str):
    """A mapping key the user chose (a layer name): :func:`key_path` always writes it in
    brackets (``layers['fc']``), so it never reads as a schema field."""


def key_path(loc: Sequence[object]) -> str:
    """``("memory", "glb", 1, "capacity_bytes")`` -> ``"memory.glb[1].capacity_bytes"``.

    Identifier-like string keys are joined by dots; list indices and other keys (the
    integer bit widths of ``energy.mult_pj``, a layer name such as ``'layer1.0.conv1'``)
    are written in brackets, and so is a :class:`Named` key. ``()`` -> ``""``.
    """
    out = ""
    for part in loc:
        if isinstance(part, str) and not isinstance(part, Named) and _NAME.fullmatch(part):
            out = f"{out}.{part}" if out else part
        else:
            out = f"{out}[{part!r}]"
    return out


# -- the loaders ----------------------------------------------------------------------------
class _SafeLoader(yaml.SafeLoader):
    """PyYAML's safe loader; a subclass so constructors added here stay local."""


class _RatioLoader(_SafeLoader):
    """Safe loader reading ``N:M`` (a YAML 1.1 base-60 integer) as the string ``"N:M"``."""


def _int_or_ratio(loader: _RatioLoader, node: yaml.ScalarNode) -> int | str:
    if ":" in node.value:
        return str(node.value)
    return loader.construct_yaml_int(node)


_RatioLoader.add_constructor("tag:yaml.org,2002:int", _int_or_ratio)

_MERGE_TAG = "tag:yaml.org,2002:merge"
_PATH_START = re.compile(r"(?P<path>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*"
                         r"|\[[^\]]*\])*)(?P<rest>.*)", re.S)
_PATH_PART = re.compile(r"\.?([A-Za-z_][A-Za-z0-9_]*)|\[([^\]]*)\]")
_UNKNOWN = re.compile(r": unknown key ('(?:[^'\\]|\\.)*'|-?\d+)")
_FIELD = re.compile(r": ([A-Za-z_][A-Za-z0-9_]*) ")
_MORE = re.compile(r" \(\+\d+ more\)$")


def parse_key_path(path: str) -> tuple[object, ...] | None:
    """The inverse of :func:`key_path` (``"glb[1].name"`` -> ``("glb", 1, "name")``);
    None when ``path`` is not one."""
    loc: list[object] = []
    pos = 0
    while pos < len(path):
        m = _PATH_PART.match(path, pos)
        if m is None or (pos == 0 and path.startswith(".")):
            return None
        if m.group(1) is not None:
            loc.append(m.group(1))
        else:
            try:
                loc.append(ast.literal_eval(m.group(2)))
            except (ValueError, SyntaxError):
                return None
        pos = m.end()
    return tuple(loc)


@dataclass(frozen=True)
class YamlDocument:
    """A parsed file: ``data`` (the top level), the keys given twice (only when read
    last-wins) and ``positions``: key path tuple -> 1-based line of that key or list item."""

    data: Any
    duplicates: tuple[Duplicate, ...]
    positions: dict[tuple[object, ...], int]

    def line_of(self, loc: tuple[object, ...]) -> int | None:
        """Line of ``loc``, else of its nearest ancestor in the file (None: none is)."""
        for end in range(len(loc), 0, -1):
            if loc[:end] in self.positions:
                return self.positions[loc[:end]]
        return None

    def locate(self, message: str) -> str:
        """``message`` (a validation error starting with a key path, e.g. ``"glb[1]:
        unknown key 'size'; ..."``) with ``" (line N)"`` added where that key is in the
        file; unchanged when it names no key of the file."""
        if message.startswith("missing required key"):
            return message                  # nowhere in the file
        if message.startswith("top level: "):
            loc: tuple[object, ...] | None = ()
            rest = message[len("top level"):]
        else:
            m = _PATH_START.match(message)
            loc = parse_key_path(m.group("path")) if m else None
            rest = m.group("rest") if m else ""
        if loc is None:
            return message
        unknown = _UNKNOWN.match(rest)
        field = _FIELD.match(rest)
        if unknown:
            loc = loc + (ast.literal_eval(unknown.group(1)),)
        elif field and loc + (field.group(1),) in self.positions:   # "glb[1]: word_bits ..."
            loc = loc + (field.group(1),)
        line = self.line_of(loc)
        if line is None:
            return message
        more = _MORE.search(message)
        if more:
            return f"{message[:more.start()]} (line {line}){more.group(0)}"
        return f"{message} (line {line})"


def _walk(loader: yaml.SafeLoader, root: yaml.Node,
          positions: dict[tuple[object, ...], int]) -> list[Duplicate]:
    """Every mapping key given twice under ``root``, in document order; fills
    ``positions`` with the line of every key and list item (by its key path tuple)."""
    out: list[Duplicate] = []
    seen_nodes: set[int] = set()             # an alias is walked once (no blow-up)
    stack: list[tuple[yaml.Node, tuple[object, ...]]] = [(root, ())]
    while stack:
        node, loc = stack.pop()
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        children: list[tuple[yaml.Node, tuple[object, ...]]] = []
        if isinstance(node, yaml.MappingNode):
            lines: dict[object, int] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE_TAG:
                    continue
                key = loader.construct_object(key_node)
                line = key_node.start_mark.line + 1
                try:
                    first = lines.get(key)
                except TypeError:                    # unhashable: the constructor says so
                    continue
                if first is not None:
                    out.append(Duplicate(key, key_path(loc + (key,)), first, line))
                lines.setdefault(key, line)
                positions[loc + (key,)] = line
                children.append((value_node, loc + (key,)))
        elif isinstance(node, yaml.SequenceNode):
            children = [(item, loc + (i,)) for i, item in enumerate(node.value)]
            for item, item_loc in children:
                positions[item_loc] = item.start_mark.line + 1
        stack.extend(reversed(children))
    out.sort(key=lambda d: d.line)
    return out


def _position(text: str, index: int) -> str:
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return f"line {line}, column {column}"


def _parse(text: str, source: str, error: type[CoforgeError], what: str, ratios: bool,
           last_wins: bool) -> YamlDocument:
    try:
        loader = (_RatioLoader if ratios else _SafeLoader)(text)
        try:
            node = loader.get_single_node()
            if node is None:
                raise error(f"{source}: empty file; give {what}")
            positions: dict[tuple[object, ...], int] = {}
            dups = _walk(loader, node, positions)
            if dups and not last_wins:
                d = dups[0]
                raise error(f"{source}: {d.key_path}: duplicate key {d.key!r} at line "
                            f"{d.line} (first given at line {d.first_line}); keep one")
            data = loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.reader.ReaderError as err:
        raise error(f"{source}: malformed YAML at {_position(text, err.position)}: "
                    f"{err.reason} (#x{err.character:04x}); give {what}") from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = err.problem or err.context or "cannot parse"
        raise error(f"{source}: malformed YAML{where}: {problem}; give {what}") from None
    except yaml.YAMLError as err:
        raise error(f"{source}: malformed YAML: {str(err).splitlines()[0]}; give {what}") \
            from None
    if not isinstance(data, dict) and not last_wins:
        kind = {list: "a list", str: "a string"}.get(type(data), type(data).__name__)
        raise error(f"{source}: the top level must be a mapping of keys to values, not "
                    f"{kind}; give {what}")
    return YamlDocument(data, tuple(dups), positions)


def _read_text(path: Path, error: type[CoforgeError], what: str) -> str:
    if path.is_dir():
        raise error(f"{path}: is a directory; give {what}")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise error(f"{path}: no such file; give {what}") from None
    except OSError as err:
        raise error(f"{path}: cannot read ({err.strerror}); give {what}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        column = err.start - (raw.rfind(b"\n", 0, err.start) + 1) + 1
        raise error(f"{path}: not a UTF-8 text file (byte 0x{raw[err.start]:02x} at line "
                    f"{line}, column {column}); give {what}") from None


def read_yaml(path: str | Path, *, error: type[CoforgeError] = YamlError,
              what: str = "a YAML file", ratios: bool = False) -> dict[str, Any]:
    """The top-level mapping of the YAML file ``path`` under the rules above.

    ``error``: the :class:`CoforgeError` subclass raised (one line starting with the
    path); ``what``: what the user should give instead, ending each message
    (``"a YAML spec (schema in sim/spec_io.py)"``); ``ratios``: read ``N:M`` as text.
    """
    return read_yaml_document(path, error=error, what=what, ratios=ratios).data


def read_yaml_document(path: str | Path, *, error: type[CoforgeError] = YamlError,
                       what: str = "a YAML file", ratios: bool = False) -> YamlDocument:
    """As :func:`read_yaml`, keeping the line of every key (:meth:`YamlDocument.locate`
    adds it to a later validation error)."""
    p = Path(path)
    return _parse(_read_text(p, error, what), str(p), error, what, ratios, False)


def read_yaml_last_wins(path: str | Path, *, error: type[CoforgeError] = YamlError,
                        what: str = "a YAML file") -> tuple[Any, tuple[Duplicate, ...]]:
    """As :func:`read_yaml`, but a key given twice keeps its last value, the duplicates
    are returned (key path, both lines) for the caller to report, and the top level may
    be a list (a ZigZag mapping file is one; the caller checks the shape).

    Only for a peer tool's own files that the peer reads with ``yaml.safe_load``
    (ZigZag): coforge reads them as the peer does. Every coforge format uses
    :func:`read_yaml`.
    """
    p = Path(path)
    doc = _parse(_read_text(p, error, what), str(p), error, what, False, True)
    return doc.data, doc.duplicates


def loads_yaml(text: str, source: str, *, error: type[CoforgeError] = YamlError,
               what: str = "YAML text", ratios: bool = False) -> dict[str, Any]:
    """As :func:`read_yaml` for YAML text (e.g. a spec coforge stored in a result);
    ``source`` names it in errors."""
    return _parse(text, source, error, what, ratios, False).data


__all__ = ["Duplicate", "Named", "YamlDocument", "YamlError", "key_path", "loads_yaml",
           "parse_key_path", "read_yaml", "read_yaml_document", "read_yaml_last_wins"]
