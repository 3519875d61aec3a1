"""kill -9 at any moment (issue 10): `vanishing train` as a real subprocess, stopped at a chosen
point by tests/killpoints and killed there, then the same command again. The run resumes, trains
again at most the groups that were in flight, and ends identical to an uninterrupted run (the
session's smoke run); no worker outlives its run, no temporary file outlives the next one.

The fast test starts half-way (from the state a kill after the first groups leaves), so that it
trains three groups, not nine; the slow ones start from nothing."""

from __future__ import annotations

import shutil
import signal
from collections import Counter

import pytest
from killing import (
    assert_same_results,
    cells_written,
    finish,
    in_flight,
    kill,
    start,
    temp_files,
    wait_until_paused,
)

from vanishing import results

JOBS = 2
# The groups (activation, depth, optimizer) the fast test trains: 6 + 1 + 2 cells.
UNTRAINED = {("relu", 4, "rmsprop"), ("tanh", 4, "sgd"), ("sigmoid", 2, "rmsprop")}


def _train(out) -> list[str]:
    return ["train", "--preset", "smoke", "--results", str(out), "--jobs", str(JOBS)]


def _killed_at(point, out, workdir, name, sig=signal.SIGKILL, whole_group=False):
    run = start(_train(out), workdir, name, pause=point)
    wait_until_paused(run, point)
    code = kill(run, sig, whole_group)  # returns once every process of the run is gone
    assert len(in_flight(run)) <= JOBS, run.lines()
    return run, code


def _resume_and_compare(runs, out, workdir, reference, to_train=None) -> None:
    last = start(_train(out), workdir, "final")
    assert finish(last) == 0, last.err()
    runs.append(last)
    assert_same_results(out, reference)
    # Every cell was written exactly once over all the runs: a cell on disk is never trained again;
    # what a kill costs is the groups in flight (at most JOBS, checked at each kill).
    cells = Counter(cells_written(runs))
    if to_train is None:
        to_train = {c["cell_id"] for c in results.read_manifest(reference)["cells"]}
    assert set(cells) == to_train
    assert max(cells.values()) == 1, [c for c, n in cells.items() if n > 1]


def _killed_half_way(reference, out) -> set[str]:
    """The smoke run as a kill after its first groups leaves it: the cells of some groups on disk,
    no manifest.json, no metrics.csv. Returns the cells still to train (three groups, one of six
    cells: among the deepest, so it starts first)."""
    shutil.copytree(reference, out)
    (out / "manifest.json").unlink()
    (out / "metrics.csv").unlink()
    missing = set()
    for entry in results.read_manifest(reference)["cells"]:
        group = (entry["activation"], entry["depth"], entry["optimizer"])
        if group in UNTRAINED:
            (out / "cells" / f"{entry['cell_id']}.npz").unlink()
            missing.add(entry["cell_id"])
    return missing


def test_kill_9_while_writing_a_cell_and_between_metrics_and_manifest(smoke_results, tmp_path):
    out = tmp_path / "results"
    missing = _killed_half_way(smoke_results, out)
    # 1. In the middle of a group: one worker has written a cell of it and has the next one complete
    #    under its temporary name, not yet renamed; the other worker is somewhere in its own group.
    first, code = _killed_at("cell-write@2", out, tmp_path, "cell-write")
    assert code == -signal.SIGKILL
    assert [p.parent.name for p in temp_files(out)] == ["cells"]  # the half-done write, left by the kill
    # 2. At the very end: metrics.csv is replaced, manifest.json not yet written.
    second, _ = _killed_at("manifest-write", out, tmp_path, "manifest-write")
    assert (out / "metrics.csv").exists() and not (out / "manifest.json").exists()
    # The lock is free again (flock died with its process); the next run says whose it took over.
    runs = [first, second]
    _resume_and_compare(runs, out, tmp_path, smoke_results, missing)
    assert "took over" in runs[-1].err() and f"pid {second.process.pid}" in runs[-1].err()
    assert "28 cells (0 trained, 28 reused, 0 diverged)" in runs[-1].err()


@pytest.mark.slow  # six runs of the smoke preset
def test_every_kill_point_and_signal_then_identical_results(smoke_results, tmp_path):
    out = tmp_path / "results"
    runs = []
    # Ctrl-C in a terminal: SIGINT to the whole process group, in the middle of a group.
    run, code = _killed_at("epoch", out, tmp_path, "sigint", signal.SIGINT, whole_group=True)
    assert code == 1
    assert "vanishing: interrupted; cells already written are kept and reused next run" in run.err()
    assert "Traceback" not in run.err()
    runs.append(run)
    # kill -9 while a group compiles
    runs.append(_killed_at("group-start", out, tmp_path, "group-start")[0])
    # SIGTERM while a cell is written: the main process ends its workers and removes what they left
    run, code = _killed_at("cell-write", out, tmp_path, "sigterm", signal.SIGTERM)
    assert code == 128 + signal.SIGTERM and "terminated by SIGTERM" in run.err()
    assert temp_files(out) == []
    runs.append(run)
    # kill -9 while metrics.csv is written, then between it and the manifest
    runs.append(_killed_at("metrics-write", out, tmp_path, "metrics-write")[0])
    assert [p.name.startswith(".metrics.csv.") for p in temp_files(out)] == [True]
    runs.append(_killed_at("manifest-write", out, tmp_path, "manifest-write")[0])
    _resume_and_compare(runs, out, tmp_path, smoke_results)


@pytest.mark.slow  # two runs of the smoke preset
def test_a_killed_worker_costs_its_group_only(smoke_results, tmp_path):
    out = tmp_path / "results"
    run = start(_train(out), tmp_path, "worker", pause="epoch")
    line = wait_until_paused(run, "epoch")
    victim = int(line[0])
    group = next(x[2] for x in run.lines() if x[0] == line[0] and x[1] == "group-start")
    import os

    os.kill(victim, signal.SIGKILL)
    assert finish(run) == 1
    err = run.err()
    assert f"worker process {victim} killed by signal SIGKILL while training the group" in err, err
    assert group in err and "run the same command again" in err and "Traceback" not in err
    # The other worker trained every other group: only the dead worker's group is missing.
    assert in_flight(run) == {group}
    assert len(list((out / "cells").glob("*.npz"))) < 28 and not (out / "manifest.json").exists()
    _resume_and_compare([run], out, tmp_path, smoke_results)
