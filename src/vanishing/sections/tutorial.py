"""The tutorial, reproduced: sigmoid, tanh and relu with random_normal(stddev=1.0), layer by
layer over the epochs, beside the loss and accuracy the tutorial reported."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure as MplFigure

from vanishing import fmt
from vanishing.aggregate import Stat
from vanishing.plotting import (
    STYLE,
    Figure,
    LayerKey,
    band,
    finish,
    layer_colours,
    layer_keys,
    layer_label,
    stack,
)
from vanishing.reader import CellStats, Run
from vanishing.roles import TUTORIAL_DEPTH, TUTORIAL_EPOCHS, TUTORIAL_INITIALIZER, TUTORIAL_REPORTED

EMPTY = ("This run has none of the tutorial's networks (sigmoid, tanh or relu with "
         "random_normal(stddev=1.0)); run the tutorial or default preset to see them.")
# The six panels of one activation's figure: (attribute, title, log scale).
PANELS = (("weight_mean", "Weight mean", False), ("weight_std", "Weight std", False),
          ("loss", "Loss and accuracy", False), ("grad_mean", "Gradient mean", False),
          ("grad_std", "Gradient std", True), ("grad_abs_mean", "Mean |gradient|", True))


@dataclass(frozen=True)
class TutorialRow:
    activation: str
    reported_loss: str
    reported_accuracy: str
    measured_loss: str
    measured_accuracy: str
    note: str


@dataclass(frozen=True)
class TutorialPart:
    setting: str
    reported_epochs: int
    epochs: int
    layers: tuple[LayerKey, ...]
    rows: tuple[TutorialRow, ...]
    sentences: tuple[str, ...]
    figures: tuple[tuple[str, Figure], ...]  # (activation, its figure)


def tutorial_cells(cells: Sequence[CellStats]) -> dict[str, list[CellStats]]:
    """activation -> its cells (all seeds): random_normal(stddev=1.0) at the tutorial's depth
    when it was run, else at the shallowest depth run with that initializer."""
    chosen = [c for c in cells if c.initializer == TUTORIAL_INITIALIZER and c.activation in TUTORIAL_REPORTED]
    if not chosen:
        return {}
    depths = {c.depth for c in chosen}
    depth = TUTORIAL_DEPTH if TUTORIAL_DEPTH in depths else min(depths)
    out: dict[str, list[CellStats]] = {}
    for act in TUTORIAL_REPORTED:
        mine = sorted((c for c in chosen if c.activation == act and c.depth == depth), key=lambda c: c.seed)
        if mine:
            out[act] = mine
    return out


def build(run: Run) -> TutorialPart | None:
    tutorial = tutorial_cells(run.primary_cells())
    if not tutorial:
        return None
    first = next(iter(tutorial.values()))
    epochs = max(c.epochs for cells in tutorial.values() for c in cells)
    return TutorialPart(
        setting=(f"{first[0].depth} hidden layers of {first[0].width}, {first[0].initializer}, "
                 f"{epochs} epochs, seeds {', '.join(str(c.seed) for c in first)}"),
        reported_epochs=TUTORIAL_EPOCHS, epochs=epochs,
        layers=layer_keys(first[0].depth + 1),
        rows=tuple(table_row(act, tutorial.get(act, [])) for act in TUTORIAL_REPORTED),
        sentences=tuple(s for s in (activation_sentence(a, cells) for a, cells in tutorial.items()) if s),
        figures=tuple((act, activation_figure(act, cells)) for act, cells in tutorial.items()))


def table_row(activation: str, cells: Sequence[CellStats]) -> TutorialRow:
    loss, acc = TUTORIAL_REPORTED[activation]
    ok = [c for c in cells if not c.diverged]
    measured_loss, measured_acc = Stat.of(c.loss[-1] for c in ok), Stat.of(c.accuracy[-1] for c in ok)
    diverged = len(cells) - len(ok)
    if not ok:
        note = f"all {diverged} seeds diverged" if diverged else "not run"
    else:
        note = fmt.plural(len(ok), "seed")
        epochs = max(c.epochs for c in cells)
        if epochs != TUTORIAL_EPOCHS:
            note += f", {epochs} epochs (the tutorial: {TUTORIAL_EPOCHS})"
        if diverged:
            note += f", {diverged} diverged (left out)"
    return TutorialRow(activation, f"{loss:g}", f"{acc:g}",
                       fmt.mean_std(measured_loss.mean, measured_loss.std, measured_loss.n, 4),
                       fmt.mean_std(measured_acc.mean, measured_acc.std, measured_acc.n, 3), note)


def activation_sentence(activation: str, cells: Sequence[CellStats]) -> str:
    """What the gradient panels and the loss show for one activation, in this run's numbers."""
    ok = [c for c in cells if not c.diverged]
    if not ok:
        return ""
    att = Stat.of(float(c.attenuation[0]) for c in ok)
    start, end = Stat.of(c.loss[0] for c in ok), Stat.of(c.loss[-1] for c in ok)
    if np.isnan(att.mean):
        return ""
    ratio = fmt.times(att.mean, "smaller", "larger", "the same")
    return (f"{activation}: at initialisation the first hidden layer's mean |gradient| is {ratio} "
            f"the last hidden layer's (attenuation {fmt.signed(att.mean, 1)}); the loss went from "
            f"{fmt.fixed(start.mean, 3)} to {fmt.fixed(end.mean, 3)} in {ok[0].epochs} epochs.")


