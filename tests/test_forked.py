"""forked.py: the sections' worker processes end when the map ends."""

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


def test_workers_die_of_sigterm_whatever_handler_the_command_set():
    paths = (str(Path(forked.__file__).parents[1]), os.environ.get("PYTHONPATH", ""))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
    done = subprocess.run([sys.executable, "-c", SIGNALS_IN_WORKERS], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
