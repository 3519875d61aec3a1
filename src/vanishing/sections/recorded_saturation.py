"""Saturated and dead units of a recorded model, where the recorder could tell: layers with a
known element-wise activation whose pre-activation it computed."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure as MplFigure

from vanishing import fmt
from vanishing.plotting import STYLE, Figure, finish, layer_colours
from vanishing.reader import Run
from vanishing.recorded import RecordedRun
from vanishing.sections.base import Part

EMPTY = ("No layer of the recorded runs has a saturated or dead fraction: that needs a known "
         "element-wise activation (sigmoid, tanh, relu, ...) on a layer whose pre-activation the "
         "recorder can compute.")
MEASURES = (("act_saturated_frac", "saturated (unit, sample) pairs"), ("act_dead_frac", "dead units"))


# A linear layer's slope is 1 everywhere: it can neither saturate nor die; showing its zeros is noise.
NO_SATURATION = {None, "", "linear"}


def known(r: RecordedRun) -> list[int]:
    """Indices of the layers with a nonlinear activation and a fraction recorded at the start."""
    return [i for i in range(len(r.layers)) if r.layers[i].activation not in NO_SATURATION
            and any(np.isfinite(r.stats[key][0, i]) for key, _ in MEASURES)]


def build(run: Run) -> Part | None:
    runs = [r for r in run.recorded if known(r)]
    if not runs:
        return None
    return Part(sentences=tuple(s for r in runs for s in sentences(r)),
                figures=tuple(saturation_figure(r) for r in runs))


def sentences(r: RecordedRun) -> tuple[str, ...]:
    """Per measure, the layer with the largest fraction at the start or the end (or that none has any)."""
    out = []
    layers = known(r)
    for key, words in MEASURES:
        values = r.stats[key][[0, -1]][:, layers]
        if not np.isfinite(values).any():
            continue
        peak = np.where(np.isfinite(values), values, -np.inf).max(axis=0)
        if peak.max() == 0:
            out.append(f"{r.cell_id}: no layer has {words}, at the start or after epoch {r.epochs}.")
            continue
        column = int(np.argmax(peak))
        layer, (start, end) = layers[column], values[:, column]
        out.append(f"{r.cell_id}: {r.layers[layer].path} has the most {words}: {fmt.percent(start)} at the "
                   f"start and {fmt.percent(end)} after epoch {r.epochs}.")
    return tuple(out)


def draw_saturation(r: RecordedRun) -> MplFigure:
    colours = layer_colours(len(r.layers))
    x = np.arange(r.loss.shape[0])
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, 2, sharey=True, figsize=(9.0, 3.0))
        for ax, (key, words) in zip(axes, MEASURES):
            for i in known(r):
                ax.plot(x, r.stats[key][:, i], color=colours[i], marker="o", markersize=3,
                        label=f"{r.layers[i].layer}: {r.layers[i].path}")
            ax.set_ylim(-0.03, 1.03)
            ax.set_xlabel("epoch")
            ax.set_title(words, loc="left")
        axes[0].set_ylabel("fraction")
        axes[1].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7)
        fig.tight_layout()
    return fig


def saturation_figure(r: RecordedRun) -> Figure:
    caption = (f"{r.cell_id}: per layer with a known activation, the fraction of (unit, sample) pairs "
               "whose slope is below 10 % of the activation's largest slope (left), and of units that "
               "output zero on every probe sample (right; for a convolution, a channel zero at every "
               "position). Layers whose activation the recorder cannot evaluate are left out.")
    alt = f"Line charts of saturated and dead fractions per layer over epochs for {r.cell_id}."
    return finish(draw_saturation(r), caption, alt)
