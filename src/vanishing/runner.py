"""From an Experiment to a complete results directory: plan, skip what is done, train, write.

Kept apart from engine.py (which only trains one group, in memory) and
results.py (which only reads and writes files), so each stays one job.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vanishing import (
    __version__,
    datafile,
    grouping,
    integrity,
    lock,
    recorder_io,
    results,
    run_description,
    shards,
    theory,
    timing,
    zoo,
)
from vanishing.config import ConfigError
from vanishing.experiment import FILE, Cell, DataSpec, Experiment
from vanishing.integrity import cell_file_problem
from vanishing.progress import Progress


@dataclass(frozen=True)
class Plan:
    """The cells of an experiment, split into those on disk and the groups still to train."""

    cells: tuple[Cell, ...]
    done: frozenset[str]
    groups: tuple[tuple[Cell, ...], ...]
    unreadable: tuple[str, ...] = ()  # cells whose file is there but cannot be reused: trained again

    @property
    def model_epochs(self) -> float:
        """Work still to do, in epochs of a depth-4 model (depth d counts (d+1)/5)."""
        return sum(c.train.epochs * (c.depth + 1) / 5 for g in self.groups for c in g)


def plan(experiment: Experiment, results_dir: Path, force: bool = False,
         shard: shards.Shard | None = None) -> Plan:
    everything = experiment.cells()
    # split from the whole config, before looking at the disk
    cells = everything if shard is None else shards.select(everything, shard)
    done, unreadable = set(), []
    for c in [] if force else cells:
        path = results.cell_path(results_dir, c.cell_id)
        info = results.read_cell_info(results_dir, c.cell_id)
        if info is None or not all(info.get(k) == v for k, v in c.settings().items()):
            unreadable += [c.cell_id] if info is None and path.exists() else []
        elif cell_file_problem(path, info) is None:  # opens, with every array it needs
            done.add(c.cell_id)
        else:
            unreadable.append(c.cell_id)
    # Whole groups of the whole config (grouping.py), even those with cells on disk: those are
    # trained again beside the missing ones, not written.
    mine = {c.cell_id for c in cells}
    unfinished = [g for g in grouping.groups(everything)
                  if g[0].cell_id in mine and any(c.cell_id not in done for c in g)]
    # Deepest first: the slowest groups start while the progress bar is still young.
    order = sorted(unfinished, key=lambda g: -g[0].depth)
    return Plan(tuple(cells), frozenset(done), tuple(tuple(g) for g in order), tuple(unreadable))


def cell_info(c: Cell, status: str = "ok", diverged_epoch: int | None = None) -> dict[str, Any]:
    return {"cell_id": c.cell_id, **c.settings(), "matrices": list(c.matrices),
            "status": status, "diverged_epoch": diverged_epoch}


@dataclass(frozen=True)
class Data:
    """A dataset as trained on: X [n, *shape], y class indices [n] (float32), the classes' labels."""

    X: np.ndarray
    y: np.ndarray
    classes: tuple[str, ...]


def load_data(spec: DataSpec) -> Data:
    """The arrays of a built-in dataset or of a user's data file (read and checked again here:
    the file may have changed since the config was read)."""
    if spec.name != FILE:
        X, y = zoo.make_dataset(spec.name, **spec.kwargs)
        return Data(X, y, ("0", "1"))
    args = spec.kwargs
    found = datafile.read(args["path"], args.get("label") or None)
    if found.sha256 != args["sha256"]:
        raise ConfigError(f"{args['path']}: the data file changed while vanishing ran (sha256 "
                          f"{args['sha256'][:12]} -> {found.sha256[:12]}); run again")
    return Data(found.X, found.y.astype(np.float32), found.classes)


# One cell as trained: its settings and status (the file's cell_json), its arrays, its metrics.csv lines.
Trained = tuple[dict[str, Any], dict[str, np.ndarray], list[str]]


def train_group(group: tuple[Cell, ...], data: Data, tick: Callable[[float], None] | None = None,
                on_cell: Callable[[Trained], None] | None = None) -> list[Trained]:
    """Train one group in memory; each cell's (info, arrays, metrics lines). Writes nothing.

    ``on_cell`` sees each cell as soon as it is ready (a factory group's cells train one by
    one); the metrics lines are computed while the arrays are in memory: reading every cell
    back at the end cost seconds on the critical path.
    """
    per_epoch = sum((c.depth + 1) / 5 for c in group)
    on_epoch = None if tick is None else (lambda _epoch: tick(per_epoch))
    done: list[Trained] = []

    def ready(t: Trained) -> None:
        done.append(t)
        if on_cell is not None:
            on_cell(t)

    if group[0].factory is not None:
        for c in group:
            ready(train_factory_cell(c, data, on_epoch))
        return done
    from vanishing import engine

    records = engine.train_group(group, data.X, data.y, on_epoch=on_epoch)
    functions = {a: zoo.numpy_activation(a) for a in dict.fromkeys(c.activation for c in group)}
    for r in records:
        with timing.span("train: theory predictions"):
            f, fprime = functions[r.cell.activation]
            arrays = {**r.arrays, **theory.scaled_predictions(f, fprime, r.arrays, data.X)}
        info = cell_info(r.cell, r.status, r.diverged_epoch)
        with timing.span("train: metrics.csv lines (in the worker)"):
            lines = results.cell_metric_lines(info, arrays)
        ready((info, arrays, lines))
    return done


