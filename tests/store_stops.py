"""Shared by the resume tests of both ``coforge map`` stores: stop a real ``coforge``
process with SIGTERM once its store holds enough lines, and check the stop's contract."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

COFORGE = Path(sys.executable).parent / "coforge"


def sigterm_once_stored(args: list[str], store: Path, lines: int) -> None:
    """Run ``coforge *args``, send SIGTERM once ``store`` holds ``lines`` lines, and check
    the stop: exit 143, one stderr line naming the store and --resume, no result.json."""
    proc = subprocess.Popen([str(COFORGE), *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if store.exists() and store.read_text().count("\n") >= lines:
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the run ended before it could be stopped"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM
    out = err.strip().splitlines()
    assert len(out) == 1, out
    assert "stopped by SIGTERM" in out[0] and str(store) in out[0] and "--resume" in out[0]
    assert not (store.parent / "result.json").exists()
