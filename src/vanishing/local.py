"""`train --jobs N`: the groups in N local worker processes (workers.py), each writing its own
cells into the results directory; the counterpart of cluster.py.

Compiling a group's loop is single-threaded and takes seconds, so on a 2-core machine two
workers nearly halve the wall time of a whole matrix. The groups are shared out before any
starts, by their expected seconds (estimate.py's model), slowest first.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from vanishing import grouping, run_description, runner, workers, zoo
from vanishing.experiment import Cell, DataSpec
from vanishing.progress import Progress
from vanishing.runner import Data


def start_worker() -> None:
    """A worker's start: TensorFlow, single-threaded."""
    _, tf = zoo.import_keras()
    # The workers already fill the cores; threads inside each would only contend.
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)


Task = tuple[tuple[Cell, ...], Data, Path, frozenset[str]]  # a group, its data, where, what not to write


def _worker_train(task: Task, tick: Callable[[float], None]) -> tuple[dict[str, list[str]], str]:
    """A group's metrics lines, and the device its worker trained on (for the manifest: asked
    here, where TensorFlow runs already, the command need not import it)."""
    group, data, results_dir, done = task
    return runner.train_and_write(group, data, results_dir, tick=tick, done=done), run_description.device()


def describe_group(task: Task) -> str:
    """A group as an error message names it."""
    group = task[0]
    c = group[0]
    names = ", ".join(x.cell_id for x in group[:3]) + (", ..." if len(group) > 3 else "")
    return (f"the group {grouping.activations(group)}, depth {c.depth}, {c.train.optimizer.label} "
            f"on {c.data.dataset_id} ({len(group)} cells: {names})")


def train_groups(groups: tuple[tuple[Cell, ...], ...], datasets: dict[DataSpec, Data], results_dir: Path,
                 jobs: int, bar: Progress, on_group: Callable[[int, int], None] | None = None,
                 done: frozenset[str] = frozenset()) -> tuple[dict[str, list[str]], str | None]:
    """Train every group, ``jobs`` at a time in worker processes (1: in this process); write
    every cell but ``done``.

    Returns the metrics.csv lines of every cell written, and the device they trained on (None:
    nothing trained).

    Interrupted (Ctrl-C, SIGTERM), the workers end at once: the groups in flight
    are lost, every group written stays (workers.py).
    """
    lines: dict[str, list[str]] = {}
    if jobs <= 1 or len(groups) <= 1:
        for g, group in enumerate(groups, start=1):
            lines.update(runner.train_and_write(group, datasets[group[0].data], results_dir, bar.tick, done))
            bar.group_done()
            if on_group is not None:
                on_group(g, len(groups))
        return lines, run_description.device() if groups else None
    finished, devices = 0, []

    def on_result(_index: int, result: tuple[dict[str, list[str]], str]) -> None:
        nonlocal finished
        group_lines, device = result
        lines.update(group_lines)
        devices.append(device)
        finished += 1
        bar.group_done()
        if on_group is not None:
            on_group(finished, len(groups))

    costed = sorted(((expected_seconds(group, datasets[group[0].data]), group) for group in groups),
                    key=lambda pair: -pair[0])
    tasks = [(group, datasets[group[0].data], results_dir, done & {c.cell_id for c in group})
             for _, group in costed]
    workers.run(_worker_train, tasks, jobs, on_tick=bar.tick, on_result=on_result,
                describe=describe_group, init=start_worker, costs=[cost for cost, _ in costed])
    return lines, "GPU" if "GPU" in devices else "CPU"


def expected_seconds(group: tuple[Cell, ...], data: Data) -> float:
    """A group's seconds in a worker by estimate.py's rough model: what shares the groups out."""
    from vanishing import estimate

    shape = estimate.Shape(len(data.X), int(np.prod(data.X.shape[1:])))
    return estimate.group_cost(group, shape).seconds or 0.0
