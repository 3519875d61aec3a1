"""Vanishing through time: for a recurrent model, the gradient of the loss with respect to the
first recurrent layer's input at each time step."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure as MplFigure

from vanishing import fmt
from vanishing.plotting import STYLE, Figure, finish
from vanishing.reader import Run
from vanishing.recorded import RecordedRun
from vanishing.sections.base import Part

EMPTY = ("No recorded run has a recurrent layer (SimpleRNN, GRU, LSTM): there is no time axis for "
         "the gradient to vanish along.")


def build(run: Run) -> Part | None:
    runs = [r for r in run.recorded if r.time_grad_abs_mean is not None]
    if not runs:
        return None
    return Part(sentences=tuple(s for s in map(sentence, runs) if s), figures=(time_figure(runs),))


def sentence(r: RecordedRun) -> str:
    """log10 of the first time step's gradient over the last's, at the start and at the end."""
    g = r.time_grad_abs_mean
    moments = [(0, "at the start")] + ([(r.epochs, f"after epoch {r.epochs}")] if r.epochs else [])
    told = []
    for epoch, when in moments:
        first, last = g[epoch, 0], g[epoch, -1]
        if first > 0 and last > 0 and math.isfinite(first) and math.isfinite(last):
            told.append(f"{fmt.signed(math.log10(first / last), 1)} decades {when}")
    if not told:
        return ""
    return (f"{r.cell_id}: log10 of the mean |dLoss / d input| at the first of {g.shape[1]} time steps "
            f"over that at the last: {' and '.join(told)} (below 0: the early steps get less).")


def draw_time(runs: list[RecordedRun]) -> MplFigure:
    """One panel per run: mean |dLoss/d input_t| against t, at the start and at the end."""
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(runs), squeeze=False, sharey=True,
                                 figsize=(4.2 * len(runs) + 0.6, 3.2))
        for ax, r in zip(axes[0], runs):
            g = r.time_grad_abs_mean
            t = np.arange(1, g.shape[1] + 1)
            ax.plot(t, np.where(g[0] > 0, g[0], np.nan), color="#1d3a8a", label="at the start")
            ax.plot(t, np.where(g[-1] > 0, g[-1], np.nan), color="#d9541e", label=f"after epoch {r.epochs}")
            ax.set_yscale("log")
            ax.set_xlabel("time step")
            ax.set_title(r.cell_id, loc="left")
        axes[0, 0].set_ylabel("mean |dLoss / d input_t|")
        axes[0, -1].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
        fig.tight_layout()
    return fig


def time_figure(runs: list[RecordedRun]) -> Figure:
    caption = ("The gradient of the loss with respect to the first recurrent layer's input at each "
               "time step (mean |g| over the probe and the input's features; log scale), at the start "
               "(blue) and after the last epoch (orange). A line that falls towards the early steps "
               "is the gradient vanishing through time: those steps barely influence learning.")
    alt = "Line charts, log scale: gradient with respect to the input at each time step, per run."
    return finish(draw_time(runs), caption, alt)
