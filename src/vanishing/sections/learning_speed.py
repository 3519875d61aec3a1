"""How fast each layer learns: the update ratio per layer, and with an optimizer axis, why
adaptive optimizers partly hide vanishing gradients."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure as MplFigure

from vanishing import fmt
from vanishing.aggregate import Comparison, Stat, comparison
from vanishing.plotting import STYLE, Figure, band, finish, layer_colours, stack
from vanishing.reader import CellStats, Run
from vanishing.roles import TUTORIAL_INITIALIZER, ordered, short, training_label
from vanishing.sections.base import Part
from vanishing.sections.optimizers import OptimizerStudy, optimizer_study
from vanishing.sections.words import MLP, LayerWords, words_for
from vanishing.stats import attenuation

EMPTY = "No networks in this run to measure the update ratio on."
STEPS_EMPTY = ("This run trained every network with one optimizer, so there is no SGD-versus-adaptive "
               "comparison to show. The optimizers and full presets train sgd, momentum, rmsprop and "
               "adam side by side.")


@dataclass(frozen=True)
class LearningSpeedPart:
    speed: Part
    steps: Part | None  # None: the run has no optimizer axis
    steps_empty: str = STEPS_EMPTY


def build(run: Run) -> LearningSpeedPart | None:
    cmp = learning_speed_comparison(run.primary_cells())
    if cmp is None:
        return None
    words = words_for(c for cells in cmp.cells for c in cells)
    speed = Part(figures=(speed_figure(cmp, words),), sentences=speed_sentences(cmp, words),
                 note=(f"Networks: {cmp.activation}, {words.depth(cmp.depth)} (the deepest run), "
                       f"{', '.join(i for i, _ in cmp.initializers)}."))
    return LearningSpeedPart(speed, steps_part(optimizer_study(run)))


def learning_speed_comparison(cells: Sequence[CellStats]) -> Comparison | None:
    """The deepest sigmoid networks run (the depth sweep's), else any activation's."""
    recorded = [c for c in cells if c.update_ratio is not None and not c.diverged and c.epochs >= 1]
    for act in ("sigmoid", *ordered(c.activation for c in recorded)):
        mine = [c for c in recorded if c.activation == act]
        if mine:
            return comparison(mine, act, max(c.depth for c in mine))
    return None


def median_gap(cells: Sequence[CellStats], attr: str) -> Stat:
    """log10(first hidden / last hidden) of a per-layer series, median over epochs 1..E, over cells
    (a factory's network: the first weight matrix over the next-to-last, as for attenuation)."""
    gaps = []
    for c in cells:
        series = getattr(c, attr)
        if series is None or c.epochs < 1:
            continue
        with np.errstate(all="ignore"):
            values = attenuation(series[1:, 0], series[1:, c.layers - 2])
        values = values[np.isfinite(values)]
        if values.size:
            gaps.append(float(np.median(values)))
    return Stat.of(gaps)


def speed_sentences(cmp: Comparison, words: LayerWords = MLP) -> tuple[str, ...]:
    out = []
    for (init, _), cells in zip(cmp.initializers, cmp.cells):
        gap = median_gap(cells, "update_ratio")
        if gap.n:
            out.append(f"{cmp.activation} with {init}: per epoch {words.first} moved "
                       f"{fmt.times(gap.mean, 'less', 'more', 'as far')} {words.last}, "
                       "relative to its weights (median over epochs, mean over "
                       f"{fmt.plural(gap.n, 'seed')}).")
    return tuple(out)


def draw_speed(cmp: Comparison, words: LayerWords = MLP) -> MplFigure:
    """Update ratio per layer over epochs, one panel per initializer, log scale."""
    panels = [(init, role, cells) for (init, role), cells in zip(cmp.initializers, cmp.cells) if cells]
    n_layers = min(c.layers for _, _, cells in panels for c in cells)  # the MLP's depth + 1
    colours = layer_colours(n_layers)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(panels), sharey=True, squeeze=False,
                                 figsize=(3.9 * len(panels) + 1.2, 3.3))
        for ax, (init, role, cells) in zip(axes[0], panels):
            data = stack(cells, "update_ratio")
            x = np.arange(data.shape[1])
            for layer in range(n_layers):
                band(ax, x[1:], data[:, 1:, layer], colours[layer], words.layer(layer + 1, n_layers),
                     log=True)
            ax.set_yscale("log")
            ax.set_xlabel("epoch")
            ax.set_title(f"{short(init)} ({role})" if role else short(init), loc="left", fontsize=8.5)
        axes[0, 0].set_ylabel("‖W_e − W_(e−1)‖ / ‖W_(e−1)‖")
        handles, labels = axes[0, 0].get_legend_handles_labels()
        if n_layers > 10:  # a deep net: the legend names a few layers, the colours do the rest
            keep = sorted({0, n_layers // 4, n_layers // 2, 3 * n_layers // 4, n_layers - 2, n_layers - 1})
            handles, labels = [handles[i] for i in keep], [labels[i] for i in keep]
        axes[0, -1].legend(handles, labels, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        fig.suptitle(f"{cmp.activation}, {words.depth_of_width(cmp.depth, panels[0][2][0].width)}",
                     x=0.01, ha="left", fontsize=10, fontweight="bold")
        fig.tight_layout()
    return fig


def speed_figure(cmp: Comparison, words: LayerWords = MLP) -> Figure:
    if words.factory:
        caption = (f"How far each weight matrix of the {cmp.activation} networks of depth {cmp.depth} "
                   "moves per epoch: the norm of its change in the epoch over its norm (log scale; "
                   "lines: geometric mean over seeds, bands: range). One colour per matrix, the first "
                   "blue. Where the blue lines sit decades under the orange ones, the first matrices "
                   "are hardly learning; a line that breaks off is a matrix that did not move at all "
                   "that epoch.")
    else:
        caption = (f"How far each layer of the {cmp.activation} networks with {cmp.depth} hidden "
                   "layers moves per epoch: the norm of the epoch's change of its kernel over the "
                   "kernel's norm (log scale; lines: geometric mean over seeds, bands: range). One "
                   "colour per layer, input side blue. Where the blue lines sit decades under the "
                   "orange ones, the first layers are hardly learning; a line that breaks off is a layer "
                   "that did not move at all that epoch.")
    alt = (f"Line charts, log scale: update ratio per layer over epochs for {cmp.activation} with "
           f"{words.depth(cmp.depth)}, one panel per initializer.")
    return finish(draw_speed(cmp, words), caption, alt)


# --- gradient gap against step gap, per optimizer -------------------------------------------------

def contrast_focus(study: OptimizerStudy) -> tuple[str, str]:
    """(activation, initializer) the contrast is told for: the tutorial's initializer when run,
    and the activation whose gradients vanish most at initialisation."""
    inits = ordered(c.initializer for c in study.cells)
    init = TUTORIAL_INITIALIZER if TUTORIAL_INITIALIZER in inits else inits[0]
    mine = [c for c in study.cells if c.initializer == init]
    per_act: dict[str, list[float]] = defaultdict(list)
    for c in mine:
        if math.isfinite(c.attenuation[0]):
            per_act[c.activation].append(float(c.attenuation[0]))
    act = min(per_act, key=lambda a: float(np.mean(per_act[a]))) if per_act else mine[0].activation
    return act, init


def steps_part(study: OptimizerStudy | None) -> Part | None:
    if study is None:
        return None
    act, init = contrast_focus(study)
    cells = [c for c in study.cells if c.activation == act and c.initializer == init]
    words = words_for(cells)
    told = []
    for t in study.trainings:
        mine = [c for c in cells if c.training == t and not c.diverged]
        grad, step = median_gap(mine, "grad_abs_mean"), median_gap(mine, "update_ratio")
        if grad.n and step.n:
            told.append(f"with {training_label(*t)} {words.first} got "
                        f"{fmt.times(grad.mean, 'less gradient', 'more gradient', 'as much gradient')} "
                        f"{words.last} and moved "
                        f"{fmt.times(step.mean, 'less', 'more', 'as far')} it "
                        "per epoch, relative to its weights")
    sentence = (f"{act} with {init} (median over epochs, mean over seeds): " + "; ".join(told) + "."
                if told else "")
    return Part(figures=(steps_figure(study, act, init, words),), sentences=(sentence,) if sentence else ())


def draw_steps(study: OptimizerStudy, activation: str, initializer: str,
               words: LayerWords = MLP) -> MplFigure:
    """Per optimizer: first vs last hidden layer's mean |gradient| (top) and update ratio (bottom)
    (a factory's network: its first and next-to-last weight matrix)."""
    cells = [c for c in study.cells if c.activation == activation and c.initializer == initializer]
    n = min(c.layers for c in cells)  # the MLP's depth + 1
    colours = layer_colours(n)
    shown = ((0, colours[0], words.layer(1, n) + (" (first)" if words.factory else " (first hidden)")),
             (n - 2, colours[n - 2], words.layer(n - 1, n) + (" (next-to-last)" if words.factory
                                                              else " (last hidden)")))
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(2, len(study.trainings), sharex=True, sharey="row", squeeze=False,
                                 figsize=(2.9 * len(study.trainings) + 1.0, 4.6))
        for k, t in enumerate(study.trainings):
            mine = [c for c in cells if c.training == t and not c.diverged]
            axes[0, k].set_title(training_label(*t), loc="left")
            if not mine:
                for ax in axes[:, k]:
                    ax.text(0.5, 0.5, "all diverged" if any(c.training == t for c in cells) else "not run",
                            transform=ax.transAxes, ha="center", color="#777")
                continue
            grads, updates = stack(mine, "grad_abs_mean"), stack(mine, "update_ratio")
            x = np.arange(grads.shape[1])
            for layer, colour, label in shown:
                band(axes[0, k], x, grads[:, :, layer], colour, label, log=True)
                band(axes[1, k], x[1:], updates[:, 1:, layer], colour, label, log=True)
            for ax in axes[:, k]:
                ax.set_yscale("log")
            axes[1, k].set_xlabel("epoch")
        axes[0, 0].set_ylabel("mean |gradient|")
        axes[1, 0].set_ylabel("update ratio\n‖ΔW‖ / ‖W‖")
        handles, labels = axes[0, 0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="upper center", ncol=2, bbox_to_anchor=(0.5, 1.05))
        fig.tight_layout()
    return fig


def steps_figure(study: OptimizerStudy, activation: str, initializer: str, words: LayerWords = MLP) -> Figure:
    caption = (f"{activation} with {initializer}, {words.depth(study.depth)}: {words.first} "
               f"(blue) against {words.last}, for each optimizer. Top: the gradient each "
               "of the two gets; bottom: how far its weights move per epoch, relative to their size "
               "(log scales; lines: geometric mean over seeds). With plain SGD a small gradient "
               "makes a small step, so the gap between the two should be the same in both "
               "rows; RMSprop and Adam divide each step by the gradient's running RMS, which can "
               "close the gap in the bottom row while the top one stays open.")
    alt = (f"Two rows of line charts, one column per optimizer: mean absolute gradient and update "
           f"ratio of {words.pair} of {activation} networks over epochs.")
    return finish(draw_steps(study, activation, initializer, words), caption, alt)
