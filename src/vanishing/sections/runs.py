"""Your runs compared: with several recorded runs, a table over their labels and, where the labels
name activations and initializers, the same heatmaps as the matrix."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vanishing import fmt
from vanishing.aggregate import GroupSummary, Stat, grid_of
from vanishing.heatmaps import WHAT, draw_heatmap
from vanishing.links import RunLinks, run_href
from vanishing.plotting import Figure, finish
from vanishing.reader import Run
from vanishing.recorded import RecordedRun
from vanishing.roles import ordered

EMPTY = ("One recorded run: nothing to compare. Record several runs into one directory (one per "
         "fit, each with its labels) to see them side by side.")


@dataclass(frozen=True)
class RunRow:
    name: str
    labels: tuple[str, ...]  # one per label key, in RunsPart.keys order
    epochs: str
    final_loss: str
    final_accuracy: str
    attenuation_start: str
    attenuation_end: str
    status: str
    href: str = ""  # the run's panel


@dataclass(frozen=True)
class RunsPart:
    keys: tuple[str, ...]
    rows: tuple[RunRow, ...]
    figures: tuple[Figure, ...]


def build(run: Run) -> RunsPart | None:
    runs = run.recorded
    if len(runs) < 2:
        return None
    keys = ordered(k for r in runs for k, _ in r.labels)
    rows = tuple(row(r, keys) for r in runs)
    return RunsPart(keys, rows, heatmaps(runs))


def row(r: RecordedRun, keys: Sequence[str]) -> RunRow:
    labels = r.label
    end = r.end
    return RunRow(r.cell_id, tuple(labels.get(k, "") for k in keys), str(r.epochs),
                  fmt.fixed(r.loss[end], 4), fmt.fixed(r.accuracy[end], 3),
                  fmt.signed(r.attenuation[0]), fmt.signed(r.attenuation[end]),
                  f"diverged at epoch {r.diverged_epoch}" if r.diverged else "ok", run_href(r.cell_id))


def summaries(runs: Sequence[RecordedRun]) -> tuple[GroupSummary, ...]:
    """One per activation x initializer label pair, over the runs' seeds; end-of-training
    numbers from the runs that did not diverge (as for the matrix)."""
    groups: dict[tuple[str, str, int], list[RecordedRun]] = defaultdict(list)
    for r in runs:
        groups[(r.activation, r.initializer, r.depth)].append(r)
    out = []
    for (act, init, _), members in groups.items():
        ok = [r for r in members if not r.diverged]
        out.append(GroupSummary(
            activation=act, initializer=init, depth=members[0].depth, seeds=tuple(r.seed for r in members),
            diverged=tuple((r.seed, r.diverged_epoch) for r in members if r.diverged),
            final_loss=Stat.of(r.loss[r.end] for r in ok),
            final_accuracy=Stat.of(r.accuracy[r.end] for r in ok),
            grad_abs_mean_init=(), grad_abs_mean_end=(), weight_std_init=(),
            attenuation_init=Stat.of(r.attenuation[0] for r in members),
            attenuation_end=Stat.of(r.attenuation[-1] for r in ok)))
    return tuple(out)


def heatmaps(runs: Sequence[RecordedRun]) -> tuple[Figure, ...]:
    """Activation x initializer heatmaps when every run names both and there are two or more pairs."""
    if not all(r.activation and r.initializer for r in runs):
        return ()
    groups = summaries(runs)
    if len(groups) < 2:
        return ()
    depths = [g.depth for g in groups]
    depth = max(set(depths), key=depths.count)
    grid = grid_of("runs", depth, [g for g in groups if g.depth == depth])
    caption = (f"Your runs by their activation and initializer labels (depth {depth}; mean over the "
               "runs that share both labels): "
               "{what}. Red attenuation: the first recorded weight matrix gets less gradient than "
               "matrix L−1, the last before the final one; blue: more.")
    words = {"accuracy": "final accuracy on the probe", "attenuation_init": "attenuation at the start",
             "attenuation_end": "attenuation after the last epoch"}
    has_accuracy = any(np.isfinite(r.accuracy[r.end]) for r in runs)
    shown = [what for what in WHAT if what != "accuracy" or has_accuracy]
    links = RunLinks.of(runs)
    return tuple(finish(draw_heatmap(grid, what, links=links), caption.format(what=words[what]),
                        f"Heatmap of {words[what]} for the recorded runs, activations as rows, "
                        "initializers as columns.") for what in shown)
