"""Network by network: the recorder's per-layer views of a model factory's networks.

Each network a factory built was measured by the same recorder as a run a script records,
so it gets the same views: the sentences and the table of its weight matrices (Your model),
its gradient flow, its gradient and output histograms, how far each matrix moves, its
saturated and dead units, and for a recurrent model the gradient through time. They sit in
this one section, after the whole-matrix table, rather than in the recorder's own sections:
those come first on a page of recorded runs, and a matrix page tells its story first
(summary, depth, the table), then shows single networks.

A factory's matrix may hold hundreds of networks, so the page stays bounded: the views of
the lowest seed of each activation x initializer x depth of the primary study, in the
whole-matrix table's order; with more than SHOWN_MAX such combinations, SHOWN_MAX of them
spread evenly through that order (the first and the last among them). One network's views
weigh about 0.3 MB (ten weight matrices, a few epochs; more with more epochs), so 12 keep
the page within a few MB. The note says how many of how many are shown and how they were
chosen; every network's numbers are in metrics.csv.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from vanishing import fmt
from vanishing.aggregate import main_grid, summarize, table_order
from vanishing.plotting import Figure
from vanishing.reader import FACTORY, CellStats, Run
from vanishing.recorded import RecordedRun
from vanishing.sections import (
    gradient_flow,
    layer_histograms,
    layer_updates,
    recorded_saturation,
    through_time,
)
from vanishing.sections.your_model import RunBlock, block

EMPTY = "No network of a model factory in this directory: `vanishing train` with [model] factory makes some."
SHOWN_MAX = 12  # networks shown layer by layer; the rest are in the tables and metrics.csv


@dataclass(frozen=True)
class NetworkBlock:
    title: str  # one line: the network, its attenuation at the start and the end, its accuracy
    run: RunBlock  # what "Your model" shows of a recorded run
    sentences: tuple[str, ...]  # its update ratios, saturation, gradient through time
    figures: tuple[Figure, ...]


@dataclass(frozen=True)
class NetworksPart:
    note: str  # how many of how many networks are shown, and how they were chosen
    networks: tuple[NetworkBlock, ...]


@dataclass(frozen=True)
class Selection:
    cells: tuple[CellStats, ...]  # shown, in order
    combinations: int  # activation x initializer x depth run in the primary study
    networks: int  # the primary study's networks


def spread(n: int, most: int) -> list[int]:
    """Indices 0..n-1, or ``most`` of them spread evenly (the first and the last among them)."""
    if n <= most:
        return list(range(n))
    if most <= 1:
        return [0][:most]
    return sorted({round(i * (n - 1) / (most - 1)) for i in range(most)})


def selection(run: Run) -> Selection:
    """The lowest seed of each activation x initializer x depth of the primary study's factory
    networks, in the whole-matrix table's order; SHOWN_MAX of them spread evenly when more."""
    primary = [c for c in run.primary_cells() if c.kind == FACTORY]
    summaries = summarize(primary)
    firsts = []
    for g in table_order(summaries, main_grid(run.matrices, summaries)):
        key = (g.activation, g.initializer, g.depth)
        firsts.append(min((c for c in primary if (c.activation, c.initializer, c.depth) == key),
                          key=lambda c: c.seed))
    return Selection(tuple(firsts[i] for i in spread(len(firsts), SHOWN_MAX)), len(firsts), len(primary))


def build(run: Run) -> NetworksPart | None:
    chosen = selection(run)
    runs = {r.cell_id: r for r in run.recorded if r.kind == FACTORY}
    shown = [(c, runs[c.cell_id]) for c in chosen.cells if c.cell_id in runs]
    if not shown:
        return None
    return NetworksPart(note(chosen, len(shown)), tuple(network(c, r) for c, r in shown))


def note(chosen: Selection, shown: int) -> str:
    capped = (f"; of the {chosen.combinations} combinations run, {len(chosen.cells)} spread evenly through "
              "that order are shown, the first and the last among them"
              if chosen.combinations > len(chosen.cells) else "")
    return (f"Layer by layer, {shown} of the {fmt.plural(chosen.networks, 'network')} of the primary "
            "study: the lowest seed of each activation × initializer × depth, in the whole-matrix "
            f"table's order{capped}. Every network's numbers, per weight matrix and epoch, are in "
            "metrics.csv.")


def title(c: CellStats, r: RecordedRun) -> str:
    """'relu × he_normal, depth 4, seed 0: attenuation −1.20 at the start, −0.30 after epoch 20;
    accuracy 0.950'."""
    att, end = r.attenuation, r.end
    accuracy = f"; accuracy {fmt.fixed(r.accuracy[end], 3)}" if math.isfinite(r.accuracy[end]) else ""
    diverged = f" (diverged at epoch {r.diverged_epoch})" if r.diverged else ""
    return (f"{c.activation} × {c.initializer}, depth {c.depth}, seed {c.seed}: attenuation "
            f"{fmt.signed(att[0])} at the start, {fmt.signed(att[end])} after epoch {end}"
            f"{accuracy}{diverged}")


def network(c: CellStats, r: RecordedRun) -> NetworkBlock:
    sentences = (layer_updates.update_sentence(r) if r.epochs >= 1 else "",
                 *(recorded_saturation.sentences(r) if recorded_saturation.known(r) else ()),
                 through_time.sentence(r) if r.time_grad_abs_mean is not None else "")
    return NetworkBlock(title(c, r), block(r), tuple(s for s in sentences if s), figures(r))


def figures(r: RecordedRun) -> tuple[Figure, ...]:
    """The recorder sections' figures of one run, each where it has something to draw."""
    out: list[Figure] = [gradient_flow.flow_figure(r)]
    if r.grad_hist or r.act_hist:
        out.append(layer_histograms.histogram_figure(r))
    if r.epochs >= 1:
        out.append(layer_updates.updates_figure(r))
    if recorded_saturation.known(r):
        out.append(recorded_saturation.saturation_figure(r))
    if r.time_grad_abs_mean is not None:
        out.append(through_time.time_figure([r]))
    return tuple(out)

