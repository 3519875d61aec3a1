"""Soak: kill `vanishing train` at random moments, resume it, and compare with a clean run.

    PYTHONPATH=src python benchmarks/soak.py --kills 10 --preset smoke --jobs 2

Trains the preset once uninterrupted into DIR/clean, then into DIR/soak: starts the same
command, kills it (SIGKILL to the main process only, as `kill -9 PID` does) at a moment drawn
uniformly over the first 80 % of the time the run would still need (estimated from the clean
run and the cells on disk), waits until every process it started is
gone, and starts it again; N times, then once to the end. Reported: the kills delivered, the
cells trained again because their group was in flight at a kill (the cost of a kill), cell
files written twice (must be 0: a cell on disk is never trained again), processes left
running after a kill, temporary files left after the next run, and whether the final
metrics.csv (byte for byte) and every cells/*.npz (array for array) equal the clean run's.

What each run trains is read from tests/killpoints (put on the runs' PYTHONPATH; it only
reports, it never stops a run here). Exit status 1 when the results differ or anything leaked.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
HOOK = HERE.parent / "tests" / "killpoints"


def environment(events: Path) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(HOOK), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": path,
            "VANISHING_TEST_EVENTS": str(events)}


def survivors(group: int) -> list[int]:
    """Running processes of a process group (Linux /proc; zombies do not count)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        state, _ppid, pgrp = text[text.rindex(")") + 2:].split()[:3]
        if int(pgrp) == group and state != "Z":
            found.append(int(stat.parent.name))
    return found


def start(args: list[str], events: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "vanishing.cli", *args], env=environment(events),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


def events_of(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []


def same_results(got: Path, want: Path) -> tuple[bool, str]:
    if (got / "metrics.csv").read_bytes() != (want / "metrics.csv").read_bytes():
        return False, "metrics.csv differs"
    names = sorted(p.name for p in (got / "cells").glob("*.npz"))
    if names != sorted(p.name for p in (want / "cells").glob("*.npz")):
        return False, "not the same cell files"
    for name in names:
        with np.load(got / "cells" / name) as a, np.load(want / "cells" / name) as b:
            if sorted(a.files) != sorted(b.files):
                return False, f"cells/{name}: not the same arrays"
            for key in a.files:
                try:
                    np.testing.assert_array_equal(a[key], b[key])  # NaN equals NaN here
                except AssertionError:
                    return False, f"cells/{name}: {key} differs"
    return True, f"metrics.csv byte for byte, {len(names)} cells array for array"


def timed(args: list[str], events: Path) -> float:
    t = time.perf_counter()
    p = start(args, events)
    _, err = p.communicate()
    if p.returncode != 0:
        sys.exit(f"soak: {' '.join(args)} failed:\n{err.decode()}")
    return time.perf_counter() - t


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kills", type=int, default=10, help="kill and resume this many times (default 10)")
    p.add_argument("--preset", default="smoke")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--seed", type=int, default=0, help="seed of the random moments")
    p.add_argument("--dir", type=Path, help="work here (default: a temporary directory)")
    args = p.parse_args()
    rng = random.Random(args.seed)
    work = args.dir or Path(tempfile.mkdtemp(prefix="vanishing-soak-"))
    clean, soak = work / "clean", work / "soak"

    def command(out: Path) -> list[str]:
        return ["train", "--preset", args.preset, "--results", str(out), "--jobs", str(args.jobs)]

    t_clean = timed(command(clean), work / "clean.events")
    t_idle = timed(command(clean), work / "idle.events")  # nothing to train: start-up and final write
    total = len({c for line in events_of(work / "clean.events") if line[1] == "group-done" for c in line[3:]})
    print(f"soak: preset {args.preset}, --jobs {args.jobs}, {args.kills} kills, seed {args.seed}, "
          f"{dt.date.today().isoformat()}")
    print(f"clean run: {total} cells in {t_clean:.1f} s (a run with nothing to train: {t_idle:.1f} s)")

    kills, finished_first, leaked, moments = 0, 0, 0, []
    logs = []
    for i in range(args.kills):
        done = len(list((soak / "cells").glob("*.npz"))) if (soak / "cells").exists() else 0
        remaining = t_idle + (t_clean - t_idle) * (total - done) / max(total, 1)
        # Not quite to the end: a run that finishes before its kill is a kill lost.
        moment = rng.uniform(0.0, 0.8 * remaining)
        logs.append(work / f"run{i}.events")
        run = start(command(soak), logs[-1])
        time.sleep(moment)
        if run.poll() is None:
            os.kill(run.pid, signal.SIGKILL)
            kills += 1
            moments.append(moment)
        else:
            finished_first += 1
        run.communicate()
        deadline = time.monotonic() + 60
        while survivors(run.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if survivors(run.pid):
            leaked += 1
            for pid in survivors(run.pid):  # only what this soak started: its own session
                os.kill(pid, signal.SIGKILL)
    logs.append(work / "final.events")
    t_final = timed(command(soak), logs[-1])
    temp_after = len(list(soak.rglob("*.tmp")))

    started = Counter(c for log in logs for line in events_of(log) if line[1] == "group-start"
                      for c in line[4:])
    written = Counter(line[2] for log in logs for line in events_of(log)
                      if line[1] == "written" and line[2].startswith("cells/"))
    retrained = sum(started.values()) - len(started)
    twice = sum(n > 1 for n in written.values())
    identical, how = same_results(soak, clean)
    if moments:
        print(f"kills: {kills} (SIGKILL to the main process) at {min(moments):.1f} to {max(moments):.1f} s "
              f"after the start; runs that ended before their kill: {finished_first}; "
              f"the last run: {t_final:.1f} s")
    print(f"cells retrained (their group was in flight at a kill): {retrained}; "
          f"cell files written twice: {twice}")
    print(f"kills after which a process of the run was left running: {leaked}; "
          f"temporary files left after the last run: {temp_after}")
    print(f"identical: {'yes' if identical else 'no'} ({how})")
    return 0 if identical and not twice and not leaked and not temp_after else 1


if __name__ == "__main__":
    sys.exit(main())
