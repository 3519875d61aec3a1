"""`train --shard K/N`: which cells of an experiment the K-th of N machines trains (DESIGN.md section 2).

Pure (no TensorFlow, no files): the split depends on the experiment's cells only, never
on what a results directory already holds, so a shard keeps its cells when it resumes,
and N machines that never talk to each other split the same config the same way.

Cells are split by group (grouping.py: the cells that train as one stacked model), so each
group still compiles once, on one machine, and its cells get the bits an unsplit run gives
them. Groups go to shards by greedy longest-processing-time: the costliest group first, each
to the shard with the least work so far (balance.py). That leaves the costliest shard within one
group's cost of the ideal (total / N).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from vanishing import balance, grouping
from vanishing.config import ConfigError
from vanishing.experiment import Cell

_SHARD = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


@dataclass(frozen=True)
class Shard:
    """Part ``index`` of ``count`` (1 <= index <= count)."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse(text: str) -> Shard:
    """``"2/4"`` -> Shard(2, 4); anything else is a ConfigError naming the value."""
    found = _SHARD.fullmatch(text)
    allowed = "expected K/N with whole numbers 1 <= K <= N, e.g. --shard 1/4 ... --shard 4/4"
    if found is None:
        raise ConfigError(f"--shard: value {text!r} is not allowed; {allowed}")
    index, count = int(found[1]), int(found[2])
    if count < 1 or not 1 <= index <= count:
        raise ConfigError(f"--shard: value {text!r} is not allowed (K = {index}, N = {count}); {allowed}")
    return Shard(index, count)


def model_epochs(cell: Cell) -> float:
    """A cell's work in epochs of a depth-4 model (depth d counts (d+1)/5), as the progress bar counts."""
    return cell.train.epochs * (cell.depth + 1) / 5


def cost(group: Sequence[Cell]) -> float:
    return sum(model_epochs(c) for c in group)


def _order(group: Sequence[Cell]) -> tuple:
    # Costliest first, then deepest; then the smallest cell_id, which no other group shares:
    # a total order, so the split does not even depend on the order the cells come in.
    return (-cost(group), -max(c.depth for c in group), min(c.cell_id for c in group))


def assign(all_groups: Iterable[Sequence[Cell]], count: int) -> list[list[tuple[Cell, ...]]]:
    """The groups of each of ``count`` shards (list index = K - 1), by greedy LPT (the lower K on
    a tie)."""
    ordered = sorted((tuple(g) for g in all_groups), key=_order)
    return [[ordered[i] for i in shard] for shard in balance.least_loaded([cost(g) for g in ordered], count)]


def select(cells: Sequence[Cell], shard: Shard) -> list[Cell]:
    """The shard's cells, in the experiment's order (``cells`` is every cell of the experiment)."""
    mine = {c.cell_id for g in assign(grouping.groups(cells), shard.count)[shard.index - 1] for c in g}
    return [c for c in cells if c.cell_id in mine]
