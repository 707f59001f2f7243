"""Process control of long runs: stopping on SIGINT/SIGTERM, and workers that never
outlive their parent.

Stopping. :func:`stop_on_signals` installs SIGINT and SIGTERM handlers (main thread
only) that raise :class:`RunStopped` in the main thread, so whatever the run is doing
(waiting on workers, mapping a design in-process, a search step) ends within moments.
Code that must not be cut half-way (writing a design to the store and reporting it)
runs inside :func:`deferred`: a signal arriving there is raised when the section
ends. After the first signal every later one is only recorded, so finishing the
report from what is stored cannot be interrupted by a repeated Ctrl-C. The exit status
of a stopped run is ``128 + signal number`` (130 for SIGINT, 143 for SIGTERM).

Workers. :func:`worker_init` is the initializer of every local worker process. It
ignores SIGINT and SIGTERM (a Ctrl-C on the terminal reaches the whole process group;
the parent alone decides, and kills its workers itself), asks Linux to SIGKILL the
worker when its parent dies (``prctl(PR_SET_PDEATHSIG, SIGKILL)``, which holds even
when the parent is killed with ``kill -9``), and starts a watchdog thread that exits
the worker when its parent pid changes (the portable fallback, within
:data:`WATCHDOG_PERIOD_S`). :func:`kill_processes` ends a set of workers at once.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

#: Signals that stop a run (SIGINT: Ctrl-C; SIGTERM: kill, timeout, a service manager).
STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)
#: How often a worker's watchdog checks that its parent is alive (s).
WATCHDOG_PERIOD_S: float = 0.5
_PR_SET_PDEATHSIG = 1


class RunStopped(BaseException):  # noqa: N818 (a stop request, like KeyboardInterrupt)
    """A stop signal arrived: the run ends, the report is written from the store.

    A BaseException (like KeyboardInterrupt), so no ``except Exception`` on the way up
    swallows it."""

    def __init__(self, signum: int) -> None:
        self.signum = int(signum)
        super().__init__(f"stopped by {signal_name(signum)}")

    @property
    def exit_code(self) -> int:
        """The shell convention for a run ended by a signal: 128 + its number."""
        return 128 + self.signum


def signal_name(signum: int) -> str:
    """``SIGINT``, ``SIGTERM``, ... (the number when the signal has no name)."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class _State:
    def __init__(self) -> None:
        self.installed = False
        self.depth = 0                  # nesting of deferred() sections
        self.pending: int | None = None  # a signal received inside a deferred section
        self.stopped: int | None = None  # the signal that stopped the run


_state = _State()


