"""`coforge dse` under real signals (issue 14 item 2): SIGINT (to the whole process group,
as a terminal's Ctrl-C sends it) and SIGTERM stop a running co-search within seconds
with exit status 130 / 143, one line on stderr and no traceback, the report
(``pareto.csv``, ``report.txt``, ``pareto.png``) written from what is stored, no worker
left alive, and ``--resume`` completes the run; after ``kill -9`` of the parent its
workers die too.

Each run is a real subprocess of the installed ``coforge`` script on a small space
(18 designs of alexnet, few mapping evaluations). Worker processes are the parent's
children read from ``/proc`` while it runs; after it ends each must be gone or a
zombie (dead, waiting to be reaped by init).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mapper import run_control
from store_poll import stored_designs

ROOT = Path(__file__).resolve().parents[2]
SPACE = """base: edge_8x8_ws
parameters:
  rows: [2, 4, 8]
  cols: [2, 4, 8]
  glb_kib: [16, 32]
"""
DESIGNS = 18
STOP_WITHIN_S = 15.0          # generous: 2 shared cores; it takes ~2 s unloaded


def _coforge() -> list[str]:
    script = Path(sys.executable).parent / "coforge"
    return [str(script)] if script.exists() else [sys.executable, "-m", "mapper.cli"]


def _args(space: Path, out: Path, workers: int) -> list[str]:
    return _coforge() + ["dse", "--network", "alexnet", "--space", str(space), "--strategy",
                         "grid", "--max-designs", str(DESIGNS), "--map-evals", "100",
                         "--workers", str(workers), "--seed", "1", "--out", str(out)]


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(ROOT))


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state, ppid, ...; starttime is
    index 19), or None when there is no such process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text.rsplit(")", 1)[1].split()


def _children(pid: int) -> dict[int, str]:
    """Live children of ``pid``: pid -> start time (so a reused pid is not mistaken)."""
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(int(entry))
            if st is not None and st[1] == str(pid) and st[0] not in "ZX":
                out[int(entry)] = st[19]
    return out


def _alive(children: dict[int, str]) -> list[int]:
    """The processes of ``children`` still running (not gone, not a zombie)."""
    alive = []
    for pid, start in children.items():
        st = _stat(pid)
        if st is not None and st[19] == start and st[0] not in "ZX":
            alive.append(pid)
    return alive


def _start(space: Path, out: Path, workers: int) -> tuple[subprocess.Popen, dict[int, str]]:
    """Start a run, wait until it has stored a design; return it and its workers."""
    proc = subprocess.Popen(_args(space, out, workers), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env(),
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while stored_designs(out) < 1 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it could be signalled"
        assert stored_designs(out) >= 1
        workers_seen = _children(proc.pid)
        assert len(workers_seen) == (workers if workers > 1 else 0), workers_seen
    except BaseException:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        _, stderr = proc.communicate()
        print(stderr, file=sys.stderr)          # why the run ended, in pytest's report
        raise
    return proc, workers_seen


def _wait_gone(children: dict[int, str], within_s: float) -> list[int]:
    deadline = time.monotonic() + within_s
    while _alive(children) and time.monotonic() < deadline:
        time.sleep(0.05)
    return _alive(children)


@pytest.mark.parametrize(("signum", "workers", "group"), [
    (signal.SIGINT, 2, True),          # Ctrl-C: the whole process group gets it
    (signal.SIGTERM, 2, False),
    (signal.SIGTERM, 1, False),        # in-process evaluation is cut as well
], ids=["sigint-group-2-workers", "sigterm-2-workers", "sigterm-in-process"])
def test_signal_stops_the_run_writes_the_report_and_resume_completes(
        tmp_path: Path, signum: signal.Signals, workers: int, group: bool) -> None:
    space = tmp_path / "space.yaml"
    space.write_text(SPACE)
    out = tmp_path / "out"
    proc, kids = _start(space, out, workers)
    sent = time.monotonic()
    if group:
        os.killpg(proc.pid, signum)
    else:
        os.kill(proc.pid, signum)
    stdout, stderr = proc.communicate(timeout=120)
    took = time.monotonic() - sent
    assert proc.returncode == 128 + signum, (proc.returncode, stderr)
    assert took < STOP_WITHIN_S, took
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr                              # one line, no traceback
    assert "Traceback" not in stderr + stdout
    assert lines[0].startswith(f"coforge: stopped by {signum.name}: "), lines[0]
    stored = stored_designs(out)
    assert 1 <= stored < DESIGNS
    assert f"{stored} designs stored" in lines[0] and "--resume" in lines[0]
    for name in ("pareto.csv", "report.txt", "pareto.png"):
        assert (out / name).stat().st_size > 0, name
    assert f"{stored} designs stored" in (out / "report.txt").read_text()
    assert _wait_gone(kids, 2.0) == [], "workers outlived the run"

    res = subprocess.run(_args(space, out, workers) + ["--resume"], capture_output=True,
                         text=True, env=_env(), timeout=600)
    assert res.returncode == 0, res.stderr
    assert f"{stored} resumed from the store" in res.stdout, res.stdout
    assert stored_designs(out) == DESIGNS
    assert f"{DESIGNS} designs stored" in (out / "report.txt").read_text()


def test_sigkill_of_the_parent_kills_its_workers(tmp_path: Path) -> None:
    space = tmp_path / "space.yaml"
    space.write_text(SPACE)
    proc, kids = _start(space, tmp_path / "out", 2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert _wait_gone(kids, 5.0) == [], "workers outlived a kill -9 of their parent"


def test_a_signal_inside_a_deferred_section_is_raised_when_it_ends() -> None:
    """The store write and its report line are never cut; the stop comes right after,
    and a second signal while stopping is only recorded."""
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with run_control.stop_on_signals():
        with pytest.raises(run_control.RunStopped) as stop:
            with run_control.deferred():
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.05)                    # the handler has run by now
                assert run_control.stop_requested() == signal.SIGINT
                finished = True
        assert finished and stop.value.exit_code == 130
        os.kill(os.getpid(), signal.SIGTERM)        # while finishing: ignored
        time.sleep(0.05)
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_the_workers_die_with_their_parent_even_without_prctl() -> None:
    """The watchdog alone (as off Linux): a worker whose parent pid changes exits."""
    code = ("import os, time; from mapper import run_control as rc; "
            "rc._die_with_parent = lambda: None; pid = os.fork()\n"
            "if pid == 0:\n"
            "    rc.worker_init(os.getppid())\n"
            "    print(os.getpid(), flush=True); time.sleep(60); os._exit(0)\n"
            "time.sleep(60)\n")
    with subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                          env=_env()) as parent:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        start = _stat(child)
        assert start is not None
        parent.kill()
        parent.wait(timeout=30)
    assert _wait_gone({child: start[19]}, 5 * run_control.WATCHDOG_PERIOD_S + 2) == []
