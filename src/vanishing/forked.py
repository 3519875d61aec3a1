"""Forked processes for the renderer's CPU-bound steps: a map over workers (drawing the
sections) and one piece of work beside this process (``beside``: the metrics gzipped, half of
the cells read).

matplotlib holds the GIL, so threads would not help. The function is not pickled: the workers
are forked after it is set, so they inherit it (and the loaded run it closes over); only each
index goes out and each result comes back, in order. (Reading all the cells in workers was
slower: sending the loaded arrays back costs more than reading them. Half of them read beside
this process while it reads the other half is faster: reader.load_run.)

``VANISHING_RENDER_JOBS=N`` sets the number of workers (1: everything in this process, one item
after another); by default one per CPU this process may run on.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from typing import Any, Generic, TypeVar

from vanishing import timing
from vanishing.workers import die_with_parent

T = TypeVar("T")

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
        with multiprocessing.get_context("fork").Pool(workers, initializer=_worker_signals,
                                                      initargs=(os.getpid(),)) as pool:
            return pool.map(_call, range(n), chunksize=1)
    finally:
        _work = None


def _worker_signals(parent: int) -> None:
    """A worker dies with the render (killed with -9 too: the kernel ends it), and of SIGTERM, as
    Pool.terminate (the end of every map) expects. A fork inherits the command's SIGTERM and
    SIGHUP handlers (cli.py), which raise an exception instead; once in about 20 renders a
    worker outlived that SIGTERM, waiting for a task, and the render waited for it for good
    (most likely the exception was raised inside a finalizer the garbage collector ran, where
    Python prints and drops it). Ctrl-C is the command's to handle: it ends the workers."""
    die_with_parent(parent)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class Later(Generic[T]):
    """A piece of work under way beside this process; ``result()`` waits for it, and is what the
    work returned or raised."""

    def __init__(self, work: Callable[[], T]) -> None:
        self._work, self._outcome = work, None
        self._child: Any = None
        self._thread: threading.Thread | None = None
        if jobs() > 1 and can_fork():  # the child's timing spans come back with its result
            self._answer, sending = multiprocessing.get_context("fork").Pipe(duplex=False)
            self._child = multiprocessing.get_context("fork").Process(
                target=_answer, args=(work, sending, self._answer, os.getpid()))
            self._child.start()
            sending.close()  # the child's end: a child that dies without answering reads as EOF
        else:  # a thread: zlib and file reads let go of the GIL
            self._thread = threading.Thread(target=lambda: setattr(self, "_outcome", _outcome(work)))
            self._thread.start()

    def result(self) -> T:
        if self._outcome is None:
            if self._thread is not None:
                self._thread.join()
            else:
                self._outcome = self._received()
        ok, value, spent = self._outcome
        if self._child is not None:  # this process's totals did not see the child's spans
            for name, seconds in spent.items():
                timing.add(name, seconds)
            spent.clear()
        if not ok:
            raise value
        return value

    def _received(self) -> tuple[bool, Any, dict[str, float]]:
        try:
            outcome = self._answer.recv()
        except EOFError:  # the child died (killed, out of memory): do the work here
            outcome = _outcome(self._work)
        self._child.join()
        return outcome

    def close(self) -> None:
        """The work ended: a child still running (an error left its result unwanted) is stopped,
        a thread is waited for."""
        if self._child is not None and self._child.exitcode is None:
            self._child.terminate()
            self._child.join()
        if self._thread is not None:
            self._thread.join()


@contextmanager
def beside(work: Callable[[], T]) -> Iterator[Later[T]]:
    """``work()`` done while this process goes on: in a forked child when forking is safe here
    and more than one job is asked for (its result comes back pickled), else in a thread.
    Leaving the block ends it."""
    later = Later(work)
    try:
        yield later
    finally:
        later.close()


def _outcome(work: Callable[[], T]) -> tuple[bool, Any, dict[str, float]]:
    """(True, result) or (False, the exception), and the timing spans the work added."""
    before = timing.totals()
    try:
        ok, value = True, work()
    except Exception as e:
        ok, value = False, e
    after = timing.totals()
    return ok, value, {k: v - before.get(k, 0.0) for k, v in after.items() if v != before.get(k, 0.0)}


def _answer(work: Callable[[], Any], sending: Connection, answer: Connection, parent: int) -> None:
    _worker_signals(parent)
    answer.close()  # the parent's end: open here too, it would keep a send to a dead parent waiting
    sending.send(_outcome(work))
    sending.close()


def _call(index: int) -> Any:
    assert _work is not None  # set by map_forked before the fork
    return _work(index)
