"""Analysis -> figures: matplotlib (Agg) drawn to `data:` URIs with caption and alt text.

Every figure is a ``Figure`` (frozen): the image as a ``data:`` URI (SVG for
line art, PNG for dense rasters), its caption (what to look at) and its alt
text. One colour per layer everywhere: ``layer_colours`` runs from the input
side to the output side.
"""

from __future__ import annotations

import base64
import io
import math
import re
import struct
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LinearSegmentedColormap, TwoSlopeNorm, to_hex
from matplotlib.figure import Figure as MplFigure

from vanishing.analysis import (
    RELU_LIKE,
    CellStats,
    Comparison,
    DepthCurve,
    GlorotComparison,
    Grid,
    OptimizerStudy,
    Stat,
    TheoryPoint,
    training_label,
)

STYLE = {
    # Text stays text in the SVG: smaller files, crisp at any zoom, no glyph ids to collide.
    "svg.fonttype": "none",
    "svg.hashsalt": "vanishing",  # deterministic ids: the same run renders the same bytes
    "font.family": "sans-serif",
    "font.sans-serif": ["Helvetica Neue", "Helvetica", "Arial", "DejaVu Sans"],
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.labelsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.edgecolor": "#666",
    "axes.grid": True,
    "grid.color": "#e6e6e6",
    "grid.linewidth": 0.6,
    "legend.frameon": False,
    "legend.fontsize": 8,
    "xtick.color": "#444",
    "ytick.color": "#444",
    "figure.dpi": 100,
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.06,
    "lines.linewidth": 1.5,
}

# Input side dark blue -> output side orange: readable on white at every step.
_LAYER_MAP = LinearSegmentedColormap.from_list(
    "layers", ["#1d3a8a", "#2f7fc1", "#35a39a", "#9cbc3c", "#f0a12b", "#d9541e"])
INITIALIZER_COLOURS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3",
                       "#937860", "#da8bc3", "#8c8c8c", "#ccb974", "#64b5cd")
PNG_DPI = 150
DIVERGING = "RdBu"  # red: gradients shrink towards the input; blue: they grow


@dataclass(frozen=True)
class Figure:
    uri: str  # data:image/svg+xml;base64,... or data:image/png;base64,...
    caption: str
    alt: str
    width: int  # CSS pixels the figure was drawn for
    height: int


def layer_colours(n_layers: int) -> tuple[str, ...]:
    """Colour of layers 1..n_layers (the last is the output layer), input side to output side."""
    if n_layers <= 1:
        return (to_hex(_LAYER_MAP(0.0)),)
    return tuple(to_hex(_LAYER_MAP(i / (n_layers - 1))) for i in range(n_layers))


def layer_label(layer: int, n_layers: int) -> str:
    return "output" if layer == n_layers else f"layer {layer}"


def _finish(fig: MplFigure, caption: str, alt: str, fmt: str = "svg") -> Figure:
    buf = io.BytesIO()
    # savefig reads svg.fonttype and savefig.* at save time: the style must be in force here too.
    with plt.rc_context(STYLE):
        if fmt == "svg":
            fig.savefig(buf, format="svg", metadata={"Date": None})
            mime = "image/svg+xml"
        else:
            fig.savefig(buf, format="png", dpi=PNG_DPI, metadata={"Software": None})
            mime = "image/png"
    plt.close(fig)
    data = buf.getvalue()
    w, h = _css_size(data, fmt)
    uri = f"data:{mime};base64," + base64.b64encode(data).decode("ascii")
    return Figure(uri=uri, caption=caption, alt=alt, width=w, height=h)


def _css_size(data: bytes, fmt: str) -> tuple[int, int]:
    """The size a figure is drawn at on the page, in CSS pixels (bbox=tight changes the figsize)."""
    if fmt == "svg":
        m = re.search(rb'width="([\d.]+)pt" height="([\d.]+)pt"', data[:2000])
        if m:  # 72 pt = 96 CSS px
            return round(float(m[1]) * 4 / 3), round(float(m[2]) * 4 / 3)
        return 0, 0
    w, h = struct.unpack(">II", data[16:24])  # PNG IHDR
    return round(w * 96 / PNG_DPI), round(h * 96 / PNG_DPI)


