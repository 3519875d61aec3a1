"""Test hook for the kill tests: on PYTHONPATH of a subprocess (`vanishing train`, a recording
script) and so of its worker processes, which Python starts with the same environment, it reports
what the run does and can stop it at a chosen point, so that a test kills it exactly there
instead of sleeping blindly.

Inert unless VANISHING_TEST_EVENTS names a file. Then every process appends lines to it:
``<pid> group-start <first cell id> <cells> <every cell id>``, ``<pid> epoch <first cell id> <n>``,
``<pid> group-done <first cell id> <every cell id>``, ``<pid> written <folder>/<file name>``; and when
it reaches the point VANISHING_TEST_PAUSE names, ``<pid> paused <point>``, after which it
sleeps until killed. The points: ``group-start`` (a group begins: it compiles next), ``epoch``
(a group's second epoch has ended), ``cell-write`` (a cell file is complete under its temporary
name, not yet renamed), ``metrics-write`` and ``manifest-write`` (the same for metrics.csv and
manifest.json). ``<point>@<n>`` is its n-th time in a process. Only the first process of the run
to reach the point stops there; the others go on.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import os
import sys
import time
from pathlib import Path

EVENTS = os.environ.get("VANISHING_TEST_EVENTS", "")
PAUSE = os.environ.get("VANISHING_TEST_PAUSE", "")


def emit(*words: object) -> None:
    line = " ".join(str(w) for w in (os.getpid(), *words)) + "\n"
    fd = os.open(EVENTS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())  # one write of one short line: appends never interleave
    finally:
        os.close(fd)


_seen: dict[str, int] = {}


def reached(point: str) -> None:
    """Stop here if this is the chosen point (``point@n``: its n-th time in this process) and no
    other process of the run stopped first."""
    _seen[point] = _seen.get(point, 0) + 1
    if PAUSE not in (point, f"{point}@{_seen[point]}"):
        return
    try:
        os.close(os.open(EVENTS + ".paused", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    except FileExistsError:
        return  # one process stops, the others go on as they would
    emit("paused", PAUSE)
    while True:  # until the test kills this process (or its parent's death does)
        time.sleep(3600)


def patch_runner(module) -> None:
    train_and_write = module.train_and_write

    def traced(group, data, results_dir, tick=None, done=frozenset()):
        first = group[0].cell_id
        emit("group-start", first, len(group), *(c.cell_id for c in group))
        reached("group-start")
        epochs = 0

        def counting(value):
            nonlocal epochs
            epochs += 1
            emit("epoch", first, epochs)
            if epochs == 2:
                reached("epoch")
            if tick is not None:
                tick(value)

        lines = train_and_write(group, data, results_dir, tick=counting, done=done)
        emit("group-done", first, *(c.cell_id for c in group))
        return lines

    module.train_and_write = traced


def patch_results(module) -> None:
    atomic_path = module.atomic_path
    points = {"metrics.csv": "metrics-write", "manifest.json": "manifest-write"}

    @contextlib.contextmanager
    def traced(path):
        path = Path(path)
        with atomic_path(path) as tmp:
            yield tmp
            # The body has written the whole file under its temporary name; the rename is next.
            point = "cell-write" if path.parent.name == "cells" else points.get(path.name)
            if point is not None:
                reached(point)
        emit("written", f"{path.parent.name}/{path.name}")

    module.atomic_path = traced


PATCHES = {"vanishing.runner": patch_runner, "vanishing.results": patch_results}


class PatchAfterImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself: wraps the real loader of a module in PATCHES to patch it once loaded."""

    def find_spec(self, name, path, target=None):
        patch = PATCHES.get(name)
        if patch is None:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_and_patch(module):
            exec_module(module)
            patch(module)

        spec.loader.exec_module = exec_and_patch
        return spec


if EVENTS:
    sys.meta_path.insert(0, PatchAfterImport())
