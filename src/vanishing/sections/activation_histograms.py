"""Glorot & Bengio's (2010) figures 2-6 for the saturation section: each hidden layer's
activation values at initialisation, mid-training and the end, step histograms with the
layers overlaid; rows: initializers, columns: the snapshot epochs."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure as MplFigure

from vanishing import fmt
from vanishing.aggregate import Comparison
from vanishing.plotting import STYLE, Figure, finish, layer_colours, layer_label
from vanishing.roles import RELU_LIKE, short

HISTOGRAM_RANGE = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0)}


def _pooled(cmp: Comparison) -> list[tuple[str, str, list[np.ndarray]]]:
    """(init, role, per hidden layer [snapshots, values]) of every initializer with snapshots."""
    rows = [(init, role, [c for c in cells if c.act_values])
            for (init, role), cells in zip(cmp.initializers, cmp.cells)]
    return [(init, role, [np.concatenate([c.act_values[layer].reshape(len(c.act_snapshot_epochs), -1)
                                          for c in cells], axis=1) for layer in range(cmp.depth)])
            for init, role, cells in rows if cells]


def snapshot_names(snapshots: Sequence[int]) -> list[str]:
    last = len(snapshots) - 1
    return ["at initialisation" if e == 0 else "after the last epoch" if s == last else "mid-training"
            for s, e in enumerate(snapshots)]


def _value_range(activation: str, values: list[np.ndarray]) -> tuple[float, float]:
    finite = np.concatenate([v[np.isfinite(v)] for v in values])  # unbounded: each row its own range
    if activation in HISTOGRAM_RANGE or not finite.size:
        return HISTOGRAM_RANGE.get(activation, (-1.0, 1.0))
    lo, hi = min(0.0, float(np.percentile(finite, 0.5))), float(np.percentile(finite, 99.5))
    return lo, hi if hi > lo else lo + 1.0


def draw_activation_histograms(cmp: Comparison) -> MplFigure | None:
    """Glorot & Bengio (2010) figs 2-6: each hidden layer's activation values (step histograms,
    layers overlaid) at the snapshot epochs; rows: initializers, columns: snapshots."""
    rows = _pooled(cmp)
    if not rows:
        return None
    snapshots = next(c for cells in cmp.cells for c in cells if c.act_values).act_snapshot_epochs
    colours = layer_colours(cmp.depth + 1)
    log_y = cmp.activation in RELU_LIKE  # the spike of exact zeros would flatten the rest
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(len(rows), len(snapshots), sharex="row" if log_y else True, sharey=True,
                                 squeeze=False, figsize=(3.0 * len(snapshots) + 0.8, 2.0 * len(rows) + 0.5))
        for r, (init, role, pooled) in enumerate(rows):
            lo, hi = _value_range(cmp.activation, pooled)
            for s, (epoch, when) in enumerate(zip(snapshots, snapshot_names(snapshots))):
                ax = axes[r, s]
                for layer in range(cmp.depth):
                    v = pooled[layer][s][np.isfinite(pooled[layer][s])]
                    if v.size:
                        ax.hist(np.clip(v, lo, hi), bins=np.linspace(lo, hi, 41), histtype="step",
                                weights=np.full(v.size, 1 / v.size), color=colours[layer], linewidth=1.4,
                                label=layer_label(layer + 1, cmp.depth + 1))
                if r == 0:
                    ax.set_title(f"{when} (epoch {epoch})", loc="left")
                if s == 0:
                    ax.set_ylabel(f"{short(init)}\n{role}\nfraction of values", fontsize=8)
                if r == len(rows) - 1:
                    ax.set_xlabel(f"{cmp.activation} output")
                if log_y:
                    ax.set_yscale("log")
        axes[0, -1].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
        fig.tight_layout()
    return fig


def histogram_figure(cmp: Comparison) -> Figure | None:
    fig = draw_activation_histograms(cmp)
    if fig is None:
        return None
    recorded = [c for cells in cmp.cells for c in cells if c.act_values]
    samples = sorted({c.act_values[0].shape[1] for c in recorded})
    extra = {"sigmoid": " Mass piled at 0 and 1 is saturation.", "tanh": " Mass piled at ±1 is saturation.",
             **dict.fromkeys(RELU_LIKE, " Log scale: the exact zeros would flatten the rest.")}
    caption = (f"Activation values of each hidden layer of the {cmp.activation} networks ({cmp.depth} hidden "
               f"layers; {'/'.join(map(str, samples))} training samples per network, seeds pooled), "
               f"{fmt.listing(snapshot_names(recorded[0].act_snapshot_epochs))}, as in Glorot & Bengio "
               "(2010), figures 2–6. A layer whose histogram is a spike at 0 passes almost nothing forward."
               + extra.get(cmp.activation, ""))
    alt = (f"Grid of step histograms of {cmp.activation} activation values per hidden layer; rows: "
           "initializers; columns: the epochs recorded.")
    return finish(fig, caption, alt)