def draw_activation(cells: Sequence[CellStats]) -> MplFigure:
    """Six panels: weight mean and std, loss and accuracy, gradient mean and std, mean |gradient|."""
    n_layers = cells[0].depth + 1
    colours = layer_colours(n_layers)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(2, 3, figsize=(10.5, 5.6), sharex=True)
        for ax, (attr, title, log) in zip(axes.flat, PANELS):
            ax.set_title(title, loc="left")
            if attr == "loss":
                _loss_panel(ax, cells)
                continue
            data = stack(cells, attr)
            x = np.arange(data.shape[1])
            for layer in range(n_layers):
                band(ax, x, data[:, :, layer], colours[layer], layer_label(layer + 1, n_layers), log=log)
            if log:
                ax.set_yscale("log")
        for ax in axes[1]:
            ax.set_xlabel("epoch")
        handles, labels = axes[0, 0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="upper center", ncol=min(n_layers, 9), bbox_to_anchor=(0.5, 1.04))
        fig.tight_layout()
    return fig


def _loss_panel(ax, cells: Sequence[CellStats]) -> None:
    loss, acc = np.stack([c.loss for c in cells]), np.stack([c.accuracy for c in cells])
    x = np.arange(loss.shape[1])
    band(ax, x, loss, "#222", "loss")
    ax.set_ylabel("binary cross-entropy")
    twin = ax.twinx()
    band(twin, x, acc, "#c44e52", "accuracy")
    twin.set_ylim(0.4, 1.02)
    twin.set_ylabel("accuracy", color="#c44e52")
    twin.tick_params(axis="y", colors="#c44e52")
    twin.grid(False)
    twin.spines["right"].set_visible(True)


def activation_figure(activation: str, cells: Sequence[CellStats]) -> Figure:
    seeds = ", ".join(str(c.seed) for c in cells)
    caption = (f"{activation} with {cells[0].initializer}, {cells[0].depth} hidden layers of "
               f"{cells[0].width}; lines are the mean over seeds ({seeds}), bands span the seeds. "
               "Compare the gradient panels layer by layer: where the blue (input-side) curves sit "
               "decades below the orange (output-side) ones, the first layers barely learn. "
               "The signed gradient mean can hover near zero even when gradients are large, which "
               "is why the last panel shows mean |gradient| on a log scale.")
    alt = (f"Six panels for {activation}: weight mean and std per layer over epochs, loss and "
           "accuracy over epochs, gradient mean and std per layer, and mean absolute gradient per "
           "layer on a log scale.")
    return finish(draw_activation(cells), caption, alt)
