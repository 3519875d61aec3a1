"""Over seeds: mean and spread per activation x initializer x depth, and the grids and
depth curves the sections are organised around. Plain numpy on typed cells.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from vanishing.reader import CellStats, MatrixAxes
from vanishing.roles import TUTORIAL_DEPTH, compared_initializers, ordered, training_label


@dataclass(frozen=True)
class Stat:
    """Mean and standard deviation over the seeds that count (n of them)."""

    mean: float
    std: float
    n: int

    @classmethod
    def of(cls, values: Iterable[float]) -> Stat:
        v = np.asarray(list(values), dtype=np.float64)
        if v.size == 0:
            return cls(math.nan, math.nan, 0)
        with np.errstate(invalid="ignore"):
            # ddof=0: with 2 or 3 seeds this is the spread we saw, not an estimate.
            return cls(float(v.mean()), float(v.std()), int(v.size))


@dataclass(frozen=True)
class GroupSummary:
    """One activation x initializer x depth, over its seeds.

    Statistics at initialisation use every cell (no training has happened yet);
    statistics at the end use only the cells that did not diverge.
    """

    activation: str
    initializer: str
    depth: int
    seeds: tuple[int, ...]
    diverged: tuple[tuple[int, int | None], ...]  # (seed, diverged_epoch)
    final_loss: Stat
    final_accuracy: Stat
    grad_abs_mean_init: tuple[Stat, ...]  # per weight matrix 1..L (the MLP: layers 1..depth+1)
    grad_abs_mean_end: tuple[Stat, ...]
    weight_std_init: tuple[Stat, ...]
    attenuation_init: Stat
    attenuation_end: Stat
    training: str = ""  # roles.training_label of its seeds' optimizer and learning rate
    dataset_id: str = ""

    @property
    def n_ok(self) -> int:
        return len(self.seeds) - len(self.diverged)


def summarize(cells: Sequence[CellStats]) -> tuple[GroupSummary, ...]:
    """One GroupSummary per activation x initializer x depth, in the order first seen."""
    groups: dict[tuple[str, str, int], list[CellStats]] = {}
    for c in cells:
        groups.setdefault((c.activation, c.initializer, c.depth), []).append(c)
    out = []
    for (act, init, depth), members in groups.items():
        members = sorted(members, key=lambda c: c.seed)
        ok = [c for c in members if not c.diverged]
        layers = range(min(c.layers for c in members))  # a factory's seeds share one architecture
        out.append(GroupSummary(
            activation=act, initializer=init, depth=depth,
            seeds=tuple(c.seed for c in members),
            diverged=tuple((c.seed, c.diverged_epoch) for c in members if c.diverged),
            final_loss=Stat.of(c.loss[-1] for c in ok),
            final_accuracy=Stat.of(c.accuracy[-1] for c in ok),
            grad_abs_mean_init=tuple(Stat.of(c.grad_abs_mean[0, i] for c in members) for i in layers),
            grad_abs_mean_end=tuple(Stat.of(c.grad_abs_mean[-1, i] for c in ok) for i in layers),
            weight_std_init=tuple(Stat.of(c.weight_std[0, i] for c in members) for i in layers),
            attenuation_init=Stat.of(c.attenuation[0] for c in members),
            attenuation_end=Stat.of(c.attenuation[-1] for c in ok),
            training=training_label(*members[0].training) if members[0].optimizer else "",
            dataset_id=members[0].dataset_id,
        ))
    return tuple(out)


@dataclass(frozen=True)
class Grid:
    """activation x initializer at one depth; cells[i][j] is None where nothing was run."""

    name: str
    depth: int
    activations: tuple[str, ...]
    initializers: tuple[str, ...]
    cells: tuple[tuple[GroupSummary | None, ...], ...]

    def present(self) -> list[GroupSummary]:
        return [g for row in self.cells for g in row if g is not None]


def grid_of(name: str, depth: int, summaries: Sequence[GroupSummary],
            activations: Sequence[str] | None = None,
            initializers: Sequence[str] | None = None) -> Grid:
    """The summaries at one depth laid out as activation rows x initializer columns."""
    acts = tuple(activations) if activations else ordered(g.activation for g in summaries)
    inits = tuple(initializers) if initializers else ordered(g.initializer for g in summaries)
    by_key = {(g.activation, g.initializer, g.depth): g for g in summaries}
    return Grid(name, depth, acts, inits,
                tuple(tuple(by_key.get((a, i, depth)) for i in inits) for a in acts))


def main_grid(matrices: Sequence[MatrixAxes], summaries: Sequence[GroupSummary]) -> Grid | None:
    """The activation x initializer grid the summary and the table show.

    The matrix named "main" if there is one, else the one with the most
    activation x initializer pairs; at its depth with the most groups.
    """
    chosen = next((m for m in matrices if m.name == "main"), None)
    if chosen is None and matrices:
        chosen = max(matrices, key=lambda m: len(m.activations) * len(m.initializers))
    if chosen is not None:
        acts, inits = ordered(chosen.activations), ordered(chosen.initializers)
        depths, name = list(chosen.depths), chosen.name or "main"
    else:
        acts = ordered(g.activation for g in summaries)
        inits = ordered(g.initializer for g in summaries)
        depths, name = sorted({g.depth for g in summaries}), "all"
    if not acts or not inits or not depths:
        return None
    present = {(g.activation, g.initializer, g.depth) for g in summaries}
    depth = max(depths, key=lambda d: (sum((a, i, d) in present for a in acts for i in inits),
                                       d == TUTORIAL_DEPTH))
    grid = grid_of(name, depth, summaries, acts, inits)
    return grid if grid.present() else None


def table_order(summaries: Sequence[GroupSummary], grid: Grid | None) -> tuple[GroupSummary, ...]:
    """The whole-matrix table's order: the main grid's depth first (its rows by activation, then
    initializer), then every other depth, shallowest first, each in the order first seen."""
    first = [grid.depth] if grid else []
    depths = (*first, *sorted({g.depth for g in summaries} - set(first)))
    pairs = [(a, i) for a in grid.activations for i in grid.initializers] if grid else []
    rank = {pair: k for k, pair in enumerate(pairs)}
    out: list[GroupSummary] = []
    for d in depths:
        mine = [g for g in summaries if g.depth == d]
        if grid is not None and d == grid.depth:
            mine.sort(key=lambda g: rank.get((g.activation, g.initializer), len(rank)))
        out.extend(mine)
    return tuple(out)


@dataclass(frozen=True)
class DepthCurve:
    """Attenuation against depth for one activation x initializer."""

    activation: str
    initializer: str
    depths: tuple[int, ...]
    attenuation_init: tuple[Stat, ...]
    attenuation_end: tuple[Stat, ...]
    groups: tuple[GroupSummary, ...] = ()  # the group at each depth


def depth_curves(summaries: Sequence[GroupSummary]) -> tuple[DepthCurve, ...]:
    """Every activation x initializer run at two depths or more."""
    pairs: dict[tuple[str, str], list[GroupSummary]] = {}
    for g in summaries:
        pairs.setdefault((g.activation, g.initializer), []).append(g)
    out = []
    for (act, init), groups in pairs.items():
        if len(groups) < 2:
            continue
        groups = sorted(groups, key=lambda g: g.depth)
        out.append(DepthCurve(act, init, tuple(g.depth for g in groups),
                              tuple(g.attenuation_init for g in groups),
                              tuple(g.attenuation_end for g in groups), tuple(groups)))
    return tuple(out)


def geometric_mean(values: np.ndarray, axis: int = 0) -> np.ndarray:
    """Mean in log space over an axis, ignoring non-positive and NaN entries: magnitudes
    spread over decades are averaged as decades, so one large seed does not hide the others."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a slice with no positive value: NaN
        safe = np.where(values > 0, values, np.nan)
        return 10 ** np.nanmean(np.log10(safe), axis=axis)


@dataclass(frozen=True)
class Comparison:
    """One activation at one depth, a few initializers side by side (cells: all seeds)."""

    activation: str
    depth: int
    initializers: tuple[tuple[str, str], ...]  # (initializer, its role)
    cells: tuple[tuple[CellStats, ...], ...]  # per initializer, sorted by seed


def comparison(cells: Sequence[CellStats], activation: str, depth: int) -> Comparison | None:
    """The tutorial's, the standard and the normalised initializer (roles.compared_initializers)
    for one activation and depth; else the first three run. Diverged networks have no curves
    to draw (NaN from their divergence on): left out."""
    mine = [c for c in cells if c.activation == activation and c.depth == depth and not c.diverged]
    chosen = compared_initializers(ordered(c.initializer for c in mine))
    if not chosen:
        chosen = tuple((i, "") for i in ordered(c.initializer for c in mine))[:3]
    if not chosen:
        return None
    per_init = tuple(tuple(sorted((c for c in mine if c.initializer == i), key=lambda c: c.seed))
                     for i, _ in chosen)
    return Comparison(activation, depth, chosen, per_init)
