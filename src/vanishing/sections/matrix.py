"""The whole matrix: one row per activation x initializer and depth, mean ± std over seeds."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from vanishing import fmt
from vanishing.aggregate import Grid, GroupSummary, Stat, main_grid, summarize
from vanishing.plotting import LayerKey, layer_keys
from vanishing.reader import Run
from vanishing.roles import NOTABLE_ATTENUATION

EMPTY = "No cells could be read from this results directory."


@dataclass(frozen=True)
class MatrixRow:
    activation: str
    initializer: str
    seeds: str
    final_loss: str
    final_accuracy: str
    grads: tuple[tuple[str, str], ...]  # per layer: (at init, at end)
    attenuation_init: str
    attenuation_end: str
    attenuation_class: str  # vanishing / exploding / balanced: a CSS hook, not a number
    diverged: str


@dataclass(frozen=True)
class MatrixTable:
    depth: int
    layers: tuple[LayerKey, ...]
    rows: tuple[MatrixRow, ...]


@dataclass(frozen=True)
class MatrixPart:
    tables: tuple[MatrixTable, ...]  # the main grid's depth first, then the others
    missing: tuple[str, ...]
    diverged: tuple[str, ...]


def build(run: Run) -> MatrixPart | None:
    summaries = summarize(run.primary_cells())
    grid = main_grid(run.matrices, summaries)
    first = [grid.depth] if grid else []
    depths = (*first, *sorted({g.depth for g in summaries} - set(first)))
    tables = tuple(table(d, [g for g in summaries if g.depth == d], grid) for d in depths)
    diverged = tuple(f"{c.cell_id} (epoch {c.diverged_epoch})" for c in run.cells if c.diverged)
    if not tables and not run.missing:
        return None
    return MatrixPart(tables, run.missing, diverged)


def attenuation_class(x: float) -> str:
    if math.isnan(x):
        return ""
    if x <= -NOTABLE_ATTENUATION:
        return "vanishing"
    if x >= NOTABLE_ATTENUATION:
        return "exploding"
    return "balanced"


def _stat(s: Stat, digits: int, sign: bool = False) -> str:
    return fmt.mean_std(s.mean, s.std, s.n, digits, sign=sign)


def table(depth: int, groups: Sequence[GroupSummary], grid: Grid | None) -> MatrixTable:
    if grid is not None and depth == grid.depth:  # the grid's order: rows by activation
        pairs = [(a, i) for a in grid.activations for i in grid.initializers]
        order = {pair: k for k, pair in enumerate(pairs)}
        groups = sorted(groups, key=lambda g: order.get((g.activation, g.initializer), 1 << 30))
    rows = tuple(MatrixRow(
        activation=g.activation, initializer=g.initializer, seeds=f"{g.n_ok}/{len(g.seeds)}",
        final_loss=_stat(g.final_loss, 3), final_accuracy=_stat(g.final_accuracy, 3),
        grads=tuple((fmt.sci(a.mean), fmt.sci(b.mean))
                    for a, b in zip(g.grad_abs_mean_init, g.grad_abs_mean_end)),
        attenuation_init=_stat(g.attenuation_init, 2, sign=True),
        attenuation_end=_stat(g.attenuation_end, 2, sign=True),
        attenuation_class=attenuation_class(g.attenuation_init.mean),
        diverged=", ".join(f"seed {s} at epoch {e}" for s, e in g.diverged)) for g in groups)
    return MatrixTable(depth=depth, layers=layer_keys(depth + 1, short=True), rows=rows)
