"""Worker processes (workers.py): a dead worker costs its task only, an error waits for the tasks in
flight, and no worker outlives its parent, however the parent ends (real processes, no training)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from killing import WAIT, environment, sigint_as_a_terminal_sends_it, survivors
from worker_tasks import task

from vanishing import workers


def _run(tasks, jobs=2):
    done, ticks = {}, []
    try:
        workers.run(task, tasks, jobs, on_tick=ticks.append, on_result=done.__setitem__,
                    describe=lambda t: f"task {t[1]}")
    except BaseException as e:
        return done, ticks, e
    return done, ticks, None


def test_every_task_runs_and_ticks_come_back():
    done, ticks, error = _run([("ok", "a"), ("ok", "b"), ("ok", "c")])
    assert error is None
    assert done == {0: "aa", 1: "bb", 2: "cc"} and sorted(ticks) == ["a", "b", "c"]


def test_tasks_go_to_the_worker_with_the_least_expected_seconds_so_far():
    done = {}
    workers.run(task, [("pid", str(i)) for i in range(5)], 2, on_tick=lambda _: None,
                on_result=done.__setitem__, describe=str, costs=[10, 8, 5, 4, 3])
    # 10 -> the first; 8 -> the second; 5 -> the second (8 < 10); 4 -> the first (10 < 13); 3 -> the second
    by_worker = {frozenset(i for i, pid in done.items() if pid == p) for p in done.values()}
    assert by_worker == {frozenset({0, 3}), frozenset({1, 2, 4})}


def test_a_dead_worker_costs_its_task_only():
    done, _, error = _run([("ok", "a"), ("die", "x"), ("ok", "b"), ("ok", "c"), ("ok", "d")])
    # the other worker takes every other task; the dead one's is named, with how it died
    assert done == {0: "aa", 2: "bb", 3: "cc", 4: "dd"}
    assert isinstance(error, workers.WorkerFailed)
    assert "killed by signal SIGKILL while training task x" in str(error)
    assert "run the same command again" in str(error)


def test_an_error_is_raised_once_the_tasks_in_flight_have_finished():
    done, _, error = _run([("raise", "bad value"), ("ok", "a"), ("ok", "b"), ("ok", "c")], jobs=1)
    assert isinstance(error, ValueError) and str(error) == "bad value"
    assert "raise ValueError(value)" in str(error.__cause__)  # the worker's own traceback
    assert done == {}  # nothing new starts after an error


def _sleeping_workers(tmp_path: Path, n: int = 2) -> tuple[subprocess.Popen, list[int]]:
    """A parent process with ``n`` workers, each in a task that never ends; their pids."""
    script = Path(__file__).with_name("worker_tasks.py")
    parent = subprocess.Popen([sys.executable, str(script), str(tmp_path), str(n)], env=environment(),
                              stderr=subprocess.PIPE, start_new_session=True,
                              preexec_fn=sigint_as_a_terminal_sends_it)
    deadline = time.monotonic() + WAIT
    while len(list(tmp_path.glob("*.pid"))) < n:
        assert parent.poll() is None, parent.stderr.read().decode()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(0.1)  # the pid files are written: let their writes finish
    return parent, [int(p.read_text()) for p in tmp_path.glob("*.pid")]


def _gone(pids: list[int]) -> bool:
    """No process of these pids runs (a zombie waiting for its reaper does not)."""
    def running(pid: int) -> bool:
        try:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except FileNotFoundError:
            return False
    return not any(running(pid) for pid in pids)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_no_worker_outlives_its_parent(tmp_path, sig):
    parent, pids = _sleeping_workers(tmp_path)
    os.kill(parent.pid, sig)  # the parent alone, as `kill PID` does
    parent.communicate(timeout=WAIT)
    deadline = time.monotonic() + WAIT
    while not _gone(pids):
        assert time.monotonic() < deadline, f"workers {pids} still run after their parent died"
        time.sleep(0.02)


def test_ctrl_c_ends_the_workers_at_once(tmp_path):
    parent, _ = _sleeping_workers(tmp_path)
    os.killpg(parent.pid, signal.SIGINT)  # what a terminal sends: every process of the group
    _, err = parent.communicate(timeout=WAIT)  # the tasks never end: only ending the workers returns
    assert parent.returncode == 1 and err.decode().strip() == "interrupted"
    deadline = time.monotonic() + WAIT
    while survivors(parent.pid):
        assert time.monotonic() < deadline, survivors(parent.pid)
        time.sleep(0.02)
