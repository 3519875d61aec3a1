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
