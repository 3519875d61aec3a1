"""Gradient flow: each recorded weight matrix's mean |gradient| over the epochs, and the
attenuation from the first to matrix L-1, the last before the final one."""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure as MplFigure

from vanishing import fmt
from vanishing.plotting import STYLE, Figure, finish, layer_colours
from vanishing.reader import Run
from vanishing.recorded import RecordedRun

EMPTY = "No recorded runs in this directory: record one with vanishing.keras.GradientRecorder."
LEGEND_MAX = 12  # more layers than this: the legend names a few, the colours do the rest


@dataclass(frozen=True)
class GradientFlowPart:
    figures: tuple[Figure, ...]


def build(run: Run) -> GradientFlowPart | None:
    if not run.recorded:
        return None
    return GradientFlowPart(tuple(flow_figure(r) for r in run.recorded))


def draw_flow(r: RecordedRun) -> MplFigure:
    """Left: mean |g| per layer over epochs (log), input side blue to output side orange.
    Right: the attenuation over epochs."""
    n = len(r.layers)
    colours = layer_colours(n)
    g = r.stats["grad_abs_mean"]
    x = np.arange(g.shape[0])
    with plt.rc_context(STYLE):
        fig, (flow, att) = plt.subplots(1, 2, figsize=(10.0, 3.6), gridspec_kw={"width_ratios": [3, 2]})
        for i, layer in enumerate(r.layers):
            shown = i in (0, n - 1) or n <= LEGEND_MAX or i % max(1, n // LEGEND_MAX) == 0
            flow.plot(x, np.where(g[:, i] > 0, g[:, i], np.nan), color=colours[i], marker="o", markersize=3,
                      label=f"{layer.layer}: {layer.path}" if shown else None)
        flow.set_yscale("log")
        flow.set_xlabel("epoch")
        flow.set_ylabel("mean |gradient|")
        flow.set_title(f"{r.cell_id}: gradient per weight matrix", loc="left")
        flow.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7)
        att.axhline(0, color="#999", linewidth=0.8)
        att.plot(x, r.attenuation, color="#b2182b", marker="o", markersize=3)
        att.set_xlabel("epoch")
        att.set_ylabel("log10(first / matrix L−1)")
        att.set_title("Attenuation", loc="left")
        fig.tight_layout()
    return fig


def flow_figure(r: RecordedRun) -> Figure:
    caption = (f"{r.cell_id}: the mean |gradient| of each recorded weight matrix at the start (epoch 0) "
               f"and after each of {fmt.plural(r.epochs, 'epoch')}, on the probe set (log scale; dark "
               "blue: the first matrix, orange: the last). Right: the attenuation, log10 of the first "
               "matrix's mean |gradient| over that of matrix L−1, the last before the final one (below 0: "
               "the input side gets less).")
    alt = (f"Line charts for {r.cell_id}: mean absolute gradient per weight matrix over epochs on a log "
           "scale, and the attenuation over epochs.")
    return finish(draw_flow(r), caption, alt)
