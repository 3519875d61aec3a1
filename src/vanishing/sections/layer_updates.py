"""How far each recorded weight matrix moves per epoch: the update ratio."""

from __future__ import annotations

import warnings

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure as MplFigure

from vanishing import fmt
from vanishing.plotting import STYLE, Figure, finish, layer_colours
from vanishing.reader import Run
from vanishing.recorded import RecordedRun
from vanishing.sections.base import Part

EMPTY = "No recorded run has trained for an epoch yet: the update ratio needs one."


def build(run: Run) -> Part | None:
    runs = [r for r in run.recorded if r.epochs >= 1]
    if not runs:
        return None
    return Part(sentences=tuple(s for s in map(update_sentence, runs) if s),
                figures=tuple(map(updates_figure, runs)))


def update_sentence(r: RecordedRun) -> str:
    """The matrices that moved least and most, median over the epochs."""
    ratio = r.stats["update_ratio"][1:]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a matrix that never moved finitely: NaN
        median = np.nanmedian(np.where(np.isfinite(ratio), ratio, np.nan), axis=0)
    if not np.isfinite(median).any():
        return ""
    least, most = int(np.nanargmin(median)), int(np.nanargmax(median))
    return (f"{r.cell_id}: per epoch {r.layers[least].path} moved least (median update ratio "
            f"{fmt.sci(median[least])}) and {r.layers[most].path} most ({fmt.sci(median[most])}).")


def draw_updates(r: RecordedRun) -> MplFigure:
    colours = layer_colours(len(r.layers))
    ratio = r.stats["update_ratio"]
    x = np.arange(ratio.shape[0])
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(8.0, 3.3))
        for i, layer in enumerate(r.layers):
            y = np.where(ratio[1:, i] > 0, ratio[1:, i], np.nan)
            ax.plot(x[1:], y, color=colours[i], marker="o", markersize=3,
                    label=f"{layer.layer}: {layer.path}")
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("‖W_e − W_(e−1)‖ / ‖W_(e−1)‖")
        ax.set_title(f"{r.cell_id}: how far each weight matrix moves", loc="left")
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7)
        fig.tight_layout()
    return fig


def updates_figure(r: RecordedRun) -> Figure:
    caption = (f"{r.cell_id}: the norm of each weight matrix's change in an epoch over its norm before "
               "(log scale; dark blue: the first matrix, orange: the last). A line decades below the "
               "others is a layer that hardly moves.")
    alt = f"Line chart, log scale: update ratio per weight matrix over epochs for {r.cell_id}."
    return finish(draw_updates(r), caption, alt)