def _handler(signum: int, frame: Any) -> None:
    if _state.stopped is not None:      # already stopping: finish the report in peace
        return
    if _state.depth > 0:
        if _state.pending is None:
            _state.pending = signum
        return
    _state.stopped = signum
    raise RunStopped(signum)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM raise :class:`RunStopped` in the main
    thread (outside :func:`deferred` sections); the previous handlers come back after.
    Off the main thread it does nothing (Python only signals the main thread)."""
    if threading.current_thread() is not threading.main_thread() or _state.installed:
        yield
        return
    previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    _state.installed, _state.depth, _state.pending, _state.stopped = True, 0, None, None
    try:
        for s in STOP_SIGNALS:
            signal.signal(s, _handler)
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h if h is not None else signal.SIG_DFL)
        _state.installed, _state.depth, _state.pending = False, 0, None


def stop_requested() -> int | None:
    """The signal that stopped the run, or a pending one (None if neither)."""
    return _state.stopped if _state.stopped is not None else _state.pending


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """A section a stop signal must not cut: a signal arriving inside is raised as
    :class:`RunStopped` when the outermost section ends."""
    _state.depth += 1
    try:
        yield
    finally:
        _state.depth -= 1
        if _state.depth == 0 and _state.pending is not None and _state.stopped is None:
            signum, _state.pending = _state.pending, None
            _state.stopped = signum
            raise RunStopped(signum)


@contextlib.contextmanager
def signals_blocked() -> Iterator[None]:
    """Block the stop signals in this thread (they stay pending and are delivered at
    the end). Around forking workers: a child is born with the signals blocked and
    unblocks them only after :func:`worker_init` has set its own dispositions, so a
    Ctrl-C at that instant never runs the parent's handler in the child."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _die_with_parent() -> None:
    """Linux: SIGKILL this process when the thread that forked it dies."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):
        pass                            # the watchdog thread still covers it


def _watchdog(parent_pid: int) -> None:
    while True:
        time.sleep(WATCHDOG_PERIOD_S)
        if os.getppid() != parent_pid:
            os._exit(1)


def worker_init(parent_pid: int) -> None:
    """Initializer of a local worker process (``ProcessPoolExecutor(initializer=...,
    initargs=(os.getpid(),))``): ignore the stop signals, die with the parent."""
    for s in STOP_SIGNALS:
        signal.signal(s, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    _die_with_parent()
    if os.getppid() != parent_pid:      # the parent died before prctl took effect
        os._exit(1)
    threading.Thread(target=_watchdog, args=(parent_pid,), name="coforge-parent-watchdog",
                     daemon=True).start()


def kill_processes(processes: Iterable[Any], timeout_s: float = 5.0) -> None:
    """SIGKILL every live ``multiprocessing.Process`` in ``processes`` and reap it."""
    procs = list(processes)
    for p in procs:
        with contextlib.suppress(Exception):
            if p.is_alive():
                p.kill()
    end = time.monotonic() + timeout_s
    for p in procs:
        with contextlib.suppress(Exception):
            p.join(max(0.0, end - time.monotonic()))


class WorkerDied(Exception):
    """A worker process of :func:`pool_map` died (killed by the system, e.g. out of
    memory); the caller turns it into its one-line error."""


def pool_map(fn: Any, calls: list[tuple[Any, tuple]], workers: int,
             keep: Any) -> None:
    """``keep(key, fn(*args))`` for every ``(key, args)`` of ``calls``, ``fn`` run in
    ``workers`` local processes (:func:`worker_init`: they ignore stop signals and die
    with this process), kept in the order they finish. An error, a stop signal or a
    worker's death (:class:`WorkerDied`) kills the workers at once: what they were
    running is lost, what was kept stays."""
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool
    pool = ProcessPoolExecutor(max_workers=workers, initializer=worker_init,
                               initargs=(os.getpid(),))
    try:
        with signals_blocked():         # workers are forked on the first submit
            futures = {pool.submit(fn, *args): key for key, args in calls}
        try:
            for f in as_completed(futures):
                keep(futures[f], f.result())
        except BrokenProcessPool:
            raise WorkerDied("a worker process died") from None
    except BaseException:
        procs = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        kill_processes(procs)
        raise
    pool.shutdown()


#: The least wall-clock share of a network's --time-budget one layer shape's search gets
#: (seconds); a search also always costs its first mappings, so a budget below the
#: shapes' minimum searches is exceeded by those.
MIN_SHARE_S = 0.002


class BudgetShares:
    """A network's wall-clock budget (seconds) shared by its distinct layer shapes as
    their weights (MACs) are. :meth:`next` gives the share of the next shape searched,
    from the time left when it starts (time one search overran or left unused goes to
    the rest, so shapes searched one after another end near the deadline);
    :meth:`static` gives every shape's share at once (for shapes searched in parallel)."""

    def __init__(self, total_s: float, weights: list[float]) -> None:
        self.total_s, self.deadline = total_s, time.perf_counter() + total_s
        self.left = float(sum(weights)) or 1.0

    def next(self, weight: float) -> float:
        share = max(MIN_SHARE_S, (self.deadline - time.perf_counter()) * weight / self.left)
        self.left = max(self.left - weight, 1e-300)
        return share

    def static(self, weights: list[float]) -> list[float]:
        total = float(sum(weights)) or 1.0
        return [max(MIN_SHARE_S, self.total_s * w / total) for w in weights]


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:              # not Linux
        return os.cpu_count() or 1


__all__ = ["BudgetShares", "MIN_SHARE_S", "RunStopped", "STOP_SIGNALS", "WATCHDOG_PERIOD_S",
           "WorkerDied", "deferred",
           "kill_processes", "pool_map", "signal_name", "signals_blocked", "stop_on_signals",
           "stop_requested", "usable_cpus", "worker_init"]
