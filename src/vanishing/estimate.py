"""What a run will cost before it starts: time and peak memory, from the plan alone.

Pure arithmetic on the plan's groups (no TensorFlow): ``vanishing train --dry-run`` prints it,
and every ``train`` checks it against this machine's free memory first, so a run that cannot
fit is refused (exit 2) with the estimate and what to change, instead of dying of
out-of-memory an hour in.

Memory follows what the stacked engine holds for one group (engine.py, stacked.py), with
C cells, n samples, E epochs, batch b, s = ceil(n / b) steps, W kernel weights, B biases and
H hidden units per cell:

- the per-epoch arrays, kept for the whole run: [E+1, C, ...] float32 of every kernel, its
  gradient and the per-layer statistics (the kernels at every epoch dominate for wide nets);
- the batch orders [E, C, n] int64, and each epoch's index [s, C, b] (the last batch padded);
- the variables, the optimizer's slots, and each epoch's packed output on its way out;
- the whole-dataset measurements, [C, n, width] per hidden layer (small kernels multiply by
  broadcasting), and the decision-region grid (81 x 81 points) for 2-feature data;
- the compiled program, which grows with depth;
- a process with TensorFlow loaded, per worker and for the main process.

The constants were measured on this project's 2-core development machine (TensorFlow 2.21,
Keras 3.15; peak RSS of one group trained in a fresh process, 36 groups of widths 5 to 2048,
depths 4 to 512, 1 to 30 cells, 569 to 300,000 samples, 2 to 2,000 epochs): the formula gives
0.95x to 1.8x of those peaks (1.15x typically), erring high. It is a rough estimate, and says
so wherever it is printed.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from vanishing import datafile, grouping
from vanishing.config import ConfigError
from vanishing.experiment import FILE, Cell, DataSpec, Experiment

F32, I64 = 4, 8
MB, GB = 2**20, 2**30
# RSS of a process that has imported TensorFlow, Keras and scikit-learn (measured: 646-669 MB).
PROCESS_BYTES = 700 * MB
# XLA's compiled program and its compiler's working memory: 180 MB plus 8 MB per layer
# (measured at width 5: 220 MB at depth 4, 1.1 GB at depth 128, 4.1 GB at depth 512).
PROGRAM_BYTES, PROGRAM_LAYER_BYTES = 180 * MB, 8 * MB
# Live float32 values per (cell, sample) of the whole-dataset pass: per hidden unit, and per
# weight of a kernel small enough to multiply by broadcasting (XLA fuses most of those).
# (fitted to 1,000 to 300,000 samples at width 5, and 1,000 to 5,000 at width 2048: 2.65 per unit)
EVAL_PER_UNIT, EVAL_PER_SMALL_WEIGHT = 3, 0.5
SMALL_KERNEL = 64  # stacked.SMALL_KERNEL (not imported: stacked.py imports TensorFlow's zoo)
GRID_POINTS = 81 * 81  # engine.BOUNDARY_GRID squared
ACTIVATION_SAMPLE = 256  # engine.ACTIVATION_SAMPLE
LINE_BYTES = 700  # one metrics.csv row held in the main process (the str, and the file's text)
CELL_BYTES = 8 * 1024  # one cell's Cell, settings, manifest entry and plan entry in the main process
# Optimizer slots per weight (Keras 3): the most each optimizer may keep.
SLOTS = {"sgd": 1, "momentum": 1, "rmsprop": 3, "adam": 3, "adamw": 3, "adagrad": 1, "adamax": 2,
         "nadam": 3}
# Time, in one worker (single-threaded, as runner.py sets them). A group's fixed cost, tracing
# its program and compiling it: 1 s plus 0.22 s per layer. Then per epoch: a fixed cost, 40 us
# per mini-batch step (1,000 steps of batch 1: 44 ms an epoch) and, per cell and sample, 0.05 us
# plus 2.3 ns per weight of a small (broadcast) kernel and 0.45 ns per weight of a large one.
# And per cell and layer, 2 ms of what comes around the epochs (initializers, snapshots, the
# decision-region grid, theory, writing). Refitted for issue 13 to the default preset's 7 groups,
# each trained alone in one process with no compilation cache (2026-11-30: 2.2 to 15.2 s a
# group, each predicted within 0.89x to 1.13x); the large kernels' constant is the earlier fit's
# (widths 5 to 1024, depths 4 and 16, 1,000 to 10,000 samples). It decides which worker trains which group
# (local.py), so it matters most that the groups' ratios are right: a rough estimate.
COMPILE_SECONDS, COMPILE_LAYER_SECONDS = 1.0, 0.22
EPOCH_SECONDS, STEP_SECONDS = 1e-3, 40e-6
SAMPLE_SECONDS, SMALL_WEIGHT_SECONDS, WEIGHT_SECONDS = 0.05e-6, 2.3e-9, 0.45e-9
CELL_LAYER_SECONDS = 2e-3
START_SECONDS = 3.0  # planning in the main process, importing TensorFlow in each worker


@dataclass(frozen=True)
class Shape:
    """A dataset's size: samples and features per sample (all axes)."""

    samples: int
    features: int


