"""Tasks in worker processes that never outlive the run that started them.

Why not ``concurrent.futures.ProcessPoolExecutor``: killed with -9 or SIGTERM,
its parent left the workers (about 900 MB each) training on, re-parented to
PID 1, beside the next run; one dead worker broke the pool and threw away the
group another worker was training; and Ctrl-C waited for every pending task
(its ``shutdown(wait=True)`` undid ``cancel_futures``). Here:

- a worker dies with its parent: ``PR_SET_PDEATHSIG`` (Linux) has the kernel
  kill it when the parent dies, even by SIGKILL; elsewhere it checks
  ``os.getppid()`` between epochs;
- Ctrl-C reaches the parent only: workers start with SIGINT blocked and then
  ignore it (a terminal sends it to the whole process group); the parent, on
  any exception (KeyboardInterrupt, SIGTERM made an exception by the command
  line), terminates them at once: the tasks in flight are lost, nothing else;
- each worker has its own pipe, so the parent knows which task a dead worker
  held: that task is reported, the others go on in the workers left.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import pickle
import signal
import sys
import traceback
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing import connection
from typing import Any

from vanishing import balance

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_STOP_SECONDS = 10.0  # a terminated worker is killed if it has not ended by then


class WorkerFailed(RuntimeError):
    """A worker process died (killed, out of memory) while it held a task."""


class RemoteTraceback(Exception):
    """A worker's traceback, chained under the exception it raised."""

    def __str__(self) -> str:
        return self.args[0]


@dataclass
class _Worker:
    process: Any  # multiprocessing.Process
    conn: Any  # the parent's end of its pipe
    ready: bool = False
    task: int | None = None  # index of the task it holds