def write_trained(results_dir: Path, trained: Trained, lines: dict[str, list[str]],
                  done: frozenset[str] = frozenset()) -> None:
    """Write one trained cell's file, unless it is one of ``done`` (on disk already, trained again
    for its group's sake); keep its metrics lines in ``lines``."""
    info, arrays, cell_lines = trained
    if info["cell_id"] in done:
        return
    with timing.span("train: writing cells"):
        results.write_cell(results_dir, info, arrays)
    lines[info["cell_id"]] = cell_lines


def train_and_write(group: tuple[Cell, ...], data: Data, results_dir: Path,
                    tick: Callable[[float], None] | None = None,
                    done: frozenset[str] = frozenset()) -> dict[str, list[str]]:
    """Train one group and write its cells but ``done``, each as soon as it is ready; the unit of
    work, in this process or a local worker (which sees the results directory). Returns each
    written cell's metrics.csv lines."""
    lines: dict[str, list[str]] = {}
    with timing.span("train: groups (all of it)"):
        train_group(group, data, tick, on_cell=lambda t: write_trained(results_dir, t, lines, done))
    timing.flush("worker")
    return lines


def train_factory_cell(cell: Cell, data: Data, on_epoch: Callable[[int], None] | None) -> Trained:
    """Train one factory cell in memory: (info, arrays, metrics lines)."""
    from vanishing import factory_cell, recorder_io

    record = factory_cell.train_cell(cell, data.X, data.y, len(data.classes), on_epoch)
    entry = record.entry
    # The matrix's settings win over the recorder's guesses (its optimizer is a class name).
    info = {**entry, **cell_info(cell, entry["status"], entry["diverged_epoch"])}
    return info, record.arrays, recorder_io.metric_lines(info, record.arrays)


def reused_factory_lines(results_dir: Path, cell_id: str) -> list[str]:
    """A factory cell's metrics.csv lines, from its file: rows per recorded weight matrix."""
    from vanishing import recorder_io

    with results.open_cell(results_dir, cell_id) as (info, arrays):
        return recorder_io.metric_lines(info, arrays)


def check_first_cell(experiment: Experiment, p: Plan, datasets: dict[DataSpec, Data]) -> None:
    """Build the first cell still to train and call it on two samples: a factory that returns
    no Keras model, or one that does not fit the data, is refused before any training."""
    from vanishing import factory

    if experiment.factory is None or not p.groups:
        return
    cell = p.groups[0][0]
    data = datasets[cell.data]
    try:
        factory.output_units(factory.build(cell, data.X.shape[1:]), data.X, len(data.classes))
    except factory.FactoryError as e:
        raise ConfigError(f"{experiment.source}: key 'model.factory' has value {experiment.factory.ref!r}: "
                          f"{e}") from None


def train(
    experiment: Experiment,
    results_dir: Path,
    *,
    force: bool = False,
    jobs: int = 1,
    command: str = "",
    preset: str | None = None,
    config_toml: str = "",
    overrides: tuple[str, ...] = (),
    progress: bool | None = None,
    on_group: Callable[[int, int], None] | None = None,
    wait: bool = False,
    shard: shards.Shard | None = None,
    cluster: str | None = None,
) -> dict[str, Any]:
    """Train what is missing and write the whole results directory (of one shard's cells, with
    ``shard``); returns the manifest.

    Holds the directory's train lock throughout (lock.py): another run on it raises
    lock.Busy naming the holder, or is waited for with ``wait``. With ``cluster`` (an address,
    or ``local``) the groups train on that Dask cluster's workers (cluster.py) and this process
    writes their cells.
    """
    results_dir = Path(results_dir)
    with lock.train_lock(results_dir, command, wait):
        # What killed writers left is removed first; a live recorder's temporary files stay.
        results.remove_stale_temp(results_dir)
        try:
            return _train_locked(experiment, results_dir, force=force, jobs=jobs, progress=progress,
                                 on_group=on_group, shard=shard, cluster=cluster, describe={
                                     "command": command, "preset": preset, "config_toml": config_toml,
                                     "overrides": list(overrides)})
        except BaseException:
            # The workers are ended by now: their half-written files go with them.
            results.remove_stale_temp(results_dir)
            raise