@dataclass(frozen=True)
class GroupCost:
    """One group's share of the run: bytes above its worker's baseline, by what holds them."""

    cells: tuple[Cell, ...]
    parts: tuple[tuple[str, int, tuple[str, ...]], ...]  # (what, bytes, what sets its size)
    seconds: float | None  # None: a factory's model, not estimated

    @property
    def bytes(self) -> int:
        return sum(b for _, b, _ in self.parts)


@dataclass(frozen=True)
class Estimate:
    cells: int
    reused: int
    groups: tuple[GroupCost, ...]
    model_epochs: float
    jobs: int  # the workers it assumes: at most the groups there are
    main_bytes: int  # the main process: TensorFlow, the datasets, every cell's metrics.csv rows
    available: int | None  # this machine's free memory, when known
    factory: bool

    @property
    def workers(self) -> int:
        return min(self.jobs, len(self.groups)) if self.jobs > 1 and len(self.groups) > 1 else 0

    @property
    def peak_bytes(self) -> int:
        """The main process, plus the largest groups in flight at once, each in its own worker
        (with --jobs 1 the groups train one at a time in the main process)."""
        largest = sorted((g.bytes for g in self.groups), reverse=True)
        if not self.workers:
            return self.main_bytes + (largest[0] if largest else 0)
        return self.main_bytes + sum(PROCESS_BYTES + b for b in largest[:self.workers])

    @property
    def seconds(self) -> float | None:
        if any(g.seconds is None for g in self.groups):
            return None
        work = sum(g.seconds or 0.0 for g in self.groups)
        longest = max((g.seconds or 0.0 for g in self.groups), default=0.0)
        # Groups go to free workers in turn: the wall time is at least the longest group.
        return START_SECONDS + max(work / max(self.workers, 1), longest)

    @property
    def fits(self) -> bool:
        return self.available is None or self.peak_bytes <= self.available

    @property
    def largest(self) -> GroupCost | None:
        return max(self.groups, key=lambda g: g.bytes, default=None)


def size(n: float) -> str:
    """Bytes as people read them: 812 MB, 3.4 GB, 7.2e+06 GB."""
    if n < MB:
        return "<1 MB" if n else "0 MB"
    if n < GB:
        return f"{n / MB:.0f} MB"
    return f"{n / GB:.1f} GB" if n < 1e6 * GB else f"{n / GB:.1e} GB"


def duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h" if seconds < 1e6 * 3600 else f"{seconds / 3600:.1e} h"


# --- the machine ---------------------------------------------------------------

def _meminfo(path: Path = Path("/proc/meminfo")) -> int | None:
    try:
        for line in path.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_room() -> int | None:
    """What a cgroup memory limit leaves (v2, then v1); None without a limit."""
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            limit = Path(limit_file).read_text().strip()
            usage = int(Path(usage_file).read_text().strip())
        except (OSError, ValueError):
            continue
        if limit.isdigit() and int(limit) < 2**60:  # v1 spells "no limit" as a huge number
            return max(int(limit) - usage, 0)
    return None


def available_memory() -> int | None:
    """Bytes a run may use without swapping: MemAvailable (Linux), else the physical memory;
    lowered by a cgroup (container) limit. None when neither can be read."""
    found = _meminfo()
    if found is None:
        try:
            found = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            found = None
    room = _cgroup_room()
    if room is not None:
        found = room if found is None else min(found, room)
    return found


