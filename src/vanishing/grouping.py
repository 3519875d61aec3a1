"""Which cells train as one stacked model: a group, the unit of work of the engine, of the
workers, of shards and of resumed runs.

Cells with an equal ``Cell.group_key`` (depth, width, dataset and training settings; for
networks past ``experiment.SHARED_PROGRAM_WEIGHTS`` hidden weights, the activation too) can
share one compiled program, each activation on its own slice of the stack (stacked.PerCell).
Compiling is most of what a small group costs: the default preset compiles 7 programs, not 22.
A group holds at most MAX_STACK cells, split between activations (never inside one), so that
``--jobs`` and shards still have groups to share out.

Groups are made from ALL of an experiment's cells, never from what a directory or a shard
holds: the last bits of a cell's numbers depend on the cells stacked beside it (XLA sums in an
order that follows the stack), so a group always trains whole (runner.plan) and shards take
whole groups. A resumed, sharded or clustered run then gives an uninterrupted run's bits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from vanishing.experiment import Cell

# A third of the default preset's 300 depth-4 cells: 3 groups of 3-4 activations there, which
# two workers (or shards) can share out. Measured one at a time: a program of all ten took
# 3.4 s to trace and compile, one of a single activation (30 cells) 1.7 s.
MAX_STACK = 100


def groups(cells: Iterable[Cell]) -> list[tuple[Cell, ...]]:
    """The experiment's cells by group, in the order their keys first appear. In a group, each
    activation's cells side by side, activations by name and cells by id: the groups do not
    depend on the order the cells come in."""
    by_key: dict[tuple, dict[str, list[Cell]]] = {}
    for c in cells:
        by_key.setdefault(c.group_key, {}).setdefault(c.activation, []).append(c)
    found = []
    for by_activation in by_key.values():
        runs = [sorted(by_activation[a], key=lambda c: c.cell_id) for a in sorted(by_activation)]
        parts = min(len(runs), -(-sum(len(r) for r in runs) // MAX_STACK))
        # consecutive activations, as even as they split: the first parts take one more
        size, extra = divmod(len(runs), parts)
        start = 0
        for part in range(parts):
            end = start + size + (part < extra)
            found.append(tuple(c for run in runs[start:end] for c in run))
            start = end
    return found


def activations(group: Sequence[Cell]) -> str:
    """A group's activations as messages name them: "relu/sigmoid/tanh"."""
    return "/".join(dict.fromkeys(c.activation for c in group))
