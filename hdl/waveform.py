"""Waveforms of an RTL run: read a VCD file and draw an excerpt with matplotlib.

:func:`read_vcd` parses the value changes of the signals asked for (IEEE 1364 VCD as
Amaranth's simulator and Icarus write it: ``$var`` declarations inside ``$scope``
blocks, ``#<time>`` stamps, scalar changes ``0!``/``1!`` and vector changes
``b1010 !``); ``x``/``z`` bits read as 0. :func:`plot_waves` draws one row per signal
over a window of clock cycles: 1-bit signals as a line, vectors as labelled segments.
No dependency beyond matplotlib.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dataflows.errors import CoforgeError


class WaveformError(CoforgeError):
    """The VCD file cannot be read or lacks a signal that was asked for."""


@dataclass(frozen=True)
class Wave:
    """One signal: its full VCD name, width (bits) and its changes as (time, value)."""

    name: str
    width: int
    changes: tuple[tuple[int, int], ...]

    def value_at(self, time: int) -> int:
        """Value at ``time`` (the last change at or before it; 0 before the first)."""
        value = 0
        for t, v in self.changes:
            if t > time:
                break
            value = v
        return value


def _bits(text: str) -> int:
    return int(text.replace("x", "0").replace("z", "0").replace("X", "0")
               .replace("Z", "0") or "0", 2)


def read_vcd(path: str | Path, signals: list[str]) -> dict[str, Wave]:
    """The waves of ``signals`` (each matched against the end of the dotted scope path,
    e.g. ``"busy"`` or ``"top.busy"``; the shortest path wins) from VCD ``path``."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8", errors="replace")
    except OSError as err:
        raise WaveformError(f"{p}: cannot read the VCD file ({err.strerror})") from None
    scope: list[str] = []
    decls: dict[str, tuple[str, int]] = {}          # full name -> (id code, width)
    tokens = iter(text.split())
    for tok in tokens:
        if tok == "$scope":
            next(tokens)
            scope.append(next(tokens))
        elif tok == "$upscope":
            scope.pop()
        elif tok == "$var":
            _kind, width, code, ref = next(tokens), next(tokens), next(tokens), next(tokens)
            decls.setdefault(".".join(scope + [ref]), (code, int(width)))
        elif tok == "$enddefinitions":
            break
    chosen: dict[str, tuple[str, str, int]] = {}    # asked name -> (full, code, width)
    for want in signals:
        hits = sorted((n for n in decls if n == want or n.endswith("." + want)), key=len)
        if not hits:
            raise WaveformError(f"{p}: no signal {want!r}; e.g. "
                                f"{sorted(decls, key=len)[:8]}")
        chosen[want] = (hits[0], *decls[hits[0]])
    codes = {code for _, code, _ in chosen.values()}
    changes: dict[str, list[tuple[int, int]]] = {code: [] for code in codes}
    time = 0
    for tok in tokens:
        head = tok[0]
        if head == "#":
            time = int(tok[1:])
        elif head in "01xzXZ" and len(tok) > 1:
            code = tok[1:]
            if code in changes:
                changes[code].append((time, 1 if head == "1" else 0))
        elif head in "bB":
            code = next(tokens)
            if code in changes:
                changes[code].append((time, _bits(tok[1:])))
        elif head in "rR":
            next(tokens)                            # real values: not used here
    return {want: Wave(full, width, tuple(changes[code]))
            for want, (full, code, width) in chosen.items()}


def plot_waves(waves: dict[str, Wave], period: int, start_cycle: int, cycles: int,
               ax=None, title: str = ""):  # noqa: ANN001, ANN201 - matplotlib objects
    """Draw ``cycles`` clock cycles from ``start_cycle`` (``period``: VCD time units per
    cycle), sampled once per cycle; returns the Axes."""
    import matplotlib.pyplot as plt
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 0.6 * len(waves) + 0.8))
    t0 = start_cycle * period
    xs = list(range(start_cycle, start_cycle + cycles + 1))
    for row, (label, wave) in enumerate(reversed(list(waves.items()))):
        vals = [wave.value_at(t0 + (x - start_cycle) * period + period // 2) for x in xs]
        if wave.width == 1:
            ax.step(xs, [row + 0.1 + 0.7 * v for v in vals], where="post", lw=1.5)
        else:
            seg = 0
            for i in range(1, len(xs) + 1):
                if i == len(xs) or vals[i] != vals[seg]:
                    ax.plot([xs[seg], xs[min(i, len(xs) - 1)]], [row + 0.1] * 2, "k", lw=0.8)
                    ax.plot([xs[seg], xs[min(i, len(xs) - 1)]], [row + 0.8] * 2, "k", lw=0.8)
                    ax.plot([xs[seg]] * 2, [row + 0.1, row + 0.8], "k", lw=0.8)
                    if i - seg >= 2:
                        ax.text((xs[seg] + xs[min(i, len(xs) - 1)]) / 2, row + 0.45,
                                f"{vals[seg]}", ha="center", va="center", fontsize=7)
                    seg = i
        ax.text(start_cycle - 0.5, row + 0.45, label, ha="right", va="center", fontsize=8)
    ax.set_yticks([])
    ax.set_xlim(start_cycle - 0.2, start_cycle + cycles)
    ax.set_ylim(-0.1, len(waves))
    ax.set_xlabel("clock cycle")
    if title:
        ax.set_title(title)
    return ax


__all__ = ["Wave", "WaveformError", "plot_waves", "read_vcd"]
