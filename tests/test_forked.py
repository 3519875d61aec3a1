"""forked.py: the sections' worker processes end when the map ends; work beside this process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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


def _run(script: str) -> None:
    """The script in a fresh Python, this checkout's vanishing first on its path."""
    paths = (str(Path(forked.__file__).parents[1]), os.environ.get("PYTHONPATH", ""))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
    env.pop(forked.ENV, None)
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
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
