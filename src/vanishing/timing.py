"""Where the seconds go: named spans of wall time, summed per process.

``with span("compile"):`` adds the block's wall time to the process's total for "compile". The
totals cost a clock read per span and are kept always; they are written only when the
environment names a directory (``VANISHING_TIMINGS=DIR``): each process (the command and each
worker) writes ``DIR/<pid>.json`` with its totals after every unit of work, replacing the last,
so a worker that is killed has still said what it did. ``benchmarks/breakdown.py`` adds them up.
"""

from __future__ import annotations

import json
import os
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ENV = "VANISHING_TIMINGS"
_totals: dict[str, float] = defaultdict(float)
_counts: dict[str, int] = defaultdict(int)
_started = time.perf_counter()


def start() -> None:
    """The command begins (cli.main): what ran before it was Python starting and importing."""
    global _started
    _started = time.perf_counter()
    add("command: Python start-up and imports", since_process_start())


def started() -> float:
    return _started


def since_process_start() -> float:
    """Seconds since this process began (Linux: /proc), 0 where that cannot be read."""
    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])  # field 22, starttime
        with open("/proc/uptime", encoding="ascii") as f:
            uptime = float(f.read().split()[0])
        return max(0.0, uptime - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0


@contextmanager
def span(name: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        _totals[name] += time.perf_counter() - start
        _counts[name] += 1


def add(name: str, seconds: float) -> None:
    """A span measured another way (a difference of two spans, an estimate)."""
    _totals[name] += seconds
    _counts[name] += 1


def totals() -> dict[str, float]:
    return dict(_totals)


def enabled() -> bool:
    return bool(os.environ.get(ENV))


def flush(role: str) -> None:
    """This process's totals to $VANISHING_TIMINGS/<pid>.json (atomically), if it is set."""
    directory = os.environ.get(ENV)
    if not directory:
        return
    path = Path(directory) / f"{os.getpid()}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"role": role, "pid": os.getpid(), "seconds": dict(_totals),
                               "counts": dict(_counts)}), encoding="utf-8")
    tmp.replace(path)
