"""Progress text for long commands: ``n/N`` with an ETA from the mean time per item.

:class:`Progress` is what ``coforge dse`` prints on each design line and what
``validate``/``verify`` print per stage on a terminal (stderr, so stdout stays the
command's result). The ETA is ``(N - n) * elapsed / n_done_this_run``: items resumed
from a store count toward ``n`` but not toward the rate.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field


def format_seconds(s: float) -> str:
    """``75.2 -> '1m15s'``, ``3725 -> '1h02m'``, ``9.4 -> '9s'``."""
    s = max(0.0, s)
    if s < 60:
        return f"{s:.0f}s"
    if s < 3600:
        return f"{int(s // 60)}m{int(s % 60):02d}s"
    return f"{int(s // 3600)}h{int(s % 3600 // 60):02d}m"


@dataclass
class Progress:
    """``total`` items, ``start`` of them already done (e.g. resumed)."""

    total: int
    start: int = 0
    t0: float = field(default_factory=lambda: time.perf_counter())
    done: int = 0

    def tick(self) -> str:
        """Count one more item; the text ``n/N, ETA ...``."""
        self.done += 1
        n = self.start + self.done
        rate = (time.perf_counter() - self.t0) / self.done
        left = max(0, self.total - n)
        eta = f", ETA {format_seconds(left * rate)}" if left else ""
        return f"{n}/{self.total}{eta}"


def stage(text: str, i: int, n: int) -> None:
    """``[i/n] text`` on stderr when it is a terminal (a stage of validate/verify)."""
    if sys.stderr.isatty():
        print(f"[{i}/{n}] {text}", file=sys.stderr, flush=True)