def die_with_parent(parent_pid: int) -> None:
    """Have the kernel SIGKILL this process when its parent dies (Linux)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def _worker_main(conn, parent_pid: int, fn: Callable, init: Callable[[], None] | None) -> None:
    die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    if init is not None:
        init()

    def tick(value: Any) -> None:
        if os.getppid() != parent_pid:  # orphaned (where no PDEATHSIG): stop training at once
            os._exit(1)
        conn.send(("tick", value))

    conn.send(("ready",))
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        index, task = message
        try:
            result = fn(task, tick)
        except BaseException as e:
            conn.send(("error", index, _picklable(e), traceback.format_exc()))
        else:
            conn.send(("done", index, result))


def _picklable(e: BaseException) -> BaseException:
    try:
        pickle.loads(pickle.dumps(e))
        return e
    except Exception:
        return RuntimeError(f"{type(e).__name__}: {e}")


def _exit_reason(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


def run(fn: Callable[[Any, Callable[[Any], None]], Any], tasks: Sequence[Any], jobs: int,
        on_tick: Callable[[Any], None], on_result: Callable[[int, Any], None],
        describe: Callable[[Any], str], init: Callable[[], None] | None = None,
        costs: Sequence[float] | None = None) -> None:
    """``fn(task, tick)`` for every task, ``jobs`` worker processes at a time; ``costs``, each
    task's expected seconds, share the tasks out evenly (_Queues).

    ``on_result(index, result)`` as each task finishes, ``on_tick(value)`` for what a
    task passes to ``tick``. A task's exception is raised here once the tasks in flight
    have finished (no new one starts); a worker that dies costs its task only, and
    WorkerFailed names it at the end. Any exception in this process (Ctrl-C) ends
    every worker at once.
    """
    ctx = multiprocessing.get_context("spawn")  # fork after TensorFlow has threads is unsafe
    workers: list[_Worker] = []
    clean = False
    try:
        # A worker starts with SIGINT blocked, so a Ctrl-C while it imports cannot kill it
        # half-way with a traceback; it ignores SIGINT once running.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            for _ in range(min(jobs, len(tasks))):
                parent_end, child_end = ctx.Pipe()
                process = ctx.Process(target=_worker_main, args=(child_end, os.getpid(), fn, init),
                                      daemon=True, name="vanishing-worker")
                process.start()
                child_end.close()
                workers.append(_Worker(process, parent_end))
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        _drive(workers, tasks, on_tick, on_result, describe, costs)
        clean = True
    finally:
        _stop(workers, clean)


class _Queues:
    """Which worker trains which task, fixed before any starts: each task in turn to the worker
    with the least expected seconds so far (the lower k on a tie); without costs, worker k the
    tasks k, k + n, k + 2n...

    Not whichever is free first: a process names each program it traces with a counter, and
    TensorFlow's compilation cache (xla_cache.py) keys a program by that name, so a rerun finds
    its programs only if every worker traces the same tasks in the same order. The tasks come
    slowest first (greedy longest-processing-time). A worker that dies leaves its tasks to the
    others."""

    def __init__(self, workers: list[_Worker], n_tasks: int, costs: Sequence[float] | None = None) -> None:
        n = len(workers)
        queues = (balance.least_loaded(costs, n) if costs
                  else [list(range(k, n_tasks, n)) for k in range(n)])
        self.of = {id(w): deque(q) for w, q in zip(workers, queues)}
        self.stranded: list[int] = []  # tasks no live worker is left to take

    def __len__(self) -> int:
        return sum(len(q) for q in self.of.values()) + len(self.stranded)

    def next_for(self, w: _Worker) -> int | None:
        q = self.of[id(w)]
        return q.popleft() if q else None

    def orphan(self, w: _Worker, live: list[_Worker]) -> None:
        left = sorted(self.of.pop(id(w)))
        if not live:
            self.stranded += left
        for i, task in enumerate(left if live else ()):
            self.of[id(live[i % len(live)])].append(task)


def _drive(workers: list[_Worker], tasks: Sequence[Any], on_tick: Callable[[Any], None],
           on_result: Callable[[int, Any], None], describe: Callable[[Any], str],
           costs: Sequence[float] | None = None) -> None:
    pending = _Queues(workers, len(tasks), costs)
    error: tuple[BaseException, str] | None = None
    lost: list[str] = []  # workers that died holding a task
    idle: list[str] = []  # workers that died holding none (costs nothing while others remain)
    live = list(workers)
    while live and (pending or any(w.task is not None for w in live)):
        if error is None:
            for w in live:
                if w.ready and w.task is None and (task := pending.next_for(w)) is not None:
                    w.task = task
                    with contextlib.suppress(OSError):  # died meanwhile: its sentinel tells below
                        w.conn.send((w.task, tasks[w.task]))
        if error is not None and all(w.task is None for w in live):
            break
        ready = set(connection.wait([w.conn for w in live] + [w.process.sentinel for w in live]))
        for w in [w for w in live if w.conn in ready or w.process.sentinel in ready]:
            error = _receive(w, on_tick, on_result) or error
            if w.process.sentinel in ready or not w.process.is_alive():
                w.process.join()
                live.remove(w)
                pending.orphan(w, live)
                how = f"worker process {w.process.pid} {_exit_reason(w.process.exitcode)}"
                if w.task is None:
                    idle.append(f"{how} {'while idle' if w.ready else 'while starting'}")
                else:
                    lost.append(f"{how} while training {describe(tasks[w.task])}")
    if error is not None:
        raise error[0] from RemoteTraceback(error[1])
    left = len(pending) + sum(w.task is not None for w in live)
    if lost or left:
        more = f"; {left} more not trained: no worker left ({'; '.join(idle)})" if left else ""
        raise WorkerFailed("; ".join(lost) + more + ". Everything else that finished is written; "
                           "run the same command again to train what is missing")


def _receive(w: _Worker, on_tick: Callable[[Any], None], on_result: Callable[[int, Any], None]
             ) -> tuple[BaseException, str] | None:
    """Every message a worker has sent; the first task error among them, if any."""
    error = None
    try:
        while w.conn.poll():
            message = w.conn.recv()
            if message[0] == "tick":
                on_tick(message[1])
            elif message[0] == "ready":
                w.ready = True
            elif message[0] == "done":
                w.task = None
                on_result(message[1], message[2])
            else:  # error
                w.task = None
                error = error or (message[2], message[3])
    except (EOFError, OSError):
        pass  # the worker is gone; its sentinel says so
    return error


def _stop(workers: list[_Worker], clean: bool) -> None:
    """Ask idle workers to leave after a clean run; terminate them all at once otherwise."""
    for w in workers:
        if clean and w.process.is_alive():
            with contextlib.suppress(OSError):
                w.conn.send(None)
        elif w.process.is_alive():
            w.process.terminate()
    for w in workers:
        w.process.join(_STOP_SECONDS)
        if w.process.is_alive():
            w.process.kill()
            w.process.join()
        w.conn.close()
