"""forked.py: the sections' worker processes end when the map ends; work beside this process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vanishing import forked

# A fresh process (this one may hold TensorFlow, beside which nothing forks), with the handlers
# the command installs: SIGTERM raises an exception instead of ending the process.
SIGNALS_IN_WORKERS = """
import os, signal
from vanishing import forked

def raise_(signum, frame):
    raise RuntimeError("terminated")

signal.signal(signal.SIGTERM, raise_)
signal.signal(signal.SIGHUP, raise_)
assert forked.can_fork()
seen = forked.map_forked(lambda i: (os.getpid(), signal.getsignal(signal.SIGTERM),
                                    signal.getsignal(signal.SIGHUP), signal.getsignal(signal.SIGINT)), 4, 2)
assert {pid for pid, *_ in seen} - {os.getpid()}, "nothing ran in a worker"
assert all(s[1:] == (signal.SIG_DFL, signal.SIG_DFL, signal.SIG_IGN) for s in seen), seen
assert signal.getsignal(signal.SIGTERM) is raise_  # the command's own handler is left alone
"""


def _env() -> dict[str, str]:
    """This environment, this checkout's vanishing first on the path, the default number of jobs."""
    paths = (str(Path(forked.__file__).parents[1]), os.environ.get("PYTHONPATH", ""))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
    env.pop(forked.ENV, None)
    return env


def _run(script: str) -> None:
    """The script in a fresh Python."""
    done = subprocess.run([sys.executable, "-c", script], env=_env(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_workers_die_of_sigterm_whatever_handler_the_command_set():
    _run(SIGNALS_IN_WORKERS)


BESIDE = """
import os, signal, time
from vanishing import forked

parent = os.getpid()
with forked.beside(os.getpid) as later:
    assert later.result() != parent  # a forked child did it


def fails():
    raise ValueError("its own error")


with forked.beside(fails) as later:
    try:
        later.result()
        raise SystemExit("no error came back")
    except ValueError as e:
        assert str(e) == "its own error"
# A child that dies without answering: the work is done here.
with forked.beside(lambda: os._exit(3) if os.getpid() != parent else "done here") as later:
    assert later.result() == "done here"
# Leaving the block before the result (an error on the way) stops the child.
with forked.beside(lambda: time.sleep(60)) as later:
    pass
assert later._child.exitcode == -signal.SIGTERM
os.environ[forked.ENV] = "1"  # one job: a thread of this process
with forked.beside(os.getpid) as later:
    assert later.result() == parent
"""


def test_work_beside_comes_back_from_a_child_or_a_thread():
    _run(BESIDE)


# Each child says its pid on stdout, then waits; the test then kills this process with -9.
ORPHANS = {
    "beside": """
import time
from vanishing import forked
with forked.beside(lambda: print(__import__("os").getpid(), flush=True) or time.sleep(120)) as later:
    later.result()
""",
    "map": """
import os, time
from vanishing import forked
forked.map_forked(lambda i: print(os.getpid(), flush=True) or time.sleep(120), 2, 2)
""",
}


@pytest.mark.parametrize("kind", sorted(ORPHANS))
def test_children_die_with_a_render_killed_with_minus_9(kind):
    with subprocess.Popen([sys.executable, "-c", ORPHANS[kind]], env=_env(), stdout=subprocess.PIPE,
                          text=True) as render:
        children = [int(render.stdout.readline()) for _ in range(1 if kind == "beside" else 2)]
        render.send_signal(signal.SIGKILL)
        render.wait()
    deadline = time.monotonic() + 60  # how long the kernel may take, not a speed to meet
    while any(_running(pid) for pid in children):
        assert time.monotonic() < deadline, f"{children} outlived the render"
        time.sleep(0.05)


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
