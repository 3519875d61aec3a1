"""A map over forked worker processes, for the renderer's CPU-bound step: drawing the sections.

matplotlib holds the GIL, so threads would not help. The function is not pickled: the workers
are forked after it is set, so they inherit it (and the loaded run it closes over); only each
index goes out and each result comes back, in order. (Reading the cells this way was slower:
sending the loaded arrays back costs more than reading them.)

``VANISHING_RENDER_JOBS=N`` sets the number of workers (1: everything in this process, one item
after another); by default one per CPU this process may run on.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

ENV = "VANISHING_RENDER_JOBS"

# The function the workers call, set just before they fork: a fork copies it.
_work: Callable[[int], Any] | None = None


def jobs() -> int:
    """Workers to use: $VANISHING_RENDER_JOBS, else the CPUs this process may run on."""
    value = os.environ.get(ENV, "").strip()
    if value:
        try:
            return max(1, int(value))
        except ValueError:
            raise ValueError(f"{ENV}={value!r}: not a whole number") from None
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def can_fork() -> bool:
    """Whether forking is safe here; otherwise the work is done in this process. Not in a
    daemonic process (a pool's worker may not start children), nor beside another thread (a fork
    copies only this one; locks the others held stay held in the child): no other Python thread,
    and no TensorFlow (its threads are not Python's; a script recording with Keras renders in
    its own process; workers.py spawns for the same reason)."""
    return ("fork" in multiprocessing.get_all_start_methods()
            and not multiprocessing.current_process().daemon and threading.active_count() == 1
            and "tensorflow" not in sys.modules)


def map_forked(work: Callable[[int], Any], n: int, workers: int | None = None) -> list[Any]:
    """[work(0), ..., work(n - 1)], computed by up to ``workers`` forked processes; each takes
    the next index as soon as it is free, so long items early balance best."""
    workers = min(jobs() if workers is None else workers, n)
    if workers <= 1 or not can_fork():
        return [work(i) for i in range(n)]
    global _work
    _work = work
    try:
        with multiprocessing.get_context("fork").Pool(workers, initializer=_worker_signals) as pool:
            return pool.map(_call, range(n), chunksize=1)
    finally:
        _work = None


def _worker_signals() -> None:
    """A worker dies of SIGTERM, as Pool.terminate (the end of every map) expects. A fork inherits
    the command's SIGTERM and SIGHUP handlers (cli.py), which raise an exception instead; once in
    about 20 renders a worker outlived that SIGTERM, waiting for a task, and the render waited for
    it for good (most likely the exception was raised inside a finalizer the garbage collector
    ran, where Python prints and drops it). Ctrl-C is the command's to handle: it ends the workers."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _call(index: int) -> Any:
    assert _work is not None  # set by map_forked before the fork
    return _work(index)