# --- the arithmetic ----------------------------------------------------------

BUILT_IN_SHAPES = {"breast_cancer": Shape(569, 30), "digits": Shape(1797, 64)}


def data_shape(spec: DataSpec) -> Shape:
    """Samples and features of a dataset, without making it (a data file is read again)."""
    if spec.name in BUILT_IN_SHAPES:
        return BUILT_IN_SHAPES[spec.name]
    if spec.name == FILE:
        args = spec.kwargs
        found = datafile.read(args["path"], args.get("label") or None)
        return Shape(len(found.X), math.prod(found.shape))
    return Shape(int(spec.kwargs["n_samples"]), 2)  # circles, moons


def _slots(cell: Cell) -> int:
    return SLOTS.get(cell.train.optimizer.name, 3)


def weights(depth: int, width: int, features: int) -> tuple[int, int]:
    """(kernel weights, of them in kernels small enough to multiply by broadcasting) of one cell:
    layers features -> width, depth - 1 times width -> width, width -> 1 (engine.layer_sizes),
    counted without listing the layers (a depth may be huge)."""
    counts = ((features * width, 1), (width * width, depth - 1), (width, 1))
    return (sum(k * times for k, times in counts),
            sum(k * times for k, times in counts if k <= SMALL_KERNEL))


def group_cost(cells: Sequence[Cell], shape: Shape) -> GroupCost:
    """The bytes one group of the stacked engine holds at its peak, by what holds them, and its seconds."""
    first = cells[0]
    if first.factory is not None:
        return factory_cost(cells, shape)
    C, n, f = len(cells), shape.samples, shape.features
    epochs, batch, depth, width = first.train.epochs, first.train.batch_size, first.depth, first.width
    steps = -(-n // batch)
    kernel, small = weights(depth, width, f)
    bias, hidden = depth * width + 1, depth * width
    per_epoch = 2 + 2 * kernel + bias + 4 * depth + 3 * (depth + 1)  # stacked.output_layout
    parts = [
        ("the per-epoch arrays (every kernel and its gradient at every epoch)",
         F32 * (epochs + 1) * C * per_epoch, ("epochs", "width", "depths", "cells")),
        # each cell's [epochs, samples] orders, then their stack: about twice the stack at once
        ("the batch orders [epochs, cells, samples]", I64 * epochs * (2 * C + 1) * n,
         ("epochs", "samples", "cells")),
        ("the mini-batches [steps, cells, batch] (the last one padded to batch_size)",
         (2 * I64 + F32) * C * steps * batch + F32 * C * batch * (f + 6 * hidden + small),
         ("batch", "width", "depths")),
        ("the variables, the optimizer's slots and each epoch's output",
         F32 * C * ((kernel + bias) * (1 + _slots(first)) + 2 * per_epoch), ("width", "depths", "cells")),
        ("the whole-dataset measurements [cells, samples, width] per layer",
         int(F32 * C * (n + ACTIVATION_SAMPLE)
             * (f + EVAL_PER_UNIT * hidden + EVAL_PER_SMALL_WEIGHT * small)),
         ("samples", "width", "depths", "cells")),
        ("the compiled program (it grows with depth)", PROGRAM_BYTES + PROGRAM_LAYER_BYTES * (depth + 1),
         ("depths",)),
        ("the dataset", 3 * F32 * n * (f + 1), ("samples",)),
    ]
    if f == 2:  # decision regions over an 81 x 81 grid: eager, every layer's output kept, and
        # one small kernel's broadcast product at a time
        largest_small = max((k for k in (f * width, width * width, width) if k <= SMALL_KERNEL), default=0)
        parts.append(("the decision-region grid (81 x 81 points)",
                      F32 * C * GRID_POINTS * (hidden + width + largest_small), ("width", "depths", "cells")))
    per_sample = SAMPLE_SECONDS + SMALL_WEIGHT_SECONDS * small + WEIGHT_SECONDS * (kernel - small)
    seconds = (COMPILE_SECONDS + COMPILE_LAYER_SECONDS * (depth + 1) + CELL_LAYER_SECONDS * C * (depth + 1)
               + epochs * (EPOCH_SECONDS + STEP_SECONDS * steps + C * n * per_sample))
    return GroupCost(tuple(cells), tuple(parts), seconds)


def factory_cost(cells: Sequence[Cell], shape: Shape) -> GroupCost:
    """A factory cell: only what does not depend on the model (the data, the batch orders)."""
    epochs = cells[0].train.epochs
    parts = (("the dataset and its batches", 3 * F32 * shape.samples * (shape.features + 1), ("samples",)),
             ("the batch orders [epochs, samples]", 2 * I64 * epochs * shape.samples, ("epochs", "samples")))
    return GroupCost(tuple(cells), parts, None)


def main_process_bytes(cells: Sequence[Cell], shapes: Mapping[DataSpec, Shape]) -> int:
    """TensorFlow, each dataset (made in float64, kept in float32), and every cell's metrics.csv
    rows, which the main process holds until it writes metrics.csv at the end."""
    rows = sum((c.train.epochs + 1) * (c.depth + 1) for c in cells)
    data = sum(12 * s.samples * (s.features + 1) for s in shapes.values())
    return PROCESS_BYTES + data + LINE_BYTES * rows + CELL_BYTES * len(cells)


# --- the whole run -----------------------------------------------------------

def matrix_sizes(experiment: Experiment) -> tuple[int, int]:
    """(cells, metrics.csv rows) of the config at most, counted without listing its cells."""
    cells = rows = 0
    for m in experiment.matrices:
        per_depth = len(m.activations) * len(m.initializers) * len(m.seeds) * len(m.trains)
        cells += per_depth * len(m.depths)
        rows += per_depth * sum((m.trains[0].epochs + 1) * (d + 1) for d in m.depths)
    return cells, rows


def check_size(experiment: Experiment, available: int | None) -> None:
    """Refuse, before its cells are even listed, a config whose cells' bookkeeping alone cannot fit."""
    cells, rows = matrix_sizes(experiment)
    need = PROCESS_BYTES + CELL_BYTES * cells + LINE_BYTES * rows
    if available is not None and need > available:
        raise ConfigError(f"{experiment.source}: this run would not fit in memory: its {cells:,} cells "
                          f"and their {rows:,} metrics.csv rows alone need about {size(need)} (a rough "
                          f"estimate), and this machine has {size(available)} available; lower "
                          f"{_bookkeeping_keys(experiment)}")


def _bookkeeping_keys(experiment: Experiment) -> str:
    """What sets the number of cells and of metrics.csv rows: epochs, depths, the matrices' axes."""
    axes = ("depths", "seeds", "initializers", "activations")
    keys = [f"matrix.{m.name}.{axis}" for axis in axes for m in experiment.matrices]
    return ", ".join(["train.epochs", *keys])


def make(plan, jobs: int, available: int | None) -> Estimate:
    """The estimate of a runner.Plan: its groups, with ``jobs`` workers, on this machine."""
    shapes = {d: data_shape(d) for d in dict.fromkeys(c.data for c in plan.cells)}
    groups = tuple(group_cost(g, shapes[g[0].data]) for g in plan.groups)
    return Estimate(len(plan.cells), len(plan.done), groups, plan.model_epochs, jobs,
                    main_process_bytes(plan.cells, shapes), available,
                    any(c.factory is not None for c in plan.cells))


def fit(plan, jobs: int, available: int | None) -> Estimate:
    """The estimate with the most workers, up to ``jobs``, that fits; with one worker if none fits.

    Fewer workers hold fewer groups at once: a run too big for --jobs 4 may fit one group at a time.
    """
    est = make(plan, jobs, available)
    for fewer in range(min(jobs, len(est.groups)) - 1, 0, -1):
        if est.fits:
            break
        est = replace(est, jobs=fewer)
    return est


# The key that sets a dataset's number of samples (the real datasets' is fixed: their name).
SAMPLES_KEY = {"circles": "n_samples", "moons": "n_samples", FILE: "path"}


def _setting_keys(kinds: Sequence[str], group: GroupCost, experiment: Experiment) -> list[str]:
    """The config keys that set a group's sizes of these kinds."""
    first = group.cells[0]
    m = f"matrix.{first.matrices[0] if first.matrices else 'NAME'}"
    matrix_raw = experiment.raw.get("matrix", {}).get(first.matrices[0], {}) if first.matrices else {}
    table = f"{m}.data" if isinstance(matrix_raw, dict) and "data" in matrix_raw else "data"
    samples = f"{table}.{SAMPLES_KEY.get(first.data.name, 'name')}"
    names = {"epochs": ["train.epochs"], "width": ["model.width"], "batch": ["train.batch_size"],
             "depths": [f"{m}.depths"], "cells": [f"{m}.seeds", f"{m}.initializers"], "samples": [samples]}
    return list(dict.fromkeys(key for kind in kinds for key in names[kind]))


def group_label(group: GroupCost) -> str:
    first, C = group.cells[0], len(group.cells)
    return (f"{grouping.activations(group.cells)}, depth {first.depth}, width {first.width}, "
            f"{C} cell{'s' * (C != 1)}, data {first.data.dataset_id}, {first.train.epochs} epochs, "
            f"batch {first.train.batch_size}")


def refusal(est: Estimate, experiment: Experiment) -> str:
    """One line: the estimate, what takes the memory, and which keys to lower."""
    head = (f"{experiment.source}: this run would not fit in memory: it needs about {size(est.peak_bytes)} "
            f"at its peak, trained one group at a time (a rough estimate), and this machine has "
            f"{size(est.available or 0)} available")
    group = est.largest
    bookkeeping = est.main_bytes - PROCESS_BYTES
    if group is None or bookkeeping > group.bytes:
        return (f"{head}; mostly the metrics.csv rows of its {est.cells:,} cells ({size(bookkeeping)}), "
                f"held until metrics.csv is written: lower {_bookkeeping_keys(experiment)}")
    parts = sorted(group.parts, key=lambda p: -p[1])
    big = [p for p in parts if p[1] >= parts[0][1] / 4]
    mostly = " and ".join(f"{what} ({size(b)})" for what, b, _ in big)
    keys = _setting_keys([k for _, _, kinds in big for k in kinds], group, experiment)
    return (f"{head}; its largest group ({group_label(group)}) needs {size(group.bytes)}, mostly "
            f"{mostly}: lower {', '.join(keys)}")


def describe(est: Estimate, results_dir: Path) -> list[str]:
    """What --dry-run prints: the plan, the largest group, the peak memory and the time."""
    groups, workers = len(est.groups), max(est.workers, 1)
    to_train = est.cells - est.reused
    again = sum(len(g.cells) for g in est.groups) - to_train
    lines = ["a dry run: nothing is trained or written; memory and time are rough estimates",
             f"cells      {est.cells:,} ({est.reused:,} already in {results_dir}, {to_train:,} to train) "
             f"in {groups:,} group{'s' * (groups != 1)}"
             + (f", beside {again:,} on disk trained again with their group" if again else ""),
             f"work       {est.model_epochs:,.0f} model-epochs (an epoch of a depth-4 network; "
             "depth d counts (d+1)/5)"]
    if est.largest is not None:
        lines.append(f"largest    {group_label(est.largest)}: about {size(est.largest.bytes)}")
        parts = sorted(est.largest.parts, key=lambda p: -p[1])
        lines += [f"           {size(b):>9}  {what}" for what, b, _ in parts]
    where = (f"the main process {size(est.main_bytes)} + {workers} workers of {size(PROCESS_BYTES)} "
             "+ the group each trains" if est.workers else
             f"one process: {size(est.main_bytes)} + one group at a time")
    room = "unknown" if est.available is None else size(est.available)
    lines.append(f"memory     about {size(est.peak_bytes)} at the peak with --jobs {workers} ({where}); "
                 f"available on this machine: {room}")
    if est.factory:
        lines.append("           factory: memory of your model not estimated (only its data and batches)")
    seconds = est.seconds
    lines.append("time       not estimated: a factory's model" if seconds is None else
                 f"time       about {duration(seconds)} with --jobs {workers} (compiling each group's "
                 f"program, {COMPILE_SECONDS:.0f} s + {COMPILE_LAYER_SECONDS} s per layer, then training)")
    return lines