def _train_locked(experiment: Experiment, results_dir: Path, *, force: bool, jobs: int,
                  progress: bool | None, on_group: Callable[[int, int], None] | None,
                  shard: shards.Shard | None, describe: dict[str, Any],
                  cluster: str | None = None) -> dict[str, Any]:
    p = plan(experiment, results_dir, force, shard)
    if p.unreadable:
        print(f"vanishing: {len(p.unreadable)} cell file(s) unreadable or incomplete, trained again: "
              f"{', '.join(p.unreadable)}", file=sys.stderr)
    datasets = {d: load_data(d) for d in dict.fromkeys(c.data for c in p.cells)}
    check_first_cell(experiment, p, datasets)
    with contextlib.ExitStack() as stack:
        client = None
        if cluster is not None and p.groups:  # connected before anything is written: a bad address exits 2
            from vanishing import cluster as dask_cluster

            client = stack.enter_context(dask_cluster.connect(cluster, jobs))
        return _train_planned(experiment, results_dir, p, datasets, jobs, progress, on_group, shard,
                              describe, client)


def _train_planned(experiment: Experiment, results_dir: Path, p: Plan, datasets: dict[DataSpec, Data],
                   jobs: int, progress: bool | None, on_group: Callable[[int, int], None] | None,
                   shard: shards.Shard | None, describe: dict[str, Any], client: Any) -> dict[str, Any]:
    hashes = {spec.dataset_id: results.write_dataset(results_dir, spec.dataset_id, data.X, data.y)
              for spec, data in datasets.items()}
    factory_entry = run_description.keep_factory(experiment, results_dir)

    # The cluster's machines are not this one: a child process asks this one's meanwhile.
    device_later = run_description.device_later() if client is not None and p.groups else None
    bar = Progress(len(p.groups), p.model_epochs, progress)
    timing.add("command: before training (config, plan, data)", time.perf_counter() - timing.started())
    start = time.perf_counter()
    try:
        if client is not None:
            from vanishing import cluster as dask_cluster

            lines = dask_cluster.train_groups(client, p.groups, datasets, results_dir, bar, on_group, p.done)
            device = device_later() if device_later is not None else None
        else:
            from vanishing import local

            lines, device = local.train_groups(p.groups, datasets, results_dir, jobs, bar, on_group, p.done)
    finally:
        bar.close()
    seconds = time.perf_counter() - start
    timing.add("command: training (waiting for the groups)", seconds)

    infos = []
    for c in p.cells:
        stored = results.read_cell_info(results_dir, c.cell_id) or {}
        # matrices come from this config: a reused cell may sit in other matrices now. A factory
        # cell's entry keeps what its recorder wrote (layers, model, probe).
        infos.append({**stored, **cell_info(c, stored.get("status", "ok"), stored.get("diverged_epoch"))})
        if c.factory is not None and c.cell_id not in lines:
            lines[c.cell_id] = reused_factory_lines(results_dir, c.cell_id)
    manifest = {
        "vanishing_version": __version__,
        "created": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
        "command": describe["command"],
        "preset": describe["preset"],
        "title": experiment.title,
        "description": experiment.description,
        "source": experiment.source,
        "config": experiment.raw,
        "config_toml": describe["config_toml"],  # the file or preset as written; overrides apply on top
        **({} if factory_entry is None else {"factory": factory_entry}),
        "overrides": describe["overrides"],
        "versions": run_description.versions(),
        "platform": {"system": platform.system(), "release": platform.release(),
                     "machine": platform.machine(), "python": sys.version.split()[0],
                     "cpu_count": os.cpu_count(),
                     "device": device or run_description.device_before(results_dir)()},
        **run_description.study(experiment, datasets, hashes),
        "train_seconds": round(seconds, 3),
        "cells_trained": len(p.cells) - len(p.done),
        "cells_reused": len(p.done),
        **({} if shard is None else {"shard": {"index": shard.index, "count": shard.count}}),
        "cells": infos,
    }
    # Runs the Keras recorder wrote into this directory stay, with their rows (under the lock
    # a recording process takes for its own writes). metrics.csv is replaced before the
    # manifest: killed between the two, the next run (which trains nothing) writes both again.
    with recorder_io.locked(results_dir):
        recorded, rows = recorder_io.recorded_runs(results_dir, frozenset(c.cell_id for c in p.cells))
        ids = [c.cell_id for c in p.cells]
        listed = [*ids, *(e["cell_id"] for e in recorded)]
        with timing.span("command: writing metrics.csv"):
            # nothing trained: the table on disk is the one these cells make, if the manifest says so
            sha = (None if p.groups else integrity.unchanged_metrics(results_dir, listed)) \
                or results.write_metrics(results_dir, ids, known=lines, extra=rows)
        results.write_manifest(results_dir, {**manifest, "metrics_sha256": sha, "cells": [*infos, *recorded]})
    return manifest
