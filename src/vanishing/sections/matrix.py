"""The whole matrix: one row per activation x initializer and depth, mean ± std over seeds.

A column per weight matrix: the built-in MLP's layers 1..depth+1 (the last the output), or
for a factory's networks the matrices the recorder records, M1..ML, as many as the factory
built at that depth (a row with fewer leaves the rest blank).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from vanishing import fmt
from vanishing.aggregate import GroupSummary, Stat, main_grid, summarize, table_order
from vanishing.links import OPENS, Links, group_words, links_for, seeds_words
from vanishing.plotting import LayerKey, layer_colours, layer_keys
from vanishing.reader import CellStats, Run
from vanishing.roles import NOTABLE_ATTENUATION
from vanishing.sections.words import MLP, LayerWords, words_for

MLP_COLUMNS = ("The layer columns give the mean over seeds of each layer's mean |gradient| before "
               "training (top) and after the last epoch (bottom); read a row from left to right to see "
               "how the gradient changes from the input side to the output.")
FACTORY_COLUMNS = ("The columns M1, M2, ... are the weight matrices the recorder records, in the "
                   "model's trainable_weights order (hover over one for its variable), as many as the "
                   "factory builds at each depth: the mean over seeds of each one's mean |gradient| "
                   "before training (top) and after the last epoch (bottom).")

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
    href: str = ""  # the group's panel (links.py)
    hover: str = ""  # which group, its seeds, what the link opens


@dataclass(frozen=True)
class MatrixTable:
    depth: int
    layers: tuple[LayerKey, ...]
    rows: tuple[MatrixRow, ...]
    caption: str = ""  # '4 hidden layers' / 'depth 4'
    paths: tuple[str, ...] = ()  # a factory's network: each column's variable path


@dataclass(frozen=True)
class MatrixPart:
    tables: tuple[MatrixTable, ...]  # the main grid's depth first, then the others
    missing: tuple[str, ...]
    diverged: tuple[str, ...]
    columns: str = MLP_COLUMNS  # what the per-layer columns are


def build(run: Run) -> MatrixPart | None:
    primary = run.primary_cells()
    summaries = summarize(primary)
    words = words_for(primary)
    ordered = table_order(summaries, main_grid(run.matrices, summaries))
    depths = tuple(dict.fromkeys(g.depth for g in ordered))
    links = links_for(run)
    tables = tuple(table(d, [g for g in ordered if g.depth == d], words, _paths(primary, d), links)
                   for d in depths)
    diverged = tuple(f"{c.cell_id} (epoch {c.diverged_epoch})" for c in run.cells if c.diverged)
    if not tables and not run.missing:
        return None
    return MatrixPart(tables, run.missing, diverged, FACTORY_COLUMNS if words.factory else MLP_COLUMNS)


def _paths(cells: Sequence[CellStats], depth: int) -> tuple[str, ...]:
    """The variable paths of the networks at this depth with the most matrices (a factory's)."""
    mine = [c.layer_paths for c in cells if c.depth == depth and c.layer_paths]
    return max(mine, key=len, default=())


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


def columns(depth: int, groups: Sequence[GroupSummary], words: LayerWords) -> tuple[LayerKey, ...]:
    """The MLP's layers 1..depth+1 (the last the output); a factory's matrices M1..ML."""
    if not words.factory:
        return layer_keys(depth + 1, short=True)
    n = max((len(g.grad_abs_mean_init) for g in groups), default=0)
    return tuple(LayerKey(f"M{i + 1}", colour) for i, colour in enumerate(layer_colours(n)) if n)


def table(depth: int, groups: Sequence[GroupSummary], words: LayerWords = MLP,
          paths: tuple[str, ...] = (), links: Links | None = None) -> MatrixTable:
    """One depth's rows, in the order given (aggregate.table_order); with ``links``, each row's
    activation links to its group's panel."""
    layers = columns(depth, groups, words)
    rows = tuple(MatrixRow(
        activation=g.activation, initializer=g.initializer, seeds=f"{g.n_ok}/{len(g.seeds)}",
        final_loss=_stat(g.final_loss, 3), final_accuracy=_stat(g.final_accuracy, 3),
        grads=tuple((fmt.sci(a.mean), fmt.sci(b.mean))
                    for a, b in zip(g.grad_abs_mean_init, g.grad_abs_mean_end))
        + (("", ""),) * (len(layers) - len(g.grad_abs_mean_init)),
        attenuation_init=_stat(g.attenuation_init, 2, sign=True),
        attenuation_end=_stat(g.attenuation_end, 2, sign=True),
        attenuation_class=attenuation_class(g.attenuation_init.mean),
        diverged=", ".join(f"seed {s} at epoch {e}" for s, e in g.diverged),
        href=links.group_href(g) if links else "",
        hover=f"{group_words(g)}: {seeds_words(g)}{OPENS if links else ''}") for g in groups)
    return MatrixTable(depth=depth, layers=layers, rows=rows, caption=words.depth(depth),
                       paths=paths if len(paths) == len(layers) else ())
