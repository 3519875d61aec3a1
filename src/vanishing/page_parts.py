"""The page's parts built side by side: each section's part (and the panel's JSON) in a forked
worker process (forked.map_forked), collected in list order.

The sections are independent of each other: each part is a function of the run alone, and
``plotting.STYLE`` fixes the SVG ids, so the page is the same bytes however many workers build
it (tests/test_render_identity.py). Each worker's spans (timing) come back with its part and
are added to this process's totals.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from vanishing import forked, mathtext_cache, timing
from vanishing.reader import Run

Task = tuple[str, Callable[[Run], Any]]  # (span name, build function)


def build_parts(run: Run, tasks: Sequence[Task], workers: int | None = None) -> list[Any]:
    """Each task's result, in the order of ``tasks``; ``workers``: forked.jobs() by default."""

    def work(index: int) -> tuple[Any, int, dict[str, float]]:
        name, build = tasks[index]
        before = timing.totals()
        with timing.span(name), np.errstate(all="ignore"):
            part = build(run)
        after = timing.totals()
        spent = {k: v - before.get(k, 0.0) for k, v in after.items() if v != before.get(k, 0.0)}
        return part, os.getpid(), spent

    with mathtext_cache.shared():  # set before the workers fork: they inherit it
        results = forked.map_forked(work, len(tasks), workers)
    for _, pid, spent in results:
        if pid != os.getpid():  # built in a worker: its spans are not in this process's totals
            for name, value in spent.items():
                timing.add(name, value)
    return [part for part, _, _ in results]
