"""Helpers of the kill tests: run `vanishing train` as a real subprocess, stop it at a chosen point
(tests/killpoints/sitecustomize.py), kill it, and check what it leaves behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TESTS = Path(__file__).resolve().parent
# The src directory beside these tests: in CI the package is installed, but this works in both.
SRC = TESTS.parent / "src"
HOOK = TESTS / "killpoints"
WAIT = 600.0  # seconds: only so that a broken run fails the test instead of hanging it


@dataclass
class Run:
    process: subprocess.Popen
    events: Path
    stderr: Path

    def lines(self) -> list[list[str]]:
        if not self.events.exists():
            return []
        return [line.split() for line in self.events.read_text().splitlines() if line.strip()]

    def err(self) -> str:
        return self.stderr.read_text(encoding="utf-8", errors="replace")


def environment(**extra: str) -> dict[str, str]:
    paths = [str(HOOK), str(SRC), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": os.pathsep.join(p for p in paths if p),
            **extra}


def start(args: list[str], workdir: Path, name: str, pause: str = "") -> Run:
    """`python -m vanishing.cli ARGS` in a session of its own (its workers share its process group)."""
    events, stderr = workdir / f"{name}.events", workdir / f"{name}.stderr"
    env = environment(VANISHING_TEST_EVENTS=str(events), VANISHING_TEST_PAUSE=pause)
    with open(stderr, "wb") as err:
        process = subprocess.Popen([sys.executable, "-m", "vanishing.cli", *args], env=env,
                                   stdout=subprocess.DEVNULL, stderr=err, start_new_session=True,
                                   preexec_fn=sigint_as_a_terminal_sends_it)
    return Run(process, events, stderr)


def sigint_as_a_terminal_sends_it() -> None:
    """SIGINT's default action in the run. A shell starts a background job (`nox -s slow &`) with
    SIGINT ignored, Python then keeps it ignored, and the Ctrl-C tests would wait for a run that
    never hears it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_until_paused(run: Run, point: str) -> list[str]:
    """Wait for the run to stop at ``point``; the event line of the process that stopped."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        for line in run.lines():
            if line[1:] == ["paused", point]:
                return line
        if run.process.poll() is not None:
            raise AssertionError(f"the run ended (code {run.process.returncode}) before reaching {point}:\n"
                                 f"{run.err()[-3000:]}")
        time.sleep(0.02)
    raise AssertionError(f"the run did not reach {point} in {WAIT} s")


def finish(run: Run) -> int:
    return run.process.wait(timeout=WAIT)


def survivors(group: int) -> list[str]:
    """The processes of a process group still running (zombies waiting for a reaper do not count)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        state, _ppid, pgrp = text[text.rindex(")") + 2:].split()[:3]
        if int(pgrp) == group and state != "Z":
            found.append(text[: text.rindex(")") + 1])
    return found


def kill(run: Run, sig: int = signal.SIGKILL, whole_group: bool = False) -> int:
    """Send ``sig`` to the main process (or, as a terminal's Ctrl-C does, to its whole process
    group); wait for it to end and for every process it started to be gone. Its exit code."""
    if whole_group:
        os.killpg(run.process.pid, sig)
    else:
        os.kill(run.process.pid, sig)
    code = finish(run)
    deadline = time.monotonic() + WAIT
    while survivors(run.process.pid):
        assert time.monotonic() < deadline, f"left running: {survivors(run.process.pid)}"
        time.sleep(0.05)
    return code


def temp_files(directory: Path) -> list[Path]:
    return sorted(p for p in Path(directory).rglob("*.tmp"))


def in_flight(run: Run) -> set[str]:
    """The groups (by first cell id) a run started and did not finish."""
    started = {line[2] for line in run.lines() if line[1] == "group-start"}
    done = {line[2] for line in run.lines() if line[1] == "group-done"}
    return started - done


def cells_written(runs: list[Run]) -> list[str]:
    """The id of every cell file written (renamed into place), over all runs, repeats included."""
    return [line[2][len("cells/"):-len(".npz")] for run in runs for line in run.lines()
            if line[1] == "written" and line[2].startswith("cells/")]


def assert_same_results(got: Path, want: Path) -> None:
    """metrics.csv byte for byte, every cell file array for array; no temporary file left."""
    assert temp_files(got) == []
    assert (got / "metrics.csv").read_bytes() == (want / "metrics.csv").read_bytes()
    names = sorted(p.name for p in (got / "cells").iterdir())
    assert names == sorted(p.name for p in (want / "cells").iterdir())
    for name in names:
        with np.load(got / "cells" / name) as a, np.load(want / "cells" / name) as b:
            assert sorted(a.files) == sorted(b.files), name
            for key in a.files:
                np.testing.assert_array_equal(a[key], b[key], err_msg=f"{name}: {key}")
