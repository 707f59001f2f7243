"""``coforge <command> --help`` documents every option, and its default (issue 14 item 4):
the parser's actions are walked, not the help text grepped."""

from __future__ import annotations

import argparse

from mapper.cli import build_parser


def _parsers(p: argparse.ArgumentParser, path: str = "coforge"):  # noqa: ANN202
    yield path, p
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{path} {name}")


def _undocumented() -> list[str]:
    bad = []
    for path, p in _parsers(build_parser()):
        for a in p._actions:
            if isinstance(a, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            name = "/".join(a.option_strings) or a.dest
            if not (a.help or "").strip():
                bad.append(f"{path} {name}: no help")
            elif a.option_strings and not any(a.default is v for v in
                                              (None, False, argparse.SUPPRESS)) \
                    and "default" not in a.help:              # (0 is a default to state)
                bad.append(f"{path} {name}: default {a.default!r} not in its help")
    return bad


def test_every_option_has_help_with_its_default() -> None:
    assert _undocumented() == []
