"""Gradients and activations layer by layer: histograms at the start and at the end of a
recorded run (log10 |g| of each weight matrix's gradient; the owning layer's outputs)."""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
from matplotlib.figure import Figure as MplFigure

from vanishing.plotting import STYLE, Figure, finish, layer_colours
from vanishing.reader import Run
from vanishing.recorded import Histogram, RecordedRun

EMPTY = ("No histograms recorded: the runs in this directory hold none (record one with "
         "vanishing.keras.GradientRecorder).")


@dataclass(frozen=True)
class HistogramsPart:
    figures: tuple[Figure, ...]


def build(run: Run) -> HistogramsPart | None:
    figures = tuple(histogram_figure(r) for r in run.recorded if r.grad_hist or r.act_hist)
    return HistogramsPart(figures) if figures else None


def _panel(ax, hists: tuple[Histogram, ...], snapshot: int, colours: tuple[str, ...],
           labels: list[str]) -> None:
    for hist, colour, label in zip(hists, colours, labels):
        counts = hist.counts[snapshot]
        total = counts.sum()
        if total <= 0:
            continue
        ax.stairs(counts / total, hist.edges[snapshot], color=colour, linewidth=1.3, label=label)


def draw_histograms(r: RecordedRun) -> MplFigure:
    """Rows: gradients (log10 |g|), activations; columns: the start and the last recorded epoch."""
    rows = [(hists, what) for hists, what in ((r.grad_hist, "log10 |gradient|"), (r.act_hist, "layer output"))
            if hists]
    colours = layer_colours(len(r.layers))
    labels = [f"{layer.layer}: {layer.path}" for layer in r.layers]
    last = len(r.hist_epochs) - 1
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(len(rows), 2, squeeze=False, figsize=(9.0, 2.6 * len(rows) + 0.4))
        for k, (hists, what) in enumerate(rows):
            for c, snapshot in enumerate((0, last)):
                ax = axes[k, c]
                _panel(ax, hists, snapshot, colours, labels if (k, c) == (0, 1) else [None] * len(labels))
                epoch = r.hist_epochs[snapshot] if r.hist_epochs else snapshot
                ax.set_title(f"{'at the start' if snapshot == 0 else 'after'} (epoch {epoch})", loc="left")
                ax.set_xlabel(what)
                if c == 0:
                    ax.set_ylabel("fraction of values")
        axes[0, 1].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7)
        fig.tight_layout()
    return fig


def histogram_figure(r: RecordedRun) -> Figure:
    caption = (f"{r.cell_id}: for each weight matrix, the histogram (summing to 1) of log10 |gradient| "
               "of its nonzero entries (exact zeros have no logarithm), and of its layer's outputs on "
               "the probe, at the start and after the last "
               "recorded epoch (dark blue: the first matrix, orange: the last). Gradient histograms far "
               "to the left of the others belong to layers that hardly learn; an output histogram piled "
               "at the ends of a bounded activation's range is saturation, a spike at 0 dead units.")
    alt = (f"Step histograms per layer of {r.cell_id}: log10 absolute gradients and layer outputs, "
           "start and end.")
    return finish(draw_histograms(r), caption, alt)