def _band(ax, x: np.ndarray, series: np.ndarray, colour: str, label: str | None,
          log: bool = False) -> None:
    """Mean line and min..max band over seeds (series [seeds, epochs])."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an epoch where every seed is NaN
        if log:
            # Average magnitudes in log space: one large seed must not hide the others.
            safe = np.where(series > 0, series, np.nan)
            mid = 10 ** np.nanmean(np.log10(safe), axis=0)
        else:
            mid = np.nanmean(series, axis=0)
        lo, hi = np.nanmin(series, axis=0), np.nanmax(series, axis=0)
    if series.shape[0] > 1:
        ax.fill_between(x, lo, hi, color=colour, alpha=0.18, linewidth=0)
    ax.plot(x, mid, color=colour, label=label)


def _stack(cells: Sequence[CellStats], attr: str) -> np.ndarray:
    """[seeds, epochs+1, layers], padding shorter runs with NaN."""
    arrays = [getattr(c, attr) for c in cells]
    n = max(a.shape[0] for a in arrays)
    out = np.full((len(arrays), n, arrays[0].shape[1]), np.nan)
    for i, a in enumerate(arrays):
        out[i, : a.shape[0]] = a
    return out


# --- summary heatmaps -------------------------------------------------------------------

def _heat_scale(grids: Sequence[Grid], what: str):
    """(cmap, norm, colourbar label): one scale for every panel that shows the same thing."""
    if what == "accuracy":
        return plt.get_cmap("viridis").with_extremes(bad="#f0f0f0"), plt.Normalize(0.5, 1.0), \
            "final accuracy"
    # One scale for both attenuation maps, so before and after compare cell by cell.
    both = np.array([s.mean for grid in grids for g in grid.present()
                     for s in (g.attenuation_init, g.attenuation_end)])
    finite = both[np.isfinite(both)]
    lim = max(1.0, float(np.ceil(np.abs(finite).max()))) if finite.size else 1.0
    lim = min(lim, 8.0)
    return (plt.get_cmap(DIVERGING).with_extremes(bad="#f0f0f0"), TwoSlopeNorm(0.0, -lim, lim),
            "log10(first / last hidden layer)")


def _heat_panel(ax, grid: Grid, what: str, cmap, norm, row_labels: bool = True,
                fontsize: float = 8):
    """Draw one activation x initializer heatmap of 'accuracy', 'attenuation_init' or
    'attenuation_end' on ax; diverged seeds marked with *, cells not run say so."""
    n_a, n_i = len(grid.activations), len(grid.initializers)
    values = np.full((n_a, n_i), np.nan)
    notes: dict[tuple[int, int], str] = {}
    for r, row in enumerate(grid.cells):
        for c, g in enumerate(row):
            if g is None:
                notes[(r, c)] = "not run"
                continue
            stat: Stat = {"accuracy": g.final_accuracy, "attenuation_init": g.attenuation_init,
                          "attenuation_end": g.attenuation_end}[what]
            values[r, c] = stat.mean
            if what != "attenuation_init" and g.diverged:
                notes[(r, c)] = f"{len(g.diverged)}/{len(g.seeds)} div."
    shown = values if what == "accuracy" else np.clip(values, norm.vmin, norm.vmax)
    im = ax.imshow(np.ma.masked_invalid(shown), cmap=cmap, norm=norm, aspect="auto")
    ax.set_xticks(range(n_i), [_short(i) for i in grid.initializers], rotation=40, ha="right")
    ax.set_yticks(range(n_a), grid.activations if row_labels else [""] * n_a)
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)
    for r in range(n_a):
        for c in range(n_i):
            v = values[r, c]
            if (r, c) in notes and not np.isfinite(v):
                text, colour = notes[(r, c)], "#555"
            else:
                text = _cell_text(v, what)
                rgba = cmap(norm(shown[r, c])) if np.isfinite(shown[r, c]) else (1, 1, 1, 1)
                colour = "white" if _dark(rgba) else "#111"
                if (r, c) in notes:
                    text += "*"
            ax.text(c, r, text, ha="center", va="center", fontsize=fontsize, color=colour)
    return im


def heatmap(grid: Grid, what: str) -> Figure:
    """activation x initializer heatmap of 'accuracy', 'attenuation_init' or 'attenuation_end'."""
    with plt.rc_context(STYLE):
        n_a, n_i = len(grid.activations), len(grid.initializers)
        fig, ax = plt.subplots(figsize=(max(4.2, 0.5 * n_i + 1.9), max(2.4, 0.36 * n_a + 1.3)))
        cmap, norm, label = _heat_scale([grid], what)
        im = _heat_panel(ax, grid, what, cmap, norm)
        title = {"accuracy": "Final accuracy (mean over seeds)",
                 "attenuation_init": "Gradient attenuation at initialisation",
                 "attenuation_end": "Gradient attenuation after training"}[what]
        cb = fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02)
        cb.set_label(label, fontsize=8)
        cb.outline.set_visible(False)
        ax.set_title(title, loc="left")
    if what == "accuracy":
        caption = (f"Final accuracy of each activation × initializer ({grid.depth} hidden layers), "
                   "mean over seeds. Yellow learned the task; dark purple stayed near chance "
                   "(0.5 on balanced data). * marks pairs where some seeds diverged; they are "
                   "left out of the mean.")
        alt = "Heatmap of final accuracy, activations as rows and initializers as columns."
    else:
        when = "before any training" if what == "attenuation_init" else "after the last epoch"
        caption = (f"Gradient attenuation {when}: log10 of the first hidden layer's mean |gradient| "
                   "over the last hidden layer's. Red cells are vanishing (−2 means the first layer "
                   "gets a hundred times less gradient), blue cells exploding, white balanced.")
        alt = (f"Heatmap of gradient attenuation {when}, activations as rows, initializers as "
               "columns, diverging colours centred on zero.")
    return _finish(fig, caption, alt)


HEAT_ROW_TITLES = {"accuracy": "final accuracy", "attenuation_init": "attenuation at init",
                   "attenuation_end": "attenuation after training"}


def heatmap_panels(grids: Sequence[Grid], whats: Sequence[str], column_titles: Sequence[str],
                   caption: str, alt: str) -> Figure:
    """Rows: what is shown (accuracy, attenuation...); columns: one grid each (an optimizer,
    a depth). Each row has one colour scale, so panels compare side by side."""
    n_a = max(len(g.activations) for g in grids)
    n_i = max(len(g.initializers) for g in grids)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(len(whats), len(grids), squeeze=False, layout="constrained",
                                 figsize=(max(1.3, 0.62 * n_i) * len(grids) + 2.0,
                                          (0.34 * n_a + 1.25) * len(whats)))
        for r, what in enumerate(whats):
            cmap, norm, label = _heat_scale(grids, what)
            im = None
            for c, (grid, title) in enumerate(zip(grids, column_titles)):
                ax = axes[r, c]
                im = _heat_panel(ax, grid, what, cmap, norm, row_labels=c == 0, fontsize=7.5)
                if r == 0:
                    ax.set_title(title, loc="left")
                if r < len(whats) - 1:
                    ax.set_xticklabels([])
            cb = fig.colorbar(im, ax=list(axes[r]), fraction=0.03, pad=0.01)
            cb.set_label(HEAT_ROW_TITLES[what] + ("" if what == "accuracy" else f"\n{label}"),
                         fontsize=7.5)
            cb.outline.set_visible(False)
    return _finish(fig, caption, alt)


def _short(initializer: str) -> str:
    return initializer.replace("random_normal(stddev=1.0)", "random_normal(σ=1)")


def _cell_text(v: float, what: str) -> str:
    if math.isnan(v):
        return "–"
    if math.isinf(v):
        return "−∞" if v < 0 else "+∞"
    if what == "accuracy":
        return f"{v:.2f}"
    return "0.0" if abs(v) < 0.05 else f"{v:+.1f}".replace("-", "−")


def _dark(rgba: Sequence[float]) -> bool:
    r, g, b = rgba[:3]
    return 0.299 * r + 0.587 * g + 0.114 * b < 0.5


# --- the tutorial's figures --------------------------------------------------------------

def tutorial_figure(activation: str, cells: Sequence[CellStats]) -> Figure:
    """Six panels for one activation: weights, gradients, |gradients| per layer, and the loss."""
    n_layers = cells[0].depth + 1
    colours = layer_colours(n_layers)
    panels = [("weight_mean", "Weight mean", False), ("weight_std", "Weight std", False),
              ("loss", "Loss and accuracy", False), ("grad_mean", "Gradient mean", False),
              ("grad_std", "Gradient std", True), ("grad_abs_mean", "Mean |gradient|", True)]
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(2, 3, figsize=(10.5, 5.6), sharex=True)
        for ax, (attr, title, log) in zip(axes.flat, panels):
            ax.set_title(title, loc="left")
            if attr == "loss":
                loss = np.stack([c.loss for c in cells])
                acc = np.stack([c.accuracy for c in cells])
                x = np.arange(loss.shape[1])
                _band(ax, x, loss, "#222", "loss")
                ax.set_ylabel("binary cross-entropy")
                ax2 = ax.twinx()
                _band(ax2, x, acc, "#c44e52", "accuracy")
                ax2.set_ylim(0.4, 1.02)
                ax2.set_ylabel("accuracy", color="#c44e52")
                ax2.tick_params(axis="y", colors="#c44e52")
                ax2.grid(False)
                ax2.spines["right"].set_visible(True)
                continue
            data = _stack(cells, attr)
            x = np.arange(data.shape[1])
            for layer in range(n_layers):
                _band(ax, x, data[:, :, layer], colours[layer],
                      layer_label(layer + 1, n_layers), log=log)
            if log:
                ax.set_yscale("log")
        for ax in axes[1]:
            ax.set_xlabel("epoch")
        handles, labels = axes[0, 0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="upper center", ncol=min(n_layers, 9),
                   bbox_to_anchor=(0.5, 1.04))
        fig.suptitle("")
        fig.tight_layout()
    seeds = ", ".join(str(c.seed) for c in cells)
    caption = (f"{activation} with {cells[0].initializer}, {cells[0].depth} hidden layers of "
               f"{cells[0].width}; lines are the mean over seeds ({seeds}), bands span the seeds. "
               "Compare the gradient panels layer by layer: where the blue (input-side) curves sit "
               "decades below the orange (output-side) ones, the first layers barely learn. "
               "The signed gradient mean hovers near zero even when gradients are large, which is "
               "why the last panel shows mean |gradient| on a log scale.")
    alt = (f"Six panels for {activation}: weight mean and std per layer over epochs, loss and "
           "accuracy over epochs, gradient mean and std per layer, and mean absolute gradient per "
           "layer on a log scale.")
    return _finish(fig, caption, alt)


# --- Glorot & Bengio ------------------------------------------------------------------------

def glorot_histograms(cmp: GlorotComparison) -> Figure | None:
    """Histograms of log10 |gradient| at initialisation, one panel per initializer, layers overlaid."""
    inits = [i for i in (cmp.standard, cmp.normalised) if i is not None]
    if not inits:
        return None
    n_layers = cmp.depth + 1
    colours = layer_colours(n_layers)
    pooled = {i: [np.concatenate([c.grad_init[layer] for c in cmp.by_initializer[i]])
                  for layer in range(n_layers)] for i in inits}
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = {i: [np.log10(np.abs(v[np.isfinite(v) & (v != 0)])) for v in pooled[i]]
                for i in inits}
    everything = np.concatenate([v for i in inits for v in logs[i]] or [np.zeros(1)])
    lo, hi = (np.floor(everything.min()), np.ceil(everything.max())) if everything.size else (-1, 1)
    bins = np.linspace(lo, hi, 36)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(inits), figsize=(4.6 * len(inits), 3.0), sharey=True,
                                 squeeze=False)
        for ax, init in zip(axes[0], inits):
            role = "standard" if init == cmp.standard else "normalised (Glorot)"
            ax.set_title(f"{_short(init)} — {role}", loc="left")
            for layer in range(n_layers):
                ax.hist(logs[init][layer], bins=bins, histtype="step", color=colours[layer],
                        linewidth=1.6, label=layer_label(layer + 1, n_layers))
            ax.set_xlabel("log10 |gradient| of kernel entries at initialisation")
        axes[0, 0].set_ylabel("count (all seeds)")
        axes[0, -1].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
        fig.tight_layout()
    caption = (f"Back-propagated gradients at initialisation in a {cmp.activation} network, as in "
               "Glorot & Bengio (2010, fig. 7). With standard initialisation the layers' histograms "
               "spread apart (input-side layers further left: smaller gradients); with the "
               "normalised initialisation they lie on top of each other.")
    alt = (f"Step histograms of log10 absolute gradient per layer for {cmp.activation}, one panel "
           f"per initializer: {', '.join(inits)}.")
    return _finish(fig, caption, alt)


def glorot_scale(cmp: GlorotComparison) -> Figure:
    """Mean |gradient| at initialisation against layer, one line per initializer."""
    n_layers = cmp.depth + 1
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(6.4, 3.4))
        for k, (init, cells) in enumerate(cmp.by_initializer.items()):
            data = np.stack([c.grad_abs_mean[0] for c in cells])  # [seeds, layers]
            x = np.arange(1, n_layers + 1)
            colour = INITIALIZER_COLOURS[k % len(INITIALIZER_COLOURS)]
            bold = init in (cmp.standard, cmp.normalised)
            _band(ax, x, data, colour, _short(init), log=True)
            ax.lines[-1].set_linewidth(2.4 if bold else 1.2)
            ax.lines[-1].set_marker("o")
            ax.lines[-1].set_markersize(3.5)
        ax.set_yscale("log")
        ax.set_xticks(range(1, n_layers + 1),
                      [layer_label(i, n_layers) for i in range(1, n_layers + 1)])
        for tick, colour in zip(ax.get_xticklabels(), layer_colours(n_layers)):
            tick.set_color(colour)
        ax.set_ylabel("mean |gradient| at init")
        ax.set_title(f"Gradient scale per layer, {cmp.activation}, before training", loc="left")
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
        fig.tight_layout()
    caption = ("Mean |gradient| of each layer before any training, one line per initializer (band: "
               "seeds). A flat line means every layer starts learning at the same pace; a line "
               "rising to the right means the input-side layers get orders of magnitude less.")
    alt = (f"Line chart, log scale: mean absolute gradient per layer at initialisation for "
           f"{cmp.activation}, one line per initializer.")
    return _finish(fig, caption, alt)


# --- depth --------------------------------------------------------------------------------

def depth_figure(curves: Sequence[DepthCurve]) -> Figure:
    acts = list(dict.fromkeys(c.activation for c in curves))
    inits = list(dict.fromkeys(c.initializer for c in curves))
    colour = {i: INITIALIZER_COLOURS[k % len(INITIALIZER_COLOURS)] for k, i in enumerate(inits)}
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(acts), figsize=(max(4.0, 3.5 * len(acts)), 3.4),
                                 sharey=True, squeeze=False)
        finite = [s.mean for c in curves for s in (*c.attenuation_init, *c.attenuation_end)
                  if math.isfinite(s.mean)]
        floor = min(finite, default=-1.0) - 0.5
        for ax, act in zip(axes[0], acts):
            ax.axhline(0, color="#999", linewidth=0.8)
            for c in (c for c in curves if c.activation == act):
                for stats, style, label in ((c.attenuation_init, "-", _short(c.initializer)),
                                            (c.attenuation_end, "--", None)):
                    mean = np.array([max(s.mean, floor) if not math.isnan(s.mean) else np.nan
                                     for s in stats])
                    std = np.array([s.std if math.isfinite(s.std) else 0.0 for s in stats])
                    ax.errorbar(c.depths, mean, yerr=std, color=colour[c.initializer],
                                linestyle=style, marker="o", markersize=3.5, capsize=2,
                                label=label, linewidth=1.8 if style == "-" else 1.1)
                    # No gradient at all reached the hidden layers (0/0): show it, do not drop it.
                    dead = [d for d, s in zip(c.depths, stats) if s.n and math.isnan(s.mean)]
                    ax.plot(dead, [floor] * len(dead), linestyle="none", marker="x",
                            color=colour[c.initializer], markersize=6)
            ax.set_xscale("log", base=2)
            ds = sorted({d for c in curves for d in c.depths})
            ax.set_xticks(ds, [str(d) for d in ds])
            ax.minorticks_off()
            ax.set_xlabel("hidden layers")
            ax.set_title(act, loc="left")
        axes[0, 0].set_ylabel("attenuation, log10(first / last)")
        handles, labels = axes[0, 0].get_legend_handles_labels()
        from matplotlib.lines import Line2D
        handles += [Line2D([], [], color="#555", linestyle="-"),
                    Line2D([], [], color="#555", linestyle="--")]
        labels += ["at initialisation", "after training"]
        fig.legend(handles, labels, loc="upper center", ncol=min(len(labels), 5),
                   bbox_to_anchor=(0.5, 1.1))
        fig.tight_layout()
    caption = ("Attenuation against the number of hidden layers (log2 axis), one panel per "
               "activation, one colour per initializer; solid at initialisation, dashed after "
               "training (error bars: std over seeds). A line sloping down means every extra "
               "layer divides the first layer's gradient further. × at the bottom: no gradient "
               "reached the hidden layers at all (dead units).")
    alt = (f"Line charts of gradient attenuation against depth for {', '.join(acts)}, one line "
           "per initializer.")
    return _finish(fig, caption, alt)


# --- decision regions ------------------------------------------------------------------------

def boundaries_figure(cells: Sequence[CellStats], X: np.ndarray | None,
                      y: np.ndarray | None) -> Figure:
    acts = list(dict.fromkeys(c.activation for c in cells))
    inits = list(dict.fromkeys(c.initializer for c in cells))
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(len(acts), len(inits), figsize=(2.7 * len(inits), 2.7 * len(acts)),
                                 squeeze=False)
        for ax in axes.flat:
            ax.set_visible(False)
        region = LinearSegmentedColormap.from_list("region", ["#f6c9a8", "#fbf7f2", "#b7cfe8"])
        for c in cells:
            ax = axes[acts.index(c.activation), inits.index(c.initializer)]
            ax.set_visible(True)
            bx, by, logit = c.boundary
            with np.errstate(all="ignore"):
                prob = 1 / (1 + np.exp(-np.clip(logit, -50, 50)))
            ax.contourf(bx, by, np.nan_to_num(prob, nan=0.5), levels=np.linspace(0, 1, 11),
                        cmap=region)
            if np.isfinite(logit).all() and logit.min() < 0 < logit.max():
                ax.contour(bx, by, logit, levels=[0], colors="#333", linewidths=1.0)
            if X is not None and y is not None:
                ax.scatter(X[:, 0], X[:, 1], c=np.where(y > 0.5, "#1f5fa8", "#c8561b"), s=3,
                           linewidths=0, alpha=0.7)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            ax.set_aspect("equal")
            acc = c.accuracy[-1]
            status = "diverged" if c.diverged else f"acc {acc:.2f}"
            ax.set_title(f"{c.activation} · {_short(c.initializer)}\n{status}", fontsize=8.5,
                         loc="left")
        fig.tight_layout()
    caption = ("What each network learned: the shaded regions are the predicted class over the "
               "plane (blue: inner circle, orange: outer ring), the black line is the decision "
               "boundary, dots are the training data (first seed). A network whose first layers "
               "got no gradient draws a straight or empty boundary.")
    alt = (f"Grid of decision-region plots for {', '.join(acts)} with "
           f"{', '.join(inits)}, data points overlaid.")
    # Filled contours over a grid are dense: a PNG is smaller than the SVG.
    return _finish(fig, caption, alt, fmt="png")


# --- saturation ------------------------------------------------------------------------------

def _role(init: str, role: str) -> str:
    return f"{_short(init)} ({role})" if role else _short(init)


def saturation_figure(comparisons: Sequence[Comparison]) -> Figure:
    """Per hidden layer over epochs: the fraction of saturated units (solid) and, for relu-like
    activations, of dead units (dashed). Rows: activations; columns: initializers."""
    n_cols = max(len(c.initializers) for c in comparisons)
    depth = comparisons[0].depth
    colours = layer_colours(depth + 1)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(len(comparisons), n_cols, sharex=True, sharey=True,
                                 squeeze=False, figsize=(3.3 * n_cols + 0.6,
                                                         2.25 * len(comparisons) + 0.5))
        for ax in axes.flat:
            ax.set_visible(False)
        for r, cmp in enumerate(comparisons):
            dead = cmp.activation in RELU_LIKE
            for k, ((init, role), cells) in enumerate(zip(cmp.initializers, cmp.cells)):
                ax = axes[r, k]
                recorded = [c for c in cells if c.act_saturated_frac is not None]
                if not recorded:
                    continue
                ax.set_visible(True)
                sat = _stack(recorded, "act_saturated_frac")
                x = np.arange(sat.shape[1])
                for layer in range(cmp.depth):
                    _band(ax, x, sat[:, :, layer], colours[layer],
                          layer_label(layer + 1, cmp.depth + 1) if r == 0 and k == 0 else None)
                    if dead:
                        d = _stack(recorded, "act_dead_frac")[:, :, layer]
                        ax.plot(x, np.nanmean(d, axis=0), color=colours[layer], linestyle=":",
                                linewidth=1.6)
                ax.set_ylim(-0.03, 1.03)
                ax.set_title(f"{cmp.activation} · {_role(init, role)}", loc="left", fontsize=8.5)
                if k == 0:
                    ax.set_ylabel("saturated" + (" / dead (dotted)" if dead else "")
                                  + "\nfraction of units")
                if r == len(comparisons) - 1:
                    ax.set_xlabel("epoch")
        handles, labels = axes[0, 0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="upper center", ncol=len(labels),
                   bbox_to_anchor=(0.5, 1.03))
        fig.tight_layout()
    caption = ("Fraction of saturated units per hidden layer over the epochs (solid; a unit-sample "
               "pair is saturated where the activation's slope is below 10 % of its largest "
               "slope, so almost no gradient passes through it), and for relu the fraction of "
               "dead units (dotted: zero output on every sample, which no gradient can revive). "
               "One colour per layer, input side blue; lines: mean over seeds, bands: the seeds' "
               "range. Look for input-side and output-side layers that sit high: those layers "
               "pass back little gradient.")
    alt = ("Grid of line charts: fraction of saturated (and, for relu, dead) units per hidden "
           f"layer over epochs, rows {', '.join(c.activation for c in comparisons)}, one column "
           "per initializer.")
    return _finish(fig, caption, alt)


HISTOGRAM_RANGE = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0), "softsign": (-1.0, 1.0),
                   "hard_sigmoid": (0.0, 1.0)}


def activation_histograms(cmp: Comparison) -> Figure | None:
    """Glorot & Bengio (2010) figures 2-6: histograms of each hidden layer's activation values at
    initialisation, mid-training and the end; rows: initializers; layers overlaid."""
    rows = [(init, role, [c for c in cells if c.act_values])
            for (init, role), cells in zip(cmp.initializers, cmp.cells)]
    rows = [r for r in rows if r[2]]
    if not rows:
        return None
    snapshots = rows[0][2][0].act_snapshot_epochs
    colours = layer_colours(cmp.depth + 1)
    pooled = {init: [np.concatenate([c.act_values[layer].reshape(len(snapshots), -1)
                                     for c in cells], axis=1) for layer in range(cmp.depth)]
              for init, _, cells in rows}
    ranges = {}
    for init, values in pooled.items():  # unbounded activations: each row its own range
        if cmp.activation in HISTOGRAM_RANGE:
            ranges[init] = HISTOGRAM_RANGE[cmp.activation]
            continue
        everything = np.concatenate([v[np.isfinite(v)] for v in values])
        lo = float(min(0.0, np.percentile(everything, 0.5))) if everything.size else -1.0
        hi = float(np.percentile(everything, 99.5)) if everything.size else 1.0
        ranges[init] = (lo, hi if hi > lo else lo + 1.0)
    log_y = cmp.activation in RELU_LIKE  # the spike of exact zeros would flatten the rest
    names = {0: "at initialisation"}
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(len(rows), len(snapshots), sharex="row" if log_y else True,
                                 sharey=True, squeeze=False, figsize=(3.0 * len(snapshots) + 0.8,
                                                         2.0 * len(rows) + 0.5))
        for r, (init, role, _) in enumerate(rows):
            lo, hi = ranges[init]
            bins = np.linspace(lo, hi, 41)
            for s, epoch in enumerate(snapshots):
                ax = axes[r, s]
                for layer in range(cmp.depth):
                    v = pooled[init][layer][s]
                    v = v[np.isfinite(v)]
                    if not v.size:
                        continue
                    weights = np.full(v.size, 1.0 / v.size)
                    ax.hist(np.clip(v, lo, hi), bins=bins, weights=weights, histtype="step",
                            color=colours[layer], linewidth=1.4,
                            label=layer_label(layer + 1, cmp.depth + 1))
                when = names.get(epoch, "end of training" if s == len(snapshots) - 1
                                 else "mid-training")
                if r == 0:
                    ax.set_title(f"{when} (epoch {epoch})", loc="left")
                if s == 0:
                    ax.set_ylabel(f"{_short(init)}\n{role}\nfraction of values", fontsize=8)
                if r == len(rows) - 1:
                    ax.set_xlabel(f"{cmp.activation} output")
                if log_y:
                    ax.set_yscale("log")
        axes[0, -1].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
        fig.tight_layout()
    caption = (f"Activation values of each hidden layer of the {cmp.activation} networks "
               f"({cmp.depth} hidden layers; values of up to 256 training samples, all seeds "
               "pooled), at initialisation, mid-training and after the last epoch, as in Glorot & "
               "Bengio (2010), figures 2–6. Mass piled at the ends of the range (0 and 1 for "
               "sigmoid, ±1 for tanh) is saturation; a layer whose histogram is a spike at 0 "
               "passes nothing on." + (" Log scale: relu's exact zeros would flatten the rest."
                                      if log_y else ""))
    alt = (f"Grid of step histograms of {cmp.activation} activation values per hidden layer; "
           "rows: initializers; columns: initialisation, mid-training, end.")
    return _finish(fig, caption, alt)


# --- learning speed ----------------------------------------------------------------------------

def learning_speed_figure(cmp: Comparison) -> Figure:
    """Update ratio ||W_e − W_(e−1)|| / ||W_(e−1)|| per layer over epochs, one panel per
    initializer, log scale."""
    n_layers = cmp.depth + 1
    colours = layer_colours(n_layers)
    panels = [(init, role, cells) for (init, role), cells in zip(cmp.initializers, cmp.cells)
              if cells]
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(panels), sharey=True, squeeze=False,
                                 figsize=(3.9 * len(panels) + 1.2, 3.3))
        for ax, (init, role, cells) in zip(axes[0], panels):
            data = _stack([c for c in cells if c.update_ratio is not None], "update_ratio")
            x = np.arange(data.shape[1])
            for layer in range(n_layers):
                _band(ax, x[1:], data[:, 1:, layer], colours[layer],
                      layer_label(layer + 1, n_layers), log=True)
            ax.set_yscale("log")
            ax.set_xlabel("epoch")
            ax.set_title(_role(init, role), loc="left", fontsize=8.5)
        axes[0, 0].set_ylabel("‖W_e − W_(e−1)‖ / ‖W_(e−1)‖")
        handles, labels = axes[0, 0].get_legend_handles_labels()
        if n_layers > 10:  # a deep net: the legend names a few layers, the colours do the rest
            keep = sorted({0, n_layers // 4, n_layers // 2, 3 * n_layers // 4, n_layers - 2,
                           n_layers - 1})
            handles, labels = [handles[i] for i in keep], [labels[i] for i in keep]
        axes[0, -1].legend(handles, labels, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        fig.suptitle(f"{cmp.activation}, {cmp.depth} hidden layers of {cmp.cells[0][0].width}",
                     x=0.01, ha="left", fontsize=10, fontweight="bold")
        fig.tight_layout()
    caption = (f"How far each layer of the {cmp.activation} networks with {cmp.depth} hidden "
               "layers moves per epoch: the norm of the epoch's change of its kernel over the "
               "kernel's norm (log scale; lines: geometric mean over seeds, bands: range). One "
               "colour per layer, input side blue. Where the blue lines sit decades under the "
               "orange ones, the first layers are hardly learning; a line that breaks off is a layer "
               "that did not move at all that epoch.")
    alt = (f"Line charts, log scale: update ratio per layer over epochs for {cmp.activation} with "
           f"{cmp.depth} hidden layers, one panel per initializer.")
    return _finish(fig, caption, alt)


def optimizer_steps_figure(study: OptimizerStudy, activation: str, initializer: str) -> Figure:
    """Per optimizer: first vs last hidden layer's mean |gradient| (top row) and update ratio
    (bottom row) over epochs, log scale."""
    cells = [c for c in study.cells if c.activation == activation and c.initializer == initializer]
    depth = study.depth
    colours = layer_colours(depth + 1)
    shown = ((0, colours[0], "layer 1 (first hidden)"),
             (depth - 1, colours[depth - 1], f"layer {depth} (last hidden)"))
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(2, len(study.trainings), sharex=True, sharey="row",
                                 squeeze=False, figsize=(2.9 * len(study.trainings) + 1.0, 4.6))
        for k, t in enumerate(study.trainings):
            mine = [c for c in cells if c.training == t and not c.diverged]
            axes[0, k].set_title(training_label(*t), loc="left")
            if not mine:
                for ax in axes[:, k]:
                    ax.text(0.5, 0.5, "all diverged" if any(c.training == t for c in cells)
                            else "not run", transform=ax.transAxes, ha="center", color="#777")
                continue
            grads = _stack(mine, "grad_abs_mean")
            updates = _stack([c for c in mine if c.update_ratio is not None], "update_ratio")
            x = np.arange(grads.shape[1])
            for layer, colour, label in shown:
                _band(axes[0, k], x, grads[:, :, layer], colour, label, log=True)
                _band(axes[1, k], x[1:], updates[:, 1:, layer], colour, label, log=True)
            for ax in axes[:, k]:
                ax.set_yscale("log")
            axes[1, k].set_xlabel("epoch")
        axes[0, 0].set_ylabel("mean |gradient|")
        axes[1, 0].set_ylabel("update ratio\n‖ΔW‖ / ‖W‖")
        handles, labels = axes[0, 0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="upper center", ncol=2, bbox_to_anchor=(0.5, 1.05))
        fig.tight_layout()
    caption = (f"{activation} with {initializer}, {depth} hidden layers: the first hidden layer "
               "(blue) against the last hidden layer, for each optimizer. Top: the gradient each "
               "layer gets; bottom: how far its weights move per epoch, relative to their size "
               "(log scales; lines: geometric mean over seeds). With plain SGD the gap between the "
               "two layers is the same in both rows: a small gradient makes a small step. RMSprop "
               "and Adam divide each step by the gradient's running RMS, so the gap in the bottom "
               "row closes even when the top one stays open.")
    alt = (f"Two rows of line charts, one column per optimizer: mean absolute gradient and update "
           f"ratio of the first and last hidden layer of {activation} networks over epochs.")
    return _finish(fig, caption, alt)


# --- theory ------------------------------------------------------------------------------------

ACTIVATION_COLOURS = INITIALIZER_COLOURS


def theory_scatter(points: Sequence[TheoryPoint]) -> Figure:
    """Predicted (x) against measured (y) attenuation at initialisation, both theories."""
    acts = list(dict.fromkeys(p.cell.activation for p in points))
    colour = {a: ACTIVATION_COLOURS[k % len(ACTIVATION_COLOURS)] for k, a in enumerate(acts)}
    values = np.array([[p.glorot, p.meanfield, p.measured] for p in points], dtype=np.float64)
    finite = values[np.isfinite(values)]
    lo = float(np.floor(finite.min())) - 0.5 if finite.size else -1.0
    hi = float(np.ceil(finite.max())) + 0.5 if finite.size else 1.0
    lo, hi = max(lo, -20.0), min(hi, 20.0)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, 2, sharex=True, sharey=True, figsize=(8.6, 4.0))
        for ax, theory, name, marker in ((axes[0], "glorot", "Glorot & Bengio, linear regime", "o"),
                                         (axes[1], "meanfield", "mean field", "^")):
            ax.plot([lo, hi], [lo, hi], color="#888", linewidth=1.0, linestyle="--",
                    label="identity: theory = measurement")
            for act in acts:
                mine = [p for p in points if p.cell.activation == act]
                x = np.clip([getattr(p, theory) for p in mine], lo, hi)
                y = np.clip([p.measured for p in mine], lo, hi)
                ax.scatter(x, y, s=16, marker=marker, facecolors="none",
                           edgecolors=colour[act], linewidths=1.0, alpha=0.8, label=act)
            ax.set_xlim(lo, hi)
            ax.set_ylim(lo, hi)
            ax.set_aspect("equal")
            ax.set_title(name, loc="left")
            ax.set_xlabel("predicted attenuation (decades)")
        axes[0].set_ylabel("measured attenuation (decades)")
        axes[1].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
        fig.tight_layout()
    caption = (f"Every network at initialisation ({len(points)} points per panel): attenuation "
               "of the gradient RMS, log10(first hidden layer / last hidden layer), as predicted "
               "(x) and as measured on each example's own gradient (y), which is what both "
               "theories predict. Attenuation is already a logarithm, so these linear "
               "axes in decades are a log-log plot of the ratios. Points on the dashed identity "
               "line are predicted exactly; points below it vanish more than the theory says. "
               "Left: Glorot & Bengio's linear regime (o); right: the mean-field recursion (△).")
    alt = ("Two scatter plots of predicted against measured gradient attenuation at "
           "initialisation, one per theory, coloured by activation, with the identity line.")
    fmt = "png" if len(points) > 300 else "svg"  # hundreds of markers: a PNG is smaller
    return _finish(fig, caption, alt, fmt=fmt)


def theory_layers_figure(tutorial: dict[str, list[CellStats]]) -> Figure:
    """Per layer at initialisation: measured gradient RMS against both predictions."""
    acts = [a for a, cells in tutorial.items()
            if any(c.theory_glorot_grad_rms is not None for c in cells)]
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(acts), squeeze=False, figsize=(3.5 * len(acts) + 1.4, 3.3))
        for ax, act in zip(axes[0], acts):
            cells = [c for c in tutorial[act] if c.theory_glorot_grad_rms is not None]
            n_layers = cells[0].depth + 1
            x = np.arange(1, n_layers + 1)
            for attr, colour, style, marker, label in (
                    ("grad_sample_rms_init", "#222", "-", "o", "measured, per example"),
                    ("grad_rms_init", "#999", "-", ".", "measured, whole dataset"),
                    ("theory_glorot_grad_rms", "#c44e52", "--", "s", "linear regime (Glorot)"),
                    ("theory_meanfield_grad_rms", "#4c72b0", ":", "^", "mean field")):
                data = np.stack([getattr(c, attr) for c in cells])
                _band(ax, x, data, colour, label, log=True)
                ax.lines[-1].set_linestyle(style)
                ax.lines[-1].set_marker(marker)
                ax.lines[-1].set_markersize(4)
            ax.set_yscale("log")
            ax.set_xticks(x, [layer_label(i, n_layers).replace("layer ", "L") for i in x])
            for tick, c in zip(ax.get_xticklabels(), layer_colours(n_layers)):
                tick.set_color(c)
            ax.set_title(f"{act} · {_short(cells[0].initializer)}", loc="left")
        axes[0, 0].set_ylabel("gradient RMS at initialisation")
        axes[0, -1].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
        fig.tight_layout()
    caption = ("The tutorial's networks before training: the RMS of each layer's kernel gradient, "
               "measured per example (black; what the theories predict), measured on the whole "
               "dataset (grey; what trains the network), and as each theory predicts it (scaled so "
               "the output layer matches; lines: geometric mean over seeds, bands: range). Where a "
               "prediction falls as steeply as the black line from the output (right) to the input "
               "(left), the theory explains the vanishing; where the grey line falls further, "
               "examples' gradients cancel in the mean.")
    alt = (f"Line charts, log scale, one per activation ({', '.join(acts)}): measured and "
           "predicted gradient RMS per layer at initialisation.")
    return _finish(fig, caption, alt)
